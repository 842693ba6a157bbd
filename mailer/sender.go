package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// Retry schedule: the first retry after FirstRetry, doubling up to MaxRetry;
// an email is failed for good on its MaxAttempts-th failed attempt.
const (
	FirstRetry  = 30 * time.Second
	MaxRetry    = time.Hour
	MaxAttempts = 8
)

// batchSize is how many due emails one pass takes from the store.
const batchSize = 50

// claimLease is how long a claimed email is this sender's: longer than a
// batch takes. An email whose sender stopped mid-batch (a shutdown, a
// crash) is sent by the next pass after the lease, by whichever instance.
const claimLease = 2 * time.Minute

// maxErrorText bounds the error stored with an email: server replies can be
// long and the outbox page shows it.
const maxErrorText = 500

// Outbox is the part of the store the Sender needs. Every state lives in the
// store, never only in memory, so emails queued before a crash are simply
// still queued after it.
type Outbox interface {
	// ClaimDueEmails takes due emails for this sender for lease: senders
	// of several instances on one database never get the same one.
	ClaimDueEmails(ctx context.Context, limit int, lease time.Duration) ([]cqrs.Email, error)
	MarkEmailSent(ctx context.Context, id uint64) error
	MarkEmailAttemptFailed(ctx context.Context, id uint64, errText string, next time.Time, final bool) error
	MarkEmailDelivered(ctx context.Context, id uint64) error
}

// Sender delivers due outbox entries. Passes are serialised, so Run and a
// direct DeliverDue never send the same email twice.
type Sender struct {
	logger  *slog.Logger
	cfg     SMTPConfig
	cfgErr  error
	outbox  Outbox
	console io.Writer
	// mailboxURL is where the console says local emails wait.
	mailboxURL string
	now        func() time.Time
	wake       chan struct{}

	mu sync.Mutex // one pass at a time; also guards console writes
}

// NewSender returns a Sender. A nil logger or console discards; a nil now is
// time.Now. The config is validated here and a bad one is reported by every
// pass, leaving the emails queued rather than failing them.
func NewSender(logger *slog.Logger, cfg SMTPConfig, outbox Outbox, console io.Writer, now func() time.Time) *Sender {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if console == nil {
		console = io.Discard
	}
	if now == nil {
		now = time.Now
	}
	return &Sender{
		logger:  logger,
		cfg:     cfg,
		cfgErr:  cfg.Validate(),
		outbox:  outbox,
		console: console,
		now:     now,
		wake:    make(chan struct{}, 1),
	}
}

// Run delivers until ctx ends: a pass at once, then every interval and
// whenever Wake is called.
func (s *Sender) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		attempted, _, err := s.deliverDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.logger.Error("mailer: delivery pass", "err", err)
		}
		// A full batch means more may be waiting: go again without sleeping.
		if err == nil && attempted == batchSize {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-s.wake:
		}
	}
}

// SetMailboxURL is the address of the local mailbox page, which the
// console names when an email is delivered there.
func (s *Sender) SetMailboxURL(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mailboxURL = url
}

// Wake asks Run for a pass now; it never blocks, and nudges that arrive
// during a pass fold into one.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// DeliverDue makes one pass over the due emails and returns how many were
// delivered (sent, or put in the local mailbox). Failed attempts are recorded
// on the email, not returned; the error is for the store or the config.
func (s *Sender) DeliverDue(ctx context.Context) (int, error) {
	_, delivered, err := s.deliverDue(ctx)
	return delivered, err
}

func (s *Sender) deliverDue(ctx context.Context) (attempted, delivered int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Enabled() && s.cfgErr != nil {
		return 0, 0, s.cfgErr
	}
	emails, err := s.outbox.ClaimDueEmails(ctx, batchSize, claimLease)
	if err != nil {
		return 0, 0, fmt.Errorf("mailer: due emails: %w", err)
	}
	for _, e := range emails {
		if err := ctx.Err(); err != nil {
			return attempted, delivered, err
		}
		attempted++
		var ok bool
		if s.cfg.Enabled() {
			ok, err = s.sendSMTP(ctx, e)
		} else {
			ok, err = s.deliverLocal(ctx, e)
		}
		if err != nil {
			return attempted, delivered, err
		}
		if ok {
			delivered++
		}
	}
	return attempted, delivered, nil
}

// deliverLocal puts the email in the local mailbox and says on the console
// that it waits there, and where. The link itself is never printed: a
// console is projected, pasted into tickets and scrolled back by anyone at
// the computer, and the link is only the recipient's and the system
// administrator's to see. The store is written first: the mailbox page is
// the record, the console a convenience.
func (s *Sender) deliverLocal(ctx context.Context, e cqrs.Email) (bool, error) {
	if err := s.outbox.MarkEmailDelivered(ctx, e.ID); err != nil {
		return false, fmt.Errorf("mailer: mark email %d delivered: %w", e.ID, err)
	}
	s.logger.Info("mailer: email in local mailbox", "id", e.ID, "to_domain", domainOf(e.To), "status", cqrs.EmailLocal)
	var b strings.Builder
	to := clean(e.To)
	if name := clean(e.ToName); name != "" {
		to = name + " <" + to + ">"
	}
	fmt.Fprintf(&b, "Email to %s: %s\n", to, clean(e.Subject))
	where := "the local mailbox (Administration, Local mailbox)"
	if s.mailboxURL != "" {
		where = "the local mailbox: " + clean(s.mailboxURL)
	}
	fmt.Fprintf(&b, "  waiting in %s\n", where)
	if _, err := io.WriteString(s.console, b.String()); err != nil {
		s.logger.Warn("mailer: console", "id", e.ID, "err", err)
	}
	return true, nil
}

// recordTimeout bounds writing down a send that already happened, which
// goes ahead after the sender's context ends.
const recordTimeout = 10 * time.Second

// sendSMTP makes one attempt and records its outcome.
func (s *Sender) sendSMTP(ctx context.Context, e cqrs.Email) (bool, error) {
	err := s.attempt(ctx, e)
	// Shutting down mid-send is not the email's fault: leave it queued for
	// the next pass after its claim's lease rather than spend one of its
	// attempts.
	if err != nil && ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err == nil {
		// The email has left: its record is written even if the sender is
		// stopping now, or the next pass would send it again.
		record, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		if err := s.outbox.MarkEmailSent(record, e.ID); err != nil {
			return false, fmt.Errorf("mailer: mark email %d sent: %w", e.ID, err)
		}
		s.logger.Info("mailer: email sent", "id", e.ID, "to_domain", domainOf(e.To), "status", cqrs.EmailSent)
		return true, nil
	}

	attempts := e.Attempts + 1
	final := permanent(err) || attempts >= MaxAttempts
	next := s.now().Add(Backoff(attempts))
	text := errorText(err)
	if ferr := s.outbox.MarkEmailAttemptFailed(ctx, e.ID, text, next, final); ferr != nil {
		return false, fmt.Errorf("mailer: record failed attempt on email %d: %w", e.ID, ferr)
	}
	// Server replies often quote the recipient; the logs keep only its domain.
	logged := strings.ReplaceAll(text, e.To, "<recipient>")
	if final {
		s.logger.Error("mailer: email failed", "id", e.ID, "to_domain", domainOf(e.To), "status", cqrs.EmailFailed, "attempts", attempts, "err", logged)
	} else {
		s.logger.Warn("mailer: email attempt failed", "id", e.ID, "to_domain", domainOf(e.To), "status", cqrs.EmailQueued, "attempts", attempts, "next", next, "err", logged)
	}
	return false, nil
}

func (s *Sender) attempt(ctx context.Context, e cqrs.Email) error {
	msg, err := s.message(e)
	if err != nil {
		return &buildError{err}
	}
	client, err := s.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	return client.DialAndSendWithContext(ctx, msg)
}

// Backoff is the wait after the given number of failed attempts: FirstRetry,
// doubling each time, capped at MaxRetry.
func Backoff(attempts int) time.Duration {
	d := FirstRetry
	for i := 1; i < attempts; i++ {
		d *= 2
		if d >= MaxRetry {
			return MaxRetry
		}
	}
	return d
}

// message builds the email. Addresses are checked again here because the
// store may hold entries written before ValidateAddress existed.
func (s *Sender) message(e cqrs.Email) (*gomail.Msg, error) {
	if err := ValidateAddress(e.ToName, e.To); err != nil {
		return nil, err
	}
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(s.cfg.From); err != nil {
		return nil, fmt.Errorf("from-address: %w", err)
	}
	if err := m.AddToFormat(e.ToName, e.To); err != nil {
		return nil, fmt.Errorf("to-address: %w", err)
	}
	m.Subject(clean(e.Subject))
	m.SetDateWithValue(s.now())
	// Marks the mail as machine-sent so auto-responders stay quiet (RFC 3834).
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetBodyString(gomail.TypeTextPlain, e.Text)
	if e.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
	}
	return m, nil
}

// client is made per attempt: go-mail's Client holds one connection, and a
// fresh one keeps a failed conversation from leaking into the next email.
func (s *Sender) client() (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.port()),
		gomail.WithTimeout(s.cfg.timeout()),
		gomail.WithTLSConfig(&tls.Config{
			ServerName:         s.cfg.Host,
			InsecureSkipVerify: s.cfg.InsecureSkipVerify,
			MinVersion:         tls.VersionTLS12,
		}),
	}
	switch s.cfg.mode() {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		// PLAIN and LOGIN without the -NOENC variants: go-mail refuses to
		// send the password over an unencrypted connection to another host.
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.cfg.Username),
			gomail.WithPassword(s.cfg.Password),
		)
	}
	return gomail.NewClient(s.cfg.Host, opts...)
}

// buildError marks an email that can never be sent as it stands.
type buildError struct{ err error }

func (e *buildError) Error() string { return "build message: " + e.err.Error() }
func (e *buildError) Unwrap() error { return e.err }

// permanent reports whether retrying cannot help: the message cannot be
// built, or the server refused this message with a 5xx reply. A 5xx on the
// connection or on AUTH is about the setup, not the email, so it is retried
// like any outage (an operator may fix the password meanwhile).
func permanent(err error) bool {
	var be *buildError
	if errors.As(err, &be) {
		return true
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		switch se.Reason {
		case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
			c := se.ErrorCode()
			return c >= 500 && c < 600
		}
	}
	return false
}

func errorText(err error) string {
	text := clean(err.Error())
	if len(text) > maxErrorText {
		text = strings.ToValidUTF8(text[:maxErrorText], "") + "…"
	}
	return text
}

// domainOf is what the logs say about a recipient: enough to spot a
// provider's outage, without the address.
func domainOf(addr string) string {
	if a, err := mail.ParseAddress(addr); err == nil {
		addr = a.Address
	}
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return clean(addr[i+1:])
	}
	return ""
}

// clean replaces control characters, so a stored value cannot break a
// header line or send escape codes to the terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
