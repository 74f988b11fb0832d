package function

import (
	"encoding/json"
	"testing"
)

func TestPolicyAllows(t *testing.T) {
	st := func(effect, action, principal string, cond map[string]map[string]string) Statement {
		return Statement{Sid: "s", Effect: effect, Action: action, Principal: json.RawMessage(principal), Condition: cond}
	}
	const acct = "111111111111"
	for _, c := range []struct {
		name   string
		sts    []Statement
		action string
		want   bool
	}{
		{"none", nil, "lambda:InvokeFunction", false},
		{"root arn", []Statement{st("Allow", "lambda:InvokeFunction", `{"AWS":"arn:aws:iam::111111111111:root"}`, nil)}, "lambda:InvokeFunction", true},
		{"bare account", []Statement{st("Allow", "lambda:InvokeFunction", `{"AWS":"111111111111"}`, nil)}, "lambda:InvokeFunction", true},
		{"list", []Statement{st("Allow", "lambda:GetFunction", `{"AWS":["arn:aws:iam::222222222222:root","111111111111"]}`, nil)}, "lambda:GetFunction", true},
		{"anyone", []Statement{st("Allow", "lambda:InvokeFunction", `"*"`, nil)}, "lambda:InvokeFunction", true},
		{"wildcard action", []Statement{st("Allow", "lambda:*", `{"AWS":"111111111111"}`, nil)}, "lambda:GetFunction", true},
		{"other account", []Statement{st("Allow", "lambda:InvokeFunction", `{"AWS":"arn:aws:iam::222222222222:root"}`, nil)}, "lambda:InvokeFunction", false},
		{"other action", []Statement{st("Allow", "lambda:GetFunction", `{"AWS":"111111111111"}`, nil)}, "lambda:InvokeFunction", false},
		{"service", []Statement{st("Allow", "lambda:InvokeFunction", `{"Service":"s3.amazonaws.com"}`, nil)}, "lambda:InvokeFunction", false},
		{"condition", []Statement{st("Allow", "lambda:InvokeFunction", `{"AWS":"111111111111"}`, map[string]map[string]string{"StringEquals": {"aws:PrincipalOrgID": "o-1234567890"}})}, "lambda:InvokeFunction", false},
		{"deny wins", []Statement{st("Allow", "lambda:*", `"*"`, nil), st("Deny", "lambda:InvokeFunction", `{"AWS":"111111111111"}`, nil)}, "lambda:InvokeFunction", false},
	} {
		p := Policy{Statements: c.sts}
		if got := p.Allows(acct, c.action); got != c.want {
			t.Errorf("%s: Allows(%s, %s) = %v; want %v", c.name, acct, c.action, got, c.want)
		}
	}
}
