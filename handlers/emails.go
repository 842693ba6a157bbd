package handlers

import (
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/cqrs-local/cqrs-signin/store"
	"github.com/cqrs-local/cqrs-signin/views"
)

// composeEmail builds an outbox entry whose text and HTML parts say the
// same thing. secret is the link's token, so the stored copy can drop it
// once delivered.
func (a *app) composeEmail(kind string, to store.User, subject string, m views.EmailModel, secret string) store.Email {
	m.Subject = subject
	m.Greeting = "Dear " + to.FullName() + ","
	m.Signature = "CQRS help desk: " + a.cfg.HelpDesk.Email + ", " + a.cfg.HelpDesk.Phone + " (" + a.cfg.HelpDesk.Hours + ")"
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
	views.EmailHTML(m).Render(context.Background(), &html)
	return store.Email{Kind: kind, ToName: to.FullName(), To: to.Email, Subject: subject, Text: text.String(), HTML: html.String(), Secret: secret}
}

func (a *app) linkURL(path, token string) string {
	return strings.TrimRight(a.cfg.BaseURL, "/") + path + "?token=" + token
}

// registrationEmail is the job aid's "automated email containing a link
// directing you to the CQRS Registration screen".
func (a *app) registrationEmail(to store.User, by store.User, org store.Organisation, token string, expires time.Time) store.Email {
	return a.composeEmail("registration", to, "Complete your CQRS registration", views.EmailModel{
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
func (a *app) resetEmail(to store.User, token string, expires time.Time) store.Email {
	return a.composeEmail("reset", to, "Unlock your CQRS account or reset your password", views.EmailModel{
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

// passwordChangedEmail tells the owner their password changed, so a change
// they did not make does not go unnoticed.
func (a *app) passwordChangedEmail(to store.User, at time.Time) store.Email {
	return a.composeEmail("password-changed", to, "Your CQRS password was changed", views.EmailModel{
		Before: []string{
			"The password of your CQRS account (User ID " + to.UserID + ") was changed on " + at.Format(timeFormat) + ".",
			"If you did not change it, contact your CQRS User Administrator or the CQRS help desk at once.",
		},
	}, "")
}

// wakeMailer starts delivery of a just-queued email.
func (a *app) wakeMailer() {
	if a.mailer != nil {
		a.mailer.Wake()
	}
}
