package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/internal/metrics"
	"github.com/rwadurian/tsskit/internal/serve"
	"github.com/rwadurian/tsskit/internal/stack"
	"github.com/rwadurian/tsskit/internal/tracing"
	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/serverparty/vault"
)

const envHelpTrust = `
  TSSKIT_TRUST_ROOT  the deployment root's public key, hex (tsskit identity init); comma-separated for several (required)
  TSSKIT_REVOKED   revoked identity keys, hex, comma-separated`

const envHelpCommon = `  TSSKIT_ORIGINS   comma-separated browser origins allowed to use gRPC-Web ("*" for any; default none)
  TSSKIT_LOG_FORMAT  "json" for JSON logs (default text)`

func runRouter(ctx context.Context, args []string) error {
	fs := newFlags("router", "The message router: gRPC and gRPC-Web on one port, /health on the same port. It holds no key: it verifies the coordinator's tokens with the deployment root.", envHelpCommon+envHelpTrust+envHelpTLS+`
  REDIS_URL        Redis for session streams, shared by router replicas (e.g. redis://10.0.0.5:6379/0); empty: in memory, one router`)
	addr := fs.String("addr", ":8082", "listen address (the router keeps no state on disk: no --data-dir)")
	metricsAddr := addMetricsFlag(fs)
	tf := addTLSFlags(fs, true)
	trust, err := parseService(fs, args)
	if err != nil {
		return err
	}
	log := newLogger(os.Stderr)
	sec, err := tf.config(log)
	if err != nil {
		return err
	}
	if err := tf.checkListen(sec.Server, map[string]string{"--addr": *addr, "--metrics-addr": *metricsAddr}); err != nil {
		return err
	}
	st, err := newStack("router", log, *metricsAddr, sec)
	if err != nil {
		return err
	}
	if _, err := st.AddRouterTLS(*addr, auth.NewVerifier(trust), serve.ParseOrigins(os.Getenv(envOrigins)), os.Getenv(envRedis), sec.Server); err != nil {
		return err
	}
	return st.Run(ctx)
}

func runCoordinator(ctx context.Context, args []string) error {
	fs := newFlags("coordinator", "The coordinator: sessions, wallets and the server-party pool over gRPC and gRPC-Web, and the account REST API.",
		envHelpCommon+envHelpTrust+envHelpTLS+`
  MPC_API_KEY      X-API-Key of the account REST API (required)
  ALLOWED_IPS      IPs/CIDRs allowed to call the account REST API (required)
  TRUSTED_PROXIES  IPs/CIDRs of reverse proxies whose X-Forwarded-For names the client (default: none)
  RATE_LIMIT       account REST API requests per API key and client, e.g. "10/s,burst=20" (the default) or "off"
  TSSKIT_SESSION_QUOTA  sessions one token holder (admin or user) may create, e.g. "60/m,burst=20" (the default) or "off"
  DATABASE_URL     PostgreSQL for wallets and sessions, shared by coordinator replicas
                   (e.g. postgres://tsskit@10.0.0.5/tsskit); empty: SQLite in --data-dir`)
	addr := fs.String("addr", ":8081", "gRPC / gRPC-Web listen address")
	apiAddr := fs.String("api-addr", ":4000", "account REST API listen address")
	metricsAddr := addMetricsFlag(fs)
	routerAddr := fs.String("router", "127.0.0.1:8082", "router address, or replicas' addresses comma-separated")
	advertise := fs.String("advertise", "", "gRPC address other coordinator replicas reach this one at (replicas: required)")
	instance := fs.String("instance", "", "this replica's stable name, owner of its sessions (default: --advertise, else the host name)")
	peers := fs.String("peers", "", "the other coordinator replicas' --advertise addresses, comma-separated: calls for their sessions are forwarded only there")
	joinTimeout := fs.Duration("join-timeout", 2*time.Minute, "every party must join a session within this")
	stallTimeout := fs.Duration("stall-timeout", 3*time.Minute, "a running session with no party reaching a new round for this long fails")
	admitWithin := admitWithinFlag(fs)
	partyAPI := fs.String("party-api", "http://127.0.0.1:8083", "server-party API URL (runs account users' parties)")
	dataDir := fs.String("data-dir", filepath.Join(".data", "coordinator"), "where the SQLite store lives")
	hbTimeout := fs.Duration("heartbeat-timeout", 15*time.Second, "a server party silent this long is not picked")
	keyFile := fs.String("signing-key", os.Getenv(envSigningKey), "the coordinator's token signing key (tsskit identity key); env "+envSigningKey)
	certFile := fs.String("certificate", os.Getenv(envCertificate), "its certificate from the deployment root, kind coordinator (tsskit identity issue); env "+envCertificate)
	tf := addTLSFlags(fs, true)
	trust, err := parseService(fs, args)
	if err != nil {
		return err
	}
	log := newLogger(os.Stderr)
	sec, err := tf.config(log)
	if err != nil {
		return err
	}
	if err := tf.checkListen(sec.Server, map[string]string{"--addr": *addr, "--api-addr": *apiAddr, "--metrics-addr": *metricsAddr}); err != nil {
		return err
	}
	if err := tf.checkDial(sec.Client, map[string]string{"--router": *routerAddr, "--party-api": *partyAPI, "--peers": *peers}); err != nil {
		return err
	}
	var peerList []string
	for _, p := range strings.Split(*peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			peerList = append(peerList, p)
		}
	}
	minter, err := loadMinter(*keyFile, *certFile, identity.KindCoordinator, trust)
	if err != nil {
		return err
	}
	key, err := apiKeyFromEnv()
	if err != nil {
		return err
	}
	allow, err := allowlistFromEnv(false)
	if err != nil {
		return err
	}
	proxies, limit, err := proxiesAndLimitFromEnv()
	if err != nil {
		return err
	}
	quota, err := sessionQuotaFromEnv()
	if err != nil {
		return err
	}
	st, err := newStack("coordinator", log, *metricsAddr, sec)
	if err != nil {
		return err
	}
	if _, err := st.AddCoordinator(ctx, stack.CoordOpts{
		TrustedProxies: proxies, RateLimit: limit, Trust: trust, SessionQuota: quota, TLS: sec,
		Addr: *addr, APIAddr: *apiAddr, RouterAddr: *routerAddr, PartyAPI: *partyAPI, DataDir: *dataDir,
		Minter: minter, APIKey: key, Allow: allow, Origins: serve.ParseOrigins(os.Getenv(envOrigins)), HeartbeatTimeout: *hbTimeout,
		DatabaseURL: os.Getenv(envDatabase), Instance: *instance, AdvertiseAddr: *advertise, Peers: peerList,
		JoinTimeout: *joinTimeout, StallTimeout: *stallTimeout, AdmitWithin: *admitWithin,
	}); err != nil {
		return err
	}
	return st.Run(ctx)
}

func runServerParty(ctx context.Context, args []string) error {
	fs := newFlags("serverparty", "A server party: registers with the coordinator, runs assigned sessions, keeps shares encrypted at rest; optionally serves the server-party API.",
		envHelpCommon+envHelpTrust+envHelpTLS+`
  CRYPTO_MASTER_KEY  64 hex chars: encrypts shares and pre-params at rest (required)
  MPC_API_KEY        must NOT be set: the server-party API takes the coordinator's per-session tokens
  ALLOWED_IPS        IPs/CIDRs allowed to call the server-party API (required with --api-addr)
  TRUSTED_PROXIES    reverse proxies whose X-Forwarded-For names the client (default: none)
  RATE_LIMIT         server-party API requests per API key and client (default "10/s,burst=20"; "off")
  DATABASE_URL       PostgreSQL for shares and pre-params (encrypted as in the file vault); empty: files in --data-dir
  TSSKIT_CERTIFICATE this party's certificate chain file (as --certificate)
  TSSKIT_RECOVERY_KEYS the app backends' recovery public keys, hex, comma-separated: their approvals may authorize a recovery`)
	partyID := fs.String("party-id", "", "party id (default: kept in --data-dir, made on first start)")
	coordAddr := fs.String("coordinator", "127.0.0.1:8081", "coordinator address; replicas comma-separated (the party registers with each)")
	routerAddr := fs.String("router", "127.0.0.1:8082", "router address, or replicas' addresses comma-separated")
	apiAddr := fs.String("api-addr", "", `server-party API listen address (e.g. ":8083"; empty: no API)`)
	dataDir := fs.String("data-dir", filepath.Join(".data", "serverparty"), "where the vault and the party id live")
	pool := fs.Int("preparams-pool", 2, "pre-parameter sets kept ready (-1: none)")
	certFile := fs.String("certificate", os.Getenv(envCertificate), "this party's certificate chain from the deployment root (tsskit identity issue); env "+envCertificate)
	printIdentity := fs.Bool("print-identity", false, "make the identity key if there is none, print the party id and the identity public key, and exit")
	metricsAddr := addMetricsFlag(fs)
	healthAddr := fs.String("health-addr", "", `serve the probes /health, /livez and /readyz on this address (e.g. ":8084"; empty: off; the API port serves them too)`)
	drain := fs.Duration("drain-timeout", 60*time.Second, "on SIGTERM, finish running sessions for at most this long before stopping (0: fail them at once)")
	workSlots := fs.Int("work-slots", 0, "protocol steps computed at once; the rest wait in order, signings first (0: the CPU count)")
	signSlots := fs.Int("sign-slots", 0, "signing steps computed at once, in a lane of their own (0: the CPU count, or --work-slots if more)")
	tf := addTLSFlags(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	mk, err := vault.ParseMasterKey(os.Getenv(envMasterKey))
	if err != nil {
		return configErrorf("%v", err)
	}
	if *printIdentity {
		return printServerIdentity(*partyID, *dataDir, mk)
	}
	if *workSlots < 0 || *workSlots > 1024 {
		return configErrorf("--work-slots %d: use 1..1024, or 0 for the CPU count", *workSlots)
	}
	if err := refuseJWTSecret(); err != nil {
		return err
	}
	trust, err := trustFromEnv()
	if err != nil {
		return err
	}
	if err := refuseAPIKeyOnServerParty(); err != nil {
		return err
	}
	log := newLogger(os.Stderr)
	sec, err := tf.config(log)
	if err != nil {
		return err
	}
	if err := tf.checkListen(sec.Server, map[string]string{"--api-addr": *apiAddr, "--metrics-addr": *metricsAddr, "--health-addr": *healthAddr}); err != nil {
		return err
	}
	if err := tf.checkDial(sec.Client, map[string]string{"--coordinator": *coordAddr, "--router": *routerAddr}); err != nil {
		return err
	}
	var chain []*identity.Certificate
	if *certFile != "" {
		b, err := os.ReadFile(*certFile)
		if err != nil {
			return configErrorf("--certificate: %v", err)
		}
		if chain, err = identity.ParseChain(b); err != nil {
			return configErrorf("--certificate %s: %v", *certFile, err)
		}
	}
	recoveryKeys, err := recoveryKeysFromEnv()
	if err != nil {
		return err
	}
	o := stack.PartyOpts{PartyID: *partyID, CoordAddr: *coordAddr, RouterAddr: *routerAddr, APIAddr: *apiAddr, DataDir: *dataDir,
		MasterKey: mk, Pool: *pool, Version: version, DatabaseURL: os.Getenv(envDatabase), Trust: trust, Chain: chain, TLS: sec,
		HealthAddr: *healthAddr, DrainTimeout: *drain, WorkSlots: *workSlots, SignSlots: *signSlots, RecoveryKeys: recoveryKeys, Exclusive: true}
	if *apiAddr != "" {
		if o.Allow, err = allowlistFromEnv(false); err != nil {
			return err
		}
		if o.TrustedProxies, o.RateLimit, err = proxiesAndLimitFromEnv(); err != nil {
			return err
		}
	}
	st, err := newStack("serverparty", log, *metricsAddr, sec)
	if err != nil {
		return err
	}
	_, run, err := st.AddServerParty(o)
	if nc, ok := errors.AsType[*stack.NoCertificateError](err); ok {
		return configErrorf("%v", nc)
	}
	if err != nil {
		return err
	}
	return st.Run(ctx, run)
}

// printServerIdentity prints a server party's id and identity key, making
// them on first use: the first step of certifying it.
func printServerIdentity(partyID, dataDir string, mk *vault.MasterKey) error {
	if partyID == "" {
		id, err := stack.StablePartyID(dataDir)
		if err != nil {
			return err
		}
		partyID = id
	}
	var v *vault.Vault
	var err error
	if url := os.Getenv(envDatabase); url != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		v, err = vault.OpenPostgres(ctx, url, partyID, mk)
		cancel()
	} else {
		v, err = vault.Open(filepath.Join(dataDir, "vault"), mk)
	}
	if err != nil {
		return err
	}
	defer v.Close()
	k, created, err := v.Identity(partyID)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintln(os.Stderr, "identity key made and stored, encrypted, in the vault")
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]string{"party_id": partyID, "kind": "server", "identity_key": k.Public().String()})
}

// parseService parses a service's flags and reads what every service needs:
// the deployment root it verifies with.
func parseService(fs *flag.FlagSet, args []string) (*identity.Trust, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := refuseJWTSecret(); err != nil {
		return nil, err
	}
	return trustFromEnv()
}

func runToken(_ context.Context, args []string) error {
	fs := newFlags("token", "Mint a token (EdDSA JWT, signed with the coordinator's key): an admin token for operators' clients, or a user token "+
		"(--user) as an app's backend gets from POST /api/v1/users/{user_id}/tokens.",
		`  TSSKIT_SIGNING_KEY, TSSKIT_CERTIFICATE  the coordinator's key and certificate (as the flags)
  TSSKIT_TRUST_ROOT  the deployment root the certificate must chain to`)
	subject := fs.String("subject", "admin", "who an admin token is for")
	user := fs.String("user", "", "mint a user token for this user id instead of an admin token")
	ops := fs.String("operations", strings.Join(auth.Ops, ","), "a user token's operations, comma-separated")
	ttl := fs.Duration("ttl", 12*time.Hour, "validity")
	asJSON := fs.Bool("json", false, "print {token, expires_at} as JSON")
	keyFile := fs.String("signing-key", os.Getenv(envSigningKey), "the coordinator's signing key")
	certFile := fs.String("certificate", os.Getenv(envCertificate), "the coordinator's certificate")
	trust, err := parseService(fs, args)
	if err != nil {
		return err
	}
	minter, err := loadMinter(*keyFile, *certFile, identity.KindCoordinator, trust)
	if err != nil {
		return err
	}
	var tok string
	if *user != "" {
		tok, err = minter.MintUser(*user, strings.Split(*ops, ","), nil, *ttl)
	} else {
		tok, err = minter.MintAdmin(*subject, *ttl)
	}
	if err != nil {
		return configErrorf("%v", err)
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"token": tok, "expires_at": time.Now().Add(*ttl).UTC().Format(time.RFC3339)})
	}
	fmt.Println(tok)
	return nil
}

// devSecrets are the secrets dev mode makes when the environment has none.
// They are kept in the data dir so a restarted dev stack can read its
// vaults again.
type devSecrets struct {
	// JWTSecret is what earlier dev stacks kept; read and ignored.
	JWTSecret string `json:"jwt_secret_key,omitempty"`
	APIKey    string `json:"mpc_api_key"`
	MasterKey string `json:"crypto_master_key"`
}

func loadDevSecrets(dir string) (*devSecrets, []string, error) {
	path := filepath.Join(dir, "dev-secrets.json")
	var s devSecrets
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	var made []string
	fill := func(env string, field *string, gen func() (string, error)) error {
		if v := os.Getenv(env); v != "" {
			*field = v
			return nil
		}
		if *field != "" {
			return nil
		}
		v, err := gen()
		if err != nil {
			return err
		}
		*field = v
		made = append(made, env)
		return nil
	}
	if err := fill(envAPIKey, &s.APIKey, randomHex32); err != nil {
		return nil, nil, err
	}
	if err := fill(envMasterKey, &s.MasterKey, vault.GenerateMasterKey); err != nil {
		return nil, nil, err
	}
	if len(made) > 0 {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, err
		}
		b, _ := json.MarshalIndent(s, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
			return nil, nil, err
		}
	}
	return &s, made, nil
}

func randomHex32() (string, error) {
	k, err := vault.GenerateMasterKey() // 32 random bytes as hex
	return k, err
}

// addMetricsFlag adds --metrics-addr: Prometheus metrics, off unless set.
func addMetricsFlag(fs *flag.FlagSet) *string {
	return fs.String("metrics-addr", "", "serve Prometheus metrics (GET /metrics) on this address, with the service's TLS (empty: off); see docs/operations.md")
}

// newStack makes the service's stack, with metrics served on addr if set
// and traces exported if the OTEL_* variables ask for it.
func newStack(service string, log *slog.Logger, metricsAddr string, sec stack.TLS) (*stack.Stack, error) {
	st := stack.New(log)
	shutdown, err := tracing.Setup(context.Background(), service)
	if err != nil {
		return nil, configErrorf("%v", err)
	}
	if tracing.Enabled() {
		log.Info("exporting traces over OTLP", "service", "tsskit-"+service)
	}
	st.OnStop(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			log.Warn("flush traces", "err", err)
		}
	})
	if metricsAddr == "" {
		return st, nil
	}
	st.Metrics = metrics.New()
	if _, err := st.ServeMetrics(metricsAddr, sec.Server); err != nil {
		return nil, err
	}
	return st, nil
}
