package identity

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"math"
)

// runKeySalt is the HKDF salt of RunKey: it keeps the derived keys apart
// from every other use of the host's identity key.
const runKeySalt = "tsskit/v1 user-party run key"

// RunKey derives the device identity key a server party gives the user
// party it runs in reshare session sessionID, which makes epoch of
// walletID (docs/lifecycle.md, the account API's refresh): HKDF-SHA256
// (RFC 5869) with the host's identity key seed as secret, salt
// "tsskit/v1 user-party run key" and info
//
//	1 || str16(session id) || str16(wallet id) || str16(party id) || epoch (4 bytes)
//
// giving the 32-byte Ed25519 seed. The user party keeps no share between
// runs; deriving its key lets the same host sign, in a later run of the
// epoch, the abandoned-run statement of an earlier one under the key that
// run's records name. Another host, or the same host after its identity
// key changed, derives other keys: its statements do not verify.
func RunKey(host *Key, sessionID, walletID, partyID string, epoch int) (*Key, error) {
	if host == nil {
		return nil, fmt.Errorf("identity: no host key to derive a run key from")
	}
	if epoch < 0 || uint64(epoch) > math.MaxUint32 {
		return nil, fmt.Errorf("identity: run key: epoch %d", epoch)
	}
	for _, id := range []string{sessionID, walletID, partyID} {
		if id == "" || len(id) > 0xffff {
			return nil, fmt.Errorf("identity: run key: an id of %d bytes", len(id))
		}
	}
	secret := host.Seed()
	defer clear(secret)
	seed, err := hkdf.Key(sha256.New, secret, []byte(runKeySalt), string(runFields(sessionID, walletID, partyID, epoch)), KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	return KeyFromSeed(seed)
}
