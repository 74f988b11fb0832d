package function

import "time"

// Provisioned is the provisioned concurrency configured on a published
// version or an alias: how many environments to keep initialised ahead of
// traffic. Changing it changes no RevisionId.
type Provisioned struct {
	Requested    int       `json:"requested"`
	LastModified time.Time `json:"last_modified"`
}
