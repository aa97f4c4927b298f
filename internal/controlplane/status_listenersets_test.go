package controlplane

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/source/kube"
	"github.com/gatewarden/gatewarden/translator"
)

// TestStatusWriterWritesListenerSets: a ListenerSet gets its conditions and
// its listeners' (with their routes counted), and its Gateway the number of
// ListenerSets attached to it.
func TestStatusWriterWritesListenerSets(t *testing.T) {
	gw := &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "gw"},
		Spec: gwv1.GatewaySpec{
			GatewayClassName: "gatewarden",
			AllowedListeners: &gwv1.AllowedListeners{Namespaces: &gwv1.ListenerNamespaces{From: new(gwv1.NamespacesFromAll)}},
			Listeners:        []gwv1.Listener{{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80, Hostname: new(gwv1.Hostname("a.test"))}},
		},
	}
	ls := &gwv1.ListenerSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "ls", Generation: 3},
		Spec: gwv1.ListenerSetSpec{
			ParentRef: gwv1.ParentGatewayReference{Name: "gw", Namespace: new(gwv1.Namespace("infra"))},
			Listeners: []gwv1.ListenerEntry{
				{Name: "b", Protocol: gwv1.HTTPProtocolType, Port: 80, Hostname: new(gwv1.Hostname("b.test"))},
				{Name: "clash", Protocol: gwv1.HTTPProtocolType, Port: 80, Hostname: new(gwv1.Hostname("a.test"))},
			},
		},
	}
	gc := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "gatewarden"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}}
	c := fakeClient([]client.Object{gc, gw, ls}, &gwv1.GatewayClass{}, &gwv1.Gateway{}, &gwv1.ListenerSet{})
	in := &resource.Resources{}
	for _, o := range []any{gc.DeepCopy(), gw.DeepCopy(), ls.DeepCopy()} {
		in.Add(o)
	}
	res := translator.Translate(in, translator.Options{ControllerName: controller})
	w := NewStatusWriter(c, controller, kube.Installed{ListenerSet: true}, quietLog())
	if err := w.write(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	var got gwv1.ListenerSet
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "tenant", Name: "ls"}, &got); err != nil {
		t.Fatal(err)
	}
	acc := meta.FindStatusCondition(got.Status.Conditions, string(gwv1.ListenerSetConditionAccepted))
	if acc == nil || acc.Status != metav1.ConditionTrue || acc.ObservedGeneration != 3 || acc.LastTransitionTime.IsZero() {
		t.Errorf("ListenerSet Accepted = %+v, want True at generation 3 with a transition time", acc)
	}
	var names []string
	for _, l := range got.Status.Listeners {
		cond := meta.FindStatusCondition(l.Conditions, string(gwv1.ListenerEntryConditionConflicted))
		names = append(names, fmt.Sprintf("%s conflicted=%v", l.Name, cond != nil && cond.Status == metav1.ConditionTrue))
	}
	if fmt.Sprint(names) != "[b conflicted=false clash conflicted=true]" {
		t.Errorf("ListenerSet listeners %v, want b accepted and clash Conflicted", names)
	}
	var g gwv1.Gateway
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(gw), &g); err != nil {
		t.Fatal(err)
	}
	if g.Status.AttachedListenerSets == nil || *g.Status.AttachedListenerSets != 1 {
		t.Errorf("Gateway attachedListenerSets = %v, want 1", g.Status.AttachedListenerSets)
	}
}
