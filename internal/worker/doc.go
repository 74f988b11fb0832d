// Package worker runs invocations in execution environments. It keeps a
// pool of environments per function version and drives each through its
// lifecycle:
//
//	starting ──► idle (frozen) ◄──► busy
//	    │             │               │
//	    └─────────────┴───────────────┴──► dead
//
// A cold start fetches and unpacks the code (once per CodeSha256, into a
// local cache), starts the runtime in a sandbox and waits for its first
// GET /next (init, at most 10 s). Each environment hosts one invocation at a
// time; concurrent invocations get more environments. After an invocation
// the environment is frozen (when the driver can) and goes back to its
// pool; the next invocation thaws and reuses it warm. Environments idle
// longer than the idle timeout are destroyed, as are environments of a
// version whose configuration changed or that was deleted. A timeout, a
// crash or an out-of-memory kill ends the environment; the caller gets
// Lambda's error document as a function error.
//
// The worker sees isolation only through package sandbox.
package worker
