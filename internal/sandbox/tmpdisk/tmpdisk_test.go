//go:build linux

package tmpdisk_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hearth/internal/sandbox/tmpdisk"
)

func newMaker(t *testing.T) (*tmpdisk.Maker, string) {
	t.Helper()
	if err := tmpdisk.Available(); err != nil {
		if os.Geteuid() == 0 {
			t.Fatalf("running as root, but tmpdisk cannot run here: %v", err)
		}
		t.Skip(err)
	}
	dir := filepath.Join(t.TempDir(), "images")
	m, err := tmpdisk.New(dir)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return m, dir
}

// A filesystem of n MB takes exactly n MB of data: filling it stops with
// ENOSPC after n MB and less than one more.
func TestMakeHoldsExactlyItsSize(t *testing.T) {
	m, dir := newMaker(t)
	for _, mb := range []int{8, 512} {
		mnt, err := m.Make(mb)
		if err != nil {
			t.Fatalf("Make(%d) = %v", mb, err)
		}
		at := t.TempDir()
		err = tmpdisk.MountAt(mnt, at)
		mnt.Close()
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Statfs_t
		if err := unix.Statfs(at, &st); err != nil {
			t.Fatal(err)
		}
		if st.Type != unix.EXT4_SUPER_MAGIC {
			t.Errorf("Make(%d): filesystem type %#x; want ext4", mb, st.Type)
		}
		fi, err := os.Stat(at)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode()&(os.ModePerm|os.ModeSticky), os.ModePerm|os.ModeSticky; got != want {
			t.Errorf("Make(%d): root mode %v; want %v", mb, got, want)
		}
		if entries, _ := os.ReadDir(at); len(entries) != 0 {
			t.Errorf("Make(%d): root holds %v; want nothing", mb, entries)
		}
		written, err := fill(filepath.Join(at, "big"))
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("Make(%d): filling it ended with %v; want ENOSPC", mb, err)
		}
		if low, high := int64(mb)<<20, int64(mb+1)<<20; written < low || written >= high {
			t.Errorf("Make(%d): %d bytes written before ENOSPC; want %d to %d", mb, written, low, high)
		}
		if err := tmpdisk.Unmount(at); err != nil {
			t.Fatal(err)
		}
	}
	assertNothingLeft(t, dir)
}

// fill writes to a new file at p until a write fails.
func fill(p string) (int64, error) {
	f, err := os.Create(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if err != nil {
			return n, err
		}
		if err := f.Sync(); err != nil { // delayed allocation: ENOSPC may wait for it
			return n, err
		}
	}
}

// A filesystem that was never mounted leaves nothing once closed.
func TestUnusedMountLeavesNothing(t *testing.T) {
	m, dir := newMaker(t)
	mnt, err := m.Make(16)
	if err != nil {
		t.Fatal(err)
	}
	if got := tmpdisk.BackedUnder(dir); len(got) != 1 {
		t.Errorf("loop devices backed under %s while mounted: %v; want one", dir, got)
	}
	mnt.Close()
	assertNothingLeft(t, dir)
}

// assertNothingLeft waits briefly for the kernel to detach loop devices and
// fails if any image of dir is still attached or present.
func assertNothingLeft(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(tmpdisk.BackedUnder(dir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := tmpdisk.BackedUnder(dir); len(got) > 0 {
		t.Errorf("loop devices still backed by images of %s: %v", dir, got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("%s still holds %v", dir, entries)
	}
}

// BenchmarkMake measures making, attaching and throwing away a 512 MB
// filesystem from its template: what a cold start pays.
func BenchmarkMake(b *testing.B) {
	m := benchMaker(b)
	if err := m.Warm(512); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		mnt, err := m.Make(512)
		if err != nil {
			b.Fatal(err)
		}
		mnt.Close()
	}
}

// BenchmarkTemplate measures making the template of a size no Make has
// used yet (mkfs.ext4, about three times, to find the image size): what the
// first environment of each size pays, the default size excepted.
func BenchmarkTemplate(b *testing.B) {
	m := benchMaker(b)
	mb := 1000
	for b.Loop() {
		mb++
		if err := m.Warm(mb); err != nil {
			b.Fatal(err)
		}
	}
}

func benchMaker(b *testing.B) *tmpdisk.Maker {
	if err := tmpdisk.Available(); err != nil {
		b.Skip(err)
	}
	m, err := tmpdisk.New(filepath.Join(b.TempDir(), "images"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// Take hands out a filesystem and keeps the next of its size ready, which
// Close throws away.
func TestTakeKeepsOneAhead(t *testing.T) {
	m, dir := newMaker(t)
	a, err := m.Take(24)
	if err != nil {
		t.Fatalf("Take() = %v", err)
	}
	defer a.Close()
	if got := waitBacked(dir, 2); len(got) != 2 {
		t.Errorf("after one Take: loop devices %v; want the one handed out and one ahead", got)
	}
	b, err := m.Take(24)
	if err != nil {
		t.Fatalf("Take() = %v", err)
	}
	defer b.Close()
	if got := waitBacked(dir, 3); len(got) != 3 {
		t.Errorf("after two Takes: loop devices %v; want the two handed out and one ahead", got)
	}
	at := t.TempDir()
	if err := tmpdisk.MountAt(b, at); err != nil {
		t.Fatal(err)
	}
	defer tmpdisk.Unmount(at)
	var st unix.Statfs_t
	if err := unix.Statfs(at, &st); err != nil {
		t.Fatal(err)
	}
	if avail := int64(st.Bavail) * st.Bsize; avail < 24<<20 || avail > 25<<20 {
		t.Errorf("the second Take's filesystem has %d bytes available; want 24 MB", avail)
	}
	tmpdisk.Unmount(at)
	a.Close()
	b.Close()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, dir)
}

// waitBacked waits up to 5 s for n loop devices backed by images of dir.
func waitBacked(dir string, n int) []string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := tmpdisk.BackedUnder(dir)
		if len(got) == n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkMakeParallel makes 50 filesystems at once, as a burst of cold
// starts does, with at most par at a time: the kernel's loop and mount
// work serializes, so the rate says what concurrency buys.
func BenchmarkMakeParallel(b *testing.B) {
	m := benchMaker(b)
	for _, par := range []int{1, 2, 4, 50} {
		b.Run(fmt.Sprint(par), func(b *testing.B) {
			for b.Loop() {
				sem := make(chan struct{}, par)
				var wg sync.WaitGroup
				for range 50 {
					wg.Go(func() {
						sem <- struct{}{}
						defer func() { <-sem }()
						f, err := m.Make(64)
						if err != nil {
							b.Error(err)
							return
						}
						f.Close()
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(50*b.N)/b.Elapsed().Seconds(), "fs/s")
		})
	}
}

// A burst of cold starts makes filesystems all at once; every one of them
// gets a loop device, although LOOP_CTL_GET_FREE names the same free one
// to concurrent callers.
func TestMakeConcurrently(t *testing.T) {
	m, dir := newMaker(t)
	const n = 64
	mnts := make([]*os.File, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { mnts[i], errs[i] = m.Make(8) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Errorf("Make() concurrently: %v", err)
	}
	for _, mnt := range mnts {
		if mnt != nil {
			mnt.Close()
		}
	}
	assertNothingLeft(t, dir)
}

// After a burst of Takes that found none made ahead, Take keeps one ahead
// for every one of them, for the next burst; Close throws them away.
func TestTakeKeepsAsManyAheadAsABurstMissed(t *testing.T) {
	m, dir := newMaker(t)
	const n = 6
	mnts := make([]*os.File, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { mnts[i], errs[i] = m.Take(8) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Take() concurrently: %v", err)
	}
	if got := waitBacked(dir, 2*n); len(got) != 2*n {
		t.Errorf("after a burst of %d Takes: %d loop devices; want the %d handed out and %d ahead", n, len(got), n, n)
	}
	for _, mnt := range mnts {
		mnt.Close()
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, dir)
}
