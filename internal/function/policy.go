package function

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxPolicySize bounds a resource-based policy document, as Lambda's
// 20 KB.
const MaxPolicySize = 20480

// Policy is the resource-based policy of a function, version or alias:
// its statements in the order they were added.
type Policy struct {
	Statements []Statement `json:"statements"`
	RevisionID string      `json:"revision_id"`
	Modified   time.Time   `json:"modified"`
}

// Statement is one policy statement, shaped and ordered as Lambda writes
// it.
type Statement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Principal json.RawMessage              `json:"Principal"`
	Action    string                       `json:"Action"`
	Resource  string                       `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// Permission is what AddPermission asks for.
type Permission struct {
	Sid                 string
	Action              string
	Principal           string
	SourceArn           string
	SourceAccount       string
	EventSourceToken    string
	PrincipalOrgID      string
	FunctionUrlAuthType string
	// InvokedViaFunctionUrl limits the statement to requests that come
	// through a function URL: Lambda stores it as the condition
	// {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}.
	InvokedViaFunctionUrl bool
}

// Actions and condition keys of function URLs. Since October 2025 a
// function URL's caller needs both actions (see AllowsURL); the condition
// key is true only for a request that comes through a function URL.
const (
	ActionInvoke     = "lambda:InvokeFunction"
	ActionInvokeURL  = "lambda:InvokeFunctionUrl"
	KeyURLAuthType   = "lambda:FunctionUrlAuthType"
	KeyInvokedViaURL = "lambda:InvokedViaFunctionUrl"
)

// ErrInvalidPermission reports a permission Lambda would refuse.
var ErrInvalidPermission = errors.New("invalid permission")

// Statement builds the statement Lambda stores for p on resource (the
// function's ARN, qualified when the permission is on a version or
// alias).
func (p *Permission) Statement(resource string) (Statement, error) {
	// What is stored must read back as itself: JSON text is UTF-8.
	q := *p
	for _, f := range []*string{&q.Sid, &q.Action, &q.Principal, &q.SourceArn, &q.SourceAccount, &q.EventSourceToken, &q.PrincipalOrgID, &q.FunctionUrlAuthType, &resource} {
		*f = strings.ToValidUTF8(*f, "\uFFFD")
	}
	p = &q
	if !strings.HasPrefix(p.Action, "lambda:") || len(p.Action) == len("lambda:") {
		return Statement{}, fmt.Errorf("%w: 1 validation error detected: Value '%s' at 'action' failed to satisfy constraint: Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])", ErrInvalidPermission, p.Action)
	}
	// Lambda's words (reported by users since 2025 and noted in
	// localstack's validated test_add_lambda_permission_fields).
	if p.FunctionUrlAuthType != "" && p.Action != ActionInvokeURL {
		return Statement{}, fmt.Errorf("%w: FunctionUrlAuthType is only supported for lambda:InvokeFunctionUrl action", ErrInvalidPermission)
	}
	if p.Principal == "" {
		return Statement{}, fmt.Errorf("%w: The provided principal was invalid. Please check the principal and try again.", ErrInvalidPermission)
	}
	st := Statement{Sid: p.Sid, Effect: "Allow", Action: p.Action, Resource: resource}
	switch {
	case p.Principal == "*":
		st.Principal = json.RawMessage(`"*"`)
	case validAccount(p.Principal):
		st.Principal = principal("AWS", "arn:aws:iam::"+p.Principal+":root")
	case strings.HasPrefix(p.Principal, "arn:"):
		st.Principal = principal("AWS", p.Principal)
	case servicePrincipal(p.Principal):
		st.Principal = principal("Service", p.Principal)
	default:
		return Statement{}, fmt.Errorf("%w: The provided principal was invalid. Please check the principal and try again.", ErrInvalidPermission)
	}
	cond := func(op, key, val string) {
		if val == "" {
			return
		}
		if st.Condition == nil {
			st.Condition = map[string]map[string]string{}
		}
		if st.Condition[op] == nil {
			st.Condition[op] = map[string]string{}
		}
		st.Condition[op][key] = val
	}
	cond("ArnLike", "AWS:SourceArn", p.SourceArn)
	cond("StringEquals", "AWS:SourceAccount", p.SourceAccount)
	cond("StringEquals", "lambda:EventSourceToken", p.EventSourceToken)
	cond("StringEquals", "aws:PrincipalOrgID", p.PrincipalOrgID)
	cond("StringEquals", KeyURLAuthType, p.FunctionUrlAuthType)
	if p.InvokedViaFunctionUrl {
		cond("Bool", KeyInvokedViaURL, "true")
	}
	return st, nil
}

// servicePrincipal reports whether s names an AWS service: AWS refuses
// "invalid.nonaws.com" as a principal (recorded answer). Service
// principals end in amazonaws.com (amazonaws.com.cn in China), and
// Alexa's, which Lambda's docs name, in amazon.com.
func servicePrincipal(s string) bool {
	for _, suffix := range []string{".amazonaws.com", ".amazonaws.com.cn", ".amazon.com"} {
		if len(s) > len(suffix) && strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return false
}

func principal(kind, v string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{kind: v})
	return b
}

// policyDocument is a policy as GetPolicy shows it.
type policyDocument struct {
	Version   string      `json:"Version"`
	ID        string      `json:"Id"`
	Statement []Statement `json:"Statement"`
}

// Document renders the policy as Lambda's GetPolicy does.
func (p *Policy) Document() string {
	b, _ := json.Marshal(policyDocument{Version: "2012-10-17", ID: "default", Statement: p.Statements})
	return string(b)
}

// ParsePolicy reads a policy document as Document writes it.
func ParsePolicy(doc []byte) (Policy, error) {
	var d policyDocument
	if err := json.Unmarshal(doc, &d); err != nil {
		return Policy{}, fmt.Errorf("%w: %w", ErrInvalidPermission, err)
	}
	if d.Version != "2012-10-17" {
		return Policy{}, fmt.Errorf("%w: policy version %q", ErrInvalidPermission, d.Version)
	}
	seen := map[string]bool{}
	for _, st := range d.Statement {
		if st.Sid == "" || seen[st.Sid] {
			return Policy{}, fmt.Errorf("%w: missing or duplicate Sid %q", ErrInvalidPermission, st.Sid)
		}
		seen[st.Sid] = true
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return Policy{}, fmt.Errorf("%w: effect %q", ErrInvalidPermission, st.Effect)
		}
		if !json.Valid(st.Principal) {
			return Policy{}, fmt.Errorf("%w: principal of %q", ErrInvalidPermission, st.Sid)
		}
	}
	return Policy{Statements: d.Statement}, nil
}

// Find returns the index of the statement with sid, or -1.
func (p *Policy) Find(sid string) int {
	for i, st := range p.Statements {
		if st.Sid == sid {
			return i
		}
	}
	return -1
}

// Allows reports whether the policy lets account (its root, or anyone:
// "*") perform action through Lambda's API. A Deny that matches wins over
// any Allow. Statements with conditions never match: Hearth has no
// organizations, source ARN and account conditions are for service
// principals, which are not callers of Hearth's API, and
// lambda:InvokedViaFunctionUrl is false for an API request, so a
// statement limited to function URLs never grants the Invoke API.
func (p *Policy) Allows(account, action string) bool {
	allowed := false
	for _, st := range p.Statements {
		if len(st.Condition) > 0 || !actionMatches(st.Action, action) || !principalMatches(st.Principal, account) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

// AllowsURL reports whether the policy lets a caller invoke a function URL
// whose auth type is authType: account is the signer's account under
// AWS_IAM, and "" for an anonymous caller (NONE), whom only a "*"
// principal matches. Since October 2025 Lambda evaluates two actions for
// such a request, lambda:InvokeFunctionUrl and lambda:InvokeFunction, and
// both must be allowed; a URL created before (legacy) needs only the
// first, as AWS let existing URLs keep working. A statement's conditions
// must all hold in the request's context, which has
// lambda:FunctionUrlAuthType and lambda:InvokedViaFunctionUrl (true) and
// nothing else; a statement with any other condition does not match. A
// Deny that matches wins.
func (p *Policy) AllowsURL(account, authType string, legacy bool) bool {
	if !p.allowsURLAction(account, authType, ActionInvokeURL) {
		return false
	}
	return legacy || p.allowsURLAction(account, authType, ActionInvoke)
}

// allowsURLAction evaluates one action of a function URL request.
func (p *Policy) allowsURLAction(account, authType, action string) bool {
	allowed := false
	for _, st := range p.Statements {
		if !actionMatches(st.Action, action) || !urlConditionsHold(st.Condition, authType) {
			continue
		}
		if account == "" && !anyone(st.Principal) || account != "" && !principalMatches(st.Principal, account) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

// urlConditionsHold reports whether cond holds for a request through a
// function URL of authType. Condition keys are case-insensitive, as in
// IAM; Bool values are "true" or "false" in any case.
func urlConditionsHold(cond map[string]map[string]string, authType string) bool {
	for op, kv := range cond {
		for k, v := range kv {
			switch {
			case op == "StringEquals" && strings.EqualFold(k, KeyURLAuthType) && v == authType:
			case op == "Bool" && strings.EqualFold(k, KeyInvokedViaURL) && strings.EqualFold(v, "true"):
			default:
				return false
			}
		}
	}
	return true
}

// anyone reports whether a statement's Principal is everyone: "*" or
// {"AWS": "*"}.
func anyone(raw json.RawMessage) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == "*"
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	return json.Unmarshal(m["AWS"], &s) == nil && s == "*"
}

func actionMatches(pattern, action string) bool {
	return pattern == "*" || pattern == "lambda:*" || strings.EqualFold(pattern, action)
}

// principalMatches reads a statement's Principal: "*", or {"AWS": ...}
// with "*", an account id, the account's root ARN, or a list of those.
func principalMatches(raw json.RawMessage, account string) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == "*"
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	v, ok := m["AWS"]
	if !ok {
		return false
	}
	var list []string
	if json.Unmarshal(v, &s) == nil {
		list = []string{s}
	} else if json.Unmarshal(v, &list) != nil {
		return false
	}
	for _, p := range list {
		if p == "*" || p == account || p == "arn:aws:iam::"+account+":root" {
			return true
		}
	}
	return false
}
