package function_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/function"
)

func TestAliasPick(t *testing.T) {
	a := function.Alias{Version: "1", Weights: map[string]float64{"2": 0.25}}
	for _, tc := range []struct {
		r    float64
		want string
	}{{0, "2"}, {0.2499, "2"}, {0.25, "1"}, {0.99, "1"}} {
		if got := a.Pick(&tc.r); got != tc.want {
			t.Errorf("Pick(%v) = %s; want %s", tc.r, got, tc.want)
		}
	}
	plain := function.Alias{Version: "3"}
	if got := plain.Pick(nil); got != "3" {
		t.Errorf("Pick() without weights = %s; want 3", got)
	}
}

// TestCheckWeights: the refusals carry AWS's recorded messages
// (localstack tests/aws/services/lambda_/test_lambda_api.snapshot.json,
// TestLambdaAlias::test_notfound_and_invalid_routingconfigs).
func TestCheckWeights(t *testing.T) {
	for _, tc := range []struct {
		primary string
		weights map[string]float64
		want    string // the error's text; "" for none
	}{
		{"1", nil, ""},
		{"1", map[string]float64{"2": 0.5}, ""},
		{"1", map[string]float64{"1": 0.8, "2": 0.2}, "Number of items in AdditionalVersionWeights cannot be greater than 1"},
		{"1", map[string]float64{"2": 0.5, "3": 0.1}, "Number of items in AdditionalVersionWeights cannot be greater than 1"},
		{"1", map[string]float64{"1": 0.5}, "Invalid function version 1. Function version 1 is already included in routing configuration."},
		{"$LATEST", map[string]float64{"1": 0.5}, "$LATEST is not supported for an alias pointing to more than 1 version"},
		{"1", map[string]float64{"2": 1.5}, "1 validation error detected: Value at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]"},
		{"1", map[string]float64{"x": 0.5}, "1 validation error detected: Value 'x' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]"},
	} {
		got := ""
		if err := function.CheckWeights(tc.primary, tc.weights); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("CheckWeights(%s, %v) = %q, want %q", tc.primary, tc.weights, got, tc.want)
		}
	}
}

// FuzzQualifier: whatever ParseRef accepts as a qualifier is exactly one
// of $LATEST, a version number or an alias name, or none of them (a
// number with a leading zero, which names nothing).
func FuzzQualifier(f *testing.F) {
	for _, s := range []string{"f:1", "f:$LATEST", "f:live", "f:007", "f:123abc", "arn:aws:lambda:us-east-1:000000000000:function:f:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := function.ParseRef(s)
		if err != nil || r.Qualifier == "" {
			return
		}
		q := r.Qualifier
		kinds := 0
		for _, is := range []bool{q == function.Latest, function.IsVersionNumber(q), function.ValidAliasName(q)} {
			if is {
				kinds++
			}
		}
		allDigits := strings.Trim(q, "0123456789") == ""
		if kinds > 1 || (kinds == 0 && !(allDigits && q[0] == '0') && len(q) <= function.MaxAliasLen) {
			t.Fatalf("qualifier %q of %q is %d kinds", q, s, kinds)
		}
		if function.IsVersionNumber(q) && function.VersionNumber(q) <= 0 {
			t.Fatalf("version %q has number %d", q, function.VersionNumber(q))
		}
	})
}

func TestPermissionStatement(t *testing.T) {
	p := function.Permission{Sid: "sns", Action: "lambda:InvokeFunction", Principal: "sns.amazonaws.com",
		SourceArn: "arn:aws:sns:us-east-1:000000000000:topic", PrincipalOrgID: "o-abc"}
	st, err := p.Statement("arn:aws:lambda:us-east-1:000000000000:function:f:live")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(st)
	want := `{"Sid":"sns","Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f:live","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:sns:us-east-1:000000000000:topic"},"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}}`
	if string(got) != want {
		t.Errorf("statement = %s\nwant %s", got, want)
	}
	// What the Lambda console and AWS's docs add for a public URL.
	via := function.Permission{Sid: "FunctionURLAllowInvokeAction", Action: "lambda:InvokeFunction", Principal: "*", InvokedViaFunctionUrl: true}
	st, err = via.Statement("arn:aws:lambda:us-east-1:000000000000:function:f")
	if err != nil {
		t.Fatal(err)
	}
	got, _ = json.Marshal(st)
	want = `{"Sid":"FunctionURLAllowInvokeAction","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:000000000000:function:f","Condition":{"Bool":{"lambda:InvokedViaFunctionUrl":"true"}}}`
	if string(got) != want {
		t.Errorf("statement = %s\nwant %s", got, want)
	}
	for _, good := range []string{"s3.amazonaws.com", "events.amazonaws.com.cn", "alexa-appkit.amazon.com"} {
		p := function.Permission{Sid: "x", Action: "lambda:InvokeFunction", Principal: good}
		if _, err := p.Statement("arn"); err != nil {
			t.Errorf("Statement(principal %s) = %v; want a statement", good, err)
		}
	}
	for _, bad := range []function.Permission{
		{Sid: "x", Action: "s3:GetObject", Principal: "*"},
		{Sid: "x", Action: "lambda:InvokeFunction", Principal: "*", FunctionUrlAuthType: "NONE"},
		{Sid: "x", Action: "lambda:*", Principal: "*", FunctionUrlAuthType: "AWS_IAM"},
		{Sid: "x", Action: "lambda:InvokeFunction", Principal: ""},
		{Sid: "x", Action: "lambda:InvokeFunction", Principal: "nobody"},
		// Recorded: AWS refuses a principal that is no AWS service.
		{Sid: "x", Action: "lambda:InvokeFunction", Principal: "invalid.nonaws.com"},
		{Sid: "x", Action: "lambda:InvokeFunction", Principal: ".amazonaws.com"},
	} {
		if _, err := bad.Statement("arn"); err == nil {
			t.Errorf("Statement(%+v) = nil error; want a refusal", bad)
		}
	}
}

// FuzzPolicyStatement: every statement AddPermission would store reads
// back, from the document GetPolicy shows, as itself; every document
// ParsePolicy accepts prints back to one it accepts again.
func FuzzPolicyStatement(f *testing.F) {
	f.Add("s1", "lambda:InvokeFunction", "s3.amazonaws.com", "arn:aws:s3:::b", "000000000000", "", "", false)
	f.Add("s2", "lambda:InvokeFunctionUrl", "123456789012", "", "", "o-x", "AWS_IAM", false)
	f.Add("s3", "lambda:InvokeFunction", "*", "", "", "", "", true)
	f.Fuzz(func(t *testing.T, sid, action, principal, sourceArn, sourceAccount, org, urlAuth string, viaURL bool) {
		p := function.Permission{Sid: sid, Action: action, Principal: principal, SourceArn: sourceArn,
			SourceAccount: sourceAccount, PrincipalOrgID: org, FunctionUrlAuthType: urlAuth, InvokedViaFunctionUrl: viaURL}
		st, err := p.Statement("arn:aws:lambda:us-east-1:000000000000:function:f")
		if err != nil || sid == "" {
			return
		}
		pol := function.Policy{Statements: []function.Statement{st}}
		doc := pol.Document()
		back, err := function.ParsePolicy([]byte(doc))
		if err != nil {
			t.Fatalf("ParsePolicy(%s) = %v", doc, err)
		}
		if back.Document() != doc {
			t.Fatalf("round trip:\n%s\n%s", doc, back.Document())
		}
		if diff := cmp.Diff(pol.Statements[0].Condition, back.Statements[0].Condition); diff != "" {
			t.Fatalf("conditions differ: %s", diff)
		}
	})
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"a","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Resource":"arn"}]}`))
	f.Add([]byte(`{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Deny","Principal":{"AWS":"x"}},{"Sid":"a"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := function.ParsePolicy(b)
		if err != nil {
			return
		}
		again, err := function.ParsePolicy([]byte(p.Document()))
		if err != nil {
			t.Fatalf("ParsePolicy of its own document %s = %v", p.Document(), err)
		}
		if again.Document() != p.Document() {
			t.Fatalf("document not stable:\n%s\n%s", p.Document(), again.Document())
		}
	})
}
