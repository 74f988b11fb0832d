package server

import (
	"errors"
	"log/slog"

	"hearth/internal/sandbox"
)

// The linux driver is wired in when it lands; until then "auto" means
// process and "linux" is refused.
func linuxUnavailable() error {
	return errors.New("the linux sandbox driver is not built into this binary")
}

func newLinuxDriver(cfg Config, log *slog.Logger) (sandbox.Driver, error) {
	return nil, linuxUnavailable()
}
