package function

import (
	"crypto/rand"
	"time"
)

// Auth types and invoke modes of a function URL.
const (
	URLAuthNone    = "NONE"
	URLAuthIAM     = "AWS_IAM"
	InvokeBuffered = "BUFFERED"
	InvokeStream   = "RESPONSE_STREAM"
)

// URLConfig is a function URL: an HTTP endpoint of $LATEST (Qualifier
// "") or of an alias.
type URLConfig struct {
	Account   string `json:"account"`
	Function  string `json:"function"`
	Qualifier string `json:"qualifier,omitempty"` // "" or an alias name
	// ID is the URL's id: its host's first label, 32 lowercase letters
	// and digits, as Lambda's.
	ID         string    `json:"id"`
	AuthType   string    `json:"auth_type"`
	InvokeMode string    `json:"invoke_mode"`
	Cors       *Cors     `json:"cors,omitempty"`
	Created    time.Time `json:"created"`
	Modified   time.Time `json:"modified"`
	// RequiresInvoke is set on every URL created since Hearth follows
	// Lambda's authorization model of October 2025: its callers need
	// lambda:InvokeFunction as well as lambda:InvokeFunctionUrl. A URL
	// stored before has it unset and keeps needing only the latter, as AWS
	// let the URLs that existed then keep working (see AllowsURL). It is
	// not part of the API's answers, and an update keeps it.
	RequiresInvoke bool `json:"requires_invoke,omitempty"`
}

// Cors is a function URL's cross-origin configuration, as given (nil
// members were not given).
type Cors struct {
	AllowCredentials *bool    `json:"allow_credentials,omitempty"`
	AllowHeaders     []string `json:"allow_headers,omitempty"`
	AllowMethods     []string `json:"allow_methods,omitempty"`
	AllowOrigins     []string `json:"allow_origins,omitempty"`
	ExposeHeaders    []string `json:"expose_headers,omitempty"`
	MaxAge           *int     `json:"max_age,omitempty"`
}

// URLIDLen is the length of a function URL's id.
const URLIDLen = 32

// NewURLID returns a random function URL id: 32 characters of [a-z0-9].
func NewURLID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, URLIDLen)
	rand.Read(b)
	for i := range b {
		// 256 is 7*36+4: the bias toward the first four letters is
		// under 2% and the id needs to be unique, not uniform.
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// ValidURLID reports whether s has the form of a function URL id.
func ValidURLID(s string) bool {
	if len(s) != URLIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
