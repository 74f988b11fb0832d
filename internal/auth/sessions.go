package auth

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync"
)

// Credentials are temporary credentials handed to an execution
// environment, in the variables SDKs read.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// Env returns the environment variables that carry c.
func (c Credentials) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + c.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + c.SessionToken,
		"AWS_ACCESS_KEY=" + c.AccessKeyID, // the legacy name Lambda sets too
	}
}

// Sessions holds the temporary credentials of live environments. They are
// valid exactly while their environment lives: Revoke ends them when it
// goes. They are not stored: no environment outlives the server.
type Sessions struct {
	mu       sync.RWMutex
	sessions map[string]*session // guarded by mu; by access key id
	forget   func(id string)     // called (outside mu) when a session ends
}

type session struct {
	account string
	role    string // the function's execution role ARN
	name    string // the session name (the function's)
	secret  string
	token   string
}

// NewSessions returns an empty set.
func NewSessions() *Sessions { return &Sessions{sessions: map[string]*session{}} }

// Issue creates credentials for an environment of a function of account
// with execution role role (an ARN), named sessionName.
func (s *Sessions) Issue(account, role, sessionName string) Credentials {
	c := Unregistered()
	s.mu.Lock()
	s.sessions[c.AccessKeyID] = &session{account: account, role: role, name: sessionName, secret: c.SecretAccessKey, token: c.SessionToken}
	s.mu.Unlock()
	return c
}

// Unregistered returns temporary credentials of the form Issue gives that
// no Sessions knows, so nothing accepts them. Under --auth none, where
// environments cannot reach Hearth's API, a function still finds
// credentials in its environment, as Lambda always gives it (code reads
// the variables), and they open nothing.
func Unregistered() Credentials {
	b := make([]byte, 96)
	rand.Read(b)
	return Credentials{AccessKeyID: NewKeyID("ASIA"), SecretAccessKey: NewSecret(), SessionToken: "HTH" + base64.StdEncoding.EncodeToString(b)}
}

// Revoke ends the credentials with access key id.
func (s *Sessions) Revoke(id string) {
	s.mu.Lock()
	delete(s.sessions, id)
	forget := s.forget
	s.mu.Unlock()
	if forget != nil {
		forget(id)
	}
}

func (s *Sessions) lookup(id string) (*session, bool) {
	if s == nil || !strings.HasPrefix(id, "ASIA") {
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss, ok := s.sessions[id]
	return ss, ok
}

// Len is the number of live sessions.
func (s *Sessions) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions)
}

func (ss *session) caller() *Caller {
	role := ss.role
	if i := strings.LastIndex(role, "/"); i >= 0 {
		role = role[i+1:]
	}
	if role == "" {
		role = "hearth-function"
	}
	return &Caller{
		Account: ss.account,
		ARN:     "arn:aws:sts::" + ss.account + ":assumed-role/" + role + "/" + ss.name,
		UserID:  "AROA" + ss.account + ":" + ss.name,
	}
}
