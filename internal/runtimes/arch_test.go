package runtimes

import (
	"errors"
	"runtime"
	"testing"
)

func TestCheckArchitecture(t *testing.T) {
	host, foreign := "x86_64", "arm64"
	switch runtime.GOARCH {
	case "amd64":
	case "arm64":
		host, foreign = "arm64", "x86_64"
	default:
		t.Skipf("no Lambda architecture for GOARCH %s", runtime.GOARCH)
	}
	if got := Architecture(); got != host {
		t.Errorf("Architecture() = %q; want %q", got, host)
	}
	tests := []struct {
		arch    string
		wantErr bool
	}{
		{host, false},
		{foreign, true},
		{"", false},     // left to the configuration's validation
		{"mips", false}, // likewise
	}
	for _, tt := range tests {
		err := CheckArchitecture(tt.arch)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrArchitecture)) {
			t.Errorf("CheckArchitecture(%q) = %v; want error %v (ErrArchitecture)", tt.arch, err, tt.wantErr)
		}
	}
}
