package api

import (
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"hearth/internal/lambdaapi"
)

// GuardConfig says which browsers and host names may reach the API.
type GuardConfig struct {
	// AllowedOrigins are the values of a browser's Origin header the API
	// serves ("https://console.example.com"); "*" allows every origin.
	// Requests without an Origin header (the aws CLI, the SDKs, curl) are
	// not affected.
	AllowedOrigins []string
	// LoopbackOnly refuses requests whose Host header is not a loopback
	// name or address. Set it when the API listens on loopback only.
	LoopbackOnly bool
}

// Guard refuses the requests a web page could make on a visitor's behalf:
// a page on any site can send a "simple" cross-origin POST (text/plain, no
// preflight) to 127.0.0.1, and a site whose name resolves to 127.0.0.1
// (DNS rebinding) can even read the answers. Browsers always say where such
// a request comes from (Origin) and which name they connected to (Host);
// the aws CLI and the SDKs send no Origin and name the address they dial.
func Guard(cfg GuardConfig, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && !originAllowed(cfg.AllowedOrigins, origin) && !consoleOrigin(r, origin) {
			lambdaapi.ErrForbidden.WithMessage("Requests from web origin "+origin+
				" are not allowed; the server's --allowed-origins lists the origins it serves.").Write(w, requestID(r))
			return
		}
		if cfg.LoopbackOnly && r.URL.Path != "/healthz" && !loopbackHost(r.Host) {
			lambdaapi.ErrForbidden.WithMessage("Host "+r.Host+
				" is not a loopback name or address; this server listens on loopback only.").Write(w, requestID(r))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// consoleOrigin reports whether r comes from the server's own console: its
// Origin is the server's own (the scheme and the Host it was sent to) and
// it carries the console's header, which a page of another origin cannot
// add without a preflight Hearth never grants.
func consoleOrigin(r *http.Request, origin string) bool {
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return r.Header.Get(ConsoleHeader) != "" && strings.EqualFold(origin, scheme+r.Host)
}

func originAllowed(allowed []string, origin string) bool {
	return slices.Contains(allowed, "*") || slices.Contains(allowed, strings.TrimSuffix(origin, "/"))
}

// loopbackHost reports whether host (a Host header, port optional) names
// this machine's loopback: localhost, a name under .localhost (RFC 6761
// keeps those on loopback), or a loopback address.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bodyProgress is how much of a body must arrive within each body
// timeout.
const bodyProgress = 64 << 10

// BodyTimeout cuts off a client that sends its request body too slowly: the
// body must deliver bodyProgress bytes (or end) within each timeout, or
// the read fails and the connection closes. The deadline is set when the
// handler first reads and moves on with progress, so a large upload on a
// slow link is not cut off, as a fixed http.Server.ReadTimeout would. It
// is cleared when the body ends (net/http clears it too, as it starts
// watching the connection for the client going away) and never set again
// for the request, so that a long invocation is not cut off.
func BodyTimeout(timeout time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if timeout > 0 && r.Body != nil && r.Body != http.NoBody {
			r.Body = &deadlineBody{ReadCloser: r.Body, ctl: http.NewResponseController(w), timeout: timeout}
		}
		h.ServeHTTP(w, r)
	})
}

type deadlineBody struct {
	io.ReadCloser
	ctl     *http.ResponseController
	timeout time.Duration
	credit  int64 // bytes still to arrive before the deadline moves on
	ended   bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.ended {
		return b.ReadCloser.Read(p)
	}
	if b.credit <= 0 {
		b.ctl.SetReadDeadline(time.Now().Add(b.timeout))
		b.credit = bodyProgress
	}
	n, err := b.ReadCloser.Read(p)
	b.credit -= int64(n)
	if err == io.EOF {
		b.ended = true
		b.ctl.SetReadDeadline(time.Time{})
	}
	return n, err
}
