package worker

// ProvisionFailure is a version whose provisioned environments could not
// be started.
type ProvisionFailure struct {
	Account  string `json:"account"`
	Function string `json:"function"`
	Version  string `json:"version"`
	Reason   string `json:"reason"`
}

// ProvisionFailures lists the versions whose provisioning failed (their
// init failed) and still wanted, for a cluster's api nodes, which report
// it as the version's FAILED status.
func (w *Worker) ProvisionFailures() []ProvisionFailure {
	w.provMu.Lock()
	defer w.provMu.Unlock()
	var out []ProvisionFailure
	for key, pr := range w.provs {
		if pr.failed != "" && pr.want() > 0 {
			out = append(out, ProvisionFailure{Account: key.account, Function: key.name, Version: key.version, Reason: pr.failed})
		}
	}
	return out
}
