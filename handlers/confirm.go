package handlers

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/views"
)

// Destructive actions (disable, revoke, remove, delete) ask first, on a page
// of their own that says what will happen: the action's button leads there
// (GET), and that page's form posts the action itself, so no JavaScript
// confirm() is needed and the POST routes stay as they were.

// confirmation is what the page asks: its heading, what will happen, and
// the button that does it.
type confirmation struct {
	heading    string
	paragraphs []string
	button     string
}

// userConfirmations say what each destructive action does to u's account;
// nil when the action does not apply to the account as it is now.
var userConfirmations = map[string]func(admin, u cqrs.User) *confirmation{
	"disable": func(admin, u cqrs.User) *confirmation {
		if u.ID == admin.ID || u.Status == cqrs.StatusDisabled {
			return nil
		}
		return &confirmation{heading: "Disable the account of " + u.FullName() + " (" + u.UserID + ")?", button: "Disable account",
			paragraphs: []string{
				u.FullName() + " will no longer be able to sign in to CQRS, with a User ID and password or with NHSmail, and is signed out now wherever they are signed in.",
				"Links already emailed to them do not work while the account is disabled.",
				"Nothing else changes: you can enable the account again from its page.",
			}}
	},
	"revoke": func(_, u cqrs.User) *confirmation {
		if u.PasswordHash != "" || u.InviteRevoked || u.Status == cqrs.StatusDisabled {
			return nil
		}
		return &confirmation{heading: "Revoke the invitation of " + u.FullName() + " (" + u.UserID + ")?", button: "Revoke invitation",
			paragraphs: []string{
				"The registration link already emailed to " + u.Email + " stops working, so they cannot register with it.",
				"The account stays, not registered: you can send a new registration email from its page later.",
			}}
	},
	"second-factor/reset": func(_, u cqrs.User) *confirmation { // asked only when one is set up: confirmSecondFactorReset
		return &confirmation{heading: "Reset the second step of " + u.FullName() + " (" + u.UserID + ")?", button: "Reset second step",
			paragraphs: []string{
				"Their authenticator app, passkeys and recovery codes stop working now, and they are emailed to say so. They set up a second step again the next time they sign in with their User ID and password.",
				"Do this when they have lost their phone or security key. If they did not ask for it, check with them first: whoever signs in next with their password sets up the new second step.",
			}}
	},
	"unlink": func(_, u cqrs.User) *confirmation {
		if u.SSOSubject == "" {
			return nil
		}
		return &confirmation{heading: "Remove the NHSmail link of " + u.FullName() + " (" + u.UserID + ")?", button: "Remove NHSmail link",
			paragraphs: []string{
				"Their CQRS account is linked to an NHSmail account. Once the link is removed, their next NHSmail sign-in finds their CQRS account by email address again, as their first one did, and links that NHSmail account.",
				"Their password, their messages and everything else stay as they are.",
			}}
	},
}

// confirmUserAction asks before the named destructive action on a user's
// account; when it no longer applies it goes back to the user's page.
func (a *app) confirmUserAction(action string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		admin, u, err := a.managedUser(c)
		if err != nil {
			return err
		}
		return a.askUserAction(c, action, admin, u)
	}
}

// askUserAction is the question before the named action on u's account.
func (a *app) askUserAction(c *fiber.Ctx, action string, admin, u cqrs.User) error {
	back := "/admin/users/" + strconv.FormatUint(u.ID, 10)
	what := userConfirmations[action](admin, u)
	if what == nil {
		return c.Redirect(back, fiber.StatusSeeOther)
	}
	p, err := a.signedInPage(c, what.heading)
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.ConfirmPage(views.ConfirmModel{Page: p, Heading: what.heading, Paragraphs: what.paragraphs,
		Action: back + "/" + action, Button: what.button, Warning: true, CancelURL: back, AdminNav: true, Orgs: isSystemAdmin(admin)}))
}

// confirmSecondFactorReset asks before a person's second step is reset,
// when they have one to reset; otherwise it goes back to their page.
func (a *app) confirmSecondFactorReset(c *fiber.Ctx) error {
	if a.secondFactor == nil {
		return fiber.ErrNotFound
	}
	admin, u, err := a.managedUser(c)
	if err != nil {
		return err
	}
	st, err := a.secondFactor.SecondFactorStatus(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	if st.Enrolled.IsZero() {
		return c.Redirect("/admin/users/"+strconv.FormatUint(u.ID, 10), fiber.StatusSeeOther)
	}
	return a.askUserAction(c, "second-factor/reset", admin, u)
}

// confirmDeleteNHSmailApplication asks before an application is removed.
func (a *app) confirmDeleteNHSmailApplication(c *fiber.Ctx) error {
	apps, err := a.nhsmail.NHSmailApplications(c.UserContext())
	if err != nil {
		return err
	}
	client := c.Params("client")
	for _, app := range apps {
		if app.ClientID != client {
			continue
		}
		heading := "Remove the application " + app.Name + "?"
		p, err := a.signedInPage(c, heading)
		if err != nil {
			return err
		}
		return render(c, fiber.StatusOK, views.ConfirmPage(views.ConfirmModel{Page: p, Heading: heading,
			Paragraphs: []string{
				"Its client ID " + app.ClientID + " stops working with the NHSmail simulator: sign-ins it has in progress fail, and the codes and tokens it was given no longer work.",
				"This cannot be undone. To use the application again, register it anew and give it the new client ID (and secret).",
			},
			Action: "/admin/nhsmail/applications/" + app.ClientID + "/delete", Button: "Remove application", Warning: true,
			CancelURL: "/admin/nhsmail/applications", AdminNav: true, Orgs: true}))
	}
	return fiber.ErrNotFound
}

// confirmDisableNHSmailAccount asks before an NHSmail account in the
// simulator is disabled.
func (a *app) confirmDisableNHSmailAccount(c *fiber.Ctx) error {
	acc, err := a.nhsmailAccountParam(c)
	if err != nil {
		return err
	}
	if acc.Disabled {
		return c.Redirect("/admin/nhsmail", fiber.StatusSeeOther)
	}
	heading := "Disable the NHSmail account " + acc.Email + "?"
	p, err := a.signedInPage(c, heading)
	if err != nil {
		return err
	}
	return render(c, fiber.StatusOK, views.ConfirmPage(views.ConfirmModel{Page: p, Heading: heading,
		Paragraphs: []string{
			"Signing in with it on the NHSmail sign-in page is refused, answered as a wrong password is, so it no longer signs in to CQRS either.",
			"Its CQRS account, if it has one, is not changed. You can enable the NHSmail account again from the list.",
		},
		Action: "/admin/nhsmail/" + strconv.FormatUint(acc.ID, 10) + "/disabled", Hidden: map[string]string{"on": "true"},
		Button: "Disable NHSmail account", Warning: true, CancelURL: "/admin/nhsmail", AdminNav: true, Orgs: true}))
}

// confirmDeleteMessage asks before a message leaves the Message Centre.
func (a *app) confirmDeleteMessage(c *fiber.Ctx) error {
	u, _ := currentUser(c)
	id, err := messageID(c)
	if err != nil {
		return err
	}
	msgs, _, err := a.messages.Messages(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.ID != id {
			continue
		}
		heading := "Delete the message “" + m.Subject + "”?"
		p, err := a.signedInPage(c, "Delete the message")
		if err != nil {
			return err
		}
		return render(c, fiber.StatusOK, views.ConfirmPage(views.ConfirmModel{Page: p, Heading: heading,
			Paragraphs: []string{"It is removed from your Message Centre for good. Nobody else's copy is affected."},
			Action:     "/messages/" + strconv.FormatUint(m.ID, 10) + "/delete", Button: "Delete message", Warning: true, CancelURL: "/messages/" + strconv.FormatUint(m.ID, 10)}))
	}
	return refuse(fiber.StatusNotFound, "Message not found", "It may have been deleted already.")
}
