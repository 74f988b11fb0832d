package eventstream_test

import (
	"bytes"
	"testing"

	sdk "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/google/go-cmp/cmp"

	"hearth/internal/eventstream"
)

// sdkDecode decodes b with aws-sdk-go-v2's decoder, the one the Lambda
// client uses for InvokeWithResponseStream.
func sdkDecode(t *testing.T, b []byte) eventstream.Message {
	t.Helper()
	m, err := sdk.NewDecoder().Decode(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatalf("sdk Decode: %v", err)
	}
	var out eventstream.Message
	for _, h := range m.Headers {
		sv, ok := h.Value.(sdk.StringValue)
		if !ok {
			t.Fatalf("header %q: type %T, want string", h.Name, h.Value)
		}
		out.Headers = append(out.Headers, eventstream.Header{Name: h.Name, Value: string(sv)})
	}
	out.Payload = m.Payload
	return out
}

func TestAppendEventDecodesWithSDK(t *testing.T) {
	b, err := eventstream.AppendEvent(nil, "PayloadChunk", "application/octet-stream", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	got := sdkDecode(t, b)
	want := eventstream.Message{Headers: []eventstream.Header{
		{":event-type", "PayloadChunk"}, {":content-type", "application/octet-stream"}, {":message-type", "event"},
	}, Payload: []byte("hello")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
}

// TestDecodeSDKEncoded checks Decode against messages aws-sdk-go-v2
// encodes, empty payload included.
func TestDecodeSDKEncoded(t *testing.T) {
	for _, p := range [][]byte{nil, []byte("{}"), bytes.Repeat([]byte{0, 1, 2}, 50000)} {
		var buf bytes.Buffer
		err := sdk.NewEncoder().Encode(&buf, sdk.Message{
			Headers: sdk.Headers{{Name: ":event-type", Value: sdk.StringValue("InvokeComplete")}},
			Payload: p,
		})
		if err != nil {
			t.Fatal(err)
		}
		m, n, err := eventstream.Decode(buf.Bytes())
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if n != buf.Len() {
			t.Errorf("Decode took %d bytes, want %d", n, buf.Len())
		}
		if got, want := m.Get(":event-type"), "InvokeComplete"; got != want {
			t.Errorf(":event-type = %q, want %q", got, want)
		}
		if !bytes.Equal(m.Payload, p) {
			t.Errorf("payload: got %d bytes, want %d", len(m.Payload), len(p))
		}
	}
}

func TestAppendRefusesOversize(t *testing.T) {
	if _, err := eventstream.Append(nil, nil, make([]byte, eventstream.MaxPayload+1)); err == nil {
		t.Error("Append(payload of MaxPayload+1) = nil error, want one")
	}
	if _, err := eventstream.Append(nil, []eventstream.Header{{Name: string(make([]byte, 256))}}, nil); err == nil {
		t.Error("Append(256-byte header name) = nil error, want one")
	}
}

// FuzzRoundTrip encodes arbitrary headers and payloads, then decodes them
// with both decoders; and feeds arbitrary bytes to Decode, which must not
// panic and must agree with the SDK's decoder on what it accepts.
func FuzzRoundTrip(f *testing.F) {
	f.Add(":event-type", "PayloadChunk", []byte("chunk"), []byte{})
	f.Add("x", "", []byte{}, []byte{0, 0, 0, 16, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, name, value string, payload, raw []byte) {
		hs := []eventstream.Header{{Name: name, Value: value}, {Name: ":message-type", Value: "event"}}
		b, err := eventstream.Append(nil, hs, payload)
		if err == nil {
			got := sdkDecode(t, b)
			want := eventstream.Message{Headers: hs, Payload: payload}
			if len(want.Payload) == 0 {
				want.Payload = nil
			}
			if len(got.Payload) == 0 {
				got.Payload = nil
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("SDK decoded (-want +got):\n%s", diff)
			}
			m, n, err := eventstream.Decode(b)
			if err != nil || n != len(b) {
				t.Fatalf("Decode = %d, %v; want %d, nil", n, err, len(b))
			}
			if diff := cmp.Diff(hs, m.Headers); diff != "" {
				t.Errorf("Decode headers (-want +got):\n%s", diff)
			}
			if !bytes.Equal(m.Payload, payload) {
				t.Errorf("Decode payload differs")
			}
		} else if name != "" && len(name) <= 255 && len(value) <= 65535 {
			t.Fatalf("Append(%q) = %v", name, err)
		}
		// Arbitrary input: Decode may refuse it, but whatever it accepts
		// the SDK accepts alike.
		m, n, err := eventstream.Decode(raw)
		if err != nil {
			return
		}
		sm, serr := sdk.NewDecoder().Decode(bytes.NewReader(raw[:n]), nil)
		if serr != nil {
			t.Fatalf("Decode accepted what the SDK refuses (%v)", serr)
		}
		if !bytes.Equal(sm.Payload, m.Payload) || len(sm.Headers) != len(m.Headers) {
			t.Errorf("Decode and the SDK disagree")
		}
	})
}
