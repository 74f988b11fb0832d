package api

import (
	"context"
	"errors"
	"net/http"

	"hearth/internal/lambdaapi"
	"hearth/internal/placement"
)

// SetDrain gives the API the way to ask a worker of the cluster to drain,
// for POST /_hearth/v1/cluster/workers/{id}/drain (`hearth drain`).
func (a *API) SetDrain(drain func(ctx context.Context, id string) (inFlight int, err error)) {
	a.drainWorker = drain
}

// drain asks the worker {id} (as GET /_hearth/v1/cluster lists it) to
// drain: it refuses new invocations (they go to other workers), finishes
// those in flight, tears its environments down and exits 0. It answers
// 202 once the worker has taken the request, with the number of
// invocations it had in flight.
func (a *API) drain(w http.ResponseWriter, r *http.Request) {
	if a.drainWorker == nil {
		a.fail(w, r, lambdaapi.ErrInvalidParameter.WithMessage("This server is not an api node of a cluster: it has no workers to drain."))
		return
	}
	id := r.PathValue("id")
	n, err := a.drainWorker(r.Context(), id)
	switch {
	case errors.Is(err, placement.ErrUnknownWorker):
		a.fail(w, r, lambdaapi.ErrNotFound.WithMessage("No worker "+id+" in the cluster (hearth cluster lists them)."))
		return
	case err != nil:
		a.log.Warn("drain worker", "worker", id, "err", err)
		a.fail(w, r, lambdaapi.ErrService.WithMessage("The worker could not be reached: "+err.Error()))
		return
	}
	a.reply(w, r, http.StatusAccepted, struct {
		Worker   string `json:"worker"`
		Draining bool   `json:"draining"`
		InFlight int    `json:"in_flight"`
	}{id, true, n})
}
