package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"hearth/internal/function"
	"hearth/internal/lambdaapi"
	"hearth/internal/store"
)

// The function URL configuration operations. A URL belongs to $LATEST (no
// qualifier) or to an alias, never to a version: the model's pattern
// refuses digits, and $LATEST, in Qualifier; urlTarget refuses them in the
// function name too.

// urlQualifierPattern is the model's FunctionUrlQualifier pattern, quoted
// in the validation message.
const urlQualifierPattern = `((?!^\d+$)^[0-9a-zA-Z-_]+$)`

// errNoURLConfig is Lambda's answer for a function or alias without a URL.
var errNoURLConfig = lambdaapi.ErrNotFound.WithMessage("The resource you requested does not exist.")

// urlTarget resolves {FunctionName} and Qualifier of a URL operation to
// the caller's function and the alias ("" for $LATEST), which must exist.
func (a *API) urlTarget(r *http.Request) (function.Config, string, error) {
	ref, err := a.functionRef(r, r.PathValue("FunctionName"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return function.Config{}, "", err
	}
	q := ref.Qualifier
	if q == function.Latest || function.IsVersionNumber(q) {
		return function.Config{}, "", lambdaapi.ErrValidation.WithMessage("1 validation error detected: Value '" + q +
			"' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: " + urlQualifierPattern)
	}
	// A missing function or alias: Create and Update say "Function does
	// not exist", Get and Delete that the resource does not exist
	// (recorded: TestLambdaUrl::test_url_config_exceptions).
	missing := errNoURLConfig
	if op := operationName(r); op == "CreateFunctionUrlConfig" || op == "UpdateFunctionUrlConfig" {
		missing = lambdaapi.ErrNotFound.WithMessage("Function does not exist")
	}
	account := a.account(r)
	cfg, err := a.store.Function(account, ref.Name)
	if err != nil {
		return function.Config{}, "", missing
	}
	if q != "" {
		if _, err := a.store.Alias(account, ref.Name, q); err != nil {
			return function.Config{}, "", missing
		}
	}
	return cfg, q, nil
}

// FunctionURL is the URL clients reach a function URL of id at.
func (a *API) FunctionURL(id string) string {
	if a.cfg.FunctionURL != nil {
		return a.cfg.FunctionURL(id)
	}
	return "http://" + id + ".lambda-url." + a.cfg.Region + ".localhost/"
}

// urlConfig renders u; Create's answer has no LastModifiedTime.
func (a *API) urlConfig(u *function.URLConfig, created bool) lambdaapi.FunctionUrlConfig {
	out := lambdaapi.FunctionUrlConfig{
		FunctionUrl:  a.FunctionURL(u.ID),
		FunctionArn:  function.ARN(a.cfg.Region, u.Account, u.Function, u.Qualifier),
		AuthType:     u.AuthType,
		CreationTime: lambdaapi.FormatTime(u.Created),
		InvokeMode:   u.InvokeMode,
	}
	if !created {
		out.LastModifiedTime = lambdaapi.FormatTime(u.Modified)
	}
	if c := u.Cors; c != nil {
		out.Cors = &lambdaapi.Cors{AllowCredentials: c.AllowCredentials, AllowHeaders: c.AllowHeaders, AllowMethods: c.AllowMethods,
			AllowOrigins: c.AllowOrigins, ExposeHeaders: c.ExposeHeaders, MaxAge: c.MaxAge}
	}
	return out
}

func corsOf(c *lambdaapi.Cors) *function.Cors {
	if c == nil {
		return nil
	}
	return &function.Cors{AllowCredentials: c.AllowCredentials, AllowHeaders: c.AllowHeaders, AllowMethods: c.AllowMethods,
		AllowOrigins: c.AllowOrigins, ExposeHeaders: c.ExposeHeaders, MaxAge: c.MaxAge}
}

func (a *API) createFunctionURLConfig(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.FunctionUrlConfigInput
	if !a.decode(w, r, &in) {
		return
	}
	cfg, alias, err := a.urlTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	now := time.Now()
	u := function.URLConfig{Account: cfg.Account, Function: cfg.Name, Qualifier: alias, ID: function.NewURLID(),
		AuthType: deref(in.AuthType), InvokeMode: function.InvokeBuffered, Cors: corsOf(in.Cors), Created: now, Modified: now,
		RequiresInvoke: true}
	if in.InvokeMode != nil {
		u.InvokeMode = *in.InvokeMode
	}
	if err := a.store.CreateURLConfig(r.Context(), u); err != nil {
		if errors.Is(err, store.ErrExists) {
			err = lambdaapi.ErrConflict.WithMessage("Failed to create function url config for [functionArn = " +
				function.ARN(a.cfg.Region, cfg.Account, cfg.Name, alias) + "]. Error message:  FunctionUrlConfig exists for this Lambda function")
		}
		a.fail(w, r, err)
		return
	}
	if a.cfg.FunctionURL == nil {
		a.log.Warn("function URL created, but this server serves no function URLs: start it with --url-addr", "function", cfg.Name, "url", a.FunctionURL(u.ID))
	}
	a.reply(w, r, http.StatusCreated, a.urlConfig(&u, true))
}

func (a *API) getFunctionURLConfig(w http.ResponseWriter, r *http.Request) {
	cfg, alias, err := a.urlTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.store.URLConfig(cfg.Account, cfg.Name, alias)
	if err != nil {
		a.fail(w, r, errNoURLConfig)
		return
	}
	a.reply(w, r, http.StatusOK, a.urlConfig(&u, false))
}

func (a *API) updateFunctionURLConfig(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.FunctionUrlConfigInput
	if !a.decode(w, r, &in) {
		return
	}
	cfg, alias, err := a.urlTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.store.UpdateURLConfig(r.Context(), cfg.Account, cfg.Name, alias, func(u *function.URLConfig) error {
		if in.AuthType != nil {
			u.AuthType = *in.AuthType
		}
		if in.InvokeMode != nil {
			u.InvokeMode = *in.InvokeMode
		}
		if in.Cors != nil {
			u.Cors = corsOf(in.Cors)
		}
		u.Modified = time.Now()
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = errNoURLConfig
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusOK, a.urlConfig(&u, false))
}

func (a *API) deleteFunctionURLConfig(w http.ResponseWriter, r *http.Request) {
	cfg, alias, err := a.urlTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.store.DeleteURLConfig(r.Context(), cfg.Account, cfg.Name, alias); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = errNoURLConfig
		}
		a.fail(w, r, err)
		return
	}
	a.noContent(w, r)
}

// listFunctionURLConfigs lists the URLs of $LATEST and the aliases. The
// marker is the last item's qualifier.
func (a *API) listFunctionURLConfigs(w http.ResponseWriter, r *http.Request) {
	cfg, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, rewordNotFound(err, "Function does not exist")) // recorded: TestLambdaUrl::test_url_config_list_paging
		return
	}
	q := r.URL.Query()
	limit := 50
	if s := q.Get("MaxItems"); s != "" {
		limit = atoiOr(s, 50) // the router has checked 1..50
	}
	after, hasMarker := "", false
	if m := q.Get("Marker"); m != "" {
		b, err := base64.RawURLEncoding.DecodeString(m)
		if err != nil || len(b) == 0 || b[0] != 'u' {
			a.fail(w, r, invalid("Invalid Marker"))
			return
		}
		after, hasMarker = string(b[1:]), true
	}
	out := lambdaapi.ListFunctionUrlConfigsOutput{FunctionUrlConfigs: []lambdaapi.FunctionUrlConfig{}}
	items := a.store.URLConfigs(cfg.Account, cfg.Name)
	for i := range items {
		if hasMarker && items[i].Qualifier <= after {
			continue
		}
		if len(out.FunctionUrlConfigs) == limit {
			out.NextMarker = base64.RawURLEncoding.EncodeToString([]byte("u" + items[i-1].Qualifier))
			break
		}
		out.FunctionUrlConfigs = append(out.FunctionUrlConfigs, a.urlConfig(&items[i], false))
	}
	a.reply(w, r, http.StatusOK, out)
}

func atoiOr(s string, def int) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' || n > 1<<20 {
			return def
		}
		n = n*10 + int(c-'0')
	}
	return n
}
