package cluster

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A worker takes invocations only from requests that carry the cluster's
// token: whatever else reaches its port is refused before anything runs.
func TestWorkerRequiresToken(t *testing.T) {
	n := NewWorkerNode(WorkerConfig{Token: "secret"}, nil, nil, slog.New(slog.DiscardHandler))
	for _, tt := range []struct {
		name, auth string
		want       int
	}{
		{"none", "", http.StatusForbidden},
		{"wrong", "Bearer guess", http.StatusForbidden},
		{"bare token", "secret", http.StatusForbidden},
		// The right token gets as far as reading the frame (here not one).
		{"right", "Bearer secret", http.StatusBadRequest},
	} {
		r := httptest.NewRequest(http.MethodPost, invokePath, strings.NewReader("not a frame"))
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		w := httptest.NewRecorder()
		n.Handler().ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s: status %d; want %d", tt.name, w.Code, tt.want)
		}
	}
	// A worker without a token refuses everyone.
	open := NewWorkerNode(WorkerConfig{}, nil, nil, slog.New(slog.DiscardHandler))
	r := httptest.NewRequest(http.MethodPost, invokePath, strings.NewReader("x"))
	r.Header.Set("Authorization", "Bearer ")
	w := httptest.NewRecorder()
	open.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Errorf("tokenless worker: status %d; want 403", w.Code)
	}
}
