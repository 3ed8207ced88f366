package seal

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

// trio is three parties of one session with their channels.
type trio struct {
	keys   map[string]*Keys
	roster map[string]PublicKeys
	ch     map[string]*Channel
}

func newTrio(t testing.TB, session string) *trio {
	t.Helper()
	tr := &trio{keys: map[string]*Keys{}, roster: map[string]PublicKeys{}, ch: map[string]*Channel{}}
	for _, id := range []string{"a", "b", "c"} {
		k, err := GenerateKeys()
		if err != nil {
			t.Fatal(err)
		}
		tr.keys[id] = k
		tr.roster[id] = k.Public()
	}
	for id, k := range tr.keys {
		c, err := NewChannel(session, id, k, tr.roster)
		if err != nil {
			t.Fatal(err)
		}
		tr.ch[id] = c
	}
	return tr
}

func mustSeal(t testing.TB, c *Channel, to string, round uint32, payload []byte) *Envelope {
	t.Helper()
	e, err := c.Seal(to, round, payload)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func wantCode(t *testing.T, err error, sentinel *Error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want %s", err, sentinel.Code)
	}
}

func TestRoundTrip(t *testing.T) {
	tr := newTrio(t, "s1")
	msg := []byte("round 2 share for b")
	p2p := mustSeal(t, tr.ch["a"], "b", 2, msg)
	if bytes.Contains(p2p.Payload, msg) {
		t.Fatal("point-to-point payload is not encrypted")
	}
	got, err := tr.ch["b"].Open(p2p)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open p2p: %q %v", got, err)
	}
	bc := mustSeal(t, tr.ch["a"], "", 1, []byte("commitment"))
	for _, id := range []string{"b", "c"} {
		if got, err := tr.ch[id].Open(bc); err != nil || string(got) != "commitment" {
			t.Fatalf("%s open broadcast: %q %v", id, got, err)
		}
	}
	if p2p.SenderSeq != 1 || bc.SenderSeq != 2 {
		t.Fatalf("sender_seq %d, %d; want 1, 2", p2p.SenderSeq, bc.SenderSeq)
	}
}

func TestRefusals(t *testing.T) {
	tr := newTrio(t, "s1")
	fresh := func() *Envelope { return mustSeal(t, tr.ch["a"], "b", 2, []byte("secret share")) }

	t.Run("tampered payload", func(t *testing.T) {
		e := fresh()
		e.Payload[len(e.Payload)-1] ^= 1
		_, err := tr.ch["b"].Open(e)
		wantCode(t, err, ErrBadSignature)
		var se *Error
		if !errors.As(err, &se) || se.Sender != "a" {
			t.Fatalf("error does not name the sender: %v", err)
		}
	})
	for name, mutate := range map[string]func(*Envelope){
		"round":      func(e *Envelope) { e.Round++ },
		"sender_seq": func(e *Envelope) { e.SenderSeq += 10 },
		"signature":  func(e *Envelope) { e.Signature[0] ^= 1 },
		"short sig":  func(e *Envelope) { e.Signature = e.Signature[:10] },
		"from":       func(e *Envelope) { e.From = "c" },
	} {
		t.Run("tampered "+name, func(t *testing.T) {
			e := fresh()
			mutate(e)
			_, err := tr.ch["b"].Open(e)
			wantCode(t, err, ErrBadSignature)
		})
	}
	t.Run("forged by another key", func(t *testing.T) {
		e := fresh()
		_, mallory, _ := ed25519.GenerateKey(nil)
		e.Signature = ed25519.Sign(mallory, e.SignedBytes())
		_, err := tr.ch["b"].Open(e)
		wantCode(t, err, ErrBadSignature)
	})
	t.Run("forged by a peer claiming another sender", func(t *testing.T) {
		// c signs with its own key but claims to be a.
		e := fresh()
		e.Signature = ed25519.Sign(tr.keys["c"].ed, e.SignedBytes())
		_, err := tr.ch["b"].Open(e)
		wantCode(t, err, ErrBadSignature)
	})
	t.Run("wrong session", func(t *testing.T) {
		other := newTrio(t, "s2")
		e := mustSeal(t, other.ch["a"], "b", 2, []byte("x"))
		_, err := tr.ch["b"].Open(e)
		wantCode(t, err, ErrWrongSession)
		if !Benign(err) {
			t.Fatal("wrong session should be benign")
		}
	})
	t.Run("unknown sender", func(t *testing.T) {
		e := fresh()
		e.From = "mallory"
		_, err := tr.ch["b"].Open(e)
		wantCode(t, err, ErrUnknownSender)
		if Benign(err) {
			t.Fatal("unknown sender must not be benign")
		}
	})
	t.Run("not for me", func(t *testing.T) {
		_, err := tr.ch["c"].Open(fresh())
		wantCode(t, err, ErrNotForMe)
		bc := mustSeal(t, tr.ch["a"], "", 1, []byte("x"))
		_, err = tr.ch["a"].Open(bc)
		wantCode(t, err, ErrNotForMe)
	})
	t.Run("replay", func(t *testing.T) {
		e := fresh()
		if _, err := tr.ch["b"].Open(e); err != nil {
			t.Fatal(err)
		}
		_, err := tr.ch["b"].Open(e)
		wantCode(t, err, ErrDuplicate)
		if !Benign(err) {
			t.Fatal("replay should be benign")
		}
	})
	t.Run("equivocation", func(t *testing.T) {
		e1 := fresh()
		// The same sender_seq signed twice over different content is only
		// possible for the holder of a's key: do it white-box.
		e2 := &Envelope{SessionID: e1.SessionID, From: "a", To: "", Round: e1.Round, SenderSeq: e1.SenderSeq, Payload: []byte("other")}
		e2.Signature = ed25519.Sign(tr.keys["a"].ed, e2.SignedBytes())
		if _, err := tr.ch["b"].Open(e1); err != nil {
			t.Fatal(err)
		}
		_, err := tr.ch["b"].Open(e2)
		wantCode(t, err, ErrEquivocation)
	})
	t.Run("ciphertext moved to another recipient", func(t *testing.T) {
		// a re-addresses its ciphertext for b to c and signs it properly:
		// the header is the HPKE info and AAD, so c cannot open it.
		e := fresh()
		e.To = "c"
		e.Signature = ed25519.Sign(tr.keys["a"].ed, e.SignedBytes())
		_, err := tr.ch["c"].Open(e)
		wantCode(t, err, ErrDecrypt)
	})
	t.Run("ciphertext moved to another round", func(t *testing.T) {
		e := fresh()
		e.Round = 3
		e.SenderSeq = 99
		e.Signature = ed25519.Sign(tr.keys["a"].ed, e.SignedBytes())
		_, err := tr.ch["b"].Open(e)
		wantCode(t, err, ErrDecrypt)
	})
	t.Run("short ciphertext", func(t *testing.T) {
		e := fresh()
		e.Payload = e.Payload[:5]
		e.SenderSeq = 1000
		e.Signature = ed25519.Sign(tr.keys["a"].ed, e.SignedBytes())
		_, err := tr.ch["b"].Open(e)
		wantCode(t, err, ErrDecrypt)
	})
	t.Run("oversized", func(t *testing.T) {
		_, err := tr.ch["a"].Seal("b", 1, make([]byte, MaxPayload+1))
		wantCode(t, err, ErrTooLarge)
		e := fresh()
		e.Payload = make([]byte, MaxPayload+1)
		_, err = tr.ch["b"].Open(e)
		wantCode(t, err, ErrTooLarge)
	})
	t.Run("nil and zero seq", func(t *testing.T) {
		_, err := tr.ch["b"].Open(nil)
		wantCode(t, err, ErrMalformed)
		e := fresh()
		e.SenderSeq = 0
		_, err = tr.ch["b"].Open(e)
		wantCode(t, err, ErrMalformed)
	})
}

func TestNewChannelChecksRoster(t *testing.T) {
	tr := newTrio(t, "s")
	if _, err := NewChannel("s", "zed", tr.keys["a"], tr.roster); err == nil {
		t.Fatal("self missing from roster accepted")
	}
	if _, err := NewChannel("s", "a", tr.keys["b"], tr.roster); err == nil {
		t.Fatal("roster with someone else's keys for self accepted")
	}
	bad := map[string]PublicKeys{}
	for k, v := range tr.roster {
		bad[k] = v
	}
	bad["c"] = PublicKeys{X25519: bad["b"].X25519, Ed25519: bad["c"].Ed25519}
	if _, err := NewChannel("s", "a", tr.keys["a"], bad); err == nil {
		t.Fatal("duplicate X25519 key accepted")
	}
	bad["c"] = PublicKeys{X25519: []byte{1, 2}, Ed25519: tr.roster["c"].Ed25519}
	if _, err := NewChannel("s", "a", tr.keys["a"], bad); err == nil {
		t.Fatal("short X25519 key accepted")
	}
	if _, err := NewChannel("", "a", tr.keys["a"], tr.roster); err == nil {
		t.Fatal("empty session accepted")
	}
}

func TestWireRoundTrip(t *testing.T) {
	tr := newTrio(t, "s")
	for _, to := range []string{"", "b"} {
		e := mustSeal(t, tr.ch["a"], to, 7, []byte("payload"))
		e.Seq = 42
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		d, err := UnmarshalEnvelope(b)
		if err != nil {
			t.Fatal(err)
		}
		if d.SessionID != e.SessionID || d.From != e.From || d.To != e.To || d.Round != e.Round ||
			d.SenderSeq != e.SenderSeq || d.Seq != 42 || !bytes.Equal(d.Payload, e.Payload) || !bytes.Equal(d.Signature, e.Signature) {
			t.Fatalf("round trip changed the envelope: %+v vs %+v", d, e)
		}
		if _, err := tr.ch["b"].Open(d); err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(b); n++ {
			if _, err := UnmarshalEnvelope(b[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("prefix of %d bytes: %v", n, err)
			}
		}
		if _, err := UnmarshalEnvelope(append(b, 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("trailing byte: %v", err)
		}
	}
	if _, err := UnmarshalEnvelope(make([]byte, MaxEnvelope+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
}
