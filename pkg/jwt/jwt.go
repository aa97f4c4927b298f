// Package jwt makes keys, key sets and tokens: the `gatewarden jwt` command
// and the tests that prove policies against Envoy share it, so that what a
// user mints by hand is what the tests mint.
package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key is a signing key with its key ID.
type Key struct {
	Signer crypto.Signer
	KeyID  string
	Alg    jose.SignatureAlgorithm
}

// GenerateRSA makes a 2048-bit RSA key signing with RS256.
func GenerateRSA(kid string) (*Key, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &Key{Signer: k, KeyID: kid, Alg: jose.RS256}, nil
}

// GenerateEC makes a P-256 key signing with ES256.
func GenerateEC(kid string) (*Key, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Key{Signer: k, KeyID: kid, Alg: jose.ES256}, nil
}

// PublicJWK is the public half as a JWK.
func (k *Key) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Signer.Public(), KeyID: k.KeyID, Algorithm: string(k.Alg), Use: "sig"}
}

// JWKS is the public key as a JSON Web Key Set.
func (k *Key) JWKS() string {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.PublicJWK()}})
	if err != nil {
		panic(err) // a generated public key always marshals
	}
	return string(b)
}

// PublicPEM is the public key in PEM ("PUBLIC KEY").
func (k *Key) PublicPEM() string {
	der, err := x509.MarshalPKIXPublicKey(k.Signer.Public())
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// PrivatePEM is the private key in PKCS#8 PEM, with the key ID in a header.
func (k *Key) PrivatePEM() (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return "", err
	}
	block := &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	if k.KeyID != "" {
		block.Headers = map[string]string{"Key-Id": k.KeyID}
	}
	return string(pem.EncodeToMemory(block)), nil
}

// ParsePrivatePEM reads a key written by PrivatePEM (or any PKCS#8, PKCS#1
// or SEC 1 private key). kid, when not empty, overrides the key ID.
func ParsePrivatePEM(data []byte, kid string) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var signer crypto.Signer
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("key type %T cannot sign", k)
		}
		signer = s
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		signer = k
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		signer = k
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	key := &Key{Signer: signer, KeyID: block.Headers["Key-Id"]}
	if kid != "" {
		key.KeyID = kid
	}
	switch signer.(type) {
	case *rsa.PrivateKey:
		key.Alg = jose.RS256
	case *ecdsa.PrivateKey:
		key.Alg = jose.ES256
	default:
		return nil, fmt.Errorf("key type %T is not supported; use RSA or EC P-256", signer)
	}
	return key, nil
}

// Claims of a token. Standard claims are set through MintOptions.
type Claims map[string]any

// MintOptions set the standard claims.
type MintOptions struct {
	Issuer   string
	Subject  string
	Audience []string
	// TTL sets exp to now + TTL; zero leaves exp out (unless in Claims).
	TTL time.Duration
	// Now is the issue time; zero means time.Now.
	Now time.Time
	// NoKeyID leaves kid out of the header.
	NoKeyID bool
}

// Mint signs claims with k.
func Mint(k *Key, claims Claims, o MintOptions) (string, error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	all := Claims{}
	for name, v := range claims {
		all[name] = v
	}
	if o.Issuer != "" {
		all["iss"] = o.Issuer
	}
	if o.Subject != "" {
		all["sub"] = o.Subject
	}
	switch len(o.Audience) {
	case 0:
	case 1:
		all["aud"] = o.Audience[0]
	default:
		all["aud"] = o.Audience
	}
	if o.TTL != 0 {
		all["iat"] = now.Unix()
		all["exp"] = now.Add(o.TTL).Unix()
	}
	payload, err := json.Marshal(all)
	if err != nil {
		return "", fmt.Errorf("claims: %w", err)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.KeyID != "" && !o.NoKeyID {
		opts = opts.WithHeader(jose.HeaderKey("kid"), k.KeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.Signer}, opts)
	if err != nil {
		return "", err
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return sig.CompactSerialize()
}

// Decoded is a token's header and claims, not verified.
type Decoded struct {
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

// Decode splits a compact token and decodes its header and claims without
// verifying anything.
func Decode(token string) (*Decoded, error) {
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("a JWT has 3 dot-separated parts, this has %d", len(parts))
	}
	d := &Decoded{}
	for i, dst := range []*map[string]any{&d.Header, &d.Claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, fmt.Errorf("part %d is not base64url: %w", i+1, err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, fmt.Errorf("part %d is not a JSON object: %w", i+1, err)
		}
	}
	return d, nil
}

// Forge builds a token from raw header and claims with the given signature
// bytes, for tests of what a verifier must refuse (alg none, tampered
// payloads, key confusion).
func Forge(header, claims map[string]any, signature []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + base64.RawURLEncoding.EncodeToString(signature)
}
