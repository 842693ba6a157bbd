package training

import (
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/views"
)

// The job aid beside every page in training mode: both documents' steps,
// with the step on screen highlighted.

// jobAidSteps are both documents' steps in their words, in screen order.
var jobAidSteps = []struct {
	group string
	step  views.JobAidStep
}{
	{"Completing your user registration and signing in to CQRS (job aid)", views.JobAidStep{ID: "ja-1", Number: "1", Text: "You will receive an email with a link. Please click on this link."}},
	{"", views.JobAidStep{ID: "ja-2", Number: "2", Text: "You will be taken to the Security Information screen. Please ensure you read the Password Policy. Create a password and confirm it."}},
	{"", views.JobAidStep{ID: "ja-3", Number: "3", Text: "Go to the CQRS Login page. If you have an NHS email address which ends in nhs.net you can use the Sign In option. Alternatively, log in with your User ID and password as normal."}},
	{"", views.JobAidStep{ID: "ja-4", Number: "4", Text: "On the NHSmail login page, enter your email address and password, then click the Sign in button. This is also referred to as Single sign-on (SSO)."}},
	// Not in the documents: NHSmail's second step since 2023
	// (NHSMAIL-TODAY.md), between entering the password and CQRS.
	{"", views.JobAidStep{ID: "ja-4-mfa", Number: "4a", Beyond: true, Text: "After your password, NHSmail may ask you to approve the sign-in on your phone: type the number it shows into Microsoft Authenticator, or enter the code it texted you. Then choose whether to stay signed in."}},
	{"CQRS single sign on user guide", views.JobAidStep{ID: "sso-1", Number: "1", Text: "Click on the \"Sign In\" button to start the NHSmail sign in process to CQRS."}},
	{"", views.JobAidStep{ID: "sso-2", Number: "2", Text: "You will be redirected to the NHSmail login page: enter your NHSmail email address and password and click the \"Sign in\" button."}},
	{"", views.JobAidStep{ID: "sso-3", Number: "3", Text: "If you have a CQRS account, you will be presented with your CQRS message centre and can use CQRS as normal."}},
	{"", views.JobAidStep{ID: "sso-4", Number: "4", Text: "If you do not have an NHSmail account, the sign in to NHSmail will fail (\"Incorrect user ID or password. Type the correct user ID and password, and try again.\"): request an NHSmail account through the usual NHS process."}},
	{"", views.JobAidStep{ID: "sso-5", Number: "5", Text: "If you sign in to NHSmail but do not have a CQRS account with that email address, you will see an error message with the CQRS help desk contact details."}},
	{"When you are locked out", views.JobAidStep{ID: "locked", Number: "!", Text: "Too many failed sign-ins lock your account: unlock it with Unlock Account or Forgotten Password, or ask your CQRS User Administrator."}},
}

// secondFactorJobAidStep is the CQRS second step, shown after the job
// aid's step 3 only when the site asks for one (--second-factor).
var secondFactorJobAidStep = views.JobAidStep{ID: "ja-3-2fa", Number: "3a", Beyond: true, BeyondNote: "This site's setting, beyond the documents",
	Text: "After your User ID and password, this site may ask for a second step: the 6-digit code from your authenticator app (set it up the first time from the QR code or the key shown), your passkey (where your browser allows it), or one of your recovery codes. Where passkeys work, the Login page also offers Sign in with a passkey."}

// jobAidPages maps what is on screen to the steps it shows: the request
// path (a prefix when it ends in "/"), and where one path shows several
// pages, the page title. The first match wins.
var jobAidPages = []struct {
	path, title string
	steps       []string
}{
	{"/training/mailbox", "", []string{"ja-1"}},
	{"/training/mailbox/", "", []string{"ja-1"}},
	{"/register", "", []string{"ja-2"}},
	{"/register/complete", "", []string{"ja-3"}}, // it leads to the Login page
	{"/register/", "", []string{"ja-2"}},
	{"/login", "", []string{"ja-3", "sso-1"}},
	{"/sso/no-account", "", []string{"sso-5"}},
	{"/sso/locked", "", []string{"locked"}},
	{"/sso/linked-elsewhere", "", []string{"sso-5"}},
	{"/sso/", "", []string{"ja-4", "sso-2"}},
	{"/account/passkeys", "", []string{"ja-3-2fa"}},
	{"/messages", "", []string{"sso-3"}},
	{"/messages/", "", []string{"sso-3"}},
	{"/forgotten", "", []string{"locked"}},
	{"/reset", "", []string{"locked"}},
	{"/reset/", "", []string{"locked"}},
}

// jobAidCurrent is the steps the page at path with title shows.
func jobAidCurrent(path, title string) []string {
	for _, p := range jobAidPages {
		matches := path == p.path || (strings.HasSuffix(p.path, "/") && strings.HasPrefix(path, p.path))
		if matches && (p.title == "" || p.title == title) {
			return p.steps
		}
	}
	return nil
}

// trainingChrome is the banner and job aid for the page being rendered;
// nil outside training mode.
func (a *app) trainingChrome(c *fiber.Ctx, title string) *views.TrainingChrome {
	t := &views.TrainingChrome{PanelOpen: c.Cookies(jobAidCookie) != "closed", Return: c.Path()}
	if u, ok := a.currentUser(c); ok && a.runsTheClass(u) && trainersPage(c.Path()) {
		t.PanelOpen, t.NoJobAid = false, true
	}
	if c.Method() == fiber.MethodGet {
		t.Return = string(c.Request().URI().RequestURI())
	}
	current := map[string]bool{}
	steps := jobAidCurrent(c.Path(), title)
	if a.sealer != nil && (c.Path() == a.cfg.SecondFactorPath || c.Path() == "/account/second-factor") {
		steps = []string{secondFactorJobAidStep.ID}
	}
	a.noteLearnerPage(c, steps, title)
	for _, id := range steps {
		current[id] = true
	}
	for _, s := range jobAidSteps {
		if s.group != "" || len(t.Groups) == 0 {
			t.Groups = append(t.Groups, views.JobAidGroup{Title: s.group})
		}
		step := s.step
		step.Current = current[step.ID]
		g := &t.Groups[len(t.Groups)-1]
		g.Steps = append(g.Steps, step)
		if step.ID == "ja-3" && a.sealer != nil {
			extra := secondFactorJobAidStep
			extra.Current = current[extra.ID]
			g.Steps = append(g.Steps, extra)
		}
	}
	return t
}

// trainersPage reports whether path is one of the trainer's own pages,
// which have no job aid beside them.
func trainersPage(path string) bool {
	return path == "/training/board" || strings.HasPrefix(path, "/training/board/") || path == "/training/trainer" || strings.HasPrefix(path, "/training/trainer/")
}

// toggleJobAid shows or hides the job aid panel and remembers the choice.
func (a *app) toggleJobAid(c *fiber.Ctx) error {
	show := "open"
	if c.FormValue("show") == "closed" {
		show = "closed"
	}
	c.Cookie(&fiber.Cookie{Name: jobAidCookie, Value: show, Path: "/", HTTPOnly: true, Secure: a.cfg.Secure,
		SameSite: fiber.CookieSameSiteLaxMode, Expires: time.Now().Add(365 * 24 * time.Hour)})
	return a.redirect(c, localPath(c.FormValue("next")))
}

// localPath keeps a return address on this site (unlike safeNext it allows
// the login page).
func localPath(next string) string {
	u, err := url.Parse(next)
	if next == "" || err != nil || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n\t") || u.Scheme != "" || u.Host != "" {
		return "/training"
	}
	return next
}
