package api

import "net/http"

// account returns the account of r's caller, which owns what r creates and
// is the only account whose functions r can see.
func (a *API) account(r *http.Request) string {
	return a.cfg.Account
}
