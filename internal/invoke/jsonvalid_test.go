package invoke

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var validJSONCases = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `1`, `-`, `01`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`,
	`true`, `false`, `null`, `tru`, `nul`, `True`, `truex`, `nullnull`,
	`{"a":1}`, `{"a":1,}`, `{"a" : [1, 2 ,3] , "b":{}}`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`, `{,}`,
	`[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[[[]]`, `[]]`, `{"a":[}`, `{"a":1]`, `[1}`,
	`"\u00e9\n\t\"\\\/\b\f\r"`, `"\u00g0"`, `"\u12"`, `"\x"`, "\"a\x01\"", "\"\xff\xfe\"", "\xff", `"unterminated`, `"a\`,
	" \t\r\n{} \t\r\n", " {}x", "{}\x00", "\u00a0{}", `"` + strings.Repeat("é", 20) + `"`,
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth),
	strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
	strings.Repeat("[", 70) + "{" + strings.Repeat("]", 70),
}

func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range validJSONCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%.60q) = %v; encoding/json says %v", c, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, c := range validJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		if got, want := validJSON(p), json.Valid(p); got != want {
			t.Errorf("validJSON(%q) = %v; encoding/json says %v", p, got, want)
		}
	})
}

// checkPayload keeps Lambda's rule and message for a payload that is not
// JSON, and turns an empty one into {}.
func TestCheckPayload(t *testing.T) {
	for _, p := range []string{`{"a":`, `x`, `{} {}`} {
		_, err := checkPayload([]byte(p))
		if !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("checkPayload(%q) = %v; want ErrInvalidPayload", p, err)
			continue
		}
		want := "Could not parse request body into json: Could not parse payload into json: Unexpected character: was expecting a JSON value"
		if !strings.HasSuffix(err.Error(), want) {
			t.Errorf("checkPayload(%q) = %q; want it to end in %q", p, err, want)
		}
	}
	if got, err := checkPayload(nil); err != nil || string(got) != "{}" {
		t.Errorf("checkPayload(nil) = %q, %v; want {}", got, err)
	}
	p := []byte(`{"a":[1,"b"]}`)
	if got, err := checkPayload(p); err != nil || !bytes.Equal(got, p) {
		t.Errorf("checkPayload(%s) = %q, %v; want it unchanged", p, got, err)
	}
}

// benchDoc is a JSON document of about n bytes in the shape of an event:
// objects of strings, numbers and nested arrays.
func benchDoc(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":12345,"name":"a record with some text in it \u00e9","values":[1.5,-2e10,true,null],"nested":{"k":"v"}}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkCheckPayload compares the validator with encoding/json.Valid
// (the floor here is what the check cost before) on a 1 MB event.
//
//	go test -run XXX -bench CheckPayload ./internal/invoke/
func BenchmarkCheckPayload(b *testing.B) {
	doc := benchDoc(1 << 20)
	var floor float64
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if !json.Valid(doc) {
				b.Fatal("invalid")
			}
		}
		floor = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("validJSON", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if !validJSON(doc) {
				b.Fatal("invalid")
			}
		}
		if floor > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/floor, "x-json.Valid")
		}
	})
}
