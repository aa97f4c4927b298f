package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// backendTLSPolicyKind is read only where its CRD is installed: a cluster
// with the Gateway API's standard CRDs of an older release has none, and
// gatewarden then serves without it (https JWKS servers are checked against
// the system's authorities) instead of failing to start.
var backendTLSPolicyKind = schema.GroupKind{Group: gwv1.GroupName, Kind: "BackendTLSPolicy"}

// listenerSetKind is read only where its CRD is installed, for the same
// reason: a cluster whose CRDs predate it has Gateways to serve all the same.
var listenerSetKind = schema.GroupKind{Group: gwv1.GroupName, Kind: "ListenerSet"}

// installed reports whether the API server serves gk. An error other than
// "no such kind" is returned, so that a transient failure is not taken for
// a missing CRD.
func installed(mapper meta.RESTMapper, gk schema.GroupKind, version string) (bool, error) {
	if _, err := mapper.RESTMapping(gk, version); err != nil {
		if meta.IsNoMatchError(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// configMapCache keeps of each ConfigMap only its name and the CA a
// BackendTLSPolicy reads (key ca.crt): a cluster's ConfigMaps hold
// configuration files of every application, which gatewarden would
// otherwise hold in memory for nothing.
func configMapCache() cache.ByObject {
	return cache.ByObject{Transform: func(obj any) (any, error) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok {
			return obj, nil // a tombstone
		}
		slim := &corev1.ConfigMap{TypeMeta: cm.TypeMeta}
		slim.Name, slim.Namespace, slim.UID, slim.ResourceVersion = cm.Name, cm.Namespace, cm.UID, cm.ResourceVersion
		if ca, ok := cm.Data["ca.crt"]; ok {
			slim.Data = map[string]string{"ca.crt": ca}
		}
		return slim, nil
	}}
}

// cacheByObject is the informer cache's per-kind settings.
func cacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{&corev1.ConfigMap{}: configMapCache()}
}

// listOptional lists the kinds read only where installed.
func (s *Source) listOptional(ctx context.Context, res *resource.Resources) error {
	if s.listenerSet {
		var l gwv1.ListenerSetList
		if err := s.mgr.GetCache().List(ctx, &l); err != nil {
			return fmt.Errorf("list ListenerSets: %w", err)
		}
		res.ListenerSets = pointers(l.Items)
	}
	if !s.backendTLS {
		return nil
	}
	var l gwv1.BackendTLSPolicyList
	if err := s.mgr.GetCache().List(ctx, &l); err != nil {
		return err
	}
	res.BackendTLSPolicies = pointers(l.Items)
	return nil
}

// caChanged tells whether a ConfigMap event may change a translation: only
// its ca.crt is read, and most ConfigMaps of a cluster have none.
func caChanged(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*corev1.ConfigMap)
	n, ok2 := newObj.(*corev1.ConfigMap)
	if !ok1 || !ok2 {
		return true
	}
	return !equality.Semantic.DeepEqual(o.Data, n.Data)
}

// hasCA tells whether a ConfigMap's addition or removal may change a
// translation.
func hasCA(obj any) bool {
	cm, ok := obj.(*corev1.ConfigMap)
	return !ok || cm.Data["ca.crt"] != ""
}
