package coordinator_test

import (
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto/ckd"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/share"
)

// ethSig is the account API's signature as go-ethereum takes it: r || s ||
// v with v the recovery id.
func ethSig(t *testing.T, sig map[string]any) []byte {
	t.Helper()
	rs, err := hex.DecodeString(sig["signature"].(string))
	if err != nil || len(rs) != 64 {
		t.Fatalf("signature %v", sig["signature"])
	}
	return append(rs, byte(sig["v"].(float64)))
}

// The account API with derivation paths, checked by go-ethereum: an
// EIP-1559 transaction signed at m/0/5 has the derived address as its
// sender, and a personal message signed with the account key recovers to
// the account's address. The xpub derives (BIP32 public derivation) the
// addresses the API gives. Bad paths are refused with 400, nothing signed.
func TestAccountAPIEthereum(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{})
	api := &apiClient{t: t, base: q.APIURL, key: q.APIKey}
	code, acct := api.do("POST", "/api/v1/accounts", q.APIKey, `{"user_id":"eth-user","share_password":"`+testPassword+`"}`)
	if code != 201 {
		t.Fatalf("create account: %d %v", code, acct)
	}
	id := acct["account_id"].(string)
	xpub, _ := acct["xpub"].(string)
	if !strings.HasPrefix(xpub, "xpub") {
		t.Fatalf("xpub %q", xpub)
	}
	if code, got := api.do("GET", "/api/v1/accounts/"+id, q.APIKey, ""); code != 200 || got["xpub"] != xpub {
		t.Fatalf("GET account: %d %v", code, got)
	}
	pub, _ := hex.DecodeString(acct["public_key"].(string))

	// The address at m/0/5, from the API and from the xpub.
	code, addr := api.do("GET", "/api/v1/accounts/"+id+"/addresses?path=m/0/5", q.APIKey, "")
	if code != 200 || addr["path"] != "m/0/5" {
		t.Fatalf("addresses: %d %v", code, addr)
	}
	childPub, _ := hex.DecodeString(addr["public_key"].(string))
	if addr["address"] != share.Address(childPub) || addr["address"] == acct["address"] {
		t.Fatalf("child address %v (account %v)", addr["address"], acct["address"])
	}
	cc := xpubChainCode(t, xpub, pub)
	if c, err := hd.Derive(pub, cc, hd.Path{0, 5}); err != nil || hex.EncodeToString(c.PublicKey) != addr["public_key"] {
		t.Fatalf("xpub derivation %x, %v; API %v", c.PublicKey, err, addr["public_key"])
	}

	// EIP-1559 transaction at m/0/5.
	chainID := big.NewInt(11155111)
	to := common.HexToAddress("0x00000000000000000000000000000000deadbeef")
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: 7, GasTipCap: big.NewInt(1_000_000_000), GasFeeCap: big.NewInt(30_000_000_000),
		Gas: 21000, To: &to, Value: big.NewInt(1_000_000_000_000_000)})
	signer := types.LatestSignerForChainID(chainID)
	h := signer.Hash(tx)
	code, sig := api.do("POST", "/api/v1/accounts/"+id+"/sign", q.APIKey, fmt.Sprintf(`{"message":"%x","path":"m/0/5"}`, h[:]))
	if code != 200 || sig["path"] != "m/0/5" || sig["address"] != addr["address"] {
		t.Fatalf("sign at m/0/5: %d %v", code, sig)
	}
	signed, err := tx.WithSignature(signer, ethSig(t, sig))
	if err != nil {
		t.Fatal(err)
	}
	from, err := types.Sender(signer, signed)
	if err != nil || !strings.EqualFold(from.Hex(), addr["address"].(string)) {
		t.Fatalf("go-ethereum recovers sender %s (%v); want %v", from.Hex(), err, addr["address"])
	}
	raw, err := signed.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back types.Transaction
	if err := back.UnmarshalBinary(raw); err != nil || back.Hash() != signed.Hash() {
		t.Fatalf("the signed transaction does not parse back: %v", err)
	}

	// A personal message (EIP-191) with the account key itself.
	msg := []byte("tsskit account " + id)
	digest := accounts.TextHash(msg)
	code, sig = api.do("POST", "/api/v1/accounts/"+id+"/sign", q.APIKey, fmt.Sprintf(`{"message":"%x"}`, digest))
	if code != 200 || sig["path"] != "m" || sig["address"] != acct["address"] {
		t.Fatalf("sign: %d %v", code, sig)
	}
	rec, err := crypto.SigToPub(digest, ethSig(t, sig))
	if err != nil || !strings.EqualFold(crypto.PubkeyToAddress(*rec).Hex(), acct["address"].(string)) {
		t.Fatalf("go-ethereum recovers %v (%v); want %v", rec, err, acct["address"])
	}

	// Bad paths: refused (before a session is made), naming the problem.
	for path, want := range map[string]string{
		`"m/0'/1"`:       "hardened",
		`"m/44h"`:        "hardened",
		`"m/2147483648"`: "hardened",
		`"m/x"`:          "not a decimal",
		`"m//1"`:         "empty",
		`""`:             "empty",
	} {
		code, body := api.do("POST", "/api/v1/accounts/"+id+"/sign", q.APIKey, fmt.Sprintf(`{"message":"%x","path":%s}`, h[:], path))
		e, _ := body["error"].(map[string]any)
		if code != 400 || e == nil || !strings.Contains(fmt.Sprint(e["message"]), want) {
			t.Errorf("sign with path %s: %d %v; want 400 saying %q", path, code, body, want)
		}
	}
	for _, p := range []string{"m/1'", "m/01", ""} {
		if code, body := api.do("GET", "/api/v1/accounts/"+id+"/addresses?path="+p, q.APIKey, ""); code != 400 {
			t.Errorf("addresses?path=%s: %d %v", p, code, body)
		}
	}

	// The row as a coordinator older than chain codes would have written
	// it during a rolling upgrade: the chain code is unknown, so nothing
	// is derived (no xpub, no child address, no signing at a path) rather
	// than the legacy rule's guess; the account key still signs.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(q.DataDir, "coordinator.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if res, err := db.Exec(`UPDATE wallets SET chain_code = '' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%d rows", n)
	}
	if code, got := api.do("GET", "/api/v1/accounts/"+id, q.APIKey, ""); code != 200 || got["xpub"] != nil {
		t.Errorf("GET account with an unknown chain code: %d %v; want no xpub", code, got)
	}
	code, body := api.do("GET", "/api/v1/accounts/"+id+"/addresses?path=m/0/5", q.APIKey, "")
	if e, _ := body["error"].(map[string]any); code != 409 || e == nil || !strings.Contains(fmt.Sprint(e["message"]), "chain code is unknown") {
		t.Errorf("addresses with an unknown chain code: %d %v; want 409", code, body)
	}
	code, body = api.do("POST", "/api/v1/accounts/"+id+"/sign", q.APIKey, fmt.Sprintf(`{"message":"%x","path":"m/0/5"}`, h[:]))
	if e, _ := body["error"].(map[string]any); code != 409 || e == nil || !strings.Contains(fmt.Sprint(e["message"]), "chain code is unknown") {
		t.Errorf("sign at a path with an unknown chain code: %d %v; want 409", code, body)
	}
	code, sig = api.do("POST", "/api/v1/accounts/"+id+"/sign", q.APIKey, fmt.Sprintf(`{"message":"%x"}`, digest))
	if code != 200 || sig["address"] != acct["address"] {
		t.Fatalf("sign with the account key, chain code unknown: %d %v", code, sig)
	}
	if rec, err := crypto.SigToPub(digest, ethSig(t, sig)); err != nil || !strings.EqualFold(crypto.PubkeyToAddress(*rec).Hex(), acct["address"].(string)) {
		t.Fatalf("go-ethereum recovers %v (%v); want %v", rec, err, acct["address"])
	}
}

// xpubChainCode takes the chain code out of a depth-0 xpub of pub, with
// tss-lib's BIP32 parser.
func xpubChainCode(t *testing.T, xpub string, pub []byte) []byte {
	t.Helper()
	k, err := ckd.NewExtendedKeyFromString(xpub, tss.S256())
	if err != nil {
		t.Fatal(err)
	}
	x := make([]byte, 33)
	x[0] = 2 | byte(k.Y.Bit(0))
	k.X.FillBytes(x[1:])
	if k.Depth != 0 || hex.EncodeToString(x) != hex.EncodeToString(pub) {
		t.Fatalf("xpub of another key, or depth %d", k.Depth)
	}
	return k.ChainCode
}
