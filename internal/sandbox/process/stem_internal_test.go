package process

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"hearth/internal/sandbox"
)

// TestStemIdleDropped: the stems of a key no Start used for stemIdle are
// killed and the key forgotten.
func TestStemIdleDropped(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	old := stemIdle
	stemIdle = 600 * time.Millisecond
	defer func() { stemIdle = old }()
	d, err := New(Config{Root: t.TempDir(), Prestart: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rtDir, codeDir := t.TempDir(), t.TempDir()
	// Waits for its message as a stem; as an environment, exits.
	os.WriteFile(filepath.Join(rtDir, "bootstrap.py"), []byte("import os\nfd = os.environ.get('_HEARTH_STEM_FD')\nif fd:\n    os.read(int(fd), 1)\n"), 0o644)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	e, err := d.Start(t.Context(), &sandbox.Spec{
		ID: "idle", Function: "idle", Cmd: []string{py, "$LAMBDA_RUNTIME_DIR/bootstrap.py"}, Env: []string{"PATH=/usr/bin:/bin"},
		CodeDir: codeDir, RuntimeDir: rtDir, Stem: "python", Output: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Destroy(t.Context())
	var ready []*stem
	deadline := time.Now().Add(10 * time.Second)
	for len(ready) < stemsPerKey {
		if time.Now().After(deadline) {
			t.Fatalf("%d stems ready after 10 s; want %d", len(ready), stemsPerKey)
		}
		time.Sleep(10 * time.Millisecond)
		d.stems.mu.Lock()
		ready = nil
		for _, k := range d.stems.keys {
			ready = append(ready, k.ready...)
		}
		d.stems.mu.Unlock()
	}
	for _, s := range ready {
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("stem %d alive 10 s after its key went idle", s.cmd.Process.Pid)
		}
	}
	d.stems.mu.Lock()
	keys, count := len(d.stems.keys), d.stems.count
	d.stems.mu.Unlock()
	if keys != 0 || count != 0 {
		t.Errorf("after the key went idle: %d keys, %d stems counted; want none", keys, count)
	}
}
