// Package api serves Lambda's management and Invoke APIs over HTTP in AWS's
// rest-json wire format, plus Hearth's own endpoints (/healthz, code
// downloads, function logs). It is the one place where Hearth's errors
// become AWS errors (wireError).
//
// Every handler has the same shape: bound the body, decode, validate, call,
// encode.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hearth/internal/async"
	"hearth/internal/auth"
	"hearth/internal/cluster"
	"hearth/internal/codezip"
	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
	"hearth/internal/logs"
	"hearth/internal/placement"
	"hearth/internal/runtimes"
	"hearth/internal/store"
	"hearth/internal/worker"
)

// Config configures the API.
type Config struct {
	Region  string
	Account string
	// Concurrency is the account's concurrency limit, reported by
	// GetAccountSettings.
	Concurrency int
	// OneAccount, when set, says why the server serves a single account
	// (its sandboxes cannot keep accounts apart): creating another
	// account is refused with it.
	OneAccount string
	// UploadDir holds code uploads while they are checked and stored;
	// it should be private to the server. Zero means the system's
	// temporary directory.
	UploadDir string
	// FunctionURL returns the URL a function URL of the given id is
	// reached at (the URL listener's, see URLHandler). Nil means the host
	// form on localhost without a port.
	FunctionURL func(id string) string
}

// Workers is what the API needs of the worker: preparing a version's code
// (activation) and retiring the environments of a changed function.
type Workers interface {
	Prepare(ctx context.Context, cfg *function.Config) error
	Retire(account, name, version string)
	Environments() []worker.EnvInfo
	// Provisioned concurrency (worker/provision.go).
	SetProvisioned(targets []worker.Target)
	Provisioned(account, name, version string) worker.ProvisionStatus
	Hold(ctx context.Context, cfg function.Config, n int) (release func(), err error)
}

// Runtimes tells whether this host can run a runtime, and with what.
type Runtimes interface {
	Available(rt runtimes.Runtime) error
	Statuses() []runtimes.Status
}

// Storage tells whether Hearth's durable state can take writes.
type Storage interface {
	// StorageErr returns the last known reason writes fail, or nil. It is
	// cheap enough for every write request.
	StorageErr() error
	// CheckStorage looks again now and returns what it found.
	CheckStorage() error
}

// API is the HTTP front of Hearth.
type API struct {
	cfg      Config
	store    *store.Store
	invoke   *invoke.Service
	workers  Workers
	runtimes Runtimes
	logs     *logs.Store
	log      *slog.Logger
	codeKey  []byte         // signs code download URLs
	async    Async          // nil until SetAsync
	storage  Storage        // nil until SetStorage
	verifier *auth.Verifier // nil under --auth none; see SetAuth
	keys     *auth.Keys     // nil under --auth none
	ready    atomic.Bool
	quit     chan struct{} // closed by Close: ends log follows
	closeOne sync.Once

	tasks sync.WaitGroup // activations and memory releases in flight

	reserveMu sync.Mutex // held across a reservation's check and store
	provMu    sync.Mutex // serialises SyncProvisioned

	uploadDir  string
	uploads    chan struct{} // upload slots: a send takes one
	memory     memoryReleaser
	uploadWait time.Duration // how long a large upload waits for a slot

	metrics http.Handler // nil until SetMetrics
	// clusterWorkers lists the cluster's workers (SetCluster); nil on a
	// node outside a cluster.
	clusterWorkers func() []placement.WorkerState
	// clusterNodes lists the cluster's nodes (SetClusterNodes); nil on a
	// single node.
	clusterNodes func() []cluster.NodeState
	// clusterEnvs lists the cluster's environments (clusterenv.go); nil
	// outside a cluster's api nodes.
	clusterEnvs func(ctx context.Context) ([]cluster.HostedEnv, []cluster.Listed)
	console     consoleAuth // the console's logins and sessions (console.go)
	// drainWorker asks a worker of the cluster to drain (SetDrain).
	drainWorker func(ctx context.Context, id string) (inFlight int, err error)
}

// SetMetrics has GET /metrics served by h. Call it before serving.
func (a *API) SetMetrics(h http.Handler) { a.metrics = h }

// serveMetrics serves /metrics to root callers: the metrics name every
// account's functions, as the environments view does.
func (a *API) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if a.metrics == nil {
		a.fail(w, r, invalid("metrics are not enabled on this server"))
		return
	}
	a.metrics.ServeHTTP(w, r)
}

// New returns the API. It starts no goroutines until requests arrive.
func New(cfg Config, st *store.Store, inv *invoke.Service, wk Workers, rts Runtimes, ls *logs.Store, log *slog.Logger) *API {
	key := make([]byte, 32)
	rand.Read(key)
	dir := cfg.UploadDir
	if dir == "" {
		dir = os.TempDir()
	}
	return &API{cfg: cfg, store: st, invoke: inv, workers: wk, runtimes: rts, logs: ls,
		log: log.With("component", "api"), codeKey: key, quit: make(chan struct{}),
		uploadDir: dir, uploads: make(chan struct{}, maxUploads), uploadWait: uploadWait}
}

// SetStorage makes requests that store something fail at once, with a 503
// that says why, while st reports that the storage cannot take writes.
// Call it before serving.
func (a *API) SetStorage(st Storage) { a.storage = st }

// SetReady makes /healthz answer 200.
func (a *API) SetReady() { a.ready.Store(true) }

// StopFollowing ends every log follow, so that an HTTP shutdown does not
// wait for them.
func (a *API) StopFollowing() { a.closeOne.Do(func() { close(a.quit) }) }

// Close ends log follows and waits for activations in flight. Call it after
// the HTTP server has stopped.
func (a *API) Close() {
	a.StopFollowing()
	a.tasks.Wait()
}

// route is one entry of the route table: a ServeMux pattern and its
// handler. Op names the Lambda operation as the API model does; the
// router validates the request against the model's constraints before
// the handler runs (see operation).
type route struct {
	op      string
	pattern string
	handler http.HandlerFunc
}

// lambdaRoutes lists the Lambda operations Hearth serves, with the exact
// paths of the model (table 1.4 of lambda-api.md). Patterns match whole
// paths only: a path that is not listed here, such as
// /2015-03-31/functions/f/concurrency, reaches unknownOperation and is never
// answered by a neighbouring operation. Older clients send a trailing
// slash on a few paths (the model's InvokeAsync URI has one); those are
// listed with {$}, which matches the slash and nothing after it.
//
// Operations that store something are wrapped in writes: while the
// storage fails (a full disk) they are refused at once. Invoke checks in
// enqueue, for Event invocations only.
func (a *API) lambdaRoutes() []route {
	writes := a.refuseWhenStorageFails
	return []route{
		{"CreateFunction", "POST /2015-03-31/functions", writes(a.createFunction)},
		{"CreateFunction", "POST /2015-03-31/functions/{$}", writes(a.createFunction)},
		{"ListFunctions", "GET /2015-03-31/functions", a.listFunctions},
		{"ListFunctions", "GET /2015-03-31/functions/{$}", a.listFunctions},
		{"GetFunction", "GET /2015-03-31/functions/{FunctionName}", a.getFunction},
		{"DeleteFunction", "DELETE /2015-03-31/functions/{FunctionName}", writes(a.deleteFunction)},
		{"GetFunctionConfiguration", "GET /2015-03-31/functions/{FunctionName}/configuration", a.getFunctionConfiguration},
		{"UpdateFunctionConfiguration", "PUT /2015-03-31/functions/{FunctionName}/configuration", writes(a.updateFunctionConfiguration)},
		{"UpdateFunctionCode", "PUT /2015-03-31/functions/{FunctionName}/code", writes(a.updateFunctionCode)},
		{"Invoke", "POST /2015-03-31/functions/{FunctionName}/invocations", a.invokeFunction},
		{"InvokeAsync", "POST /2014-11-13/functions/{FunctionName}/invoke-async", writes(a.invokeAsync)},
		{"InvokeAsync", "POST /2014-11-13/functions/{FunctionName}/invoke-async/{$}", writes(a.invokeAsync)},
		{"GetAccountSettings", "GET /2016-08-19/account-settings", a.getAccountSettings},
		{"GetAccountSettings", "GET /2016-08-19/account-settings/{$}", a.getAccountSettings},
		{"PutFunctionEventInvokeConfig", "PUT /2019-09-25/functions/{FunctionName}/event-invoke-config", writes(a.putEventInvokeConfig)},
		{"UpdateFunctionEventInvokeConfig", "POST /2019-09-25/functions/{FunctionName}/event-invoke-config", writes(a.updateEventInvokeConfig)},
		{"GetFunctionEventInvokeConfig", "GET /2019-09-25/functions/{FunctionName}/event-invoke-config", a.getEventInvokeConfig},
		{"DeleteFunctionEventInvokeConfig", "DELETE /2019-09-25/functions/{FunctionName}/event-invoke-config", writes(a.deleteEventInvokeConfig)},
		{"ListFunctionEventInvokeConfigs", "GET /2019-09-25/functions/{FunctionName}/event-invoke-config/list", a.listEventInvokeConfigs},
		{"ListTags", "GET /2017-03-31/tags/{Resource}", a.listTags},
		{"TagResource", "POST /2017-03-31/tags/{Resource}", writes(a.tagResource)},
		{"UntagResource", "DELETE /2017-03-31/tags/{Resource}", writes(a.untagResource)},
		{"PutFunctionConcurrency", "PUT /2017-10-31/functions/{FunctionName}/concurrency", writes(a.putFunctionConcurrency)},
		{"GetFunctionConcurrency", "GET /2019-09-30/functions/{FunctionName}/concurrency", a.getFunctionConcurrency},
		{"DeleteFunctionConcurrency", "DELETE /2017-10-31/functions/{FunctionName}/concurrency", writes(a.deleteFunctionConcurrency)},
		{"PublishLayerVersion", "POST /2018-10-31/layers/{LayerName}/versions", writes(a.publishLayerVersion)},
		{"ListLayerVersions", "GET /2018-10-31/layers/{LayerName}/versions", a.listLayerVersions},
		{"GetLayerVersion", "GET /2018-10-31/layers/{LayerName}/versions/{VersionNumber}", a.getLayerVersion},
		{"DeleteLayerVersion", "DELETE /2018-10-31/layers/{LayerName}/versions/{VersionNumber}", writes(a.deleteLayerVersion)},
		{"ListLayers", "GET /2018-10-31/layers", a.listLayers},
		{"GetLayerVersionByArn", "GET /2018-10-31/layers", a.getLayerVersionByArn}, // ?find=LayerVersion: see literalQuery
		{"AddLayerVersionPermission", "POST /2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy", writes(a.addLayerVersionPermission)},
		{"GetLayerVersionPolicy", "GET /2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy", a.getLayerVersionPolicy},
		{"RemoveLayerVersionPermission", "DELETE /2018-10-31/layers/{LayerName}/versions/{VersionNumber}/policy/{StatementId}", writes(a.removeLayerVersionPermission)},
		{"PublishVersion", "POST /2015-03-31/functions/{FunctionName}/versions", writes(a.publishVersion)},
		{"ListVersionsByFunction", "GET /2015-03-31/functions/{FunctionName}/versions", a.listVersions},
		{"CreateAlias", "POST /2015-03-31/functions/{FunctionName}/aliases", writes(a.createAlias)},
		{"ListAliases", "GET /2015-03-31/functions/{FunctionName}/aliases", a.listAliases},
		{"GetAlias", "GET /2015-03-31/functions/{FunctionName}/aliases/{Name}", a.getAlias},
		{"UpdateAlias", "PUT /2015-03-31/functions/{FunctionName}/aliases/{Name}", writes(a.updateAlias)},
		{"DeleteAlias", "DELETE /2015-03-31/functions/{FunctionName}/aliases/{Name}", writes(a.deleteAlias)},
		{"AddPermission", "POST /2015-03-31/functions/{FunctionName}/policy", writes(a.addPermission)},
		{"GetPolicy", "GET /2015-03-31/functions/{FunctionName}/policy", a.getPolicy},
		{"RemovePermission", "DELETE /2015-03-31/functions/{FunctionName}/policy/{StatementId}", writes(a.removePermission)},
		{"PutProvisionedConcurrencyConfig", "PUT /2019-09-30/functions/{FunctionName}/provisioned-concurrency", writes(a.putProvisioned)},
		{"GetProvisionedConcurrencyConfig", "GET /2019-09-30/functions/{FunctionName}/provisioned-concurrency", a.getProvisioned},
		{"DeleteProvisionedConcurrencyConfig", "DELETE /2019-09-30/functions/{FunctionName}/provisioned-concurrency", writes(a.deleteProvisioned)},
		{"ListProvisionedConcurrencyConfigs", "GET /2019-09-30/functions/{FunctionName}/provisioned-concurrency", a.listProvisioned}, // ?List=ALL: see literalQuery
		{"CreateFunctionUrlConfig", "POST /2021-10-31/functions/{FunctionName}/url", writes(a.createFunctionURLConfig)},
		{"GetFunctionUrlConfig", "GET /2021-10-31/functions/{FunctionName}/url", a.getFunctionURLConfig},
		{"UpdateFunctionUrlConfig", "PUT /2021-10-31/functions/{FunctionName}/url", writes(a.updateFunctionURLConfig)},
		{"DeleteFunctionUrlConfig", "DELETE /2021-10-31/functions/{FunctionName}/url", writes(a.deleteFunctionURLConfig)},
		{"ListFunctionUrlConfigs", "GET /2021-10-31/functions/{FunctionName}/urls", a.listFunctionURLConfigs},
		{"InvokeWithResponseStream", "POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations", a.invokeWithResponseStream},
	}
}

// hearthRoutes lists Hearth's own endpoints, which no AWS model describes.
func (a *API) hearthRoutes() []route {
	writes := a.refuseWhenStorageFails
	return []route{
		{"", "GET /healthz", a.healthz},
		{"", "GET /_hearth/v1/code/{name}", a.downloadCode},
		{"", "GET /_hearth/v1/functions/{name}/logs", a.functionLogs},
		{"", "GET /_hearth/v1/async", a.rootOnly(a.asyncStats)},
		{"", "GET /_hearth/v1/environments", a.rootOnly(a.environments)},
		{"", "GET /_hearth/v1/runtimes", a.listRuntimes},
		{"", "GET /_hearth/v1/queues/{name}/messages", a.receiveQueue},
		{"", "POST /_hearth/v1/queues/{name}/messages", writes(a.sendQueue)},
		{"", "POST /{$}", a.sts},
		{"", "GET /{$}", a.sts},
		{"", "GET /_hearth/v1/accounts", a.managing(a.listAccounts)},
		{"", "POST /_hearth/v1/accounts", a.managing(writes(a.createAccount))},
		{"", "DELETE /_hearth/v1/accounts/{id}", a.managing(writes(a.deleteAccount))},
		{"", "GET /_hearth/v1/accounts/{id}/keys", a.managing(a.listKeys)},
		{"", "POST /_hearth/v1/accounts/{id}/keys", a.managing(writes(a.createKey))},
		{"", "DELETE /_hearth/v1/accounts/{id}/keys/{key}", a.managing(writes(a.deleteKey))},
		{"", "GET /_hearth/v1/roles", a.managing(a.listRoles)},
		{"", "PUT /_hearth/v1/roles", a.managing(writes(a.setRole))},
		{"", "DELETE /_hearth/v1/roles", a.managing(writes(a.deleteRole))},
		{"", "GET /metrics", a.rootOnly(a.serveMetrics)},
		{"", "POST /_hearth/v1/console/logins", a.rootOnly(a.createConsoleLogin)},
		{"", "GET /console/login", a.consoleLogin},
		{"", "POST /console/logout", a.consoleLogout},
		{"", "GET /console", consoleRedirect},
		{"", "GET /console/", a.consoleAssets()},
		{"", "GET /_hearth/v1/cluster", a.rootOnly(a.cluster)},
		{"", "POST /_hearth/v1/cluster/workers/{id}/drain", a.rootOnly(a.drain)},
	}
}

// Handler returns every route, behind authentication (SetAuth).
func (a *API) Handler() http.Handler {
	routes := make(map[string]route)
	for _, rt := range append(a.lambdaRoutes(), a.hearthRoutes()...) {
		routes[rt.pattern] = rt
	}
	return a.authenticate(a.mux(a.operation), routes)
}

// literalQuery lists the operations whose URI in the model embeds a literal
// query (lambda-api.md 1.4): each shares its path with another operation,
// which serves the requests without that query.
var literalQuery = map[string][2]string{
	"GetLayerVersionByArn":              {"find", "LayerVersion"},
	"ListProvisionedConcurrencyConfigs": {"List", "ALL"},
}

// mux builds the router; wrap turns each Lambda route into its handler.
func (a *API) mux(wrap func(route) http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	type byQuery struct {
		key, value string
		h          http.Handler
	}
	queried := map[string][]byQuery{} // pattern → its operations with a literal query
	for _, rt := range a.lambdaRoutes() {
		if q, ok := literalQuery[rt.op]; ok {
			queried[rt.pattern] = append(queried[rt.pattern], byQuery{q[0], q[1], wrap(rt)})
		}
	}
	for _, rt := range a.lambdaRoutes() {
		if _, ok := literalQuery[rt.op]; ok {
			continue
		}
		h := wrap(rt)
		if qs := queried[rt.pattern]; qs != nil {
			plain := h
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				for _, b := range qs {
					if q.Get(b.key) == b.value {
						b.h.ServeHTTP(w, r)
						return
					}
				}
				plain.ServeHTTP(w, r)
			})
		}
		mux.Handle(rt.pattern, h)
	}
	for _, rt := range a.hearthRoutes() {
		mux.Handle(rt.pattern, rt.handler)
	}
	mux.HandleFunc("/", a.unknownOperation)
	return mux
}

// unknownOperation answers every request no route serves. The code is
// also in the body's __type, because clients of AWS's JSON protocols
// (CloudWatch Logs' aws logs tail, which sends X-Amz-Target to POST /)
// read it only there.
func (a *API) unknownOperation(w http.ResponseWriter, r *http.Request) {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		e := lambdaapi.ErrUnknownOperation.WithMessage("Unknown operation " + target + ": this Hearth server does not serve it.")
		e.Status = http.StatusBadRequest // JSON-protocol services answer client errors with 400
		a.fail(w, r, e)
		return
	}
	a.fail(w, r, lambdaapi.ErrUnknownOperation.WithMessage("Unknown operation "+r.Method+" "+r.URL.Path))
}

// operation runs a Lambda route: it reads a JSON body once, checks the
// whole request (labels, query, headers, body) against the API model and
// only then calls the handler, so every operation answers model
// violations the same way.
func (a *API) operation(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, r := stateOf(r)
		st.op = rt.op
		req := lambdaapi.Request{Label: r.PathValue, Query: query(r), Header: r.Header}
		if lambdaapi.HasJSONBody(rt.op) {
			limit := bodyLimit(rt.op)
			if r.ContentLength > limit {
				a.tooLargeBody(w, r, rt.op, limit)
				return
			}
			var body []byte
			if path := zipMember(rt.op); path != nil {
				release, ok := a.takeUploadSlot(w, r)
				if !ok {
					return
				}
				defer release()
				var up *upload
				if body, up, ok = a.readUpload(w, r, rt.op, path); !ok {
					return
				}
				if up != nil {
					defer up.remove()
				}
				// The signature covers the body, which is now read: the
				// caller is known before anything acts on the upload.
				if r = a.finishAuth(w, r); r == nil {
					return
				}
				if up != nil {
					r = r.WithContext(withUpload(r.Context(), up))
				}
			} else {
				var ok bool
				if body, ok = a.readBody(w, r, rt.op, limit); !ok {
					return
				}
			}
			m, err := jsonObject(body)
			if err != nil {
				a.fail(w, r, lambdaapi.ErrInvalidRequestContent.WithMessage("Could not parse request body into json: "+jsonProblem(err)))
				return
			}
			req.Body = m
			st.body, st.hasBody = body, true
		}
		if err := lambdaapi.Validate(rt.op, req); err != nil {
			a.fail(w, r, err)
			return
		}
		rt.handler(w, r)
	})
}

// operationName is the Lambda operation r is for, "" outside Lambda routes.
func operationName(r *http.Request) string {
	if st := existingState(r); st != nil {
		return st.op
	}
	return ""
}

// readBodyOf returns the body operation read, if it did.
func readBodyOf(r *http.Request) ([]byte, bool) {
	if st := existingState(r); st != nil && st.hasBody {
		return st.body, true
	}
	return nil, false
}

// jsonKeys returns the keys of the object at path (member names from the
// top) in the body operation read, in the order the request wrote them;
// nil when there is none. Go maps forget the order, which some AWS
// messages quote.
func jsonKeys(r *http.Request, path ...string) []string {
	body, _ := readBodyOf(r)
	d := json.NewDecoder(bytes.NewReader(body))
	var keys []string
	var walk func(depth int) bool // reads one value; true once the object is found
	walk = func(depth int) bool {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		delim, ok := tok.(json.Delim)
		if !ok || (delim != '{' && delim != '[') {
			return false
		}
		for d.More() {
			if delim == '[' {
				if walk(-1) {
					return true
				}
				continue
			}
			kt, err := d.Token()
			if err != nil {
				return false
			}
			k, _ := kt.(string)
			switch {
			case depth == len(path):
				keys = append(keys, k)
				var skip json.RawMessage
				if d.Decode(&skip) != nil {
					return false
				}
			case depth >= 0 && k == path[depth]:
				if walk(depth + 1) {
					return true
				}
				return false
			default:
				var skip json.RawMessage
				if d.Decode(&skip) != nil {
					return false
				}
			}
		}
		d.Token() // the closing delimiter
		return depth == len(path)
	}
	if !walk(0) {
		return nil
	}
	return keys
}

// jsonObject decodes body as a JSON object, keeping numbers as written.
func jsonObject(body []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, &json.SyntaxError{Offset: d.InputOffset()}
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// environments lists the live execution environments.
func (a *API) environments(w http.ResponseWriter, r *http.Request) {
	if a.clusterEnvs != nil {
		a.clusterEnvironments(w, r) // the whole cluster's (clusterenv.go)
		return
	}
	envs := a.workers.Environments()
	if envs == nil {
		envs = []worker.EnvInfo{}
	}
	a.reply(w, r, http.StatusOK, struct {
		Environments []worker.EnvInfo `json:"environments"`
	}{envs})
}

// listRuntimes lists every runtime id with the interpreter that serves it
// on this host, or why none does.
func (a *API) listRuntimes(w http.ResponseWriter, r *http.Request) {
	a.reply(w, r, http.StatusOK, struct {
		Runtimes []runtimes.Status `json:"runtimes"`
	}{a.runtimes.Statuses()})
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	if !a.ready.Load() {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// readBody reads r's body, at most limit bytes; an empty body is {}. It
// writes the AWS error and returns false on failure.
func (a *API) readBody(w http.ResponseWriter, r *http.Request, op string, limit int64) ([]byte, bool) {
	if r.ContentLength > limit {
		a.tooLargeBody(w, r, op, limit)
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		a.fail(w, r, lambdaapi.ErrInvalidRequestContent.WithMessage("Could not read request body: "+err.Error()))
		return nil, false
	}
	if int64(len(body)) > limit {
		a.tooLargeBody(w, r, op, limit)
		return nil, false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	return body, true
}

// decode decodes r's JSON body into v: the body operation already read
// and validated, or else r's body. It writes the AWS error and returns
// false on failure.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := readBodyOf(r)
	if !ok {
		if body, ok = a.readBody(w, r, r.URL.Path, maxOtherBody); !ok {
			return false
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		a.fail(w, r, lambdaapi.ErrInvalidRequestContent.WithMessage("Could not parse request body into json: "+jsonProblem(err)))
		return false
	}
	return true
}

// jsonProblem describes a decoding error without echoing Go type names.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("Cannot deserialize value of type %s from %s (field %q)", awsType(te.Type.Kind().String()), te.Value, te.Field)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("Unexpected character at offset %d: %s", se.Offset, se.Error())
	}
	return err.Error()
}

func awsType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "Integer"
	case kind == "string":
		return "String"
	case kind == "bool":
		return "Boolean"
	case kind == "map", kind == "struct":
		return "Object"
	case kind == "slice":
		return "List"
	}
	return kind
}

// reply writes v as a JSON response with status.
func (a *API) reply(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(lambdaapi.HeaderRequestID, requestID(r))
	w.WriteHeader(status)
	w.Write(b)
}

// noContent answers 204 with an empty body.
func (a *API) noContent(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(lambdaapi.HeaderRequestID, requestID(r))
	w.WriteHeader(http.StatusNoContent)
}

// reqState is what the API's layers learn about one request: its AWS
// request id (minted on first use), its caller once authenticated, and
// the Lambda operation and JSON body operation read. It is one context
// value, made by WithRequestID (or by the first layer that needs it), so
// that each layer does not add a context value and a copy of the request
// of its own.
type reqState struct {
	id      string
	caller  *auth.Caller // nil until authenticated, and under --auth none
	op      string       // the Lambda operation, "" outside Lambda routes
	body    []byte       // the JSON body operation read, if hasBody
	hasBody bool
}

type ctxKey struct{}

// existingState returns r's state, or nil when no layer made one.
func existingState(r *http.Request) *reqState {
	st, _ := r.Context().Value(ctxKey{}).(*reqState)
	return st
}

// stateOf returns r's state, making it (and a request that carries it)
// when no layer did.
func stateOf(r *http.Request) (*reqState, *http.Request) {
	if st := existingState(r); st != nil {
		return st, r
	}
	st := &reqState{}
	return st, r.WithContext(context.WithValue(r.Context(), ctxKey{}, st))
}

// withCaller returns r with its caller c.
func withCaller(r *http.Request, c *auth.Caller) *http.Request {
	st, r := stateOf(r)
	st.caller = c
	return r
}

// requestID returns the request's AWS request id, minting it on first use.
func requestID(r *http.Request) string {
	if st := existingState(r); st != nil {
		if st.id == "" {
			st.id = invoke.NewRequestID()
		}
		return st.id
	}
	return invoke.NewRequestID()
}

// WithRequestID gives every request a slot for its AWS request id (and
// the rest of its reqState).
func WithRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, &reqState{})))
	})
}

// query returns r's query parameters, parsed for each call as
// r.URL.Query() does; a request without a query string (every SDK's
// Invoke) gets an empty set without a map being made.
func query(r *http.Request) url.Values {
	if r.URL.RawQuery == "" {
		return nil
	}
	return r.URL.Query()
}

// refuseWhenStorageFails wraps a handler that stores something: while the
// storage is known to fail, it answers at once instead of letting the
// request wait for a write that cannot happen.
func (a *API) refuseWhenStorageFails(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := a.storageErr(); err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r)
	}
}

// storageErr returns a storageError while the storage is known to fail.
func (a *API) storageErr() error {
	if a.storage == nil {
		return nil
	}
	if err := a.storage.StorageErr(); err != nil {
		return storageError{err}
	}
	return nil
}

// storageError is a request refused or failed because Hearth's storage
// cannot take writes (a full disk).
type storageError struct{ err error }

func (e storageError) Error() string { return "storage cannot take writes: " + e.err.Error() }
func (e storageError) Unwrap() error { return e.err }

// fail answers with err as an AWS error.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := wireError(err)
	if e.Status == http.StatusInternalServerError && a.storage != nil {
		// A write that failed for want of space times out inside JetStream
		// rather than saying so; if the storage fails now, that is why.
		if serr := a.storage.CheckStorage(); serr != nil {
			e = wireError(storageError{serr})
		}
	}
	if e.Status >= 500 {
		a.log.Error("request failed", "request_id", requestID(r), "err", err)
	}
	e.Write(w, requestID(r))
}

// wireError is the only place that knows both Hearth's errors and AWS's
// codes.
func wireError(err error) *lambdaapi.Error {
	var e *lambdaapi.Error
	var se storageError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &se):
		// 503 with Retry-After: SDKs retry it, and the message says what
		// to free. Nothing was stored.
		e := lambdaapi.ErrServiceUnavailable.WithMessage("Hearth cannot store this request: its " + se.err.Error() +
			". Nothing was stored. Free space there; Hearth takes writes again by itself.")
		e.RetryAfter = 10
		return e
	case errors.Is(err, invoke.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return lambdaapi.ErrNotFound.WithMessage(userMessage(err))
	case errors.Is(err, store.ErrExists):
		return lambdaapi.ErrConflict.WithMessage(userMessage(err))
	case errors.Is(err, invoke.ErrReservedThrottled):
		e := lambdaapi.ErrTooManyRequests.WithMessage("Rate Exceeded.")
		e.Reason, e.RetryAfter = lambdaapi.ReasonReservedLimit, 1
		return e
	case errors.Is(err, invoke.ErrThrottled):
		e := lambdaapi.ErrTooManyRequests.WithMessage("Rate Exceeded.")
		e.Reason, e.RetryAfter = lambdaapi.ReasonConcurrentLimit, 1
		return e
	case errors.Is(err, invoke.ErrQueueFull):
		// Nothing was stored; like a throttle, the caller may try again.
		e := lambdaapi.ErrTooManyRequests.WithMessage("The server's asynchronous queue is full; the event was not accepted. Try again later.")
		e.RetryAfter = 5
		return e
	case errors.Is(err, invoke.ErrTooLarge):
		return lambdaapi.ErrRequestTooLarge.WithMessage(userMessage(err))
	case errors.Is(err, invoke.ErrInvalidPayload):
		return lambdaapi.ErrInvalidRequestContent.WithMessage(userMessage(err))
	case errors.Is(err, invoke.ErrInvalidParam), errors.Is(err, function.ErrInvalidName),
		errors.Is(err, function.ErrInvalidConfig):
		return lambdaapi.ErrInvalidParameter.WithMessage(userMessage(err))
	case errors.Is(err, invoke.ErrNotReady):
		return lambdaapi.ErrConflict.WithMessage(userMessage(err))
	case errors.Is(err, codezip.ErrTooLarge):
		return lambdaapi.ErrInvalidParameter.WithMessage("Unzipped size must be smaller than 262144000 bytes")
	case errors.Is(err, codezip.ErrInvalid):
		return lambdaapi.ErrInvalidParameter.WithMessage("Could not unzip uploaded file. Please check your file, then try to upload again.")
	case errors.Is(err, async.ErrInvalidQueue):
		return lambdaapi.ErrInvalidParameter.WithMessage(err.Error())
	case errors.Is(err, worker.ErrClosed):
		return lambdaapi.ErrServiceUnavailable.WithMessage("The server is shutting down.")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return lambdaapi.ErrService.WithMessage("The request was canceled.")
	default:
		return lambdaapi.ErrService.WithMessage("An internal error occurred. The request id is in the server's log.")
	}
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// userMessage keeps the part of err's text meant for the user: what
// follows the last sentinel's "name: " prefix.
func userMessage(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{invoke.ErrNotFound, invoke.ErrInvalidPayload, invoke.ErrInvalidParam,
		invoke.ErrNotReady, invoke.ErrTooLarge, function.ErrInvalidName} {
		if p := sentinel.Error() + ": "; strings.HasPrefix(msg, p) {
			return strings.TrimPrefix(msg, p)
		}
	}
	return msg
}
