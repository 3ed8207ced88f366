package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rwadurian/tsskit/auth"
)

func TestRequire(t *testing.T) {
	party := &auth.Claims{Kind: auth.KindParty, Subject: "server-1", Session: "sess-1"}
	service := &auth.Claims{Kind: auth.KindService, Subject: "coordinator"}
	admin := &auth.Claims{Kind: auth.KindAdmin, Subject: "alice"}
	tests := []struct {
		name string
		c    *auth.Claims
		kind string
		want error
	}{
		{"party ok", party, auth.KindParty, nil},
		{"service ok", service, auth.KindService, nil},
		{"admin ok", admin, auth.KindAdmin, nil},
		{"party as admin", party, auth.KindAdmin, auth.ErrWrongKind},
		{"service as admin", service, auth.KindAdmin, auth.ErrWrongKind},
		{"admin as service", admin, auth.KindService, auth.ErrWrongKind},
		{"nil claims", nil, auth.KindAdmin, auth.ErrWrongKind},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Require(tt.kind)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Require = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRequireParty(t *testing.T) {
	party := &auth.Claims{Kind: auth.KindParty, Subject: "server-1", Session: "sess-1"}
	tests := []struct {
		name           string
		c              *auth.Claims
		session, party string
		want           error
	}{
		{"match", party, "sess-1", "server-1", nil},
		{"other session", party, "sess-2", "server-1", auth.ErrForbidden},
		{"other party", party, "sess-1", "server-2", auth.ErrForbidden},
		{"both other", party, "sess-2", "server-2", auth.ErrForbidden},
		{"session is party", party, "server-1", "sess-1", auth.ErrForbidden},
		{"empty session", party, "", "server-1", auth.ErrForbidden},
		{"empty party", party, "sess-1", "", auth.ErrForbidden},
		{"case differs", party, "SESS-1", "server-1", auth.ErrForbidden},
		{"service token", &auth.Claims{Kind: auth.KindService, Subject: "server-1"}, "sess-1", "server-1", auth.ErrWrongKind},
		{"admin token", &auth.Claims{Kind: auth.KindAdmin, Subject: "server-1", Session: "sess-1"}, "sess-1", "server-1", auth.ErrWrongKind},
		{"nil", nil, "sess-1", "server-1", auth.ErrWrongKind},
		{"empty claims, empty args", &auth.Claims{Kind: auth.KindParty}, "", "", auth.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.RequireParty(tt.session, tt.party)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("RequireParty = %v, want %v", err, tt.want)
			}
			if tt.want == auth.ErrForbidden && errors.Is(err, auth.ErrWrongKind) {
				t.Fatalf("forbidden error also matches ErrWrongKind")
			}
		})
	}
}

func TestRequirePartyFromVerifiedToken(t *testing.T) {
	d := newDeployment(t)
	tok, err := d.coord.MintParty("sess-1", "server-2", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.verifier.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RequireParty("sess-1", "server-2"); err != nil {
		t.Fatal(err)
	}
	if err := c.RequireParty("sess-1", "server-1"); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("impersonation: %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"bEaReR abc", "abc", true},
		{"Bearer   abc", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer    ", "", false},
		{"Bearerabc", "", false},
		{"Bearer\tabc", "", false},
		{"Basic abc", "", false},
		{"abc", "", false},
		{"", "", false},
		{"Bearer abc def", "", false},
		{"Bearer abc ", "", false},
		{" Bearer abc", "", false},
		{"Token abc", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := auth.BearerToken(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("BearerToken(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if c, ok := auth.FromContext(ctx); ok || c != nil {
		t.Fatalf("empty context: %v, %v", c, ok)
	}
	want := &auth.Claims{Kind: auth.KindService, Subject: "router"}
	got, ok := auth.FromContext(auth.NewContext(ctx, want))
	if !ok || got != want {
		t.Fatalf("FromContext = %v, %v", got, ok)
	}
	if c, ok := auth.FromContext(auth.NewContext(ctx, nil)); ok || c != nil {
		t.Fatalf("nil claims stored: %v, %v", c, ok)
	}
}
