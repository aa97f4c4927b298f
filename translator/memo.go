package translator

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"google.golang.org/protobuf/types/known/anypb"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// memo holds values computed once per key during one translation: most
// routes of a large input carry one of a few policies, so that building,
// checking and packing each distinct one once is most of the saving. Its
// map is made on first use: a small input needs few of them.
type memo[K comparable, V any] struct{ m map[K]V }

// get returns the value of k, computing it with compute the first time.
func (c *memo[K, V]) get(k K, compute func() V) V {
	if v, ok := c.m[k]; ok {
		return v
	}
	v := compute()
	c.put(k, v)
	return v
}

// put sets the value of k.
func (c *memo[K, V]) put(k K, v V) {
	if c.m == nil {
		c.m = map[K]V{}
	}
	c.m[k] = v
}

// grow makes room for n more values.
func (c *memo[K, V]) grow(n int) {
	if c.m == nil {
		c.m = make(map[K]V, n)
	}
}

// memos are the memos of one translation: the RBAC and JWT configs of
// options, found by content, and the per-filter configs routes share.
type memos struct {
	// rbacKeys are the content keys of rbac extensions, computed once per
	// object; rbacChecked their checked forms (rbac_checked.go), once per
	// content; rbacBuilt the route-level RBAC built once per content,
	// providers and field.
	rbacKeys    memo[*optv1.RBACExtension, string]
	rbacChecked memo[string, *checkedRBAC]
	rbacBuilt   memo[rbacKey, rbacBuilt]
	// provKeys are the providers keys of JWT configs; jwtAnys their packed
	// per-route configs, found without naming the requirement again.
	provKeys memo[*jwtConfig, string]
	jwtAnys  memo[*jwtConfig, *anypb.Any]
	// packed holds per-filter configs by content key, typedMaps the
	// per-filter config maps by content (see sharedTyped).
	packed    memo[string, *anypb.Any]
	typedMaps memo[typedKey, map[string]*anypb.Any]
}

// rbacKey identifies one RBAC translation: the same rbac extension (by
// content: many RouteOptions often carry the same rules) under the same JWT
// providers, for the same field, always translates to the same per-route
// config.
type rbacKey struct {
	spec      string // the extension's JSON
	providers string
	field     string
	// shadow is the content key, field and metadata prefix of a dry-run
	// option's rules; empty for most routes.
	shadow, shadowField, shadowPrefix string
}

// rbacContent is the content key of spec, computed once per object.
func (t *translation) rbacContent(spec *optv1.RBACExtension) string {
	return t.memo.rbacKeys.get(spec, spec.ContentKey)
}

// checkRBAC checks spec (as spec.options.rbac) and says what is wrong
// with it, or nil.
func (t *translation) checkRBAC(spec *optv1.RBACExtension) error {
	if msg := t.rbacRules(spec).invalid; msg != "" {
		return errors.New(msg)
	}
	return nil
}

// rbacRules is the checked form of spec, made once per distinct content.
func (t *translation) rbacRules(spec *optv1.RBACExtension) *checkedRBAC {
	return t.memo.rbacChecked.get(t.rbacContent(spec), func() *checkedRBAC { return checkRBAC("spec.options.rbac", spec) })
}

// withRules returns sel with the checked forms of its rules.
func (t *translation) withRules(sel rbacSel) rbacSel {
	if sel.enforced != nil {
		sel.enforcedRules = t.rbacRules(sel.enforced)
	}
	if sel.shadow != nil {
		sel.shadowRules = t.rbacRules(sel.shadow)
	}
	return sel
}

type rbacBuilt struct {
	any *anypb.Any
	msg string
}

// providersKeyOf is providersKey of jc's providers, once per config.
func (t *translation) providersKeyOf(jc *jwtConfig) string {
	return t.memo.provKeys.get(jc, func() string { return providersKey(jc.providers()) })
}

func providersKey(ps []*jwtProvider) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.envoyName)
		b.WriteByte(0)
	}
	return b.String()
}

// rbacForSel returns the packed RBACPerRoute of a selection (enforced and
// shadow rules) under the providers of jc, built
// once per translation (prebuilt in parallel by prebuildRBAC).
func (t *translation) rbacForSel(sel rbacSel, jc *jwtConfig) rbacBuilt {
	providers := jc.providers()
	key := rbacKey{providers: t.providersKeyOf(jc), field: sel.enforcedField, shadowField: sel.shadowField, shadowPrefix: sel.shadowPrefix}
	if sel.enforced != nil {
		key.spec = t.rbacContent(sel.enforced)
	}
	if sel.shadow != nil {
		key.shadow = t.rbacContent(sel.shadow)
	}
	return t.memo.rbacBuilt.get(key, func() rbacBuilt { return buildRBACSelAny(t.withRules(sel), providers) })
}

func buildRBACSelAny(sel rbacSel, providers []*jwtProvider) rbacBuilt {
	cfg, msg := buildRBACSel(sel, providers)
	if msg != "" {
		return rbacBuilt{msg: msg}
	}
	return rbacBuilt{any: mustAny(cfg)}
}

// prebuildRBAC builds, on every core, the route-level RBAC the routes of a
// Gateway will ask for: with thousands of routes each carrying its own
// RouteOption, building and packing these protos is most of the work. The
// result does not depend on the order the work is done in.
func (t *translation) prebuildRBAC(gs *gatewayState) {
	type job struct {
		key       rbacKey
		sel       rbacSel
		providers []*jwtProvider
	}
	seen := map[rbacKey]bool{}
	var jobs []job
	for _, l := range gs.listeners {
		var vhJwt *jwtConfig
		if l.vhostOp != nil && l.vhostOp.invalid == nil {
			vhJwt = l.vhostOp.jwt
		}
		for _, a := range l.routes {
			opts := []*routePolicy{a.route.option}
			for _, r := range a.route.rules {
				opts = append(opts, r.option)
			}
			for _, opt := range opts {
				if opt == nil || opt.invalid != nil || opt.obj.Spec.Options.Rbac == nil || opt.obj.Spec.Options.Rbac.Disable || isDryRun(opt.obj) {
					continue
				}
				jc := vhJwt
				if opt.setsJwt() {
					jc = opt.applyJwt(vhJwt)
				}
				provs := jc.providers()
				spec := opt.obj.Spec.Options.Rbac
				k := rbacKey{spec: t.rbacContent(spec), providers: t.providersKeyOf(jc), field: "spec.options.rbac"}
				if !seen[k] {
					seen[k] = true
					jobs = append(jobs, job{k, t.withRules(rbacSel{enforced: spec, enforcedField: k.field}), provs})
				}
			}
		}
	}
	if len(jobs) < 64 {
		return // not worth the goroutines; built on demand
	}
	out := make([]rbacBuilt, len(jobs))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(jobs); i += workers {
				out[i] = buildRBACSelAny(jobs[i].sel, jobs[i].providers)
			}
		}(w)
	}
	wg.Wait()
	t.memo.rbacBuilt.grow(len(jobs))
	for i, j := range jobs {
		t.memo.rbacBuilt.put(j.key, out[i])
	}
}

// sameRBAC reports whether a and b are the same rules (by content: two
// objects may carry equal extensions).
func (t *translation) sameRBAC(a, b *optv1.RBACExtension) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a == b || t.rbacContent(a) == t.rbacContent(b)
}

// packedOnce packs the config build returns, once per key.
func (t *translation) packedOnce(key string, build func() proto.Message) *anypb.Any {
	return t.memo.packed.get(key, func() *anypb.Any { return mustAny(build()) })
}

// jwtPerRouteAny is jwtPerRoute(c) packed, once per requirement (and
// found without naming it again for a config seen before: a virtual
// host's is asked for once per virtual host).
func (t *translation) jwtPerRouteAny(c *jwtConfig) *anypb.Any {
	return t.memo.jwtAnys.get(c, func() *anypb.Any {
		key := "jwt-off"
		if !c.empty() {
			key = "jwt:" + c.requirementName()
		}
		return t.packedOnce(key, func() proto.Message { return jwtPerRoute(c) })
	})
}

// rbacOff is the per-route config that turns RBAC off.
func (t *translation) rbacOff() *anypb.Any {
	return t.packedOnce("rbac-off", func() proto.Message { return rbacPerRoute(nil) })
}

// sharedTyped returns a per-filter config map equal to m, the same map for
// every route or virtual host with the same configs: thousands of routes
// often carry one policy, and the maps are never modified once built.
// Configs are compared by identity, which the memos above make content.
func (t *translation) sharedTyped(m map[string]*anypb.Any) map[string]*anypb.Any {
	if len(m) == 0 {
		return nil
	}
	// A route carries a config for a few filters (jwt_authn, rbac): the
	// key is their names and configs, in name order.
	var key typedKey
	if len(m) > len(key) {
		var b strings.Builder
		for _, k := range sortedKeys(m) {
			fmt.Fprintf(&b, "%s=%p;", k, m[k])
		}
		key[0].name = b.String()
	} else {
		i := 0
		for k, a := range m {
			key[i] = typedKeyEntry{k, a}
			i++
		}
		slices.SortFunc(key[:i], func(a, b typedKeyEntry) int { return strings.Compare(a.name, b.name) })
	}
	return t.memo.typedMaps.get(key, func() map[string]*anypb.Any { return m })
}

// typedKey identifies a per-filter config map by content: up to four
// filter names with their (memoized) configs, or for more a string naming
// them all in its first name.
type typedKey [4]typedKeyEntry

type typedKeyEntry struct {
	name string
	any  *anypb.Any
}
