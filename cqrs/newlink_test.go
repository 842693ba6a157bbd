package cqrs

import (
	"errors"
	"testing"
	"time"
)

func TestNewLink(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	ahead := 72 * time.Hour // a learner whose clock the trainer moved on

	invited := User{ID: 7, ClockOffset: ahead, InviteRevoked: true}
	link, reinvited, err := invited.NewLink(LinkRegister, now, time.Hour)
	if err != nil || !reinvited {
		t.Fatalf("a registration link for an invited user: reinvited %v, %v", reinvited, err)
	}
	want := Link{UserID: 7, Purpose: LinkRegister, Created: now.Add(ahead), Expires: now.Add(ahead + time.Hour)}
	if link != want {
		t.Errorf("link %+v, want %+v (on the user's own clock)", link, want)
	}
	if invited.InviteRevoked || !invited.InviteExpires.Equal(want.Expires) {
		t.Errorf("the invitation was not renewed: %+v", invited)
	}

	registered := User{ID: 8, PasswordHash: "hash"}
	if link, reinvited, err := registered.NewLink(LinkReset, now, time.Hour); err != nil || reinvited || link.Expires != now.Add(time.Hour) {
		t.Errorf("a reset link: %+v, reinvited %v, %v", link, reinvited, err)
	}
	if _, _, err := registered.NewLink(LinkRegister, now, time.Hour); !errors.Is(err, ErrConflict) {
		t.Errorf("a registration link for a registered user: %v, want ErrConflict", err)
	}
}
