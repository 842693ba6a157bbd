package e2e

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// demoApp is the app started in training mode by startDemoApp.
type demoApp struct {
	BaseURL         string // http://127.0.0.1:port
	TrainingURL     string // where learners start, printed at start
	TrainerUserID   string // the trainer's sign-in, printed at start
	TrainerPassword string
	Stdout          *syncBuffer
	Stderr          *syncBuffer
}

var trainingLineRE = regexp.MustCompile(`Training mode: learners start at (\S+)\n\s*Trainer sign-in: User ID (\S+), password (\S+)\n`)

// startDemoApp runs the app as main does with --demo, on a free port with a
// fresh database, and waits until it prints the training address, the
// trainer's sign-in and where it runs. Cleanup stops it and fails the test
// unless it exits cleanly.
func startDemoApp(t *testing.T) *demoApp {
	t.Helper()
	a := &demoApp{}
	a.Stdout, a.Stderr = runApp(t, []string{"--demo", "--no-browser", "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "training.db")},
		20*time.Second, func(out string) bool {
			training, running := trainingLineRE.FindStringSubmatch(out), runningLineRE.FindStringSubmatch(out)
			if training == nil || running == nil {
				return false
			}
			a.TrainingURL, a.TrainerUserID, a.TrainerPassword, a.BaseURL = training[1], training[2], training[3], running[1]
			return true
		})
	if a.TrainingURL != a.BaseURL+"/training" {
		t.Fatalf("training address %q, want %s/training", a.TrainingURL, a.BaseURL)
	}
	if out := a.Stdout.String(); strings.Contains(out, "set-up link") || strings.Contains(out, "/setup?token=") {
		t.Errorf("training mode printed a set-up link; the training data set has its administrator:\n%s", out)
	}
	return a
}

// jobAidCurrentSteps is the data-testid of every job aid step the page
// marks as the current one, and fails the test when the page has no panel.
func jobAidCurrentSteps(t *testing.T, ctx context.Context) []string {
	t.Helper()
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
		if (document.querySelector('[data-testid="jobaid"]') === null) return null;
		return [...document.querySelectorAll('[data-testid="jobaid"] [data-current="true"]')].map(e => e.dataset.testid);
	})()`))
	if err != nil {
		t.Fatalf("job aid steps: %v", err)
	}
	if ids == nil {
		t.Fatalf("the page at %s has no job aid panel", location(t, ctx))
	}
	return ids
}

// wantJobAid checks the job aid panel highlights exactly the wanted steps
// (by step ID, e.g. "ja-2"), with aria-current and the current-step class.
func wantJobAid(t *testing.T, ctx context.Context, page string, want ...string) {
	t.Helper()
	got := jobAidCurrentSteps(t, ctx)
	wantIDs := make([]string, len(want))
	for i, w := range want {
		wantIDs[i] = "jobaid-" + w
	}
	slices.Sort(got)
	slices.Sort(wantIDs)
	if !slices.Equal(got, wantIDs) {
		t.Errorf("%s: job aid highlights %v, want %v", page, got, wantIDs)
	}
	for _, id := range wantIDs {
		sel := `[data-testid="` + id + `"]`
		if a := attr(t, ctx, sel, "aria-current"); a != "step" {
			t.Errorf("%s: %s aria-current = %q, want step", page, id, a)
		}
		if c := attr(t, ctx, sel, "class"); !strings.Contains(c, "app-jobaid__step--current") {
			t.Errorf("%s: %s class = %q, want app-jobaid__step--current", page, id, c)
		}
	}
}

// tableRows counts the body rows of each table of the page, by data-testid.
func tableRows(t *testing.T, ctx context.Context) map[string]int {
	t.Helper()
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]int](
		`Object.fromEntries([...document.querySelectorAll('table[data-testid]')].map(e => [e.dataset.testid, e.querySelectorAll('tbody tr').length]))`))
	if err != nil {
		t.Fatalf("counting table rows: %v", err)
	}
	return rows
}

// learnerInfo is what one learner's walk tells the other.
type learnerInfo struct {
	UserID, NHSmail, EmailID string
}

// learnerBoard lets walks running at once wait (bounded) until every
// learner has been started, so each can check it sees none of the others.
type learnerBoard struct {
	mu      sync.Mutex
	want    int
	posted  map[string]learnerInfo
	ready   chan struct{} // closed when every learner has posted
	abandon chan struct{} // closed when a walk ends without posting
	once    sync.Once
}

func newLearnerBoard(want int) *learnerBoard {
	return &learnerBoard{want: want, posted: map[string]learnerInfo{}, ready: make(chan struct{}), abandon: make(chan struct{})}
}

// join registers a walk: when it ends without posting, the others stop
// waiting for it.
func (b *learnerBoard) join(t *testing.T, name string) {
	t.Cleanup(func() {
		b.mu.Lock()
		_, ok := b.posted[name]
		b.mu.Unlock()
		if !ok {
			b.once.Do(func() { close(b.abandon) })
		}
	})
}

func (b *learnerBoard) post(name string, info learnerInfo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.posted[name] = info
	if len(b.posted) == b.want {
		close(b.ready)
	}
}

// others waits for every learner and returns all but name's.
func (b *learnerBoard) others(t *testing.T, ctx context.Context, name string) []learnerInfo {
	t.Helper()
	select {
	case <-b.ready:
	case <-b.abandon:
		t.Fatal("another learner's walk ended before it got here")
	case <-ctx.Done():
		t.Fatalf("waiting for the other learners: %v", ctx.Err())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []learnerInfo
	for n, info := range b.posted {
		if n != name {
			out = append(out, info)
		}
	}
	return out
}

// learnerPassword meets the policy for every learner User ID: its letters
// (i, l, o) and digits (0, 1) are never in a learner's random part.
const learnerPassword = "Olio#Lilo1010"

// learnerWalk is one learner's way through both documents.
type learnerWalk struct {
	name    string
	nhsmail bool   // sign in with NHSmail rather than the legacy login
	shots   bool   // take the README's screenshots
	extra   string // the walk's own final screenshot, when shots is false
}

// walkLearner is one learner, in a browser of their own, walking the job
// aid from "Start as a new learner" to their Message Centre.
// board gathers the started learners, signedIn those in their Message
// Centre.
func walkLearner(t *testing.T, parent context.Context, app *demoApp, board, signedIn *learnerBoard, w learnerWalk) {
	board.join(t, w.name)
	signedIn.join(t, w.name)
	wctx, cancel := context.WithTimeout(parent, 100*time.Second)
	t.Cleanup(cancel)
	ctx := newBrowser(t, wctx)
	shot := func(name string) {
		if w.shots {
			screenshot(t, ctx, name)
		}
	}
	base := app.BaseURL

	// The training home page, with the training banner and the job aid.
	step(t, ctx, "open the training home page",
		chromedp.Navigate(app.TrainingURL),
		chromedp.WaitVisible(tid("start-learner")),
		chromedp.WaitVisible(tid("training-banner")),
	)
	jobAidCurrentSteps(t, ctx) // the panel is open by default
	seededRows := tableRows(t, ctx)
	if seededRows["training-accounts"] != 8 || seededRows["training-nhsmail"] != 9 {
		t.Errorf("the training home page lists %d CQRS and %d NHSmail accounts for the class, want 8 and 9 (with the two MFA accounts)", seededRows["training-accounts"], seededRows["training-nhsmail"])
	}
	// The trainer's password is on the console only, never on this page.
	wantTexts(t, "the trainer's sign-in", textOf(t, ctx, "trainer-credentials"), app.TrainerUserID, "the password printed in the window where CQRS was started")
	if strings.Contains(bodyText(t, ctx), app.TrainerPassword) {
		t.Error("the training home page shows the trainer's password")
	}

	// Start as a new learner: their User ID and NHSmail password, once.
	load(t, ctx, "start as a new learner", chromedp.Click(tid("start-learner")))
	step(t, ctx, "wait for the learner card", chromedp.WaitVisible(tid("learner-card")))
	userID := textOf(t, ctx, "learner-user-id")
	nhsmailEmail := textOf(t, ctx, "learner-nhsmail")
	nhsmailPassword := textOf(t, ctx, "learner-nhsmail-password")
	if !regexp.MustCompile(`^learner-[a-z0-9]{4}$`).MatchString(userID) {
		t.Fatalf("learner User ID = %q, want learner-xxxx", userID)
	}
	if nhsmailEmail != userID+"@nhs.net" {
		t.Errorf("learner NHSmail address = %q, want %s@nhs.net", nhsmailEmail, userID)
	}
	if nhsmailPassword == "" {
		t.Fatal("the learner's NHSmail password is not shown")
	}
	wantTexts(t, "the notice", textOf(t, ctx, "notice"), "You are now a learner")
	if rows := tableRows(t, ctx); rows["training-accounts"] != seededRows["training-accounts"] || rows["training-nhsmail"] != seededRows["training-nhsmail"] {
		t.Errorf("the page that starts a learner lists %d CQRS and %d NHSmail accounts for the class, where /training lists %d and %d",
			rows["training-accounts"], rows["training-nhsmail"], seededRows["training-accounts"], seededRows["training-nhsmail"])
	}
	t.Logf("%s is %s (NHSmail %s)", w.name, userID, nhsmailEmail)
	shot("25-training-home")

	// Step 1: their own mailbox holds exactly their registration email.
	load(t, ctx, "open the learner's mailbox", chromedp.Click(tid("learner-mailbox-link")))
	step(t, ctx, "wait for the learner's emails", chromedp.WaitVisible(tid("learner-emails")))
	if loc := location(t, ctx); loc != base+"/training/mailbox" {
		t.Errorf("mailbox at %s, want %s/training/mailbox", loc, base)
	}
	emailIDs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-testid="learner-emails"] li')].map(e => e.dataset.testid)`))
	if err != nil {
		t.Fatalf("the mailbox's emails: %v", err)
	}
	if len(emailIDs) != 1 {
		t.Fatalf("the learner's mailbox lists %d emails, want exactly 1 (their registration email):\n%s", len(emailIDs), bodyText(t, ctx))
	}
	emailTID := emailIDs[0]
	wantTexts(t, "the mailbox", textOf(t, ctx, emailTID), "Complete your CQRS registration")
	wantJobAid(t, ctx, "the mailbox", "ja-1")
	board.post(w.name, learnerInfo{UserID: userID, NHSmail: nhsmailEmail, EmailID: strings.TrimPrefix(emailTID, "email-")})

	// With every learner started: still only their own email, and another
	// learner's email cannot be opened by its address.
	others := board.others(t, ctx, w.name)
	step(t, ctx, "reload the mailbox",
		chromedp.Navigate(base+"/training/mailbox"),
		chromedp.WaitVisible(tid("learner-emails")),
	)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="learner-emails"] li').length`)); err != nil || n != 1 {
		t.Errorf("with every learner started, the mailbox lists %d emails (err %v), want 1", n, err)
	}
	page := bodyText(t, ctx)
	for _, o := range others {
		if strings.Contains(page, o.UserID) {
			t.Errorf("%s's mailbox shows another learner, %s:\n%s", userID, o.UserID, page)
		}
		if status := load(t, ctx, "open another learner's email", chromedp.Navigate(base+"/training/mailbox/"+o.EmailID)); status != 404 {
			t.Errorf("%s opening %s's email: status %d, want 404\n%s", userID, o.UserID, status, bodyText(t, ctx))
		}
		if strings.Contains(bodyText(t, ctx), o.NHSmail) {
			t.Errorf("%s sees %s's email", userID, o.UserID)
		}
	}
	step(t, ctx, "back to the mailbox",
		chromedp.Navigate(base+"/training/mailbox"),
		chromedp.WaitVisible(tid(emailTID)),
	)
	shot("26-learner-mailbox")

	load(t, ctx, "open the registration email", chromedp.Click(chromedp.CSS(`[data-testid="`+emailTID+`"] a`)))
	step(t, ctx, "wait for the email's link", chromedp.WaitVisible(tid("mailbox-link")))
	wantTexts(t, "the registration email", textOf(t, ctx, "mailbox-email"), "Complete your CQRS registration", "<"+nhsmailEmail+">", userID)
	wantJobAid(t, ctx, "the registration email", "ja-1")
	link := attr(t, ctx, `[data-testid="mailbox-link"]`, "href")
	if !strings.HasPrefix(link, base+"/register?token=") {
		t.Errorf("registration link %q is not under %s/register?token=", link, base)
	}

	// Step 2: the link leads to Security Information.
	load(t, ctx, "follow the registration link", chromedp.Click(tid("mailbox-link")))
	step(t, ctx, "wait for Security Information", chromedp.WaitVisible(tid("security-information")))
	if got := textOf(t, ctx, "register-user-id"); got != userID {
		t.Fatalf("Security Information for %q, want %q", got, userID)
	}
	wantJobAid(t, ctx, "Security Information", "ja-2")
	shot("27-learner-security-information")
	setPassword(t, ctx, userID, learnerPassword, "")

	// Step 3: the CQRS Login page.
	load(t, ctx, "go to the CQRS Login page", chromedp.Click(tid("go-to-login")))
	step(t, ctx, "wait for the CQRS Login page", chromedp.WaitVisible(tid("legacy-form")))
	wantJobAid(t, ctx, "the CQRS Login page", "ja-3", "sso-1")
	shot("30-learner-login")

	if w.nhsmail {
		// Step 4 / single sign on steps 1-3: Sign In, the NHSmail page,
		// the Message Centre.
		load(t, ctx, "select Sign In", chromedp.Click(tid("sso-sign-in")))
		step(t, ctx, "wait for the NHSmail sign-in page", chromedp.WaitVisible(tid("nhsmail-heading")))
		wantTexts(t, "the NHSmail page's job aid note", textOf(t, ctx, "nhsmail-jobaid"), "Job aid, step 4", "user guide, step 2")
		nhsmailSignIn(t, ctx, nhsmailEmail, nhsmailPassword)
	} else {
		submitLegacy(t, ctx, userID, learnerPassword)
	}
	step(t, ctx, "wait for the Message Centre", chromedp.WaitVisible(tid("message-centre-heading")))
	if loc := location(t, ctx); loc != base+"/messages" {
		t.Errorf("signed in at %s, want %s/messages", loc, base)
	}
	if got := textOf(t, ctx, "signed-in-as"); !strings.HasSuffix(got, "("+userID+")") {
		t.Errorf("signed in as %q, want %s", got, userID)
	}
	wantJobAid(t, ctx, "the Message Centre", "sso-3")
	shot("28-learner-message-centre")
	if w.extra != "" {
		screenshot(t, ctx, w.extra)
	}

	// Still their own session after the other learners signed in.
	signedIn.post(w.name, learnerInfo{UserID: userID, NHSmail: nhsmailEmail})
	signedIn.others(t, ctx, w.name)
	step(t, ctx, "reload the Message Centre",
		chromedp.Navigate(base+"/messages"),
		chromedp.WaitVisible(tid("message-centre-heading")),
	)
	if got := textOf(t, ctx, "signed-in-as"); !strings.HasSuffix(got, "("+userID+")") {
		t.Errorf("after every learner signed in, signed in as %q, want %s", got, userID)
	}
}

// Journey: training mode (--demo). Two learners, each in a browser of
// their own, walk the job aid at the same time, from "Start as a new
// learner" through their own mailbox, Security Information and the CQRS
// Login page to their Message Centre, one with the legacy login and one
// with NHSmail; the job aid panel highlights each page's step. Then the
// trainer signs in and opens the trainer controls.
func TestTrainingTwoLearnersJourney(t *testing.T) {
	app := startDemoApp(t)
	parent, cancel := context.WithTimeout(context.Background(), 140*time.Second)
	t.Cleanup(cancel)

	walks := []learnerWalk{
		{name: "legacy", shots: true},
		{name: "nhsmail", nhsmail: true, extra: "31-learner-nhsmail-message-centre"},
	}
	board, signedIn := newLearnerBoard(len(walks)), newLearnerBoard(len(walks))
	t.Run("learners", func(t *testing.T) {
		for _, w := range walks {
			t.Run(w.name, func(t *testing.T) {
				t.Parallel()
				walkLearner(t, parent, app, board, signedIn, w)
			})
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	var learners []learnerInfo
	for _, w := range walks {
		learners = append(learners, board.posted[w.name])
	}

	// The trainer, at a third computer, signs in and opens the controls.
	ctx := newBrowser(t, parent)
	legacySignIn(t, ctx, app.BaseURL, app.TrainerUserID, app.TrainerPassword)
	if got := textOf(t, ctx, "signed-in-as"); !strings.HasSuffix(got, "("+app.TrainerUserID+")") {
		t.Errorf("trainer signed in as %q", got)
	}
	step(t, ctx, "open the trainer controls",
		chromedp.Navigate(app.BaseURL+"/training/trainer"),
		chromedp.WaitVisible(tid("explain-accounts")),
	)
	if got := textOf(t, ctx, "learner-count"); got != "2" {
		t.Errorf("trainer controls count %s learners, want 2", got)
	}
	for _, l := range learners {
		row := textOf(t, ctx, "explain-"+l.UserID)
		wantTexts(t, "the trainer's row for "+l.UserID, row, "(learner)", "used (registered)")
	}
	events := textOf(t, ctx, "explain-events")
	wantTexts(t, "the explain panel", events, "sign-in")
	screenshot(t, ctx, "29-trainer")
}
