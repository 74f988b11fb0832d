package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"

	"hearth/internal/broker"
)

// testKeys opens a real key store on an embedded JetStream with one
// account and its root key.
func testKeys(t testing.TB) (*Keys, Key) {
	t.Helper()
	b, err := broker.Start(broker.Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	k, err := OpenKeys(context.Background(), b.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	root, created, err := k.Bootstrap(context.Background(), "123456789012")
	if err != nil || !created {
		t.Fatalf("Bootstrap = %v, %v", created, err)
	}
	return k, root
}

// verifyServer answers every request with the outcome of verifying it:
// 200 and the caller's ARN, or the error's status and code.
func verifyServer(t testing.TB, v *Verifier, service string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := v.Begin(r, service)
		if err == nil {
			h := sha256.New()
			io.Copy(h, r.Body)
			var c *Caller
			if c, err = p.Finish(hex.EncodeToString(h.Sum(nil))); err == nil {
				io.WriteString(w, c.ARN)
				return
			}
		}
		var ae *Error
		if !errors.As(err, &ae) {
			t.Errorf("verify returned %v, not an *Error", err)
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(ae.Status)
		io.WriteString(w, ae.Code)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type signed struct {
	key, secret, token string
	region, service    string
	at                 time.Time
	body               string
	tamper             string // replaces the body after signing
	presign            bool
}

func (s signed) do(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/2015-03-31/functions/f%3A1/invocations?Qualifier=%24LATEST", strings.NewReader(s.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
	sum := sha256.Sum256([]byte(s.body))
	cred := aws.Credentials{AccessKeyID: s.key, SecretAccessKey: s.secret, SessionToken: s.token}
	signer := v4.NewSigner()
	if s.presign {
		u, hdr, err := signer.PresignHTTP(context.Background(), cred, req, hex.EncodeToString(sum[:]), s.service, s.region, s.at)
		if err != nil {
			t.Fatal(err)
		}
		req, _ = http.NewRequest("POST", u, strings.NewReader(s.body))
		req.Header = hdr
	} else if err := signer.SignHTTP(context.Background(), cred, req, hex.EncodeToString(sum[:]), s.service, s.region, s.at); err != nil {
		t.Fatal(err)
	}
	if s.tamper != "" {
		req.Body = io.NopCloser(strings.NewReader(s.tamper))
		req.ContentLength = int64(len(s.tamper))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestVerifyOutcomes(t *testing.T) {
	keys, root := testKeys(t)
	sessions := NewSessions()
	tmp := sessions.Issue("123456789012", "arn:aws:iam::123456789012:role/worker", "fn")
	v := NewVerifier("us-east-1", keys, sessions)
	srv := verifyServer(t, v, "lambda")
	now := time.Now()
	good := signed{key: root.ID, secret: root.Secret, region: "us-east-1", service: "lambda", at: now, body: `{"a":1}`}
	with := func(f func(*signed)) signed { s := good; f(&s); return s }
	for _, tt := range []struct {
		name string
		req  signed
		code int
		body string
	}{
		{"good", good, 200, "arn:aws:iam::123456789012:root"},
		{"good, empty body", with(func(s *signed) { s.body = "" }), 200, "arn:aws:iam::123456789012:root"},
		{"good, presigned", with(func(s *signed) { s.presign = true; s.body = "" }), 200, "arn:aws:iam::123456789012:root"},
		{"good, temporary", with(func(s *signed) { s.key, s.secret, s.token = tmp.AccessKeyID, tmp.SecretAccessKey, tmp.SessionToken }),
			200, "arn:aws:sts::123456789012:assumed-role/worker/fn"},
		{"wrong secret", with(func(s *signed) { s.secret = "x" + s.secret[1:] }), 403, "InvalidSignatureException"},
		{"unknown key", with(func(s *signed) { s.key = "AKIAUNKNOWNUNKNOWN00" }), 403, "UnrecognizedClientException"},
		{"clock behind", with(func(s *signed) { s.at = now.Add(-6 * time.Minute) }), 403, "InvalidSignatureException"},
		{"clock ahead", with(func(s *signed) { s.at = now.Add(6 * time.Minute) }), 403, "InvalidSignatureException"},
		{"small skew", with(func(s *signed) { s.at = now.Add(-4 * time.Minute) }), 200, "arn:aws:iam::123456789012:root"},
		{"tampered body", with(func(s *signed) { s.tamper = `{"a":2}` }), 403, "InvalidSignatureException"},
		{"wrong region", with(func(s *signed) { s.region = "eu-west-1" }), 403, "InvalidSignatureException"},
		{"wrong service", with(func(s *signed) { s.service = "s3" }), 403, "InvalidSignatureException"},
		{"temporary without token", with(func(s *signed) { s.key, s.secret = tmp.AccessKeyID, tmp.SecretAccessKey }), 403, "UnrecognizedClientException"},
		{"temporary, wrong token", with(func(s *signed) { s.key, s.secret, s.token = tmp.AccessKeyID, tmp.SecretAccessKey, tmp.SessionToken+"x" }),
			403, "UnrecognizedClientException"},
		{"long-term key with a token", with(func(s *signed) { s.token = tmp.SessionToken }), 403, "UnrecognizedClientException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := tt.req.do(t, srv.URL)
			if code != tt.code || body != tt.body {
				t.Errorf("got %d %q, want %d %q", code, body, tt.code, tt.body)
			}
		})
	}

	t.Run("missing", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/x", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got, want := resp.StatusCode, 403; got != want || string(b) != "MissingAuthenticationTokenException" {
			t.Errorf("got %d %s, want %d MissingAuthenticationTokenException", got, b, want)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		s := with(func(s *signed) { s.key, s.secret, s.token = tmp.AccessKeyID, tmp.SecretAccessKey, tmp.SessionToken })
		sessions.Revoke(tmp.AccessKeyID)
		if code, body := s.do(t, srv.URL); code != 403 || body != "UnrecognizedClientException" {
			t.Errorf("after Revoke: got %d %q, want 403 UnrecognizedClientException", code, body)
		}
	})

	t.Run("deleted key", func(t *testing.T) {
		k, err := keys.CreateKey(context.Background(), "123456789012", "ci", false)
		if err != nil {
			t.Fatal(err)
		}
		s := with(func(s *signed) { s.key, s.secret = k.ID, k.Secret })
		if code, body := s.do(t, srv.URL); code != 200 || body != "arn:aws:iam::123456789012:user/ci" {
			t.Errorf("before delete: got %d %q", code, body)
		}
		if err := keys.DeleteKey(context.Background(), k.ID); err != nil {
			t.Fatal(err)
		}
		if code, body := s.do(t, srv.URL); code != 403 || body != "UnrecognizedClientException" {
			t.Errorf("after delete: got %d %q, want 403 UnrecognizedClientException", code, body)
		}
	})
}

// TestErrorsHoldNoSecret checks that no failure's message quotes the
// secret, whatever the request.
func TestErrorsHoldNoSecret(t *testing.T) {
	keys, root := testKeys(t)
	v := NewVerifier("us-east-1", keys, nil)
	for _, s := range []signed{
		{key: root.ID, secret: root.Secret + "x", region: "us-east-1", service: "lambda", at: time.Now()},
		{key: root.ID, secret: root.Secret, region: "us-east-1", service: "lambda", at: time.Now().Add(time.Hour)},
		{key: root.ID, secret: root.Secret, region: "xx", service: "lambda", at: time.Now()},
	} {
		req := httptest.NewRequest("GET", "http://h/2015-03-31/functions", nil)
		v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.key, SecretAccessKey: s.secret}, req, EmptyHash, s.service, s.region, s.at)
		_, err := v.Begin(req, "lambda")
		if err == nil {
			var p *Pending
			p, _ = v.Begin(req, "lambda")
			_, err = p.Finish(EmptyHash)
		}
		if err == nil || strings.Contains(err.Error(), root.Secret) {
			t.Errorf("err = %v; want a failure that does not quote the secret", err)
		}
	}
}

func TestKeysPersist(t *testing.T) {
	dir := t.TempDir()
	open := func() (*broker.Broker, *Keys) {
		b, err := broker.Start(broker.Config{Dir: dir}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		k, err := OpenKeys(context.Background(), b.JetStream())
		if err != nil {
			t.Fatal(err)
		}
		return b, k
	}
	b, k := open()
	root, created, err := k.Bootstrap(context.Background(), "000000000000")
	if err != nil || !created {
		t.Fatalf("Bootstrap = %v, %v", created, err)
	}
	b.Close()
	b, k = open()
	defer b.Close()
	again, created, err := k.Bootstrap(context.Background(), "000000000000")
	if err != nil || created {
		t.Fatalf("second Bootstrap = %v, %v; want the stored key", created, err)
	}
	if diff := cmp.Diff(root, again); diff != "" {
		t.Errorf("root key after restart (-before +after):\n%s", diff)
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240131/us-east-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" + strings.Repeat("ab", 32))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=")
	f.Add("AWS4-HMAC-SHA256 ,,,")
	f.Add("Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, h string) {
		s, err := ParseAuthorization(h)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Status < 400 {
				t.Fatalf("error %v is not an auth failure", err)
			}
			return
		}
		if s.KeyID == "" || len(s.Date) != 8 || s.Region == "" || s.Service == "" || !isHex64(s.Signature) || len(s.SignedHeaders) == 0 {
			t.Fatalf("accepted %q as %+v", h, s)
		}
		if !bytes.Contains([]byte(strings.Join(s.SignedHeaders, ";")), []byte("host")) {
			t.Fatalf("accepted signed headers without host: %q", h)
		}
	})
}

// BenchmarkVerify measures the server's side of a header-signed request
// with a small body: Begin and Finish, the derived key cached (the
// steady state) and derived anew for each request (a signer per call).
func BenchmarkVerify(b *testing.B) {
	keys, root := testKeys(b)
	body := []byte(`{"op":"echo"}`)
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req := httptest.NewRequest("POST", "http://127.0.0.1:9001/2015-03-31/functions/f/invocations", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	now := time.Now()
	v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: root.ID, SecretAccessKey: root.Secret}, req, hash, "lambda", "us-east-1", now)
	for _, cached := range []bool{true, false} {
		name := "cached-key"
		if !cached {
			name = "derive-each-time"
		}
		b.Run(name, func(b *testing.B) {
			v := NewVerifier("us-east-1", keys, nil)
			for b.Loop() {
				if !cached {
					v.forget(root.ID)
				}
				p, err := v.Begin(req, "lambda")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.Finish(hash); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSTSClockWindow checks the STS window: AWS accepts a GetCallerIdentity
// signed up to 15 minutes off and says so when refusing ("… - 15 min."),
// while Lambda's stays 5 minutes.
func TestSTSClockWindow(t *testing.T) {
	keys, root := testKeys(t)
	v := NewVerifier("us-east-1", keys, NewSessions())
	now := time.Now()
	begin := func(service string, at time.Time) error {
		t.Helper()
		req := httptest.NewRequest("POST", "http://127.0.0.1:9001/", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sum := sha256.Sum256([]byte("Action=GetCallerIdentity&Version=2011-06-15"))
		cred := aws.Credentials{AccessKeyID: root.ID, SecretAccessKey: root.Secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), cred, req, hex.EncodeToString(sum[:]), service, "us-east-1", at); err != nil {
			t.Fatal(err)
		}
		_, err := v.Begin(req, service)
		return err
	}
	if err := begin("sts", now.Add(-10*time.Minute)); err != nil {
		t.Errorf("sts signed 10 minutes ago: %v; want accepted", err)
	}
	if err := begin("sts", now.Add(10*time.Minute)); err != nil {
		t.Errorf("sts signed 10 minutes ahead: %v; want accepted", err)
	}
	var ae *Error
	if err := begin("sts", now.Add(-16*time.Minute)); !errors.As(err, &ae) || ae.STSCode != "SignatureDoesNotMatch" ||
		!strings.HasPrefix(ae.Message, "Signature expired: ") || !strings.HasSuffix(ae.Message, " - 15 min.)") {
		t.Errorf("sts signed 16 minutes ago: %v; want SignatureDoesNotMatch \"Signature expired: … - 15 min.)\"", err)
	}
	if err := begin("lambda", now.Add(-10*time.Minute)); !errors.As(err, &ae) || !strings.HasSuffix(ae.Message, " - 5 min.)") {
		t.Errorf("lambda signed 10 minutes ago: %v; want \"Signature expired: … - 5 min.)\"", err)
	}
}
