package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"

	"hearth/internal/lambdaapi"
)

// recordingServer serves a's route table with every Lambda handler
// replaced by one that records which operation answered.
type recordingServer struct {
	*httptest.Server
	mu       sync.Mutex
	answered string // guarded by mu
}

func (s *recordingServer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.answered
	s.answered = ""
	return op
}

func newRecordingServer(t *testing.T, a *API) *recordingServer {
	s := &recordingServer{}
	mux := a.mux(func(rt route) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.answered = rt.op
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "{}")
		})
	})
	s.Server = httptest.NewServer(WithRequestID(mux))
	t.Cleanup(s.Close)
	return s
}

func testAPI() *API {
	return New(Config{Region: "us-east-1", Account: "000000000000"}, nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler))
}

func sdkClient(url string) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 1,
	})
}

// TestEveryOperationIsServedOrUnknown calls every operation of
// aws-sdk-go-v2's Lambda client against the route table and checks that
// each is answered by its own handler or refused as unknown, never by a
// neighbour's (GET .../functions/f/policy once reached ListFunctions).
func TestEveryOperationIsServedOrUnknown(t *testing.T) {
	a := testAPI()
	srv := newRecordingServer(t, a)
	client := sdkClient(srv.URL)

	served := map[string]bool{}
	for _, rt := range a.lambdaRoutes() {
		served[rt.op] = true
	}
	cv := reflect.ValueOf(client)
	ctx := reflect.ValueOf(context.Background())
	seen := map[string]bool{}
	for i := range cv.NumMethod() {
		m := cv.Type().Method(i)
		in, ok := operationInput(m.Type)
		if !ok {
			continue
		}
		op := m.Name
		seen[op] = true
		out := cv.Method(i).Call([]reflect.Value{ctx, fill(in, 0)})
		err, _ := out[1].Interface().(error)
		got := srv.take()
		if served[op] {
			if got != op {
				t.Errorf("%s was answered by %q; want its own handler (err %v)", op, got, err)
			}
			continue
		}
		var ae smithy.APIError
		if got != "" || !errors.As(err, &ae) || ae.ErrorCode() != "UnknownOperationException" {
			t.Errorf("%s = handler %q, error %v; want UnknownOperationException from no handler", op, got, err)
		}
	}
	if len(seen) < 60 {
		t.Fatalf("found %d operations on *lambda.Client; the reflection missed them", len(seen))
	}
	for op := range served {
		if !seen[op] {
			t.Errorf("route table serves %q, which is not an operation of the Lambda API", op)
		}
		if !lambdaapi.Served(op) {
			t.Errorf("route table serves %q, but the model table has no constraints for it; add it to gen_model.py", op)
		}
	}
}

// operationInput tells an operation method, func(ctx, *XInput,
// ...func(*Options)) (*XOutput, error), and returns its input type.
func operationInput(mt reflect.Type) (reflect.Type, bool) {
	if mt.NumIn() != 4 || mt.NumOut() != 2 || !mt.IsVariadic() {
		return nil, false
	}
	in := mt.In(2)
	if in.Kind() != reflect.Pointer || !strings.HasSuffix(in.Elem().Name(), "Input") {
		return nil, false
	}
	return in, true
}

// fill returns a value of type t with every member set, so that the SDK's
// required-member checks pass.
func fill(t reflect.Type, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	if depth > 12 {
		return v
	}
	readerType := reflect.TypeFor[io.Reader]()
	switch t.Kind() {
	case reflect.Pointer:
		v.Set(fill(t.Elem(), depth+1).Addr())
	case reflect.String:
		if vals := v.MethodByName("Values"); vals.IsValid() {
			if l := vals.Call(nil)[0]; l.Len() > 0 {
				return l.Index(0)
			}
		}
		v.SetString("f1")
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(0.5)
	case reflect.Bool:
		v.SetBool(false)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte("{}"))
			break
		}
		v.Set(reflect.Append(v, fill(t.Elem(), depth+1)))
	case reflect.Map:
		v.Set(reflect.MakeMap(t))
		v.SetMapIndex(fill(t.Key(), depth+1), fill(t.Elem(), depth+1))
	case reflect.Interface:
		if t == readerType {
			v.Set(reflect.ValueOf(strings.NewReader("{}")))
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if f := v.Field(i); f.CanSet() && t.Field(i).Type.PkgPath() != "time" {
				f.Set(fill(t.Field(i).Type, depth+1))
			}
		}
	}
	return v
}

// TestUnknownOperationBodies checks the unknown-operation answers carry the
// code where each protocol's clients read it.
func TestUnknownOperationBodies(t *testing.T) {
	srv := newRecordingServer(t, testAPI())
	tests := []struct {
		name       string
		method     string
		path       string
		target     string
		wantStatus int
	}{
		{"rest-json path", "GET", "/2015-03-31/functions/x/concurrency", "", 404},
		{"unknown method on a served path", "PATCH", "/2015-03-31/functions/x", "", 404},
		{"trailing segment", "GET", "/2015-03-31/functions/x/configuration/extra", "", 404},
		{"CloudWatch Logs operation Hearth does not serve", "POST", "/", "Logs_20140328.StartLiveTail", 400},
		{"another JSON-protocol service", "POST", "/", "DynamoDB_20120810.ListTables", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader("{}"))
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
				req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("X-Amzn-Errortype") != "UnknownOperationException" || body["__type"] != "UnknownOperationException" {
				t.Errorf("%s %s = %d, X-Amzn-ErrorType %q, body %v; want %d UnknownOperationException in header and __type",
					tt.method, tt.path, resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), body, tt.wantStatus)
			}
			if got := srv.take(); got != "" {
				t.Errorf("answered by %s", got)
			}
		})
	}
}

func TestJSONKeysKeepOrder(t *testing.T) {
	body := `{"Code":{"ZipFile":"x"},"Environment":{"Variables":{"SMALL":"ok","LARGE":"x","MID":{"nested":[1,{"a":2}]}}},"Tags":{"z":"1"}}`
	r := httptest.NewRequest("POST", "/", nil)
	st, r := stateOf(r)
	st.body, st.hasBody = []byte(body), true
	got := strings.Join(jsonKeys(r, "Environment", "Variables"), ",")
	if want := "SMALL,LARGE,MID"; got != want {
		t.Errorf("jsonKeys(Environment.Variables) = %s; want %s", got, want)
	}
	if got := jsonKeys(r, "Missing", "Variables"); got != nil {
		t.Errorf("jsonKeys(Missing.Variables) = %v; want nil", got)
	}
	if got := strings.Join(jsonKeys(r), ","); got != "Code,Environment,Tags" {
		t.Errorf("jsonKeys() = %s; want the top-level keys", got)
	}
}

// TestManagementBodyLimit checks AWS's limit and message for an oversized
// management request whose size is not declared (chunked): it is cut off
// at the limit.
func TestManagementBodyLimit(t *testing.T) {
	a := testAPI()
	a.uploadDir = t.TempDir()
	const head, tail = `{"Code":{"ZipFile":"`, `"}}`
	for _, tt := range []struct {
		size int64
		ok   bool
	}{{70167211, true}, {70167212, false}} {
		n := (tt.size - int64(len(head)+len(tail))) / 4 * 4 // whole base64 quads
		pad := tt.size - n - int64(len(head)+len(tail))     // leading white space
		body := io.MultiReader(strings.NewReader(strings.Repeat(" ", int(pad))+head),
			io.LimitReader(repeat('A'), n), strings.NewReader(tail))
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/2015-03-31/functions", body)
		r.ContentLength = -1
		_, up, ok := a.readUpload(w, r, "CreateFunction", zipMember("CreateFunction"))
		up.remove()
		if ok != tt.ok {
			t.Errorf("readUpload(%d bytes) ok = %v (%d %s); want %v", tt.size, ok, w.Code, w.Body, tt.ok)
		}
		if ok && up.size != n/4*3 {
			t.Errorf("readUpload(%d bytes) stored %d bytes; want %d", tt.size, up.size, n/4*3)
		}
		if !tt.ok {
			want := `"message":"Request must be smaller than 70167211 bytes for the CreateFunction operation"`
			if w.Code != 413 || w.Header().Get("X-Amzn-Errortype") != "RequestEntityTooLargeException" || !strings.Contains(w.Body.String(), want) {
				t.Errorf("readUpload(%d bytes) = %d %s %s; want 413 RequestEntityTooLargeException %s", tt.size, w.Code, w.Header().Get("X-Amzn-Errortype"), w.Body, want)
			}
		}
	}
}

// repeat reads c forever.
type repeat byte

func (c repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// TestIsInvokePathAgreesWithRouter checks that authentication's shortcut
// to Invoke's route names it only for requests the router serves by it,
// and that it takes the common ones.
func TestIsInvokePathAgreesWithRouter(t *testing.T) {
	a := testAPI()
	mux := a.mux(a.operation)
	taken := 0
	for _, target := range []string{
		"/2015-03-31/functions/f/invocations",
		"/2015-03-31/functions/my-fn_1.x/invocations",
		"/2015-03-31/functions/f:live/invocations",
		"/2015-03-31/functions/f%3Alive/invocations",
		"/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:f/invocations",
		"/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations",
		"/2015-03-31/functions/a%2Fb/invocations",
		"/2015-03-31/functions/a/b/invocations",
		"/2015-03-31/functions/./invocations",
		"/2015-03-31/functions/../invocations",
		"/2015-03-31/functions/%2E/invocations",
		"/2015-03-31/functions/.../invocations",
		"/2015-03-31/functions//invocations",
		"/2015-03-31/functions/invocations",
		"/2015-03-31/functions/f/invocations/",
		"/2015-03-31/functions/f/invocations?Qualifier=1",
		"/2015-03-31/functions/f%20g/invocations",
		"/2015-03-31/functions/%C3%A9/invocations",
		"/2015-03-31//functions/f/invocations",
		"/2015-03-31/functions/f/./invocations",
		"/2015-03-31/functions/f/invocations/../invocations",
		"/2014-11-13/functions/f/invocations",
		"/2015-03-31/functions/f/response-streaming-invocations",
	} {
		for _, method := range []string{"POST", "GET", "PUT"} {
			r := httptest.NewRequest(method, "http://127.0.0.1:9001"+target, nil)
			_, pattern := mux.Handler(r)
			if isInvokePath(r) {
				taken++
				if pattern != invokePattern {
					t.Errorf("%s %s: isInvokePath, but the router serves it by %q", method, target, pattern)
				}
			}
		}
	}
	if taken < 6 {
		t.Errorf("isInvokePath took %d requests; want the plain Invokes (6)", taken)
	}
}
