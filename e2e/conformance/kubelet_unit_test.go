package conformance

import (
	"net"
	"os"
	"slices"
	"testing"
)

// TestMapPaths: a volume's mountPath becomes its local directory wherever
// the container would see it, the longest mount first, and a path that
// only starts with the same letters is left alone.
func TestMapPaths(t *testing.T) {
	vols := []volume{
		{mountPath: "/etc/envoy", local: "/pods/p/volumes/bootstrap"},
		{mountPath: "/etc/envoy/tls", local: "/pods/p/volumes/tls"},
		{mountPath: "/etc/gatewarden/xds-tls", local: "/pods/p/volumes/xds-tls"},
	}
	for in, want := range map[string]string{
		"/etc/envoy/envoy.yaml":                      "/pods/p/volumes/bootstrap/envoy.yaml",
		"/etc/envoy":                                 "/pods/p/volumes/bootstrap",
		"/etc/envoy/tls/tls.crt":                     "/pods/p/volumes/tls/tls.crt",
		"/etc/envoyx/envoy.yaml":                     "/etc/envoyx/envoy.yaml",
		"/etc/envoy.yaml":                            "/etc/envoy.yaml",
		`filename: "/etc/gatewarden/xds-tls/ca.crt"`: `filename: "/pods/p/volumes/xds-tls/ca.crt"`,
		"--config-path=/etc/envoy/envoy.yaml":        "--config-path=/pods/p/volumes/bootstrap/envoy.yaml",
		"a /etc/gatewarden/xds-tls b":                "a /pods/p/volumes/xds-tls b",
	} {
		if got := mapPaths(in, vols); got != want {
			t.Errorf("mapPaths(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExpandVars(t *testing.T) {
	env := []string{"POD_NAME=p-1", "X=old", "X=new"}
	for in, want := range map[string]string{
		"--service-node=$(POD_NAME)": "--service-node=p-1",
		"$(X)":                       "new",
		"$(UNSET) stays":             "$(UNSET) stays",
		"$POD_NAME is not expanded":  "$POD_NAME is not expanded",
	} {
		if got := expandVars(in, env); got != want {
			t.Errorf("expandVars(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestImageArgv: the Envoy image runs envoy alone, as its entrypoint
// would; any other program in it is refused rather than run as envoy.
func TestImageArgv(t *testing.T) {
	r := &runner{echoBin: "/bin/echo-basic", envoyBin: "/bin/envoy"}
	tests := map[string]struct {
		image         string
		command, args []string
		want          []string
		wantErr       bool
	}{
		"envoy command":    {image: "envoyproxy/envoy:v1.40.0", command: []string{"envoy"}, args: []string{"--config-path", "/c"}, want: []string{"--config-path", "/c"}},
		"envoy full path":  {image: "docker.io/envoyproxy/envoy:v1.40.0", command: []string{"/usr/local/bin/envoy", "-c", "/c"}, want: []string{"-c", "/c"}},
		"entrypoint flags": {image: "envoyproxy/envoy:v1.40.0", args: []string{"-c", "/c"}, want: []string{"-c", "/c"}},
		"image default":    {image: "envoyproxy/envoy@sha256:abc", want: []string{"-c", "/etc/envoy/envoy.yaml"}},
		"a shell":          {image: "envoyproxy/envoy:v1.40.0", command: []string{"/bin/sh", "-c", "envoy"}, wantErr: true},
		"echo-basic":       {image: "gcr.io/k8s-staging-gateway-api/echo-basic:v20240412", want: nil},
		"echo command":     {image: "gcr.io/k8s-staging-gateway-api/echo-basic:v1", command: []string{"/bin/sh"}, wantErr: true},
		"coredns":          {image: "registry.k8s.io/coredns/coredns:v1.12.2", args: []string{"-conf", "/root/Corefile"}, want: []string{"-conf", "/root/Corefile"}},
		"coredns command":  {image: "registry.k8s.io/coredns/coredns:v1.12.2", command: []string{"/bin/sh"}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			img, ok := r.imageFor(tc.image)
			if !ok {
				t.Fatalf("imageFor(%q): not runnable", tc.image)
			}
			got, err := img.argv(tc.command, tc.args)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Errorf("argv(%q, %q) = %q, %v; want %q, error %v", tc.command, tc.args, got, err, tc.want, tc.wantErr)
			}
		})
	}
	if _, ok := r.imageFor("registry.k8s.io/coredns/coredns:v1.12.2"); !ok {
		t.Errorf("coredns is not runnable")
	}
	if _, ok := r.imageFor("docker.io/library/busybox:1"); ok {
		t.Errorf("busybox is runnable: the stand-in has no binary for it")
	}
}

// TestUDPBound: a UDP socket bound in the process's network namespace makes
// its port bound, and only its port.
func TestUDPBound(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := int32(c.LocalAddr().(*net.UDPAddr).Port)
	if !udpBound(os.Getpid(), port) {
		t.Errorf("port %d is bound, udpBound says not", port)
	}
	c.Close()
	if udpBound(os.Getpid(), port) {
		t.Errorf("port %d is closed, udpBound says bound", port)
	}
}
