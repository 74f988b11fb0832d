package function_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth/internal/function"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in      string
		want    function.Ref
		wantErr bool
	}{
		{in: "hello", want: function.Ref{Name: "hello"}},
		{in: "hello:$LATEST", want: function.Ref{Name: "hello", Qualifier: "$LATEST"}},
		{in: "hello:7", want: function.Ref{Name: "hello", Qualifier: "7"}},
		{in: "hello:prod", want: function.Ref{Name: "hello", Qualifier: "prod"}},
		{in: "123456789012:function:hello", want: function.Ref{Name: "hello", Account: "123456789012"}},
		{in: "123456789012:function:hello:3", want: function.Ref{Name: "hello", Account: "123456789012", Qualifier: "3"}},
		{in: "arn:aws:lambda:us-east-1:000000000000:function:hello",
			want: function.Ref{Region: "us-east-1", Account: "000000000000", Name: "hello"}},
		{in: "arn:aws:lambda:us-east-1:000000000000:function:hello:$LATEST",
			want: function.Ref{Region: "us-east-1", Account: "000000000000", Name: "hello", Qualifier: "$LATEST"}},
		{in: "", wantErr: true},
		{in: "hello world", wantErr: true},
		{in: "hello:", wantErr: true},
		{in: "hello:a:b", wantErr: true},
		{in: "../../etc", wantErr: true},
		{in: strings.Repeat("a", 65), wantErr: true},
		{in: "arn:aws:s3:::bucket", wantErr: true},
		{in: "arn:aws:lambda:us-east-1:000000000000:layer:x:1", wantErr: true},
		{in: "arn:aws:lambda:us-east-1:0000:function:hello", wantErr: true},
		{in: "arn:aws:lambda:us-east-1:000000000000:function:hello:1:2", wantErr: true},
		{in: "12345678901:function:hello", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := function.ParseRef(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseRef(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, function.ErrInvalidName) {
				t.Errorf("ParseRef(%q) error = %v; want ErrInvalidName", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRef(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"hello", "hello:1", "arn:aws:lambda:us-east-1:000000000000:function:hello:$LATEST", "1:function:x", "::::::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := function.ParseRef(s)
		if err != nil {
			return
		}
		if !function.ValidName(r.Name) {
			t.Fatalf("ParseRef(%q) accepted invalid name %q", s, r.Name)
		}
		if r.Qualifier != "" && !function.ValidQualifier(r.Qualifier) {
			t.Fatalf("ParseRef(%q) accepted invalid qualifier %q", s, r.Qualifier)
		}
		// A parsed reference prints back to an ARN that parses to itself.
		region, account := r.Region, r.Account
		if region == "" {
			region = "us-east-1"
		}
		if account == "" {
			account = "000000000000"
		}
		back, err := function.ParseRef(function.ARN(region, account, r.Name, r.Qualifier))
		if err != nil || back.Name != r.Name || back.Qualifier != r.Qualifier {
			t.Fatalf("round trip of %q: %+v, %v", s, back, err)
		}
	})
}

func TestValidate(t *testing.T) {
	base := function.Config{
		Name: "fn", Runtime: "python3.12", Handler: "app.handler",
		Role: "arn:aws:iam::000000000000:role/x",
	}.WithDefaults()
	if err := base.Validate(); err != nil {
		t.Fatalf("Validate() of a good config = %v", err)
	}
	tests := []struct {
		name   string
		mutate func(c *function.Config)
		want   string
	}{
		{"timeout low", func(c *function.Config) { c.Timeout = 0 }, "at 'timeout'"},
		{"timeout high", func(c *function.Config) { c.Timeout = 901 }, "at 'timeout'"},
		{"memory", func(c *function.Config) { c.MemorySize = 64 }, "at 'memorySize'"},
		{"ephemeral", func(c *function.Config) { c.Ephemeral = 100000 }, "ephemeralStorage"},
		{"role", func(c *function.Config) { c.Role = "nope" }, "at 'role'"},
		{"handler space", func(c *function.Config) { c.Handler = "a b" }, "at 'handler'"},
		{"handler empty", func(c *function.Config) { c.Handler = "" }, "at 'handler'"},
		{"description", func(c *function.Config) { c.Description = strings.Repeat("x", 257) }, "description"},
		{"reserved env", func(c *function.Config) { c.Environment = map[string]string{"AWS_REGION": "x"} }, "reserved keys"},
		{"bad env key", func(c *function.Config) { c.Environment = map[string]string{"1X": "x"} }, "environment.variables"},
		{"env size", func(c *function.Config) { c.Environment = map[string]string{"BIG": strings.Repeat("x", 4096)} }, "4KB"},
		{"arch", func(c *function.Config) { c.Arch = "sparc" }, "architectures"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !errors.Is(err, function.ErrInvalidConfig) {
				t.Fatalf("Validate() = %v; want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %q; want it to mention %q", err, tt.want)
			}
		})
	}
}

// Logs of the server's own account keep the names they had before
// accounts; another account's cannot collide with any function's.
func TestLogName(t *testing.T) {
	for _, tc := range []struct{ account, name, want string }{
		{"000000000000", "f", "f"},
		{"", "f", "f"},
		{"111111111111", "f", "111111111111.f"},
	} {
		got := function.LogName(tc.account, "000000000000", tc.name)
		if got != tc.want {
			t.Errorf("LogName(%q, f) = %q; want %q", tc.account, got, tc.want)
		}
		if tc.account == "111111111111" && function.ValidName(got) {
			t.Errorf("LogName(%q, f) = %q is a valid function name; it could collide", tc.account, got)
		}
	}
}
