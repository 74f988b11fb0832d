package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signedAt signs an Invoke with cred for region at time at, as
// aws-sdk-go-v2 does, and returns it as the server reads it, with the hex
// SHA-256 of its body.
func signedAt(t *testing.T, cred aws.Credentials, region string, at time.Time) (*http.Request, string) {
	t.Helper()
	body := []byte(`{"a":1}`)
	req, err := http.NewRequest("POST", "http://127.0.0.1:9001/2015-03-31/functions/f/invocations", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if err := v4.NewSigner().SignHTTP(context.Background(), cred, req, hash, "lambda", region, at); err != nil {
		t.Fatal(err)
	}
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		t.Fatal(err)
	}
	return r, hash
}

// verifyAt verifies r with v as if the server's clock read now.
func verifyAt(v *Verifier, r *http.Request, hash string, now time.Time) (*Caller, error) {
	v.now = func() time.Time { return now }
	p, err := v.Begin(r, "lambda")
	if err != nil {
		return nil, err
	}
	return p.Finish(hash)
}

// TestSigningKeyCacheFollowsTheDate checks that the signing key cached
// for a key id is derived again when a request's date differs from the
// one it was derived for, in both directions (requests from either side of
// midnight arrive interleaved within the clock skew), and that every one
// of them verifies.
func TestSigningKeyCacheFollowsTheDate(t *testing.T) {
	keys, root := testKeys(t)
	v := NewVerifier("us-east-1", keys, nil)
	cred := aws.Credentials{AccessKeyID: root.ID, SecretAccessKey: root.Secret}
	midnight := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	before, after := midnight.Add(-10*time.Second), midnight.Add(10*time.Second)
	for i, at := range []time.Time{before, after, before, after, after} {
		r, hash := signedAt(t, cred, "us-east-1", at)
		if _, err := verifyAt(v, r, hash, midnight); err != nil {
			t.Fatalf("request %d, signed at %s: %v", i, at.Format(amzDate), err)
		}
		v.mu.Lock()
		k := v.derived[root.ID]
		v.mu.Unlock()
		if want := at.Format("20060102"); k == nil || k.date != want {
			t.Fatalf("request %d: the cached key is for %+v; want date %s", i, k, want)
		}
	}
}

// TestSigningKeyCacheNeverShared checks that a cached signing key serves
// only the secret, date, region and service it was derived from: a
// request signed with another secret under the same key id, or for
// another region or service, is computed with a key of its own, exactly
// as aws-sdk-go-v2's signer computes it.
func TestSigningKeyCacheNeverShared(t *testing.T) {
	v := NewVerifier("us-east-1", nil, nil)
	now := time.Now()
	a := aws.Credentials{AccessKeyID: "AKIDSHARED", SecretAccessKey: "secret-a"}
	b := aws.Credentials{AccessKeyID: "AKIDSHARED", SecretAccessKey: "secret-b"}
	for _, tt := range []struct {
		name      string
		signed    aws.Credentials // what the client signed with
		checkedAs aws.Credentials // the secret the server holds
		region    string
		match     bool
	}{
		{"a", a, a, "us-east-1", true},
		{"b signed, a held", b, a, "us-east-1", false},
		{"b", b, b, "us-east-1", true},
		{"a signed, b held", a, b, "us-east-1", false},
		{"a, other region", a, a, "eu-west-1", true},
		{"a, first region again", a, a, "us-east-1", true},
		{"b, other region", b, b, "eu-west-1", true},
	} {
		r, hash := signedAt(t, tt.signed, tt.region, now)
		sig, err := Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := v.computeFast(r, sig, tt.checkedAs, hash)
		if !ok {
			t.Fatalf("%s: computeFast did not answer", tt.name)
		}
		// A verifier of its own: aws-sdk-go-v2's signer caches its key
		// by key id, date, region and service, not by secret.
		want, err := NewVerifier("us-east-1", nil, nil).computeSigner(r, sig, tt.checkedAs, hash)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: computeFast = %s; the signer computes %s", tt.name, got, want)
		}
		if (got == sig.Signature) != tt.match {
			t.Errorf("%s: the signature matches = %v; want %v", tt.name, got == sig.Signature, tt.match)
		}
	}
	// Another service of the same key, date and region.
	r, hash := signedAt(t, a, "us-east-1", now)
	sig, _ := Parse(r)
	sig.Service = "sts"
	got, _ := v.computeFast(r, sig, a, hash)
	want, _ := NewVerifier("us-east-1", nil, nil).computeSigner(r, sig, a, hash)
	if got != want {
		t.Errorf("other service: computeFast = %s; the signer computes %s", got, want)
	}
}

// TestRevokedKeyStopsAtOnce checks that a key deleted, or a session
// revoked, is refused from the next request on, although its signing key
// was cached by the requests before, and that the cached key is dropped.
func TestRevokedKeyStopsAtOnce(t *testing.T) {
	keys, _ := testKeys(t)
	sessions := NewSessions()
	v := NewVerifier("us-east-1", keys, sessions)
	now := time.Now()

	k, err := keys.CreateKey(context.Background(), "123456789012", "ci", false)
	if err != nil {
		t.Fatal(err)
	}
	cred := aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}
	for range 3 {
		r, hash := signedAt(t, cred, "us-east-1", now)
		if _, err := verifyAt(v, r, hash, now); err != nil {
			t.Fatalf("before delete: %v", err)
		}
	}
	if err := keys.DeleteKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	r, hash := signedAt(t, cred, "us-east-1", now)
	if _, err := verifyAt(v, r, hash, now); !errors.Is(err, errUnknownKey) {
		t.Errorf("after delete: %v; want %v", err, errUnknownKey)
	}
	v.mu.Lock()
	_, cached := v.derived[k.ID]
	v.mu.Unlock()
	if cached {
		t.Error("the deleted key's signing key is still cached")
	}

	// A session's credentials: the SDK signs the token header, which
	// takes the signer's path; the cache of its signer goes as well.
	tmp := sessions.Issue("123456789012", "arn:aws:iam::123456789012:role/worker", "fn")
	scred := aws.Credentials{AccessKeyID: tmp.AccessKeyID, SecretAccessKey: tmp.SecretAccessKey, SessionToken: tmp.SessionToken}
	r, hash = signedAt(t, scred, "us-east-1", now)
	if _, err := verifyAt(v, r, hash, now); err != nil {
		t.Fatalf("session before revoke: %v", err)
	}
	sessions.Revoke(tmp.AccessKeyID)
	r, hash = signedAt(t, scred, "us-east-1", now)
	if _, err := verifyAt(v, r, hash, now); !errors.Is(err, errUnknownKey) {
		t.Errorf("session after revoke: %v; want %v", err, errUnknownKey)
	}
	v.mu.Lock()
	_, cached = v.derived[tmp.AccessKeyID]
	_, signer := v.signers[tmp.AccessKeyID]
	v.mu.Unlock()
	if cached || signer {
		t.Error("the revoked session's keys are still cached")
	}
}

// TestParseAuthorizationParts checks how the Authorization header's
// parameters are cut at commas: as strings.Split cuts them, empty parts
// included.
func TestParseAuthorizationParts(t *testing.T) {
	const sig = "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const good = "AWS4-HMAC-SHA256 Credential=AKID/20240131/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, " + sig
	const form = "Authorization header parameters must be of the form name=value."
	for _, tt := range []struct{ h, want string }{
		{good, ""},
		{"AWS4-HMAC-SHA256 Credential=AKID/20240131/us-east-1/lambda/aws4_request,SignedHeaders=host;x-amz-date," + sig, ""},
		{good + ",", form},
		{good + ", ", form},
		{"AWS4-HMAC-SHA256 ," + good[len("AWS4-HMAC-SHA256 "):], form},
		{"AWS4-HMAC-SHA256 Credential=AKID/20240131/us-east-1/lambda/aws4_request,, SignedHeaders=host;x-amz-date, " + sig, form},
		{"AWS4-HMAC-SHA256", form},
		{"AWS4-HMAC-SHA256 Credential=AKID/20240131/us-east-1/lambda/aws4_request", "Authorization header requires 'SignedHeaders' parameter."},
		{good + ", " + sig, "Authorization header has more than one 'Signature' parameter."},
	} {
		s, err := ParseAuthorization(tt.h)
		got := ""
		var ae *Error
		if errors.As(err, &ae) {
			got = ae.Message
		} else if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("ParseAuthorization(%q) = %v; want %q", tt.h, err, tt.want)
		}
		if err == nil && (s.KeyID != "AKID" || s.Region != "us-east-1" || len(s.SignedHeaders) != 2) {
			t.Errorf("ParseAuthorization(%q) = %+v", tt.h, s)
		}
	}
}
