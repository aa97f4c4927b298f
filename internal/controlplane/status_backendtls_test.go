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

	"github.com/gatewarden/gatewarden/pkg/source/kube"
	"github.com/gatewarden/gatewarden/translator"
)

// TestStatusWriterWritesBackendTLSPolicies: a BackendTLSPolicy gets
// gatewarden's ancestor entries beside another controller's, which stay;
// a policy gatewarden no longer reports on loses its entries only.
func TestStatusWriterWritesBackendTLSPolicies(t *testing.T) {
	other := gwv1.PolicyAncestorStatus{ControllerName: "example.com/other", AncestorRef: gwv1.ParentReference{Name: "elsewhere"},
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: metav1.Now()}}}
	ours := gwv1.PolicyAncestorStatus{ControllerName: controller, AncestorRef: gwv1.ParentReference{Name: "old"},
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: metav1.Now()}}}
	used := &gwv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "used", Generation: 2},
		Status: gwv1.PolicyStatus{Ancestors: []gwv1.PolicyAncestorStatus{other}}}
	unused := &gwv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "unused"},
		Status: gwv1.PolicyStatus{Ancestors: []gwv1.PolicyAncestorStatus{other, ours}}}
	c := fakeClient([]client.Object{used, unused}, &gwv1.BackendTLSPolicy{})
	want := &gwv1.PolicyStatus{Ancestors: []gwv1.PolicyAncestorStatus{{
		ControllerName: controller,
		AncestorRef:    gwv1.ParentReference{Namespace: ptr(gwv1.Namespace("infra")), Name: "web"},
		Conditions: []metav1.Condition{
			{Type: "Accepted", Status: metav1.ConditionFalse, Reason: "NoValidCACertificate", Message: "ConfigMap team/ca not found", ObservedGeneration: 2},
			{Type: "ResolvedRefs", Status: metav1.ConditionFalse, Reason: "InvalidCACertificateRef", Message: "ConfigMap team/ca not found", ObservedGeneration: 2},
		},
	}}}
	res := &translator.Result{Status: &translator.Status{
		GatewayClasses:     map[string]*gwv1.GatewayClassStatus{},
		BackendTLSPolicies: map[types.NamespacedName]*gwv1.PolicyStatus{client.ObjectKeyFromObject(used): want},
	}}
	w := startWriterFor(t, c, kube.Installed{BackendTLSPolicy: true})
	ctx := context.Background()
	w.Offer(res)
	eventually(t, func() string {
		var p gwv1.BackendTLSPolicy
		if err := c.Get(ctx, client.ObjectKeyFromObject(used), &p); err != nil {
			return err.Error()
		}
		if len(p.Status.Ancestors) != 2 {
			return fmt.Sprintf("ancestors of %s = %+v, want another controller's and gatewarden's", used.Name, p.Status.Ancestors)
		}
		a := p.Status.Ancestors[1]
		if string(a.ControllerName) != controller || a.AncestorRef.Name != "web" {
			return fmt.Sprintf("second ancestor = %+v, want gatewarden's for web", a)
		}
		if cond := meta.FindStatusCondition(a.Conditions, "ResolvedRefs"); cond == nil || cond.Reason != "InvalidCACertificateRef" || cond.ObservedGeneration != 2 {
			return fmt.Sprintf("ResolvedRefs = %+v, want False InvalidCACertificateRef of generation 2", cond)
		}
		return ""
	})
	eventually(t, func() string {
		var p gwv1.BackendTLSPolicy
		if err := c.Get(ctx, client.ObjectKeyFromObject(unused), &p); err != nil {
			return err.Error()
		}
		if len(p.Status.Ancestors) != 1 || p.Status.Ancestors[0].ControllerName != "example.com/other" {
			return fmt.Sprintf("ancestors of %s = %+v, want only another controller's", unused.Name, p.Status.Ancestors)
		}
		return ""
	})
}
