package training

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
	"github.com/cqrs-local/cqrs-signin/secret"
	"github.com/cqrs-local/cqrs-signin/views"
)

// Learners: each has their own CQRS invitation, NHSmail account and
// mailbox, made at the training home or the join page.

const learnerIDLetters = "abcdefghjkmnpqrstuvwxyz23456789"

func randomFrom(alphabet string, n int) string {
	var b strings.Builder
	for range n {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(fmt.Sprintf("training: crypto/rand failed: %v", err))
		}
		b.WriteByte(alphabet[i.Int64()])
	}
	return b.String()
}

// newNHSmailPassword is a password a learner can type from a sheet:
// "Kbrtmq-4821".
func newNHSmailPassword() string {
	w := randomFrom("abcdefghjkmnpqrstuvwxyz", 6)
	return strings.ToUpper(w[:1]) + w[1:] + "-" + randomFrom("0123456789", 4)
}

// preparedLearner is a learner before it is stored, with the secrets that
// are shown once and never kept in clear.
type preparedLearner struct {
	cqrs.NewLearner
	token, linkToken, nhsmailPassword string
}

func (a *app) prepareLearner(ctx context.Context, userID string, org cqrs.Organisation, by cqrs.User, cohort bool, name string) (preparedLearner, error) {
	email := userID + "@" + learnerDomain
	u := cqrs.User{UserID: userID, FirstName: "Learner", LastName: strings.TrimPrefix(strings.TrimPrefix(userID, "learner"), "-"),
		Email: email, OrgID: org.ID, Role: cqrs.RoleUser}
	if name != "" { // typed at the join page: "Priya Shah"
		first, last, _ := strings.Cut(name, " ")
		u.FirstName, u.LastName = first, strings.TrimSpace(last)
	}
	p := preparedLearner{token: secret.NewToken(), linkToken: secret.NewToken(), nhsmailPassword: newNHSmailPassword()}
	hash, err := a.hasher.Hash(ctx, p.nhsmailPassword)
	if err != nil {
		return p, err
	}
	e := a.registrationEmail(ctx, u, by, org, p.linkToken, a.cfg.Now().Add(a.cfg.RegistrationLinkTTL))
	p.NewLearner = cqrs.NewLearner{
		TokenHash: secret.HashToken(p.token),
		User:      cqrs.TrainingUser{User: u, LinkHash: secret.HashToken(p.linkToken), LinkTTL: a.cfg.RegistrationLinkTTL, Email: &e},
		NHSmail:   cqrs.NHSmailAccount{Email: email, FirstName: u.FirstName, LastName: u.LastName, PasswordHash: hash},
		Cohort:    cohort,
	}
	return p, nil
}

// trainingOrg is the training organisation and the administrator named in
// learners' registration emails.
func (a *app) trainingOrg(ctx context.Context) (cqrs.Organisation, cqrs.User, error) {
	orgs, err := a.training.Organisations(ctx)
	if err != nil {
		return cqrs.Organisation{}, cqrs.User{}, err
	}
	for _, o := range orgs {
		if strings.EqualFold(o.ODSCode, trainingODS) {
			by, err := a.training.UserByUserID(ctx, TrainerUserID)
			if err != nil {
				by = cqrs.User{FirstName: "Tara", LastName: "Trainer"}
			}
			return o, by, nil
		}
	}
	return cqrs.Organisation{}, cqrs.User{}, a.refuse(fiber.StatusConflict, "The training organisation is missing",
		"Ask the trainer to reset the training data.")
}

// currentLearner is the visitor's learner, from their learner cookie.
func (a *app) currentLearner(c *fiber.Ctx) (cqrs.Learner, bool) {
	token := c.Cookies(learnerCookie)
	if token == "" {
		return cqrs.Learner{}, false
	}
	l, err := a.training.LearnerByToken(c.UserContext(), secret.HashToken(token))
	return l, err == nil
}

func (a *app) setLearnerCookie(c *fiber.Ctx, token string) {
	a.setTokenCookie(c, learnerCookie, "/", token, learnerTTL)
}

// trainingHome is where the class starts.
func (a *app) trainingHome(c *fiber.Ctx) error {
	return a.renderTrainingHome(c, "", "")
}

// trainingHomeModel is the training home page without the learner's card:
// the trainer's sign-in and the class's accounts, with the case each shows.
func (a *app) trainingHomeModel(c *fiber.Ctx, notice string) (views.TrainingHomeModel, error) {
	p, err := a.signedInPage(c, "CQRS training")
	if err != nil {
		return views.TrainingHomeModel{}, err
	}
	m := views.TrainingHomeModel{Page: p, TrainerUserID: TrainerUserID, Notice: notice}
	for _, sa := range a.classAccounts() {
		pw := trainingPassword
		switch {
		case sa.userID == TrainerUserID:
			continue
		case sa.state == cqrs.StateInvited:
			pw = "(chosen at registration)"
		}
		m.Accounts = append(m.Accounts, views.TrainingAccount{Case: sa.show, SignIn: sa.userID, Password: pw})
	}
	for _, n := range seededNHSmail {
		m.NHSmail = append(m.NHSmail, views.TrainingAccount{Case: n.show, SignIn: n.email, Password: trainingNHSmailPassword})
	}
	m.NHSmail = append(m.NHSmail, views.TrainingAccount{Case: "No NHSmail account: sign-in fails, and the user must request one through the usual NHS process", SignIn: "no.account@nhs.net", Password: "(anything)"})
	return m, nil
}

func (a *app) renderTrainingHome(c *fiber.Ctx, nhsmailPassword, notice string) error {
	m, err := a.trainingHomeModel(c, notice)
	if err != nil {
		return err
	}
	if l, ok := a.currentLearner(c); ok {
		emails, err := a.training.Emails(c.UserContext(), cqrs.EmailFilter{UserID: l.AccountID, Limit: 50})
		if err != nil {
			return err
		}
		m.Learner = &views.LearnerCard{UserID: l.UserID, NHSmailEmail: l.NHSmailEmail, NHSmailPassword: nhsmailPassword, Emails: len(emails)}
		if u, err := a.training.User(c.UserContext(), l.AccountID); err == nil && u.PasswordHash != "" {
			m.Learner.Registered = true
		} else if err != nil && !errors.Is(err, cqrs.ErrNotFound) {
			return err
		}
		if l.NoCQRSActive {
			m.Learner.NoCQRSEmail = cqrs.NoCQRSEmail(l)
		}
	}
	return a.render(c, fiber.StatusOK, views.TrainingHomePage(m))
}

// startLearner makes the visitor a learner of their own: a CQRS
// invitation with its email, a matching NHSmail account whose password is
// shown in this answer only, and the learner cookie.
func (a *app) startLearner(c *fiber.Ctx) error {
	if _, ok := a.currentLearner(c); ok {
		return a.redirect(c, "/training")
	}
	p, err := a.createLearner(c, "")
	if err != nil {
		return err
	}
	// The page is the POST's answer, not a redirect: the NHSmail password
	// is in it once and nowhere else.
	return a.renderTrainingHomeFor(c, p)
}

// createLearner makes a new learner named name ("" for "Learner xxxx")
// and sets the visitor's learner cookie to it.
func (a *app) createLearner(c *fiber.Ctx, name string) (preparedLearner, error) {
	org, by, err := a.trainingOrg(c.UserContext())
	if err != nil {
		return preparedLearner{}, err
	}
	var p preparedLearner
	for attempt := 0; ; attempt++ {
		p, err = a.prepareLearner(c.UserContext(), "learner-"+randomFrom(learnerIDLetters, 4), org, by, false, name)
		if err != nil {
			return p, err
		}
		uid := p.User.User.UserID
		_, err = a.training.CreateLearners(c.UserContext(), []cqrs.NewLearner{p.NewLearner},
			a.event(c, cqrs.AuditEvent{Type: evTrainingLearner, Subject: uid, OrgID: org.ID, Method: "training", Detail: "learner started"}),
			a.event(c, cqrs.AuditEvent{Type: cqrs.AuditLinkSent, Subject: uid, OrgID: org.ID, Method: "registration"}))
		if !errors.Is(err, cqrs.ErrConflict) || attempt == 5 {
			break
		}
	}
	if err != nil {
		return p, err
	}
	a.wakeMailer()
	a.setLearnerCookie(c, p.token)
	return p, nil
}

// renderTrainingHomeFor shows the just-made learner (its cookie is set on
// this answer, so it is not read from the request).
func (a *app) renderTrainingHomeFor(c *fiber.Ctx, p preparedLearner) error {
	m, err := a.trainingHomeModel(c, "You are now a learner. Your registration email is in your mailbox.")
	if err != nil {
		return err
	}
	m.Learner = &views.LearnerCard{UserID: p.User.User.UserID, NHSmailEmail: p.NHSmail.Email, NHSmailPassword: p.nhsmailPassword, Emails: 1}
	return a.render(c, fiber.StatusOK, views.TrainingHomePage(m))
}

// joinLearner takes a learner code from the cohort sheet into the cookie.
func (a *app) joinLearner(c *fiber.Ctx) error {
	code := c.Query("code")
	if code == "" || len(code) > 100 {
		return fiber.ErrNotFound
	}
	if _, err := a.training.LearnerByToken(c.UserContext(), secret.HashToken(code)); err != nil {
		return a.refuse(fiber.StatusNotFound, "This learner code cannot be used", "Check the address on your sheet, or start as a new learner.")
	}
	a.setLearnerCookie(c, code)
	c.Set("Referrer-Policy", "no-referrer")
	return c.Redirect("/training/mailbox", fiber.StatusSeeOther)
}

// reissueNHSmailPassword gives the learner a new NHSmail password, shown
// once; only its hash is stored.
func (a *app) reissueNHSmailPassword(c *fiber.Ctx) error {
	l, ok := a.currentLearner(c)
	if !ok {
		return a.redirect(c, "/training")
	}
	pw := newNHSmailPassword()
	hash, err := a.hasher.Hash(c.UserContext(), pw)
	if err != nil {
		return err
	}
	if err := a.training.SetNHSmailPassword(c.UserContext(), l.NHSmailID, hash); err != nil {
		return err
	}
	if err := a.audit(c, cqrs.AuditEvent{Type: evTrainingLearner, Subject: l.UserID, Method: "training", Detail: "NHSmail password re-issued"}); err != nil {
		return err
	}
	return a.renderTrainingHome(c, pw, "Your new NHSmail password is below. The old one no longer works.")
}

// learnerMailbox shows the learner's own emails and nobody else's.
func (a *app) learnerMailbox(c *fiber.Ctx) error {
	l, ok := a.currentLearner(c)
	if !ok {
		return c.Redirect("/training", fiber.StatusSeeOther)
	}
	emails, err := a.training.Emails(c.UserContext(), cqrs.EmailFilter{UserID: l.AccountID, Limit: 50})
	if err != nil {
		return err
	}
	p, err := a.signedInPage(c, "Your mailbox")
	if err != nil {
		return err
	}
	m := views.LearnerMailboxModel{Page: p, UserID: l.UserID, Emails: a.emailRows(emails), Phone: a.mfaControls != nil}
	if m.PhoneURL, err = a.learnerPhone(c.UserContext(), l); err != nil {
		return err
	}
	return a.render(c, fiber.StatusOK, views.LearnerMailboxPage(m))
}

func (a *app) learnerEmail(c *fiber.Ctx) error {
	l, ok := a.currentLearner(c)
	if !ok {
		return c.Redirect("/training", fiber.StatusSeeOther)
	}
	id, err := strconv.ParseUint(c.Params("id"), 10, 64)
	if err != nil {
		return fiber.ErrNotFound
	}
	e, err := a.training.Email(c.UserContext(), id)
	// Own words, and one answer for an email that does not exist and another learner's.
	if errors.Is(err, cqrs.ErrNotFound) || (err == nil && e.UserID != l.AccountID) {
		return a.refuse(fiber.StatusNotFound, "Email not found")
	} else if err != nil {
		return err
	}
	p, err := a.signedInPage(c, e.Subject+" - Your mailbox")
	if err != nil {
		return err
	}
	return a.render(c, fiber.StatusOK, views.LearnerEmailPage(views.LearnerEmailModel{Page: p, Email: a.emailRows([]cqrs.Email{e})[0], Body: a.bodyParts(e.Text)}))
}
