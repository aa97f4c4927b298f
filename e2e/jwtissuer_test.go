package e2e

import (
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/pkg/jwt"
)

// newJWTKey is a new RSA signing key with key ID kid.
func newJWTKey(t *testing.T, kid string) *jwt.Key {
	t.Helper()
	key, err := jwt.GenerateRSA(kid)
	if err != nil {
		t.Fatal(err)
	}
	return key
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
