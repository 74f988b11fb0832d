package api

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"hearth/internal/auth"
)

// The console (/console/) is a page of plain HTML, CSS and JavaScript that
// calls the API the CLI and SDKs call. A browser cannot sign with SigV4
// without holding the secret key, so it signs in with a session instead:
//
//  1. hearth console, signed with a root key, asks the server for a login
//     token (POST /_hearth/v1/console/logins, root only). The token is
//     random, used once, and good for loginTTL.
//  2. The browser opens /console/login?token=…, which swaps it for a
//     session cookie: HttpOnly (scripts cannot read it), SameSite=Strict
//     (no other site's page can make the browser send it), Path=/.
//  3. Requests carrying the cookie act as the key that asked for the
//     token, if they also carry X-Hearth-Console: 1. A page on another
//     origin cannot add that header without a CORS preflight, which
//     Hearth never grants, so a forged form post carries the cookie (if
//     at all) without it: that is the CSRF check. The Guard's rules
//     still hold: a browser's request from an origin other than the
//     server's own is refused, and on loopback so is any Host that is
//     not a loopback name (DNS rebinding).
//
// Sessions live in memory: a restart signs every console out.

//go:embed console
var consoleFiles embed.FS

const (
	consoleCookie = "hearth_console"
	// ConsoleHeader must accompany requests authenticated by the
	// console's cookie.
	ConsoleHeader = "X-Hearth-Console"
	loginTTL      = 2 * time.Minute
	sessionTTL    = 12 * time.Hour
	maxSessions   = 64
	maxLogins     = 64
)

// consoleAuth holds the console's login tokens and sessions, by the
// SHA-256 of their secret so that a map lookup's timing says nothing
// about the secret itself.
type consoleAuth struct {
	mu       sync.Mutex
	logins   map[[32]byte]consoleGrant // guarded by mu
	sessions map[[32]byte]consoleGrant // guarded by mu
}

type consoleGrant struct {
	caller  *auth.Caller
	expires time.Time
}

func newSecretToken() (string, [32]byte) {
	b := make([]byte, 32)
	rand.Read(b)
	t := hex.EncodeToString(b)
	return t, sha256.Sum256([]byte(t))
}

// grant stores a new token for c in m, dropping expired ones and, past
// limit, the one closest to expiring.
func (ca *consoleAuth) grant(m *map[[32]byte]consoleGrant, c *auth.Caller, ttl time.Duration, limit int) string {
	t, h := newSecretToken()
	now := time.Now()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if *m == nil {
		*m = make(map[[32]byte]consoleGrant)
	}
	var soonest [32]byte
	var soonestAt time.Time
	for k, g := range *m {
		if now.After(g.expires) {
			delete(*m, k)
			continue
		}
		if soonestAt.IsZero() || g.expires.Before(soonestAt) {
			soonest, soonestAt = k, g.expires
		}
	}
	if len(*m) >= limit {
		delete(*m, soonest)
	}
	(*m)[h] = consoleGrant{caller: c, expires: now.Add(ttl)}
	return t
}

// redeemLogin takes a login token (once) and returns a new session.
func (ca *consoleAuth) redeemLogin(token string) (string, bool) {
	h := sha256.Sum256([]byte(token))
	ca.mu.Lock()
	g, ok := ca.logins[h]
	delete(ca.logins, h)
	ca.mu.Unlock()
	if !ok || time.Now().After(g.expires) {
		return "", false
	}
	return ca.grant(&ca.sessions, g.caller, sessionTTL, maxSessions), true
}

func (ca *consoleAuth) session(token string) (*auth.Caller, bool) {
	h := sha256.Sum256([]byte(token))
	ca.mu.Lock()
	defer ca.mu.Unlock()
	g, ok := ca.sessions[h]
	if !ok || time.Now().After(g.expires) {
		return nil, false
	}
	return g.caller, true
}

func (ca *consoleAuth) end(token string) {
	h := sha256.Sum256([]byte(token))
	ca.mu.Lock()
	delete(ca.sessions, h)
	ca.mu.Unlock()
}

// consoleCaller returns the caller of a request the console's session
// authenticates: it has the cookie and the console's header, and no
// signature of its own.
func (a *API) consoleCaller(r *http.Request) (*auth.Caller, bool) {
	if r.Header.Get(ConsoleHeader) == "" || r.Header.Get("Authorization") != "" {
		return nil, false
	}
	ck, err := r.Cookie(consoleCookie)
	if err != nil {
		return nil, false
	}
	return a.console.session(ck.Value)
}

// createConsoleLogin answers a root caller with a one-time login path.
func (a *API) createConsoleLogin(w http.ResponseWriter, r *http.Request) {
	if a.verifier == nil {
		a.reply(w, r, http.StatusOK, struct {
			Path string `json:"path"`
		}{"/console/"})
		return
	}
	t := a.console.grant(&a.console.logins, a.caller(r), loginTTL, maxLogins)
	a.reply(w, r, http.StatusOK, struct {
		Path      string    `json:"path"`
		ExpiresAt time.Time `json:"expires_at"`
	}{"/console/login?token=" + t, time.Now().Add(loginTTL).UTC()})
}

// consoleLogin swaps a login token for a session cookie.
func (a *API) consoleLogin(w http.ResponseWriter, r *http.Request) {
	s, ok := a.console.redeemLogin(r.URL.Query().Get("token"))
	if !ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte("This login link is invalid, used or expired. Run hearth console for a new one.\n"))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: s, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(sessionTTL.Seconds())})
	w.Header().Set("Cache-Control", "no-store")
	// The token leaves the address bar.
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

// consoleLogout ends the session. It needs the console's header, so that
// another site cannot sign the visitor out.
func (a *API) consoleLogout(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(ConsoleHeader) == "" {
		a.fail(w, r, invalid("the console's header is missing"))
		return
	}
	if ck, err := r.Cookie(consoleCookie); err == nil {
		a.console.end(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// consoleAssets serves the console's files. They hold no data: the page
// fetches everything it shows through the API, as its session.
func (a *API) consoleAssets() http.HandlerFunc {
	sub, _ := fs.Sub(consoleFiles, "console")
	files := http.StripPrefix("/console/", http.FileServerFS(sub))
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}
}

func consoleRedirect(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
}

// consolePath reports whether path is one of the console's pages, served
// without authentication (they hold no data).
func consolePath(path string) bool {
	return path == "/console" || strings.HasPrefix(path, "/console/")
}
