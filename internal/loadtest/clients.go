package loadtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
)

// FanoutResult is what RunClients measured.
type FanoutResult struct {
	// ToLastAck is, per change, the time from the change on disk until the
	// last client ACKed the new route configuration.
	ToLastAck []time.Duration
	// Baseline are the server's figures before the clients connected,
	// With while they were connected, After once they had left.
	BaselineRSS, RSS, AfterRSS                      float64
	BaselineGoroutines, Goroutines, AfterGoroutines float64
	// RSS, HeapInuse and Goroutines are read 2 s after the last ACK (settle);
	// PeakRSS is the most resident memory the process had by then. RSSAnon
	// and RSSFile split RSS into the process's own memory and the pages of
	// files it maps (its binary's code and data).
	HeapInuse, PeakRSS float64
	RSSAnon, RSSFile   float64
}

// RunClients connects n simulated Envoys (half delta, half state of the
// world, each subscribing to listeners, clusters and the route
// configuration and ACKing every response), waits until each has the route
// configuration, then makes changes changes (route 7's RouteOption
// rewritten), timing each until every client ACKed it. Every client must
// receive every change.
func RunClients(s *Stack, n, changes int) (*FanoutResult, error) {
	return RunClientsWith(s, n, changes, 300*time.Millisecond, nil)
}

// settle is how long after the last ACK the figures with clients are read.
const settle = 2 * time.Second

// RunClientsWith is RunClients with the pause before each change, and a
// function called after every change is ACKed by all (for sampling), and
// once more, with changes, after the figures with the clients are read
// (for sampling that would disturb them, such as a heap profile).
func RunClientsWith(s *Stack, n, changes int, pause time.Duration, afterChange func(change int)) (*FanoutResult, error) {
	res := &FanoutResult{BaselineRSS: RSS(s.Gatewarden.Pid()), BaselineGoroutines: s.Metric("go_goroutines")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Route 7 is the one changed; its hostname picks its route
	// configuration (the port's, or its own under scoped RDS).
	watchedHost := "r7.example.com"
	type event struct {
		client int
		at     time.Time
	}
	events := make(chan event, n*16)
	var conns []*grpc.ClientConn
	var wg sync.WaitGroup
	closeAll := func() {
		cancel()
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}
	for i := 0; i < n; i++ {
		// Envoy takes responses of any size; the gRPC default of 4 MiB would
		// refuse the route configuration of 10,000 routes.
		conn, err := grpc.NewClient(s.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
		if err != nil {
			closeAll()
			return nil, err
		}
		conns = append(conns, conn)
		node := &corev3.Node{Id: fmt.Sprintf("sim-%d", i), Cluster: "bench/bench"}
		c := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
		report := func(string) { events <- event{i, time.Now()} }
		wg.Add(1)
		go func(delta bool) {
			defer wg.Done()
			if delta {
				deltaClient(ctx, c, node, watchedHost, report)
			} else {
				sotwClient(ctx, c, node, watchedHost, report)
			}
		}(i%2 == 1)
	}
	have := map[int]bool{}
	deadline := time.After(120 * time.Second)
	for len(have) < n {
		select {
		case e := <-events:
			have[e.client] = true
		case <-deadline:
			closeAll()
			return nil, fmt.Errorf("%d of %d clients got the route configuration in 120 s", len(have), n)
		}
	}
	for c := 0; c < changes; c++ {
		time.Sleep(pause)
		for len(events) > 0 {
			<-events
		}
		team := "nobody"
		if c%2 == 1 {
			team = "team-7"
		}
		start := time.Now()
		if err := s.SetTeam(7, team); err != nil {
			closeAll()
			return nil, err
		}
		acked := map[int]time.Time{}
		deadline := time.After(60 * time.Second)
		for len(acked) < n {
			select {
			case e := <-events:
				if _, ok := acked[e.client]; !ok && e.at.After(start) {
					acked[e.client] = e.at
				}
			case <-deadline:
				closeAll()
				return nil, fmt.Errorf("change %d: %d of %d clients ACKed it in 60 s", c, len(acked), n)
			}
		}
		var last time.Time
		for _, t := range acked {
			if t.After(last) {
				last = t
			}
		}
		res.ToLastAck = append(res.ToLastAck, last.Sub(start))
		if afterChange != nil {
			afterChange(c)
		}
	}
	// Settled: the figures with the clients connected and up to date, not
	// in the middle of the last push.
	time.Sleep(settle)
	// One reading, so that RSS is its anonymous and file parts.
	mem := procStatusFields(s.Gatewarden.Pid(), "VmRSS", "VmHWM", "RssAnon", "RssFile")
	res.RSS, res.PeakRSS, res.RSSAnon, res.RSSFile = mem[0], mem[1], mem[2], mem[3]
	res.Goroutines, res.HeapInuse = s.Metric("go_goroutines"), s.Metric("go_memstats_heap_inuse_bytes")
	if afterChange != nil {
		afterChange(changes)
	}
	closeAll()
	time.Sleep(3 * time.Second)
	res.AfterRSS, res.AfterGoroutines = RSS(s.Gatewarden.Pid()), s.Metric("go_goroutines")
	return res, nil
}

// routeNames follows an Envoy's path from a listener to route
// configurations: the names the HTTP connection managers of a listener
// response ask for by RDS, and whether they use scoped RDS instead.
func routeNames(listeners []*anypb.Any) (names []string, scoped bool) {
	for _, a := range listeners {
		l := &listenerv3.Listener{}
		if a.UnmarshalTo(l) != nil {
			continue
		}
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				hcm := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(hcm) != nil {
					continue
				}
				if rds := hcm.GetRds(); rds != nil {
					names = append(names, rds.RouteConfigName)
				}
				if hcm.GetScopedRoutes() != nil {
					scoped = true
				}
			}
		}
	}
	return names, scoped
}

// scopeRoutes returns the route configurations scopes name, and the one
// whose key is host (its first fragment; the second is the port).
func scopeRoutes(scopes []*anypb.Any, host string) (names []string, watched string) {
	for _, a := range scopes {
		sc := &routev3.ScopedRouteConfiguration{}
		if a.UnmarshalTo(sc) != nil {
			continue
		}
		names = append(names, sc.RouteConfigurationName)
		if f := sc.GetKey().GetFragments(); len(f) > 0 && f[0].GetStringKey() == host {
			watched = sc.RouteConfigurationName
		}
	}
	return names, watched
}

// routeSubscriber is the part of a simulated Envoy that decides which route
// configurations to ask for, and which one carries the watched host.
type routeSubscriber struct {
	host    string
	mu      sync.Mutex
	rds     []string // names asked for by RDS
	watched string   // the route configuration of host ("" until known)
	// subscribed are the types asked for after the first listeners.
	subscribed map[string]bool
	// delta: responses carry what changed (else every resource).
	delta bool
	eds   []string // endpoint names asked for, in order
	edsOf map[string]bool
}

// onClusters returns the endpoint names to ask for after a cluster
// response, as Envoy asks for the endpoints of every EDS cluster: all of
// them again when they changed (state of the world), or the new ones
// (delta); nil when nothing is to be asked.
func (r *routeSubscriber) onClusters(cs []*anypb.Any) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.edsOf == nil {
		r.edsOf = map[string]bool{}
	}
	var fresh, all []string
	for _, a := range cs {
		name, eds := edsClusterName(a)
		if !eds {
			continue
		}
		all = append(all, name)
		if !r.edsOf[name] {
			fresh = append(fresh, name)
		}
	}
	if r.delta {
		for _, n := range fresh {
			r.edsOf[n] = true
		}
		r.eds = append(r.eds, fresh...)
		return fresh
	}
	if len(fresh) == 0 && len(all) == len(r.eds) {
		return nil
	}
	r.eds, r.edsOf = all, map[string]bool{}
	for _, n := range all {
		r.edsOf[n] = true
	}
	return all
}

func (r *routeSubscriber) onListeners(ls []*anypb.Any) (rds []string, wantScopes bool) {
	names, scoped := routeNames(ls)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !scoped {
		r.rds = names
		if len(names) > 0 {
			r.watched = names[0]
		}
	}
	return r.rds, scoped
}

func (r *routeSubscriber) onScopes(scopes []*anypb.Any) []string {
	names, watched := scopeRoutes(scopes, r.host)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rds, r.watched = names, watched
	return names
}

// next is what a listener or scope response makes the client ask for:
// the scoped route configurations (once), or route configurations by name;
// typ is "" when nothing is to be asked.
func (r *routeSubscriber) next(typeURL string, resources []*anypb.Any) (typ string, names []string) {
	if r.subscribed == nil {
		r.subscribed = map[string]bool{}
	}
	switch typeURL {
	case resourcev3.ListenerType:
		names, scoped := r.onListeners(resources)
		switch {
		case scoped && !r.subscribed[resourcev3.ScopedRouteType]:
			typ = resourcev3.ScopedRouteType
		case !scoped && len(names) > 0 && !r.subscribed[resourcev3.RouteType]:
			return r.ask(resourcev3.RouteType), names
		}
		return r.ask(typ), nil
	case resourcev3.ScopedRouteType:
		return r.ask(resourcev3.RouteType), r.onScopes(resources)
	case resourcev3.ClusterType:
		if names := r.onClusters(resources); len(names) > 0 {
			return r.ask(resourcev3.EndpointType), names
		}
	}
	return "", nil
}

func (r *routeSubscriber) ask(typ string) string {
	if typ != "" {
		r.subscribed[typ] = true
	}
	return typ
}

// namesAsked are the names asked for so far by a state-of-the-world
// request of typeURL (route configurations or endpoints), which every ACK
// repeats; nil for the other types.
func (r *routeSubscriber) namesAsked(typeURL string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch typeURL {
	case resourcev3.RouteType:
		return r.rds
	case resourcev3.EndpointType:
		return r.eds
	}
	return nil
}

// carries reports whether a route response holds the watched configuration.
func (r *routeSubscriber) carries(names []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watched != "" && slices.Contains(names, r.watched)
}

func resourceNames(rs []*anypb.Any, decode func(*anypb.Any) string) []string {
	out := make([]string, 0, len(rs))
	for _, a := range rs {
		out = append(out, decode(a))
	}
	return out
}

// edsClusterName reads a packed cluster's name and whether its endpoints
// come from EDS (type, field 2, is EDS), without decoding the rest. The
// endpoints are asked for by the cluster's name: gatewarden sets no EDS
// service name.
func edsClusterName(a *anypb.Any) (name string, eds bool) {
	const edsType = 3
	b := a.GetValue()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return "", false
			}
			name = string(v)
			b = b[m:]
			continue
		case num == 2 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return "", false
			}
			eds = v == edsType
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return "", false
		}
		b = b[m:]
	}
	return name, eds
}

// routeConfigName reads the name of a packed route configuration (its
// field 1) without decoding the rest, as a thousand simulated clients share
// the machine with the server they measure.
func routeConfigName(a *anypb.Any) string {
	b := a.GetValue()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return ""
			}
			return string(v)
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return ""
		}
		b = b[m:]
	}
	return ""
}

// runClient subscribes to LDS and CDS, then, as Envoy does, to the
// endpoints of its EDS clusters and to the route configurations its
// listeners name (through scoped RDS when they use it),
// and ACKs every response; it calls onRoute after ACKing a route response
// that carries the route configuration of sub's host.
func runClient[Req, Resp any](st adsStream[Req, Resp], p adsProtocol[Req, Resp], sub *routeSubscriber, onRoute func(string)) {
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType} {
		if st.Send(p.subscribe(typ, nil)) != nil {
			return
		}
	}
	for {
		raw, err := st.Recv()
		if err != nil {
			return
		}
		resp := p.read(raw)
		if st.Send(p.ack(resp)) != nil {
			return
		}
		if resp.typeURL == resourcev3.RouteType {
			if sub.carries(resp.routes) {
				onRoute(resp.version)
			}
			continue
		}
		if typ, names := sub.next(resp.typeURL, resp.resources); typ != "" {
			if st.Send(p.subscribe(typ, names)) != nil {
				return
			}
		}
	}
}

// adsStream is an ADS stream of either protocol, as gRPC makes it.
type adsStream[Req, Resp any] interface {
	Send(Req) error
	Recv() (Resp, error)
}

// adsProtocol makes the requests of one ADS protocol and reads its
// responses.
type adsProtocol[Req, Resp any] interface {
	// subscribe asks for the resources of typ named names (all when nil).
	subscribe(typ string, names []string) Req
	ack(adsResponse) Req
	read(Resp) adsResponse
}

// adsResponse is what runClient reads of a response.
type adsResponse struct {
	typeURL, version, nonce string
	// routes are the names of a route response's route configurations;
	// resources those of any other response.
	routes    []string
	resources []*anypb.Any
}

// sotwClient is runClient over the state-of-the-world protocol.
func sotwClient(ctx context.Context, c discoveryv3.AggregatedDiscoveryServiceClient, node *corev3.Node, host string, onRoute func(string)) {
	st, err := c.StreamAggregatedResources(ctx)
	if err != nil {
		return
	}
	sub := &routeSubscriber{host: host}
	runClient(st, sotwProtocol{node, sub}, sub, onRoute)
}

type sotwProtocol struct {
	node *corev3.Node
	sub  *routeSubscriber
}

func (p sotwProtocol) subscribe(typ string, names []string) *discoveryv3.DiscoveryRequest {
	return &discoveryv3.DiscoveryRequest{Node: p.node, TypeUrl: typ, ResourceNames: names}
}

// ack repeats the names asked for so far, as every state-of-the-world
// request does.
func (p sotwProtocol) ack(r adsResponse) *discoveryv3.DiscoveryRequest {
	return &discoveryv3.DiscoveryRequest{TypeUrl: r.typeURL, VersionInfo: r.version, ResponseNonce: r.nonce, ResourceNames: p.sub.namesAsked(r.typeURL)}
}

func (sotwProtocol) read(resp *discoveryv3.DiscoveryResponse) adsResponse {
	r := adsResponse{typeURL: resp.TypeUrl, version: resp.VersionInfo, nonce: resp.Nonce, resources: resp.Resources}
	if r.typeURL == resourcev3.RouteType {
		r.routes = resourceNames(resp.Resources, routeConfigName)
	}
	return r
}

// deltaClient is runClient over the delta protocol.
func deltaClient(ctx context.Context, c discoveryv3.AggregatedDiscoveryServiceClient, node *corev3.Node, host string, onRoute func(string)) {
	st, err := c.DeltaAggregatedResources(ctx)
	if err != nil {
		return
	}
	runClient(st, deltaProtocol{node}, &routeSubscriber{host: host, delta: true}, onRoute)
}

type deltaProtocol struct {
	node *corev3.Node
}

func (p deltaProtocol) subscribe(typ string, names []string) *discoveryv3.DeltaDiscoveryRequest {
	return &discoveryv3.DeltaDiscoveryRequest{Node: p.node, TypeUrl: typ, ResourceNamesSubscribe: names}
}

func (deltaProtocol) ack(r adsResponse) *discoveryv3.DeltaDiscoveryRequest {
	return &discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.typeURL, ResponseNonce: r.nonce}
}

func (deltaProtocol) read(resp *discoveryv3.DeltaDiscoveryResponse) adsResponse {
	r := adsResponse{typeURL: resp.TypeUrl, version: resp.SystemVersionInfo, nonce: resp.Nonce}
	for _, res := range resp.Resources {
		if r.typeURL == resourcev3.RouteType {
			r.routes = append(r.routes, res.Name)
		} else {
			r.resources = append(r.resources, res.Resource)
		}
	}
	return r
}
