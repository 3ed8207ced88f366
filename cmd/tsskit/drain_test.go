package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func getStatus(url string) (int, string) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var body struct{ Status string }
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Status
}

// TestDrainFinishesSessions: SIGTERM to a server party in the middle of an
// account keygen it holds a seat in. The party drains — its readiness
// probe says so, the coordinator stops picking it — the keygen completes
// with every party, and only then does the party exit, cleanly. Every
// port with /health also serves /livez and /readyz.
func TestDrainFinishesSessions(t *testing.T) {
	clusterDrain = "3m"
	defer func() { clusterDrain = "5s" }()
	c := startCluster(t)
	for name, u := range map[string]string{
		"router": "http://" + c.router, "coordinator": "http://" + c.coord, "account API": "http://" + c.api,
		"server-party API": "http://" + c.partyAPI, "serverparty-2 health port": "http://" + c.health["serverparty-2"],
	} {
		if code, st := getStatus(u + "/livez"); code != 200 || st != "ok" {
			t.Errorf("%s /livez: %d %q", name, code, st)
		}
		if code, st := getStatus(u + "/readyz"); code != 200 || st != "ok" {
			t.Errorf("%s /readyz: %d %q", name, code, st)
		}
	}

	// An account keygen takes the two server parties that do not run the
	// server-party API: serverparty-2 and serverparty-3.
	type result struct {
		code int
		body map[string]any
	}
	done := make(chan result, 1)
	go func() {
		code, body := c.rest("POST", "/api/v1/accounts", `{"user_id":"drain-user","share_password":"drain pw 7 juniper"}`)
		done <- result{code, body}
	}()
	var sp2 *proc
	for _, p := range c.procs {
		if p.name == "serverparty-2" {
			sp2 = p
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(sp2.log.String(), "joined") {
		if time.Now().After(deadline) {
			t.Fatalf("serverparty-2 never started the keygen:\n%s", tail(sp2.log.String(), 3000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	sp2.cmd.Process.Signal(syscall.SIGTERM)
	// Draining: not ready, and the coordinator knows.
	for {
		code, st := getStatus("http://" + c.health["serverparty-2"] + "/readyz")
		if code == 503 && st == "draining" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serverparty-2 /readyz while draining: %d %q", code, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := <-done
	if r.code != 201 {
		t.Fatalf("the keygen did not survive the drain: %d %v\n%s", r.code, r.body, tail(sp2.log.String(), 3000))
	}
	select {
	case err := <-sp2.done:
		if err != nil {
			t.Fatalf("serverparty-2 exited with %v after draining", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serverparty-2 did not exit after its keygen finished")
	}
	log := sp2.log.String()
	if !strings.Contains(log, "running=1") || !strings.Contains(log, "drained") {
		t.Fatalf("serverparty-2 did not drain a running session:\n%s", tail(log, 3000))
	}
	// A drained party takes no new session: with one non-API server party
	// left, the next account keygen is refused, not sent to the leaver.
	if code, body := c.rest("POST", "/api/v1/accounts", `{"user_id":"after-drain","share_password":"drain pw 8 juniper"}`); code != 503 {
		t.Fatalf("keygen after the drain: %d %v", code, body)
	}
}
