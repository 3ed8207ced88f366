package share

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/ipfs/go-log"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/roster"
)

// The tests run one real 2-of-3 tss-lib keygen per test binary. Generating
// pre-parameters (safe primes) takes minutes, so the parties use the valid
// pre-parameters tss-lib ships with its own test fixtures; everything else
// (party keys from roster.Key, shares, points) comes from this keygen.
const (
	testWalletID  = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	testThreshold = 2
)

var testParties = []string{"server-1", "server-2", "browser-0b8e5f3a-7c21-4d9e-a6f0-3e2d1c4b5a69"}

var keygenResult struct {
	once sync.Once
	recs []*Record // keygen output in roster order; read only
	encs [][]byte  // their encodings
	err  error
}

// testEncodings returns a valid encoding of every party's record.
func testEncodings(tb testing.TB) [][]byte {
	tb.Helper()
	k := &keygenResult
	k.once.Do(func() {
		if k.recs, k.err = runKeygen(testWalletID, testParties, testThreshold); k.err != nil {
			return
		}
		for _, r := range k.recs {
			b, err := Encode(r)
			if err != nil {
				k.err = fmt.Errorf("encoding the keygen result: %w", err)
				return
			}
			k.encs = append(k.encs, b)
		}
	})
	if k.err != nil {
		tb.Fatal(k.err)
	}
	return k.encs
}

// keygenRecords returns the records as keygen made them, not to be modified.
func keygenRecords(tb testing.TB) []*Record {
	tb.Helper()
	testEncodings(tb)
	return keygenResult.recs
}

// testRecord returns a fresh copy of party i's record, free to modify.
func testRecord(tb testing.TB, i int) *Record {
	tb.Helper()
	r, err := Decode(testEncodings(tb)[i])
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// runKeygen runs an in-process tss-lib keygen and returns each party's
// record, in roster order.
func runKeygen(walletID string, ids []string, threshold int) ([]*Record, error) {
	if err := log.SetLogLevel("tss-lib", "error"); err != nil {
		return nil, err
	}
	fixtures, _, err := keygen.LoadKeygenTestFixtures(len(ids))
	if err != nil {
		return nil, fmt.Errorf("loading tss-lib's pre-parameter fixtures: %w", err)
	}
	rs, err := roster.New(ids)
	if err != nil {
		return nil, err
	}
	pids := rs.PartyIDs()
	peers := tss.NewPeerContext(pids)
	out := make(chan tss.Message, 4*len(pids))
	end := make(chan *keygen.LocalPartySaveData, len(pids))
	errCh := make(chan *tss.Error, len(pids))
	parties := make([]tss.Party, len(pids))
	for i, pid := range pids {
		params := tss.NewParameters(tss.S256(), peers, pid, len(pids), threshold-1)
		// The Paillier modulus and factor proofs protect the parties from
		// each other during keygen; all of them are trusted here and the
		// save data is the same without them, at half the time.
		params.SetNoProofMod()
		params.SetNoProofFac()
		parties[i] = keygen.NewLocalParty(params, out, end, fixtures[i].LocalPreParams)
	}
	for _, p := range parties {
		go func() {
			if err := p.Start(); err != nil {
				errCh <- err
			}
		}()
	}
	// Messages go through their wire encoding, as between processes.
	deliver := func(to tss.Party, msg tss.Message) {
		b, routing, err := msg.WireBytes()
		if err != nil {
			errCh <- to.WrapError(err)
			return
		}
		if _, err := to.UpdateFromBytes(b, routing.From, routing.IsBroadcast); err != nil {
			errCh <- err
		}
	}

	saves := make([]*keygen.LocalPartySaveData, len(pids))
	timeout := time.After(2 * time.Minute)
	for done := 0; done < len(pids); {
		select {
		case msg := <-out:
			if to := msg.GetTo(); to != nil {
				go deliver(parties[to[0].Index], msg)
				continue
			}
			for _, p := range parties {
				if p.PartyID() != msg.GetFrom() {
					go deliver(p, msg)
				}
			}
		case sd := <-end:
			i, err := sd.OriginalIndex()
			if err != nil {
				return nil, err
			}
			saves[i] = sd
			done++
		case err := <-errCh:
			return nil, err
		case <-timeout:
			return nil, errors.New("keygen timed out")
		}
	}

	// Holders: the "browser-" party is the wallet's client, the others
	// its servers; identity keys from fixed seeds, so records are
	// reproducible.
	var holders []Holder
	seeds := map[string][]byte{}
	for _, id := range rs.IDs() {
		seed := sha256.Sum256([]byte("identity of " + id))
		seeds[id] = seed[:]
		k, _ := identity.KeyFromSeed(seed[:])
		kind := identity.KindServer
		if strings.HasPrefix(id, "browser-") {
			kind = identity.KindClient
		}
		holders = append(holders, Holder{PartyID: id, Kind: kind, Identity: k.Public()})
	}
	chainCode := sha256.Sum256([]byte("chain code of " + walletID))
	recs := make([]*Record, len(saves))
	for i, sd := range saves {
		recs[i] = &Record{
			WalletID:  walletID,
			PartyID:   pids[i].Id,
			Threshold: threshold,
			Parties:   rs.IDs(),
			PublicKey: compressed(sd.ECDSAPub),
			SaveData:  sd,
			Holders:   holders,
			Policy:    Policy{ClientRequired: true},
			ChainCode: chainCode[:],
		}
		if holders[i].Kind == identity.KindClient {
			recs[i].IdentitySeed = seeds[pids[i].Id]
		}
	}
	return recs, nil
}

// compressed returns the SEC1 compressed form of p, computed here rather
// than with the package's own code.
func compressed(p *crypto.ECPoint) []byte {
	b := make([]byte, 33)
	b[0] = 2 | byte(p.Y().Bit(0))
	p.X().FillBytes(b[1:])
	return b
}
