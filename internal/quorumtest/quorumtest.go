// Package quorumtest starts a whole tsskit quorum in the test's process —
// router, coordinator with its account API, server parties and the
// server-party API — on loopback ports with real gRPC and HTTP, so tests of
// the services exercise what runs in production. Server parties' pools are
// seeded with the committed fixture pre-parameters; when those run out a
// party makes fresh ones with the real generator.
package quorumtest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
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
	"github.com/rwadurian/tsskit/internal/testpki"
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
	// SessionQuota: sessions per token holder (nil: none, so that tests
	// may make sessions as fast as they like).
	SessionQuota *auth.RateLimit
	// AdmitWithin: the coordinator's admission deadline (0: its default;
	// negative: no admission control).
	AdmitWithin time.Duration
	// WorkSlots: every server party's (0: the CPU count).
	WorkSlots int
	// RecoveryKeys: the app backend recovery keys every server party
	// trusts.
	RecoveryKeys []identity.PublicKey
	// TLS: every port serves TLS with certificates of a CA made for the
	// test, and requires a client certificate of that CA (mutual TLS
	// between the services); Conn and HTTP dial with q.ClientTLS.
	TLS bool
}

// Quorum is a running stack.
type Quorum struct {
	// Minter is the coordinator's token minter (its key certified by Root).
	Minter      *auth.Minter
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
	// With Options.TLS: the test's CA, and what a test's client dials with
	// (the CA bundle and a client certificate).
	PKI       *testpki.PKI
	ClientTLS *tls.Config
	// The secrets the quorum runs with, for tests that look for them.
	CoordinatorKey *identity.Key
	MasterKeyHex   string
	conns          []*grpc.ClientConn
	stop           func()
	masterKey      *vault.MasterKey
}

// Start runs a quorum until the test ends and waits until every server
// party is in the coordinator's pool.
func Start(t testing.TB, o Options) *Quorum {
	t.Helper()
	if o.ServerParties == 0 {
		o.ServerParties = 3
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
	minter := certifiedMinter(t, root, identity.KindCoordinator, "coordinator")
	if o.SessionQuota == nil {
		o.SessionQuota = &auth.RateLimit{}
	}
	q := &Quorum{Minter: minter, APIKey: hex.EncodeToString(key), DataDir: t.TempDir(), masterKey: mk, CoordinatorKey: minter.Key(), MasterKeyHex: mkHex,
		Root: root, Trust: trust}
	var log *slog.Logger
	switch {
	case o.Logger != nil:
		log = o.Logger
	case o.Verbose:
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	default:
		// Kept, and shown only when the test fails: a failure that comes
		// once in many runs brings its services' story with it.
		buf := &LogBuffer{}
		log = slog.New(slog.NewTextHandler(buf, nil))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("the quorum's log (last %d lines):\n%s", logTail, tailLines(buf.String(), logTail))
			}
		})
	}
	st := stack.New(log)
	var sec stack.TLS
	scheme := "http://"
	if o.TLS {
		sec, q.ClientTLS = quorumTLS(t, q)
		scheme = "https://"
	}
	if _, err := st.AddRouterTLS("127.0.0.1:0", auth.NewVerifier(trust), serve.Origins{"*"}, "", sec.Server); err != nil {
		t.Fatal(err)
	}
	q.RouterAddr = st.Addr("router")
	partyAPI := FreeAddr(t)
	coordOpts := func(addr, advertise string, peers ...string) stack.CoordOpts {
		return stack.CoordOpts{Peers: peers,
			Addr: addr, APIAddr: "127.0.0.1:0", RouterAddr: q.RouterAddr, PartyAPI: scheme + partyAPI, TLS: sec,
			DataDir: q.DataDir, Minter: minter, APIKey: q.APIKey, Allow: allow, Origins: serve.Origins{"*"},
			HeartbeatTimeout: o.HeartbeatTimeout, HeartbeatInterval: o.HeartbeatInterval, APITimeout: o.APITimeout,
			StallTimeout: o.StallTimeout, DatabaseURL: o.DatabaseURL, AdvertiseAddr: advertise, Trust: coordTrust, SessionQuota: o.SessionQuota,
			AdmitWithin: o.AdmitWithin,
		}
	}
	if o.SecondCoordinator && o.DatabaseURL == "" {
		t.Fatal("quorumtest: SecondCoordinator needs DatabaseURL")
	}
	addr, advertise, b := "127.0.0.1:0", "", ""
	if o.SecondCoordinator {
		addr, b = FreeAddr(t), FreeAddr(t)
		advertise = addr
	}
	q.Coordinator, err = st.AddCoordinator(context.Background(), coordOpts(addr, advertise, b))
	if err != nil {
		t.Fatal(err)
	}
	q.CoordAddr = st.Addr("coordinator")
	q.APIURL = scheme + st.Addr("account-api")
	if o.SecondCoordinator {
		if _, err := st.AddCoordinator(context.Background(), coordOpts(b, b, addr)); err != nil {
			t.Fatal(err)
		}
		q.CoordAddrB = b
	}
	q.PartyAPIURL = scheme + partyAPI
	var runs []func(context.Context)
	for i := range o.ServerParties {
		dir := q.partyDir(i)
		if !o.NoSeed {
			seed(t, dir, mk, i, o.ServerParties)
		}
		po := stack.PartyOpts{
			PartyID: fmt.Sprintf("server-%d", i+1), CoordAddr: q.CoordAddr, RouterAddr: q.RouterAddr,
			DataDir: dir, MasterKey: mk, Pool: -1, Trust: trust, Root: root, TLS: sec, WorkSlots: o.WorkSlots, RecoveryKeys: o.RecoveryKeys,
		}
		if i == 0 {
			po.APIAddr, po.Allow = partyAPI, allow
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
	cc, err := serve.DialTLS(coordAddr, q.ClientTLS)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := serve.DialTLS(q.RouterAddr, q.ClientTLS)
	if err != nil {
		t.Fatal(err)
	}
	q.conns = append(q.conns, cc, rc)
	return participant.Conn{Coordinator: cc, Router: rc}
}

// Admin is an admin token call option.
func (q *Quorum) Admin(t testing.TB) grpc.CallOption {
	tok, err := q.Minter.MintAdmin("test", time.Hour)
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

// logTail is how many lines of the quorum's log a failed test shows.
const logTail = 300

// tailLines is the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// LogBuffer collects log output written from many goroutines.
type LogBuffer = testkit.LogBuffer

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

// ClientWallet makes a 2-of-3 co-managed wallet, as the admin, in which
// client party me holds a share (run over conn, with the pre-parameters
// testkit.PreParams(pre)), and returns that share. Server parties are
// seeded with sets 0 to n−1 and set n (the user party's, at the first):
// a quorum that made other wallets before may be using set n.
func (q *Quorum) ClientWallet(ctx context.Context, t testing.TB, conn participant.Conn, me string, pre int) *share.Record {
	t.Helper()
	resp, err := tsskitv1.NewCoordinatorServiceClient(conn.Coordinator).CreateKeygenSession(ctx,
		&tsskitv1.CreateKeygenSessionRequest{SignersNeeded: 2, Parties: 3, ClientPartyIds: []string{me}}, q.Admin(t))
	if err != nil {
		t.Fatal(err)
	}
	pp, err := testkit.PreParams(pre)
	if err != nil {
		t.Fatal(err)
	}
	var rec *share.Record
	if _, err := participant.Keygen(ctx, conn, q.KeygenJob(t, resp, me, 2, 3), pp, func(r *share.Record) error { rec = r; return nil }); err != nil {
		t.Fatal(err)
	}
	return rec
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

// FakeServer is a certified server party that a test plays by hand: its
// identity key, its certificate from the quorum's root, and a service
// token minted with that key (as a real server party makes its own).
type FakeServer struct {
	ID    string
	Key   *identity.Key
	Chain []*identity.Certificate
	Creds grpc.CallOption
}

// FakeServer makes a server identity for id, certified by the quorum's
// root for an hour.
func (q *Quorum) FakeServer(t testing.TB, id string) *FakeServer {
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
	f := &FakeServer{ID: id, Key: k, Chain: []*identity.Certificate{c}}
	m, err := auth.NewMinter(k, f.Chain)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.MintService(id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.Creds = grpc.PerRPCCredentials(serve.Bearer(tok))
	return f
}

// Registration asks pool for a challenge and returns the registration
// that answers it (to be sent over the same connection).
func (f *FakeServer) Registration(t testing.TB, pool tsskitv1.PoolServiceClient) *tsskitv1.RegisterRequest {
	t.Helper()
	ch, err := pool.Challenge(context.Background(), &tsskitv1.ChallengeRequest{PartyId: f.ID}, f.Creds)
	if err != nil {
		t.Fatal(err)
	}
	proof, sig := identity.SignRegistration(f.Key, f.ID, ch.Challenge)
	return &tsskitv1.RegisterRequest{PartyId: f.ID, Certificates: identity.EncodeChain(f.Chain), Proof: proof, ProofSignature: sig}
}

// ForeignMinter is a coordinator's token minter under another, fresh
// deployment root: what no service of a quorum may accept.
func ForeignMinter(t testing.TB) *auth.Minter {
	t.Helper()
	root, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return certifiedMinter(t, root, identity.KindCoordinator, "coordinator")
}

// MinterFor is a token minter holding a new key the quorum's root certifies
// as kind id: a server party's (it may mint service tokens for itself
// alone), or a second coordinator's.
func (q *Quorum) MinterFor(t testing.TB, kind identity.Kind, id string) *auth.Minter {
	t.Helper()
	return certifiedMinter(t, q.Root, kind, id)
}

func certifiedMinter(t testing.TB, root *identity.Key, kind identity.Kind, id string) *auth.Minter {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c, err := identity.Issue(root, kind, id, k.Public(), now.Add(-time.Minute), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	m, err := auth.NewMinter(k, []*identity.Certificate{c})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// quorumTLS makes the test's CA and the services' TLS: each serves the
// CA's certificate for 127.0.0.1 and localhost, requires a client
// certificate of the CA, and dials its peers with that same pair. It
// returns the services' TLS and a test client's.
func quorumTLS(t testing.TB, q *Quorum) (stack.TLS, *tls.Config) {
	t.Helper()
	q.PKI = testpki.New(t)
	cert, key := q.PKI.Server("127.0.0.1", "localhost")
	files := serve.TLSFiles{Cert: cert, Key: key, CA: q.PKI.CAFile(), ClientCA: q.PKI.CAFile()}
	srv, err := files.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := files.ClientConfig("")
	if err != nil {
		t.Fatal(err)
	}
	ccert, ckey := q.PKI.Client("test-client")
	test, err := serve.TLSFiles{Cert: ccert, Key: ckey, CA: q.PKI.CAFile()}.ClientConfig("")
	if err != nil {
		t.Fatal(err)
	}
	return stack.TLS{Server: srv, Client: cli}, test
}

// HTTP is a client for the quorum's REST APIs (TLS with Options.TLS).
func (q *Quorum) HTTP() *http.Client {
	if q.ClientTLS == nil {
		return HTTPClient
	}
	c := serve.HTTPClient(q.ClientTLS)
	c.Timeout = HTTPClient.Timeout
	return c
}
