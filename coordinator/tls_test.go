package coordinator_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/rwadurian/tsskit/internal/quorumtest"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/participant"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// TestQuorumOverTLS: the whole quorum — router, coordinator, three server
// parties, the account and server-party APIs — on TLS, with mutual TLS
// between the services: an account made and signed through the REST APIs,
// and a co-managed wallet made and signed over gRPC. Signatures verify
// with decred. A client that trusts another CA, one without a client
// certificate, and one speaking cleartext are refused, and told why.
func TestQuorumOverTLS(t *testing.T) {
	q := quorumtest.Start(t, quorumtest.Options{TLS: true})
	api := &apiClient{t: t, base: q.APIURL, key: q.APIKey, client: q.HTTP()}
	ctx := context.Background()

	t.Run("account API over HTTPS, user party over mutual TLS", func(t *testing.T) {
		code, acct := api.do("POST", "/api/v1/accounts", q.APIKey, `{"user_id":"tls-user","share_password":"`+testPassword+`"}`)
		if code != 201 {
			t.Fatalf("create account: %d %v", code, acct)
		}
		d := sha256.Sum256([]byte("over tls"))
		code, sig := api.do("POST", "/api/v1/accounts/"+acct["account_id"].(string)+"/sign", q.APIKey, `{"message":"`+hex.EncodeToString(d[:])+`"}`)
		if code != 200 {
			t.Fatalf("sign: %d %v", code, sig)
		}
		pub, _ := secp256k1.ParsePubKey(hexBytes(acct["public_key"].(string)))
		parsed, err := ecdsa.ParseDERSignature(hexBytes(sig["der"].(string)))
		if err != nil || !parsed.Verify(d[:], pub) {
			t.Fatalf("signature does not verify (decred): %v %v", sig, err)
		}
	})

	t.Run("co-managed wallet over gRPC with TLS", func(t *testing.T) {
		conn := q.Conn(t)
		coord := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator)
		const me = "browser-tls"
		rec := q.ClientWallet(ctx, t, conn, me, 4)
		d := sha256.Sum256([]byte("co-managed over tls"))
		s, err := coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{WalletId: rec.WalletID, Digest: d[:], ClientPartyIds: []string{me}}, q.Admin(t))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := participant.Sign(ctx, conn, q.SignJob(t, s, rec, d[:]), rec)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := secp256k1.ParsePubKey(rec.PublicKey)
		parsed, err := ecdsa.ParseDERSignature(sig.DER)
		if err != nil || !parsed.Verify(d[:], pub) {
			t.Fatalf("signature does not verify (decred): %v", err)
		}
	})

	// refusal dials the coordinator with files (nil: cleartext) and
	// returns the error of a call.
	refusal := func(t *testing.T, files *serve.TLSFiles) error {
		t.Helper()
		var cfg *tls.Config
		if files != nil {
			var err error
			if cfg, err = files.ClientConfig(""); err != nil {
				t.Fatal(err)
			}
		}
		cc, err := serve.DialTLS(q.CoordAddr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err = tsskitv1.NewCoordinatorServiceClient(cc).ListWallets(cctx, &tsskitv1.ListWalletsRequest{}, q.Admin(t))
		if err == nil {
			t.Fatal("the call went through")
		}
		return err
	}
	ccert, ckey := q.PKI.Client("another-client")
	for _, c := range []struct {
		name  string
		files *serve.TLSFiles
		want  string
	}{
		{"a client that trusts another CA", &serve.TLSFiles{CA: q.PKI.Other().CAFile(), Cert: ccert, Key: ckey}, "not signed by a CA this client trusts"},
		{"a client without a client certificate", &serve.TLSFiles{CA: q.PKI.CAFile()}, "client certificate"},
		{"a client certificate of another CA", func() *serve.TLSFiles {
			oc, ok := q.PKI.Other().Client("stranger")
			return &serve.TLSFiles{CA: q.PKI.CAFile(), Cert: oc, Key: ok}
		}(), "client certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := refusal(t, c.files)
			why := serve.ExplainTLS(err)
			if !strings.Contains(why, c.want) {
				t.Fatalf("refusal %v explained as %q; want %q", err, why, c.want)
			}
		})
	}
	t.Run("a cleartext client", func(t *testing.T) {
		if err := refusal(t, nil); err == nil {
			t.Fatal("a cleartext call went through")
		}
	})
	t.Run("HTTPS with another CA", func(t *testing.T) {
		cfg, _ := serve.TLSFiles{CA: q.PKI.Other().CAFile(), Cert: ccert, Key: ckey}.ClientConfig("")
		_, err := serve.HTTPClient(cfg).Get(q.APIURL + "/health")
		if why := serve.ExplainTLS(err); !strings.Contains(why, "not signed by a CA this client trusts") {
			t.Fatalf("refusal %v explained as %q", err, why)
		}
	})
}
