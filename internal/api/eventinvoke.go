package api

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"hearth/internal/function"
	"hearth/internal/lambdaapi"
	"hearth/internal/store"
)

// eventInvokeTarget resolves {FunctionName} and the Qualifier parameter
// of the event invoke config operations: $LATEST (also for none), a
// version or an alias, each with its own config. A missing function gets
// the family's own sentence: Put and Update say "The function doesn't
// exist.", Get and Delete that the function (qualified, $LATEST by
// default) "doesn't have an EventInvokeConfig" (recorded AWS answers).
func (a *API) eventInvokeTarget(r *http.Request, putting bool) (function.Config, string, error) {
	ref, err := a.functionRef(r, r.PathValue("FunctionName"), r.URL.Query().Get("Qualifier"))
	if err != nil {
		return function.Config{}, "", err
	}
	qualifier := cmp.Or(ref.Qualifier, function.Latest)
	cfg, err := a.store.Function(a.account(r), ref.Name)
	if err == nil {
		_, err = a.resolve(r, a.account(r), ref.Name, qualifier)
	}
	if err != nil {
		if putting {
			return function.Config{}, "", lambdaapi.ErrNotFound.WithMessage("The function doesn't exist.")
		}
		return function.Config{}, "", a.noEventInvokeConfig(r, ref.Name, qualifier)
	}
	return cfg, qualifier, nil
}

func (a *API) noEventInvokeConfig(r *http.Request, name, qualifier string) error {
	return lambdaapi.ErrNotFound.WithMessage("The function " + function.ARN(a.cfg.Region, a.account(r), name, qualifier) + " doesn't have an EventInvokeConfig")
}

// checkDestinations refuses destinations as AWS does (recorded answers):
// the function itself, a function that does not exist, and an ARN of a
// service that cannot be a destination. Destinations AWS takes but Hearth
// cannot deliver to are refused later by EventInvokeConfig.Validate.
func (a *API) checkDestinations(r *http.Request, name string, d *lambdaapi.DestinationConfig) error {
	if d == nil {
		return nil
	}
	for _, side := range []*lambdaapi.OnDestination{d.OnSuccess, d.OnFailure} {
		arn := ""
		if side != nil {
			arn = deref(side.Destination)
		}
		if arn == "" {
			continue
		}
		parts := strings.Split(arn, ":")
		switch parts[2] {
		case "lambda", "sqs", "sns", "events", "s3":
		default:
			return invalid("The provided destination config " + destinationString(d) + " is invalid.")
		}
		if err := a.checkLocal(r, arn); err != nil {
			return err
		}
		dest, err := function.ParseDestination(arn)
		if err != nil || dest.Kind != function.DestinationFunction {
			continue
		}
		if dest.Name == name {
			return invalid("You can't specify the function as a destination for itself.")
		}
		if _, err := a.store.Function(a.account(r), dest.Name); err != nil {
			return invalid("The destination ARN " + arn + " is invalid.")
		}
	}
	return nil
}

// checkLocal refuses a destination or dead-letter ARN Hearth parses but
// that names another account or region: Hearth delivers by name, so it
// would otherwise deliver to its own function or queue of that name.
func (a *API) checkLocal(r *http.Request, arn string) error {
	dest, err := function.ParseDestination(arn)
	if err != nil || (dest.Account == a.account(r) && dest.Region == a.cfg.Region) {
		return nil // malformed ones are Validate's to refuse
	}
	return invalid(fmt.Sprintf("This Hearth server delivers only to functions and queues of its own account and region (%s, %s); %s is not one of them.",
		a.account(r), a.cfg.Region, arn))
}

// destinationString prints d the way AWS's messages do (Java's toString).
func destinationString(d *lambdaapi.DestinationConfig) string {
	side := func(kind string, o *lambdaapi.OnDestination) string {
		if o == nil {
			return "null"
		}
		return kind + "(destination=" + cmp.Or(deref(o.Destination), "null") + ")"
	}
	return "DestinationConfig(onSuccess=" + side("OnSuccess", d.OnSuccess) + ", onFailure=" + side("OnFailure", d.OnFailure) + ")"
}

func (a *API) putEventInvokeConfig(w http.ResponseWriter, r *http.Request) {
	a.changeEventInvokeConfig(w, r, true)
}

func (a *API) updateEventInvokeConfig(w http.ResponseWriter, r *http.Request) {
	a.changeEventInvokeConfig(w, r, false)
}

// changeEventInvokeConfig replaces (Put) or merges into (Update) the
// function's event invoke config. It leaves the function's RevisionId
// alone, as Lambda does.
func (a *API) changeEventInvokeConfig(w http.ResponseWriter, r *http.Request, replace bool) {
	var in lambdaapi.EventInvokeConfigInput
	if !a.decode(w, r, &in) {
		return
	}
	d := in.DestinationConfig
	if in.MaximumRetryAttempts == nil && in.MaximumEventAgeInSeconds == nil && (d == nil || d.OnSuccess == nil && d.OnFailure == nil) {
		// AWS checks this before the function's existence.
		a.fail(w, r, invalid("You must specify at least one of error handling or destination setting."))
		return
	}
	cfg, qualifier, err := a.eventInvokeTarget(r, true)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.checkDestinations(r, cfg.Name, d); err != nil {
		a.fail(w, r, err)
		return
	}
	var out function.EventInvokeConfig
	err = a.store.UpdateEventInvoke(r.Context(), cfg.Account, cfg.Name, qualifier, func(cur **function.EventInvokeConfig) error {
		next := function.EventInvokeConfig{}
		if !replace {
			// Update changes a config; it does not make one (recorded).
			if *cur == nil {
				return a.noEventInvokeConfig(r, cfg.Name, qualifier)
			}
			next = **cur
		}
		if in.MaximumRetryAttempts != nil {
			next.MaximumRetryAttempts = in.MaximumRetryAttempts
		}
		if in.MaximumEventAgeInSeconds != nil {
			next.MaximumEventAgeInSeconds = in.MaximumEventAgeInSeconds
		}
		if d := in.DestinationConfig; d != nil {
			if d.OnSuccess != nil {
				next.OnSuccess = deref(d.OnSuccess.Destination)
			}
			if d.OnFailure != nil {
				next.OnFailure = deref(d.OnFailure.Destination)
			}
		}
		if err := next.Validate(); err != nil {
			return err
		}
		next.LastModified = time.Now()
		*cur = &next
		out = next
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = lambdaapi.ErrNotFound.WithMessage("The function doesn't exist.")
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusOK, a.eventInvokeConfig(r, cfg.Name, qualifier, &out))
}

func (a *API) getEventInvokeConfig(w http.ResponseWriter, r *http.Request) {
	cfg, qualifier, err := a.eventInvokeTarget(r, false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	eic, err := a.store.EventInvoke(cfg.Account, cfg.Name, qualifier)
	if err != nil || eic == nil {
		a.fail(w, r, a.noEventInvokeConfig(r, cfg.Name, qualifier))
		return
	}
	a.reply(w, r, http.StatusOK, a.eventInvokeConfig(r, cfg.Name, qualifier, eic))
}

func (a *API) deleteEventInvokeConfig(w http.ResponseWriter, r *http.Request) {
	cfg, qualifier, err := a.eventInvokeTarget(r, false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	missing := a.noEventInvokeConfig(r, cfg.Name, qualifier)
	err = a.store.UpdateEventInvoke(r.Context(), cfg.Account, cfg.Name, qualifier, func(cur **function.EventInvokeConfig) error {
		if *cur == nil {
			return missing
		}
		*cur = nil
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = missing
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.noContent(w, r)
}

// listEventInvokeConfigs lists the configs of $LATEST, the versions
// (ascending) and the aliases (by name), a page at a time; the marker is
// the qualifier of the page's last config.
func (a *API) listEventInvokeConfigs(w http.ResponseWriter, r *http.Request) {
	p, err := pageOf(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cfg, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, rewordNotFound(err, "The function doesn't exist.")) // recorded
		return
	}
	if p.after != "" && !function.IsVersionNumber(p.after) && p.after != function.Latest && !function.ValidAliasName(p.after) {
		a.fail(w, r, invalid("Invalid Marker"))
		return
	}
	out := lambdaapi.ListFunctionEventInvokeConfigsOutput{FunctionEventInvokeConfigs: []lambdaapi.FunctionEventInvokeConfig{}}
	var last string
	add := func(qualifier string, eic *function.EventInvokeConfig) bool {
		if eic == nil || (p.after != "" && !qualifierAfter(qualifier, p.after)) {
			return true
		}
		if len(out.FunctionEventInvokeConfigs) == p.limit {
			out.NextMarker = marker(last)
			return false
		}
		out.FunctionEventInvokeConfigs = append(out.FunctionEventInvokeConfigs, a.eventInvokeConfig(r, cfg.Name, qualifier, eic))
		last = qualifier
		return true
	}
	more := add(function.Latest, cfg.EventInvoke)
	for _, v := range a.store.Versions(cfg.Account, cfg.Name) {
		more = more && add(v.Version, v.EventInvoke)
	}
	for _, al := range a.store.Aliases(cfg.Account, cfg.Name) {
		more = more && add(al.Name, al.EventInvoke)
	}
	a.reply(w, r, http.StatusOK, out)
}

// qualifierAfter reports whether qualifier q comes after marker in the
// order of listEventInvokeConfigs: $LATEST, versions ascending, aliases by
// name. The marker's own item may be gone since.
func qualifierAfter(q, marker string) bool {
	rank := func(s string) int {
		switch {
		case s == function.Latest:
			return 0
		case function.IsVersionNumber(s):
			return 1
		}
		return 2
	}
	rq, rm := rank(q), rank(marker)
	switch {
	case rq != rm:
		return rq > rm
	case rq == 1:
		return function.VersionNumber(q) > function.VersionNumber(marker)
	}
	return q > marker
}

func (a *API) eventInvokeConfig(r *http.Request, name, qualifier string, c *function.EventInvokeConfig) lambdaapi.FunctionEventInvokeConfig {
	out := lambdaapi.FunctionEventInvokeConfig{
		LastModified:             lambdaapi.EpochSeconds(c.LastModified),
		FunctionArn:              function.ARN(a.cfg.Region, a.account(r), name, qualifier),
		MaximumRetryAttempts:     c.MaximumRetryAttempts,
		MaximumEventAgeInSeconds: c.MaximumEventAgeInSeconds,
		DestinationConfig: lambdaapi.DestinationConfig{
			OnSuccess: &lambdaapi.OnDestination{},
			OnFailure: &lambdaapi.OnDestination{},
		},
	}
	if c.OnSuccess != "" {
		out.DestinationConfig.OnSuccess.Destination = &c.OnSuccess
	}
	if c.OnFailure != "" {
		out.DestinationConfig.OnFailure.Destination = &c.OnFailure
	}
	return out
}
