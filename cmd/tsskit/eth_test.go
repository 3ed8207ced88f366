package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// Every transaction type is signed for the chainId given, a legacy one
// included (EIP-155): go-ethereum reads the chain back from the signed
// transaction.
func TestEthTxChainID(t *testing.T) {
	dir := t.TempDir()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"legacy":  `{"type":"legacy","chainId":11155111,"nonce":1,"to":"0x00000000000000000000000000000000000000aa","gas":21000,"gasPrice":"1000000000"}`,
		"eip2930": `{"type":"eip2930","chainId":11155111,"nonce":1,"to":"0x00000000000000000000000000000000000000aa","gas":21000,"gasPrice":"1000000000","accessList":[]}`,
		"eip1559": `{"type":"eip1559","chainId":11155111,"nonce":1,"to":"0x00000000000000000000000000000000000000aa","gas":21000,"maxFeePerGas":"30000000000"}`,
	} {
		f := filepath.Join(dir, name+".json")
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		etx, err := ethTx(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sig, err := crypto.Sign(etx.digest, key)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := etx.tx.WithSignature(etx.signer, sig)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := signed.MarshalBinary()
		var back types.Transaction
		if err := back.UnmarshalBinary(raw); err != nil {
			t.Fatal(err)
		}
		from, err := types.Sender(types.LatestSignerForChainID(back.ChainId()), &back)
		if back.ChainId().Int64() != 11155111 || err != nil || from != crypto.PubkeyToAddress(key.PublicKey) {
			t.Fatalf("%s: signed for chain %v, sender %s (%v)", name, back.ChainId(), from.Hex(), err)
		}
	}
}

// A transaction the CLI would have to read loosely or partly is refused,
// naming the problem, before anything is signed: numbers only in the
// forms viem writes, no field ignored, no trailing data.
func TestEthTxRefused(t *testing.T) {
	const base = `"chainId":1,"nonce":1,"to":"0x00000000000000000000000000000000000000aa","gas":21000`
	for body, want := range map[string]string{
		`{` + base + `,"gasPrice":"0100"}`:                                      "gasPrice: want a non-negative integer",
		`{` + base + `,"gasPrice":"1_000"}`:                                     "gasPrice: want",
		`{` + base + `,"gasPrice":"+5"}`:                                        "gasPrice: want",
		`{` + base + `,"gasPrice":"0b101"}`:                                     "gasPrice: want",
		`{` + base + `,"gasPrice":"0o17"}`:                                      "gasPrice: want",
		`{` + base + `,"gasPrice":1e9}`:                                         "gasPrice: want",
		`{` + base + `,"gasPrice":1.5}`:                                         "gasPrice: want",
		`{` + base + `,"gasPrice":-1}`:                                          "gasPrice: want",
		`{` + base + `,"gasPrice":0x10}`:                                        "want a JSON object",
		`{` + base + `,"gasPrice":"0X10"}`:                                      "gasPrice: want",
		`{` + base + `,"gasPrice":" 1"}`:                                        "gasPrice: want",
		`{` + base + `,"gasPrice":"0x` + strings.Repeat("f", 65) + `"}`:         "gasPrice: want",
		`{` + base + `,"gasPrice":1}{}`:                                         "nothing after it",
		`{` + base + `,"gasPrice":1} x`:                                         "nothing after it",
		`{` + base + `,"gasPrice":1,"maxFeePerGas":2}`:                          "gasPrice belongs to legacy",
		`{"type":"legacy",` + base + `,"gasPrice":1,"maxFeePerGas":2}`:          "belong to eip1559",
		`{"type":"eip2930",` + base + `,"gasPrice":1,"maxPriorityFeePerGas":2}`: "belong to eip1559",
		`{` + base + `,"maxFeePerGas":1,"maxPriorityFeePerGas":2}`:              "above maxFeePerGas",
		`{` + base + `,"gasPrice":1,"data":"0x01","input":"0x02"}`:              "data and input differ",
		`{` + base + `,"gasPrice":1,"data":"01"}`:                               "data:",
		`{` + base + `,"gasPrice":1,"from":"0x12"}`:                             "from: want a 0x address",
		`{` + base + `,"gasPrice":1,"sender":"0x00"}`:                           "unknown field",
		`{"chainId":0,"nonce":1,"gas":1,"gasPrice":1}`:                          "chainId is required",
		`{"chainId":9223372036854775772,"nonce":1,"gas":1,"gasPrice":1}`:        "EIP-2294",
		`{"chainId":1,"nonce":18446744073709551615,"gas":1,"gasPrice":1}`:       "nonce: at most",
		`{"chainId":1,"gas":1,"gasPrice":1}`:                                    "nonce is required",
		`{"chainId":1,"nonce":1,"gasPrice":1}`:                                  "gas is required",
		// Keys exactly, once: encoding/json alone would take "DATA" as
		// data, and the second "to".
		`{` + base + `,"gasPrice":1,"data":"0x","DATA":"0xa9059cbb"}`:                                                                    "unknown field \"DATA\"",
		`{` + base + `,"gasPrice":1,"to":"0x00000000000000000000000000000000000000bb"}`:                                                  "\"to\" given twice",
		`{` + base + `,"gasPrice":1,"accessList":[{"address":"0x00000000000000000000000000000000000000aa","storageKeys":[],"extra":1}]}`: "accessList[0]: unknown field",
		`{` + base + `,"gasPrice":1,"accessList":[{"Address":"0x00000000000000000000000000000000000000aa","storageKeys":[]}]}`:           "accessList[0]: unknown field",
		`{` + base + `,"gasPrice":1,"accessList":{}}`:                                                                                    "accessList: want a list",
		`[` + base + `]`: "want a JSON object",
	} {
		if _, _, _, err := parseEthTx([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want an error saying %q", body, err, want)
		}
	}
	// The bounds themselves, and the forms that are accepted.
	for _, body := range []string{
		`{"chainId":9223372036854775771,"nonce":18446744073709551614,"gas":1,"gasPrice":1}`,
		`{"chainId":"0x1","nonce":"0","gas":"0x5208","gasPrice":"1000000000","value":"0x0de0b6b3a7640000","data":"0x","input":"0x"}`,
		`{"chainId":1,"nonce":0,"gas":21000,"maxFeePerGas":"0x` + strings.Repeat("f", 64) + `","from":"0x00000000000000000000000000000000000000aa"}`,
		// null is absent, as viem and RPC responses write it.
		`{"type":"eip1559","chainId":1,"nonce":0,"gas":21000,"maxFeePerGas":1,"gasPrice":null,"to":null,"accessList":null}`,
		`{"chainId":1,"nonce":0,"gas":21000,"gasPrice":"1","maxFeePerGas":null,"maxPriorityFeePerGas":null}`,
		`{"chainId":1,"nonce":0,"gas":21000,"gasPrice":"1","accessList":[{"address":"0x00000000000000000000000000000000000000aa","storageKeys":["0x` + strings.Repeat("0", 64) + `"]}]}`,
	} {
		if _, _, _, err := parseEthTx([]byte(body)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}
