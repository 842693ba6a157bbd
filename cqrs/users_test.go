package cqrs

import "testing"

func TestSetStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hash   string
		status Status
		want   Status
	}{
		{"enabling a registered account", "hash", StatusActive, StatusActive},
		{"enabling an account that never registered", "", StatusActive, StatusInvited},
		{"disabling a registered account", "hash", StatusDisabled, StatusDisabled},
		{"disabling an account that never registered", "", StatusDisabled, StatusDisabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := User{Status: StatusDisabled, PasswordHash: tc.hash}
			if u.SetStatus(tc.status); u.Status != tc.want {
				t.Errorf("status %q, want %q", u.Status, tc.want)
			}
		})
	}
}
