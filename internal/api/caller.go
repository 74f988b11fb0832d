package api

import "net/http"

// account is the account a request acts for: what it creates is that
// account's, and what it names without an account is looked up there.
func (a *API) account(r *http.Request) string {
	return a.cfg.Account
}
