package handlers

import (
	"fmt"
	"net/http/cookiejar"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/nhsmail"
)

// Who may do what: one row per route of the app's own route list, one
// answer per role. A route without a row fails the test, so a new route
// cannot go unconsidered: add its row (one line) with the answer each role
// must get.
//
// An answer is a status ("200", "403", "404", "422" …), "login" (a
// redirect to the CQRS Login page) or "303 /somewhere" (a redirect there).
// POST rows send only a valid CSRF token, so an allowed role reaches the
// handler and gets its validation answer, and nothing is changed.
//
// The roles: a visitor (anon), a plain user, a User Administrator of the
// system administrator's organisation and one of another organisation,
// the system administrator, a learner in training mode, and someone with
// the instance token (the backup subcommand) right or wrong (the role
// names of scenario_test.go). The token columns are the visitor's answer
// unless a row says otherwise.

// answers is one row's expected answer per role.
type answers struct {
	anon, user, sameOrgAdmin, otherOrgAdmin, sysAdmin, learner string
	tokenRight, tokenWrong                                     string
}

// every is the same answer for every role.
func every(a string) answers { return answers{a, a, a, a, a, a, a, a} }

// as is a row's answers with the token columns as the visitor's.
func as(anon, user, sameOrgAdmin, otherOrgAdmin, sysAdmin, learner string) answers {
	return answers{anon, user, sameOrgAdmin, otherOrgAdmin, sysAdmin, learner, anon, anon}
}

// accessRow is a route ("METHOD /pattern" as the app lists it; "*" for a
// route answering every method), the address the test asks for ({user},
// {org}, {email}, {learnerEmail}, {nhsmail} are filled in) and the answers.
type accessRow struct {
	route, path string
	want        answers
}

var accessTable = []accessRow{
	// {route, address, as(visitor, user, same-org User Administrator, other-org User Administrator, system administrator, learner)}
	{"GET /healthz", "/healthz", every("200")},
	{"GET /readyz", "/readyz", every("200")},
	{"GET /internal/backup", "/internal/backup", answers{"403", "403", "403", "403", "403", "403", "200", "403"}},
	{"* /nhsmail/*", "/nhsmail/.well-known/openid-configuration", every("200")},
	{"GET /", "/", as("login", "303 /messages", "303 /messages", "303 /messages", "303 /messages", "login")},
	{"GET /help", "/help", every("200")},
	{"GET /login", "/login", as("200", "303 /messages", "303 /messages", "303 /messages", "303 /messages", "200")},
	{"POST /login", "/login", every("401")},
	{"GET /sso/start", "/sso/start", every("503")},
	{"GET /sso/callback", "/sso/callback", every("404")},
	{"GET /sso/no-account", "/sso/no-account", every("404")},
	{"GET /sso/locked", "/sso/locked", every("404")},
	{"GET /sso/linked-elsewhere", "/sso/linked-elsewhere", every("404")},
	{"GET /forgotten", "/forgotten", every("200")},
	{"POST /forgotten", "/forgotten", every("422")},
	{"POST /signout", "/signout", every("login")},
	{"GET /login/second-factor", "/login/second-factor", as("410", "303 /messages", "303 /messages", "303 /messages", "303 /messages", "410")},
	{"POST /login/second-factor", "/login/second-factor", every("410")},
	{"POST /login/second-factor/passkey/options", "/login/second-factor/passkey/options", every("410")},
	{"POST /login/second-factor/passkey", "/login/second-factor/passkey", every("410")},
	{"POST /login/passkey/options", "/login/passkey/options", every("409")},
	{"POST /login/passkey", "/login/passkey", every("409")},
	{"GET /setup", "/setup", every("410")},
	{"POST /setup", "/setup", every("410")},
	{"GET /register", "/register", every("404")},
	{"POST /register", "/register", every("404")},
	{"POST /register/check", "/register/check", every("204")},
	{"GET /register/complete", "/register/complete", every("login")},
	{"GET /reset", "/reset", every("404")},
	{"POST /reset", "/reset", every("404")},
	{"POST /reset/check", "/reset/check", every("204")},
	{"GET /reset/complete", "/reset/complete", every("login")},
	{"GET /messages", "/messages", as("login", "200", "200", "200", "200", "login")},
	{"POST /messages/send", "/messages/send", as("login", "403", "422", "422", "422", "login")},
	{"GET /messages/:id", "/messages/999999", as("login", "404", "404", "404", "404", "login")},
	{"GET /messages/:id/delete", "/messages/999999/delete", as("login", "404", "404", "404", "404", "login")},
	{"POST /messages/:id/delete", "/messages/999999/delete", as("login", "404", "404", "404", "404", "login")},
	{"GET /account", "/account", as("login", "200", "200", "200", "200", "login")},
	{"POST /account/password", "/account/password", as("login", "422", "422", "422", "422", "login")},
	{"POST /account/password/check", "/account/password/check", as("login", "200", "200", "200", "200", "login")},
	{"GET /account/second-factor", "/account/second-factor", as("login", "200", "200", "200", "200", "login")},
	{"GET /account/second-factor/recovery-codes", "/account/second-factor/recovery-codes", as("login", "303 /account/second-factor", "303 /account/second-factor", "303 /account/second-factor", "303 /account/second-factor", "login")},
	{"POST /account/second-factor/recovery-codes", "/account/second-factor/recovery-codes", as("login", "409", "409", "409", "409", "login")},
	{"GET /account/passkeys", "/account/passkeys", as("login", "200", "200", "200", "200", "login")},
	{"POST /account/passkeys/options", "/account/passkeys/options", as("login", "409", "409", "409", "409", "login")},
	{"POST /account/passkeys", "/account/passkeys", as("login", "409", "409", "409", "409", "login")},
	{"POST /account/passkeys/:id/name", "/account/passkeys/AAAA/name", as("login", "404", "404", "404", "404", "login")},
	{"GET /account/passkeys/:id/remove", "/account/passkeys/AAAA/remove", as("login", "404", "404", "404", "404", "login")},
	{"POST /account/passkeys/:id/remove", "/account/passkeys/AAAA/remove", as("login", "404", "404", "404", "404", "login")},
	{"GET /admin", "/admin", as("login", "403", "303 /admin/users", "303 /admin/users", "303 /admin/users", "login")},
	{"GET /admin/users", "/admin/users", as("login", "403", "200", "200", "200", "login")},
	{"GET /admin/users/new", "/admin/users/new", as("login", "403", "200", "200", "200", "login")},
	{"POST /admin/users", "/admin/users", as("login", "403", "422", "422", "422", "login")},
	{"GET /admin/users/:id", "/admin/users/{user}", as("login", "403", "200", "404", "200", "login")},
	{"POST /admin/users/:id", "/admin/users/{user}", as("login", "403", "422", "404", "422", "login")},
	{"GET /admin/users/:id/disable", "/admin/users/{target}/disable", as("login", "403", "200", "404", "200", "login")},
	{"POST /admin/users/:id/disable", "/admin/users/{target}/disable", as("login", "403", "303 /admin/users/{target}", "404", "303 /admin/users/{target}", "login")},
	{"POST /admin/users/:id/enable", "/admin/users/{target}/enable", as("login", "403", "303 /admin/users/{target}", "404", "303 /admin/users/{target}", "login")},
	{"POST /admin/users/:id/unlock", "/admin/users/{target}/unlock", as("login", "403", "303 /admin/users/{target}", "404", "303 /admin/users/{target}", "login")},
	{"POST /admin/users/:id/resend", "/admin/users/{target}/resend", as("login", "403", "409", "404", "409", "login")}, // registered: no invitation
	// Not linked, registered: nothing to ask, back to the user's page.
	{"GET /admin/users/:id/unlink", "/admin/users/{target}/unlink", as("login", "403", "303 /admin/users/{target}", "404", "303 /admin/users/{target}", "login")},
	{"POST /admin/users/:id/unlink", "/admin/users/{target}/unlink", as("login", "403", "303 /admin/users/{target}", "404", "303 /admin/users/{target}", "login")},
	{"GET /admin/users/:id/revoke", "/admin/users/{target}/revoke", as("login", "403", "303 /admin/users/{target}", "404", "303 /admin/users/{target}", "login")},
	{"POST /admin/users/:id/revoke", "/admin/users/{target}/revoke", as("login", "403", "409", "404", "409", "login")}, // registered: no invitation
	{"POST /admin/users/:id/reset", "/admin/users/{target}/reset", as("login", "403", "303 /admin/users/{target}", "404", "303 /admin/users/{target}", "login")},
	{"GET /admin/users/:id/second-factor/reset", "/admin/users/{target}/second-factor/reset", as("login", "403", "303 /admin/users/{target}", "404", "303 /admin/users/{target}", "login")}, // not set up: back to the page
	{"POST /admin/users/:id/second-factor/reset", "/admin/users/{target}/second-factor/reset", as("login", "403", "409", "404", "409", "login")},                                            // not set up: nothing to reset
	{"GET /admin/organisations", "/admin/organisations", as("login", "403", "403", "403", "200", "login")},
	{"POST /admin/organisations", "/admin/organisations", as("login", "403", "403", "403", "422", "login")},
	{"GET /admin/organisations/:id", "/admin/organisations/{org}", as("login", "403", "403", "403", "200", "login")},
	{"POST /admin/organisations/:id", "/admin/organisations/{org}", as("login", "403", "403", "403", "422", "login")},
	{"GET /admin/helpdesk", "/admin/helpdesk", as("login", "403", "403", "403", "200", "login")},
	// (This table runs in training mode, whose help desk is the national one: 409.)
	{"POST /admin/helpdesk", "/admin/helpdesk", as("login", "403", "403", "403", "409", "login")},
	{"GET /admin/nhsmail", "/admin/nhsmail", as("login", "403", "403", "403", "200", "login")},
	{"POST /admin/nhsmail", "/admin/nhsmail", as("login", "403", "403", "403", "422", "login")},
	{"POST /admin/nhsmail/:id/password", "/admin/nhsmail/{nhsmail}/password", as("login", "403", "403", "403", "422", "login")},
	{"GET /admin/nhsmail/:id/disabled", "/admin/nhsmail/{nhsmail}/disabled", as("login", "403", "403", "403", "200", "login")},
	{"POST /admin/nhsmail/:id/disabled", "/admin/nhsmail/{nhsmail}/disabled", as("login", "403", "403", "403", "303 /admin/nhsmail", "login")},
	{"POST /admin/nhsmail/:id/locked", "/admin/nhsmail/{nhsmail}/locked", as("login", "403", "403", "403", "303 /admin/nhsmail", "login")},
	{"POST /admin/nhsmail/:id/consent", "/admin/nhsmail/{nhsmail}/consent", as("login", "403", "403", "403", "303 /admin/nhsmail", "login")},
	{"POST /admin/nhsmail/:id/mfa", "/admin/nhsmail/{nhsmail}/mfa", as("login", "403", "403", "403", "303 /admin/nhsmail", "login")},
	{"POST /admin/nhsmail/signing-key", "/admin/nhsmail/signing-key", as("login", "403", "403", "403", "303 /admin/nhsmail", "login")},
	{"GET /admin/nhsmail/applications", "/admin/nhsmail/applications", as("login", "403", "403", "403", "200", "login")},
	{"POST /admin/nhsmail/applications", "/admin/nhsmail/applications", as("login", "403", "403", "403", "422", "login")},
	{"GET /admin/nhsmail/applications/:client/delete", "/admin/nhsmail/applications/no-such-client/delete", as("login", "403", "403", "403", "404", "login")},
	{"POST /admin/nhsmail/applications/:client/delete", "/admin/nhsmail/applications/no-such-client/delete", as("login", "403", "403", "403", "404", "login")},
	{"GET /admin/backup", "/admin/backup", as("login", "403", "403", "403", "200", "login")},
	{"GET /admin/audit", "/admin/audit", as("login", "403", "200", "200", "200", "login")},
	{"GET /admin/audit.csv", "/admin/audit.csv", as("login", "403", "200", "200", "200", "login")},
	{"GET /mailbox", "/mailbox", as("login", "403", "200", "200", "200", "login")},
	{"GET /mailbox/:id", "/mailbox/{email}", as("login", "403", "200", "404", "200", "login")},
	{"GET /training", "/training", every("200")},
	{"POST /training/learners", "/training/learners", as("200", "200", "200", "200", "200", "303 /training")},
	{"GET /training/join", "/training/join", every("404")},
	{"POST /training/learner/nhsmail-password", "/training/learner/nhsmail-password", as("303 /training", "303 /training", "303 /training", "303 /training", "303 /training", "200")},
	{"GET /training/mailbox", "/training/mailbox", as("303 /training", "303 /training", "303 /training", "303 /training", "303 /training", "200")},
	{"GET /training/mailbox/:id", "/training/mailbox/{learnerEmail}", as("303 /training", "303 /training", "303 /training", "303 /training", "303 /training", "200")},
	{"POST /training/jobaid", "/training/jobaid", every("303 /training")},
	{"GET /training/trainer", "/training/trainer", as("login", "403", "403", "403", "200", "login")},
	{"POST /training/trainer/reset", "/training/trainer/reset", as("login", "403", "403", "403", "422", "login")},
	{"POST /training/trainer/clock", "/training/trainer/clock", as("login", "403", "403", "403", "400", "login")},
	{"POST /training/trainer/cohort", "/training/trainer/cohort", as("login", "403", "403", "403", "200", "login")},
	{"POST /training/trainer/snapshots", "/training/trainer/snapshots", as("login", "403", "403", "403", "422", "login")},
	{"POST /training/trainer/snapshots/restore", "/training/trainer/snapshots/restore", as("login", "403", "403", "403", "404", "login")},
	{"GET /join", "/join", as("200", "200", "200", "200", "200", "303 /training")},
	{"POST /join", "/join", as("422", "422", "422", "422", "422", "303 /training")},
	{"GET /training/board/join", "/training/board/join", as("login", "403", "403", "403", "200", "login")},
	{"GET /training/board", "/training/board", as("login", "403", "403", "403", "200", "login")},
	{"GET /training/board/rows", "/training/board/rows", as("login", "403", "403", "403", "200", "login")},
	{"GET /training/board.csv", "/training/board.csv", as("login", "403", "403", "403", "200", "login")},
	{"POST /training/trainer/learners/:id/clock-72h", "/training/trainer/learners/999999/clock-72h", as("login", "403", "403", "403", "404", "login")},
	{"POST /training/trainer/learners/:id/clock-14d", "/training/trainer/learners/999999/clock-14d", as("login", "403", "403", "403", "404", "login")},
	{"POST /training/trainer/learners/:id/lock", "/training/trainer/learners/999999/lock", as("login", "403", "403", "403", "404", "login")},
	{"POST /training/trainer/learners/:id/expire-link", "/training/trainer/learners/999999/expire-link", as("login", "403", "403", "403", "404", "login")},
	{"POST /training/trainer/learners/:id/nocqrs", "/training/trainer/learners/999999/nocqrs", as("login", "403", "403", "403", "404", "login")},
	{"POST /training/trainer/learners/:id/lock-nhsmail", "/training/trainer/learners/999999/lock-nhsmail", as("login", "403", "403", "403", "404", "login")},
	{"POST /training/trainer/learners/:id/reset", "/training/trainer/learners/999999/reset", as("login", "403", "403", "403", "404", "login")},
	{"POST /training/trainer/learners/:id/mfa-timeout", "/training/trainer/learners/999999/mfa-timeout", as("login", "403", "403", "403", "404", "login")},
	{"POST /training/trainer/learners/:id/mfa-deny", "/training/trainer/learners/999999/mfa-deny", as("login", "403", "403", "403", "404", "login")},
	{"POST /training/trainer/learners/:id/mfa-phone-changed", "/training/trainer/learners/999999/mfa-phone-changed", as("login", "403", "403", "403", "404", "login")},
	{"GET /training/phone", "/training/phone", as("404", "404", "404", "404", "404", "200")},
}

// accessEnv is the app with every route it can have: training mode (the
// learner's and trainer's routes) and the embedded NHSmail simulator.
type accessEnv struct {
	*testEnv
	passwords map[string]string // User ID → password, for fresh sign-ins
	learner   *cookiejar.Jar    // a learner's cookies
	vars      map[string]string // {user}, {org} … in paths and answers
}

const instanceTokenForTests = "the-right-instance-token"

func newAccessEnv(t *testing.T) *accessEnv {
	e := newEnv(t, func(c *Config) {
		c.Training, c.TrainerPassword = true, NewTrainerPassword()
		c.SignInRateLimit, c.ResetRateLimit, c.LearnerRateLimit = 0, 0, 0
		c.InstanceToken = instanceTokenForTests
	})
	clientSecret, err := e.store.NHSmailClientSecret(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sim, err := nhsmail.New(t.Context(), nilLogger(), nhsmail.Config{Issuer: "http://" + testHost + "/nhsmail", ClientID: "cqrs", ClientSecret: clientSecret,
		RedirectURIs: []string{"http://" + testHost + "/sso/callback"}, JobAid: true, Now: e.cfg.Now}, e.store, e.hasher)
	if err != nil {
		t.Fatal(err)
	}
	e.app = e.start(nilLogger(), e.cfg, e.deps(Deps{Hasher: e.hasher, NHSmail: sim, NHSmailDirectory: e.store}))
	training, err := e.trainingOrg()
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.store.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Hillside Surgery", ODSCode: "B82001"})
	if err != nil {
		t.Fatal(err)
	}
	e.addUserWithRole(other.ID, "hill.admin", "Harbour!2026x", cqrs.RoleUserAdmin)
	active, _ := e.store.UserByUserID(t.Context(), "trn.active")
	// The administrators' actions change their user: one no role signs in as.
	target := e.addUser(training.ID, "trn.target", "Harbour!2026x")
	invited, _ := e.store.UserByUserID(t.Context(), "trn.invited")
	invitation, err := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: invited.ID, Limit: 1})
	if err != nil || len(invitation) != 1 || invitation[0].OrgID != training.ID {
		t.Fatalf("no registration email to trn.invited: %v", err)
	}
	amy, err := e.store.NHSmailAccountByEmail(t.Context(), "amy.active@nhs.net")
	if err != nil {
		t.Fatal(err)
	}
	learner := e.client()
	learnerID, _ := learner.startLearner()
	learnerUser, _ := e.store.UserByUserID(t.Context(), learnerID)
	learnerEmail, err := e.store.Emails(t.Context(), cqrs.EmailFilter{UserID: learnerUser.ID, Limit: 1})
	if err != nil || len(learnerEmail) != 1 {
		t.Fatalf("no registration email to the learner: %v", err)
	}
	return &accessEnv{testEnv: e,
		passwords: map[string]string{"trn.active": trainingPassword, "trn.useradmin": trainingPassword, "hill.admin": "Harbour!2026x", TrainerUserID: e.cfg.TrainerPassword},
		learner:   learner.jar,
		vars: map[string]string{"{user}": fmt.Sprint(active.ID), "{target}": fmt.Sprint(target.ID), "{org}": fmt.Sprint(other.ID), "{email}": fmt.Sprint(invitation[0].ID),
			"{nhsmail}": fmt.Sprint(amy.ID), "{learnerEmail}": fmt.Sprint(learnerEmail[0].ID)},
	}
}

func (e *accessEnv) fill(s string) string {
	for k, v := range e.vars {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// as is a fresh browser in the role: signed in anew (so no other row's
// sign-out or side effect carries over), or with the learner's cookie.
func (e *accessEnv) as(role string) *client {
	e.t.Helper()
	c := e.client()
	switch role {
	case roleAnon, roleTokenRight, roleTokenWrong:
	case roleLearner:
		// A copy of the learner's site-wide cookies, so no row's change
		// to them carries over to the next.
		site := &url.URL{Scheme: "http", Host: c.host, Path: "/"}
		c.jar.SetCookies(site, e.learner.Cookies(site))
	default:
		userID := map[string]string{roleUser: "trn.active", roleSameOrgAdmin: "trn.useradmin", roleOtherOrgAdmin: "hill.admin", roleSysAdmin: TrainerUserID}[role]
		wantStatus(e.t, c.signIn(userID, e.passwords[userID], ""), 303)
	}
	return c
}

// answer is what the app said, in the table's terms.
func answer(r response) string {
	if r.StatusCode == 303 || r.StatusCode == 302 {
		loc := r.Header.Get("Location")
		if loc == "/login" || strings.HasPrefix(loc, "/login?") {
			return "login"
		}
		loc, _, _ = strings.Cut(loc, "?")
		return fmt.Sprint(r.StatusCode) + " " + loc
	}
	return fmt.Sprint(r.StatusCode)
}

func TestAccessTable(t *testing.T) {
	e := newAccessEnv(t)
	rows := map[string]accessRow{}
	for _, row := range accessTable {
		if _, dup := rows[row.route]; dup {
			t.Errorf("two rows for %s", row.route)
		}
		rows[row.route] = row
	}
	// Every route the app has must have a row, and every row a route.
	used := map[string]bool{}
	var routes []string
	for _, r := range e.app.GetRoutes(true) {
		if r.Method == "HEAD" {
			continue // Fiber answers HEAD with the GET route
		}
		key := r.Method + " " + r.Path
		if _, ok := rows[key]; !ok {
			if _, all := rows["* "+r.Path]; all {
				used["* "+r.Path] = true
				continue
			}
			t.Errorf("route %s has no row in the access table: add one saying what each role gets", key)
			continue
		}
		if !used[key] {
			routes = append(routes, key)
		}
		used[key] = true
	}
	for key := range rows {
		if !used[key] {
			t.Errorf("the access table has a row for %s, which the app does not have", key)
		}
	}
	routes = append(routes, "* /nhsmail/*")
	sort.Strings(routes)

	roles := []string{roleAnon, roleUser, roleSameOrgAdmin, roleOtherOrgAdmin, roleSysAdmin, roleLearner, roleTokenRight, roleTokenWrong}
	for _, key := range routes {
		row := rows[key]
		method, _, _ := strings.Cut(key, " ")
		if method == "*" {
			method = "GET"
		}
		want := []string{row.want.anon, row.want.user, row.want.sameOrgAdmin, row.want.otherOrgAdmin, row.want.sysAdmin, row.want.learner, row.want.tokenRight, row.want.tokenWrong}
		got := make([]string, len(roles))
		for i, role := range roles {
			c := e.as(role)
			var opts []reqOpt
			switch role {
			case roleTokenRight:
				opts = append(opts, header("Authorization", "Bearer "+instanceTokenForTests))
			case roleTokenWrong:
				opts = append(opts, header("Authorization", "Bearer not-"+instanceTokenForTests))
			}
			var r response
			if method == "GET" {
				r = c.get(e.fill(row.path), opts...)
			} else {
				r = c.post(e.fill(row.path), url.Values{"csrf_token": {c.csrf("/login")}}, opts...)
			}
			got[i] = answer(r)
			if got[i] != e.fill(want[i]) {
				t.Errorf("%s %s as %s: %s, want %s", method, e.fill(row.path), role, got[i], e.fill(want[i]))
			}
		}
		if t.Failed() && strings.Join(got, "") != e.fill(strings.Join(want, "")) {
			t.Logf("%s answered %q", key, got)
		}
	}
}

// Outside training mode the training routes do not exist: each is "Page
// not found", whoever asks.
func TestTrainingRoutesAreAbsentOutsideTraining(t *testing.T) {
	e := newEnv(t)
	for _, row := range accessTable {
		method, pattern, _ := strings.Cut(row.route, " ")
		if !strings.HasPrefix(pattern, "/training") {
			continue
		}
		c := e.client()
		path := strings.NewReplacer("{learnerEmail}", "1").Replace(row.path)
		var r response
		if method == "GET" {
			r = c.get(path)
		} else {
			r = c.post(path, url.Values{"csrf_token": {c.csrf("/login")}})
		}
		if r.StatusCode != 404 {
			t.Errorf("%s %s outside training mode = %d, want 404", method, path, r.StatusCode)
		}
	}
}
