package api

import (
	"net/http"
	"strconv"

	"hearth/internal/function"
)

// maxTail bounds the tail parameter. A log holds at most 8 MiB of lines of
// at least 31 bytes (timestamp, space, newline), so no log has more lines.
const maxTail = 1_000_000

// functionLogs serves a function's stored log as text, one timestamped line
// each; with follow=true it keeps the response open and streams new lines
// until the client goes away or the server stops.
func (a *API) functionLogs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !function.ValidName(name) {
		a.fail(w, r, invalid("invalid function name"))
		return
	}
	// The function's log is its log group (LoggingConfig.LogGroup, which
	// other functions may share). A deleted function's default group
	// stays readable, as it does on AWS; a name that never had a log is
	// not found.
	logName, label := function.LogName(a.account(r), a.cfg.Account, name), ""
	cfg, err := a.store.Function(a.account(r), name)
	switch {
	case err == nil:
		logName, label = cfg.LogKey(a.cfg.Account), cfg.LogGroup
	case !a.logs.Stored(logName):
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	tail := 0
	if s := q.Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > maxTail {
			a.fail(w, r, invalid("tail must be an integer from 0 to "+strconv.Itoa(maxTail)))
			return
		}
		tail = n
	}
	fl := a.logs.Log(logName, label)
	follow := q.Get("follow") == "true" || q.Get("follow") == "1"
	var lines <-chan []byte
	if follow {
		ch, stop := fl.Follow()
		defer stop()
		lines = ch
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := fl.WriteTail(w, tail); err != nil {
		a.log.Warn("read function log", "function", name, "err", err)
		return
	}
	if !follow {
		return
	}
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	for {
		select {
		case line := <-lines:
			if _, err := w.Write(line); err != nil {
				return
			}
			if flusher != nil && len(lines) == 0 {
				flusher.Flush()
			}
		case <-r.Context().Done():
			return
		case <-a.quit:
			return
		}
	}
}
