package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/memnet"
	"github.com/rwadurian/tsskit/party/preparams"
)

// runDemo shows the engine end to end in one process: every party finds its
// own pre-parameters, keygen runs over an in-memory router with sealed
// envelopes, then two of the three parties sign a digest.
func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	message := fs.String("message", "hello from tsskit", "text whose SHA-256 digest is signed")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ids := []string{"browser-demo", "server-1", "server-2"}

	fmt.Printf("tsskit demo: 2-of-3 wallet among %v\n", ids)
	pps := make([]*keygen.LocalPreParams, len(ids))
	for i, id := range ids {
		start := time.Now()
		pp, err := preparams.Generate(ctx, &preparams.Options{Progress: func(p preparams.Progress) {
			fmt.Fprintf(os.Stderr, "\r  %s pre-params: %d/%d safe primes, %d candidates tested ", id, p.PrimesFound, p.PrimesNeeded, p.Tested)
		}})
		if err != nil {
			return fmt.Errorf("pre-params for %s: %w", id, err)
		}
		fmt.Fprintf(os.Stderr, "\r\033[K")
		fmt.Printf("  %s pre-params ready in %v\n", id, time.Since(start).Round(time.Millisecond))
		pps[i] = pp
	}

	// An in-process deployment: a root that certifies the two servers;
	// the browser's identity is its own device key.
	d, err := memnet.NewIdentities(ids, map[string]identity.Kind{"browser-demo": identity.KindClient})
	if err != nil {
		return err
	}
	walletID := newID()
	start := time.Now()
	results := make([]*party.KeygenResult, len(ids))
	err = runParties(ctx, d, memnet.Spec{Kind: identity.SessionKeygen, ID: "keygen-" + walletID, WalletID: walletID, Threshold: 2, Parties: ids},
		func(ctx context.Context, s party.Session, tr party.Transport, i int) error {
			res, err := party.Keygen(ctx, party.KeygenRequest{Session: s, WalletID: walletID, PreParams: pps[i], Identity: d.Keys[ids[i]]}, tr)
			results[i] = res
			return err
		})
	if err != nil {
		return err
	}
	fmt.Printf("keygen done in %v\n  wallet     %s\n  public key %s\n  address    %s\n",
		time.Since(start).Round(time.Millisecond), walletID, results[0].PublicKeyHex(), results[0].Address)

	digest := sha256.Sum256([]byte(*message))
	signers := ids[:2]
	start = time.Now()
	sigs := make([]*party.Signature, len(signers))
	err = runParties(ctx, d, memnet.Spec{Kind: identity.SessionSign, ID: "sign-" + newID(), WalletID: walletID, Threshold: 2, Parties: signers, Digest: digest[:]},
		func(ctx context.Context, s party.Session, tr party.Transport, i int) error {
			sig, err := party.Sign(ctx, party.SignRequest{Session: s, Share: results[i].Share, Digest: digest[:]}, tr)
			sigs[i] = sig
			return err
		})
	if err != nil {
		return err
	}
	fmt.Printf("signed by %v in %v (verified against the wallet key)\n  digest     sha256(%q) = %x\n  r          %s\n  s          %s\n  v          %d\n",
		signers, time.Since(start).Round(time.Millisecond), *message, digest, sigs[0].RHex(), sigs[0].SHex(), sigs[0].V)
	return nil
}

// runParties runs one session among ids in this process, printing each
// party's round progress.
func runParties(ctx context.Context, d *memnet.Identities, spec memnet.Spec, run func(context.Context, party.Session, party.Transport, int) error) error {
	var mu sync.Mutex
	outs, err := memnet.RunSession(ctx, nil, d, spec,
		func(ctx context.Context, s party.Session, tr party.Transport, i int) (struct{}, error) {
			s.Progress = func(p party.Progress) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Printf("  %-12s %s round %d/%d  sent %d msgs (%d KB)\n", s.Self, p.Phase, p.Round, p.Rounds, p.MessagesSent, p.BytesSent/1024)
			}
			return struct{}{}, run(ctx, s, tr, i)
		})
	if err != nil {
		return err
	}
	return memnet.Err(outs)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // UUID version 4
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
