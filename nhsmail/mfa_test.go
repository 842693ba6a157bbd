package nhsmail

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// mfaEnv is the provider with one account per MFA method.
func mfaEnv(t *testing.T) *env {
	e := newEnv(t)
	e.addAccount("app.user@nhs.net", "Ann", "App", func(a *cqrs.NHSmailAccount) { a.MFAMethod = cqrs.MFAAuthenticator })
	e.addAccount("text.user@nhs.net", "Tex", "Ter", func(a *cqrs.NHSmailAccount) { a.MFAMethod = cqrs.MFAText })
	return e
}

// mfaWait signs in with the password and returns the waiting page.
func (e *env) mfaWait(browser *http.Client, a attempt, email string, private bool) page {
	e.t.Helper()
	pg := e.submit(browser, a, email, password, private)
	if pg.status != http.StatusSeeOther || pg.header.Get("Location") != "/nhsmail/mfa" {
		e.t.Fatalf("after the password: %d %q, want 303 to the second step: %s", pg.status, pg.header.Get("Location"), pg.body)
	}
	if strings.Contains(strings.Join(pg.header.Values("Set-Cookie"), ";"), SessionCookie+"=") && !strings.Contains(strings.Join(pg.header.Values("Set-Cookie"), ";"), SessionCookie+"_mfa=") {
		e.t.Error("signed in to the simulator before the second step")
	}
	return e.get(browser, e.srv.URL+"/nhsmail/mfa")
}

// hiddenFields is the hidden fields of a form on a page.
func hiddenFields(pg page, testid string) url.Values {
	form := url.Values{}
	sel := pg.doc.Find(`form[data-testid="` + testid + `"] input[type="hidden"]`)
	for i := range sel.Length() {
		s := sel.Eq(i)
		form.Set(s.AttrOr("name", ""), s.AttrOr("value", ""))
	}
	return form
}

// answerPhone opens the phone link in a browser of its own (another
// device) and posts the decision with the number.
func (e *env) answerPhone(phoneURL, decision, number string) page {
	e.t.Helper()
	phone := e.newBrowser()
	pg := e.get(phone, e.srv.URL+phoneURL)
	if got := strings.TrimSpace(pg.testid("nhsmail-phone-heading").Text()); got != "Are you trying to sign in?" {
		e.t.Fatalf("phone page heading %q: %s", got, pg.body)
	}
	form := hiddenFields(pg, "nhsmail-phone-form")
	form.Set("decision", decision)
	form.Set("number", number)
	return e.post(phone, e.srv.URL+phoneURL, form)
}

type mfaClaims struct {
	AMR      []string `json:"amr"`
	ACR      string   `json:"acr"`
	AuthTime int64    `json:"auth_time"`
}

func claimsOf(t *testing.T, idt *oidc.IDToken) mfaClaims {
	var c mfaClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// stay answers "Stay signed in?" and returns the redirect to the client.
func (e *env) stay(browser *http.Client, pg page, answer string, dontShow bool) page {
	e.t.Helper()
	if got := strings.TrimSpace(pg.testid("nhsmail-stay-heading").Text()); got != "Stay signed in?" {
		e.t.Fatalf("want Stay signed in?, got %d %q: %s", pg.status, got, pg.body)
	}
	form := hiddenFields(pg, "nhsmail-stay-form")
	form.Set("stay", answer)
	if dontShow {
		form.Set("dont_show", "yes")
	}
	return e.post(browser, e.srv.URL+"/nhsmail/mfa/stay", form)
}

func sessionCookieMaxAge(pg page) (found bool, maxAge bool) {
	for _, c := range pg.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, SessionCookie+"=") && !strings.HasPrefix(c, SessionCookie+"=;") {
			return true, strings.Contains(c, "Max-Age=")
		}
	}
	return false, false
}

func TestMFAAuthenticatorNumberMatching(t *testing.T) {
	e := mfaEnv(t)
	browser := e.newBrowser()
	a := e.start()
	wait := e.mfaWait(browser, a, "app.user@nhs.net", false)
	number := strings.TrimSpace(wait.testid("nhsmail-mfa-number").Text())
	phoneURL := wait.testid("nhsmail-phone-link").AttrOr("href", "")
	if len(number) != 2 || !strings.HasPrefix(phoneURL, "/nhsmail/phone/") || wait.testid("nhsmail-phone-qr").Length() != 1 {
		t.Fatalf("waiting page: number %q, phone %q: %s", number, phoneURL, wait.body)
	}
	if pg := e.get(browser, e.srv.URL+"/nhsmail/mfa/status"); pg.status != http.StatusNoContent {
		t.Errorf("status while waiting: %d, want 204", pg.status)
	}

	t.Run("another browser cannot answer or continue without the phone link", func(t *testing.T) {
		e := e.with(t)
		attacker := e.newBrowser()
		if pg := e.get(attacker, e.srv.URL+"/nhsmail/mfa"); pg.status == http.StatusOK && pg.testid("nhsmail-stay-heading").Length() > 0 {
			t.Fatal("another browser reached Stay signed in?")
		}
		for _, guess := range []string{"/nhsmail/phone/", "/nhsmail/phone/" + strings.Repeat("A", 43), "/nhsmail/phone/" + strings.TrimPrefix(phoneURL, "/nhsmail/phone/")[:20]} {
			pg := e.post(attacker, e.srv.URL+guess, url.Values{"decision": {"approve"}, "number": {number}})
			if pg.status == http.StatusOK {
				t.Errorf("%s answered %d", guess, pg.status)
			}
		}
		// The attacker's own sign-in with the password is another pending
		// sign-in: its phone answers it, never this one.
		other := e.mfaWait(attacker, e.start(), "app.user@nhs.net", false)
		otherPhone := other.testid("nhsmail-phone-link").AttrOr("href", "")
		if otherPhone == phoneURL {
			t.Fatal("two sign-ins share a phone link")
		}
		e.answerPhone(otherPhone, "approve", strings.TrimSpace(other.testid("nhsmail-mfa-number").Text()))
		if pg := e.get(browser, e.srv.URL+"/nhsmail/mfa/status"); pg.status != http.StatusNoContent {
			t.Errorf("the victim's prompt changed when another sign-in was approved: %d", pg.status)
		}
	})

	ans := e.answerPhone(phoneURL, "approve", number)
	if got := strings.TrimSpace(ans.testid("nhsmail-phone-heading").Text()); got != "Sign-in approved" {
		t.Fatalf("phone after approving: %q", got)
	}
	if pg := e.get(browser, e.srv.URL+"/nhsmail/mfa/status"); pg.header.Get("HX-Redirect") != "/nhsmail/mfa" {
		t.Errorf("status after approval: %d %v", pg.status, pg.header)
	}
	// Without JavaScript: Continue.
	cont := e.post(browser, e.srv.URL+"/nhsmail/mfa", hiddenFields(wait, "nhsmail-continue-form"))
	if cont.status != http.StatusSeeOther {
		t.Fatalf("Continue: %d", cont.status)
	}
	kmsi := e.get(browser, e.srv.URL+"/nhsmail/mfa")
	back := e.stay(browser, kmsi, "no", false)
	if found, persistent := sessionCookieMaxAge(back); !found || persistent {
		t.Errorf("No to Stay signed in?: session cookie set %v, outlives the browser %v", found, persistent)
	}
	_, idt, _ := e.exchange(e.codeFrom(back, a), a)
	c := claimsOf(t, idt)
	if !slices.Equal(c.AMR, []string{"pwd", "mfa"}) || c.AuthTime == 0 {
		t.Errorf("ID token after MFA: amr %v auth_time %d", c.AMR, c.AuthTime)
	}

	t.Run("the session gives mfa again; prompt=login asks for both steps", func(t *testing.T) {
		e := e.with(t)
		a := e.start()
		_, idt, _ := e.exchange(e.codeFrom(e.get(browser, a.url), a), a)
		if c := claimsOf(t, idt); !slices.Equal(c.AMR, []string{"pwd", "mfa"}) {
			t.Errorf("amr from the session: %v", c.AMR)
		}
		a = e.start(oauth2.SetAuthURLParam("prompt", "login"))
		e.mfaWait(browser, a, "app.user@nhs.net", false)
		a = e.start(oauth2.SetAuthURLParam("max_age", "0"))
		e.clock.Advance(time.Second)
		e.mfaWait(browser, a, "app.user@nhs.net", false)
	})
}

func TestMFAPromptEndings(t *testing.T) {
	e := mfaEnv(t)
	cases := []struct {
		name, decision string
		wrongNumber    bool
		wait           time.Duration
		heading        string
	}{
		{"deny", "deny", false, 0, "Request denied"},
		{"wrong number", "approve", true, 0, "Request denied"},
		{"it's not me", "report", false, 0, "Request denied"},
		{"no answer within a minute", "", false, MFAAnswerWithin + time.Second, "We didn't hear from you"},
		{"the training clock moved on 72 hours", "", false, 72 * time.Hour, "We didn't hear from you"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			browser := e.newBrowser()
			a := e.start()
			wait := e.mfaWait(browser, a, "app.user@nhs.net", false)
			number := strings.TrimSpace(wait.testid("nhsmail-mfa-number").Text())
			phoneURL := wait.testid("nhsmail-phone-link").AttrOr("href", "")
			if tc.wrongNumber {
				number = map[bool]string{true: "10", false: "99"}[number != "10"]
			}
			if tc.decision != "" {
				e.answerPhone(phoneURL, tc.decision, number)
			}
			e.clock.Advance(tc.wait)
			defer e.clock.Advance(-tc.wait)
			pg := e.get(browser, e.srv.URL+"/nhsmail/mfa")
			if got := strings.TrimSpace(pg.testid("nhsmail-message-heading").Text()); got != tc.heading {
				t.Fatalf("heading %q, want %q: %s", got, tc.heading, pg.body)
			}
			if link := pg.testid("nhsmail-message-link").AttrOr("href", ""); !strings.HasPrefix(link, "/nhsmail/authorize?") {
				t.Errorf("no way to try again: %q", link)
			}
			if found, _ := sessionCookieMaxAge(pg); found {
				t.Error("a session was started")
			}
			// The answer is spent: the phone link no longer answers.
			if pg := e.get(e.newBrowser(), e.srv.URL+phoneURL); pg.status != http.StatusNotFound {
				t.Errorf("phone link after the end: %d", pg.status)
			}
		})
	}
	events, _, err := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: cqrs.AuditNHSmailMFAReported})
	if err != nil || len(events) != 1 || events[0].Subject != "app.user@nhs.net" {
		t.Errorf("\"No, it's not me\" in the audit: %+v, %v", events, err)
	}
}

func TestMFATextMessageCode(t *testing.T) {
	e := mfaEnv(t)
	browser := e.newBrowser()
	a := e.start()
	wait := e.mfaWait(browser, a, "text.user@nhs.net", true)
	if got := wait.testid("nhsmail-mfa-text").Text(); !strings.Contains(got, "We texted your phone +44 XXXXXXXX") {
		t.Errorf("code page says %q", got)
	}
	if wait.testid("nhsmail-code").AttrOr("autocomplete", "") != "one-time-code" || wait.testid("nhsmail-code").AttrOr("maxlength", "") != "" {
		t.Error("the code field must take a pasted or filled code (WCAG 3.3.8)")
	}
	phone := e.get(e.newBrowser(), e.srv.URL+wait.testid("nhsmail-phone-link").AttrOr("href", ""))
	code := strings.TrimSpace(phone.testid("nhsmail-phone-code").Text())
	if len(code) != 6 {
		t.Fatalf("the phone shows code %q: %s", code, phone.body)
	}
	form := hiddenFields(wait, "nhsmail-code-form")
	form.Set("code", "000000")
	if code == "000000" {
		form.Set("code", "111111")
	}
	wrong := e.post(browser, e.srv.URL+"/nhsmail/mfa", form)
	if wrong.status != http.StatusUnauthorized || !strings.Contains(wrong.testid("nhsmail-mfa-error").Text(), "You didn't enter the expected verification code") {
		t.Fatalf("a wrong code: %d %s", wrong.status, wrong.body)
	}
	form.Set("code", code[:3]+" "+code[3:]) // pasted with a space
	right := e.post(browser, e.srv.URL+"/nhsmail/mfa", form)
	if right.status != http.StatusSeeOther {
		t.Fatalf("the right code: %d %s", right.status, right.body)
	}
	back := e.stay(browser, e.get(browser, e.srv.URL+"/nhsmail/mfa"), "yes", true)
	if found, persistent := sessionCookieMaxAge(back); !found || !persistent {
		t.Errorf("Yes to Stay signed in?: session cookie set %v, outlives the browser %v", found, persistent)
	}
	e.codeFrom(back, a)

	t.Run("Don't show this again", func(t *testing.T) {
		e := e.with(t)
		a := e.start(oauth2.SetAuthURLParam("prompt", "login"))
		wait := e.mfaWait(browser, a, "text.user@nhs.net", false)
		code := strings.TrimSpace(e.get(e.newBrowser(), e.srv.URL+wait.testid("nhsmail-phone-link").AttrOr("href", "")).testid("nhsmail-phone-code").Text())
		form := hiddenFields(wait, "nhsmail-code-form")
		form.Set("code", code)
		e.post(browser, e.srv.URL+"/nhsmail/mfa", form)
		back := e.get(browser, e.srv.URL+"/nhsmail/mfa")
		e.codeFrom(back, a)
		if found, persistent := sessionCookieMaxAge(back); !found || !persistent {
			t.Errorf("the remembered Yes: session cookie set %v, outlives the browser %v", found, persistent)
		}
	})

	t.Run("too many wrong codes", func(t *testing.T) {
		e := e.with(t)
		browser := e.newBrowser()
		wait := e.mfaWait(browser, e.start(), "text.user@nhs.net", false)
		form := hiddenFields(wait, "nhsmail-code-form")
		var pg page
		for range maxCodeAttempts {
			form.Set("code", "12345x")
			pg = e.post(browser, e.srv.URL+"/nhsmail/mfa", form)
		}
		pg = e.get(browser, e.srv.URL+"/nhsmail/mfa")
		if got := strings.TrimSpace(pg.testid("nhsmail-message-heading").Text()); got != "You've entered the wrong code too many times" {
			t.Errorf("after %d wrong codes: %q", maxCodeAttempts, got)
		}
	})
}

func TestMFAACRValues(t *testing.T) {
	e := mfaEnv(t)
	mfa := oauth2.SetAuthURLParam("acr_values", "http://schemas.openid.net/pape/policies/2007/06/multi-factor")

	t.Run("an account without MFA is refused with Entra's error", func(t *testing.T) {
		e := e.with(t)
		a := e.start(mfa)
		pg := e.submit(e.newBrowser(), a, "sam.patel@nhs.net", password, false)
		if got := e.callbackError(pg, a); got != "interaction_required" {
			t.Errorf("error %q, want interaction_required", got)
		}
		if loc := pg.header.Get("Location"); !strings.Contains(loc, "AADSTS50079") {
			t.Errorf("error_description does not name AADSTS50079: %s", loc)
		}
	})

	t.Run("an account with MFA gets acr and amr", func(t *testing.T) {
		e := e.with(t)
		browser := e.newBrowser()
		a := e.start(mfa)
		wait := e.mfaWait(browser, a, "app.user@nhs.net", false)
		e.answerPhone(wait.testid("nhsmail-phone-link").AttrOr("href", ""), "approve", strings.TrimSpace(wait.testid("nhsmail-mfa-number").Text()))
		back := e.stay(browser, e.get(browser, e.srv.URL+"/nhsmail/mfa"), "no", false)
		_, idt, _ := e.exchange(e.codeFrom(back, a), a)
		if c := claimsOf(t, idt); c.ACR != "http://schemas.openid.net/pape/policies/2007/06/multi-factor" || !slices.Contains(c.AMR, "mfa") {
			t.Errorf("claims %+v", c)
		}
	})

	t.Run("a password-only session does not answer a request for MFA", func(t *testing.T) {
		e := e.with(t)
		browser := e.newBrowser()
		a := e.start()
		e.codeFrom(e.submit(browser, a, "sam.patel@nhs.net", password, false), a)
		a = e.start(mfa)
		if got := e.callbackError(e.get(browser, a.url), a); got != "interaction_required" {
			t.Errorf("error %q, want interaction_required", got)
		}
	})

	t.Run("discovery lists the acr values", func(t *testing.T) {
		var meta struct {
			ACR []string `json:"acr_values_supported"`
		}
		if err := e.oidc.Claims(&meta); err != nil || !slices.Contains(meta.ACR, "http://schemas.openid.net/pape/policies/2007/06/multi-factor") {
			t.Errorf("acr_values_supported %v, %v", meta.ACR, err)
		}
	})
}

// A second relying party, registered by the administrator, sees amr
// (pwd, mfa) and auth_time after the second step, and its acr_values are
// refused for an account without MFA.
func TestAnotherApplicationSeesMFA(t *testing.T) {
	e := mfaEnv(t)
	app, err := e.store.CreateNHSmailApplication(t.Context(), cqrs.NHSmailApplication{Name: "Rota Desktop",
		RedirectURIs: []string{"http://127.0.0.1:53682/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: app.ClientID, RedirectURL: app.RedirectURIs[0],
		Endpoint: e.oidc.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	start := func(opts ...oauth2.AuthCodeOption) attempt {
		a := attempt{state: "s-" + time.Now().Format("150405.000000000"), nonce: "n-" + time.Now().Format("150405.000000000"), verifier: oauth2.GenerateVerifier()}
		a.url = cfg.AuthCodeURL(a.state, append([]oauth2.AuthCodeOption{oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier)}, opts...)...)
		return a
	}
	browser := e.newBrowser()
	a := start()
	before := time.Now().Add(-time.Second).Unix()
	wait := e.mfaWait(browser, a, "app.user@nhs.net", false)
	e.answerPhone(wait.testid("nhsmail-phone-link").AttrOr("href", ""), "approve", strings.TrimSpace(wait.testid("nhsmail-mfa-number").Text()))
	back := e.stay(browser, e.get(browser, e.srv.URL+"/nhsmail/mfa"), "no", false)
	loc, _ := url.Parse(back.header.Get("Location"))
	if loc == nil || !strings.HasPrefix(loc.String(), cfg.RedirectURL+"?") {
		t.Fatalf("not back at the application: %d %q", back.status, back.header.Get("Location"))
	}
	tok, err := cfg.Exchange(e.ctx(), loc.Query().Get("code"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := e.oidc.Verifier(&oidc.Config{ClientID: app.ClientID}).Verify(e.ctx(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, idt); !slices.Equal(c.AMR, []string{"pwd", "mfa"}) || c.AuthTime < before || c.AuthTime > time.Now().Unix()+1 {
		t.Errorf("the application sees amr %v auth_time %d", c.AMR, c.AuthTime)
	}

	a = start(oauth2.SetAuthURLParam("acr_values", "mfa"))
	other := e.newBrowser()
	form := e.signInForm(other, a)
	form.Set("email", "sam.patel@nhs.net")
	form.Set("password", password)
	pg := e.post(other, e.issuer+"/authorize", form)
	if loc, _ := url.Parse(pg.header.Get("Location")); loc == nil || loc.Query().Get("error") != "interaction_required" {
		t.Errorf("acr_values=mfa for an account without MFA: %d %q", pg.status, pg.header.Get("Location"))
	}
}
