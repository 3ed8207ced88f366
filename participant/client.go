package participant

import (
	"errors"
	"fmt"
	"slices"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// A client party (the CLI party, a test acting as a browser) creates its
// sessions itself and checks that the coordinator set up what it asked
// for before it joins: a coordinator that changes the threshold, the
// number of parties or their kinds gets a typed session_mismatch error,
// and nothing is signed or sent.

func mismatch(format string, a ...any) error {
	return &party.Error{Code: party.CodeMismatch, Err: fmt.Errorf(format, a...)}
}

// tokenOf is the party token the coordinator gave for self.
func tokenOf(resp *tsskitv1.CreateSessionResponse, self string) (string, error) {
	for _, t := range resp.Tokens {
		if t.PartyId == self {
			return t.Token, nil
		}
	}
	return "", mismatch("the coordinator gave no token for %q", self)
}

// ClientKeygenJob checks a keygen session the client self asked for —
// signers of parties, itself its only client, every other party a
// certified server — and returns its seat with a new device identity key
// (kept in the share record keygen makes).
func ClientKeygenJob(resp *tsskitv1.CreateSessionResponse, self string, signers, parties int, trust *identity.Trust) (Job, error) {
	switch {
	case resp.Kind != tsskitv1.SessionKind_SESSION_KIND_KEYGEN:
		return Job{}, mismatch("the coordinator made a %v session; a keygen was asked for", resp.Kind)
	case len(resp.Parties) != parties:
		return Job{}, mismatch("the coordinator's session has %d parties; %d were asked for", len(resp.Parties), parties)
	case int(resp.SignersNeeded) != signers:
		return Job{}, mismatch("the coordinator's session needs %d signers; %d were asked for", resp.SignersNeeded, signers)
	case !slices.Contains(resp.Parties, self):
		return Job{}, mismatch("the coordinator's session leaves out this party %q", self)
	case resp.WalletId == "":
		return Job{}, mismatch("the coordinator's session names no wallet")
	}
	tok, err := tokenOf(resp, self)
	if err != nil {
		return Job{}, err
	}
	device, err := identity.GenerateKey()
	if err != nil {
		return Job{}, err
	}
	kinds := make(map[string]identity.Kind, len(resp.Parties))
	for _, p := range resp.Parties {
		kinds[p] = identity.KindServer
	}
	kinds[self] = identity.KindClient
	return Job{SessionID: resp.SessionId, PartyID: self, Token: tok, Identity: device, Kind: identity.KindClient, Trust: trust,
		WalletID: resp.WalletId, Parties: resp.Parties, Threshold: signers, Kinds: kinds}, nil
}

// ClientReshareJob checks a reshare session the holder of rec asked for
// (threshold and parties as asked, 0: unchanged) and returns its seat:
// the record's identity key joins both committees, every other party as
// a certified server unless rec records it as a client
// (party.ClientReshare).
func ClientReshareJob(resp *tsskitv1.CreateSessionResponse, rec *share.Record, threshold, parties int, trust *identity.Trust) (Job, error) {
	switch {
	case resp.Kind != tsskitv1.SessionKind_SESSION_KIND_RESHARE:
		return Job{}, mismatch("the coordinator made a %v session; a reshare was asked for", resp.Kind)
	case resp.WalletId != rec.WalletID:
		return Job{}, mismatch("the coordinator's session reshares wallet %s, not %s", resp.WalletId, rec.WalletID)
	}
	spec := ReshareFromProto(resp.Reshare)
	kinds, err := party.ClientReshare(rec, spec, int(resp.SignersNeeded), threshold, parties)
	if err != nil {
		return Job{}, err
	}
	want := slices.Sorted(slices.Values(append(slices.Clone(spec.Old), spec.New...)))
	if got := slices.Sorted(slices.Values(resp.Parties)); !slices.Equal(slices.Compact(want), got) {
		return Job{}, mismatch("the coordinator's session has parties %v; its committees are %v and %v", got, spec.Old, spec.New)
	}
	tok, err := tokenOf(resp, rec.PartyID)
	if err != nil {
		return Job{}, err
	}
	key, err := rec.IdentityKey()
	if err != nil {
		return Job{}, err
	}
	if key == nil {
		// A record made before identities: the engine's old members hand
		// such a wallet over only to its client, whatever key it shows.
		if key, err = identity.GenerateKey(); err != nil {
			return Job{}, err
		}
	}
	return Job{SessionID: resp.SessionId, PartyID: rec.PartyID, Token: tok, Identity: key, Kind: identity.KindClient, Trust: trust,
		WalletID: rec.WalletID, Parties: resp.Parties, Threshold: int(resp.SignersNeeded), Reshare: spec, Kinds: kinds}, nil
}

// ClientRecoveryJob checks a recovery session a new client asked for with
// authorization a and device key dev, and returns its seat: it is a new
// member only, every other party is a certified server (the wallet's
// server holders), the threshold stays, and the epoch follows the one a
// authorizes. The old members check a against their own records.
func ClientRecoveryJob(resp *tsskitv1.CreateSessionResponse, a *recovery.Authorization, dev *identity.Key, trust *identity.Trust) (Job, error) {
	spec := ReshareFromProto(resp.Reshare)
	switch {
	case resp.Kind != tsskitv1.SessionKind_SESSION_KIND_RESHARE || spec == nil:
		return Job{}, mismatch("the coordinator made a %v session; a recovery was asked for", resp.Kind)
	case resp.WalletId != a.WalletID:
		return Job{}, mismatch("the coordinator's session reshares wallet %s, not %s", resp.WalletId, a.WalletID)
	}
	kinds, err := party.ClientRecovery(spec, int(resp.SignersNeeded), resp.Parties, a, dev.Public())
	if err != nil {
		return Job{}, err
	}
	tok, err := tokenOf(resp, a.PartyID)
	if err != nil {
		return Job{}, err
	}
	return Job{SessionID: resp.SessionId, PartyID: a.PartyID, Token: tok, Identity: dev, Kind: identity.KindClient, Trust: trust,
		WalletID: a.WalletID, Parties: resp.Parties, Threshold: int(resp.SignersNeeded), Reshare: spec, Kinds: kinds, Authorization: a}, nil
}

// ClientSignJob checks a signing session the holder of rec asked for with
// digest and returns its seat, signing with the record's identity key
// (its statement is the wallet's sign request). A record made before
// identities existed has none: a key of the moment stands in.
func ClientSignJob(resp *tsskitv1.CreateSessionResponse, rec *share.Record, digest []byte, trust *identity.Trust) (Job, error) {
	switch {
	case resp.Kind != tsskitv1.SessionKind_SESSION_KIND_SIGN:
		return Job{}, mismatch("the coordinator made a %v session; a signing was asked for", resp.Kind)
	case resp.WalletId != rec.WalletID:
		return Job{}, mismatch("the coordinator's session signs with wallet %s, not %s", resp.WalletId, rec.WalletID)
	case !slices.Contains(resp.Parties, rec.PartyID):
		return Job{}, mismatch("the coordinator's session leaves out this party %q", rec.PartyID)
	case len(resp.Parties) < rec.Threshold:
		return Job{}, mismatch("the coordinator's session has %d signers; the wallet needs %d", len(resp.Parties), rec.Threshold)
	}
	tok, err := tokenOf(resp, rec.PartyID)
	if err != nil {
		return Job{}, err
	}
	key, err := rec.IdentityKey()
	if err != nil {
		return Job{}, err
	}
	if key == nil {
		if !rec.Legacy() {
			return Job{}, errors.New("the share record has no identity key of its own")
		}
		if key, err = identity.GenerateKey(); err != nil {
			return Job{}, err
		}
	}
	kind := rec.Own().Kind
	if kind == 0 {
		kind = identity.KindClient
	}
	j := Job{SessionID: resp.SessionId, PartyID: rec.PartyID, Token: tok, Identity: key, Kind: kind, Trust: trust,
		WalletID: rec.WalletID, Parties: resp.Parties, Threshold: rec.Threshold, Digest: slices.Clone(digest)}
	if rec.Legacy() {
		// A record made before identities names no holder's kind: the
		// client's own request does, as at keygen — every other signer is
		// a certified server, so the coordinator cannot seat a
		// self-certified "client" of its own in a server's place.
		j.Kinds = map[string]identity.Kind{}
		for _, p := range resp.Parties {
			j.Kinds[p] = identity.KindServer
		}
		j.Kinds[rec.PartyID] = kind
	}
	return j, nil
}
