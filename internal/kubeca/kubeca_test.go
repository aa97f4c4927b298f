package kubeca_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/gatewarden/gatewarden/internal/kubeca"
	"github.com/gatewarden/gatewarden/pkg/pki"
	"github.com/gatewarden/gatewarden/pkg/source/kube"
	"github.com/gatewarden/gatewarden/xds"
)

func TestCASharedAndSecretsIssuedOnce(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(kube.NewScheme()).Build()
	o := kubeca.Options{Client: c, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Namespace: "gw-system", CASecret: "ca",
		ProxyNamespace: "gw-system", TrustDomain: "gatewarden", ServerNames: []string{"gatewarden.gw-system.svc"},
		ClientValidity: time.Hour, ServerValidity: time.Hour}
	ctx := context.Background()
	first, err := kubeca.Load(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Ensure(ctx, []string{"team-a/gw"}); err != nil {
		t.Fatal(err)
	}
	// A second replica reads the same CA: the Secret it finds is valid.
	second, err := kubeca.Load(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "gw-system", Name: kubeca.SecretName("team-a", "gw")}
	var s corev1.Secret
	if err := c.Get(ctx, key, &s); err != nil {
		t.Fatal(err)
	}
	rv := s.ResourceVersion
	if err := second.Ensure(ctx, []string{"team-a/gw"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, key, &s); err != nil {
		t.Fatal(err)
	}
	if s.ResourceVersion != rv {
		t.Fatal("a valid certificate was issued again by the second replica")
	}
	cert, err := pki.ParseCertificate(s.Data[xds.CredentialsCert])
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://gatewarden/ns/team-a/gateway/gw" {
		t.Fatalf("certificate URIs = %v", cert.URIs)
	}
	for _, f := range []string{xds.CredentialsKey, xds.CredentialsCA, xds.CredentialsClientSDS, xds.CredentialsCASDS} {
		if len(s.Data[f]) == 0 {
			t.Fatalf("Secret lacks %s", f)
		}
	}
	if s.Labels[kubeca.LabelGateway] != "gw" || s.Labels[kubeca.LabelGatewayNS] != "team-a" {
		t.Fatalf("labels = %v", s.Labels)
	}
	// A certificate of another CA is replaced.
	other, err := pki.NewCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := other.IssueGateway("gatewarden", "team-a", "gw", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.Data[xds.CredentialsCert] = bad.CertPEM
	if err := c.Update(ctx, &s); err != nil {
		t.Fatal(err)
	}
	if err := second.Ensure(ctx, []string{"team-a/gw"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, key, &s); err != nil {
		t.Fatal(err)
	}
	if first.NeedsRenewal(s.Data[xds.CredentialsCert]) {
		t.Fatal("a certificate of another CA was left in place")
	}
	if _, err := first.TLSConfig().GetConfigForClient(nil); err != nil {
		t.Fatalf("server certificate: %v", err)
	}
}
