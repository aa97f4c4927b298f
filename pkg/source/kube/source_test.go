package kube_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/source/kube"
)

// TestBurstIsDebounced creates 1,000 Services as fast as the API server takes
// them and checks that the source translates a handful of times, not 1,000.
func TestBurstIsDebounced(t *testing.T) {
	env := testenv.KubeEnvironment(t)
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()

	var translations atomic.Int64
	var mu sync.Mutex
	var lastServices int
	src, err := kube.New(kube.Options{
		Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), ControllerName: "gatewarden.io/gatewarden",
		Debounce: 100 * time.Millisecond, MaxDelay: time.Second, LeaderElection: false,
		OnResources: func(_ context.Context, res *resource.Resources) {
			translations.Add(1)
			mu.Lock()
			lastServices = len(res.Services)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if err := src.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	c, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	// The initial sync makes one translation (the API server's own
	// "kubernetes" Service is there already).
	deadline := time.Now().Add(20 * time.Second)
	for translations.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	base := translations.Load()
	mu.Lock()
	baseServices := lastServices
	mu.Unlock()

	const n = 1000
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				errs <- c.Create(ctx, &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i), Namespace: "default"},
					Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 80}}},
				})
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	created := time.Since(start)
	deadline = time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		got := lastServices
		mu.Unlock()
		if got == baseServices+n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let any trailing translation happen
	mu.Lock()
	got := lastServices
	mu.Unlock()
	if got != baseServices+n {
		t.Fatalf("the last translation saw %d Services, want %d", got, baseServices+n)
	}
	burst := translations.Load() - base
	t.Logf("%d Services created in %v: %d translations", n, created.Round(time.Millisecond), burst)
	// One translation per second at most while the burst lasts (MaxDelay),
	// plus the one after it.
	if limit := int64(created/time.Second) + 3; burst > limit {
		t.Fatalf("%d changes made %d translations, want at most %d", n, burst, limit)
	}
}
