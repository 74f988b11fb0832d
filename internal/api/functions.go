package api

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"hearth/internal/codezip"
	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
	"hearth/internal/runtimes"
	"hearth/internal/store"
)

func (a *API) createFunction(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.CreateFunctionInput
	if !a.decode(w, r, &in) {
		return
	}
	// The model has checked types, patterns, enums, lengths and ranges;
	// what follows are Lambda's semantic checks.
	if in.Runtime != nil {
		if err := checkRuntime(*in.Runtime); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if len(function.NamePart(*in.FunctionName)) > function.MaxNameLen {
		// The model's pattern has no length limit on the name part;
		// Lambda's is 64, and AWS words its refusal as a validation error
		// but sends it as an InvalidParameterValueException (recorded).
		a.fail(w, r, invalid(fmt.Sprintf("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64", function.NamePart(*in.FunctionName))))
		return
	}
	ref, err := a.functionRef(r, *in.FunctionName, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if ref.Qualifier != "" {
		a.fail(w, r, invalid("A function name cannot be qualified when the function is created: "+*in.FunctionName)) // wording UNCONFIRMED
		return
	}
	if (in.PackageType == nil || *in.PackageType == "Zip") && (in.Runtime == nil || in.Handler == nil) {
		a.fail(w, r, invalid("Runtime and Handler are mandatory parameters for functions created with Zip packages."))
		return
	}
	up := uploadOf(r)
	if err := unsupportedCreate(&in, up != nil); err != nil {
		a.fail(w, r, err)
		return
	}
	cfg := function.Config{
		Account:     a.account(r),
		Name:        ref.Name,
		Role:        *in.Role,
		Runtime:     deref(in.Runtime),
		Handler:     deref(in.Handler),
		Description: deref(in.Description),
		Timeout:     deref(in.Timeout),
		MemorySize:  deref(in.MemorySize),
		Tags:        in.Tags,
	}
	if in.Environment != nil {
		cfg.Environment, cfg.EnvironmentOrder = environment(in.Environment), jsonKeys(r, "Environment", "Variables")
	}
	if in.EphemeralStorage != nil && in.EphemeralStorage.Size != nil {
		cfg.Ephemeral = *in.EphemeralStorage.Size
	}
	if in.TracingConfig != nil && in.TracingConfig.Mode != nil {
		cfg.TracingMode = *in.TracingConfig.Mode
	}
	if in.LoggingConfig != nil {
		setLogging(&cfg, in.LoggingConfig)
	}
	if in.DeadLetterConfig != nil {
		cfg.DeadLetterTarget = deref(in.DeadLetterConfig.TargetArn)
		if err := a.checkLocal(r, cfg.DeadLetterTarget); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if err := setArch(&cfg, in.Architectures); err != nil {
		a.fail(w, r, err)
		return
	}
	cfg = cfg.WithDefaults()
	if err := a.validate(&cfg); err != nil {
		a.fail(w, r, err)
		return
	}
	if cfg.Layers, err = a.resolveLayers(r.Context(), a.account(r), in.Layers, nil); err != nil {
		a.fail(w, r, err)
		return
	}
	unzipped, err := a.storeUpload(r.Context(), up, false)
	if err == nil {
		err = checkUnzipped(unzipped, cfg.Layers)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	now := time.Now()
	cfg.CodeSha256, cfg.CodeSize, cfg.CodeUnzipped = up.sha, up.size, unzipped
	cfg.RevisionID, cfg.LastModified = invoke.NewRequestID(), now
	cfg.State, cfg.StateReason, cfg.StateReasonCode = function.StatePending, "The function is being created.", "Creating"
	cfg.LastUpdateStatus = function.UpdateInProgress
	if err := a.store.Create(r.Context(), cfg); err != nil {
		if errors.Is(err, store.ErrExists) {
			err = lambdaapi.ErrConflict.WithMessage("Function already exist: " + cfg.Name)
		}
		a.fail(w, r, err)
		return
	}
	a.activate(cfg.Account, cfg.Name, cfg.Version, cfg.RevisionID)
	if in.Publish {
		v, err := a.publish(r.Context(), cfg.Account, cfg.Name, nil, nil, nil)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		cfg = v
	}
	// AWS's CreateFunction answer has State Pending but no
	// LastUpdateStatus, although GetFunction then shows InProgress.
	out := a.configuration(&cfg, false)
	out.LastUpdateStatus, out.LastUpdateStatusReason, out.LastUpdateStatusReasonCode = "", "", ""
	a.reply(w, r, http.StatusCreated, out)
}

// storeUpload checks an uploaded package and, unless checkOnly, stores
// it; both read it from its file. It returns the package's size unpacked.
func (a *API) storeUpload(ctx context.Context, up *upload, checkOnly bool) (int64, error) {
	f, err := up.open()
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := codezip.CheckReader(f, up.size, codezip.Limits{})
	if err != nil {
		return 0, err
	}
	if checkOnly {
		return info.Unzipped, nil
	}
	return info.Unzipped, a.store.PutCodeFrom(ctx, up.sha, io.NewSectionReader(f, 0, up.size))
}

// checkRuntime refuses a Runtime parameter AWS refuses, unless Hearth
// runs that runtime anyway (provided, which AWS has retired).
func checkRuntime(rt string) error {
	if _, ok := runtimes.Lookup(rt); ok {
		return nil
	}
	if err := lambdaapi.CheckRuntime(rt); err != nil {
		return err
	}
	return nil // not CheckRuntime's nil *Error, which would be a non-nil error
}

// environment is the variables of an Environment member; one given
// without variables is an empty map, which AWS echoes as {"Variables": {}}.
func environment(e *lambdaapi.Environment) map[string]string {
	if e.Variables == nil {
		return map[string]string{}
	}
	return e.Variables
}

// unsupportedCreate rejects what Hearth does not do yet, clearly, rather
// than ignoring it.
func unsupportedCreate(in *lambdaapi.CreateFunctionInput, hasZip bool) error {
	switch {
	case in.PackageType != nil && *in.PackageType != "Zip":
		return invalid("This Hearth server runs Zip packages only; PackageType " + *in.PackageType + " is not supported.")
	case in.Code.ImageUri != nil:
		return invalid("This Hearth server runs Zip packages only; Code.ImageUri is not supported.")
	case in.Code.S3Bucket != nil || in.Code.S3Key != nil:
		return invalid("This Hearth server takes code as Code.ZipFile only; S3 locations are not supported.")
	case !hasZip:
		return invalid("Code.ZipFile is required.")
	case in.VpcConfig != nil && (len(in.VpcConfig.SubnetIds) > 0 || len(in.VpcConfig.SecurityGroupIds) > 0):
		return invalid("VPC configuration is not supported by this Hearth server.")
	case len(in.FileSystemConfigs) > 0:
		return invalid("File system configurations are not supported by this Hearth server.")
	case in.ImageConfig != nil:
		return invalid("ImageConfig applies to Image packages, which this Hearth server does not run.")
	case in.CodeSigningConfigArn != nil:
		return invalid("Code signing is not supported by this Hearth server.")
	case in.SnapStart != nil && in.SnapStart.ApplyOn != "" && in.SnapStart.ApplyOn != "None":
		return invalid("SnapStart is not supported by this Hearth server.")
	}
	return nil
}

func setArch(cfg *function.Config, archs []string) error {
	switch len(archs) {
	case 0:
		if cfg.Arch == "" { // a new function: this host's architecture
			cfg.Arch = runtimes.Architecture()
		}
	case 1:
		cfg.Arch = archs[0]
	default:
		return invalid("1 validation error detected: Value at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1")
	}
	return checkArch(cfg.Arch)
}

// checkArch refuses an architecture this host's processor cannot run, as
// CreateFunction and UpdateFunctionCode refuse an unknown one, rather than
// let every invocation fail with "exec format error".
func checkArch(arch string) error {
	if runtimes.CheckArchitecture(arch) == nil {
		return nil
	}
	host := runtimes.Architecture()
	return invalid(fmt.Sprintf("The architecture %s cannot run on this Hearth server: its processor runs %s functions only. Set Architectures to [%s].", arch, host, host))
}

// validate checks cfg and that this host runs its runtime.
func (a *API) validate(cfg *function.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	rt, ok := runtimes.Lookup(cfg.Runtime)
	if !ok {
		return invalid(runtimes.UnsupportedMessage(cfg.Runtime))
	}
	if err := a.runtimes.Available(rt); err != nil {
		msg := strings.TrimPrefix(err.Error(), runtimes.ErrUnavailable.Error()+": "+cfg.Runtime+": ")
		return invalid(fmt.Sprintf("The runtime parameter of %s cannot run on this Hearth server: %s", cfg.Runtime, msg))
	}
	return nil
}

// activate prepares the version in the background and moves it out of
// Pending (or its update out of InProgress): to Active/Successful, or
// Failed with the reason.
func (a *API) activate(account, name, version, revision string) {
	a.tasks.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cfg, err := a.store.Version(account, name, version)
		if err != nil || cfg.RevisionID != revision {
			return // deleted or changed again; the newer change activates itself
		}
		perr := a.workers.Prepare(ctx, &cfg)
		_, err = a.store.UpdateVersion(ctx, account, name, version, func(c *function.Config) error {
			if c.RevisionID != revision {
				return errStale
			}
			if perr != nil {
				reason := perr.Error()
				if c.State == function.StatePending {
					c.State, c.StateReason, c.StateReasonCode = function.StateFailed, reason, "InternalError"
				}
				c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode = function.UpdateFailed, reason, "InternalError"
				return nil
			}
			c.State, c.StateReason, c.StateReasonCode = function.StateActive, "", ""
			c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode = function.UpdateSuccessful, "", ""
			return nil
		})
		switch {
		case errors.Is(err, errStale), errors.Is(err, store.ErrNotFound):
		case err != nil:
			a.log.Error("activate function", "function", name, "err", err)
		case perr != nil:
			a.log.Warn("function failed to activate", "function", name, "err", perr)
		}
	})
}

var errStale = errors.New("configuration changed meanwhile")

// ResumeActivations activates every version a crash left Pending or
// InProgress.
func (a *API) ResumeActivations() {
	for _, cfg := range a.store.AllVersions() {
		if cfg.State == function.StatePending || cfg.LastUpdateStatus == function.UpdateInProgress {
			a.activate(cfg.Account, cfg.Name, cfg.Version, cfg.RevisionID)
		}
	}
}

// functionRef resolves a FunctionName parameter (name, name:qualifier,
// partial or full ARN) and the Qualifier parameter the way AWS does once
// the model's pattern has passed: a function of another region is a 404
// ("Functions from 'eu-central-1' are not reachable in this region
// ('us-east-1')"), one of another account a 403 AccessDeniedException,
// and a name Lambda could never have created (longer than 64 characters,
// or with dots, which NamespacedFunctionName allows) is simply not found:
// Get and Invoke do not check the 64-character limit.
func (a *API) functionRef(r *http.Request, raw, qualifier string) (function.Ref, error) {
	ref, err := function.ParseRef(raw)
	if err != nil {
		if op := operationName(r); qualifier == "" && (op == "Invoke" || op == "InvokeAsync" || op == "InvokeWithResponseStream") {
			qualifier = function.Latest // Invoke's not-found names $LATEST
		}
		arn := raw
		if !strings.HasPrefix(raw, "arn:") {
			arn = function.ARN(a.cfg.Region, a.account(r), raw, qualifier)
		}
		return function.Ref{}, lambdaapi.ErrNotFound.WithMessage("Function not found: " + arn)
	}
	if ref.Qualifier != "" && qualifier != "" && ref.Qualifier != qualifier {
		return function.Ref{}, invalid("The derived qualifier from the function name does not match the specified qualifier.")
	}
	if qualifier != "" {
		ref.Qualifier = qualifier
	}
	if ref.Region != "" && ref.Region != a.cfg.Region {
		return function.Ref{}, lambdaapi.ErrNotFound.WithMessage(fmt.Sprintf("Functions from '%s' are not reachable in this region ('%s')", ref.Region, a.cfg.Region))
	}
	if caller := a.account(r); ref.Account != "" && ref.Account != caller {
		if a.grants(ref, caller, operationName(r)) {
			return ref, nil
		}
		// AWS answers without a message (recorded); Hearth's log says why.
		a.log.Info("function of another account refused", "request_id", requestID(r), "function", raw, "account", ref.Account)
		return function.Ref{}, lambdaapi.ErrAccessDenied
	}
	return ref, nil
}

// crossAccount names the action each operation Hearth lets another
// account perform, when the function's resource-based policy allows it.
var crossAccount = map[string]string{
	"Invoke":                   "lambda:InvokeFunction",
	"InvokeAsync":              "lambda:InvokeFunction",
	"InvokeWithResponseStream": "lambda:InvokeFunction",
	"GetFunction":              "lambda:GetFunction",
	"GetFunctionConfiguration": "lambda:GetFunctionConfiguration",
}

// grants reports whether the policy of the function (or version or
// alias) ref names lets caller perform op on it. A function that does not
// exist grants nothing, so the answer tells nothing of it.
func (a *API) grants(ref function.Ref, caller, op string) bool {
	action, ok := crossAccount[op]
	if !ok {
		return false
	}
	q := ref.Qualifier
	if q == function.Latest {
		q = "" // $LATEST's permissions are the unqualified function's
	}
	p, err := a.store.Policy(ref.Account, ref.Name, q)
	return err == nil && p.Allows(caller, action)
}

// owner is the account whose function ref names: the caller's, unless
// functionRef let the caller reach another account's.
func (a *API) owner(r *http.Request, ref function.Ref) string {
	return cmp.Or(ref.Account, a.account(r))
}

// notFound is the ResourceNotFoundException of a function version.
func (a *API) notFound(r *http.Request, name, qualifier string) error {
	return lambdaapi.ErrNotFound.WithMessage("Function not found: " + function.ARN(a.cfg.Region, a.account(r), name, qualifier))
}

// lookup resolves the {FunctionName} label of a management operation
// that works on $LATEST to its configuration; a qualifier other than
// $LATEST is not found.
func (a *API) lookup(r *http.Request, qualifier string) (function.Config, error) {
	ref, err := a.functionRef(r, r.PathValue("FunctionName"), qualifier)
	if err != nil {
		return function.Config{}, err
	}
	if ref.Qualifier != "" && ref.Qualifier != function.Latest {
		return function.Config{}, a.notFound(r, ref.Name, ref.Qualifier)
	}
	cfg, err := a.store.Function(a.account(r), ref.Name)
	if err != nil {
		return function.Config{}, a.notFound(r, ref.Name, ref.Qualifier)
	}
	return cfg, nil
}

// lookupQualified resolves the {FunctionName} label and the Qualifier of
// a management operation to the configuration of the version they name:
// $LATEST (no qualifier), a published version, or the version an alias
// points at. It also returns the qualifier the caller gave ("" when
// none).
func (a *API) lookupQualified(r *http.Request, qualifier string) (function.Config, string, error) {
	ref, err := a.functionRef(r, r.PathValue("FunctionName"), qualifier)
	if err != nil {
		return function.Config{}, "", err
	}
	cfg, err := a.resolve(r, a.owner(r, ref), ref.Name, ref.Qualifier)
	return cfg, ref.Qualifier, err
}

// resolve returns the configuration of the version qualifier names in the
// caller's function name: $LATEST for "" or $LATEST, a version number, or
// the primary version of an alias.
func (a *API) resolve(r *http.Request, account, name, qualifier string) (function.Config, error) {
	version := qualifier
	switch {
	case qualifier == "":
		version = function.Latest
	case qualifier != function.Latest && !function.IsVersionNumber(qualifier):
		alias, err := a.store.Alias(account, name, qualifier)
		if err != nil {
			return function.Config{}, a.notFound(r, name, qualifier)
		}
		version = alias.Version
	}
	cfg, err := a.store.Version(account, name, version)
	if err != nil {
		return function.Config{}, a.notFound(r, name, qualifier)
	}
	return cfg, nil
}

// qualifiedConfiguration is configuration for a version reached through
// qualifier: an alias's FunctionArn names the alias.
func (a *API) qualifiedConfiguration(cfg *function.Config, qualifier string) lambdaapi.FunctionConfiguration {
	out := a.configuration(cfg, qualifier == function.Latest)
	if qualifier != "" && qualifier != function.Latest && !function.IsVersionNumber(qualifier) {
		out.FunctionArn = function.ARN(a.cfg.Region, cfg.Account, cfg.Name, qualifier)
	}
	return out
}

func (a *API) getFunction(w http.ResponseWriter, r *http.Request) {
	cfg, qualifier, err := a.lookupQualified(r, r.URL.Query().Get("Qualifier"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := lambdaapi.GetFunctionOutput{
		Configuration: a.qualifiedConfiguration(&cfg, qualifier),
		Code:          lambdaapi.FunctionCodeLocation{RepositoryType: "S3", Location: a.codeURL(r, &cfg)},
	}
	if len(cfg.Tags) > 0 {
		out.Tags = cfg.Tags
	}
	if cfg.ReservedConcurrency != nil {
		out.Concurrency = &lambdaapi.Concurrency{ReservedConcurrentExecutions: cfg.ReservedConcurrency}
	}
	a.reply(w, r, http.StatusOK, out)
}

func (a *API) getFunctionConfiguration(w http.ResponseWriter, r *http.Request) {
	cfg, qualifier, err := a.lookupQualified(r, r.URL.Query().Get("Qualifier"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusOK, a.qualifiedConfiguration(&cfg, qualifier))
}

func (a *API) listFunctions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 50
	if s := q.Get("MaxItems"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			a.fail(w, r, invalid(fmt.Sprintf("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000", s)))
			return
		}
		limit = min(n, 50)
	}
	all := q.Get("FunctionVersion")
	if all != "" && all != "ALL" {
		a.fail(w, r, invalid(fmt.Sprintf("1 validation error detected: Value '%s' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]", all)))
		return
	}
	// The marker is the last item's name, with ":VERSION" under ALL.
	after := ""
	if m := q.Get("Marker"); m != "" {
		b, err := base64.RawURLEncoding.DecodeString(m)
		ref, perr := function.ParseRef(string(b))
		if err != nil || perr != nil || (ref.Qualifier != "" && all == "") {
			a.fail(w, r, invalid("Invalid Marker"))
			return
		}
		after = string(b)
	}
	var items []function.Config // sorted by name, $LATEST before versions
	for _, cfg := range a.store.AccountFunctions(a.account(r)) {
		items = append(items, cfg)
		if all != "" {
			items = append(items, a.store.Versions(cfg.Account, cfg.Name)...)
		}
	}
	key := func(c *function.Config) string {
		if all == "" {
			return c.Name
		}
		return c.Name + ":" + c.Version
	}
	start := 0
	if after != "" {
		start = len(items)
		for i := range items {
			if itemAfter(&items[i], after) {
				start = i
				break
			}
		}
	}
	out := lambdaapi.ListFunctionsOutput{Functions: []lambdaapi.FunctionConfiguration{}}
	for i := start; i < len(items); i++ {
		if len(out.Functions) == limit {
			out.NextMarker = base64.RawURLEncoding.EncodeToString([]byte(key(&items[i-1])))
			break
		}
		out.Functions = append(out.Functions, listItem(a.configuration(&items[i], false)))
	}
	a.reply(w, r, http.StatusOK, out)
}

// itemAfter reports whether c comes after the list item marker names
// (NAME or NAME:VERSION): by name, then $LATEST, then versions ascending.
func itemAfter(c *function.Config, marker string) bool {
	name, version, _ := strings.Cut(marker, ":")
	if c.Name != name {
		return c.Name > name
	}
	if version == "" {
		return false
	}
	return function.VersionNumber(c.Version) > function.VersionNumber(version)
}

func (a *API) deleteFunction(w http.ResponseWriter, r *http.Request) {
	qualifier := r.URL.Query().Get("Qualifier")
	ref, err := a.functionRef(r, r.PathValue("FunctionName"), qualifier)
	if err == nil && ref.Qualifier == function.Latest {
		// Checked before the function's existence (recorded).
		err = invalid("$LATEST version cannot be deleted without deleting the function.")
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if ref.Qualifier != "" {
		a.deleteVersion(w, r, ref)
		return
	}
	cfg, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.store.Delete(r.Context(), a.account(r), cfg.Name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = lambdaapi.ErrNotFound.WithMessage("Function not found: " + function.ARN(a.cfg.Region, a.account(r), cfg.Name, ""))
		}
		a.fail(w, r, err)
		return
	}
	a.workers.Retire(cfg.Account, cfg.Name, "")
	// The log stays, as a deleted function's log group stays on AWS
	// (bounded with every other log); its open file does not, unless
	// another function logs into the same group.
	if key := cfg.LogKey(a.cfg.Account); !a.logGroupInUse(key) {
		a.logs.Release(key)
	}
	a.noContent(w, r)
}

// logGroupInUse reports whether a stored function version logs into the
// log group with key.
func (a *API) logGroupInUse(key string) bool {
	for _, c := range a.store.AllVersions() {
		if c.LogKey(a.cfg.Account) == key {
			return true
		}
	}
	return false
}

func (a *API) updateFunctionCode(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.UpdateFunctionCodeInput
	if !a.decode(w, r, &in) {
		return
	}
	cfg, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	switch {
	case in.ImageUri != nil:
		err = invalid("Please don't provide ImageUri when updating a function with packageType Zip.") // AWS's words (recorded)
	case in.S3Bucket != nil || in.S3Key != nil:
		err = invalid("This Hearth server takes code as ZipFile only; S3 locations are not supported.")
	case uploadOf(r) == nil:
		err = invalid("Please provide a source for function code.")
	}
	if err == nil {
		err = setArch(&cfg, in.Architectures)
	}
	up := uploadOf(r)
	var unzipped int64
	if err == nil {
		unzipped, err = a.storeUpload(r.Context(), up, in.DryRun)
	}
	if err == nil {
		err = checkUnzipped(unzipped, cfg.Layers)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if in.DryRun {
		cfg.CodeSha256, cfg.CodeSize = up.sha, up.size
		a.reply(w, r, http.StatusOK, a.configuration(&cfg, false))
		return
	}
	a.update(w, r, cfg.Name, in.RevisionId, in.Publish, func(c *function.Config) error {
		if err := setArch(c, in.Architectures); err != nil {
			return err
		}
		if err := checkUnzipped(unzipped, c.Layers); err != nil {
			return err
		}
		c.CodeSha256, c.CodeSize, c.CodeUnzipped = up.sha, up.size, unzipped
		return nil
	})
}

func (a *API) updateFunctionConfiguration(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.UpdateFunctionConfigurationInput
	if !a.decode(w, r, &in) {
		return
	}
	if in.Runtime != nil {
		if err := checkRuntime(*in.Runtime); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	cfg, err := a.lookup(r, "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if in.DeadLetterConfig != nil {
		if err := a.checkLocal(r, deref(in.DeadLetterConfig.TargetArn)); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	var layers []function.LayerRef
	if in.Layers != nil { // [] removes them all
		layers, err = a.resolveLayers(r.Context(), a.account(r), in.Layers, cfg.Layers)
	}
	switch {
	case err != nil:
	case in.VpcConfig != nil && (len(in.VpcConfig.SubnetIds) > 0 || len(in.VpcConfig.SecurityGroupIds) > 0):
		err = invalid("VPC configuration is not supported by this Hearth server.")
	case len(in.FileSystemConfigs) > 0:
		err = invalid("File system configurations are not supported by this Hearth server.")
	case in.ImageConfig != nil:
		err = invalid("ImageConfig applies to Image packages, which this Hearth server does not run.")
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.update(w, r, cfg.Name, in.RevisionId, false, func(c *function.Config) error {
		set(&c.Role, in.Role)
		set(&c.Handler, in.Handler)
		set(&c.Description, in.Description)
		set(&c.Timeout, in.Timeout)
		set(&c.MemorySize, in.MemorySize)
		set(&c.Runtime, in.Runtime)
		if in.Environment != nil {
			c.Environment, c.EnvironmentOrder = environment(in.Environment), jsonKeys(r, "Environment", "Variables")
		}
		if in.EphemeralStorage != nil && in.EphemeralStorage.Size != nil {
			c.Ephemeral = *in.EphemeralStorage.Size
		}
		if in.TracingConfig != nil {
			set(&c.TracingMode, in.TracingConfig.Mode)
		}
		if in.LoggingConfig != nil {
			setLogging(c, in.LoggingConfig)
		}
		if in.DeadLetterConfig != nil {
			c.DeadLetterTarget = deref(in.DeadLetterConfig.TargetArn)
		}
		if in.Layers != nil {
			if err := checkUnzipped(c.CodeUnzipped, layers); err != nil {
				return err
			}
			c.Layers = layers
		}
		return a.validate(c)
	})
}

// updateWait bounds how long an update waits for the previous one.
const updateWait = 10 * time.Second

// update applies change to a function's $LATEST under its RevisionId
// precondition, marks the update InProgress, answers with the result and
// activates it. An update that arrives while the previous one is still in
// progress waits for it briefly instead of failing. With publish, it then
// publishes a version of the result and answers with that.
func (a *API) update(w http.ResponseWriter, r *http.Request, name string, revision *string, publish bool, change func(*function.Config) error) {
	deadline := time.Now().Add(updateWait)
	for {
		changed := a.store.Changed()
		cfg, err := a.store.Update(r.Context(), a.account(r), name, func(c *function.Config) error {
			if revision != nil && *revision != c.RevisionID {
				return lambdaapi.ErrPreconditionFailed.WithMessage("The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
			}
			if c.State == function.StatePending || c.LastUpdateStatus == function.UpdateInProgress {
				return errBusy
			}
			if err := change(c); err != nil {
				return err
			}
			c.RevisionID, c.LastModified = invoke.NewRequestID(), time.Now()
			// AWS's update answers really say "being created" (recorded).
			c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode = function.UpdateInProgress, "The function is being created.", "Creating"
			return nil
		})
		if errors.Is(err, errBusy) && time.Now().Before(deadline) {
			select {
			case <-changed:
				continue
			case <-time.After(time.Until(deadline)):
				continue
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case errors.Is(err, errBusy):
			err = lambdaapi.ErrConflict.WithMessage("The operation cannot be performed at this time. An update is in progress for resource: " + function.ARN(a.cfg.Region, a.account(r), name, ""))
		case errors.Is(err, store.ErrNotFound):
			err = lambdaapi.ErrNotFound.WithMessage("Function not found: " + function.ARN(a.cfg.Region, a.account(r), name, ""))
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.activate(cfg.Account, cfg.Name, cfg.Version, cfg.RevisionID)
		a.workers.Retire(cfg.Account, cfg.Name, function.Latest)
		if publish {
			if cfg, err = a.publish(r.Context(), cfg.Account, cfg.Name, nil, nil, nil); err != nil {
				a.fail(w, r, err)
				return
			}
		}
		a.reply(w, r, http.StatusOK, a.configuration(&cfg, false))
		return
	}
}

var errBusy = errors.New("update in progress")

func (a *API) getAccountSettings(w http.ResponseWriter, r *http.Request) {
	fns := a.store.AccountFunctions(a.account(r))
	var total int64 // deployment packages and layer archives
	for _, f := range fns {
		total += f.CodeSize
	}
	lvs, err := a.store.LayerVersions(r.Context(), a.account(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, lv := range lvs {
		total += lv.CodeSize
	}
	a.reply(w, r, http.StatusOK, lambdaapi.GetAccountSettingsOutput{
		AccountLimit: lambdaapi.AccountLimit{
			CodeSizeUnzipped:               262144000,
			CodeSizeZipped:                 52428800,
			ConcurrentExecutions:           a.invoke.AccountConcurrency(),
			TotalCodeSize:                  80530636800,
			UnreservedConcurrentExecutions: a.invoke.AccountConcurrency() - invoke.ReservedSum(fns, "") - a.provisionedSum(fns, true, "", ""),
		},
		AccountUsage: lambdaapi.AccountUsage{FunctionCount: len(fns), TotalCodeSize: total},
	})
}

// listItem trims a configuration to what ListFunctions shows: AWS leaves
// out the state, the last update's status and the runtime version there
// (the API reference's example output).
func listItem(c lambdaapi.FunctionConfiguration) lambdaapi.FunctionConfiguration {
	c.State, c.StateReason, c.StateReasonCode = "", "", ""
	c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode = "", "", ""
	c.RuntimeVersionConfig = nil
	return c
}

// configuration renders a version's configuration in Lambda's shape.
// AWS qualifies $LATEST's FunctionArn only when the caller asked for
// Qualifier=$LATEST (qualifyLatest).
func (a *API) configuration(c *function.Config, qualifyLatest bool) lambdaapi.FunctionConfiguration {
	qualifier := ""
	if c.Version != function.Latest || qualifyLatest {
		qualifier = c.Version
	}
	out := lambdaapi.FunctionConfiguration{
		FunctionName:               c.Name,
		FunctionArn:                function.ARN(a.cfg.Region, c.Account, c.Name, qualifier),
		Runtime:                    c.Runtime,
		Role:                       c.Role,
		Handler:                    c.Handler,
		CodeSize:                   c.CodeSize,
		Description:                c.Description,
		Timeout:                    c.Timeout,
		MemorySize:                 c.MemorySize,
		LastModified:               lambdaapi.FormatTime(c.LastModified),
		CodeSha256:                 c.CodeSha256,
		Version:                    c.Version,
		TracingConfig:              lambdaapi.TracingConfigResponse{Mode: c.TracingMode},
		RevisionId:                 c.RevisionID,
		State:                      c.State,
		StateReason:                c.StateReason,
		StateReasonCode:            c.StateReasonCode,
		LastUpdateStatus:           c.LastUpdateStatus,
		LastUpdateStatusReason:     c.LastUpdateStatusReason,
		LastUpdateStatusReasonCode: c.LastUpdateStatusReasonCode,
		PackageType:                "Zip",
		Architectures:              []string{c.Arch},
		EphemeralStorage:           lambdaapi.EphemeralStorageResponse{Size: c.Ephemeral},
		SnapStart:                  lambdaapi.SnapStart{ApplyOn: "None", OptimizationStatus: "Off"},
		LoggingConfig:              lambdaapi.LoggingConfigResponse{LogFormat: c.LogFormat, LogGroup: c.LogGroupName()},
	}
	out.LoggingConfig.ApplicationLogLevel, out.LoggingConfig.SystemLogLevel = c.LogLevels()
	if c.Environment != nil {
		out.Environment = &lambdaapi.EnvironmentResponse{Variables: c.Environment}
	}
	if c.Runtime != "" {
		rt, _ := runtimes.Lookup(c.Runtime) // a runtime since dropped keeps its ARN
		out.RuntimeVersionConfig = &lambdaapi.RuntimeVersionConfig{RuntimeVersionArn: rt.VersionARN(a.cfg.Region)}
	}
	if c.DeadLetterTarget != "" {
		out.DeadLetterConfig = &lambdaapi.DeadLetterConfig{TargetArn: &c.DeadLetterTarget}
	}
	out.Layers = layersOut(c.Layers)
	return out
}

// setLogging applies the members of a LoggingConfig the caller gave. Levels
// kept from before are dropped when the format becomes Text (Text has none);
// levels given with Text are left for Validate to refuse.
func setLogging(c *function.Config, in *lambdaapi.LoggingConfig) {
	set(&c.LogFormat, in.LogFormat)
	if in.LogFormat != nil && *in.LogFormat == "Text" {
		c.ApplicationLogLevel, c.SystemLogLevel = "", ""
	}
	set(&c.ApplicationLogLevel, in.ApplicationLogLevel)
	set(&c.SystemLogLevel, in.SystemLogLevel)
	set(&c.LogGroup, in.LogGroup)
}

func invalid(msg string) *lambdaapi.Error { return lambdaapi.ErrInvalidParameter.WithMessage(msg) }

// rewordNotFound gives err, if it is a ResourceNotFoundException, the
// message an operation of its own words it with (recorded answers);
// other errors pass unchanged.
func rewordNotFound(err error, msg string) error {
	var e *lambdaapi.Error
	if errors.As(err, &e) && e.Code == lambdaapi.ErrNotFound.Code {
		return lambdaapi.ErrNotFound.WithMessage(msg)
	}
	return err
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}
