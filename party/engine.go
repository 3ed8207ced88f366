package party

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"

	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/roster"
	"github.com/rwadurian/tsskit/party/seal"
)

// msgKind is what the engine knows about one tss-lib message type: its round
// and whether it must be a broadcast. Incoming envelopes whose round or
// routing disagree with their content are refused before tss-lib sees them
// (tss-lib would store such a message and then wait forever).
type msgKind struct {
	round     int
	broadcast bool
}

// runner drives one tss-lib party: a sender goroutine seals and sends what
// tss-lib emits, the calling goroutine opens incoming envelopes and feeds
// them to tss-lib. It is shared by keygen and signing.
type runner struct {
	phase  string
	rounds int
	kinds  map[reflect.Type]msgKind
	sess   *Session
	roster *roster.Roster
	ch     *seal.Channel
	tr     Transport
	ctx    context.Context // the session's, for Gate.Enter
	drv    driver
	out    chan tss.Message
	// local carries what one of this party's tss-lib parties sends the
	// other (a reshare's old and new roles), from the sender goroutine to
	// the loop.
	local chan tss.ParsedMessage
	// check looks at every decoded peer message before tss-lib does
	// (checks.go); an error fails the session naming the sender.
	check func(msg tss.ParsedMessage) error

	mu       sync.Mutex // guards progress (sender goroutine and loop both update it)
	progress Progress
	// accepted remembers, per sender and message type, the hash of the
	// payload tss-lib took: a second, different message of the same type
	// from the same sender is equivocation, an equal one a harmless resend.
	accepted map[string][sha256.Size]byte

	// Round 0 (trust.go): this party's list of roster digests, the peers
	// whose lists matched it, and envelopes of later rounds that arrived
	// before every list had; tss-lib starts once all have.
	confirm   []byte
	confirmed map[string]bool
	held      []heldMsg
	heldFrom  map[string]int // envelopes held per sender
	started   bool
}

// driver is the tss-lib side of a runner: one tss-lib party (keygen,
// signing) or the roles of one party in a reshare.
type driver interface {
	start() *tss.Error
	// parse decodes a peer's message as sent by party from.
	parse(payload []byte, from string, broadcast bool) (tss.ParsedMessage, error)
	// update hands a message to the tss-lib party or parties that take it.
	update(msg tss.ParsedMessage) *tss.Error
	// route returns the session parties a message goes to over the
	// network ("" for every party: a broadcast) and the copies this
	// party's other role takes.
	route(msg tss.Message) (to []string, local []tss.ParsedMessage)
	// waitingFor names the parties whose messages the protocol waits for.
	waitingFor() []string
}

// single is the driver of one tss-lib party whose peers are the roster's.
type single struct {
	p tss.Party
	r *roster.Roster
}

func (d single) start() *tss.Error { return d.p.Start() }

func (d single) parse(payload []byte, from string, broadcast bool) (tss.ParsedMessage, error) {
	return tss.ParseWireMessage(payload, d.r.PartyID(from), broadcast)
}

func (d single) update(msg tss.ParsedMessage) *tss.Error {
	_, err := d.p.Update(msg)
	return err
}

func (d single) route(msg tss.Message) ([]string, []tss.ParsedMessage) {
	routing := msg.GetTo()
	if msg.IsBroadcast() || len(routing) == 0 {
		return []string{""}, nil
	}
	var to []string
	for _, p := range routing {
		to = append(to, p.Id)
	}
	return to, nil
}

func (d single) waitingFor() []string {
	var ids []string
	for _, p := range d.p.WaitingFor() {
		ids = append(ids, p.Id)
	}
	return ids
}

// heldMsg is an opened envelope of round 1 that arrived before this
// party's round 0 finished.
type heldMsg struct {
	env     *seal.Envelope
	payload []byte
}

// maxHeldPerSender bounds what one peer may have held while round 0
// finishes. Only authenticated envelopes are held, and an honest peer that
// started sends this party at most a broadcast and one point-to-point
// message of round 1 before it needs this party's own round 1; a peer
// that sends more is misbehaving, and is named.
const maxHeldPerSender = 4

func newRunner(s *Session, r *roster.Roster, phase string, rounds int, kinds map[reflect.Type]msgKind,
	keys map[string]seal.PublicKeys, ver map[string]*identity.Verified) (*runner, error) {
	ch, err := seal.NewChannel(s.ID, s.Self, s.Keys, keys)
	if err != nil {
		return nil, &Error{Code: CodeInvalidParams, Err: err}
	}
	return &runner{
		confirm:   rosterDigests(r.IDs(), ver),
		confirmed: make(map[string]bool, r.Len()),
		phase:     phase,
		rounds:    rounds,
		kinds:     kinds,
		sess:      s,
		roster:    r,
		ch:        ch,
		// tss-lib writes to out while it holds its party lock; a buffer of a
		// few rounds' worth keeps it from waiting on the network.
		out:      make(chan tss.Message, 4*r.Len()*r.Len()),
		local:    make(chan tss.ParsedMessage, 4*r.Len()*r.Len()),
		progress: Progress{Phase: phase, Rounds: rounds},
		accepted: make(map[string][sha256.Size]byte),
	}, nil
}

func kindOf(kinds map[reflect.Type]msgKind, content tss.MessageContent) (msgKind, bool) {
	k, ok := kinds[reflect.TypeOf(content)]
	return k, ok
}

// run starts the party and serves it until end yields its result.
func run[T any](ctx context.Context, rn *runner, tr Transport, end <-chan T) (T, error) {
	var zero T
	rn.tr = tr
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	rn.ctx = ctx
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()

	sendErr := make(chan error, 1)
	drain := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		forward := func(msg tss.Message) bool {
			if err := rn.send(sendCtx, msg); err != nil {
				sendErr <- err
				return false
			}
			return true
		}
		for {
			select {
			case msg := <-rn.out:
				if !forward(msg) {
					return
				}
			case <-drain:
				// The party finished: what it emitted last (signing's round
				// 9 broadcast) may still be queued and the others need it.
				for {
					select {
					case msg := <-rn.out:
						if !forward(msg) {
							return
						}
					default:
						return
					}
				}
			case <-sendCtx.Done():
				return
			}
		}
	}()
	finish := func() error {
		close(drain)
		wg.Wait()
		select {
		case err := <-sendErr:
			return err
		default:
			return nil
		}
	}

	if err := rn.sendConfirm(ctx); err != nil {
		stopSending()
		wg.Wait()
		return zero, err
	}
	for {
		select {
		case res := <-end:
			if err := finish(); err != nil {
				return zero, err
			}
			rn.update(func(p *Progress) { p.Round, p.Done = rn.rounds, true })
			return res, nil
		case err := <-sendErr:
			return zero, err
		case env, ok := <-tr.Incoming():
			if !ok {
				return zero, &Error{Code: CodeTransport, Round: rn.round(), Err: errors.New("incoming stream closed")}
			}
			if err := rn.receive(env); err != nil {
				return zero, err
			}
		case msg := <-rn.local:
			if err := rn.deliverLocal(msg); err != nil {
				return zero, err
			}
		case <-ctx.Done():
			return zero, rn.deadlineError(ctx.Err())
		}
	}
}

func (rn *runner) round() int {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return rn.progress.Round
}

// update changes the progress under the lock and reports it when the round
// changed or the session finished.
func (rn *runner) update(f func(*Progress)) {
	rn.mu.Lock()
	before := rn.progress
	f(&rn.progress)
	now := rn.progress
	rn.mu.Unlock()
	if rn.sess.Progress != nil && (now.Round != before.Round || now.Done != before.Done || now.Queued != before.Queued) {
		rn.sess.Progress(now)
	}
}

func (rn *runner) send(ctx context.Context, msg tss.Message) error {
	wire, _, err := msg.WireBytes()
	if err != nil {
		return &Error{Code: CodeProtocol, Round: rn.round(), Err: fmt.Errorf("encode outgoing message: %w", err)}
	}
	if testOutgoing != nil {
		wire = testOutgoing(rn.sess.Self, msg.(tss.ParsedMessage), wire)
	}
	kind, ok := rn.kinds[reflect.TypeOf(msg.(tss.ParsedMessage).Content())]
	if !ok {
		return &Error{Code: CodeProtocol, Err: fmt.Errorf("unexpected outgoing message type %s", msg.Type())}
	}
	to, local := rn.drv.route(msg)
	for _, m := range local {
		select {
		case rn.local <- m:
		case <-ctx.Done():
			return rn.deadlineError(ctx.Err())
		}
	}
	for _, id := range to {
		env, err := rn.ch.Seal(id, uint32(kind.round), wire)
		if err != nil {
			return &Error{Code: CodeProtocol, Round: kind.round, Err: err}
		}
		if err := rn.tr.Send(ctx, env); err != nil {
			if ctx.Err() != nil {
				return rn.deadlineError(ctx.Err())
			}
			return &Error{Code: CodeTransport, Round: kind.round, Err: err}
		}
		rn.update(func(p *Progress) {
			p.MessagesSent++
			p.BytesSent += int64(len(env.Payload))
			p.Round = max(p.Round, kind.round)
		})
	}
	if len(to) == 0 {
		rn.update(func(p *Progress) { p.Round = max(p.Round, kind.round) })
	}
	return nil
}

// sendConfirm broadcasts this party's round-0 roster digests.
func (rn *runner) sendConfirm(ctx context.Context) error {
	payload := rn.confirm
	if testConfirm != nil {
		if payload = testConfirm(rn.sess.Self, slices.Clone(payload)); payload == nil {
			return nil
		}
	}
	env, err := rn.ch.Seal("", 0, payload)
	if err != nil {
		return &Error{Code: CodeProtocol, Err: err}
	}
	if err := rn.tr.Send(ctx, env); err != nil {
		if ctx.Err() != nil {
			return rn.deadlineError(ctx.Err())
		}
		return &Error{Code: CodeTransport, Err: err}
	}
	return nil
}

// receiveConfirm checks a peer's round-0 list; when every peer's has
// matched, tss-lib starts and the envelopes held meanwhile are fed to it.
func (rn *runner) receiveConfirm(env *seal.Envelope, payload []byte) error {
	if !env.IsBroadcast() {
		return &Error{Code: CodeProtocol, Culprits: []string{env.From}, Err: errors.New("roster confirmation sent point-to-point")}
	}
	if rn.confirmed[env.From] {
		return &Error{Code: CodeSeal, Culprits: []string{env.From}, Err: fmt.Errorf("%w: a second roster confirmation", seal.ErrEquivocation)}
	}
	if err := compareRoster(rn.confirm, payload, rn.roster.IDs(), env.From); err != nil {
		return err
	}
	rn.confirmed[env.From] = true
	if len(rn.confirmed) < rn.roster.Len()-1 {
		return nil
	}
	rn.started = true
	leave, err := rn.enter()
	if err != nil {
		return err
	}
	terr := rn.drv.start()
	leave()
	if terr != nil {
		return rn.protocolError(terr)
	}
	held := rn.held
	rn.held, rn.heldFrom = nil, nil
	for _, h := range held {
		if err := rn.deliver(h.env, h.payload); err != nil {
			return err
		}
	}
	return nil
}

func (rn *runner) receive(env *seal.Envelope) error {
	// Every envelope is opened on arrival: its sender's session key signed
	// it, so what is held or refused below is that sender's doing, never a
	// relay's.
	payload, err := rn.ch.Open(env)
	if err != nil {
		if seal.Benign(err) {
			return nil
		}
		return &Error{Code: CodeSeal, Round: int(env.Round), Culprits: []string{env.From}, Err: err}
	}
	if env.Round == 0 {
		return rn.receiveConfirm(env, payload)
	}
	if !rn.started {
		// A faster peer's first round: keep it for when tss-lib starts.
		if env.Round != 1 || rn.heldFrom[env.From] >= maxHeldPerSender {
			return &Error{Code: CodeProtocol, Round: int(env.Round), Culprits: []string{env.From},
				Err: fmt.Errorf("round %d envelope number %d before this party confirmed the roster", env.Round, rn.heldFrom[env.From]+1)}
		}
		if rn.heldFrom == nil {
			rn.heldFrom = map[string]int{}
		}
		rn.heldFrom[env.From]++
		rn.held = append(rn.held, heldMsg{env: env, payload: payload})
		return nil
	}
	return rn.deliver(env, payload)
}

// deliver checks an opened envelope of round 1 or later and feeds it to
// tss-lib.
func (rn *runner) deliver(env *seal.Envelope, payload []byte) error {
	from := env.From
	blame := func(format string, a ...any) error {
		return &Error{Code: CodeProtocol, Round: int(env.Round), Culprits: []string{from}, Err: fmt.Errorf(format, a...)}
	}
	msg, err := rn.drv.parse(payload, from, env.IsBroadcast())
	if err != nil {
		return blame("undecodable %s message: %v", rn.phase, err)
	}
	kind, ok := kindOf(rn.kinds, msg.Content())
	if !ok {
		return blame("message type %s does not belong to %s", msg.Type(), rn.phase)
	}
	if kind.round != int(env.Round) || kind.broadcast != env.IsBroadcast() {
		return blame("%s sent as round %d broadcast=%t; it belongs to round %d broadcast=%t",
			msg.Type(), env.Round, env.IsBroadcast(), kind.round, kind.broadcast)
	}
	slot := from + "\x00" + msg.Type()
	sum := sha256.Sum256(payload)
	if prev, seen := rn.accepted[slot]; seen {
		if prev == sum {
			return nil
		}
		return &Error{Code: CodeSeal, Round: kind.round, Culprits: []string{from},
			Err: fmt.Errorf("%w: a second, different %s", seal.ErrEquivocation, msg.Type())}
	}
	rn.accepted[slot] = sum
	rn.update(func(p *Progress) {
		p.MessagesRecv++
		p.BytesReceived += int64(len(env.Payload))
	})
	leave, err := rn.enter()
	if err != nil {
		return err
	}
	defer leave()
	if err := rn.runCheck(msg); err != nil {
		return blame("%s: %v", msg.Type(), err)
	}
	return rn.feed(msg, from)
}

// deliverLocal hands what one of this party's roles sent to the other.
func (rn *runner) deliverLocal(msg tss.ParsedMessage) error {
	leave, err := rn.enter()
	if err != nil {
		return err
	}
	defer leave()
	return rn.feed(msg, rn.sess.Self)
}

// enter waits for the session's Gate, if it has one, before a step that
// computes; the deadline ends the wait like any other.
func (rn *runner) enter() (func(), error) {
	if rn.sess.Gate == nil {
		return func() {}, nil
	}
	ctx := rn.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	qg, ok := rn.sess.Gate.(QueueGate)
	if !ok {
		leave, err := rn.sess.Gate.Enter(ctx)
		if err != nil {
			return nil, rn.deadlineError(err)
		}
		return leave, nil
	}
	waited := false
	leave, err := qg.EnterQueued(ctx, func(pos int) {
		waited = true
		rn.update(func(p *Progress) { p.Queued = pos })
	})
	if waited {
		rn.update(func(p *Progress) { p.Queued = 0 })
	}
	if err != nil {
		return nil, rn.deadlineError(err)
	}
	return leave, nil
}

// runCheck runs the peer checks on msg; like tss-lib's own processing, a
// panic in them fails this session (blaming the message), never the
// process.
func (rn *runner) runCheck(msg tss.ParsedMessage) (err error) {
	if rn.check == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the peer checks panicked: %v", p)
		}
	}()
	return rn.check(msg)
}

// testOutgoing, set only by this package's tests, rewrites the wire bytes
// of each message a party sends: how a malicious peer is played.
var testOutgoing func(self string, msg tss.ParsedMessage, wire []byte) []byte

// testConfirm, set only by this package's tests, rewrites the round-0
// list a party sends (nil: it sends none).
var testConfirm func(self string, list []byte) []byte

// feed hands one message to tss-lib. A panic inside tss-lib while it
// processes a peer's message must not take down a server that runs many
// sessions: it fails this session and blames the message's sender.
func (rn *runner) feed(msg tss.ParsedMessage, from string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &Error{Code: CodeProtocol, Round: rn.round(), Culprits: []string{from},
				Err: fmt.Errorf("tss-lib panicked on a %s message: %v", msg.Type(), p)}
		}
	}()
	if terr := rn.drv.update(msg); terr != nil {
		return rn.protocolError(terr)
	}
	return nil
}

// protocolError maps a tss-lib error, keeping its culprits as party ids.
func (rn *runner) protocolError(terr *tss.Error) error {
	e := &Error{Code: CodeProtocol, Round: terr.Round(), Err: terr}
	for _, c := range terr.Culprits() {
		if c != nil {
			e.Culprits = append(e.Culprits, c.Id)
		}
	}
	sort.Strings(e.Culprits)
	// tss-lib blames once per failed check: one party failing two proofs
	// is named once.
	e.Culprits = slices.Compact(e.Culprits)
	return e
}

// deadlineError names the parties tss-lib is still waiting for: when a
// party is down, that is the one an operator must look at.
func (rn *runner) deadlineError(cause error) error {
	e := &Error{Code: CodeTimeout, Round: rn.round(), Err: cause}
	if errors.Is(cause, context.Canceled) {
		e.Code = CodeCanceled
	}
	if !rn.started {
		// Still in round 0: waiting for the roster confirmations of these.
		for _, id := range rn.roster.IDs() {
			if id != rn.sess.Self && !rn.confirmed[id] {
				e.Culprits = append(e.Culprits, id)
			}
		}
		return e
	}
	for _, id := range rn.drv.waitingFor() {
		if id != rn.sess.Self {
			e.Culprits = append(e.Culprits, id)
		}
	}
	sort.Strings(e.Culprits)
	e.Culprits = slices.Compact(e.Culprits)
	return e
}
