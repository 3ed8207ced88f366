package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/party/identity"
)

// Environment variables (names from the seed system).
const (
	envMasterKey  = "CRYPTO_MASTER_KEY"
	envAPIKey     = "MPC_API_KEY"
	envAllowedIPs = "ALLOWED_IPS"
	envJWTSecret  = "JWT_SECRET_KEY"
	envDatabase   = "DATABASE_URL"
	envRedis      = "REDIS_URL"
	envOrigins    = "TSSKIT_ORIGINS"
	envLogFormat  = "TSSKIT_LOG_FORMAT"
	// The deployment root's public key(s), hex, comma-separated: every
	// service and client checks server identities against these, and
	// only these (never a key the coordinator hands out).
	envTrustRoot = "TSSKIT_TRUST_ROOT"
	// Revoked identity keys, hex, comma-separated.
	envRevoked = "TSSKIT_REVOKED"
	// The app backends' recovery public keys (Ed25519, hex,
	// comma-separated): a server party accepts their recovery approvals
	// for wallets whose policy allows it.
	envRecoveryKeys = "TSSKIT_RECOVERY_KEYS"
	// A service's certificate chain file (a server party's, the
	// coordinator's).
	envCertificate = "TSSKIT_CERTIFICATE"
	// The coordinator's token signing key file.
	envSigningKey = "TSSKIT_SIGNING_KEY"
	envQuota      = "TSSKIT_SESSION_QUOTA"

	// Reverse proxies whose X-Forwarded-For names the REST client (IPs and
	// CIDRs as in ALLOWED_IPS; empty: trust none).
	envTrustedProxies = "TRUSTED_PROXIES"
	// REST rate limit per (API key, client address): "10/s,burst=20",
	// "300/m", "0" to disable; empty: auth.DefaultRateLimit.
	envRateLimit = "RATE_LIMIT"
)

// newLogger logs to stderr, text by default, JSON with TSSKIT_LOG_FORMAT=json.
func newLogger(w io.Writer) *slog.Logger {
	format := logFormat
	if format == "" {
		format = strings.ToLower(os.Getenv(envLogFormat))
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// logFormat is --log-format ("" until given: TSSKIT_LOG_FORMAT decides).
var logFormat string

// configError is a refusal to start, with what to do about it.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, a ...any) error { return &configError{fmt.Sprintf(format, a...)} }

// refuseJWTSecret refuses to start while JWT_SECRET_KEY is set: tokens are
// no longer signed with a shared secret, and a deployment that still sets
// one might believe something still checks it.
func refuseJWTSecret() error {
	if os.Getenv(envJWTSecret) != "" {
		return configErrorf("%s is set, but no service uses a shared secret any more: the coordinator signs tokens with its own "+
			"certified key (--signing-key, --certificate) and the other services hold only %s. Unset %s.", envJWTSecret, envTrustRoot, envJWTSecret)
	}
	return nil
}

// refuseAPIKeyOnServerParty refuses to start a server party while
// MPC_API_KEY is set: the server-party API takes the coordinator's
// per-session tokens, and the account API's key in a server party's
// environment would let that party sign every account wallet.
func refuseAPIKeyOnServerParty() error {
	if os.Getenv(envAPIKey) != "" {
		return configErrorf("%s is set, but a server party must not hold it: it is the account API's key, and the server-party API "+
			"takes the coordinator's token for each call instead. Unset %s in this party's environment.", envAPIKey, envAPIKey)
	}
	return nil
}

// loadMinter reads a signing key (an identity key file, as tsskit identity
// key writes it) and its certificate chain, and checks the chain certifies
// that key as kind under trust.
func loadMinter(keyFile, certFile string, kind identity.Kind, trust *identity.Trust) (*auth.Minter, error) {
	if keyFile == "" || certFile == "" {
		return nil, configErrorf("--signing-key and --certificate are required (env %s, %s): the %s signs tokens with its own key, "+
			"certified by the deployment root (docs/security.md)", envSigningKey, envCertificate, kind)
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, configErrorf("--signing-key: %v", err)
	}
	key, err := identity.ParsePrivateKey(b)
	clear(b)
	if err != nil {
		return nil, configErrorf("--signing-key %s: %v", keyFile, err)
	}
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, configErrorf("--certificate: %v", err)
	}
	chain, err := identity.ParseChain(cb)
	if err != nil {
		return nil, configErrorf("--certificate %s: %v", certFile, err)
	}
	if err := trust.Verify(chain, chain[0].PartyID, kind, key.Public(), time.Now()); err != nil {
		return nil, configErrorf("--certificate %s does not certify --signing-key as a %s under %s: %v", certFile, kind, envTrustRoot, err)
	}
	return auth.NewMinter(key, chain)
}

// trustFromEnv reads TSSKIT_TRUST_ROOT and TSSKIT_REVOKED. extraRoots
// (dev mode's root) are pinned too; without any root it refuses.
func trustFromEnv(extraRoots ...identity.PublicKey) (*identity.Trust, error) {
	roots := os.Getenv(envTrustRoot)
	for _, r := range extraRoots {
		roots += "," + r.String()
	}
	if strings.Trim(roots, ", ") == "" {
		return nil, configErrorf("%s is not set: give the deployment root's public key (tsskit identity init prints it); "+
			"every party checks server identities against it", envTrustRoot)
	}
	t, err := identity.ParseTrust(roots, os.Getenv(envRevoked))
	if err != nil {
		return nil, configErrorf("%s / %s: %v", envTrustRoot, envRevoked, err)
	}
	return t, nil
}

// recoveryKeysFromEnv reads TSSKIT_RECOVERY_KEYS.
func recoveryKeysFromEnv() ([]identity.PublicKey, error) {
	var out []identity.PublicKey
	for _, s := range strings.Split(os.Getenv(envRecoveryKeys), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		k, err := identity.ParsePublicKey(s)
		if err != nil || k.IsZero() {
			return nil, configErrorf("%s: %q is not an Ed25519 public key in hex (tsskit recovery backend-key prints one)", envRecoveryKeys, s)
		}
		out = append(out, k)
	}
	return out, nil
}

// apiKeyFromEnv reads MPC_API_KEY.
func apiKeyFromEnv() (string, error) {
	k := os.Getenv(envAPIKey)
	if k == "" {
		return "", configErrorf("%s is not set: the REST APIs need an API key", envAPIKey)
	}
	if len(k) < 16 {
		return "", configErrorf("%s is too short: use at least 16 characters", envAPIKey)
	}
	return k, nil
}

// allowlistFromEnv reads ALLOWED_IPS; empty is refused outside dev mode.
func allowlistFromEnv(dev bool) (*auth.Allowlist, error) {
	v := os.Getenv(envAllowedIPs)
	if strings.TrimSpace(v) == "" {
		if dev {
			return nil, nil
		}
		return nil, configErrorf("%s is not set: list the IPs or CIDRs allowed to call the REST API (e.g. 10.0.0.0/8,127.0.0.1)", envAllowedIPs)
	}
	a, err := auth.ParseAllowlist(v)
	if err != nil {
		return nil, configErrorf("%s: %v", envAllowedIPs, err)
	}
	return a, nil
}

// trustedProxiesFromEnv reads TRUSTED_PROXIES: the reverse proxies in front
// of the REST APIs whose X-Forwarded-For is believed (auth.ClientIP). Empty
// or unset trusts no one (nil), so the TCP peer is the client; a malformed
// entry is refused, naming it.
func trustedProxiesFromEnv() (*auth.Allowlist, error) {
	v := os.Getenv(envTrustedProxies)
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	a, err := auth.ParseAllowlist(v)
	if err != nil {
		return nil, configErrorf("%s: %v", envTrustedProxies, err)
	}
	return a, nil
}

// rateLimitFromEnv reads RATE_LIMIT (auth.ParseRateLimit): unset or empty is
// auth.DefaultRateLimit (10/s, burst 20), "0" or "off" disables limiting.
func rateLimitFromEnv() (auth.RateLimit, error) {
	v := os.Getenv(envRateLimit)
	if strings.TrimSpace(v) == "" {
		return auth.DefaultRateLimit, nil
	}
	l, err := auth.ParseRateLimit(v)
	if err != nil {
		return auth.RateLimit{}, configErrorf("%s: %v", envRateLimit, err)
	}
	return l, nil
}

// newFlags makes a flag set whose -h prints the command's help with the
// environment it reads.
func newFlags(name, summary, env string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Func("log-format", `"text" (the default) or "json" log lines on stderr; env `+envLogFormat, func(v string) error {
		switch v = strings.ToLower(v); v {
		case "text", "json":
			logFormat = v
			return nil
		}
		return fmt.Errorf("want text or json")
	})
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tsskit %s [flags]\n\n%s\n\nflags:\n", name, summary)
		fs.PrintDefaults()
		if env != "" {
			fmt.Fprintf(fs.Output(), "\nenvironment:\n%s\n", env)
		}
	}
	return fs
}

// proxiesAndLimitFromEnv reads TRUSTED_PROXIES and RATE_LIMIT for a REST API.
func proxiesAndLimitFromEnv() (*auth.Allowlist, *auth.RateLimit, error) {
	proxies, err := trustedProxiesFromEnv()
	if err != nil {
		return nil, nil, err
	}
	limit, err := rateLimitFromEnv()
	if err != nil {
		return nil, nil, err
	}
	return proxies, &limit, nil
}

// sessionQuotaFromEnv reads TSSKIT_SESSION_QUOTA (nil when unset: the
// coordinator's default).
func sessionQuotaFromEnv() (*auth.RateLimit, error) {
	v := os.Getenv(envQuota)
	if v == "" {
		return nil, nil
	}
	l, err := auth.ParseRateLimit(v)
	if err != nil {
		return nil, configErrorf("%s: %v", envQuota, err)
	}
	return &l, nil
}

// admitWithinFlag is the coordinator's --admit-within: the deadline
// admission control plans new sessions for (docs/scaling.md,
// "Admission"), as coordinator.Config.AdmitWithin takes it (0 off).
func admitWithinFlag(fs *flag.FlagSet) *time.Duration {
	d := new(time.Duration)
	*d = 2 * time.Minute
	fs.Func("admit-within", "a new keygen or signing is refused at once (overloaded, with a time to retry after) unless the work queued at its server parties lets it finish within this (0: admission off; default 2m)", func(v string) error {
		got, err := time.ParseDuration(v)
		switch {
		case err != nil:
			return err
		case got < 0:
			return fmt.Errorf("%s: a duration of 0 (off) or more", v)
		case got == 0:
			got = -1 // coordinator.Config: negative is off
		}
		*d = got
		return nil
	})
	return d
}
