package mailer_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/mailer"
)

func TestValidateAddress(t *testing.T) {
	for _, tc := range []struct {
		name, addrName, addr string
		ok                   bool
	}{
		{"good address", "Ada Lovelace", "ada@example.nhs.uk", true},
		{"good address without a name", "", "ada@example.nhs.uk", true},
		{"CR/LF in the address", "", "a@b.c\r\nBcc: x@y", false},
		{"LF in the address", "", "a@b.c\nBcc: x@y", false},
		{"CR/LF in the name", "Ada\r\nBcc: x@y", "ada@example.nhs.uk", false},
		{"tab in the name", "Ada\tLovelace", "ada@example.nhs.uk", false},
		{"display name in the address", "", "Ada <ada@example.nhs.uk>", false},
		{"two addresses", "", "ada@example.nhs.uk, eve@example.com", false},
		{"comment in the address", "", "ada@example.nhs.uk (Ada)", false},
		{"no at sign", "", "ada.example.nhs.uk", false},
		{"empty", "Ada", "", false},
		{"spaces around", "", " ada@example.nhs.uk ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mailer.ValidateAddress(tc.addrName, tc.addr)
			if got, want := err == nil, tc.ok; got != want {
				t.Fatalf("ValidateAddress(%q, %q) = %v, want ok %v", tc.addrName, tc.addr, err, want)
			}
			if err != nil && !errors.Is(err, mailer.ErrInvalidAddress) {
				t.Errorf("error %v is not ErrInvalidAddress", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	good := mailer.SMTPConfig{Host: "smtp.example.com", Port: 587, From: "CQRS <no-reply@cqrs.example>", TLS: mailer.TLSStartTLS}
	for _, tc := range []struct {
		name   string
		change func(*mailer.SMTPConfig)
		ok     bool
	}{
		{"good", func(*mailer.SMTPConfig) {}, true},
		{"disabled needs nothing", func(c *mailer.SMTPConfig) { *c = mailer.SMTPConfig{} }, true},
		{"default port and mode", func(c *mailer.SMTPConfig) { c.Port, c.TLS = 0, "" }, true},
		{"implicit TLS", func(c *mailer.SMTPConfig) { c.Port, c.TLS = 465, mailer.TLSImplicit }, true},
		{"port too high", func(c *mailer.SMTPConfig) { c.Port = 70000 }, false},
		{"negative port", func(c *mailer.SMTPConfig) { c.Port = -1 }, false},
		{"unknown TLS mode", func(c *mailer.SMTPConfig) { c.TLS = "ssl" }, false},
		{"no from-address", func(c *mailer.SMTPConfig) { c.From = "" }, false},
		{"two from-addresses", func(c *mailer.SMTPConfig) { c.From = "a@cqrs.example, b@cqrs.example" }, false},
		{"CR/LF in the from-address", func(c *mailer.SMTPConfig) { c.From = "CQRS <no-reply@cqrs.example>\r\nBcc: x@y" }, false},
		{"password in clear to another host", func(c *mailer.SMTPConfig) { c.TLS, c.Username = mailer.TLSNone, "u" }, false},
		{"password in clear to this machine", func(c *mailer.SMTPConfig) { c.Host, c.TLS, c.Username = "127.0.0.1", mailer.TLSNone, "u" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.change(&c)
			if got, want := c.Validate() == nil, tc.ok; got != want {
				t.Errorf("Validate() = %v, want ok %v", c.Validate(), want)
			}
		})
	}
}

func TestConfigLogValueHidesPassword(t *testing.T) {
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("smtp", "config", mailer.SMTPConfig{Host: "smtp.example.com", Username: "u", Password: testPassword})
	if strings.Contains(b.String(), testPassword) {
		t.Errorf("logged config shows the password: %s", b.String())
	}
}
