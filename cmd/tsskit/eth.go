package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"reflect"
	"regexp"
	"slices"
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
	From                 *string          `json:"from"`
	To                   *string          `json:"to"`
	Value                json.RawMessage  `json:"value"`
	Data                 *string          `json:"data"`
	Input                *string          `json:"input"`
	Gas                  json.RawMessage  `json:"gas"`
	GasPrice             json.RawMessage  `json:"gasPrice"`
	MaxFeePerGas         json.RawMessage  `json:"maxFeePerGas"`
	MaxPriorityFeePerGas json.RawMessage  `json:"maxPriorityFeePerGas"`
	AccessList           types.AccessList `json:"accessList"`
}

// maxEthChainID is the largest chain id EIP-2294 allows,
// floor(MAX_UINT64 / 2) - 36: a legacy transaction's v, up to
// 2·chainId + 36, must fit in 64 bits.
const maxEthChainID = uint64(math.MaxUint64)/2 - 36

// ethTxn is a transaction to sign: the transaction, its signer, the digest
// and the sender it names (nil when it names none).
type ethTxn struct {
	tx     *types.Transaction
	signer types.Signer
	digest []byte
	from   *common.Address
}

// ethTx reads an unsigned transaction from file.
func ethTx(file string) (*ethTxn, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if len(raw) > maxEthTxFile {
		return nil, configErrorf("--eth-tx: %d bytes; at most %d", len(raw), maxEthTxFile)
	}
	tx, chainID, from, err := parseEthTx(raw)
	if err != nil {
		return nil, configErrorf("--eth-tx %s: %v", file, err)
	}
	// The chain id as given: an unsigned legacy transaction carries none
	// (go-ethereum would derive one from its zero V).
	signer := types.LatestSignerForChainID(chainID)
	h := signer.Hash(tx)
	return &ethTxn{tx: tx, signer: signer, digest: h[:], from: from}, nil
}

// given says whether a transaction field is there: absent and null (as
// viem and RPC responses write an unset field) are not.
func given(v json.RawMessage) bool { return len(v) > 0 && string(v) != "null" }

var (
	decimalNumber = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
	hexNumber     = regexp.MustCompile(`^0x[0-9a-fA-F]+$`)
)

// ethNumber reads a transaction number: a JSON integer, a decimal string
// or a 0x-hex string (what viem and the SDK write) and nothing looser
// (no octal, sign, underscores, exponent or fraction). Absent or null is
// nil.
func ethNumber(name string, v json.RawMessage) (*big.Int, error) {
	if !given(v) {
		return nil, nil
	}
	s := string(v)
	if v[0] == '"' {
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
	}
	var n *big.Int
	switch {
	case decimalNumber.MatchString(s) && len(s) <= 78:
		n, _ = new(big.Int).SetString(s, 10)
	case v[0] == '"' && hexNumber.MatchString(s) && len(s) <= 2+64:
		n, _ = new(big.Int).SetString(s[2:], 16)
	}
	if n == nil || n.BitLen() > 256 {
		return nil, fmt.Errorf("%s: want a non-negative integer below 2^256 (a JSON integer, a decimal string or a 0x-hex string)", name)
	}
	return n, nil
}

// parseEthTx returns the transaction, its chain id (which a legacy
// transaction does not carry itself) and the sender it names, if any.
// Anything it would have to ignore is refused: unknown or conflicting
// fields, trailing data.
func parseEthTx(raw []byte) (*types.Transaction, *big.Int, *common.Address, error) {
	// encoding/json matches keys without regard to case and lets a later
	// duplicate win, and go-ethereum's access-list entries ignore unknown
	// keys: what a reader of the file sees could differ from what is
	// signed. Keys are checked exactly first.
	if err := checkEthTxKeys(raw); err != nil {
		return nil, nil, nil, err
	}
	var j ethTxJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, nil, nil, fmt.Errorf("want a transaction JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, nil, errors.New("want one transaction JSON object and nothing after it")
	}
	num := func(name string, v json.RawMessage, required bool) (*big.Int, error) {
		n, err := ethNumber(name, v)
		if err == nil && n == nil {
			if required {
				return nil, fmt.Errorf("%s is required", name)
			}
			n = new(big.Int)
		}
		return n, err
	}
	chainID, err := num("chainId", j.ChainID, false)
	if err != nil {
		return nil, nil, nil, err
	}
	if chainID.Sign() <= 0 {
		return nil, nil, nil, errors.New("chainId is required (a transaction without one could be replayed on every chain)")
	}
	if !chainID.IsUint64() || chainID.Uint64() > maxEthChainID {
		return nil, nil, nil, fmt.Errorf("chainId: at most %d (EIP-2294)", maxEthChainID)
	}
	nonce, err := num("nonce", j.Nonce, true)
	if err != nil {
		return nil, nil, nil, err
	}
	if !nonce.IsUint64() || nonce.Uint64() == math.MaxUint64 {
		return nil, nil, nil, errors.New("nonce: at most 2^64-2 (EIP-2681)")
	}
	gas, err := num("gas", j.Gas, true)
	if err != nil {
		return nil, nil, nil, err
	}
	if !gas.IsUint64() {
		return nil, nil, nil, errors.New("gas: out of range")
	}
	value, err := num("value", j.Value, false)
	if err != nil {
		return nil, nil, nil, err
	}
	address := func(name string, s *string) (*common.Address, error) {
		if s == nil {
			return nil, nil
		}
		if !common.IsHexAddress(*s) || !strings.HasPrefix(*s, "0x") {
			return nil, fmt.Errorf("%s: want a 0x address of 20 bytes", name)
		}
		a := common.HexToAddress(*s)
		return &a, nil
	}
	to, err := address("to", j.To)
	if err != nil {
		return nil, nil, nil, err
	}
	from, err := address("from", j.From)
	if err != nil {
		return nil, nil, nil, err
	}
	var data []byte
	for _, d := range []struct {
		name string
		hex  *string
	}{{"data", j.Data}, {"input", j.Input}} {
		if d.hex == nil {
			continue
		}
		b, err := hexutil.Decode(*d.hex)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %v", d.name, err)
		}
		if data != nil && !bytes.Equal(b, data) {
			return nil, nil, nil, errors.New("data and input differ: give one")
		}
		data = append([]byte{}, b...)
	}
	typ := j.Type
	if typ == "" {
		switch {
		case given(j.MaxFeePerGas) || given(j.MaxPriorityFeePerGas):
			typ = "eip1559"
		case j.AccessList != nil:
			typ = "eip2930"
		default:
			typ = "legacy"
		}
	}
	const (
		feesOnly  = "maxFeePerGas and maxPriorityFeePerGas belong to eip1559 transactions; this one has gasPrice"
		priceOnly = "gasPrice belongs to legacy and eip2930 transactions; an eip1559 one has maxFeePerGas and maxPriorityFeePerGas"
	)
	switch typ {
	case "eip1559":
		if given(j.GasPrice) {
			return nil, nil, nil, errors.New(priceOnly)
		}
		maxFee, err := num("maxFeePerGas", j.MaxFeePerGas, true)
		if err != nil {
			return nil, nil, nil, err
		}
		tip, err := num("maxPriorityFeePerGas", j.MaxPriorityFeePerGas, false)
		if err != nil {
			return nil, nil, nil, err
		}
		if tip.Cmp(maxFee) > 0 {
			return nil, nil, nil, errors.New("maxPriorityFeePerGas is above maxFeePerGas")
		}
		return types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: nonce.Uint64(), GasTipCap: tip, GasFeeCap: maxFee, Gas: gas.Uint64(),
			To: to, Value: value, Data: data, AccessList: j.AccessList}), chainID, from, nil
	case "eip2930", "legacy":
		if given(j.MaxFeePerGas) || given(j.MaxPriorityFeePerGas) {
			return nil, nil, nil, errors.New(feesOnly)
		}
		price, err := num("gasPrice", j.GasPrice, true)
		if err != nil {
			return nil, nil, nil, err
		}
		if typ == "legacy" {
			if j.AccessList != nil {
				return nil, nil, nil, errors.New("a legacy transaction has no accessList")
			}
			return types.NewTx(&types.LegacyTx{Nonce: nonce.Uint64(), GasPrice: price, Gas: gas.Uint64(), To: to, Value: value, Data: data}), chainID, from, nil
		}
		return types.NewTx(&types.AccessListTx{ChainID: chainID, Nonce: nonce.Uint64(), GasPrice: price, Gas: gas.Uint64(), To: to, Value: value,
			Data: data, AccessList: j.AccessList}), chainID, from, nil
	}
	return nil, nil, nil, fmt.Errorf("type %s: want eip1559, eip2930 or legacy", strconv.Quote(typ))
}

// ethTxKeys are the keys of a transaction object: ethTxJSON's, exactly.
var ethTxKeys = func() []string {
	t := reflect.TypeFor[ethTxJSON]()
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i] = t.Field(i).Tag.Get("json")
	}
	return keys
}()

// checkEthTxKeys refuses a transaction object with a key that is not
// exactly one of ethTxKeys, or given twice, and an access-list entry with
// a key other than address and storageKeys, or one given twice.
func checkEthTxKeys(raw []byte) error {
	fields, err := objectFields(raw, "transaction", ethTxKeys...)
	if err != nil {
		return err
	}
	al := fields["accessList"]
	if !given(al) {
		return nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(al, &entries); err != nil {
		return errors.New("accessList: want a list of { address, storageKeys }")
	}
	for i, e := range entries {
		if _, err := objectFields(e, fmt.Sprintf("accessList[%d]", i), "address", "storageKeys"); err != nil {
			return err
		}
	}
	return nil
}

// objectFields reads the JSON object at the start of raw: its fields, if
// every key is among keys, exactly (names are case-sensitive), and none
// is given twice.
func objectFields(raw []byte, where string, keys ...string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	bad := func(err error) error { return fmt.Errorf("%s: want a JSON object: %v", where, err) }
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad(fmt.Errorf("%v", t))
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, bad(err)
		}
		k := t.(string) // an object's keys are strings
		if !slices.Contains(keys, k) {
			return nil, fmt.Errorf("%s: unknown field %q (names are case-sensitive)", where, k)
		}
		if _, dup := fields[k]; dup {
			return nil, fmt.Errorf("%s: field %q given twice", where, k)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, bad(err)
		}
		fields[k] = v
	}
	return fields, nil
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
