package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/store"
)

// The console says an email waits in the local mailbox, and where, but
// never prints its link: a console is projected, pasted into tickets and
// scrolled back by anyone at the computer. (The first-run set-up link is
// the one link it prints, tested by startApp.)
func TestConsoleNeverPrintsALink(t *testing.T) {
	data := filepath.Join(t.TempDir(), "cqrs.db")
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	org, err := st.CreateOrganisation(t.Context(), cqrs.Organisation{Name: "Riverside Practice", ODSCode: "Y12345"})
	if err != nil {
		t.Fatal(err)
	}
	link := secret.NewToken()
	u, err := st.CreateUser(t.Context(), cqrs.User{UserID: "lee.smith", FirstName: "Lee", LastName: "Smith", Email: "lee.smith@nhs.net", OrgID: org.ID, Role: cqrs.RoleUser},
		secret.HashToken(link), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := secret.NewHasher(secret.OWASP, 1, 5*time.Second).Hash(t.Context(), "Harbour!2026x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetPasswordWithLink(t.Context(), secret.HashToken(link), cqrs.LinkRegister, hash, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()

	var base string
	stdout, stderr := runApp(t, []string{"--no-browser", "--addr", "127.0.0.1:0", "--data", data}, 10*time.Second, func(out string) bool {
		m := runningLineRE.FindStringSubmatch(out)
		if m != nil {
			base = m[1]
		}
		return m != nil
	})

	// Lee asks for an unlock / forgotten-password email, as on the page.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	page, err := browser.Get(base + "/forgotten")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(body)
	if csrf == nil {
		t.Fatalf("no CSRF token on the forgotten page:\n%s", body)
	}
	sent, err := browser.PostForm(base+"/forgotten", url.Values{"who": {u.UserID}, "csrf_token": {string(csrf[1])}})
	if err != nil {
		t.Fatal(err)
	}
	sent.Body.Close()
	if sent.StatusCode != http.StatusOK {
		t.Fatalf("POST /forgotten = %d", sent.StatusCode)
	}

	want := "Email to Lee Smith <lee.smith@nhs.net>: Unlock your CQRS account or reset your password\n  waiting in the local mailbox: " + base + "/mailbox\n"
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stdout.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("the console does not say the email waits in the local mailbox; want %q in:\n%s", want, stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
		if strings.Contains(out, "token=") || strings.Contains(out, "/reset") {
			t.Errorf("%s shows a link:\n%s", name, out)
		}
	}
}

// signInOver signs in on the legacy login over HTTP and reports whether
// it worked (a redirect to the message centre).
func signInOver(t *testing.T, base, userID, password string) bool {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page, err := browser.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(body)
	if csrf == nil {
		t.Fatalf("no CSRF token on the login page")
	}
	r, err := browser.PostForm(base+"/login", url.Values{"user_id": {userID}, "password": {password}, "csrf_token": {string(csrf[1])}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	// A sign-in lands on the messages; the trainer's on the class board.
	where := r.Header.Get("Location")
	return r.StatusCode == http.StatusSeeOther && (where == "/messages" || where == "/training/board")
}

// Every training database has its own random trainer (system
// administrator) password, printed on the console and on no page.
func TestTrainerPasswordIsRandomPerDatabase(t *testing.T) {
	a, b := startDemoApp(t), startDemoApp(t)
	if a.TrainerPassword == b.TrainerPassword || a.TrainerPassword == "Classroom!2026" {
		t.Fatalf("two training databases have the trainer password %q and %q", a.TrainerPassword, b.TrainerPassword)
	}
	for _, app := range []*demoApp{a, b} {
		r, err := http.Get(app.TrainingURL)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if strings.Contains(string(page), app.TrainerPassword) {
			t.Errorf("the public training page shows the trainer's password")
		}
		if !signInOver(t, app.BaseURL, app.TrainerUserID, app.TrainerPassword) {
			t.Errorf("the printed trainer password does not sign in")
		}
	}
	if signInOver(t, a.BaseURL, a.TrainerUserID, b.TrainerPassword) {
		t.Error("one database's trainer password signs in to another")
	}
}
