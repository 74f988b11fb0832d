package store

import (
	"context"
	"fmt"

	"hearth/internal/function"
)

// UpdateProvisioned applies change to the provisioned concurrency
// configuration of qualifier (a published version or an alias) of
// account's function name. The configuration is part of the version's or
// the alias's record, so it goes with them. Changing it changes no
// RevisionId.
func (s *Store) UpdateProvisioned(ctx context.Context, account, name, qualifier string, change func(**function.Provisioned) error) error {
	if qualifier == "" || qualifier == function.Latest {
		return fmt.Errorf("provisioned concurrency of %s: $LATEST has none: %w", name, ErrNotFound)
	}
	if !function.IsVersionNumber(qualifier) {
		_, err := s.UpdateAlias(ctx, account, name, qualifier, func(a *function.Alias) error { return change(&a.Provisioned) })
		return err
	}
	_, err := s.UpdateVersion(ctx, account, name, qualifier, func(c *function.Config) error { return change(&c.Provisioned) })
	return err
}

// ProvisionedTotals returns, by "ACCOUNT/NAME", the provisioned
// concurrency configured on each function's versions and aliases.
func (s *Store) ProvisionedTotals() map[string]int {
	out := map[string]int{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, e := range s.records {
		k, ok := parseKey(key)
		if !ok {
			continue
		}
		var p *function.Provisioned
		switch v := e.val.(type) {
		case *function.Config:
			if v != nil {
				p = v.Provisioned
			}
		case *function.Alias:
			if v != nil {
				p = v.Provisioned
			}
		}
		if p != nil {
			out[k.account+"/"+k.name] += p.Requested
		}
	}
	return out
}
