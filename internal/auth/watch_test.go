package auth

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"hearth/internal/broker"
)

// eventually polls cond every 10 ms for up to max and returns how long it
// took to hold, or fails.
func eventually(t *testing.T, max time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > max {
			t.Fatalf("%s: not within %v", what, max)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// Two key stores on one bucket, as two api nodes of a cluster: an
// account and a key created through one are known to the other within a
// second (its verifier lets the key in), and a deleted key stops working
// there within a second too (its verifier had cached the key's signer).
func TestKeysWatch(t *testing.T) {
	b, err := broker.Start(broker.Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	one, err := OpenKeys(ctx, b.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	two, err := OpenKeys(ctx, b.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 2)
	go func() { runDone <- one.Run(ctx) }()
	go func() { runDone <- two.Run(ctx) }()
	srv := verifyServer(t, NewVerifier("us-east-1", two, NewSessions()), "lambda")

	acct, err := one.CreateAccount(ctx, "", "watched")
	if err != nil {
		t.Fatal(err)
	}
	key, err := one.CreateKey(ctx, acct.ID, "", false)
	if err != nil {
		t.Fatal(err)
	}
	took := eventually(t, time.Second, "the other node knows the key", func() bool {
		_, ok := two.Lookup(key.ID)
		return ok
	})
	t.Logf("a key created on one node is known on the other after %v", took)
	if _, ok := two.Account(acct.ID); !ok {
		t.Errorf("the other node does not know account %s", acct.ID)
	}
	req := signed{key: key.ID, secret: key.Secret, region: "us-east-1", service: "lambda", at: time.Now(), body: "{}"}
	if code, body := req.do(t, srv.URL); code != http.StatusOK {
		t.Fatalf("request signed with the new key on the other node = %d %s, want 200", code, body)
	}

	if err := one.DeleteKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	took = eventually(t, time.Second, "the deleted key stops working on the other node", func() bool {
		req.at = time.Now()
		code, _ := req.do(t, srv.URL)
		return code == http.StatusForbidden
	})
	t.Logf("a key deleted on one node stops working on the other after %v", took)

	if err := one.DeleteAccount(ctx, acct.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "the deleted account is gone on the other node", func() bool {
		_, ok := two.Account(acct.ID)
		return !ok
	})
	// The writer's own watch, behind its writes, brings nothing back.
	time.Sleep(100 * time.Millisecond)
	if _, ok := one.Lookup(key.ID); ok {
		t.Error("the deleted key is back on the node that deleted it")
	}
	if _, ok := one.Account(acct.ID); ok {
		t.Error("the deleted account is back on the node that deleted it")
	}
	cancel()
	for range 2 {
		if err := <-runDone; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

// An entry older than what a node wrote or saw changes nothing: a watch
// that delivers a key's creation after the node has deleted it does not
// bring the key back.
func TestKeysApplyIgnoresOlderRevisions(t *testing.T) {
	k, _ := testKeys(t)
	ctx := context.Background()
	key, err := k.CreateKey(ctx, "123456789012", "", false)
	if err != nil {
		t.Fatal(err)
	}
	created, err := k.kv.Get(ctx, "key."+key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.DeleteKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if err := k.apply(created); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.Lookup(key.ID); ok {
		t.Error("applying the key's creation after its deletion brought it back")
	}
}
