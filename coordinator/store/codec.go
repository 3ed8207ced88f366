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

// encodeAcks is a stored_acks column: empty for none, else a JSON object of
// party id to hex.
func encodeAcks(m map[string][]byte) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	h := make(map[string]string, len(m))
	for p, b := range m {
		h[p] = hex.EncodeToString(b)
	}
	b, err := json.Marshal(h) // keys sorted: the same map, the same text
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
