package translator

import (
	"runtime"
	"strings"
	"sync"

	"google.golang.org/protobuf/types/known/anypb"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// rbacKey identifies one RBAC translation: the same rbac extension under the
// same JWT providers always translates to the same per-route config.
type rbacKey struct {
	spec      *optv1.RBACExtension
	providers string
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
	key := rbacKey{spec, providersKey(providers)}
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
				k := rbacKey{opt.obj.Spec.Options.Rbac, providersKey(provs)}
				if !seen[k] {
					seen[k] = true
					jobs = append(jobs, job{k, provs})
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
				out[i] = buildRBACAny("spec.options.rbac", jobs[i].key.spec, jobs[i].providers)
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
