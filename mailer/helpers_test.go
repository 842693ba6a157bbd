package mailer_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/cqrs-local/cqrs-signin/clock/clocktest"
	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/mailer"
	"github.com/cqrs-local/cqrs-signin/store"
)

const (
	testUser     = "relay-user"
	testPassword = "relay-password-not-for-logs"
	testSecret   = "SECRETTOKEN123"
	testLink     = "http://127.0.0.1:8080/reset/" + testSecret
)

// newClock is the injected time shared by the store and the Sender.
func newClock() *clocktest.Clock { return clocktest.New(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)) }

// openStore opens a real store file; reopening the same path simulates a
// restart.
func openStore(t *testing.T, path string, clk *clocktest.Clock) *store.Store {
	t.Helper()
	st, err := store.Open(path, store.Options{LockTimeout: time.Second, Now: clk.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Check(context.Background()); err != nil {
			t.Errorf("store check: %v", err)
		}
		st.Close()
	})
	return st
}

func newStore(t *testing.T, clk *clocktest.Clock) *store.Store {
	return openStore(t, filepath.Join(t.TempDir(), "cqrs.db"), clk)
}

func queue(t *testing.T, st *store.Store, to string) cqrs.Email {
	t.Helper()
	e, err := st.QueueEmail(t.Context(), cqrs.Email{
		Kind:    "reset",
		ToName:  "Ada Lovelace",
		To:      to,
		Subject: "Reset your password",
		Text:    "Hello Ada,\n\nReset your password: " + testLink + ".\n\nCQRS\n",
		HTML:    `<p>Hello Ada,</p><p><a href="` + testLink + `">Reset your password</a></p>`,
		Secret:  testSecret,
	})
	if err != nil {
		t.Fatalf("queue email: %v", err)
	}
	return e
}

func email(t *testing.T, st *store.Store, id uint64) cqrs.Email {
	t.Helper()
	e, err := st.Email(t.Context(), id)
	if err != nil {
		t.Fatalf("email %d: %v", id, err)
	}
	return e
}

// logBuffer captures the Sender's logs so tests can check what never
// appears in them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func assertLogClean(t *testing.T, logs *logBuffer) {
	t.Helper()
	for _, secret := range []string{testPassword, testSecret, "Hello Ada", "@example.nhs.uk>", " nobody@", " ada@"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

// received is one message as the test SMTP server got it.
type received struct {
	From string
	To   []string
	Data []byte
	User string // the AUTH username, "" without AUTH
	TLS  bool   // whether the connection was encrypted when DATA came
}

// backend is a go-smtp Backend that records messages and can refuse
// recipients.
type backend struct {
	mu         sync.Mutex
	msgs       []received
	rejectRcpt *smtp.SMTPError
	got        chan received
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{b: b, conn: c}, nil
}

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type session struct {
	b    *backend
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != testUser || password != testPassword {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.b.mu.Lock()
	reject := s.b.rejectRcpt
	s.b.mu.Unlock()
	if reject != nil {
		return reject
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, tlsOn := s.conn.TLSConnectionState()
	m := received{From: s.from, To: s.to, Data: data, User: s.user, TLS: tlsOn}
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, m)
	s.b.mu.Unlock()
	select {
	case s.b.got <- m:
	default:
	}
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// startServer runs a real SMTP server on 127.0.0.1 in the given mode and
// returns its backend and a config pointing at it.
func startServer(t *testing.T, mode mailer.TLSMode) (*backend, mailer.SMTPConfig) {
	t.Helper()
	be := &backend{got: make(chan received, 16)}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case mailer.TLSStartTLS:
		srv.TLSConfig = selfSigned(t)
	case mailer.TLSImplicit:
		ln = tls.NewListener(ln, selfSigned(t))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("SMTP server did not stop")
		}
	})
	return be, mailer.SMTPConfig{
		Host:               "127.0.0.1",
		Port:               ln.Addr().(*net.TCPAddr).Port,
		Username:           testUser,
		Password:           testPassword,
		From:               "CQRS <no-reply@cqrs.example>",
		TLS:                mode,
		InsecureSkipVerify: true,
		Timeout:            5 * time.Second,
	}
}

// selfSigned makes a throwaway certificate for 127.0.0.1.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
}

// closedPort returns a port on 127.0.0.1 that refuses connections.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// parsed is a received message taken apart.
type parsed struct {
	To, From, Subject string
	Text, HTML        string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{To: msg.Header.Get("To"), From: msg.Header.Get("From"), Subject: subject}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative", mediaType)
	}
	// multipart.Reader undoes quoted-printable itself.
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.Text = string(body)
		case "text/html":
			p.HTML = string(body)
		}
	}
	return p
}

func waitFor(t *testing.T, be *backend) received {
	t.Helper()
	select {
	case m := <-be.got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message reached the SMTP server")
		return received{}
	}
}
