// Package mailer delivers the store's outbox: by SMTP through go-mail when a
// server is set up, otherwise to the built-in local mailbox with the links
// printed to the console so a user with no mail server can still follow them.
package mailer

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"time"
	"unicode"
)

// TLSMode is how the connection to the SMTP server is secured.
type TLSMode string

// TLS modes.
const (
	TLSNone     TLSMode = "none"     // plain text; only sensible on a trusted local network
	TLSStartTLS TLSMode = "starttls" // upgrade with STARTTLS, refusing servers that cannot
	TLSImplicit TLSMode = "tls"      // TLS from the first byte (SMTPS, usually port 465)
)

// DefaultTimeout bounds one SMTP conversation when SMTPConfig.Timeout is zero,
// so a server that accepts the connection and then stalls cannot hold up the
// rest of the outbox.
const DefaultTimeout = 30 * time.Second

// ErrInvalidAddress is returned (wrapped) by ValidateAddress.
var ErrInvalidAddress = errors.New("mailer: invalid email address")

// SMTPConfig is where and how to send. Username and Password come from the
// environment; LogValue leaves the password out so the config can be logged.
type SMTPConfig struct {
	Host     string
	Port     int // 0: the mode's usual port (25, 587 or 465)
	Username string
	Password string
	// From is the from-address, e.g. "CQRS <no-reply@cqrs.example>".
	From string
	TLS  TLSMode // empty means starttls
	// InsecureSkipVerify accepts any server certificate; only for tests and
	// self-signed local servers.
	InsecureSkipVerify bool
	Timeout            time.Duration // 0: DefaultTimeout
}

// Enabled reports whether an SMTP server is set up; without one, email goes
// to the local mailbox.
func (c SMTPConfig) Enabled() bool { return c.Host != "" }

// Validate checks the config before the first send, so a typo surfaces at
// start-up rather than as a row of failed emails.
func (c SMTPConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	if strings.ContainsFunc(c.Host, unicode.IsSpace) || strings.ContainsFunc(c.Host, unicode.IsControl) {
		return fmt.Errorf("mailer: SMTP host %q is not a host name", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("mailer: SMTP port %d is out of range 1-65535", c.Port)
	}
	switch c.mode() {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return fmt.Errorf("mailer: unknown SMTP TLS mode %q (want none, starttls or tls)", c.TLS)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("mailer: SMTP timeout %s is negative", c.Timeout)
	}
	if c.From == "" {
		return errors.New("mailer: SMTP from-address is required")
	}
	if strings.ContainsFunc(c.From, unicode.IsControl) {
		return errors.New("mailer: SMTP from-address contains control characters")
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return fmt.Errorf("mailer: SMTP from-address %q: %w", c.From, err)
	}
	if err := ValidateAddress(from.Name, from.Address); err != nil {
		return fmt.Errorf("mailer: SMTP from-address: %w", err)
	}
	// PLAIN and LOGIN send the password as it is; over an unencrypted
	// connection that is only acceptable to this machine.
	if c.mode() == TLSNone && c.Username != "" && !isLoopback(c.Host) {
		return fmt.Errorf("mailer: refusing to send the SMTP password to %s without TLS", c.Host)
	}
	return nil
}

// LogValue keeps the password out of logs.
func (c SMTPConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host),
		slog.Int("port", c.port()),
		slog.String("tls", string(c.mode())),
		slog.Bool("auth", c.Username != ""),
		slog.String("from", c.From),
	)
}

func (c SMTPConfig) mode() TLSMode {
	if c.TLS == "" {
		return TLSStartTLS
	}
	return c.TLS
}

func (c SMTPConfig) port() int {
	if c.Port != 0 {
		return c.Port
	}
	switch c.mode() {
	case TLSNone:
		return 25
	case TLSImplicit:
		return 465
	default:
		return 587
	}
}

func (c SMTPConfig) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidateAddress checks a recipient before anything is queued. Both parts
// end up in headers, so control characters (CR/LF above all) are refused to
// rule out header injection; addr must be a bare address, with any display
// name given separately as name.
func ValidateAddress(name, addr string) error {
	if strings.ContainsFunc(name, unicode.IsControl) {
		return fmt.Errorf("%w: the name contains control characters", ErrInvalidAddress)
	}
	if addr == "" {
		return fmt.Errorf("%w: empty", ErrInvalidAddress)
	}
	if strings.ContainsFunc(addr, unicode.IsControl) {
		return fmt.Errorf("%w: control characters", ErrInvalidAddress)
	}
	if len(addr) > 254 { // RFC 5321's limit on a forward path, less the brackets
		return fmt.Errorf("%w: longer than 254 characters", ErrInvalidAddress)
	}
	parsed, err := mail.ParseAddress(addr)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrInvalidAddress, addr)
	}
	// ParseAddress also accepts "Name <a@b>", comments and quoted forms;
	// only an address that comes back unchanged is bare.
	if parsed.Name != "" || parsed.Address != addr {
		return fmt.Errorf("%w: %q is not a bare address (give the name separately)", ErrInvalidAddress, addr)
	}
	return nil
}
