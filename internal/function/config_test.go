package function

import (
	"fmt"
	"strings"
	"testing"
)

func validConfig() Config {
	return Config{Name: "f", Role: "arn:aws:iam::000000000000:role/r", Runtime: "python3.12", Handler: "app.h"}.WithDefaults()
}

// TestValidateSemantics checks Lambda's checks beyond the API model, with
// AWS's messages.
func TestValidateSemantics(t *testing.T) {
	tags := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("k%d", i)] = "v"
		}
		return m
	}
	big := strings.Repeat("x", 4090)
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" when valid
	}{
		{"valid", func(*Config) {}, ""},
		{"50 tags", func(c *Config) { c.Tags = tags(50) }, ""},
		{"51 tags", func(c *Config) { c.Tags = tags(51) }, "Number of tags exceeds resource tag limit."},
		{"5000 tags", func(c *Config) { c.Tags = tags(5000) }, "Number of tags exceeds resource tag limit."},
		{"tag key of 129", func(c *Config) { c.Tags = map[string]string{strings.Repeat("k", 129): "v"} }, "Tag keys must be 1 to 128 characters and values at most 256."},
		{"empty environment", func(c *Config) { c.Environment = map[string]string{} }, ""},
		{"environment of exactly 4 KB", func(c *Config) { c.Environment = map[string]string{"AA": big[:4096-len(`{"AA":""}`)]} }, ""},
		{"environment over 4 KB, measured as JSON", func(c *Config) { c.Environment = map[string]string{"BB": "ok", "AA": big} },
			`Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {"AA":"` + big + `","BB":"ok"}`},
		{"reserved keys", func(c *Config) { c.Environment = map[string]string{"AWS_SESSION_TOKEN": "x", "AWS_REGION": "y"} },
			"Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: AWS_REGION, AWS_SESSION_TOKEN"},
		{"timeout 0 is not defaulted", func(c *Config) { c.Timeout = 0 }, "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: Member must have value between 1 and 900"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			got := ""
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() = %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestCheckEnvironmentSizeKeepsRequestOrder(t *testing.T) {
	big := strings.Repeat("x", 4096)
	env := map[string]string{"SMALL_VAR": "ok", "LARGE_VAR": big}
	err := CheckEnvironmentSize(env, []string{"SMALL_VAR", "LARGE_VAR"})
	want := `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {"SMALL_VAR":"ok","LARGE_VAR":"` + big + `"}`
	if err == nil || err.Error() != want {
		t.Errorf("CheckEnvironmentSize() = %v\nwant %s", err, want)
	}
	if err := CheckEnvironmentSize(map[string]string{"A_B": `<&>"`}, nil); err != nil {
		t.Errorf("small environment: %v", err)
	}
	if got := string(environmentJSON(map[string]string{"K": `<"`}, nil)); got != `{"K":"<\""}` {
		t.Errorf("environmentJSON() = %s; want compact JSON without HTML escapes", got)
	}
}
