package handlers

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// softAuthenticator is a passkey authenticator in software: one ECDSA
// P-256 key per credential, answering with real attestation "none" and
// real assertion signatures, as a security key or a phone would.
type softAuthenticator struct {
	t      testing.TB
	origin string
	keys   map[string]*ecdsa.PrivateKey // by credential ID
	counts map[string]uint32
	// stuckCount keeps the signature count from moving (a copied key).
	stuckCount bool
}

func newSoftAuthenticator(t testing.TB, origin string) *softAuthenticator {
	return &softAuthenticator{t: t, origin: origin, keys: map[string]*ecdsa.PrivateKey{}, counts: map[string]uint32{}}
}

var b64 = base64.RawURLEncoding

// ceremony is the options the app's script receives.
type ceremony struct {
	Mode      string `json:"mode"`
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
		UserVerification string `json:"userVerification"`
	} `json:"publicKey"`
}

func (a *softAuthenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return b
}

// authData is the authenticator data: the RP ID's hash, flags (user
// present and verified, plus attested credential data when cred is
// given), the count, then the credential.
func authData(rpID string, count uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	flags := byte(0x01 | 0x04)
	if attested != nil {
		flags |= 0x40
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

// create makes a new passkey for the options and answers as a browser
// does (the JSON passkey.js sends).
func (a *softAuthenticator) create(c ceremony) (id []byte, answer string) {
	a.t.Helper()
	if c.Mode != "create" {
		a.t.Fatalf("options for %q, want create", c.Mode)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		a.t.Fatal(err)
	}
	id = make([]byte, 32)
	rand.Read(id)
	a.keys[string(id)] = key
	x, y := key.X.FillBytes(make([]byte, 32)), key.Y.FillBytes(make([]byte, 32))
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		a.t.Fatal(err)
	}
	attested := append(make([]byte, 16), byte(len(id)>>8), byte(len(id)))
	attested = append(append(attested, id...), cose...)
	obj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData(c.PublicKey.RP.ID, 0, attested)})
	if err != nil {
		a.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(id), "rawId": b64.EncodeToString(id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(a.clientData("webauthn.create", c.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(obj), "transports": []string{"internal"}}})
	return id, string(b)
}

// sign answers a sign-in ceremony with the passkey id, whether or not the
// options allow it; userHandle as the authenticator keeps it.
func (a *softAuthenticator) sign(c ceremony, id, userHandle []byte) string {
	a.t.Helper()
	key := a.keys[string(id)]
	if key == nil {
		a.t.Fatal("no such passkey in this authenticator")
	}
	if !a.stuckCount {
		a.counts[string(id)]++
	}
	data := authData(c.PublicKey.RPID, a.counts[string(id)], nil)
	client := a.clientData("webauthn.get", c.PublicKey.Challenge)
	sum := sha256.Sum256(client)
	digest := sha256.Sum256(append(bytes.Clone(data), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		a.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(id), "rawId": b64.EncodeToString(id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(client), "authenticatorData": b64.EncodeToString(data),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(userHandle)}})
	return string(b)
}

const passkeyTestHost = "localhost:8420"

// newPasskeyEnv is the second factor for everyone, and clients that use
// the app at localhost, where passkeys are offered.
func newPasskeyEnv(t *testing.T, adjust ...func(*Config)) *secondFactorEnv {
	return newSecondFactorEnv(t, cqrs.SecondFactorEveryone, append([]func(*Config){func(c *Config) { c.SignInRateLimit = 0 }}, adjust...)...)
}

func (e *secondFactorEnv) localClient() *client {
	c := e.client()
	c.host = passkeyTestHost
	return c
}

// passkeyOptions asks for a ceremony as passkey.js does: a POST with the
// page's CSRF token in its header.
func (c *client) passkeyOptions(page, path string) (ceremony, response) {
	c.env.t.Helper()
	r := c.do("POST", path, "", header(csrfHeader, c.csrf(page)), header("Accept", "application/json"))
	var got ceremony
	if r.StatusCode == 200 {
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			c.env.t.Fatalf("options: %v\n%s", err, r.body)
		}
	}
	return got, r
}

// passkeyAnswer sends the browser's answer with the second step's form.
func (c *client) passkeyAnswer(credential string) response {
	return c.post(passkeyStepPath, url.Values{"credential": {credential}, "csrf_token": {c.csrf(secondFactorPath)}})
}

// enrolPasskey signs userID in for the first time with a passkey made at
// the second step; it returns the passkey's ID and the recovery codes.
func (e *secondFactorEnv) enrolPasskey(c *client, auth *softAuthenticator, userID, password string) ([]byte, []string) {
	e.t.Helper()
	wantStatus(e.t, c.signIn(userID, password, ""), 303)
	page := c.get(secondFactorPath)
	wantStatus(e.t, page, 200)
	if page.doc(e.t).Find(`[data-testid="passkey-form"]`).Length() != 1 {
		e.t.Fatalf("no passkey offered at the second step:\n%s", excerpt(page.body))
	}
	opts, r := c.passkeyOptions(secondFactorPath, passkeyStepOptions)
	wantStatus(e.t, r, 200)
	id, answer := auth.create(opts)
	return id, c.recoveryCodesShownOnce(e.t, c.passkeyAnswer(answer))
}

// signInWithPasskey gives the password, then a signature from id.
func (e *secondFactorEnv) signInWithPasskey(c *client, auth *softAuthenticator, userID, password string, id []byte, u cqrs.User) response {
	e.t.Helper()
	wantStatus(e.t, c.signIn(userID, password, ""), 303)
	opts, r := c.passkeyOptions(secondFactorPath, passkeyStepOptions)
	wantStatus(e.t, r, 200)
	if opts.Mode != "get" {
		e.t.Fatalf("options for %q, want get", opts.Mode)
	}
	return c.passkeyAnswer(auth.sign(opts, id, binary.BigEndian.AppendUint64(nil, u.ID)))
}

func TestPasskeyEnrolAtTheSecondStepThenSignInWithIt(t *testing.T) {
	e := newPasskeyEnv(t)
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	auth := newSoftAuthenticator(t, "http://"+passkeyTestHost)
	c := e.localClient()
	id, recovery := e.enrolPasskey(c, auth, "sam.patel", "Harbour!2026x")
	wantStatus(t, c.get("/messages"), 200)
	keys, _ := e.store.Passkeys(t.Context(), sam.ID)
	if len(keys) != 1 || !bytes.Equal(keys[0].ID, id) || !strings.HasPrefix(keys[0].Name, "Passkey") {
		t.Fatalf("passkeys after enrolment: %+v", keys)
	}
	wantStatus(t, c.post("/signout", url.Values{"csrf_token": {c.csrf("/messages")}}), 303)

	// The second step now asks for the passkey (no authenticator app).
	wantStatus(t, c.signIn("sam.patel", "Harbour!2026x", ""), 303)
	page := c.get(secondFactorPath)
	wantText(t, page, "Use your passkey", "Recovery code")
	if page.doc(t).Find(`[data-testid="second-factor-key"]`).Length() != 0 {
		t.Error("an authenticator app's set-up offered to someone with a passkey")
	}
	opts, r := c.passkeyOptions(secondFactorPath, passkeyStepOptions)
	wantStatus(t, r, 200)
	if opts.Mode != "get" || opts.PublicKey.RPID != "localhost" || len(opts.PublicKey.AllowCredentials) != 1 || opts.PublicKey.UserVerification != "preferred" {
		t.Errorf("sign-in options: %+v", opts)
	}
	answer := auth.sign(opts, id, binary.BigEndian.AppendUint64(nil, sam.ID))
	r = c.passkeyAnswer(answer)
	wantStatus(t, r, 303)
	if got := r.Header.Get("Location"); got != "/messages" {
		t.Errorf("signed in to %s", got)
	}
	wantStatus(t, c.get("/messages"), 200)
	if keys, _ := e.store.Passkeys(t.Context(), sam.ID); keys[0].LastUsed.IsZero() {
		t.Error("last use not recorded")
	}
	account := c.get("/account/second-factor")
	wantText(t, account, "You set up your second step with a passkey on", "10 recovery codes left", "Your passkeys (1)")

	// The same answer again, at a new sign-in: its challenge was used.
	// Sent before new options, there is no ceremony to answer (nothing
	// counted); after them, it answers the wrong challenge (counted).
	replay := e.localClient()
	wantStatus(t, replay.signIn("sam.patel", "Harbour!2026x", ""), 303)
	r = replay.passkeyAnswer(answer)
	wantStatus(t, r, 422)
	wantText(t, r, passkeyRequestOver)
	if _, r := replay.passkeyOptions(secondFactorPath, passkeyStepOptions); r.StatusCode != 200 {
		t.Fatalf("options: %d", r.StatusCode)
	}
	r = replay.passkeyAnswer(answer)
	wantStatus(t, r, 401)
	wantText(t, r, passkeyFailed)
	if u, _ := e.store.User(t.Context(), sam.ID); u.FailedSignIns != 1 {
		t.Errorf("failures after a replayed answer: %d, want 1", u.FailedSignIns)
	}
	// A recovery code still works at the same step.
	r = replay.answer(recovery[0])
	wantStatus(t, r, 303)
	for typ, want := range map[string]int{cqrs.AuditPasskeyRegistered: 1, cqrs.AuditPasskeyUsed: 1, cqrs.AuditPasskeyFailed: 1, cqrs.AuditRecoveryCodeUsed: 1} {
		if _, n, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: typ, Subject: "sam.patel"}); n != want {
			t.Errorf("%s entries = %d, want %d", typ, n, want)
		}
	}
}

// TestPasskeyOfAnotherPersonIsRefused: lee's passkey, signing sam's
// challenge, does not sign sam in, and counts as a failure.
func TestPasskeyOfAnotherPersonIsRefused(t *testing.T) {
	e := newPasskeyEnv(t)
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	lee := e.addUser(admin.OrgID, "lee.wong", "Lighthouse!2026y")
	samAuth, leeAuth := newSoftAuthenticator(t, "http://"+passkeyTestHost), newSoftAuthenticator(t, "http://"+passkeyTestHost)
	e.enrolPasskey(e.localClient(), samAuth, "sam.patel", "Harbour!2026x")
	leeID, _ := e.enrolPasskey(e.localClient(), leeAuth, "lee.wong", "Lighthouse!2026y")
	before, _ := e.store.Passkeys(t.Context(), lee.ID)

	c := e.localClient()
	wantStatus(t, c.signIn("sam.patel", "Harbour!2026x", ""), 303)
	for _, handle := range [][]byte{binary.BigEndian.AppendUint64(nil, lee.ID), binary.BigEndian.AppendUint64(nil, sam.ID)} {
		opts, r := c.passkeyOptions(secondFactorPath, passkeyStepOptions)
		wantStatus(t, r, 200)
		r = c.passkeyAnswer(leeAuth.sign(opts, leeID, handle))
		wantStatus(t, r, 401)
		wantText(t, r, passkeyFailed)
	}
	if got := c.get("/messages"); got.StatusCode == 200 {
		t.Fatal("signed in as sam with lee's passkey")
	}
	if u, _ := e.store.User(t.Context(), sam.ID); u.FailedSignIns != 2 {
		t.Errorf("sam's failures: %d, want 2", u.FailedSignIns)
	}
	if after, _ := e.store.Passkeys(t.Context(), lee.ID); string(after[0].Credential) != string(before[0].Credential) || !after[0].LastUsed.Equal(before[0].LastUsed) {
		t.Error("lee's passkey changed by its use on sam's sign-in")
	}
}

// TestPasskeyBurstCannotOutrunTheLockout: many browsers past the password
// answer the second step with bad passkey signatures at once; exactly
// LockAfter count, the account locks once (one email), none signs in,
// and then the right passkey is refused too.
func TestPasskeyBurstCannotOutrunTheLockout(t *testing.T) {
	e := newPasskeyEnv(t, func(c *Config) { c.SignInQueueWait = time.Minute })
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	auth := newSoftAuthenticator(t, "http://"+passkeyTestHost)
	id, _ := e.enrolPasskey(e.localClient(), auth, "sam.patel", "Harbour!2026x")
	forger := newSoftAuthenticator(t, "http://"+passkeyTestHost) // a key of its own under sam's credential ID
	forger.create(ceremony{Mode: "create"})
	for k := range forger.keys {
		forger.keys[string(id)] = forger.keys[k]
	}
	type browser struct {
		c      *client
		answer string
		token  string
	}
	browsers := make([]browser, 3*e.cfg.LockAfter)
	for i := range browsers {
		c := e.localClient()
		wantStatus(t, c.signIn("sam.patel", "Harbour!2026x", ""), 303)
		opts, r := c.passkeyOptions(secondFactorPath, passkeyStepOptions)
		wantStatus(t, r, 200)
		browsers[i] = browser{c: c, answer: forger.sign(opts, id, binary.BigEndian.AppendUint64(nil, sam.ID)), token: c.csrf(secondFactorPath)}
	}
	statuses := make([]int, len(browsers))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, b := range browsers {
		wg.Go(func() {
			<-start
			statuses[i] = b.c.post(passkeyStepPath, url.Values{"credential": {b.answer}, "csrf_token": {b.token}}).StatusCode
		})
	}
	close(start)
	wg.Wait()
	for i, s := range statuses {
		if s != 401 {
			t.Errorf("bad signature %d answered %d, want 401", i, s)
		}
	}
	u, _ := e.store.User(t.Context(), sam.ID)
	if u.LockedAt.IsZero() || u.FailedSignIns != e.cfg.LockAfter {
		t.Errorf("after the burst: locked %v with %d failures; want locked at %d", u.LockedAt, u.FailedSignIns, e.cfg.LockAfter)
	}
	if _, n, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: cqrs.AuditPasskeyFailed, Subject: "sam.patel"}); n != e.cfg.LockAfter {
		t.Errorf("failed entries = %d, want %d", n, e.cfg.LockAfter)
	}
	if _, n, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: cqrs.AuditLockout, Subject: "sam.patel"}); n != 1 {
		t.Errorf("lockouts = %d, want 1", n)
	}
	e.newestEmail(sam, "lockout")
	// The right passkey, now, at a sign-in still waiting: refused with
	// the same answer.
	c := browsers[0].c
	opts, r := c.passkeyOptions(secondFactorPath, passkeyStepOptions)
	wantStatus(t, r, 200)
	r = c.passkeyAnswer(auth.sign(opts, id, binary.BigEndian.AppendUint64(nil, sam.ID)))
	wantStatus(t, r, 401)
	wantText(t, r, passkeyFailed)
}

// TestPasskeyCountGoingBackIsRefused: a signature count that does not move
// on (the library's clone warning) refuses the passkey.
func TestPasskeyCountGoingBackIsRefused(t *testing.T) {
	e := newPasskeyEnv(t)
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	auth := newSoftAuthenticator(t, "http://"+passkeyTestHost)
	id, _ := e.enrolPasskey(e.localClient(), auth, "sam.patel", "Harbour!2026x")
	wantStatus(t, e.signInWithPasskey(e.localClient(), auth, "sam.patel", "Harbour!2026x", id, sam), 303)
	auth.stuckCount = true // the count stays at 1: a copy of the key is signing
	r := e.signInWithPasskey(e.localClient(), auth, "sam.patel", "Harbour!2026x", id, sam)
	wantStatus(t, r, 401)
	wantText(t, r, passkeyFailed)
	events, _, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: cqrs.AuditPasskeyFailed, Subject: "sam.patel"})
	if len(events) != 1 || !strings.Contains(events[0].Detail, "copied") {
		t.Errorf("failure entries: %+v", events)
	}
}

// TestPasskeysOnTheAccountPage: a person adds, renames and removes their
// own passkeys; nobody else can; the last one's removal sends a
// passkey-only person back to set-up; a reset forgets them all.
func TestPasskeysOnTheAccountPage(t *testing.T) {
	e := newPasskeyEnv(t)
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	lee := e.addUser(admin.OrgID, "lee.wong", "Lighthouse!2026y")
	auth := newSoftAuthenticator(t, "http://"+passkeyTestHost)
	c := e.localClient()
	first, _ := e.enrolPasskey(c, auth, "sam.patel", "Harbour!2026x")
	page := c.get(passkeysPath)
	wantStatus(t, page, 200)
	wantText(t, page, "Your passkeys", "Last used 2 November 2026", "Add a passkey")

	// A second passkey, named, a minute later; the first is excluded from
	// the new one.
	e.clock.Advance(time.Minute)
	opts, r := c.passkeyOptions(passkeysPath, passkeyAccountOption)
	wantStatus(t, r, 200)
	if len(opts.PublicKey.ExcludeCredentials) != 1 || opts.PublicKey.ExcludeCredentials[0].ID != b64.EncodeToString(first) {
		t.Errorf("excluded: %+v", opts.PublicKey.ExcludeCredentials)
	}
	second, answer := auth.create(opts)
	r = c.post(passkeysPath, url.Values{"credential": {answer}, "name": {"Work laptop"}, "csrf_token": {c.csrf(passkeysPath)}})
	wantStatus(t, r, 303)
	page = c.get(passkeysPath)
	wantText(t, page, "Passkey “Work laptop” added.", "Not used yet.")
	if n := page.doc(t).Find(`[data-testid="passkey"]`).Length(); n != 2 {
		t.Errorf("%d passkeys listed, want 2", n)
	}
	if reload := c.get(passkeysPath); strings.Contains(reload.body, "added.") {
		t.Error("the notice shown again on reload")
	}
	// The same answer again: its challenge is gone.
	r = c.post(passkeysPath, url.Values{"credential": {answer}, "name": {"Again"}, "csrf_token": {c.csrf(passkeysPath)}})
	wantStatus(t, r, 422)
	wantText(t, r, passkeyRequestOver)
	// A name too long changes nothing.
	r = c.post(passkeysPath+"/"+b64.EncodeToString(second)+"/name", url.Values{"name-" + b64.EncodeToString(second): {strings.Repeat("x", 61)}, "csrf_token": {c.csrf(passkeysPath)}})
	wantStatus(t, r, 422)
	wantText(t, r, "60 characters or fewer")
	if c.get(passkeysPath).doc(t).Find(`input[name="name-`+b64.EncodeToString(second)+`"]`).Length() != 1 {
		t.Fatal("no rename field named after the passkey")
	}
	r = c.post(passkeysPath+"/"+b64.EncodeToString(second)+"/name", url.Values{"name-" + b64.EncodeToString(second): {"Home laptop"}, "csrf_token": {c.csrf(passkeysPath)}})
	wantStatus(t, r, 303)
	wantText(t, c.get(passkeysPath), "renamed “Home laptop”")

	// Lee can neither rename nor remove sam's passkeys.
	leeC := e.localClient()
	e.enrolPasskey(leeC, newSoftAuthenticator(t, "http://"+passkeyTestHost), "lee.wong", "Lighthouse!2026y")
	for _, action := range []string{"/name", "/remove"} {
		r := leeC.post(passkeysPath+"/"+b64.EncodeToString(second)+action, url.Values{"name-" + b64.EncodeToString(second): {"Mine"}, "csrf_token": {leeC.csrf(passkeysPath)}})
		wantStatus(t, r, 404)
	}
	wantStatus(t, leeC.get(passkeysPath+"/"+b64.EncodeToString(second)+"/remove"), 404) // nor be asked to
	if page := leeC.get(passkeysPath); strings.Contains(page.body, "Home laptop") {
		t.Error("lee's page lists sam's passkey")
	}
	if keys, _ := e.store.Passkeys(t.Context(), sam.ID); len(keys) != 2 || keys[1].Name != "Home laptop" {
		t.Errorf("sam's passkeys after lee's attempts: %+v", keys)
	}

	// Sam removes both, asked first each time: the last one's removal ends
	// the second factor, and its question says so.
	for i, id := range [][]byte{first, second} {
		removal := passkeysPath + "/" + b64.EncodeToString(id) + "/remove"
		if got := c.get(passkeysPath).doc(t).Find(`a[data-testid="passkey-remove"]`).Eq(0).AttrOr("href", ""); got != removal {
			t.Errorf("removal %d: the first Remove leads to %q, want the question at %q", i, got, removal)
		}
		ask := c.get(removal)
		wantStatus(t, ask, 200)
		wantText(t, ask, "Remove the passkey", "It no longer signs you in to CQRS.")
		if last := i == 1; last != strings.Contains(ask.body, "your recovery codes go with it") {
			t.Errorf("removal %d: the question says %q", i, excerpt(ask.body))
		}
		if keys, _ := e.store.Passkeys(t.Context(), sam.ID); len(keys) != 2-i {
			t.Fatalf("removal %d: asking removed a passkey: %d left", i, len(keys))
		}
		r := c.post(removal, url.Values{"csrf_token": {c.csrf(removal)}})
		wantStatus(t, r, 303)
		page := c.get(passkeysPath)
		if last := i == 1; last != strings.Contains(page.body, "you will set one up the next time you sign in") {
			t.Errorf("removal %d: the page says %q", i, excerpt(page.body))
		}
	}
	if st, _ := e.store.SecondFactorStatus(t.Context(), sam.ID); !st.Enrolled.IsZero() {
		t.Error("still enrolled after the last passkey went")
	}
	again := e.localClient()
	wantStatus(t, again.signIn("sam.patel", "Harbour!2026x", ""), 303)
	wantText(t, again.get(secondFactorPath), "Set up your authenticator app", "Set up a passkey")

	// A User Administrator's reset forgets lee's passkey and tells her.
	sys := e.client()
	e.enrol(sys, "admin.jones", strongPassword)
	path := fmt.Sprintf("/admin/users/%d", lee.ID)
	wantStatus(t, sys.post(path+"/second-factor/reset", url.Values{"csrf_token": {sys.csrf(path)}}), 303)
	if keys, _ := e.store.Passkeys(t.Context(), lee.ID); len(keys) != 0 {
		t.Errorf("lee's passkeys after a reset: %+v", keys)
	}
	e.newestEmail(lee, "second-factor-reset")
	for typ, want := range map[string]int{cqrs.AuditPasskeyRegistered: 2, cqrs.AuditPasskeyRenamed: 1, cqrs.AuditPasskeyRemoved: 2} {
		if _, n, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: typ, Subject: "sam.patel"}); n != want {
			t.Errorf("%s entries = %d, want %d", typ, n, want)
		}
	}
}

// TestPasskeysNotOfferedWhereBrowsersCannot: a bare IP address, plain
// HTTP under a name, the self-made certificate: the page says why, the
// options are refused, and the authenticator app stays.
func TestPasskeysNotOfferedWhereBrowsersCannot(t *testing.T) {
	cases := []struct {
		name, host string
		adjust     func(*Config)
		why        string
	}{
		{"bare IP", "127.0.0.1:8420", nil, "127.0.0.1 is a bare IP address"},
		{"plain HTTP under a name", "cqrs.example.org:8420", func(c *Config) { c.Hosts = append(c.Hosts, "cqrs.example.org") }, "plain HTTP under the name cqrs.example.org"},
		{"self-made certificate", "cqrs.example.org:8420", func(c *Config) { c.Secure = true; c.Hosts = append(c.Hosts, "cqrs.example.org") }, "the certificate it made for itself"},
		{"public address over http", "cqrs.example.org", func(c *Config) {
			c.PublicOrigin = "http://cqrs.example.org"
			c.Hosts = append(c.Hosts, "cqrs.example.org")
		}, "is plain HTTP"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var adjust []func(*Config)
			if tc.adjust != nil {
				adjust = append(adjust, tc.adjust)
			}
			e := newPasskeyEnv(t, adjust...)
			e.registeredAdmin()
			c := e.client()
			c.host = tc.host
			wantStatus(t, c.signIn("admin.jones", strongPassword, ""), 303)
			page := c.get(secondFactorPath)
			wantStatus(t, page, 200)
			wantText(t, page, tc.why, "Set up your authenticator app")
			if page.doc(t).Find(`[data-testid="passkey-form"]`).Length() != 0 {
				t.Error("a passkey form offered")
			}
			_, r := c.passkeyOptions(secondFactorPath, passkeyStepOptions)
			wantStatus(t, r, 409)
			wantText(t, r, tc.why)
		})
	}
}

func TestPasskeySiteComesFromTheSettings(t *testing.T) {
	for _, tc := range []struct {
		scheme, host string
		trusted      bool
		rpID, origin string
	}{
		{"http", "localhost:8420", false, "localhost", "http://localhost:8420"},
		{"http", "LOCALHOST:8420", false, "localhost", "http://localhost:8420"},
		{"https", "cqrs.example.nhs.uk", true, "cqrs.example.nhs.uk", "https://cqrs.example.nhs.uk"},
		{"https", "cqrs.example.nhs.uk", false, "", ""},
		{"http", "[::1]:8420", false, "", ""},
		{"https", "10.0.0.5:8443", true, "", ""},
	} {
		got := siteFor(tc.scheme, tc.host, tc.trusted)
		if got.RPID != tc.rpID || got.Origin != tc.origin || (got.RPID == "") == (got.Why == "") {
			t.Errorf("%s://%s (trusted %v): %+v, want %q %q", tc.scheme, tc.host, tc.trusted, got, tc.rpID, tc.origin)
		}
	}
	// A public https address: the relying party is its name, whatever
	// Host the request names.
	e := newPasskeyEnv(t, func(c *Config) {
		c.PublicOrigin, c.Secure = "https://cqrs.example.nhs.uk", true
		c.Hosts = append(c.Hosts, "cqrs.example.nhs.uk")
	})
	e.registeredAdmin()
	c := e.client()
	wantStatus(t, c.signIn("admin.jones", strongPassword, ""), 303)
	opts, r := c.passkeyOptions(secondFactorPath, passkeyStepOptions)
	wantStatus(t, r, 200)
	if opts.PublicKey.RP.ID != "cqrs.example.nhs.uk" {
		t.Errorf("relying party %q at a public address", opts.PublicKey.RP.ID)
	}
}

// TestPasskeyAloneSignsIn: "Sign in with a passkey" on the Login page, no
// password: the passkey's user handle names the account, its signature
// signs in once; failures count toward the same lockout, with one answer.
func TestPasskeyAloneSignsIn(t *testing.T) {
	e := newPasskeyEnv(t)
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	lee := e.addUser(admin.OrgID, "lee.wong", "Lighthouse!2026y")
	auth := newSoftAuthenticator(t, "http://"+passkeyTestHost)
	id, _ := e.enrolPasskey(e.localClient(), auth, "sam.patel", "Harbour!2026x")
	samHandle := binary.BigEndian.AppendUint64(nil, sam.ID)

	c := e.localClient()
	login := c.get("/login")
	wantText(t, login, "Sign in with a passkey")
	opts, r := c.passkeyOptions("/login", passkeyLoginOptions)
	wantStatus(t, r, 200)
	if opts.Mode != "get" || len(opts.PublicKey.AllowCredentials) != 0 || opts.PublicKey.UserVerification != "required" {
		t.Errorf("options: %+v", opts)
	}
	answer := auth.sign(opts, id, samHandle)
	r = c.post(passkeyLoginPath, url.Values{"credential": {answer}, "csrf_token": {c.csrf("/login")}})
	wantStatus(t, r, 303)
	if got := r.Header.Get("Location"); got != "/messages" {
		t.Errorf("signed in to %s", got)
	}
	wantStatus(t, c.get("/messages"), 200)

	// The same answer again, from another browser: no ceremony of its own
	// (nothing counted); after new options, the wrong challenge (counted).
	other := e.localClient()
	r = other.post(passkeyLoginPath, url.Values{"credential": {answer}, "csrf_token": {other.csrf("/login")}})
	wantStatus(t, r, 422)
	wantText(t, r, passkeyRequestOver)
	other.passkeyOptions("/login", passkeyLoginOptions)
	r = other.post(passkeyLoginPath, url.Values{"credential": {answer}, "csrf_token": {other.csrf("/login")}})
	wantStatus(t, r, 401)
	wantText(t, r, passkeyLoginFailed)
	if got := other.get("/messages"); got.StatusCode == 200 {
		t.Fatal("a replayed passkey answer signed in")
	}
	// Sam's passkey naming lee's account: refused, counted against lee.
	opts, _ = other.passkeyOptions("/login", passkeyLoginOptions)
	r = other.post(passkeyLoginPath, url.Values{"credential": {auth.sign(opts, id, binary.BigEndian.AppendUint64(nil, lee.ID))}, "csrf_token": {other.csrf("/login")}})
	wantStatus(t, r, 401)
	wantText(t, r, passkeyLoginFailed)
	if u, _ := e.store.User(t.Context(), lee.ID); u.FailedSignIns != 1 {
		t.Errorf("lee's failures: %d, want 1", u.FailedSignIns)
	}
	// Failures lock the account; then the right passkey is refused too.
	for range e.cfg.LockAfter - 1 {
		opts, _ := other.passkeyOptions("/login", passkeyLoginOptions)
		wantStatus(t, other.post(passkeyLoginPath, url.Values{"credential": {answer}, "csrf_token": {other.csrf("/login")}}), 401)
		_ = opts
	}
	if u, _ := e.store.User(t.Context(), sam.ID); u.LockedAt.IsZero() {
		t.Fatalf("sam not locked after %d failures: %d", e.cfg.LockAfter, u.FailedSignIns)
	}
	e.newestEmail(sam, "lockout")
	opts, _ = other.passkeyOptions("/login", passkeyLoginOptions)
	r = other.post(passkeyLoginPath, url.Values{"credential": {auth.sign(opts, id, samHandle)}, "csrf_token": {other.csrf("/login")}})
	wantStatus(t, r, 401)
	wantText(t, r, passkeyLoginFailed)
	events, _, _ := e.store.AuditEvents(t.Context(), cqrs.AuditFilter{Type: cqrs.AuditPasskeyUsed, Subject: "sam.patel"})
	if len(events) != 1 || events[0].Method != "passkey" || !strings.Contains(events[0].Detail, "without the password") {
		t.Errorf("passkey-used entries: %+v", events)
	}
}

// TestPasskeySignInNotOfferedWithoutTheSetting: with --second-factor off,
// or at an address that cannot use passkeys, the Login page is the job
// aid's, and the options are refused.
func TestPasskeySignInNotOfferedWithoutTheSetting(t *testing.T) {
	off := newEnv(t)
	off.registeredAdmin()
	c := off.client()
	c.host = passkeyTestHost
	if strings.Contains(c.get("/login").body, "Sign in with a passkey") {
		t.Error("offered with the setting off")
	}
	_, r := c.passkeyOptions("/login", passkeyLoginOptions)
	wantStatus(t, r, 409)
	on := newPasskeyEnv(t)
	on.registeredAdmin()
	if strings.Contains(on.client().get("/login").body, "Sign in with a passkey") {
		t.Error("offered at a bare IP address")
	}
}

// TestPasskeyCeremonySpansInstances: the challenge is kept in the store,
// so a ceremony begun on one instance is answered on another (on
// PostgreSQL, two app processes behind a load balancer).
func TestPasskeyCeremonySpansInstances(t *testing.T) {
	e := newPasskeyEnv(t)
	admin := e.registeredAdmin()
	sam := e.addUser(admin.OrgID, "sam.patel", "Harbour!2026x")
	auth := newSoftAuthenticator(t, "http://"+passkeyTestHost)
	id, _ := e.enrolPasskey(e.localClient(), auth, "sam.patel", "Harbour!2026x")
	other := *e.testEnv
	other.app = e.start(nilLogger(), e.cfg, e.deps(Deps{Hasher: e.hasher}))
	c := e.localClient()
	wantStatus(t, c.signIn("sam.patel", "Harbour!2026x", ""), 303)
	opts, r := c.passkeyOptions(secondFactorPath, passkeyStepOptions)
	wantStatus(t, r, 200)
	onOther := &client{env: &other, jar: c.jar, host: c.host}
	r = onOther.passkeyAnswer(auth.sign(opts, id, binary.BigEndian.AppendUint64(nil, sam.ID)))
	wantStatus(t, r, 303)
	wantStatus(t, c.get("/messages"), 200)
}
