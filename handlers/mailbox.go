package handlers

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/views"
)

// MailboxStore is what the local mailbox and outbox pages need from the store.
type MailboxStore interface {
	Email(ctx context.Context, id uint64) (cqrs.Email, error)
	Emails(ctx context.Context, f cqrs.EmailFilter) ([]cqrs.Email, error)
	User(ctx context.Context, id uint64) (cqrs.User, error)
}

// The local mailbox follows one rule: nobody learns a working link to an
// account that has a password, other than its owner and the system
// administrator, who operates the computer, holds the database anyway and
// passes links on. A User Administrator sees their organisation's emails
// (to know what was sent) with the links in other people's emails hidden,
// so starting a reset for someone never lets them learn its link. The one
// exception delivers invitations on a site without a mail server: the
// registration link of an account in their organisation that has never
// had a password (and is not a system administrator's), which they could
// revoke and re-send anyway, so they can pass it on. Never a reset or
// unlock link, never for anyone with a password. Learners in training mode
// read their own emails at /training/mailbox.

// hiddenLink stands in for a link its reader may not follow.
const hiddenLink = "(link hidden: only the person it was sent to and the system administrator can see it)"

// emailRegistration is the kind of the registration email (see emails.go).
const emailRegistration = "registration"

// mailboxReader is who is reading the local mailbox and what they may see.
type mailboxReader struct {
	user   cqrs.User
	filter cqrs.EmailFilter
}

// mayFollowLinks reports whether the reader may see the links in e, sent
// to recipient as the account is now: the system administrator in every
// email, anyone in their own, and a User Administrator the registration
// link of an account in their organisation that has never registered.
func (r mailboxReader) mayFollowLinks(e cqrs.Email, recipient cqrs.User) bool {
	switch {
	case isSystemAdmin(r.user) || e.UserID == r.user.ID:
		return true
	case r.user.Role != cqrs.RoleUserAdmin || e.Kind != emailRegistration || recipient.ID != e.UserID:
		return false
	}
	return recipient.OrgID == r.user.OrgID && recipient.PasswordHash == "" && recipient.Role != cqrs.RoleSystemAdmin
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
	emails, err := a.mailStore.Emails(c.UserContext(), f)
	if err != nil {
		return err
	}
	p, err := a.signedInPage(c, "Local mailbox")
	if err != nil {
		return err
	}
	note := "Every email this CQRS system sends is kept here with its delivery status."
	if !a.cfg.SMTPEnabled {
		note = "No mail server is set up, so emails are delivered here instead."
	}
	if isSystemAdmin(reader.user) {
		if !a.cfg.SMTPEnabled {
			note += " Open one to pass its link on to the person it was sent to."
		}
	} else {
		note += " You can open the registration email of someone in your organisation who has not registered yet and pass its link on to them, and only them: whoever opens it can choose their password." +
			" Other links in emails to other people are hidden (password resets and unlocks, and anyone who has a password): only the system administrator can see them, and passes them on."
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
	e, err := a.mailStore.Email(c.UserContext(), id)
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
	var recipient cqrs.User
	if !isSystemAdmin(reader.user) && e.UserID != 0 && e.UserID != reader.user.ID {
		// The account as it is now: a password chosen since hides the link.
		if recipient, err = a.mailStore.User(c.UserContext(), e.UserID); err != nil && !errors.Is(err, cqrs.ErrNotFound) {
			return err
		}
	}
	if !reader.mayFollowLinks(e, recipient) {
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
