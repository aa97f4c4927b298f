package conformance

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The stand-in kubelet: it runs a Pod's one container as a local process in
// the Pod's network namespace, from a binary of this machine standing in for
// the container's image, and does for it what a kubelet does: volumes
// (Secret, ConfigMap, emptyDir), environment (values, field, Secret and
// ConfigMap references, $(VAR) expansion in the arguments), the security
// context (runAsUser/runAsGroup, added capabilities, a read-only root
// filesystem, the Pod's network sysctls) and the readiness probe (HTTP or
// TCP, against the Pod's IP). Not enforced: seccomp and AppArmor profiles,
// resource requests and limits, the capabilities of a container left to run
// as root.
//
// There is no container image and so no root filesystem of the Pod's own:
// a volume is a directory of the host, and every mention of its mountPath in
// the arguments, in environment values and in the files of ConfigMap
// volumes is rewritten to that directory. That is the one liberty taken
// with the Pod's spec.

// podProc is a Pod the stand-in kubelet runs.
type podProc struct {
	deployment types.UID
	hash       string // of the Deployment's template the Pod was made from
	name       string
	namespace  string
	labels     map[string]string
	ports      map[int32]bool // ports the container declares or listens on
	named      map[string]int32
	probe      *corev1.Probe // readiness; nil: ready once probePort accepts connections
	probePort  int32
	image      string
	container  string // the container's name
	logPath    string // its output, in the CRI log format (kubeletlogs_test.go)
	netns      *podNetns
	cmd        *exec.Cmd
	done       chan struct{}
	ready      bool
	counted    bool // in readyPods
	// udpPort, for a container that serves UDP alone (echo-basic's UDP
	// echo server): without a probe or a TCP port, ready once a socket of
	// the Pod is bound to it.
	udpPort int32
}

// image is a container image the stand-in can run.
type image struct {
	bin string
	// argv is the process's arguments (after the binary) for the
	// container's command and args, as the image's entrypoint would run them.
	argv func(command, args []string) ([]string, error)
	// user is the image's USER, when not root.
	user *int64
	// listens is a TCP port the image's program listens on whether the
	// container declares it or not: the readiness check of a container
	// that declares none.
	listens int32
}

// imageFor finds the local binary for a container image.
func (r *runner) imageFor(ref string) (image, bool) {
	name, _, _ := strings.Cut(path.Base(ref), ":")
	name, _, _ = strings.Cut(name, "@")
	switch name {
	case "echo-basic":
		return image{bin: r.echoBin, argv: func(command, args []string) ([]string, error) {
			if len(command) > 0 {
				return nil, fmt.Errorf("echo-basic: command %q: the stand-in runs the image's own entrypoint only", command)
			}
			return args, nil
		}}, true
	case "coredns":
		// registry.k8s.io/coredns/coredns: ENTRYPOINT /coredns, USER
		// nonroot (65532); the suite's Corefile serves port 53 (UDP and
		// TCP). The binary is hack/cluster/images' build of the same
		// pinned CoreDNS.
		return image{bin: r.corednsBin, user: new(int64(65532)), listens: 53, argv: func(command, args []string) ([]string, error) {
			if len(command) > 0 {
				return nil, fmt.Errorf("coredns: command %q: the stand-in runs the image's own entrypoint only", command)
			}
			return args, nil
		}}, true
	case "envoy", "envoy-distroless":
		// envoyproxy/envoy: ENTRYPOINT /docker-entrypoint.sh, which runs
		// envoy with the arguments when the first starts with '-', CMD
		// envoy -c /etc/envoy/envoy.yaml.
		return image{bin: r.envoyBin, argv: func(command, args []string) ([]string, error) {
			argv := append(slices.Clone(command), args...)
			switch {
			case len(argv) == 0:
				return []string{"-c", "/etc/envoy/envoy.yaml"}, nil
			case path.Base(argv[0]) == "envoy":
				return argv[1:], nil
			case len(command) == 0 && strings.HasPrefix(argv[0], "-"):
				return argv, nil
			}
			return nil, fmt.Errorf("envoy image: command %q: the stand-in runs envoy only", argv)
		}}, true
	}
	return image{}, false
}

// runnable reports whether the stand-in can run a Deployment's Pods.
func (r *runner) runnable(d *appsv1.Deployment) bool {
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 || len(d.Spec.Template.Spec.InitContainers) > 0 {
		return false
	}
	_, ok := r.imageFor(cs[0].Image)
	return ok
}

// syncPods keeps, per runnable Deployment, spec.replicas Pods of its
// current template, replacing the Pods of an older template once as many of
// the new are ready (a rollout with 100% surge).
func (r *runner) syncPods(ctx context.Context) error {
	var deps appsv1.DeploymentList
	if err := r.c.List(ctx, &deps); err != nil {
		return err
	}
	want := map[types.UID]*appsv1.Deployment{}
	for i := range deps.Items {
		d := &deps.Items[i]
		if d.DeletionTimestamp == nil && r.runnable(d) {
			want[d.UID] = d
		}
	}
	r.mu.Lock()
	current, readyCurrent := map[types.UID]int{}, map[types.UID]int{}
	var gone []*podProc
	for _, p := range r.pods {
		d := want[p.deployment]
		if d == nil {
			gone = append(gone, p)
			continue
		}
		if p.hash == templateHash(d) {
			current[p.deployment]++
			if p.ready {
				readyCurrent[p.deployment]++
			}
		}
	}
	for _, p := range r.pods {
		d := want[p.deployment]
		if d != nil && p.hash != templateHash(d) && readyCurrent[d.UID] >= replicas(d) {
			gone = append(gone, p)
		}
	}
	for _, p := range gone {
		delete(r.pods, types.NamespacedName{Namespace: p.namespace, Name: p.name})
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
		for n := current[uid]; n < replicas(d); n++ {
			if err := r.startPod(ctx, d); err != nil {
				return fmt.Errorf("deployment %s/%s: %w", d.Namespace, d.Name, err)
			}
		}
	}
	if err := r.markReady(ctx); err != nil {
		return err
	}
	return r.syncDeploymentStatus(ctx, want)
}

func replicas(d *appsv1.Deployment) int {
	if d.Spec.Replicas != nil {
		return int(*d.Spec.Replicas)
	}
	return 1
}

// syncDeploymentStatus writes what the Deployment controller would: the
// replicas, and the ready and available ones, of each Deployment.
func (r *runner) syncDeploymentStatus(ctx context.Context, deps map[types.UID]*appsv1.Deployment) error {
	r.mu.Lock()
	total, ready, updated := map[types.UID]int32{}, map[types.UID]int32{}, map[types.UID]int32{}
	for _, p := range r.pods {
		total[p.deployment]++
		if p.ready {
			ready[p.deployment]++
		}
		if d := deps[p.deployment]; d != nil && p.hash == templateHash(d) {
			updated[p.deployment]++
		}
	}
	r.mu.Unlock()
	for uid, d := range deps {
		st := appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: total[uid], UpdatedReplicas: updated[uid],
			ReadyReplicas: ready[uid], AvailableReplicas: ready[uid], UnavailableReplicas: max(0, int32(replicas(d))-ready[uid]),
		}
		avail := corev1.ConditionFalse
		if ready[uid] >= int32(replicas(d)) {
			avail = corev1.ConditionTrue
		}
		st.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: avail, Reason: "StandInKubelet",
			LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		old := d.Status
		if old.ObservedGeneration == st.ObservedGeneration && old.Replicas == st.Replicas && old.UpdatedReplicas == st.UpdatedReplicas &&
			old.ReadyReplicas == st.ReadyReplicas && old.AvailableReplicas == st.AvailableReplicas {
			continue
		}
		d.Status = st
		if err := r.c.Status().Update(ctx, d); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deployment %s/%s status: %w", d.Namespace, d.Name, err)
		}
	}
	return nil
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

// volume is a Pod volume as a directory (or, with subPath, a file) of the
// host, and where the container sees it.
type volume struct {
	mountPath string
	local     string
	writable  bool // an emptyDir: stays writable under a read-only root
}

func (r *runner) startPod(ctx context.Context, d *appsv1.Deployment) error {
	// Named as the ReplicaSet controller names Pods: deployment, template
	// hash, random suffix (the suite reads the deployment back from it).
	hash := templateHash(d)
	name := fmt.Sprintf("%s-%s-%s", d.Name, hash, randSuffix(5))
	spec := d.Spec.Template.Spec.DeepCopy()
	ctr := spec.Containers[0]
	img, _ := r.imageFor(ctr.Image) // runnable checked it
	p := &podProc{deployment: d.UID, hash: hash, image: ctr.Image, container: ctr.Name, name: name, namespace: d.Namespace, labels: d.Spec.Template.Labels,
		ports: map[int32]bool{}, named: map[string]int32{}, probe: ctr.ReadinessProbe}
	for _, cp := range ctr.Ports {
		p.ports[cp.ContainerPort] = true
		if cp.Name != "" {
			p.named[cp.Name] = cp.ContainerPort
		}
		switch {
		case cp.Protocol == corev1.ProtocolUDP:
			if p.udpPort == 0 {
				p.udpPort = cp.ContainerPort
			}
		case p.probePort == 0:
			p.probePort = cp.ContainerPort
		}
	}

	// The volumes first, so that a Secret or ConfigMap not there yet
	// creates no Pod (a kubelet would wait in ContainerCreating).
	uid, gid := runAs(spec, &ctr)
	if uid == nil && img.user != nil {
		uid, gid = img.user, img.user
	}
	root := filepath.Join(r.podsDir, d.Namespace+"_"+name)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	vols, err := r.volumes(ctx, d.Namespace, spec, &ctr, root, uid, gid)
	if err != nil {
		return err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: name, Labels: d.Spec.Template.Labels,
			Annotations:     d.Spec.Template.Annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID}}},
		Spec: *spec,
	}
	pod.Spec.NodeName = nodeName
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
	fail := func(err error) error { return errors.Join(err, r.net.remove(netns)) }
	env, err := r.env(ctx, pod, &ctr, netns.ip, vols)
	if err != nil {
		return fail(err)
	}
	if p.probePort == 0 {
		p.probePort = img.listens
	}
	switch {
	case img.bin == r.echoBin && lookupEnv(env, "UDP_ECHO_SERVER") != "":
		// echo-basic's UDP echo server: one UDP socket on UDP_PORT
		// (8080), no TCP port at all.
		p.udpPort, p.probePort = 8080, 0
		if n, err := strconv.Atoi(lookupEnv(env, "UDP_PORT")); err == nil {
			p.udpPort = int32(n)
		}
	case img.bin == r.echoBin:
		// echo-basic listens on HTTP_PORT/TCP_PORT (3000), H2C_PORT (3001)
		// and HTTPS_PORT/TLS_PORT (8443) whether declared or not.
		for v, def := range map[string]int32{"HTTP_PORT": 3000, "H2C_PORT": 3001, "HTTPS_PORT": 8443} {
			port := def
			if n, err := strconv.Atoi(lookupEnv(env, v)); err == nil {
				port = int32(n)
			}
			p.ports[port] = true
			if v == "HTTP_PORT" {
				p.probePort = port
			}
		}
	}
	args, err := img.argv(ctr.Command, ctr.Args)
	if err != nil {
		return fail(fmt.Errorf("container %s: %w", ctr.Name, err))
	}
	for i, a := range args {
		args[i] = mapPaths(expandVars(a, env), vols)
	}
	if sc := spec.SecurityContext; sc != nil {
		for _, s := range sc.Sysctls {
			if !strings.HasPrefix(s.Name, "net.") {
				return fail(fmt.Errorf("pod securityContext.sysctls %s: the stand-in applies the network namespace's (net.*) only", s.Name))
			}
			if out, err := exec.Command("ip", "netns", "exec", netns.name, "sysctl", "-w", s.Name+"="+s.Value).CombinedOutput(); err != nil {
				return fail(fmt.Errorf("pod securityContext.sysctls %s=%s: %w: %s", s.Name, s.Value, err, out))
			}
		}
	}
	argv := []string{}
	if uid != nil {
		// As the container's user, with only the capabilities it adds
		// (the runtime's defaults aside: a container that drops ALL, as it
		// should, has these only).
		argv = append(argv, "setpriv", "--reuid", strconv.FormatInt(*uid, 10), "--regid", strconv.FormatInt(*gid, 10), "--clear-groups")
		if caps := addedCaps(&ctr); caps != "" {
			argv = append(argv, "--inh-caps", caps, "--ambient-caps", caps)
		}
		argv = append(argv, "--")
	}
	argv = append(append(argv, img.bin), args...)
	if sc := ctr.SecurityContext; sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		// ip netns exec runs the command in a mount namespace of its own
		// (slave to the host's): there the root filesystem is remounted
		// read-only for the container alone, its writable volumes bound
		// onto themselves first so that they stay writable. Then the
		// container's command, as its user.
		script := ""
		for _, v := range vols {
			if v.writable {
				script += fmt.Sprintf("mount --bind '%s' '%s' && ", v.local, v.local)
			}
		}
		script += `mount -o remount,bind,ro / && exec "$0" "$@"`
		argv = append([]string{"sh", "-c", script}, argv...)
	}

	// The container's output, kept as a container runtime keeps it, for
	// the API server's pods/log (kubeletlogs_test.go).
	p.logPath = filepath.Join(logDir(r.t), "pod-"+d.Namespace+"-"+name+".log")
	log, err := newCRILog(p.logPath)
	if err != nil {
		return fail(err)
	}
	stdout, stderr := log.stream("stdout"), log.stream("stderr")
	cmd := netns.command(argv[0], argv[1:]...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, stdout, stderr
	cmd.Dir = root
	done, err := startProc(cmd)
	if err != nil {
		log.Close()
		return fail(err)
	}
	// The Pod is done once its process exited and its output was copied
	// and written out.
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		<-done
		if err := errors.Join(stdout.flush(), stderr.flush(), log.Close()); err != nil {
			r.t.Errorf("runner: pod %s/%s: write its log: %v", d.Namespace, name, err)
		}
	}()
	p.cmd, p.done = cmd, logged
	r.mu.Lock()
	r.pods[types.NamespacedName{Namespace: d.Namespace, Name: name}] = p
	r.mu.Unlock()

	// The sandbox is up: the Pod has its IP, not ready yet.
	now := metav1.Now()
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &now,
		HostIP: r.net.gateway.String(), HostIPs: []corev1.HostIP{{IP: r.net.gateway.String()}},
		PodIP: netns.ip.String(), PodIPs: []corev1.PodIP{{IP: netns.ip.String()}},
		Conditions: podConditions(false)}
	return r.c.Status().Update(ctx, pod)
}

func podConditions(ready bool) []corev1.PodCondition {
	now := metav1.Now()
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: st, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: st, LastTransitionTime: now},
	}
}

// runAs is the user and group the container runs as; nil: the image's
// (root, here).
func runAs(spec *corev1.PodSpec, ctr *corev1.Container) (uid, gid *int64) {
	if sc := spec.SecurityContext; sc != nil {
		uid, gid = sc.RunAsUser, sc.RunAsGroup
	}
	if sc := ctr.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
	}
	if uid != nil && gid == nil {
		gid = uid
	}
	return uid, gid
}

// addedCaps lists securityContext.capabilities.add for setpriv
// ("+net_bind_service,...").
func addedCaps(ctr *corev1.Container) string {
	if ctr.SecurityContext == nil || ctr.SecurityContext.Capabilities == nil {
		return ""
	}
	var out []string
	for _, c := range ctr.SecurityContext.Capabilities.Add {
		out = append(out, "+"+strings.ToLower(strings.TrimPrefix(string(c), "CAP_")))
	}
	return strings.Join(out, ",")
}

// volumes writes the container's mounted volumes under root.
func (r *runner) volumes(ctx context.Context, ns string, spec *corev1.PodSpec, ctr *corev1.Container, root string, uid, gid *int64) ([]volume, error) {
	byName := map[string]*corev1.Volume{}
	for i := range spec.Volumes {
		byName[spec.Volumes[i].Name] = &spec.Volumes[i]
	}
	var out []volume
	var configMaps []struct {
		dir  string
		data map[string]string
		v    *corev1.ConfigMapVolumeSource
	}
	for _, m := range ctr.VolumeMounts {
		v := byName[m.Name]
		if v == nil {
			return nil, fmt.Errorf("container %s: volumeMount %s: no such volume", ctr.Name, m.Name)
		}
		dir := filepath.Join(root, "volumes", m.Name)
		switch {
		case v.Secret != nil:
			if err := r.writeSecretVolume(ctx, ns, v.Secret, dir); err != nil {
				return nil, err
			}
		case v.ConfigMap != nil:
			var cm corev1.ConfigMap
			if err := r.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: v.ConfigMap.Name}, &cm); err != nil {
				return nil, fmt.Errorf("configMap volume %s: %w", v.ConfigMap.Name, err)
			}
			configMaps = append(configMaps, struct {
				dir  string
				data map[string]string
				v    *corev1.ConfigMapVolumeSource
			}{dir, cm.Data, v.ConfigMap})
		case v.EmptyDir != nil:
		default:
			return nil, fmt.Errorf("volume %s: the stand-in kubelet mounts secret, configMap and emptyDir volumes only", v.Name)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		local := dir
		if m.SubPath != "" {
			local = filepath.Join(dir, m.SubPath)
		}
		out = append(out, volume{mountPath: path.Clean(m.MountPath), local: local, writable: v.EmptyDir != nil && !m.ReadOnly})
	}
	// ConfigMaps last: their files may name the other volumes' paths.
	for _, cm := range configMaps {
		items := cm.v.Items
		if len(items) == 0 {
			for _, k := range slices.Sorted(maps.Keys(cm.data)) {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range items {
			val, ok := cm.data[it.Key]
			if !ok {
				return nil, fmt.Errorf("configMap volume %s: no key %q", cm.v.Name, it.Key)
			}
			if err := os.WriteFile(filepath.Join(cm.dir, it.Path), []byte(mapPaths(val, out)), 0o644); err != nil {
				return nil, err
			}
		}
	}
	if uid != nil {
		// As fsGroup would, and runAsUser: the container's user reads its
		// volumes and writes its emptyDirs.
		err := filepath.WalkDir(filepath.Join(root, "volumes"), func(p string, _ os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, int(*uid), int(*gid))
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return out, nil
}

// mapPaths rewrites every mention of a volume's mountPath in s to the
// volume's local directory: the container has no root filesystem of its own.
func mapPaths(s string, vols []volume) string {
	sorted := slices.Clone(vols)
	// The longest first: /etc/envoy/tls before /etc/envoy.
	slices.SortFunc(sorted, func(a, b volume) int { return len(b.mountPath) - len(a.mountPath) })
	for _, v := range sorted {
		re := regexp.MustCompile(regexp.QuoteMeta(v.mountPath) + `(/|$|[^\w.\-/])`)
		s = re.ReplaceAllStringFunc(s, func(m string) string { return v.local + m[len(v.mountPath):] })
	}
	return s
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandVars expands $(VAR) as the kubelet does in command, args and env.
func expandVars(s string, env []string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, _ := strings.Cut(env[i], "="); k == name {
				return v
			}
		}
		return m
	})
}

func lookupEnv(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(env[i], "="); k == name {
			return v
		}
	}
	return ""
}

// env is the container's environment, in order, as the kubelet gives it.
func (r *runner) env(ctx context.Context, pod *corev1.Pod, ctr *corev1.Container, ip netip.Addr, vols []volume) ([]string, error) {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOSTNAME=" + pod.Name}
	for _, e := range ctr.Env {
		val := expandVars(e.Value, env)
		if f := e.ValueFrom; f != nil {
			var err error
			val, err = r.envFrom(ctx, pod, f, ip)
			if err != nil {
				return nil, fmt.Errorf("container %s: env %s: %w", ctr.Name, e.Name, err)
			}
		}
		env = append(env, e.Name+"="+mapPaths(val, vols))
	}
	return env, nil
}

func (r *runner) envFrom(ctx context.Context, pod *corev1.Pod, f *corev1.EnvVarSource, ip netip.Addr) (string, error) {
	switch {
	case f.FieldRef != nil:
		fp := f.FieldRef.FieldPath
		switch fp {
		case "metadata.name":
			return pod.Name, nil
		case "metadata.namespace":
			return pod.Namespace, nil
		case "metadata.uid":
			return string(pod.UID), nil
		case "spec.nodeName":
			return pod.Spec.NodeName, nil
		case "spec.serviceAccountName":
			return pod.Spec.ServiceAccountName, nil
		case "status.podIP", "status.podIPs":
			return ip.String(), nil
		case "status.hostIP", "status.hostIPs":
			return r.net.gateway.String(), nil
		}
		if k, ok := strings.CutPrefix(fp, "metadata.labels['"); ok {
			return pod.Labels[strings.TrimSuffix(k, "']")], nil
		}
		if k, ok := strings.CutPrefix(fp, "metadata.annotations['"); ok {
			return pod.Annotations[strings.TrimSuffix(k, "']")], nil
		}
		return "", fmt.Errorf("fieldRef %s: not known to the stand-in kubelet", fp)
	case f.SecretKeyRef != nil:
		var s corev1.Secret
		if err := r.c.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: f.SecretKeyRef.Name}, &s); err != nil {
			return "", err
		}
		return string(s.Data[f.SecretKeyRef.Key]), nil
	case f.ConfigMapKeyRef != nil:
		var cm corev1.ConfigMap
		if err := r.c.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: f.ConfigMapKeyRef.Name}, &cm); err != nil {
			return "", err
		}
		return cm.Data[f.ConfigMapKeyRef.Key], nil
	case f.ResourceFieldRef != nil:
		return "0", nil // no limits here
	}
	return "", errors.New("valueFrom: empty")
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

// markReady probes the Pods: Ready once the readiness probe passes (or,
// without one, once the container accepts connections on its first port).
// It restarts nothing: a process that exits leaves its Pod Failed and not
// Ready, for the test to see, and its log says why.
func (r *runner) markReady(ctx context.Context) error {
	r.mu.Lock()
	var check []*podProc
	for _, p := range r.pods {
		check = append(check, p)
	}
	r.mu.Unlock()
	for _, p := range check {
		exited := false
		select {
		case <-p.done:
			exited = true
		default:
		}
		ready := !exited && r.probe(p)
		if ready == p.ready && !exited {
			continue
		}
		var pod corev1.Pod
		if err := r.c.Get(ctx, types.NamespacedName{Namespace: p.namespace, Name: p.name}, &pod); err != nil {
			return err
		}
		if exited {
			if pod.Status.Phase == corev1.PodFailed {
				continue
			}
			pod.Status.Phase = corev1.PodFailed
			r.t.Logf("runner: pod %s/%s: its process exited (%v); see pod-%s-%s.log", p.namespace, p.name, p.cmd.ProcessState, p.namespace, p.name)
		}
		pod.Status.Conditions = podConditions(ready)
		if err := r.c.Status().Update(ctx, &pod); err != nil {
			return err
		}
		r.mu.Lock()
		p.ready = ready
		r.mu.Unlock()
		if ready && !p.counted {
			p.counted = true
			r.countReady(p)
		}
	}
	return nil
}

// readyPod is what the runner saw of a Pod that became Ready, for the
// test's summary.
type readyPod struct {
	image string
	uid   string // the process's real user id, from /proc
	ro    bool   // its root filesystem is read-only
}

func (r *runner) countReady(p *podProc) {
	uid := "?"
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
				uid = f[1]
			}
		}
	}
	ro := false
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", p.cmd.Process.Pid)); err == nil {
		// "id parent major:minor root mountpoint options ...": the last
		// mount on / is the one the process sees.
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
				ro = slices.Contains(strings.Split(f[5], ","), "ro")
			}
		}
	}
	r.mu.Lock()
	r.readyPods = append(r.readyPods, readyPod{image: p.image, uid: uid, ro: ro})
	r.mu.Unlock()
}

// probe runs the Pod's readiness probe once.
func (r *runner) probe(p *podProc) bool {
	port := func(v intstr.IntOrString) int32 {
		if v.Type == intstr.String {
			return p.named[v.StrVal]
		}
		return v.IntVal
	}
	host := p.netns.ip
	switch {
	case p.probe != nil && p.probe.HTTPGet != nil:
		g := p.probe.HTTPGet
		scheme := "http"
		if g.Scheme == corev1.URISchemeHTTPS {
			return false // not used by the Pods run here
		}
		c := http.Client{Timeout: 500 * time.Millisecond}
		resp, err := c.Get(fmt.Sprintf("%s://%s%s", scheme, netip.AddrPortFrom(host, uint16(port(g.Port))), g.Path))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	case p.probe != nil && p.probe.TCPSocket != nil:
		return dialOK(netip.AddrPortFrom(host, uint16(port(p.probe.TCPSocket.Port))))
	case p.probe != nil:
		return false // exec and gRPC probes: not used by the Pods run here
	case p.probePort == 0 && p.udpPort != 0:
		return udpBound(p.cmd.Process.Pid, p.udpPort)
	}
	return p.probePort != 0 && dialOK(netip.AddrPortFrom(host, uint16(p.probePort)))
}

func dialOK(ap netip.AddrPort) bool {
	conn, err := net.DialTimeout("tcp", ap.String(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

const suffixChars = "bcdfghjklmnpqrstvwxz2456789"

// templateHash stands in for the pod-template-hash of the Deployment's
// ReplicaSet: ten characters derived from the Pod template, so that a
// changed template makes new Pods.
func templateHash(d *appsv1.Deployment) string {
	b, err := json.Marshal(d.Spec.Template)
	if err != nil {
		b = []byte(d.UID) // cannot happen: the template came from JSON
	}
	sum := sha256.Sum256(append(b, d.UID...))
	out := make([]byte, 10)
	for i := range out {
		out[i] = suffixChars[int(sum[i])%len(suffixChars)]
	}
	return string(out)
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
