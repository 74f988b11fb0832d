package api

import (
	"net/http"

	"hearth/internal/function"
	"hearth/internal/lambdaapi"
)

// tagTarget resolves the {arn} label of the tagging operations to a
// function name. Only unqualified function ARNs carry tags.
func (a *API) tagTarget(r *http.Request) (string, error) {
	arn := r.PathValue("arn")
	ref, err := function.ParseRef(arn)
	if err != nil || ref.Account == "" || ref.Qualifier != "" {
		return "", invalid("1 validation error detected: Value '" + arn + "' at 'resource' failed to satisfy constraint: Member must be an unqualified function ARN")
	}
	if ref.Account != a.cfg.Account || (ref.Region != "" && ref.Region != a.cfg.Region) {
		return "", lambdaapi.ErrNotFound.WithMessage("Function not found: " + arn)
	}
	if _, err := a.store.Function(ref.Name); err != nil {
		return "", lambdaapi.ErrNotFound.WithMessage("Function not found: " + arn)
	}
	return ref.Name, nil
}

func (a *API) listTags(w http.ResponseWriter, r *http.Request) {
	name, err := a.tagTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cfg, err := a.store.Function(name)
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
	if !a.decode(w, r, "TagResource", &in) {
		return
	}
	name, err := a.tagTarget(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(in.Tags) == 0 {
		a.fail(w, r, invalid("Tags are required"))
		return
	}
	if err := validTags(in.Tags); err != nil {
		a.fail(w, r, err)
		return
	}
	_, err = a.store.Update(r.Context(), name, func(c *function.Config) error {
		if c.Tags == nil {
			c.Tags = map[string]string{}
		}
		for k, v := range in.Tags {
			c.Tags[k] = v
		}
		if len(c.Tags) > 50 {
			return invalid("A function can have at most 50 tags")
		}
		return nil
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
	_, err = a.store.Update(r.Context(), name, func(c *function.Config) error {
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

func validTags(tags map[string]string) error {
	for k, v := range tags {
		if len(k) == 0 || len(k) > 128 || len(v) > 256 {
			return invalid("Tag keys must be 1 to 128 characters and values at most 256")
		}
	}
	return nil
}
