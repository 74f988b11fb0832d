package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"hearth/internal/lambdaapi"
)

// Request body limits. A body is refused from its Content-Length before a
// byte of it is read, and a body without one is cut off at the limit.
const (
	// maxCodeBody is Lambda's limit on CreateFunction and
	// UpdateFunctionCode (a 50 MB zip, base64-encoded, inside JSON), as
	// AWS's message states it (recorded: "Request must be smaller than
	// 70167211 bytes for the CreateFunction operation").
	maxCodeBody = 70167211
	// maxOtherBody is Hearth's limit on the other JSON operations, whose
	// largest legitimate bodies (4 KB of environment, 50 tags) are far
	// smaller; they are read into memory.
	maxOtherBody = 1 << 20
	// maxMembers bounds what a code request holds besides its ZipFile,
	// which goes to disk; the rest is read into memory.
	maxMembers = 1 << 20
	// largeUpload is the body size from which a code request takes one
	// of the upload slots.
	largeUpload = 1 << 20
)

// Upload slots: at most this many large code uploads are read at once;
// another waits up to uploadWait (API.uploadWait) for a slot and is then
// refused with 429.
// Each costs little memory (the package streams to disk), but disk
// bandwidth and the store's ingest are shared.
const (
	maxUploads = 4
	uploadWait = 10 * time.Second
)

// bodyLimit is the largest body op accepts.
func bodyLimit(op string) int64 {
	if zipMember(op) != nil {
		return maxCodeBody
	}
	return maxOtherBody
}

// zipMember is the path of the base64 zip in op's body, nil when it has
// none.
func zipMember(op string) []string {
	switch op {
	case "CreateFunction":
		return []string{"Code", "ZipFile"}
	case "UpdateFunctionCode":
		return []string{"ZipFile"}
	case "PublishLayerVersion":
		return []string{"Content", "ZipFile"}
	}
	return nil
}

// tooLargeBody answers a body over op's limit. The rest of the body is
// left unread; the connection closes.
func (a *API) tooLargeBody(w http.ResponseWriter, r *http.Request, op string, limit int64) {
	w.Header().Set("Connection", "close")
	a.fail(w, r, lambdaapi.ErrEntityTooLarge.WithMessage(fmt.Sprintf("Request must be smaller than %d bytes for the %s operation", limit, op)))
}

// takeUploadSlot takes an upload slot for a large (or unsized) code
// request, waiting briefly. It writes the 429 and returns false when none
// frees up.
func (a *API) takeUploadSlot(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	if r.ContentLength >= 0 && r.ContentLength <= largeUpload {
		return func() {}, true
	}
	t := time.NewTimer(a.uploadWait)
	defer t.Stop()
	select {
	case a.uploads <- struct{}{}:
		return func() {
			<-a.uploads
			if len(a.uploads) == 0 {
				a.memory.release(a.quit, &a.tasks)
			}
		}, true
	case <-t.C:
	case <-r.Context().Done():
	}
	w.Header().Set("Connection", "close")
	e := lambdaapi.ErrTooManyRequests.WithMessage(fmt.Sprintf("This Hearth server takes %d large code uploads at a time; try again shortly.", maxUploads))
	e.RetryAfter = 2
	a.fail(w, r, e)
	return nil, false
}

// upload is a ZipFile member streamed, decoded, to a private temporary
// file.
type upload struct {
	path string
	size int64
	sha  string // base64 SHA-256, as CodeSha256
}

func (u *upload) open() (*os.File, error) { return os.Open(u.path) }

type uploadKey struct{}

// uploadOf returns the ZipFile the router streamed to disk for r, nil when
// the request had none (or an empty one).
func uploadOf(r *http.Request) *upload {
	u, _ := r.Context().Value(uploadKey{}).(*upload)
	return u
}

// readUpload reads a code request's body: the ZipFile member at path goes
// to a temporary file in the upload directory as it arrives, decoded; the
// rest, with that member's value emptied (""), is returned for the
// router's validation and the handler's decoding. The caller removes the
// upload's file. It writes the AWS error and returns false on failure.
func (a *API) readUpload(w http.ResponseWriter, r *http.Request, op string, path []string) ([]byte, *upload, bool) {
	lr := &limitedBody{r: r.Body, left: maxCodeBody}
	s := &splitter{br: bufio.NewReaderSize(lr, 64<<10), path: path, dir: a.uploadDir}
	body, err := s.split()
	switch {
	case errors.Is(err, errBodyTooLarge):
		a.tooLargeBody(w, r, op, maxCodeBody)
	case errors.Is(err, errMembersTooLarge):
		w.Header().Set("Connection", "close")
		a.fail(w, r, lambdaapi.ErrEntityTooLarge.WithMessage(fmt.Sprintf(
			"The members of a %s request other than ZipFile must be smaller than %d bytes on this Hearth server", op, maxMembers)))
	case errors.As(err, new(base64.CorruptInputError)):
		a.fail(w, r, lambdaapi.ErrInvalidRequestContent.WithMessage("Could not parse request body into json: "+err.Error()))
	case errors.As(err, new(*uploadError)):
		a.fail(w, r, err)
	case err != nil:
		a.fail(w, r, lambdaapi.ErrInvalidRequestContent.WithMessage("Could not read request body: "+err.Error()))
	default:
		return body, s.up, true
	}
	s.up.remove()
	return nil, nil, false
}

func (u *upload) remove() {
	if u != nil {
		os.Remove(u.path)
	}
}

// uploadError is a failure to store an upload on the server's side (a
// full disk); it answers 500.
type uploadError struct{ err error }

func (e *uploadError) Error() string { return "store upload: " + e.err.Error() }
func (e *uploadError) Unwrap() error { return e.err }

var (
	errBodyTooLarge    = errors.New("request body too large")
	errMembersTooLarge = errors.New("request members too large")
	errMalformed       = errors.New("malformed JSON")
)

// limitedBody reads at most left bytes of r and fails with
// errBodyTooLarge past them.
type limitedBody struct {
	r    io.Reader
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, errBodyTooLarge
	}
	return n, err
}

// splitter copies a JSON body to out, except the string value at path
// (object members from the top), which it decodes from base64 into a
// file as it reads it. It checks only the structure it must follow;
// jsonObject checks the rest. On malformed input it copies the remainder
// as it is, so that jsonObject reports it as it would have.
type splitter struct {
	br   *bufio.Reader
	out  bytes.Buffer
	path []string
	dir  string
	up   *upload // the streamed member, once read
}

func (s *splitter) split() ([]byte, error) {
	err := s.value(0, true)
	if err == nil || errors.Is(err, errMalformed) {
		// Whatever follows the value (or the malformed part) is left for
		// jsonObject to judge.
		_, err = io.Copy(writerFunc(s.emit), s.br)
	}
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(s.out.Bytes())) == 0 {
		return []byte("{}"), nil
	}
	return s.out.Bytes(), nil
}

type writerFunc func([]byte) error

func (f writerFunc) Write(p []byte) (int, error) {
	if err := f(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *splitter) emit(p []byte) error {
	if s.out.Len()+len(p) > maxMembers {
		return errMembersTooLarge
	}
	s.out.Write(p)
	return nil
}

func (s *splitter) emitByte(c byte) error { return s.emit([]byte{c}) }

// next returns the next byte that is not white space, copying the white
// space. At the end of the body it returns errMalformed.
func (s *splitter) next() (byte, error) {
	for {
		c, err := s.br.ReadByte()
		if err == io.EOF {
			return 0, errMalformed
		}
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			if err := s.emitByte(c); err != nil {
				return 0, err
			}
			continue
		}
		return c, nil
	}
}

// value copies one JSON value. onPath says whether the containers around
// it are the first depth members of path.
func (s *splitter) value(depth int, onPath bool) error {
	c, err := s.next()
	if err != nil {
		if errors.Is(err, errMalformed) && depth == 0 {
			return nil // an empty body
		}
		return err
	}
	switch c {
	case '{':
		return s.object(depth, onPath)
	case '[':
		if err := s.emitByte(c); err != nil {
			return err
		}
		for first := true; ; first = false {
			c, err := s.next()
			if err != nil {
				return err
			}
			if c == ']' {
				return s.emitByte(c)
			}
			if !first {
				if c != ',' {
					s.br.UnreadByte()
					return errMalformed
				}
				if err := s.emitByte(c); err != nil {
					return err
				}
			} else {
				s.br.UnreadByte()
			}
			if err := s.value(depth+1, false); err != nil {
				return err
			}
		}
	case '"':
		if err := s.emitByte(c); err != nil {
			return err
		}
		if err := s.str(s.emit); err != nil {
			return err
		}
		return s.emitByte('"')
	default: // a number, true, false or null: up to the next delimiter
		if err := s.emitByte(c); err != nil {
			return err
		}
		for {
			c, err := s.br.ReadByte()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			switch c {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				s.br.UnreadByte()
				return nil
			}
			if err := s.emitByte(c); err != nil {
				return err
			}
		}
	}
}

func (s *splitter) object(depth int, onPath bool) error {
	if err := s.emitByte('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		c, err := s.next()
		if err != nil {
			return err
		}
		if c == '}' {
			return s.emitByte(c)
		}
		if !first {
			if c != ',' {
				s.br.UnreadByte()
				return errMalformed
			}
			if err := s.emitByte(c); err != nil {
				return err
			}
			if c, err = s.next(); err != nil {
				return err
			}
		}
		if c != '"' {
			s.br.UnreadByte()
			return errMalformed
		}
		var key []byte
		err = s.str(func(p []byte) error {
			if len(key)+len(p) > maxMembers {
				return errMembersTooLarge
			}
			key = append(key, p...)
			return nil
		})
		if err != nil {
			return err
		}
		if err := s.emit(append(append([]byte{'"'}, key...), '"')); err != nil {
			return err
		}
		if c, err = s.next(); err != nil {
			return err
		}
		if c != ':' {
			s.br.UnreadByte()
			return errMalformed
		}
		if err := s.emitByte(c); err != nil {
			return err
		}
		member := onPath && depth < len(s.path) && string(key) == s.path[depth]
		if member && depth == len(s.path)-1 && s.up == nil {
			c, err := s.next()
			if err != nil {
				return err
			}
			if c == '"' {
				if err := s.streamZip(); err != nil {
					return err
				}
				if err := s.emit([]byte(`""`)); err != nil {
					return err
				}
				continue
			}
			s.br.UnreadByte()
			member = false
		}
		if err := s.value(depth+1, member); err != nil {
			return err
		}
	}
}

// str reads the rest of a string whose opening quote was read, passing its
// raw content (escapes as written) to fn in pieces, and consumes the
// closing quote.
func (s *splitter) str(fn func([]byte) error) error {
	esc := false // the previous piece ended in an unpaired backslash
	for {
		chunk, err := s.br.ReadSlice('"')
		if err == io.EOF {
			if ferr := fn(chunk); ferr != nil {
				return ferr
			}
			return errMalformed
		}
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
		closed := err == nil
		content := chunk
		if closed {
			content = chunk[:len(chunk)-1]
		}
		n := 0
		for n < len(content) && content[len(content)-1-n] == '\\' {
			n++
		}
		odd := n%2 == 1
		if n == len(content) && esc {
			odd = !odd
		}
		if closed && odd { // an escaped quote: part of the string
			content = chunk
		}
		if err := fn(content); err != nil {
			return err
		}
		if closed && !odd {
			return nil
		}
		esc = !closed && odd
	}
}

// streamZip decodes the base64 string being read into a private
// temporary file and records it as s.up; an empty string records nothing.
func (s *splitter) streamZip() (err error) {
	f, err := os.CreateTemp(s.dir, "upload-*.zip") // 0600
	if err != nil {
		return &uploadError{err}
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = &uploadError{cerr}
		}
		if err != nil || s.up.size == 0 {
			os.Remove(f.Name())
			s.up = nil
		}
	}()
	s.up = &upload{path: f.Name()}
	h := sha256.New()
	pr, pw := io.Pipe()
	decoded := make(chan error, 1)
	go func() {
		n, err := io.Copy(io.MultiWriter(f, h), base64.NewDecoder(base64.StdEncoding, pr))
		switch {
		case err == nil:
			// Nothing may follow the padding.
			if extra, _ := io.Copy(io.Discard, pr); extra > 0 {
				err = base64.CorruptInputError((n + 2) / 3 * 4)
			}
		case errors.Is(err, io.ErrUnexpectedEOF): // a last quad cut short
			err = base64.CorruptInputError((n + 2) / 3 * 4)
		case !errors.As(err, new(base64.CorruptInputError)):
			err = &uploadError{err} // the file, or the body's read error (returned instead)
		}
		s.up.size = n
		pr.CloseWithError(err)
		decoded <- err
	}()
	u := &unescaper{w: pw}
	rerr := s.str(u.write)
	if rerr == nil {
		rerr = u.flush()
	}
	pw.CloseWithError(rerr)
	derr := <-decoded
	if rerr != nil {
		return rerr // the body's, or the decoder's as the pipe returned it
	}
	if derr != nil {
		return derr
	}
	s.up.sha = base64.StdEncoding.EncodeToString(h.Sum(nil))
	return nil
}

// unescaper writes the content of a JSON string with its escapes decoded
// (a base64 string may have its slashes escaped, "\/").
type unescaper struct {
	w       io.Writer
	pending []byte // an escape sequence cut off at the end of a piece
	buf     []byte
}

func (u *unescaper) write(p []byte) error {
	if len(u.pending) == 0 && bytes.IndexByte(p, '\\') < 0 {
		_, err := u.w.Write(p)
		return err
	}
	u.buf = u.buf[:0]
	for _, c := range p {
		if len(u.pending) == 0 {
			if c == '\\' {
				u.pending = append(u.pending, c)
			} else {
				u.buf = append(u.buf, c)
			}
			continue
		}
		u.pending = append(u.pending, c)
		if u.pending[1] == 'u' {
			if len(u.pending) < 6 {
				continue
			}
			r, err := strconv.ParseUint(string(u.pending[2:6]), 16, 16)
			if err != nil {
				return errMalformed
			}
			u.buf = utf8.AppendRune(u.buf, rune(r))
		} else {
			switch u.pending[1] {
			case '"', '\\', '/':
				u.buf = append(u.buf, u.pending[1])
			case 'b':
				u.buf = append(u.buf, '\b')
			case 'f':
				u.buf = append(u.buf, '\f')
			case 'n':
				u.buf = append(u.buf, '\n')
			case 'r':
				u.buf = append(u.buf, '\r')
			case 't':
				u.buf = append(u.buf, '\t')
			default:
				return errMalformed
			}
		}
		u.pending = u.pending[:0]
	}
	_, err := u.w.Write(u.buf)
	return err
}

func (u *unescaper) flush() error {
	if len(u.pending) > 0 {
		return errMalformed
	}
	return nil
}

// withUpload records up on r's context for the handler.
func withUpload(ctx context.Context, up *upload) context.Context {
	return context.WithValue(ctx, uploadKey{}, up)
}
