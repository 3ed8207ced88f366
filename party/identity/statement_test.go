package identity

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"testing"
	"time"
)

// fixture is a session of one client and two certified servers.
type fixture struct {
	root    *Key
	trust   *Trust
	now     time.Time
	ids     []string
	kinds   map[string]Kind
	keys    map[string]*Key
	chains  map[string][]*Certificate
	view    View
	entries map[string]*Entry
}

func newFixture(t testing.TB, kind SessionKind) *fixture {
	t.Helper()
	f := &fixture{root: mustKey(t), now: time.Now(), ids: []string{"browser-1", "server-1", "server-2"},
		kinds: map[string]Kind{"browser-1": KindClient, "server-1": KindServer, "server-2": KindServer},
		keys:  map[string]*Key{}, chains: map[string][]*Certificate{}}
	f.trust, _ = NewTrust([]PublicKey{f.root.Public()}, nil)
	for _, id := range f.ids {
		f.keys[id] = mustKey(t)
		if f.kinds[id] == KindServer {
			f.chains[id] = []*Certificate{mustIssue(t, f.root, KindServer, id, f.keys[id].Public(), f.now.Add(-time.Hour), 24*time.Hour)}
		}
	}
	f.view = View{SessionKind: kind, SessionID: "sess-1", WalletID: "wallet-1", Threshold: 2, Parties: f.ids, Trust: f.trust, Now: f.now}
	if kind == SessionSign {
		f.view.Digest = bytes.Repeat([]byte{7}, 32)
		f.view.Holders = map[string]Holder{}
		for _, id := range f.ids {
			f.view.Holders[id] = Holder{Kind: f.kinds[id], Identity: f.keys[id].Public()}
		}
		f.view.ClientRequired = true
	}
	f.entries = map[string]*Entry{}
	for _, id := range f.ids {
		f.entries[id] = f.sign(t, id, f.statement(id))
	}
	return f
}

// statement is the honest statement of party id in this session.
func (f *fixture) statement(id string) *Statement {
	s := &Statement{SessionKind: f.view.SessionKind, SessionID: f.view.SessionID, PartyID: id, Kind: f.kinds[id],
		WalletID: f.view.WalletID, Threshold: f.view.Threshold, Parties: slices.Sorted(slices.Values(f.ids)),
		Digest: f.view.Digest, Expires: f.now.Add(10 * time.Minute)}
	rand.Read(s.X25519[:])
	rand.Read(s.Ed25519[:])
	return s
}

func (f *fixture) sign(t testing.TB, id string, s *Statement) *Entry {
	t.Helper()
	e, err := SignStatement(f.keys[id], s, f.chains[id])
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestStatementRoundTrip(t *testing.T) {
	f := newFixture(t, SessionSign)
	s, err := f.entries["browser-1"].Open()
	if err != nil {
		t.Fatal(err)
	}
	if s.PartyID != "browser-1" || s.Kind != KindClient || s.Identity != f.keys["browser-1"].Public() || len(s.Digest) != 32 ||
		!s.Expires.Equal(f.now.Add(10*time.Minute).Truncate(time.Millisecond)) {
		t.Fatalf("round trip changed the statement: %+v", s)
	}
	b, _ := s.Marshal()
	if !bytes.Equal(b, f.entries["browser-1"].Statement) {
		t.Fatal("re-encoding differs")
	}
	got, err := VerifyRoster(f.entries, f.view)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["server-1"].Kind != KindServer || got["browser-1"].Identity != f.keys["browser-1"].Public() {
		t.Fatalf("verified: %+v", got)
	}
}

// TestStatementGolden pins the statement encoding with fixed keys.
func TestStatementGolden(t *testing.T) {
	k, _ := KeyFromSeed(bytes.Repeat([]byte{3}, 32))
	s := &Statement{SessionKind: SessionSign, SessionID: "s1", PartyID: "browser-1", Kind: KindClient, WalletID: "w1", Threshold: 2,
		Parties: []string{"browser-1", "server-1", "server-2"}, Digest: bytes.Repeat([]byte{0xab}, 32),
		Expires: time.UnixMilli(1767225600000), X25519: [32]byte{1}, Ed25519: [32]byte{2}}
	e, err := SignStatement(k, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := hex.EncodeToString(e.Statement) + "\n" + hex.EncodeToString(e.Signature) + "\n"
	if os.Getenv("TSSKIT_UPDATE_GOLDEN") != "" {
		os.WriteFile("testdata/statement.hex", []byte(got), 0o644)
	}
	want, err := os.ReadFile("testdata/statement.hex")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("encoding changed:\n%s\nwant\n%s", got, want)
	}
}

func TestParseStatementRefuses(t *testing.T) {
	f := newFixture(t, SessionKeygen)
	good := f.entries["server-1"].Statement
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-1],
		"trailing":  append(bytes.Clone(good), 0),
		"version 2": append([]byte{2}, good[1:]...),
		"too large": make([]byte, MaxStatementSize+1),
	} {
		if _, err := ParseStatement(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for name, mut := range map[string]func(s *Statement){
		"unsorted parties": func(s *Statement) { s.Parties[0], s.Parties[1] = s.Parties[1], s.Parties[0] },
		"duplicate party":  func(s *Statement) { s.Parties[1] = s.Parties[0] },
		"not a party":      func(s *Statement) { s.PartyID = "server-9" },
		"keygen digest":    func(s *Statement) { s.Digest = make([]byte, 32) },
		"kind issuer":      func(s *Statement) { s.Kind = KindIssuer },
		"threshold 1":      func(s *Statement) { s.Threshold = 1 },
		"one party":        func(s *Statement) { s.Parties = s.Parties[:1] },
	} {
		s := f.statement("server-1")
		mut(s)
		if _, err := SignStatement(f.keys["server-1"], s, nil); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

// TestAttackRoster: every way a relay or a coordinator can tamper with a
// roster, and the code and culprit each gets.
func TestAttackRoster(t *testing.T) {
	other := mustKey(t)
	for _, c := range []struct {
		name   string
		kind   SessionKind
		tamper func(t *testing.T, f *fixture)
		code   Code
		party  string
	}{
		{"substituted server keys", SessionKeygen, func(t *testing.T, f *fixture) {
			// A relay puts its own session keys in server-1's entry.
			s := f.statement("server-1")
			f.entries["server-1"] = &Entry{Statement: mustMarshal(t, s, f.keys["server-1"].Public()), Signature: f.entries["server-1"].Signature, Chain: f.entries["server-1"].Chain}
		}, CodeBadSignature, "server-1"},
		{"server signed by a relay key", SessionKeygen, func(t *testing.T, f *fixture) {
			f.keys["server-1"] = other
			f.entries["server-1"] = f.sign(t, "server-1", f.statement("server-1"))
		}, CodeWrongSubject, "server-1"},
		{"server without a certificate", SessionKeygen, func(t *testing.T, f *fixture) {
			f.chains["server-2"] = nil
			f.entries["server-2"] = f.sign(t, "server-2", f.statement("server-2"))
		}, CodeNoCertificate, "server-2"},
		{"server claims to be a client", SessionKeygen, func(t *testing.T, f *fixture) {
			f.view.Kinds = map[string]Kind{"browser-1": KindClient, "server-1": KindServer, "server-2": KindServer}
			f.kinds["server-2"] = KindClient
			f.entries["server-2"] = f.sign(t, "server-2", f.statement("server-2"))
		}, CodeMismatch, "server-2"},
		{"other threshold", SessionKeygen, func(t *testing.T, f *fixture) {
			s := f.statement("server-1")
			s.Threshold = 3
			f.entries["server-1"] = f.sign(t, "server-1", s)
		}, CodeMismatch, "server-1"},
		{"other parties", SessionKeygen, func(t *testing.T, f *fixture) {
			s := f.statement("server-1")
			s.Parties = []string{"browser-1", "server-1", "server-3"}
			f.entries["server-1"] = f.sign(t, "server-1", s)
		}, CodeMismatch, "server-1"},
		{"entry filed under another party", SessionKeygen, func(t *testing.T, f *fixture) {
			f.entries["server-2"] = f.entries["server-1"]
		}, CodeMismatch, "server-2"},
		{"missing entry", SessionKeygen, func(t *testing.T, f *fixture) { delete(f.entries, "server-2") }, CodeMismatch, "server-2"},
		{"extra entry", SessionKeygen, func(t *testing.T, f *fixture) { f.entries["server-9"] = f.entries["server-1"] }, CodeMismatch, "server-9"},
		{"replayed from another session", SessionSign, func(t *testing.T, f *fixture) {
			s := f.statement("browser-1")
			s.SessionID = "sess-0"
			f.entries["browser-1"] = f.sign(t, "browser-1", s)
		}, CodeMismatch, "browser-1"},
		{"sign request for another digest", SessionSign, func(t *testing.T, f *fixture) {
			s := f.statement("browser-1")
			s.Digest = bytes.Repeat([]byte{8}, 32)
			f.entries["browser-1"] = f.sign(t, "browser-1", s)
		}, CodeMismatch, "browser-1"},
		{"sign request for another wallet", SessionSign, func(t *testing.T, f *fixture) {
			s := f.statement("browser-1")
			s.WalletID = "wallet-2"
			f.entries["browser-1"] = f.sign(t, "browser-1", s)
		}, CodeMismatch, "browser-1"},
		{"expired sign request", SessionSign, func(t *testing.T, f *fixture) {
			s := f.statement("browser-1")
			s.Expires = f.now.Add(-time.Second)
			f.entries["browser-1"] = f.sign(t, "browser-1", s)
		}, CodeExpired, "browser-1"},
		{"sign request valid too long", SessionSign, func(t *testing.T, f *fixture) {
			s := f.statement("browser-1")
			s.Expires = f.now.Add(MaxStatementLife + time.Minute)
			f.entries["browser-1"] = f.sign(t, "browser-1", s)
		}, CodeExpired, "browser-1"},
		{"another client identity", SessionSign, func(t *testing.T, f *fixture) {
			f.keys["browser-1"] = other
			f.entries["browser-1"] = f.sign(t, "browser-1", f.statement("browser-1"))
		}, CodeWrongIdentity, "browser-1"},
		{"not a holder", SessionSign, func(t *testing.T, f *fixture) { delete(f.view.Holders, "server-2") }, CodeNotHolder, "server-2"},
		{"server without client (row flipped)", SessionSign, func(t *testing.T, f *fixture) {
			f.ids = []string{"server-1", "server-2"}
			f.view.Parties = f.ids
			for _, id := range f.ids {
				f.entries[id] = f.sign(t, id, f.statement(id))
			}
			delete(f.entries, "browser-1")
		}, CodePolicy, ""},
		{"client posing as a server holder", SessionSign, func(t *testing.T, f *fixture) {
			f.kinds["browser-1"] = KindServer
			f.entries["browser-1"] = f.sign(t, "browser-1", f.statement("browser-1"))
		}, CodeNoCertificate, "browser-1"},
		{"revoked client", SessionSign, func(t *testing.T, f *fixture) {
			f.view.Trust = mustTrust(t, f.root, f.keys["browser-1"].Public())
		}, CodeRevoked, "browser-1"},
		{"sign request at another path", SessionSign, func(t *testing.T, f *fixture) {
			// The coordinator asks the servers for m/0/5; the client's
			// statement asks for the wallet key.
			f.view.Path = []uint32{0, 5}
			for _, id := range []string{"server-1", "server-2"} {
				s := f.statement(id)
				s.Path = []uint32{0, 5}
				f.entries[id] = f.sign(t, id, s)
			}
		}, CodeMismatch, "browser-1"},
		{"server signs at a path the client did not ask for", SessionSign, func(t *testing.T, f *fixture) {
			s := f.statement("server-2")
			s.Path = []uint32{7}
			f.entries["server-2"] = f.sign(t, "server-2", s)
		}, CodeMismatch, "server-2"},
		{"two parties one identity", SessionKeygen, func(t *testing.T, f *fixture) {
			f.keys["browser-1"] = f.keys["server-1"]
			f.entries["browser-1"] = f.sign(t, "browser-1", f.statement("browser-1"))
		}, CodeWrongIdentity, "server-1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.kind)
			if _, err := VerifyRoster(f.entries, f.view); err != nil {
				t.Fatalf("honest roster refused: %v", err)
			}
			c.tamper(t, f)
			_, err := VerifyRoster(f.entries, f.view)
			wantCode(t, err, c.code, c.party)
		})
	}
}

func mustMarshal(t *testing.T, s *Statement, id PublicKey) []byte {
	t.Helper()
	s.Identity = id
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRegistration(t *testing.T) {
	root, k := mustKey(t), mustKey(t)
	now := time.Now()
	tr := mustTrust(t, root)
	chain := []*Certificate{mustIssue(t, root, KindServer, "server-1", k.Public(), now.Add(-time.Hour), 2*time.Hour)}
	challenge := bytes.Repeat([]byte{7}, ChallengeSize)
	proof, sig := SignRegistration(k, "server-1", challenge)
	if got, err := VerifyRegistration(tr, chain, "server-1", challenge, proof, sig, now.Add(time.Second)); err != nil || got != k.Public() {
		t.Fatalf("honest registration: %v", err)
	}
	verify := func(chain []*Certificate, id string, challenge, proof, sig []byte, at time.Time) error {
		_, err := VerifyRegistration(tr, chain, id, challenge, proof, sig, at)
		return err
	}
	wantCode(t, verify(chain, "server-2", challenge, proof, sig, now), CodeWrongSubject, "server-2")
	// The certificate has expired by then.
	wantCode(t, verify(chain, "server-1", challenge, proof, sig, now.Add(2*time.Hour)), CodeExpired, "server-1")
	// A recorded registration replayed against a new challenge.
	fresh := bytes.Repeat([]byte{8}, ChallengeSize)
	wantCode(t, verify(chain, "server-1", fresh, proof, sig, now), CodeMismatch, "server-1")
	wantCode(t, verify(chain, "server-1", nil, proof, sig, now), CodeMismatch, "server-1")
	bad := bytes.Clone(sig)
	bad[0] ^= 1
	wantCode(t, verify(chain, "server-1", challenge, proof, bad, now), CodeBadSignature, "server-1")
	// Someone else's certificate with a proof by another key.
	other := mustKey(t)
	p2, s2 := SignRegistration(other, "server-1", challenge)
	wantCode(t, verify(chain, "server-1", challenge, p2, s2, now), CodeWrongSubject, "server-1")
	wantCode(t, verify(nil, "server-1", challenge, proof, sig, now), CodeNoCertificate, "server-1")
	// A proof of the old, timestamped form is refused.
	wantCode(t, verify(chain, "server-1", challenge, append([]byte{1}, proof[1:]...), sig, now), CodeMalformed, "server-1")
}

func FuzzParseStatement(f *testing.F) {
	fx := newFixture(f, SessionSign)
	for _, e := range fx.entries {
		f.Add(e.Statement)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStatement(b)
		if err != nil {
			return
		}
		back, err := s.Marshal()
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("a parsed statement does not re-encode to its bytes: %v", err)
		}
	})
}

// A signing's derivation path is the statement's optional tail: depth,
// then each index big-endian; a statement without one encodes as before.
// A tail that is empty, short, long or hardened is refused.
func TestStatementPath(t *testing.T) {
	f := newFixture(t, SessionSign)
	k := f.keys["browser-1"]
	s := f.statement("browser-1")
	plain := mustMarshal(t, s, k.Public())
	s.Path = []uint32{0, 5, 1<<31 - 1}
	withPath := mustMarshal(t, s, k.Public())
	want := append(bytes.Clone(plain), 3, 0, 0, 0, 0, 0, 0, 0, 5, 0x7f, 0xff, 0xff, 0xff)
	if !bytes.Equal(withPath, want) {
		t.Fatalf("encoding with a path:\n%x\nwant\n%x", withPath, want)
	}
	got, err := ParseStatement(withPath)
	if err != nil || !slices.Equal(got.Path, s.Path) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	if got, err := ParseStatement(plain); err != nil || got.Path != nil {
		t.Fatalf("no path: %v, %v", got, err)
	}
	deep := slices.Repeat([]uint32{1}, 255)
	s.Path = deep
	if got, err := ParseStatement(mustMarshal(t, s, k.Public())); err != nil || !slices.Equal(got.Path, deep) {
		t.Fatalf("depth 255: %v", err)
	}
	for name, b := range map[string][]byte{
		"depth 0":          append(bytes.Clone(plain), 0),
		"short":            append(bytes.Clone(plain), 2, 0, 0, 0, 1, 0, 0, 0),
		"trailing":         append(bytes.Clone(withPath), 0),
		"hardened":         append(bytes.Clone(plain), 1, 0x80, 0, 0, 0),
		"keygen with path": append(bytes.Clone(mustMarshal(t, f.keygenStatement(t), k.Public())), 1, 0, 0, 0, 1),
	} {
		if _, err := ParseStatement(b); err == nil {
			t.Errorf("%s: accepted", name)
		} else if e, ok := AsError(err); !ok || e.Code != CodeMalformed {
			t.Errorf("%s: %v; want %s", name, err, CodeMalformed)
		}
	}
	for name, p := range map[string][]uint32{"hardened": {1 << 31}, "depth 256": slices.Repeat([]uint32{1}, 256)} {
		s.Path = p
		if _, err := SignStatement(k, s, nil); err == nil {
			t.Errorf("signing a statement with a %s path: accepted", name)
		}
	}
}

// keygenStatement is browser-1's statement of a keygen in f's session.
func (f *fixture) keygenStatement(t *testing.T) *Statement {
	s := f.statement("browser-1")
	s.SessionKind, s.Digest = SessionKeygen, nil
	return s
}

// A reshare's statement carries what is handed over; a signing's carries
// its shares' epoch in version 2. Both round-trip, and every statement
// that describes another reshare or epoch than the view is refused.
func TestStatementReshareAndEpoch(t *testing.T) {
	f := newFixture(t, SessionSign)
	k := f.keys["server-1"]
	rs := &Reshare{Epoch: 3, OldThreshold: 2, Old: []string{"browser-1", "server-1"}, New: []string{"browser-1", "server-1", "server-2"},
		PublicKey: append([]byte{2}, bytes.Repeat([]byte{9}, 32)...), ChainCode: bytes.Repeat([]byte{8}, 32), ClientRequired: true}
	s := f.statement("server-1")
	s.SessionKind, s.Digest, s.Reshare = SessionReshare, nil, rs
	b := mustMarshal(t, s, k.Public())
	got, err := ParseStatement(b)
	if err != nil || !got.Reshare.Equal(rs) || got.Epoch != 0 || b[0] != 1 {
		t.Fatalf("reshare round trip: %+v, %v", got, err)
	}

	sign := f.statement("server-1")
	plain := mustMarshal(t, sign, k.Public())
	sign.Epoch = 7
	v2 := mustMarshal(t, sign, k.Public())
	// Version 2 is version 1 with the epoch after the session kind.
	want := append(append([]byte{2, plain[1]}, 0, 0, 0, 7), plain[2:]...)
	if !bytes.Equal(v2, want) {
		t.Fatalf("version 2 encoding:\n%x\nwant\n%x", v2, want)
	}
	if got, err := ParseStatement(v2); err != nil || got.Epoch != 7 {
		t.Fatalf("epoch round trip: %+v, %v", got, err)
	}

	for name, b := range map[string][]byte{
		"version 2 with epoch 0": append([]byte{2, plain[1], 0, 0, 0, 0}, plain[2:]...),
		"version 3":              append([]byte{3}, v2[1:]...),
		"reshare cut short":      b[:len(b)-1],
		"client_required 2":      append(bytes.Clone(b[:len(b)-1]), 2),
	} {
		if _, err := ParseStatement(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for name, mut := range map[string]func(s *Statement){
		"reshare without its spec":   func(s *Statement) { s.Reshare = nil },
		"a signing with a spec":      func(s *Statement) { s.SessionKind, s.Digest = SessionSign, make([]byte, 32) },
		"epoch 0 spec":               func(s *Statement) { s.Reshare.Epoch = 0 },
		"old threshold above old":    func(s *Statement) { s.Reshare.OldThreshold = 3 },
		"party in neither committee": func(s *Statement) { s.Reshare.New = []string{"browser-1", "server-1"} },
		"short public key":           func(s *Statement) { s.Reshare.PublicKey = s.Reshare.PublicKey[:32] },
		"keygen with an epoch":       func(s *Statement) { s.SessionKind, s.Reshare, s.Epoch = SessionKeygen, nil, 1 },
	} {
		c := *s
		cp := *rs
		cp.New = slices.Clone(rs.New)
		c.Reshare = &cp
		mut(&c)
		if _, err := SignStatement(k, &c, nil); err == nil {
			t.Errorf("%s: signed", name)
		}
	}

	// A co-managed wallet is reshared only with a client in the old
	// committee; a statement of another reshare is a mismatch.
	reshareRoster := func(spec *Reshare) map[string]*Entry {
		out := map[string]*Entry{}
		for _, id := range f.ids {
			st := f.statement(id)
			st.SessionKind, st.Digest, st.Reshare = SessionReshare, nil, spec
			out[id] = f.sign(t, id, st)
		}
		return out
	}
	rview := f.view
	rview.SessionKind, rview.Digest, rview.ClientRequired, rview.Reshare = SessionReshare, nil, false, rs
	if _, err := VerifyRoster(reshareRoster(rs), rview); err != nil {
		t.Fatalf("honest reshare roster: %v", err)
	}
	noClient := *rs
	noClient.Old = []string{"server-1", "server-2"}
	rview.Reshare = &noClient
	if _, err := VerifyRoster(reshareRoster(&noClient), rview); !errors.Is(err, ErrPolicy) {
		t.Fatalf("co-managed reshare without its client: %v", err)
	}
	other := *rs
	other.Epoch = 4
	rview.Reshare = rs
	if _, err := VerifyRoster(reshareRoster(&other), rview); !errors.Is(err, ErrMismatch) {
		t.Fatalf("statements of another reshare: %v", err)
	}

	// A view of another epoch: stale_epoch, naming the party.
	view := f.view
	view.Epoch = 1
	if _, err := VerifyRoster(f.entries, view); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("epoch 1 view of epoch 0 statements: %v", err)
	}
}

// A client's keygen statement sets the wallet's recovery policy (version
// 3); a reshare's carries it in its policy flags. Both round-trip, every
// other statement is refused one, and so is every malformed encoding.
func TestStatementRecovery(t *testing.T) {
	f := newFixture(t, SessionKeygen)
	kit := mustKey(t).Public()
	k := f.keys["browser-1"]
	for _, pol := range []Recovery{{Kit: kit}, {Backend: true}, {Kit: kit, Backend: true}} {
		s := f.keygenStatement(t)
		plain := mustMarshal(t, s, k.Public())
		s.Recovery = pol
		b := mustMarshal(t, s, k.Public())
		// Version 3 is version 1 with the policy after the session keys.
		want := append([]byte{3}, plain[1:]...)
		want = append(want, pol.flags())
		if !pol.Kit.IsZero() {
			want = append(want, pol.Kit[:]...)
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("%+v: encoding\n%x\nwant\n%x", pol, b, want)
		}
		got, err := ParseStatement(b)
		if err != nil || !got.Recovery.Equal(pol) {
			t.Fatalf("%+v: round trip %+v, %v", pol, got, err)
		}
		for name, bad := range map[string][]byte{
			"flags 0":      append(append([]byte{3}, plain[1:]...), 0),
			"flags 4":      append(append([]byte{3}, plain[1:]...), 4),
			"no flags":     append([]byte{3}, plain[1:]...),
			"cut short":    b[:len(b)-1],
			"zero kit":     append(append(append([]byte{3}, plain[1:]...), 1), make([]byte, 32)...),
			"trailing":     append(bytes.Clone(b), 0),
			"as version 1": append([]byte{1}, b[1:]...),
		} {
			if _, err := ParseStatement(bad); err == nil {
				t.Errorf("%+v: %s accepted", pol, name)
			}
		}
	}
	// Only a client's keygen statement sets one.
	s := f.statement("server-1")
	s.SessionKind, s.Digest, s.Recovery = SessionKeygen, nil, Recovery{Backend: true}
	if _, err := s.Marshal(); err == nil {
		t.Error("a server's keygen statement set a recovery policy")
	}
	s = f.statement("browser-1")
	s.SessionKind, s.Digest, s.Recovery = SessionSign, bytes.Repeat([]byte{1}, 32), Recovery{Backend: true}
	if _, err := s.Marshal(); err == nil {
		t.Error("a signing statement set a recovery policy")
	}

	// A reshare carries the policy in its flags.
	rs := &Reshare{Epoch: 1, OldThreshold: 2, Old: []string{"browser-1", "server-1"}, New: []string{"browser-1", "server-1", "server-2"},
		PublicKey: append([]byte{3}, bytes.Repeat([]byte{9}, 32)...), ChainCode: bytes.Repeat([]byte{8}, 32), ClientRequired: true,
		Recovery: Recovery{Kit: kit, Backend: true}}
	r := f.statement("server-1")
	r.SessionKind, r.Digest, r.Reshare = SessionReshare, nil, rs
	b := mustMarshal(t, r, f.keys["server-1"].Public())
	if b[len(b)-33] != 7 {
		t.Fatalf("reshare policy flags %#x; want 7", b[len(b)-33])
	}
	got, err := ParseStatement(b)
	if err != nil || !got.Reshare.Equal(rs) {
		t.Fatalf("reshare round trip: %+v, %v", got, err)
	}
	other := *rs
	other.Recovery = Recovery{Kit: kit}
	if got.Reshare.Equal(&other) {
		t.Fatal("reshares with different recovery policies compare equal")
	}
	zeroKit := append(bytes.Clone(b[:len(b)-32]), make([]byte, 32)...)
	if _, err := ParseStatement(zeroKit); err == nil {
		t.Error("a reshare with a zero kit key accepted")
	}
}
