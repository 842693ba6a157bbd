package mailer_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/mailer"
	"github.com/cqrs-local/cqrs-signin/store"
)

func TestSendSMTP(t *testing.T) {
	for _, tc := range []struct {
		mode    mailer.TLSMode
		wantTLS bool
	}{
		{mailer.TLSNone, false},
		{mailer.TLSStartTLS, true},
		{mailer.TLSImplicit, true},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			clk := newClock()
			st := newStore(t, clk)
			be, cfg := startServer(t, tc.mode)
			logger, logs := newLogger()
			e := queue(t, st, "ada@example.nhs.uk")

			s := mailer.NewSender(logger, cfg, st, nil, clk.Now)
			n, err := s.DeliverDue(t.Context())
			if err != nil {
				t.Fatalf("DeliverDue: %v", err)
			}
			if got, want := n, 1; got != want {
				t.Errorf("delivered %d, want %d", got, want)
			}

			msgs := be.messages()
			if got, want := len(msgs), 1; got != want {
				t.Fatalf("server got %d messages, want %d", got, want)
			}
			m := msgs[0]
			if got, want := m.User, testUser; got != want {
				t.Errorf("AUTH user %q, want %q", got, want)
			}
			if got, want := m.TLS, tc.wantTLS; got != want {
				t.Errorf("TLS %v, want %v", got, want)
			}
			if got, want := m.From, "no-reply@cqrs.example"; got != want {
				t.Errorf("MAIL FROM %q, want %q", got, want)
			}
			if got, want := strings.Join(m.To, ","), "ada@example.nhs.uk"; got != want {
				t.Errorf("RCPT TO %q, want %q", got, want)
			}
			p := parse(t, m.Data)
			if got, want := p.To, `"Ada Lovelace" <ada@example.nhs.uk>`; got != want {
				t.Errorf("To %q, want %q", got, want)
			}
			if got, want := p.From, `"CQRS" <no-reply@cqrs.example>`; got != want {
				t.Errorf("From %q, want %q", got, want)
			}
			if got, want := p.Subject, "Reset your password"; got != want {
				t.Errorf("Subject %q, want %q", got, want)
			}
			if !strings.Contains(p.Text, testLink) {
				t.Errorf("text part lacks the link:\n%s", p.Text)
			}
			if !strings.Contains(p.HTML, `<a href="`+testLink+`">`) {
				t.Errorf("HTML part lacks the link:\n%s", p.HTML)
			}

			got := email(t, st, e.ID)
			if got.Status != cqrs.EmailSent {
				t.Errorf("status %q, want %q (last error %q)", got.Status, cqrs.EmailSent, got.LastError)
			}
			if got.Secret != "" || strings.Contains(got.Text, testSecret) || strings.Contains(got.HTML, testSecret) {
				t.Errorf("the stored copy still holds the link token: %+v", got)
			}
			assertLogClean(t, logs)
		})
	}
}

func TestServerDownRetriesWithBackoff(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	logger, logs := newLogger()
	cfg := mailer.SMTPConfig{
		Host: "127.0.0.1", Port: closedPort(t), TLS: mailer.TLSNone,
		Username: testUser, Password: testPassword,
		From: "no-reply@cqrs.example", Timeout: 2 * time.Second,
	}
	s := mailer.NewSender(logger, cfg, st, nil, clk.Now)
	e := queue(t, st, "ada@example.nhs.uk")

	var lastDelay time.Duration
	for attempt := 1; attempt <= mailer.MaxAttempts; attempt++ {
		n, err := s.DeliverDue(t.Context())
		if err != nil {
			t.Fatalf("attempt %d: DeliverDue: %v", attempt, err)
		}
		if n != 0 {
			t.Fatalf("attempt %d: delivered %d with the server down", attempt, n)
		}
		got := email(t, st, e.ID)
		if got.Attempts != attempt {
			t.Fatalf("attempts %d, want %d", got.Attempts, attempt)
		}
		if got.LastError == "" {
			t.Errorf("attempt %d: no error recorded", attempt)
		}
		if attempt == mailer.MaxAttempts {
			if got.Status != cqrs.EmailFailed {
				t.Errorf("after %d attempts status %q, want %q", attempt, got.Status, cqrs.EmailFailed)
			}
			break
		}
		if got.Status != cqrs.EmailQueued {
			t.Fatalf("attempt %d: status %q, want %q", attempt, got.Status, cqrs.EmailQueued)
		}
		delay := got.NextAttempt.Sub(clk.Now())
		if delay != mailer.Backoff(attempt) || delay <= lastDelay {
			t.Errorf("attempt %d: next attempt in %s, want %s, longer than the last %s", attempt, delay, mailer.Backoff(attempt), lastDelay)
		}
		lastDelay = delay

		// Not due yet: a pass now must not spend an attempt.
		if _, err := s.DeliverDue(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := email(t, st, e.ID); got.Attempts != attempt {
			t.Fatalf("a pass before the backoff ran out made attempt %d", got.Attempts)
		}
		clk.Advance(delay)
	}

	clk.Advance(24 * time.Hour)
	if _, err := s.DeliverDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := email(t, st, e.ID); got.Attempts != mailer.MaxAttempts {
		t.Errorf("a failed email was tried again: %d attempts", got.Attempts)
	}
	assertLogClean(t, logs)
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{
		{1, 30 * time.Second},
		{2, time.Minute},
		{3, 2 * time.Minute},
		{4, 4 * time.Minute},
		{7, 32 * time.Minute},
		{8, time.Hour},
		{50, time.Hour},
	} {
		if got := mailer.Backoff(tc.attempts); got != tc.want {
			t.Errorf("Backoff(%d) = %s, want %s", tc.attempts, got, tc.want)
		}
	}
}

func TestServerRefusal(t *testing.T) {
	for _, tc := range []struct {
		name       string
		reject     *smtp.SMTPError
		password   string
		wantStatus cqrs.EmailStatus
		wantError  string
	}{
		{
			name:       "550 no such user is final at once",
			reject:     &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"},
			password:   testPassword,
			wantStatus: cqrs.EmailFailed,
			wantError:  "550",
		},
		{
			name:       "451 try later is retried",
			reject:     &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"},
			password:   testPassword,
			wantStatus: cqrs.EmailQueued,
			wantError:  "451",
		},
		{
			name:       "wrong password is retried",
			password:   "wrong",
			wantStatus: cqrs.EmailQueued,
			wantError:  "535",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			st := newStore(t, clk)
			be, cfg := startServer(t, mailer.TLSStartTLS)
			be.rejectRcpt = tc.reject
			cfg.Password = tc.password
			logger, logs := newLogger()
			e := queue(t, st, "nobody@example.nhs.uk")

			s := mailer.NewSender(logger, cfg, st, nil, clk.Now)
			if _, err := s.DeliverDue(t.Context()); err != nil {
				t.Fatalf("DeliverDue: %v", err)
			}
			got := email(t, st, e.ID)
			if got.Status != tc.wantStatus {
				t.Errorf("status %q, want %q", got.Status, tc.wantStatus)
			}
			if got.Attempts != 1 {
				t.Errorf("attempts %d, want 1", got.Attempts)
			}
			if !strings.Contains(got.LastError, tc.wantError) {
				t.Errorf("last error %q, want it to mention %s", got.LastError, tc.wantError)
			}
			if len(be.messages()) != 0 {
				t.Error("the server accepted a message")
			}
			assertLogClean(t, logs)
		})
	}
}

func TestRestartDeliversQueued(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "cqrs.db")

	// Before the "crash": one email has had a failed attempt, one none.
	st, err := store.Open(path, store.Options{LockTimeout: time.Second, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	down := mailer.SMTPConfig{Host: "127.0.0.1", Port: closedPort(t), TLS: mailer.TLSNone, From: "no-reply@cqrs.example", Timeout: 2 * time.Second}
	first := queue(t, st, "ada@example.nhs.uk")
	if _, err := mailer.NewSender(nil, down, st, nil, clk.Now).DeliverDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	second := queue(t, st, "grace@example.nhs.uk")
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// After: a new process on the same file, with the server up.
	st = openStore(t, path, clk)
	be, cfg := startServer(t, mailer.TLSStartTLS)
	clk.Advance(mailer.FirstRetry)
	n, err := mailer.NewSender(nil, cfg, st, nil, clk.Now).DeliverDue(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n, 2; got != want {
		t.Errorf("delivered %d, want %d", got, want)
	}
	if got, want := len(be.messages()), 2; got != want {
		t.Errorf("server got %d messages, want %d", got, want)
	}
	for _, id := range []uint64{first.ID, second.ID} {
		if got := email(t, st, id); got.Status != cqrs.EmailSent {
			t.Errorf("email %d: status %q, want %q", id, got.Status, cqrs.EmailSent)
		}
	}
}

func TestLocalMailbox(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	logger, logs := newLogger()
	var console bytes.Buffer
	e := queue(t, st, "ada@example.nhs.uk")

	s := mailer.NewSender(logger, mailer.SMTPConfig{}, st, &console, clk.Now)
	s.SetMailboxURL("http://127.0.0.1:8080/mailbox")
	n, err := s.DeliverDue(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n, 1; got != want {
		t.Errorf("delivered %d, want %d", got, want)
	}
	if got := email(t, st, e.ID); got.Status != cqrs.EmailLocal {
		t.Errorf("status %q, want %q", got.Status, cqrs.EmailLocal)
	}
	// The console says where the email waits, never its link: a console
	// is projected, pasted into tickets and scrolled back by anyone.
	want := "Email to Ada Lovelace <ada@example.nhs.uk>: Reset your password\n  waiting in the local mailbox: http://127.0.0.1:8080/mailbox\n"
	if got := console.String(); got != want {
		t.Errorf("console:\n%q\nwant:\n%q", got, want)
	}
	if strings.Contains(console.String(), testSecret) {
		t.Errorf("the console shows the link's token:\n%s", console.String())
	}
	// Delivered once: a second pass prints nothing more.
	if _, err := s.DeliverDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := console.String(); got != want {
		t.Errorf("a second pass printed again:\n%s", got)
	}
	assertLogClean(t, logs)
}

func TestRunAndWake(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	be, cfg := startServer(t, mailer.TLSImplicit)
	queue(t, st, "ada@example.nhs.uk")

	s := mailer.NewSender(nil, cfg, st, nil, clk.Now)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, time.Hour) // only the first pass and Wake can deliver
	}()
	if got := waitFor(t, be); got.To[0] != "ada@example.nhs.uk" {
		t.Errorf("first message to %v", got.To)
	}

	queue(t, st, "grace@example.nhs.uk")
	s.Wake()
	if got := waitFor(t, be); got.To[0] != "grace@example.nhs.uk" {
		t.Errorf("woken message to %v", got.To)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestBadConfigLeavesEmailsQueued(t *testing.T) {
	clk := newClock()
	st := newStore(t, clk)
	e := queue(t, st, "ada@example.nhs.uk")
	cfg := mailer.SMTPConfig{Host: "127.0.0.1", Port: 2525, TLS: "ssl3", From: "no-reply@cqrs.example"}

	if _, err := mailer.NewSender(nil, cfg, st, nil, clk.Now).DeliverDue(t.Context()); err == nil {
		t.Error("DeliverDue with an unknown TLS mode: no error")
	}
	if got := email(t, st, e.ID); got.Status != cqrs.EmailQueued || got.Attempts != 0 {
		t.Errorf("email touched by a misconfigured sender: status %q, %d attempts", got.Status, got.Attempts)
	}
}
