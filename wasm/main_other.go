//go:build !js

package main

import (
	"fmt"
	"os"
)

// main: tss.wasm is built with GOOS=js GOARCH=wasm (make wasm). Natively the
// package exists so its plain-Go parts build and test everywhere.
func main() {
	fmt.Fprintln(os.Stderr, "tss.wasm: build with GOOS=js GOARCH=wasm (make wasm)")
	os.Exit(2)
}
