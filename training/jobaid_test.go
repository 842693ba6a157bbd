package training

import "testing"

// TestJobAidMapsPagesToSteps: the error pages and the forgotten-password
// page each highlight a job aid step (the panel itself:
// TestJobAidPanelToggleIsRemembered in package handlers).
func TestJobAidMapsPagesToSteps(t *testing.T) {
	for path, title := range map[string]string{"/sso/no-account": "No CQRS account", "/sso/locked": "Your account is locked", "/forgotten": ""} {
		if got := jobAidCurrent(path, title); len(got) == 0 {
			t.Errorf("%s %q maps to no step", path, title)
		}
	}
	if got := jobAidCurrent("/sso/no-account", "No CQRS account"); got[0] != "sso-5" {
		t.Errorf("no CQRS account page = %v", got)
	}
}
