package api

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"hearth/internal/auth"
	"hearth/internal/lambdaapi"
)

// stsTarget starts the X-Amz-Target of STS's JSON protocol.
const stsTarget = "AWSSecurityTokenServiceV20110615."

// sts answers POST / (and GET / with a query): STS GetCallerIdentity in
// the query protocol (the aws CLI's and boto3's form, or a presigned URL)
// and in the JSON protocol; any other X-Amz-Target is another service's
// operation, which Hearth does not serve.
func (a *API) sts(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), logsTarget) {
		a.serveLogs(w, r) // cwlogs.go
		return
	}
	c := a.caller(r)
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		if target != stsTarget+"GetCallerIdentity" {
			a.unknownOperation(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set(lambdaapi.HeaderRequestID, requestID(r))
		json.NewEncoder(w).Encode(map[string]string{"UserId": c.UserID, "Account": a.account(r), "Arn": c.ARN})
		return
	}
	if r.Method == http.MethodGet && !r.URL.Query().Has("Action") {
		a.unknownOperation(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxOtherBody)
	if err := r.ParseForm(); err != nil {
		stsError(w, r, http.StatusBadRequest, "MalformedInput", "Could not parse the request body.")
		return
	}
	form := r.PostForm
	if len(form) == 0 {
		form, _ = url.ParseQuery(r.URL.RawQuery)
	}
	if action := form.Get("Action"); action != "GetCallerIdentity" {
		stsError(w, r, http.StatusBadRequest, "InvalidAction", "Could not find operation "+action+" for version "+form.Get("Version"))
		return
	}
	var doc struct {
		XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetCallerIdentityResponse"`
		Result  struct {
			Arn     string
			UserId  string
			Account string
		} `xml:"GetCallerIdentityResult"`
		Meta struct {
			RequestID string `xml:"RequestId"`
		} `xml:"ResponseMetadata"`
	}
	doc.Result.Arn, doc.Result.UserId, doc.Result.Account, doc.Meta.RequestID = c.ARN, c.UserID, a.account(r), requestID(r)
	b, _ := xml.Marshal(doc)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set(lambdaapi.HeaderRequestID, requestID(r))
	w.Write(b)
}

// managing wraps the handlers of accounts, keys and roles: root only, and
// only where there are keys.
func (a *API) managing(h http.HandlerFunc) http.HandlerFunc {
	return a.rootOnly(func(w http.ResponseWriter, r *http.Request) {
		if a.keys == nil {
			a.fail(w, r, lambdaapi.ErrInvalidParameter.WithMessage("This server runs with --auth none: it has no accounts or keys to manage."))
			return
		}
		h(w, r)
	})
}

// rootOnly refuses callers that may not manage the server: accounts,
// keys, roles, and the views of every account's environments and events.
// Under --auth none every caller is root.
func (a *API) rootOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.caller(r).Root {
			a.fail(w, r, lambdaapi.ErrForbidden.WithMessage("Only a root key of the server's default account may do this."))
			return
		}
		h(w, r)
	}
}

// keyInfo is a key as listed: never its secret.
type keyInfo struct {
	AccessKeyID string `json:"access_key_id"`
	Account     string `json:"account"`
	Name        string `json:"name,omitempty"`
	Root        bool   `json:"root"`
	Created     string `json:"created"`
}

func infoOf(k auth.Key) keyInfo {
	return keyInfo{AccessKeyID: k.ID, Account: k.Account, Name: k.Name, Root: k.Root, Created: k.Created.Format("2006-01-02T15:04:05Z")}
}

func (a *API) listAccounts(w http.ResponseWriter, r *http.Request) {
	a.reply(w, r, http.StatusOK, struct {
		Accounts []auth.Account `json:"accounts"`
	}{a.keys.Accounts()})
}

func (a *API) createAccount(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if !a.decode(w, r, &in) {
		return
	}
	if a.cfg.OneAccount != "" {
		a.fail(w, r, lambdaapi.ErrInvalidParameter.WithMessage(a.cfg.OneAccount))
		return
	}
	acct, err := a.keys.CreateAccount(r.Context(), in.ID, in.Name)
	if err != nil {
		a.fail(w, r, keysError(err))
		return
	}
	// A new account comes with its first key, so that it can be used.
	key, err := a.keys.CreateKey(r.Context(), acct.ID, "", false)
	if err != nil {
		a.fail(w, r, keysError(err))
		return
	}
	a.log.Info("account created", "account", acct.ID, "by", a.caller(r).ARN, "access_key_id", key.ID)
	a.reply(w, r, http.StatusCreated, struct {
		Account auth.Account `json:"account"`
		Key     newKey       `json:"key"`
	}{acct, newKeyOf(key)})
}

func (a *API) deleteAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == a.cfg.Account {
		a.fail(w, r, lambdaapi.ErrInvalidParameter.WithMessage("The server's default account cannot be deleted."))
		return
	}
	if err := a.keys.DeleteAccount(r.Context(), id); err != nil {
		a.fail(w, r, keysError(err))
		return
	}
	a.log.Info("account deleted", "account", id, "by", a.caller(r).ARN)
	a.noContent(w, r)
}

// newKey is a key as created: the only time its secret is shown.
type newKey struct {
	keyInfo
	SecretAccessKey string `json:"secret_access_key"`
}

func newKeyOf(k auth.Key) newKey { return newKey{infoOf(k), k.Secret} }

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := a.keys.Account(id); !ok {
		a.fail(w, r, lambdaapi.ErrNotFound.WithMessage("Account not found: "+id))
		return
	}
	out := []keyInfo{}
	for _, k := range a.keys.KeysOf(id) {
		out = append(out, infoOf(k))
	}
	a.reply(w, r, http.StatusOK, struct {
		Keys []keyInfo `json:"keys"`
	}{out})
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
		Root bool   `json:"root"`
	}
	if !a.decode(w, r, &in) {
		return
	}
	if in.Root && r.PathValue("id") != a.cfg.Account {
		// A root key manages every account: it belongs to the server's.
		a.fail(w, r, lambdaapi.ErrInvalidParameter.WithMessage("Only the server's default account ("+a.cfg.Account+") has root keys; they manage every account."))
		return
	}
	key, err := a.keys.CreateKey(r.Context(), r.PathValue("id"), in.Name, in.Root)
	if err != nil {
		a.fail(w, r, keysError(err))
		return
	}
	a.log.Info("access key created", "account", key.Account, "access_key_id", key.ID, "root", key.Root, "by", a.caller(r).ARN)
	a.reply(w, r, http.StatusCreated, newKeyOf(key))
}

func (a *API) deleteKey(w http.ResponseWriter, r *http.Request) {
	id, kid := r.PathValue("id"), r.PathValue("key")
	k, ok := a.keys.Lookup(kid)
	if !ok || k.Account != id {
		a.fail(w, r, lambdaapi.ErrNotFound.WithMessage("Access key not found: "+kid))
		return
	}
	if kid == a.caller(r).KeyID {
		a.fail(w, r, lambdaapi.ErrInvalidParameter.WithMessage("A key cannot delete itself; sign the request with another root key."))
		return
	}
	if err := a.keys.DeleteKey(r.Context(), kid); err != nil {
		a.fail(w, r, keysError(err))
		return
	}
	a.log.Info("access key deleted", "account", id, "access_key_id", kid, "by", a.caller(r).ARN)
	a.noContent(w, r)
}

func keysError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return lambdaapi.ErrNotFound.WithMessage(strings.TrimPrefix(msg, "not found: "))
	case errors.Is(err, auth.ErrExists):
		return lambdaapi.ErrConflict.WithMessage(strings.TrimPrefix(msg, "already exists: "))
	case errors.Is(err, auth.ErrInvalid):
		return lambdaapi.ErrInvalidParameter.WithMessage(strings.TrimPrefix(msg, "invalid: "))
	}
	return err
}

// roleInfo is a role as listed: never its secret.
type roleInfo struct {
	ARN         string `json:"arn"`
	AccessKeyID string `json:"access_key_id"`
	Temporary   bool   `json:"temporary"`
	Created     string `json:"created"`
}

func (a *API) listRoles(w http.ResponseWriter, r *http.Request) {
	out := []roleInfo{}
	for _, role := range a.keys.Roles() {
		out = append(out, roleInfo{role.ARN, role.AccessKeyID, role.SessionToken != "", role.Created.Format("2006-01-02T15:04:05Z")})
	}
	a.reply(w, r, http.StatusOK, struct {
		Roles []roleInfo `json:"roles"`
	}{out})
}

// setRole attaches AWS credentials to a role ARN.
func (a *API) setRole(w http.ResponseWriter, r *http.Request) {
	var role auth.Role
	if !a.decode(w, r, &role) {
		return
	}
	if err := a.keys.SetRole(r.Context(), role); err != nil {
		a.fail(w, r, keysError(err))
		return
	}
	a.log.Info("credentials attached to role", "role", role.ARN, "access_key_id", role.AccessKeyID, "by", a.caller(r).ARN)
	a.noContent(w, r)
}

func (a *API) deleteRole(w http.ResponseWriter, r *http.Request) {
	arn := r.URL.Query().Get("arn")
	if err := a.keys.DeleteRole(r.Context(), arn); err != nil {
		a.fail(w, r, keysError(err))
		return
	}
	a.log.Info("credentials detached from role", "role", arn, "by", a.caller(r).ARN)
	a.noContent(w, r)
}
