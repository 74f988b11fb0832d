package api

import (
	"net/http"

	"hearth/internal/auth"
)

// account is the account of r's caller: the one whose key signed it, or
// the server's default account under --auth none.
func (a *API) account(r *http.Request) string {
	if c := auth.CallerOf(r.Context()); c != nil {
		return c.Account
	}
	return a.cfg.Account
}

// caller is r's caller; under --auth none, the default account's root.
func (a *API) caller(r *http.Request) *auth.Caller {
	if c := auth.CallerOf(r.Context()); c != nil {
		return c
	}
	return &auth.Caller{Account: a.cfg.Account, ARN: "arn:aws:iam::" + a.cfg.Account + ":root", UserID: a.cfg.Account, Root: true}
}
