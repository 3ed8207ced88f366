package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/recovery"
)

// Lost-device recovery in the browser (docs/lifecycle.md): a new device
// makes an identity key, gets an authorization for it — signed here with
// the key derived from the wallet's recovery code, or signed by the app
// backend — and joins the recovery reshare the coordinator sets up with
// it. The device key lives in this instance under an id, like a seat's
// keys; it leaves Go memory only as its seed, to the worker, which
// encrypts it under the user's password while the backend's approval is
// awaited (NewDevice), and comes back in through OpenDevice.

// KeygenRecovery is the recovery policy a client's keygen sets: a recovery
// kit (a new recovery code, whose key goes into the statement) and/or the
// app backend's approvals.
type KeygenRecovery struct {
	Kit     bool
	Backend bool
}

// recoveryCheck refuses a policy the wallet's server holders could never
// use: a recovery hands the wallet over with them alone, so they must be
// able to sign without the client (parties - 1 of them, signers needed).
func recoveryCheck(r KeygenRecovery, parties, signers int) error {
	if (r.Kit || r.Backend) && parties-1 < signers {
		return argErr("a recovery policy needs at least as many server parties as signers: %d of %d parties are servers, %d signers needed", parties-1, parties, signers)
	}
	return nil
}

// keygenRecovery sets spec's recovery policy from r and returns the
// recovery code when r asks for a kit: 12 BIP39 words from crypto/rand
// (crypto.getRandomValues in the browser), whose key for walletID the
// statement names. The code is returned once and kept nowhere here.
func keygenRecovery(spec *identity.Statement, r KeygenRecovery) (string, error) {
	spec.Recovery.Backend = r.Backend
	if !r.Kit {
		return "", nil
	}
	code, err := recovery.NewCode()
	if err != nil {
		return "", err
	}
	kit, err := recovery.KitKey(code, spec.WalletID)
	if err != nil {
		return "", err
	}
	spec.Recovery.Kit = kit.Public()
	kit.Destroy()
	return code, nil
}

// devices are the device identity keys made or opened in this instance,
// by id, until a recovery seat takes one or it is released.
type deviceRing struct {
	mu sync.Mutex
	m  map[string]*identity.Key
}

var devices = &deviceRing{m: map[string]*identity.Key{}}

func (d *deviceRing) add(k *identity.Key) (string, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	s := hex.EncodeToString(id[:])
	d.mu.Lock()
	d.m[s] = k
	d.mu.Unlock()
	return s, nil
}

func (d *deviceRing) get(id string) (*identity.Key, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k, ok := d.m[id]
	if !ok {
		return nil, argErr("no device key with id %q (made in this worker? used or released?)", id)
	}
	return k, nil
}

// take removes the device key from the ring: a seat owns it from then on.
func (d *deviceRing) take(id string) (*identity.Key, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k, ok := d.m[id]
	if !ok {
		return nil, argErr("no device key with id %q (made in this worker? used or released?)", id)
	}
	delete(d.m, id)
	return k, nil
}

// ReleaseDevice zeroes and forgets a device key.
func ReleaseDevice(id string) {
	devices.mu.Lock()
	if k, ok := devices.m[id]; ok {
		k.Destroy()
		delete(devices.m, id)
	}
	devices.mu.Unlock()
}

// Device is a device identity key held in this instance: its id and
// public key, and its seed for NewDevice's caller to encrypt (nil from
// OpenDevice).
type Device struct {
	ID       string
	Identity identity.PublicKey
	Seed     []byte // secret
}

// NewDevice makes a new device identity key from crypto/rand.
func NewDevice(withSeed bool) (*Device, error) {
	k, err := identity.GenerateKey()
	if err != nil {
		return nil, err
	}
	id, err := devices.add(k)
	if err != nil {
		k.Destroy()
		return nil, err
	}
	d := &Device{ID: id, Identity: k.Public()}
	if withSeed {
		d.Seed = k.Seed()
	}
	return d, nil
}

// OpenDevice holds the device key of seed (NewDevice's, decrypted by the
// worker), which must be the key of want (hex; "" skips the check).
func OpenDevice(seed []byte, want string) (*Device, error) {
	k, err := identity.KeyFromSeed(seed)
	if err != nil {
		return nil, argErr("device seed: %v", err)
	}
	if want != "" {
		w, err := identity.ParsePublicKey(want)
		if err != nil || !w.Equal(k.Public()) {
			k.Destroy()
			return nil, &Error{Code: "corrupt_record", Message: "the stored device key is not the key its recovery request names"}
		}
	}
	id, err := devices.add(k)
	if err != nil {
		k.Destroy()
		return nil, err
	}
	return &Device{ID: id, Identity: k.Public()}, nil
}

// AuthorizationInfo is an authorization's fields, its wire form (what
// CreateRecoverySession takes) and its file form.
type AuthorizationInfo struct {
	Kind     string
	WalletID string
	Epoch    int
	PartyID  string
	Identity string // hex
	Expires  time.Time
	Signer   string // hex
	Wire     []byte
	File     string
}

func authorizationInfo(a *recovery.Authorization) (*AuthorizationInfo, error) {
	f, err := a.MarshalFile()
	if err != nil {
		return nil, err
	}
	return &AuthorizationInfo{Kind: a.Kind.String(), WalletID: a.WalletID, Epoch: a.Epoch, PartyID: a.PartyID, Identity: a.Identity.String(),
		Expires: a.Expires, Signer: a.Signer.String(), Wire: a.Encode(), File: string(f)}, nil
}

// KitAuthParams ask for a kit authorization: the recovery code, the
// device it authorizes (DeviceID) as party PartyID, the wallet and the
// epoch it recovers from, the expiry, and — if the caller knows it — the
// wallet's kit public key (hex), so that a code of another wallet is told
// here rather than by the server holders.
type KitAuthParams struct {
	Code     string
	DeviceID string
	WalletID string
	Epoch    int
	PartyID  string
	Expires  time.Time
	Kit      string
}

// KitAuthorization derives the wallet's kit key from the recovery code and
// signs the authorization of the device with it (recovery.Sign); the key
// is destroyed after. A code that is not 12 BIP39 words with a valid
// checksum is recovery_code; one whose key is not p.Kit is
// recovery_wrong_code.
func KitAuthorization(p KitAuthParams) (*AuthorizationInfo, error) {
	dev, err := devices.get(p.DeviceID)
	if err != nil {
		return nil, err
	}
	kit, err := recovery.KitKey(p.Code, p.WalletID)
	if err != nil {
		return nil, err
	}
	defer kit.Destroy()
	if p.Kit != "" {
		want, err := identity.ParsePublicKey(p.Kit)
		if err != nil {
			return nil, argErr("kit: %v", err)
		}
		if !want.Equal(kit.Public()) {
			return nil, &Error{Code: "recovery_wrong_code", Message: "this recovery code is not the wallet's: its key is not the wallet's recovery kit"}
		}
	}
	a := &recovery.Authorization{Kind: recovery.KindKit, WalletID: p.WalletID, Epoch: p.Epoch, PartyID: p.PartyID, Identity: dev.Public(), Expires: p.Expires}
	if err := recovery.Sign(kit, a); err != nil {
		return nil, err
	}
	return authorizationInfo(a)
}

// ParseAuthorization reads an authorization's file form (an approval the
// app backend signed: tsskit recovery approve, recovery.MarshalFile).
// Its signature is checked by CheckAuthorization.
func ParseAuthorization(file []byte) (*AuthorizationInfo, error) {
	a, err := recovery.ParseFile(file)
	if err != nil {
		return nil, err
	}
	return authorizationInfo(a)
}

// CheckAuthParams check an authorization (wire form) before it is used:
// for the wallet and the epoch it recovers from, and for this device.
type CheckAuthParams struct {
	Authorization []byte
	WalletID      string
	Epoch         int
	DeviceID      string
	PartyID       string
}

// CheckAuthorization checks what this device can of an authorization:
// signed by its signer, for this wallet and epoch, not expired
// (recovery.Check: recovery_forged, recovery_other_wallet,
// recovery_stale, recovery_expired), and for this device's key and party
// id (recovery_other_device). Whether the signer may authorize a recovery
// of the wallet only the server holders can tell, each from its own
// record and configuration.
func CheckAuthorization(p CheckAuthParams) error {
	a, err := recovery.Decode(p.Authorization)
	if err != nil {
		return err
	}
	if err := a.Check(p.WalletID, p.Epoch, time.Now()); err != nil {
		return err
	}
	dev, err := devices.get(p.DeviceID)
	if err != nil {
		return err
	}
	if !dev.Public().Equal(a.Identity) || a.PartyID != p.PartyID {
		return &Error{Code: "recovery_other_device", Message: fmt.Sprintf("the authorization is for party %q with another device key than this request's", a.PartyID)}
	}
	return nil
}

// RecoveryJoinParams describe a recovery the coordinator offered
// (CreateRecoverySession's answer) and what the device asked it with.
type RecoveryJoinParams struct {
	SessionID     string
	Parties       []string // every party of the session: both committees
	Spec          *identity.Reshare
	SignersNeeded int
	Authorization []byte // wire form, as sent
	DeviceID      string
	// Abandon is the earlier runs of the epoch this device joined and
	// never stored a share of, recorded abandoned for good by the caller:
	// the seat signs an abandoned-run statement for each with the device
	// key (the key those runs' records name for this party).
	Abandon []string
	// Earlier is this device's pending share of an earlier attempt's run
	// of the epoch, if it holds one.
	Earlier
}

// PrepareRecovery makes the new client's seat in a recovery: the offer is
// checked against the authorization (party.ClientRecovery: a new holder
// only, the authorized epoch, the same threshold and need of a client, no
// party beyond the committees) and the device key must be the one the
// authorization names; the seat then joins with the device key, which it
// takes (the new share record keeps a copy).
func PrepareRecovery(p RecoveryJoinParams) (*Joined, error) {
	a, err := recovery.Decode(p.Authorization)
	if err != nil {
		return nil, err
	}
	if p.Spec == nil {
		return nil, argErr("recovery: the coordinator's offer has no reshare spec")
	}
	spec := *p.Spec
	spec.Old, spec.New = slices.Sorted(slices.Values(spec.Old)), slices.Sorted(slices.Values(spec.New))
	dev, err := devices.get(p.DeviceID)
	if err != nil {
		return nil, err
	}
	kinds, err := party.ClientRecovery(&spec, p.SignersNeeded, p.Parties, a, dev.Public())
	if err != nil {
		return nil, err
	}
	abandoned, err := signAbandoned(dev, p.Abandon, p.SessionID, a.WalletID, a.PartyID, spec.Epoch)
	if err != nil {
		return nil, err
	}
	pending, stored, err := p.Earlier.open(p.SessionID, a.WalletID, a.PartyID, spec.Epoch)
	if err != nil {
		return nil, err
	}
	if dev, err = devices.take(p.DeviceID); err != nil {
		return nil, err
	}
	st := statementOf(JoinParams{SessionID: p.SessionID, Self: a.PartyID, Parties: p.Parties}, identity.SessionReshare, p.SignersNeeded, a.WalletID)
	st.Reshare = &spec
	id, err := keys.add(&seat{identity: dev, kind: identity.KindClient, spec: st, kinds: kinds, auth: a, owned: true, pending: pending, pendingSession: p.PendingSession})
	if err != nil {
		dev.Destroy()
		return nil, err
	}
	j, err := keys.joined(id)
	if err != nil {
		return nil, err
	}
	j.Abandoned, j.Stored = abandoned, stored
	return j, nil
}
