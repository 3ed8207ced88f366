package coordinator

import (
	"context"
	"fmt"
	"math"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rwadurian/tsskit/auth"
	"github.com/rwadurian/tsskit/coordinator/store"
)

// Who may do what with the coordinator's wallet and session calls:
//
//   - an admin token: everything (operators);
//   - a user token: only the operations it carries (create_wallet, sign,
//     list_wallets), only on the wallets its user's tokens made (and, when
//     it names wallets, only those). A user's wallets are co-managed: made
//     with a client party, signed only with it. Account API wallets, and
//     wallets an admin made, are not any user token's.
//
// A wallet or session a user token may not see is "not found", whether it
// exists or not.

// DefaultSessionQuota is what one token holder may spend when
// Config.SessionQuota is nil: 60 a minute, 20 at once. A session costs one
// per server party seat it takes (each seat can cost a server party a set
// of pre-parameters), at least one.
var DefaultSessionQuota = auth.RateLimit{PerSecond: 1, Burst: 20}

// caller is the holder of an admin or user token.
type caller struct {
	claims *auth.Claims
}

func (c caller) admin() bool  { return c.claims.Kind == auth.KindAdmin }
func (c caller) user() string { return c.claims.Subject }

// callerFor requires an admin token, or a user token that carries op (""
// for calls any user token may make).
func callerFor(ctx context.Context, op string) (caller, error) {
	cl, ok := auth.FromContext(ctx)
	if !ok {
		return caller{}, status.Error(codes.Unauthenticated, "no verified token")
	}
	switch cl.Kind {
	case auth.KindAdmin:
	case auth.KindUser:
		if op != "" && !slices.Contains(cl.Ops, op) {
			return caller{}, status.Errorf(codes.PermissionDenied, "this user token does not allow %s", op)
		}
	default:
		return caller{}, status.Errorf(codes.PermissionDenied, "this call takes an admin or a user token, not a %s token", cl.Kind)
	}
	return caller{claims: cl}, nil
}

// sees reports whether the caller may see (and, with the operation, use)
// wallet w.
func (c caller) sees(w *store.Wallet) bool {
	if c.admin() {
		return true
	}
	return w.OwnerUser != "" && w.OwnerUser == c.user() && (len(c.claims.Wallets) == 0 || slices.Contains(c.claims.Wallets, w.ID))
}

// wallet is the refusal of a wallet the caller may not see.
func (c caller) wallet(w *store.Wallet) error {
	if c.sees(w) {
		return nil
	}
	return status.Error(codes.NotFound, "wallet not found")
}

// MaxUserParties bounds the parties of a keygen a user token makes: a
// user's co-managed wallet, not a way to occupy every server party.
const MaxUserParties = 5

// takeQuota spends seats (the server party seats a new session takes, at
// least one) of the caller's quota, or refuses with ResourceExhausted
// saying when to retry.
func (c *Coordinator) takeQuota(cl caller, kind store.SessionKind, seats int) error {
	if !c.quotaLimit.Enabled() {
		return nil
	}
	ok, wait := c.quota.AllowN(cl.claims.Kind+"\x00"+cl.claims.Subject, max(seats, 1))
	if ok {
		return nil
	}
	c.cfg.Metrics.SessionRefused(string(kind), "quota")
	return status.Errorf(codes.ResourceExhausted, "resource_exhausted: this token's holder may take %s server party seats in new sessions; retry in %ds",
		quotaText(c.quotaLimit), int(math.Ceil(wait.Seconds())))
}

func quotaText(l auth.RateLimit) string {
	return fmt.Sprintf("%.4g a minute, %d at once", l.PerSecond*60, max(l.Burst, 1))
}

// seesSession reports whether the caller may see a session of wallet
// walletID that its user's token created (ownerUser).
func (c caller) seesSession(ownerUser, walletID string, keygen bool) bool {
	if c.admin() {
		return true
	}
	if ownerUser == "" || ownerUser != c.user() {
		return false
	}
	if len(c.claims.Wallets) == 0 {
		return true
	}
	// A token limited to some wallets sees their signings, never a keygen.
	return !keygen && slices.Contains(c.claims.Wallets, walletID)
}
