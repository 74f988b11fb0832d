package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The signature of a header-signed request (every SDK's Invoke, most API
// calls) is computed here directly, as aws-sdk-go-v2's signer computes it,
// without copying the request into one for the signer: the signer's
// copies, header clones and canonical-form allocations were most of the
// server's cost of authentication, about a tenth of a warm invoke's CPU.
// Everything else (presigned URLs, session tokens, signed headers the
// signer treats specially) goes to the signer as before.
// TestFastSignatureMatchesSigner checks that both agree.

// ignoredHeaders are the headers aws-sdk-go-v2's signer never signs.
var ignoredHeaders = map[string]bool{
	"authorization": true, "user-agent": true, "x-amzn-trace-id": true, "expect": true, "transfer-encoding": true,
}

// computeFast returns the signature of r as the signer would compute it,
// and false when r is not a request it handles (the caller then uses the
// signer). An empty signature with true means the signer would not have
// reproduced the client's signed headers either.
func (v *Verifier) computeFast(r *http.Request, sig *Signature, cred aws.Credentials, payloadHash string) (string, bool) {
	if sig.Presigned || r.URL.Opaque != "" || r.Host == "" {
		return "", false
	}
	// The signer strips the scheme's default port from the host.
	if strings.HasSuffix(r.Host, ":80") {
		return "", false
	}
	// The signer signs host, x-amz-date and, when positive, the length
	// itself, and the other signed headers as they are; the list it
	// derives must equal the client's (compute's check), so only a sorted
	// list of distinct lower-case names that holds host and x-amz-date
	// can match.
	var haveHost, haveDate bool
	for i, h := range sig.SignedHeaders {
		if h == "" || (i > 0 && h <= sig.SignedHeaders[i-1]) || ignoredHeaders[h] || h == "x-amz-security-token" {
			return "", false
		}
		for j := 0; j < len(h); j++ {
			if c := h[j]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", false
			}
		}
		haveHost = haveHost || h == "host"
		haveDate = haveDate || h == "x-amz-date"
	}
	if !haveHost || !haveDate {
		return "", false
	}

	var b strings.Builder
	b.Grow(512)
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	escape(&b, path, true)
	b.WriteByte('\n')
	if r.URL.RawQuery != "" {
		writeQuery(&b, r.URL.Query())
	}
	b.WriteByte('\n')
	for _, h := range sig.SignedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		switch h {
		case "host":
			b.WriteString(stripExcessSpaces(r.Host))
		case "x-amz-date":
			b.WriteString(sig.Time.Format(amzDate))
		case "content-length":
			n := r.ContentLength
			if n <= 0 {
				n, _ = strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64)
			}
			if n <= 0 {
				return "", false
			}
			b.WriteString(strconv.FormatInt(n, 10))
		default:
			vals, ok := r.Header[textproto.CanonicalMIMEHeaderKey(h)]
			if !ok {
				return "", true // a signed header that is not there cannot match
			}
			for j, val := range vals {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strings.TrimSpace(stripExcessSpaces(val)))
			}
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	for i, h := range sig.SignedHeaders {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(h)
	}
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	canonical := sha256.Sum256([]byte(b.String()))

	scope := sig.Time.Format("20060102") + "/" + sig.Region + "/" + sig.Service + "/aws4_request"
	var sts strings.Builder
	sts.Grow(len(algorithm) + len(amzDate) + len(scope) + 67)
	sts.WriteString(algorithm)
	sts.WriteByte('\n')
	sts.WriteString(sig.Time.Format(amzDate))
	sts.WriteByte('\n')
	sts.WriteString(scope)
	sts.WriteByte('\n')
	var hx [64]byte
	hex.Encode(hx[:], canonical[:])
	sts.Write(hx[:])

	mac := hmac.New(sha256.New, v.signingKey(cred, scope))
	mac.Write([]byte(sts.String()))
	var sum [sha256.Size]byte
	hex.Encode(hx[:], mac.Sum(sum[:0]))
	return string(hx[:]), true
}

// signingKey returns the key derived from cred's secret for scope
// (date/region/service/aws4_request), cached per key id until the day's
// scope changes or the key is forgotten.
func (v *Verifier) signingKey(cred aws.Credentials, scope string) []byte {
	v.mu.Lock()
	k, ok := v.derived[cred.AccessKeyID]
	v.mu.Unlock()
	if ok && k.scope == scope && k.secret == cred.SecretAccessKey {
		return k.key
	}
	date, rest, _ := strings.Cut(scope, "/")
	region, rest, _ := strings.Cut(rest, "/")
	service, _, _ := strings.Cut(rest, "/")
	key := hmacSHA256([]byte("AWS4"+cred.SecretAccessKey), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "aws4_request")
	v.mu.Lock()
	v.derived[cred.AccessKeyID] = derivedKey{scope: scope, secret: cred.SecretAccessKey, key: key}
	v.mu.Unlock()
	return key
}

// derivedKey is a signing key and what it was derived from.
type derivedKey struct {
	scope, secret string
	key           []byte
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// writeQuery writes query as the signer's canonical query string: every
// name and value escaped, the pairs sorted by name, then value.
func writeQuery(b *strings.Builder, query url.Values) {
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range query {
		var ek strings.Builder
		escape(&ek, k, false)
		for _, v := range vs {
			var ev strings.Builder
			escape(&ev, v, false)
			pairs = append(pairs, pair{ek.String(), ev.String()})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
}

// escape writes s with every byte but unreserved characters (and '/' if
// slash) percent-encoded in upper-case hex, as the signer escapes the
// canonical URI (the already escaped path, thus escaped once more) and
// query names and values.
func escape(b *strings.Builder, s string, slash bool) {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' || c == '/' && slash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
}

// stripExcessSpaces trims leading and trailing spaces and collapses runs
// of spaces into one, as the signer does to header values.
func stripExcessSpaces(s string) string {
	s = strings.Trim(s, " ")
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(s[i])
	}
	return b.String()
}
