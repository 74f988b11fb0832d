package auth

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	algorithm = "AWS4-HMAC-SHA256"
	amzDate   = "20060102T150405Z"
	// MaxSkew is how far a header-signed request's X-Amz-Date may be from
	// the server's clock, as on AWS's Lambda endpoint.
	MaxSkew = 5 * time.Minute
	// stsSkew is STS's window, wider than Lambda's: AWS answers
	// GetCallerIdentity "Signature expired: … (… - 15 min.)" (users'
	// recorded CLI output).
	stsSkew = 15 * time.Minute
	// maxExpires is the longest a presigned URL may be valid (7 days).
	maxExpires = 7 * 24 * time.Hour
	// EmptyHash is the payload hash of an empty body.
	EmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	// UnsignedPayload stands for the body in a signature that does not
	// cover it.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
)

// Signature is what a request says about its signature, from the
// Authorization header or the query string (a presigned URL).
type Signature struct {
	KeyID         string
	Date          string // yyyymmdd of the credential scope
	Region        string
	Service       string
	SignedHeaders []string // lower-case, as listed
	Signature     string   // lower-case hex
	Presigned     bool
	Time          time.Time     // X-Amz-Date
	Expires       time.Duration // presigned only
	Token         string        // X-Amz-Security-Token, if any
	DeclaredHash  string        // X-Amz-Content-Sha256, if any
}

// Parse reads r's signature. It returns errMissing when r carries none,
// and an IncompleteSignatureException when it is malformed.
func Parse(r *http.Request) (*Signature, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		s, err := ParseAuthorization(h)
		if err != nil {
			return nil, err
		}
		date := r.Header.Get("X-Amz-Date")
		if date == "" {
			return nil, incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
		}
		if s.Time, err = time.Parse(amzDate, date); err != nil {
			return nil, incomplete("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
		}
		s.Token = r.Header.Get("X-Amz-Security-Token")
		s.DeclaredHash = r.Header.Get("X-Amz-Content-Sha256")
		return s, s.checkDate()
	}
	q := r.URL.Query()
	if !q.Has("X-Amz-Signature") && !q.Has("X-Amz-Credential") && !q.Has("X-Amz-Algorithm") {
		return nil, errMissing
	}
	if q.Get("X-Amz-Algorithm") != algorithm {
		return nil, incomplete("Unsupported AWS 'algorithm': \"" + q.Get("X-Amz-Algorithm") + "\"")
	}
	s := &Signature{Presigned: true, Signature: q.Get("X-Amz-Signature")}
	if err := s.setCredential(q.Get("X-Amz-Credential")); err != nil {
		return nil, err
	}
	if err := s.setSignedHeaders(q.Get("X-Amz-SignedHeaders")); err != nil {
		return nil, err
	}
	if !isHex64(s.Signature) {
		return nil, incomplete("Signature must be 64 lower-case hexadecimal characters.")
	}
	var err error
	if s.Time, err = time.Parse(amzDate, q.Get("X-Amz-Date")); err != nil {
		return nil, incomplete("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	if e := q.Get("X-Amz-Expires"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxExpires {
			return nil, incomplete("X-Amz-Expires must be a number of seconds from 0 to 604800.")
		}
		s.Expires = time.Duration(n) * time.Second
	}
	s.Token = q.Get("X-Amz-Security-Token")
	s.DeclaredHash = r.Header.Get("X-Amz-Content-Sha256")
	return s, s.checkDate()
}

func (s *Signature) checkDate() error {
	var buf [8]byte
	if string(appendScopeDate(buf[:0], s.Time)) != s.Date {
		d := s.Time.Format("20060102")
		return invalidSignature("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" +
			s.Date + "' != '" + d + "', from '" + s.Time.Format(amzDate) + "'.")
	}
	return nil
}

// ParseAuthorization parses an Authorization header of the form
//
//	AWS4-HMAC-SHA256 Credential=AKID/20240131/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=<hex>
func ParseAuthorization(h string) (*Signature, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != algorithm {
		return nil, incomplete("Unsupported authorization type; only " + algorithm + " is accepted.")
	}
	s := &Signature{}
	var haveCred, haveHeaders, haveSig bool
	// The parts between commas, as strings.Split(rest, ",") gives them.
	for more := true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ",")
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, incomplete("Authorization header parameters must be of the form name=value.")
		}
		switch k {
		case "Credential":
			if haveCred {
				return nil, incomplete("Authorization header has more than one 'Credential' parameter.")
			}
			haveCred = true
			if err := s.setCredential(v); err != nil {
				return nil, err
			}
		case "SignedHeaders":
			if haveHeaders {
				return nil, incomplete("Authorization header has more than one 'SignedHeaders' parameter.")
			}
			haveHeaders = true
			if err := s.setSignedHeaders(v); err != nil {
				return nil, err
			}
		case "Signature":
			if haveSig {
				return nil, incomplete("Authorization header has more than one 'Signature' parameter.")
			}
			haveSig = true
			if !isHex64(v) {
				return nil, incomplete("Signature must be 64 lower-case hexadecimal characters.")
			}
			s.Signature = v
		default:
			return nil, incomplete("Authorization header has an unknown parameter '" + printable(k) + "'.")
		}
	}
	switch {
	case !haveCred:
		return nil, incomplete("Authorization header requires 'Credential' parameter.")
	case !haveHeaders:
		return nil, incomplete("Authorization header requires 'SignedHeaders' parameter.")
	case !haveSig:
		return nil, incomplete("Authorization header requires 'Signature' parameter.")
	}
	return s, nil
}

func (s *Signature) setCredential(v string) error {
	if strings.Count(v, "/") != 4 {
		return incomplete("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/aws4_request.")
	}
	var parts [5]string
	rest := v
	for i := range 4 {
		parts[i], rest, _ = strings.Cut(rest, "/")
	}
	parts[4] = rest
	if parts[4] != "aws4_request" {
		return incomplete("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/aws4_request.")
	}
	for _, p := range parts {
		if p == "" {
			return incomplete("Credential must not have empty elements.")
		}
	}
	if len(parts[1]) != 8 {
		return incomplete("Credential date must be in the form yyyyMMdd.")
	}
	s.KeyID, s.Date, s.Region, s.Service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

func (s *Signature) setSignedHeaders(v string) error {
	if v == "" {
		return incomplete("SignedHeaders must not be empty.")
	}
	s.SignedHeaders = strings.Split(v, ";")
	for _, h := range s.SignedHeaders {
		if h == "" || h != strings.ToLower(h) || !validHeaderName(h) {
			return incomplete("SignedHeaders must be lower-case header names separated by ';'.")
		}
	}
	if !slices.Contains(s.SignedHeaders, "host") {
		return invalidSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return nil
}

func validHeaderName(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// printable cuts s short and drops what is not printable ASCII, for
// quoting a client's input in a message.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 40; i++ {
		if s[i] >= 0x20 && s[i] < 0x7f {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// Verifier checks signatures against the keys it knows.
type Verifier struct {
	region   string
	keys     *Keys
	sessions *Sessions
	now      func() time.Time

	mu sync.Mutex
	// signers holds one aws-sdk-go-v2 signer per access key: each keeps
	// the key's derived signing key for the day, so that a request costs
	// one HMAC chain per key and day rather than four HMACs each.
	signers map[string]*v4.Signer // guarded by mu
	// derived holds computeFast's signing key per access key.
	derived map[string]*derivedKey // guarded by mu
}

// NewVerifier returns a verifier for requests to region.
func NewVerifier(region string, keys *Keys, sessions *Sessions) *Verifier {
	v := &Verifier{region: region, keys: keys, sessions: sessions, now: time.Now, signers: make(map[string]*v4.Signer), derived: make(map[string]*derivedKey)}
	if keys != nil {
		keys.mu.Lock()
		keys.forget = v.forget
		keys.mu.Unlock()
	}
	if sessions != nil {
		sessions.mu.Lock()
		sessions.forget = v.forget
		sessions.mu.Unlock()
	}
	return v
}

// Pending is a request whose signature's key, scope and time have been
// checked, waiting for its payload's hash.
type Pending struct {
	v      *Verifier
	r      *http.Request
	sig    *Signature
	cred   aws.Credentials
	caller *Caller
}

// Begin checks what can be checked of r's signature before its body is
// read: the key, the scope (region, service) and the time. service is the
// SigV4 service name the endpoint answers to ("lambda", "sts"); "" accepts any.
func (v *Verifier) Begin(r *http.Request, service string) (*Pending, error) {
	sig, err := Parse(r)
	if err != nil {
		return nil, err
	}
	cred, caller, err := v.lookup(sig)
	if err != nil {
		return nil, err
	}
	if sig.Region != v.region {
		return nil, invalidSignature("Credential should be scoped to a valid region. ")
	}
	if service != "" && sig.Service != service {
		return nil, invalidSignature("Credential should be scoped to correct service: '" + service + "'. ")
	}
	now := v.now().UTC()
	skew, skewText := MaxSkew, "5 min."
	if sig.Service == "sts" {
		skew, skewText = stsSkew, "15 min."
	}
	if sig.Presigned {
		if now.Before(sig.Time.Add(-skew)) {
			return nil, invalidSignature("Signature not yet current: " + sig.Time.Format(amzDate) + " is still later than " +
				now.Add(skew).Format(amzDate) + " (" + now.Format(amzDate) + " + " + skewText + ")")
		}
		exp := sig.Expires
		if exp == 0 {
			exp = skew
		}
		if now.After(sig.Time.Add(exp)) {
			return nil, invalidSignature("Signature expired: " + sig.Time.Format(amzDate) + " is now earlier than " +
				now.Add(-exp).Format(amzDate) + " (" + now.Format(amzDate) + " - " + exp.String() + ")")
		}
	} else {
		if sig.Time.Before(now.Add(-skew)) {
			return nil, invalidSignature("Signature expired: " + sig.Time.Format(amzDate) + " is now earlier than " +
				now.Add(-skew).Format(amzDate) + " (" + now.Format(amzDate) + " - " + skewText + ")")
		}
		if sig.Time.After(now.Add(skew)) {
			return nil, invalidSignature("Signature not yet current: " + sig.Time.Format(amzDate) + " is still later than " +
				now.Add(skew).Format(amzDate) + " (" + now.Format(amzDate) + " + " + skewText + ")")
		}
	}
	return &Pending{v: v, r: r, sig: sig, cred: cred, caller: caller}, nil
}

// lookup finds the secret of sig's key and who it belongs to.
func (v *Verifier) lookup(sig *Signature) (aws.Credentials, *Caller, error) {
	if s, ok := v.sessions.lookup(sig.KeyID); ok {
		if sig.Token == "" || subtle.ConstantTimeCompare([]byte(sig.Token), []byte(s.token)) != 1 {
			return aws.Credentials{}, nil, errUnknownKey
		}
		c := s.caller()
		c.KeyID = sig.KeyID
		return aws.Credentials{AccessKeyID: sig.KeyID, SecretAccessKey: s.secret, SessionToken: s.token}, c, nil
	}
	if v.keys == nil {
		return aws.Credentials{}, nil, errUnknownKey
	}
	k, ok := v.keys.Lookup(sig.KeyID)
	if !ok || sig.Token != "" {
		// A long-term key never comes with a session token.
		return aws.Credentials{}, nil, errUnknownKey
	}
	return aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}, k.caller(), nil
}

// NeedsBody reports whether Finish needs the hash of the body: false when
// the signature does not cover it (UNSIGNED-PAYLOAD).
func (p *Pending) NeedsBody() bool { return p.sig.DeclaredHash != UnsignedPayload }

// Finish checks the signature given the hex SHA-256 of the body as
// received (ignored when the signature does not cover the body), and
// returns the caller.
func (p *Pending) Finish(bodyHash string) (*Caller, error) {
	hashes := []string{bodyHash}
	if !p.NeedsBody() {
		hashes = []string{UnsignedPayload}
	} else if p.sig.Presigned && bodyHash == EmptyHash {
		// Presigned URLs for services other than S3 sign the empty body's
		// hash; S3-style ones say UNSIGNED-PAYLOAD.
		hashes = append(hashes, UnsignedPayload)
	}
	for _, h := range hashes {
		got, err := p.v.compute(p.r, p.sig, p.cred, h)
		if err != nil {
			return nil, err
		}
		if equalConstantTime(got, p.sig.Signature) {
			return p.caller, nil
		}
	}
	return nil, errSignature
}

// equalConstantTime reports whether a and b are equal, in a time that
// depends on their lengths only, as subtle.ConstantTimeCompare does,
// without copying them into byte slices.
func equalConstantTime(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := 0; i < len(a); i++ {
		d |= a[i] ^ b[i]
	}
	return subtle.ConstantTimeByteEq(d, 0) == 1
}

// signer returns the signer of key id.
func (v *Verifier) signer(id string) *v4.Signer {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.signers[id]
	if !ok {
		s = v4.NewSigner()
		v.signers[id] = s
	}
	return s
}

// forget drops the signer (and so the derived keys) of key id.
func (v *Verifier) forget(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.signers, id)
	delete(v.derived, id)
}

// compute signs a copy of r made of its signed parts only, as the client
// did, as aws-sdk-go-v2's signer does, and returns the signature.
func (v *Verifier) compute(r *http.Request, sig *Signature, cred aws.Credentials, payloadHash string) (string, error) {
	if got, ok := v.computeFast(r, sig, cred, payloadHash); ok {
		return got, nil
	}
	return v.computeSigner(r, sig, cred, payloadHash)
}

// computeSigner is compute with aws-sdk-go-v2's signer, for every request.
func (v *Verifier) computeSigner(r *http.Request, sig *Signature, cred aws.Credentials, payloadHash string) (string, error) {
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	if sig.Presigned {
		q := u.Query()
		q.Del("X-Amz-Signature")
		u.RawQuery = q.Encode()
	}
	req := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	signedToken := false
	for _, h := range sig.SignedHeaders {
		switch h {
		case "host":
			continue
		case "content-length":
			// The signer signs the request's length itself, and only a
			// positive one.
			req.ContentLength = r.ContentLength
			if r.ContentLength <= 0 {
				req.ContentLength, _ = strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64)
			}
			continue
		case "x-amz-security-token":
			signedToken = true
		}
		vals, ok := r.Header[textproto.CanonicalMIMEHeaderKey(h)]
		if !ok {
			// A signed header that is not there cannot match.
			return "", nil
		}
		req.Header[textproto.CanonicalMIMEHeaderKey(h)] = vals
	}
	opts := func(o *v4.SignerOptions) {
		o.DisableHeaderHoisting = true
		o.DisableSessionToken = !sig.Presigned && !signedToken
	}
	s := v.signer(cred.AccessKeyID)
	ctx := context.Background()
	if sig.Presigned {
		if sig.Token == "" {
			cred.SessionToken = ""
		}
		signed, _, err := s.PresignHTTP(ctx, cred, req, payloadHash, sig.Service, sig.Region, sig.Time, opts)
		if err != nil {
			return "", err
		}
		su, err := url.Parse(signed)
		if err != nil {
			return "", err
		}
		if su.Query().Get("X-Amz-SignedHeaders") != strings.Join(sig.SignedHeaders, ";") {
			return "", nil
		}
		return su.Query().Get("X-Amz-Signature"), nil
	}
	if err := s.SignHTTP(ctx, cred, req, payloadHash, sig.Service, sig.Region, sig.Time, opts); err != nil {
		return "", err
	}
	got, err := ParseAuthorization(req.Header.Get("Authorization"))
	if err != nil {
		return "", nil
	}
	if !slices.Equal(got.SignedHeaders, sig.SignedHeaders) {
		// The client signed a header the SDK's signer never signs (or
		// listed them out of order): not a signature this server can
		// reproduce.
		return "", nil
	}
	return got.Signature, nil
}
