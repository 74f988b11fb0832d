// Package eventstream encodes AWS event stream messages
// (application/vnd.amazon.eventstream), the framing of
// InvokeWithResponseStream's response: a prelude (total and header
// lengths, and their CRC32), headers, the payload, and the CRC32 of all
// that. Only string headers (type 7) are written, which is all Lambda's
// events use; Decode reads them back, for tests and tools.
package eventstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Limits of the framing that AWS's decoders enforce.
const (
	MaxPayload    = 16 * 1024 * 1024
	MaxHeaderSize = 128 * 1024
	preludeLen    = 12 // total length, headers length, prelude CRC
	crcLen        = 4
	typeString    = 7
)

// Header is a string-valued header.
type Header struct {
	Name, Value string
}

// Message is one decoded message.
type Message struct {
	Headers []Header
	Payload []byte
}

// Get returns the value of the header named name, or "".
func (m *Message) Get(name string) string {
	for _, h := range m.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// Append appends the message made of headers and payload to dst. Header
// names must be at most 255 bytes and values at most 65,535 bytes, the
// payload at most MaxPayload: larger ones are an error.
func Append(dst []byte, headers []Header, payload []byte) ([]byte, error) {
	hlen := 0
	for _, h := range headers {
		if len(h.Name) == 0 || len(h.Name) > 255 || len(h.Value) > 65535 {
			return dst, fmt.Errorf("eventstream: header %q: name or value too long", h.Name)
		}
		hlen += 1 + len(h.Name) + 1 + 2 + len(h.Value)
	}
	if hlen > MaxHeaderSize {
		return dst, errors.New("eventstream: headers too large")
	}
	if len(payload) > MaxPayload {
		return dst, errors.New("eventstream: payload too large")
	}
	total := preludeLen + hlen + len(payload) + crcLen
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint32(dst, uint32(hlen))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:start+8]))
	for _, h := range headers {
		dst = append(dst, byte(len(h.Name)))
		dst = append(dst, h.Name...)
		dst = append(dst, typeString)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.Value)))
		dst = append(dst, h.Value...)
	}
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:])), nil
}

// AppendEvent appends an event message (:message-type event) of the given
// :event-type and :content-type.
func AppendEvent(dst []byte, eventType, contentType string, payload []byte) ([]byte, error) {
	return Append(dst, []Header{
		{":event-type", eventType},
		{":content-type", contentType},
		{":message-type", "event"},
	}, payload)
}

// ErrShort reports that b holds less than a whole message.
var ErrShort = errors.New("eventstream: short message")

// Decode decodes the message at the start of b and returns it with the
// number of bytes it took. The payload aliases b. Headers of types other
// than string are an error.
func Decode(b []byte) (Message, int, error) {
	if len(b) < preludeLen {
		return Message{}, 0, ErrShort
	}
	total := binary.BigEndian.Uint32(b[0:4])
	hlen := binary.BigEndian.Uint32(b[4:8])
	if crc32.ChecksumIEEE(b[:8]) != binary.BigEndian.Uint32(b[8:12]) {
		return Message{}, 0, errors.New("eventstream: prelude checksum mismatch")
	}
	if total < preludeLen+crcLen || uint64(hlen) > uint64(total)-preludeLen-crcLen || hlen > MaxHeaderSize ||
		total-preludeLen-crcLen-hlen > MaxPayload {
		return Message{}, 0, errors.New("eventstream: invalid lengths")
	}
	if uint64(len(b)) < uint64(total) {
		return Message{}, 0, ErrShort
	}
	end := int(total) - crcLen
	if crc32.ChecksumIEEE(b[:end]) != binary.BigEndian.Uint32(b[end:total]) {
		return Message{}, 0, errors.New("eventstream: message checksum mismatch")
	}
	var m Message
	h := b[preludeLen : preludeLen+int(hlen)]
	for len(h) > 0 {
		n := int(h[0])
		if n == 0 || len(h) < 1+n+1+2 {
			return Message{}, 0, errors.New("eventstream: malformed header")
		}
		name := string(h[1 : 1+n])
		if h[1+n] != typeString {
			return Message{}, 0, fmt.Errorf("eventstream: header %q: unsupported type %d", name, h[1+n])
		}
		vl := int(binary.BigEndian.Uint16(h[2+n:]))
		h = h[4+n:]
		if len(h) < vl {
			return Message{}, 0, errors.New("eventstream: malformed header")
		}
		m.Headers = append(m.Headers, Header{name, string(h[:vl])})
		h = h[vl:]
	}
	m.Payload = b[preludeLen+int(hlen) : end]
	return m, int(total), nil
}
