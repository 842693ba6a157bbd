package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cqrs-local/cqrs-signin/clock"
	"github.com/cqrs-local/cqrs-signin/policy"
)

// TestTrainingFlag: training mode has one name, --training
// ($CQRS_TRAINING), and its first name --demo ($CQRS_DEMO) still works.
func TestTrainingFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want bool
	}{
		{"off by default", nil, nil, false},
		{"--training", []string{"--training"}, nil, true},
		{"$CQRS_TRAINING", nil, map[string]string{"CQRS_TRAINING": "true"}, true},
		{"--demo, its first name", []string{"--demo"}, nil, true},
		{"$CQRS_DEMO", nil, map[string]string{"CQRS_DEMO": "1"}, true},
		{"--training=false", []string{"--training=false"}, map[string]string{"CQRS_TRAINING": "true"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(append([]string{"cqrs-signin"}, tc.args...), func(k string) string { return tc.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if o.training != tc.want {
				t.Errorf("training = %v, want %v", o.training, tc.want)
			}
		})
	}
}

// --open-mailbox showed every emailed link to anyone; it is gone, and a
// command line or environment still asking for it is refused with a
// message saying why, rather than started in some other way.
func TestOpenMailboxIsRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"flag":                  {args: []string{"--open-mailbox", "--version"}},
		"flag with a value":     {args: []string{"-open-mailbox=true", "--version"}},
		"flag in training":      {args: []string{"--demo", "--open-mailbox", "--version"}},
		"environment":           {args: []string{"--version"}, env: map[string]string{"CQRS_OPEN_MAILBOX": "true"}},
		"environment, training": {args: []string{"--demo", "--version"}, env: map[string]string{"CQRS_OPEN_MAILBOX": "1"}},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut strings.Builder
			err := run(t.Context(), append([]string{"cqrs-signin"}, tc.args...), func(k string) string { return tc.env[k] }, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), "--open-mailbox") || !strings.Contains(err.Error(), "removed") {
				t.Fatalf("run = %v, want the removed --open-mailbox refused\nstdout:\n%s", err, out.String())
			}
			if strings.Contains(out.String(), "cqrs-signin ") {
				t.Errorf("it went on to do what else was asked:\n%s", out.String())
			}
		})
	}
}

// An http:// issuer is refused at start unless it is on this computer, with
// an error that says why; preferred_username / upn are matched only for the
// simulator and a tenant-specific Entra ID issuer, and never with
// --oidc-email-only.
func TestSingleSignOnSettings(t *testing.T) {
	env := func(string) string { return "" }
	for issuer, wantErr := range map[string]string{
		"http://idp.example.org/realms/nhs":   "accepted only on this computer",
		"http://192.168.1.20:8080/realms/nhs": "accepted only on this computer",
		"http://evil.example@127.0.0.1:9000/": "not an https URL",
		"ftp://idp.example.org/":              "not an https URL",
		"http://127.0.0.1:9000/realms/nhs":    "",
		"http://localhost:9000/":              "",
		"http://[::1]:9000/":                  "",
		"https://idp.example.org/realms/nhs":  "",
		"https://login.microsoftonline.com/0b5f2b5e-6a6e-4d3c-9d8e-2f1a7c3b4d5e/v2.0": "",
	} {
		_, err := parseFlags([]string{"cqrs-signin", "--oidc-issuer", issuer, "--oidc-client-id", "cqrs"}, env, io.Discard)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%s refused: %v", issuer, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%s: error %v, want one saying %q", issuer, err, wantErr)
		}
	}

	for _, tc := range []struct {
		args      []string
		emailOnly bool
	}{
		{nil, false}, // the simulator
		{[]string{"--oidc-email-only"}, true},
		{[]string{"--oidc-issuer", "https://login.microsoftonline.com/0b5f2b5e-6a6e-4d3c-9d8e-2f1a7c3b4d5e/v2.0", "--oidc-client-id", "cqrs"}, false},
		{[]string{"--oidc-issuer", "https://login.microsoftonline.com/0b5f2b5e-6a6e-4d3c-9d8e-2f1a7c3b4d5e/v2.0", "--oidc-client-id", "cqrs", "--oidc-email-only"}, true},
		{[]string{"--oidc-issuer", "https://idp.example.org/realms/nhs", "--oidc-client-id", "cqrs"}, true},
	} {
		opts, err := parseFlags(append([]string{"cqrs-signin"}, tc.args...), env, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := ssoConfig(opts, "http://127.0.0.1:8420", env)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.EmailOnly != tc.emailOnly {
			t.Errorf("%v: EmailOnly %v, want %v", tc.args, cfg.EmailOnly, tc.emailOnly)
		}
	}
}

// TestPasswordPolicyFlag: --password-policy and $CQRS_PASSWORD_POLICY pick
// the policy, the flag winning; anything else is refused with the choices.
func TestPasswordPolicyFlag(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     string
		want    string
		wantErr string
	}{
		{"default", nil, "", policy.NameCQRS, ""},
		{"flag", []string{"--password-policy", "hardened"}, "", policy.NameHardened, ""},
		{"environment", nil, "hardened", policy.NameHardened, ""},
		{"flag wins", []string{"--password-policy", "cqrs"}, "hardened", policy.NameCQRS, ""},
		{"unknown", []string{"--password-policy", "nist"}, "", "", `--password-policy: unknown password policy "nist": choose cqrs or hardened`},
		{"unknown in the environment", nil, "Hardened", "", `unknown password policy "Hardened"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "CQRS_PASSWORD_POLICY" {
					return tc.env
				}
				return ""
			}
			o, err := parseFlags(append([]string{"cqrs-signin"}, tc.args...), getenv, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := o.passwordPolicy.Name(), tc.want; got != want {
				t.Errorf("policy = %q, want %q", got, want)
			}
		})
	}
}

// TestPublicURLAndProxyFlags: --public-url makes the public address the
// site's (links, single sign-on, Host, Origin, cookie security) and
// --trusted-proxies takes addresses and ranges; bad values are refused
// with what to give instead.
func TestPublicURLAndProxyFlags(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"CQRS_PUBLIC_URL": "https://cqrs.example.nhs.uk/", "CQRS_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16,::1"}[k]
	}
	opts, err := parseFlags([]string{"cqrs-signin"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg := appConfig(opts, exposure{baseURL: "http://127.0.0.1:9001"}, "127.0.0.1", clock.New(time.Now))
	if cfg.BaseURL != "https://cqrs.example.nhs.uk" || cfg.PublicOrigin != cfg.BaseURL || !cfg.Secure || !slices.Contains(cfg.Hosts, "cqrs.example.nhs.uk") {
		t.Errorf("config behind the public address: BaseURL %q, origin %q, Secure %v, Hosts %v", cfg.BaseURL, cfg.PublicOrigin, cfg.Secure, cfg.Hosts)
	}
	if got := fmt.Sprint(cfg.TrustedProxies); got != "[10.0.0.5/32 10.1.0.0/16 ::1/128]" {
		t.Errorf("trusted proxies %s", got)
	}
	sso, err := ssoConfig(opts, cfg.BaseURL, env)
	if err != nil || sso.Issuer != "https://cqrs.example.nhs.uk/nhsmail" || sso.RedirectURL != "https://cqrs.example.nhs.uk/sso/callback" {
		t.Errorf("single sign-on behind the public address: %+v, %v", sso, err)
	}
	none, _ := parseFlags([]string{"cqrs-signin"}, func(string) string { return "" }, io.Discard)
	if cfg := appConfig(none, exposure{baseURL: "http://127.0.0.1:9001"}, "127.0.0.1", clock.New(time.Now)); cfg.BaseURL != "http://127.0.0.1:9001" || cfg.PublicOrigin != "" || cfg.Secure {
		t.Errorf("without --public-url the instance's own address: %q %q %v", cfg.BaseURL, cfg.PublicOrigin, cfg.Secure)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--public-url", "cqrs.example.nhs.uk"}, "give the address people type"},
		{[]string{"--public-url", "https://cqrs.example.nhs.uk/login"}, "no path"},
		{[]string{"--public-url", "http://cqrs.example.nhs.uk"}, "in clear"},
		{[]string{"--trusted-proxies", "10.0.0.300"}, "neither an address nor a CIDR range"},
		{[]string{"--drain-time", "-1s"}, "must not be negative"},
	} {
		_, err := parseFlags(append([]string{"cqrs-signin"}, tc.args...), func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
	if _, err := parseFlags([]string{"cqrs-signin", "--public-url", "http://cqrs.lan", "--insecure-lan"}, func(string) string { return "" }, io.Discard); err != nil {
		t.Errorf("http:// with --insecure-lan refused: %v", err)
	}
}

// TestTrainingNeverUsesSMTP: training mode sends no email by SMTP whatever
// the SMTP flags say (each learner reads their own mailbox); the sender
// and the pages read that from one place, options.mailServer.
func TestTrainingNeverUsesSMTP(t *testing.T) {
	smtpArgs := []string{"--smtp-host", "127.0.0.1", "--smtp-port", "2525", "--smtp-tls", "none"}
	for _, tc := range []struct {
		name     string
		args     []string
		wantSMTP bool
	}{
		{"a site with a mail server", smtpArgs, true},
		{"training mode with the same flags", append([]string{"--training"}, smtpArgs...), false},
		{"its first name, --demo", append([]string{"--demo"}, smtpArgs...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(append([]string{"cqrs-signin"}, tc.args...), func(string) string { return "" }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := o.mailServer().Enabled(); got != tc.wantSMTP {
				t.Errorf("the sender's SMTP server is on: %v, want %v", got, tc.wantSMTP)
			}
			if got := appConfig(o, exposure{baseURL: "http://127.0.0.1:9001"}, "127.0.0.1", clock.New(time.Now)).SMTPEnabled; got != tc.wantSMTP {
				t.Errorf("the pages say emails leave by SMTP: %v, want %v", got, tc.wantSMTP)
			}
		})
	}
}
