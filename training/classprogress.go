package training

import (
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// classProgress is where each learner is in the job aid, for the class
// board: the step on screen since when, the last error they met, and the
// steps and error pages they have seen. It is kept in memory: it describes
// the class in the room now and is rebuilt as learners move on after a
// restart (what is durable, registered or not, comes from the store).
type classProgress struct {
	mu        sync.Mutex
	now       func() time.Time // real time: "stuck for 4 minutes" is the room's time, not the training clock's
	byLearner map[string]*learnerProgress
	version   uint64 // bumped on every change
}

// learnerProgress is one learner's row before it is rendered.
type learnerProgress struct {
	Steps     []string // the job aid steps on their screen, as the panel highlights them
	Since     time.Time
	LastError string
	ErrorAt   time.Time
	Reached   map[string]bool // job aid steps they have been on
	Saw       map[string]bool // errors met, by kind
	Legacy    bool            // signed in with User ID and password
	NHSmail   bool            // signed in with NHSmail
	// MFAWaiting: NHSmail's second step is on their screen for the sign-in
	// under way; MFADone: a second step has let them in.
	MFAWaiting bool
	MFADone    bool
}

// mfaStep is the job aid's step for NHSmail's second step, which the
// simulator's pages show (the CQRS pages' panel never does).
const mfaStep = "ja-4-mfa"

// The errors a learner can meet, as the board names them.
const (
	errWrongPassword   = "Wrong password"
	errPolicy          = "Password policy rule failed"
	errNHSmailPassword = "NHSmail wrong password"
	errNHSmailLocked   = "NHSmail account locked"
	errNoCQRS          = "No CQRS account"
	errLocked          = "Locked"
	errLinkExpired     = "Registration link expired"
	errNHSmailMFA      = "NHSmail second step failed"
)

// boardErrors are the error kinds in the order the summary lists them.
var boardErrors = []string{errWrongPassword, errPolicy, errNHSmailPassword, errNHSmailLocked, errNoCQRS, errLocked, errLinkExpired, errNHSmailMFA}

// errorPages are the pages that are themselves an error, by title.
var errorPages = map[string]string{
	"No CQRS account":                    errNoCQRS,
	"Your account is locked":             errLocked,
	"This registration link has expired": errLinkExpired,
}

func newClassProgress(now func() time.Time) *classProgress {
	return &classProgress{now: now, byLearner: map[string]*learnerProgress{}}
}

func (p *classProgress) learner(userID string) *learnerProgress {
	lp := p.byLearner[userID]
	if lp == nil {
		lp = &learnerProgress{Reached: map[string]bool{}, Saw: map[string]bool{}}
		p.byLearner[userID] = lp
	}
	return lp
}

// onPage records the job aid steps on a learner's screen; the time on a
// step runs from the first page showing it.
func (p *classProgress) onPage(userID string, steps []string) {
	if p == nil || len(steps) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lp := p.learner(userID)
	if strings.Join(lp.Steps, ",") != strings.Join(steps, ",") {
		lp.Steps, lp.Since = append([]string(nil), steps...), p.now()
	}
	for _, s := range steps {
		lp.Reached[s] = true
	}
	p.version++
}

// onError records an error a learner met.
func (p *classProgress) onError(userID, kind string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lp := p.learner(userID)
	lp.LastError, lp.ErrorAt = kind, p.now()
	lp.Saw[kind] = true
	p.version++
}

// onSignIn records how a learner signed in.
func (p *classProgress) onSignIn(userID string, nhsmail bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lp := p.learner(userID)
	if nhsmail {
		lp.NHSmail = true
		lp.MFADone = lp.MFADone || lp.MFAWaiting
		lp.MFAWaiting = false
	} else {
		lp.Legacy = true
	}
	p.version++
}

// onNHSmailPassword records a password typed on NHSmail's sign-in page:
// whatever second step was on their screen belonged to an earlier sign-in.
func (p *classProgress) onNHSmailPassword(userID string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.learner(userID).MFAWaiting = false
	p.version++
}

// onMFAPage records NHSmail's second step on a learner's screen: its
// waiting page, the set-up, "Stay signed in?", or (failed) the page
// saying how it ended without a sign-in.
func (p *classProgress) onMFAPage(userID string, failed bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	lp := p.learner(userID)
	lp.MFAWaiting = !failed
	p.mu.Unlock()
	if failed {
		p.onError(userID, errNHSmailMFA)
	}
	p.onPage(userID, []string{mfaStep})
}

// forget drops a learner's progress (reset to the start).
func (p *classProgress) forget(userID string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.byLearner, userID)
	p.version++
}

// clear drops everyone's progress (the training data reset or restored).
func (p *classProgress) clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byLearner = map[string]*learnerProgress{}
	p.version++
}

// snapshot is a copy of every learner's progress, safe to read unlocked.
func (p *classProgress) snapshot() (map[string]learnerProgress, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]learnerProgress, len(p.byLearner))
	for id, lp := range p.byLearner {
		c := *lp
		c.Reached, c.Saw = map[string]bool{}, map[string]bool{}
		for k, v := range lp.Reached {
			c.Reached[k] = v
		}
		for k, v := range lp.Saw {
			c.Saw[k] = v
		}
		out[id] = c
	}
	return out, p.now()
}

// noteLearnerPage records the page a learner is shown (called while the
// training chrome is built for it).
func (a *app) noteLearnerPage(c *fiber.Ctx, steps []string, title string) {
	if a.progress == nil || strings.HasPrefix(c.Path(), "/training/board") || strings.HasPrefix(c.Path(), "/training/trainer") {
		return
	}
	l, ok := a.currentLearner(c)
	if !ok {
		return
	}
	if kind := errorPages[title]; kind != "" {
		a.progress.onError(l.UserID, kind)
	}
	a.progress.onPage(l.UserID, steps)
}

// watchLearners sees, after each answer, what it meant for a learner: a
// failed or successful sign-in, a password refused, an NHSmail refusal.
// The pages themselves say the same to everyone (no oracle); only the
// trainer's board tells the cases apart.
func (a *app) watchLearners(c *fiber.Ctx) error {
	err := c.Next()
	if a.progress == nil || c.Cookies(learnerCookie) == "" {
		return err
	}
	path, method := c.Path(), c.Method()
	status := c.Response().StatusCode()
	if err != nil {
		if fe, ok := err.(*fiber.Error); ok {
			status = fe.Code
		}
	}
	// A redirect is 303, or 204 with HX-Redirect when htmx sent the form.
	redirected := status == fiber.StatusSeeOther || (status == fiber.StatusNoContent && len(c.Response().Header.Peek("HX-Redirect")) > 0)
	var kind string
	signedIn, nhsmail := false, false
	switch {
	case method == fiber.MethodPost && path == "/login":
		switch {
		case redirected:
			signedIn = true
		case status == fiber.StatusUnauthorized:
			kind = errWrongPassword
			if u, uerr := a.training.UserByUserID(c.UserContext(), strings.TrimSpace(c.FormValue("user_id"))); uerr == nil && !u.LockedAt.IsZero() {
				kind = errLocked
			}
		}
	case method == fiber.MethodPost && (path == "/register" || strings.HasPrefix(path, "/register/") || path == "/account/password" || path == "/reset"):
		if status == fiber.StatusUnprocessableEntity {
			kind = errPolicy
		}
	case method == fiber.MethodPost && path == "/nhsmail/authorize":
		switch status {
		case fiber.StatusUnauthorized:
			kind = errNHSmailPassword
		case fiber.StatusForbidden:
			kind = errNHSmailLocked
		case fiber.StatusSeeOther:
			if l, ok := a.currentLearner(c); ok {
				a.progress.onNHSmailPassword(l.UserID)
			}
			return err
		}
	case path == "/nhsmail/mfa" && (status == fiber.StatusOK || status == fiber.StatusUnauthorized):
		// The second step's pages (a wrong texted code is a 401 too,
		// answered on the same page; a step that ended is a GET's 401).
		if l, ok := a.currentLearner(c); ok {
			a.progress.onMFAPage(l.UserID, status == fiber.StatusUnauthorized && method == fiber.MethodGet)
		}
		return err
	case path == "/sso/callback" && redirected && !strings.HasPrefix(string(c.Response().Header.Peek(fiber.HeaderLocation)), "/sso/"):
		// A refusal redirects to its page under /sso/, which the board
		// notes when it is shown.
		signedIn, nhsmail = true, true
	default:
		return err
	}
	if kind == "" && !signedIn {
		return err
	}
	l, ok := a.currentLearner(c)
	if !ok {
		return err
	}
	if kind != "" {
		a.progress.onError(l.UserID, kind)
	} else {
		a.progress.onSignIn(l.UserID, nhsmail)
	}
	return err
}
