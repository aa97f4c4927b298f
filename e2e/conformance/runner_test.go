package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
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
//     Deployment whose containers run the suite's echo-basic image, it
//     creates the Pods, runs each as a local echo-basic process in a network
//     namespace of its own with an IP address of its own (podnet_test.go),
//     with the environment the kubelet would give it and its secret volumes
//     written to a directory, and marks the Pod Ready, with its IP in the
//     Pod's status, once the process accepts connections on it. Deployments
//     of other images get no Pods;
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

	mu       sync.Mutex
	pods     map[types.NamespacedName]*podProc // by Pod
	gateways map[types.UID]*gatewayProc
	nextIP   int
	nextPod  int
}

const managedBy = "conformance-runner.gatewarden.io"

type podProc struct {
	deployment types.UID
	name       string
	namespace  string
	labels     map[string]string
	ports      map[int32]bool // the ports echo-basic listens on
	named      map[string]int32
	httpPort   int32
	netns      *podNetns
	cmd        *exec.Cmd
	done       chan struct{}
	ready      bool
}

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
		for _, step := range []func(context.Context) error{r.syncGateways, r.syncPods, r.syncSlices} {
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
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pods {
		r.stopPod(p)
	}
	for _, g := range r.gateways {
		stop(g.cmd, g.done)
	}
}

// stop kills the process group of cmd (the process and anything it
// started) and waits for the process.
func stop(cmd *exec.Cmd, done chan struct{}) {
	if cmd != nil && cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// runEnv marks the environment of every process the test starts, with
// runID as its value: the test's last cleanup looks for processes carrying
// it, wherever they have gone (another parent, another group).
const runEnv = "GATEWARDEN_CONFORMANCE_RUN"

var runID = fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())

// started holds every process startProc started, for killAll.
var (
	startedMu sync.Mutex
	started   []startedProc
)

type startedProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startProc starts cmd in a process group of its own, its environment
// marked with runEnv. The process is also sent SIGKILL should the test
// binary die before its cleanups run (a panic in another goroutine, the
// go test timeout).
func startProc(cmd *exec.Cmd) (chan struct{}, error) {
	done := make(chan struct{})
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, runEnv+"="+runID)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { cmd.Wait(); close(done) }()
	startedMu.Lock()
	started = append(started, startedProc{cmd, done})
	startedMu.Unlock()
	return done, nil
}

// killAll stops every process startProc started and not stopped yet, and
// returns how many it started in all.
func killAll() int {
	startedMu.Lock()
	defer startedMu.Unlock()
	for _, p := range started {
		select {
		case <-p.done: // stopped already: its pid may be another's by now
		default:
			stop(p.cmd, p.done)
		}
	}
	return len(started)
}

// markedProc is a running process whose environment carries runEnv.
type markedProc struct {
	pid  int
	exe  string
	mark string // the value of runEnv: the runID of the test that started it
}

func (p markedProc) String() string { return fmt.Sprintf("%s (pid %d)", p.exe, p.pid) }

// markedProcs lists the running processes (zombies aside) whose environment
// carries runEnv.
func markedProcs() ([]markedProc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	prefix := []byte(runEnv + "=")
	var out []markedProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue // gone meanwhile, or not readable: not started by this user
		}
		mark := ""
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.HasPrefix(kv, prefix) {
				mark = string(kv[len(prefix):])
			}
		}
		if mark == "" {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ...: a zombie is waited for by its parent, and holds nothing.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z")) {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			exe = "?"
		}
		out = append(out, markedProc{pid: pid, exe: filepath.Base(exe), mark: mark})
	}
	return out, nil
}

// leftovers lists the running processes this test started: those carrying
// its runID.
func leftovers() []string {
	procs, err := markedProcs()
	if err != nil {
		return []string{"cannot read /proc: " + err.Error()}
	}
	var out []string
	for _, p := range procs {
		if p.mark == runID {
			out = append(out, p.String())
		}
	}
	return out
}

// killMarked kills every process carrying this test's runID.
func killMarked() {
	procs, err := markedProcs()
	if err != nil {
		return
	}
	for _, p := range procs {
		if p.mark == runID {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// killOrphans kills the marked processes of earlier runs whose test binary
// is gone (killed before its cleanups could run) and returns them; those of
// a run still going are left alone.
func killOrphans() []string {
	procs, err := markedProcs()
	if err != nil {
		return []string{"cannot read /proc: " + err.Error()}
	}
	var out []string
	for _, p := range procs {
		owner, _, _ := strings.Cut(p.mark, "-")
		pid, err := strconv.Atoi(owner)
		if p.mark == runID || err != nil {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			syscall.Kill(p.pid, syscall.SIGKILL)
			out = append(out, p.String())
		}
	}
	return out
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

// isEchoBasic reports whether a Deployment runs the suite's echo server.
func isEchoBasic(d *appsv1.Deployment) bool {
	cs := d.Spec.Template.Spec.Containers
	return len(cs) == 1 && strings.Contains(cs[0].Image, "/echo-basic:")
}

// syncPods keeps spec.replicas echo-basic processes per Deployment.
func (r *runner) syncPods(ctx context.Context) error {
	var deps appsv1.DeploymentList
	if err := r.c.List(ctx, &deps); err != nil {
		return err
	}
	want := map[types.UID]*appsv1.Deployment{}
	for i := range deps.Items {
		d := &deps.Items[i]
		if d.DeletionTimestamp == nil && isEchoBasic(d) {
			want[d.UID] = d
		}
	}
	r.mu.Lock()
	have := map[types.UID]int{}
	var gone []*podProc
	for key, p := range r.pods {
		if want[p.deployment] == nil {
			gone = append(gone, p)
			delete(r.pods, key)
			continue
		}
		have[p.deployment]++
	}
	r.mu.Unlock()
	for _, p := range gone {
		r.stopPod(p)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: p.namespace, Name: p.name}}
		if err := r.c.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	for _, uid := range slices.Sorted(maps.Keys(want)) {
		d := want[uid]
		replicas := 1
		if d.Spec.Replicas != nil {
			replicas = int(*d.Spec.Replicas)
		}
		for n := have[uid]; n < replicas; n++ {
			if err := r.startPod(ctx, d); err != nil {
				return fmt.Errorf("deployment %s/%s: %w", d.Namespace, d.Name, err)
			}
		}
	}
	return r.markReady(ctx)
}

// stopPod stops the Pod's process and removes its network namespace.
func (r *runner) stopPod(p *podProc) {
	stop(p.cmd, p.done)
	if p.netns != nil {
		if err := r.net.remove(p.netns); err != nil {
			r.t.Errorf("runner: pod %s/%s: %v", p.namespace, p.name, err)
		}
	}
}

func (r *runner) startPod(ctx context.Context, d *appsv1.Deployment) error {
	// Named as the ReplicaSet controller names Pods: deployment, template
	// hash, random suffix (the suite reads the deployment back from it).
	name := fmt.Sprintf("%s-%s-%s", d.Name, templateHash(d), randSuffix(5))
	ctr := d.Spec.Template.Spec.Containers[0]
	p := &podProc{deployment: d.UID, name: name, namespace: d.Namespace, labels: d.Spec.Template.Labels,
		ports: map[int32]bool{}, named: map[string]int32{}}

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: name, Labels: d.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID}}},
		Spec: *d.Spec.Template.Spec.DeepCopy(),
	}
	// The kubelet's part: volumes, environment, ports, the process; the
	// volumes first, so that a Secret not there yet creates no Pod.
	root := filepath.Join(r.t.TempDir(), name)
	mounts := map[string]string{} // mountPath -> local directory
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		dir := filepath.Join(root, v.Name)
		if err := r.writeSecretVolume(ctx, d.Namespace, v.Secret, dir); err != nil {
			return err
		}
		for _, m := range ctr.VolumeMounts {
			if m.Name == v.Name {
				mounts[m.MountPath] = dir
			}
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	vars := map[string]string{}
	for _, e := range ctr.Env {
		val := e.Value
		if f := e.ValueFrom; f != nil && f.FieldRef != nil {
			switch f.FieldRef.FieldPath {
			case "metadata.name":
				val = name
			case "metadata.namespace":
				val = d.Namespace
			case "status.podIP":
				val = "$(POD_IP)" // known once the namespace exists, below
			}
		}
		for mp, dir := range mounts {
			if strings.HasPrefix(val, mp+"/") {
				val = dir + val[len(mp):]
			}
		}
		vars[e.Name] = val
	}
	// echo-basic's ports: HTTP_PORT/TCP_PORT (3000), H2C_PORT (3001),
	// HTTPS_PORT/TLS_PORT (8443), each Pod on its own address.
	for _, group := range [][]string{{"HTTP_PORT", "TCP_PORT"}, {"H2C_PORT"}, {"HTTPS_PORT", "TLS_PORT"}} {
		declared := map[string]int32{"HTTP_PORT": 3000, "H2C_PORT": 3001, "HTTPS_PORT": 8443}[group[0]]
		for _, v := range group {
			if s, ok := vars[v]; ok {
				if n, err := strconv.Atoi(s); err == nil {
					declared = int32(n)
				}
			}
		}
		p.ports[declared] = true
		if group[0] == "HTTP_PORT" {
			p.httpPort = declared
		}
	}
	for _, cp := range ctr.Ports {
		if cp.Name != "" {
			p.named[cp.Name] = cp.ContainerPort
		}
	}
	pod.Spec.NodeName = "local"
	if err := r.ensureServiceAccount(ctx, d.Namespace, pod.Spec.ServiceAccountName); err != nil {
		return err
	}
	if err := r.c.Create(ctx, pod); err != nil {
		return err
	}

	netns, err := r.net.add()
	if err != nil {
		return err
	}
	p.netns = netns
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+strings.ReplaceAll(vars[k], "$(POD_IP)", netns.ip.String()))
	}
	log, err := os.Create(filepath.Join(logDir(r.t), "pod-"+d.Namespace+"-"+name+".log"))
	if err != nil {
		return errors.Join(err, r.net.remove(netns))
	}
	cmd := netns.command(r.echoBin)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, log, log
	done, err := startProc(cmd)
	if err != nil {
		log.Close()
		return errors.Join(err, r.net.remove(netns))
	}
	go func() { <-done; log.Close() }()
	p.cmd, p.done = cmd, done
	r.mu.Lock()
	r.pods[types.NamespacedName{Namespace: d.Namespace, Name: name}] = p
	r.mu.Unlock()
	return nil
}

func (r *runner) ensureServiceAccount(ctx context.Context, ns, name string) error {
	if name == "" {
		name = "default"
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := r.c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func (r *runner) writeSecretVolume(ctx context.Context, ns string, v *corev1.SecretVolumeSource, dir string) error {
	var s corev1.Secret
	if err := r.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: v.SecretName}, &s); err != nil {
		return fmt.Errorf("secret volume %s: %w", v.SecretName, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	items := v.Items
	if len(items) == 0 {
		for k := range s.Data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		if err := os.WriteFile(filepath.Join(dir, it.Path), s.Data[it.Key], 0o600); err != nil {
			return err
		}
	}
	return nil
}

// markReady sets Running and Ready on the Pods whose process accepts
// connections on its first port, and restarts nothing: a process that
// exits leaves its Pod not Ready, for the test to see.
func (r *runner) markReady(ctx context.Context) error {
	r.mu.Lock()
	var check []*podProc
	for _, p := range r.pods {
		if !p.ready {
			check = append(check, p)
		}
	}
	r.mu.Unlock()
	for _, p := range check {
		select {
		case <-p.done:
			continue
		default:
		}
		conn, err := net.DialTimeout("tcp", netip.AddrPortFrom(p.netns.ip, uint16(p.httpPort)).String(), 200*time.Millisecond)
		if err != nil {
			continue
		}
		conn.Close()
		var pod corev1.Pod
		if err := r.c.Get(ctx, types.NamespacedName{Namespace: p.namespace, Name: p.name}, &pod); err != nil {
			return err
		}
		now := metav1.Now()
		pod.Status.Phase = corev1.PodRunning
		pod.Status.StartTime = &now
		pod.Status.HostIP = r.net.gateway.String()
		pod.Status.HostIPs = []corev1.HostIP{{IP: r.net.gateway.String()}}
		pod.Status.PodIP = p.netns.ip.String()
		pod.Status.PodIPs = []corev1.PodIP{{IP: p.netns.ip.String()}}
		pod.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		if err := r.c.Status().Update(ctx, &pod); err != nil {
			return err
		}
		r.mu.Lock()
		p.ready = true
		r.mu.Unlock()
	}
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
					target = sp.TargetPort.IntVal
					if target == 0 {
						target = sp.Port
					}
					ok = p.ports[target]
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

const suffixChars = "bcdfghjklmnpqrstvwxz2456789"

// templateHash stands in for the pod-template-hash of the Deployment's
// ReplicaSet: ten characters derived from the Deployment's UID.
func templateHash(d *appsv1.Deployment) string {
	sum := sha256.Sum256([]byte(d.UID))
	b := make([]byte, 10)
	for i := range b {
		b[i] = suffixChars[int(sum[i])%len(suffixChars)]
	}
	return string(b)
}

func randSuffix(n int) string {
	const chars = suffixChars
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
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
