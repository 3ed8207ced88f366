package router_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/auth"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/router"
)

// BenchmarkRouter measures the router over loopback gRPC: publishers send
// envelopes (broadcast, 1 KiB payload, about a signing round's size) as
// fast as Publish returns, one subscriber receives them. It reports
// envelopes/s and the publish-to-receive latency percentiles.
func BenchmarkRouter(b *testing.B) {
	for _, publishers := range []int{1, 8} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) { benchRouter(b, publishers) })
	}
}

func benchRouter(b *testing.B, publishers int) {
	limits := router.DefaultLimits
	limits.MaxSessionEnvs = 1 << 30
	limits.MaxSessionBytes = 1 << 40
	r := newRig(b, limits, nil)
	ids := []string{"sub"}
	for i := range publishers {
		ids = append(ids, fmt.Sprintf("pub%d", i))
	}
	session := fmt.Sprintf("bench-%d-%d", publishers, time.Now().UnixNano())
	r.open(session, ids...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := b.N
	st, err := r.rc.Subscribe(ctx, &tsskitv1.SubscribeRequest{SessionId: session, PartyId: "sub"}, r.token(auth.KindParty, session, "sub", time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, n)
	recvd := make(chan struct{})
	go func() {
		defer close(recvd)
		for len(lat) < n {
			e, err := st.Recv()
			if err != nil {
				return
			}
			sent := int64(binary.BigEndian.Uint64(e.Payload))
			lat = append(lat, time.Duration(time.Now().UnixNano()-sent))
		}
	}()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p := range publishers {
		share := n / publishers
		if p < n%publishers {
			share++
		}
		from := ids[p+1]
		tok := r.token(auth.KindParty, session, from, time.Hour)
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, 1024)
			for i := range share {
				binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
				e := &tsskitv1.Envelope{SessionId: session, From: from, Round: 1, SenderSeq: uint64(i + 1), Payload: payload, Signature: make([]byte, 64)}
				if _, err := r.rc.Publish(ctx, &tsskitv1.PublishRequest{Envelope: e}, tok); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	<-recvd
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) != n {
		b.Fatalf("received %d of %d", len(lat), n)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "envelopes/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
