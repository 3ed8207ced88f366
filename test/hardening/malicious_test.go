package hardening_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rwadurian/tsskit/party/seal"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// The tests in this file sign with the account's user share through a
// seat (seat_test.go) that misbehaves in one way, with one honest server
// holder. A misbehaviour the protocol tolerates must leave the signing
// intact; any other must fail the session at once, and the coordinator's
// failed event must name the user party. Hooks run on the engine's
// goroutine, so they report with t.Errorf, never t.Fatal.

// signSession creates a signing session of the user party and one server
// holder and returns it with the user party's seat.
func (h *hq) signSession(t *testing.T, msg, server string) (*tsskitv1.CreateSessionResponse, *seat) {
	t.Helper()
	resp, err := h.coord.CreateSignSession(context.Background(), &tsskitv1.CreateSignSessionRequest{
		WalletId: h.account, Digest: digest(msg), ClientPartyIds: []string{h.user.PartyID}, ServerPartyIds: []string{server},
	}, h.q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	return resp, newSeat(t, h.conn, resp, h.user.PartyID, digest(msg), h.q.Trust)
}

// wantSigned checks a seat's session completed with a signature of msg
// under the account's key.
func (h *hq) wantSigned(t *testing.T, res *seatResult, msg string) {
	t.Helper()
	c := res.Final.GetCompleted()
	if c == nil || res.EngineErr != nil {
		t.Fatalf("session did not complete: %v (engine: %v)", res.Final, res.EngineErr)
	}
	verifyDER(t, h.pub, digest(msg), c.Signature.Der)
}

// testReplay: the user party replays its own envelopes during a signing.
// The router answers an identical envelope with its first seq and refuses
// a different one in the same slot (AlreadyExists), so neither reaches the
// peer twice; every tss-lib message is also sent a second time in a new
// envelope, which the peer's engine drops. The signing completes.
func testReplay(t *testing.T, h *hq) {
	ctx := context.Background()
	_, s := h.signSession(t, "replays", h.servers[0])
	replayed := false
	s.Out = func(s *seat, m *outMsg) []*outMsg {
		if replayed || len(s.sent()) == 0 {
			return []*outMsg{m, m} // the second: same tss-lib message, new envelope
		}
		// Once something is out: the first envelope again, as it was and
		// with other bytes in its slot.
		replayed = true
		first := s.sent()[0]
		if seq, err := s.publish(ctx, first.env); err != nil || seq != first.seq {
			t.Errorf("replayed envelope: seq %d, %v; want %d", seq, err, first.seq)
		}
		other := *first.env
		other.Payload = append(bytes.Clone(other.Payload), 0)
		if _, err := s.publish(ctx, &other); statusProblem(err, codes.AlreadyExists, "") != "" {
			t.Error("equivocating envelope: " + statusProblem(err, codes.AlreadyExists, ""))
		}
		return []*outMsg{m, m}
	}
	h.wantSigned(t, s.run(ctx, nil, h.user), "replays")
	if !replayed {
		t.Fatal("nothing was replayed")
	}
}

// testReorder: envelopes reach the peer in another order than the engine
// made them (its first two swapped), and reach the engine out of order
// (the first three held and handed over last first: round 2 before round
// 1). tss-lib keeps early messages for their round; the signing completes.
func testReorder(t *testing.T, h *hq) {
	_, s := h.signSession(t, "reordered", h.servers[1])
	var held *outMsg
	swapped := false
	s.Out = func(s *seat, m *outMsg) []*outMsg {
		switch {
		case swapped:
			return []*outMsg{m}
		case held == nil:
			held = m
			return nil
		default:
			swapped = true
			return []*outMsg{m, held}
		}
	}
	s.HoldIn = 3
	h.wantSigned(t, s.run(context.Background(), nil, h.user), "reordered")
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.heldRounds; !swapped || len(r) != 3 || r[0] <= r[len(r)-1] {
		t.Fatalf("not reordered: outgoing swapped %v, incoming rounds handed over %v", swapped, r)
	}
}

// testBadSignature: an envelope whose signature does not verify under the
// sender's session key (a forgery in the party's name). The peer fails the
// session at once, the coordinator's failed event names the claimed sender
// with code "seal", the store records the failure, and a signing running
// at the same time on the same server party completes.
func testBadSignature(t *testing.T, h *hq) {
	resp, s := h.signSession(t, "bad signature", h.servers[0])
	s.Out = func(s *seat, m *outMsg) []*outMsg {
		if s.protocolSent() == 0 {
			m.Post = func(e *seal.Envelope) { e.Signature[7] ^= 0x20 }
		}
		return []*outMsg{m}
	}
	other := make(chan error, 1)
	go func() { other <- h.restSignErr("meanwhile") }()
	f := wantFailed(t, s.run(context.Background(), nil, h.user), "seal", h.user.PartyID)
	if !strings.Contains(f.Reason, "signature") {
		t.Fatalf("reason %q", f.Reason)
	}
	if err := <-other; err != nil {
		t.Fatalf("the concurrent signing: %v", err)
	}
	if got := storedSession(t, h, resp.SessionId); got.State != tsskitv1.SessionState_SESSION_STATE_FAILED || got.Reason == "" {
		t.Fatalf("stored: %v", got)
	}
}

// testTamperedCiphertext: a point-to-point payload the recipient cannot
// decrypt though validly signed (sealed to a wrong HPKE key), and one whose
// ciphertext was flipped after signing. Both fail the session naming the
// sender, code "seal".
func testTamperedCiphertext(t *testing.T, h *hq) {
	t.Run("validly signed", func(t *testing.T) {
		_, s := h.signSession(t, "undecryptable", h.servers[1])
		srv := h.servers[1]
		s.SealRoster = func(r map[string]seal.PublicKeys) {
			k, _ := seal.GenerateKeys()
			r[srv] = seal.PublicKeys{X25519: k.Public().X25519, Ed25519: r[srv].Ed25519}
		}
		f := wantFailed(t, s.run(context.Background(), nil, h.user), "seal", h.user.PartyID)
		if !strings.Contains(f.Reason, "decrypt") {
			t.Fatalf("reason %q", f.Reason)
		}
	})
	t.Run("flipped after signing", func(t *testing.T) {
		_, s := h.signSession(t, "flipped", h.servers[1])
		s.Out = func(s *seat, m *outMsg) []*outMsg {
			if m.To != "" {
				m.Post = func(e *seal.Envelope) { e.Payload[len(e.Payload)/2] ^= 1 }
			}
			return []*outMsg{m}
		}
		wantFailed(t, s.run(context.Background(), nil, h.user), "seal", h.user.PartyID)
	})
}

// testOtherSession: the user party's envelope of one signing, used in the
// next. As it is, the router refuses it (the new token is for the new
// session: PermissionDenied; the old session is closed: FailedPrecondition).
// Relabelled with the new session id it no longer verifies: the peer fails
// the new session naming the sender. The signing after that completes.
func testOtherSession(t *testing.T, h *hq) {
	ctx := context.Background()
	_, old := h.signSession(t, "first session", h.servers[0])
	h.wantSigned(t, old.run(ctx, nil, h.user), "first session")
	captured := old.sent()[0].env
	// The coordinator closes a finished session's router stream in the
	// background; until then the old token still publishes (idempotently).
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := old.publish(ctx, captured)
		if status.Code(err) == codes.FailedPrecondition {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the finished session's stream is still open: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	resp, s := h.signSession(t, "second session", h.servers[0])
	s.Out = func(s *seat, m *outMsg) []*outMsg {
		if s.protocolSent() > 0 {
			return []*outMsg{m}
		}
		_, err := s.publish(ctx, captured)
		if p := statusProblem(err, codes.PermissionDenied, "another session"); p != "" {
			t.Error("old envelope, new token: " + p)
		}
		_, err = old.publish(ctx, captured) // with the old session's token
		if p := statusProblem(err, codes.FailedPrecondition, "closed"); p != "" {
			t.Error("old envelope, old token: " + p)
		}
		moved := *captured
		moved.SessionID, moved.SenderSeq = resp.SessionId, 1000
		if _, err := s.publish(ctx, &moved); err != nil {
			t.Errorf("publish the relabelled envelope: %v", err)
		}
		return []*outMsg{m}
	}
	wantFailed(t, s.run(ctx, nil, h.user), "seal", h.user.PartyID)
	// (c)
	_, next := h.signSession(t, "third session", h.servers[0])
	h.wantSigned(t, next.run(ctx, nil, h.user), "third session")
}

// testInvalidContent: validly sealed and signed envelopes whose tss-lib
// content is wrong — a message under another round number, bytes that are
// no tss-lib message, an MtA range proof that does not verify, and a
// second, different commitment. The peer fails the session naming the
// sender: "protocol" for the first three, "seal" (equivocation) for the
// last.
func testInvalidContent(t *testing.T, h *hq) {
	cases := []struct {
		name, code, reason string
		out                func(m *outMsg) []*outMsg
	}{
		{"wrong round number", "protocol", "round", func(m *outMsg) []*outMsg {
			if msgType(m.Payload) == "SignRound1Message2" {
				m.Round = 3
			}
			return []*outMsg{m}
		}},
		{"undecodable", "protocol", "undecodable", func(m *outMsg) []*outMsg {
			if msgType(m.Payload) == "SignRound1Message2" {
				m.Payload = []byte("not a tss-lib message")
			}
			return []*outMsg{m}
		}},
		{"broken range proof", "protocol", "Alice_end", func(m *outMsg) []*outMsg {
			if msgType(m.Payload) == "SignRound2Message" {
				m.Payload = rewrite(t, m.Payload, func(pm proto.Message) {
					r2 := pm.(*signing.SignRound2Message)
					r2.ProofBob[0] = bump(r2.ProofBob[0])
				})
			}
			return []*outMsg{m}
		}},
		{"equivocation", "seal", "equivocation", func(m *outMsg) []*outMsg {
			if msgType(m.Payload) != "SignRound1Message2" {
				return []*outMsg{m}
			}
			twin := *m
			twin.Payload = rewrite(t, m.Payload, func(pm proto.Message) {
				c := pm.(*signing.SignRound1Message2)
				c.Commitment = bump(c.Commitment)
			})
			return []*outMsg{m, &twin}
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, s := h.signSession(t, c.name, h.servers[i%2])
			s.Out = func(_ *seat, m *outMsg) []*outMsg { return c.out(m) }
			f := wantFailed(t, s.run(context.Background(), nil, h.user), c.code, h.user.PartyID)
			if !strings.Contains(f.Reason, c.reason) {
				t.Fatalf("reason %q, want it to mention %q", f.Reason, c.reason)
			}
		})
	}
	// (c) After four failed sessions the same parties sign.
	_, s := h.signSession(t, "after invalid content", h.servers[0])
	h.wantSigned(t, s.run(context.Background(), nil, h.user), "after invalid content")
}
