package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Role holds credentials an operator attached to an execution role: the
// environments of functions with that role (of the role's own account)
// receive them instead of credentials Hearth issues, to call AWS itself.
type Role struct {
	ARN             string    `json:"arn"`
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token,omitempty"`
	Created         time.Time `json:"created"`
}

// Env returns the variables that carry r's credentials.
func (r Role) Env() []string {
	env := []string{"AWS_ACCESS_KEY_ID=" + r.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + r.SecretAccessKey, "AWS_ACCESS_KEY=" + r.AccessKeyID}
	if r.SessionToken != "" {
		env = append(env, "AWS_SESSION_TOKEN="+r.SessionToken)
	}
	return env
}

var roleARNRE = regexp.MustCompile(`^arn:(aws[a-zA-Z-]*)?:iam::(\d{12}):role/?[a-zA-Z_0-9+=,.@\-/]+$`)

// RoleAccount is the account of a role ARN, "" if it is not one.
func RoleAccount(arn string) string {
	m := roleARNRE.FindStringSubmatch(arn)
	if m == nil {
		return ""
	}
	return m[2]
}

func roleKey(arn string) string {
	sum := sha256.Sum256([]byte(arn))
	return "role." + hex.EncodeToString(sum[:16])
}

// SetRole attaches credentials to a role ARN, replacing any.
func (k *Keys) SetRole(ctx context.Context, r Role) error {
	if RoleAccount(r.ARN) == "" {
		return fmt.Errorf("%w: %q is not a role ARN such as arn:aws:iam::123456789012:role/name", ErrInvalid, r.ARN)
	}
	if r.AccessKeyID == "" || r.SecretAccessKey == "" {
		return fmt.Errorf("%w: an access key id and a secret access key are required", ErrInvalid)
	}
	r.Created = time.Now().UTC()
	b, _ := json.Marshal(r)
	rev, err := k.kv.Put(ctx, roleKey(r.ARN), b)
	if err != nil {
		return fmt.Errorf("store role: %w", err)
	}
	k.mu.Lock()
	k.wrote(roleKey(r.ARN), rev)
	k.roles[r.ARN] = r
	k.mu.Unlock()
	return nil
}

// DeleteRole detaches the credentials of a role ARN.
func (k *Keys) DeleteRole(ctx context.Context, arn string) error {
	if _, ok := k.Role(arn); !ok {
		return fmt.Errorf("%w: no credentials attached to role %s", ErrNotFound, arn)
	}
	if err := k.kv.Delete(ctx, roleKey(arn)); err != nil {
		return fmt.Errorf("delete role: %w", err)
	}
	k.mu.Lock()
	delete(k.roles, arn)
	k.mu.Unlock()
	return nil
}

// Role returns the credentials attached to a role ARN.
func (k *Keys) Role(arn string) (Role, bool) {
	if k == nil {
		return Role{}, false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	r, ok := k.roles[arn]
	return r, ok
}

// Roles lists the roles with credentials, by ARN.
func (k *Keys) Roles() []Role {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]Role, 0, len(k.roles))
	for _, r := range k.roles {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Role) int { return strings.Compare(a.ARN, b.ARN) })
	return out
}
