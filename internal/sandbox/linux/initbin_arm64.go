//go:build linux && arm64 && !hearth_noinitbin

package linux

import _ "embed"

// initBinGz is the sandbox init program (./initprog) for this
// architecture, gzip-compressed; see initbin.go.
//
//go:embed initbin_arm64.gz
var initBinGz []byte
