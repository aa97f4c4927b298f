package xds

import (
	"encoding/json"
	"fmt"
	"path"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	sigsyaml "sigs.k8s.io/yaml"
)

// The files of an Envoy's xDS credentials directory (a Secret mounted as
// a directory, or what `gatewarden certs gateway` writes). The two SDS
// files carry the certificates inline, so that they do not depend on where
// the directory is mounted, and Envoy re-reads them when the directory's
// contents are replaced (a Secret update swaps its ..data link): a renewed
// certificate is used without a restart.
const (
	CredentialsCert      = "tls.crt"
	CredentialsKey       = "tls.key"
	CredentialsCA        = "ca.crt"
	CredentialsClientSDS = "xds-client-sds.yaml"
	CredentialsCASDS     = "xds-ca-sds.yaml"

	sdsClientSecret = "gatewarden-xds-client"
	sdsCASecret     = "gatewarden-xds-ca"
)

// CredentialFiles returns the files of a credentials directory, by name,
// for a client certificate and key and the CA that signed gatewarden's
// server certificate.
func CredentialFiles(certPEM, keyPEM, caPEM []byte) (map[string][]byte, error) {
	client, err := sdsFile(&tlsv3.Secret{Name: sdsClientSecret, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: string(certPEM)}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: string(keyPEM)}},
	}}})
	if err != nil {
		return nil, err
	}
	ca, err := sdsFile(&tlsv3.Secret{Name: sdsCASecret, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: string(caPEM)}},
	}}})
	if err != nil {
		return nil, err
	}
	return map[string][]byte{CredentialsCert: certPEM, CredentialsKey: keyPEM, CredentialsCA: caPEM,
		CredentialsClientSDS: client, CredentialsCASDS: ca}, nil
}

// sdsFile is a DiscoveryResponse holding one secret, the format of Envoy's
// path_config_source.
func sdsFile(s *tlsv3.Secret) ([]byte, error) {
	a, err := anypb.New(s)
	if err != nil {
		return nil, err
	}
	return protoYAML(&discoveryv3.DiscoveryResponse{Resources: []*anypb.Any{a}})
}

func protoYAML(m proto.Message) ([]byte, error) {
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		return nil, err
	}
	return sigsyaml.Marshal(v)
}

// sdsFromDir is the TLS context of the xDS cluster whose client
// certificate and trusted CA come from the SDS files of dir (Envoy's path).
func sdsFromDir(dir, sni string, matchSAN bool) *tlsv3.CommonTlsContext {
	source := func(file string) *corev3.ConfigSource {
		return &corev3.ConfigSource{
			ResourceApiVersion: corev3.ApiVersion_V3,
			ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{PathConfigSource: &corev3.PathConfigSource{
				Path:             path.Join(dir, file),
				WatchedDirectory: &corev3.WatchedDirectory{Path: dir},
			}},
		}
	}
	defaults := &tlsv3.CertificateValidationContext{}
	if matchSAN {
		defaults.MatchTypedSubjectAltNames = []*tlsv3.SubjectAltNameMatcher{{
			SanType: tlsv3.SubjectAltNameMatcher_DNS,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: sni}},
		}}
	}
	return &tlsv3.CommonTlsContext{
		AlpnProtocols: []string{"h2"},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{
			Name: sdsClientSecret, SdsConfig: source(CredentialsClientSDS),
		}},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         defaults,
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: sdsCASecret, SdsConfig: source(CredentialsCASDS)},
		}},
	}
}

func checkDir(dir string) error {
	if !path.IsAbs(dir) {
		return fmt.Errorf("xDS credentials directory %q: want an absolute path (Envoy's)", dir)
	}
	return nil
}
