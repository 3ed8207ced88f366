package vault

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Fuzz targets for what the vault reads back from its storage, which an
// attacker with write access to the directory (or the table) controls: the
// record header, the decryption of its ciphertext, the pre-parameters
// entry names, and the master key from the environment.

// fzKey is a fixed master key, so that the corpus files stay meaningful.
func fzKey(tb testing.TB) *MasterKey {
	tb.Helper()
	k, err := ParseMasterKey(strings.Repeat("0123456789abcdef", 4))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

const (
	fzWallet  = "3f2b8c1e-8d4a-4b7e-9c2d-1a2b3c4d5e6f"
	fzParty   = "server-1"
	fzPPID    = "00112233445566778899aabbccddeeff"
	fzSession = "7d3c9f00e4b1a2c3d4e5f60718293a4b"
)

var fzPlaintext = []byte(`{"fuzz":"plaintext"}`)

// fzAAD is the associated data a record of kind is opened with here.
func fzAAD(kind string, f *fileV1) []byte {
	if kind == kindShare {
		return shareAAD(f.WalletID, f.PartyID, f.SessionID)
	}
	return preParamsAAD(fzPPID)
}

// FuzzParseFile parses arbitrary bytes as a share or a pre-parameters
// record and opens what parses. parseFile must fail only with ErrCorrupt;
// what it accepts must satisfy every header rule, survive json.Marshal and
// parseFile unchanged (the form sealFile writes is a fixed point), and open
// to the seeds' plaintext or fail with ErrWrongKey or ErrCorrupt: nothing
// but sealFile under the key makes a record that opens.
func FuzzParseFile(f *testing.F) {
	key := fzKey(f)
	share, err := sealFile(key, kindShare, fzWallet, fzParty, "", fzPlaintext, shareAAD(fzWallet, fzParty, ""))
	if err != nil {
		f.Fatal(err)
	}
	fromSession, err := sealFile(key, kindShare, fzWallet, fzParty, fzSession, fzPlaintext, shareAAD(fzWallet, fzParty, fzSession))
	if err != nil {
		f.Fatal(err)
	}
	pp, err := sealFile(key, kindPreParams, "", "", "", fzPlaintext, preParamsAAD(fzPPID))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(true, share)
	f.Add(false, pp)
	f.Add(false, share) // a share where pre-parameters are expected
	for _, r := range [][2]string{
		{`"format":"tsskit.vault"`, `"Format":"tsskit.vault"`}, // encoding/json matches names case-insensitively
		{`"version":1`, `"version":2`},
		{`"key_id":"`, `"key_id":"A`},
		{`"party_id":"server-1"`, `"party_id":"server 1"`},
		{`"nonce":"`, `"nonce":"AAAA`},
		{`"nonce":"`, `"extra":1,"nonce":"`},
		{`"kind":"share"`, `"kind":"share","kind":"share"`},
	} {
		f.Add(true, bytes.Replace(share, []byte(r[0]), []byte(r[1]), 1))
	}
	f.Add(true, fromSession)
	for _, r := range [][2]string{
		{`"session_id":"` + fzSession + `"`, `"session_id":"` + fzSession + `x"`}, // another session
		{`"session_id":"` + fzSession + `",`, ``},                                 // taken out
		{`"session_id":"`, `"session_id":"a b`},
	} {
		f.Add(true, bytes.Replace(fromSession, []byte(r[0]), []byte(r[1]), 1))
	}
	f.Add(true, bytes.Replace(share, []byte(`"key_id"`), []byte(`"session_id":"`+fzSession+`","key_id"`), 1)) // put in
	f.Add(false, bytes.Replace(pp, []byte(`"key_id"`), []byte(`"session_id":"s","key_id"`), 1))
	f.Add(true, append(bytes.Clone(share), " {}"...))
	f.Add(true, share[:len(share)-2])
	f.Add(true, []byte(`null`))
	f.Add(false, []byte(`{"format":"tsskit.vault","version":1,"kind":"preparams","key_id":"0123456789abcdef","nonce":"AAAAAAAAAAAAAAAA","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}`))
	f.Fuzz(func(t *testing.T, isShare bool, b []byte) {
		kind := kindPreParams
		if isShare {
			kind = kindShare
		}
		rec, err := parseFile("fuzz", kind, b)
		if err != nil {
			if rec != nil || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("parseFile = %v, %v; want nil and ErrCorrupt", rec, err)
			}
			return
		}
		if rec.Format != FileFormat || rec.Version != FileVersion || rec.Kind != kind || !isLowerHex(rec.KeyID, keyIDLen) ||
			len(rec.Nonce) != 12 || len(rec.Ciphertext) < 16 {
			t.Fatalf("accepted header %+v", rec)
		}
		if isShare && (checkIDs(rec.WalletID, rec.PartyID) != nil || rec.SessionID != "" && checkSessionID(rec.SessionID) != nil) ||
			!isShare && (rec.WalletID != "" || rec.PartyID != "" || rec.SessionID != "") {
			t.Fatalf("accepted ids %q, %q, %q for a %s record", rec.WalletID, rec.PartyID, rec.SessionID, kind)
		}
		enc, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseFile("fuzz", kind, enc)
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("re-encoded record parses to %+v, %v; want %+v", again, err, rec)
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatal("the encoding of a record is not a fixed point")
		}

		pt, err := rec.open("fuzz", key, fzAAD(kind, rec))
		switch {
		case err == nil:
			if !bytes.Equal(pt, fzPlaintext) {
				t.Fatalf("opened to %q, which sealFile never wrote", pt)
			}
		case rec.KeyID != key.ID():
			if !errors.Is(err, ErrWrongKey) {
				t.Fatalf("record under key %s: %v, want ErrWrongKey", rec.KeyID, err)
			}
		case !errors.Is(err, ErrCorrupt):
			t.Fatalf("open: %v, want ErrCorrupt", err)
		}
	})
}

// FuzzParseMasterKey: a key parses exactly when it is 64 hex digits; its
// id depends on the key bytes only (not the case of the digits); and no fmt
// verb prints the key.
func FuzzParseMasterKey(f *testing.F) {
	for _, s := range []string{
		strings.Repeat("0123456789abcdef", 4),
		strings.Repeat("0123456789ABCDEF", 4),
		strings.Repeat("0123456789abcdef", 4) + "\n",
		strings.Repeat("0123456789abcdeg", 4),
		strings.Repeat("ab", 31),
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseMasterKey(s)
		_, hexErr := hex.DecodeString(s)
		want := len(s) == 2*MasterKeySize && hexErr == nil
		if (err == nil) != want {
			t.Fatalf("ParseMasterKey(%q): %v", s, err)
		}
		if err != nil {
			if k != nil || !(errors.Is(err, ErrNoMasterKey) || errors.Is(err, ErrBadMasterKey)) {
				t.Fatalf("ParseMasterKey = %v, %v", k, err)
			}
			if len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatal("the error quotes the key")
			}
			return
		}
		lower := strings.ToLower(s)
		if k2, err := ParseMasterKey(lower); err != nil || k2.ID() != k.ID() || k2.b != k.b {
			t.Fatalf("the lowercase form parses to another key: %v", err)
		}
		if hex.EncodeToString(k.b[:]) != lower || !isLowerHex(k.ID(), keyIDLen) {
			t.Fatalf("key %x, id %q", k.b, k.ID())
		}
		if out := fmt.Sprintf("%v %s %x %X %q %#v %+v %v", k, k, k, k, k, k, *k, []*MasterKey{k}); strings.Contains(strings.ToLower(out), lower) {
			t.Fatalf("printing the key shows it: %s", out)
		}
	})
}

// FuzzPreParamsName: a name parses exactly when preParamsName writes it
// back from the parsed sequence number and id.
func FuzzPreParamsName(f *testing.F) {
	for _, s := range []string{
		preParamsName(1_750_000_000_000_000_000, fzPPID),
		preParamsName(0, fzPPID),
		preParamsName(1, strings.ToUpper(fzPPID)),
		"99999999999999999999-" + fzPPID + fileExt,
		".take-" + preParamsName(1, fzPPID),
		"00000000000000000001-" + fzPPID + ".json.tmp",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		seq, id, ok := parsePreParamsName(name)
		if ok != isPreParamsName(name) {
			t.Fatal("isPreParamsName disagrees with parsePreParamsName")
		}
		if !ok {
			return
		}
		if seq < 0 || !isLowerHex(id, entryIDLen) || preParamsName(seq, id) != name {
			t.Fatalf("parsed %q as %d, %q", name, seq, id)
		}
	})
}
