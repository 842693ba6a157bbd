package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// TestSecondFactorFlag: --second-factor (CQRS_SECOND_FACTOR) is off unless
// set, takes the three settings only, and its key file sits beside the
// database unless --second-factor-key names another.
func TestSecondFactorFlag(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     string
		want    cqrs.SecondFactorPolicy
		wantErr string
	}{
		{"default", nil, "", cqrs.SecondFactorOff, ""},
		{"flag", []string{"--second-factor", "administrators"}, "", cqrs.SecondFactorAdministrators, ""},
		{"environment", nil, "everyone", cqrs.SecondFactorEveryone, ""},
		{"flag wins", []string{"--second-factor", "off"}, "everyone", cqrs.SecondFactorOff, ""},
		{"unknown", []string{"--second-factor", "admins"}, "", "", `--second-factor: "admins" is not a second-factor setting: use off, administrators or everyone`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "CQRS_SECOND_FACTOR" {
					return tc.env
				}
				return ""
			}
			o, err := parseFlags(append([]string{"cqrs-signin", "--data", "/srv/cqrs/cqrs.db"}, tc.args...), getenv, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.secondFactor != tc.want || o.secondFactorKey != "/srv/cqrs/second-factor.key" {
				t.Errorf("setting %q, key %q", o.secondFactor, o.secondFactorKey)
			}
		})
	}
}

// TestSecondFactorKeyFile: the key is made once, readable by its owner
// only, and read back the same; a file that is not a key is refused.
func TestSecondFactorKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "second-factor.key")
	first, err := secondFactorKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	again, err := secondFactorKey(path)
	if err != nil || !bytes.Equal(first, again) || len(first) != 32 {
		t.Fatalf("read again: %x, %v; made %x", again, err, first)
	}
	if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secondFactorKey(path); err == nil || !strings.Contains(err.Error(), "not a key this program made") {
		t.Errorf("a file that is not a key: %v", err)
	}
}
