package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/clock/clocktest"
	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// SiteEngine is what a small site's own administration needs of an engine:
// the system administrator's way back in, and the site's help desk.
type SiteEngine interface {
	Engine
	SystemAdminLink(ctx context.Context, linkHash []byte, registerTTL, resetTTL time.Duration, reset bool, events ...cqrs.AuditEvent) (cqrs.User, cqrs.Link, error)
	HelpDesk(ctx context.Context) (cqrs.HelpDesk, error)
	SetHelpDesk(ctx context.Context, h cqrs.HelpDesk, events ...cqrs.AuditEvent) error
}

func siteEngine(t *testing.T, e Engine) SiteEngine {
	t.Helper()
	s, ok := e.(SiteEngine)
	if !ok {
		t.Fatalf("%T lacks the site's methods (SiteEngine)", e)
	}
	return s
}

func testSite(t *testing.T, cfg Config) {
	t.Run("the system administrator's link", func(t *testing.T) { testSystemAdminLink(t, cfg) })
	t.Run("the help desk", func(t *testing.T) { testHelpDesk(t, cfg) })
}

// testHelpDesk: none until set (the national one is the caller's), kept
// across a restart, replaced whole, back to none with the zero value, and
// each change audited with it.
func testHelpDesk(t *testing.T, cfg Config) {
	clk := clocktest.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	var e Engine = siteEngine(t, cfg.Open(t, clk.Now))
	site := func() SiteEngine { return siteEngine(t, e) }
	if _, err := site().HelpDesk(t.Context()); !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("a new database's help desk: %v, want ErrNotFound", err)
	}
	riverside := cqrs.HelpDesk{Email: "it@riverside.nhs.uk", Phone: "0113 496 0000", Hours: "9am-5pm Mon-Fri"}
	if err := site().SetHelpDesk(t.Context(), riverside, cqrs.AuditEvent{Type: "help-desk-changed", Subject: "admin.jones"}); err != nil {
		t.Fatal(err)
	}
	e = cfg.Reopen(t, e)
	if got, err := site().HelpDesk(t.Context()); err != nil || got != riverside {
		t.Fatalf("after a restart: %+v, %v; want %+v", got, err, riverside)
	}
	moved := cqrs.HelpDesk{Email: "help@hillside.nhs.uk", Phone: "+44 113 496 0001", Hours: "24 hours"}
	if err := site().SetHelpDesk(t.Context(), moved, cqrs.AuditEvent{Type: "help-desk-changed", Subject: "admin.jones"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := site().HelpDesk(t.Context()); got != moved {
		t.Fatalf("replaced: %+v, want %+v", got, moved)
	}
	if err := site().SetHelpDesk(t.Context(), cqrs.HelpDesk{}, cqrs.AuditEvent{Type: "help-desk-changed", Subject: "admin.jones"}); err != nil {
		t.Fatal(err)
	}
	if _, err := site().HelpDesk(t.Context()); !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("back to the national help desk: %v, want ErrNotFound", err)
	}
	if _, n, _ := e.AuditEvents(t.Context(), cqrs.AuditFilter{Type: "help-desk-changed"}); n != 3 {
		t.Errorf("%d help-desk-changed entries, want 3", n)
	}
}

// testSystemAdminLink: until the system administrator has a password a
// start makes a registration link for them (each one working); afterwards
// only the recovery command's reset link, and never for anyone else.
func testSystemAdminLink(t *testing.T, cfg Config) {
	clk := clocktest.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	e := siteEngine(t, cfg.Open(t, clk.Now))
	if _, _, err := e.SystemAdminLink(t.Context(), hash("before"), time.Hour, time.Hour, false); !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("before set-up: %v, want ErrNotFound", err)
	}
	if err := e.SetSetupToken(t.Context(), hash("setup")); err != nil {
		t.Fatal(err)
	}
	admin, err := e.CompleteSetup(t.Context(), hash("setup"), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"},
		cqrs.User{UserID: "admin.jones", Email: "admin.jones@nhs.net"}, hash("setup-link"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// A user administrator without a password is nobody's way in.
	if _, err := e.CreateUser(t.Context(), cqrs.User{UserID: "ua.smith", Email: "ua.smith@nhs.net", OrgID: admin.OrgID, Role: cqrs.RoleUserAdmin},
		hash("ua-link"), time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour) // the set-up's own link has expired
	u, link, err := e.SystemAdminLink(t.Context(), hash("start-1"), 24*time.Hour, time.Hour, false, cqrs.AuditEvent{Type: "link-sent"})
	if err != nil {
		t.Fatalf("unfinished set-up: %v", err)
	}
	if u.ID != admin.ID || link.Purpose != cqrs.LinkRegister || !link.Expires.Equal(clk.Now().Add(24*time.Hour)) {
		t.Fatalf("link for %s: %+v", u.UserID, link)
	}
	if _, _, err := e.SystemAdminLink(t.Context(), hash("start-2"), 24*time.Hour, time.Hour, false); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if _, lu, err := e.LinkUser(t.Context(), hash("start-1"), cqrs.LinkRegister); err != nil && !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("first start's link: %v", err)
	} else if err == nil && lu.ID != admin.ID {
		t.Fatalf("first start's link is %s's", lu.UserID)
	}
	if u, err := e.User(t.Context(), admin.ID); err != nil || u.Invitation(clk.Now()) != cqrs.InvitePending {
		t.Fatalf("invitation after the start's link: %v %q", err, u.Invitation(clk.Now()))
	}
	if _, err := e.SetPasswordWithLink(t.Context(), hash("start-2"), cqrs.LinkRegister, "hash:admin", nil); err != nil {
		t.Fatalf("the newest link: %v", err)
	}
	if _, _, err := e.SystemAdminLink(t.Context(), hash("start-3"), 24*time.Hour, time.Hour, false); !errors.Is(err, cqrs.ErrConflict) {
		t.Fatalf("a start after set-up: %v, want ErrConflict", err)
	}
	if _, _, err := e.LinkUser(t.Context(), hash("start-3"), cqrs.LinkRegister); !errors.Is(err, cqrs.ErrNotFound) {
		t.Fatalf("a refused start stored its link: %v", err)
	}
	u, link, err = e.SystemAdminLink(t.Context(), hash("recover"), 24*time.Hour, time.Hour, true)
	if err != nil || u.ID != admin.ID || link.Purpose != cqrs.LinkReset || !link.Expires.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("recovery link: %v %+v", err, link)
	}
	if _, err := e.SetPasswordWithLink(t.Context(), hash("recover"), cqrs.LinkReset, "hash:admin-2", nil); err != nil {
		t.Fatalf("the recovery link: %v", err)
	}
	if _, n, _ := e.AuditEvents(t.Context(), cqrs.AuditFilter{Type: "link-sent"}); n != 1 {
		t.Errorf("%d link-sent entries, want 1", n)
	}
}
