package share

import (
	"bytes"
	"flag"
	"os"
	"slices"
	"testing"

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
	// The encoding is stable: re-encoding a stored record gives it back.
	if again, err := Encode(r); err != nil || !bytes.Equal(again, b) {
		t.Errorf("re-encoding differs from %s (err %v)", goldenV1, err)
	}
}
