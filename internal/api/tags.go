package api

import (
	"net/http"
	"strings"

	"hearth/internal/function"
	"hearth/internal/lambdaapi"
)

// tagTarget resolves the {Resource} label of the tagging operations, which
// the model has checked to be a Lambda ARN, to a function name. Only
// unqualified function ARNs carry tags; AWS refuses a qualified one before
// looking the function up (recorded answers).
func (a *API) tagTarget(r *http.Request) (string, error) {
	arn := r.PathValue("Resource")
	parts := strings.Split(arn, ":")
	if len(parts) < 7 || parts[5] != "function" {
		// Event source mappings, code signing configs, capacity providers:
		// Hearth has none. Each family has its sentence (recorded).
		switch {
		case strings.Contains(arn, ":event-source-mapping:"):
			return "", lambdaapi.ErrNotFound.WithMessage("Event source mapping not found: " + arn)
		case strings.Contains(arn, ":capacity-provider:"):
			return "", lambdaapi.ErrNotFound.WithMessage("Capacity provider not found: " + arn)
		case strings.Contains(arn, ":code-signing-config:"):
			return "", lambdaapi.ErrNotFound.WithMessage("The Lambda code signing configuration " + arn + " can not be found.")
		}
		return "", lambdaapi.ErrNotFound.WithMessage("The resource you requested does not exist.")
	}
	if len(parts) > 7 {
		return "", invalid("Tags on function aliases and versions are not supported. Please specify a function ARN.")
	}
	ref, err := a.functionRef(r, arn, "")
	if err != nil {
		return "", err
	}
	if _, err := a.store.Function(a.account(r), ref.Name); err != nil {
		return "", a.notFound(r, ref.Name, "")
	}
	return ref.Name, nil
}

func (a *API) listTags(w http.ResponseWriter, r *http.Request) {
	name, err := a.tagTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cfg, err := a.store.Function(a.account(r), name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	tags := cfg.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	a.reply(w, r, http.StatusOK, struct {
		Tags map[string]string `json:"Tags"`
	}{tags})
}

func (a *API) tagResource(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Tags map[string]string `json:"Tags"`
	}
	if !a.decode(w, r, &in) {
		return
	}
	name, err := a.tagTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(in.Tags) == 0 {
		a.fail(w, r, invalid("An error occurred and the request cannot be processed.")) // AWS's words for {}
		return
	}
	if err := function.ValidateTags(in.Tags); err != nil {
		a.fail(w, r, err)
		return
	}
	_, err = a.store.Update(r.Context(), a.account(r), name, func(c *function.Config) error {
		if c.Tags == nil {
			c.Tags = map[string]string{}
		}
		for k, v := range in.Tags {
			c.Tags[k] = v
		}
		return function.ValidateTags(c.Tags)
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.noContent(w, r)
}

func (a *API) untagResource(w http.ResponseWriter, r *http.Request) {
	name, err := a.tagTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	keys := r.URL.Query()["tagKeys"]
	_, err = a.store.Update(r.Context(), a.account(r), name, func(c *function.Config) error {
		for _, k := range keys {
			delete(c.Tags, k)
		}
		return nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.noContent(w, r)
}
