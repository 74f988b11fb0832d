package invoke

import (
	"sync/atomic"

	"hearth/internal/function"
)

// accountOf is the account whose limits cfg's invocations count against.
func (s *Service) accountOf(cfg *function.Config) string {
	if cfg.Account != "" {
		return cfg.Account
	}
	return s.cfg.Account
}

// acquireAccount counts one more invocation in flight for account, and
// reports false (counting nothing) when the account is at its limit, so
// that one account cannot take the whole server's concurrency.
func (s *Service) acquireAccount(account string) bool {
	v, _ := s.perAccount.LoadOrStore(account, new(atomic.Int64))
	n := v.(*atomic.Int64)
	if n.Add(1) > int64(s.cfg.AccountConcurrency) {
		n.Add(-1)
		return false
	}
	return true
}

func (s *Service) releaseAccount(account string) {
	if v, ok := s.perAccount.Load(account); ok {
		v.(*atomic.Int64).Add(-1)
	}
}
