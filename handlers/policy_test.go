package handlers

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/policy"
)

// hardenedPassphrase meets the hardened policy (and, at 33 characters, not
// the CQRS one).
const hardenedPassphrase = "purple tortoise under lamplight!"

func hardenedConfig(c *Config) { c.PasswordPolicy = policy.Hardened() }

// The CQRS-only and hardened-only wording the screens must (not) show.
var (
	cqrsOnlyText     = []string{"Password must be 8-32 characters long.", "Password must address three of the following four categories:", "Uppercase characters (A...Z)"}
	hardenedOnlyText = []string{"Password must be 15-64 characters long.", "Password must not be a commonly used password", "name or ODS code", "Password must be hard to guess"}
	sharedText       = []string{"Password may only be changed once every 72 hours.", "Password must be different from the previous 8 passwords.", "Password must be different from the current password."}
)

func wantNoText(t testing.TB, r response, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(r.body, s) {
			t.Errorf("response contains %q, want it absent", s)
		}
	}
}

// TestPasswordPolicySwitchesRegistration runs the same registration under
// each policy: the flag decides which rules are listed, ticked and enforced.
func TestPasswordPolicySwitchesRegistration(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adjust []func(*Config)
		// shown and hidden wording on the Security Information screen
		shown, hidden []string
		// live states for "Password1!", by rule
		live map[string]string
		// what submitting each password gives (303 accepted, 422 refused),
		// in order, with the wording a refusal must name
		submits []struct {
			password string
			status   int
			want     []string
		}
	}{
		{
			name:   "cqrs (default)",
			shown:  append(append([]string{}, cqrsOnlyText...), sharedText...),
			hidden: hardenedOnlyText,
			live:   map[string]string{"length": "met", "categories": "met", "user-id": "met"},
			submits: []struct {
				password string
				status   int
				want     []string
			}{
				{hardenedPassphrase, 422, []string{"Password must be 8-32 characters long."}},
				{"Password1!", 303, nil},
			},
		},
		{
			name:   "hardened",
			adjust: []func(*Config){hardenedConfig},
			shown:  append(append([]string{}, hardenedOnlyText...), sharedText...),
			hidden: cqrsOnlyText,
			live:   map[string]string{"length": "not-met", "common": "not-met", "context": "met", "strength": "not-met"},
			submits: []struct {
				password string
				status   int
				want     []string
			}{
				{"Password1!", 422, []string{"Password must be 15-64 characters long.", "Password must not be a commonly used password", "Password must be hard to guess", "similar to a commonly used password"}},
				{"Welcome2026!", 422, []string{"Password must be 15-64 characters long.", "Password must not be a commonly used password"}},
				{"Nhsmail123!", 422, []string{"Password must be 15-64 characters long.", "or the words NHS, NHSmail or CQRS."}},
				{"alex copper lamplight 2026", 422, []string{"Password can not contain the User ID or part of it, your first or last name"}},
				{"ALEX copper lamplight 2026", 422, []string{"your first or last name"}},
				{"quiet RIVERSIDE PRACTICE lamp", 422, []string{"name or ODS code"}},
				{"quiet Y12345 copper lamplight", 422, []string{"name or ODS code"}},
				{"zx" + strings.Repeat("ab", 31) + "c", 422, []string{"Password must be 15-64 characters long."}},
				{hardenedPassphrase, 303, nil},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.adjust...)
			c := e.client()
			e.setUp(c)
			page := c.get("/register")
			wantStatus(t, page, 200)
			wantText(t, page, tc.shown...)
			wantNoText(t, page, tc.hidden...)
			csrf := page.doc(t).Find(`input[name="csrf_token"]`).AttrOr("value", "")

			r := c.post("/register/check", url.Values{"password": {"Password1!"}, "csrf_token": {csrf}}, header("HX-Request", "true"))
			wantStatus(t, r, 200)
			d := r.doc(t)
			for rule, want := range tc.live {
				if got := d.Find(`[data-testid="rule-`+rule+`"]`).AttrOr("data-state", ""); got != want {
					t.Errorf("live check of Password1!: rule %s = %q, want %q", rule, got, want)
				}
			}
			if got, want := d.Find(`[data-testid="rule-history"]`).AttrOr("data-state", "-"), ""; got != want {
				t.Errorf("live check: history = %q, want unchecked (%q)", got, want)
			}

			for _, s := range tc.submits {
				before := e.dbBytes()
				r := c.post("/register", url.Values{"password": {s.password}, "confirm_password": {s.password}, "csrf_token": {csrf}})
				wantStatus(t, r, s.status)
				wantText(t, r, s.want...)
				if s.status == 422 {
					if strings.Contains(r.body, s.password) {
						t.Errorf("the refusal of %q echoes the password", s.password)
					}
					if !bytes.Equal(before, e.dbBytes()) {
						t.Errorf("database changed after refusing %q", s.password)
					}
				}
			}
		})
	}
}

// TestHardenedLiveCheckGivesTheEstimatorsReason: the strength line carries
// the estimator's feedback while the user types, and loses it once met.
func TestHardenedLiveCheckGivesTheEstimatorsReason(t *testing.T) {
	e := newEnv(t, hardenedConfig)
	c := e.client()
	e.setUp(c)
	csrf := c.csrf("/register")
	r := c.post("/register/check", url.Values{"password": {"aaaaaaaaaaaaaaaaaaaa"}, "csrf_token": {csrf}}, header("HX-Request", "true"))
	wantStatus(t, r, 200)
	if got, want := r.doc(t).Find(`[data-testid="reason-strength"]`).Text(), `Repeats like "aaa" are easy to guess.`; !strings.Contains(got, want) {
		t.Errorf("strength reason = %q, want it to contain %q", got, want)
	}
	r = c.post("/register/check", url.Values{"password": {hardenedPassphrase}, "csrf_token": {csrf}}, header("HX-Request", "true"))
	d := r.doc(t)
	for _, rule := range []string{"length", "common", "context", "strength"} {
		if got, want := d.Find(`[data-testid="rule-`+rule+`"]`).AttrOr("data-state", ""), "met"; got != want {
			t.Errorf("rule %s = %q, want %q", rule, got, want)
		}
	}
	if n := d.Find(`[data-testid="reason-strength"]`).Length(); n != 0 {
		t.Errorf("a met strength rule still shows a reason")
	}
}

// TestHardenedPolicyOnAccountAndReset: the account page lists and enforces
// the hardened rules with the 72 hours, history and current; a reset
// through an emailed link is exempt from the 72 hours only.
func TestHardenedPolicyOnAccountAndReset(t *testing.T) {
	e := newEnv(t, hardenedConfig)
	admin := e.registeredAdmin()
	const first = "silver heron above the quiet weir"
	sam := e.addUser(admin.OrgID, "sam.patel", first)
	change := func(c *client, current, pw string) response {
		return c.post("/account/password", url.Values{"current_password": {current}, "password": {pw}, "confirm_password": {pw}, "csrf_token": {c.csrf("/account")}})
	}

	c := e.client()
	wantStatus(t, c.signIn("sam.patel", first, ""), 303)
	page := c.get("/account")
	wantStatus(t, page, 200)
	wantText(t, page, hardenedOnlyText...)
	wantNoText(t, page, cqrsOnlyText...)

	r := c.post("/account/password/check", url.Values{"password": {"Sam Patel lamplight copper"}, "csrf_token": {c.csrf("/account")}}, header("HX-Request", "true"))
	wantStatus(t, r, 200)
	if got, want := r.doc(t).Find(`[data-testid="rule-context"]`).AttrOr("data-state", ""), "not-met"; got != want {
		t.Errorf("live check with the user's name: context = %q, want %q", got, want)
	}

	r = change(c, first, "amber kestrel over frozen meadows")
	wantStatus(t, r, 422)
	wantText(t, r, "Password may only be changed once every 72 hours.")

	e.clock.Advance(73 * time.Hour)
	c = e.client()
	wantStatus(t, c.signIn("sam.patel", first, ""), 303)
	for _, tc := range []struct{ password, want string }{
		{"Welcome2026!", "Password must be 15-64 characters long."},
		{"patel lamplight copper kettle", "your first or last name"},
		{first, "Password must be different from the current password."},
	} {
		r := change(c, first, tc.password)
		wantStatus(t, r, 422)
		wantText(t, r, tc.want)
	}
	const second = "amber kestrel over frozen meadows"
	wantStatus(t, change(c, first, second), 303)

	// A reset link within the 72 hours: allowed, but not back to a
	// previous password, and still under the hardened rules.
	f := e.client()
	wantStatus(t, f.post("/forgotten", url.Values{"who": {"sam.patel"}, "csrf_token": {f.csrf("/forgotten")}}), 303)
	link := e.resetLinkFor(sam)
	rc := e.client()
	wantStatus(t, rc.get(link), 303)
	page = rc.get("/reset")
	wantStatus(t, page, 200)
	wantText(t, page, hardenedOnlyText...)
	wantText(t, page, "does not apply to a password set from an emailed link")
	csrf := page.doc(t).Find(`input[name="csrf_token"]`).AttrOr("value", "")
	for _, tc := range []struct{ password, want string }{
		{first, "Password must be different from the previous 8 passwords."},
		{"Password1!", "Password must not be a commonly used password"},
	} {
		r := rc.post("/reset", url.Values{"password": {tc.password}, "confirm_password": {tc.password}, "csrf_token": {csrf}})
		wantStatus(t, r, 422)
		wantText(t, r, tc.want)
		wantNoText(t, r, "Password may only be changed once every 72 hours.</span>")
	}
	r = rc.post("/reset", url.Values{"password": {"copper lantern beside the mill"}, "confirm_password": {"copper lantern beside the mill"}, "csrf_token": {csrf}})
	wantStatus(t, r, 303)
}

// TestHardenedCheckWaitsForAHasherSlot: a crafted password can cost the
// strength estimate most of a second, so live checks share the hasher's
// bound; while every slot is busy, a check waits instead of running.
func TestHardenedCheckWaitsForAHasherSlot(t *testing.T) {
	e := newEnv(t, hardenedConfig)
	c := e.client()
	e.setUp(c)
	csrf := c.csrf("/register")

	release, held := make(chan struct{}), make(chan struct{})
	const slots = 4 // newEnv's hasher
	for i := 0; i < slots; i++ {
		go e.hasher.Do(context.Background(), func() { held <- struct{}{}; <-release })
		<-held
	}
	answered := make(chan response, 1)
	go func() {
		answered <- c.post("/register/check", url.Values{"password": {hardenedPassphrase}, "csrf_token": {csrf}}, header("HX-Request", "true"))
	}()
	select {
	case r := <-answered:
		close(release)
		t.Fatalf("the check ran (status %d) while every hasher slot was busy", r.StatusCode)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	wantStatus(t, <-answered, 200)
}
