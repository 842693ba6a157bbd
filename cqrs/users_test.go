package cqrs

import "testing"

func TestSetStatus(t *testing.T) {
	for _, tc := range []struct {
		name         string
		hash         string
		status       Status
		want         Status
		endsSessions bool
	}{
		{"enabling a registered account", "hash", StatusActive, StatusActive, false},
		{"enabling an account that never registered", "", StatusActive, StatusInvited, false},
		{"disabling a registered account", "hash", StatusDisabled, StatusDisabled, true},
		{"disabling an account that never registered", "", StatusDisabled, StatusDisabled, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := User{Status: StatusDisabled, PasswordHash: tc.hash}
			if ends := u.SetStatus(tc.status); u.Status != tc.want || ends != tc.endsSessions {
				t.Errorf("status %q, ends sessions %v; want %q, %v", u.Status, ends, tc.want, tc.endsSessions)
			}
		})
	}
}
