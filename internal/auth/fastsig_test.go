package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestFastSignatureMatchesSigner signs requests of many shapes with
// aws-sdk-go-v2's signer, as clients do, reads them as the server does,
// and checks that computeFast, wherever it answers, computes what the
// signer computes, for the request as signed and with a signed part
// altered; and that it answers for the common shape (an Invoke).
func TestFastSignatureMatchesSigner(t *testing.T) {
	cred := aws.Credentials{AccessKeyID: "AKIDFAST", SecretAccessKey: "fast-secret"}
	v := NewVerifier("us-east-1", nil, nil)
	paths := []string{
		"/2015-03-31/functions/my-fn_1.x/invocations",
		"/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations",
		"/2015-03-31/functions/f:live/invocations",
		"/a%20b/~c/%C3%A9",
		"/",
		"/2015-03-31/functions/?Qualifier=1",
		"/2015-03-31/functions/f/invocations?Qualifier=live&a=b%20c",
		"/x?b=2&a=2&a=1&c=%2F%7E+*&d&%C3%A9=%e2%82%ac",
		"/x?a=1;b=2&c=%zz&=e",
	}
	hosts := []string{"127.0.0.1:9001", "localhost", "example.com:80", "[::1]:9001", "[::1]:80"}
	headerSets := []map[string][]string{
		{},
		{"Content-Type": {"application/json"}},
		{"Content-Type": {"  application/json  "}, "X-Amz-Invocation-Type": {"Event"}},
		{"X-Amz-Meta-A": {"a   b  c", " d "}, "X-Amz-Log-Type": {"Tail"}},
		{"X-Amz-Client-Context": {"e30="}, "X-Custom": {"\tx\t"}, "X-Nbsp": {"\u00a0y z\u00a0"}},
		{"User-Agent": {"sdk"}, "X-Amz-Security-Token": {"tok"}},
	}
	bodies := [][]byte{nil, []byte(`{"op":"echo"}`)}
	fast := 0
	for _, path := range paths {
		for _, host := range hosts {
			for hi, hs := range headerSets {
				for _, body := range bodies {
					for _, method := range []string{"GET", "POST"} {
						name := fmt.Sprintf("%s %s%s h%d body%d", method, host, path, hi, len(body))
						r := signedServerRequest(t, method, "http://"+host+path, hs, body, cred)
						sum := sha256.Sum256(body)
						hash := hex.EncodeToString(sum[:])
						sig, err := Parse(r)
						if err != nil {
							t.Fatalf("%s: Parse: %v", name, err)
						}
						for _, alter := range []func(){
							func() {},
							func() { r.Header.Set("Content-Type", "text/plain") },
							func() { r.Host = "other:9001" },
							func() { r.URL.Path, r.URL.RawPath = "/other", "" },
							func() { r.URL.RawQuery = "Qualifier=other" },
							func() { hash = EmptyHash },
						} {
							alter()
							got, ok := v.computeFast(r, sig, cred, hash)
							want, err := v.computeSigner(r, sig, cred, hash)
							if err != nil {
								t.Fatalf("%s: computeSigner: %v", name, err)
							}
							if ok && got != want {
								t.Errorf("%s: computeFast = %q; the signer computes %q", name, got, want)
							}
							if ok {
								fast++
							}
						}
					}
				}
			}
		}
	}
	if fast == 0 {
		t.Fatal("computeFast answered for no request")
	}
	t.Logf("computeFast answered for %d requests", fast)

	// The shape of every SDK's Invoke.
	r := signedServerRequest(t, "POST", "http://127.0.0.1:9001/2015-03-31/functions/f/invocations?Qualifier=live",
		map[string][]string{"Content-Type": {"application/json"}, "User-Agent": {"aws-sdk-go-v2"}, "Amz-Sdk-Invocation-Id": {"x"}},
		[]byte(`{}`), cred)
	sig, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(`{}`))
	got, ok := v.computeFast(r, sig, cred, hex.EncodeToString(sum[:]))
	if !ok || got != sig.Signature {
		t.Errorf("computeFast(Invoke) = %q, %v; want the client's signature %q, true", got, ok, sig.Signature)
	}
}

// signedServerRequest signs a request as a client does and returns it as
// the server reads it off the wire.
func signedServerRequest(t *testing.T, method, url string, headers map[string][]string, body []byte, cred aws.Credentials) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), cred, req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", time.Now()); err != nil {
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
	return r
}
