package peercheck_test

import (
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"google.golang.org/protobuf/proto"

	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/party/peercheck"
	"github.com/rwadurian/tsskit/party/roster"
)

// The fixture is one real keygen among three parties (tss-lib threshold 1,
// pre-parameters from the committed test fixture) and one signing by all
// three, run on tss-lib directly. Every message is recorded as a receiver
// decodes it: wire bytes through tss.ParseWireMessage.
const (
	fixtureParties   = 3
	fixtureThreshold = 1
)

type msgKey struct {
	typ      string
	from, to int // to = -1 for a broadcast
}

type fixtureData struct {
	ids      tss.SortedPartyIDs
	pre      []*keygen.LocalPreParams // by roster index
	saves    []*keygen.LocalPartySaveData
	keygen   map[msgKey]tss.ParsedMessage
	sign     map[msgKey]tss.ParsedMessage
	digest   *big.Int
	kgOrder  []msgKey // keygen messages in the order they were sent
	sgnOrder []msgKey
}

var (
	fixtureOnce sync.Once
	fixtureVal  *fixtureData
	fixtureErr  error
)

func fixture(tb testing.TB) *fixtureData {
	tb.Helper()
	fixtureOnce.Do(func() { fixtureVal, fixtureErr = makeFixture() })
	if fixtureErr != nil {
		tb.Fatal(fixtureErr)
	}
	return fixtureVal
}

func makeFixture() (*fixtureData, error) {
	r, err := roster.New([]string{"alice", "bob", "carol"})
	if err != nil {
		return nil, err
	}
	f := &fixtureData{
		ids:    r.PartyIDs(),
		keygen: map[msgKey]tss.ParsedMessage{},
		sign:   map[msgKey]tss.ParsedMessage{},
		digest: new(big.Int).SetBytes([]byte("peercheck fixture digest 32 byte")),
	}
	for i := range f.ids {
		pp, err := testkit.PreParams(i)
		if err != nil {
			return nil, err
		}
		f.pre = append(f.pre, pp)
	}
	params := func(i int) *tss.Parameters {
		return tss.NewParameters(tss.S256(), tss.NewPeerContext(f.ids), f.ids[i], len(f.ids), fixtureThreshold)
	}

	kgEnd := make(chan *keygen.LocalPartySaveData, fixtureParties)
	parties := make([]tss.Party, fixtureParties)
	out := make(chan tss.Message, 64*fixtureParties)
	for i := range parties {
		parties[i] = keygen.NewLocalParty(params(i), out, kgEnd, *f.pre[i])
	}
	saves := make([]*keygen.LocalPartySaveData, fixtureParties)
	err = route(parties, out, f.keygen, &f.kgOrder, func() bool {
		select {
		case s := <-kgEnd:
			idx, err := s.OriginalIndex()
			if err != nil {
				return false
			}
			saves[idx] = s
		default:
		}
		for _, s := range saves {
			if s == nil {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	f.saves = saves

	sgEnd := make(chan *common.SignatureData, fixtureParties)
	out = make(chan tss.Message, 64*fixtureParties)
	for i := range parties {
		parties[i] = signing.NewLocalParty(f.digest, params(i), *saves[i], out, sgEnd, 32)
	}
	done := 0
	err = route(parties, out, f.sign, &f.sgnOrder, func() bool {
		select {
		case <-sgEnd:
			done++
		default:
		}
		return done == fixtureParties
	})
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return f, nil
}

// route starts parties and delivers what they send until finished reports
// true, recording each delivered message.
func route(parties []tss.Party, out chan tss.Message, rec map[msgKey]tss.ParsedMessage, order *[]msgKey, finished func() bool) error {
	errCh := make(chan error, 64)
	for _, p := range parties {
		go func(p tss.Party) {
			if err := p.Start(); err != nil {
				errCh <- err
			}
		}(p)
	}
	deliver := func(to int, msg tss.Message, from *tss.PartyID, wire []byte, bc bool) error {
		pm, err := tss.ParseWireMessage(wire, from, bc)
		if err != nil {
			return err
		}
		k := msgKey{typ: pm.Type(), from: from.Index, to: to}
		if bc {
			k.to = -1
		}
		if _, seen := rec[k]; !seen {
			rec[k] = pm
			*order = append(*order, k)
		}
		if bc {
			// each receiver gets its own decoded copy
			pm, err = tss.ParseWireMessage(wire, from, bc)
			if err != nil {
				return err
			}
		}
		go func() {
			if _, err := parties[to].Update(pm); err != nil {
				errCh <- err
			}
		}()
		return nil
	}
	timeout := time.After(5 * time.Minute)
	for !finished() {
		select {
		case msg := <-out:
			wire, routing, err := msg.WireBytes()
			if err != nil {
				return err
			}
			from := routing.From
			if routing.IsBroadcast || len(routing.To) == 0 {
				for to := range parties {
					if to != from.Index {
						if err := deliver(to, msg, from, wire, true); err != nil {
							return err
						}
					}
				}
				continue
			}
			for _, to := range routing.To {
				if err := deliver(to.Index, msg, from, wire, false); err != nil {
					return err
				}
			}
		case err := <-errCh:
			return err
		case <-timeout:
			return fmt.Errorf("timed out")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// ring returns party i's key material as its round-1 message announces it.
func (f *fixtureData) ring(i int) *peercheck.Ring {
	pp := f.pre[i]
	return &peercheck.Ring{N: pp.PaillierSK.N, NTilde: pp.NTildei, H1: pp.H1i, H2: pp.H2i}
}

// msg returns the recorded message of type typ from from to to (-1 for a
// broadcast).
func (f *fixtureData) msg(tb testing.TB, sign bool, typ string, from, to int) tss.ParsedMessage {
	tb.Helper()
	m := f.keygen
	if sign {
		m = f.sign
	}
	pm, ok := m[msgKey{typ: typ, from: from, to: to}]
	if !ok {
		tb.Fatalf("no %s from %d to %d in the fixture", typ, from, to)
	}
	return pm
}

// tamper returns a copy of pm whose content edit has changed.
func tamper[T proto.Message](tb testing.TB, pm tss.ParsedMessage, edit func(c T)) tss.ParsedMessage {
	tb.Helper()
	c, ok := proto.Clone(pm.Content()).(T)
	if !ok {
		tb.Fatalf("%s is not the content type wanted", pm.Type())
	}
	edit(c)
	routing := tss.MessageRouting{From: pm.GetFrom(), To: pm.GetTo(), IsBroadcast: pm.IsBroadcast()}
	content := any(c).(tss.MessageContent)
	return tss.NewMessage(routing, content, tss.NewMessageWrapper(routing, content))
}

// keygenSSID and signSSID are tss-lib v2.0.2's session ids (rounds.go
// getSSID): its proofs are bound to them, so verifying a recorded proof
// outside tss-lib needs them.
func keygenSSID(ids tss.SortedPartyIDs) []byte {
	ec := tss.S256().Params()
	list := []*big.Int{ec.P, ec.N, ec.Gx, ec.Gy}
	list = append(list, ids.Keys()...)
	list = append(list, big.NewInt(1), big.NewInt(0))
	return common.SHA512_256i(list...).Bytes()
}

func signSSID(ids tss.SortedPartyIDs, save *keygen.LocalPartySaveData) ([]byte, error) {
	ec := tss.S256().Params()
	key := keygen.BuildLocalSaveDataSubset(*save, ids)
	list := []*big.Int{ec.P, ec.N, ec.B, ec.Gx, ec.Gy}
	list = append(list, ids.Keys()...)
	xs, err := crypto.FlattenECPoints(key.BigXj)
	if err != nil {
		return nil, err
	}
	list = append(list, xs...)
	list = append(list, key.NTildej...)
	list = append(list, key.H1j...)
	list = append(list, key.H2j...)
	list = append(list, big.NewInt(1), big.NewInt(0))
	return common.SHA512_256i(list...).Bytes(), nil
}

// context is the proof context of party j: ssid || j.
func context(ssid []byte, j int) []byte {
	return append(append([]byte(nil), ssid...), big.NewInt(int64(j)).Bytes()...)
}
