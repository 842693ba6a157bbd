package handlers

import (
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/store"
)

// registeredAdmin runs set-up and registration; the admin can then sign in
// as admin.jones with strongPassword.
func (e *testEnv) registeredAdmin() store.User {
	e.t.Helper()
	c := e.client()
	e.setUp(c)
	r := c.post("/register", url.Values{"password": {strongPassword}, "confirm_password": {strongPassword}, "csrf_token": {c.csrf("/register")}})
	wantStatus(e.t, r, 303)
	u, err := e.store.UserByUserID("admin.jones")
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// addUser creates a user in the admin's organisation, registered with
// password unless it is empty.
func (e *testEnv) addUser(orgID uint64, userID, password string) store.User {
	e.t.Helper()
	return e.addUserWithRole(orgID, userID, password, store.RoleUser)
}

func (e *testEnv) addUserWithRole(orgID uint64, userID, password string, role store.Role) store.User {
	e.t.Helper()
	token := secret.NewToken()
	u, err := e.store.CreateUser(store.User{UserID: userID, FirstName: "Sam", LastName: "Patel", Email: userID + "@nhs.net", OrgID: orgID, Role: role},
		secret.HashToken(token), time.Hour, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if password == "" {
		return u
	}
	hash, err := e.hasher.Hash(e.t.Context(), password)
	if err != nil {
		e.t.Fatal(err)
	}
	if u, err = e.store.SetPasswordWithLink(secret.HashToken(token), store.LinkRegister, hash, nil); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// signIn signs c in and returns the response.
func (c *client) signIn(userID, password string, next string) response {
	form := url.Values{"user_id": {userID}, "password": {password}, "csrf_token": {c.csrf("/login")}}
	if next != "" {
		form.Set("next", next)
	}
	return c.post("/login", form)
}

func TestLoginPageFollowsTheJobAid(t *testing.T) {
	e := newEnv(t)
	e.registeredAdmin()
	r := e.client().get("/login")
	wantStatus(t, r, 200)
	wantText(t, r, "Welcome to the Calculating Quality Reporting Service (CQRS)",
		"Login using your NHSmail account by selecting the button below.",
		"Contact Us", "GP Collections Website",
		"If you do not have an NHSmail account, please use your legacy login.",
		"User ID:", "Password:", "Sign In")
	sso := e.client().get("/sso/start")
	wantStatus(t, sso, 503)
	wantText(t, sso, "NHSmail sign-in is not configured", "legacy login")
	help := e.client().get("/help")
	wantText(t, help, "support@cqrs.co.uk", "0800 4402777", "8am-6pm Mon-Fri exc Bank Holidays")
}

func TestLegacySignIn(t *testing.T) {
	e := newEnv(t)
	admin := e.registeredAdmin()
	e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	e.addUser(admin.OrgID, "new.starter", "") // invited, never registered
	disabled := e.addUser(admin.OrgID, "gone.away", "Harbour!2026x")
	if _, err := e.store.SetStatus(disabled.ID, store.StatusDisabled); err != nil {
		t.Fatal(err)
	}

	t.Run("success lands on the message centre with a welcome", func(t *testing.T) {
		c := e.client()
		r := c.signIn("SAM.PATEL", "Harbour!2026x", "")
		wantStatus(t, r, 303)
		if loc := r.Header.Get("Location"); loc != "/messages" {
			t.Fatalf("Location = %q", loc)
		}
		page := c.get("/messages")
		wantStatus(t, page, 200)
		wantText(t, page, "Message Centre", store.WelcomeSubject, "Sam Patel", "Riverside Practice", "1 unread")
	})

	failures := []struct{ name, userID, password string }{
		{"wrong password", "sam.patel", "Harbour!2026y"},
		{"unknown User ID", "nobody.here", "Harbour!2026x"},
		{"disabled account", "gone.away", "Harbour!2026x"},
		{"not yet registered", "new.starter", "Harbour!2026x"},
		{"empty password", "sam.patel", ""},
	}
	var bodies []string
	for _, tc := range failures {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			c := e.client()
			c.get("/login")
			c.setCookie(csrfCookie, "AAAAAAAAAAAAAAAAAAAAAA") // same CSRF seed, so bodies are comparable
			r := c.signIn(tc.userID, tc.password, "")
			wantStatus(t, r, 401)
			wantText(t, r, signInFailed)
			if c.cookie(sessionCookie) != "" {
				t.Fatal("a failed sign-in set a session cookie")
			}
			bodies = append(bodies, strings.ReplaceAll(r.body, tc.userID, "USER"))
		})
	}
	for i := 1; i < len(bodies); i++ {
		if bodies[i] != bodies[0] {
			t.Errorf("failure %q answered differently from %q", failures[i].name, failures[0].name)
		}
	}
}

func TestFailedSignInsAreCountedAndResetBySuccess(t *testing.T) {
	e := newEnv(t)
	admin := e.registeredAdmin()
	e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	c := e.client()
	for i := 0; i < 3; i++ {
		wantStatus(t, c.signIn("sam.patel", "wrong-password", ""), 401)
	}
	if u, _ := e.store.UserByUserID("sam.patel"); u.FailedSignIns != 3 {
		t.Fatalf("failed sign-ins = %d, want 3", u.FailedSignIns)
	}
	wantStatus(t, c.signIn("sam.patel", "Harbour!2026x", ""), 303)
	if u, _ := e.store.UserByUserID("sam.patel"); u.FailedSignIns != 0 {
		t.Fatalf("failed sign-ins after success = %d, want 0", u.FailedSignIns)
	}
}

func TestSessionRotationAndSignOut(t *testing.T) {
	e := newEnv(t)
	e.registeredAdmin()
	c := e.client()
	c.setCookie(sessionCookie, "attacker-chosen-session-value")
	wantStatus(t, c.signIn("admin.jones", strongPassword, ""), 303)
	if got := c.cookie(sessionCookie); got == "" || got == "attacker-chosen-session-value" {
		t.Fatalf("session cookie after sign-in = %q: not rotated", got)
	}
	signedIn := c.cookie(sessionCookie)

	// A second sign-in in the same browser replaces the session: the old
	// cookie no longer works.
	wantStatus(t, c.signIn("admin.jones", strongPassword, ""), 303)
	if c.cookie(sessionCookie) == signedIn {
		t.Fatal("the session ID was not replaced at sign-in")
	}
	old := e.client()
	old.setCookie(sessionCookie, signedIn)
	if r := old.get("/messages"); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("the replaced session still works: %d %s", r.StatusCode, r.Header.Get("Location"))
	}

	token := c.csrf("/messages")
	current := c.cookie(sessionCookie)
	wantStatus(t, c.post("/signout", url.Values{"csrf_token": {token}}), 303)
	replay := e.client()
	replay.setCookie(sessionCookie, current)
	if r := replay.get("/messages"); r.StatusCode != 303 {
		t.Fatalf("the session works after sign out: %d", r.StatusCode)
	}
}

func TestCSRFTokenIsBoundToTheSession(t *testing.T) {
	e := newEnv(t)
	e.registeredAdmin()
	c := e.client()
	before := c.csrf("/login")
	wantStatus(t, c.signIn("admin.jones", strongPassword, ""), 303)
	r := c.post("/signout", url.Values{"csrf_token": {before}})
	wantStatus(t, r, 403)
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	e.registeredAdmin()

	t.Run("idle", func(t *testing.T) {
		c := e.client()
		wantStatus(t, c.signIn("admin.jones", strongPassword, ""), 303)
		e.clock.Advance(29 * time.Minute)
		wantStatus(t, c.get("/messages"), 200)
		e.clock.Advance(29 * time.Minute) // active 29 minutes ago: still fine
		wantStatus(t, c.get("/messages"), 200)
		e.clock.Advance(30 * time.Minute)
		wantStatus(t, c.get("/messages"), 303)
	})
	t.Run("absolute", func(t *testing.T) {
		c := e.client()
		wantStatus(t, c.signIn("admin.jones", strongPassword, ""), 303)
		for i := 0; i < 24; i++ { // active every 29 minutes for 11h36m
			e.clock.Advance(29 * time.Minute)
			wantStatus(t, c.get("/messages"), 200)
		}
		e.clock.Advance(25 * time.Minute) // 12h01m after sign-in
		wantStatus(t, c.get("/messages"), 303)
	})
}

func TestReturnToWhereYouWereGoing(t *testing.T) {
	e := newEnv(t)
	e.registeredAdmin()
	c := e.client()
	r := c.get("/account")
	wantStatus(t, r, 303)
	if loc := r.Header.Get("Location"); loc != "/login?next="+url.QueryEscape("/account") {
		t.Fatalf("Location = %q", loc)
	}
	r = c.signIn("admin.jones", strongPassword, "/account")
	if loc := r.Header.Get("Location"); loc != "/account" {
		t.Fatalf("after sign-in Location = %q, want /account", loc)
	}
	for _, evil := range []string{"//evil.example", "https://evil.example", `/\evil.example`, "/\\/evil.example", "javascript:alert(1)", "http:/evil.example", " //evil.example"} {
		t.Run(evil, func(t *testing.T) {
			c := e.client()
			r := c.signIn("admin.jones", strongPassword, evil)
			wantStatus(t, r, 303)
			if loc := r.Header.Get("Location"); loc != "/messages" {
				t.Fatalf("next=%q redirected to %q", evil, loc)
			}
		})
	}
}

func TestSignInRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SignInRateLimit = 3 })
	e.registeredAdmin()
	c := e.client()
	for i := 0; i < 3; i++ {
		wantStatus(t, c.signIn("admin.jones", "wrong", ""), 401)
	}
	r := c.signIn("admin.jones", strongPassword, "")
	wantStatus(t, r, 429)
	wantText(t, r, "Too many sign-in attempts")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

func TestMessageCentre(t *testing.T) {
	e := newEnv(t)
	admin := e.registeredAdmin()
	e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	other, err := e.store.CreateOrganisation(store.Organisation{Name: "Hillside Surgery", ODSCode: "B82001"})
	if err != nil {
		t.Fatal(err)
	}
	e.addUser(other.ID, "kim.lee", "Harbour!2026x")

	sam := e.client()
	wantStatus(t, sam.signIn("sam.patel", "Harbour!2026x", ""), 303)
	kim := e.client()
	wantStatus(t, kim.signIn("kim.lee", "Harbour!2026x", ""), 303)
	e.addUserWithRole(admin.OrgID, "org.admin", "Harbour!2026x", store.RoleUserAdmin)
	adminC := e.client()
	wantStatus(t, adminC.signIn("org.admin", "Harbour!2026x", ""), 303)
	sysAdmin := e.client()
	wantStatus(t, sysAdmin.signIn("admin.jones", strongPassword, ""), 303)

	t.Run("a user cannot send to everyone", func(t *testing.T) {
		r := sam.post("/messages/send", url.Values{"subject": {"Hi"}, "body": {"x"}, "csrf_token": {sam.csrf("/messages")}})
		wantStatus(t, r, 403)
	})

	samUser, _ := e.store.UserByUserID("sam.patel")
	msgs, _, _ := e.store.Messages(samUser.ID)
	welcome := msgs[0]

	t.Run("open marks read", func(t *testing.T) {
		r := sam.get(fmt.Sprintf("/messages/%d", welcome.ID))
		wantStatus(t, r, 200)
		wantText(t, r, welcome.Body)
		if strings.Contains(r.body, `data-testid="unread-count"`) {
			t.Error("unread count still shown after opening the only message")
		}
		frag := sam.get(fmt.Sprintf("/messages/%d", welcome.ID), header("HX-Request", "true"))
		if strings.Contains(frag.body, "<html") || !strings.Contains(frag.body, `hx-swap-oob="true"`) {
			t.Errorf("htmx open: want a fragment with out-of-band updates, got:\n%s", excerpt(frag.body))
		}
	})
	t.Run("another user's message is not found", func(t *testing.T) {
		wantStatus(t, kim.get(fmt.Sprintf("/messages/%d", welcome.ID)), 404)
		r := kim.post(fmt.Sprintf("/messages/%d/delete", welcome.ID), url.Values{"csrf_token": {kim.csrf("/messages")}})
		wantStatus(t, r, 404)
		if _, _, err := e.store.Messages(samUser.ID); err != nil {
			t.Fatal(err)
		}
		if m, _, _ := e.store.Messages(samUser.ID); len(m) != 1 {
			t.Fatal("another user deleted the message")
		}
	})
	t.Run("broadcast reaches the organisation only, newest first", func(t *testing.T) {
		r := adminC.post("/messages/send", url.Values{"subject": {"Quality return due"}, "body": {"Please submit by Friday."}, "csrf_token": {adminC.csrf("/messages")}})
		wantStatus(t, r, 200)
		wantText(t, r, "Your message was sent to")
		page := sam.get("/messages")
		wantText(t, page, "Quality return due", "1 unread")
		d := page.doc(t)
		if first := d.Find(`[data-testid="message-list"] li`).First().Text(); !strings.Contains(first, "Quality return due") {
			t.Errorf("newest message is not first: %q", first)
		}
		if strings.Contains(kim.get("/messages").body, "Quality return due") {
			t.Error("a user of another organisation received the message")
		}
	})
	t.Run("the system administrator's broadcast reaches everyone", func(t *testing.T) {
		r := sysAdmin.post("/messages/send", url.Values{"subject": {"Service update"}, "body": {"CQRS will be down on Sunday."}, "csrf_token": {sysAdmin.csrf("/messages")}})
		wantStatus(t, r, 200)
		for _, c := range []*client{sam, kim, adminC} {
			wantText(t, c.get("/messages"), "Service update")
		}
	})
	t.Run("broadcast validation", func(t *testing.T) {
		r := adminC.post("/messages/send", url.Values{"subject": {""}, "body": {""}, "csrf_token": {adminC.csrf("/messages")}})
		wantStatus(t, r, 422)
		wantText(t, r, "Enter a subject.", "Enter the message.")
	})
	t.Run("delete", func(t *testing.T) {
		r := sam.post(fmt.Sprintf("/messages/%d/delete", welcome.ID), url.Values{"csrf_token": {sam.csrf("/messages")}})
		wantStatus(t, r, 303)
		if strings.Contains(sam.get("/messages").body, store.WelcomeSubject) {
			t.Error("deleted message still listed")
		}
	})
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	admin := e.registeredAdmin()
	e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	c := e.client()
	wantStatus(t, c.signIn("sam.patel", "Harbour!2026x", ""), 303)
	change := func(current, pw string) response {
		return c.post("/account/password", url.Values{"current_password": {current}, "password": {pw}, "confirm_password": {pw}, "csrf_token": {c.csrf("/account")}})
	}

	t.Run("wrong current password", func(t *testing.T) {
		r := change("nope", "Meadow!2026a")
		wantStatus(t, r, 422)
		wantText(t, r, wrongCurrentPasswd)
	})
	t.Run("72 hours: refused at 71h59m with the time it is allowed", func(t *testing.T) {
		e.clock.Advance(71*time.Hour + 59*time.Minute)
		// Keep the session alive past the idle limit for this test.
		wantStatus(t, c.signIn("sam.patel", "Harbour!2026x", ""), 303)
		r := change("Harbour!2026x", "Meadow!2026a")
		wantStatus(t, r, 422)
		wantText(t, r, "Password may only be changed once every 72 hours.", "You can change your password again after 5 November 2026 at 09:00")
	})
	t.Run("same as current", func(t *testing.T) {
		e.clock.Advance(time.Minute) // exactly 72h
		r := change("Harbour!2026x", "Harbour!2026x")
		wantStatus(t, r, 422)
		wantText(t, r, "Password must be different from the current password.")
	})

	other := e.client()
	wantStatus(t, other.signIn("sam.patel", "Harbour!2026x", ""), 303)

	t.Run("allowed at 72h", func(t *testing.T) {
		r := change("Harbour!2026x", "Meadow!2026a")
		wantStatus(t, r, 200)
		wantText(t, r, "Your password has been changed.")
		wantStatus(t, c.get("/messages"), 200)
		if r := other.get("/messages"); r.StatusCode != 303 {
			t.Errorf("the user's other session survived the password change: %d", r.StatusCode)
		}
	})
	t.Run("history of 8", func(t *testing.T) {
		current := "Meadow!2026a"
		used := []string{"Harbour!2026x", current}
		for i := 0; i < 7; i++ {
			e.clock.Advance(72 * time.Hour)
			wantStatus(t, c.signIn("sam.patel", current, ""), 303)
			next := fmt.Sprintf("Meadow!%04dz", i)
			wantStatus(t, change(current, next), 200)
			current = next
			used = append(used, next)
		}
		// Now: current = used[8], previous 8 = used[0..7].
		e.clock.Advance(72 * time.Hour)
		wantStatus(t, c.signIn("sam.patel", current, ""), 303)
		r := change(current, used[0])
		wantStatus(t, r, 422)
		wantText(t, r, "Password must be different from the previous 8 passwords.")
		// One more change pushes used[0] out of the history.
		wantStatus(t, change(current, "Orchard!2026b"), 200)
		e.clock.Advance(72 * time.Hour)
		wantStatus(t, c.signIn("sam.patel", "Orchard!2026b", ""), 303)
		wantStatus(t, change("Orchard!2026b", used[0]), 200)
	})
}

func TestConcurrentSignInsAreBoundedAndAllAnswered(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SignInRateLimit = 0 })
	admin := e.registeredAdmin()
	// Real parameters (19 MiB, t=2, p=1), for the stored hash too: a
	// verification runs with the parameters of the hash it checks, so the
	// memory bound below is only tested if sam.patel's hash is a real one.
	e.hasher = secret.NewHasher(secret.OWASP, 2, 50*time.Millisecond)
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	if !strings.HasPrefix(sam.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("sam.patel's hash %.40q does not use the OWASP parameters", sam.PasswordHash)
	}
	cfg := e.cfgForRebuild()
	// Half the attempts are wrong: without this, five in a row lock the
	// account and the right password then gets the (correct) locked page.
	cfg.LockAfter = 0
	app, err := New(nilLogger(), cfg, Deps{Stores: storesOf(e.store), Backup: e.store, Training: e.store, Hasher: e.hasher})
	if err != nil {
		t.Fatal(err)
	}
	e.app = app
	seed := "AAAAAAAAAAAAAAAAAAAAAA"

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	const n = 1000
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := e.client()
			c.setCookie(csrfCookie, seed)
			pw := "Harbour!2026x"
			if i%2 == 1 {
				pw = "wrong-password"
			}
			r := c.post("/login", url.Values{"user_id": {"sam.patel"}, "password": {pw}, "csrf_token": {e.csrfFor(seed)}})
			statuses[i] = r.StatusCode
		}(i)
	}
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	for s := range counts {
		if s != 303 && s != 401 && s != 503 {
			t.Errorf("unexpected status %d (%d times)", s, counts[s])
		}
	}
	if counts[303]+counts[401]+counts[503] != n {
		t.Fatalf("not every sign-in was answered: %v", counts)
	}
	if counts[303]+counts[401] < 2 {
		t.Errorf("fewer sign-ins were decided than there are hashing slots: %v", counts)
	}
	// The storm over, the right password signs in (nothing stayed busy).
	c := e.client()
	c.setCookie(csrfCookie, seed)
	wantStatus(t, c.post("/login", url.Values{"user_id": {"sam.patel"}, "password": {"Harbour!2026x"}, "csrf_token": {e.csrfFor(seed)}}), 303)
	// Two slots of 19 MiB each, plus the app: the heap never needs more
	// than a small multiple of that, however many arrive at once.
	const ceiling = 256 << 20
	if after.HeapSys > ceiling {
		t.Errorf("heap grew to %d MiB (statuses %v), want under %d MiB", after.HeapSys>>20, counts, ceiling>>20)
	}
	t.Logf("statuses %v; heap sys %d MiB", counts, after.HeapSys>>20)
}
