package store

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Column encodings shared by every backend; see the package comment.

// millis is t as unix milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis is the UTC time of ms unix milliseconds.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// storedTime is t as it reads back: UTC, truncated to the millisecond, no
// monotonic reading.
func storedTime(t time.Time) time.Time { return fromMillis(millis(t)) }

func encodeBytes(b []byte) string { return hex.EncodeToString(b) }

func decodeBytes(column, s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("store: column %s: %w", column, err)
	}
	return b, nil
}

func encodeList(l []string) (string, error) {
	if l == nil {
		l = []string{}
	}
	b, err := json.Marshal(l)
	return string(b), err
}

func decodeList(column, s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("store: column %s: %w", column, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// runColumn is a reshare_run column: empty for none, else JSON.
type runColumn struct {
	Epoch         int               `json:"epoch"`
	SignersNeeded int               `json:"signers_needed,omitempty"`
	Holders       []holderColumn    `json:"holders,omitempty"`
	Identities    map[string]string `json:"identities"`
	Acks          map[string]string `json:"acks,omitempty"`
}

type holderColumn struct {
	PartyID string `json:"party_id"`
	Kind    string `json:"kind"`
}

func encodeRun(r *ReshareRun) (string, error) {
	if r == nil {
		return "", nil
	}
	c := runColumn{Epoch: r.Epoch, Identities: hexMap(r.Identities), Acks: hexMap(r.Acks)}
	if r.Committee != nil {
		c.SignersNeeded = r.Committee.SignersNeeded
		for _, h := range r.Committee.Holders {
			c.Holders = append(c.Holders, holderColumn{PartyID: h.PartyID, Kind: string(h.Kind)})
		}
	}
	b, err := json.Marshal(c)
	return string(b), err
}

func decodeRun(column, s string) (*ReshareRun, error) {
	if s == "" {
		return nil, nil
	}
	var c runColumn
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return nil, fmt.Errorf("store: column %s: %w", column, err)
	}
	r := &ReshareRun{Epoch: c.Epoch}
	var err error
	if r.Identities, err = unhexMap(column, c.Identities); err != nil {
		return nil, err
	}
	if r.Acks, err = unhexMap(column, c.Acks); err != nil {
		return nil, err
	}
	if len(c.Holders) > 0 {
		r.Committee = &Committee{SignersNeeded: c.SignersNeeded}
		for _, h := range c.Holders {
			r.Committee.Holders = append(r.Committee.Holders, Holder{PartyID: h.PartyID, Kind: HolderKind(h.Kind)})
		}
	}
	return r, nil
}

func hexMap(m map[string][]byte) map[string]string {
	if len(m) == 0 {
		return nil
	}
	h := make(map[string]string, len(m))
	for p, b := range m {
		h[p] = hex.EncodeToString(b)
	}
	return h
}

func unhexMap(column string, h map[string]string) (map[string][]byte, error) {
	if len(h) == 0 {
		return nil, nil
	}
	m := make(map[string][]byte, len(h))
	for p, x := range h {
		b, err := hex.DecodeString(x)
		if err != nil {
			return nil, fmt.Errorf("store: column %s: %s: %w", column, p, err)
		}
		m[p] = b
	}
	return m, nil
}

// encodeAcks is a stored_acks column: empty for none, else a JSON object of
// party id to hex.
func encodeAcks(m map[string][]byte) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	b, err := json.Marshal(hexMap(m)) // keys sorted: the same map, the same text
	return string(b), err
}

func decodeAcks(column, s string) (map[string][]byte, error) {
	if s == "" {
		return nil, nil
	}
	var h map[string]string
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		return nil, fmt.Errorf("store: column %s: %w", column, err)
	}
	m, err := unhexMap(column, h)
	if m == nil && err == nil {
		m = map[string][]byte{} // "{}": an empty map, as before
	}
	return m, err
}

// clampLimit applies DefaultLimit and MaxLimit.
func clampLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, invalid("negative limit %d", n)
	case n == 0:
		return DefaultLimit, nil
	case n > MaxLimit:
		return MaxLimit, nil
	}
	return n, nil
}
