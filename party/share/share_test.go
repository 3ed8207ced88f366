package share

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"golang.org/x/crypto/sha3"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/roster"
)

// wantError fails unless err is an *Error matching sentinel with the given Field.
func wantError(t *testing.T, err, sentinel error, field string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T); want an *Error", err, err)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error = %v; want %v", err, sentinel)
	}
	if e.Field != field {
		t.Fatalf("error = %v; Field = %q, want %q", err, e.Field, field)
	}
	return e
}

// encodeUnchecked encodes r like Encode but without validating it, to
// produce well-formed but inconsistent records.
func encodeUnchecked(r *Record) ([]byte, error) {
	sd, err := json.Marshal(r.SaveData)
	if err != nil {
		return nil, err
	}
	holders := make([]holderV2, len(r.Holders))
	for i, h := range r.Holders {
		holders[i] = holderV2{h.PartyID, h.Kind.String(), h.Identity.String()}
	}
	return json.Marshal(recordV2{Format, Version, r.WalletID, r.PartyID, r.Threshold, r.Parties, hex.EncodeToString(r.PublicKey),
		r.Epoch, holders, policyOf(r.Policy), hex.EncodeToString(r.IdentitySeed), hex.EncodeToString(r.ChainCode), sd})
}

// editJSON decodes b, lets edit change it and encodes it again; numbers keep
// their digits.
func editJSON(t *testing.T, b []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func saveDataOf(m map[string]any) map[string]any { return m["save_data"].(map[string]any) }

func bigXj(m map[string]any, j int) map[string]any {
	return saveDataOf(m)["BigXj"].([]any)[j].(map[string]any)
}

// saveDataInts lists every number in sd, for comparing save data.
func saveDataInts(sd *keygen.LocalPartySaveData) []*big.Int {
	v := []*big.Int{
		sd.PaillierSK.N, sd.PaillierSK.LambdaN, sd.PaillierSK.PhiN, sd.PaillierSK.P, sd.PaillierSK.Q,
		sd.NTildei, sd.H1i, sd.H2i, sd.Alpha, sd.Beta, sd.P, sd.Q, sd.Xi, sd.ShareID,
		sd.ECDSAPub.X(), sd.ECDSAPub.Y(),
	}
	v = append(v, sd.Ks...)
	v = append(v, sd.NTildej...)
	v = append(v, sd.H1j...)
	v = append(v, sd.H2j...)
	for j := range sd.BigXj {
		v = append(v, sd.BigXj[j].X(), sd.BigXj[j].Y(), sd.PaillierPKs[j].N)
	}
	return v
}

// secrets lists the decimal forms of the secret values in sd, leaving out
// the short ones tests set (such as 0), which messages may well contain.
func secrets(sd *keygen.LocalPartySaveData) []string {
	if sd == nil {
		return nil
	}
	v := []*big.Int{sd.Xi, sd.P, sd.Q, sd.Alpha, sd.Beta}
	if sk := sd.PaillierSK; sk != nil {
		v = append(v, sk.P, sk.Q, sk.PhiN, sk.LambdaN)
	}
	var s []string
	for _, v := range v {
		if v != nil && len(v.String()) > 20 {
			s = append(s, v.String())
		}
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	ids, _ := roster.New(testParties)
	addrRE := regexp.MustCompile(`^0x[0-9a-f]{40}$`)
	for i, orig := range keygenRecords(t) {
		enc, err := Encode(orig)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Decode(enc)
		if err != nil {
			t.Fatalf("party %d: %v", i, err)
		}
		if r.WalletID != testWalletID || r.PartyID != ids.IDs()[i] || r.Threshold != testThreshold ||
			!slices.Equal(r.Parties, ids.IDs()) || !bytes.Equal(r.PublicKey, orig.PublicKey) {
			t.Errorf("party %d: decoded %+v; want %+v", i, r, orig)
		}
		got, want := saveDataInts(r.SaveData), saveDataInts(orig.SaveData)
		for k := range want {
			if got[k].Cmp(want[k]) != 0 {
				t.Fatalf("party %d: save data number %d differs after the round trip", i, k)
			}
		}
		if again, err := Encode(r); err != nil || !bytes.Equal(again, enc) {
			t.Errorf("party %d: re-encoding differs (err %v)", i, err)
		}

		// The address, computed independently: Keccak-256 of X||Y.
		var xy [64]byte
		orig.SaveData.ECDSAPub.X().FillBytes(xy[:32])
		orig.SaveData.ECDSAPub.Y().FillBytes(xy[32:])
		h := sha3.NewLegacyKeccak256()
		h.Write(xy[:])
		if want := "0x" + hex.EncodeToString(h.Sum(nil)[12:]); r.Address() != want || !addrRE.MatchString(want) {
			t.Errorf("party %d: Address() = %s; want %s", i, r.Address(), want)
		}
		if want := hex.EncodeToString(orig.PublicKey); r.PublicKeyHex() != want || len(want) != 66 {
			t.Errorf("party %d: PublicKeyHex() = %s; want %s", i, r.PublicKeyHex(), want)
		}
	}
}

func TestEncodingLayout(t *testing.T) {
	rec := keygenRecords(t)[1]
	enc, err := Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(enc, &m); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"chain_code", "epoch", "format", "holders", "identity", "parties", "party_id", "policy", "public_key", "save_data", "threshold", "version", "wallet_id"}
	if keys := slices.Sorted(maps.Keys(m)); !slices.Equal(keys, wantKeys) {
		t.Errorf("keys = %v; want %v", keys, wantKeys)
	}
	if string(m["format"]) != `"tsskit.share"` || string(m["version"]) != "3" || string(m["threshold"]) != "2" {
		t.Errorf("header = %s %s, threshold %s", m["format"], m["version"], m["threshold"])
	}
	// save_data is tss-lib's own JSON.
	var sd keygen.LocalPartySaveData
	if err := json.Unmarshal(m["save_data"], &sd); err != nil {
		t.Fatal(err)
	}
	if sd.Xi.Cmp(rec.SaveData.Xi) != 0 || !sd.ECDSAPub.Equals(rec.SaveData.ECDSAPub) {
		t.Error("save_data does not decode to the record's save data with tss-lib's decoder")
	}
}

func TestDecodeTruncated(t *testing.T) {
	enc := testEncodings(t)[0]
	for n := 0; n < len(enc); n++ {
		r, err := Decode(enc[:n])
		if err == nil || r != nil {
			t.Fatalf("prefix of %d bytes decoded", n)
		}
		if !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("prefix of %d bytes: %v; want %v", n, err, ErrTruncated)
		}
	}
}

func TestDecodeTooLarge(t *testing.T) {
	enc := testEncodings(t)[0]
	// Trailing white space is allowed, so the only thing wrong is the size.
	pad := func(n int) []byte { return append(slices.Clip(enc), bytes.Repeat([]byte{' '}, n-len(enc))...) }
	if _, err := Decode(pad(MaxRecordSize)); err != nil {
		t.Fatalf("record of MaxRecordSize bytes: %v", err)
	}
	_, err := Decode(pad(MaxRecordSize + 1))
	wantError(t, err, ErrTooLarge, "")
}

func TestDecodeMalformed(t *testing.T) {
	enc := testEncodings(t)[0]
	edit := func(f func(m map[string]any)) []byte { return editJSON(t, enc, f) }
	set := func(key string, v any) []byte { return edit(func(m map[string]any) { m[key] = v }) }
	cases := []struct {
		name  string
		in    []byte
		field string
	}{
		{"not JSON", []byte("tsskit.share v1"), ""},
		{"array", []byte(`[{"format":"tsskit.share"}]`), ""},
		{"null", []byte("null"), ""},
		{"string", []byte(`"tsskit.share"`), ""},
		{"bad JSON inside", bytes.Replace(enc, []byte(`"parties":[`), []byte(`"parties":[,`), 1), ""},
		{"empty object", []byte("{}"), "format"},
		{"other format", set("format", "tsskit.wallet"), "format"},
		{"format not a string", set("format", 1), "format"},
		{"no version", edit(func(m map[string]any) { delete(m, "version") }), "version"},
		{"version a string", set("version", "1"), "version"},
		{"fractional version", set("version", json.Number("1.5")), "version"},
		{"huge version", set("version", json.Number("1"+strings.Repeat("0", 30))), "version"},
		{"unknown key", set("comment", "x"), "comment"},
		{"key in other case", edit(func(m map[string]any) { m["Wallet_ID"] = m["wallet_id"]; delete(m, "wallet_id") }), "Wallet_ID"},
		{"missing key", edit(func(m map[string]any) { delete(m, "party_id") }), "party_id"},
		{"null value", set("threshold", nil), "threshold"},
		{"fractional threshold", set("threshold", json.Number("2.5")), "threshold"},
		{"parties not a list", set("parties", "server-1"), "parties"},
		{"public key not hex", set("public_key", "zz"), "public_key"},
		{"duplicate key", append([]byte(`{"threshold":3,`), enc[1:]...), "threshold"},
		{"trailing garbage", append(slices.Clip(enc), "x"...), ""},
		{"trailing object", append(slices.Clip(enc), "{}"...), ""},
		{"two records", append(slices.Clip(enc), enc...), ""},
		{"save_data null", set("save_data", nil), "save_data"},
		{"save_data not an object", set("save_data", "x"), "save_data"},
		{"save_data unknown field", edit(func(m map[string]any) { saveDataOf(m)["Extra"] = 1 }), "save_data"},
		{"save_data wrong type", edit(func(m map[string]any) { saveDataOf(m)["Ks"] = "x" }), "save_data"},
		{"save_data bad number", edit(func(m map[string]any) { saveDataOf(m)["H1i"] = "0x10" }), "save_data"},
		{"point off the curve", edit(func(m map[string]any) {
			c := bigXj(m, 1)["Coords"].([]any)
			y, _ := new(big.Int).SetString(string(c[1].(json.Number)), 10)
			c[1] = json.Number(y.Add(y, big.NewInt(1)).String())
		}), "save_data"},
		{"point on an unknown curve", edit(func(m map[string]any) { bigXj(m, 0)["Curve"] = "P-256" }), "save_data"},
		{"point without coordinates", edit(func(m map[string]any) { delete(bigXj(m, 2), "Coords") }), "save_data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Decode(c.in)
			if r != nil {
				t.Fatal("decoded")
			}
			wantError(t, err, ErrMalformed, c.field)
		})
	}
}

func TestDecodeUnsupportedVersion(t *testing.T) {
	enc := testEncodings(t)[0]
	for _, v := range []int{0, -1, 4, 99} {
		in := editJSON(t, enc, func(m map[string]any) {
			m["version"] = v
			m["field_of_a_later_version"] = true // not judged: the version is unknown
		})
		_, err := Decode(in)
		if e := wantError(t, err, ErrUnsupportedVersion, "version"); e.Version != v {
			t.Errorf("version %d: Error.Version = %d", v, e.Version)
		}
		if !strings.Contains(err.Error(), "version") {
			t.Errorf("message %q does not say it is about the version", err)
		}
	}
}

func TestInconsistent(t *testing.T) {
	one := big.NewInt(1)
	add := func(v *big.Int, d int64) *big.Int { return new(big.Int).Add(v, big.NewInt(d)) }
	g := crypto.ScalarBaseMult(tss.S256(), one)
	ed := tss.Edwards().Params()
	cases := []struct {
		name   string
		mutate func(r *Record)
		field  string
		// viaJSON is what Decode says about the encoded mutation when
		// tss-lib's decoder rejects it first; nil means ErrInconsistent.
		viaJSON error
	}{
		{"empty wallet id", func(r *Record) { r.WalletID = "" }, "wallet_id", nil},
		{"wallet id with a space", func(r *Record) { r.WalletID = "my wallet" }, "wallet_id", nil},
		{"long wallet id", func(r *Record) { r.WalletID = strings.Repeat("a", MaxWalletIDLen+1) }, "wallet_id", nil},
		{"empty party id", func(r *Record) { r.PartyID = "" }, "party_id", nil},
		{"party not in roster", func(r *Record) { r.PartyID = "server-9" }, "party_id", nil},
		{"unsorted parties", func(r *Record) { r.Parties[0], r.Parties[1] = r.Parties[1], r.Parties[0] }, "parties", nil},
		{"duplicate party", func(r *Record) { r.Parties[1] = r.Parties[0] }, "parties", nil},
		{"one party", func(r *Record) { r.Parties = r.Parties[:1] }, "parties", nil},
		{"threshold 1", func(r *Record) { r.Threshold = 1 }, "threshold", nil},
		{"threshold above parties", func(r *Record) { r.Threshold = 4 }, "threshold", nil},
		{"negative threshold", func(r *Record) { r.Threshold = -2 }, "threshold", nil},
		{"short public key", func(r *Record) { r.PublicKey = r.PublicKey[:32] }, "public_key", nil},
		{"uncompressed prefix", func(r *Record) { r.PublicKey[0] = 4 }, "public_key", nil},
		{"public key off the curve", func(r *Record) { r.PublicKey = append([]byte{2}, make([]byte, 32)...) }, "public_key", nil},
		{"public key of another wallet", func(r *Record) { r.PublicKey = compressed(g) }, "public_key", nil},
		{"no save data", func(r *Record) { r.SaveData = nil }, "save_data", ErrMalformed},
		{"short Ks", func(r *Record) { r.SaveData.Ks = r.SaveData.Ks[:2] }, "save_data.Ks", nil},
		{"long BigXj", func(r *Record) { r.SaveData.BigXj = append(r.SaveData.BigXj, g) }, "save_data.BigXj", nil},
		{"short PaillierPKs", func(r *Record) { r.SaveData.PaillierPKs = nil }, "save_data.PaillierPKs", nil},
		{"Ks mismatch", func(r *Record) { r.SaveData.Ks[1] = add(r.SaveData.Ks[1], 1) }, "save_data.Ks[1]", nil},
		{"Ks missing", func(r *Record) { r.SaveData.Ks[2] = nil }, "save_data.Ks[2]", nil},
		{"ShareID of another party", func(r *Record) { r.SaveData.ShareID = r.SaveData.Ks[1] }, "save_data.ShareID", nil},
		{"ShareID missing", func(r *Record) { r.SaveData.ShareID = nil }, "save_data.ShareID", nil},
		{"NTildej missing", func(r *Record) { r.SaveData.NTildej[1] = nil }, "save_data.NTildej[1]", nil},
		{"H2j negative", func(r *Record) { r.SaveData.H2j[2] = big.NewInt(-1) }, "save_data.H2j[2]", nil},
		{"PaillierPKs missing", func(r *Record) { r.SaveData.PaillierPKs[1] = nil }, "save_data.PaillierPKs[1]", nil},
		{"Paillier key missing", func(r *Record) { r.SaveData.PaillierSK = nil }, "save_data.PaillierSK", nil},
		{"Paillier P missing", func(r *Record) { r.SaveData.PaillierSK.P = nil }, "save_data.PaillierSK.P", nil},
		{"Paillier N not P·Q", func(r *Record) { r.SaveData.PaillierSK.N = add(r.SaveData.PaillierSK.N, 2) }, "save_data.PaillierSK.N", nil},
		{"Paillier PhiN wrong", func(r *Record) { r.SaveData.PaillierSK.PhiN = r.SaveData.PaillierSK.LambdaN }, "save_data.PaillierSK.PhiN", nil},
		{"Paillier LambdaN wrong", func(r *Record) { r.SaveData.PaillierSK.LambdaN = r.SaveData.PaillierSK.PhiN }, "save_data.PaillierSK.LambdaN", nil},
		{"Alpha missing", func(r *Record) { r.SaveData.Alpha = nil }, "save_data.Alpha", nil},
		{"NTildei not from P, Q", func(r *Record) { r.SaveData.P = add(r.SaveData.P, 2) }, "save_data.NTildei", nil},
		{"own NTildej differs", func(r *Record) { r.SaveData.NTildej[0] = r.SaveData.NTildej[1] }, "save_data.NTildej[0]", nil},
		{"own H1j differs", func(r *Record) { r.SaveData.H1j[0] = r.SaveData.H1j[2] }, "save_data.H1j[0]", nil},
		{"own Paillier key differs", func(r *Record) { r.SaveData.PaillierPKs[0] = r.SaveData.PaillierPKs[1] }, "save_data.PaillierPKs[0]", nil},
		{"BigXj missing", func(r *Record) { r.SaveData.BigXj[1] = nil }, "save_data.BigXj[1]", nil},
		{"BigXj off the curve", func(r *Record) {
			p := r.SaveData.BigXj[1]
			r.SaveData.BigXj[1] = crypto.NewECPointNoCurveCheck(tss.S256(), p.X(), add(p.Y(), 1))
		}, "save_data.BigXj[1]", ErrMalformed},
		{"BigXj on ed25519", func(r *Record) {
			r.SaveData.BigXj[1] = crypto.NewECPointNoCurveCheck(tss.Edwards(), ed.Gx, ed.Gy)
		}, "save_data.BigXj[1]", nil},
		// tss-lib's secp256k1 curve check reads only the first 32 bytes of
		// a coordinate and ignores its sign, so it accepts these.
		{"BigXj x with an extra byte", func(r *Record) {
			p := r.SaveData.BigXj[2]
			x := add(new(big.Int).Lsh(p.X(), 8), 7)
			r.SaveData.BigXj[2] = crypto.NewECPointNoCurveCheck(tss.S256(), x, p.Y())
		}, "save_data.BigXj[2]", nil},
		{"BigXj negative y", func(r *Record) {
			p := r.SaveData.BigXj[2]
			r.SaveData.BigXj[2] = crypto.NewECPointNoCurveCheck(tss.S256(), p.X(), new(big.Int).Neg(p.Y()))
		}, "save_data.BigXj[2]", nil},
		{"Xi tampered", func(r *Record) { r.SaveData.Xi = add(r.SaveData.Xi, 1) }, "save_data.Xi", nil},
		{"Xi zero", func(r *Record) { r.SaveData.Xi = new(big.Int) }, "save_data.Xi", nil},
		{"Xi the group order", func(r *Record) { r.SaveData.Xi = tss.S256().Params().N }, "save_data.Xi", nil},
		{"Xi missing", func(r *Record) { r.SaveData.Xi = nil }, "save_data.Xi", nil},
		{"ECDSAPub missing", func(r *Record) { r.SaveData.ECDSAPub = nil }, "save_data.ECDSAPub", nil},
		{"another party's BigXj tampered", func(r *Record) {
			p, err := r.SaveData.BigXj[1].Add(g)
			if err != nil {
				t.Fatal(err)
			}
			r.SaveData.BigXj[1] = p
		}, "save_data.BigXj", nil},
		{"public key replaced consistently", func(r *Record) {
			r.SaveData.ECDSAPub = g
			r.PublicKey = compressed(g)
		}, "save_data.BigXj", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := testRecord(t, 0)
			secret := secrets(r.SaveData)
			c.mutate(r)
			secret = append(secret, secrets(r.SaveData)...)

			_, err := Encode(r)
			wantError(t, err, ErrInconsistent, c.field)
			for _, s := range secret {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("message %q contains a secret value", err)
				}
			}

			enc, err := encodeUnchecked(r)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decode(enc)
			if c.viaJSON != nil {
				wantError(t, err, c.viaJSON, "save_data")
			} else {
				wantError(t, err, ErrInconsistent, c.field)
			}
		})
	}
}

func TestValidateNoPanics(t *testing.T) {
	// Values Decode cannot produce but a caller can hand to Encode.
	cases := map[string]func(r *Record){
		"point without a curve": func(r *Record) {
			p := r.SaveData.BigXj[1]
			r.SaveData.BigXj[1] = crypto.NewECPointNoCurveCheck(nil, p.X(), p.Y())
		},
		"point without coordinates": func(r *Record) { r.SaveData.ECDSAPub = new(crypto.ECPoint) },
		"empty save data":           func(r *Record) { r.SaveData = new(keygen.LocalPartySaveData) },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			r := testRecord(t, 0)
			mutate(r)
			if _, err := Encode(r); !errors.Is(err, ErrInconsistent) {
				t.Fatalf("Encode: %v; want %v", err, ErrInconsistent)
			}
		})
	}
	if _, err := Encode(nil); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("Encode(nil): %v; want %v", err, ErrInconsistent)
	}
}

func TestMalformedSaveDataHidesSecrets(t *testing.T) {
	rec := keygenRecords(t)[0]
	enc := testEncodings(t)[0]
	// math/big quotes the text it cannot parse; the record's errors must not.
	for _, f := range []func(sd map[string]any){
		func(sd map[string]any) { sd["Xi"] = rec.SaveData.Xi.String() },
		func(sd map[string]any) { sd["Xi"] = rec.SaveData.Xi.String() + ".0" },
		func(sd map[string]any) { sd["PaillierSK"].(map[string]any)["P"] = rec.SaveData.PaillierSK.P.String() },
	} {
		_, err := Decode(editJSON(t, enc, func(m map[string]any) { f(saveDataOf(m)) }))
		wantError(t, err, ErrMalformed, "save_data")
		for _, s := range secrets(rec.SaveData) {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("message %q contains a secret value", err)
			}
		}
	}
}

func TestError(t *testing.T) {
	sentinels := []error{ErrMalformed, ErrTruncated, ErrTooLarge, ErrUnsupportedVersion, ErrInconsistent}
	for i, code := range []Code{CodeMalformed, CodeTruncated, CodeTooLarge, CodeUnsupportedVersion, CodeInconsistent} {
		err := error(&Error{Code: code, Field: "threshold", Err: io.ErrUnexpectedEOF})
		for j, s := range sentinels {
			if errors.Is(err, s) != (i == j) {
				t.Errorf("code %d: errors.Is(%v) = %v", code, s, !(i == j))
			}
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("code %d: cause not unwrapped", code)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, sentinels[i].Error()) || !strings.Contains(msg, "threshold") {
			t.Errorf("code %d: message %q", code, msg)
		}
	}
	unknown := &Error{}
	if errors.Is(unknown, ErrMalformed) || unknown.Error() == "" {
		t.Errorf("zero Error: %q", unknown)
	}
	v := &Error{Code: CodeUnsupportedVersion, Field: "version", Version: 7}
	if want := "share: unsupported record version 7 (this package reads versions 1..3): version"; v.Error() != want {
		t.Errorf("message %q; want %q", v, want)
	}
}

// TestInconsistentHolders covers the version 2 fields: holders, policy,
// epoch and the party's own identity key, in a server's and a client's
// record.
func TestInconsistentHolders(t *testing.T) {
	var server, client int
	for i, r := range keygenRecords(t) {
		if r.Own().Kind == identity.KindClient {
			client = i
		} else {
			server = i
		}
	}
	other, _ := identity.GenerateKey()
	cases := []struct {
		name   string
		of     int
		mutate func(r *Record)
		field  string
		// viaJSON: what Decode says when the encoding cannot carry the
		// mutation (nil: ErrInconsistent).
		viaJSON error
	}{
		{"negative epoch", server, func(r *Record) { r.Epoch = -1 }, "epoch", nil},
		{"one holder missing", server, func(r *Record) { r.Holders = r.Holders[:2] }, "holders", nil},
		{"holders out of order", server, func(r *Record) { r.Holders[0], r.Holders[1] = r.Holders[1], r.Holders[0] }, "holders[0].party_id", nil},
		{"holder of no kind", server, func(r *Record) { r.Holders[1].Kind = 0 }, "holders[1].kind", ErrMalformed},
		{"issuer as holder", server, func(r *Record) { r.Holders[1].Kind = identity.KindIssuer }, "holders[1].kind", nil},
		{"two holders one identity", server, func(r *Record) { r.Holders[2].Identity = r.Holders[1].Identity }, "holders[2].identity_key", nil},
		{"no identity key", server, func(r *Record) { r.Holders[1].Identity = identity.PublicKey{} }, "holders[1].identity_key", nil},
		{"client required, no client", server, func(r *Record) {
			for i := range r.Holders {
				if r.Holders[i].Kind == identity.KindClient {
					r.Holders[i].Kind = identity.KindUser
				}
			}
		}, "policy.client_required", nil},
		{"server keeps an identity key", server, func(r *Record) { r.IdentitySeed = other.Seed() }, "identity", nil},
		{"client without its identity key", client, func(r *Record) { r.IdentitySeed = nil }, "identity", nil},
		{"client with another identity key", client, func(r *Record) { r.IdentitySeed = other.Seed() }, "identity", nil},
		{"client with a short identity key", client, func(r *Record) { r.IdentitySeed = other.Seed()[:31] }, "identity", ErrMalformed},
		{"legacy requiring a client", server, func(r *Record) { r.Holders = nil }, "policy.client_required", nil},
		{"legacy with an identity key", client, func(r *Record) { r.Holders, r.Policy = nil, Policy{} }, "identity", nil},
		{"recovery without a client required", server, func(r *Record) {
			r.Policy = Policy{Recovery: identity.Recovery{Backend: true}}
			for i := range r.Holders {
				if r.Holders[i].Kind == identity.KindClient {
					r.Holders[i].Kind = identity.KindUser
				}
			}
		}, "policy.recovery_kit", nil},
		{"legacy with a recovery policy", server, func(r *Record) {
			r.Holders, r.Policy = nil, Policy{Recovery: identity.Recovery{Kit: other.Public()}}
		}, "policy.recovery_kit", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := testRecord(t, c.of)
			c.mutate(r)
			err := r.Validate()
			wantError(t, err, ErrInconsistent, c.field)
			if seed := hex.EncodeToString(testRecord(t, client).IdentitySeed); strings.Contains(err.Error(), seed) {
				t.Fatal("message contains the identity key")
			}
			if _, err := Encode(r); err == nil {
				t.Fatal("Encode accepted it")
			}
			enc, err := encodeUnchecked(r)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decode(enc)
			if c.viaJSON == nil {
				c.viaJSON = ErrInconsistent
			}
			wantError(t, err, c.viaJSON, c.field)
		})
	}
}

func TestDecodeMalformedV2(t *testing.T) {
	enc := testEncodings(t)[0]
	seedHex := strings.Repeat("Z", 64)
	for _, c := range []struct {
		name  string
		edit  func(m map[string]any)
		field string
	}{
		{"holder with an unknown key", func(m map[string]any) { m["holders"].([]any)[1].(map[string]any)["extra"] = 1 }, "holders[1].extra"},
		{"holder kind unknown", func(m map[string]any) { m["holders"].([]any)[1].(map[string]any)["kind"] = "admin" }, "holders[1].kind"},
		{"holder key not hex", func(m map[string]any) { m["holders"].([]any)[0].(map[string]any)["identity_key"] = "xyz" }, "holders[0].identity_key"},
		{"holder missing kind", func(m map[string]any) { delete(m["holders"].([]any)[0].(map[string]any), "kind") }, "holders[0].kind"},
		{"policy with an unknown key", func(m map[string]any) { m["policy"].(map[string]any)["admins"] = true }, "policy.admins"},
		{"policy not an object", func(m map[string]any) { m["policy"] = true }, "policy"},
		{"no epoch", func(m map[string]any) { delete(m, "epoch") }, "epoch"},
		{"identity not hex", func(m map[string]any) { m["identity"] = seedHex }, "identity"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(editJSON(t, enc, c.edit))
			wantError(t, err, ErrMalformed, c.field)
			if strings.Contains(err.Error(), seedHex) {
				t.Fatal("message quotes the identity value")
			}
		})
	}
}

// A co-managed record's recovery policy round-trips, each key present only
// when set; a malformed one is refused naming the key.
func TestRecoveryPolicy(t *testing.T) {
	var client int
	for i, r := range keygenRecords(t) {
		if r.Own().Kind == identity.KindClient {
			client = i
		}
	}
	kit, _ := identity.GenerateKey()
	for _, pol := range []identity.Recovery{{}, {Kit: kit.Public()}, {Backend: true}, {Kit: kit.Public(), Backend: true}} {
		r := testRecord(t, client)
		r.Policy.Recovery = pol
		b, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(b), `"recovery_kit"`); got != !pol.Kit.IsZero() {
			t.Errorf("%+v: recovery_kit present: %t", pol, got)
		}
		if got := strings.Contains(string(b), `"recovery_backend"`); got != pol.Backend {
			t.Errorf("%+v: recovery_backend present: %t", pol, got)
		}
		back, err := Decode(b)
		if err != nil || !back.Policy.Recovery.Equal(pol) {
			t.Fatalf("%+v: round trip %+v, %v", pol, back, err)
		}
	}
	r := testRecord(t, client)
	r.Policy.Recovery = identity.Recovery{Kit: kit.Public(), Backend: true}
	enc, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(p map[string]any){
		"short kit":        func(p map[string]any) { p["recovery_kit"] = "abcd" },
		"zero kit":         func(p map[string]any) { p["recovery_kit"] = strings.Repeat("0", 64) },
		"kit not a string": func(p map[string]any) { p["recovery_kit"] = 7 },
		"backend false":    func(p map[string]any) { p["recovery_backend"] = false },
		"backend a string": func(p map[string]any) { p["recovery_backend"] = "yes" },
		"unknown key":      func(p map[string]any) { p["recovery_email"] = "x" },
	} {
		bad := editJSON(t, enc, func(m map[string]any) { edit(m["policy"].(map[string]any)) })
		if _, err := Decode(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode = %v, want ErrMalformed", name, err)
		}
	}
}
