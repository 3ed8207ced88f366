package party

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/peercheck"
	"github.com/rwadurian/tsskit/party/seal"
	"github.com/rwadurian/tsskit/party/share"
)

// The attacks of this file are a member of both committees of a refresh
// ("mallory") that sends crafted resharing messages. tss-lib v2.0.2 takes
// the wallet key from the first old member's message only, and names
// nobody, or itself, for some failures; every honest party must fail
// naming exactly mallory, and keep no share.

var (
	reshareWalletOnce sync.Once
	reshareWallet     map[string]*share.Record
)

func (w *attackWorld) reshareWallet(t *testing.T) map[string]*share.Record {
	t.Helper()
	reshareWalletOnce.Do(func() { reshareWallet = w.wallet(t) })
	if reshareWallet == nil {
		t.Fatal("no wallet")
	}
	return reshareWallet
}

// refresh runs a refresh of shares among attackIDs and returns every
// honest party's outcome; the first failure cancels the others, as a
// coordinator fails the session.
func (w *attackWorld) refresh(t *testing.T, session string, shares map[string]*share.Record) (map[string]*ReshareResult, map[string]error) {
	t.Helper()
	rec := shares[mallory]
	spec := &identity.Reshare{Epoch: rec.Epoch + 1, OldThreshold: rec.Threshold, Old: slices.Sorted(slices.Values(attackIDs)), New: slices.Sorted(slices.Values(attackIDs)),
		PublicKey: rec.PublicKey, ChainCode: rec.ChainCode}
	keys := make([]*seal.Keys, len(attackIDs))
	entries := map[string]*identity.Entry{}
	for i, pid := range attackIDs {
		k, err := seal.GenerateKeys()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
		pub := k.Public()
		st := &identity.Statement{SessionKind: identity.SessionReshare, SessionID: session, PartyID: pid, Kind: identity.KindServer, WalletID: rec.WalletID,
			Threshold: rec.Threshold, Parties: spec.New, Reshare: spec, Expires: time.Now().Add(10 * time.Minute)}
		copy(st.X25519[:], pub.X25519)
		copy(st.Ed25519[:], pub.Ed25519)
		if entries[pid], err = identity.SignStatement(w.keys[pid], st, w.chains[pid]); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	net := newAttackNet()
	var mu sync.Mutex
	results, errs := map[string]*ReshareResult{}, map[string]error{}
	var wg sync.WaitGroup
	for i, id := range attackIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := Session{ID: session, Parties: attackIDs, Self: id, Keys: keys[i], Roster: entries, Trust: w.trust}
			res, err := Reshare(ctx, ReshareRequest{Session: s, WalletID: rec.WalletID, Epoch: spec.Epoch, Old: attackIDs, OldThreshold: rec.Threshold,
				New: attackIDs, NewThreshold: rec.Threshold, PublicKey: rec.PublicKey, ChainCode: rec.ChainCode,
				Share: shares[id], PreParams: w.pps[id], Identity: w.keys[id]}, &attackTransport{net: net, self: id})
			if err != nil {
				cancel()
			}
			if id == mallory {
				return
			}
			mu.Lock()
			results[id], errs[id] = res, err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results, errs
}

// wantReshareBlamed: every honest party failed without a share; the first
// to fail (the others were cancelled) with a protocol error naming only
// mallory, whose message contains want.
func wantReshareBlamed(t *testing.T, results map[string]*ReshareResult, errs map[string]error, want string) {
	t.Helper()
	blamed := false
	for id, err := range errs {
		if results[id] != nil || err == nil {
			t.Fatalf("%s: the reshare succeeded", id)
		}
		if errors.Is(err, ErrCanceled) {
			continue
		}
		e, ok := AsError(err)
		if !ok || e.Code != CodeProtocol || !slices.Equal(e.Culprits, []string{mallory}) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: got %v; want a protocol error naming only %s for %q", id, err, mallory, want)
		}
		blamed = true
	}
	if !blamed {
		t.Fatal("every honest party was cancelled; none named mallory")
	}
}

func TestAttackReshare(t *testing.T) {
	w := newAttackWorld(t)
	shares := w.reshareWallet(t)

	t.Run("hands over another key", func(t *testing.T) {
		// tss-lib reads the key from the first old member's message only;
		// every old member's must be the wallet's.
		playMallory(t, func(msg tss.ParsedMessage, wire []byte) []byte {
			if _, ok := msg.Content().(*resharing.DGRound1Message); !ok {
				return wire
			}
			return rewrite(t, wire, func(c *resharing.DGRound1Message) {
				g := tss.S256().Params()
				c.EcdsaPubX, c.EcdsaPubY = g.Gx.Bytes(), g.Gy.Bytes()
			})
		})
		results, errs := w.refresh(t, "rs-attack-key", shares)
		wantReshareBlamed(t, results, errs, peercheck.CheckResharePublicKey)
	})

	t.Run("new member with a broken ring", func(t *testing.T) {
		playMallory(t, func(msg tss.ParsedMessage, wire []byte) []byte {
			if _, ok := msg.Content().(*resharing.DGRound2Message1); !ok {
				return wire
			}
			return rewrite(t, wire, func(c *resharing.DGRound2Message1) {
				c.NTilde = new(big.Int).Lsh(new(big.Int).SetBytes(c.NTilde), 1).Bytes() // even, and too long
			})
		})
		results, errs := w.refresh(t, "rs-attack-ring", shares)
		wantReshareBlamed(t, results, errs, "moduli.")
	})

	t.Run("wrong sub-share to one new member", func(t *testing.T) {
		// The sub-share travels sealed to one party: only it can tell, and
		// tss-lib's share check names mallory.
		playMallory(t, func(msg tss.ParsedMessage, wire []byte) []byte {
			if _, ok := msg.Content().(*resharing.DGRound3Message1); !ok || msg.GetTo()[0].Id != "honest-a" {
				return wire
			}
			return rewrite(t, wire, func(c *resharing.DGRound3Message1) {
				c.Share = new(big.Int).Add(new(big.Int).SetBytes(c.Share), big.NewInt(1)).Bytes()
			})
		})
		results, errs := w.refresh(t, "rs-attack-subshare", shares)
		wantReshareBlamed(t, results, errs, "did not pass Verify")
	})
}
