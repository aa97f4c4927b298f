package conformance

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The runner stands in for what a cluster has and this machine does not:
//
//   - the Deployment and ReplicaSet controllers and the kubelet: for each
//     Deployment whose one container runs an image it has a binary for
//     (the suite's echo-basic, Envoy), it creates the Pods and runs each as a
//     local process in a network namespace of its own with an IP address of
//     its own (podnet_test.go), as the kubelet would run its container
//     (kubelet_test.go), and marks the Pod Ready once its readiness probe
//     passes. Deployments of other images (the suite's CoreDNS) get no Pods;
//   - the EndpointSlice controller: for each Service with a selector, one
//     IPv4 slice per ready Pod, with the Pod's IP and its target port for
//     each Service port;
//   - a Gateway deployer and a load balancer: for each Gateway of the class
//     under test, an Envoy bootstrapped for it and a LoadBalancer Service
//     labelled gateway.networking.k8s.io/gateway-name whose status carries a
//     loopback address of the Gateway's own (127.0.10.x). gatewarden
//     publishes that address in the Gateway's status and, run with
//     --bind-gateway-address, binds the Gateway's listeners to it.
//
// Nothing of it is part of gatewarden.
type runner struct {
	t          *testing.T
	c          client.Client
	echoBin    string
	envoyBin   string
	gwBin      string
	xdsAddr    string
	className  string
	controller string
	net        *podNetwork
	lb         *loadBalancer
	// podsDir holds the Pods' volumes, readable by every user: a
	// container may run as one of its own.
	podsDir string

	mu       sync.Mutex
	pods     map[types.NamespacedName]*podProc // by Pod
	gateways map[types.UID]*gatewayProc
	nextIP   int
	nextPod  int
}

const managedBy = "conformance-runner.gatewarden.io"

type gatewayProc struct {
	key  types.NamespacedName
	ip   string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// run reconciles every interval until ctx ends, then stops every process.
func (r *runner) run(ctx context.Context, interval time.Duration) {
	defer r.stopAll()
	for {
		for _, step := range []func(context.Context) error{r.syncGateways, r.syncPods, r.syncSlices, r.lb.sync} {
			if err := step(ctx); err != nil && ctx.Err() == nil {
				r.t.Logf("runner: %v", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (r *runner) stopAll() {
	r.lb.close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pods {
		r.stopPod(p)
	}
	for _, g := range r.gateways {
		stop(g.cmd, g.done)
	}
}

// syncGateways runs one Envoy per Gateway of the class under test.
func (r *runner) syncGateways(ctx context.Context) error {
	var list gwv1.GatewayList
	if err := r.c.List(ctx, &list); err != nil {
		return err
	}
	seen := map[types.UID]bool{}
	for i := range list.Items {
		gw := &list.Items[i]
		if string(gw.Spec.GatewayClassName) != r.className || gw.DeletionTimestamp != nil {
			continue
		}
		seen[gw.UID] = true
		r.mu.Lock()
		g := r.gateways[gw.UID]
		if g == nil {
			r.nextIP++
			g = &gatewayProc{key: types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}, ip: fmt.Sprintf("127.0.10.%d", r.nextIP)}
			r.gateways[gw.UID] = g
		}
		r.mu.Unlock()
		if err := r.ensureGatewayService(ctx, gw, g.ip); err != nil {
			return fmt.Errorf("gateway %s: %w", g.key, err)
		}
		if g.cmd == nil {
			if err := r.startEnvoy(g); err != nil {
				return fmt.Errorf("gateway %s: %w", g.key, err)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for uid, g := range r.gateways {
		if !seen[uid] {
			stop(g.cmd, g.done)
			g.log.Close()
			delete(r.gateways, uid)
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: g.key.Namespace, Name: gatewayServiceName(g.key.Name)}}
			if err := r.c.Delete(ctx, svc); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

func gatewayServiceName(gw string) string {
	name := gw + "-envoy"
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "-")
}

// ensureGatewayService keeps the Gateway's LoadBalancer Service, with one
// port per listener port and ip as its load balancer address.
func (r *runner) ensureGatewayService(ctx context.Context, gw *gwv1.Gateway, ip string) error {
	var ports []corev1.ServicePort
	seen := map[int32]bool{}
	for _, l := range gw.Spec.Listeners {
		if seen[int32(l.Port)] {
			continue
		}
		seen[int32(l.Port)] = true
		ports = append(ports, corev1.ServicePort{Name: fmt.Sprintf("port-%d", l.Port), Port: int32(l.Port), Protocol: corev1.ProtocolTCP})
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: gw.Namespace, Name: gatewayServiceName(gw.Name)}}
	err := r.c.Get(ctx, client.ObjectKeyFromObject(svc), svc)
	switch {
	case apierrors.IsNotFound(err):
		svc.Labels = map[string]string{"gateway.networking.k8s.io/gateway-name": gw.Name, "app.kubernetes.io/managed-by": managedBy}
		svc.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports, AllocateLoadBalancerNodePorts: new(false)}
		if err := r.c.Create(ctx, svc); err != nil {
			return err
		}
	case err != nil:
		return err
	case !slices.EqualFunc(svc.Spec.Ports, ports, func(a, b corev1.ServicePort) bool { return a.Port == b.Port }):
		svc.Spec.Ports = ports
		if err := r.c.Update(ctx, svc); err != nil {
			return err
		}
	}
	if ing := svc.Status.LoadBalancer.Ingress; len(ing) == 1 && ing[0].IP == ip {
		return nil
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip, IPMode: new(corev1.LoadBalancerIPModeVIP)}}
	return r.c.Status().Update(ctx, svc)
}

func (r *runner) startEnvoy(g *gatewayProc) error {
	dir := r.t.TempDir()
	boot, err := exec.Command(r.gwBin, "bootstrap", "--gateway", g.key.String(), "--xds-address", r.xdsAddr,
		"--envoy-admin-address", fmt.Sprintf("127.0.0.1:%d", freePort())).Output()
	if err != nil {
		return fmt.Errorf("gatewarden bootstrap: %w", err)
	}
	path := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(path, boot, 0o644); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(logDir(r.t), "envoy-"+g.key.Namespace+"-"+g.key.Name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(r.envoyBin, "-c", path, "--log-level", "warn", "--use-dynamic-base-id", "--disable-hot-restart")
	cmd.Stdout, cmd.Stderr = log, log
	done, err := startProc(cmd)
	if err != nil {
		log.Close()
		return err
	}
	g.cmd, g.done, g.log = cmd, done, log
	return nil
}

// syncSlices writes, for each Service with a selector, one IPv4
// EndpointSlice per ready Pod it selects, and removes the others it wrote.
func (r *runner) syncSlices(ctx context.Context) error {
	var svcs corev1.ServiceList
	if err := r.c.List(ctx, &svcs); err != nil {
		return err
	}
	var existing discoveryv1.EndpointSliceList
	if err := r.c.List(ctx, &existing, client.MatchingLabels{discoveryv1.LabelManagedBy: managedBy}); err != nil {
		return err
	}
	r.mu.Lock()
	var pods []*podProc
	for _, p := range r.pods {
		if p.ready {
			pods = append(pods, p)
		}
	}
	r.mu.Unlock()
	want := map[types.NamespacedName]*discoveryv1.EndpointSlice{}
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		for _, p := range pods {
			if p.namespace != svc.Namespace || !sel.Matches(labels.Set(p.labels)) {
				continue
			}
			es := &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: sliceName(svc.Name, p.name),
					Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: managedBy}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints: []discoveryv1.Endpoint{{
					Addresses:  []string{p.netns.ip.String()},
					NodeName:   new("local"),
					Conditions: discoveryv1.EndpointConditions{Ready: new(true), Serving: new(true), Terminating: new(false)},
					TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.namespace, Name: p.name},
				}},
			}
			for _, sp := range svc.Spec.Ports {
				target, ok := int32(0), false
				if sp.TargetPort.StrVal != "" {
					target, ok = p.named[sp.TargetPort.StrVal]
				} else {
					// As the EndpointSlice controller: a number is
					// the port, declared by the container or not.
					target, ok = sp.TargetPort.IntVal, true
					if target == 0 {
						target = sp.Port
					}
				}
				if !ok {
					continue
				}
				es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: new(sp.Name), Port: new(target), Protocol: new(sp.Protocol), AppProtocol: sp.AppProtocol})
			}
			want[client.ObjectKeyFromObject(es)] = es
		}
	}
	for i := range existing.Items {
		es := &existing.Items[i]
		key := client.ObjectKeyFromObject(es)
		if w, ok := want[key]; ok {
			delete(want, key)
			if slices.EqualFunc(w.Ports, es.Ports, func(a, b discoveryv1.EndpointPort) bool { return *a.Name == *b.Name && *a.Port == *b.Port }) {
				continue
			}
			es.Ports = w.Ports
			if err := r.c.Update(ctx, es); err != nil {
				return err
			}
			continue
		}
		if err := r.c.Delete(ctx, es); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	for _, key := range slices.SortedFunc(maps.Keys(want), func(a, b types.NamespacedName) int { return strings.Compare(a.String(), b.String()) }) {
		if err := r.c.Create(ctx, want[key]); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

func sliceName(svc, pod string) string {
	name := svc + "-" + pod
	if len(name) > 63 {
		name = name[len(name)-63:]
	}
	return strings.Trim(name, "-")
}

// Ports of the processes this test starts come from a range of their own,
// below the kernel's ephemeral range, so that they never race with the
// ports other tests (run at the same time by go test) are given by the
// kernel.
const (
	portRangeStart = 20000
	portRangeEnd   = 30000
)

var (
	portMu   sync.Mutex
	nextPort = portRangeStart
)

// freePort returns the next port of the range that is free on every
// address.
func freePort() int {
	portMu.Lock()
	defer portMu.Unlock()
	for ; nextPort < portRangeEnd; nextPort++ {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", nextPort))
		if err != nil {
			continue
		}
		l.Close()
		nextPort++
		return nextPort - 1
	}
	panic(fmt.Sprintf("no free port left in %d-%d", portRangeStart, portRangeEnd))
}
