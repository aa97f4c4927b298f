package jwt

import (
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestMintVerifiesWithJWKSAndRoundTrips(t *testing.T) {
	for name, gen := range map[string]func(string) (*Key, error){"RSA": GenerateRSA, "EC": GenerateEC} {
		t.Run(name, func(t *testing.T) {
			k, err := gen("k1")
			if err != nil {
				t.Fatal(err)
			}
			tok, err := Mint(k, Claims{"team": "dev", "llms": map[string]any{"mistralai": []string{"m"}}}, MintOptions{Issuer: "me", Audience: []string{"a"}, TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			var set jose.JSONWebKeySet
			if err := jsonUnmarshal(k.JWKS(), &set); err != nil {
				t.Fatal(err)
			}
			sig, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{k.Alg})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sig.Verify(set.Keys[0]); err != nil {
				t.Fatalf("token does not verify with the JWKS: %v", err)
			}
			d, err := Decode(tok)
			if err != nil {
				t.Fatal(err)
			}
			if d.Header["kid"] != "k1" || d.Claims["iss"] != "me" || d.Claims["aud"] != "a" || d.Claims["team"] != "dev" {
				t.Fatalf("decoded %+v", d)
			}
			pemKey, err := k.PrivatePEM()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParsePrivatePEM([]byte(pemKey), "")
			if err != nil || back.KeyID != "k1" || back.Alg != k.Alg {
				t.Fatalf("PEM round trip: %+v, %v", back, err)
			}
			if !strings.Contains(k.PublicPEM(), "BEGIN PUBLIC KEY") {
				t.Fatal("no public PEM")
			}
		})
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, bad := range []string{"", "a.b", "a.b.c", "e30.!!.c"} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) accepted garbage", bad)
		}
	}
}
