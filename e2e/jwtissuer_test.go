package e2e

import (
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/pkg/jwt"
)

// newKey is a signing key made by generate (jwt.GenerateRSA or
// jwt.GenerateEC) with the key ID kid.
func newKey(t *testing.T, generate func(kid string) (*jwt.Key, error), kid string) *jwt.Key {
	t.Helper()
	k, err := generate(kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// iss1Token is a token of key with claims, of the issuer iss-1 that
// testenv.JWTGatewayManifest and testenv.JWTOption require, valid for an
// hour.
func iss1Token(t *testing.T, key *jwt.Key, claims jwt.Claims) string {
	t.Helper()
	tok, err := jwt.Mint(key, claims, jwt.MintOptions{Issuer: "iss-1", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
