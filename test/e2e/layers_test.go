package e2e

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"
)

// publish publishes a layer version of zip and returns it.
func (s *server) publish(t testing.TB, name string, zip []byte, runtimes ...types.Runtime) *lambda.PublishLayerVersionOutput {
	t.Helper()
	out, err := s.Client.PublishLayerVersion(t.Context(), &lambda.PublishLayerVersionInput{
		LayerName:          aws.String(name),
		Content:            &types.LayerVersionContentInput{ZipFile: zip},
		CompatibleRuntimes: runtimes,
	})
	if err != nil {
		t.Fatalf("PublishLayerVersion(%s) = %v", name, err)
	}
	return out
}

// setLayers replaces a function's layers and waits for the update.
func (s *server) setLayers(t testing.TB, name string, arns ...string) *lambda.UpdateFunctionConfigurationOutput {
	t.Helper()
	if arns == nil {
		arns = []string{}
	}
	out, err := s.Client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name), Layers: arns})
	if err != nil {
		t.Fatalf("UpdateFunctionConfiguration(%s, Layers %v) = %v", name, arns, err)
	}
	w := lambda.NewFunctionUpdatedV2Waiter(s.Client)
	if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)}, 30e9); err != nil {
		t.Fatalf("waiting for %s's update: %v", name, err)
	}
	return out
}

func TestLayerOperations(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	zip1 := zipFiles(map[string]zipFile{"python/one.py": {data: []byte("V = 1\n")}})
	v1, err := s.Client.PublishLayerVersion(ctx, &lambda.PublishLayerVersionInput{
		LayerName:               aws.String("lib"),
		Content:                 &types.LayerVersionContentInput{ZipFile: zip1},
		CompatibleRuntimes:      []types.Runtime{types.RuntimePython312},
		CompatibleArchitectures: []types.Architecture{types.ArchitectureX8664},
		Description:             aws.String("first"),
		LicenseInfo:             aws.String("MIT"),
	})
	if err != nil {
		t.Fatalf("PublishLayerVersion = %v", err)
	}
	const layerARN = "arn:aws:lambda:us-east-1:000000000000:layer:lib"
	if aws.ToString(v1.LayerArn) != layerARN || aws.ToString(v1.LayerVersionArn) != layerARN+":1" || v1.Version != 1 ||
		aws.ToString(v1.Description) != "first" || aws.ToString(v1.LicenseInfo) != "MIT" || v1.CreatedDate == nil ||
		v1.Content.CodeSize != int64(len(zip1)) || aws.ToString(v1.Content.CodeSha256) == "" ||
		!cmp.Equal(v1.CompatibleRuntimes, []types.Runtime{types.RuntimePython312}) ||
		!cmp.Equal(v1.CompatibleArchitectures, []types.Architecture{types.ArchitectureX8664}) {
		t.Errorf("PublishLayerVersion answered %+v", v1)
	}
	// Content.Location downloads the zip.
	resp, err := http.Get(aws.ToString(v1.Content.Location))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, zip1) {
		t.Errorf("GET Content.Location = %d, %d bytes; want 200 and the layer's zip", resp.StatusCode, len(got))
	}

	v2 := s.publish(t, "lib", zipFiles(map[string]zipFile{"nodejs/node_modules/two/index.js": {data: []byte("module.exports = 2\n")}}), types.RuntimeNodejs20x)
	if v2.Version != 2 {
		t.Errorf("second version = %d; want 2", v2.Version)
	}
	s.publish(t, "other", zip1)

	g, err := s.Client.GetLayerVersion(ctx, &lambda.GetLayerVersionInput{LayerName: aws.String("lib"), VersionNumber: aws.Int64(1)})
	if err != nil || aws.ToString(g.Description) != "first" || aws.ToString(g.Content.CodeSha256) != aws.ToString(v1.Content.CodeSha256) {
		t.Errorf("GetLayerVersion(lib, 1) = %+v, %v", g, err)
	}
	g, err = s.Client.GetLayerVersion(ctx, &lambda.GetLayerVersionInput{LayerName: aws.String(layerARN), VersionNumber: aws.Int64(2)})
	if err != nil || g.Version != 2 {
		t.Errorf("GetLayerVersion(layer ARN, 2) = %+v, %v", g, err)
	}
	ga, err := s.Client.GetLayerVersionByArn(ctx, &lambda.GetLayerVersionByArnInput{Arn: aws.String(layerARN + ":2")})
	if err != nil || ga.Version != 2 || aws.ToString(ga.LayerVersionArn) != layerARN+":2" {
		t.Errorf("GetLayerVersionByArn = %+v, %v", ga, err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := s.Client.GetLayerVersion(ctx, &lambda.GetLayerVersionInput{LayerName: aws.String("lib"), VersionNumber: aws.Int64(9)}); !errors.As(err, &nf) {
		t.Errorf("GetLayerVersion of a missing version = %v; want ResourceNotFoundException", err)
	}

	versions := func(in *lambda.ListLayerVersionsInput) []int64 {
		t.Helper()
		var out []int64
		p := lambda.NewListLayerVersionsPaginator(s.Client, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListLayerVersions = %v", err)
			}
			for _, v := range page.LayerVersions {
				out = append(out, v.Version)
			}
		}
		return out
	}
	if got := versions(&lambda.ListLayerVersionsInput{LayerName: aws.String("lib"), MaxItems: aws.Int32(1)}); !cmp.Equal(got, []int64{2, 1}) {
		t.Errorf("ListLayerVersions one per page = %v; want [2 1]", got)
	}
	if got := versions(&lambda.ListLayerVersionsInput{LayerName: aws.String("lib"), CompatibleRuntime: types.RuntimePython312}); !cmp.Equal(got, []int64{1}) {
		t.Errorf("ListLayerVersions for python3.12 = %v; want [1]", got)
	}
	ll, err := s.Client.ListLayers(ctx, &lambda.ListLayersInput{})
	if err != nil || len(ll.Layers) != 2 || aws.ToString(ll.Layers[0].LayerName) != "lib" || ll.Layers[0].LatestMatchingVersion.Version != 2 ||
		aws.ToString(ll.Layers[0].LayerArn) != layerARN || aws.ToString(ll.Layers[1].LayerName) != "other" {
		t.Errorf("ListLayers = %+v, %v; want lib (latest 2) and other", ll, err)
	}
	ll, err = s.Client.ListLayers(ctx, &lambda.ListLayersInput{CompatibleRuntime: types.RuntimePython312})
	if err != nil || len(ll.Layers) != 1 || ll.Layers[0].LatestMatchingVersion.Version != 1 {
		t.Errorf("ListLayers for python3.12 = %+v, %v; want lib at version 1", ll, err)
	}
	ll, err = s.Client.ListLayers(ctx, &lambda.ListLayersInput{MaxItems: aws.Int32(1)})
	if err != nil || len(ll.Layers) != 1 || aws.ToString(ll.NextMarker) == "" {
		t.Fatalf("ListLayers(MaxItems 1) = %+v, %v; want one layer and a marker", ll, err)
	}
	ll, err = s.Client.ListLayers(ctx, &lambda.ListLayersInput{Marker: ll.NextMarker})
	if err != nil || len(ll.Layers) != 1 || aws.ToString(ll.Layers[0].LayerName) != "other" || aws.ToString(ll.NextMarker) != "" {
		t.Errorf("ListLayers' second page = %+v, %v; want other and no marker", ll, err)
	}

	// Permissions.
	add, err := s.Client.AddLayerVersionPermission(ctx, &lambda.AddLayerVersionPermissionInput{
		LayerName: aws.String("lib"), VersionNumber: aws.Int64(1), StatementId: aws.String("everyone"),
		Action: aws.String("lambda:GetLayerVersion"), Principal: aws.String("*"),
	})
	if err != nil || !strings.Contains(aws.ToString(add.Statement), `"Sid":"everyone"`) || aws.ToString(add.RevisionId) == "" {
		t.Fatalf("AddLayerVersionPermission = %+v, %v", add, err)
	}
	var conflict *types.ResourceConflictException
	if _, err := s.Client.AddLayerVersionPermission(ctx, &lambda.AddLayerVersionPermissionInput{
		LayerName: aws.String("lib"), VersionNumber: aws.Int64(1), StatementId: aws.String("everyone"),
		Action: aws.String("lambda:GetLayerVersion"), Principal: aws.String("123456789012"),
	}); !errors.As(err, &conflict) {
		t.Errorf("AddLayerVersionPermission with a used statement id = %v; want ResourceConflictException", err)
	}
	pol, err := s.Client.GetLayerVersionPolicy(ctx, &lambda.GetLayerVersionPolicyInput{LayerName: aws.String("lib"), VersionNumber: aws.Int64(1)})
	if err != nil || !strings.Contains(aws.ToString(pol.Policy), `"Resource":"`+layerARN+`:1"`) || aws.ToString(pol.RevisionId) != aws.ToString(add.RevisionId) {
		t.Errorf("GetLayerVersionPolicy = %+v, %v", pol, err)
	}
	var pre *types.PreconditionFailedException
	if _, err := s.Client.RemoveLayerVersionPermission(ctx, &lambda.RemoveLayerVersionPermissionInput{
		LayerName: aws.String("lib"), VersionNumber: aws.Int64(1), StatementId: aws.String("everyone"), RevisionId: aws.String("stale"),
	}); !errors.As(err, &pre) {
		t.Errorf("RemoveLayerVersionPermission with a stale revision = %v; want PreconditionFailedException", err)
	}
	if _, err := s.Client.RemoveLayerVersionPermission(ctx, &lambda.RemoveLayerVersionPermissionInput{
		LayerName: aws.String("lib"), VersionNumber: aws.Int64(1), StatementId: aws.String("everyone"),
	}); err != nil {
		t.Errorf("RemoveLayerVersionPermission = %v", err)
	}
	if _, err := s.Client.GetLayerVersionPolicy(ctx, &lambda.GetLayerVersionPolicyInput{LayerName: aws.String("lib"), VersionNumber: aws.Int64(1)}); !errors.As(err, &nf) {
		t.Errorf("GetLayerVersionPolicy without statements = %v; want ResourceNotFoundException", err)
	}

	// Deleting keeps the numbers: the next version is 3.
	if _, err := s.Client.DeleteLayerVersion(ctx, &lambda.DeleteLayerVersionInput{LayerName: aws.String("lib"), VersionNumber: aws.Int64(2)}); err != nil {
		t.Fatalf("DeleteLayerVersion = %v", err)
	}
	if _, err := s.Client.DeleteLayerVersion(ctx, &lambda.DeleteLayerVersionInput{LayerName: aws.String("lib"), VersionNumber: aws.Int64(2)}); err != nil {
		t.Errorf("DeleteLayerVersion again = %v; want 204 as on Lambda", err)
	}
	if _, err := s.Client.GetLayerVersion(ctx, &lambda.GetLayerVersionInput{LayerName: aws.String("lib"), VersionNumber: aws.Int64(2)}); !errors.As(err, &nf) {
		t.Errorf("GetLayerVersion after delete = %v; want ResourceNotFoundException", err)
	}
	if v := s.publish(t, "lib", zip1); v.Version != 3 {
		t.Errorf("version after deleting 2 = %d; want 3", v.Version)
	}
	// Layer archives count in the account's code storage: lib 1 and 3,
	// other 1.
	settings, err := s.Client.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil || settings.AccountUsage.TotalCodeSize != 3*int64(len(zip1)) {
		t.Errorf("AccountUsage.TotalCodeSize = %v, %v; want %d", settings.AccountUsage.TotalCodeSize, err, 3*len(zip1))
	}

	// Hostile and broken zips are refused as function code is.
	for name, zip := range map[string][]byte{
		"not a zip": []byte("not a zip at all"),
		"traversal": zipFiles(map[string]zipFile{"../escape.txt": {data: []byte("x")}}),
		"absolute":  zipFiles(map[string]zipFile{"/etc/evil": {data: []byte("x")}}),
	} {
		_, err := s.Client.PublishLayerVersion(ctx, &lambda.PublishLayerVersionInput{LayerName: aws.String("bad"), Content: &types.LayerVersionContentInput{ZipFile: zip}})
		var inv *types.InvalidParameterValueException
		if !errors.As(err, &inv) || !strings.Contains(aws.ToString(inv.Message), "Could not unzip") {
			t.Errorf("PublishLayerVersion of %s = %v; want InvalidParameterValueException (Could not unzip ...)", name, err)
		}
	}
	if ll, err := s.Client.ListLayerVersions(ctx, &lambda.ListLayerVersionsInput{LayerName: aws.String("bad")}); err != nil || len(ll.LayerVersions) != 0 {
		t.Errorf("refused zips left versions: %+v, %v", ll, err)
	}
}

// pythonLayerFn imports modules from /opt/python and its site-packages,
// and reports what /opt shows.
var pythonLayerFn = `import os, subprocess

def handler(event, context):
    out = {}
    try:
        import greet
        out["greet"] = greet.VALUE
    except ImportError as e:
        out["greet"] = "missing: " + str(e)
    try:
        import sitepkg
        out["site"] = sitepkg.V
    except ImportError:
        out["site"] = "missing"
    try:
        with open("/opt/new", "w"):
            pass
        out["writable"] = True
    except OSError:
        out["writable"] = False
    out["shared"] = open("/opt/shared.txt").read() if os.path.exists("/opt/shared.txt") else ""
    out["tool"] = subprocess.run(["tool.sh"], capture_output=True, text=True).stdout if os.path.exists("/opt/bin/tool.sh") else ""
    return out
`

func TestLayersPython(t *testing.T) {
	needRuntime(t, "python3.12")
	for _, iso := range []string{defaultIsolation(), "process"} {
		t.Run(iso, func(t *testing.T) {
			if iso == "process" && defaultIsolation() == "process" {
				t.Skip("the default is the process driver")
			}
			s := startServer(t, "", "--isolation", iso)
			a := s.publish(t, "a", zipFiles(map[string]zipFile{
				"python/greet.py": {data: []byte("VALUE = 'a'\n")},
				"python/lib/python3.12/site-packages/sitepkg.py": {data: []byte("V = 'site'\n")},
				"shared.txt":  {data: []byte("a")},
				"bin/tool.sh": {data: []byte("#!/bin/sh\necho tool from a\n"), mode: 0o755},
			}))
			b := s.publish(t, "b", zipFiles(map[string]zipFile{
				"python/greet.py": {data: []byte("VALUE = 'b'\n")},
				"shared.txt":      {data: []byte("b")},
			}))
			s.create(t, "py", fn{runtime: "python3.12", handler: "app.handler", zip: zipFiles(map[string]zipFile{"app.py": {data: []byte(pythonLayerFn)}})})

			out := s.setLayers(t, "py", aws.ToString(a.LayerVersionArn), aws.ToString(b.LayerVersionArn))
			wantLayers := []types.Layer{
				{Arn: a.LayerVersionArn, CodeSize: a.Content.CodeSize},
				{Arn: b.LayerVersionArn, CodeSize: b.Content.CodeSize},
			}
			if diff := cmp.Diff(wantLayers, out.Layers, cmp.Comparer(func(x, y types.Layer) bool {
				return aws.ToString(x.Arn) == aws.ToString(y.Arn) && x.CodeSize == y.CodeSize
			})); diff != "" {
				t.Errorf("configuration's Layers (-want +got):\n%s", diff)
			}
			m := s.invoke(t, "py", map[string]any{}).decode(t)
			want := map[string]any{"greet": "b", "site": "site", "writable": false, "shared": "b", "tool": "tool from a\n"}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("layers a then b (-want +got):\n%s", diff)
			}
			// Order matters: the later layer wins.
			s.setLayers(t, "py", aws.ToString(b.LayerVersionArn), aws.ToString(a.LayerVersionArn))
			m = s.invoke(t, "py", map[string]any{}).decode(t)
			if m["greet"] != "a" || m["shared"] != "a" {
				t.Errorf("layers b then a: %v; want a's files", m)
			}
			// A deleted layer version keeps working for the function.
			if _, err := s.Client.DeleteLayerVersion(t.Context(), &lambda.DeleteLayerVersionInput{LayerName: aws.String("a"), VersionNumber: aws.Int64(1)}); err != nil {
				t.Fatal(err)
			}
			s.setLayers(t, "py", aws.ToString(b.LayerVersionArn), aws.ToString(a.LayerVersionArn))
			if m = s.invoke(t, "py", map[string]any{}).decode(t); m["greet"] != "a" {
				t.Errorf("after deleting layer a's version: %v; want it still in /opt", m)
			}
			// No layers: an empty /opt.
			s.setLayers(t, "py")
			m = s.invoke(t, "py", map[string]any{}).decode(t)
			if g, _ := m["greet"].(string); !strings.HasPrefix(g, "missing") || m["shared"] != "" {
				t.Errorf("without layers: %v; want nothing from /opt", m)
			}
		})
	}
}

func TestLayersNode(t *testing.T) {
	needRuntime(t, "nodejs20.x")
	s := startServer(t, "")
	l := s.publish(t, "npm", zipFiles(map[string]zipFile{
		"nodejs/node_modules/leftpad/index.js":    {data: []byte("module.exports = (s, n) => s.padStart(n, '.')\n")},
		"nodejs/node20/node_modules/ver/index.js": {data: []byte("module.exports = 'node20'\n")},
	}))
	code := `const leftpad = require('leftpad'); const ver = require('ver');
exports.handler = async () => ({ padded: leftpad('x', 3), ver });
`
	s.create(t, "js", fn{runtime: "nodejs20.x", handler: "index.handler", zip: zipFiles(map[string]zipFile{"index.js": {data: []byte(code)}})})
	s.setLayers(t, "js", aws.ToString(l.LayerVersionArn))
	m := s.invoke(t, "js", map[string]any{}).decode(t)
	if diff := cmp.Diff(map[string]any{"padded": "..x", "ver": "node20"}, m); diff != "" {
		t.Errorf("node function requiring from a layer (-want +got):\n%s", diff)
	}
}

// A custom runtime distributed as a layer: the package has no bootstrap,
// the layer's /opt/bootstrap (aws-lambda-go) runs.
func TestLayerCustomRuntime(t *testing.T) {
	s := startServer(t, "")
	l := s.publish(t, "goruntime", goFnZip)
	_, err := s.Client.CreateFunction(t.Context(), &lambda.CreateFunctionInput{
		FunctionName: aws.String("custom"),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("anything"),
		Role:         aws.String("arn:aws:iam::000000000000:role/e2e"),
		Code:         &types.FunctionCode{ZipFile: zipFiles(map[string]zipFile{"README": {data: []byte("no bootstrap here")}})},
		Layers:       []string{aws.ToString(l.LayerVersionArn)},
	})
	if err != nil {
		t.Fatalf("CreateFunction = %v", err)
	}
	w := lambda.NewFunctionActiveV2Waiter(s.Client)
	if err := w.Wait(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String("custom")}, 30e9); err != nil {
		t.Fatal(err)
	}
	r := s.invoke(t, "custom", map[string]any{"op": "env"})
	if r.FunctionError != "" {
		t.Fatalf("invoke = %s %s", r.FunctionError, r.Payload)
	}
	env, _ := r.decode(t)["env"].(map[string]any)
	if p, _ := env["PATH"].(string); !strings.HasSuffix(p, ":/opt/bin") {
		t.Errorf("PATH = %q; want /opt/bin last", p)
	}
	if p, _ := env["LD_LIBRARY_PATH"].(string); !strings.HasSuffix(p, ":/opt/lib") {
		t.Errorf("LD_LIBRARY_PATH = %q; want /opt/lib last", p)
	}
	// Without the layer there is no bootstrap at all.
	s.setLayers(t, "custom")
	r = s.invoke(t, "custom", map[string]any{"op": "echo"})
	if typ, _ := errorDoc(t, r); typ != "Runtime.InvalidEntrypoint" {
		t.Errorf("invoke without the runtime layer = %s; want Runtime.InvalidEntrypoint", r.Payload)
	}
}

func TestLayerLimits(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	small := zipFiles(map[string]zipFile{"x": {data: []byte("x")}})
	var arns []string
	for range 6 {
		arns = append(arns, aws.ToString(s.publish(t, "many", small).LayerVersionArn))
	}
	s.publish(t, "solo", small)
	s.create(t, "lim", goFn())
	update := func(layers ...string) error {
		_, err := s.Client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("lim"), Layers: layers})
		return err
	}
	const acct = "arn:aws:lambda:us-east-1:000000000000:layer:"
	for _, tt := range []struct {
		name   string
		layers []string
		want   string
	}{
		{"six", []string{acct + "solo:1", acct + "many:1", acct + "big1:1", acct + "big2:1", acct + "x:1", acct + "y:1"}, "Cannot reference more than 5 layers."},
		{"missing", []string{acct + "nope:1"}, "Layer version " + acct + "nope:1 does not exist."},
		{"two versions", []string{arns[0], arns[1]}, "Two different versions of the same layer are not allowed"},
	} {
		err := update(tt.layers...)
		var inv *types.InvalidParameterValueException
		if !errors.As(err, &inv) || !strings.Contains(aws.ToString(inv.Message), tt.want) {
			t.Errorf("%s: UpdateFunctionConfiguration = %v; want InvalidParameterValueException %q", tt.name, err, tt.want)
		}
	}
	if err := update(acct+"solo:1", arns[5]); err != nil {
		t.Errorf("two layers = %v", err)
	}
	// 250 MB unpacked, function and layers together.
	zeros := make([]byte, 130<<20)
	big := zipFiles(map[string]zipFile{"zeros": {data: zeros}})
	b1 := s.publish(t, "big1", big)
	b2 := s.publish(t, "big2", big)
	s.setLayers(t, "lim", aws.ToString(b1.LayerVersionArn))
	err := update(aws.ToString(b1.LayerVersionArn), aws.ToString(b2.LayerVersionArn))
	var inv *types.InvalidParameterValueException
	if !errors.As(err, &inv) || !strings.Contains(aws.ToString(inv.Message), "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes.") {
		t.Errorf("layers of 260 MB = %v; want InvalidParameterValueException (combined size)", err)
	}
	_, err = s.Client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("lim"),
		ZipFile: zipFiles(map[string]zipFile{"bootstrap": {data: goFnBin, mode: 0o755}, "pad": {data: zeros}})})
	if !errors.As(err, &inv) || !strings.Contains(aws.ToString(inv.Message), "Function code combined with layers exceeds") {
		t.Errorf("code of 130 MB with a layer of 130 MB = %v; want InvalidParameterValueException (combined size)", err)
	}
}

// Layer versions, a function's layers and its reservation survive a
// restart.
func TestLayersAndReservationSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	l := s.publish(t, "goruntime", goFnZip)
	_, err := s.Client.CreateFunction(t.Context(), &lambda.CreateFunctionInput{
		FunctionName: aws.String("kept"),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("bootstrap"),
		Role:         aws.String("arn:aws:iam::000000000000:role/e2e"),
		Code:         &types.FunctionCode{ZipFile: zipFiles(map[string]zipFile{"README": {data: []byte("runtime in a layer")}})},
		Layers:       []string{aws.ToString(l.LayerVersionArn)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.PutFunctionConcurrency(t.Context(), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("kept"), ReservedConcurrentExecutions: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	s.Stop()

	s = startServer(t, dir)
	if g, err := s.Client.GetLayerVersion(t.Context(), &lambda.GetLayerVersionInput{LayerName: aws.String("goruntime"), VersionNumber: aws.Int64(1)}); err != nil || aws.ToString(g.Content.CodeSha256) != aws.ToString(l.Content.CodeSha256) {
		t.Errorf("GetLayerVersion after restart = %+v, %v", g, err)
	}
	if v := s.publish(t, "goruntime", goFnZip); v.Version != 2 {
		t.Errorf("first version published after restart = %d; want 2", v.Version)
	}
	c, err := s.Client.GetFunctionConcurrency(t.Context(), &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("kept")})
	if err != nil || aws.ToInt32(c.ReservedConcurrentExecutions) != 3 {
		t.Errorf("GetFunctionConcurrency after restart = %v, %v; want 3", c, err)
	}
	if r := s.invoke(t, "kept", map[string]any{"op": "echo"}); r.FunctionError != "" {
		t.Errorf("invoke after restart = %s", r.Payload)
	}
}
