package store_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/function"
	"hearth/internal/store"
)

// Layer versions are numbered from 1 per layer and account, never reused
// after a delete, listed by name then newest first, and a deleted
// version's package stays while a function uses it.
func TestLayerVersions(t *testing.T) {
	s, b := open(t, t.TempDir())
	defer b.Close()
	ctx := t.Context()
	const acct = "000000000000"
	var shas []string
	for i, content := range []string{"one", "two", "three"} {
		sha, err := s.PutCode(ctx, []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		shas = append(shas, sha)
		lv, err := s.PublishLayerVersion(ctx, store.LayerVersion{Account: acct, Name: "lib", CodeSha256: sha})
		if err != nil || lv.Version != int64(i+1) {
			t.Fatalf("PublishLayerVersion #%d = %d, %v; want version %d", i+1, lv.Version, err, i+1)
		}
	}
	if lv, err := s.PublishLayerVersion(ctx, store.LayerVersion{Account: "111111111111", Name: "lib", CodeSha256: shas[0]}); err != nil || lv.Version != 1 {
		t.Errorf("another account's first version = %d, %v; want 1", lv.Version, err)
	}
	// Version 3 is used by a function, then deleted.
	c := cfg("user")
	c.Layers = []function.LayerRef{{Arn: function.LayerARN("us-east-1", acct, "lib", 3), CodeSha256: shas[2]}}
	if err := s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{3, 1} {
		if err := s.DeleteLayerVersion(ctx, acct, "lib", v); err != nil {
			t.Fatalf("DeleteLayerVersion(%d) = %v", v, err)
		}
	}
	if _, err := s.LayerVersion(ctx, acct, "lib", 3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LayerVersion(3) after delete = %v; want ErrNotFound", err)
	}
	if lv, err := s.PublishLayerVersion(ctx, store.LayerVersion{Account: acct, Name: "lib", CodeSha256: shas[1]}); err != nil || lv.Version != 4 {
		t.Errorf("publish after deleting the latest = %d, %v; want 4", lv.Version, err)
	}
	lvs, err := s.LayerVersions(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, lv := range lvs {
		got = append(got, lv.Version)
	}
	if diff := cmp.Diff([]int64{4, 2}, got); diff != "" {
		t.Errorf("LayerVersions() versions (-want +got):\n%s", diff)
	}
	// shas[0] was only version 1's (deleted, and the other account's, kept);
	// shas[2] is the deleted version 3's, which the function still uses.
	if err := s.DeleteLayerVersion(ctx, "111111111111", "lib", 1); err != nil {
		t.Fatal(err)
	}
	n, err := s.SweepCode(ctx, 0)
	if err != nil || n != 1 {
		t.Errorf("SweepCode() = %d, %v; want 1 (the first package)", n, err)
	}
	if _, err := s.Code(ctx, shas[2]); err != nil {
		t.Errorf("the deleted version's package, which a function uses, was swept: %v", err)
	}
	if _, err := s.Code(ctx, shas[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Code() of an unused package after sweep = %v; want ErrNotFound", err)
	}

	// Policies.
	lv, err := s.UpdateLayerVersion(ctx, acct, "lib", 2, func(lv *store.LayerVersion) error {
		lv.Policy = append(lv.Policy, store.LayerStatement{Sid: "a", Action: "lambda:GetLayerVersion", Principal: "*"})
		return nil
	})
	if err != nil || len(lv.Policy) != 1 {
		t.Errorf("UpdateLayerVersion = %+v, %v", lv, err)
	}
	if _, err := s.UpdateLayerVersion(ctx, acct, "lib", 3, func(*store.LayerVersion) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateLayerVersion of a deleted version = %v; want ErrNotFound", err)
	}
}
