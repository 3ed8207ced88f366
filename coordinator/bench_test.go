package coordinator_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rwadurian/tsskit/internal/quorumtest"
)

func benchPost(b *testing.B, q *quorumtest.Quorum, path, body string, want int) map[string]any {
	req, _ := http.NewRequest("POST", q.APIURL+path, strings.NewReader(body))
	req.Header.Set("X-API-Key", q.APIKey)
	resp, err := quorumtest.HTTPClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		b.Fatalf("%s: %d %s", path, resp.StatusCode, raw)
	}
	var out map[string]any
	if err := jsonUnmarshal(raw, &out); err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkAccountKeygen is POST /api/v1/accounts end to end in one process
// (account API, coordinator, router, two server parties and the user party
// over loopback gRPC): with pre-params waiting in every pool, and with empty
// pools so that each party first searches for safe primes.
func BenchmarkAccountKeygen(b *testing.B) {
	for _, pooled := range []bool{true, false} {
		name := "pooled"
		if !pooled {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			q := quorumtest.Start(b, quorumtest.Options{NoSeed: true})
			for i := 0; b.Loop(); i++ {
				if pooled {
					b.StopTimer()
					q.Reseed(b)
					b.StartTimer()
				}
				benchPost(b, q, "/api/v1/accounts", fmt.Sprintf(`{"user_id":"bench-%s-%d","share_password":"%s"}`, name, i, testPassword), 201)
			}
		})
	}
}

// BenchmarkAccountSign is POST /api/v1/accounts/{id}/sign end to end.
func BenchmarkAccountSign(b *testing.B) {
	q := quorumtest.Start(b, quorumtest.Options{})
	acct := benchPost(b, q, "/api/v1/accounts", `{"user_id":"bench-sign","share_password":"`+testPassword+`"}`, 201)
	id := acct["account_id"].(string)
	for i := 0; b.Loop(); i++ {
		d := sha256.Sum256(fmt.Appendf(nil, "bench %d", i))
		benchPost(b, q, "/api/v1/accounts/"+id+"/sign", `{"message":"`+hex.EncodeToString(d[:])+`"}`, 200)
	}
}
