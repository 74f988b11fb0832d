package placement

import (
	"encoding/json"
	"fmt"
	"time"
)

// MessageVersion is the version of Announce this package writes and reads.
// A reader refuses a message of another version: a cluster upgrades its api
// nodes before its workers, and a newer api node reads both versions.
const MessageVersion = 1

// Announce is what a worker publishes when it joins, on every heartbeat and
// when it leaves. Each one carries the worker's whole state, so a lost
// message costs only freshness, never correctness, and an api node that
// starts late knows everything after one heartbeat period.
type Announce struct {
	V        int    `json:"v"`
	Worker   string `json:"worker"` // unique per worker process (a new one per lease)
	Addr     string `json:"addr"`   // where api nodes reach it
	Seq      uint64 `json:"seq"`    // grows with each message of this worker; older ones are ignored
	MemoryMB int    `json:"memoryMB"`
	MaxEnvs  int    `json:"maxEnvs"`
	// BusyMB and BusyEnvs count environments running an invocation. Idle
	// environments hold memory too, but a worker evicts idle ones (least
	// recently used first) to make room, so they do not count against room.
	BusyMB   int `json:"busyMB"`
	BusyEnvs int `json:"busyEnvs"`
	// Idle is the number of idle warm environments per function version key.
	Idle map[string]int `json:"idle,omitempty"`
	// Cached lists function version keys whose code the worker holds,
	// most recently run first, at most a few dozen.
	Cached   []string  `json:"cached,omitempty"`
	Draining bool      `json:"draining,omitempty"`
	LeaseEnd time.Time `json:"leaseEnd,omitzero"`
	// Leaving is the worker's last message: it is out of placement at once.
	Leaving bool `json:"leaving,omitempty"`
	// PlainHTTP says the worker serves Addr without TLS
	// (--cluster-tls=off); api nodes dial the others with https.
	PlainHTTP bool `json:"plainHTTP,omitempty"`
}

// Encode returns the message as JSON, stamped with MessageVersion.
func (a Announce) Encode() ([]byte, error) {
	a.V = MessageVersion
	return json.Marshal(a)
}

// DecodeAnnounce parses a message and refuses one of another version or
// without a worker id.
func DecodeAnnounce(b []byte) (Announce, error) {
	var a Announce
	if err := json.Unmarshal(b, &a); err != nil {
		return Announce{}, fmt.Errorf("placement: decode announce: %w", err)
	}
	if a.V != MessageVersion {
		return Announce{}, fmt.Errorf("placement: announce version %d, want %d", a.V, MessageVersion)
	}
	if a.Worker == "" {
		return Announce{}, fmt.Errorf("placement: announce without worker id")
	}
	return a, nil
}
