package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
	"hearth/internal/store"
)

// Resource-based policies are stored and returned as Lambda shapes them;
// they are not enforced until requests are authenticated.

var errNoPolicy = lambdaapi.ErrNotFound.WithMessage("The resource you requested does not exist.")

// policyTarget resolves {FunctionName} and Qualifier of the policy
// operations: the function, $LATEST, a version or an alias, which must
// exist. It returns the function's configuration, the qualifier ("" for
// the function) and the ARN statements name as their Resource. What is
// missing is worded as each operation words it (recorded answers):
// GetPolicy says "The resource you requested does not exist." for a
// function or version, RemovePermission "No policy found for: ARN" for a
// function, and AddPermission and RemovePermission "Cannot find alias
// arn: ARN" for an alias.
func (a *API) policyTarget(r *http.Request) (function.Config, string, string, error) {
	ref, err := a.functionRef(r, r.PathValue("FunctionName"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return function.Config{}, "", "", err
	}
	cfg, err := a.resolve(r, a.account(r), ref.Name, ref.Qualifier)
	if err != nil {
		op := operationName(r)
		_, ferr := a.store.Function(a.account(r), ref.Name)
		alias := ref.Qualifier != "" && ref.Qualifier != function.Latest && !function.IsVersionNumber(ref.Qualifier) && function.ValidAliasName(ref.Qualifier)
		switch {
		case ferr != nil && op == "RemovePermission":
			err = lambdaapi.ErrNotFound.WithMessage("No policy found for: " + function.ARN(a.cfg.Region, a.account(r), ref.Name, ref.Qualifier))
		case ferr != nil && op == "GetPolicy", ferr == nil && !alias && op == "GetPolicy":
			err = errNoPolicy
		case ferr == nil && alias && op != "GetPolicy":
			err = a.aliasNotFound(r, ref.Name, ref.Qualifier)
		}
		return function.Config{}, "", "", err
	}
	return cfg, ref.Qualifier, function.ARN(a.cfg.Region, cfg.Account, cfg.Name, ref.Qualifier), nil
}

func (a *API) addPermission(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.AddPermissionInput
	if !a.decode(w, r, &in) {
		return
	}
	cfg, qualifier, resource, err := a.policyTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if qualifier == function.Latest {
		a.fail(w, r, invalid("We currently do not support adding policies for $LATEST.")) // recorded
		return
	}
	perm := function.Permission{Sid: in.StatementId, Action: in.Action, Principal: in.Principal,
		SourceArn: deref(in.SourceArn), SourceAccount: deref(in.SourceAccount), EventSourceToken: deref(in.EventSourceToken),
		PrincipalOrgID: deref(in.PrincipalOrgID), FunctionUrlAuthType: deref(in.FunctionUrlAuthType),
		InvokedViaFunctionUrl: in.InvokedViaFunctionUrl != nil && *in.InvokedViaFunctionUrl}
	st, err := perm.Statement(resource)
	if err != nil {
		a.fail(w, r, invalid(strings.TrimPrefix(err.Error(), function.ErrInvalidPermission.Error()+": ")))
		return
	}
	_, err = a.store.UpdatePolicy(r.Context(), cfg.Account, cfg.Name, qualifier, func(p *function.Policy) error {
		if in.RevisionId != nil && *in.RevisionId != p.RevisionID {
			return lambdaapi.ErrPreconditionFailed.WithMessage("The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id")
		}
		if p.Find(st.Sid) >= 0 {
			return lambdaapi.ErrConflict.WithMessage("The statement id (" + st.Sid + ") provided already exists. Please provide a new statement id, or remove the existing statement.")
		}
		p.Statements = append(p.Statements, st)
		if n := len(p.Document()); n > function.MaxPolicySize {
			return lambdaapi.ErrPolicyLengthExceeded.WithMessage(fmt.Sprintf("The final policy size (%d) is bigger than the limit (%d).", n, function.MaxPolicySize))
		}
		p.RevisionID, p.Modified = invoke.NewRequestID(), time.Now()
		return nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	b, _ := json.Marshal(st)
	a.reply(w, r, http.StatusCreated, lambdaapi.AddPermissionOutput{Statement: string(b)})
}

func (a *API) removePermission(w http.ResponseWriter, r *http.Request) {
	cfg, qualifier, _, err := a.policyTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sid := r.PathValue("StatementId")
	revision := r.URL.Query().Get("RevisionId")
	if _, err := a.store.Policy(cfg.Account, cfg.Name, qualifier); err != nil {
		a.fail(w, r, lambdaapi.ErrNotFound.WithMessage("No policy is associated with the given resource.")) // recorded
		return
	}
	_, err = a.store.UpdatePolicy(r.Context(), cfg.Account, cfg.Name, qualifier, func(p *function.Policy) error {
		if revision != "" && revision != p.RevisionID {
			return lambdaapi.ErrPreconditionFailed.WithMessage("The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id")
		}
		i := p.Find(sid)
		if i < 0 {
			return lambdaapi.ErrNotFound.WithMessage("Statement " + sid + " is not found in resource policy.")
		}
		p.Statements = append(p.Statements[:i], p.Statements[i+1:]...)
		p.RevisionID, p.Modified = invoke.NewRequestID(), time.Now()
		return nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.noContent(w, r)
}

func (a *API) getPolicy(w http.ResponseWriter, r *http.Request) {
	cfg, qualifier, _, err := a.policyTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.store.Policy(cfg.Account, cfg.Name, qualifier)
	if errors.Is(err, store.ErrNotFound) {
		err = errNoPolicy
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusOK, lambdaapi.GetPolicyOutput{Policy: p.Document(), RevisionId: p.RevisionID})
}
