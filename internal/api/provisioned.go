package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
	"hearth/internal/store"
	"hearth/internal/worker"
)

// Provisioned concurrency: the configuration is stored on the version or
// alias it was put on; the worker keeps the environments (SyncProvisioned
// tells it how many each version needs) and reports how many are ready,
// which is the configuration's status.

// provisionedTarget resolves {FunctionName} and Qualifier of the
// provisioned concurrency operations: a published version or an alias,
// never $LATEST. A missing version or alias is named with the function
// (missing or not) as AWS names it: "Function not found: ARN:N" and
// "Cannot find alias arn: ARN:ALIAS" (recorded:
// TestLambdaProvisionedConcurrency::test_provisioned_concurrency_exceptions).
func (a *API) provisionedTarget(r *http.Request) (latest function.Config, qualifier string, err error) {
	ref, err := a.functionRef(r, r.PathValue("FunctionName"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return function.Config{}, "", err
	}
	account := a.account(r)
	latest, ferr := a.store.Function(account, ref.Name)
	switch q := ref.Qualifier; {
	case q == "" || q == function.Latest:
		if ferr != nil {
			return function.Config{}, "", a.notFound(r, ref.Name, "")
		}
		if operationName(r) == "PutProvisionedConcurrencyConfig" {
			return function.Config{}, "", invalid("Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
		}
		return function.Config{}, "", invalid("The function resource provided must be an alias or a published version.")
	case function.IsVersionNumber(q):
		if _, err := a.store.Version(account, ref.Name, q); ferr != nil || err != nil {
			return function.Config{}, "", a.notFound(r, ref.Name, q)
		}
	default:
		if _, err := a.store.Alias(account, ref.Name, q); ferr != nil || err != nil {
			return function.Config{}, "", a.aliasNotFound(r, ref.Name, q)
		}
	}
	return latest, ref.Qualifier, nil
}

// provisionedConfigs returns the provisioned concurrency configurations
// of account's function name by qualifier: versions first, then aliases,
// with the version each one's environments belong to.
func (a *API) provisionedConfigs(account, name string) []provisionedConfig {
	var out []provisionedConfig
	for _, v := range a.store.Versions(account, name) {
		if v.Provisioned != nil {
			out = append(out, provisionedConfig{qualifier: v.Version, version: v.Version, p: *v.Provisioned})
		}
	}
	for _, al := range a.store.Aliases(account, name) {
		if al.Provisioned != nil {
			out = append(out, provisionedConfig{qualifier: al.Name, version: al.Version, p: *al.Provisioned})
		}
	}
	return out
}

type provisionedConfig struct {
	qualifier, version string
	p                  function.Provisioned
}

// provisionedSum sums the provisioned concurrency of fns (every version
// and alias), leaving out that of fn's qualifier except; only functions
// without reserved concurrency count when unreservedOnly (theirs comes
// out of the unreserved pool; the others' out of their reservation).
func (a *API) provisionedSum(fns []function.Config, unreservedOnly bool, fn, except string) int {
	n := 0
	for _, f := range fns {
		if unreservedOnly && f.ReservedConcurrency != nil {
			continue
		}
		for _, pc := range a.provisionedConfigs(f.Account, f.Name) {
			if f.Name != fn || pc.qualifier != except {
				n += pc.p.Requested
			}
		}
	}
	return n
}

func (a *API) putProvisioned(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.PutProvisionedConcurrencyConfigInput
	if !a.decode(w, r, &in) {
		return
	}
	latest, qualifier, err := a.provisionedTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	n := *in.ProvisionedConcurrentExecutions // required and ≥ 1 by the model
	account, name := latest.Account, latest.Name
	version := qualifier
	if !function.IsVersionNumber(qualifier) {
		al, err := a.store.Alias(account, name, qualifier)
		if err != nil {
			a.fail(w, r, a.aliasNotFound(r, name, qualifier))
			return
		}
		if len(al.Weights) > 0 {
			a.fail(w, r, invalid("Alias with weights can not be used with Provisioned Concurrency"))
			return
		}
		version = al.Version
	}
	// Checked and stored under the reservation lock, so that neither two
	// Puts nor a Put and a reservation can both pass.
	a.reserveMu.Lock()
	defer a.reserveMu.Unlock()
	for _, pc := range a.provisionedConfigs(account, name) {
		if pc.version == version && pc.qualifier != qualifier {
			// One configuration per version, directly or through one alias.
			// AWS's sentences where recorded (TestLambdaProvisionedConcurrency::
			// test_lambda_provisioned_lifecycle); two aliases are Hearth's.
			msg := fmt.Sprintf("Provisioned Concurrency Config already exists for version %s through qualifier %s.", version, pc.qualifier) // wording UNCONFIRMED
			switch {
			case qualifier == version:
				msg = "Version is pointed by a Provisioned Concurrency alias"
			case pc.qualifier == version:
				msg = "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version"
			}
			a.fail(w, r, lambdaapi.ErrConflict.WithMessage(msg))
			return
		}
	}
	fns := a.store.AccountFunctions(account)
	if latest.ReservedConcurrency != nil {
		if a.provisionedSum([]function.Config{latest}, false, name, qualifier)+n > *latest.ReservedConcurrency {
			a.fail(w, r, invalid("Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function"))
			return
		}
	} else {
		limit := a.invoke.AccountConcurrency()
		minimum := invoke.MinUnreserved(limit)
		if limit-invoke.ReservedSum(fns, "")-a.provisionedSum(fns, true, name, qualifier)-n < minimum {
			a.fail(w, r, invalid(fmt.Sprintf("Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d].", minimum)))
			return
		}
	}
	var stored function.Provisioned
	err = a.store.UpdateProvisioned(r.Context(), account, name, qualifier, func(p **function.Provisioned) error {
		stored = function.Provisioned{Requested: n, LastModified: time.Now()}
		*p = &stored
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = a.notFound(r, name, qualifier)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.SyncProvisioned()
	a.reply(w, r, http.StatusAccepted, a.provisionedOutput(account, name, version, stored))
}

// provisionedOutput is a configuration with the status of its version's
// environments.
func (a *API) provisionedOutput(account, name, version string, p function.Provisioned) lambdaapi.ProvisionedConcurrencyConfig {
	st := a.workers.Provisioned(account, name, version)
	ready := min(st.Ready, p.Requested)
	out := lambdaapi.ProvisionedConcurrencyConfig{
		RequestedProvisionedConcurrentExecutions: p.Requested,
		AllocatedProvisionedConcurrentExecutions: ready,
		AvailableProvisionedConcurrentExecutions: ready,
		Status:                                   "IN_PROGRESS",
		LastModified:                             p.LastModified.UTC().Format("2006-01-02T15:04:05-0700"),
	}
	switch {
	case ready >= p.Requested:
		out.Status = "READY"
	case st.Failed != "":
		out.Status, out.StatusReason = "FAILED", st.Failed
	}
	return out
}

// provisionedOf returns the configuration of qualifier, or
// ProvisionedConcurrencyConfigNotFoundException.
func (a *API) provisionedOf(account, name, qualifier string) (provisionedConfig, error) {
	for _, pc := range a.provisionedConfigs(account, name) {
		if pc.qualifier == qualifier {
			return pc, nil
		}
	}
	return provisionedConfig{}, lambdaapi.ErrProvisionedNotFound.WithMessage("No Provisioned Concurrency Config found for this function")
}

func (a *API) getProvisioned(w http.ResponseWriter, r *http.Request) {
	latest, qualifier, err := a.provisionedTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	pc, err := a.provisionedOf(latest.Account, latest.Name, qualifier)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusOK, a.provisionedOutput(latest.Account, latest.Name, pc.version, pc.p))
}

func (a *API) deleteProvisioned(w http.ResponseWriter, r *http.Request) {
	latest, qualifier, err := a.provisionedTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	missing := lambdaapi.ErrProvisionedNotFound.WithMessage("No Provisioned Concurrency Config found for this function")
	err = a.store.UpdateProvisioned(r.Context(), latest.Account, latest.Name, qualifier, func(p **function.Provisioned) error {
		if *p == nil {
			return missing
		}
		*p = nil
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = a.notFound(r, latest.Name, qualifier)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.SyncProvisioned()
	a.noContent(w, r)
}

func (a *API) listProvisioned(w http.ResponseWriter, r *http.Request) {
	latest, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	limit := 50
	if s := r.URL.Query().Get("MaxItems"); s != "" {
		limit, _ = strconv.Atoi(s) // 1 to 50 by the model
	}
	start := 0
	if m := r.URL.Query().Get("Marker"); m != "" {
		var err error
		if start, err = strconv.Atoi(m); err != nil || start < 0 {
			a.fail(w, r, invalid("Invalid Marker"))
			return
		}
	}
	all := a.provisionedConfigs(latest.Account, latest.Name)
	out := lambdaapi.ListProvisionedConcurrencyConfigsOutput{ProvisionedConcurrencyConfigs: []lambdaapi.ProvisionedConcurrencyConfigListItem{}}
	for i := start; i < len(all); i++ {
		if len(out.ProvisionedConcurrencyConfigs) == limit {
			out.NextMarker = strconv.Itoa(i)
			break
		}
		pc := all[i]
		out.ProvisionedConcurrencyConfigs = append(out.ProvisionedConcurrencyConfigs, lambdaapi.ProvisionedConcurrencyConfigListItem{
			FunctionArn:                  function.ARN(a.cfg.Region, latest.Account, latest.Name, pc.qualifier),
			ProvisionedConcurrencyConfig: a.provisionedOutput(latest.Account, latest.Name, pc.version, pc.p),
		})
	}
	a.reply(w, r, http.StatusOK, out)
}

// SyncProvisioned tells the worker how many provisioned environments
// every version of every account's functions needs, from the stored
// configurations. The API calls it after each change; RunProvisioning
// after every change to the store, including at start-up, which is how
// provisioned environments come back after a restart.
func (a *API) SyncProvisioned() {
	a.provMu.Lock()
	defer a.provMu.Unlock()
	type key struct{ account, name, version string }
	targets := map[key]*worker.Target{}
	var order []key
	for _, f := range a.store.Functions() {
		for _, pc := range a.provisionedConfigs(f.Account, f.Name) {
			k := key{f.Account, f.Name, pc.version}
			t := targets[k]
			if t == nil {
				cfg, err := a.store.Version(f.Account, f.Name, pc.version)
				if err != nil {
					continue
				}
				t = &worker.Target{Config: cfg}
				targets[k] = t
				order = append(order, k)
			}
			t.N += pc.p.Requested
		}
	}
	list := make([]worker.Target, 0, len(order))
	for _, k := range order {
		list = append(list, *targets[k])
	}
	a.workers.SetProvisioned(list)
}

// RunProvisioning keeps the worker's provisioned environments in line
// with the store until ctx ends.
func (a *API) RunProvisioning(ctx context.Context) {
	for {
		changed := a.store.Changed()
		a.SyncProvisioned()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// moveProvisioned readies the provisioned environments of an alias on the
// version it is about to point to, so that no invocation through the
// alias meets a cold start during the switch. The caller calls release
// once the alias is updated (after SyncProvisioned).
func (a *API) moveProvisioned(ctx context.Context, cur function.Alias, to string) (release func()) {
	if cur.Provisioned == nil || to == cur.Version {
		return func() {}
	}
	cfg, err := a.store.Version(cur.Account, cur.Function, to)
	if err != nil {
		return func() {}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	release, err = a.workers.Hold(ctx, cfg, cur.Provisioned.Requested)
	if err != nil {
		a.log.Warn("provisioned concurrency not ready on the alias's new version", "function", cur.Function, "alias", cur.Name, "version", to, "err", err)
	}
	return release
}
