package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/cqrs-local/cqrs-signin/store/storetest"
)

// startOnPostgres runs the app against the database like startApp, and
// waits for its set-up link (each instance that starts before anyone is
// set up prints one) and address.
func startOnPostgres(t *testing.T, dsn string) *testApp {
	t.Helper()
	a := &testApp{}
	a.Stdout, a.Stderr = runApp(t, []string{"--no-browser", "--addr", "127.0.0.1:0", "--data", t.TempDir() + "/unused.db", "--database", dsn},
		15*time.Second, func(out string) bool {
			setup, running := setupLineRE.FindStringSubmatch(out), runningLineRE.FindStringSubmatch(out)
			if setup == nil || running == nil {
				return false
			}
			a.SetupURL, a.BaseURL = setup[1], running[1]
			return true
		})
	return a
}

// onPostgresSuffix ends the name of a journey's PostgreSQL twin: the same
// journey (first run, registration, legacy sign-in, lockout, forgotten
// password, NHSmail sign-in, administration), as a site with several
// instances runs it.
const onPostgresSuffix = "OnPostgres"

// onPostgres is the flags that keep a journey's app in PostgreSQL, in an
// empty schema of its own (skipped without $POSTGRES_TEST_URL, failing
// under CI=true). The twins run in parallel with each other, after the
// other tests, so they add about half their time to the package's.
func onPostgres(t *testing.T) []string {
	t.Helper()
	if !strings.HasSuffix(t.Name(), onPostgresSuffix) {
		t.Fatalf("%s: a PostgreSQL twin's name ends %q (its screenshots are left to the bbolt run)", t.Name(), onPostgresSuffix)
	}
	t.Parallel()
	return []string{"--database", storetest.PostgresDSN(t)}
}

// journeyBudget is d, the time a journey may take, or twice d for a
// PostgreSQL twin: the twins run two at a time, each with its own browser
// and app on the same cores as the other's, besides the database's work.
func journeyBudget(t *testing.T, d time.Duration) time.Duration {
	if strings.HasSuffix(t.Name(), onPostgresSuffix) {
		return 2 * d
	}
	return d
}

// Journey: a site on PostgreSQL with two instances, used by one browser
// as if they were one: set-up and registration on the first, legacy
// sign-in and the Message Centre on the second, a user set up there who
// registers from its email and signs in on the first, with a password and
// then with NHSmail, and whose session is valid on both.
func TestPostgresJourney(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	first, second := startOnPostgres(t, dsn), startOnPostgres(t, dsn)
	parent, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	t.Cleanup(cancel)
	ctx := newBrowser(t, parent)

	firstRunSetUp(t, ctx, first.SetupURL)
	legacySignIn(t, ctx, second.BaseURL, adminUserID, adminPassword)
	wantTexts(t, "the administrator's message list", textOf(t, ctx, "message-list"), "Welcome to CQRS")
	step(t, ctx, "the second instance's set-up link is spent with the first's",
		chromedp.Navigate(second.SetupURL),
		chromedp.WaitVisible(tid("login-heading")+`, h1`),
	)
	if loc := location(t, ctx); loc == second.SetupURL && textOf(t, ctx, "setup-heading") != "" {
		t.Fatal("the second set-up link still offers set-up")
	}

	sam := newUser{UserID: "sam.patel", FirstName: "Sam", LastName: "Patel", WorkPhone: "0113 496 0001", Email: "sam.patel@nhs.net"}
	setUpUser(t, ctx, second.BaseURL, sam, "")
	// The email's link names the instance that wrote it (behind a load
	// balancer, both would name the site's one address).
	samCtx := registerFromMailbox(t, ctx, second.BaseURL, sam, "Harbour#Lights42")
	legacySignIn(t, samCtx, first.BaseURL, sam.UserID, "Harbour#Lights42")
	wantTexts(t, "sam's message list", textOf(t, samCtx, "message-list"), "Welcome to CQRS")
	signOut(t, samCtx)

	samNHSmail := nhsmailAccount{Email: "sam.patel@nhs.net", FirstName: "Sam", LastName: "Patel", Password: "Simulator#1"}
	addNHSmailAccount(t, ctx, first.BaseURL, samNHSmail)
	startNHSmailSignIn(t, samCtx, first.BaseURL)
	nhsmailSignIn(t, samCtx, samNHSmail.Email, samNHSmail.Password)
	step(t, samCtx, "wait for sam's Message Centre after NHSmail", chromedp.WaitVisible(tid("message-centre-heading")))
	step(t, samCtx, "the NHSmail session is valid on the other instance",
		chromedp.Navigate(second.BaseURL+"/messages"),
		chromedp.WaitVisible(tid("message-centre-heading")),
	)
}
