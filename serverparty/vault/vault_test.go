package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
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

func openVault(t *testing.T, dir string, k *MasterKey) *Vault {
	t.Helper()
	v, err := Open(dir, k)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sharePath(v *Vault, walletID, partyID string) string {
	return filepath.Join(v.Dir(), sharesDir, shareFileName(walletID, partyID))
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeJSON(t *testing.T, path string, m map[string]any) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}

func TestShareRoundTrip(t *testing.T) {
	r := goldenShare(t)
	k := newKey(t)
	dir := filepath.Join(t.TempDir(), "vault")
	v := openVault(t, dir, k)

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

	// A second Vault on the same directory reads it too.
	got, err = openVault(t, dir, k).GetShare(r.WalletID, r.PartyID)
	if err != nil || !bytes.Equal(mustEncode(t, got), mustEncode(t, r)) {
		t.Fatalf("reopened: %v", err)
	}

	// The file: the documented header, nothing of the plaintext.
	path := sharePath(v, r.WalletID, r.PartyID)
	m := readJSON(t, path)
	if m["format"] != "tsskit.vault" || m["version"] != 1.0 || m["kind"] != "share" ||
		m["wallet_id"] != r.WalletID || m["party_id"] != r.PartyID || m["key_id"] != k.ID() {
		t.Fatalf("header %v", m)
	}
	if len(m) != 8 {
		t.Fatalf("file has %d keys, want 8", len(m))
	}
	nonce, err := base64.StdEncoding.DecodeString(m["nonce"].(string))
	if err != nil || len(nonce) != 12 {
		t.Fatalf("nonce: %v, %d bytes", err, len(nonce))
	}
	raw, _ := os.ReadFile(path)
	for _, s := range []string{"save_data", "tsskit.share", r.PublicKeyHex(), r.SaveData.Xi.String()} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("file contains plaintext %.20q", s)
		}
	}

	// Modes and no leftovers.
	checkMode(t, dir, 0o700)
	checkMode(t, filepath.Join(dir, sharesDir), 0o700)
	checkMode(t, filepath.Join(dir, preParamsDir), 0o700)
	checkMode(t, path, 0o600)
	entries, _ := os.ReadDir(filepath.Join(dir, sharesDir))
	if len(entries) != 1 {
		t.Fatalf("%d files in shares/, want 1", len(entries))
	}

	// A fresh nonce per write: the same record in another wallet.
	r2 := inWallet(r, "wallet-2")
	if err := v.PutShare(r2); err != nil {
		t.Fatal(err)
	}
	if m2 := readJSON(t, sharePath(v, r2.WalletID, r2.PartyID)); m2["nonce"] == m["nonce"] {
		t.Fatal("nonce repeated")
	}

	refs, err := v.ListShares()
	if err != nil {
		t.Fatal(err)
	}
	want := []ShareRef{{r.WalletID, r.PartyID, k.ID()}, {r2.WalletID, r2.PartyID, k.ID()}}
	if !slices.Equal(refs, want) {
		t.Fatalf("ListShares %v, want %v", refs, want)
	}
}

func TestShareFileNames(t *testing.T) {
	r := goldenShare(t)
	v := openVault(t, t.TempDir(), newKey(t))
	// Party ids may hold characters a file name must not: / .. \ and "|",
	// which also separates the AAD fields.
	for _, id := range []string{"../../etc/passwd", `a\b`, "x|y", "..", "server-1/../../z"} {
		rec := *r
		rec.WalletID = id
		if err := v.PutShare(&rec); err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if _, err := v.GetShare(id, r.PartyID); err != nil {
			t.Fatalf("%q: %v", id, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(v.Dir(), sharesDir))
	for _, e := range entries {
		if !isShareFileName(e.Name()) {
			t.Errorf("unexpected file %q", e.Name())
		}
	}
	if len(entries) != 5 {
		t.Fatalf("%d files, want 5", len(entries))
	}
	// "a|b"+"|"+"c" and "a"+"|"+"b|c" name different files.
	if shareFileName("a|b", "c") == shareFileName("a", "b|c") {
		t.Fatal("file names collide")
	}
}

func TestShareArguments(t *testing.T) {
	r := goldenShare(t)
	v := openVault(t, t.TempDir(), newKey(t))

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
	if _, err := Open(t.TempDir(), nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open without key: %v", err)
	}
}

func TestShareOverwriteRefused(t *testing.T) {
	r := goldenShare(t)
	v := openVault(t, t.TempDir(), newKey(t))
	if err := v.PutShare(r); err != nil {
		t.Fatal(err)
	}
	path := sharePath(v, r.WalletID, r.PartyID)
	before, _ := os.ReadFile(path)
	err := v.PutShare(r)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second PutShare: got %v, want ErrExists", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("existing share was modified")
	}
	// Also from another Vault under another key.
	if err := openVault(t, v.Dir(), newKey(t)).PutShare(r); !errors.Is(err, ErrExists) {
		t.Fatalf("PutShare under another key: got %v, want ErrExists", err)
	}
	// Racing writers: exactly one wins.
	r2 := inWallet(r, "race")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = openVault(t, v.Dir(), v.key).PutShare(r2) })
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
	entries, _ := os.ReadDir(filepath.Join(v.Dir(), sharesDir))
	if len(entries) != 2 {
		t.Fatalf("%d files in shares/, want 2 (temporary files left?)", len(entries))
	}
}

func TestShareWrongKey(t *testing.T) {
	r := goldenShare(t)
	k1, k2 := newKey(t), newKey(t)
	dir := t.TempDir()
	if err := openVault(t, dir, k1).PutShare(r); err != nil {
		t.Fatal(err)
	}
	_, err := openVault(t, dir, k2).GetShare(r.WalletID, r.PartyID)
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
}

func TestShareTampered(t *testing.T) {
	r := goldenShare(t)
	k := newKey(t)
	v := openVault(t, t.TempDir(), k)
	w1, w2 := inWallet(r, "wallet-1"), inWallet(r, "wallet-2")
	for _, rec := range []*share.Record{w1, w2} {
		if err := v.PutShare(rec); err != nil {
			t.Fatal(err)
		}
	}
	p1, p2 := sharePath(v, w1.WalletID, w1.PartyID), sharePath(v, w2.WalletID, w2.PartyID)
	orig1, _ := os.ReadFile(p1)
	orig2, _ := os.ReadFile(p2)
	restore := func() {
		os.WriteFile(p1, orig1, 0o600)
		os.WriteFile(p2, orig2, 0o600)
	}
	getW2 := func() error {
		_, err := v.GetShare(w2.WalletID, w2.PartyID)
		return err
	}
	flip := func(field string, i int) func() {
		return func() {
			m := readJSON(t, p2)
			b, _ := base64.StdEncoding.DecodeString(m[field].(string))
			b[(i+len(b))%len(b)] ^= 1
			m[field] = base64.StdEncoding.EncodeToString(b)
			writeJSON(t, p2, m)
		}
	}
	cases := map[string]func(){
		"ciphertext first byte": flip("ciphertext", 0),
		"ciphertext middle":     flip("ciphertext", len(orig2)/3),
		"GCM tag":               flip("ciphertext", -1),
		"nonce":                 flip("nonce", 5),
		"truncated ciphertext": func() {
			m := readJSON(t, p2)
			b, _ := base64.StdEncoding.DecodeString(m["ciphertext"].(string))
			m["ciphertext"] = base64.StdEncoding.EncodeToString(b[:len(b)-1])
			writeJSON(t, p2, m)
		},
		// wallet-1's file in wallet-2's place, header and all.
		"swapped file": func() { os.WriteFile(p2, orig1, 0o600) },
		// ... with the header edited to wallet-2: only the AAD catches it.
		"swapped ciphertext (AAD)": func() {
			m1, m := readJSON(t, p1), readJSON(t, p2)
			m["nonce"], m["ciphertext"] = m1["nonce"], m1["ciphertext"]
			writeJSON(t, p2, m)
		},
		"header party edited": func() {
			m := readJSON(t, p2)
			m["party_id"] = "server-1"
			writeJSON(t, p2, m)
		},
		"not JSON":       func() { os.WriteFile(p2, []byte("garbage"), 0o600) },
		"empty":          func() { os.WriteFile(p2, nil, 0o600) },
		"trailing data":  func() { os.WriteFile(p2, append(append([]byte(nil), orig2...), "{}"...), 0o600) },
		"unknown field":  func() { m := readJSON(t, p2); m["extra"] = 1; writeJSON(t, p2, m) },
		"wrong format":   func() { m := readJSON(t, p2); m["format"] = "other"; writeJSON(t, p2, m) },
		"wrong version":  func() { m := readJSON(t, p2); m["version"] = 2; writeJSON(t, p2, m) },
		"wrong kind":     func() { m := readJSON(t, p2); m["kind"] = "preparams"; writeJSON(t, p2, m) },
		"bad key_id":     func() { m := readJSON(t, p2); m["key_id"] = "xyz"; writeJSON(t, p2, m) },
		"missing nonce":  func() { m := readJSON(t, p2); delete(m, "nonce"); writeJSON(t, p2, m) },
		"short nonce":    func() { m := readJSON(t, p2); m["nonce"] = "AAAA"; writeJSON(t, p2, m) },
		"no ciphertext":  func() { m := readJSON(t, p2); m["ciphertext"] = ""; writeJSON(t, p2, m) },
		"invalid header": func() { m := readJSON(t, p2); m["wallet_id"] = "a b"; writeJSON(t, p2, m) },
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

	// ListShares checks that names match headers.
	os.WriteFile(p2, orig1, 0o600)
	if _, err := v.ListShares(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ListShares with a swapped file: got %v, want ErrCorrupt", err)
	}
	restore()

	// Errors never quote plaintext.
	flip("ciphertext", 0)()
	if err := getW2(); strings.Contains(err.Error(), r.SaveData.Xi.String()) || strings.Contains(err.Error(), r.PublicKeyHex()) {
		t.Fatalf("error quotes the share: %v", err)
	}
}

func TestPreParamsRoundTrip(t *testing.T) {
	pps := fixturePreParams(t)
	k := newKey(t)
	dir := t.TempDir()
	v := openVault(t, dir, k)

	if _, err := v.TakePreParams(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty pool: got %v, want ErrEmpty", err)
	}
	ids := map[string]bool{}
	for i := range 3 {
		if i == 2 {
			v = openVault(t, dir, k) // order survives reopening
		}
		id, err := v.PutPreParams(pps[i])
		if err != nil {
			t.Fatal(err)
		}
		if !isLowerHex(id, 32) || ids[id] {
			t.Fatalf("entry id %q", id)
		}
		ids[id] = true
	}
	if n := v.CountPreParams(); n != 3 {
		t.Fatalf("CountPreParams %d, want 3", n)
	}
	ppDir := filepath.Join(dir, preParamsDir)
	entries, _ := os.ReadDir(ppDir)
	for _, e := range entries {
		path := filepath.Join(ppDir, e.Name())
		checkMode(t, path, 0o600)
		_, id, ok := parsePreParamsName(e.Name())
		if !ok || !ids[id] {
			t.Fatalf("unexpected file %s", e.Name())
		}
		m := readJSON(t, path)
		if m["format"] != "tsskit.vault" || m["kind"] != "preparams" || m["key_id"] != k.ID() || m["wallet_id"] != nil || m["party_id"] != nil || len(m) != 6 {
			t.Fatalf("header %v", m)
		}
		raw, _ := os.ReadFile(path)
		if bytes.Contains(raw, []byte(pps[0].NTildei.String()[:40])) || bytes.Contains(raw, []byte("PaillierSK")) {
			t.Fatal("file contains plaintext")
		}
	}

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
	if entries, _ := os.ReadDir(ppDir); len(entries) != 0 {
		t.Fatalf("%d files left in preparams/", len(entries))
	}

	bad := *pps[3]
	bad.H1i = bad.H2i
	if _, err := v.PutPreParams(&bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid pre-parameters: got %v, want ErrInvalid", err)
	}
	if _, err := v.PutPreParams(nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil pre-parameters: got %v, want ErrInvalid", err)
	}
}

func TestPreParamsTampered(t *testing.T) {
	pps := fixturePreParams(t)
	k := newKey(t)
	v := openVault(t, t.TempDir(), k)
	ppDir := filepath.Join(v.Dir(), preParamsDir)
	first, err := v.PutPreParams(pps[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.PutPreParams(pps[1]); err != nil {
		t.Fatal(err)
	}
	names, _ := v.preParamsNames()

	// The first entry renamed to another id: the AAD no longer matches.
	other := strings.Replace(names[0], first, strings.Repeat("0", 32), 1)
	if err := os.Rename(filepath.Join(ppDir, names[0]), filepath.Join(ppDir, other)); err != nil {
		t.Fatal(err)
	}
	_, err = v.TakePreParams()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), corruptExt) {
		t.Fatalf("renamed entry: got %v, want ErrCorrupt", err)
	}
	if _, err := os.Stat(filepath.Join(ppDir, other+corruptExt)); err != nil {
		t.Fatalf("corrupt entry not kept aside: %v", err)
	}
	if n := v.CountPreParams(); n != 1 {
		t.Fatalf("CountPreParams %d, want 1", n)
	}

	// A flipped ciphertext bit in the second.
	path := filepath.Join(ppDir, names[1])
	m := readJSON(t, path)
	ct, _ := base64.StdEncoding.DecodeString(m["ciphertext"].(string))
	ct[100] ^= 0x80
	m["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
	writeJSON(t, path, m)
	if _, err := v.TakePreParams(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered entry: got %v, want ErrCorrupt", err)
	}
	if _, err := v.TakePreParams(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("got %v, want ErrEmpty", err)
	}
}

func TestPreParamsWrongKey(t *testing.T) {
	pps := fixturePreParams(t)
	k1, k2 := newKey(t), newKey(t)
	dir := t.TempDir()
	if _, err := openVault(t, dir, k1).PutPreParams(pps[0]); err != nil {
		t.Fatal(err)
	}
	v2 := openVault(t, dir, k2)
	_, err := v2.TakePreParams()
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), k1.ID()) || !strings.Contains(err.Error(), k2.ID()) {
		t.Fatalf("got %v, want ErrWrongKey naming both key ids", err)
	}
	if n := v2.CountPreParams(); n != 1 {
		t.Fatalf("entry under another key not put back: count %d", n)
	}
	got, err := openVault(t, dir, k1).TakePreParams()
	if err != nil || !bytes.Equal(mustMarshalPP(t, got), mustMarshalPP(t, pps[0])) {
		t.Fatalf("take under the right key: %v", err)
	}
}

func TestTakePreParamsConcurrent(t *testing.T) {
	const entries, takers = 12, 8
	base := fixturePreParams(t)[0]
	safe := func(p *big.Int) *big.Int { return new(big.Int).Add(new(big.Int).Lsh(p, 1), big.NewInt(1)) }
	primes := []*big.Int{base.PaillierSK.P, base.PaillierSK.Q, safe(base.P), safe(base.Q)}

	v := openVault(t, t.TempDir(), newKey(t))
	// Distinct entries: the same primes with fresh h1, h2, alpha.
	var wg sync.WaitGroup
	errs := make([]error, entries)
	for i := range entries {
		wg.Go(func() {
			pp, err := preparams.Assemble(primes, nil)
			if err == nil {
				_, err = v.PutPreParams(pp)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := v.CountPreParams(); n != entries {
		t.Fatalf("CountPreParams %d, want %d", n, entries)
	}

	var mu sync.Mutex
	seen := map[string]int{}
	takeErrs := make([]error, takers)
	for i := range takers {
		wg.Go(func() {
			for {
				pp, err := v.TakePreParams()
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
	for _, err := range takeErrs {
		if err != nil {
			t.Fatal(err)
		}
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
}

func TestRotate(t *testing.T) {
	r := goldenShare(t)
	pps := fixturePreParams(t)
	k1, k2 := newKey(t), newKey(t)
	dir := t.TempDir()
	v := openVault(t, dir, k1)
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
	if err := openVault(t, dir, k2).PutShare(third); err != nil {
		t.Fatal(err)
	}
	shares = append(shares, third)

	n, err := v.Rotate(k2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("Rotate rewrote %d files, want 4", n)
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
	for _, vv := range []*Vault{v, openVault(t, dir, k2)} {
		for _, s := range shares {
			got, err := vv.GetShare(s.WalletID, s.PartyID)
			if err != nil || !bytes.Equal(mustEncode(t, got), mustEncode(t, s)) {
				t.Fatalf("after Rotate: %v", err)
			}
		}
	}
	if _, err := openVault(t, dir, k1).GetShare(shares[0].WalletID, shares[0].PartyID); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old key after Rotate: got %v, want ErrWrongKey", err)
	}
	for _, d := range []string{sharesDir, preParamsDir} {
		entries, _ := os.ReadDir(filepath.Join(dir, d))
		for _, e := range entries {
			checkMode(t, filepath.Join(dir, d, e.Name()), 0o600)
			if strings.HasPrefix(e.Name(), ".") {
				t.Fatalf("leftover %s", e.Name())
			}
		}
	}

	// Again: nothing to do.
	if n, err := v.Rotate(k2); err != nil || n != 0 {
		t.Fatalf("second Rotate: %d, %v", n, err)
	}

	// A file under a third key stops Rotate before anything changes.
	k3, k4 := newKey(t), newKey(t)
	if _, err := openVault(t, dir, k3).PutPreParams(pps[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Rotate(k4); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Rotate with a file under a third key: got %v, want ErrWrongKey", err)
	}
	if v.KeyID() != k2.ID() {
		t.Fatal("failed Rotate changed the key")
	}
	if refs, _ := v.ListShares(); refs[0].KeyID != k2.ID() {
		t.Fatal("failed Rotate rewrote a file")
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
}

func TestOpenPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "loose")
	if err := os.MkdirAll(filepath.Join(dir, sharesDir), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Join(dir, sharesDir), 0o777)
	v := openVault(t, dir, newKey(t))
	for _, d := range []string{dir, filepath.Join(dir, sharesDir), filepath.Join(dir, preParamsDir)} {
		checkMode(t, d, 0o700)
	}
	if v.CountPreParams() != 0 {
		t.Fatal("new pool not empty")
	}

	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o600)
	if _, err := Open(notDir, newKey(t)); err == nil {
		t.Fatal("Open on a file succeeded")
	}
}
