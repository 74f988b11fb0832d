package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"hearth/internal/worker"
)

// environmentsPath is the worker's HTTP endpoint listing its
// environments.
const environmentsPath = "/_hearth/cluster/v1/environments"

// listTimeout bounds how long an api node waits for a worker's listing.
const listTimeout = 2 * time.Second

// maxListing bounds a worker's listing (a few hundred bytes per
// environment).
const maxListing = 64 << 20

// HostedEnv is an environment and the worker that hosts it ("" for the
// api node's own environments when it is not a worker).
type HostedEnv struct {
	worker.EnvInfo
	Worker string `json:"worker,omitempty"`
}

// Listed says what a worker answered to the environments listing.
type Listed struct {
	Worker       string `json:"id"`
	Addr         string `json:"addr"`
	Environments int    `json:"environments"`
	// Error says why the worker's environments are missing: it did not
	// answer in time, or it missed its heartbeats and was not asked.
	Error string `json:"error,omitempty"`
	// ProvisionFailures are the versions whose provisioned environments
	// the worker could not start.
	ProvisionFailures []worker.ProvisionFailure `json:"provisioning_failed,omitempty"`
}

// workerListing is a worker's answer on environmentsPath.
type workerListing struct {
	Environments      []worker.EnvInfo          `json:"environments"`
	ProvisionFailures []worker.ProvisionFailure `json:"provisioning_failed,omitempty"`
}

// listing is what a Runner knows of its own node for Environments.
type listing struct {
	mu sync.Mutex
	id string         // guarded by mu; this node's worker id, "" if none
	wk *worker.Worker // guarded by mu; nil until SetLocal
}

// SetLocal tells the runner this node's own worker id ("" when the node
// is not a worker of the cluster) and how to list its environments, for
// Environments.
func (r *Runner) SetLocal(id string, wk *worker.Worker) {
	r.self.mu.Lock()
	defer r.self.mu.Unlock()
	r.self.id, r.self.wk = id, wk
}

// Environments lists the environments of every worker the runner knows,
// each asked over HTTP at once (this node's own worker directly), with
// the api node's own environments when it is not a worker. Workers that
// missed their heartbeats are not asked; those and the ones that did not
// answer within listTimeout are marked in the second result.
func (r *Runner) Environments(ctx context.Context) ([]HostedEnv, []Listed) {
	r.self.mu.Lock()
	self, local := r.self.id, r.self.wk
	r.self.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	now := time.Now()
	ws := r.reg.Workers()
	listed := make([]Listed, len(ws))
	found := make([]workerListing, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		listed[i] = Listed{Worker: w.ID, Addr: w.Addr}
		switch {
		case w.ID == self && local != nil:
			found[i] = listLocal(local)
		case !now.Before(w.Deadline):
			listed[i].Error = "lost: no heartbeat since " + w.Deadline.UTC().Format(time.RFC3339)
		default:
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := r.listWorker(ctx, w.Addr)
				if err != nil {
					listed[i].Error = err.Error()
				}
				found[i] = l
			}()
		}
	}
	wg.Wait()
	var out []HostedEnv
	if self == "" && local != nil {
		for _, e := range local.Environments() {
			out = append(out, HostedEnv{EnvInfo: e})
		}
	}
	for i := range ws {
		listed[i].Environments = len(found[i].Environments)
		listed[i].ProvisionFailures = found[i].ProvisionFailures
		for _, e := range found[i].Environments {
			out = append(out, HostedEnv{EnvInfo: e, Worker: ws[i].ID})
		}
	}
	slices.SortFunc(listed, func(a, b Listed) int { return strings.Compare(a.Worker, b.Worker) })
	return out, listed
}

// listWorker asks the worker at addr for its environments.
func (r *Runner) listWorker(ctx context.Context, addr string) (workerListing, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url(addr, environmentsPath), nil)
	if err != nil {
		return workerListing{}, err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := r.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return workerListing{}, fmt.Errorf("no answer within %v", listTimeout)
		}
		return workerListing{}, fmt.Errorf("no answer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return workerListing{}, fmt.Errorf("answered %s", resp.Status)
	}
	var l workerListing
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxListing)).Decode(&l); err != nil {
		return workerListing{}, fmt.Errorf("listing unreadable: %w", err)
	}
	return l, nil
}

// serveEnvironments lists the worker's environments for an api node.
func (n *WorkerNode) serveEnvironments(w http.ResponseWriter, r *http.Request) {
	if !authorized(r, n.cfg.Token) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(listLocal(n.wk))
}

// listLocal is wk's answer to the listing.
func listLocal(wk *worker.Worker) workerListing {
	l := workerListing{Environments: wk.Environments(), ProvisionFailures: wk.ProvisionFailures()}
	if l.Environments == nil {
		l.Environments = []worker.EnvInfo{}
	}
	return l
}
