package router_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/router"
)

// grpcWebCall makes a unary gRPC-Web call the way a browser does (HTTP/1.1
// POST, application/grpc-web+proto, length-prefixed frame) and returns the
// HTTP status, the grpc-status (from headers, or the trailer frame) and the
// response message bytes.
func grpcWebCall(t *testing.T, addr, method, origin, token string, msg proto.Message) (int, string, []byte, http.Header) {
	t.Helper()
	body, _ := proto.Marshal(msg)
	frame := make([]byte, 5+len(body))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(body)))
	copy(frame[5:], body)
	req, _ := http.NewRequest("POST", "http://"+addr+"/tsskit.v1.RouterService/"+method, bytes.NewReader(frame))
	req.Header.Set("Content-Type", "application/grpc-web+proto")
	req.Header.Set("X-Grpc-Web", "1")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	grpcStatus := resp.Header.Get("Grpc-Status")
	var payload []byte
	for len(raw) >= 5 {
		flag, n := raw[0], binary.BigEndian.Uint32(raw[1:5])
		data := raw[5 : 5+n]
		raw = raw[5+n:]
		if flag&0x80 != 0 { // trailer frame
			for _, line := range strings.Split(string(data), "\r\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "grpc-status") {
					grpcStatus = strings.TrimSpace(v)
				}
			}
		} else {
			payload = data
		}
	}
	return resp.StatusCode, grpcStatus, payload, resp.Header
}

// TestGRPCWeb: the router answers gRPC-Web on its one port, typed status
// codes of unary calls reach a gRPC-Web client, and CORS admits only the
// configured origins.
func TestGRPCWeb(t *testing.T) {
	r := newRig(t, router.DefaultLimits, nil)
	r.open("web", "a", "b")
	tok, _ := r.signer.MintParty("web", "a", time.Minute)
	good := &tsskitv1.PublishRequest{Envelope: env("web", "a", "", 1, "hello")}

	code, st, payload, hdr := grpcWebCall(t, r.addr, "Publish", "http://app.test", tok, good)
	if code != 200 || st != "0" {
		t.Fatalf("publish: http %d grpc-status %q", code, st)
	}
	var resp tsskitv1.PublishResponse
	if err := proto.Unmarshal(payload, &resp); err != nil || resp.Seq != 1 {
		t.Fatalf("publish response: %v %v", resp.Seq, err)
	}
	if hdr.Get("Access-Control-Allow-Origin") != "http://app.test" {
		t.Fatalf("allowed origin not echoed: %q", hdr.Get("Access-Control-Allow-Origin"))
	}
	for _, c := range []struct {
		name, token string
		msg         proto.Message
		want        string
	}{
		{"no token", "", good, "16"},
		{"wrong sender", tok, &tsskitv1.PublishRequest{Envelope: env("web", "b", "", 1, "x")}, "7"},
		{"unknown session", mustParty(t, r, "nope", "a"), &tsskitv1.PublishRequest{Envelope: env("nope", "a", "", 1, "x")}, "5"},
	} {
		_, st, _, _ := grpcWebCall(t, r.addr, "Publish", "http://app.test", c.token, c.msg)
		if st != c.want {
			t.Errorf("%s: grpc-status %q, want %s", c.name, st, c.want)
		}
	}

	// CORS preflight: the configured origin is allowed, another is not.
	pre := func(origin string) http.Header {
		req, _ := http.NewRequest("OPTIONS", "http://"+r.addr+"/tsskit.v1.RouterService/Publish", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-grpc-web,x-user-agent")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	if h := pre("http://app.test"); h.Get("Access-Control-Allow-Origin") != "http://app.test" || !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight from the app: %v", h)
	}
	if h := pre("http://evil.test"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin allowed: %v", h)
	}
	// /health on the same port.
	// The rig serves no /health of its own; the port answers plain HTTP
	// with the routes given to serve.Handler.
	hr, err := http.Get("http://" + r.addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
}

func mustParty(t *testing.T, r *rig, session, party string) string {
	tok, err := r.signer.MintParty(session, party, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
