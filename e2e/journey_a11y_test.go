package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The accessibility check: axe-core, from the npm packages `go tool task
// deps` installs, runs in the browser on every main screen. axe is a test
// tool only: it is read from node_modules at test time and never copied
// into the embedded assets, so the app does not ship it.

// axePath is axe-core's browser bundle, in the repository's node_modules.
var axePath = filepath.Join(repoRoot, "node_modules", "axe-core", "axe.min.js")

// a11yTimeout bounds the whole accessibility run, the browser included.
const a11yTimeout = 150 * time.Second

// axeRun runs axe on the scope (an expression: document, or an element)
// for the WCAG 2.0 and 2.1 A and AA rules. It returns the violations, and
// the checks axe could not decide (impact prefixed "needs review: "), shaped
// for the report: each node's target as one string (frames and shadow roots
// joined) and its HTML shortened.
func axeRun(scope string) string {
	return `axe.run(` + scope + `, {
	runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
	resultTypes: ['violations', 'incomplete'],
}).then(r => r.violations.concat(r.incomplete.map(v => Object.assign({}, v, {impact: 'needs review: ' + (v.impact || '')}))).map(v => ({
	id: v.id,
	impact: v.impact || '',
	help: v.help,
	helpUrl: v.helpUrl,
	nodes: v.nodes.map(n => ({
		target: n.target.map(s => Array.isArray(s) ? s.join(' >>> ') : String(s)).join(' | '),
		html: n.html.length > 300 ? n.html.slice(0, 300) + '…' : n.html,
		summary: n.failureSummary || '',
	})),
})))`
}

// axeViolation is one failed rule on a page, with the elements that fail it.
type axeViolation struct {
	ID      string    `json:"id"`
	Impact  string    `json:"impact"`
	Help    string    `json:"help"`
	HelpURL string    `json:"helpUrl"`
	Nodes   []axeNode `json:"nodes"`
}

// axeNode is an element that fails a rule.
type axeNode struct {
	Target  string `json:"target"`
	HTML    string `json:"html"`
	Summary string `json:"summary"`
}

// axeWaiver lets one rule fail on one element whose markup comes from
// nhsuk-frontend and cannot be fixed on our side. Each says why.
type axeWaiver struct {
	Rule   string // the axe rule id
	Target string // the element's axe target selector, exactly
	Why    string
}

// axeWaivers is empty: every violation found so far was ours to fix.
var axeWaivers []axeWaiver

// waived reports whether a waiver covers the rule on the node.
func waived(rule string, n axeNode) bool {
	for _, w := range axeWaivers {
		if w.Rule == rule && w.Target == n.Target {
			return true
		}
	}
	return false
}

// axeSource reads axe-core's bundle. Without it the check is skipped,
// except on CI (CI=true), where a missing axe is a failure.
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(axePath)
	if errors.Is(err, fs.ErrNotExist) {
		msg := axePath + " is missing: run `go tool task deps` (npm ci) to install axe-core"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so the accessibility check must run")
		}
		t.Skip(msg)
	}
	if err != nil {
		t.Fatalf("reading axe-core: %v", err)
	}
	return string(b)
}

// a11yChecker runs axe on the pages tabs show and counts its runs.
type a11yChecker struct {
	t    *testing.T
	axe  string
	runs int
}

// check injects axe into the page the tab shows and runs it on the whole
// document.
func (c *a11yChecker) check(ctx context.Context, screen string) {
	c.t.Helper()
	c.run(ctx, screen, "document")
}

// checkFocused focuses, one at a time, every element matching the CSS
// selector and runs axe on it while it has focus: axe sees only the styles
// of the moment, and a focus style is where contrast is easily lost (white
// header links on nhsuk's yellow focus background).
func (c *a11yChecker) checkFocused(ctx context.Context, screen, selector string) {
	t := c.t
	t.Helper()
	selJSON, _ := json.Marshal(selector)
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+string(selJSON)+`).length`))
	if err != nil {
		t.Fatalf("%s: counting %s: %v", screen, selector, err)
	}
	if n == 0 {
		t.Fatalf("%s: nothing matches %s", screen, selector)
	}
	for i := range n {
		focus := fmt.Sprintf(`document.querySelectorAll(%s)[%d].focus()`, selJSON, i)
		step(t, ctx, "focus "+selector, chromedp.Evaluate[chromedp.Void](focus))
		c.run(ctx, fmt.Sprintf("%s, %s #%d focused", screen, selector, i+1), "document.activeElement")
	}
	step(t, ctx, "take the focus away", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
}

// run injects axe into the page the tab shows and runs it on the scope.
// Serious and critical violations fail the test (without stopping it, so
// one run lists every screen's); moderate and minor ones, and the checks
// axe could not decide, are logged. The injection goes through DevTools,
// which the page's Content-Security-Policy does not govern, and is
// repeated when a page load has started a new window without axe.
func (c *a11yChecker) run(ctx context.Context, screen, scope string) {
	t := c.t
	t.Helper()
	c.runs++
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, chromedp.Evaluate[chromedp.Void](`if (typeof axe === 'undefined') {`+c.axe+`
}`)); err != nil {
		t.Fatalf("%s: injecting axe: %v", screen, err)
	}
	vs, err := chromedp.Run(sctx, chromedp.Evaluate[[]axeViolation](axeRun(scope), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: running axe: %v", screen, err)
	}
	for _, v := range vs {
		var nodes []axeNode
		for _, n := range v.Nodes {
			if !waived(v.ID, n) {
				nodes = append(nodes, n)
			}
		}
		if len(nodes) == 0 {
			continue
		}
		report := describeViolation(v, nodes)
		switch v.Impact {
		case "serious", "critical":
			t.Errorf("%s (%s): %s", screen, location(t, ctx), report)
		default:
			t.Logf("%s: %s", screen, report)
		}
	}
}

// describeViolation is the rule, its help text and up to three elements.
func describeViolation(v axeViolation, nodes []axeNode) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s: %s (%s), %d element(s)", v.Impact, v.ID, v.Help, v.HelpURL, len(nodes))
	for i, n := range nodes {
		if i == 3 {
			fmt.Fprintf(&b, "\n\t… and %d more", len(nodes)-i)
			break
		}
		fmt.Fprintf(&b, "\n\t%s\n\t\t%s", n.Target, n.HTML)
		if n.Summary != "" {
			fmt.Fprintf(&b, "\n\t\t%s", strings.ReplaceAll(n.Summary, "\n", "\n\t\t"))
		}
	}
	return b.String()
}

// TestAccessibilityOfEveryScreen walks the main screens — first-run set-up,
// Security Information, the CQRS Login page, the Message Centre, My account,
// administration, the local mailbox, the audit log, Unlock Account or
// Forgotten Password, the NHSmail simulator and an error page — with and
// without the validation errors they can show, and runs axe-core's WCAG 2.1
// A and AA rules on each.
func TestAccessibilityOfEveryScreen(t *testing.T) {
	axeJS := axeSource(t)
	app := startApp(t)
	parent, cancel := context.WithTimeout(context.Background(), a11yTimeout)
	t.Cleanup(cancel)
	ctx := newBrowser(t, parent)
	c := &a11yChecker{t: t, axe: axeJS}
	base := app.BaseURL
	noCQRS := nhsmailAccount{Email: "nocqrs@nhs.net", FirstName: "Nadia", LastName: "Khan", Password: "Simulator#2"}
	kim := newUser{UserID: "kim.ward", FirstName: "Kim", LastName: "Ward", WorkPhone: "0113 496 0003", Email: "kim.ward@nhs.net"}

	// First run: the set-up form, empty and then with its problems.
	step(t, ctx, "open the set-up link",
		chromedp.Navigate(app.SetupURL),
		chromedp.WaitVisible(tid("setup-heading")),
	)
	c.check(ctx, "Set up CQRS")
	load(t, ctx, "submit the set-up form empty", chromedp.Click(tid("setup-submit")))
	step(t, ctx, "wait for the set-up form's problems", chromedp.WaitVisible(tid("error-summary")))
	c.check(ctx, "Set up CQRS, with errors")
	submitSetUpForm(t, ctx)

	// Security Information, then after a submit with a weak password that
	// its confirmation does not match.
	c.check(ctx, "Security Information")
	step(t, ctx, "submit a weak, unconfirmed password",
		fill("#password", "short"),
		fill("#confirm_password", "different"),
		chromedp.Click(tid("security-submit")),
		chromedp.WaitVisible(tid("error-summary")),
	)
	c.check(ctx, "Security Information, with errors")
	setPassword(t, ctx, adminUserID, adminPassword, "")
	c.check(ctx, "Registration complete")

	// The CQRS Login page, and its answer to a wrong password.
	load(t, ctx, "go to the CQRS Login page", chromedp.Click(tid("go-to-login")))
	step(t, ctx, "wait for the login page", chromedp.WaitVisible(tid("legacy-form")))
	c.check(ctx, "CQRS Login")
	submitLegacy(t, ctx, adminUserID, "Wrong#Guess1")
	step(t, ctx, "wait for the sign-in error", chromedp.WaitVisible(tid("signin-error")))
	c.check(ctx, "CQRS Login, with the sign-in error")

	// Signed in: the Message Centre, a message opened, My account.
	submitLegacy(t, ctx, adminUserID, adminPassword)
	step(t, ctx, "wait for the Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	c.check(ctx, "Message Centre")
	c.checkFocused(ctx, "Message Centre", `header a, header button`)
	step(t, ctx, "open the welcome message",
		chromedp.Click(chromedp.CSS(`[data-testid="message-list"] li [data-testid="open-message-link"]`)),
		chromedp.WaitVisible(tid("open-message-subject")),
	)
	c.check(ctx, "Message Centre, with a message opened")
	load(t, ctx, "open My account", chromedp.Click(tid("header-account")))
	step(t, ctx, "wait for My account", chromedp.WaitVisible(tid("security-form")))
	c.check(ctx, "My account")

	// Administration: the users list, Set up a user (empty, then with its
	// problems), a user's page, organisations and NHSmail accounts.
	load(t, ctx, "open Administration", chromedp.Click(tid("header-admin")))
	step(t, ctx, "wait for the users list", chromedp.WaitVisible(tid("user-row-"+adminUserID)))
	c.check(ctx, "Administration users list")
	step(t, ctx, "open Set up a user",
		chromedp.Navigate(base+"/admin/users/new"),
		chromedp.WaitVisible(tid("user-form")),
	)
	c.check(ctx, "Set up a user")
	load(t, ctx, "submit Set up a user empty", chromedp.Click(tid("user-submit")))
	step(t, ctx, "wait for Set up a user's problems", chromedp.WaitVisible(tid("error-summary")))
	c.check(ctx, "Set up a user, with errors")
	setUpUser(t, ctx, base, kim, "")
	c.check(ctx, "A user's page")
	step(t, ctx, "open Organisations",
		chromedp.Navigate(base+"/admin/organisations"),
		chromedp.WaitVisible(tid("org-table")),
	)
	c.check(ctx, "Organisations")
	addNHSmailAccount(t, ctx, base, noCQRS)
	c.check(ctx, "NHSmail accounts")

	// The local mailbox and an email in it; the audit log.
	openMailbox(t, ctx, base)
	c.check(ctx, "Local mailbox")
	openEmail(t, ctx, kim.Email, "Complete your CQRS registration")
	c.check(ctx, "An email in the local mailbox")
	step(t, ctx, "open the audit log",
		chromedp.Navigate(base+"/admin/audit"),
		chromedp.WaitVisible(tid("audit-table")),
	)
	c.check(ctx, "Audit log")

	// Signed out, at another computer: Unlock Account or Forgotten
	// Password, the NHSmail simulator's sign-in page and its error, the
	// page for an NHSmail account with no CQRS account, and an error page.
	anon := newIsolatedTab(t, ctx)
	step(t, anon, "open Unlock Account or Forgotten Password",
		chromedp.Navigate(base+"/forgotten"),
		chromedp.WaitVisible(tid("forgotten-form")),
	)
	c.check(anon, "Unlock Account or Forgotten Password")
	startNHSmailSignIn(t, anon, base)
	c.check(anon, "NHSmail sign-in")
	nhsmailSignIn(t, anon, noCQRS.Email, "Simulator#9")
	step(t, anon, "wait for the NHSmail error", chromedp.WaitVisible(tid("nhsmail-error")))
	c.check(anon, "NHSmail sign-in, with its error")
	nhsmailSignIn(t, anon, noCQRS.Email, noCQRS.Password)
	step(t, anon, "wait for the no-CQRS-account page", chromedp.WaitVisible(tid("no-account-heading")))
	c.check(anon, "No CQRS account")
	if status := load(t, anon, "open an unknown address", chromedp.Navigate(base+"/does-not-exist")); status != 404 {
		t.Errorf("/does-not-exist answered %d, want 404", status)
	}
	step(t, anon, "wait for the error page", chromedp.WaitVisible(tid("error-heading")))
	c.check(anon, "Error page (not found)")

	t.Logf("axe-core ran %d times", c.runs)
}

// TestAccessibilityOfTrainingPages runs the same WCAG 2.1 A and AA rules,
// colour contrast among them, on the training mode's own screens: the
// training banner (with "Hide the job aid", dark text on its yellow) and
// the job aid panel over the training home, a learner's mailbox and email,
// Security Information and the CQRS Login page; the pages with the panel
// hidden; and the trainer controls.
func TestAccessibilityOfTrainingPages(t *testing.T) {
	axeJS := axeSource(t)
	app := startDemoApp(t)
	parent, cancel := context.WithTimeout(context.Background(), a11yTimeout)
	t.Cleanup(cancel)
	ctx := newBrowser(t, parent)
	c := &a11yChecker{t: t, axe: axeJS}
	base := app.BaseURL

	step(t, ctx, "open the training home page",
		chromedp.Navigate(app.TrainingURL),
		chromedp.WaitVisible(tid("start-learner")),
		chromedp.WaitVisible(tid("jobaid-toggle")),
	)
	c.check(ctx, "Training home")
	c.checkFocused(ctx, "Training home", `[data-testid="training-banner"] a, [data-testid="training-banner"] button`)
	load(t, ctx, "start as a new learner", chromedp.Click(tid("start-learner")))
	step(t, ctx, "wait for the learner card", chromedp.WaitVisible(tid("learner-card")))
	c.check(ctx, "Training home, with the learner's card")
	load(t, ctx, "open the learner's mailbox", chromedp.Click(tid("learner-mailbox-link")))
	step(t, ctx, "wait for the learner's emails", chromedp.WaitVisible(tid("learner-emails")))
	c.check(ctx, "A learner's mailbox")
	load(t, ctx, "open the registration email", chromedp.Click(chromedp.CSS(`[data-testid="learner-emails"] li a`)))
	step(t, ctx, "wait for the email's link", chromedp.WaitVisible(tid("mailbox-link")))
	c.check(ctx, "A learner's email")
	load(t, ctx, "follow the registration link", chromedp.Click(tid("mailbox-link")))
	step(t, ctx, "wait for Security Information", chromedp.WaitVisible(tid("security-information")))
	c.check(ctx, "Security Information, with the job aid")
	step(t, ctx, "open the CQRS Login page",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(tid("legacy-form")),
	)
	c.check(ctx, "CQRS Login, with the job aid")
	load(t, ctx, "hide the job aid", chromedp.Click(tid("jobaid-toggle")))
	step(t, ctx, "wait for the login page without the job aid", chromedp.WaitVisible(tid("legacy-form")))
	if got := textOf(t, ctx, "jobaid-toggle"); got != "Show the job aid" {
		t.Errorf("after hiding the job aid the banner offers %q", got)
	}
	c.check(ctx, "CQRS Login, job aid hidden")
	c.checkFocused(ctx, "CQRS Login, job aid hidden", `[data-testid="training-banner"] a, [data-testid="training-banner"] button`)

	trainer := newIsolatedTab(t, ctx)
	legacySignIn(t, trainer, base, app.TrainerUserID, app.TrainerPassword)
	step(t, trainer, "open the trainer controls",
		chromedp.Navigate(base+"/training/trainer"),
		chromedp.WaitVisible(tid("explain-accounts")),
	)
	c.check(trainer, "Trainer controls")
	t.Logf("axe-core ran %d times", c.runs)
}
