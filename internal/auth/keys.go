package auth

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const bucket = "hearth_auth"

// Account is a tenant: everything it creates carries its id.
type Account struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// Key is a long-term access key.
type Key struct {
	ID      string    `json:"id"`
	Secret  string    `json:"secret"`
	Account string    `json:"account"`
	Name    string    `json:"name"` // the IAM user name in the caller's ARN; "" for a root key
	Root    bool      `json:"root"` // may manage accounts and keys
	Created time.Time `json:"created"`
}

func (k *Key) caller() *Caller {
	c := &Caller{Account: k.Account, Root: k.Root, KeyID: k.ID}
	if k.Name == "" {
		c.ARN, c.UserID = "arn:aws:iam::"+k.Account+":root", k.Account
	} else {
		c.ARN, c.UserID = "arn:aws:iam::"+k.Account+":user/"+k.Name, "AIDA"+strings.TrimPrefix(k.ID, "AKIA")
	}
	return c
}

// Errors of Keys.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid")
)

// Keys holds accounts and their access keys in a JetStream key-value
// bucket, with a copy in memory that every request reads. Writes go to
// the bucket and then to the copy; in a cluster, Run keeps the copy in
// step with what other nodes write.
type Keys struct {
	kv jetstream.KeyValue

	mu       sync.RWMutex
	accounts map[string]Account // guarded by mu; by id
	keys     map[string]Key     // guarded by mu; by access key id
	roles    map[string]Role    // guarded by mu; by role ARN
	// revs is the revision of each bucket key the copy reflects (after a
	// deletion, the revision of the value it deleted), so that a watched
	// entry older than what this node wrote or saw is ignored. Guarded by mu.
	revs   map[string]uint64
	forget func(id string) // called (outside mu) when a key is deleted
}

// OpenKeys opens (creating if need be) the bucket on js and loads it.
func OpenKeys(ctx context.Context, js jetstream.JetStream) (*Keys, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "Hearth accounts and access keys",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open auth bucket: %w", err)
	}
	k := &Keys{kv: kv, accounts: map[string]Account{}, keys: map[string]Key{}, roles: map[string]Role{}, revs: map[string]uint64{}}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list auth bucket: %w", err)
	}
	defer lister.Stop()
	for name := range lister.Keys() {
		e, err := kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
		if err := k.apply(e); err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
	}
	return k, nil
}

// Run keeps the copy in step with the bucket until ctx is done: an
// account, key or role created or deleted through another node takes
// effect here as soon as the bucket's watch delivers it (milliseconds;
// TestKeysWatch). It starts from the bucket's current values, so nothing
// written between OpenKeys and Run is missed.
func (k *Keys) Run(ctx context.Context) error {
	w, err := k.kv.WatchAll(ctx)
	if ctx.Err() != nil {
		if err == nil {
			w.Stop()
		}
		return nil // stopped before it started: not a failure
	}
	if err != nil {
		return fmt.Errorf("watch auth bucket: %w", err)
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
			if e == nil {
				continue // the end of the current values
			}
			if err := k.apply(e); err != nil {
				slog.Error("undecodable auth record", "component", "auth", "key", e.Key(), "err", err)
			}
		}
	}
}

// apply records a bucket entry in the copy unless the copy already
// reflects that revision of the key or a later one.
func (k *Keys) apply(e jetstream.KeyValueEntry) error {
	name, put := e.Key(), e.Operation() == jetstream.KeyValuePut
	var (
		a   Account
		key Key
		r   Role
	)
	if put {
		var v any
		switch {
		case strings.HasPrefix(name, "account."):
			v = &a
		case strings.HasPrefix(name, "key."):
			v = &key
		case strings.HasPrefix(name, "role."):
			v = &r
		default:
			return nil
		}
		if err := json.Unmarshal(e.Value(), v); err != nil {
			return err
		}
	}
	var forgotten string
	k.mu.Lock()
	if e.Revision() <= k.revs[name] {
		k.mu.Unlock()
		return nil
	}
	k.revs[name] = e.Revision()
	switch {
	case strings.HasPrefix(name, "account."):
		if put {
			k.accounts[a.ID] = a
		} else {
			delete(k.accounts, strings.TrimPrefix(name, "account."))
		}
	case strings.HasPrefix(name, "key."):
		if put {
			k.keys[key.ID] = key
		} else if id := strings.TrimPrefix(name, "key."); k.keys[id].ID != "" {
			delete(k.keys, id)
			forgotten = id
		}
	case strings.HasPrefix(name, "role."):
		if put {
			k.roles[r.ARN] = r
		} else {
			for arn := range k.roles {
				if roleKey(arn) == name {
					delete(k.roles, arn)
				}
			}
		}
	}
	forget := k.forget
	k.mu.Unlock()
	if forgotten != "" && forget != nil {
		forget(forgotten)
	}
	return nil
}

// wrote records that this node wrote revision rev of bucket key name.
// Lock held.
func (k *Keys) wrote(name string, rev uint64) {
	k.revs[name] = max(k.revs[name], rev)
}

// Lookup returns the key with id.
func (k *Keys) Lookup(id string) (Key, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok := k.keys[id]
	return key, ok
}

// Accounts lists the accounts by id.
func (k *Keys) Accounts() []Account {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]Account, 0, len(k.accounts))
	for _, a := range k.accounts {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Account) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Account returns the account with id.
func (k *Keys) Account(id string) (Account, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	a, ok := k.accounts[id]
	return a, ok
}

// KeysOf lists account's keys by id.
func (k *Keys) KeysOf(account string) []Key {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []Key
	for _, key := range k.keys {
		if key.Account == account {
			out = append(out, key)
		}
	}
	slices.SortFunc(out, func(a, b Key) int { return strings.Compare(a.ID, b.ID) })
	return out
}

var (
	accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)
	nameRE      = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
)

// CreateAccount stores a new account. An empty id picks a random one.
func (k *Keys) CreateAccount(ctx context.Context, id, name string) (Account, error) {
	if id == "" {
		id = randomAccountID()
	}
	if !accountIDRE.MatchString(id) {
		return Account{}, fmt.Errorf("%w: account id must be 12 digits, got %q", ErrInvalid, id)
	}
	if name != "" && !nameRE.MatchString(name) {
		return Account{}, fmt.Errorf("%w: account name must be 1 to 64 of letters, digits and +=,.@_-", ErrInvalid)
	}
	a := Account{ID: id, Name: name, Created: time.Now().UTC()}
	b, _ := json.Marshal(a)
	rev, err := k.kv.Create(ctx, "account."+id, b)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return Account{}, fmt.Errorf("%w: account %s", ErrExists, id)
		}
		return Account{}, fmt.Errorf("store account: %w", err)
	}
	k.mu.Lock()
	k.wrote("account."+id, rev)
	k.accounts[id] = a
	k.mu.Unlock()
	return a, nil
}

// DeleteAccount deletes an account and every key of it.
func (k *Keys) DeleteAccount(ctx context.Context, id string) error {
	if _, ok := k.Account(id); !ok {
		return fmt.Errorf("%w: account %s", ErrNotFound, id)
	}
	for _, key := range k.KeysOf(id) {
		if err := k.DeleteKey(ctx, key.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	if err := k.kv.Delete(ctx, "account."+id); err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	k.mu.Lock()
	delete(k.accounts, id)
	k.mu.Unlock()
	return nil
}

// CreateKey creates an access key for account. A root key may manage
// accounts and keys; name is the IAM user name of a key that is not.
func (k *Keys) CreateKey(ctx context.Context, account, name string, root bool) (Key, error) {
	if _, ok := k.Account(account); !ok {
		return Key{}, fmt.Errorf("%w: account %s", ErrNotFound, account)
	}
	if name != "" && !nameRE.MatchString(name) {
		return Key{}, fmt.Errorf("%w: key name must be 1 to 64 of letters, digits and +=,.@_-", ErrInvalid)
	}
	key := Key{ID: NewKeyID("AKIA"), Secret: NewSecret(), Account: account, Name: name, Root: root, Created: time.Now().UTC()}
	if !root && name == "" {
		key.Name = "hearth-" + strings.ToLower(key.ID[len(key.ID)-8:])
	}
	b, _ := json.Marshal(key)
	rev, err := k.kv.Create(ctx, "key."+key.ID, b)
	if err != nil {
		return Key{}, fmt.Errorf("store key: %w", err)
	}
	k.mu.Lock()
	k.wrote("key."+key.ID, rev)
	k.keys[key.ID] = key
	k.mu.Unlock()
	return key, nil
}

// DeleteKey deletes an access key.
func (k *Keys) DeleteKey(ctx context.Context, id string) error {
	if _, ok := k.Lookup(id); !ok {
		return fmt.Errorf("%w: key %s", ErrNotFound, id)
	}
	if err := k.kv.Delete(ctx, "key."+id); err != nil {
		return fmt.Errorf("delete key: %w", err)
	}
	k.mu.Lock()
	delete(k.keys, id)
	forget := k.forget
	k.mu.Unlock()
	if forget != nil {
		forget(id)
	}
	return nil
}

// Bootstrap makes sure account exists and has a root key, creating both
// on first start. It returns the root key and whether it was created now.
func (k *Keys) Bootstrap(ctx context.Context, account string) (Key, bool, error) {
	if _, ok := k.Account(account); !ok {
		if _, err := k.CreateAccount(ctx, account, "default"); err != nil && !errors.Is(err, ErrExists) {
			return Key{}, false, err
		}
	}
	for _, key := range k.KeysOf(account) {
		if key.Root {
			return key, false, nil
		}
	}
	key, err := k.CreateKey(ctx, account, "", true)
	return key, err == nil, err
}

// NewKeyID returns a random access key id with prefix (AKIA for long-term
// keys, ASIA for temporary ones), 20 characters as AWS's.
func NewKeyID(prefix string) string {
	b := make([]byte, 10)
	rand.Read(b)
	return prefix + base32.StdEncoding.EncodeToString(b)[:20-len(prefix)]
}

// NewSecret returns a random 40-character secret access key.
func NewSecret() string {
	b := make([]byte, 30)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func randomAccountID() string {
	b := make([]byte, 12)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	if b[0] == '0' {
		b[0] = '1' // 000000000000 is the conventional default; keep generated ids apart
	}
	return string(b)
}
