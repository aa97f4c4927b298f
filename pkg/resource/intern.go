package resource

import (
	"runtime"
	"sync"
	"unique"
	"weak"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// interner holds one value per distinct content, weakly: a loader keeps
// every document it read, and many options carry the same rules (a
// platform's few policies on thousands of routes), which are then held
// once. A value no document uses any more is collected, and its entry with
// it.
type interner[T any] struct {
	key func(*T) string
	mu  sync.Mutex
	m   map[string]weak.Pointer[T]
}

func newInterner[T any](key func(*T) string) *interner[T] {
	return &interner[T]{key: key, m: map[string]weak.Pointer[T]{}}
}

// intern returns the held value equal to v, or holds v.
func (in *interner[T]) intern(v *T) *T {
	if v == nil {
		return nil
	}
	k := in.key(v)
	in.mu.Lock()
	defer in.mu.Unlock()
	if p := in.m[k].Value(); p != nil {
		return p
	}
	in.m[k] = weak.Make(v)
	runtime.AddCleanup(v, in.forget, k)
	return v
}

// forget drops the entry of k once its value is collected (unless another
// value took its place meanwhile).
func (in *interner[T]) forget(k string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.m[k].Value() == nil {
		delete(in.m, k)
	}
}

func (in *interner[T]) len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.m)
}

// rbacRules interns the RBAC extensions of the options read from files. The
// translator only reads its inputs, so equal extensions can be one.
var rbacRules = newInterner((*optv1.RBACExtension).ContentKey)

// share replaces parts of obj by the equal ones already held: its
// namespace (the objects of a configuration live in a few) and its rules.
func share(obj Object) {
	obj.SetNamespace(unique.Make(obj.GetNamespace()).Value())
	switch o := obj.(type) {
	case *optv1.RouteOption:
		o.Spec.Options.Rbac = rbacRules.intern(o.Spec.Options.Rbac)
	case *optv1.VirtualHostOption:
		o.Spec.Options.Rbac = rbacRules.intern(o.Spec.Options.Rbac)
	}
}
