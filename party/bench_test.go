package party_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party/memnet"
	"github.com/rwadurian/tsskit/party/share"
)

// BenchmarkKeygen2of3 is a whole 2-of-3 keygen (three parties in this
// process, pre-params ready), with the bytes the router carries.
func BenchmarkKeygen2of3(b *testing.B) {
	var wire memnet.Stats
	for i := 0; b.Loop(); i++ {
		net := memnet.NewNet(ids3...)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		outs, err := testkit.RunKeygen(ctx, idents(b), fmt.Sprint("bench-kg-", i), "bench-wallet", ids3, 2, net)
		cancel()
		if err == nil {
			err = memnet.Err(outs)
		}
		if err != nil {
			b.Fatal(err)
		}
		wire = net.Stats()
		net.Close()
	}
	b.ReportMetric(float64(wire.Bytes), "wire-B/op")
	b.ReportMetric(float64(wire.Envelopes), "envelopes/op")
}

// BenchmarkSign2of3 is a whole signing by two parties of a 2-of-3 wallet.
func BenchmarkSign2of3(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	outs, err := testkit.RunKeygen(ctx, idents(b), "bench-kg", "bench-wallet", ids3, 2, nil)
	if err != nil {
		b.Fatal(err)
	}
	shares := []*share.Record{outs[0].Result.Share, outs[1].Result.Share}
	digest := digestOf("bench")
	var wire memnet.Stats
	for i := 0; b.Loop(); i++ {
		net := memnet.NewNet(shares[0].PartyID, shares[1].PartyID)
		res, err := testkit.RunSign(ctx, idents(b), fmt.Sprint("bench-sign-", i), shares, digest, net)
		if err == nil {
			err = memnet.Err(res)
		}
		if err != nil {
			b.Fatal(err)
		}
		wire = net.Stats()
		net.Close()
	}
	b.ReportMetric(float64(wire.Bytes), "wire-B/op")
	b.ReportMetric(float64(wire.Envelopes), "envelopes/op")
}
