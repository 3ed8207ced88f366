package peercheck_test

import (
	"math/big"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto/facproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/modproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/mta"
	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/rwadurian/tsskit/party/peercheck"
)

// BenchmarkMessage compares, for each checked message type, the checks on
// one message (".../check") with tss-lib's own verification of the proofs
// in it (".../tss-lib"), from party 0's side, on real messages. The tss-lib
// side is the proof verification only (the DLN proofs, the factorization,
// modulus and Paillier proofs, Alice's range proof once (tss-lib runs it
// twice, for MtA and MtAwc), Bob's two proofs); each must succeed.
func BenchmarkMessage(b *testing.B) {
	f := fixture(b)
	const self, peer = 0, 1
	ec := tss.S256()
	own, their := f.ring(self), f.ring(peer)
	kgSSID := keygenSSID(f.ids)
	sgSSID, err := signSSID(f.ids, f.saves[self])
	if err != nil {
		b.Fatal(err)
	}
	r1 := f.msg(b, false, round.r1, peer, -1)
	r2p2p := f.msg(b, false, round.r2p2p, peer, self)
	r2bc := f.msg(b, false, round.r2bc, peer, -1)
	r3 := f.msg(b, false, round.r3, peer, -1)
	s1 := f.msg(b, true, signR1p2p, peer, self)
	s1mine := f.msg(b, true, signR1p2p, self, peer) // this party's ciphertext, answered in s2
	s2 := f.msg(b, true, signR2, peer, self)
	s9 := f.msg(b, true, signR9, peer, -1)

	// A keygen checker that has the sender's round-1 message.
	kg := peercheck.NewKeygen(fixtureParties, self, fixtureThreshold, own)
	if err := kg.Check(r1); err != nil {
		b.Fatal(err)
	}
	// A signing checker that has checked the sender's stored key data.
	sg, err := peercheck.NewSign(f.saves[self], f.ids, self)
	if err != nil {
		b.Fatal(err)
	}
	if err := sg.Check(s9); err != nil {
		b.Fatal(err)
	}
	must := func(b *testing.B, ok bool, err error) {
		if err != nil || !ok {
			b.Fatalf("tss-lib verification failed: %v", err)
		}
	}
	check := func(c interface {
		Check(tss.ParsedMessage) error
	}, m tss.ParsedMessage) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				if err := c.Check(m); err != nil {
					b.Fatal(err)
				}
			}
		}
	}

	b.Run("KGRound1Message/check", func(b *testing.B) {
		for b.Loop() {
			if err := peercheck.NewKeygen(fixtureParties, self, fixtureThreshold, own).Check(r1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("KGRound1Message/tss-lib", func(b *testing.B) {
		c := r1.Content().(*keygen.KGRound1Message)
		for b.Loop() {
			p1, err := c.UnmarshalDLNProof1()
			must(b, err == nil && p1.Verify(their.H1, their.H2, their.NTilde), err)
			p2, err := c.UnmarshalDLNProof2()
			must(b, err == nil && p2.Verify(their.H2, their.H1, their.NTilde), err)
		}
	})

	b.Run("KGRound2Message1/check", check(kg, r2p2p))
	b.Run("KGRound2Message1/tss-lib", func(b *testing.B) {
		c := r2p2p.Content().(*keygen.KGRound2Message1)
		for b.Loop() {
			pf, err := facproof.NewProofFromBytes(c.GetFacProof())
			must(b, err == nil && pf.Verify(context(kgSSID, peer), ec, their.N, own.NTilde, own.H1, own.H2), err)
		}
	})

	b.Run("KGRound2Message2/check", check(kg, r2bc))
	b.Run("KGRound2Message2/tss-lib", func(b *testing.B) {
		c := r2bc.Content().(*keygen.KGRound2Message2)
		for b.Loop() {
			pf, err := modproof.NewProofFromBytes(c.GetModProof())
			must(b, err == nil && pf.Verify(context(kgSSID, peer), their.N), err)
		}
	})

	b.Run("KGRound3Message/check", check(kg, r3))
	b.Run("KGRound3Message/tss-lib", func(b *testing.B) {
		pf := r3.Content().(*keygen.KGRound3Message).UnmarshalProofInts()
		k := f.ids[peer].KeyInt()
		for b.Loop() {
			ok, err := pf.Verify(their.N, k, f.saves[self].ECDSAPub)
			must(b, ok, err)
		}
	})

	b.Run("SignRound1Message1/check", check(sg, s1))
	b.Run("SignRound1Message1/tss-lib", func(b *testing.B) {
		c := s1.Content().(*signing.SignRound1Message1)
		pk := &paillier.PublicKey{N: their.N}
		for b.Loop() {
			pf, err := c.UnmarshalRangeProofAlice()
			must(b, err == nil && pf.Verify(ec, pk, own.NTilde, own.H1, own.H2, c.UnmarshalC()), err)
		}
	})

	b.Run("SignRound2Message/check", check(sg, s2))
	b.Run("SignRound2Message/tss-lib", func(b *testing.B) {
		c := s2.Content().(*signing.SignRound2Message)
		cA := s1mine.Content().(*signing.SignRound1Message1).UnmarshalC()
		pk := &paillier.PublicKey{N: own.N}
		sub := keygen.BuildLocalSaveDataSubset(*f.saves[self], f.ids)
		_, bigWs := signing.PrepareForSigning(ec, self, len(f.ids), sub.Xi, sub.Ks, sub.BigXj)
		ctx := context(sgSSID, peer)
		for b.Loop() {
			pf, err := c.UnmarshalProofBob()
			must(b, err == nil && pf.Verify(ctx, ec, pk, own.NTilde, own.H1, own.H2, cA, new(big.Int).SetBytes(c.GetC1())), err)
			wc, err := c.UnmarshalProofBobWC(ec)
			must(b, err == nil && wc.Verify(ctx, ec, pk, own.NTilde, own.H1, own.H2, cA, new(big.Int).SetBytes(c.GetC2()), bigWs[peer]), err)
		}
	})

	// The first message from each peer in a signing also checks the key
	// data the share holds for it.
	b.Run("SignStoredRing/check", func(b *testing.B) {
		for b.Loop() {
			c, err := peercheck.NewSign(f.saves[self], f.ids, self)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Check(s9); err != nil {
				b.Fatal(err)
			}
		}
	})
	_ = mta.ProofBobBytesParts
}
