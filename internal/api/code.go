package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"hearth/internal/function"
	"hearth/internal/lambdaapi"
)

// codeURLLifetime is how long a GetFunction Code.Location stays valid, as
// Lambda's presigned S3 URLs do.
const codeURLLifetime = 10 * time.Minute

// codeURL returns a signed URL on this server that downloads cfg's package.
func (a *API) codeURL(r *http.Request, cfg *function.Config) string {
	return a.downloadURL(r, cfg.Name, cfg.CodeSha256)
}

// downloadURL returns a signed URL on this server that downloads the
// package sha as name.zip (a function's, or a layer version's).
func (a *API) downloadURL(r *http.Request, name, sha string) string {
	expires := strconv.FormatInt(time.Now().Add(codeURLLifetime).Unix(), 10)
	q := url.Values{"sha": {sha}, "expires": {expires}, "sig": {a.codeSig(name, sha, expires)}}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/_hearth/v1/code/" + url.PathEscape(name) + "?" + q.Encode()
}

func (a *API) codeSig(name, sha, expires string) string {
	m := hmac.New(sha256.New, a.codeKey)
	m.Write([]byte(name + "\x00" + sha + "\x00" + expires))
	return hex.EncodeToString(m.Sum(nil))
}

func (a *API) downloadCode(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, sha, expires := r.PathValue("name"), q.Get("sha"), q.Get("expires")
	exp, err := strconv.ParseInt(expires, 10, 64)
	denied := lambdaapi.Error{Status: http.StatusForbidden, Code: "AccessDenied", Type: "User", Message: "Request has expired or its signature is invalid"}
	if err != nil || time.Now().Unix() > exp || !hmac.Equal([]byte(q.Get("sig")), []byte(a.codeSig(name, sha, expires))) {
		a.fail(w, r, &denied)
		return
	}
	// Streamed: a package may be 50 MB, and several downloads at once
	// must not hold them all in memory.
	rc, size, err := a.store.OpenCode(r.Context(), sha)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.zip"`)
	io.Copy(w, rc)
}
