package recovery_test

import (
	"fmt"
	"time"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/recovery"
)

// A wallet with a recovery kit: at creation the client shows the code
// once and puts the kit's public key in the wallet's recovery policy; when
// the device is lost, the user types the code on a new device, which signs
// an authorization for its own party id and identity key; each server
// party checks it, then compares its signer with the kit key in its share
// record.
func Example() {
	walletID := "8d5e3f0c-2b7a-4c1e-9a55-1f0e6c3b2d71"
	// At creation (the code is NewCode's; a fixed one here).
	code := "legal winner thank year wave sausage worth useful legal winner thank yellow"
	kit, err := recovery.KitKey(code, walletID)
	if err != nil {
		panic(err)
	}
	policy := identity.Recovery{Kit: kit.Public()}
	kit.Destroy()

	// On the new device: the code, typed again, signs for the new party.
	device, _ := identity.GenerateKey()
	kit, err = recovery.KitKey("Legal winner thank year wave sausage worth useful legal winner thank yellow ", walletID)
	if err != nil {
		panic(err)
	}
	defer kit.Destroy()
	a := &recovery.Authorization{Kind: recovery.KindKit, WalletID: walletID, Epoch: 0, PartyID: "browser-new",
		Identity: device.Public(), Expires: time.Now().Add(time.Hour)}
	if err := recovery.Sign(kit, a); err != nil {
		panic(err)
	}
	wire := a.Encode()

	// At a server party holding the wallet's shares of epoch 0.
	got, err := recovery.Decode(wire)
	if err != nil {
		panic(err)
	}
	fmt.Println("check:", got.Check(walletID, 0, time.Now()))
	fmt.Println("signed by the wallet's kit:", got.Kind == recovery.KindKit && policy.Kit.Equal(got.Signer))
	fmt.Println("after a reshare:", got.Check(walletID, 1, time.Now()))
	// Output:
	// check: <nil>
	// signed by the wallet's kit: true
	// after a reshare: recovery: recovery_stale: the authorization recovers from epoch 0; the shares are of epoch 1
}
