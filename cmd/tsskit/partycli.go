package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"google.golang.org/grpc"

	"github.com/rwadurian/tsskit/internal/pwrule"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party"
	"github.com/rwadurian/tsskit/party/hd"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/preparams"
	"github.com/rwadurian/tsskit/party/recovery"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
)

const (
	envToken    = "TSSKIT_TOKEN"
	envPassword = "TSSKIT_SHARE_PASSWORD"
)

const partyEnvHelp = `  TSSKIT_TOKEN           admin token (see "tsskit token"), instead of --token
  TSSKIT_SHARE_PASSWORD  the share file's password, instead of --password-file
  TSSKIT_TRUST_ROOT      the deployment root's public key, hex (required): server parties must be certified by it
  TSSKIT_REVOKED         revoked identity keys, hex, comma-separated`

// runParty is the CLI party: it joins sessions like the browser does and
// keeps its share in a password-protected file (the backup format the
// browser and the account API use).
func runParty(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, `usage: tsskit party <keygen|sign|address|refresh|recover|settle> [flags]

  keygen   create a wallet with server parties; this party's share goes to --out
  sign     sign a digest, an Ethereum message or transaction with the wallet of
           --share and server parties, optionally at a BIP32 path (--path)
  address  the wallet's address (or its child's at --path) and its xpub
  refresh  give every holder of the wallet of --share new shares of the same
           key (the share file is replaced once the new shares are active);
           with --signers/--parties, change the wallet's policy too
  recover  recover a wallet whose client was lost onto this party, with its
           recovery code or the app backend's approval
  settle   settle a refresh run in limbo at this party: freeze, drop, pin
           or thaw it, with the other holders' signed statements

"tsskit party <command> -h" lists the flags.
`)
		if len(args) == 0 {
			return configErrorf("party: keygen, sign, address, refresh, recover or settle?")
		}
		return nil
	}
	switch args[0] {
	case "keygen":
		return partyKeygen(ctx, args[1:])
	case "sign":
		return partySign(ctx, args[1:])
	case "address":
		return partyAddress(args[1:])
	case "refresh":
		return partyRefresh(ctx, args[1:])
	case "recover":
		return partyRecover(ctx, args[1:])
	case "settle":
		return partySettle(args[1:])
	}
	return configErrorf("party: unknown command %q (keygen, sign, address, refresh, recover or settle)", args[0])
}

type partyConn struct {
	coord  tsskitv1.CoordinatorServiceClient
	conn   participant.Conn
	admin  grpc.CallOption
	trust  *identity.Trust
	closer func()
}

func connect(coordAddr, routerAddr, token string, tf *tlsFlags) (*partyConn, error) {
	if token == "" {
		token = os.Getenv(envToken)
	}
	if token == "" {
		return nil, configErrorf("an admin token is needed: --token or %s (see \"tsskit token\")", envToken)
	}
	trust, err := trustFromEnv()
	if err != nil {
		return nil, err
	}
	sec, err := tf.config(nil)
	if err != nil {
		return nil, err
	}
	if err := tf.checkDial(sec.Client, map[string]string{"--coordinator": coordAddr, "--router": routerAddr}); err != nil {
		return nil, err
	}
	cc, err := serve.DialTLS(coordAddr, sec.Client)
	if err != nil {
		return nil, err
	}
	rc, err := serve.DialTLS(routerAddr, sec.Client)
	if err != nil {
		cc.Close()
		return nil, err
	}
	return &partyConn{
		coord: tsskitv1.NewCoordinatorServiceClient(cc), conn: participant.Conn{Coordinator: cc, Router: rc},
		admin: grpc.PerRPCCredentials(serve.Bearer(token)), trust: trust, closer: func() { cc.Close(); rc.Close() },
	}, nil
}

func readPassword(file string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		pw := []byte(strings.TrimRight(string(b), "\r\n"))
		if len(pw) == 0 {
			return nil, configErrorf("password file %s is empty", file)
		}
		return pw, nil
	}
	if v := os.Getenv(envPassword); v != "" {
		return []byte(v), nil
	}
	return nil, configErrorf("a share password is needed: --password-file or %s", envPassword)
}

// progressPrinter prints session events and engine rounds to w.
func progressPrinter(w io.Writer, self string) (func(*tsskitv1.SessionEvent), func(party.Progress)) {
	onEvent := func(ev *tsskitv1.SessionEvent) {
		switch e := ev.Event.(type) {
		case *tsskitv1.SessionEvent_Waiting_:
			if len(e.Waiting.Missing) > 0 {
				fmt.Fprintf(w, "waiting for %s to join\n", strings.Join(e.Waiting.Missing, ", "))
			}
		case *tsskitv1.SessionEvent_Ready_:
			fmt.Fprintf(w, "all %d parties joined; running\n", len(e.Ready.Roster))
		case *tsskitv1.SessionEvent_Progress_:
			if e.Progress.PartyId != self {
				fmt.Fprintf(w, "  %s: round %d/%d\n", e.Progress.PartyId, e.Progress.Round, e.Progress.Rounds)
			}
		case *tsskitv1.SessionEvent_Failed_:
			fmt.Fprintf(w, "session failed: %s\n", e.Failed.Reason)
		}
	}
	last := -1
	onProgress := func(p party.Progress) {
		if p.Round != last {
			last = p.Round
			fmt.Fprintf(w, "  %s (this party): %s round %d/%d\n", self, p.Phase, p.Round, p.Rounds)
		}
	}
	return onEvent, onProgress
}

func partyKeygen(ctx context.Context, args []string) error {
	fs := newFlags("party keygen", "Create a wallet: this CLI party plus server parties from the pool. The share is written, encrypted with a password, to --out.", partyEnvHelp)
	coordAddr := fs.String("coordinator", "127.0.0.1:8081", "coordinator address")
	routerAddr := fs.String("router", "127.0.0.1:8082", "router address")
	token := fs.String("token", "", "admin token")
	partyID := fs.String("party-id", "", `this party's id (default "cli-" and 8 random hex digits)`)
	name := fs.String("name", "", "wallet name")
	signers := fs.Int("signers", 2, "signers needed")
	parties := fs.Int("parties", 3, "parties in all, this one included")
	out := fs.String("out", "", "share file to write (must not exist)")
	pwFile := fs.String("password-file", "", "file holding the share password")
	codeOut := fs.String("recovery-code-out", "", "set a recovery kit: write the wallet's recovery code (12 words, shown nowhere else) to this file")
	backendRecovery := fs.Bool("recovery-backend", false, "let the app backend's recovery key (the server parties' TSSKIT_RECOVERY_KEYS) approve a recovery")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	retries := addRetryFlag(fs)
	tf := addTLSFlags(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return configErrorf("--out is required")
	}
	if _, err := os.Stat(*out); err == nil {
		return configErrorf("%s exists: a share file is never overwritten", *out)
	}
	if *codeOut != "" {
		if _, err := os.Stat(*codeOut); err == nil {
			return configErrorf("%s exists: a recovery code file is never overwritten", *codeOut)
		}
	}
	if (*codeOut != "" || *backendRecovery) && *parties-1 < *signers {
		// A recovery hands the wallet over with its server holders alone.
		return configErrorf("a recovery policy needs at least as many server parties as signers: %d of %d parties are servers, %d signers needed", *parties-1, *parties, *signers)
	}
	pw, err := readPassword(*pwFile)
	if err != nil {
		return err
	}
	defer clear(pw)
	// The share file is as strong as its password.
	if err := pwrule.Check(string(pw)); err != nil {
		var pe *pwrule.Error
		if errors.As(err, &pe) {
			return configErrorf("share password: %s (code %s)", pe.Message, pe.Code)
		}
		return configErrorf("share password: %v", err)
	}
	if *partyID == "" {
		*partyID = cliPartyID()
	}
	pc, err := connect(*coordAddr, *routerAddr, *token, tf)
	if err != nil {
		return err
	}
	defer pc.closer()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	pre, err := cliPreParams(ctx)
	if err != nil {
		return err
	}
	w := os.Stderr

	var resp *tsskitv1.CreateSessionResponse
	err = retryBusy(ctx, *retries, func() (err error) {
		resp, err = pc.coord.CreateKeygenSession(ctx, &tsskitv1.CreateKeygenSessionRequest{
			Name: *name, SignersNeeded: uint32(*signers), Parties: uint32(*parties), ClientPartyIds: []string{*partyID},
		}, pc.admin)
		return err
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	// The session must be what was asked for: this party the only client,
	// the threshold and party count requested; the engine then checks
	// every server is certified by the pinned root.
	job, err := participant.ClientKeygenJob(resp, *partyID, *signers, *parties, pc.trust)
	if err != nil {
		return fmt.Errorf("refusing the coordinator's session: %w", err)
	}
	fmt.Fprintf(w, "session %s: %d-of-%d among %s\n", resp.SessionId, *signers, *parties, strings.Join(resp.Parties, ", "))
	job.Event, job.Progress = progressPrinter(w, *partyID)
	job.Recovery.Backend = *backendRecovery
	if *codeOut != "" {
		// The code is written before the keygen: a wallet whose records
		// name a kit nobody has would be a wallet nobody can recover.
		code, err := recovery.NewCode()
		if err != nil {
			return err
		}
		kit, err := recovery.KitKey(code, resp.WalletId)
		if err != nil {
			return err
		}
		job.Recovery.Kit = kit.Public()
		kit.Destroy()
		if err := writeNew(*codeOut, []byte(code+"\n"), 0o600); err != nil {
			return fmt.Errorf("recovery code: %w", err)
		}
	}
	save := func(r *share.Record) error {
		b, err := share.Protect(r, pw, nil)
		if err != nil {
			return err
		}
		return writeNew(*out, b, 0o600)
	}
	res, err := participant.Keygen(ctx, pc.conn, job, pre, save)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "wallet %s created; share written to %s\n", res.Share.WalletID, *out)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"wallet_id": res.Share.WalletID, "party_id": *partyID, "public_key": hex.EncodeToString(res.PublicKey),
		"address": res.Address, "parties": res.Share.Parties, "threshold": res.Share.Threshold, "share_file": *out,
	})
}

func partySign(ctx context.Context, args []string) error {
	fs := newFlags("party sign", "Sign a 32-byte digest with this CLI party's share and server parties.", partyEnvHelp)
	coordAddr := fs.String("coordinator", "127.0.0.1:8081", "coordinator address")
	routerAddr := fs.String("router", "127.0.0.1:8082", "router address")
	token := fs.String("token", "", "admin token")
	shareFile := fs.String("share", "", "share file (from keygen, or an account's user_share decoded)")
	pwFile := fs.String("password-file", "", "file holding the share password")
	digestHex := fs.String("digest", "", "the 32-byte digest, 64 hex chars")
	message := fs.String("message", "", "sign SHA-256 of this text instead of --digest")
	ethMessage := fs.String("eth-message", "", "sign this text as an Ethereum personal message (EIP-191); prints eth_signature (0x, r s v, v 27/28)")
	ethTxFile := fs.String("eth-tx", "", "sign the transaction in this JSON file (eip1559, eip2930 or legacy with chainId; the SDK's field names); prints signed_transaction (0x…)")
	pathFlag := fs.String("path", "", "sign with the wallet's BIP32 child at this path, e.g. m/0/5 (non-hardened only)")
	servers := fs.String("server-parties", "", "comma-separated server holders to sign with (default: the coordinator picks)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	retries := addRetryFlag(fs)
	tf := addTLSFlags(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var digest []byte
	var etx *ethTxn
	given := 0
	for _, v := range []string{*digestHex, *message, *ethMessage, *ethTxFile} {
		if v != "" {
			given++
		}
	}
	path, err := hd.ParsePath(orM(*pathFlag))
	if err != nil {
		return configErrorf("--path: %v", err)
	}
	switch {
	case given > 1:
		return configErrorf("one of --digest, --message, --eth-message and --eth-tx")
	case *ethMessage != "":
		if digest, err = ethMessageDigest([]byte(*ethMessage)); err != nil {
			return err
		}
	case *ethTxFile != "":
		if etx, err = ethTx(*ethTxFile); err != nil {
			return err
		}
		digest = etx.digest
	case *digestHex != "":
		d, err := hex.DecodeString(strings.TrimPrefix(*digestHex, "0x"))
		if err != nil || len(d) != 32 {
			return configErrorf("--digest must be 64 hex chars")
		}
		digest = d
	case *message != "":
		h := sha256.Sum256([]byte(*message))
		digest = h[:]
	default:
		return configErrorf("--digest, --message, --eth-message or --eth-tx is required")
	}
	rec, err := openShareFile(*shareFile, *pwFile)
	if err != nil {
		return err
	}
	child, err := hd.Derive(rec.PublicKey, rec.ChainCode, path)
	if err != nil {
		return configErrorf("--path: %v", err)
	}
	if etx != nil && etx.from != nil && !strings.EqualFold(etx.from.Hex(), share.Address(child.PublicKey)) {
		return configErrorf("--eth-tx: from is %s, but this share signs for %s at %s", etx.from.Hex(), share.Address(child.PublicKey), path)
	}
	pc, err := connect(*coordAddr, *routerAddr, *token, tf)
	if err != nil {
		return err
	}
	defer pc.closer()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var serverIDs []string
	if *servers != "" {
		for _, s := range strings.Split(*servers, ",") {
			serverIDs = append(serverIDs, strings.TrimSpace(s))
		}
	}
	var resp *tsskitv1.CreateSessionResponse
	err = retryBusy(ctx, *retries, func() (err error) {
		resp, err = pc.coord.CreateSignSession(ctx, &tsskitv1.CreateSignSessionRequest{
			WalletId: rec.WalletID, Digest: digest, ClientPartyIds: []string{rec.PartyID}, ServerPartyIds: serverIDs, DerivationPath: path,
		}, pc.admin)
		return err
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	w := os.Stderr
	// This party's join statement, signed with the share's identity key,
	// is the wallet's sign request for exactly this session and digest.
	job, err := participant.ClientSignJob(resp, rec, digest, pc.trust)
	if err != nil {
		return fmt.Errorf("refusing the coordinator's session: %w", err)
	}
	job.Path = path
	fmt.Fprintf(w, "session %s: signing with %s\n", resp.SessionId, strings.Join(resp.Parties, ", "))
	job.Event, job.Progress = progressPrinter(w, rec.PartyID)
	sig, err := participant.Sign(ctx, pc.conn, job, rec)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "signed\n")
	out := map[string]any{
		"wallet_id": rec.WalletID, "digest": hex.EncodeToString(digest), "r": sig.RHex(), "s": sig.SHex(), "v": sig.V,
		"signature": sig.SignatureHex(), "der": hex.EncodeToString(sig.DER), "path": path.String(),
		"public_key": hex.EncodeToString(child.PublicKey), "address": share.Address(child.PublicKey),
	}
	switch {
	case *ethMessage != "":
		out["eth_signature"] = ethSignature(sig)
	case etx != nil:
		if out["signed_transaction"], err = signedEthTx(etx.tx, etx.signer, sig, share.Address(child.PublicKey)); err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// partyRefresh reshares the wallet of --share among its holders (a
// refresh), or to --signers of --parties holders. The new share is
// written next to the share file as pending and replaces it, in one
// rename, only once the coordinator has activated the new epoch and every
// new holder's acknowledgement that it stored its share verifies
// (participant.Reshare).
func partyRefresh(ctx context.Context, args []string) error {
	fs := newFlags("party refresh", "Refresh the wallet's shares (same key, same address, new shares for every holder), or change its policy with --signers/--parties. The share file is replaced once the new shares are active.", partyEnvHelp)
	coordAddr := fs.String("coordinator", "127.0.0.1:8081", "coordinator address")
	routerAddr := fs.String("router", "127.0.0.1:8082", "router address")
	token := fs.String("token", "", "admin token")
	shareFile := fs.String("share", "", "share file (from keygen); replaced by the new share")
	pwFile := fs.String("password-file", "", "file holding the share password (the new share is encrypted with it too)")
	signers := fs.Int("signers", 0, "signers needed after (default: unchanged)")
	parties := fs.Int("parties", 0, "holders after, this party included (default: unchanged); server parties are added from the pool or dropped")
	resume := fs.Bool("resume", false, "finish a refresh whose end this party missed: the newest pending share file beside --share replaces it once the coordinator records the session that made it (FILE.epoch-N.session) completed and every new holder's stored acknowledgement verifies")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	retries := addRetryFlag(fs)
	tf := addTLSFlags(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *shareFile == "" {
		return configErrorf("--share is required")
	}
	if *signers < 0 || *parties < 0 {
		return configErrorf("--signers and --parties must be positive")
	}
	if *resume && (*signers != 0 || *parties != 0) {
		return configErrorf("--resume finishes the refresh that was started: no --signers or --parties")
	}
	// The share's lock, from start to end: a settle step of this share
	// (tsskit party settle) runs before or after, never beside.
	unlock, err := lockShare(*shareFile)
	if err != nil {
		return err
	}
	defer unlock()
	data, err := os.ReadFile(*shareFile)
	if err != nil {
		return err
	}
	pw, err := readPassword(*pwFile)
	if err != nil {
		return err
	}
	defer clear(pw)
	rec, err := unprotectShare(*shareFile, data, pw)
	if err != nil {
		return err
	}
	pc, err := connect(*coordAddr, *routerAddr, *token, tf)
	if err != nil {
		return err
	}
	defer pc.closer()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *resume {
		return resumeRefresh(ctx, pc, *shareFile, rec, pw)
	}

	// A run of the next epoch frozen or pinned here (tsskit party
	// settle): no run of that epoch until it is thawed or dropped.
	if err := heldRuns(*shareFile, rec.Epoch+1); err != nil {
		return err
	}
	pre, err := cliPreParams(ctx)
	if err != nil {
		return err
	}
	w := os.Stderr

	var resp *tsskitv1.CreateSessionResponse
	err = retryBusy(ctx, *retries, func() (err error) {
		resp, err = pc.coord.CreateReshareSession(ctx, &tsskitv1.CreateReshareSessionRequest{
			WalletId: rec.WalletID, ClientPartyIds: []string{rec.PartyID}, SignersNeeded: uint32(*signers), Parties: uint32(*parties),
		}, pc.admin)
		return err
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	job, err := participant.ClientReshareJob(resp, rec, *signers, *parties, pc.trust)
	if err != nil {
		return fmt.Errorf("refusing the coordinator's session: %w", err)
	}
	spec := job.Reshare
	fmt.Fprintf(w, "session %s: epoch %d to %d; %s hand over to %d-of-%d %s\n", resp.SessionId, rec.Epoch, spec.Epoch,
		strings.Join(spec.Old, ", "), job.Threshold, len(spec.New), strings.Join(spec.New, ", "))
	job.Event, job.Progress = progressPrinter(w, rec.PartyID)
	if job.Abandoned, err = joinRun(*shareFile, spec.Epoch, resp.SessionId, rec.WalletID, rec.PartyID, job.Identity); err != nil {
		return fmt.Errorf("record the reshare run: %w", err)
	}
	if err := earlierRun(&job, *shareFile, rec, pw); err != nil {
		// Gone on without: the holders that keep that run's share refuse
		// this one unless another holder abandoned that run.
		fmt.Fprintf(w, "the pending share of an earlier run of epoch %d cannot be read, and this run goes on without it: %v\n", spec.Epoch, err)
	}
	pending := pendingFile(*shareFile, spec.Epoch)
	save := func(r *share.Record) error {
		b, err := share.Protect(r, pw, nil)
		if err != nil {
			return err
		}
		return storePending(*shareFile, spec.Epoch, resp.SessionId, b)
	}
	res, err := participant.Reshare(ctx, pc.conn, job, rec, pre, save)
	if se := (*participant.SessionError)(nil); errors.As(err, &se) && se.Code == string(party.CodeRunComplete) && job.Pending != nil {
		// The coordinator activated the earlier run instead, from every
		// holder's acknowledgement: its share, pending here, replaces
		// the share file once they verify.
		fmt.Fprintf(w, "run %s of epoch %d was stored by every holder and is now active; activating its share\n", job.PendingSession, spec.Epoch)
		return resumeRefresh(ctx, pc, *shareFile, rec, pw)
	}
	if err != nil {
		if _, serr := os.Stat(pending); serr == nil {
			// Kept whatever the session's end says: this party has
			// acknowledged storing it, and only the wallet's epoch tells
			// whether it took — a Failed event is the coordinator's word,
			// and trusting it could leave no share of the active epoch.
			fmt.Fprintf(w, "the new share stays in %s: %s stays the share that signs unless the wallet shows epoch %d (session %s); "+
				"if it does, 'tsskit party refresh --share %s --resume' activates the new share\n", pending, *shareFile, spec.Epoch, resp.SessionId, *shareFile)
		}
		return err
	}
	if !res.Activate {
		return fmt.Errorf("the new share is not activated, and stays in %s: %w", pending, res.NotActivated)
	}
	if err := activatePending(*shareFile, pending, spec.Epoch, resp.SessionId); err != nil {
		return fmt.Errorf("the new epoch is active, but replacing %s failed (the new share is in %s): %w", *shareFile, pending, err)
	}
	_ = os.Remove(sessionFile(*shareFile, spec.Epoch))
	fmt.Fprintf(w, "wallet %s is at epoch %d; the new share replaced %s\n", res.Share.WalletID, res.Share.Epoch, *shareFile)
	return printRefreshed(res.Share, resp.SessionId, *shareFile)
}

// printRefreshed prints a refresh's result (JSON, on stdout).
func printRefreshed(rec *share.Record, sessionID, shareFile string) error {
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"wallet_id": rec.WalletID, "party_id": rec.PartyID, "public_key": hex.EncodeToString(rec.PublicKey), "address": rec.Address(),
		"epoch": rec.Epoch, "parties": rec.Parties, "threshold": rec.Threshold, "share_file": shareFile, "session_id": sessionID,
	})
}

// pendingFile is where a refresh keeps the new share of epoch until the
// epoch is active; sessionFile names the session that made it.
func pendingFile(shareFile string, epoch int) string {
	return fmt.Sprintf("%s.epoch-%d.pending", shareFile, epoch)
}

func sessionFile(shareFile string, epoch int) string {
	return fmt.Sprintf("%s.epoch-%d.session", shareFile, epoch)
}

// readPending reads the pending share of epoch beside shareFile and the
// session that made it (its label, written with it), checked to be cur's
// party's share of cur's wallet and key.
func readPending(shareFile string, cur *share.Record, pw []byte, epoch int) (*share.Record, string, error) {
	return readRunShare(pendingFile(shareFile, epoch), shareFile, cur, pw, epoch)
}

// readRunShare reads file, the share of a run of epoch kept beside
// shareFile (pending or held), and the session that made it, by the
// session file's label, which must be that share's; the share is checked
// to be cur's party's share of cur's wallet and key at epoch.
func readRunShare(file, shareFile string, cur *share.Record, pw []byte, epoch int) (*share.Record, string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, "", err
	}
	sid, ok, err := labelOf(shareFile, epoch, data)
	if err != nil {
		return nil, "", fmt.Errorf("%s: which session made it is not recorded (%w); nothing to resume", file, err)
	}
	if !ok {
		return nil, "", fmt.Errorf("%s is not the share its session file %s labels (a refresh cut short between the two?)", file, sessionFile(shareFile, epoch))
	}
	next, err := unprotectShare(file, data, pw)
	if err != nil {
		return nil, "", err
	}
	if next.WalletID != cur.WalletID || next.PartyID != cur.PartyID || next.Epoch != epoch || !bytes.Equal(next.PublicKey, cur.PublicKey) {
		return nil, "", fmt.Errorf("%s is not %s's share of wallet %s of epoch %d with its key", file, cur.PartyID, cur.WalletID, epoch)
	}
	return next, sid, nil
}

// earlierRun sets j's pending share of an earlier run of its epoch, if
// one is beside shareFile, and this party's stored acknowledgement of
// that run, for its join (one acknowledged run per epoch,
// docs/lifecycle.md; party.CheckEarlierRun).
func earlierRun(j *participant.Job, shareFile string, cur *share.Record, pw []byte) error {
	epoch := j.Reshare.Epoch
	if _, err := os.Stat(pendingFile(shareFile, epoch)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	pending, from, err := readPending(shareFile, cur, pw, epoch)
	if err != nil {
		return err
	}
	if !party.IsEarlierRun(pending, from, j.SessionID, cur.WalletID, j.PartyID, epoch) {
		return nil
	}
	j.Pending, j.PendingSession, j.Stored = pending, from, party.StoredAgain(j.Identity, pending, from)
	return nil
}

// resumeRefresh finishes a refresh whose end this party missed (its
// connection broke after it stored its new share and said so): the
// newest pending share of the wallet of cur (a file beside shareFile)
// replaces shareFile only if the coordinator records the session that
// made it (its id in the session file written with it) completed, and
// every new holder's stored acknowledgement it kept verifies under the
// identity the pending share records for that holder — the check a live
// refresh makes at its Completed event. A session the coordinator
// records as failed or still running leaves every file as it is.
func resumeRefresh(ctx context.Context, pc *partyConn, shareFile string, cur *share.Record, pw []byte) error {
	dir, base := filepath.Split(shareFile)
	entries, err := os.ReadDir(filepath.Clean(dir + "."))
	if err != nil {
		return err
	}
	name := regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `\.epoch-([1-9][0-9]{0,8})\.pending$`)
	epoch := -1
	for _, e := range entries {
		if m := name.FindStringSubmatch(e.Name()); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n > cur.Epoch && n > epoch {
				epoch = n
			}
		}
	}
	if epoch < 0 {
		return fmt.Errorf("no pending share newer than %s (epoch %d) beside it: nothing to resume", shareFile, cur.Epoch)
	}
	pending := pendingFile(shareFile, epoch)
	next, sessionID, err := readPending(shareFile, cur, pw, epoch)
	if err != nil {
		return err
	}
	// A run this party marked activated was complete then (the
	// coordinator said so, and every acknowledgement verified): a crash
	// came between the mark and the rename, and the coordinator is not
	// asked again.
	if !isActivated(shareFile, epoch, sessionID) {
		if err := completedRun(ctx, pc, cur, sessionID, next, shareFile, pending, epoch); err != nil {
			return err
		}
	}
	if err := activatePending(shareFile, pending, epoch, sessionID); err != nil {
		return fmt.Errorf("the new epoch is active, but replacing %s failed (the new share is in %s): %w", shareFile, pending, err)
	}
	_ = os.Remove(sessionFile(shareFile, epoch))
	fmt.Fprintf(os.Stderr, "wallet %s is at epoch %d; the pending share of session %s replaced %s\n", next.WalletID, next.Epoch, sessionID, shareFile)
	return printRefreshed(next, sessionID, shareFile)
}

// writeSynced writes b to file (replacing it), with mode 0600, and syncs
// it to disk before it returns.
func writeSynced(file string, b []byte) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	return writeAndClose(f, b)
}

// cliPartyID is a new client party id: "cli-" and 8 random hex digits.
func cliPartyID() string {
	var r [4]byte
	rand.Read(r[:])
	return "cli-" + hex.EncodeToString(r[:])
}

// cliPreParams makes the client's pre-parameters now, showing the safe
// prime search on stderr.
func cliPreParams(ctx context.Context) (*keygen.LocalPreParams, error) {
	w := os.Stderr
	fmt.Fprintf(w, "pre-parameters: searching safe primes...\n")
	start := time.Now()
	pre, err := preparams.Generate(ctx, &preparams.Options{Progress: func(p preparams.Progress) {
		if p.PrimesFound > 0 {
			fmt.Fprintf(w, "\r  safe primes %d/%d", p.PrimesFound, p.PrimesNeeded)
		}
	}})
	if err != nil {
		return nil, fmt.Errorf("pre-parameters: %w", err)
	}
	fmt.Fprintf(w, "\n  ready in %s\n", time.Since(start).Round(time.Millisecond))
	return pre, nil
}

// openShareFile reads and decrypts the share file of --share with the
// password of --password-file (or the environment).
func openShareFile(file, pwFile string) (*share.Record, error) {
	if file == "" {
		return nil, configErrorf("--share is required")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pw, err := readPassword(pwFile)
	if err != nil {
		return nil, err
	}
	defer clear(pw)
	return unprotectShare(file, data, pw)
}

// unprotectShare opens the share file file's contents data with the
// password pw, naming file in its errors.
func unprotectShare(file string, data, pw []byte) (*share.Record, error) {
	rec, err := share.Unprotect(data, pw)
	if errors.Is(err, share.ErrWrongPassword) {
		return nil, fmt.Errorf("%s: wrong password or corrupted file", file)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return rec, nil
}

func orM(p string) string {
	if p == "" {
		return "m"
	}
	return p
}

// partyAddress prints the address of the wallet of --share, or of its
// BIP32 child at --path, and the wallet's xpub. It needs the share's
// password (the record's public part is encrypted with it) and no network.
func partyAddress(args []string) error {
	fs := newFlags("party address", "Print the wallet's address (or its child's at --path) and extended public key.", partyEnvHelp)
	shareFile := fs.String("share", "", "share file (from keygen, or an account's user_share decoded)")
	pwFile := fs.String("password-file", "", "file holding the share password")
	pathFlag := fs.String("path", "", "the BIP32 path of the child, e.g. m/0/5 (non-hardened only; default m, the wallet key)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, err := hd.ParsePath(orM(*pathFlag))
	if err != nil {
		return configErrorf("--path: %v", err)
	}
	rec, err := openShareFile(*shareFile, *pwFile)
	if err != nil {
		return err
	}
	child, err := hd.Derive(rec.PublicKey, rec.ChainCode, path)
	if err != nil {
		return err
	}
	xpub, err := hd.ExtendedPublicKey(rec.PublicKey, rec.ChainCode)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"wallet_id": rec.WalletID, "path": path.String(), "public_key": hex.EncodeToString(child.PublicKey),
		"address": share.Address(child.PublicKey), "xpub": xpub,
		// Whether the record uses the legacy rule (made before chain codes).
		"legacy_chain_code": bytes.Equal(rec.ChainCode, hd.LegacyChainCode(rec.WalletID, rec.PublicKey)),
	})
}

// addRetryFlag adds --retry: attempts at creating the session while the
// coordinator refuses it for overload.
func addRetryFlag(fs *flag.FlagSet) *int {
	return fs.Int("retry", 1, "attempts at creating the session while the server parties are too busy (refused as overloaded); "+
		"waits follow the coordinator's advice, doubled each time, with jitter")
}

// retryBusy runs create with participant.RetryOverloaded, saying on
// stderr when it waits.
func retryBusy(ctx context.Context, attempts int, create func() error) error {
	return participant.RetryOverloaded(ctx, attempts, time.Minute, func(attempt int, wait time.Duration, _ error) {
		fmt.Fprintf(os.Stderr, "busy: the server parties refused a new session for now; retrying in %s (attempt %d of %d)\n",
			wait.Round(100*time.Millisecond), attempt+1, attempts)
	}, create)
}

// completedRun checks that the coordinator records session sessionID of
// cur's wallet completed, and that every new holder's stored
// acknowledgement it keeps verifies under the identity next, the
// session's share, records for that holder.
func completedRun(ctx context.Context, pc *partyConn, cur *share.Record, sessionID string, next *share.Record, shareFile, pending string, epoch int) error {
	got, err := pc.coord.GetSession(ctx, &tsskitv1.GetSessionRequest{SessionId: sessionID}, pc.admin)
	if err != nil {
		return fmt.Errorf("session %q: %w", sessionID, err)
	}
	s := got.Session
	switch {
	case s.SessionId != sessionID || s.WalletId != cur.WalletID:
		return fmt.Errorf("the coordinator's record of session %q is not of wallet %s", sessionID, cur.WalletID)
	case s.State == tsskitv1.SessionState_SESSION_STATE_FAILED:
		return fmt.Errorf("the coordinator records session %s as failed (%q %q): %s stays the share that signs unless the wallet shows epoch %d, and %s stays as it is",
			sessionID, s.Code, s.Reason, shareFile, epoch, pending)
	case s.State != tsskitv1.SessionState_SESSION_STATE_COMPLETED:
		return fmt.Errorf("session %s is still under way; resume once it has ended", sessionID)
	}
	if err := participant.VerifyStoredAcks(sessionID, next, s.StoredAcks); err != nil {
		return fmt.Errorf("session %s: %w; %s stays as it is", sessionID, err, pending)
	}
	return nil
}
