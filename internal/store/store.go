// Package store keeps Hearth's durable state on JetStream: function
// configurations in a key-value bucket and deployment packages in an object
// store addressed by their SHA-256. Readers on the invocation path use an
// in-memory copy of the configurations that a KV watch keeps fresh, never
// the bucket itself; writes through this Store update that copy at once, so
// a caller reads its own writes.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"hearth/internal/function"
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

const (
	functionsBucket = "hearth-functions"
	codeBucket      = "hearth-code"
	keyPrefix       = "fn."
	latestSuffix    = ".latest"
)

// Keys of the functions bucket, all under fn.ACCOUNT.NAME.:
//
//	fn.ACCOUNT.NAME.latest     $LATEST (function.Config)
//	fn.ACCOUNT.NAME.v.N        published version N (function.Config)
//	fn.ACCOUNT.NAME.a.ALIAS    alias (function.Alias)
//	fn.ACCOUNT.NAME.p          policy of the unqualified function
//	fn.ACCOUNT.NAME.p.QUAL     policy of a version or alias ($LATEST: =latest)
//	fn.ACCOUNT.NAME.u          function URL of $LATEST (function.URLConfig)
//	fn.ACCOUNT.NAME.u.ALIAS    function URL of an alias
//
// A provisioned concurrency configuration is part of its version's or
// alias's record (function.Config.Provisioned, function.Alias.Provisioned;
// see UpdateProvisioned), so it is per account and goes with them.
//
// Every record is one key, written whole: a version exists whole or not
// at all. Keys of the form fn.NAME.latest, from before accounts, are moved
// to the default account's at Open.
const (
	kindLatest  = "latest"
	kindVersion = "v"
	kindAlias   = "a"
	kindPolicy  = "p"
	kindURL     = "u"
)

// Store is the durable state of functions and their code.
type Store struct {
	js      jetstream.JetStream
	kv      jetstream.KeyValue
	code    jetstream.ObjectStore
	log     *slog.Logger
	account string // the default account: owner of keys from before accounts
	// layersKV holds the layer versions (layers.go).
	layersKV jetstream.KeyValue

	mu      sync.Mutex
	records map[string]entry  // guarded by mu; by bucket key
	urls    map[string]string // guarded by mu; bucket key of each live function URL, by URL id
	changed chan struct{}     // guarded by mu; closed and replaced on every change
}

// entry is what the in-memory copy knows of one key. rev is always the
// revision the bucket gave that write, whoever learned it first (the writer
// or the watch), so that keeping the higher revision keeps the newer state.
type entry struct {
	rev     uint64
	val     any       // *function.Config, *function.Alias or *function.Policy; nil for a deletion
	deleted time.Time // when a deletion was recorded here
}

// Open creates or opens the buckets on js and loads every record.
// Functions stored before accounts existed become account's. Call Run to
// keep the copy fresh with changes made elsewhere.
func Open(ctx context.Context, js jetstream.JetStream, account string, log *slog.Logger) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      functionsBucket,
		Description: "Hearth function configurations",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open functions bucket: %w", err)
	}
	code, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      codeBucket,
		Description: "Hearth deployment packages by SHA-256",
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open code store: %w", err)
	}
	layers, err := openLayers(ctx, js)
	if err != nil {
		return nil, err
	}
	s := &Store{js: js, kv: kv, code: code, log: log.With("component", "store"), account: account,
		records: make(map[string]entry), urls: make(map[string]string), changed: make(chan struct{}), layersKV: layers}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) load(ctx context.Context) error {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list functions: %w", err)
	}
	defer keys.Stop()
	var old []jetstream.KeyValueEntry
	for key := range keys.Keys() {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("load %s: %w", key, err)
		}
		if _, ok := oldName(key); ok {
			old = append(old, e)
			continue
		}
		s.apply(e)
	}
	for _, e := range old {
		if err := s.migrate(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// oldName returns the function name of a key from before accounts,
// fn.NAME.latest.
func oldName(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, latestSuffix)
	if !ok || strings.Contains(name, ".") {
		return "", false
	}
	return name, true
}

// migrate moves a function stored before accounts to the default
// account's key: create the new key, then remove the old one. A crash in
// between leaves both, and the next Open finishes the move (the new key
// wins).
func (s *Store) migrate(ctx context.Context, e jetstream.KeyValueEntry) error {
	name, _ := oldName(e.Key())
	var cfg function.Config
	if err := json.Unmarshal(e.Value(), &cfg); err != nil {
		s.log.Error("undecodable function configuration", "key", e.Key(), "err", err)
		return nil
	}
	cfg.Account = s.account
	if err := s.Create(ctx, cfg); err != nil && !errors.Is(err, ErrExists) {
		return fmt.Errorf("move function %s to account %s: %w", name, s.account, err)
	}
	if err := s.kv.Purge(ctx, e.Key(), jetstream.LastRevision(e.Revision())); err != nil && !isWrongLastSequence(err) {
		return fmt.Errorf("remove old key of function %s: %w", name, err)
	}
	s.log.Info("function moved to the default account", "function", name, "account", s.account)
	return nil
}

// Run watches the bucket for changes made by other writers until ctx is
// done.
func (s *Store) Run(ctx context.Context) error {
	w, err := s.kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if ctx.Err() != nil {
		if err == nil {
			w.Stop()
		}
		return nil // stopped before it started: not a failure
	}
	if err != nil {
		return fmt.Errorf("watch functions: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e != nil {
				s.apply(e)
			}
		}
	}
}

// keyOf is a parsed bucket key.
type keyOf struct {
	account, name, kind, qual string
}

func parseKey(key string) (keyOf, bool) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return keyOf{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) < 3 {
		return keyOf{}, false
	}
	k := keyOf{account: parts[0], name: parts[1], kind: parts[2]}
	switch {
	case k.kind == kindLatest && len(parts) == 3, k.kind == kindPolicy && len(parts) == 3, k.kind == kindURL && len(parts) == 3:
	case (k.kind == kindVersion || k.kind == kindAlias || k.kind == kindPolicy || k.kind == kindURL) && len(parts) == 4:
		k.qual = parts[3]
		if k.kind == kindPolicy && k.qual == "=latest" {
			k.qual = function.Latest
		}
	default:
		return keyOf{}, false
	}
	return k, true
}

func prefix(account, name string) string { return keyPrefix + account + "." + name + "." }

func functionKey(account, name string) string { return prefix(account, name) + kindLatest }

func versionKey(account, name, version string) string {
	if version == function.Latest || version == "" {
		return functionKey(account, name)
	}
	return prefix(account, name) + kindVersion + "." + version
}

func aliasKey(account, name, alias string) string {
	return prefix(account, name) + kindAlias + "." + alias
}

// urlKey is the key of the function URL of $LATEST (alias "") or an alias.
func urlKey(account, name, alias string) string {
	if alias == "" {
		return prefix(account, name) + kindURL
	}
	return prefix(account, name) + kindURL + "." + alias
}

func policyKey(account, name, qualifier string) string {
	switch qualifier {
	case "":
		return prefix(account, name) + kindPolicy
	case function.Latest:
		return prefix(account, name) + kindPolicy + ".=latest"
	}
	return prefix(account, name) + kindPolicy + "." + qualifier
}

// apply records a KV entry in the in-memory copy unless a newer revision of
// the same key is already there.
func (s *Store) apply(e jetstream.KeyValueEntry) {
	k, ok := parseKey(e.Key())
	if !ok {
		return
	}
	var val any
	if e.Operation() == jetstream.KeyValuePut {
		var err error
		if val, err = decode(k, e.Value()); err != nil {
			s.log.Error("undecodable record", "key", e.Key(), "err", err)
			return
		}
	}
	s.set(e.Key(), e.Revision(), val)
}

func decode(k keyOf, b []byte) (any, error) {
	switch k.kind {
	case kindLatest, kindVersion:
		cfg := new(function.Config)
		if err := json.Unmarshal(b, cfg); err != nil {
			return nil, err
		}
		if cfg.Account == "" {
			cfg.Account = k.account
		}
		return cfg, nil
	case kindAlias:
		a := new(function.Alias)
		err := json.Unmarshal(b, a)
		return a, err
	case kindURL:
		u := new(function.URLConfig)
		err := json.Unmarshal(b, u)
		return u, err
	default:
		p := new(function.Policy)
		err := json.Unmarshal(b, p)
		return p, err
	}
}

func (s *Store) set(key string, rev uint64, val any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.records[key]; ok && cur.rev >= rev {
		return
	}
	e := entry{rev: rev, val: val}
	if val == nil {
		e.deleted = time.Now()
	}
	if u, ok := s.records[key].val.(*function.URLConfig); ok && u != nil && s.urls[u.ID] == key {
		delete(s.urls, u.ID)
	}
	if u, ok := val.(*function.URLConfig); ok && u != nil {
		s.urls[u.ID] = key
	}
	s.records[key] = e
	close(s.changed)
	s.changed = make(chan struct{})
}

// record returns the live record at key from memory.
func record[T any](s *Store, key string) (*T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.records[key].val.(*T)
	return v, ok && v != nil
}

// Function returns the $LATEST configuration of account's function name
// from memory.
func (s *Store) Function(account, name string) (function.Config, error) {
	return s.Version(account, name, function.Latest)
}

// Version returns a version ($LATEST or a number) of account's function
// name from memory. A version exists only while its function does.
func (s *Store) Version(account, name, version string) (function.Config, error) {
	if version != function.Latest {
		if _, ok := record[function.Config](s, functionKey(account, name)); !ok {
			return function.Config{}, fmt.Errorf("function %s: %w", name, ErrNotFound)
		}
	}
	cfg, ok := record[function.Config](s, versionKey(account, name, version))
	if !ok {
		return function.Config{}, fmt.Errorf("function %s:%s: %w", name, version, ErrNotFound)
	}
	return *cfg, nil
}

// Versions returns the published versions of account's function name,
// in ascending order.
func (s *Store) Versions(account, name string) []function.Config {
	p := prefix(account, name) + kindVersion + "."
	var out []function.Config
	s.mu.Lock()
	for key, e := range s.records {
		if cfg, ok := e.val.(*function.Config); ok && cfg != nil && strings.HasPrefix(key, p) {
			out = append(out, *cfg)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b function.Config) int {
		return function.VersionNumber(a.Version) - function.VersionNumber(b.Version)
	})
	return out
}

// Alias returns an alias of account's function name.
func (s *Store) Alias(account, name, alias string) (function.Alias, error) {
	if _, ok := record[function.Config](s, functionKey(account, name)); !ok {
		return function.Alias{}, fmt.Errorf("function %s: %w", name, ErrNotFound)
	}
	a, ok := record[function.Alias](s, aliasKey(account, name, alias))
	if !ok {
		return function.Alias{}, fmt.Errorf("alias %s:%s: %w", name, alias, ErrNotFound)
	}
	return *a, nil
}

// Aliases returns the aliases of account's function name, sorted by name.
func (s *Store) Aliases(account, name string) []function.Alias {
	p := prefix(account, name) + kindAlias + "."
	var out []function.Alias
	s.mu.Lock()
	for key, e := range s.records {
		if a, ok := e.val.(*function.Alias); ok && a != nil && strings.HasPrefix(key, p) {
			out = append(out, *a)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b function.Alias) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Policy returns the resource-based policy of account's function name
// for qualifier ("" for the function itself).
func (s *Store) Policy(account, name, qualifier string) (function.Policy, error) {
	p, ok := record[function.Policy](s, policyKey(account, name, qualifier))
	if !ok || len(p.Statements) == 0 {
		return function.Policy{}, fmt.Errorf("policy of %s: %w", name, ErrNotFound)
	}
	return *p, nil
}

// Changed returns a channel closed at the next change of any function.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Functions returns every account's functions' $LATEST configurations,
// sorted by account and name.
func (s *Store) Functions() []function.Config {
	return s.configs(func(k keyOf) bool { return k.kind == kindLatest })
}

// AccountFunctions returns the $LATEST configurations of account's
// functions, sorted by name.
func (s *Store) AccountFunctions(account string) []function.Config {
	return s.configs(func(k keyOf) bool { return k.kind == kindLatest && k.account == account })
}

// AllVersions returns every configuration stored: $LATEST and published
// versions of every function.
func (s *Store) AllVersions() []function.Config {
	return s.configs(func(keyOf) bool { return true })
}

func (s *Store) configs(want func(keyOf) bool) []function.Config {
	s.mu.Lock()
	out := make([]function.Config, 0, len(s.records))
	for key, e := range s.records {
		cfg, ok := e.val.(*function.Config)
		if !ok || cfg == nil {
			continue
		}
		if k, ok := parseKey(key); ok && want(k) {
			out = append(out, *cfg)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b function.Config) int {
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return function.VersionNumber(a.Version) - function.VersionNumber(b.Version)
	})
	return out
}

// Create stores a new function; its Account empty means the default
// account. It fails with ErrExists if the name is taken in the account.
func (s *Store) Create(ctx context.Context, cfg function.Config) error {
	if cfg.Account == "" {
		cfg.Account = s.account
	}
	if err := s.create(ctx, functionKey(cfg.Account, cfg.Name), &cfg); err != nil {
		return fmt.Errorf("function %s: %w", cfg.Name, err)
	}
	return nil
}

// create writes val at key unless the key exists.
func (s *Store) create(ctx context.Context, key string, val any) error {
	b, err := json.Marshal(val)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	rev, err := s.kv.Create(ctx, key, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", key, err)
	}
	s.set(key, rev, val)
	return nil
}

// Update applies change to the stored $LATEST configuration of account's
// function name and stores the result, retrying when a concurrent writer
// got there first. change may return an error to abort; Update returns it
// unwrapped.
func (s *Store) Update(ctx context.Context, account, name string, change func(*function.Config) error) (function.Config, error) {
	return s.UpdateVersion(ctx, account, name, function.Latest, change)
}

// UpdateVersion is Update for any version.
func (s *Store) UpdateVersion(ctx context.Context, account, name, version string, change func(*function.Config) error) (function.Config, error) {
	cfg, err := update(ctx, s, versionKey(account, name, version), false, change)
	if errors.Is(err, ErrNotFound) {
		return function.Config{}, fmt.Errorf("function %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return function.Config{}, err
	}
	return *cfg, nil
}

// update applies change to the record at key under compare-and-set,
// retrying when a concurrent writer got there first. With create, a
// missing record starts as the zero value.
func update[T any](ctx context.Context, s *Store, key string, create bool, change func(*T) error) (*T, error) {
	for {
		v := new(T)
		var last uint64
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if !create {
				return nil, ErrNotFound
			}
		case err != nil:
			return nil, fmt.Errorf("get %s: %w", key, err)
		default:
			if err := json.Unmarshal(e.Value(), v); err != nil {
				return nil, fmt.Errorf("decode %s: %w", key, err)
			}
			last = e.Revision()
		}
		if err := change(v); err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", key, err)
		}
		var rev uint64
		if last == 0 {
			rev, err = s.kv.Create(ctx, key, b)
		} else {
			rev, err = s.kv.Update(ctx, key, b, last)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSequence(err) {
			continue // a concurrent update won; redo ours on top of it
		}
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", key, err)
		}
		s.set(key, rev, v)
		return v, nil
	}
}

// Delete removes account's function name with every version, alias and
// policy of it. $LATEST goes last, so that a crash part way leaves a
// function whose deletion can be repeated, never versions without one.
func (s *Store) Delete(ctx context.Context, account, name string) error {
	if _, ok := record[function.Config](s, functionKey(account, name)); !ok {
		return fmt.Errorf("function %s: %w", name, ErrNotFound)
	}
	p := prefix(account, name)
	var keys []string
	s.mu.Lock()
	for key, e := range s.records {
		if e.val != nil && strings.HasPrefix(key, p) && key != functionKey(account, name) {
			keys = append(keys, key)
		}
	}
	s.mu.Unlock()
	for _, key := range keys {
		if err := s.purge(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("delete function %s: %w", name, err)
		}
	}
	if err := s.purge(ctx, functionKey(account, name)); err != nil {
		return fmt.Errorf("function %s: %w", name, err)
	}
	return nil
}

// DeleteVersion removes a published version and its policy. Whether an
// alias still routes to it is the caller's to check.
func (s *Store) DeleteVersion(ctx context.Context, account, name, version string) error {
	if err := s.purge(ctx, versionKey(account, name, version)); err != nil {
		return fmt.Errorf("function %s:%s: %w", name, version, err)
	}
	s.purge(ctx, policyKey(account, name, version))
	return nil
}

// purge removes the record at key.
//
// It writes the bucket's purge marker itself, rather than through
// KeyValue.Purge, to learn the marker's revision: the in-memory copy must
// record the deletion at its true revision, or it can hide a later create
// of the same key (a deletion recorded above its true revision shadows the
// next write) or let an earlier one reappear.
func (s *Store) purge(ctx context.Context, key string) error {
	for {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("get %s: %w", key, err)
		}
		m := nats.NewMsg(kvSubjectPrefix + functionsBucket + "." + key)
		m.Header.Set(kvOperationHeader, kvOperationPurge)
		m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
		// Only if the key is still at the revision just read: a purge must
		// not remove a record created or changed meanwhile.
		ack, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(e.Revision()))
		if isWrongLastSequence(err) {
			continue // a concurrent write got there first; look again
		}
		if err != nil {
			return fmt.Errorf("delete %s: %w", key, err)
		}
		s.set(key, ack.Sequence, nil)
		return nil
	}
}

// Publish stores a new published version of account's function name.
// make builds it from $LATEST and the versions there are; it returns
// (nil, existing) to publish nothing and return an existing version, or
// an error to refuse. The version is one write, so it exists whole or not
// at all; its number is one above both $LATEST's LastVersion and every
// version stored, and $LATEST's LastVersion is raised after.
func (s *Store) Publish(ctx context.Context, account, name string, build func(latest function.Config, versions []function.Config) (*function.Config, *function.Config, error)) (function.Config, bool, error) {
	for {
		latest, err := s.Function(account, name)
		if err != nil {
			return function.Config{}, false, err
		}
		versions := s.Versions(account, name)
		v, existing, err := build(latest, versions)
		if err != nil {
			return function.Config{}, false, err
		}
		if v == nil {
			return *existing, false, nil
		}
		n := latest.LastVersion
		if len(versions) > 0 {
			n = max(n, function.VersionNumber(versions[len(versions)-1].Version))
		}
		v.Account, v.Version = account, strconv.Itoa(n+1)
		err = s.create(ctx, versionKey(account, name, v.Version), v)
		if errors.Is(err, ErrExists) {
			continue // another publish took the number
		}
		if err != nil {
			return function.Config{}, false, err
		}
		_, err = s.Update(ctx, account, name, func(c *function.Config) error {
			c.LastVersion = max(c.LastVersion, n+1)
			return nil
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			s.log.Warn("record the last version number", "function", name, "err", err)
		}
		return *v, true, nil
	}
}

// EventInvoke returns the asynchronous invocation configuration that
// applies to invocations of account's function name through qualifier:
// the alias's or the version's own, $LATEST's for none or $LATEST; nil
// when none was put.
func (s *Store) EventInvoke(account, name, qualifier string) (*function.EventInvokeConfig, error) {
	if qualifier != "" && qualifier != function.Latest && !function.IsVersionNumber(qualifier) {
		a, err := s.Alias(account, name, qualifier)
		if err != nil {
			return nil, err
		}
		return a.EventInvoke, nil
	}
	if qualifier == "" {
		qualifier = function.Latest
	}
	cfg, err := s.Version(account, name, qualifier)
	if err != nil {
		return nil, err
	}
	return cfg.EventInvoke, nil
}

// UpdateEventInvoke applies change to the asynchronous invocation
// configuration of qualifier ("" or $LATEST, a version or an alias) of
// account's function name. Changing it changes no RevisionId.
func (s *Store) UpdateEventInvoke(ctx context.Context, account, name, qualifier string, change func(**function.EventInvokeConfig) error) error {
	if qualifier != "" && qualifier != function.Latest && !function.IsVersionNumber(qualifier) {
		_, err := s.UpdateAlias(ctx, account, name, qualifier, func(a *function.Alias) error { return change(&a.EventInvoke) })
		return err
	}
	if qualifier == "" {
		qualifier = function.Latest
	}
	_, err := s.UpdateVersion(ctx, account, name, qualifier, func(c *function.Config) error { return change(&c.EventInvoke) })
	return err
}

// CreateAlias stores a new alias; ErrExists if the name is taken.
func (s *Store) CreateAlias(ctx context.Context, a function.Alias) error {
	if err := s.create(ctx, aliasKey(a.Account, a.Function, a.Name), &a); err != nil {
		return fmt.Errorf("alias %s: %w", a.Name, err)
	}
	return nil
}

// UpdateAlias applies change to an alias under compare-and-set.
func (s *Store) UpdateAlias(ctx context.Context, account, name, alias string, change func(*function.Alias) error) (function.Alias, error) {
	a, err := update(ctx, s, aliasKey(account, name, alias), false, change)
	if err != nil {
		return function.Alias{}, err
	}
	return *a, nil
}

// DeleteAlias removes an alias, its policy and its function URL.
func (s *Store) DeleteAlias(ctx context.Context, account, name, alias string) error {
	if err := s.purge(ctx, aliasKey(account, name, alias)); err != nil {
		return fmt.Errorf("alias %s: %w", alias, err)
	}
	s.purge(ctx, policyKey(account, name, alias))
	s.purge(ctx, urlKey(account, name, alias))
	return nil
}

// URLConfig returns the function URL of $LATEST (alias "") or of an
// alias of account's function name.
func (s *Store) URLConfig(account, name, alias string) (function.URLConfig, error) {
	u, ok := record[function.URLConfig](s, urlKey(account, name, alias))
	if !ok {
		return function.URLConfig{}, fmt.Errorf("function URL of %s: %w", name, ErrNotFound)
	}
	return *u, nil
}

// URLConfigs returns the function URLs of account's function name: $LATEST's
// first, then the aliases' by name.
func (s *Store) URLConfigs(account, name string) []function.URLConfig {
	p := prefix(account, name) + kindURL
	var out []function.URLConfig
	s.mu.Lock()
	for key, e := range s.records {
		if u, ok := e.val.(*function.URLConfig); ok && u != nil && (key == p || strings.HasPrefix(key, p+".")) {
			out = append(out, *u)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b function.URLConfig) int { return strings.Compare(a.Qualifier, b.Qualifier) })
	return out
}

// URLByID returns the function URL whose id is id. It reads memory only:
// it is on the path of every request to a function URL.
func (s *Store) URLByID(id string) (function.URLConfig, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.urls[id]
	if !ok {
		return function.URLConfig{}, false
	}
	u, ok := s.records[key].val.(*function.URLConfig)
	if !ok || u == nil {
		return function.URLConfig{}, false
	}
	return *u, true
}

// CreateURLConfig stores a new function URL; ErrExists if the function
// or alias has one.
func (s *Store) CreateURLConfig(ctx context.Context, u function.URLConfig) error {
	if err := s.create(ctx, urlKey(u.Account, u.Function, u.Qualifier), &u); err != nil {
		return fmt.Errorf("function URL of %s: %w", u.Function, err)
	}
	return nil
}

// UpdateURLConfig applies change to a function URL under compare-and-set.
func (s *Store) UpdateURLConfig(ctx context.Context, account, name, alias string, change func(*function.URLConfig) error) (function.URLConfig, error) {
	u, err := update(ctx, s, urlKey(account, name, alias), false, change)
	if err != nil {
		return function.URLConfig{}, err
	}
	return *u, nil
}

// DeleteURLConfig removes a function URL.
func (s *Store) DeleteURLConfig(ctx context.Context, account, name, alias string) error {
	if err := s.purge(ctx, urlKey(account, name, alias)); err != nil {
		return fmt.Errorf("function URL of %s: %w", name, err)
	}
	return nil
}

// UpdatePolicy applies change to the policy of account's function name
// for qualifier, starting from an empty one when there is none.
func (s *Store) UpdatePolicy(ctx context.Context, account, name, qualifier string, change func(*function.Policy) error) (function.Policy, error) {
	p, err := update(ctx, s, policyKey(account, name, qualifier), true, change)
	if err != nil {
		return function.Policy{}, err
	}
	return *p, nil
}

// PurgeTombstones removes the bucket's markers of deleted functions once
// they are older than keep, and the in-memory copy's record of those
// deletions, so that neither grows with every function ever deleted.
// Younger markers stay: watchers and the copy's revision order still need
// them for a while. It returns how many deletions it forgot.
func (s *Store) PurgeTombstones(ctx context.Context, keep time.Duration) (int, error) {
	if keep <= 0 {
		return 0, fmt.Errorf("purge tombstones: keep must be positive, got %v", keep)
	}
	if err := s.kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(keep)); err != nil {
		return 0, fmt.Errorf("purge tombstones: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for key, e := range s.records {
		if e.val == nil && time.Since(e.deleted) > keep {
			delete(s.records, key)
			n++
		}
	}
	return n, nil
}

// How a KV bucket stores a purge: a message on $KV.<bucket>.<key> with these
// headers, which rolls up (removes) every earlier message of the key.
const (
	kvSubjectPrefix   = "$KV."
	kvOperationHeader = "KV-Operation"
	kvOperationPurge  = "PURGE"
)

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Sha256 returns the base64 SHA-256 of data, as Lambda's CodeSha256.
func Sha256(data []byte) string {
	sum := sha256.Sum256(data)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// codeName turns a base64 CodeSha256 into the object name (hex).
func codeName(sha string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(sha)
	if err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("malformed code sha256 %q", sha)
	}
	return hex.EncodeToString(b), nil
}

// PutCode stores a deployment package and returns its CodeSha256. Storing
// the same bytes twice keeps one copy.
func (s *Store) PutCode(ctx context.Context, data []byte) (string, error) {
	sha := Sha256(data)
	name, _ := codeName(sha)
	if _, err := s.code.GetInfo(ctx, name); err == nil {
		return sha, nil
	} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
		return "", fmt.Errorf("look up code %s: %w", name, err)
	}
	if _, err := s.code.PutBytes(ctx, name, data); err != nil {
		return "", fmt.Errorf("store code %s: %w", name, err)
	}
	return sha, nil
}

// PutCodeFrom stores the deployment package r yields, whose CodeSha256
// the caller has computed as sha, without holding it in memory. Storing
// the same package twice keeps one copy.
func (s *Store) PutCodeFrom(ctx context.Context, sha string, r io.Reader) error {
	name, err := codeName(sha)
	if err != nil {
		return err
	}
	if _, err := s.code.GetInfo(ctx, name); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("look up code %s: %w", name, err)
	}
	if _, err := s.code.Put(ctx, jetstream.ObjectMeta{Name: name}, r); err != nil {
		return fmt.Errorf("store code %s: %w", name, err)
	}
	return nil
}

// OpenCode returns the deployment package whose CodeSha256 is sha as a
// stream, and its size. The caller closes it.
func (s *Store) OpenCode(ctx context.Context, sha string) (io.ReadCloser, int64, error) {
	name, err := codeName(sha)
	if err != nil {
		return nil, 0, err
	}
	res, err := s.code.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, 0, fmt.Errorf("code %s: %w", sha, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get code %s: %w", sha, err)
	}
	info, err := res.Info()
	if err != nil {
		res.Close()
		return nil, 0, fmt.Errorf("get code %s: %w", sha, err)
	}
	return res, int64(info.Size), nil
}

// Code returns the deployment package whose CodeSha256 is sha.
func (s *Store) Code(ctx context.Context, sha string) ([]byte, error) {
	name, err := codeName(sha)
	if err != nil {
		return nil, err
	}
	b, err := s.code.GetBytes(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("code %s: %w", sha, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get code %s: %w", sha, err)
	}
	return b, nil
}

// SweepCode deletes packages that no function or layer version refers to
// (a function keeps the packages of its layers, deleted versions too) and
// that are older than minAge, so that a package stored for a create or
// publish still in flight is kept. It returns how many it deleted.
func (s *Store) SweepCode(ctx context.Context, minAge time.Duration) (int, error) {
	used := make(map[string]bool)
	for _, cfg := range s.AllVersions() {
		if n, err := codeName(cfg.CodeSha256); err == nil {
			used[n] = true
		}
	}
	if err := s.layerPackages(ctx, used); err != nil {
		return 0, err
	}
	infos, err := s.code.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list code: %w", err)
	}
	n := 0
	for _, info := range infos {
		if used[info.Name] || time.Since(info.ModTime) < minAge {
			continue
		}
		if err := s.code.Delete(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return n, fmt.Errorf("delete code %s: %w", info.Name, err)
		}
		n++
	}
	return n, nil
}

// CodeSize returns the total size of all stored packages.
func (s *Store) CodeSize(ctx context.Context) (int64, error) {
	infos, err := s.code.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list code: %w", err)
	}
	var total int64
	for _, info := range infos {
		total += int64(info.Size)
	}
	return total, nil
}
