package translator

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// maxInlineJWKS bounds an inline key: it is copied into the configuration
// of every Envoy of the Gateway on every change.
const maxInlineJWKS = 256 << 10

// normalizeJWKS checks a key given inline and returns it as a JWKS of public
// keys. It accepts a JWKS, a single JWK, or PEM public keys and certificates.
// Envoy accepts an invalid inline JWKS without complaint and then rejects
// every token, so gatewarden checks it and names the problem instead.
func normalizeJWKS(in string) (string, error) {
	in = strings.TrimSpace(in)
	if in == "" {
		return "", errors.New("the key is empty")
	}
	if len(in) > maxInlineJWKS {
		return "", fmt.Errorf("the key is %d bytes, larger than the %d allowed inline; serve a JWKS that large with jwks.remote", len(in), maxInlineJWKS)
	}
	var set jose.JSONWebKeySet
	switch {
	case strings.HasPrefix(in, "-----BEGIN"):
		keys, err := parsePEM(in)
		if err != nil {
			return "", err
		}
		set.Keys = keys
	case strings.HasPrefix(in, "{"):
		var probe map[string]json.RawMessage
		if err := json.Unmarshal([]byte(in), &probe); err != nil {
			return "", fmt.Errorf("not valid JSON: %v", err)
		}
		if _, ok := probe["keys"]; ok {
			if err := json.Unmarshal([]byte(in), &set); err != nil {
				return "", fmt.Errorf("not a valid JWKS: %v", err)
			}
		} else {
			var k jose.JSONWebKey
			if err := json.Unmarshal([]byte(in), &k); err != nil {
				return "", fmt.Errorf("not a valid JWK: %v", err)
			}
			set.Keys = []jose.JSONWebKey{k}
		}
	default:
		return "", errors.New("neither a JWKS, a JWK nor a PEM public key")
	}
	if len(set.Keys) == 0 {
		return "", errors.New("the JWKS has no keys")
	}
	for i, k := range set.Keys {
		if !k.Valid() {
			return "", fmt.Errorf("key %d (kid %q) is not a valid key", i, k.KeyID)
		}
		if !k.IsPublic() {
			return "", fmt.Errorf("key %d (kid %q) is a private key: publish only the public key", i, k.KeyID)
		}
		if _, ok := k.Key.([]byte); ok {
			return "", fmt.Errorf("key %d (kid %q) is a symmetric key; only public keys (RSA, EC, OKP) are supported", i, k.KeyID)
		}
	}
	out, err := json.Marshal(set)
	if err != nil {
		return "", fmt.Errorf("encode JWKS: %v", err)
	}
	return string(out), nil
}

func parsePEM(in string) ([]jose.JSONWebKey, error) {
	var keys []jose.JSONWebKey
	rest := []byte(in)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var pub any
		switch block.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM public key: %v", err)
			}
			pub = k
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM RSA public key: %v", err)
			}
			pub = k
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM certificate: %v", err)
			}
			pub = c.PublicKey
		default:
			return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
		}
		k := jose.JSONWebKey{Key: pub, Use: "sig"}
		switch pub.(type) {
		case *rsa.PublicKey:
			k.Algorithm = string(jose.RS256)
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("PEM key type %T is not supported", pub)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block found")
	}
	return keys, nil
}
