package api

import (
	"fmt"
	"net/http"

	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
)

// putFunctionConcurrency reserves concurrency for a function: at most that
// many of its invocations run at once, and the other functions can never
// take them. What the reservations leave unreserved must stay at least
// invoke.MinUnreserved. Changing it changes no RevisionId.
func (a *API) putFunctionConcurrency(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.Concurrency
	if !a.decode(w, r, &in) {
		return
	}
	// AWS's own answers (recorded: TestLambdaReservedConcurrency::
	// test_function_concurrency_exceptions): a qualified name is refused,
	// and a missing function is named as its $LATEST.
	if ref, err := a.functionRef(r, r.PathValue("FunctionName"), ""); err == nil {
		if ref.Qualifier != "" {
			a.fail(w, r, invalid("This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN."))
			return
		}
		if _, err := a.store.Function(a.account(r), ref.Name); err != nil {
			a.fail(w, r, a.notFound(r, ref.Name, function.Latest))
			return
		}
	}
	cfg, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	n := *in.ReservedConcurrentExecutions // required and ≥ 0 by the model
	// One reservation at a time, so that two cannot both pass the check.
	a.reserveMu.Lock()
	defer a.reserveMu.Unlock()
	limit := a.invoke.AccountConcurrency()
	minimum := invoke.MinUnreserved(limit)
	if limit-invoke.ReservedSum(a.store.AccountFunctions(cfg.Account), cfg.Name)-n < minimum {
		a.fail(w, r, invalid(fmt.Sprintf("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d].", minimum)))
		return
	}
	// Provisioned concurrency counts against the reservation.
	if p := a.provisionedSum([]function.Config{cfg}, false, "", ""); n < p {
		// AWS's text, spaces included (recorded: test_lambda.snapshot.json,
		// TestLambdaConcurrency::test_reserved_provisioned_overlap).
		a.fail(w, r, invalid(fmt.Sprintf(" ReservedConcurrentExecutions  %d should not be lower than function's total provisioned concurrency [%d].", n, p)))
		return
	}
	_, err = a.store.Update(r.Context(), cfg.Account, cfg.Name, func(c *function.Config) error {
		c.ReservedConcurrency = &n
		return nil
	})
	if err != nil {
		a.fail(w, r, a.functionGone(r, err, cfg.Name))
		return
	}
	a.reply(w, r, http.StatusOK, lambdaapi.Concurrency{ReservedConcurrentExecutions: &n})
}

func (a *API) getFunctionConcurrency(w http.ResponseWriter, r *http.Request) {
	cfg, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusOK, lambdaapi.Concurrency{ReservedConcurrentExecutions: cfg.ReservedConcurrency})
}

func (a *API) deleteFunctionConcurrency(w http.ResponseWriter, r *http.Request) {
	cfg, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	_, err = a.store.Update(r.Context(), cfg.Account, cfg.Name, func(c *function.Config) error {
		c.ReservedConcurrency = nil
		return nil
	})
	if err != nil {
		a.fail(w, r, a.functionGone(r, err, cfg.Name))
		return
	}
	a.noContent(w, r)
}

// functionGone words a store.ErrNotFound from an update of name (deleted
// meanwhile) as Lambda does.
func (a *API) functionGone(r *http.Request, err error, name string) error {
	if isNotFound(err) {
		return a.notFound(r, name, "")
	}
	return err
}
