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

// Store is the durable state of functions and their code.
type Store struct {
	js   jetstream.JetStream
	kv   jetstream.KeyValue
	code jetstream.ObjectStore
	log  *slog.Logger
	// layersKV holds the layer versions (layers.go).
	layersKV jetstream.KeyValue

	mu      sync.Mutex
	configs map[string]entry // guarded by mu; by function name ($LATEST)
	changed chan struct{}    // guarded by mu; closed and replaced on every change
}

// entry is what the in-memory copy knows of one key. rev is always the
// revision the bucket gave that write, whoever learned it first (the writer
// or the watch), so that keeping the higher revision keeps the newer state.
type entry struct {
	rev     uint64
	cfg     *function.Config // nil for a deletion, kept to order late watch updates
	deleted time.Time        // when a deletion was recorded here
}

// Open creates or opens the buckets on js and loads every configuration.
// Call Run to keep the copy fresh with changes made elsewhere.
func Open(ctx context.Context, js jetstream.JetStream, log *slog.Logger) (*Store, error) {
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
	s := &Store{js: js, kv: kv, code: code, log: log.With("component", "store"),
		configs: make(map[string]entry), changed: make(chan struct{}), layersKV: layers}
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
	for key := range keys.Keys() {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("load %s: %w", key, err)
		}
		s.apply(e)
	}
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

// apply records a KV entry in the in-memory copy unless a newer revision of
// the same key is already there.
func (s *Store) apply(e jetstream.KeyValueEntry) {
	name, ok := nameFromKey(e.Key())
	if !ok {
		return
	}
	var cfg *function.Config
	if e.Operation() == jetstream.KeyValuePut {
		cfg = new(function.Config)
		if err := json.Unmarshal(e.Value(), cfg); err != nil {
			s.log.Error("undecodable function configuration", "function", name, "err", err)
			return
		}
	}
	s.set(name, e.Revision(), cfg)
}

func (s *Store) set(name string, rev uint64, cfg *function.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.configs[name]; ok && cur.rev >= rev {
		return
	}
	e := entry{rev: rev, cfg: cfg}
	if cfg == nil {
		e.deleted = time.Now()
	}
	s.configs[name] = e
	close(s.changed)
	s.changed = make(chan struct{})
}

func functionKey(name string) string { return keyPrefix + name + latestSuffix }

func nameFromKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, latestSuffix)
}

// Function returns the $LATEST configuration of name from memory.
func (s *Store) Function(name string) (function.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.configs[name]
	if !ok || e.cfg == nil {
		return function.Config{}, fmt.Errorf("function %s: %w", name, ErrNotFound)
	}
	return *e.cfg, nil
}

// Changed returns a channel closed at the next change of any function.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Functions returns every function's $LATEST configuration, sorted by name.
func (s *Store) Functions() []function.Config {
	s.mu.Lock()
	out := make([]function.Config, 0, len(s.configs))
	for _, e := range s.configs {
		if e.cfg != nil {
			out = append(out, *e.cfg)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b function.Config) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Create stores a new function. It fails with ErrExists if the name is
// taken.
func (s *Store) Create(ctx context.Context, cfg function.Config) error {
	b, err := json.Marshal(&cfg)
	if err != nil {
		return fmt.Errorf("encode function %s: %w", cfg.Name, err)
	}
	rev, err := s.kv.Create(ctx, functionKey(cfg.Name), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("function %s: %w", cfg.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create function %s: %w", cfg.Name, err)
	}
	s.set(cfg.Name, rev, &cfg)
	return nil
}

// Update applies change to the stored configuration of name and stores the
// result, retrying when a concurrent writer got there first. change may
// return an error to abort; Update returns it unwrapped.
func (s *Store) Update(ctx context.Context, name string, change func(*function.Config) error) (function.Config, error) {
	for {
		e, err := s.kv.Get(ctx, functionKey(name))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return function.Config{}, fmt.Errorf("function %s: %w", name, ErrNotFound)
		}
		if err != nil {
			return function.Config{}, fmt.Errorf("get function %s: %w", name, err)
		}
		var cfg function.Config
		if err := json.Unmarshal(e.Value(), &cfg); err != nil {
			return function.Config{}, fmt.Errorf("decode function %s: %w", name, err)
		}
		if err := change(&cfg); err != nil {
			return function.Config{}, err
		}
		b, err := json.Marshal(&cfg)
		if err != nil {
			return function.Config{}, fmt.Errorf("encode function %s: %w", name, err)
		}
		rev, err := s.kv.Update(ctx, functionKey(name), b, e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // a concurrent update won; redo ours on top of it
		}
		if err != nil {
			return function.Config{}, fmt.Errorf("update function %s: %w", name, err)
		}
		s.set(name, rev, &cfg)
		return cfg, nil
	}
}

// Delete removes a function.
//
// It writes the bucket's purge marker itself, rather than through
// KeyValue.Purge, to learn the marker's revision: the in-memory copy must
// record the deletion at its true revision, or it can hide a later create
// of the same name (a deletion recorded above its true revision shadows the
// next write) or let an earlier one reappear.
func (s *Store) Delete(ctx context.Context, name string) error {
	key := functionKey(name)
	for {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("function %s: %w", name, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("get function %s: %w", name, err)
		}
		m := nats.NewMsg(kvSubjectPrefix + functionsBucket + "." + key)
		m.Header.Set(kvOperationHeader, kvOperationPurge)
		m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
		// Only if the key is still at the revision just read: a purge must
		// not remove a function created or changed meanwhile.
		ack, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(e.Revision()))
		if isWrongLastSequence(err) {
			continue // a concurrent write got there first; look again
		}
		if err != nil {
			return fmt.Errorf("delete function %s: %w", name, err)
		}
		s.set(name, ack.Sequence, nil)
		return nil
	}
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
	for name, e := range s.configs {
		if e.cfg == nil && time.Since(e.deleted) > keep {
			delete(s.configs, name)
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
	for _, cfg := range s.Functions() {
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
