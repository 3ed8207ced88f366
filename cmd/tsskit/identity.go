package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rwadurian/tsskit/party/identity"
)

// runIdentity is the operator's side of the trust model: the deployment
// root (kept offline) and the certificates it issues.
func runIdentity(_ context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, `usage: tsskit identity <init|key|issue|show> [flags]

  init   make the deployment root key (keep it offline) and print its public key
  key    make a service's signing key (the coordinator's) and print its public key for issue --key
  issue  certify an identity key with the root (or an issuer): a server party, the coordinator, or an online issuer
  show   print a certificate chain readably and check it against TSSKIT_TRUST_ROOT when set

docs/security.md walks through the ceremony.
`)
		if len(args) == 0 {
			return configErrorf("identity: init, key, issue or show?")
		}
		return nil
	}
	switch args[0] {
	case "init":
		return identityInit(args[1:])
	case "key":
		return identityKey(args[1:])
	case "issue":
		return identityIssue(args[1:])
	case "show":
		return identityShow(args[1:])
	}
	return configErrorf("identity: unknown command %q (init, key, issue or show)", args[0])
}

// identityKey makes the coordinator's token-signing key: the root then
// certifies its public key (identity issue --kind coordinator), and the
// coordinator runs with both (--signing-key, --certificate).
func identityKey(args []string) error {
	fs := newFlags("identity key", "Make an Ed25519 signing key for a service (the coordinator's token key), written to --out (mode 0600, never overwritten); prints its public key for identity issue --key.", "")
	out := fs.String("out", "coordinator.key", "where to write the private key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	k, err := identity.GenerateKey()
	if err != nil {
		return err
	}
	defer k.Destroy()
	if err := writeNew(*out, identity.MarshalPrivateKey(k), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "signing key written to %s; certify it: tsskit identity issue --kind coordinator --party-id coordinator --key %s\n", *out, k.Public())
	fmt.Println(k.Public())
	return nil
}

func identityInit(args []string) error {
	fs := newFlags("identity init", "Make the deployment root: an Ed25519 key written to --out (mode 0600, never overwritten). Its public key goes into every service's and client's TSSKIT_TRUST_ROOT.", "")
	out := fs.String("out", "root.key", "where to write the root private key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	k, err := identity.GenerateKey()
	if err != nil {
		return err
	}
	if err := writeNew(*out, identity.MarshalPrivateKey(k), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "root key written to %s: keep it offline; it is needed only to issue certificates\n", *out)
	fmt.Printf("TSSKIT_TRUST_ROOT=%s\n", k.Public())
	return nil
}

func identityIssue(args []string) error {
	fs := newFlags("identity issue", "Certify an identity key: writes the certificate chain (the new certificate, then the issuer's when --issuer-cert is given) to --out.", "")
	rootFile := fs.String("root", "root.key", "the signing key: the deployment root, or an issuer's key with --issuer-cert")
	issuerCert := fs.String("issuer-cert", "", "the issuer's own certificate, when --root is an issuer's key (server certificates only)")
	kindName := fs.String("kind", "server", "server, coordinator or issuer")
	partyID := fs.String("party-id", "", "the party id certified (for an issuer: the prefix of the party ids it may certify)")
	keyHex := fs.String("key", "", "the identity public key, hex (tsskit serverparty --print-identity prints a server party's)")
	validFor := fs.Duration("valid-for", 365*24*time.Hour, "validity from --not-before (an issuer: at most "+identity.MaxIssuerLifetime.String()+")")
	notBefore := fs.String("not-before", "", "start of validity, RFC 3339 (default now)")
	out := fs.String("out", "", "certificate file to write (default <party-id>.cert)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	kind, err := identity.ParseKind(*kindName)
	if err != nil || !kind.Certified() {
		return configErrorf("--kind: want server, coordinator or issuer")
	}
	if *partyID == "" {
		return configErrorf("--party-id is required")
	}
	key, err := identity.ParsePublicKey(*keyHex)
	if err != nil {
		return configErrorf("--key: %v", err)
	}
	// Backdated a little by default, so that a verifier whose clock is
	// behind does not refuse a certificate issued a moment ago.
	from := time.Now().Add(-5 * time.Minute)
	if *notBefore != "" {
		if from, err = time.Parse(time.RFC3339, *notBefore); err != nil {
			return configErrorf("--not-before: want RFC 3339, e.g. 2027-01-01T00:00:00Z")
		}
	}
	b, err := os.ReadFile(*rootFile)
	if err != nil {
		return configErrorf("--root: %v", err)
	}
	signer, err := identity.ParsePrivateKey(b)
	clear(b)
	if err != nil {
		return configErrorf("--root %s: %v", *rootFile, err)
	}
	defer signer.Destroy()
	var parent []*identity.Certificate
	if *issuerCert != "" {
		cb, err := os.ReadFile(*issuerCert)
		if err != nil {
			return configErrorf("--issuer-cert: %v", err)
		}
		if parent, err = identity.ParseChain(cb); err != nil {
			return configErrorf("--issuer-cert %s: %v", *issuerCert, err)
		}
		switch {
		case len(parent) != 1 || parent[0].Kind != identity.KindIssuer:
			return configErrorf("--issuer-cert: want one issuer certificate")
		case parent[0].Key != signer.Public():
			return configErrorf("--issuer-cert is not the certificate of the --root key")
		case kind != identity.KindServer:
			return configErrorf("an issuer certifies server parties only")
		case !strings.HasPrefix(*partyID, parent[0].PartyID):
			return configErrorf("this issuer certifies party ids starting %q only", parent[0].PartyID)
		}
		// A certificate lies within its issuer's validity.
		end := from.Add(*validFor)
		if start := parent[0].NotBefore; from.Before(start) {
			from = start
		}
		if until := parent[0].NotAfter; end.After(until) {
			end = until
		}
		if !end.After(from) {
			return configErrorf("the issuer's certificate is not valid in the time asked for")
		}
		*validFor = end.Sub(from)
	}
	c, err := identity.Issue(signer, kind, *partyID, key, from, from.Add(*validFor))
	if err != nil {
		return configErrorf("%v", err)
	}
	if *out == "" {
		*out = *partyID + ".cert"
	}
	chain := append([]*identity.Certificate{c}, parent...)
	if err := writeNew(*out, identity.MarshalChain(chain), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "certificate written to %s\n", *out)
	fmt.Print(c.String())
	return nil
}

func identityShow(args []string) error {
	fs := newFlags("identity show", "Print a certificate chain file readably; with TSSKIT_TRUST_ROOT set, say whether it verifies now.",
		"  TSSKIT_TRUST_ROOT, TSSKIT_REVOKED  check the chain against these")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return configErrorf("usage: tsskit identity show FILE")
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	chain, err := identity.ParseChain(b)
	if err != nil {
		return err
	}
	for i, c := range chain {
		if i > 0 {
			fmt.Println("issued by:")
		}
		fmt.Print(c.String())
	}
	if os.Getenv(envTrustRoot) == "" {
		return nil
	}
	trust, err := trustFromEnv()
	if err != nil {
		return err
	}
	if err := trust.Verify(chain, chain[0].PartyID, chain[0].Kind, chain[0].Key, time.Now()); err != nil {
		fmt.Printf("verification: FAILED: %v\n", err)
		return errors.New("the chain does not verify against " + envTrustRoot)
	}
	fmt.Println("verification: valid now under " + envTrustRoot)
	return nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return configErrorf("%s exists: it is never overwritten", path)
		}
		return err
	}
	return writeAndClose(f, b)
}

// writeAndClose writes b to f, syncs it to disk and closes it.
func writeAndClose(f *os.File, b []byte) error {
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
