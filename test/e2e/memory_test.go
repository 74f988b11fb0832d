package e2e

import (
	"crypto/rand"
	"io"
	"testing"
	"time"
)

// After one CreateFunction of a 6.4-7.5 MB package the server gives the
// memory it used to store the package back: its RSS returns to within
// 10 MB of what it was idle (issue 13: it stayed at 70-80 MB for minutes).
func TestMemoryReturnsAfterLargeCreate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory makes RSS meaningless")
	}
	s := startServer(t, "", "--isolation", "process")
	pid := s.cmd.Process.Pid
	base := len(zipFiles(map[string]zipFile{"bootstrap": {data: goFnBin, mode: 0o755}}))
	filler := make([]byte, max(6_400_000-base, 1<<20))
	rand.Read(filler)
	zip := zipFiles(map[string]zipFile{"bootstrap": {data: goFnBin, mode: 0o755}, "filler": {data: filler}})
	body := createBody("big", zip)
	time.Sleep(time.Second) // let the server's start settle
	idle := procStatus(t, pid, "VmRSS")

	resp, err := s.post(t, "/2015-03-31/functions", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("CreateFunction of %d bytes = %d %s; want 201", len(zip), resp.StatusCode, msg)
	}
	after := procStatus(t, pid, "VmRSS")
	var now int64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if now = procStatus(t, pid, "VmRSS"); now <= idle+10<<20 {
			break
		}
	}
	t.Logf("package %d bytes: RSS idle %d MB, after the create %d MB, then %d MB", len(zip), idle>>20, after>>20, now>>20)
	if now > idle+10<<20 {
		t.Errorf("RSS %d MB 30s after a %d MB CreateFunction; want within 10 MB of the %d MB idle", now>>20, len(zip)>>20, idle>>20)
	}
}
