package cqrs

import "testing"

// Edit says what the change obliges: sessions end on a change of role or
// organisation, the old address is told on a change of email (not of its
// case), and names or phone alone oblige nothing.
func TestEditSaysWhatTheChangeObliges(t *testing.T) {
	base := User{FirstName: "Sam", LastName: "Patel", Email: "sam.patel@nhs.net", Role: RoleUser, OrgID: 1}
	for _, tc := range []struct {
		name   string
		change func(*User)
		want   Edited
	}{
		{"names and phone", func(u *User) { u.FirstName, u.WorkPhone = "Samira", "0113 000 0000" }, Edited{}},
		{"role", func(u *User) { u.Role = RoleUserAdmin }, Edited{EndSessions: true}},
		{"organisation", func(u *User) { u.OrgID = 2 }, Edited{EndSessions: true}},
		{"email", func(u *User) { u.Email = "s.patel@nhs.net" }, Edited{EmailChanged: true}},
		{"email's case only", func(u *User) { u.Email = "Sam.Patel@NHS.net" }, Edited{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edited := base
			tc.change(&edited)
			u := base
			if got := u.Edit(edited); got != tc.want {
				t.Errorf("Edit = %+v, want %+v", got, tc.want)
			}
			if u != edited {
				t.Errorf("after Edit the user is %+v, want %+v", u, edited)
			}
		})
	}
}
