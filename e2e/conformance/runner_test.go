package conformance

import (
	"context"
	"fmt"
	"maps"
	"net"
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
)

// The runner stands in for what a cluster has and this machine does not:
//
//   - the Deployment and ReplicaSet controllers and the kubelet: for each
//     Deployment whose one container runs an image it has a binary for
//     (the suite's echo-basic and CoreDNS, Envoy), it creates the Pods and
//     runs each as a local process in a network namespace of its own with
//     an IP address of its own (podnet_test.go), as the kubelet would run
//     its container (kubelet_test.go), and marks the Pod Ready once its
//     readiness probe passes. Deployments of other images get no Pods;
//   - the EndpointSlice controller: for each Service with a selector, one
//     IPv4 slice per ready Pod, with the Pod's IP and its target port for
//     each Service port;
//   - a cloud load balancer (loadbalancer_test.go): an address of its own
//     for each LoadBalancer Service with a selector, its TCP and UDP ports
//     proxied to its ready Pods.
//
// gatewarden, run with --provision, creates each Gateway's Envoy Deployment,
// bootstrap ConfigMap and LoadBalancer Service; the runner runs the Envoy
// Pods like any other, and gatewarden publishes the Service's load balancer
// address in the Gateway's status, where the suite finds it. Nothing of the
// runner is part of gatewarden.
type runner struct {
	t          *testing.T
	c          client.Client
	echoBin    string
	envoyBin   string
	corednsBin string
	net        *podNetwork
	lb         *loadBalancer
	// podsDir holds the Pods' volumes, readable by every user: a
	// container may run as one of its own.
	podsDir string

	mu        sync.Mutex
	pods      map[types.NamespacedName]*podProc // by Pod
	readyPods []readyPod                        // every Pod that became Ready
}

const managedBy = "conformance-runner.gatewarden.io"

// run reconciles every interval until ctx ends, then stops every process.
func (r *runner) run(ctx context.Context, interval time.Duration) {
	defer r.stopAll()
	for {
		for _, step := range []func(context.Context) error{r.syncPods, r.syncSlices, r.lb.sync} {
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
	if err := r.lb.close(); err != nil {
		r.t.Errorf("runner: stop the load balancer: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pods {
		r.stopPod(p)
	}
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
					NodeName:   new(nodeName),
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
