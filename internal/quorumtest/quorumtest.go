// Package quorumtest starts a whole tsskit quorum in the test's process —
// router, coordinator with its account API, server parties and the
// server-party API — on loopback ports with real gRPC and HTTP, so tests of
// the services exercise what runs in production. Server parties' pools are
// seeded with the committed fixture pre-parameters; when those run out a
// party makes fresh ones with the real generator.
package quorumtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/stack"
	"github.com/rwadurian/tsskit/internal/testkit"
	"github.com/rwadurian/tsskit/participant"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
	tsskitv1 "github.com/rwadurian/tsskit/proto/gen/go/tsskit/v1"
	"github.com/rwadurian/tsskit/serverparty"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

// Options shape a quorum; zero values take defaults.
type Options struct {
	ServerParties     int    // default 3
	AllowedIPs        string // account/server-party API allowlist (default: any)
	APITimeout        time.Duration
	HeartbeatTimeout  time.Duration
	HeartbeatInterval time.Duration
	StallTimeout      time.Duration
	// DatabaseURL puts the coordinator's store in PostgreSQL; with
	// SecondCoordinator a second replica runs on it too (Quorum.CoordAddrB)
	// with an empty pool: every session is the first one's, and calls made
	// through the second are forwarded.
	DatabaseURL       string
	SecondCoordinator bool
	Verbose           bool         // log to stderr
	Logger            *slog.Logger // every service logs here (before Verbose)
	NoSeed            bool         // leave the pre-params pools empty: parties generate on demand
	// The coordinator's trust, for attack tests: CoordinatorRoots are
	// roots it pins besides the quorum's (a misconfigured or compromised
	// coordinator); Revoked are identity keys every service revokes.
	CoordinatorRoots []identity.PublicKey
	Revoked          []identity.PublicKey
}

// Quorum is a running stack.
type Quorum struct {
	Signer      *auth.Signer
	APIKey      string
	CoordAddr   string
	CoordAddrB  string // the second coordinator replica, with SecondCoordinator
	RouterAddr  string
	APIURL      string // account API base URL
	PartyAPIURL string
	Coordinator *coordinator.Coordinator
	Parties     []*serverparty.Party
	DataDir     string
	// Root is the quorum's deployment root (it certified every server
	// party), Trust the clients' pinned view of it.
	Root  *identity.Key
	Trust *identity.Trust
	// The secrets the quorum runs with, for tests that look for them.
	JWTSecret    []byte
	MasterKeyHex string
	conns        []*grpc.ClientConn
	stop         func()
	masterKey    *vault.MasterKey
}

// Start runs a quorum until the test ends and waits until every server
// party is in the coordinator's pool.
func Start(t testing.TB, o Options) *Quorum {
	t.Helper()
	if o.ServerParties == 0 {
		o.ServerParties = 3
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	signer, err := auth.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	mkHex, err := vault.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	mk, _ := vault.ParseMasterKey(mkHex)
	key := make([]byte, 16)
	rand.Read(key)
	allow, err := auth.ParseAllowlist(o.AllowedIPs)
	if err != nil {
		t.Fatal(err)
	}
	root, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := identity.NewTrust([]identity.PublicKey{root.Public()}, o.Revoked)
	if err != nil {
		t.Fatal(err)
	}
	coordTrust, err := identity.NewTrust(append([]identity.PublicKey{root.Public()}, o.CoordinatorRoots...), o.Revoked)
	if err != nil {
		t.Fatal(err)
	}
	q := &Quorum{Signer: signer, APIKey: hex.EncodeToString(key), DataDir: t.TempDir(), masterKey: mk, JWTSecret: secret, MasterKeyHex: mkHex,
		Root: root, Trust: trust}
	log := slog.New(slog.DiscardHandler)
	switch {
	case o.Logger != nil:
		log = o.Logger
	case o.Verbose:
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	st := stack.New(log)
	if _, err := st.AddRouter("127.0.0.1:0", signer, serve.Origins{"*"}); err != nil {
		t.Fatal(err)
	}
	q.RouterAddr = st.Addr("router")
	partyAPI := FreeAddr(t)
	coordOpts := func(addr, advertise string) stack.CoordOpts {
		return stack.CoordOpts{
			Addr: addr, APIAddr: "127.0.0.1:0", RouterAddr: q.RouterAddr, PartyAPI: "http://" + partyAPI,
			DataDir: q.DataDir, Signer: signer, APIKey: q.APIKey, Allow: allow, Origins: serve.Origins{"*"},
			HeartbeatTimeout: o.HeartbeatTimeout, HeartbeatInterval: o.HeartbeatInterval, APITimeout: o.APITimeout,
			StallTimeout: o.StallTimeout, DatabaseURL: o.DatabaseURL, AdvertiseAddr: advertise, Trust: coordTrust,
		}
	}
	if o.SecondCoordinator && o.DatabaseURL == "" {
		t.Fatal("quorumtest: SecondCoordinator needs DatabaseURL")
	}
	addr, advertise := "127.0.0.1:0", ""
	if o.SecondCoordinator {
		addr = FreeAddr(t)
		advertise = addr
	}
	q.Coordinator, err = st.AddCoordinator(context.Background(), coordOpts(addr, advertise))
	if err != nil {
		t.Fatal(err)
	}
	q.CoordAddr = st.Addr("coordinator")
	q.APIURL = "http://" + st.Addr("account-api")
	if o.SecondCoordinator {
		b := FreeAddr(t)
		if _, err := st.AddCoordinator(context.Background(), coordOpts(b, b)); err != nil {
			t.Fatal(err)
		}
		q.CoordAddrB = b
	}
	q.PartyAPIURL = "http://" + partyAPI
	var runs []func(context.Context)
	for i := range o.ServerParties {
		dir := q.partyDir(i)
		if !o.NoSeed {
			seed(t, dir, mk, i, o.ServerParties)
		}
		po := stack.PartyOpts{
			PartyID: fmt.Sprintf("server-%d", i+1), CoordAddr: q.CoordAddr, RouterAddr: q.RouterAddr,
			DataDir: dir, Signer: signer, MasterKey: mk, Pool: -1, Trust: trust, Root: root,
		}
		if i == 0 {
			po.APIAddr, po.APIKey, po.Allow = partyAPI, q.APIKey, allow
		}
		p, run, err := st.AddServerParty(po)
		if err != nil {
			t.Fatal(err)
		}
		q.Parties = append(q.Parties, p)
		runs = append(runs, run)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = st.Run(ctx, runs...) }()
	var once sync.Once
	q.stop = func() {
		once.Do(func() {
			for _, c := range q.conns {
				c.Close()
			}
			cancel()
			<-done
		})
	}
	t.Cleanup(q.Stop)
	q.WaitHealthy(t, o.ServerParties)
	return q
}

// seed puts fixture pre-params into party i's vault: distinct sets for
// distinct parties, and a second set for the party that also runs the
// account API's user party.
func seed(t testing.TB, dir string, mk *vault.MasterKey, i, n int) {
	v, err := vault.Open(filepath.Join(dir, "vault"), mk)
	if err != nil {
		t.Fatal(err)
	}
	sets := []int{i}
	if i == 0 && n < testkit.FixtureCount {
		sets = append(sets, n) // the user party's
	}
	for _, s := range sets {
		if s >= testkit.FixtureCount {
			continue
		}
		pp, err := testkit.PreParams(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.PutPreParams(pp); err != nil {
			t.Fatal(err)
		}
	}
}

func (q *Quorum) partyDir(i int) string {
	return filepath.Join(q.DataDir, fmt.Sprintf("server-%d", i+1))
}

// Reseed puts the fixture pre-params back into every server party's pool
// (benchmarks of keygen with a warm pool reuse them run after run).
func (q *Quorum) Reseed(t testing.TB) {
	for i := range q.Parties {
		seed(t, q.partyDir(i), q.masterKey, i, len(q.Parties))
	}
}

// WaitHealthy waits until n server parties are in the pool.
func (q *Quorum) WaitHealthy(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(q.Coordinator.HealthyParties()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d server parties healthy", len(q.Coordinator.HealthyParties()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Conn dials the coordinator and the router.
func (q *Quorum) Conn(t testing.TB) participant.Conn { return q.ConnVia(t, q.CoordAddr) }

// Stop stops the quorum now (it stops anyway when the test ends): its
// services' shutdown lines are then in the log.
func (q *Quorum) Stop() { q.stop() }

// ConnVia is Conn through the coordinator at coordAddr (e.g. CoordAddrB).
func (q *Quorum) ConnVia(t testing.TB, coordAddr string) participant.Conn {
	cc, err := serve.Dial(coordAddr)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := serve.Dial(q.RouterAddr)
	if err != nil {
		t.Fatal(err)
	}
	q.conns = append(q.conns, cc, rc)
	return participant.Conn{Coordinator: cc, Router: rc}
}

// Admin is an admin token call option.
func (q *Quorum) Admin(t testing.TB) grpc.CallOption {
	tok, err := q.Signer.MintAdmin("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return grpc.PerRPCCredentials(serve.Bearer(tok))
}

var (
	handedMu sync.Mutex
	handed   = map[string]bool{}
)

// FreeAddr returns a loopback address with a port that was free a moment
// ago, and never one it returned before in this process (the kernel may
// hand a just-closed port out again, and two services of a test would
// then fight for it).
func FreeAddr(t testing.TB) string {
	handedMu.Lock()
	defer handedMu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !handed[addr] {
			handed[addr] = true
			return addr
		}
	}
}

// HTTPClient is a client with a timeout fit for keygen.
var HTTPClient = &http.Client{Timeout: 5 * time.Minute}

// CallAPI sends body to the account API at base+path with the API key (if
// any) and X-Forwarded-For xff (if any), and returns the status and the
// JSON object answered (nil if the body is not one).
func CallAPI(t testing.TB, base, method, path, key, xff, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// CuttingProxy forwards loopback TCP to target and, once, after cutAfter
// bytes have come back from target, cuts every open connection: streams
// over it break as on a flaky network. It returns its address and the
// number of cuts made so far.
func CuttingProxy(t testing.TB, target string, cutAfter int64) (string, func() int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var down int64
	cuts := 0
	cutAll := func() {
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := up.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
						mu.Lock()
						down += int64(n)
						if cuts == 0 && down > cutAfter {
							cuts++
							cutAll()
						}
						mu.Unlock()
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); mu.Lock(); cutAll(); mu.Unlock() })
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return cuts }
}

// LogBuffer collects log output written from many goroutines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// KeygenJob is the seat of client party me in keygen session resp, as
// participant.ClientKeygenJob checks it (signers of parties asked for).
func (q *Quorum) KeygenJob(t testing.TB, resp *tsskitv1.CreateSessionResponse, me string, signers, parties int) participant.Job {
	t.Helper()
	j, err := participant.ClientKeygenJob(resp, me, signers, parties, q.Trust)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// SignJob is the seat of rec's holder in signing session resp of digest.
func (q *Quorum) SignJob(t testing.TB, resp *tsskitv1.CreateSessionResponse, rec *share.Record, digest []byte) participant.Job {
	t.Helper()
	j, err := participant.ClientSignJob(resp, rec, digest, q.Trust)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// JoinKeys is what a client party that a test plays by hand publishes
// when it joins session resp: fresh session keys and its statement,
// signed with a new device identity (digest: a signing's).
func (q *Quorum) JoinKeys(t testing.TB, resp *tsskitv1.CreateSessionResponse, party string, digest []byte) *tsskitv1.PartyKeys {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return q.JoinKeysAs(t, resp, party, k, digest)
}

// JoinKeysAs is JoinKeys signed with identity key k: a wallet's holder's
// own, for a signing the server parties must not refuse at once.
func (q *Quorum) JoinKeysAs(t testing.TB, resp *tsskitv1.CreateSessionResponse, party string, k *identity.Key, digest []byte) *tsskitv1.PartyKeys {
	t.Helper()
	kind := identity.SessionKeygen
	if resp.Kind == tsskitv1.SessionKind_SESSION_KIND_SIGN {
		kind = identity.SessionSign
	}
	j := participant.Job{SessionID: resp.SessionId, PartyID: party, Identity: k, Kind: identity.KindClient, Trust: q.Trust,
		WalletID: resp.WalletId, Parties: resp.Parties, Threshold: int(resp.SignersNeeded), Digest: digest}
	_, pk, err := participant.JoinKeys(&j, kind)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// Registration is a server party's certified registration, made with a new
// identity key the quorum's root certifies for id.
func (q *Quorum) Registration(t testing.TB, id string) *tsskitv1.RegisterRequest {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c, err := identity.Issue(q.Root, identity.KindServer, id, k.Public(), now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	proof, sig := identity.SignRegistration(k, id, now)
	return &tsskitv1.RegisterRequest{PartyId: id, Certificates: identity.EncodeChain([]*identity.Certificate{c}), Proof: proof, ProofSignature: sig}
}
