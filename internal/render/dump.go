// Package render turns a translation into plain data and YAML for people
// and golden files: the translate command, the debug endpoints and the
// translator's tests. It stays out of the translator, whose output is the
// xDS configuration and statuses themselves.
package render

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gatewarden/gatewarden/translator"
)

// Dump is a translator.Result as plain data, for people and golden files: xDS
// resources in Envoy's JSON form and statuses in the Kubernetes form, every
// list in a stable order.
type Dump struct {
	Gateways []GatewayDump `json:"gateways"`
	Status   StatusDump    `json:"status"`
}

// GatewayDump is one Gateway's xDS resources.
type GatewayDump struct {
	Gateway   string `json:"gateway"`
	Listeners []any  `json:"listeners,omitempty"`
	Routes    []any  `json:"routes,omitempty"`
	// ScopedRoutes select a route configuration by Host (scoped RDS).
	ScopedRoutes []any `json:"scopedRoutes,omitempty"`
	Clusters     []any `json:"clusters,omitempty"`
	Endpoints    []any `json:"endpoints,omitempty"`
	// Secrets are listed with their private keys redacted.
	Secrets []any `json:"secrets,omitempty"`
}

// StatusDump lists statuses by kind, each sorted by namespace/name. It is
// written as one object keyed by kind, the kinds in order, a kind without
// statuses left out.
type StatusDump []KindStatus

// KindStatus is the statuses of the objects of one kind.
type KindStatus struct {
	// Kind is the key the statuses are written under: gatewayClasses,
	// httpRoutes, ...
	Kind    string
	Objects []ObjectStatus
}

// ObjectStatus is the status of one object.
type ObjectStatus struct {
	Name   string `json:"name"`
	Status any    `json:"status"`
}

// Of converts r for printing.
func Of(r *translator.Result) (*Dump, error) {
	d := &Dump{Gateways: []GatewayDump{}}
	for _, g := range r.Gateways {
		gd := GatewayDump{Gateway: g.Key()}
		var errs [6]error
		gd.Listeners, errs[0] = protoList(g.Listeners)
		gd.Routes, errs[1] = protoList(g.Routes)
		gd.ScopedRoutes, errs[2] = protoList(g.ScopedRoutes)
		gd.Clusters, errs[3] = protoList(g.Clusters)
		gd.Endpoints, errs[4] = protoList(g.Endpoints)
		gd.Secrets, errs[5] = protoList(redactSecrets(g.Secrets))
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("gateway %s: %w", g.Key(), err)
		}
		d.Gateways = append(d.Gateways, gd)
	}
	s := r.Status
	d.Status = StatusDump{
		{"gatewayClasses", clusterScoped(s.GatewayClasses)},
		{"gateways", namespaced(s.Gateways)},
		{"listenerSets", namespaced(s.ListenerSets)},
		{"httpRoutes", namespaced(s.HTTPRoutes)},
		{"grpcRoutes", namespaced(s.GRPCRoutes)},
		{"tlsRoutes", namespaced(s.TLSRoutes)},
		{"tcpRoutes", namespaced(s.TCPRoutes)},
		{"udpRoutes", namespaced(s.UDPRoutes)},
		{"virtualHostOptions", namespaced(s.VirtualHostOptions)},
		{"routeOptions", namespaced(s.RouteOptions)},
		{"backendTLSPolicies", namespaced(s.BackendTLSPolicies)},
	}
	return d, nil
}

// YAML renders the Dump of r, keys sorted.
func YAML(r *translator.Result) ([]byte, error) {
	d, err := Of(r)
	if err != nil {
		return nil, err
	}
	return d.YAML()
}

// YAML renders d, keys sorted.
func (d *Dump) YAML() ([]byte, error) {
	js, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(js, &generic); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	m := generic.(map[string]any)
	for _, k := range []string{"gateways", "status"} {
		out.WriteString(k + ":")
		writeYAML(&out, m[k], "  ")
	}
	return out.Bytes(), nil
}

// MarshalJSON writes s as one object keyed by kind, in the order of s,
// leaving out the kinds without statuses.
func (s StatusDump) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for _, k := range s {
		if len(k.Objects) == 0 {
			continue
		}
		objects, err := json.Marshal(k.Objects)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.Kind, err)
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(k.Kind) // a string always marshals
		b.Write(key)
		b.WriteByte(':')
		b.Write(objects)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func clusterScoped[V any](m map[string]V) []ObjectStatus {
	out := make([]ObjectStatus, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, ObjectStatus{Name: name, Status: m[name]})
	}
	return out
}

func namespaced[V any](m map[types.NamespacedName]V) []ObjectStatus {
	keys := make([]types.NamespacedName, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b types.NamespacedName) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	out := make([]ObjectStatus, 0, len(keys))
	for _, k := range keys {
		out = append(out, ObjectStatus{Name: k.String(), Status: m[k]})
	}
	return out
}

func protoList[T proto.Message](msgs []T) ([]any, error) {
	out := make([]any, 0, len(msgs))
	for _, m := range msgs {
		b, err := protojson.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("marshal %T: %w", m, err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("re-read %T: %w", m, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// redactSecrets copies secrets with their private keys replaced, so that a
// printed or served configuration never carries one.
func redactSecrets(in []*tlsv3.Secret) []*tlsv3.Secret {
	out := make([]*tlsv3.Secret, len(in))
	for i, s := range in {
		s = proto.Clone(s).(*tlsv3.Secret)
		if c := s.GetTlsCertificate(); c != nil && c.PrivateKey != nil {
			c.PrivateKey = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "[redacted]"}}
		}
		out[i] = s
	}
	return out
}
