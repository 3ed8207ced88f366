package main

import (
	"os"
	"path/filepath"
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
		tx, signer, digest, err := ethTx(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sig, err := crypto.Sign(digest, key)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := tx.WithSignature(signer, sig)
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
