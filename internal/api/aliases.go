package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
	"hearth/internal/store"
)

// aliasPattern is the model's pattern for alias names, quoted by the
// ValidationException of a name of digits only (RE2 cannot check it).
const aliasPattern = "(?!^[0-9]+$)([a-zA-Z0-9-_]+)"

func (a *API) aliasOutput(al *function.Alias) lambdaapi.AliasConfiguration {
	out := lambdaapi.AliasConfiguration{
		AliasArn:        function.ARN(a.cfg.Region, al.Account, al.Function, al.Name),
		Name:            al.Name,
		FunctionVersion: al.Version,
		Description:     al.Description,
		RevisionId:      al.RevisionID,
	}
	if len(al.Weights) > 0 {
		out.RoutingConfig = &lambdaapi.AliasRoutingConfiguration{AdditionalVersionWeights: al.Weights}
	}
	return out
}

func (a *API) aliasNotFound(r *http.Request, name, alias string) error {
	return lambdaapi.ErrNotFound.WithMessage("Cannot find alias arn: " + function.ARN(a.cfg.Region, a.account(r), name, alias))
}

// updatedAliasNotFound is UpdateAlias's own sentence for a missing alias
// (recorded: TestLambdaAlias::test_non_existent_alias_update).
func (a *API) updatedAliasNotFound(r *http.Request, name, alias string) error {
	return lambdaapi.ErrNotFound.WithMessage("Alias not found: " + function.ARN(a.cfg.Region, a.account(r), name, alias))
}

// checkAliasName refuses a name of digits only, which the model's
// pattern refuses.
func checkAliasName(name string) error {
	if function.ValidAliasName(name) {
		return nil
	}
	return lambdaapi.ValidationError([]string{"Value '" + name + "' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: " + aliasPattern})
}

// checkAliasTarget checks that the versions an alias routes to exist
// and may be routed to.
func (a *API) checkAliasTarget(r *http.Request, name, version string, weights map[string]float64) error {
	if version == "$LATEST.PUBLISHED" {
		return invalid("This Hearth server does not support $LATEST.PUBLISHED.")
	}
	if err := function.CheckWeights(version, weights); err != nil {
		return invalid(err.Error())
	}
	var primary function.Config
	for i, v := range append([]string{version}, keys(weights)...) {
		cfg, err := a.store.Version(a.account(r), name, v)
		if err != nil {
			return a.notFound(r, name, v)
		}
		if i == 0 {
			primary = cfg
			continue
		}
		// Lambda's documented constraints on the two versions of a
		// weighted alias (wording UNCONFIRMED).
		if cfg.Role != primary.Role {
			return invalid(fmt.Sprintf("The versions of a weighted alias must have the same execution role: version %s has %s, version %s has %s.", version, primary.Role, v, cfg.Role))
		}
		if cfg.DeadLetterTarget != primary.DeadLetterTarget {
			return invalid(fmt.Sprintf("The versions of a weighted alias must have the same dead-letter queue configuration: versions %s and %s differ.", version, v))
		}
	}
	return nil
}

func keys(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (a *API) createAlias(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.CreateAliasInput
	if !a.decode(w, r, &in) {
		return
	}
	if err := checkAliasName(in.Name); err != nil {
		a.fail(w, r, err)
		return
	}
	// A missing function is reported as the version the alias was to
	// point at: "Function not found: arn:...:function:f:1" (recorded).
	if ref, err := a.functionRef(r, r.PathValue("FunctionName"), ""); err == nil && ref.Qualifier == "" {
		if _, err := a.store.Function(a.account(r), ref.Name); err != nil {
			a.fail(w, r, a.notFound(r, ref.Name, in.FunctionVersion))
			return
		}
	}
	cfg, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var weights map[string]float64
	if in.RoutingConfig != nil && len(in.RoutingConfig.AdditionalVersionWeights) > 0 {
		weights = in.RoutingConfig.AdditionalVersionWeights
	}
	if err := a.checkAliasTarget(r, cfg.Name, in.FunctionVersion, weights); err != nil {
		a.fail(w, r, err)
		return
	}
	al := function.Alias{Account: cfg.Account, Function: cfg.Name, Name: in.Name, Version: in.FunctionVersion,
		Description: deref(in.Description), Weights: weights, RevisionID: invoke.NewRequestID(), Modified: time.Now()}
	if err := a.store.CreateAlias(r.Context(), al); err != nil {
		if errors.Is(err, store.ErrExists) {
			err = lambdaapi.ErrConflict.WithMessage("Alias already exists: " + function.ARN(a.cfg.Region, cfg.Account, cfg.Name, in.Name))
		}
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusCreated, a.aliasOutput(&al))
}

// aliasTarget resolves {FunctionName} and {Name} of the alias operations.
func (a *API) aliasTarget(r *http.Request) (function.Config, string, error) {
	name := r.PathValue("Name")
	if err := checkAliasName(name); err != nil {
		return function.Config{}, "", err
	}
	cfg, err := a.lookup(r, "")
	return cfg, name, err
}

func (a *API) getAlias(w http.ResponseWriter, r *http.Request) {
	cfg, name, err := a.aliasTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	al, err := a.store.Alias(cfg.Account, cfg.Name, name)
	if err != nil {
		a.fail(w, r, a.aliasNotFound(r, cfg.Name, name))
		return
	}
	a.reply(w, r, http.StatusOK, a.aliasOutput(&al))
}

func (a *API) updateAlias(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.UpdateAliasInput
	if !a.decode(w, r, &in) {
		return
	}
	cfg, name, err := a.aliasTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cur, err := a.store.Alias(cfg.Account, cfg.Name, name)
	if err != nil {
		a.fail(w, r, a.updatedAliasNotFound(r, cfg.Name, name))
		return
	}
	if in.RevisionId != nil && *in.RevisionId != cur.RevisionID {
		a.fail(w, r, lambdaapi.ErrPreconditionFailed.WithMessage("The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"))
		return
	}
	// Check the result against the versions there are now; the write
	// below is conditional on the alias not having changed meanwhile.
	next := next(cur, &in)
	if err := a.checkAliasTarget(r, cfg.Name, next.Version, next.Weights); err != nil {
		a.fail(w, r, err)
		return
	}
	if cur.Provisioned != nil && len(next.Weights) > 0 {
		a.fail(w, r, invalid("Alias with weights can not be used with Provisioned Concurrency"))
		return
	}
	// The alias's provisioned environments move with it: the new
	// version's are started (and waited for) before the alias switches,
	// and the old version's retired after.
	release := a.moveProvisioned(r.Context(), cur, next.Version)
	defer release()
	defer a.SyncProvisioned()
	al, err := a.store.UpdateAlias(r.Context(), cfg.Account, cfg.Name, name, func(c *function.Alias) error {
		if in.RevisionId != nil && *in.RevisionId != c.RevisionID {
			return lambdaapi.ErrPreconditionFailed.WithMessage("The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
		}
		if c.RevisionID != cur.RevisionID {
			return errStale
		}
		*c = next
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = a.updatedAliasNotFound(r, cfg.Name, name)
	case errors.Is(err, errStale):
		err = lambdaapi.ErrConflict.WithMessage("The alias was changed by another request meanwhile; try again.")
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusOK, a.aliasOutput(&al))
}

// next is cur with UpdateAlias's members applied.
func next(cur function.Alias, in *lambdaapi.UpdateAliasInput) function.Alias {
	n := cur
	set(&n.Version, in.FunctionVersion)
	set(&n.Description, in.Description)
	if in.RoutingConfig != nil {
		n.Weights = nil
		if len(in.RoutingConfig.AdditionalVersionWeights) > 0 {
			n.Weights = in.RoutingConfig.AdditionalVersionWeights
		}
	}
	n.RevisionID, n.Modified = invoke.NewRequestID(), time.Now()
	return n
}

func (a *API) deleteAlias(w http.ResponseWriter, r *http.Request) {
	cfg, name, err := a.aliasTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Deleting an alias that does not exist succeeds, as on AWS
	// (recorded: TestLambdaAlias::test_non_existent_alias_deletion).
	if err := a.store.DeleteAlias(r.Context(), cfg.Account, cfg.Name, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		a.fail(w, r, err)
		return
	}
	a.noContent(w, r)
}

func (a *API) listAliases(w http.ResponseWriter, r *http.Request) {
	p, err := pageOf(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cfg, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	version := r.URL.Query().Get("FunctionVersion")
	out := lambdaapi.ListAliasesOutput{Aliases: []lambdaapi.AliasConfiguration{}}
	var last string
	for _, al := range a.store.Aliases(cfg.Account, cfg.Name) { // sorted by name
		if al.Name <= p.after || (version != "" && al.Version != version) {
			continue
		}
		if len(out.Aliases) == p.limit {
			out.NextMarker = marker(last)
			break
		}
		out.Aliases = append(out.Aliases, a.aliasOutput(&al))
		last = al.Name
	}
	a.reply(w, r, http.StatusOK, out)
}
