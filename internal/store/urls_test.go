package store_test

import (
	"errors"
	"testing"

	"hearth/internal/function"
	"hearth/internal/store"
)

// TestURLConfigs checks that a function URL is found by its id from
// memory, after a restart too, and that it goes with its alias and its
// function; and that whether it was created under Lambda's authorization
// model of October 2025 survives the restart (a URL stored before reads as
// one that was not).
func TestURLConfigs(t *testing.T) {
	dir := t.TempDir()
	s, b := open(t, dir)
	ctx := t.Context()
	if err := s.Create(ctx, cfg("f")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAlias(ctx, function.Alias{Account: acct, Function: "f", Name: "live", Version: function.Latest}); err != nil {
		t.Fatal(err)
	}
	latest := function.URLConfig{Account: acct, Function: "f", ID: function.NewURLID(), AuthType: function.URLAuthNone}
	alias := function.URLConfig{Account: acct, Function: "f", Qualifier: "live", ID: function.NewURLID(), AuthType: function.URLAuthIAM, RequiresInvoke: true}
	for _, u := range []function.URLConfig{latest, alias} {
		if err := s.CreateURLConfig(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateURLConfig(ctx, latest); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateURLConfig again = %v; want ErrExists", err)
	}
	b.Close()

	s, b = open(t, dir)
	defer b.Close()
	if got, ok := s.URLByID(alias.ID); !ok || got.Qualifier != "live" || got.AuthType != function.URLAuthIAM || !got.RequiresInvoke {
		t.Fatalf("URLByID(alias's) after restart = %+v, %v", got, ok)
	}
	if got, ok := s.URLByID(latest.ID); !ok || got.RequiresInvoke {
		t.Fatalf("URLByID($LATEST's, stored without RequiresInvoke) after restart = %+v, %v; want RequiresInvoke false", got, ok)
	}
	if got := s.URLConfigs(acct, "f"); len(got) != 2 || got[0].Qualifier != "" || got[1].Qualifier != "live" {
		t.Errorf("URLConfigs = %+v; want $LATEST's then live's", got)
	}
	if err := s.DeleteAlias(ctx, acct, "f", "live"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.URLByID(alias.ID); ok {
		t.Errorf("URLByID finds the URL of a deleted alias")
	}
	if _, ok := s.URLByID(latest.ID); !ok {
		t.Errorf("URLByID lost $LATEST's URL when the alias went")
	}
	if err := s.Delete(ctx, acct, "f"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.URLByID(latest.ID); ok {
		t.Errorf("URLByID finds the URL of a deleted function")
	}
	if _, err := s.URLConfig(acct, "f", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("URLConfig after Delete = %v; want ErrNotFound", err)
	}
}
