package function_test

import (
	"errors"
	"strings"
	"testing"

	"hearth/internal/function"
)

func TestValidateLogLevels(t *testing.T) {
	base := function.Config{
		Name: "fn", Runtime: "python3.12", Handler: "app.handler",
		Role: "arn:aws:iam::000000000000:role/x",
	}.WithDefaults()
	tests := []struct {
		name                string
		format, app, system string
		want                string // "" for valid
	}{
		{"json with levels", "JSON", "TRACE", "WARN", ""},
		{"json without levels", "JSON", "", "", ""},
		{"text without levels", "Text", "", "", ""},
		{"text with application level", "Text", "DEBUG", "", `LogLevel is not supported when LogFormat is set to "Text"`},
		{"text with system level", "Text", "", "INFO", `LogLevel is not supported when LogFormat is set to "Text"`},
		{"bad application level", "JSON", "VERBOSE", "", "at 'loggingConfig.applicationLogLevel' failed to satisfy constraint: Member must satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]"},
		{"bad system level", "JSON", "", "ERROR", "at 'loggingConfig.systemLogLevel' failed to satisfy constraint: Member must satisfy enum value set: [DEBUG, INFO, WARN]"},
		{"lower case", "JSON", "debug", "", "applicationLogLevel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			c.LogFormat, c.ApplicationLogLevel, c.SystemLogLevel = tt.format, tt.app, tt.system
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Errorf("Validate() = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, function.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v; want ErrInvalidConfig mentioning %q", err, tt.want)
			}
		})
	}
}

func TestLogLevels(t *testing.T) {
	tests := []struct {
		format, app, system string
		wantApp, wantSystem string
	}{
		{"Text", "", "", "", ""},
		{"JSON", "", "", "INFO", "INFO"}, // what Lambda reports when unset
		{"JSON", "ERROR", "DEBUG", "ERROR", "DEBUG"},
	}
	for _, tt := range tests {
		c := function.Config{LogFormat: tt.format, ApplicationLogLevel: tt.app, SystemLogLevel: tt.system}
		if app, system := c.LogLevels(); app != tt.wantApp || system != tt.wantSystem {
			t.Errorf("LogLevels() of %s %q %q = %q, %q; want %q, %q", tt.format, tt.app, tt.system, app, system, tt.wantApp, tt.wantSystem)
		}
	}
}
