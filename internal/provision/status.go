package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	gwdv1a1 "github.com/gatewarden/gatewarden/pkg/apis/gatewarden/v1alpha1"
	"github.com/gatewarden/gatewarden/translator"
)

// SetOffer names where re-marked statuses go when a Deployment's
// availability or a Gateway's parameters change between translations (the
// Kubernetes source's status writer).
func (p *Provisioner) SetOffer(offer func(*translator.Result)) {
	p.mu.Lock()
	p.offer = offer
	p.mu.Unlock()
}

// Mark returns r with what provisioning says about each Gateway: Accepted
// and Programmed False (InvalidParameters) when its parameters cannot be
// used, Programmed False (Pending) while its Deployment has no available
// replica. r itself is not changed; it is kept, to be marked again when a
// Deployment or parameters change. Every replica marks (reading its own
// informers), so whichever writes status says the same.
func (p *Provisioner) Mark(r *translator.Result) *translator.Result {
	if r == nil || r.Status == nil {
		return r
	}
	p.mu.Lock()
	p.base = r
	p.mu.Unlock()
	return p.mark(r)
}

func (p *Provisioner) mark(r *translator.Result) *translator.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var changed map[types.NamespacedName]*gwv1.GatewayStatus
	for key, st := range r.Status.Gateways {
		acc, prog := p.conditions(ctx, key)
		if acc == nil && prog == nil {
			continue
		}
		if changed == nil {
			changed = map[types.NamespacedName]*gwv1.GatewayStatus{}
		}
		cp := st.DeepCopy()
		gen := int64(0)
		if c := meta.FindStatusCondition(cp.Conditions, string(gwv1.GatewayConditionAccepted)); c != nil {
			gen = c.ObservedGeneration
		}
		for _, c := range []*metav1.Condition{acc, prog} {
			if c == nil {
				continue
			}
			if have := meta.FindStatusCondition(cp.Conditions, c.Type); have != nil && have.Status == metav1.ConditionFalse && c.Type == string(gwv1.GatewayConditionProgrammed) && c.Reason == string(gwv1.GatewayReasonPending) {
				continue // the translation's own reason comes first
			}
			c.ObservedGeneration = gen
			meta.SetStatusCondition(&cp.Conditions, *c)
		}
		changed[key] = cp
	}
	classes := p.classConditions(ctx, r)
	if changed == nil && classes == nil {
		return r
	}
	st := *r.Status
	if classes != nil {
		st.GatewayClasses = make(map[string]*gwv1.GatewayClassStatus, len(r.Status.GatewayClasses))
		for k, v := range r.Status.GatewayClasses {
			st.GatewayClasses[k] = v
		}
		for k, v := range classes {
			st.GatewayClasses[k] = v
		}
	}
	st.Gateways = make(map[types.NamespacedName]*gwv1.GatewayStatus, len(r.Status.Gateways))
	for k, v := range r.Status.Gateways {
		st.Gateways[k] = v
	}
	for k, v := range changed {
		st.Gateways[k] = v
	}
	out := *r
	out.Status = &st
	return &out
}

// classConditions are the statuses of the classes whose own parameters
// cannot be used: Accepted False, InvalidParameters (GEP-1762), copied from
// r; nil when there is none.
func (p *Provisioner) classConditions(ctx context.Context, r *translator.Result) map[string]*gwv1.GatewayClassStatus {
	var out map[string]*gwv1.GatewayClassStatus
	for name, st := range r.Status.GatewayClasses {
		gc := &gwv1.GatewayClass{}
		if err := p.c.Get(ctx, types.NamespacedName{Name: name}, gc); err != nil || gc.Spec.ParametersRef == nil {
			continue
		}
		_, err := p.resolve(ctx, &gwv1.Gateway{}, gc)
		var perr *paramsError
		if !errors.As(err, &perr) {
			continue
		}
		cp := st.DeepCopy()
		gen := gc.Generation
		meta.SetStatusCondition(&cp.Conditions, metav1.Condition{Type: string(gwv1.GatewayClassConditionStatusAccepted), Status: metav1.ConditionFalse,
			Reason: string(gwv1.GatewayClassReasonInvalidParameters), Message: perr.msg, ObservedGeneration: gen})
		if out == nil {
			out = map[string]*gwv1.GatewayClassStatus{}
		}
		out[name] = cp
	}
	return out
}

// conditions are the Accepted and Programmed conditions provisioning sets
// on Gateway key, nil for those it leaves to the translation.
func (p *Provisioner) conditions(ctx context.Context, key types.NamespacedName) (accepted, programmed *metav1.Condition) {
	gw := &gwv1.Gateway{}
	if err := p.c.Get(ctx, key, gw); err != nil {
		return nil, nil
	}
	gc := &gwv1.GatewayClass{}
	if err := p.c.Get(ctx, types.NamespacedName{Name: string(gw.Spec.GatewayClassName)}, gc); err != nil {
		return nil, nil
	}
	res, err := p.resolve(ctx, gw, gc)
	var perr *paramsError
	if errors.As(err, &perr) {
		return &metav1.Condition{Type: string(gwv1.GatewayConditionAccepted), Status: metav1.ConditionFalse,
				Reason: string(gwv1.GatewayReasonInvalidParameters), Message: perr.msg},
			&metav1.Condition{Type: string(gwv1.GatewayConditionProgrammed), Status: metav1.ConditionFalse,
				Reason: string(gwv1.GatewayReasonInvalidParameters), Message: "not provisioned: " + perr.msg}
	}
	if err != nil || !res.provision {
		return nil, nil
	}
	name := ResourceName(gw.Name, gc.Name)
	dep := &appsv1.Deployment{}
	pending := func(msg string) *metav1.Condition {
		return &metav1.Condition{Type: string(gwv1.GatewayConditionProgrammed), Status: metav1.ConditionFalse,
			Reason: string(gwv1.GatewayReasonPending), Message: msg}
	}
	if err := p.c.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: name}, dep); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, pending(fmt.Sprintf("waiting for the Envoy Deployment %s/%s to be created", gw.Namespace, name))
		}
		return nil, nil
	}
	if ref := metav1.GetControllerOf(dep); ref == nil || ref.Kind != "Gateway" || ref.Name != gw.Name {
		return nil, pending(fmt.Sprintf("Deployment %s/%s exists and was not made by gatewarden for this Gateway: not provisioned", gw.Namespace, name))
	}
	if dep.Status.AvailableReplicas < 1 {
		return nil, pending(fmt.Sprintf("the Envoy Deployment %s/%s has no available replica yet (%d of %d ready)",
			gw.Namespace, name, dep.Status.ReadyReplicas, dep.Status.Replicas))
	}
	return nil, nil
}

// remark marks the last translation again and offers it.
func (p *Provisioner) remark() {
	p.mu.Lock()
	base, offer := p.base, p.offer
	p.mu.Unlock()
	if base == nil || offer == nil {
		return
	}
	offer(p.mark(base))
}

// watchForStatus re-marks the statuses when a Deployment gatewarden made
// gains or loses its last available replica, or parameters change.
func (p *Provisioner) watchForStatus(ctx context.Context) error {
	cache := p.o.Manager.GetCache()
	inf, err := cache.GetInformer(ctx, &appsv1.Deployment{})
	if err != nil {
		return err
	}
	available := func(obj any) (bool, bool) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok || d.Labels[LabelManagedBy] != managedBy {
			return false, false
		}
		return d.Status.AvailableReplicas > 0, true
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if _, ok := available(obj); ok {
				p.remark()
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			a, ok1 := available(oldObj)
			b, ok2 := available(newObj)
			if ok1 && ok2 && a != b {
				p.remark()
			}
		},
		DeleteFunc: func(obj any) {
			if _, ok := available(obj); ok {
				p.remark()
			}
		},
	}); err != nil {
		return err
	}
	if !p.params {
		return nil
	}
	pinf, err := cache.GetInformer(ctx, &gwdv1a1.GatewayParameters{})
	if err != nil {
		return err
	}
	_, err = pinf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.remark() },
		UpdateFunc: func(any, any) { p.remark() },
		DeleteFunc: func(any) { p.remark() },
	})
	return err
}
