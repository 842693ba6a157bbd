package training

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// Joining the class: the trainer projects the join screen (the address in
// large text, a QR code and the class code); learners open the address,
// type the code and their name, or take the next cohort account.

const (
	// joinCodeLetters leave out look-alikes (0/O, 1/l/I) for reading off a
	// projector.
	joinCodeLetters = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
	joinCodeLength  = 6
)

// joinURL is the address learners open: the first classroom address in
// classroom mode (see lan.go), else this computer's.
func (a *app) joinURL() string { return strings.TrimRight(a.cfg.BaseURL, "/") + "/join" }

// thisComputerOnly reports whether base is on the loopback address (or
// localhost), which nobody else in the room can open.
func thisComputerOnly(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
}

// joinScreen is the trainer's page for the projector.
func (a *app) joinScreen(c *fiber.Ctx) error {
	p, err := a.signedInPage(c, "Join the class")
	if err != nil {
		return err
	}
	// The QR code carries the class code too, so a phone skips typing it.
	png, err := qrcode.Encode(a.joinURL()+"?code="+a.joinCode, qrcode.Medium, 320)
	if err != nil {
		return err
	}
	return a.render(c, fiber.StatusOK, views.JoinScreenPage(views.JoinScreenModel{Page: p, Address: a.joinURL(), Code: a.joinCode,
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), ThisComputerOnly: thisComputerOnly(a.cfg.BaseURL),
		NetworkAddresses: a.cfg.NetworkAddresses}))
}

// joinPage is where learners arrive from the address or the QR code.
func (a *app) joinPage(c *fiber.Ctx) error {
	if _, ok := a.currentLearner(c); ok {
		return c.Redirect("/training", fiber.StatusSeeOther)
	}
	code := strings.ToUpper(strings.TrimSpace(c.Query("code")))
	if len(code) != joinCodeLength {
		code = "" // only a code's shape is put back in the form
	}
	return a.renderJoin(c, fiber.StatusOK, code, "", nil)
}

func (a *app) renderJoin(c *fiber.Ctx, status int, code, name string, errs views.Errors) error {
	p, err := a.signedInPage(c, "Join the class")
	if err != nil {
		return err
	}
	return a.render(c, status, views.JoinPage(views.JoinModel{Page: p, Code: code, Name: name, Errors: errs}))
}

// joinSubmit makes the visitor a learner: a new one with their name, or
// the next cohort account nobody has taken.
func (a *app) joinSubmit(c *fiber.Ctx) error {
	if _, ok := a.currentLearner(c); ok {
		return a.redirect(c, "/training")
	}
	code := strings.ToUpper(strings.TrimSpace(c.FormValue("code")))
	name := strings.Join(strings.Fields(c.FormValue("name")), " ")
	cohort := c.FormValue("take") == "cohort"
	var errs views.Errors
	if subtle.ConstantTimeCompare([]byte(code), []byte(a.joinCode)) != 1 {
		errs = append(errs, views.FieldError{Field: "code", Message: "Enter the class code from the join screen."})
	}
	if !cohort {
		errs = append(errs, a.validatePersonName("name", "name", name)...)
	}
	if len(errs) > 0 {
		return a.renderJoin(c, fiber.StatusUnprocessableEntity, code, name, errs)
	}
	if cohort {
		return a.claimCohortLearner(c, code)
	}
	p, err := a.createLearner(c, name)
	if err != nil {
		return err
	}
	return a.renderTrainingHomeFor(c, p)
}

// cohortMade reports whether the trainer has made cohort accounts.
func (a *app) cohortMade(ctx context.Context) (bool, error) {
	ls, err := a.training.Learners(ctx)
	if err != nil {
		return false, err
	}
	for _, l := range ls {
		if l.Cohort {
			return true, nil
		}
	}
	return false, nil
}

// claimCohortLearner hands out the next cohort account, with a new NHSmail
// password shown once.
func (a *app) claimCohortLearner(c *fiber.Ctx, code string) error {
	token, pw := secret.NewToken(), newNHSmailPassword()
	hash, err := a.hasher.Hash(c.UserContext(), pw)
	if err != nil {
		return err
	}
	l, err := a.training.ClaimCohortLearner(c.UserContext(), secret.HashToken(token), hash,
		cqrs.AuditEvent{Type: evTrainingLearner, IP: c.IP(), Method: "training", Detail: "cohort account taken at the join page"})
	// The join form's own words: no cohort account left, start as a new learner.
	if errors.Is(err, cqrs.ErrNotFound) {
		msg := "Every cohort account has been taken. Enter your name to start as a new learner."
		if made, err := a.cohortMade(c.UserContext()); err != nil {
			return err
		} else if !made {
			msg = "The trainer has not made cohort accounts for this class. Enter your name to start as a new learner."
		}
		return a.renderJoin(c, fiber.StatusUnprocessableEntity, code, "", views.Errors{{Field: "name", Message: msg}})
	} else if err != nil {
		return err
	}
	a.setLearnerCookie(c, token)
	m, err := a.trainingHomeModel(c, "You are now "+l.UserID+". Your registration email is in your mailbox.")
	if err != nil {
		return err
	}
	m.Learner = &views.LearnerCard{UserID: l.UserID, NHSmailEmail: l.NHSmailEmail, NHSmailPassword: pw, Emails: 1}
	return a.render(c, fiber.StatusOK, views.TrainingHomePage(m))
}
