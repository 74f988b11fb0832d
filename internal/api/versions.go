package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
	"hearth/internal/store"
)

// publish publishes a version of account's function name from its
// $LATEST, or returns the newest version when $LATEST has not changed
// since it was published, as Lambda does. codeSha and revision are
// PublishVersion's preconditions; description overrides $LATEST's.
func (a *API) publish(ctx context.Context, account, name string, codeSha, revision, description *string) (function.Config, error) {
	arn := function.ARN(a.cfg.Region, account, name, "")
	v, created, err := a.store.Publish(ctx, account, name, func(latest function.Config, versions []function.Config) (*function.Config, *function.Config, error) {
		if revision != nil && *revision != latest.RevisionID {
			return nil, nil, lambdaapi.ErrPreconditionFailed.WithMessage("The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
		}
		if codeSha != nil && *codeSha != latest.CodeSha256 {
			return nil, nil, invalid(fmt.Sprintf("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.", *codeSha, latest.CodeSha256)) // AWS's words (quoted in justinram11/serverless-aws-batch#22)
		}
		if latest.State == function.StateFailed {
			return nil, nil, lambdaapi.ErrConflict.WithMessage("The operation cannot be performed at this time. The function is currently in the following state: Failed") // wording UNCONFIRMED
		}
		if n := len(versions); n > 0 && versions[n-1].PublishedFrom == latest.RevisionID {
			return nil, &versions[n-1], nil
		}
		if len(versions) >= function.MaxVersions {
			return nil, nil, lambdaapi.ErrCodeStorageExceeded.WithMessage(fmt.Sprintf("%s has %d versions, Hearth's limit; delete old versions before publishing more.", arn, function.MaxVersions))
		}
		v := latest
		// Reserved concurrency is the function's, never a version's.
		v.LastVersion, v.Tags, v.EventInvoke, v.ReservedConcurrency = 0, nil, nil, nil
		if description != nil {
			v.Description = *description
		}
		v.PublishedFrom = latest.RevisionID
		v.RevisionID, v.LastModified = invoke.NewRequestID(), time.Now()
		v.State, v.StateReason, v.StateReasonCode = function.StatePending, "The function is being created.", "Creating"
		v.LastUpdateStatus, v.LastUpdateStatusReason, v.LastUpdateStatusReasonCode = function.UpdateInProgress, "", ""
		return &v, nil, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = lambdaapi.ErrNotFound.WithMessage("Function not found: " + arn)
	}
	if err != nil {
		return function.Config{}, err
	}
	if created {
		a.activate(account, name, v.Version, v.RevisionID)
	}
	return v, nil
}

func (a *API) publishVersion(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.PublishVersionInput
	if !a.decode(w, r, &in) {
		return
	}
	cfg, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := a.publish(r.Context(), cfg.Account, cfg.Name, in.CodeSha256, in.RevisionId, in.Description)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusCreated, a.configuration(&v, false))
}

// page is a list operation's Marker and MaxItems.
type page struct {
	after string // the last item of the previous page; "" for the first
	limit int
}

// pageOf reads Marker and MaxItems (at most 50 items a page).
func pageOf(r *http.Request) (page, error) {
	q := r.URL.Query()
	p := page{limit: 50}
	if s := q.Get("MaxItems"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return page{}, invalid(fmt.Sprintf("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000", s))
		}
		p.limit = min(n, 50)
	}
	if m := q.Get("Marker"); m != "" {
		b, err := base64.RawURLEncoding.DecodeString(m)
		if err != nil || len(b) == 0 {
			return page{}, invalid("Invalid Marker")
		}
		p.after = string(b)
	}
	return p, nil
}

func marker(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func (a *API) listVersions(w http.ResponseWriter, r *http.Request) {
	p, err := pageOf(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	latest, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	all := append([]function.Config{latest}, a.store.Versions(latest.Account, latest.Name)...)
	start := 0
	if p.after != "" {
		start = slices.IndexFunc(all, func(c function.Config) bool { return c.Version == p.after }) + 1
		if start == 0 {
			// The version the marker names is gone: continue after it.
			n := function.VersionNumber(p.after)
			start = len(all)
			for i, c := range all[1:] {
				if function.VersionNumber(c.Version) > n {
					start = i + 1
					break
				}
			}
		}
	}
	out := lambdaapi.ListVersionsByFunctionOutput{Versions: []lambdaapi.FunctionConfiguration{}}
	for i := start; i < len(all); i++ {
		if len(out.Versions) == p.limit {
			out.NextMarker = marker(all[i-1].Version)
			break
		}
		out.Versions = append(out.Versions, a.configuration(&all[i], false))
	}
	a.reply(w, r, http.StatusOK, out)
}

// deleteVersion deletes a published version; one an alias routes to is a
// conflict.
func (a *API) deleteVersion(w http.ResponseWriter, r *http.Request, ref function.Ref) {
	account := a.account(r)
	// As AWS answers (recorded: TestLambdaFunction::
	// test_delete_on_nonexisting_version, and test_function_name_and_
	// qualifier_validation[lowercase_latest_qualifier-delete_function]):
	// a missing function is named unqualified, whatever the qualifier, and
	// a missing version of a function is already deleted.
	if _, err := a.store.Function(account, ref.Name); err != nil {
		a.fail(w, r, a.notFound(r, ref.Name, ""))
		return
	}
	if !function.IsVersionNumber(ref.Qualifier) {
		// An alias: AWS deletes aliases with DeleteAlias only.
		a.fail(w, r, invalid("Deletion of aliases through DeleteFunction is not supported; use DeleteAlias.")) // wording UNCONFIRMED
		return
	}
	if _, err := a.store.Version(account, ref.Name, ref.Qualifier); err != nil {
		a.noContent(w, r)
		return
	}
	var using []string
	for _, al := range a.store.Aliases(account, ref.Name) {
		if _, weighted := al.Weights[ref.Qualifier]; al.Version == ref.Qualifier || weighted {
			using = append(using, al.Name)
		}
	}
	if len(using) > 0 {
		a.fail(w, r, lambdaapi.ErrConflict.WithMessage(fmt.Sprintf("Unable to delete version because the following aliases reference it: [%s]", strings.Join(using, ", ")))) // wording UNCONFIRMED
		return
	}
	if err := a.store.DeleteVersion(r.Context(), account, ref.Name, ref.Qualifier); err != nil && !errors.Is(err, store.ErrNotFound) {
		a.fail(w, r, err)
		return
	}
	a.workers.Retire(account, ref.Name, ref.Qualifier)
	a.noContent(w, r)
}
