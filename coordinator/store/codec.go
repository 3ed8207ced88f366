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
