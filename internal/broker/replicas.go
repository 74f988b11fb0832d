package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Replicated assets in a NATS cluster.
//
// Every node of a Hearth cluster opens the same streams, buckets and
// object stores at start, usually at the same moment. nats-server (2.15)
// answers concurrent creates of one replicated stream with the same
// configuration correctly (an equal assignment is answered as soon as
// the stream exists), but not a create and an update: an update applied
// before the new stream has elected its first leader replaces the
// create's assignment, marking it answered, and is itself answered only
// by a stream leader, which does not exist yet. Both callers wait for
// answers that never come. nats.go's CreateOrUpdate* do an update first,
// so three nodes opening a bucket together all hung (TestReplicatedRace).
//
// So the wrapper creates first and updates only when the stream exists
// with another configuration, bounds each attempt to attemptTimeout and
// tries again (opening is idempotent; a lost answer costs one attempt),
// never changes the replica count of an existing asset by an update
// (scaling is the reconciler's, scaleUp, alone), and returns once the
// asset has a leader (waitLeader). Object stores are wrapped so that
// reads right after a put see it (settled).
//
// A cluster that has fewer JetStream servers than the replicas wanted (a
// cluster of two, a single external server) cannot place the asset: it is
// created with one replica then, and the reconciler scales it up once the
// cluster has enough servers. (A fresh cluster whose routes name three
// servers elects no meta leader with two of them up: nodes wait for the
// third, see waitJetStream.)

// attemptTimeout bounds one create or update request: a lost answer
// costs this much before the next attempt.
const attemptTimeout = 10 * time.Second

// replication is what the wrapper and the reconciler share.
type replication struct {
	js   jetstream.JetStream // unwrapped
	want int
	log  *slog.Logger

	mu     sync.Mutex
	below  map[string]bool // guarded by mu; streams opened with fewer replicas than want
	single bool            // guarded by mu; the server is not clustered: one replica for good
}

// replicas is how many replicas to create an asset with.
func (r *replication) replicas() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.single {
		return 1
	}
	return r.want
}

func (r *replication) note(stream string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n < r.want && !r.single {
		r.below[stream] = true
	} else {
		delete(r.below, stream)
	}
}

// pending lists the streams below the wanted replicas.
func (r *replication) pending() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for s := range r.below {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// apiCode is the JetStream API error code of err, 0 if it has none.
func apiCode(err error) jetstream.ErrorCode {
	var ae *jetstream.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode
	}
	return 0
}

// JetStream API error codes (nats-server's errors.json).
const (
	codeNoPeers              jetstream.ErrorCode = 10005 // no suitable peers for placement
	codeClusterNotAvail      jetstream.ErrorCode = 10008 // JetStream system temporarily unavailable
	codeInsufficient         jetstream.ErrorCode = 10023 // insufficient resources
	codeReplicasNotSupported jetstream.ErrorCode = 10074 // replicas > 1 not supported in non-clustered mode
)

// open creates (or with orUpdate, creates or updates) stream through
// create and update, which do the request with the replica count given.
func (r *replication) open(ctx context.Context, stream string, orUpdate bool, create, update func(ctx context.Context, replicas int) error) (int, error) {
	if _, ok := ctx.Deadline(); !ok {
		// Placing a replicated stream in a cluster that has just formed
		// can take longer than JetStream's default 5 s.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	n := r.replicas()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := create(actx, n)
		if orUpdate && errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// It exists with another configuration: update it, keeping
			// its replica count.
			var cur int
			if cur, err = r.current(actx, stream); err == nil {
				n = cur
				err = update(actx, n)
			}
		}
		cancel()
		code := apiCode(err)
		switch {
		case err == nil:
			r.note(stream, n)
			return n, nil
		case n > 1 && (code == codeNoPeers || code == codeInsufficient || code == codeReplicasNotSupported):
			if code == codeReplicasNotSupported {
				r.mu.Lock()
				r.single = true
				r.mu.Unlock()
				r.log.Warn("the NATS server is not clustered: streams and buckets keep one replica", "stream", stream)
			} else {
				r.log.Info("the cluster has too few servers for the replicas wanted: one replica until it has them", "stream", stream, "replicas", n, "err", err)
			}
			n = 1
			continue
		case ctx.Err() != nil:
			return 0, err
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoStreamResponse) || code == codeClusterNotAvail:
			// A lost answer (see above) or an election under way.
			r.log.Info("opening a stream: trying again", "stream", stream, "attempt", attempt, "err", err)
			select {
			case <-time.After(time.Duration(50+rand.IntN(200)) * time.Millisecond):
			case <-ctx.Done():
				return 0, err
			}
		default:
			return 0, err
		}
	}
}

// waitLeader waits until stream has a leader.
func (r *replication) waitLeader(ctx context.Context, stream string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := r.js.Stream(actx, stream)
		cancel()
		if err == nil {
			if c := s.CachedInfo().Cluster; c != nil && c.Leader != "" {
				return nil
			}
			err = errors.New("no leader yet")
		}
		select {
		case <-time.After(time.Duration(50+rand.IntN(100)) * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("wait for a leader of %s: %w", stream, err)
		}
	}
}

// current returns the replica count stream has.
func (r *replication) current(ctx context.Context, stream string) (int, error) {
	s, err := r.js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	return max(s.CachedInfo().Config.Replicas, 1), nil
}

// keep is the replica count an update without one keeps: the current.
func (r *replication) keep(ctx context.Context, stream string) int {
	if n, err := r.current(ctx, stream); err == nil {
		return n
	}
	return r.replicas()
}

// scaleUp gives the streams below the wanted replicas that many, once the
// cluster has the servers (an update that adds peers; the servers copy
// the data and the stream keeps serving).
func (r *replication) scaleUp(ctx context.Context, streams []string) {
	for _, name := range streams {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := r.scaleStream(actx, name)
		cancel()
		if err != nil && ctx.Err() == nil {
			r.log.Debug("scaling up a stream failed; trying again later", "stream", name, "replicas", r.want, "err", err)
		}
	}
}

func (r *replication) scaleStream(ctx context.Context, name string) error {
	s, err := r.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		r.note(name, r.want) // deleted: nothing to scale
		return nil
	}
	if err != nil {
		return err
	}
	cfg := s.CachedInfo().Config
	if cfg.Replicas >= r.want {
		r.note(name, cfg.Replicas)
		return nil
	}
	from := cfg.Replicas
	cfg.Replicas = r.want
	if _, err := r.js.UpdateStream(ctx, cfg); err != nil {
		return err
	}
	r.note(name, r.want)
	r.log.Info("stream scaled up", "stream", name, "from", from, "replicas", r.want)
	return nil
}

// replicated is a JetStream context that creates every stream, bucket and
// object store with the replicas wanted unless the caller asked for a
// number itself, so that the packages that own them need not know the
// cluster's size (see the comment at the top of this file).
type replicated struct {
	jetstream.JetStream
	r *replication
}

func (w replicated) CreateOrUpdateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	return w.stream(ctx, cfg, true)
}

func (w replicated) CreateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	return w.stream(ctx, cfg, false)
}

func (w replicated) stream(ctx context.Context, cfg jetstream.StreamConfig, orUpdate bool) (jetstream.Stream, error) {
	if cfg.Replicas != 0 {
		if orUpdate {
			return w.JetStream.CreateOrUpdateStream(ctx, cfg)
		}
		return w.JetStream.CreateStream(ctx, cfg)
	}
	var s jetstream.Stream
	n, err := w.r.open(ctx, cfg.Name, orUpdate,
		func(ctx context.Context, n int) (err error) {
			cfg.Replicas = n
			s, err = w.JetStream.CreateStream(ctx, cfg)
			return err
		},
		func(ctx context.Context, n int) (err error) {
			cfg.Replicas = n
			s, err = w.JetStream.UpdateStream(ctx, cfg)
			return err
		})
	if err != nil || n <= 1 {
		return s, err
	}
	// Its callers read it at once (the async queue scans it).
	if err := w.r.waitLeader(ctx, cfg.Name); err != nil {
		return nil, err
	}
	return s, nil
}

func (w replicated) UpdateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = w.r.keep(ctx, cfg.Name)
	}
	return w.JetStream.UpdateStream(ctx, cfg)
}

func (w replicated) CreateOrUpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return w.keyValue(ctx, cfg, true)
}

func (w replicated) CreateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return w.keyValue(ctx, cfg, false)
}

func (w replicated) keyValue(ctx context.Context, cfg jetstream.KeyValueConfig, orUpdate bool) (jetstream.KeyValue, error) {
	if cfg.Replicas != 0 {
		if orUpdate {
			return w.JetStream.CreateOrUpdateKeyValue(ctx, cfg)
		}
		return w.JetStream.CreateKeyValue(ctx, cfg)
	}
	var kv jetstream.KeyValue
	n, err := w.r.open(ctx, "KV_"+cfg.Bucket, orUpdate,
		func(ctx context.Context, n int) (err error) {
			cfg.Replicas = n
			kv, err = w.JetStream.CreateKeyValue(ctx, cfg)
			return err
		},
		func(ctx context.Context, n int) (err error) {
			cfg.Replicas = n
			kv, err = w.JetStream.UpdateKeyValue(ctx, cfg)
			return err
		})
	if err != nil || n <= 1 {
		return kv, err
	}
	if err := w.r.waitLeader(ctx, "KV_"+cfg.Bucket); err != nil {
		return nil, err
	}
	return settledKV{kv}, nil
}

// KeyValue binds a bucket so that gets see recent writes (settledKV).
func (w replicated) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	kv, err := w.JetStream.KeyValue(ctx, bucket)
	if err != nil {
		return nil, err
	}
	return settledKV{kv}, nil
}

// settledKV is a replicated bucket whose Get asks again, a few times
// over ~35 ms, when it finds no key. nats.go gets with direct gets, which
// the reader's own server answers from its replica, and a replica may not
// have applied a write the leader acknowledged: the store's
// compare-and-set read a function created a moment before through the
// same node as missing, and its activation was dropped, leaving the
// function Pending for good (TestClusterR3LoseOneServer, one run in
// seven). A stale older revision needs nothing: the compare-and-set
// fails and reads again. A key that does not exist costs the retries.
type settledKV struct{ jetstream.KeyValue }

func (kv settledKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	for try := 1; ; try++ {
		e, err := kv.KeyValue.Get(ctx, key)
		if !errors.Is(err, jetstream.ErrKeyNotFound) || try == 4 || ctx.Err() != nil {
			return e, err
		}
		time.Sleep(time.Duration(5<<(try-1)) * time.Millisecond)
	}
}

func (w replicated) UpdateKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = w.r.keep(ctx, "KV_"+cfg.Bucket)
	}
	return w.JetStream.UpdateKeyValue(ctx, cfg)
}

func (w replicated) CreateOrUpdateObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	return w.objectStore(ctx, cfg, true)
}

func (w replicated) CreateObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	return w.objectStore(ctx, cfg, false)
}

func (w replicated) objectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig, orUpdate bool) (jetstream.ObjectStore, error) {
	if cfg.Replicas != 0 {
		if orUpdate {
			return w.JetStream.CreateOrUpdateObjectStore(ctx, cfg)
		}
		return w.JetStream.CreateObjectStore(ctx, cfg)
	}
	var os jetstream.ObjectStore
	n, err := w.r.open(ctx, "OBJ_"+cfg.Bucket, orUpdate,
		func(ctx context.Context, n int) (err error) {
			cfg.Replicas = n
			os, err = w.JetStream.CreateObjectStore(ctx, cfg)
			return err
		},
		func(ctx context.Context, n int) (err error) {
			cfg.Replicas = n
			os, err = w.JetStream.UpdateObjectStore(ctx, cfg)
			return err
		})
	if err != nil || n <= 1 {
		return os, err
	}
	if err := w.r.waitLeader(ctx, "OBJ_"+cfg.Bucket); err != nil {
		return nil, err
	}
	return settled{ObjectStore: os, r: w.r, stream: "OBJ_" + cfg.Bucket}, nil
}

// ObjectStore binds a replicated object store so that writes settle (see
// settled).
func (w replicated) ObjectStore(ctx context.Context, bucket string) (jetstream.ObjectStore, error) {
	os, err := w.JetStream.ObjectStore(ctx, bucket)
	if err != nil {
		return nil, err
	}
	return settled{ObjectStore: os, r: w.r, stream: "OBJ_" + bucket}, nil
}

// settled is a replicated object store whose puts return once every
// replica that is up has applied them, and whose reads of an object that
// a lagging replica answers for try again. nats.go reads an object's
// description with a direct get, which any replica answers (the reader's
// own server first), and its chunks through an ordered consumer, which
// the servers may place on any replica and which ends the object when it
// has nothing pending: a replica that has not applied a put yet (a put is
// acknowledged once two of three have) says "not found", or ends the
// object early ("digests do not match", TestReplicatedRace), as a worker
// that fetched code stored a moment before through another node did.
// Puts are rare (a deployment package, a layer); the wait is bounded by
// settleMax, so a replica that is down but not yet seen as offline costs
// each put that much.
type settled struct {
	jetstream.ObjectStore
	r      *replication
	stream string
}

const settleMax = 2 * time.Second

func (o settled) Put(ctx context.Context, meta jetstream.ObjectMeta, reader io.Reader) (*jetstream.ObjectInfo, error) {
	info, err := o.ObjectStore.Put(ctx, meta, reader)
	if err == nil {
		o.r.settle(ctx, o.stream)
	}
	return info, err
}

func (o settled) PutBytes(ctx context.Context, name string, data []byte) (*jetstream.ObjectInfo, error) {
	info, err := o.ObjectStore.PutBytes(ctx, name, data)
	if err == nil {
		o.r.settle(ctx, o.stream)
	}
	return info, err
}

func (o settled) PutString(ctx context.Context, name string, data string) (*jetstream.ObjectInfo, error) {
	info, err := o.ObjectStore.PutString(ctx, name, data)
	if err == nil {
		o.r.settle(ctx, o.stream)
	}
	return info, err
}

func (o settled) PutFile(ctx context.Context, file string) (*jetstream.ObjectInfo, error) {
	info, err := o.ObjectStore.PutFile(ctx, file)
	if err == nil {
		o.r.settle(ctx, o.stream)
	}
	return info, err
}

// GetBytes reads through Get (see there and settled).
func (o settled) GetBytes(ctx context.Context, name string, opts ...jetstream.GetObjectOpt) ([]byte, error) {
	res, err := o.Get(ctx, name, opts...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	return io.ReadAll(res)
}

// GetInfo asks again when a lagging replica says "not found" (see
// settled); an object that does not exist costs the retries (~100 ms).
func (o settled) GetInfo(ctx context.Context, name string, opts ...jetstream.GetObjectInfoOpt) (*jetstream.ObjectInfo, error) {
	for try := 1; ; try++ {
		info, err := o.ObjectStore.GetInfo(ctx, name, opts...)
		if !errors.Is(err, jetstream.ErrObjectNotFound) || try == maxRereads || ctx.Err() != nil {
			return info, err
		}
		time.Sleep(time.Duration(try) * 10 * time.Millisecond)
	}
}

// Get returns a reader that, when a lagging replica ends the object
// early, reads it again from where it was (the object is immutable: its
// chunks are named by its NUID) instead of failing.
func (o settled) Get(ctx context.Context, name string, opts ...jetstream.GetObjectOpt) (jetstream.ObjectResult, error) {
	var res *opened
	var err error
	for try := 1; ; try++ {
		res, err = o.open(ctx, name, opts)
		if !errors.Is(err, jetstream.ErrObjectNotFound) || try == maxRereads || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(try) * 10 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	return &rereading{ObjectResult: res, ctx: ctx, o: o, name: name, opts: opts}, nil
}

// opened is an object being read, with the context its read lives in.
type opened struct {
	jetstream.ObjectResult
	cancel context.CancelFunc
}

func (r *opened) Close() error {
	err := r.ObjectResult.Close()
	r.cancel()
	return err
}

// open starts reading an object, bounding the start to attemptTimeout
// and trying again past it. nats.go creates the read's consumer with a
// request bound only by ctx, and the read lives in ctx, so a context
// without a deadline (a function's activation) waited forever when the
// request was lost while a server failed over, and so did every
// invocation waiting for the same code (TestClusterR3LoseOneServer, one
// run in six before). The read itself keeps ctx's own bound.
func (o settled) open(ctx context.Context, name string, opts []jetstream.GetObjectOpt) (*opened, error) {
	type result struct {
		res jetstream.ObjectResult
		err error
	}
	for try := 1; ; try++ {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan result, 1)
		go func() {
			res, err := o.ObjectStore.Get(rctx, name, opts...)
			done <- result{res, err}
		}()
		select {
		case r := <-done:
			if r.err != nil {
				cancel()
				return nil, r.err
			}
			return &opened{ObjectResult: r.res, cancel: cancel}, nil
		case <-time.After(attemptTimeout):
			cancel()
			if r := <-done; r.err == nil {
				r.res.Close()
			}
			if try == maxRereads || ctx.Err() != nil {
				return nil, fmt.Errorf("get object %s: no answer within %v, %d times", name, attemptTimeout, try)
			}
			o.r.log.Info("getting an object: no answer; trying again", "object", name, "try", try)
		case <-ctx.Done():
			cancel()
			return nil, ctx.Err()
		}
	}
}

const maxRereads = 5

type rereading struct {
	jetstream.ObjectResult // the current read
	ctx                    context.Context
	o                      settled
	name                   string
	opts                   []jetstream.GetObjectOpt
	n                      int64 // bytes delivered
	tries                  int
}

func (r *rereading) Read(p []byte) (int, error) {
	for {
		k, err := r.ObjectResult.Read(p)
		r.n += int64(k)
		if !errors.Is(err, jetstream.ErrDigestMismatch) || r.tries == maxRereads || r.ctx.Err() != nil {
			return k, err
		}
		r.tries++
		r.o.r.log.Debug("an object read ended early (a lagging replica); reading it again", "object", r.name, "at", r.n, "try", r.tries)
		r.ObjectResult.Close()
		time.Sleep(time.Duration(r.tries) * 20 * time.Millisecond)
		res, gerr := r.o.open(r.ctx, r.name, r.opts)
		if gerr != nil {
			return k, err
		}
		r.ObjectResult = res
		// Ended early again before where we were: the next Read returns
		// the mismatch again and the loop tries once more.
		if _, serr := io.CopyN(io.Discard, res, r.n); serr != nil && !errors.Is(serr, jetstream.ErrDigestMismatch) {
			return k, serr
		}
		if k > 0 {
			return k, nil
		}
	}
}

// settle waits, at most settleMax, until every replica of stream that is
// up is current with no lag.
func (r *replication) settle(ctx context.Context, stream string) {
	ctx, cancel := context.WithTimeout(ctx, settleMax)
	defer cancel()
	for {
		s, err := r.js.Stream(ctx, stream)
		if err == nil {
			behind := false
			if c := s.CachedInfo().Cluster; c != nil {
				for _, p := range c.Replicas {
					if !p.Offline && (!p.Current || p.Lag > 0) {
						behind = true
					}
				}
			}
			if !behind {
				return
			}
		}
		select {
		case <-ctx.Done():
			r.log.Debug("a replica has not applied a put yet", "stream", stream, "err", err)
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (w replicated) UpdateObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = w.r.keep(ctx, "OBJ_"+cfg.Bucket)
	}
	return w.JetStream.UpdateObjectStore(ctx, cfg)
}

// withReplicas wraps js when want > 1; the replication is nil otherwise.
func withReplicas(js jetstream.JetStream, want int, log *slog.Logger) (jetstream.JetStream, *replication) {
	if want <= 1 {
		return js, nil
	}
	r := &replication{js: js, want: want, log: log, below: map[string]bool{}}
	return replicated{JetStream: js, r: r}, r
}

// reconcile scales streams below the wanted replicas up once the cluster
// has the servers, until stop is closed. ready says whether this node
// should try now: on an embedded server, only the meta leader tries (one
// node acts, and it knows the cluster's JetStream servers), and it
// scales every stream of the account (the embedded cluster is Hearth's
// own), so streams created before the cluster had its servers, or by an
// older Hearth with one replica, are scaled too. With an external cluster
// each node tries, every 15 s with jitter, for the streams it opened.
func (r *replication) reconcile(stop <-chan struct{}, ready func() (all bool, ok bool)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		all, ok := ready()
		wait := 2 * time.Second
		if ok {
			streams := r.pending()
			if all {
				streams = r.allBelow(ctx)
			}
			r.scaleUp(ctx, streams)
			if len(streams) == 0 {
				wait = 10 * time.Second // all scaled: look again now and then
			}
		}
		if !all {
			wait = 10*time.Second + rand.N(10*time.Second)
		}
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
	}
}

// allBelow lists the account's streams with fewer replicas than wanted.
func (r *replication) allBelow(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	var out []string
	l := r.js.ListStreams(ctx)
	for info := range l.Info() {
		if info.Config.Replicas < r.want {
			out = append(out, info.Config.Name)
		}
	}
	if err := l.Err(); err != nil && ctx.Err() == nil {
		r.log.Debug("listing streams to scale up", "err", err)
	}
	return out
}
