package handlers

import (
	"context"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/views"
)

// MessageStore is the message centre.
type MessageStore interface {
	Broadcast(ctx context.Context, orgID uint64, from, subject, body string) (int, error)
	DeleteMessage(ctx context.Context, userID, id uint64) error
	Inbox(ctx context.Context, userID, orgID uint64) (cqrs.Inbox, error)
	Messages(ctx context.Context, userID uint64) ([]cqrs.Message, int, error)
	OpenMessage(ctx context.Context, userID, id uint64) (cqrs.Message, error)
}

const (
	maxSubject = 120
	maxBody    = 4000
)

func messageView(m cqrs.Message) views.Message {
	return views.Message{ID: strconv.FormatUint(m.ID, 10), From: m.From, Subject: m.Subject, Body: m.Body,
		Sent: m.Sent.Format(timeFormat), Unread: !m.Read}
}

// messageCentre is "Message Centre", where every sign-in lands.
func (a *app) messageCentre(c *fiber.Ctx) error {
	var sent broadcastSent
	notice := ""
	if a.takeFlash(c, "/messages", &sent) {
		notice = "Your message was sent to " + strconv.Itoa(sent.Recipients) + " users."
		if sent.Recipients == 1 {
			notice = "Your message was sent to 1 user."
		}
	}
	return a.renderMessageCentre(c, fiber.StatusOK, notice, nil, views.BroadcastForm{})
}

// broadcastSent is what the message centre says once after Send message.
type broadcastSent struct {
	Recipients int `json:"recipients"`
}

func (a *app) renderMessageCentre(c *fiber.Ctx, status int, notice string, open *views.Message, form views.BroadcastForm) error {
	u, _ := currentUser(c)
	in, err := a.messages.Inbox(c.UserContext(), u.ID, u.OrgID)
	if err != nil {
		return err
	}
	title := "Message Centre"
	if open != nil {
		title = open.Subject + " - " + title // each page its own title
	}
	p := a.pageWithHeader(c, title, u, in.Organisation, in.Unread)
	m := views.MessageCentreModel{Page: p, Unread: in.Unread, Open: open, Notice: notice, CanBroadcast: p.User.IsAdmin, Broadcast: form}
	if u.Role == cqrs.RoleSystemAdmin {
		m.BroadcastAudience = "every CQRS user"
	} else {
		m.BroadcastAudience = "every user of " + p.User.Organisation
	}
	m.Messages = make([]views.Message, 0, len(in.Messages))
	for _, msg := range in.Messages {
		m.Messages = append(m.Messages, messageView(msg))
	}
	return render(c, status, views.MessageCentrePage(m))
}

func messageID(c *fiber.Ctx) (uint64, error) {
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil {
		return 0, fiber.ErrNotFound
	}
	return id, nil
}

// openMessage shows one message and marks it read: a fragment for htmx, the
// message centre with the message open otherwise.
func (a *app) openMessage(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	id, err := messageID(c)
	if err != nil {
		return err
	}
	msg, err := a.messages.OpenMessage(c.UserContext(), u.ID, id)
	// Own words for the message centre: the message may have been deleted.
	if errors.Is(err, cqrs.ErrNotFound) {
		return refuse(fiber.StatusNotFound, "Message not found", "It may have been deleted.")
	} else if err != nil {
		return err
	}
	v := messageView(msg)
	if isHTMX(c) {
		msgs, unread, err := a.messages.Messages(c.UserContext(), u.ID)
		if err != nil {
			return err
		}
		return render(c, fiber.StatusOK, views.OpenMessageFragment(v, a.page(c, "").CSRFToken, unread, len(msgs)))
	}
	return a.renderMessageCentre(c, fiber.StatusOK, "", &v, views.BroadcastForm{})
}

// deleteMessage removes one of the signed-in user's own messages.
func (a *app) deleteMessage(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	id, err := messageID(c)
	if err != nil {
		return err
	}
	// Own words for the message centre: the message may have been deleted.
	if err := a.messages.DeleteMessage(c.UserContext(), u.ID, id); errors.Is(err, cqrs.ErrNotFound) {
		return refuse(fiber.StatusNotFound, "Message not found", "It may have been deleted already.")
	} else if err != nil {
		return err
	}
	return redirect(c, "/messages")
}

// broadcast sends a message to every user of the administrator's
// organisation (the system administrator's reaches everyone).
func (a *app) broadcast(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	form := views.BroadcastForm{Subject: trimSpace(c.FormValue("subject")), Body: trimSpace(c.FormValue("body"))}
	switch n := utf8.RuneCountInString(form.Subject); {
	case n == 0:
		form.Errors = append(form.Errors, views.FieldError{Field: "subject", Message: "Enter a subject."})
	case n > maxSubject || hasControl(form.Subject):
		form.Errors = append(form.Errors, views.FieldError{Field: "subject", Message: "The subject must be 120 characters or fewer, on one line."})
	}
	switch n := utf8.RuneCountInString(form.Body); {
	case n == 0:
		form.Errors = append(form.Errors, views.FieldError{Field: "body", Message: "Enter the message."})
	case n > maxBody:
		form.Errors = append(form.Errors, views.FieldError{Field: "body", Message: "The message must be 4000 characters or fewer."})
	}
	if len(form.Errors) > 0 {
		return a.renderMessageCentre(c, fiber.StatusUnprocessableEntity, "", nil, form)
	}
	orgID := u.OrgID
	if u.Role == cqrs.RoleSystemAdmin {
		orgID = 0
	}
	// Signed by the sender's real role, as the Users list names it.
	n, err := a.messages.Broadcast(c.UserContext(), orgID, u.FullName()+" ("+roleLabels[u.Role]+")", form.Subject, form.Body)
	if err != nil {
		return err
	}
	a.log.Info("message sent", "from", u.UserID, "recipients", n)
	// Reloading the page shows it again, and sends nothing.
	if err := a.setFlash(c, "/messages", broadcastSent{Recipients: n}); err != nil {
		return err
	}
	return redirect(c, "/messages")
}
