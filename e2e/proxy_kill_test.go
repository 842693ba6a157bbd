package e2e

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/store/postgres"
)

// kill ends instance i with SIGKILL, as a computer failing would: no
// drain, no goodbye. Its cleanup then has nothing to stop.
func (s *site) kill(i int) {
	s.t.Helper()
	p := s.procs[i]
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		s.t.Fatalf("instance %d still runs 10s after SIGKILL", i+1)
	}
	p.stopOnce.Do(func() {})
}

// TestProxyInstanceKilledMidJourney: a person is half-way through a
// journey when an instance dies (SIGKILL), and finishes it through the
// proxy on the others: registration between the emailed link's Security
// Information page and its submit, and NHSmail single sign-on between the
// simulator's page and the callback. What the site acknowledged before
// (the user set up, the password registered) is all there afterwards.
func TestProxyInstanceKilledMidJourney(t *testing.T) {
	s := startSite(t)
	parent, cancel := context.WithTimeout(context.Background(), 2*journeyTimeout)
	t.Cleanup(cancel)
	ctx := newBrowser(t, parent)
	pub := s.publicURL

	firstRunSetUp(t, ctx, s.setupURL)
	legacySignIn(t, ctx, pub, adminUserID, adminPassword)
	sam := newUser{UserID: "sam.patel", FirstName: "Sam", LastName: "Patel", WorkPhone: "0113 496 0001", Email: "sam.patel@nhs.net"}
	samNHSmail := nhsmailAccount{Email: "sam.patel@nhs.net", FirstName: "Sam", LastName: "Patel", Password: "Simulator#1"}
	setUpUser(t, ctx, pub, sam, "")
	addNHSmailAccount(t, ctx, pub, samNHSmail)

	// Registration: the emailed link's Security Information page is open
	// when the first instance dies; sam submits it all the same.
	openMailbox(t, ctx, pub)
	link := openEmail(t, ctx, sam.Email, "Complete your CQRS registration")
	samCtx := newIsolatedTab(t, ctx)
	step(t, samCtx, "follow the registration link", chromedp.Navigate(link), chromedp.WaitVisible(tid("security-information")))
	s.kill(0)
	setPassword(t, samCtx, sam.UserID, "Harbour#Lights42", "")
	legacySignIn(t, samCtx, pub, sam.UserID, "Harbour#Lights42")
	signOut(t, samCtx)

	// NHSmail: the simulator's sign-in page is open when the second
	// instance dies; sam signs in there and lands in the Message Centre
	// through the one instance left.
	startNHSmailSignIn(t, samCtx, pub)
	s.kill(1)
	nhsmailSignIn(t, samCtx, samNHSmail.Email, samNHSmail.Password)
	step(t, samCtx, "wait for sam's Message Centre after NHSmail sign-in", chromedp.WaitVisible(tid("message-centre-heading")))
	if got := textOf(t, samCtx, "signed-in-as"); got != "Sam Patel (sam.patel)" {
		t.Errorf("signed in with NHSmail as %q", got)
	}

	// The two come back; the session sam has is served by every instance.
	s.start(0)
	s.start(1)
	time.Sleep(1500 * time.Millisecond) // the proxy's two good checks
	for i := 0; i < 3; i++ {
		step(t, samCtx, "sam's Message Centre again", chromedp.Navigate(pub+"/messages"), chromedp.WaitVisible(tid("message-centre-heading")))
	}

	st, err := postgres.Open(context.Background(), s.dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByUserID(t.Context(), sam.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if u.State() != cqrs.StateActive || len(u.PasswordHash) == 0 {
		t.Errorf("sam after registering through a dying instance: state %q, password kept %v", u.State(), len(u.PasswordHash) > 0)
	}
	if _, n, _ := st.AuditEvents(t.Context(), cqrs.AuditFilter{Subject: sam.UserID}); n == 0 {
		t.Error("no audit entries about sam")
	}
	for i, p := range s.procs[:2] {
		if strings.Contains(p.Stderr.String(), "panic") {
			t.Errorf("instance %d after its restart:\n%s", i+1, p.Stderr.String())
		}
	}
}
