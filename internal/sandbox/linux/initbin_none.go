//go:build linux && (hearth_noinitbin || !(amd64 || arm64))

package linux

// initBinGz is empty: the init program itself, and architectures it is not
// built for, re-execute their own binary as the init.
var initBinGz []byte
