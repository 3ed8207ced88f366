package coordinator

import (
	"fmt"
	"math"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/rwadurian/tsskit/coordinator/store"
	"github.com/rwadurian/tsskit/internal/httpx"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// Admission control (docs/scaling.md, "Admission"): a new session is
// refused at once, with the time to retry after, when the work already
// assigned to the server parties it would use could not let it finish
// within its deadline. Costs are learned from the server parties' reports.

// OverloadedReason is the ErrorInfo reason of an overload refusal
// (gRPC RESOURCE_EXHAUSTED; REST 503 "overloaded" with Retry-After).
const OverloadedReason = httpx.OverloadedReason

// admitShare is the part of a deadline admission plans to fill: the rest
// absorbs what the estimate leaves out (network, the clients' own work,
// the estimate's error).
const admitShare = 0.7

// Default costs, in seconds of a server party's work slot, until parties
// have reported some (measured on 2 cores, three parties on one machine).
const (
	defaultKeygenCost    = 4.0
	defaultSignCost      = 0.5
	defaultPreParamsCost = 15.0
	costWeight           = 0.2 // of each new report in the moving average
	// costCap bounds every learned cost at this many times its default:
	// reports are a party's word, and a party that inflated them could
	// otherwise shrink what admission lets in to nothing.
	costCap = 10
	// maxRetry bounds the retry time a refusal advises.
	maxRetry = 10 * time.Minute
)

// costModel holds the learned per-party cost of each kind of work: an
// exponentially weighted moving average of what server parties report.
type costModel struct {
	mu                       sync.Mutex
	keygen, sign, preparams  float64
	nKeygen, nSign, nPreParm int
}

func newCostModel() *costModel {
	return &costModel{keygen: defaultKeygenCost, sign: defaultSignCost, preparams: defaultPreParamsCost}
}

type costs struct{ keygen, sign, preparams float64 }

func (m *costModel) get() costs {
	m.mu.Lock()
	defer m.mu.Unlock()
	return costs{m.keygen, m.sign, m.preparams}
}

// observe takes one server party's report of a finished session.
func (m *costModel) observe(kind store.SessionKind, compute, preparams time.Duration) {
	if compute <= 0 && preparams <= 0 {
		return // a party that does not report (an older version)
	}
	// One report moves the average by at most a factor of 4, and no
	// average leaves [default/costCap, default×costCap]: a party cannot
	// make admission refuse everything with absurd figures.
	upd := func(avg *float64, n *int, v, def float64) {
		v = math.Min(math.Max(v, *avg/4), *avg*4)
		v = math.Min(math.Max(v, def/costCap), def*costCap)
		if *n == 0 {
			*avg = v
		} else {
			*avg += costWeight * (v - *avg)
		}
		*n++
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch kind {
	case store.SessionKeygen:
		if compute > 0 {
			upd(&m.keygen, &m.nKeygen, compute.Seconds(), defaultKeygenCost)
		}
		if preparams > 0 {
			upd(&m.preparams, &m.nPreParm, preparams.Seconds(), defaultPreParamsCost)
		}
	case store.SessionSign:
		if compute > 0 {
			upd(&m.sign, &m.nSign, compute.Seconds(), defaultSignCost)
		}
	}
}

// work is the slot time of the sessions a party has been assigned and
// not finished, by this coordinator's count: all of it for a keygen
// (which waits behind everything), the signings alone for a signing
// (served first). Keygens beyond the party's ready pre-parameters make
// theirs on the spot.
func (m *member) work(kind store.SessionKind, c costs) float64 {
	if kind == store.SessionSign {
		return float64(m.signs) * c.sign
	}
	w := float64(m.keygens)*c.keygen + float64(m.signs)*c.sign
	if cold := m.keygens - int(m.preparams); cold > 0 {
		w += float64(cold) * c.preparams
	}
	return w
}

// finish estimates, in seconds, when a new session of kind would finish
// at party m: the work ahead of it spread over the party's slots (a
// signing's over its signing lane), then its own (its steps run one after
// another).
func (m *member) finish(kind store.SessionKind, c costs) float64 {
	if kind == store.SessionSign {
		return m.work(kind, c)/float64(m.signLane()) + c.sign
	}
	own := c.keygen // a keygen, or a reshare (as dear: pre-parameters and proofs)
	if m.keygens >= int(m.preparams) {
		own += c.preparams
	}
	return m.work(kind, c)/float64(m.workSlots()) + own
}

// workSlots is the party's work slots as its heartbeat said, within
// 1..64 (2 until it says).
func (m *member) workSlots() int {
	if m.slots == 0 {
		return 2
	}
	return min(max(int(m.slots), 1), 64)
}

// signLane is the party's signing slots as its heartbeat said, within
// 1..64 (its work slots if it does not say: a party older than the
// signing lane's field).
func (m *member) signLane() int {
	if m.signSlots == 0 {
		return m.workSlots()
	}
	return min(max(int(m.signSlots), 1), 64)
}

// overloaded is the refusal of a session that could not finish in time.
func overloaded(kind store.SessionKind, estimate, budget float64) error {
	retry := time.Duration(math.Ceil(math.Min(math.Max(estimate-budget, 1), maxRetry.Seconds()))) * time.Second
	st := status.New(codes.ResourceExhausted, fmt.Sprintf("overloaded: a new %s would finish in about %.0f s, past its %.0f s budget; retry in %d s",
		kind, estimate, budget, int(retry.Seconds())))
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: OverloadedReason, Domain: "tsskit"},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(retry)}, &tsskitv1.Overloaded{RetryAfterMs: uint32(retry.Milliseconds())}); err == nil {
		st = d
	}
	return st.Err()
}

// Overloaded reports whether err is an overload refusal, and when to retry.
func Overloaded(err error) (time.Duration, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		return 0, false
	}
	var retry time.Duration
	found := false
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			found = found || d.Reason == OverloadedReason
		case *errdetails.RetryInfo:
			retry = d.GetRetryDelay().AsDuration()
		}
	}
	return retry, found
}
