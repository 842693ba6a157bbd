package main

import (
	"context"
	"io"
	"log"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/store"
)

// heldSMTP is a real SMTP server on 127.0.0.1 that takes a message and
// then holds its answer (250, accepted) until release closes: the moment
// of a shutdown in the middle of a send.
type heldSMTP struct {
	port      int
	receiving chan struct{} // a message has been read, its answer held
	release   chan struct{} // close to accept it
}

func startHeldSMTP(t *testing.T) *heldSMTP {
	t.Helper()
	h := &heldSMTP{receiving: make(chan struct{}, 1), release: make(chan struct{})}
	srv := smtp.NewServer(h)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	h.port = ln.Addr().(*net.TCPAddr).Port
	return h
}

func (h *heldSMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return heldSession{h}, nil }

type heldSession struct{ h *heldSMTP }

func (heldSession) Mail(string, *smtp.MailOptions) error { return nil }
func (heldSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (heldSession) Reset()                               {}
func (heldSession) Logout() error                        { return nil }
func (s heldSession) Data(r io.Reader) error {
	if _, err := io.ReadAll(r); err != nil {
		return err
	}
	select {
	case s.h.receiving <- struct{}{}:
	default:
	}
	<-s.h.release
	return nil
}

// TestShutdownWaitsForTheMailSender: run starts the mail sender and, on
// Ctrl+C, stops it and waits for it before the database closes. Stopped
// while the mail server holds its answer to an email, run does not return
// (and close the database) until the server has accepted it, and the
// email is then recorded as sent: nothing the server acknowledged is sent
// again or lost.
func TestShutdownWaitsForTheMailSender(t *testing.T) {
	data := filepath.Join(t.TempDir(), "cqrs.db")
	st, err := store.Open(data, store.Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	queued, err := st.QueueEmail(t.Context(), cqrs.Email{Kind: "reset", ToName: "Ada Lovelace", To: "ada@example.nhs.uk",
		Subject: "Unlock your CQRS account or reset your password", Text: "Hello Ada"})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	mail := startHeldSMTP(t)
	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	var stdout, stderr strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"cqrs-signin", "--no-browser", "--addr", "127.0.0.1:0", "--data", data,
			"--smtp-host", "127.0.0.1", "--smtp-port", strconv.Itoa(mail.port), "--smtp-tls", "none"},
			func(string) string { return "" }, &stdout, &stderr)
	}()
	select {
	case <-mail.receiving:
	case err := <-done:
		t.Fatalf("run returned before sending the queued email: %v\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("the queued email did not reach the mail server within 60s")
	}

	interrupt() // Ctrl+C, the email mid-send
	select {
	case err := <-done:
		t.Fatalf("run returned (%v), closing the database, while the mail sender was still sending", err)
	case <-time.After(time.Second):
	}
	close(mail.release) // the server accepts the email
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run did not return within 60s of the mail server's answer")
	}

	st, err = store.Open(data, store.Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("reopening the database after run: %v", err)
	}
	defer st.Close()
	got, err := st.Email(t.Context(), queued.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != cqrs.EmailSent {
		t.Errorf("the email the mail server accepted during the shutdown is %q (attempts %d, %q), want %q: it would be sent again\nstderr:\n%s",
			got.Status, got.Attempts, got.LastError, cqrs.EmailSent, stderr.String())
	}
}
