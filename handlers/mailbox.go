package handlers

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/store"
	"github.com/cqrs-local/cqrs-signin/views"
)

// mailboxScope is whose emails the signed-in visitor may read in the local
// mailbox: an administrator their organisation's (the system administrator
// everyone's). Others see none unless the site opens the mailbox to all
// (training set-ups).
func (a *app) mailboxScope(c *fiber.Ctx) (store.EmailFilter, bool) {
	u, ok := currentUser(c)
	switch {
	case ok && isSystemAdmin(u):
		return store.EmailFilter{}, true
	case ok && u.Role == store.RoleUserAdmin:
		return store.EmailFilter{OrgID: u.OrgID}, true
	case a.cfg.OpenMailbox:
		return store.EmailFilter{}, true
	}
	return store.EmailFilter{}, false
}

// requireMailbox lets through those mailboxScope allows; a signed-out
// visitor is sent to sign in first.
func (a *app) requireMailbox(c *fiber.Ctx) error {
	if _, ok := a.mailboxScope(c); ok {
		return c.Next()
	}
	if _, signedIn := currentUser(c); !signedIn {
		return a.requireSignedIn(c)
	}
	return refuse(fiber.StatusForbidden, "You cannot see the local mailbox", "The local mailbox is for CQRS User Administrators.")
}

func (a *app) mailbox(c *fiber.Ctx) error {
	f, _ := a.mailboxScope(c)
	f.Limit = 200
	emails, err := a.store.Emails(f)
	if err != nil {
		return err
	}
	p, err := a.signedInPage(c, "Local mailbox")
	if err != nil {
		return err
	}
	u, _ := currentUser(c)
	note := "Every email this CQRS system sends is kept here with its delivery status."
	if !a.cfg.SMTPEnabled {
		note = "No mail server is set up, so emails are delivered here instead: open one to follow its link."
	}
	return render(c, fiber.StatusOK, views.MailboxPage(views.MailboxModel{Page: p, Emails: emailRows(emails), Note: note,
		Admin: p.User != nil && p.User.IsAdmin, CanOrgs: isSystemAdmin(u)}))
}

func (a *app) mailboxEmail(c *fiber.Ctx) error {
	f, _ := a.mailboxScope(c)
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil {
		return fiber.ErrNotFound
	}
	e, err := a.store.Email(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.OrgID != 0 && e.OrgID != f.OrgID) {
		return refuse(fiber.StatusNotFound, "Email not found")
	} else if err != nil {
		return err
	}
	p, err := a.signedInPage(c, e.Subject)
	if err != nil {
		return err
	}
	u, _ := currentUser(c)
	return render(c, fiber.StatusOK, views.MailboxEmailPage(views.MailboxEmailModel{Page: p, Email: emailRows([]store.Email{e})[0],
		Body: a.bodyParts(e.Text), Admin: p.User != nil && p.User.IsAdmin, CanOrgs: isSystemAdmin(u)}))
}

// bodyParts splits an email's text into lines, making this site's own
// links clickable (and nothing else).
func (a *app) bodyParts(text string) [][]views.BodyPart {
	var lines [][]views.BodyPart
	base := strings.TrimRight(a.cfg.BaseURL, "/") + "/"
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		var parts []views.BodyPart
		for i, word := range strings.Split(line, " ") {
			if i > 0 {
				parts = append(parts, views.BodyPart{Text: " "})
			}
			parts = append(parts, views.BodyPart{Text: word, Link: strings.HasPrefix(word, base)})
		}
		lines = append(lines, parts)
	}
	return lines
}
