package function

import "testing"

func TestNewURLID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewURLID()
		if !ValidURLID(id) || seen[id] {
			t.Fatalf("NewURLID() = %q: not 32 of [a-z0-9], or repeated", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "abc", "abcdefghijklmnopqrstuvwxyz01234-"} {
		if ValidURLID(bad) {
			t.Errorf("ValidURLID(%q) = true", bad)
		}
	}
}

func TestAllowsURL(t *testing.T) {
	st := func(sid, principal, action, authType string) Statement {
		p := Permission{Sid: sid, Action: action, Principal: principal, FunctionUrlAuthType: authType}
		s, err := p.Statement("arn:aws:lambda:us-east-1:000000000000:function:f")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// via is the second statement AWS's docs have users add: InvokeFunction
	// through a function URL only.
	via := func(sid, principal string) Statement {
		p := Permission{Sid: sid, Action: ActionInvoke, Principal: principal, InvokedViaFunctionUrl: true}
		s, err := p.Statement("arn:aws:lambda:us-east-1:000000000000:function:f")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	deny := func(s Statement) Statement { s.Effect = "Deny"; return s }
	for _, tc := range []struct {
		name     string
		stmts    []Statement
		account  string
		authType string
		legacy   bool // want for a URL created before October 2025's model
		want     bool // want for a URL created since
	}{
		{"none without statements", nil, "", URLAuthNone, false, false},
		{"none public url only", []Statement{st("a", "*", ActionInvokeURL, URLAuthNone)}, "", URLAuthNone, true, false},
		{"none public both", []Statement{st("a", "*", ActionInvokeURL, URLAuthNone), via("b", "*")}, "", URLAuthNone, true, true},
		{"none public with unconditioned invoke", []Statement{st("a", "*", ActionInvokeURL, URLAuthNone), st("b", "*", ActionInvoke, "")}, "", URLAuthNone, true, true},
		{"none invoke via url only", []Statement{via("b", "*")}, "", URLAuthNone, false, false},
		{"none with an account's invoke", []Statement{st("a", "*", ActionInvokeURL, URLAuthNone), via("b", "111111111111")}, "", URLAuthNone, true, false},
		{"none invoke denied", []Statement{st("a", "*", ActionInvokeURL, URLAuthNone), via("b", "*"), deny(via("c", "*"))}, "", URLAuthNone, true, false},
		{"none with a statement for AWS_IAM", []Statement{st("a", "*", ActionInvokeURL, URLAuthIAM), via("b", "*")}, "", URLAuthNone, false, false},
		{"none with an account's statement", []Statement{st("a", "111111111111", ActionInvokeURL, URLAuthNone), via("b", "*")}, "", URLAuthNone, false, false},
		{"none with lambda:* and no condition", []Statement{st("a", "*", "lambda:*", "")}, "", URLAuthNone, true, true},
		{"iam granted account url only", []Statement{st("a", "111111111111", ActionInvokeURL, URLAuthIAM)}, "111111111111", URLAuthIAM, true, false},
		{"iam granted account both", []Statement{st("a", "111111111111", ActionInvokeURL, URLAuthIAM), via("b", "111111111111")}, "111111111111", URLAuthIAM, true, true},
		{"iam invoke via url to anyone", []Statement{st("a", "111111111111", ActionInvokeURL, URLAuthIAM), via("b", "*")}, "111111111111", URLAuthIAM, true, true},
		{"iam other account", []Statement{st("a", "111111111111", ActionInvokeURL, URLAuthIAM), via("b", "111111111111")}, "222222222222", URLAuthIAM, false, false},
		{"iam with a statement for NONE", []Statement{st("a", "111111111111", ActionInvokeURL, URLAuthNone), via("b", "111111111111")}, "111111111111", URLAuthIAM, false, false},
		{"iam with a source condition", []Statement{func() Statement {
			s := st("a", "111111111111", ActionInvokeURL, URLAuthIAM)
			s.Condition["ArnLike"] = map[string]string{"AWS:SourceArn": "x"}
			return s
		}(), via("b", "111111111111")}, "111111111111", URLAuthIAM, false, false},
		{"invoked via url false", []Statement{st("a", "*", ActionInvokeURL, URLAuthNone), func() Statement {
			s := via("b", "*")
			s.Condition["Bool"][KeyInvokedViaURL] = "false"
			return s
		}()}, "", URLAuthNone, true, false},
	} {
		p := Policy{Statements: tc.stmts}
		if got := p.AllowsURL(tc.account, tc.authType, true); got != tc.legacy {
			t.Errorf("%s: AllowsURL(%q, %s, legacy) = %v; want %v", tc.name, tc.account, tc.authType, got, tc.legacy)
		}
		if got := p.AllowsURL(tc.account, tc.authType, false); got != tc.want {
			t.Errorf("%s: AllowsURL(%q, %s) = %v; want %v", tc.name, tc.account, tc.authType, got, tc.want)
		}
	}
}

// TestInvokedViaURLNotForAPI: the statement that lets everyone invoke
// through a function URL grants nobody the Invoke API.
func TestInvokedViaURLNotForAPI(t *testing.T) {
	for _, principal := range []string{"*", "111111111111"} {
		perm := Permission{Sid: "via", Action: ActionInvoke, Principal: principal, InvokedViaFunctionUrl: true}
		s, err := perm.Statement("arn:aws:lambda:us-east-1:000000000000:function:f")
		if err != nil {
			t.Fatal(err)
		}
		p := Policy{Statements: []Statement{s}}
		if p.Allows("111111111111", ActionInvoke) {
			t.Errorf("Allows(111111111111, InvokeFunction) with %s's statement limited to function URLs = true; want false", principal)
		}
	}
}
