package controlplane

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/internal/testenv"
	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/pkg/source/kube"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
	"github.com/gatewarden/gatewarden/translator"
	"github.com/gatewarden/gatewarden/xds"
)

const controller = translator.DefaultControllerName

var (
	gatewayKey = types.NamespacedName{Namespace: "gloo-system", Name: "http"}
	routeKey   = types.NamespacedName{Namespace: "httpbin", Name: "httpbin"}
	optionKey  = types.NamespacedName{Namespace: "gloo-system", Name: "jwt"}
)

// guide loads the guide's Gateway, route and VirtualHostOption into a fake
// API server whose HTTPRoute already has a parent status of another
// controller, which gatewarden must keep.
func guide(t *testing.T) (client.Client, *translator.Result) {
	return guideWith(t, nil)
}

// guideWith is guide with extra GRPCRoutes, in the input and in the cluster.
func guideWith(t *testing.T, grpc []*gwv1.GRPCRoute) (client.Client, *translator.Result) {
	t.Helper()
	scan := dir.Load(filepath.Join(testenv.RepoRoot(), "examples", "gateway-jwt"))
	if len(scan.Problems) > 0 {
		t.Fatalf("load: %v", scan.Problems)
	}
	in := scan.Resources
	in.GRPCRoutes = append(in.GRPCRoutes, grpc...)
	var objs []client.Object
	for _, o := range grpc {
		objs = append(objs, o.DeepCopy())
	}
	for _, o := range in.GatewayClasses {
		gc := o.DeepCopy()
		gc.Namespace = "" // cluster-scoped, whatever the directory loader says
		objs = append(objs, gc)
	}
	for _, o := range in.Gateways {
		objs = append(objs, o.DeepCopy())
	}
	for _, o := range in.HTTPRoutes {
		r := o.DeepCopy()
		r.Status.Parents = []gwv1.RouteParentStatus{{ControllerName: "example.com/other", ParentRef: gwv1.ParentReference{Name: "elsewhere"},
			Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: metav1.Now()}}}}
		objs = append(objs, r)
	}
	for _, o := range in.VirtualHostOptions {
		objs = append(objs, o.DeepCopy())
	}
	for _, o := range in.RouteOptions {
		objs = append(objs, o.DeepCopy())
	}
	c := fakeClient(objs, &gwv1.GatewayClass{}, &gwv1.Gateway{}, &gwv1.HTTPRoute{}, &gwv1.GRPCRoute{}, &optv1.VirtualHostOption{}, &optv1.RouteOption{})
	return c, translator.Translate(in, translator.Options{AllowLoopbackBackends: true})
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeClient is a fake API server holding objs, with a status subresource
// for each of the kinds of withStatus.
func fakeClient(objs []client.Object, withStatus ...client.Object) client.Client {
	return fake.NewClientBuilder().WithScheme(kube.NewScheme()).WithObjects(objs...).WithStatusSubresource(withStatus...).Build()
}

// startWriter runs a status writer for the route kinds until the test ends.
func startWriter(t *testing.T, c client.Client) *StatusWriter {
	t.Helper()
	return startWriterFor(t, c, kube.Installed{RouteKinds: resource.RouteKinds})
}

// startWriterFor runs a status writer for the installed kinds until the
// test ends.
func startWriterFor(t *testing.T, c client.Client, installed kube.Installed) *StatusWriter {
	t.Helper()
	w := NewStatusWriter(c, controller, installed, quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("status writer: %v", err)
		}
	})
	return w
}

// eventually polls check until it returns "" or 5 s pass.
func eventually(t *testing.T, check func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func gatewayCondition(t *testing.T, c client.Client, typ string) *metav1.Condition {
	t.Helper()
	var gw gwv1.Gateway
	if err := c.Get(context.Background(), gatewayKey, &gw); err != nil {
		t.Fatal(err)
	}
	return meta.FindStatusCondition(gw.Status.Conditions, typ)
}

// TestStatusWriterWritesEveryKind: the statuses of a translation reach the
// GatewayClass, the Gateway and its listener, the HTTPRoute (beside another
// controller's parent entry, which stays) and the VirtualHostOption.
func TestStatusWriterWritesEveryKind(t *testing.T) {
	c, res := guide(t)
	w := startWriter(t, c)
	w.Offer(res)
	ctx := context.Background()
	// The options are written last.
	eventually(t, func() string {
		var vho optv1.VirtualHostOption
		if err := c.Get(ctx, optionKey, &vho); err != nil {
			return err.Error()
		}
		if len(vho.Status.Ancestors) == 0 {
			return "the VirtualHostOption's status was not written"
		}
		return ""
	})
	if cond := gatewayCondition(t, c, "Programmed"); cond == nil || cond.Status != metav1.ConditionTrue {
		t.Errorf("Gateway Programmed = %+v, want True", cond)
	}
	var class gwv1.GatewayClass
	if err := c.Get(ctx, types.NamespacedName{Name: "gatewarden"}, &class); err != nil {
		t.Fatal(err)
	}
	if cond := meta.FindStatusCondition(class.Status.Conditions, "Accepted"); cond == nil || cond.Status != metav1.ConditionTrue {
		t.Errorf("GatewayClass Accepted = %+v, want True", cond)
	}
	var gw gwv1.Gateway
	if err := c.Get(ctx, gatewayKey, &gw); err != nil {
		t.Fatal(err)
	}
	if len(gw.Status.Listeners) != 1 || gw.Status.Listeners[0].Name != "http" || gw.Status.Listeners[0].AttachedRoutes != 1 {
		t.Errorf("listener statuses = %+v, want http with one attached route", gw.Status.Listeners)
	}
	var route gwv1.HTTPRoute
	if err := c.Get(ctx, routeKey, &route); err != nil {
		t.Fatal(err)
	}
	var ours, others int
	for _, p := range route.Status.Parents {
		switch string(p.ControllerName) {
		case controller:
			ours++
			if cond := meta.FindStatusCondition(p.Conditions, "Accepted"); cond == nil || cond.Status != metav1.ConditionTrue {
				t.Errorf("route parent %s Accepted = %+v, want True", p.ParentRef.Name, cond)
			}
		case "example.com/other":
			others++
		}
	}
	if ours != 1 || others != 1 {
		t.Errorf("route parents: %d of gatewarden, %d of another controller; want 1 and 1 (%+v)", ours, others, route.Status.Parents)
	}
	var vho optv1.VirtualHostOption
	if err := c.Get(ctx, optionKey, &vho); err != nil {
		t.Fatal(err)
	}
	if len(vho.Status.Ancestors) != 1 || string(vho.Status.Ancestors[0].ControllerName) != controller {
		t.Errorf("VirtualHostOption ancestors = %+v, want one of %s", vho.Status.Ancestors, controller)
	}
}

// TestStatusWriterWritesGRPCRoutes: an installed optional route kind gets
// gatewarden's parent statuses; another controller's entries stay, and a
// route gatewarden has nothing to say about is not written.
func TestStatusWriterWritesGRPCRoutes(t *testing.T) {
	ours := &gwv1.GRPCRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: "httpbin", Name: "grpc"},
		Spec: gwv1.GRPCRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "http", Namespace: ptr(gwv1.Namespace("gloo-system"))}}},
			Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "httpbin", Port: ptr(gwv1.PortNumber(8000))}}}}}},
		},
	}
	other := &gwv1.GRPCRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: "httpbin", Name: "elsewhere"},
		Spec: gwv1.GRPCRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "other-gateway"}}},
		},
		Status: gwv1.GRPCRouteStatus{RouteStatus: gwv1.RouteStatus{Parents: []gwv1.RouteParentStatus{{ControllerName: "example.com/other", ParentRef: gwv1.ParentReference{Name: "other-gateway"},
			Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: metav1.Now()}}}}}},
	}
	c, res := guideWith(t, []*gwv1.GRPCRoute{ours, other})
	w := startWriter(t, c)
	w.Offer(res)
	ctx := context.Background()
	eventually(t, func() string {
		var r gwv1.GRPCRoute
		if err := c.Get(ctx, client.ObjectKeyFromObject(ours), &r); err != nil {
			return err.Error()
		}
		if len(r.Status.Parents) != 1 || string(r.Status.Parents[0].ControllerName) != controller {
			return fmt.Sprintf("GRPCRoute parents = %+v, want one of %s", r.Status.Parents, controller)
		}
		if cond := meta.FindStatusCondition(r.Status.Parents[0].Conditions, "Accepted"); cond == nil || cond.Status != metav1.ConditionTrue {
			return fmt.Sprintf("GRPCRoute Accepted = %+v, want True", cond)
		}
		return ""
	})
	var r gwv1.GRPCRoute
	if err := c.Get(ctx, client.ObjectKeyFromObject(other), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Status.Parents) != 1 || string(r.Status.Parents[0].ControllerName) != "example.com/other" {
		t.Errorf("another controller's GRPCRoute parents = %+v, want its one entry untouched", r.Status.Parents)
	}
}

func ptr[T any](v T) *T { return &v }

// TestStatusWriterSteadyStateMakesNoWrites: offering the same statuses
// again changes no object, and a condition keeps its transition time.
func TestStatusWriterSteadyStateMakesNoWrites(t *testing.T) {
	c, res := guide(t)
	w := startWriter(t, c)
	w.Offer(res)
	var first gwv1.Gateway
	eventually(t, func() string {
		if err := c.Get(context.Background(), gatewayKey, &first); err != nil {
			return err.Error()
		}
		if meta.FindStatusCondition(first.Status.Conditions, "Programmed") == nil {
			return "no Programmed condition written"
		}
		return ""
	})
	time.Sleep(1100 * time.Millisecond) // a later write would carry a later second
	w.Offer(res)
	time.Sleep(300 * time.Millisecond)
	var again gwv1.Gateway
	if err := c.Get(context.Background(), gatewayKey, &again); err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != first.ResourceVersion {
		t.Errorf("the same statuses were written again: resourceVersion %s -> %s", first.ResourceVersion, again.ResourceVersion)
	}
	a := meta.FindStatusCondition(first.Status.Conditions, "Programmed")
	b := meta.FindStatusCondition(again.Status.Conditions, "Programmed")
	if !a.LastTransitionTime.Equal(&b.LastTransitionTime) {
		t.Errorf("Programmed transition time moved from %v to %v with no change", a.LastTransitionTime, b.LastTransitionTime)
	}
}

// recordingPublisher remembers what the pipeline published.
type recordingPublisher struct{ gateways []*xdsconfig.GatewayConfig }

func (r *recordingPublisher) Publish(_ context.Context, gateways []*xdsconfig.GatewayConfig) error {
	r.gateways = gateways
	return nil
}

// TestNackReachesTheGatewayStatus follows the status path end to end: a
// translation is published and written, then an Envoy's NACK marks the
// Gateway Programmed=False with Envoy's message, and a NACK for a Gateway
// that is not served changes nothing.
func TestNackReachesTheGatewayStatus(t *testing.T) {
	c, _ := guide(t)
	w := startWriter(t, c)
	pub := &recordingPublisher{}
	var published []string
	p, err := NewPipeline(PipelineOptions{Log: quietLog(), Publisher: pub,
		Translate: translator.Options{AllowLoopbackBackends: true},
		Published: func(keys []string) { published = keys },
		Statuses:  []func(*translator.Result){w.Offer}})
	if err != nil {
		t.Fatal(err)
	}
	p.Rejected("gloo-system/http", xds.Nack{Version: "v0", Message: "before any translation"}) // nothing to mark yet
	scan := dir.Load(filepath.Join(testenv.RepoRoot(), "examples", "gateway-jwt"))
	p.Handle(context.Background(), scan.Resources, nil)
	if len(pub.gateways) != 1 || pub.gateways[0].Key() != "gloo-system/http" || len(published) != 1 || published[0] != "gloo-system/http" {
		t.Fatalf("published %d gateways (told %v), want gloo-system/http", len(pub.gateways), published)
	}
	eventually(t, func() string {
		if cond := gatewayCondition(t, c, "Programmed"); cond == nil || cond.Status != metav1.ConditionTrue {
			return "the Gateway is not Programmed=True after the translation"
		}
		return ""
	})
	p.Rejected("other/gateway", xds.Nack{Version: "v1", Message: "not ours"})
	p.Rejected("gloo-system/http", xds.Nack{Version: "v1", Message: "listener http: invalid filter"})
	eventually(t, func() string {
		cond := gatewayCondition(t, c, "Programmed")
		if cond == nil || cond.Status != metav1.ConditionFalse {
			return "the NACKed Gateway is still Programmed=True"
		}
		if want := "listener http: invalid filter"; !strings.Contains(cond.Message, want) {
			return "Programmed=False message " + cond.Message + " does not carry Envoy's " + want
		}
		return ""
	})
	last, _ := p.Last()
	if st := last.Status.Gateways[gatewayKey]; st == nil || meta.IsStatusConditionTrue(st.Conditions, "Programmed") {
		t.Error("the pipeline's last statuses do not carry the rejection")
	}
}
