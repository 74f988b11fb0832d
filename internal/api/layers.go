package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"hearth/internal/function"
	"hearth/internal/invoke"
	"hearth/internal/lambdaapi"
	"hearth/internal/store"
)

// layerAction is the one action a layer version's policy grants.
const layerAction = "lambda:GetLayerVersion"

// errLayerNotFound is Lambda's answer for a layer version that does not
// exist (or that the caller may not see).
var errLayerNotFound = lambdaapi.ErrNotFound.WithMessage("The resource you requested does not exist.")

// layerRef resolves the {LayerName} label (a name, or a layer ARN) and
// {VersionNumber} (0 when the route has none) to the layer's account, name
// and version. A layer of another region does not exist here.
func (a *API) layerRef(r *http.Request) (account, name string, version int64, err error) {
	account, name = a.account(r), r.PathValue("LayerName")
	if rest, ok := strings.CutPrefix(name, "arn:"); ok {
		p := strings.Split(rest, ":")
		// The model's pattern has checked arn:P:lambda:REGION:ACCOUNT:layer:NAME.
		if len(p) != 6 || p[2] != a.cfg.Region {
			return "", "", 0, errLayerNotFound
		}
		account, name = p[3], p[5]
	}
	if v := r.PathValue("VersionNumber"); v != "" {
		version, err = strconv.ParseInt(v, 10, 64)
		if op := operationName(r); err == nil && version < 1 && (op == "GetLayerVersion" || op == "DeleteLayerVersion") {
			return "", "", 0, invalid("Layer Version Cannot be less than 1") // recorded
		}
		if err != nil || version < 1 {
			return "", "", 0, errLayerNotFound
		}
	}
	return account, name, version, nil
}

// layerVersion returns a layer version the caller may use: its own, or one
// whose policy grants it lambda:GetLayerVersion.
func (a *API) layerVersion(ctx context.Context, caller, account, name string, version int64) (store.LayerVersion, error) {
	lv, err := a.store.LayerVersion(ctx, account, name, version)
	if errors.Is(err, store.ErrNotFound) {
		return lv, errLayerNotFound
	}
	if err != nil {
		return lv, err
	}
	if account != caller && !layerGrants(&lv, caller) {
		return lv, lambdaapi.ErrForbidden.WithMessage(fmt.Sprintf("User: arn:aws:iam::%s:root is not authorized to perform: %s on resource: %s",
			caller, layerAction, function.LayerARN(a.cfg.Region, account, name, version)))
	}
	return lv, nil
}

// layerGrants reports whether lv's policy lets account use it. A statement
// for an organization grants nothing here: Hearth knows no organizations.
func layerGrants(lv *store.LayerVersion, account string) bool {
	for _, st := range lv.Policy {
		if st.OrganizationID == "" && (st.Principal == "*" || st.Principal == account) {
			return true
		}
	}
	return false
}

func (a *API) publishLayerVersion(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.PublishLayerVersionInput
	if !a.decode(w, r, &in) {
		return
	}
	account, name, _, err := a.layerRef(r)
	if err == nil && account != a.account(r) {
		err = lambdaapi.ErrForbidden.WithMessage("Layers can be published only to the caller's own account " + a.account(r) + ".")
	}
	up := uploadOf(r)
	switch {
	case err != nil:
	case in.Content.S3Bucket != nil || in.Content.S3Key != nil:
		err = invalid("This Hearth server takes layer content as Content.ZipFile only; S3 locations are not supported.")
	case up == nil:
		err = invalid("Please provide a source for the layer content: Content.ZipFile.")
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	unzipped, err := a.storeUpload(r.Context(), up, false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	lv, err := a.store.PublishLayerVersion(r.Context(), store.LayerVersion{
		Account:                 account,
		Name:                    name,
		Description:             deref(in.Description),
		LicenseInfo:             deref(in.LicenseInfo),
		CompatibleRuntimes:      in.CompatibleRuntimes,
		CompatibleArchitectures: in.CompatibleArchitectures,
		CodeSha256:              up.sha,
		CodeSize:                up.size,
		Unzipped:                unzipped,
		Created:                 time.Now(),
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusCreated, a.layerVersionOut(r, &lv))
}

func (a *API) layerVersionOut(r *http.Request, lv *store.LayerVersion) lambdaapi.LayerVersion {
	return lambdaapi.LayerVersion{
		Content: lambdaapi.LayerVersionContentOutput{
			Location:   a.downloadURL(r, lv.Name+"-"+strconv.FormatInt(lv.Version, 10), lv.CodeSha256),
			CodeSha256: lv.CodeSha256,
			CodeSize:   lv.CodeSize,
		},
		LayerArn:                function.LayerARN(a.cfg.Region, lv.Account, lv.Name, 0),
		LayerVersionArn:         function.LayerARN(a.cfg.Region, lv.Account, lv.Name, lv.Version),
		Description:             lv.Description,
		CreatedDate:             lambdaapi.FormatTime(lv.Created),
		Version:                 lv.Version,
		CompatibleRuntimes:      lv.CompatibleRuntimes,
		CompatibleArchitectures: lv.CompatibleArchitectures,
		LicenseInfo:             lv.LicenseInfo,
	}
}

func (a *API) layerListItem(lv *store.LayerVersion) lambdaapi.LayerVersionsListItem {
	return lambdaapi.LayerVersionsListItem{
		LayerVersionArn:         function.LayerARN(a.cfg.Region, lv.Account, lv.Name, lv.Version),
		Version:                 lv.Version,
		Description:             lv.Description,
		CreatedDate:             lambdaapi.FormatTime(lv.Created),
		CompatibleRuntimes:      lv.CompatibleRuntimes,
		CompatibleArchitectures: lv.CompatibleArchitectures,
		LicenseInfo:             lv.LicenseInfo,
	}
}

func (a *API) getLayerVersion(w http.ResponseWriter, r *http.Request) {
	account, name, version, err := a.layerRef(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	lv, err := a.layerVersion(r.Context(), a.account(r), account, name, version)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusOK, a.layerVersionOut(r, &lv))
}

func (a *API) getLayerVersionByArn(w http.ResponseWriter, r *http.Request) {
	ref, err := function.ParseLayerVersionARN(r.URL.Query().Get("Arn"))
	if err != nil || ref.Region != a.cfg.Region {
		a.fail(w, r, errLayerNotFound)
		return
	}
	lv, err := a.layerVersion(r.Context(), a.account(r), ref.Account, ref.Name, ref.Version)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.reply(w, r, http.StatusOK, a.layerVersionOut(r, &lv))
}

// layerFilter is the CompatibleRuntime and CompatibleArchitecture filters
// of the list operations.
type layerFilter struct{ runtime, arch string }

func (f layerFilter) match(lv *store.LayerVersion) bool {
	return (f.runtime == "" || slices.Contains(lv.CompatibleRuntimes, f.runtime)) &&
		(f.arch == "" || slices.Contains(lv.CompatibleArchitectures, f.arch))
}

// listParams reads the list operations' query: the filters, MaxItems (at
// most 50, the model has checked 1 to 50) and the Marker.
func listParams(r *http.Request) (f layerFilter, limit int, marker string, err error) {
	q := r.URL.Query()
	f = layerFilter{runtime: q.Get("CompatibleRuntime"), arch: q.Get("CompatibleArchitecture")}
	limit = 50
	if s := q.Get("MaxItems"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			limit = min(n, 50)
		}
	}
	if m := q.Get("Marker"); m != "" {
		b, derr := base64.RawURLEncoding.DecodeString(m)
		if derr != nil {
			return f, 0, "", invalid("Invalid Marker")
		}
		marker = string(b)
	}
	return f, limit, marker, nil
}

func (a *API) listLayers(w http.ResponseWriter, r *http.Request) {
	f, limit, after, err := listParams(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	lvs, err := a.store.LayerVersions(r.Context(), a.account(r)) // by name, newest first
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := lambdaapi.ListLayersOutput{Layers: []lambdaapi.LayersListItem{}}
	for i := range lvs {
		lv := &lvs[i]
		if lv.Name <= after || !f.match(lv) {
			continue
		}
		if n := len(out.Layers); n > 0 && out.Layers[n-1].LayerName == lv.Name {
			continue // an older version of a layer listed already
		}
		if len(out.Layers) == limit {
			out.NextMarker = base64.RawURLEncoding.EncodeToString([]byte(out.Layers[limit-1].LayerName))
			break
		}
		out.Layers = append(out.Layers, lambdaapi.LayersListItem{
			LayerName:             lv.Name,
			LayerArn:              function.LayerARN(a.cfg.Region, lv.Account, lv.Name, 0),
			LatestMatchingVersion: a.layerListItem(lv),
		})
	}
	a.reply(w, r, http.StatusOK, out)
}

func (a *API) listLayerVersions(w http.ResponseWriter, r *http.Request) {
	account, name, _, err := a.layerRef(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f, limit, marker, err := listParams(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var before int64 // versions below this one; 0: from the newest
	if marker != "" {
		if before, err = strconv.ParseInt(marker, 10, 64); err != nil {
			a.fail(w, r, invalid("Invalid Marker"))
			return
		}
	}
	lvs, err := a.store.LayerVersions(r.Context(), account)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	caller := a.account(r)
	out := lambdaapi.ListLayerVersionsOutput{LayerVersions: []lambdaapi.LayerVersionsListItem{}}
	for i := range lvs {
		lv := &lvs[i]
		if lv.Name != name || (before != 0 && lv.Version >= before) || !f.match(lv) ||
			(account != caller && !layerGrants(lv, caller)) {
			continue
		}
		if len(out.LayerVersions) == limit {
			out.NextMarker = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(out.LayerVersions[limit-1].Version, 10)))
			break
		}
		out.LayerVersions = append(out.LayerVersions, a.layerListItem(lv))
	}
	a.reply(w, r, http.StatusOK, out)
}

func (a *API) deleteLayerVersion(w http.ResponseWriter, r *http.Request) {
	account, name, version, err := a.layerRef(r)
	if err == nil && account != a.account(r) {
		err = lambdaapi.ErrForbidden.WithMessage("Only the account that owns a layer can delete its versions.")
	}
	if errors.Is(err, errLayerNotFound) {
		a.noContent(w, r) // nothing to delete, as on Lambda
		return
	}
	if err == nil {
		err = a.store.DeleteLayerVersion(r.Context(), account, name, version)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.noContent(w, r)
}

// ownLayerVersion resolves the labels to a layer version of the caller's
// own account, for the policy operations.
func (a *API) ownLayerVersion(r *http.Request) (account, name string, version int64, err error) {
	account, name, version, err = a.layerRef(r)
	if err == nil && account != a.account(r) {
		err = lambdaapi.ErrForbidden.WithMessage("Only the account that owns a layer can change or read its policy.")
	}
	return account, name, version, err
}

// noLayerVersion is the policy operations' answer for a layer or layer
// version that does not exist (recorded: TestLambdaLayer::
// test_layer_policy_exceptions).
func (a *API) noLayerVersion(account, name string, version int64) error {
	return lambdaapi.ErrNotFound.WithMessage("Layer version " + function.LayerARN(a.cfg.Region, account, name, version) + " does not exist.")
}

// checkPolicyRevision enforces a RevisionId precondition on a policy.
func checkPolicyRevision(r *http.Request, lv *store.LayerVersion) error {
	if want := r.URL.Query().Get("RevisionId"); want != "" && want != lv.PolicyRevision {
		return lambdaapi.ErrPreconditionFailed.WithMessage("The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to retrieve the latest Revision Id") // recorded
	}
	return nil
}

func (a *API) addLayerVersionPermission(w http.ResponseWriter, r *http.Request) {
	var in lambdaapi.AddLayerVersionPermissionInput
	if !a.decode(w, r, &in) {
		return
	}
	account, name, version, err := a.ownLayerVersion(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if in.OrganizationId != nil && in.Principal != "*" {
		a.fail(w, r, invalid("OrganizationId can be specified only when Principal is '*'."))
		return
	}
	st := store.LayerStatement{Sid: in.StatementId, Action: in.Action, Principal: in.Principal, OrganizationID: deref(in.OrganizationId)}
	lv, err := a.store.UpdateLayerVersion(r.Context(), account, name, version, func(lv *store.LayerVersion) error {
		if err := checkPolicyRevision(r, lv); err != nil {
			return err
		}
		for _, s := range lv.Policy {
			if s.Sid == st.Sid {
				return lambdaapi.ErrConflict.WithMessage("The statement id (" + st.Sid + ") provided already exists. Please provide a new statement id, or remove the existing statement.")
			}
		}
		lv.Policy = append(lv.Policy, st)
		lv.PolicyRevision = invoke.NewRequestID()
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = a.noLayerVersion(account, name, version)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	b, _ := json.Marshal(a.policyStatement(&lv, st))
	a.reply(w, r, http.StatusCreated, lambdaapi.AddLayerVersionPermissionOutput{Statement: string(b), RevisionId: lv.PolicyRevision})
}

// policyStatement is st as the IAM policy document shows it.
func (a *API) policyStatement(lv *store.LayerVersion, st store.LayerStatement) map[string]any {
	var principal any = "*"
	if st.Principal != "*" {
		principal = map[string]string{"AWS": "arn:aws:iam::" + st.Principal + ":root"}
		if strings.HasPrefix(st.Principal, "arn:") {
			principal = map[string]string{"AWS": st.Principal}
		}
	}
	out := map[string]any{
		"Sid":       st.Sid,
		"Effect":    "Allow",
		"Principal": principal,
		"Action":    st.Action,
		"Resource":  function.LayerARN(a.cfg.Region, lv.Account, lv.Name, lv.Version),
	}
	if st.OrganizationID != "" {
		out["Condition"] = map[string]any{"StringEquals": map[string]string{"aws:PrincipalOrgID": st.OrganizationID}}
	}
	return out
}

func (a *API) getLayerVersionPolicy(w http.ResponseWriter, r *http.Request) {
	account, name, version, err := a.ownLayerVersion(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	lv, err := a.store.LayerVersion(r.Context(), account, name, version)
	if errors.Is(err, store.ErrNotFound) {
		err = a.noLayerVersion(account, name, version)
	}
	if err == nil && len(lv.Policy) == 0 {
		err = lambdaapi.ErrNotFound.WithMessage("No policy is associated with the given resource.")
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	statements := make([]map[string]any, len(lv.Policy))
	for i, st := range lv.Policy {
		statements[i] = a.policyStatement(&lv, st)
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Id": "default", "Statement": statements})
	a.reply(w, r, http.StatusOK, lambdaapi.GetLayerVersionPolicyOutput{Policy: string(b), RevisionId: lv.PolicyRevision})
}

func (a *API) removeLayerVersionPermission(w http.ResponseWriter, r *http.Request) {
	account, name, version, err := a.ownLayerVersion(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sid := r.PathValue("StatementId")
	_, err = a.store.UpdateLayerVersion(r.Context(), account, name, version, func(lv *store.LayerVersion) error {
		if err := checkPolicyRevision(r, lv); err != nil {
			return err
		}
		i := slices.IndexFunc(lv.Policy, func(s store.LayerStatement) bool { return s.Sid == sid })
		if i < 0 {
			return lambdaapi.ErrNotFound.WithMessage("Statement " + sid + " is not found in resource policy.")
		}
		lv.Policy = slices.Delete(lv.Policy, i, i+1)
		lv.PolicyRevision = invoke.NewRequestID()
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = a.noLayerVersion(account, name, version)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.noContent(w, r)
}

// resolveLayers turns the Layers parameter of CreateFunction or
// UpdateFunctionConfiguration into what the configuration keeps, in order.
// A layer version the function has already (deleted since, perhaps) is
// kept as it is, as on Lambda, where deleting a layer version does not
// break the functions using it.
func (a *API) resolveLayers(ctx context.Context, caller string, arns []string, current []function.LayerRef) ([]function.LayerRef, error) {
	if len(arns) > function.MaxLayers {
		return nil, invalid("Cannot reference more than 5 layers.") // AWS's limit, recorded
	}
	out := make([]function.LayerRef, 0, len(arns))
	names := map[string]string{} // layer ARN → the version ARN using it
	for _, arn := range arns {
		ref, err := function.ParseLayerVersionARN(arn)
		if err != nil {
			return nil, invalid("Layer version " + arn + " does not exist.")
		}
		layer := function.LayerARN(ref.Region, ref.Account, ref.Name, 0)
		if prev, ok := names[layer]; ok {
			return nil, invalid("Two different versions of the same layer are not allowed to be referenced in the same function. " + prev + " and " + arn + " are versions of the same layer.") // recorded
		}
		names[layer] = arn
		if i := slices.IndexFunc(current, func(l function.LayerRef) bool { return l.Arn == arn }); i >= 0 {
			out = append(out, current[i])
			continue
		}
		if ref.Region != a.cfg.Region {
			return nil, invalid("Layers are not in the same region as the function. Layers are expected to be in region " + a.cfg.Region + ".") // recorded
		}
		lv, err := a.layerVersion(ctx, caller, ref.Account, ref.Name, ref.Version)
		if errors.Is(err, errLayerNotFound) {
			return nil, invalid("Layer version " + arn + " does not exist.")
		}
		if err != nil {
			return nil, err
		}
		out = append(out, lv.Ref(a.cfg.Region))
	}
	return out, nil
}

// checkUnzipped enforces Lambda's limit on a function's package and its
// layers unpacked.
func checkUnzipped(code int64, layers []function.LayerRef) error {
	total := code
	for _, l := range layers {
		total += l.Unzipped
	}
	if total > function.MaxUnzipped {
		return invalid(fmt.Sprintf("Function code combined with layers exceeds the maximum allowed size of %d bytes. The actual size is %d bytes.", function.MaxUnzipped, total))
	}
	return nil
}

// layersOut renders a configuration's layers.
func layersOut(ls []function.LayerRef) []lambdaapi.Layer {
	if len(ls) == 0 {
		return nil
	}
	out := make([]lambdaapi.Layer, len(ls))
	for i, l := range ls {
		out[i] = lambdaapi.Layer{Arn: l.Arn, CodeSize: l.CodeSize}
	}
	return out
}
