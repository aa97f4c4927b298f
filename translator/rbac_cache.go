package translator

import (
	"runtime"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/types/known/anypb"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// rbacKey identifies one RBAC translation: the same rbac extension (by
// content: many RouteOptions often carry the same rules) under the same JWT
// providers, for the same field, always translates to the same per-route
// config.
type rbacKey struct {
	spec      string // the extension's JSON
	providers string
	field     string
}

// rbacContent is the content key of spec, computed once per object.
func (t *translation) rbacContent(spec *optv1.RBACExtension) string {
	if k, ok := t.rbacKeys[spec]; ok {
		return k
	}
	k := rbacContentKey(spec)
	if t.rbacKeys == nil {
		t.rbacKeys = map[*optv1.RBACExtension]string{}
	}
	t.rbacKeys[spec] = k
	return k
}

// rbacContentKey encodes every field of spec, maps in key order, strings
// length-prefixed, so that two extensions have the same key exactly when
// they are equal. TestRBACContentKeyCoversEveryField fails when a field is
// added to these types and not here.
func rbacContentKey(spec *optv1.RBACExtension) string {
	b := make([]byte, 0, 256)
	str := func(s string) { b = strconv.AppendInt(b, int64(len(s)), 10); b = append(b, ':'); b = append(b, s...) }
	if spec.Disable {
		b = append(b, 'D')
	}
	for _, name := range sortedKeys(spec.Policies) {
		p := spec.Policies[name]
		b = append(b, 'P')
		str(name)
		str(p.NestedClaimDelimiter)
		for _, pr := range p.Principals {
			j := pr.JwtPrincipal
			b = append(b, 'J')
			str(j.Provider)
			str(string(j.Matcher))
			for _, c := range sortedKeys(j.Claims) {
				str(c)
				str(j.Claims[c])
			}
		}
		if p.Permissions != nil {
			b = append(b, 'M')
			str(p.Permissions.PathPrefix)
			for _, m := range p.Permissions.Methods {
				str(m)
			}
		}
		b = append(b, ';')
	}
	return string(b)
}

// checkRBAC is validateRBAC of spec (as spec.options.rbac), once per
// distinct content.
func (t *translation) checkRBAC(spec *optv1.RBACExtension) string {
	k := t.rbacContent(spec)
	if msg, ok := t.rbacChecked[k]; ok {
		return msg
	}
	msg := validateRBAC("spec.options.rbac", spec)
	if t.rbacChecked == nil {
		t.rbacChecked = map[string]string{}
	}
	t.rbacChecked[k] = msg
	return msg
}

type rbacBuilt struct {
	any *anypb.Any
	msg string
}

func providersKey(ps []*jwtProvider) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.envoyName)
		b.WriteByte(0)
	}
	return b.String()
}

// rbacFor returns the packed RBACPerRoute of spec under providers, built
// once per translation (prebuilt in parallel by prebuildRBAC).
func (t *translation) rbacFor(field string, spec *optv1.RBACExtension, providers []*jwtProvider) rbacBuilt {
	key := rbacKey{t.rbacContent(spec), providersKey(providers), field}
	if b, ok := t.rbacCache[key]; ok {
		return b
	}
	b := buildRBACAny(field, spec, providers)
	if t.rbacCache == nil {
		t.rbacCache = map[rbacKey]rbacBuilt{}
	}
	t.rbacCache[key] = b
	return b
}

func buildRBACAny(field string, spec *optv1.RBACExtension, providers []*jwtProvider) rbacBuilt {
	rules, msg := buildRBAC(field, spec, providers)
	if msg != "" {
		return rbacBuilt{msg: msg}
	}
	return rbacBuilt{any: mustAny(rbacPerRoute(rules))}
}

// prebuildRBAC builds, on every core, the route-level RBAC the routes of a
// Gateway will ask for: with thousands of routes each carrying its own
// RouteOption, building and packing these protos is most of the work. The
// result does not depend on the order the work is done in.
func (t *translation) prebuildRBAC(gs *gatewayState) {
	type job struct {
		key       rbacKey
		spec      *optv1.RBACExtension
		providers []*jwtProvider
	}
	seen := map[rbacKey]bool{}
	var jobs []job
	for _, l := range gs.listeners {
		var vhJwt *jwtConfig
		if l.vhostOp != nil && l.vhostOp.invalid == "" {
			vhJwt = l.vhostOp.jwt
		}
		for _, a := range l.routes {
			opts := []*routePolicy{a.route.option}
			for _, r := range a.route.rules {
				opts = append(opts, r.option)
			}
			for _, opt := range opts {
				if opt == nil || opt.invalid != "" || opt.obj.Spec.Options.Rbac == nil || opt.obj.Spec.Options.Rbac.Disable {
					continue
				}
				provs := vhJwt.providers()
				if opt.setsJwt() {
					provs = opt.applyJwt(vhJwt).providers()
				}
				spec := opt.obj.Spec.Options.Rbac
				k := rbacKey{t.rbacContent(spec), providersKey(provs), "spec.options.rbac"}
				if !seen[k] {
					seen[k] = true
					jobs = append(jobs, job{k, spec, provs})
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
				out[i] = buildRBACAny(jobs[i].key.field, jobs[i].spec, jobs[i].providers)
			}
		}(w)
	}
	wg.Wait()
	if t.rbacCache == nil {
		t.rbacCache = make(map[rbacKey]rbacBuilt, len(jobs))
	}
	for i, j := range jobs {
		t.rbacCache[j.key] = out[i]
	}
}
