package handlers

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// composeEmail builds an outbox entry whose text and HTML parts say the
// same thing. secret is the link's token, so the stored copy can drop it
// once delivered.
func (a *app) composeEmail(ctx context.Context, kind string, to cqrs.User, subject string, m views.EmailModel, secret string) cqrs.Email {
	m.Subject = subject
	m.Greeting = "Dear " + to.FullName() + ","
	h := a.helpDesk(ctx)
	m.Signature = "CQRS help desk: " + h.Email + ", " + h.Phone + " (" + h.Hours + ")"
	var text strings.Builder
	text.WriteString(m.Greeting + "\n\n")
	for _, p := range m.Before {
		text.WriteString(p + "\n\n")
	}
	if m.Link != "" {
		text.WriteString(m.LinkText + ":\n" + m.Link + "\n\n")
	}
	for _, p := range m.After {
		text.WriteString(p + "\n\n")
	}
	text.WriteString(m.Signature + "\n")
	var html bytes.Buffer
	// Rendering a fixed template into a buffer cannot fail short of a bug;
	// the text part is still sent if it ever does.
	views.EmailHTML(m).Render(ctx, &html)
	return cqrs.Email{Kind: kind, ToName: to.FullName(), To: to.Email, Subject: subject, Text: text.String(), HTML: html.String(), Secret: secret}
}

func (a *app) linkURL(path, token string) string {
	return strings.TrimRight(a.cfg.BaseURL, "/") + path + "?token=" + token
}

// registrationEmail is the job aid's "automated email containing a link
// directing you to the CQRS Registration screen".
func (a *app) registrationEmail(ctx context.Context, to cqrs.User, by cqrs.User, org cqrs.Organisation, token string, expires time.Time) cqrs.Email {
	return a.composeEmail(ctx, "registration", to, "Complete your CQRS registration", views.EmailModel{
		Before: []string{
			by.FullName() + ", your CQRS User Administrator at " + org.Name + ", has set you up on the Calculating Quality Reporting Service (CQRS).",
			"Your User ID is: " + to.UserID,
			"Use the link below to go to the CQRS Registration screen, where you will complete your user registration and create your password.",
		},
		LinkText: "Complete your CQRS registration",
		Link:     a.linkURL("/register", token),
		After: []string{
			"The link works once and expires on " + expires.Format(timeFormat) + ". If it has expired, ask your CQRS User Administrator to send you a new one.",
			"If you were not expecting this email, you can ignore it.",
		},
	}, token)
}

// resetEmail carries the "Unlock Account or Forgotten Password" link.
func (a *app) resetEmail(ctx context.Context, to cqrs.User, token string, expires time.Time) cqrs.Email {
	return a.composeEmail(ctx, "reset", to, "Unlock your CQRS account or reset your password", views.EmailModel{
		Before: []string{
			"Someone (we hope you) asked to unlock the CQRS account with User ID " + to.UserID + " or to reset its password.",
			"Use the link below to choose a new password. Choosing it also unlocks your account.",
		},
		LinkText: "Choose a new CQRS password",
		Link:     a.linkURL("/reset", token),
		After: []string{
			"The link works once and expires on " + expires.Format(timeFormat) + ".",
			"If you did not ask for this, you can ignore this email: your password has not changed.",
		},
	}, token)
}

// notYou is the last word of every email that reports a change to an
// account, so a change the owner did not make does not go unnoticed.
const notYou = "If this wasn't you, contact your CQRS User Administrator at once."

// passwordChangedEmail tells the owner their password was changed on the
// account page.
func (a *app) passwordChangedEmail(ctx context.Context, to cqrs.User, at time.Time) cqrs.Email {
	return a.composeEmail(ctx, "password-changed", to, "Your CQRS password was changed", views.EmailModel{
		Before: []string{
			"The password of your CQRS account (User ID " + to.UserID + ") was changed on " + at.Format(timeFormat) + ".",
			notYou,
		},
	}, "")
}

// passwordResetEmail tells the owner their password was reset through an
// emailed link (which also unlocks the account). Its kind is that of any
// password change; the subject and text say how it changed.
func (a *app) passwordResetEmail(ctx context.Context, to cqrs.User, at time.Time) cqrs.Email {
	return a.composeEmail(ctx, "password-changed", to, "Your CQRS password was reset", views.EmailModel{
		Before: []string{
			"The password of your CQRS account (User ID " + to.UserID + ") was reset on " + at.Format(timeFormat) + " with an Unlock Account or Forgotten Password link. If the account was locked, it is now unlocked.",
			notYou,
		},
	}, "")
}

// lockedEmail tells the owner their account was locked, with a link to
// unlock it and choose a new password: since the sign-in page answers a
// locked account like any failure, this email is how the owner learns of
// it. The store calls the function it returns inside the transaction that
// sets the lock.
func (a *app) lockedEmail(ctx context.Context) func(to cqrs.User, expires time.Time) (cqrs.Email, []byte) {
	return func(to cqrs.User, expires time.Time) (cqrs.Email, []byte) {
		token := secret.NewToken()
		return a.composeEmail(ctx, "lockout", to, "Your CQRS account is locked", views.EmailModel{
			Before: []string{
				fmt.Sprintf("Your CQRS account (User ID %s) was locked on %s after %d unsuccessful attempts in a row to sign in.", to.UserID, to.LockedAt.Format(timeFormat), a.cfg.LockAfter),
				"Use the link below to unlock your account and choose a new password.",
			},
			LinkText: "Unlock your CQRS account",
			Link:     a.linkURL("/reset", token),
			After: []string{
				"The link works once and expires on " + expires.Format(timeFormat) + ". After that, use Unlock Account or Forgotten Password on the CQRS Login page, or ask your CQRS User Administrator to unlock your account.",
				"If the attempts weren't you, someone may be trying to guess your password: choosing a new one through this link keeps it safe. You can also contact your CQRS User Administrator.",
			},
		}, token), secret.HashToken(token)
	}
}

// nhsmailLinkedEmail tells the owner an NHSmail identity was linked to
// their account: from then on that identity signs in to it.
func (a *app) nhsmailLinkedEmail(ctx context.Context, to cqrs.User, identity string) *cqrs.Email {
	at := a.cfg.Now()
	who := "An NHSmail account"
	if identity != "" {
		who = "The NHSmail account " + identity
	}
	e := a.composeEmail(ctx, "nhsmail-linked", to, "An NHSmail account was linked to your CQRS account", views.EmailModel{
		Before: []string{
			who + " was linked to your CQRS account (User ID " + to.UserID + ") on " + at.Format(timeFormat) + ", when it was used to sign in with NHSmail single sign-on. From now on it signs in to this account.",
			notYou,
		},
	}, "")
	return &e
}

// wakeMailer starts delivery of a just-queued email.
func (a *app) wakeMailer() {
	if a.mailer != nil {
		a.mailer.Wake()
	}
}
