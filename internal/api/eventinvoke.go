package api

import (
	"errors"
	"net/http"
	"time"

	"hearth/internal/function"
	"hearth/internal/lambdaapi"
	"hearth/internal/store"
)

// eventInvokeTarget resolves {name} and the Qualifier parameter of the
// event invoke config operations. Only $LATEST exists so far.
func (a *API) eventInvokeTarget(r *http.Request) (function.Config, error) {
	qualifier := r.URL.Query().Get("Qualifier")
	if qualifier == function.Latest {
		qualifier = ""
	}
	return a.lookup(r, qualifier)
}

func (a *API) putEventInvokeConfig(w http.ResponseWriter, r *http.Request) {
	a.changeEventInvokeConfig(w, r, "PutFunctionEventInvokeConfig", true)
}

func (a *API) updateEventInvokeConfig(w http.ResponseWriter, r *http.Request) {
	a.changeEventInvokeConfig(w, r, "UpdateFunctionEventInvokeConfig", false)
}

// changeEventInvokeConfig replaces (Put) or merges into (Update) the
// function's event invoke config. It leaves the function's RevisionId
// alone, as Lambda does.
func (a *API) changeEventInvokeConfig(w http.ResponseWriter, r *http.Request, op string, replace bool) {
	var in lambdaapi.EventInvokeConfigInput
	if !a.decode(w, r, op, &in) {
		return
	}
	cfg, err := a.eventInvokeTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var out function.EventInvokeConfig
	cfg, err = a.store.Update(r.Context(), cfg.Name, func(c *function.Config) error {
		next := function.EventInvokeConfig{}
		if !replace && c.EventInvoke != nil {
			next = *c.EventInvoke
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
		c.EventInvoke = &next
		out = next
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = lambdaapi.ErrNotFound.WithMessage("Function not found: " + function.ARN(a.cfg.Region, a.cfg.Account, cfg.Name, ""))
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusOK, a.eventInvokeConfig(cfg.Name, &out))
}

func (a *API) getEventInvokeConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := a.eventInvokeTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if cfg.EventInvoke == nil {
		a.fail(w, r, lambdaapi.ErrNotFound.WithMessage("The function "+function.ARN(a.cfg.Region, a.cfg.Account, cfg.Name, function.Latest)+" doesn't have an EventInvokeConfig"))
		return
	}
	a.reply(w, r, http.StatusOK, a.eventInvokeConfig(cfg.Name, cfg.EventInvoke))
}

func (a *API) deleteEventInvokeConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := a.eventInvokeTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	missing := lambdaapi.ErrNotFound.WithMessage("The function " + function.ARN(a.cfg.Region, a.cfg.Account, cfg.Name, function.Latest) + " doesn't have an EventInvokeConfig")
	_, err = a.store.Update(r.Context(), cfg.Name, func(c *function.Config) error {
		if c.EventInvoke == nil {
			return missing
		}
		c.EventInvoke = nil
		return nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.noContent(w, r)
}

func (a *API) listEventInvokeConfigs(w http.ResponseWriter, r *http.Request) {
	cfg, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := lambdaapi.ListFunctionEventInvokeConfigsOutput{FunctionEventInvokeConfigs: []lambdaapi.FunctionEventInvokeConfig{}}
	if cfg.EventInvoke != nil {
		out.FunctionEventInvokeConfigs = append(out.FunctionEventInvokeConfigs, a.eventInvokeConfig(cfg.Name, cfg.EventInvoke))
	}
	a.reply(w, r, http.StatusOK, out)
}

func (a *API) eventInvokeConfig(name string, c *function.EventInvokeConfig) lambdaapi.FunctionEventInvokeConfig {
	out := lambdaapi.FunctionEventInvokeConfig{
		LastModified:             lambdaapi.EpochSeconds(c.LastModified),
		FunctionArn:              function.ARN(a.cfg.Region, a.cfg.Account, name, function.Latest),
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
