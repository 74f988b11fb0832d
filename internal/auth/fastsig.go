package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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

	bp := scratch.Get().(*[]byte)
	b := (*bp)[:0]
	defer func() {
		if cap(b) <= 64<<10 {
			*bp = b[:0]
			scratch.Put(bp)
		}
	}()
	b = append(b, r.Method...)
	b = append(b, '\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b = appendEscaped(b, path, true)
	b = append(b, '\n')
	if r.URL.RawQuery != "" {
		b = appendQuery(b, r.URL.Query())
	}
	b = append(b, '\n')
	for _, h := range sig.SignedHeaders {
		b = append(b, h...)
		b = append(b, ':')
		switch h {
		case "host":
			b = appendStripped(b, r.Host)
		case "x-amz-date":
			b = appendAmzDate(b, sig.Time)
		case "content-length":
			n := r.ContentLength
			if n <= 0 {
				n, _ = strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64)
			}
			if n <= 0 {
				return "", false
			}
			b = strconv.AppendInt(b, n, 10)
		default:
			vals, ok := headerValues(r.Header, h)
			if !ok {
				return "", true // a signed header that is not there cannot match
			}
			for j, val := range vals {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, strings.TrimSpace(stripExcessSpaces(val))...)
			}
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	for i, h := range sig.SignedHeaders {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, h...)
	}
	b = append(b, '\n')
	b = append(b, payloadHash...)
	canonical := sha256.Sum256(b)

	// The string to sign, in the same buffer.
	b = append(b[:0], algorithm...)
	b = append(b, '\n')
	b = appendAmzDate(b, sig.Time)
	b = append(b, '\n')
	scope := len(b)
	b = appendScopeDate(b, sig.Time)
	date := b[scope:]
	b = append(b, '/')
	b = append(b, sig.Region...)
	b = append(b, '/')
	b = append(b, sig.Service...)
	b = append(b, "/aws4_request\n"...)
	b = hex.AppendEncode(b, canonical[:])

	var hx [64]byte
	key := v.signingKey(cred, date, sig.Region, sig.Service)
	m := key.macs.Get().(*keyedMAC)
	m.h.Reset()
	m.h.Write(b)
	hex.Encode(hx[:], m.h.Sum(m.sum[:0]))
	key.macs.Put(m)
	return string(hx[:]), true
}

// scratch holds the buffers computeFast builds the canonical request and
// the string to sign in.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// headerValues returns the values of header h (lower-case) in hdr, whose
// keys net/http has put in canonical form, without allocating the
// canonical form of h.
func headerValues(hdr http.Header, h string) ([]string, bool) {
	var buf [64]byte
	if len(h) > len(buf) {
		vals, ok := hdr[textproto.CanonicalMIMEHeaderKey(h)]
		return vals, ok
	}
	k := buf[:len(h)]
	upper := true
	for i := 0; i < len(h); i++ {
		c := h[i]
		if upper && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		k[i] = c
		upper = c == '-'
	}
	vals, ok := hdr[string(k)]
	return vals, ok
}

// appendAmzDate appends t as X-Amz-Date (yyyymmddThhmmssZ), as
// t.Format(amzDate) would.
func appendAmzDate(b []byte, t time.Time) []byte {
	b = appendScopeDate(b, t)
	h, m, s := t.Clock()
	return append(b, 'T', byte('0'+h/10), byte('0'+h%10), byte('0'+m/10), byte('0'+m%10), byte('0'+s/10), byte('0'+s%10), 'Z')
}

// appendScopeDate appends t's date as yyyymmdd, as t.Format("20060102")
// would for years 0 to 9999 (X-Amz-Date has four digits for the year).
func appendScopeDate(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return append(b, t.Format("20060102")...)
	}
	return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10),
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), byte('0'+d/10), byte('0'+d%10))
}

// signingKey returns the key derived from cred's secret for the scope
// date/region/service/aws4_request, cached per key id until the day's
// scope changes or the key is forgotten (deleted or its session ended):
// the four HMACs of the derivation are paid once per key and day, and
// each request's HMAC is taken from a pool keyed with it.
func (v *Verifier) signingKey(cred aws.Credentials, date []byte, region, service string) *derivedKey {
	v.mu.Lock()
	k, ok := v.derived[cred.AccessKeyID]
	v.mu.Unlock()
	if ok && string(date) == k.date && k.region == region && k.service == service && k.secret == cred.SecretAccessKey {
		return k
	}
	key := hmacSHA256([]byte("AWS4"+cred.SecretAccessKey), string(date))
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "aws4_request")
	k = &derivedKey{date: string(date), region: region, service: service, secret: cred.SecretAccessKey, key: key}
	k.macs.New = func() any { return &keyedMAC{h: hmac.New(sha256.New, key)} }
	v.mu.Lock()
	v.derived[cred.AccessKeyID] = k
	v.mu.Unlock()
	return k
}

// derivedKey is a signing key and what it was derived from.
type derivedKey struct {
	date, region, service, secret string
	key                           []byte
	macs                          sync.Pool // of *keyedMAC with key
}

// keyedMAC is an HMAC-SHA256 keyed with a signing key, and room for its
// sum.
type keyedMAC struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// appendQuery appends query as the signer's canonical query string:
// every name and value escaped, the pairs sorted by name, then value.
func appendQuery(b []byte, query url.Values) []byte {
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range query {
		ek := string(appendEscaped(nil, k, false))
		for _, v := range vs {
			pairs = append(pairs, pair{ek, string(appendEscaped(nil, v, false))})
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
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	return b
}

// appendEscaped appends s with every byte but unreserved characters (and
// '/' if slash) percent-encoded in upper-case hex, as the signer escapes
// the canonical URI (the already escaped path, thus escaped once more)
// and query names and values.
func appendEscaped(b []byte, s string, slash bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' || c == '/' && slash {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}

// appendStripped appends s as stripExcessSpaces(s) is, without making
// that string.
func appendStripped(b []byte, s string) []byte {
	s = strings.Trim(s, " ")
	space := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if !space {
				b = append(b, ' ')
			}
			space = true
			continue
		}
		space = false
		b = append(b, s[i])
	}
	return b
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
