package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/rwadurian/tsskit/party"
)

// Ethereum encoding for the CLI party, with go-ethereum (never by hand):
// EIP-191 personal messages and EIP-1559, EIP-2930 and legacy (EIP-155)
// transactions, in the same JSON form the SDK takes (viem's field names).

const (
	// maxEthMessage bounds --eth-message, as the SDK does.
	maxEthMessage = 64 << 10
	// maxEthTxFile bounds an --eth-tx file.
	maxEthTxFile = 256 << 10
)

// ethMessageDigest is the EIP-191 personal_sign digest of msg.
func ethMessageDigest(msg []byte) ([]byte, error) {
	if len(msg) > maxEthMessage {
		return nil, configErrorf("--eth-message: %d bytes; at most %d", len(msg), maxEthMessage)
	}
	return accounts.TextHash(msg), nil
}

// ethSignature is the 65-byte r || s || v form wallets return for a
// personal message, with v = 27 + the recovery id.
func ethSignature(sig *party.Signature) string {
	return hexutil.Encode(append(append([]byte(nil), sig.Signature...), 27+sig.V))
}

// ethTxJSON is a transaction as the SDK and viem write it: numbers as
// JSON numbers, decimal strings or 0x-hex strings.
type ethTxJSON struct {
	Type                 string           `json:"type"`
	ChainID              json.RawMessage  `json:"chainId"`
	Nonce                json.RawMessage  `json:"nonce"`
	To                   *string          `json:"to"`
	Value                json.RawMessage  `json:"value"`
	Data                 string           `json:"data"`
	Input                string           `json:"input"`
	Gas                  json.RawMessage  `json:"gas"`
	GasPrice             json.RawMessage  `json:"gasPrice"`
	MaxFeePerGas         json.RawMessage  `json:"maxFeePerGas"`
	MaxPriorityFeePerGas json.RawMessage  `json:"maxPriorityFeePerGas"`
	AccessList           types.AccessList `json:"accessList"`
}

// ethTx reads an unsigned transaction and returns it, its signer and the
// digest to sign.
func ethTx(file string) (*types.Transaction, types.Signer, []byte, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(raw) > maxEthTxFile {
		return nil, nil, nil, configErrorf("--eth-tx: %d bytes; at most %d", len(raw), maxEthTxFile)
	}
	tx, chainID, err := parseEthTx(raw)
	if err != nil {
		return nil, nil, nil, configErrorf("--eth-tx %s: %v", file, err)
	}
	// The chain id as given: an unsigned legacy transaction carries none
	// (go-ethereum would derive one from its zero V).
	signer := types.LatestSignerForChainID(chainID)
	h := signer.Hash(tx)
	return tx, signer, h[:], nil
}

// parseEthTx returns the transaction and its chain id (which a legacy
// transaction does not carry itself).
func parseEthTx(raw []byte) (*types.Transaction, *big.Int, error) {
	var j ethTxJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, nil, fmt.Errorf("want a transaction JSON object: %v", err)
	}
	num := func(name string, v json.RawMessage, required bool) (*big.Int, error) {
		if len(v) == 0 || string(v) == "null" {
			if required {
				return nil, fmt.Errorf("%s is required", name)
			}
			return new(big.Int), nil
		}
		var s string
		if v[0] == '"' {
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("%s: %v", name, err)
			}
		} else {
			s = string(v)
		}
		n, ok := new(big.Int).SetString(s, 0)
		if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
			n, ok = new(big.Int).SetString(s[2:], 16)
		}
		if !ok || n.Sign() < 0 || n.BitLen() > 256 {
			return nil, fmt.Errorf("%s: want a non-negative integer (number, decimal or 0x-hex string)", name)
		}
		return n, nil
	}
	chainID, err := num("chainId", j.ChainID, false)
	if err != nil {
		return nil, nil, err
	}
	if chainID.Sign() <= 0 {
		return nil, nil, errors.New("chainId is required (a transaction without one could be replayed on every chain)")
	}
	nonce, err := num("nonce", j.Nonce, true)
	if err != nil {
		return nil, nil, err
	}
	if !nonce.IsUint64() {
		return nil, nil, errors.New("nonce: out of range")
	}
	gas, err := num("gas", j.Gas, true)
	if err != nil {
		return nil, nil, err
	}
	if !gas.IsUint64() {
		return nil, nil, errors.New("gas: out of range")
	}
	value, err := num("value", j.Value, false)
	if err != nil {
		return nil, nil, err
	}
	var to *common.Address
	if j.To != nil {
		if !common.IsHexAddress(*j.To) {
			return nil, nil, errors.New("to: want a 0x address of 20 bytes")
		}
		a := common.HexToAddress(*j.To)
		to = &a
	}
	dataHex := j.Data
	if dataHex == "" {
		dataHex = j.Input
	}
	var data []byte
	if dataHex != "" {
		if data, err = hexutil.Decode(dataHex); err != nil {
			return nil, nil, fmt.Errorf("data: %v", err)
		}
	}
	typ := j.Type
	if typ == "" {
		switch {
		case len(j.MaxFeePerGas) > 0:
			typ = "eip1559"
		case j.AccessList != nil:
			typ = "eip2930"
		default:
			typ = "legacy"
		}
	}
	switch typ {
	case "eip1559":
		maxFee, err := num("maxFeePerGas", j.MaxFeePerGas, true)
		if err != nil {
			return nil, nil, err
		}
		tip, err := num("maxPriorityFeePerGas", j.MaxPriorityFeePerGas, false)
		if err != nil {
			return nil, nil, err
		}
		return types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: nonce.Uint64(), GasTipCap: tip, GasFeeCap: maxFee, Gas: gas.Uint64(),
			To: to, Value: value, Data: data, AccessList: j.AccessList}), chainID, nil
	case "eip2930", "legacy":
		price, err := num("gasPrice", j.GasPrice, true)
		if err != nil {
			return nil, nil, err
		}
		if typ == "legacy" {
			if j.AccessList != nil {
				return nil, nil, errors.New("a legacy transaction has no accessList")
			}
			return types.NewTx(&types.LegacyTx{Nonce: nonce.Uint64(), GasPrice: price, Gas: gas.Uint64(), To: to, Value: value, Data: data}), chainID, nil
		}
		return types.NewTx(&types.AccessListTx{ChainID: chainID, Nonce: nonce.Uint64(), GasPrice: price, Gas: gas.Uint64(), To: to, Value: value,
			Data: data, AccessList: j.AccessList}), chainID, nil
	}
	return nil, nil, fmt.Errorf("type %s: want eip1559, eip2930 or legacy", strconv.Quote(typ))
}

// signedEthTx attaches sig to tx and returns the serialized signed
// transaction, checking that it recovers to the expected address.
func signedEthTx(tx *types.Transaction, signer types.Signer, sig *party.Signature, address string) (string, error) {
	signed, err := tx.WithSignature(signer, append(append([]byte(nil), sig.Signature...), sig.V))
	if err != nil {
		return "", err
	}
	from, err := types.Sender(signer, signed)
	if err != nil || !strings.EqualFold(from.Hex(), address) {
		return "", fmt.Errorf("the signed transaction recovers to %s, not the signing address %s", from.Hex(), address)
	}
	b, err := signed.MarshalBinary()
	if err != nil {
		return "", err
	}
	return hexutil.Encode(b), nil
}
