package peercheck_test

import (
	"crypto/rand"
	"math/big"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/rwadurian/tsskit/party/peercheck"
)

const (
	signR1p2p = "binance.tsslib.ecdsa.signing.SignRound1Message1"
	signR1bc  = "binance.tsslib.ecdsa.signing.SignRound1Message2"
	signR2    = "binance.tsslib.ecdsa.signing.SignRound2Message"
	signR9    = "binance.tsslib.ecdsa.signing.SignRound9Message"
)

// copySave returns a copy of save whose per-party slices can be edited.
func copySave(save *keygen.LocalPartySaveData) *keygen.LocalPartySaveData {
	c := *save
	c.NTildej = append([]*big.Int(nil), save.NTildej...)
	c.H1j = append([]*big.Int(nil), save.H1j...)
	c.H2j = append([]*big.Int(nil), save.H2j...)
	c.PaillierPKs = append([]*paillier.PublicKey(nil), save.PaillierPKs...)
	return &c
}

// Signing checks, from party 0's side: a pass case for each checked message
// type and one or more fail cases for each check.
func TestSignChecks(t *testing.T) {
	f := fixture(t)
	const self, peer = 0, 1
	r1 := f.msg(t, true, signR1p2p, peer, self)
	r1bc := f.msg(t, true, signR1bc, peer, -1)
	r2 := f.msg(t, true, signR2, peer, self)
	r9 := f.msg(t, true, signR9, peer, -1)
	nPeer := f.pre[peer].PaillierSK.N
	pPeer := f.pre[peer].PaillierSK.P
	own := f.ring(self)
	bound := new(big.Int).Lsh(new(big.Int).Mul(q3, own.NTilde), 1) // 2·q^3·NTilde

	editR1 := func(edit func(c *signing.SignRound1Message1)) tss.ParsedMessage { return tamper(t, r1, edit) }
	editRP := func(i int, v *big.Int) tss.ParsedMessage {
		return editR1(func(c *signing.SignRound1Message1) { c.RangeProofAlice[i] = b(v) })
	}
	rp := func(i int) *big.Int { return bi(r1.Content().(*signing.SignRound1Message1).RangeProofAlice[i]) }
	editR2 := func(edit func(c *signing.SignRound2Message)) tss.ParsedMessage { return tamper(t, r2, edit) }

	// Stored key data with a bad ring for the peer.
	prime2048, err := rand.Prime(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	badSave := func(edit func(s *keygen.LocalPartySaveData, k int)) *keygen.LocalPartySaveData {
		s := copySave(f.saves[self])
		for k, kk := range s.Ks {
			if kk.Cmp(f.ids[peer].KeyInt()) == 0 {
				edit(s, k)
				return s
			}
		}
		t.Fatal("peer not in the key data")
		return nil
	}

	cases := []struct {
		name  string
		save  *keygen.LocalPartySaveData
		msgs  []tss.ParsedMessage
		check string
	}{
		{"pass/round1-mta", nil, []tss.ParsedMessage{r1}, ""},
		{"pass/round1-commitment", nil, []tss.ParsedMessage{r1bc}, ""},
		{"pass/round2-mta", nil, []tss.ParsedMessage{r2}, ""},
		{"pass/round9", nil, []tss.ParsedMessage{r9}, ""},

		{"sender/self", nil, []tss.ParsedMessage{f.msg(t, true, signR1bc, self, -1)}, peercheck.CheckSender},

		{"stored/ntilde-prime", badSave(func(s *keygen.LocalPartySaveData, k int) { s.NTildej[k] = prime2048 }), []tss.ParsedMessage{r1bc}, peercheck.CheckNTildePrime},
		{"stored/h-jacobi", badSave(func(s *keygen.LocalPartySaveData, k int) {
			s.H2j[k] = new(big.Int).Mod(new(big.Int).Mul(s.H2j[k], nonResidue(t, s.NTildej[k])), s.NTildej[k])
		}), []tss.ParsedMessage{r9}, peercheck.CheckRingJacobi},
		{"stored/distinct", badSave(func(s *keygen.LocalPartySaveData, k int) {
			s.PaillierPKs[k] = &paillier.PublicKey{N: own.N}
		}), []tss.ParsedMessage{r1}, peercheck.CheckModuliDistinct},

		{"mta.ciphertext/C=N", nil, []tss.ParsedMessage{editR1(func(c *signing.SignRound1Message1) { c.C = b(nPeer) })}, peercheck.CheckCiphertext},
		{"mta.ciphertext/C=p", nil, []tss.ParsedMessage{editR1(func(c *signing.SignRound1Message1) { c.C = b(pPeer) })}, peercheck.CheckCiphertext},
		{"mta.ciphertext/C+N^2", nil, []tss.ParsedMessage{editR1(func(c *signing.SignRound1Message1) {
			c.C = b(new(big.Int).Add(bi(c.C), new(big.Int).Mul(nPeer, nPeer)))
		})}, peercheck.CheckCiphertext},
		{"mta.ciphertext/C1-under-own-N", nil, []tss.ParsedMessage{editR2(func(c *signing.SignRound2Message) { c.C1 = b(own.N) })}, peercheck.CheckCiphertext},
		{"mta.ciphertext/C2-factor", nil, []tss.ParsedMessage{editR2(func(c *signing.SignRound2Message) { c.C2 = b(f.pre[self].PaillierSK.Q) })}, peercheck.CheckCiphertext},

		{"rangeproof.layout", nil, []tss.ParsedMessage{editR1(func(c *signing.SignRound1Message1) { c.RangeProofAlice = c.RangeProofAlice[:5] })}, peercheck.CheckRangeProofLayout},
		{"rangeproof.trivial/S=1", nil, []tss.ParsedMessage{editRP(3, one)}, peercheck.CheckRangeProofTrivial},
		{"rangeproof.trivial/Z=1", nil, []tss.ParsedMessage{editRP(0, one)}, peercheck.CheckRangeProofTrivial},
		{"rangeproof.trivial/S1=S2", nil, []tss.ParsedMessage{editRP(5, rp(4))}, peercheck.CheckRangeProofTrivial},
		{"rangeproof.s-unit/S=p", nil, []tss.ParsedMessage{editRP(3, pPeer)}, peercheck.CheckRangeProofS},
		{"rangeproof.s-unit/S+N", nil, []tss.ParsedMessage{editRP(3, new(big.Int).Add(rp(3), nPeer))}, peercheck.CheckRangeProofS},
		{"rangeproof.s2-bound", nil, []tss.ParsedMessage{editRP(5, bound)}, peercheck.CheckRangeProofBound},

		{"bobproof.layout/ProofBob", nil, []tss.ParsedMessage{editR2(func(c *signing.SignRound2Message) { c.ProofBob = c.ProofBobWc })}, peercheck.CheckBobProofLayout},
		{"bobproof.layout/ProofBobWC-10-parts", nil, []tss.ParsedMessage{editR2(func(c *signing.SignRound2Message) { c.ProofBobWc = c.ProofBob })}, peercheck.CheckBobProofLayout},
		{"bobproof.bounds/S2", nil, []tss.ParsedMessage{editR2(func(c *signing.SignRound2Message) { c.ProofBob[7] = b(bound) })}, peercheck.CheckBobProofBounds},
		{"bobproof.bounds/T2", nil, []tss.ParsedMessage{editR2(func(c *signing.SignRound2Message) { c.ProofBob[9] = b(bound) })}, peercheck.CheckBobProofBounds},
		{"bobproof.bounds/WC-S2", nil, []tss.ParsedMessage{editR2(func(c *signing.SignRound2Message) {
			c.ProofBobWc[7] = b(new(big.Int).Add(bound, bi(c.ProofBobWc[7])))
		})}, peercheck.CheckBobProofBounds},
		{"bobproof.bounds/WC-T2", nil, []tss.ParsedMessage{editR2(func(c *signing.SignRound2Message) { c.ProofBobWc[9] = b(bound) })}, peercheck.CheckBobProofBounds},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			save := tc.save
			if save == nil {
				save = f.saves[self]
			}
			c, err := peercheck.NewSign(save, f.ids, self)
			if err != nil {
				t.Fatal(err)
			}
			err = feed(t, c, tc.msgs...)
			if tc.check == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantRefused(t, err, tc.check)
		})
	}
}

// NewSign finds every signer's key data by key, whatever the order of the
// keygen roster; a signer without key data is an error.
func TestNewSign(t *testing.T) {
	f := fixture(t)
	signers := tss.SortedPartyIDs{f.ids[0], f.ids[2]}
	c, err := peercheck.NewSign(f.saves[2], signers, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Party 0's messages of the three-party signing: its index there is
	// 0, here too, and its key data is the same.
	if err := c.Check(f.msg(t, true, signR1bc, 0, -1)); err != nil {
		t.Fatal(err)
	}
	stranger := tss.NewPartyID("x", "x", big.NewInt(12345))
	if _, err := peercheck.NewSign(f.saves[0], tss.SortedPartyIDs{f.ids[0], stranger}, 0); err == nil {
		t.Fatal("a signer without key data was accepted")
	}
	if _, err := peercheck.NewSign(nil, f.ids, 0); err == nil {
		t.Fatal("no key data was accepted")
	}
}
