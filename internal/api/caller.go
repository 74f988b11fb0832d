package api

import (
	"net/http"

	"hearth/internal/auth"
)

// account is the account of r's caller: the one whose key signed it, or
// the server's default account under --auth none.
func (a *API) account(r *http.Request) string {
	if c := callerOf(r); c != nil {
		return c.Account
	}
	return a.cfg.Account
}

// caller is r's caller; under --auth none, the default account's root.
func (a *API) caller(r *http.Request) *auth.Caller {
	if c := callerOf(r); c != nil {
		return c
	}
	return &auth.Caller{Account: a.cfg.Account, ARN: "arn:aws:iam::" + a.cfg.Account + ":root", UserID: a.cfg.Account, Root: true}
}

// callerOf is who signed r (see withCaller), or nil.
func callerOf(r *http.Request) *auth.Caller {
	if st := existingState(r); st != nil && st.caller != nil {
		return st.caller
	}
	return auth.CallerOf(r.Context())
}
