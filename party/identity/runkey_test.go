package identity

import (
	"encoding/hex"
	"testing"
)

// TestRunKeyVector: RunKey against a vector made outside the project, with
// Node's crypto.hkdfSync("sha256", secret, salt, info, 32) and its Ed25519
// key from that seed: secret 01..20, session "rs-vector", wallet
// "wallet-vector", party "user-vector", epoch 7.
func TestRunKeyVector(t *testing.T) {
	secret, _ := hex.DecodeString("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
	host, err := KeyFromSeed(secret)
	if err != nil {
		t.Fatal(err)
	}
	k, err := RunKey(host, "rs-vector", "wallet-vector", "user-vector", 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(k.Seed()); got != "eb9fcee5f6eecbe632dd5bca92952d910ed9f8e80988b02b2fb913d183bc51b9" {
		t.Fatalf("seed %s", got)
	}
	if got := k.Public().String(); got != "37c6a6103e4de1d0928e810e4f4b30d9b1a12cc18800956ff210e1bf895991c2" {
		t.Fatalf("public key %s", got)
	}
	// Every input changes the key; the same inputs give the same key.
	again, _ := RunKey(host, "rs-vector", "wallet-vector", "user-vector", 7)
	if !again.Public().Equal(k.Public()) {
		t.Fatal("RunKey is not deterministic")
	}
	other, _ := GenerateKey()
	for name, f := range map[string]func() (*Key, error){
		"session": func() (*Key, error) { return RunKey(host, "rs-vector2", "wallet-vector", "user-vector", 7) },
		"wallet":  func() (*Key, error) { return RunKey(host, "rs-vector", "wallet-vector2", "user-vector", 7) },
		"party":   func() (*Key, error) { return RunKey(host, "rs-vector", "wallet-vector", "user-vector2", 7) },
		"epoch":   func() (*Key, error) { return RunKey(host, "rs-vector", "wallet-vector", "user-vector", 8) },
		"host":    func() (*Key, error) { return RunKey(other, "rs-vector", "wallet-vector", "user-vector", 7) },
		// Length prefixes: moving a byte between ids changes the key.
		"split": func() (*Key, error) { return RunKey(host, "rs-vectorw", "allet-vector", "user-vector", 7) },
	} {
		d, err := f()
		if err != nil || d.Public().Equal(k.Public()) {
			t.Errorf("%s: %v; want another key", name, err)
		}
	}
	for name, f := range map[string]func() (*Key, error){
		"no host":       func() (*Key, error) { return RunKey(nil, "s", "w", "p", 1) },
		"empty session": func() (*Key, error) { return RunKey(host, "", "w", "p", 1) },
		"negative":      func() (*Key, error) { return RunKey(host, "s", "w", "p", -1) },
		"past 32 bits":  func() (*Key, error) { return RunKey(host, "s", "w", "p", 1<<32) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
