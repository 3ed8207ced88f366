package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

// runRecovery is the app backend's side of a recovery: its key, and the
// approvals it signs (docs/lifecycle.md).
func runRecovery(_ context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, `usage: tsskit recovery <backend-key|approve> [flags]

  backend-key  make the app backend's recovery key (a file, mode 0600) and print
               its public key: give it to every server party as TSSKIT_RECOVERY_KEYS
  approve      sign an approval for one wallet, its current epoch and one new
               device (party id and identity key): the file the user recovers with

"tsskit recovery <command> -h" lists the flags.
`)
		if len(args) == 0 {
			return configErrorf("recovery: backend-key or approve?")
		}
		return nil
	}
	switch args[0] {
	case "backend-key":
		return recoveryBackendKey(args[1:])
	case "approve":
		return recoveryApprove(args[1:])
	}
	return configErrorf("recovery: unknown command %q (backend-key or approve)", args[0])
}

func recoveryBackendKey(args []string) error {
	fs := newFlags("recovery backend-key", "Make the app backend's recovery key. Keep the file secret: with the coordinator, it can hand any wallet whose policy accepts backend approvals to a device of its choosing.", "")
	out := fs.String("out", "", "key file to write (must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return configErrorf("--out is required")
	}
	k, err := identity.GenerateKey()
	if err != nil {
		return err
	}
	defer k.Destroy()
	if err := writeNew(*out, identity.MarshalPrivateKey(k), 0o600); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"public_key": k.Public().String(), "key_file": *out})
}

func readKeyFile(file string) (*identity.Key, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	k, err := identity.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return k, nil
}

func recoveryApprove(args []string) error {
	fs := newFlags("recovery approve", "Approve the recovery of one wallet to one new device, as the app backend.", "")
	keyFile := fs.String("key", "", "the backend's recovery key file (tsskit recovery backend-key)")
	wallet := fs.String("wallet", "", "the wallet id")
	epoch := fs.Int("epoch", 0, "the wallet's current epoch (the device's request names it)")
	partyID := fs.String("party-id", "", "the new device's party id")
	device := fs.String("identity", "", "the new device's identity public key, hex")
	valid := fs.Duration("valid", 24*time.Hour, "how long the approval stays valid (at most 168h)")
	out := fs.String("out", "", "approval file to write (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyFile == "" || *wallet == "" || *partyID == "" || *device == "" {
		return configErrorf("--key, --wallet, --party-id and --identity are required")
	}
	dev, err := identity.ParsePublicKey(*device)
	if err != nil {
		return configErrorf("--identity: %v", err)
	}
	k, err := readKeyFile(*keyFile)
	if err != nil {
		return err
	}
	defer k.Destroy()
	a := &recovery.Authorization{Kind: recovery.KindBackend, WalletID: *wallet, Epoch: *epoch, PartyID: *partyID, Identity: dev, Expires: time.Now().Add(*valid)}
	if err := recovery.Sign(k, a); err != nil {
		return configErrorf("%v", err)
	}
	b, err := a.MarshalFile()
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = os.Stdout.Write(append(b, '\n'))
		return err
	}
	return writeSynced(*out, b)
}

// deviceFile is what "tsskit party recover --request" keeps for the new
// device until the approval comes: its party id and identity key.
type deviceFile struct {
	PartyID  string `json:"party_id"`
	WalletID string `json:"wallet_id"`
	Identity string `json:"identity_seed"` // hex; secret
}

// readDevice reads a device file (--request writes it).
func readDevice(path string) (*identity.Key, deviceFile, error) {
	var df deviceFile
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, df, err
	}
	seed, derr := []byte(nil), json.Unmarshal(b, &df)
	if derr == nil {
		seed, derr = hex.DecodeString(df.Identity)
	}
	if derr != nil {
		return nil, df, configErrorf("--device %s: not a device file", path)
	}
	dev, err := identity.KeyFromSeed(seed)
	if err != nil {
		return nil, df, configErrorf("--device %s: %v", path, err)
	}
	return dev, df, nil
}

// partyRecover recovers a co-managed wallet whose client was lost onto
// this CLI party: a new device identity and party id, an authorization
// (the recovery code's, or the backend's approval of a request made with
// --request), and a reshare in which the wallet's server holders hand it
// to themselves and this party. The new share goes to --out.
func partyRecover(ctx context.Context, args []string) error {
	fs := newFlags("party recover", "Recover a co-managed wallet whose client was lost: with its recovery code, or with the app backend's approval of a request made with --request.", partyEnvHelp+`
  TSSKIT_RECOVERY_CODE   the recovery code, instead of --recovery-code-file (other local users
                         may read a process's environment: prefer the file)`)
	coordAddr := fs.String("coordinator", "127.0.0.1:8081", "coordinator address")
	routerAddr := fs.String("router", "127.0.0.1:8082", "router address")
	token := fs.String("token", "", "admin token")
	wallet := fs.String("wallet", "", "the wallet id")
	codeFile := fs.String("recovery-code-file", "", "file holding the wallet's recovery code (12 words)")
	request := fs.Bool("request", false, "make this device's identity (into --device) and print the request the app backend approves")
	deviceOut := fs.String("device", "", "the new device's file (its identity key, unencrypted, mode 0600): written by --request, read with --approval; with a recovery code, written by the first attempt and read by each retry, whose join then says which earlier attempts never stored (runs kept in DEVICE.epoch-N.runs); removed once the share is written")
	approval := fs.String("approval", "", "the app backend's approval file (tsskit recovery approve)")
	partyID := fs.String("party-id", "", `the new party id (default "cli-" and 8 random hex digits)`)
	out := fs.String("out", "", "share file to write (must not exist)")
	pwFile := fs.String("password-file", "", "file holding the new share's password")
	address := fs.String("address", "", "the wallet's address (0x...), as its owner knows it: the recovered key must have it (not with --request)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	retries := addRetryFlag(fs)
	tf := addTLSFlags(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*request && !validAddress(*address) {
		// The coordinator alone says which wallet an id names: the address
		// the owner knows is what ties the recovery to their wallet.
		return configErrorf("--address: the wallet's address (0x and 40 hex digits), which the recovered key must have")
	}
	partyGiven := *partyID != ""
	if !partyGiven {
		*partyID = cliPartyID()
	}
	pc, err := connect(*coordAddr, *routerAddr, *token, tf)
	if err != nil {
		return err
	}
	defer pc.closer()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var policy map[string]bool // the wallet's recovery policy, as the coordinator recorded it
	var kitKey []byte          // the wallet's recovery kit key, as the coordinator recorded it
	epochOf := func(walletID string) (int, error) {
		w, err := pc.coord.GetWallet(ctx, &tsskitv1.GetWalletRequest{WalletId: walletID}, pc.admin)
		if err != nil {
			return 0, fmt.Errorf("wallet %s: %w", walletID, err)
		}
		policy = map[string]bool{"kit": len(w.Wallet.RecoveryKit) != 0, "backend": w.Wallet.RecoveryBackend}
		kitKey = w.Wallet.RecoveryKit
		return int(w.Wallet.Epoch), nil
	}

	if *request {
		if *wallet == "" || *deviceOut == "" {
			return configErrorf("--request needs --wallet and --device")
		}
		epoch, err := epochOf(*wallet)
		if err != nil {
			return err
		}
		dev, err := identity.GenerateKey()
		if err != nil {
			return err
		}
		defer dev.Destroy()
		b, _ := json.Marshal(deviceFile{PartyID: *partyID, WalletID: *wallet, Identity: hex.EncodeToString(dev.Seed())})
		if err := writeNew(*deviceOut, b, 0o600); err != nil {
			return err
		}
		if !policy["backend"] {
			fmt.Fprintf(os.Stderr, "note: the coordinator records no backend approvals in wallet %s's recovery policy; its server parties will refuse an approval\n", *wallet)
		}
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"wallet_id": *wallet, "epoch": epoch, "party_id": *partyID, "identity": dev.Public().String(),
			"recovery": policy})
	}

	if *out == "" {
		return configErrorf("--out is required")
	}
	if _, err := os.Stat(*out); err == nil {
		return configErrorf("%s exists: a share file is never overwritten", *out)
	}
	if _, err := os.Stat(*out + ".pending"); err == nil {
		// Kept by an earlier attempt whose end it could not learn (its
		// connection broke after it stored): it may be the share of the
		// wallet's active epoch, and a new attempt would overwrite it.
		return configErrorf("%s.pending holds the share an earlier attempt stored before its end was lost, which may be the wallet's share now: "+
			"if the wallet's epoch (the admin app shows it) is the one that attempt made, rename it to %s, which then signs; "+
			"if it is not, keep the file elsewhere and try again (the server holders may refuse further runs of that epoch, run_not_abandoned, until that attempt's run is settled: docs/lifecycle.md)", *out, *out)
	}
	pw, err := readPassword(*pwFile)
	if err != nil {
		return err
	}
	defer clear(pw)
	var dev *identity.Key
	var auth *recovery.Authorization
	switch {
	case *approval != "" && *codeFile == "":
		if *deviceOut == "" {
			return configErrorf("--approval needs --device, the file --request wrote")
		}
		var df deviceFile
		if dev, df, err = readDevice(*deviceOut); err != nil {
			return err
		}
		if ab, err := os.ReadFile(*approval); err != nil {
			return err
		} else if auth, err = recovery.ParseFile(ab); err != nil {
			return configErrorf("--approval %s: %v", *approval, err)
		}
		if auth.PartyID != df.PartyID || !auth.Identity.Equal(dev.Public()) || auth.WalletID != df.WalletID {
			return configErrorf("--approval %s is for another device or wallet than --device %s", *approval, *deviceOut)
		}
	case *codeFile != "" || os.Getenv("TSSKIT_RECOVERY_CODE") != "":
		if *wallet == "" {
			return configErrorf("--wallet is required")
		}
		code := os.Getenv("TSSKIT_RECOVERY_CODE")
		if *codeFile != "" {
			b, err := os.ReadFile(*codeFile)
			if err != nil {
				return err
			}
			code = string(b)
		}
		kit, err := recovery.KitKey(code, *wallet)
		if err != nil {
			return configErrorf("recovery code: %v", err)
		}
		defer kit.Destroy()
		epoch, err := epochOf(*wallet)
		if err != nil {
			return err
		}
		// A code that is not this wallet's is refused here, before a
		// device is kept (the server holders check it against their own
		// records in any case).
		if pub := kit.Public(); len(kitKey) != 0 && !bytes.Equal(kitKey, pub[:]) {
			return configErrorf("recovery code: not wallet %s's (its recovery kit key differs)", *wallet)
		}
		switch _, serr := os.Stat(*deviceOut); {
		case *deviceOut != "" && serr == nil:
			// A retry: the device and party id of the first attempt, so
			// that this party can say which earlier runs never stored.
			var df deviceFile
			if dev, df, err = readDevice(*deviceOut); err != nil {
				return err
			}
			if df.WalletID != *wallet {
				return configErrorf("--device %s is for wallet %s, not %s", *deviceOut, df.WalletID, *wallet)
			}
			if partyGiven && *partyID != df.PartyID {
				return configErrorf("--device %s is party %s's, not %s", *deviceOut, df.PartyID, *partyID)
			}
			*partyID = df.PartyID
		default:
			if dev, err = identity.GenerateKey(); err != nil {
				return err
			}
			if *deviceOut != "" {
				b, _ := json.Marshal(deviceFile{PartyID: *partyID, WalletID: *wallet, Identity: hex.EncodeToString(dev.Seed())})
				if err := writeNew(*deviceOut, b, 0o600); err != nil {
					return err
				}
			}
		}
		defer dev.Destroy()
		auth = &recovery.Authorization{Kind: recovery.KindKit, WalletID: *wallet, Epoch: epoch, PartyID: *partyID, Identity: dev.Public(), Expires: time.Now().Add(time.Hour)}
		if err := recovery.Sign(kit, auth); err != nil {
			return err
		}
	default:
		return configErrorf("--recovery-code-file (or TSSKIT_RECOVERY_CODE), or --approval with --device")
	}

	pre, err := cliPreParams(ctx)
	if err != nil {
		return err
	}
	w := os.Stderr
	var resp *tsskitv1.CreateSessionResponse
	err = retryBusy(ctx, *retries, func() (err error) {
		resp, err = pc.coord.CreateRecoverySession(ctx, &tsskitv1.CreateRecoverySessionRequest{WalletId: auth.WalletID, Authorization: auth.Encode()}, pc.admin)
		return err
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	job, err := participant.ClientRecoveryJob(resp, auth, dev, pc.trust)
	if err == nil {
		if got := share.Address(job.Reshare.PublicKey); !strings.EqualFold(got, *address) {
			err = &party.Error{Code: party.CodeMismatch, Err: fmt.Errorf("it hands over the key of address %s, not the wallet's %s", got, *address)}
		}
	}
	if err != nil {
		// Said to the coordinator, so that the session fails now and the
		// wallet's reshare slot is free for a retry.
		refuseSession(ctx, pc, resp, auth.PartyID, err)
		return fmt.Errorf("refusing the coordinator's session: %w", err)
	}
	fmt.Fprintf(w, "session %s: %s hand wallet %s to %s\n", resp.SessionId, strings.Join(job.Reshare.Old, ", "), auth.WalletID, strings.Join(job.Reshare.New, ", "))
	job.Event, job.Progress = progressPrinter(w, auth.PartyID)
	// With a kept device, the runs of every attempt are recorded beside
	// it (DEVICE.epoch-N.runs, as a refresh's are beside its share file):
	// a retry's join says, signed with the device key, which earlier runs
	// never stored.
	keepRuns := *deviceOut != ""
	epoch := job.Reshare.Epoch
	if keepRuns {
		if job.Abandoned, err = joinRun(*deviceOut, epoch, resp.SessionId, auth.WalletID, auth.PartyID, dev); err != nil {
			refuseSession(ctx, pc, resp, auth.PartyID, err)
			return fmt.Errorf("record the reshare run: %w", err)
		}
	}
	// Statements of earlier attempts that failed (abandonedFile).
	earlier, err := readAbandoned(*out)
	if err != nil {
		refuseSession(ctx, pc, resp, auth.PartyID, err)
		return err
	}
	job.Abandoned = append(job.Abandoned, earlier...)
	pending := *out + ".pending"
	wrote := false
	save := func(r *share.Record) error {
		b, err := share.Protect(r, pw, nil)
		if err != nil {
			return err
		}
		wrote = true
		if keepRuns {
			if err := markStored(*deviceOut, epoch, resp.SessionId); err != nil {
				return err
			}
		}
		return writeSynced(pending, b)
	}
	res, err := participant.Reshare(ctx, pc.conn, job, nil, pre, save)
	if err != nil {
		// An attempt that stored nothing never will (this process ends
		// here); one whose session failed deletes the share it stored.
		// Either says so, signed with its device key, for the next
		// attempt's join to carry (one acknowledged run per epoch,
		// docs/lifecycle.md): the server holders that stored this run's
		// share may then replace it. A share stored in a session whose
		// end is unknown (the stream broke, or the coordinator could not
		// record the activation) is kept: it may be the wallet's.
		var se *participant.SessionError
		if failed := errors.As(err, &se) && se.Code != "store"; !wrote || failed {
			if wrote {
				os.Remove(pending)
			}
			if aerr := abandonAttempt(*out, *deviceOut, epoch, resp.SessionId, auth.WalletID, auth.PartyID, dev); aerr != nil {
				fmt.Fprintf(w, "recording that this attempt is abandoned failed: %v\n", aerr)
			}
		}
		return err
	}
	if !res.Activate {
		return fmt.Errorf("the new share is not activated, and stays in %s: %w", pending, res.NotActivated)
	}
	if err := os.Rename(pending, *out); err != nil {
		return err
	}
	if *deviceOut != "" {
		// The share file now keeps the device key, under the password.
		os.Remove(*deviceOut)
		_ = os.Remove(runsFile(*deviceOut, epoch))
	}
	_ = os.Remove(abandonedFile(*out))
	fmt.Fprintf(w, "wallet %s recovered at epoch %d; share written to %s\n", res.Share.WalletID, res.Share.Epoch, *out)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"wallet_id": res.Share.WalletID, "party_id": auth.PartyID, "public_key": hex.EncodeToString(res.PublicKey), "address": res.Address,
		"epoch": res.Share.Epoch, "parties": slices.Clone(res.Share.Parties), "threshold": res.Share.Threshold, "share_file": *out,
	})
}

// validAddress reports whether a is an Ethereum address: 0x and 40 hex
// digits (any case).
func validAddress(a string) bool {
	if len(a) != 42 || !strings.HasPrefix(a, "0x") {
		return false
	}
	_, err := hex.DecodeString(a[2:])
	return err == nil
}

// refuseSession tells the coordinator that partyID will not take part in
// the session resp created, and why (best effort).
func refuseSession(ctx context.Context, pc *partyConn, resp *tsskitv1.CreateSessionResponse, partyID string, why error) {
	for _, t := range resp.Tokens {
		if t.PartyId != partyID {
			continue
		}
		code := "refused"
		if pe, ok := party.AsError(why); ok {
			code = string(pe.Code)
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = pc.coord.ReportResult(rctx, &tsskitv1.ReportResultRequest{SessionId: resp.SessionId, PartyId: partyID,
			Result: &tsskitv1.ReportResultRequest_Failure_{Failure: &tsskitv1.ReportResultRequest_Failure{Code: code, Reason: why.Error()}}},
			grpc.PerRPCCredentials(serve.Bearer(t.Token)))
	}
}
