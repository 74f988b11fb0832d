// Package cluster runs invocations across Hearth nodes: a node with the
// worker role announces its state on NATS (placement.Announce) and serves
// invocations on an HTTP listener of its own (WorkerNode); an api node
// keeps a placement.Registry from the announcements and sends each
// invocation to the worker it places it on (Runner, an invoke.Runner).
//
// Invocations travel over direct HTTP between nodes, not NATS request/reply:
// a worker killed mid-invocation closes its connections, so the api node
// learns it at once instead of at a timeout, and 6 MB payloads do not depend
// on the NATS servers' max_payload (1 MB by default on an external cluster).
// docs/architecture.md "Cluster" has the measurements.
package cluster

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"hearth/internal/function"
	"hearth/internal/worker"
)

// Subject is where workers publish their placement.Announce messages.
const Subject = "hearth.cluster.workers"

// invokePath is the worker's HTTP endpoint for invocations.
const invokePath = "/_hearth/cluster/v1/invoke"

// drainPath is the worker's HTTP endpoint that makes it drain.
const drainPath = "/_hearth/cluster/v1/drain"

// Key is the placement key of a function version: its environments are
// interchangeable.
func Key(account, name, version string) string {
	return account + "/" + name + ":" + version
}

// invokeMeta is what travels with a payload from the api node to the worker.
type invokeMeta struct {
	Function        function.Config `json:"function"`
	RequestID       string          `json:"requestId"`
	InvokedARN      string          `json:"invokedArn,omitempty"`
	ClientContext   string          `json:"clientContext,omitempty"`
	CognitoIdentity string          `json:"cognitoIdentity,omitempty"`
	TraceID         string          `json:"traceId,omitempty"`
}

// request is the invocation m describes, with payload, for the worker.
func (m *invokeMeta) request(payload []byte, stream worker.StreamSink) *worker.Request {
	return &worker.Request{
		Function:        m.Function,
		RequestID:       m.RequestID,
		Payload:         payload,
		InvokedARN:      m.InvokedARN,
		ClientContext:   m.ClientContext,
		CognitoIdentity: m.CognitoIdentity,
		TraceID:         m.TraceID,
		Stream:          stream,
	}
}

// resultMeta is what travels back with the response payload.
type resultMeta struct {
	FunctionError   string        `json:"functionError,omitempty"`
	ErrorType       string        `json:"errorType,omitempty"`
	ExecutedVersion string        `json:"executedVersion,omitempty"`
	Log             []byte        `json:"log,omitempty"`
	Duration        time.Duration `json:"duration"`
	InitDuration    time.Duration `json:"initDuration,omitempty"`
	ColdStart       bool          `json:"coldStart,omitempty"`
	// Err is set when the worker could not run the function at all;
	// Closed says it is shutting down.
	Err    string `json:"err,omitempty"`
	Closed bool   `json:"closed,omitempty"`
	// Worker is the id of the worker that ran the invocation.
	Worker string `json:"worker,omitempty"`
}

// result is the worker's answer m describes, with payload.
func (m *resultMeta) result(payload []byte) *worker.Result {
	return &worker.Result{
		Payload:         payload,
		FunctionError:   m.FunctionError,
		ErrorType:       m.ErrorType,
		ExecutedVersion: m.ExecutedVersion,
		Log:             m.Log,
		Duration:        m.Duration,
		InitDuration:    m.InitDuration,
		ColdStart:       m.ColdStart,
	}
}

// maxMeta bounds the metadata frame (a function's configuration with its
// 4 KB of environment variables, a client context, a log tail).
const maxMeta = 1 << 20

// writeFrame writes meta as a length-prefixed JSON document followed by
// payload.
func writeFrame(w io.Writer, meta any, payload []byte) error {
	m, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(m)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(m); err != nil {
		return err
	}
	_, err = w.Write(payload)
	return err
}

// readFrame reads what writeFrame wrote: meta into dst, then the payload,
// at most maxPayload bytes.
func readFrame(r io.Reader, dst any, maxPayload int64) ([]byte, error) {
	br := bufio.NewReader(r)
	var n [4]byte
	if _, err := io.ReadFull(br, n[:]); err != nil {
		return nil, fmt.Errorf("read frame: %w", err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxMeta {
		return nil, fmt.Errorf("frame metadata of %d bytes", size)
	}
	m := make([]byte, size)
	if _, err := io.ReadFull(br, m); err != nil {
		return nil, fmt.Errorf("read frame: %w", err)
	}
	if err := json.Unmarshal(m, dst); err != nil {
		return nil, fmt.Errorf("decode frame: %w", err)
	}
	payload, err := io.ReadAll(io.LimitReader(br, maxPayload+1))
	if err != nil {
		return nil, fmt.Errorf("read frame payload: %w", err)
	}
	if int64(len(payload)) > maxPayload {
		return nil, errors.New("frame payload too large")
	}
	return payload, nil
}
