package share

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/roster"
)

// goldenV1 is a version 1 record from a real keygen, kept so that every
// later version of this package is checked against records already stored,
// and so that fuzzing starts from a valid record without running a keygen
// in every fuzzing process.
const goldenV1 = "testdata/v1.json"

var update = flag.Bool("update", false, "rewrite "+goldenV1+" from a fresh keygen")

// The wallet in goldenV1.
const (
	goldenPublicKey = "0310d55b4891a67b48f597ad1d0f0f0ef5205c1fce2e7d0f480009df0114b6f89b"
	goldenAddress   = "0xe9592e530063bcffa8d989733f9e99de5c66d010"
)

func readGolden(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(goldenV1)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestGoldenV1(t *testing.T) {
	if *update {
		if err := os.WriteFile(goldenV1, testEncodings(t)[0], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := readGolden(t)
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := roster.New(testParties)
	if r.WalletID != testWalletID || r.PartyID != rs.IDs()[0] || r.Threshold != testThreshold || !slices.Equal(r.Parties, rs.IDs()) {
		t.Errorf("decoded %s/%s, %d of %v", r.WalletID, r.PartyID, r.Threshold, r.Parties)
	}
	if r.PublicKeyHex() != goldenPublicKey || r.Address() != goldenAddress {
		t.Errorf("wallet %s %s; want %s %s", r.PublicKeyHex(), r.Address(), goldenPublicKey, goldenAddress)
	}
	// A version 1 record migrates in memory: no holders (legacy), no
	// policy, epoch 0. It encodes in the current version, and that
	// encoding decodes to the same record.
	if !r.Legacy() || r.Policy.ClientRequired || r.Epoch != 0 || r.IdentitySeed != nil {
		t.Errorf("migrated record: legacy %t, policy %+v, epoch %d", r.Legacy(), r.Policy, r.Epoch)
	}
	if !bytes.Equal(r.ChainCode, hd.LegacyChainCode(testWalletID, r.PublicKey)) {
		t.Errorf("migrated chain code %x; want the legacy rule's", r.ChainCode)
	}
	v2 := mustEncode(t, r)
	if !bytes.Contains(v2, []byte(`"version":3`)) || !bytes.Contains(v2, []byte(`"holders":[]`)) {
		t.Errorf("a migrated record encodes as %.200s", v2)
	}
	back, err := Decode(v2)
	if err != nil || !bytes.Equal(mustEncode(t, back), v2) || !back.Legacy() {
		t.Errorf("the migrated encoding does not round-trip (err %v)", err)
	}
}

// goldenV2 is a version 2 record of the same wallet: the v1 record with
// holders, policy and epoch; TestGoldenV2 checks this version's encoding
// stays readable and stable.
const goldenV2 = "testdata/v2.json"

func TestGoldenV2(t *testing.T) {
	if *update {
		// The v1 record of goldenV1 with the holders and policy a keygen
		// now records (the test keygen's, same parties).
		r, err := Decode(readGolden(t))
		if err != nil {
			t.Fatal(err)
		}
		r.Holders, r.Policy = testRecord(t, 0).Holders, Policy{ClientRequired: true}
		if err := os.WriteFile(goldenV2, mustEncode(t, r), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(goldenV2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Legacy() || !r.Policy.ClientRequired || len(r.Holders) != 3 || r.Own().Kind != identity.KindServer {
		t.Errorf("holders %+v, policy %+v", r.Holders, r.Policy)
	}
	if r.PublicKeyHex() != goldenPublicKey {
		t.Errorf("wallet %s; want %s", r.PublicKeyHex(), goldenPublicKey)
	}
	// Version 2 carried no chain code: the legacy rule gives it, and the
	// record encodes as version 3 with it.
	if !bytes.Equal(r.ChainCode, hd.LegacyChainCode(testWalletID, r.PublicKey)) {
		t.Errorf("chain code %x; want the legacy rule's", r.ChainCode)
	}
	again, err := Encode(r)
	if err != nil || !bytes.Contains(again, []byte(`"version":3`)) {
		t.Fatalf("re-encoding: %v", err)
	}
	back, err := Decode(again)
	if err != nil || !bytes.Equal(back.ChainCode, r.ChainCode) || !slices.Equal(back.Holders, r.Holders) {
		t.Errorf("the version 3 encoding of a version 2 record does not round-trip (err %v)", err)
	}
}

// goldenV3 is the version 3 record: the v2 record with a chain code that
// is not the legacy rule's, as a keygen records it.
const goldenV3 = "testdata/v3.json"

func TestGoldenV3(t *testing.T) {
	if *update {
		b, err := os.ReadFile(goldenV2)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		r.ChainCode = bytes.Repeat([]byte{0xc3}, hd.ChainCodeSize)
		if err := os.WriteFile(goldenV3, mustEncode(t, r), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(goldenV3)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.ChainCode, bytes.Repeat([]byte{0xc3}, hd.ChainCodeSize)) || r.Legacy() || r.PublicKeyHex() != goldenPublicKey {
		t.Errorf("chain code %x, legacy %t, wallet %s", r.ChainCode, r.Legacy(), r.PublicKeyHex())
	}
	if again, err := Encode(r); err != nil || !bytes.Equal(again, b) {
		t.Errorf("re-encoding differs from %s (err %v)", goldenV3, err)
	}
	// A version 3 record without its chain code, or with a short one.
	for _, bad := range [][]byte{
		bytes.Replace(b, []byte(`"chain_code":"c3c3`), []byte(`"chain_code":"`), 1),
		bytes.Replace(b, []byte(`,"chain_code":"`+strings.Repeat("c3", 32)+`"`), nil, 1),
	} {
		if _, err := Decode(bad); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "chain_code") {
			t.Errorf("a bad chain code: %v", err)
		}
	}
}

func mustEncode(tb testing.TB, r *Record) []byte {
	tb.Helper()
	b, err := Encode(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// goldenV1Wallet holds the version 1 records of every party of one wallet,
// as a store made before version 2 keeps them: the party package signs
// with them (TestLegacyWalletSigns) to show such wallets still sign.
const goldenV1Wallet = "testdata/v1wallet"

var updateV1Wallet = flag.Bool("update-v1wallet", false, "rewrite "+goldenV1Wallet+" from a fresh keygen")

func TestGoldenV1Wallet(t *testing.T) {
	if *updateV1Wallet {
		if err := os.MkdirAll(goldenV1Wallet, 0o755); err != nil {
			t.Fatal(err)
		}
		recs, err := runKeygen("3b1f6a0e-2c4d-4e5f-8a9b-0c1d2e3f4a5b", testParties, testThreshold)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			sd, _ := json.Marshal(r.SaveData)
			b, err := json.Marshal(recordV1{Format, 1, r.WalletID, r.PartyID, r.Threshold, r.Parties, hex.EncodeToString(r.PublicKey), sd})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(goldenV1Wallet, r.PartyID+".json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, id := range testParties {
		b, err := os.ReadFile(filepath.Join(goldenV1Wallet, id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`"version":1`)) {
			t.Fatalf("%s is not a version 1 record", id)
		}
		r, err := Decode(b)
		if err != nil || !r.Legacy() || r.PartyID != id {
			t.Fatalf("%s: %v", id, err)
		}
	}
}
