package broker

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// minFree is the free space below which the data directory counts as full:
// writes are refused up front rather than failing inside JetStream, and a
// JetStream stopped by a write error is not restarted until there is at
// least this much.
const minFree = 4 << 20

// StorageError says that JetStream cannot write to its directory, and why.
type StorageError struct {
	Dir  string
	Free int64 // bytes available to the server; -1 when unknown
	Err  error
}

func (e *StorageError) Error() string {
	if e.Free >= 0 {
		return fmt.Sprintf("data directory %s cannot be written (%d bytes free): %v", e.Dir, e.Free, e.Err)
	}
	return fmt.Sprintf("data directory %s cannot be written: %v", e.Dir, e.Err)
}

func (e *StorageError) Unwrap() error { return e.Err }

// StorageErr returns why JetStream cannot write, as a *StorageError, or
// nil. It costs a lock: the broker re-examines its storage every second
// (CheckStorage does it at once).
func (b *Broker) StorageErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.storageErr
}

// CheckStorage examines the storage now, records the result for
// StorageErr and returns it. After a failure it keeps reporting it until
// the watcher has restarted JetStream: a filestore can hold a write error
// that no health check shows.
func (b *Broker) CheckStorage() error {
	if b.srv == nil {
		return nil
	}
	return b.record(b.examineStorage(), false)
}

// record makes err the storage state, unless err is nil and JetStream has
// not been restarted since the last failure (restarted says it just was),
// logs the transitions, and returns the state.
func (b *Broker) record(err error, restarted bool) error {
	b.mu.Lock()
	prev := b.storageErr
	switch {
	case err != nil:
		b.storageErr, b.recovering = err, true
	case restarted || !b.recovering:
		b.storageErr, b.recovering = nil, false
	}
	now := b.storageErr
	b.mu.Unlock()
	var se *StorageError
	switch {
	case prev == nil && errors.As(now, &se):
		b.log.Error("storage full or failing: refusing writes until it recovers", "dir", se.Dir, "free_bytes", se.Free, "err", se.Err)
	case prev != nil && now == nil:
		b.log.Info("storage writable again", "dir", b.dir)
	}
	return now
}

// examineStorage reports a *StorageError when JetStream is down or one of
// its streams has hit a write error (nats-server makes both sticky), or the
// directory has less than minFree bytes available.
func (b *Broker) examineStorage() error {
	free := freeBytes(b.dir)
	fail := func(err error) error { return &StorageError{Dir: b.dir, Free: free, Err: err} }
	if !b.srv.JetStreamEnabled() {
		return fail(errors.New("JetStream is stopped"))
	}
	h := b.srv.Healthz(&server.HealthzOptions{Details: true})
	for _, e := range h.Errors {
		if strings.Contains(e.Error, "write error") {
			return fail(errors.New(e.Error))
		}
	}
	if free >= 0 && free < minFree {
		return fail(fmt.Errorf("less than %d MiB free", minFree>>20))
	}
	return nil
}

// freeBytes returns the bytes available to the server under dir, or -1.
func freeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * st.Bsize
}

// watchStorage checks the storage every second until stop is closed. When
// a failure has been seen and there is room again, it restarts JetStream
// before writes resume: nats-server keeps a stream's or filestore's write
// error until the stream is reloaded, so without a restart a full disk
// would wedge the server even after space is freed.
func (b *Broker) watchStorage(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	backoff := time.Second
	var next time.Time
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		err := b.examineStorage()
		b.mu.Lock()
		recovering := b.recovering
		b.mu.Unlock()
		var se *StorageError
		roomAgain := (err == nil && recovering) || (errors.As(err, &se) && se.Free >= minFree)
		if !roomAgain || time.Now().Before(next) {
			b.record(err, false)
			continue
		}
		b.log.Warn("restarting JetStream to clear its write errors", "dir", b.dir, "free_bytes", freeBytes(b.dir))
		if rerr := b.restartJetStream(); rerr != nil {
			b.log.Error("restart JetStream", "err", rerr)
		}
		err = b.examineStorage()
		if err == nil {
			backoff = time.Second
		} else {
			next = time.Now().Add(backoff)
			backoff = min(2*backoff, 30*time.Second)
		}
		b.record(err, err == nil)
	}
}

// restartJetStream stops JetStream, keeping its state, and starts it again
// on the same directory; it reloads every stream from disk.
func (b *Broker) restartJetStream() error {
	if err := b.srv.ShutdownJetStream(); err != nil {
		return fmt.Errorf("stop JetStream: %w", err)
	}
	cfg := b.jsConfig // EnableJetStream changes what it is given
	if err := b.srv.EnableJetStream(&cfg); err != nil {
		return fmt.Errorf("start JetStream: %w", err)
	}
	return nil
}
