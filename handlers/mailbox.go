package handlers

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/views"
)

// MailboxStore is what the local mailbox and outbox pages need from the store.
type MailboxStore interface {
	Email(id uint64) (cqrs.Email, error)
	Emails(f cqrs.EmailFilter) ([]cqrs.Email, error)
}

// The local mailbox follows one rule: nobody reads an email carrying a
// working link to an account other than their own, except the system
// administrator, who operates the computer, holds the database anyway and
// passes links on. A User Administrator sees their organisation's emails
// (to know what was sent) with the links in other people's emails hidden,
// so starting a reset for someone never lets them learn its link. Learners
// in training mode read their own emails at /training/mailbox.

// hiddenLink stands in for a link its reader may not follow.
const hiddenLink = "(link hidden: only the person it was sent to and the system administrator can see it)"

// mailboxReader is who is reading the local mailbox and what they may see.
type mailboxReader struct {
	user   cqrs.User
	filter cqrs.EmailFilter
}

// mayFollowLinks reports whether the reader may see the links in e: the
// system administrator in every email, anyone else in their own.
func (r mailboxReader) mayFollowLinks(e cqrs.Email) bool {
	return isSystemAdmin(r.user) || e.UserID == r.user.ID
}

// mailboxReaderOf is the signed-in visitor as a mailbox reader: the system
// administrator reads every email, a User Administrator their
// organisation's; nobody else reads this mailbox.
func mailboxReaderOf(c *fiber.Ctx) (mailboxReader, bool) {
	u, ok := currentUser(c)
	switch {
	case ok && isSystemAdmin(u):
		return mailboxReader{user: u}, true
	case ok && u.Role == cqrs.RoleUserAdmin:
		return mailboxReader{user: u, filter: cqrs.EmailFilter{OrgID: u.OrgID}}, true
	}
	return mailboxReader{}, false
}

// requireMailbox lets through those mailboxReaderOf allows; a signed-out
// visitor is sent to sign in first.
func (a *app) requireMailbox(c *fiber.Ctx) error {
	if _, ok := mailboxReaderOf(c); ok {
		return c.Next()
	}
	if _, signedIn := currentUser(c); !signedIn {
		return a.requireSignedIn(c)
	}
	return refuse(fiber.StatusForbidden, "You cannot see the local mailbox", "The local mailbox is for CQRS User Administrators.")
}

func (a *app) mailbox(c *fiber.Ctx) error {
	reader, _ := mailboxReaderOf(c)
	f := reader.filter
	f.Limit = 200
	emails, err := a.mailStore.Emails(f)
	if err != nil {
		return err
	}
	p, err := a.signedInPage(c, "Local mailbox")
	if err != nil {
		return err
	}
	note := "Every email this CQRS system sends is kept here with its delivery status."
	if !a.cfg.SMTPEnabled {
		note = "No mail server is set up, so emails are delivered here instead: open one to follow its link."
	}
	if !isSystemAdmin(reader.user) {
		note += " The links in emails to other people are hidden: only the system administrator can see them, and passes them on."
	}
	return render(c, fiber.StatusOK, views.MailboxPage(views.MailboxModel{Page: p, Emails: emailRows(emails), Note: note,
		Admin: p.User != nil && p.User.IsAdmin, CanOrgs: isSystemAdmin(reader.user)}))
}

func (a *app) mailboxEmail(c *fiber.Ctx) error {
	reader, _ := mailboxReaderOf(c)
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil {
		return fiber.ErrNotFound
	}
	e, err := a.mailStore.Email(id)
	// Own words, and one answer for an email that does not exist and one of another organisation.
	if errors.Is(err, cqrs.ErrNotFound) || (err == nil && reader.filter.OrgID != 0 && e.OrgID != reader.filter.OrgID) {
		return refuse(fiber.StatusNotFound, "Email not found")
	} else if err != nil {
		return err
	}
	p, err := a.signedInPage(c, e.Subject+" - Local mailbox")
	if err != nil {
		return err
	}
	body := a.bodyParts(e.Text)
	if !reader.mayFollowLinks(e) {
		body = a.hideLinks(e, body)
	}
	return render(c, fiber.StatusOK, views.MailboxEmailPage(views.MailboxEmailModel{Page: p, Email: emailRows([]cqrs.Email{e})[0],
		Body: body, Admin: p.User != nil && p.User.IsAdmin, CanOrgs: isSystemAdmin(reader.user)}))
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

// hideLinks replaces every link to this site in an email's body, and any
// word holding the email's link token, with hiddenLink. Both, so that a
// link written in some other form still cannot be read.
func (a *app) hideLinks(e cqrs.Email, body [][]views.BodyPart) [][]views.BodyPart {
	for _, line := range body {
		for i, part := range line {
			if part.Link || (e.Secret != "" && strings.Contains(part.Text, e.Secret)) {
				line[i] = views.BodyPart{Text: hiddenLink, Hidden: true}
			}
		}
	}
	return body
}
