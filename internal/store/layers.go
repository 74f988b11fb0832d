package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"hearth/internal/function"
)

// layersBucket holds layer versions, one key each
// (<account>.<layer>.v<version>), and each layer's last version number
// (<account>.<layer>.seq), which only grows: numbers are never reused, not
// even after every version is deleted. A layer version's package lives in
// the code object store with the functions' packages.
const layersBucket = "hearth-layers"

// LayerVersion is one published layer version. Only its policy changes.
type LayerVersion struct {
	Account                 string    `json:"account"`
	Name                    string    `json:"name"`
	Version                 int64     `json:"version"`
	Description             string    `json:"description,omitempty"`
	LicenseInfo             string    `json:"license_info,omitempty"`
	CompatibleRuntimes      []string  `json:"compatible_runtimes,omitempty"`
	CompatibleArchitectures []string  `json:"compatible_architectures,omitempty"`
	CodeSha256              string    `json:"code_sha256"`
	CodeSize                int64     `json:"code_size"`
	Unzipped                int64     `json:"unzipped"`
	Created                 time.Time `json:"created"`
	// Policy holds the statements of AddLayerVersionPermission in the
	// order they were added; PolicyRevision changes with each.
	Policy         []LayerStatement `json:"policy,omitempty"`
	PolicyRevision string           `json:"policy_revision,omitempty"`
}

// LayerStatement is one statement of a layer version's policy.
type LayerStatement struct {
	Sid            string `json:"sid"`
	Action         string `json:"action"`
	Principal      string `json:"principal"`
	OrganizationID string `json:"organization_id,omitempty"`
}

// Ref is what a function's configuration keeps of the version.
func (lv *LayerVersion) Ref(region string) function.LayerRef {
	return function.LayerRef{Arn: function.LayerARN(region, lv.Account, lv.Name, lv.Version),
		CodeSha256: lv.CodeSha256, CodeSize: lv.CodeSize, Unzipped: lv.Unzipped}
}

func openLayers(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      layersBucket,
		Description: "Hearth layer versions",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open layers bucket: %w", err)
	}
	return kv, nil
}

func (s *Store) layers(context.Context) (jetstream.KeyValue, error) { return s.layersKV, nil }

func layerKey(account, name string, version int64) string {
	return account + "." + name + ".v" + strconv.FormatInt(version, 10)
}

// PublishLayerVersion stores lv as the next version of its layer and
// returns it with its number.
func (s *Store) PublishLayerVersion(ctx context.Context, lv LayerVersion) (LayerVersion, error) {
	kv, err := s.layers(ctx)
	if err != nil {
		return lv, err
	}
	seqKey := lv.Account + "." + lv.Name + ".seq"
	for {
		var n int64
		var rev uint64
		e, err := kv.Get(ctx, seqKey)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return lv, fmt.Errorf("get layer %s: %w", lv.Name, err)
		default:
			rev = e.Revision()
			if n, err = strconv.ParseInt(string(e.Value()), 10, 64); err != nil {
				return lv, fmt.Errorf("layer %s: corrupt version counter %q", lv.Name, e.Value())
			}
		}
		next := []byte(strconv.FormatInt(n+1, 10))
		if rev == 0 {
			_, err = kv.Create(ctx, seqKey, next)
		} else {
			_, err = kv.Update(ctx, seqKey, next, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSequence(err) {
			continue // another publish took the number
		}
		if err != nil {
			return lv, fmt.Errorf("number layer %s: %w", lv.Name, err)
		}
		lv.Version = n + 1
		break
	}
	b, err := json.Marshal(&lv)
	if err != nil {
		return lv, fmt.Errorf("encode layer %s: %w", lv.Name, err)
	}
	if _, err := kv.Create(ctx, layerKey(lv.Account, lv.Name, lv.Version), b); err != nil {
		return lv, fmt.Errorf("store layer %s version %d: %w", lv.Name, lv.Version, err)
	}
	return lv, nil
}

// LayerVersion returns one layer version.
func (s *Store) LayerVersion(ctx context.Context, account, name string, version int64) (LayerVersion, error) {
	kv, err := s.layers(ctx)
	if err != nil {
		return LayerVersion{}, err
	}
	e, err := kv.Get(ctx, layerKey(account, name, version))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return LayerVersion{}, fmt.Errorf("layer %s version %d: %w", name, version, ErrNotFound)
	}
	if err != nil {
		return LayerVersion{}, fmt.Errorf("get layer %s version %d: %w", name, version, err)
	}
	var lv LayerVersion
	if err := json.Unmarshal(e.Value(), &lv); err != nil {
		return LayerVersion{}, fmt.Errorf("decode layer %s version %d: %w", name, version, err)
	}
	return lv, nil
}

// LayerVersions returns the account's layer versions (every account's when
// account is empty), sorted by layer name and then newest first.
func (s *Store) LayerVersions(ctx context.Context, account string) ([]LayerVersion, error) {
	kv, err := s.layers(ctx)
	if err != nil {
		return nil, err
	}
	filter := ">"
	if account != "" {
		filter = account + ".>"
	}
	keys, err := kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	defer keys.Stop()
	var out []LayerVersion
	for key := range keys.Keys() {
		if strings.HasSuffix(key, ".seq") {
			continue
		}
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get layer %s: %w", key, err)
		}
		var lv LayerVersion
		if err := json.Unmarshal(e.Value(), &lv); err != nil {
			s.log.Error("undecodable layer version", "key", key, "err", err)
			continue
		}
		out = append(out, lv)
	}
	slices.SortFunc(out, func(a, b LayerVersion) int {
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return int(b.Version - a.Version)
	})
	return out, nil
}

// DeleteLayerVersion deletes a layer version; deleting one that does not
// exist is no error, as on Lambda. Its package stays while functions use
// it (see SweepCode).
func (s *Store) DeleteLayerVersion(ctx context.Context, account, name string, version int64) error {
	kv, err := s.layers(ctx)
	if err != nil {
		return err
	}
	if err := kv.Purge(ctx, layerKey(account, name, version)); err != nil {
		return fmt.Errorf("delete layer %s version %d: %w", name, version, err)
	}
	return nil
}

// UpdateLayerVersion applies change to a stored layer version (its policy)
// and stores it, retrying when a concurrent writer got there first.
// change's error is returned unwrapped.
func (s *Store) UpdateLayerVersion(ctx context.Context, account, name string, version int64, change func(*LayerVersion) error) (LayerVersion, error) {
	kv, err := s.layers(ctx)
	if err != nil {
		return LayerVersion{}, err
	}
	key := layerKey(account, name, version)
	for {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return LayerVersion{}, fmt.Errorf("layer %s version %d: %w", name, version, ErrNotFound)
		}
		if err != nil {
			return LayerVersion{}, fmt.Errorf("get layer %s version %d: %w", name, version, err)
		}
		var lv LayerVersion
		if err := json.Unmarshal(e.Value(), &lv); err != nil {
			return LayerVersion{}, fmt.Errorf("decode layer %s version %d: %w", name, version, err)
		}
		if err := change(&lv); err != nil {
			return LayerVersion{}, err
		}
		b, err := json.Marshal(&lv)
		if err != nil {
			return LayerVersion{}, err
		}
		_, err = kv.Update(ctx, key, b, e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSequence(err) {
			continue
		}
		if err != nil {
			return LayerVersion{}, fmt.Errorf("update layer %s version %d: %w", name, version, err)
		}
		return lv, nil
	}
}

// layerPackages names (hex) the packages of every layer version and of
// every layer a function uses, deleted versions included.
func (s *Store) layerPackages(ctx context.Context, used map[string]bool) error {
	for _, cfg := range s.AllVersions() {
		for _, l := range cfg.Layers {
			if n, err := codeName(l.CodeSha256); err == nil {
				used[n] = true
			}
		}
	}
	lvs, err := s.LayerVersions(ctx, "")
	if err != nil {
		return err
	}
	for _, lv := range lvs {
		if n, err := codeName(lv.CodeSha256); err == nil {
			used[n] = true
		}
	}
	return nil
}
