package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"

	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/share"
)

// Fixtures of other packages, read by relative path: party/internal is not
// importable from here.
var (
	goldenSharePath = filepath.Join("..", "..", "party", "share", "testdata", "v1.json")
	preParamsPath   = filepath.Join("..", "..", "internal", "testkit", "preparams.json")
)

// goldenShare returns the share package's golden record, a real keygen's.
func goldenShare(t *testing.T) *share.Record {
	t.Helper()
	b, err := os.ReadFile(goldenSharePath)
	if err != nil {
		t.Fatal(err)
	}
	r, err := share.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// inWallet returns a copy of r as the share of another wallet (the wallet
// id is not part of the key material, so the copy is valid).
func inWallet(r *share.Record, walletID string) *share.Record {
	c := *r
	c.WalletID = walletID
	return &c
}

var (
	ppOnce sync.Once
	ppRaw  []json.RawMessage
	ppErr  error
)

// fixturePreParams returns fresh copies of the five fixture sets.
func fixturePreParams(t *testing.T) []*keygen.LocalPreParams {
	t.Helper()
	ppOnce.Do(func() {
		var b []byte
		if b, ppErr = os.ReadFile(preParamsPath); ppErr != nil {
			return
		}
		ppErr = json.Unmarshal(b, &ppRaw)
	})
	if ppErr != nil {
		t.Fatal(ppErr)
	}
	out := make([]*keygen.LocalPreParams, len(ppRaw))
	for i, raw := range ppRaw {
		pp, err := preparams.Unmarshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = pp
	}
	return out
}

func mustMarshalPP(t *testing.T, pp *keygen.LocalPreParams) []byte {
	t.Helper()
	b, err := preparams.Marshal(pp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustEncode(t *testing.T, r *share.Record) []byte {
	t.Helper()
	b, err := share.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t *testing.T) *MasterKey {
	t.Helper()
	s, err := GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseMasterKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The tests below run on both backends (forBackends): the vault's
// behaviour is the same in a directory and in PostgreSQL. What is proper
// to one backend is in filestore_test.go and postgres_test.go.

// testBackend is a fresh, empty store for one test. Every Vault open
// returns keeps its records there (the same directory; the same database
// and owner), as several processes of one server party would.
type testBackend interface {
	open(t *testing.T, k *MasterKey) *Vault
	openErr(k *MasterKey) (*Vault, error)
	// rawShare and setRawShare read and overwrite the stored record (the
	// vault file) of a share.
	rawShare(t *testing.T, walletID, partyID string) []byte
	setRawShare(t *testing.T, walletID, partyID string, b []byte)
	// rawPending and setRawPending are rawShare and setRawShare for a
	// pending share; rawPending returns nil if there is none.
	rawPending(t *testing.T, walletID, partyID string) []byte
	setRawPending(t *testing.T, walletID, partyID string, b []byte)
	deleteRawPending(t *testing.T, walletID, partyID string)
	// entries lists the pool, oldest first.
	entries(t *testing.T) []rawEntry
	setRawEntry(t *testing.T, id string, b []byte)
	// renameEntry gives an entry another id, record unchanged.
	renameEntry(t *testing.T, id, newID string)
	// setAside counts the entries TakePreParams set aside as corrupt;
	// asideNote is in the error that reports one.
	setAside(t *testing.T) int
	asideNote() string
	// checkClean fails t if the store holds anything but records
	// (temporary or claimed files) or a record readable by others.
	checkClean(t *testing.T)
}

type rawEntry struct {
	id  string
	rec []byte
}

// forBackends runs f on a fresh store of each backend.
func forBackends(t *testing.T, f func(t *testing.T, b testBackend)) {
	t.Run("file", func(t *testing.T) { f(t, newFileBackend(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, newPGBackend(t)) })
}

func mustOpen(t *testing.T, v *Vault, err error) *Vault {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encodeJSON(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestShareRoundTrip(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r := goldenShare(t)
		k := newKey(t)
		v := b.open(t, k)

		if v.HasShare(r.WalletID, r.PartyID) {
			t.Fatal("HasShare before PutShare")
		}
		if err := v.PutShare(r); err != nil {
			t.Fatal(err)
		}
		if !v.HasShare(r.WalletID, r.PartyID) {
			t.Fatal("HasShare after PutShare is false")
		}
		got, err := v.GetShare(r.WalletID, r.PartyID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(mustEncode(t, got), mustEncode(t, r)) {
			t.Fatal("share read back differs")
		}

		// A second Vault on the same store reads it too.
		got, err = b.open(t, k).GetShare(r.WalletID, r.PartyID)
		if err != nil || !bytes.Equal(mustEncode(t, got), mustEncode(t, r)) {
			t.Fatalf("reopened: %v", err)
		}

		// The record: the documented header, nothing of the plaintext.
		raw := b.rawShare(t, r.WalletID, r.PartyID)
		m := decodeJSON(t, raw)
		if m["format"] != "tsskit.vault" || m["version"] != 1.0 || m["kind"] != "share" ||
			m["wallet_id"] != r.WalletID || m["party_id"] != r.PartyID || m["key_id"] != k.ID() {
			t.Fatalf("header %v", m)
		}
		if len(m) != 8 {
			t.Fatalf("record has %d keys, want 8", len(m))
		}
		nonce, err := base64.StdEncoding.DecodeString(m["nonce"].(string))
		if err != nil || len(nonce) != 12 {
			t.Fatalf("nonce: %v, %d bytes", err, len(nonce))
		}
		for _, s := range []string{"save_data", "tsskit.share", r.PublicKeyHex(), r.SaveData.Xi.String()} {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("record contains plaintext %.20q", s)
			}
		}

		// A fresh nonce per write: the same record in another wallet.
		r2 := inWallet(r, "wallet-2")
		if err := v.PutShare(r2); err != nil {
			t.Fatal(err)
		}
		if m2 := decodeJSON(t, b.rawShare(t, r2.WalletID, r2.PartyID)); m2["nonce"] == m["nonce"] {
			t.Fatal("nonce repeated")
		}

		refs, err := v.ListShares()
		if err != nil {
			t.Fatal(err)
		}
		want := []ShareRef{{WalletID: r.WalletID, PartyID: r.PartyID, KeyID: k.ID()}, {WalletID: r2.WalletID, PartyID: r2.PartyID, KeyID: k.ID()}}
		if !slices.Equal(refs, want) {
			t.Fatalf("ListShares %v, want %v", refs, want)
		}
		b.checkClean(t)
	})
}

// TestShareOddIDs: wallet ids may hold characters a file name or a query
// must not: / .. \ and "|", which also separates the AAD fields.
func TestShareOddIDs(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r := goldenShare(t)
		v := b.open(t, newKey(t))
		ids := []string{"../../etc/passwd", `a\b`, "x|y", "..", "server-1/../../z", "';DROP_TABLE_vault_shares;--"}
		for _, id := range ids {
			if err := v.PutShare(inWallet(r, id)); err != nil {
				t.Fatalf("%q: %v", id, err)
			}
			if _, err := v.GetShare(id, r.PartyID); err != nil {
				t.Fatalf("%q: %v", id, err)
			}
		}
		refs, err := v.ListShares()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		if len(refs) != len(ids) {
			t.Fatalf("%d shares listed, want %d", len(refs), len(ids))
		}
		for i, ref := range refs {
			if ref.WalletID != ids[i] || ref.PartyID != r.PartyID {
				t.Fatalf("ListShares[%d] = %v, want wallet %q", i, ref, ids[i])
			}
		}
		b.checkClean(t)
	})
}

func TestShareArguments(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r := goldenShare(t)
		v := b.open(t, newKey(t))

		_, err := v.GetShare(r.WalletID, r.PartyID)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
		for _, ids := range [][2]string{{"", r.PartyID}, {r.WalletID, ""}, {"a b", r.PartyID}, {r.WalletID, "a\nb"}, {strings.Repeat("w", 129), r.PartyID}} {
			if _, err := v.GetShare(ids[0], ids[1]); !errors.Is(err, ErrInvalid) {
				t.Errorf("GetShare(%q, %q): got %v, want ErrInvalid", ids[0], ids[1], err)
			}
			if v.HasShare(ids[0], ids[1]) {
				t.Errorf("HasShare(%q, %q)", ids[0], ids[1])
			}
		}
		if err := v.PutShare(nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("nil record: %v", err)
		}
		bad := *r
		bad.Threshold = 7
		if err := v.PutShare(&bad); !errors.Is(err, ErrInvalid) || !errors.Is(err, share.ErrInconsistent) {
			t.Fatalf("invalid record: %v", err)
		}
		if _, err := b.openErr(nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("open without key: %v", err)
		}
	})
}

func TestShareOverwriteRefused(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r := goldenShare(t)
		k := newKey(t)
		v := b.open(t, k)
		if err := v.PutShare(r); err != nil {
			t.Fatal(err)
		}
		before := b.rawShare(t, r.WalletID, r.PartyID)
		err := v.PutShare(r)
		if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "never replaced") {
			t.Fatalf("second PutShare: got %v, want ErrExists", err)
		}
		if after := b.rawShare(t, r.WalletID, r.PartyID); !bytes.Equal(before, after) {
			t.Fatal("existing share was modified")
		}
		// Also from another Vault under another key.
		if err := b.open(t, newKey(t)).PutShare(r); !errors.Is(err, ErrExists) {
			t.Fatalf("PutShare under another key: got %v, want ErrExists", err)
		}
		// Racing writers, each its own Vault: exactly one wins.
		r2 := inWallet(r, "race")
		vaults := make([]*Vault, 8)
		for i := range vaults {
			vaults[i] = b.open(t, k)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(vaults))
		for i, vi := range vaults {
			wg.Go(func() { errs[i] = vi.PutShare(r2) })
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, ErrExists):
				t.Fatal(err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d writers succeeded, want 1", wins)
		}
		if refs, err := v.ListShares(); err != nil || len(refs) != 2 {
			t.Fatalf("ListShares: %v, %v; want 2 shares", refs, err)
		}
		b.checkClean(t)
	})
}

func TestShareWrongKey(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r := goldenShare(t)
		k1, k2 := newKey(t), newKey(t)
		if err := b.open(t, k1).PutShare(r); err != nil {
			t.Fatal(err)
		}
		_, err := b.open(t, k2).GetShare(r.WalletID, r.PartyID)
		if !errors.Is(err, ErrWrongKey) {
			t.Fatalf("got %v, want ErrWrongKey", err)
		}
		if !strings.Contains(err.Error(), k1.ID()) || !strings.Contains(err.Error(), k2.ID()) {
			t.Fatalf("%q does not name both key ids", err)
		}
		var e *Error
		if !errors.As(err, &e) || e.FileKeyID != k1.ID() || e.VaultKeyID != k2.ID() {
			t.Fatalf("error fields: %#v", err)
		}
	})
}

func TestShareTampered(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r := goldenShare(t)
		k := newKey(t)
		v := b.open(t, k)
		w1, w2 := inWallet(r, "wallet-1"), inWallet(r, "wallet-2")
		for _, rec := range []*share.Record{w1, w2} {
			if err := v.PutShare(rec); err != nil {
				t.Fatal(err)
			}
		}
		orig1 := b.rawShare(t, w1.WalletID, w1.PartyID)
		orig2 := b.rawShare(t, w2.WalletID, w2.PartyID)
		set2 := func(rec []byte) { b.setRawShare(t, w2.WalletID, w2.PartyID, rec) }
		restore := func() {
			b.setRawShare(t, w1.WalletID, w1.PartyID, orig1)
			set2(orig2)
		}
		getW2 := func() error {
			_, err := v.GetShare(w2.WalletID, w2.PartyID)
			return err
		}
		edit := func(f func(m map[string]any)) func() {
			return func() {
				m := decodeJSON(t, orig2)
				f(m)
				set2(encodeJSON(t, m))
			}
		}
		flip := func(field string, i int) func() {
			return edit(func(m map[string]any) {
				b, _ := base64.StdEncoding.DecodeString(m[field].(string))
				b[(i+len(b))%len(b)] ^= 1
				m[field] = base64.StdEncoding.EncodeToString(b)
			})
		}
		cases := map[string]func(){
			"ciphertext first byte": flip("ciphertext", 0),
			"ciphertext middle":     flip("ciphertext", len(orig2)/3),
			"GCM tag":               flip("ciphertext", -1),
			"nonce":                 flip("nonce", 5),
			"truncated ciphertext": edit(func(m map[string]any) {
				b, _ := base64.StdEncoding.DecodeString(m["ciphertext"].(string))
				m["ciphertext"] = base64.StdEncoding.EncodeToString(b[:len(b)-1])
			}),
			// wallet-1's record in wallet-2's place, header and all.
			"swapped record": func() { set2(orig1) },
			// ... with the header edited to wallet-2: only the AAD catches it.
			"swapped ciphertext (AAD)": edit(func(m map[string]any) {
				m1 := decodeJSON(t, orig1)
				m["nonce"], m["ciphertext"] = m1["nonce"], m1["ciphertext"]
			}),
			"header party edited": edit(func(m map[string]any) { m["party_id"] = "server-1" }),
			"not JSON":            func() { set2([]byte("garbage")) },
			"empty":               func() { set2(nil) },
			"trailing data":       func() { set2(append(append([]byte(nil), orig2...), "{}"...)) },
			"too large":           func() { set2(append(append([]byte(nil), orig2...), bytes.Repeat([]byte(" "), maxFileSize)...)) },
			"unknown field":       edit(func(m map[string]any) { m["extra"] = 1 }),
			"wrong format":        edit(func(m map[string]any) { m["format"] = "other" }),
			"wrong version":       edit(func(m map[string]any) { m["version"] = 2 }),
			"wrong kind":          edit(func(m map[string]any) { m["kind"] = "preparams" }),
			"bad key_id":          edit(func(m map[string]any) { m["key_id"] = "xyz" }),
			"missing nonce":       edit(func(m map[string]any) { delete(m, "nonce") }),
			"short nonce":         edit(func(m map[string]any) { m["nonce"] = "AAAA" }),
			"no ciphertext":       edit(func(m map[string]any) { m["ciphertext"] = "" }),
			"invalid header":      edit(func(m map[string]any) { m["wallet_id"] = "a b" }),
		}
		for name, tamper := range cases {
			tamper()
			err := getW2()
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: got %v, want ErrCorrupt", name, err)
			}
			restore()
		}
		if err := getW2(); err != nil {
			t.Fatalf("after restoring: %v", err)
		}

		// ListShares checks that records are where their headers say.
		set2(orig1)
		if _, err := v.ListShares(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ListShares with a swapped record: got %v, want ErrCorrupt", err)
		}
		restore()

		// Errors never quote plaintext.
		flip("ciphertext", 0)()
		if err := getW2(); strings.Contains(err.Error(), r.SaveData.Xi.String()) || strings.Contains(err.Error(), r.PublicKeyHex()) {
			t.Fatalf("error quotes the share: %v", err)
		}
	})
}

func TestPreParamsRoundTrip(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		pps := fixturePreParams(t)
		k := newKey(t)
		v := b.open(t, k)

		if _, err := v.TakePreParams(); !errors.Is(err, ErrEmpty) {
			t.Fatalf("empty pool: got %v, want ErrEmpty", err)
		}
		var ids []string
		for i := range 3 {
			if i == 2 {
				v = b.open(t, k) // order survives reopening
			}
			id, err := v.PutPreParams(pps[i])
			if err != nil {
				t.Fatal(err)
			}
			if !isLowerHex(id, 32) || slices.Contains(ids, id) {
				t.Fatalf("entry id %q", id)
			}
			ids = append(ids, id)
		}
		if n := v.CountPreParams(); n != 3 {
			t.Fatalf("CountPreParams %d, want 3", n)
		}
		entries := b.entries(t)
		if len(entries) != 3 {
			t.Fatalf("%d entries stored, want 3", len(entries))
		}
		for i, e := range entries {
			if e.id != ids[i] {
				t.Fatalf("entry %d is %s, want %s", i, e.id, ids[i])
			}
			m := decodeJSON(t, e.rec)
			if m["format"] != "tsskit.vault" || m["kind"] != "preparams" || m["key_id"] != k.ID() || m["wallet_id"] != nil || m["party_id"] != nil || len(m) != 6 {
				t.Fatalf("header %v", m)
			}
			if bytes.Contains(e.rec, []byte(pps[i].NTildei.String()[:40])) || bytes.Contains(e.rec, []byte("PaillierSK")) {
				t.Fatal("record contains plaintext")
			}
		}
		b.checkClean(t)

		for i := range 3 { // oldest first
			got, err := v.TakePreParams()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mustMarshalPP(t, got), mustMarshalPP(t, pps[i])) {
				t.Fatalf("take %d: not entry %d", i, i)
			}
			if n := v.CountPreParams(); n != 2-i {
				t.Fatalf("CountPreParams %d, want %d", n, 2-i)
			}
		}
		if _, err := v.TakePreParams(); !errors.Is(err, ErrEmpty) {
			t.Fatalf("drained pool: got %v, want ErrEmpty", err)
		}
		if entries := b.entries(t); len(entries) != 0 {
			t.Fatalf("%d entries left", len(entries))
		}
		b.checkClean(t)

		bad := *pps[3]
		bad.H1i = bad.H2i
		if _, err := v.PutPreParams(&bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("invalid pre-parameters: got %v, want ErrInvalid", err)
		}
		if _, err := v.PutPreParams(nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("nil pre-parameters: got %v, want ErrInvalid", err)
		}
	})
}

func TestPreParamsTampered(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		pps := fixturePreParams(t)
		v := b.open(t, newKey(t))
		first, err := v.PutPreParams(pps[0])
		if err != nil {
			t.Fatal(err)
		}
		second, err := v.PutPreParams(pps[1])
		if err != nil {
			t.Fatal(err)
		}

		// The first entry under another id: the AAD no longer matches.
		b.renameEntry(t, first, strings.Repeat("0", 32))
		_, err = v.TakePreParams()
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), b.asideNote()) {
			t.Fatalf("renamed entry: got %v, want ErrCorrupt", err)
		}
		if n := b.setAside(t); n != 1 {
			t.Fatalf("%d entries set aside, want 1", n)
		}
		if n := v.CountPreParams(); n != 1 {
			t.Fatalf("CountPreParams %d, want 1", n)
		}

		// A flipped ciphertext bit in the second.
		m := decodeJSON(t, b.entries(t)[0].rec)
		ct, _ := base64.StdEncoding.DecodeString(m["ciphertext"].(string))
		ct[100] ^= 0x80
		m["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
		b.setRawEntry(t, second, encodeJSON(t, m))
		if _, err := v.TakePreParams(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("tampered entry: got %v, want ErrCorrupt", err)
		}
		if _, err := v.TakePreParams(); !errors.Is(err, ErrEmpty) {
			t.Fatalf("got %v, want ErrEmpty", err)
		}
		if n := b.setAside(t); n != 2 {
			t.Fatalf("%d entries set aside, want 2", n)
		}
	})
}

func TestPreParamsWrongKey(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		pps := fixturePreParams(t)
		k1, k2 := newKey(t), newKey(t)
		if _, err := b.open(t, k1).PutPreParams(pps[0]); err != nil {
			t.Fatal(err)
		}
		v2 := b.open(t, k2)
		_, err := v2.TakePreParams()
		if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), k1.ID()) || !strings.Contains(err.Error(), k2.ID()) {
			t.Fatalf("got %v, want ErrWrongKey naming both key ids", err)
		}
		if n := v2.CountPreParams(); n != 1 {
			t.Fatalf("entry under another key not put back: count %d", n)
		}
		got, err := b.open(t, k1).TakePreParams()
		if err != nil || !bytes.Equal(mustMarshalPP(t, got), mustMarshalPP(t, pps[0])) {
			t.Fatalf("take under the right key: %v", err)
		}
		b.checkClean(t)
	})
}

// distinctPreParams returns n distinct valid pre-parameters, told apart
// by H1i: the first fixture set with h1, h2 raised to the power 3, 5, 7,
// … modulo NTilde, which keeps h2 = h1^alpha and h1 a generator of the
// quadratic residues (the exponent is prime to P·Q), at the cost of two
// exponentiations rather than a fresh set's prime checks.
func distinctPreParams(t *testing.T, n int) []*keygen.LocalPreParams {
	t.Helper()
	base := fixturePreParams(t)[0]
	out := make([]*keygen.LocalPreParams, n)
	for i := range out {
		pp := *base // the other values are shared, and only read
		e := big.NewInt(int64(3 + 2*i))
		pp.H1i = new(big.Int).Exp(base.H1i, e, base.NTildei)
		pp.H2i = new(big.Int).Exp(base.H2i, e, base.NTildei)
		out[i] = &pp
	}
	return out
}

// putAll adds pps to v's pool concurrently.
func putAll(t *testing.T, v *Vault, pps []*keygen.LocalPreParams) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(pps))
	for i, pp := range pps {
		wg.Go(func() { _, errs[i] = v.PutPreParams(pp) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestTakePreParamsConcurrent(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		const entries, takers = 12, 8
		k := newKey(t)
		v := b.open(t, k)
		putAll(t, v, distinctPreParams(t, entries))
		if n := v.CountPreParams(); n != entries {
			t.Fatalf("CountPreParams %d, want %d", n, entries)
		}

		// Takers on one Vault and, as other processes would, on others.
		vaults := []*Vault{v, v, v, v, v, b.open(t, k), b.open(t, k), b.open(t, k)}
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			seen = map[string]int{}
		)
		takeErrs := make([]error, takers)
		for i := range takers {
			wg.Go(func() {
				for {
					pp, err := vaults[i].TakePreParams()
					if errors.Is(err, ErrEmpty) {
						return
					}
					if err != nil {
						takeErrs[i] = err
						return
					}
					mu.Lock()
					seen[pp.H1i.String()]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if err := errors.Join(takeErrs...); err != nil {
			t.Fatal(err)
		}
		if len(seen) != entries {
			t.Fatalf("%d distinct entries taken, want %d", len(seen), entries)
		}
		for _, n := range seen {
			if n != 1 {
				t.Fatal("an entry was handed out twice")
			}
		}
		if n := v.CountPreParams(); n != 0 {
			t.Fatalf("CountPreParams %d after draining", n)
		}
		b.checkClean(t)
	})
}

func TestRotate(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r := goldenShare(t)
		pps := fixturePreParams(t)
		k1, k2 := newKey(t), newKey(t)
		v := b.open(t, k1)
		shares := []*share.Record{inWallet(r, "wallet-a"), inWallet(r, "wallet-b")}
		for _, s := range shares {
			if err := v.PutShare(s); err != nil {
				t.Fatal(err)
			}
		}
		for _, pp := range pps[:2] {
			if _, err := v.PutPreParams(pp); err != nil {
				t.Fatal(err)
			}
		}
		// One share already under k2, as an interrupted Rotate leaves it.
		third := inWallet(r, "wallet-c")
		if err := b.open(t, k2).PutShare(third); err != nil {
			t.Fatal(err)
		}
		shares = append(shares, third)
		// A pending share, which Rotate rewraps too, and one of a party
		// that joins wallet-d, with no active share.
		pending := []*share.Record{atEpoch(t, shares[0], 1), inWallet(atEpoch(t, r, 1), "wallet-d")}
		for _, p := range pending {
			if err := v.PutPendingShare(p); err != nil {
				t.Fatal(err)
			}
		}

		n, err := v.Rotate(k2)
		if err != nil {
			t.Fatal(err)
		}
		if n != 6 {
			t.Fatalf("Rotate rewrote %d records, want 6", n)
		}
		if v.KeyID() != k2.ID() {
			t.Fatal("Vault does not use the new key")
		}
		refs, err := v.ListShares()
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range refs {
			if ref.KeyID != k2.ID() {
				t.Fatalf("%v not under the new key", ref)
			}
		}
		for _, vv := range []*Vault{v, b.open(t, k2)} {
			for _, s := range shares {
				got, err := vv.GetShare(s.WalletID, s.PartyID)
				if err != nil || !bytes.Equal(mustEncode(t, got), mustEncode(t, s)) {
					t.Fatalf("after Rotate: %v", err)
				}
			}
		}
		if _, err := b.open(t, k1).GetShare(shares[0].WalletID, shares[0].PartyID); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("old key after Rotate: got %v, want ErrWrongKey", err)
		}
		for _, p := range pending {
			if m := decodeJSON(t, b.rawPending(t, p.WalletID, p.PartyID)); m["key_id"] != k2.ID() {
				t.Fatalf("pending share of %s not under the new key", p.WalletID)
			}
			got, err := b.open(t, k2).GetPendingShare(p.WalletID, p.PartyID)
			if err != nil || !bytes.Equal(mustEncode(t, got), mustEncode(t, p)) {
				t.Fatalf("pending share after Rotate: %v", err)
			}
			if _, err := b.open(t, k1).GetPendingShare(p.WalletID, p.PartyID); !errors.Is(err, ErrWrongKey) {
				t.Fatalf("pending share, old key after Rotate: got %v, want ErrWrongKey", err)
			}
		}
		b.checkClean(t)

		// Again: nothing to do.
		if n, err := v.Rotate(k2); err != nil || n != 0 {
			t.Fatalf("second Rotate: %d, %v", n, err)
		}

		// A record under a third key stops Rotate before anything changes.
		k3, k4 := newKey(t), newKey(t)
		if _, err := b.open(t, k3).PutPreParams(pps[2]); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Rotate(k4); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("Rotate with a record under a third key: got %v, want ErrWrongKey", err)
		}
		if v.KeyID() != k2.ID() {
			t.Fatal("failed Rotate changed the key")
		}
		if refs, _ := v.ListShares(); refs[0].KeyID != k2.ID() {
			t.Fatal("failed Rotate rewrote a record")
		}
		// So does a share record whose header does not parse.
		b.setRawPending(t, "wallet-unreadable", pending[0].PartyID, []byte("not a vault record"))
		if _, err := v.Rotate(k4); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Rotate with an unreadable share record: got %v, want ErrCorrupt", err)
		}
		if v.KeyID() != k2.ID() {
			t.Fatal("failed Rotate changed the key")
		}
		b.deleteRawPending(t, "wallet-unreadable", pending[0].PartyID)

		// The rewrapped pending shares activate under the new key.
		for _, p := range pending {
			if err := v.ActivateShare(p.WalletID, p.PartyID, 1); err != nil {
				t.Fatal(err)
			}
			got, err := v.GetShare(p.WalletID, p.PartyID)
			if err != nil || !bytes.Equal(mustEncode(t, got), mustEncode(t, p)) {
				t.Fatalf("activated after Rotate: %v", err)
			}
		}

		// The pre-parameters entries come out under the new key, oldest first.
		for i := range 2 {
			got, err := v.TakePreParams()
			if err != nil || !bytes.Equal(mustMarshalPP(t, got), mustMarshalPP(t, pps[i])) {
				t.Fatalf("take %d after Rotate: %v", i, err)
			}
		}

		if _, err := v.Rotate(nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Rotate(nil): %v", err)
		}
	})
}

// failingStore fails replace, as a crash or a lost connection would, after
// letting ok calls through.
type failingStore struct {
	backend
	ok int
}

func (s *failingStore) replace(r *stored, rec []byte) error {
	if s.ok == 0 {
		return newErr(ErrIO, r.where, "injected failure", nil)
	}
	s.ok--
	return s.backend.replace(r, rec)
}

// TestRotateInterrupted: a Rotate that fails midway leaves the Vault on
// its key and some records under the new one; Rotate called again goes on
// where it stopped, and every record ends under the new key.
func TestRotateInterrupted(t *testing.T) {
	forBackends(t, func(t *testing.T, b testBackend) {
		r := goldenShare(t)
		pps := fixturePreParams(t)
		k1, k2 := newKey(t), newKey(t)
		v := b.open(t, k1)
		var shares []*share.Record
		for _, w := range []string{"wallet-a", "wallet-b", "wallet-c"} {
			s := inWallet(r, w)
			if err := v.PutShare(s); err != nil {
				t.Fatal(err)
			}
			shares = append(shares, s)
		}
		for _, pp := range pps[:2] {
			if _, err := v.PutPreParams(pp); err != nil {
				t.Fatal(err)
			}
		}
		// A pending share, rewrapped after the shares, before the pool.
		pending := atEpoch(t, shares[1], 1)
		if err := v.PutPendingShare(pending); err != nil {
			t.Fatal(err)
		}
		store := v.store
		underNew := func() int {
			n := 0
			refs, err := v.ListShares()
			if err != nil {
				t.Fatal(err)
			}
			for _, ref := range refs {
				if ref.KeyID == k2.ID() {
					n++
				}
			}
			if decodeJSON(t, b.rawPending(t, pending.WalletID, pending.PartyID))["key_id"] == k2.ID() {
				n++
			}
			for _, e := range b.entries(t) {
				if decodeJSON(t, e.rec)["key_id"] == k2.ID() {
					n++
				}
			}
			return n
		}

		// Interrupted after two shares: the third share and the pool are
		// still under k1.
		v.store = &failingStore{store, 2}
		n, err := v.Rotate(k2)
		if !errors.Is(err, ErrIO) || n != 2 {
			t.Fatalf("interrupted Rotate: %d, %v; want 2 and the failure", n, err)
		}
		if v.KeyID() != k1.ID() {
			t.Fatal("interrupted Rotate changed the key")
		}
		if got := underNew(); got != 2 {
			t.Fatalf("%d records under the new key, want 2", got)
		}
		// Until rotated, the records under k2 are ErrWrongKey to the
		// Vault, which says to run the rotation again.
		refs, err := v.ListShares()
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range refs {
			_, err := v.GetShare(ref.WalletID, ref.PartyID)
			if ref.KeyID == k2.ID() && (!errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "run it again")) {
				t.Fatalf("share already rotated, read under the old key: %v", err)
			}
			if ref.KeyID == k1.ID() && err != nil {
				t.Fatalf("share not yet rotated: %v", err)
			}
		}

		// Interrupted again, after the last share, the pending share and
		// the first entry.
		v.store = &failingStore{store, 3}
		if n, err := v.Rotate(k2); !errors.Is(err, ErrIO) || n != 3 {
			t.Fatalf("second interrupted Rotate: %d, %v; want 3", n, err)
		}
		if got := underNew(); got != 5 {
			t.Fatalf("%d records under the new key, want 5", got)
		}
		// The pending share is under k2: ErrWrongKey, nothing changed.
		if _, err := v.GetPendingShare(pending.WalletID, pending.PartyID); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("pending share already rotated, read under the old key: %v", err)
		}
		if err := v.ActivateShare(pending.WalletID, pending.PartyID, 1); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("activating a pending share under the new key with the old: %v", err)
		}
		// The oldest entry is under k2 now: put back, not lost.
		if _, err := v.TakePreParams(); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("take under the old key: %v", err)
		}
		if n := v.CountPreParams(); n != 2 {
			t.Fatalf("CountPreParams %d, want 2", n)
		}

		// Resumed: only the last entry is left to do.
		v.store = store
		if n, err := v.Rotate(k2); err != nil || n != 1 {
			t.Fatalf("resumed Rotate: %d, %v; want 1", n, err)
		}
		if got := underNew(); got != 6 {
			t.Fatalf("%d records under the new key, want 6", got)
		}
		fresh := b.open(t, k2)
		got, err := fresh.GetPendingShare(pending.WalletID, pending.PartyID)
		if err != nil || !bytes.Equal(mustEncode(t, got), mustEncode(t, pending)) {
			t.Fatalf("pending share after the resumed Rotate: %v", err)
		}
		for _, s := range shares {
			got, err := fresh.GetShare(s.WalletID, s.PartyID)
			if err != nil || !bytes.Equal(mustEncode(t, got), mustEncode(t, s)) {
				t.Fatalf("after the resumed Rotate: %v", err)
			}
		}
		for i := range 2 {
			got, err := fresh.TakePreParams()
			if err != nil || !bytes.Equal(mustMarshalPP(t, got), mustMarshalPP(t, pps[i])) {
				t.Fatalf("take %d after the resumed Rotate: %v", i, err)
			}
		}
		b.checkClean(t)
	})
}
