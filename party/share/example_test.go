package share_test

import (
	"encoding/hex"
	"fmt"

	"github.com/rwadurian/tsskit/party/share"
)

func ExampleRecord_Address() {
	// The public key of the private key 1, i.e. the generator point G.
	pub, _ := hex.DecodeString("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
	r := &share.Record{PublicKey: pub}
	fmt.Println(r.PublicKeyHex())
	fmt.Println(r.Address())
	// Output:
	// 0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798
	// 0x7e5f4552091a69125d5dfcb7b8c2659029395bdf
}
