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
	for _, tc := range []struct {
		name     string
		stmts    []Statement
		account  string
		authType string
		want     bool
	}{
		{"none without statements", nil, "", URLAuthNone, false},
		{"none public", []Statement{st("a", "*", ActionInvokeURL, URLAuthNone)}, "", URLAuthNone, true},
		{"none with a statement for AWS_IAM", []Statement{st("a", "*", ActionInvokeURL, URLAuthIAM)}, "", URLAuthNone, false},
		{"none with an account's statement", []Statement{st("a", "111111111111", ActionInvokeURL, URLAuthNone)}, "", URLAuthNone, false},
		{"none with InvokeFunction only", []Statement{st("a", "*", "lambda:InvokeFunction", URLAuthNone)}, "", URLAuthNone, false},
		{"none with lambda:* and no condition", []Statement{st("a", "*", "lambda:*", "")}, "", URLAuthNone, true},
		{"iam granted account", []Statement{st("a", "111111111111", ActionInvokeURL, URLAuthIAM)}, "111111111111", URLAuthIAM, true},
		{"iam other account", []Statement{st("a", "111111111111", ActionInvokeURL, URLAuthIAM)}, "222222222222", URLAuthIAM, false},
		{"iam with a statement for NONE", []Statement{st("a", "111111111111", ActionInvokeURL, URLAuthNone)}, "111111111111", URLAuthIAM, false},
		{"iam with a source condition", []Statement{func() Statement {
			s := st("a", "111111111111", ActionInvokeURL, URLAuthIAM)
			s.Condition["ArnLike"] = map[string]string{"AWS:SourceArn": "x"}
			return s
		}()}, "111111111111", URLAuthIAM, false},
	} {
		p := Policy{Statements: tc.stmts}
		if got := p.AllowsURL(tc.account, tc.authType); got != tc.want {
			t.Errorf("%s: AllowsURL(%q, %s) = %v; want %v", tc.name, tc.account, tc.authType, got, tc.want)
		}
	}
}
