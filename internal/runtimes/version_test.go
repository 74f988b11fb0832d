package runtimes

import "testing"

func TestVersion(t *testing.T) {
	tests := map[string]string{
		"python3.9":       "python:3.9.v1",
		"python3.12":      "python:3.12.v1",
		"nodejs20.x":      "nodejs:20.v1",
		"nodejs24.x":      "nodejs:24.v1",
		"provided.al2023": "provided:al2023.v1",
		"provided.al2":    "provided:al2.v1",
		"provided":        "provided.v1",
	}
	for id, want := range tests {
		if _, ok := Lookup(id); !ok {
			t.Errorf("%s is not in the catalogue", id)
		}
		if got := (Runtime{ID: id}).Version(); got != want {
			t.Errorf("Version(%s) = %q; want %q", id, got, want)
		}
	}
}

// The ARN is the one GetFunctionConfiguration has always reported: a
// change would show existing functions a new runtime version.
func TestVersionARN(t *testing.T) {
	got := Runtime{ID: "python3.12"}.VersionARN("eu-west-1")
	if want := "arn:aws:lambda:eu-west-1::runtime:c5bb0929ac45f6fdbeb9bb5b37468f6d0af76d48607a49964f13d69637b8dc24"; got != want {
		t.Errorf("VersionARN = %q; want %q", got, want)
	}
	if got == (Runtime{ID: "python3.13"}).VersionARN("eu-west-1") {
		t.Errorf("python3.12 and python3.13 have the same VersionARN")
	}
}
