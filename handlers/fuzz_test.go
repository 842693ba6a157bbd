package handlers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/views"
)

// Fuzz targets. Their seeds run in every `go test`; `go tool task fuzz`
// explores each for FUZZTIME. Crashers are kept under testdata/fuzz/.

// fuzzEnv is one app with a registered administrator, shared by every
// input of a fuzz run (a fresh bbolt file per input would be the cost).
// The sign-in rate limit is off, so thousands of inputs from one address
// are all judged on their content.
func fuzzEnv(f *testing.F) (*testEnv, string) {
	e := newEnv(f, func(c *Config) { c.SignInRateLimit = 0 })
	e.registeredAdmin()
	const seed = "AAAAAAAAAAAAAAAAAAAAAA" // a CSRF cookie value of the right shape
	return e, seed
}

// send runs one request through app.Test and fails the input on a server
// error (a panic becomes a 500 through the recover middleware).
func (e *testEnv) send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := e.app.Test(req, -1)
	if err != nil {
		// fasthttp refused to read the request (body over the limit, headers
		// over the buffer, a broken multipart body) before the app saw it;
		// a real listener answers those with 4xx.
		return 0, ""
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 500 && resp.StatusCode != fiber.StatusServiceUnavailable {
		t.Fatalf("%s %s: status %d\n%s", req.Method, req.URL, resp.StatusCode, excerpt(string(b)))
	}
	if resp.StatusCode == fiber.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%s %s: 503 without Retry-After", req.Method, req.URL)
	}
	return resp.StatusCode, string(b)
}

func FuzzSignIn(f *testing.F) {
	e, seed := fuzzEnv(f)
	token := e.csrfFor(seed)
	for _, s := range []struct{ userID, password, next string }{
		{"admin.jones", strongPassword, ""},
		{"admin.jones", strongPassword, "/admin/users?q=x"},
		{"ADMIN.JONES", "wrong", "//evil.example"},
		{"", "", ""},
		{"nobody", strongPassword, "/\\evil"},
		{strings.Repeat("a", 300), strings.Repeat("p", 300), "/" + strings.Repeat("x", 5000)},
		{"admin.jones\x00", "\xff\xfe", "\r\n/x"},
		{"admin.jones", strongPassword, "https://evil.example/"},
		{"' OR 1=1 --", "<script>alert(1)</script>", "javascript:alert(1)"},
		{"ａｄｍｉｎ.jones", "Riverside#2026q\u0000", "/messages%0d%0aSet-Cookie:x=1"},
	} {
		f.Add(s.userID, s.password, s.next)
	}
	f.Fuzz(func(t *testing.T, userID, password, next string) {
		form := url.Values{"user_id": {userID}, "password": {password}, "next": {next}, "csrf_token": {token}}
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		req.Host = testHost
		req.Header.Set("Content-Type", fiber.MIMEApplicationForm)
		req.Header.Set("Cookie", e.cookieName(csrfCookie)+"="+seed)
		status, _ := e.send(t, req)
		switch status {
		case 0, fiber.StatusSeeOther, fiber.StatusUnauthorized, fiber.StatusForbidden, fiber.StatusBadRequest, fiber.StatusServiceUnavailable:
		default:
			t.Fatalf("status %d", status)
		}
		// A fuzzed wrong password locks the administrator; open the way
		// again so the right one keeps being tried.
		if u, err := e.store.UserByUserID(t.Context(), "admin.jones"); err == nil && !u.LockedAt.IsZero() {
			e.store.Unlock(t.Context(), u.ID)
		}
	})
}

// FuzzSignInBody sends whatever body and content type, with a valid CSRF
// token in the header so the input reaches the sign-in handler.
func FuzzSignInBody(f *testing.F) {
	e, seed := fuzzEnv(f)
	token := e.csrfFor(seed)
	f.Add("user_id=admin.jones&password=Riverside%232026q", fiber.MIMEApplicationForm)
	f.Add("user_id=%zz&password=%", fiber.MIMEApplicationForm)
	f.Add("user_id=%ff%fe&password=x", fiber.MIMEApplicationForm)
	f.Add("user_id=a&user_id=b&password=&password=x", fiber.MIMEApplicationForm)
	f.Add(`{"user_id":"admin.jones","password":"x"}`, fiber.MIMEApplicationJSON)
	f.Add("--b\r\nContent-Disposition: form-data; name=\"user_id\"\r\n\r\nadmin.jones\r\n--b--\r\n", "multipart/form-data; boundary=b")
	f.Add("--b\r\nContent-Disposition: form-data; name=\"user_id\"\r\n\r\n", "multipart/form-data; boundary=b")
	f.Add("\xff\x00\x01", "text/plain")
	f.Add(strings.Repeat("a=b&", 20000), fiber.MIMEApplicationForm)
	f.Fuzz(func(t *testing.T, body, contentType string) {
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		req.Host = testHost
		if strings.ContainsAny(contentType, "\r\n") {
			contentType = fiber.MIMEApplicationForm
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Cookie", e.cookieName(csrfCookie)+"="+seed)
		req.Header.Set(csrfHeader, token)
		e.send(t, req)
		if u, err := e.store.UserByUserID(t.Context(), "admin.jones"); err == nil && !u.LockedAt.IsZero() {
			e.store.Unlock(t.Context(), u.ID)
		}
	})
}

// FuzzTokenCookies looks up arbitrary session and link tokens: never a
// server error, never signed in, never a usable link.
func FuzzTokenCookies(f *testing.F) {
	e, _ := fuzzEnv(f)
	for _, s := range []string{"", "x", strings.Repeat("A", 43), "%00", "\x00\xff", strings.Repeat("z", 5000), "a;b=c", `"quoted"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if strings.ContainsAny(token, "\r\n") { // cannot be sent in a header at all
			return
		}
		for _, path := range []string{"/messages", "/register", "/reset", "/setup"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Host = testHost
			req.Header.Set("Cookie", e.cookieName(sessionCookie)+"="+token+"; "+e.cookieName(linkCookie)+"="+token+"; "+e.cookieName(resetCookie)+"="+token+"; "+e.cookieName(setupCookie)+"="+token)
			status, body := e.send(t, req)
			if status == fiber.StatusOK && (path == "/messages" || strings.Contains(body, `name="confirm_password"`)) {
				t.Fatalf("GET %s with token %q: 200, the token was accepted", path, token)
			}
		}
	})
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"", "/", "/messages", "//evil.example", "/\\evil.example", "\\\\evil", "https://evil.example",
		"/%2F/evil", "/ok?next=//x", "javascript:alert(1)", "/\t/evil", "/login", "/signout", "/a\x00b", "/\u2028", "/%0d%0a", "/..//x", "///x", " /x", "/x#//y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		switch {
		case !strings.HasPrefix(got, "/"):
			t.Fatalf("safeNext(%q) = %q: not a path", next, got)
		case strings.HasPrefix(got, "//"):
			t.Fatalf("safeNext(%q) = %q: protocol-relative", next, got)
		case strings.Contains(got, "\\"):
			t.Fatalf("safeNext(%q) = %q: backslash", next, got)
		case strings.ContainsFunc(got, unicode.IsControl):
			t.Fatalf("safeNext(%q) = %q: control character", next, got)
		case got != next && got != "/messages":
			t.Fatalf("safeNext(%q) = %q: changed rather than refused", next, got)
		}
		if u, err := url.Parse(got); err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("safeNext(%q) = %q: parses as host %q scheme %q (%v)", next, got, u.Host, u.Scheme, err)
		}
	})
}

func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{"sam.patel@nhs.net", "a@b.c", "x@y\r\nBcc: z@evil.example", "\"a\r\n\"@b.c", "Sam <sam@nhs.net>", "sam@nhs.net\n",
		"=?utf-8?q?=0D=0A?=@x.y", "a@[127.0.0.1]", "\"quoted\"@nhs.net", "user@xn--nhs-9na.net", "a@b\u2028.c", "a\x00@b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if validateEmail(v) != nil {
			return
		}
		if strings.ContainsFunc(v, unicode.IsControl) || strings.ContainsAny(v, "\r\n") {
			t.Fatalf("validateEmail accepted %q, which holds a line break or control character", v)
		}
		if !strings.Contains(v, "@") || len(v) > maxEmail {
			t.Fatalf("validateEmail accepted %q", v)
		}
	})
}

func FuzzValidatePersonName(f *testing.F) {
	for _, s := range []string{"Sam", "O'Brien", "José Núñez", "Sam\r\nBcc: x", "Sam\u0085", "<b>", "\u202eevil", "\t", strings.Repeat("é", 51)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if validatePersonName("first_name", "first name", v) != nil {
			return
		}
		if strings.ContainsFunc(v, unicode.IsControl) || strings.ContainsAny(v, "\r\n<>") {
			t.Fatalf("validatePersonName accepted %q", v)
		}
	})
}

// FuzzComposeEmail builds every kind of email from inputs the forms accept
// and checks nothing that becomes a header can carry a line break.
func FuzzComposeEmail(f *testing.F) {
	f.Add("Sam", "Patel", "sam.patel@nhs.net", "sam.patel")
	f.Add("José", "Núñez-O'Brien", "jose@nhs.uk", "j_n-01")
	f.Add("Sam\r\nBcc: evil@example.com", "P", "x@y.z", "abc")
	f.Add("A", "B", "a@b.c\r\nBcc: e@x.y", "abc")
	f.Add("\u2028", "\u0085", "a\u2028@b.c", "a\nb")
	a := &app{cfg: DefaultConfig()}
	f.Fuzz(func(t *testing.T, first, last, email, userID string) {
		first, last, email, userID = trimSpace(first), trimSpace(last), trimSpace(email), trimSpace(userID)
		if validatePersonName("first_name", "first name", first) != nil || validatePersonName("last_name", "last name", last) != nil ||
			validateEmail(email) != nil || validateUserID(userID) != nil {
			return
		}
		to := cqrs.User{UserID: userID, FirstName: first, LastName: last, Email: email}
		org := cqrs.Organisation{Name: "Riverside", ODSCode: "Y12345"}
		now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		for _, m := range []cqrs.Email{
			a.registrationEmail(t.Context(), to, to, org, "tok", now),
			a.resetEmail(t.Context(), to, "tok", now),
			a.passwordChangedEmail(t.Context(), to, now),
			a.passwordResetEmail(t.Context(), to, now),
			firstOf(a.lockedEmail(t.Context())(to, now)),
			*a.nhsmailLinkedEmail(t.Context(), to, email),
			a.composeEmail(t.Context(), "custom", to, "Subject", views.EmailModel{}, ""),
		} {
			for name, v := range map[string]string{"ToName": m.ToName, "To": m.To, "Subject": m.Subject} {
				if strings.ContainsFunc(v, unicode.IsControl) {
					t.Fatalf("%s email: %s = %q carries a control character", m.Kind, name, v)
				}
			}
			if m.To != email {
				t.Fatalf("%s email: To = %q, want %q", m.Kind, m.To, email)
			}
		}
	})
}

// firstOf is the first of two results.
func firstOf[A, B any](a A, _ B) A { return a }
