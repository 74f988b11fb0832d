package e2e

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
)

// servedOperations is the Lambda API surface Hearth serves.
var servedOperations = map[string]bool{
	"CreateFunction": true, "GetFunction": true, "GetFunctionConfiguration": true, "ListFunctions": true,
	"DeleteFunction": true, "UpdateFunctionCode": true, "UpdateFunctionConfiguration": true,
	"Invoke": true, "InvokeAsync": true, "GetAccountSettings": true,
	"PutFunctionEventInvokeConfig": true, "UpdateFunctionEventInvokeConfig": true, "GetFunctionEventInvokeConfig": true,
	"DeleteFunctionEventInvokeConfig": true, "ListFunctionEventInvokeConfigs": true,
	"ListTags": true, "TagResource": true, "UntagResource": true,
	"PublishVersion": true, "ListVersionsByFunction": true, "CreateAlias": true, "GetAlias": true,
	"UpdateAlias": true, "DeleteAlias": true, "ListAliases": true,
	"AddPermission": true, "RemovePermission": true, "GetPolicy": true,
	"PutProvisionedConcurrencyConfig": true, "GetProvisionedConcurrencyConfig": true,
	"DeleteProvisionedConcurrencyConfig": true, "ListProvisionedConcurrencyConfigs": true,
	"PublishLayerVersion": true, "GetLayerVersion": true, "GetLayerVersionByArn": true, "ListLayers": true,
	"ListLayerVersions": true, "DeleteLayerVersion": true, "AddLayerVersionPermission": true,
	"RemoveLayerVersionPermission": true, "GetLayerVersionPolicy": true,
	"PutFunctionConcurrency": true, "GetFunctionConcurrency": true, "DeleteFunctionConcurrency": true,
	"CreateFunctionUrlConfig": true, "GetFunctionUrlConfig": true, "UpdateFunctionUrlConfig": true,
	"DeleteFunctionUrlConfig": true, "ListFunctionUrlConfigs": true,
	"InvokeWithResponseStream": true,
}

// TestEveryOperationServedOrUnknown calls every operation of
// aws-sdk-go-v2's Lambda client on the real binary: the ones Hearth does
// not serve must be refused as UnknownOperationException (they used to
// reach ListFunctions or CreateFunction: GetAlias answered 200 with nil
// fields), and the ones it serves must not be.
func TestEveryOperationServedOrUnknown(t *testing.T) {
	s := startServer(t, "")
	cv := reflect.ValueOf(s.NoRetry)
	ctx := reflect.ValueOf(context.Background())
	n := 0
	for i := range cv.NumMethod() {
		m := cv.Type().Method(i)
		mt := m.Type
		if mt.NumIn() != 4 || mt.NumOut() != 2 || !mt.IsVariadic() || !strings.HasSuffix(mt.In(2).Elem().Name(), "Input") {
			continue
		}
		n++
		out := cv.Method(i).Call([]reflect.Value{ctx, fillValue(mt.In(2), 0)})
		err, _ := out[1].Interface().(error)
		var ae smithy.APIError
		unknown := errors.As(err, &ae) && ae.ErrorCode() == "UnknownOperationException"
		if servedOperations[m.Name] == unknown {
			t.Errorf("%s = %v; served: %v", m.Name, err, servedOperations[m.Name])
		}
	}
	if n < 60 {
		t.Fatalf("called %d operations; the reflection missed the client's methods", n)
	}
}

// fillValue returns a value of type t with every member set, so that the
// SDK's required-member checks pass.
func fillValue(t reflect.Type, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	if depth > 12 {
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		v.Set(fillValue(t.Elem(), depth+1).Addr())
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
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte("{}"))
			break
		}
		v.Set(reflect.Append(v, fillValue(t.Elem(), depth+1)))
	case reflect.Map:
		v.Set(reflect.MakeMap(t))
		v.SetMapIndex(fillValue(t.Key(), depth+1), fillValue(t.Elem(), depth+1))
	case reflect.Interface:
		if t == reflect.TypeFor[io.Reader]() {
			v.Set(reflect.ValueOf(strings.NewReader("{}")))
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if f := v.Field(i); f.CanSet() && t.Field(i).Type.PkgPath() != "time" {
				f.Set(fillValue(t.Field(i).Type, depth+1))
			}
		}
	}
	return v
}

// TestCLISeesUnknownOperations runs the aws CLI (botocore) against Hearth
// for operations Hearth does not serve: one of CloudWatch Logs' JSON
// protocol, and a Lambda operation. Both must print the
// error code, which botocore's JSON parser reads only from the body's
// __type (it used to print "An error occurred (404)").
func TestCLISeesUnknownOperations(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("no aws CLI on this machine")
	}
	s := startServer(t, "")
	for _, args := range [][]string{
		{"logs", "describe-metric-filters", "--log-group-name", "/aws/lambda/f"},
		{"lambda", "get-function-code-signing-config", "--function-name", "f"},
	} {
		cmd := exec.CommandContext(t.Context(), "aws", append(args, "--endpoint-url", s.URL, "--region", "us-east-1")...)
		cmd.Env = append(s.credEnv(), "AWS_MAX_ATTEMPTS=1",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "An error occurred (UnknownOperationException)") {
			t.Errorf("aws %s = %v:\n%s\nwant An error occurred (UnknownOperationException)", strings.Join(args, " "), err, out)
		}
	}
}
