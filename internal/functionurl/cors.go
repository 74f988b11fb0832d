package functionurl

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"hearth/internal/function"
)

// How the answers below treat the corners of a Cors configuration is
// UNCONFIRMED against Lambda (lambda-api.md §10): "*" with
// AllowCredentials echoes the request's origin (browsers refuse "*" with
// credentials), a preflight for an origin or method not allowed gets no
// Access-Control headers, and the configuration's headers replace those
// the function set.

// IsPreflight reports whether r is a CORS preflight request: OPTIONS with
// Origin and Access-Control-Request-Method. A URL with a Cors
// configuration answers it itself, without invoking the function.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// allowedOrigin returns the Access-Control-Allow-Origin value for origin,
// or "" when the configuration does not allow it.
func allowedOrigin(c *function.Cors, origin string) string {
	if origin == "" {
		return ""
	}
	credentials := c.AllowCredentials != nil && *c.AllowCredentials
	for _, o := range c.AllowOrigins {
		switch {
		case o == "*" && !credentials:
			return "*"
		case o == "*", strings.EqualFold(strings.TrimSuffix(o, "/"), origin):
			return origin
		}
	}
	return ""
}

// Preflight writes the headers of the answer to a preflight request for
// c into h: none when the origin or the requested method is not allowed,
// which the browser takes as a refusal.
func Preflight(h http.Header, c *function.Cors, r *http.Request) {
	origin := allowedOrigin(c, r.Header.Get("Origin"))
	method := r.Header.Get("Access-Control-Request-Method")
	if origin == "" || !slices.ContainsFunc(c.AllowMethods, func(m string) bool { return m == "*" || strings.EqualFold(m, method) }) {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", strings.Join(c.AllowMethods, ","))
	if len(c.AllowHeaders) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(c.AllowHeaders, ","))
	}
	if c.AllowCredentials != nil && *c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if c.MaxAge != nil && *c.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(*c.MaxAge))
	}
	h.Add("Vary", "Origin")
}

// AddCORS writes the CORS headers of an actual (not preflight) response
// into h, over any the function set: the configuration decides.
func AddCORS(h http.Header, c *function.Cors, r *http.Request) {
	origin := allowedOrigin(c, r.Header.Get("Origin"))
	if origin == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if c.AllowCredentials != nil && *c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if len(c.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposeHeaders, ","))
	}
	h.Add("Vary", "Origin")
}
