package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Keyboard-only journeys: Tab, Shift+Tab, Enter, Space and the arrows, no
// clicks (keyboard_test.go sends the keys as a keyboard does). After every
// answer they check where focus is and what the accessibility tree says
// about it; focus must never fall to <body> after a swap; an error moves
// focus to the summary, and the summary's links show the field's label.
// axe runs on the screens as in the other journeys.

// summarySel is the error summary of every form.
const summarySel = `[data-testid="error-summary"]`

// wantSummaryFocused waits for focus on the error summary and checks what a
// screen reader hears there.
func wantSummaryFocused(t *testing.T, ctx context.Context, after string) {
	t.Helper()
	f := waitFocus(t, ctx, after+": the error summary has focus", summarySel)
	if !strings.Contains(f.Name, "There is a problem") {
		t.Errorf("%s: the error summary is announced as %s, want its title There is a problem", after, f)
	}
}

// followErrorLink presses Enter on the summary's link to the field and
// checks that the field has focus with its label in view, and that it is
// described by the error.
func followErrorLink(t *testing.T, ctx context.Context, field, wantDesc string) {
	t.Helper()
	if !exists(t, ctx, summarySel+` a[href="#`+field+`"]`) {
		t.Errorf("the error summary has no link to %s", field)
		return
	}
	tabTo(t, ctx, summarySel+` a[href="#`+field+`"]`, 15, false)
	keys(t, ctx, "Enter on the error link to "+field, press(keyEnter, 0))
	f := waitFocus(t, ctx, "follow the error link to "+field, "#"+field)
	if !strings.Contains(f.Desc, wantDesc) {
		t.Errorf("%s is described as %q, want its error %q", field, f.Desc, wantDesc)
	}
	if inv := attrOrEmpty(t, ctx, "#"+field, "aria-invalid"); inv != "true" {
		t.Errorf("%s: aria-invalid = %q, want true", field, inv)
	}
	labelTop, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(() => {
		const l = document.querySelector('label[for="`+field+`"]') || document.getElementById("`+field+`").closest("fieldset").querySelector("legend");
		return l.getBoundingClientRect().top;
	})()`))
	if err != nil {
		t.Fatalf("label of %s: %v", field, err)
	}
	if labelTop < 0 {
		t.Errorf("after the error link to %s its label is %.0f px above the viewport", field, -labelTop)
	}
}

// exists reports whether an element matches the CSS selector.
func exists(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) !== null`))
	if err != nil {
		t.Fatalf("looking for %s: %v", sel, err)
	}
	return ok
}

// attrOrEmpty is an attribute of the first element matching sel, "" when
// it has none.
func attrOrEmpty(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector(`+jsString(sel)+`); return e ? (e.getAttribute(`+jsString(name)+`) || "") : "" })()`))
	if err != nil {
		t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return v
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// title is the page's <title>.
func title(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatalf("title: %v", err)
	}
	return s
}

// enterAndLoad presses Enter on what has focus and waits for the page it
// loads.
func enterAndLoad(t *testing.T, ctx context.Context, what string) int64 {
	t.Helper()
	return load(t, ctx, what, press(keyEnter, 0))
}

// fillByKeyboard tabs to each field in turn and types its value.
func fillByKeyboard(t *testing.T, ctx context.Context, fields [][2]string) {
	t.Helper()
	for _, f := range fields {
		tabTo(t, ctx, "#"+f[0], 30, false)
		keys(t, ctx, "type into "+f[0], typeKeys(f[1]))
	}
}

var rulesMetRE = regexp.MustCompile(`^\d+ of \d+ rules met$`)

// TestKeyboardSetUpJourney: first-run set-up and Security Information with
// the keyboard alone — the summary takes focus after a full page and after
// an htmx swap, its links show the field's label, the Password Policy has
// one live region announcing "N of M rules met", each password field is
// described by what applies to it, and after a refusal the checklist does
// not show rules met beside two empty fields.
func TestKeyboardSetUpJourney(t *testing.T) {
	app := startApp(t)
	parent, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	t.Cleanup(cancel)
	ctx := newBrowser(t, parent)
	axe := &a11yChecker{t: t, axe: axeSource(t)}

	step(t, ctx, "open the set-up link", chromedp.Navigate(app.SetupURL), chromedp.WaitVisible(tid("setup-heading")))
	tabTo(t, ctx, string(tid("setup-submit")), 40, false)
	if got := enterAndLoad(t, ctx, "Enter on Set up, the form empty"); got != 422 {
		t.Errorf("empty set-up answered %d, want 422", got)
	}
	wantSummaryFocused(t, ctx, "set-up sent empty")
	axe.check(ctx, "Set up CQRS, with errors (keyboard)")
	followErrorLink(t, ctx, "first_name", "Enter")

	// Back to the top with Shift+Tab, then every field by Tab.
	tabTo(t, ctx, "#user_id", 5, true)
	fillByKeyboard(t, ctx, [][2]string{{"user_id", adminUserID}, {"first_name", "Alex"}, {"last_name", "Jones"},
		{"email", "admin.jones@nhs.net"}, {"org_name", "Riverside Practice"}, {"ods_code", "Y12345"}})
	tabTo(t, ctx, string(tid("setup-submit")), 10, false)
	enterAndLoad(t, ctx, "Enter on Set up")
	step(t, ctx, "wait for Security Information", chromedp.WaitVisible(tid("security-information")))

	wantReflowAt(t, ctx, "Security Information", string(tid("security-form")))

	// The Password Policy's one live region.
	f := tabTo(t, ctx, "#password", 40, false)
	if len(f.Desc) > 200 {
		t.Errorf("Password is described by %d characters (%q), want what applies to it, briefly", len(f.Desc), f.Desc)
	}
	step(t, ctx, "mark the policy's status region", chromedp.Evaluate[chromedp.Void](
		`(() => { const s = document.querySelector('[data-testid="policy-status"]'); if (s) s.keptAcrossUpdates = true; })()`))
	keys(t, ctx, "type a short password", typeKeys("abc"))
	waitRules(t, ctx, map[string]string{"length": "not-met"})
	status := policyStatus(t, ctx, "")
	keys(t, ctx, "type more", typeKeys("defgH1!"))
	waitRules(t, ctx, map[string]string{"categories": "met"})
	status2 := policyStatus(t, ctx, status.Text)
	for _, s := range []policyStatusView{status, status2} {
		if !s.Exists || !s.Kept || !s.Live {
			t.Errorf("policy status region: exists %v, the same element across updates %v, a live region %v; want one stable live region", s.Exists, s.Kept, s.Live)
		}
		if !rulesMetRE.MatchString(s.Text) {
			t.Errorf("policy status announces %q, want \"N of M rules met\"", s.Text)
		}
	}
	if status.Text == status2.Text && status.Exists {
		t.Errorf("policy status did not change (%q) as more rules were met", status.Text)
	}
	if n := status2.LiveInside; n != 0 {
		t.Errorf("%d live regions inside the Password Policy box, which is replaced on every keystroke", n)
	}
	wantNotBody(t, ctx, "typing in Password")
	if f, _ := focused(ctx); f.ID != "password" {
		t.Errorf("typing in Password moved focus to %s", f)
	}

	// A mismatched confirmation: the form comes back through htmx.
	f = tabTo(t, ctx, "#confirm_password", 30, false)
	if len(f.Desc) > 200 || strings.Contains(f.Desc, "characters") {
		t.Errorf("Confirm Password is described as %q, want what applies to it", f.Desc)
	}
	keys(t, ctx, "type another password", typeKeys("Different#2026x"))
	tabTo(t, ctx, string(tid("security-submit")), 3, false)
	keys(t, ctx, "Enter on Submit", press(keyEnter, 0))
	wantSummaryFocused(t, ctx, "Security Information refused (htmx)")
	met, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#password-policy [data-state="met"]').length`))
	if err != nil {
		t.Fatal(err)
	}
	if met > 0 {
		t.Errorf("after the refusal the checklist shows %d rules met beside two empty password fields", met)
	}
	axe.check(ctx, "Security Information, refused (keyboard)")
	followErrorLink(t, ctx, "confirm_password", "Confirm Password must match Password.")

	tabTo(t, ctx, "#password", 30, true)
	keys(t, ctx, "type the password", typeKeys(adminPassword))
	tabTo(t, ctx, "#confirm_password", 30, false)
	keys(t, ctx, "confirm it", typeKeys(adminPassword))
	enterAndLoad(t, ctx, "Enter in Confirm Password")
	step(t, ctx, "wait for registration complete", chromedp.WaitVisible(tid("registration-complete")))
}

// policyStatusView is the Password Policy's status region as the test
// sees it.
type policyStatusView struct {
	Exists, Kept, Live bool
	Text               string
	LiveInside         int
}

func policyStatus(t *testing.T, ctx context.Context, before string) policyStatusView {
	t.Helper()
	// The region is written after the box is swapped: give it a moment,
	// until it says something other than before (what it said earlier).
	var v policyStatusView
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var err error
		v, err = chromedp.Run(ctx, chromedp.Evaluate[policyStatusView](`(() => {
			const s = document.querySelector('[data-testid="policy-status"]');
			const live = document.querySelectorAll('#password-policy [aria-live], #password-policy [role="status"], #password-policy [role="alert"]').length;
			if (!s) return {Exists: false, LiveInside: live};
			return {Exists: true, Kept: s.keptAcrossUpdates === true, Live: s.getAttribute("role") === "status" || !!s.getAttribute("aria-live"), Text: s.textContent.trim(), LiveInside: live};
		})()`))
		if err != nil {
			t.Fatalf("policy status: %v", err)
		}
		if v.Exists && v.Text != "" && v.Text != before {
			break
		}
	}
	return v
}

// TestKeyboardSignInJourney: the CQRS Login page, the Message Centre,
// administration and the NHSmail simulator with the keyboard alone.
func TestKeyboardSignInJourney(t *testing.T) {
	ctx, base, pw := startJourney(t)
	axe := &a11yChecker{t: t, axe: axeSource(t)}
	nadia := nhsmailAccount{Email: "nadia.khan@nhs.net", FirstName: "Nadia", LastName: "Khan", Password: "Simulator#2"}
	legacySignIn(t, ctx, base, adminUserID, pw)
	addNHSmailAccount(t, ctx, base, nadia)
	signOut(t, ctx)

	// The Login page: two Sign In buttons with names of their own, and a
	// heading over the legacy form.
	step(t, ctx, "open the CQRS Login page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(tid("legacy-form")))
	_, ssoName, _ := axOf(t, ctx, string(tid("sso-sign-in")))
	_, legacyName, _ := axOf(t, ctx, string(tid("legacy-sign-in")))
	if ssoName == legacyName || !strings.HasPrefix(ssoName, "Sign In") || !strings.HasPrefix(legacyName, "Sign In") {
		t.Errorf("the Sign In buttons are named %q and %q, want distinct names starting with their label Sign In", ssoName, legacyName)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="legacy-form"] h2, [data-testid="legacy-form"] h3').length`)); n == 0 {
		t.Errorf("the legacy login form has no heading")
	}

	wantReflowAt(t, ctx, "the CQRS Login page", string(tid("legacy-form")))

	// Text-only zoom: the header's text grows with the browser's font size.
	headerSize := func() float64 {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`parseFloat(getComputedStyle(document.querySelector('.app-header__service-name')).fontSize)`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := headerSize()
	step(t, ctx, "text-only zoom to 200 %", textZoom(32), chromedp.Reload(), chromedp.WaitVisible(tid("legacy-form")))
	if after := headerSize(); after < before*1.5 {
		t.Errorf("with text-only zoom at 200 %% the header's service name is %.0f px, was %.0f px: sized in pixels", after, before)
	}
	step(t, ctx, "text zoom back to 100 %", textZoom(16), chromedp.Reload(), chromedp.WaitVisible(tid("legacy-form")))

	// A wrong password: the summary takes focus and links to the fields.
	fillByKeyboard(t, ctx, [][2]string{{"user_id", adminUserID}, {"password", "Wrong#Guess1"}})
	if got := enterAndLoad(t, ctx, "Enter in Password, wrong"); got != 401 {
		t.Errorf("wrong password answered %d, want 401", got)
	}
	wantSummaryFocused(t, ctx, "refused sign-in")
	if got := title(t, ctx); !strings.HasPrefix(got, "Error: ") {
		t.Errorf("refused sign-in title %q, want Error: …", got)
	}
	axe.check(ctx, "CQRS Login, refused (keyboard)")
	followErrorLink(t, ctx, "user_id", "Incorrect")
	if inv := attrOrEmpty(t, ctx, "#password", "aria-invalid"); inv != "true" {
		t.Errorf("Password: aria-invalid = %q, want true", inv)
	}
	tabTo(t, ctx, "#password", 30, false)
	keys(t, ctx, "type the password", typeKeys(pw))
	enterAndLoad(t, ctx, "Enter in Password")
	step(t, ctx, "wait for the Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	centreTitle := title(t, ctx)

	// The header's unread count reads as words apart.
	if _, name, _ := axOf(t, ctx, string(tid("header-messages"))); regexp.MustCompile(`Messages\d`).MatchString(name) {
		t.Errorf("the header's Messages link reads %q", name)
	}

	wantReflowAt(t, ctx, "the Message Centre", string(tid("message-centre-heading")))

	// Opening a message: focus goes to its heading, not <body>.
	tabTo(t, ctx, string(tid("open-message-link")), 40, false)
	keys(t, ctx, "Enter on the message", press(keyEnter, 0))
	f := waitFocus(t, ctx, "open a message", `#open-message h2`)
	if f.Name == "" {
		t.Errorf("the opened message's heading has no name: %s", f)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#open-message[aria-live], #open-message [aria-live]').length`)); n != 0 {
		t.Errorf("the opened message arrives in a new live region")
	}
	axe.check(ctx, "Message Centre, a message open (keyboard)")
	link := attr(t, ctx, string(tid("open-message-link")), "href")
	step(t, ctx, "open the message as a page", chromedp.Navigate(base+link), chromedp.WaitVisible(tid("open-message-subject")))
	if got := title(t, ctx); got == centreTitle {
		t.Errorf("the opened message's page reuses the Message Centre's title %q", got)
	}

	// The broadcast form sent empty.
	tabTo(t, ctx, string(tid("broadcast-submit")), 60, false)
	if got := enterAndLoad(t, ctx, "Enter on Send message, empty"); got != 422 {
		t.Errorf("empty broadcast answered %d, want 422", got)
	}
	wantSummaryFocused(t, ctx, "broadcast sent empty")
	if req := attrOrEmpty(t, ctx, "#body", "required"); req == "" && !hasAttr(t, ctx, "#body", "required") {
		t.Errorf("the broadcast's Message field is not marked required")
	}
	followErrorLink(t, ctx, "body", "Enter")

	// Administration: the search's result count is announced.
	step(t, ctx, "open the users list", chromedp.Navigate(base+"/admin/users"), chromedp.WaitVisible(tid("user-table")))
	step(t, ctx, "mark the status regions", chromedp.Evaluate[chromedp.Void](
		`document.querySelectorAll('[role="status"], [aria-live]').forEach(e => e.presentBeforeSearch = true)`))
	tabTo(t, ctx, "#q", 40, false)
	announced := func(want string) {
		t.Helper()
		expr := `[...document.querySelectorAll('[role="status"], [aria-live]')].some(e => e.presentBeforeSearch === true && e.textContent.includes(` + jsString(want) + `))`
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Errorf("the search's result count %q is not in a status region that was there before the search", want)
		}
	}
	keys(t, ctx, "search for zzz", typeKeys("zzz"))
	announced("No users match.")
	keys(t, ctx, "Backspace three times", press(keyBackspace, 0), press(keyBackspace, 0), press(keyBackspace, 0))
	announced("Showing 1 to 1 of 1 users.")
	wantNotBody(t, ctx, "the search")

	step(t, ctx, "open Set up a user", chromedp.Navigate(base+"/admin/users/new"), chromedp.WaitVisible(tid("user-form")))
	tabTo(t, ctx, string(tid("user-submit")), 60, false)
	enterAndLoad(t, ctx, "Enter on Set up a user, empty")
	wantSummaryFocused(t, ctx, "Set up a user sent empty")

	// The NHSmail simulator, at another computer.
	anon := newIsolatedTab(t, ctx)
	step(t, anon, "open the CQRS Login page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(tid("sso-sign-in")))
	tabTo(t, anon, string(tid("sso-sign-in")), 40, false)
	enterAndLoad(t, anon, "Enter on Sign In (NHSmail)")
	step(t, anon, "wait for the NHSmail sign-in page", chromedp.WaitVisible(tid("nhsmail-heading")))
	wantReflowAt(t, anon, "the NHSmail sign-in page", string(tid("nhsmail-form")))
	okTitle := title(t, anon)
	fillByKeyboard(t, anon, [][2]string{{"email", nadia.Email}, {"password", "Simulator#9"}})
	enterAndLoad(t, anon, "Enter in the NHSmail password, wrong")
	step(t, anon, "wait for the NHSmail error", chromedp.WaitVisible(tid("nhsmail-error")))
	if got := title(t, anon); got != "Error: "+okTitle {
		t.Errorf("NHSmail refusal title %q, want %q", got, "Error: "+okTitle)
	}
	wantSummaryFocused(t, anon, "NHSmail refused")
	axe.check(anon, "NHSmail sign-in, refused (keyboard)")
}

// poll waits (bounded) until the expression is true.
func poll(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// hasAttr reports whether the first element matching sel has the attribute.
func hasAttr(t *testing.T, ctx context.Context, sel, name string) bool {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+jsString(sel)+`); return !!e && e.hasAttribute(`+jsString(name)+`) })()`))
	if err != nil {
		t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return v
}

// boardUpdated is the class board's "Updated" time.
func boardUpdated(t *testing.T, ctx context.Context) string {
	t.Helper()
	return attr(t, ctx, string(tid("class-board")), "data-updated")
}

// waitBoardUpdate waits until the board shows an update after since.
func waitBoardUpdate(t *testing.T, ctx context.Context, since string) {
	t.Helper()
	poll(t, ctx, "wait for a board update", `document.querySelector('[data-testid="class-board"]').getAttribute("data-updated") !== `+jsString(since))
}

// TestKeyboardClassBoardJourney: the class board can be paused and resumed
// from the keyboard, starts paused for someone who asks for reduced motion,
// remembers the trainer's choice, keeps its sideways scroll and the focus
// on each update, and the board and a learner's page reflow at 320 px.
func TestKeyboardClassBoardJourney(t *testing.T) {
	app := startDemoApp(t)
	parent, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	t.Cleanup(cancel)
	trainer := newBrowser(t, parent)
	axe := &a11yChecker{t: t, axe: axeSource(t)}
	base := app.BaseURL

	// A learner, for a row on the board; their own page at 320 px.
	learner := newIsolatedTab(t, trainer)
	step(t, learner, "open the training home", chromedp.Navigate(app.TrainingURL), chromedp.WaitVisible(tid("start-learner")))
	tabTo(t, learner, string(tid("start-learner")), 60, false)
	enterAndLoad(t, learner, "Enter on Start as a new learner")
	step(t, learner, "wait for the learner's card", chromedp.WaitVisible(tid("learner-card")))
	for _, w := range []struct {
		width int64
		scale float64
		what  string
	}{{320, 4, "320 px"}, {640, 2, "200 % zoom"}} {
		step(t, learner, "viewport "+w.what, viewport(w.width, 1000/int64(w.scale), w.scale), chromedp.Reload(), chromedp.WaitVisible(tid("learner-card")))
		wantReflow(t, learner, "the learner's training page at "+w.what)
		step(t, learner, "open the learner's mailbox", chromedp.Navigate(base+"/training/mailbox"), chromedp.WaitVisible(tid("learner-emails")))
		wantReflow(t, learner, "the learner's mailbox at "+w.what)
		step(t, learner, "back to the training home", chromedp.Navigate(app.TrainingURL), chromedp.WaitVisible(tid("learner-card")))
	}

	legacySignIn(t, trainer, base, app.TrainerUserID, app.TrainerPassword)
	// 200 % zoom: the board's table scrolls sideways inside its box.
	step(t, trainer, "200 % zoom", viewport(640, 500, 2))
	step(t, trainer, "open the class board", chromedp.Navigate(base+"/training/board"), chromedp.WaitVisible(tid("class-board")),
		chromedp.WaitVisible(`[data-testid="class-board"] tbody tr`))
	wantReflow(t, trainer, "the class board at 200 % zoom")
	axe.check(trainer, "Class board (keyboard, 200 %)")

	// The Pause control, by keyboard.
	if !exists(t, trainer, string(tid("board-pause"))) {
		t.Errorf("the class board has no Pause control")
	} else {
		f := tabTo(t, trainer, string(tid("board-pause")), 60, false)
		if f.Role != "button" || !strings.Contains(f.Name, "Pause") {
			t.Errorf("the board's control is %s, want a button named Pause …", f)
		}
		keys(t, trainer, "Space on Pause", press(keySpace, 0))
		f = waitFocus(t, trainer, "after Pause", string(tid("board-pause")))
		if !strings.Contains(f.Name, "Resume") {
			t.Errorf("after Pause the control reads %s, want Resume …", f)
		}
		paused := boardUpdated(t, trainer)
		time.Sleep(2200 * time.Millisecond)
		if got := boardUpdated(t, trainer); got != paused {
			t.Errorf("the paused board updated (%s, then %s)", paused, got)
		}
		// Remembered for this trainer: a reload stays paused.
		step(t, trainer, "reload the board", chromedp.Reload(), chromedp.WaitVisible(tid("class-board")))
		if _, name, _ := axOf(t, trainer, string(tid("board-pause"))); !strings.Contains(name, "Resume") {
			t.Errorf("after a reload the paused board offers %q, want Resume …", name)
		}
		tabTo(t, trainer, string(tid("board-pause")), 60, false)
		keys(t, trainer, "Enter on Resume", press(keyEnter, 0))
		waitFocus(t, trainer, "after Resume", string(tid("board-pause")))
		waitBoardUpdate(t, trainer, boardUpdated(t, trainer))
	}

	// Updates keep the sideways scroll and the focus.
	link := tabTo(t, trainer, `[data-testid="class-board"] tbody a`, 20, false)
	scrolled, err := chromedp.Run(trainer, chromedp.Evaluate[float64](`(() => {
		const box = document.querySelector('[data-testid="class-board"] .app-table-scroll');
		box.scrollLeft = 100;
		return box.scrollLeft;
	})()`))
	if err != nil || scrolled < 50 {
		t.Fatalf("the board's table does not scroll sideways at 200 %% zoom (scrollLeft %.0f, %v)", scrolled, err)
	}
	waitBoardUpdate(t, trainer, boardUpdated(t, trainer))
	waitBoardUpdate(t, trainer, boardUpdated(t, trainer))
	if left, _ := chromedp.Run(trainer, chromedp.Evaluate[float64](`document.querySelector('[data-testid="class-board"] .app-table-scroll').scrollLeft`)); left != scrolled {
		t.Errorf("after two updates the table's sideways scroll is %.0f px, want it kept (%.0f)", left, scrolled)
	}
	if f, _ := focused(trainer); f.ID != link.ID || f.Body {
		t.Errorf("after two updates focus is on %s, want it kept on %s", f, link)
	}

	step(t, trainer, "320 px", viewport(320, 250, 4), chromedp.Reload(), chromedp.WaitVisible(`[data-testid="class-board"] tbody tr`))
	wantReflow(t, trainer, "the class board at 320 px")

	// Someone who asks for reduced motion gets a paused board by default.
	calm := newIsolatedTab(t, trainer)
	step(t, calm, "ask for reduced motion", reducedMotion())
	legacySignIn(t, calm, base, app.TrainerUserID, app.TrainerPassword)
	step(t, calm, "open the class board", chromedp.Navigate(base+"/training/board"), chromedp.WaitVisible(tid("class-board")))
	if _, name, _ := axOf(t, calm, string(tid("board-pause"))); !strings.Contains(name, "Resume") {
		t.Errorf("with reduced motion the board offers %q, want it paused (Resume …)", name)
	}
	still := boardUpdated(t, calm)
	time.Sleep(1500 * time.Millisecond)
	if got := boardUpdated(t, calm); got != still {
		t.Errorf("with reduced motion the board updated (%s, then %s)", still, got)
	}
}
