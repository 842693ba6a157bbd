package training

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// WatchLearners is the class board's view of each learner (see
// watchLearners), used before every route.
func (m *Mode) WatchLearners(c *fiber.Ctx) error { return m.a.watchLearners(c) }

// Routes lists training mode's routes (only with --training; outside it
// each of these is "Page not found"): the training home, learners' own
// mailboxes, the job aid toggle, joining the class, the trainer's controls
// and class board.
func (m *Mode) Routes(f *fiber.App) {
	a := m.a
	signedIn, sysAdmin := a.host.RequireSignedIn, a.host.RequireSystemAdmin
	// Each way in has its own count of new learners per address.
	learnerLimit := func() fiber.Handler {
		return a.host.AddressLimiter(a.cfg.LearnerRateLimit, "Too many new learners",
			"Too many learners have been started from this computer. Wait a minute, then try again.")
	}
	f.Get("/training", a.trainingHome)
	f.Post("/training/learners", learnerLimit(), a.startLearner)
	f.Get("/training/join", a.joinLearner)
	f.Post("/training/learner/nhsmail-password", a.reissueNHSmailPassword)
	f.Get("/training/mailbox", a.learnerMailbox)
	f.Get("/training/mailbox/:id", a.learnerEmail)
	f.Post("/training/jobaid", a.toggleJobAid)
	f.Get("/training/trainer", signedIn, sysAdmin, a.trainerPage)
	f.Post("/training/trainer/reset", signedIn, sysAdmin, a.trainerReset)
	f.Post("/training/trainer/clock", signedIn, sysAdmin, a.trainerClock)
	f.Post("/training/trainer/cohort", signedIn, sysAdmin, a.trainerCohort)
	f.Post("/training/trainer/snapshots", signedIn, sysAdmin, a.trainerSaveSnapshot)
	f.Post("/training/trainer/snapshots/restore", signedIn, sysAdmin, a.trainerRestoreSnapshot)
	f.Get("/join", a.joinPage)
	f.Post("/join", learnerLimit(), a.joinSubmit)
	f.Get("/training/board/join", signedIn, sysAdmin, a.joinScreen)
	f.Get("/training/board", signedIn, sysAdmin, a.classBoard)
	f.Get("/training/board/rows", signedIn, sysAdmin, a.classBoardRows)
	f.Get("/training/board.csv", signedIn, sysAdmin, a.classBoardCSV)
	f.Post("/training/trainer/learners/:id/clock-72h", signedIn, sysAdmin, a.learnerAction("clock-72h", a.moveLearnerClock(72*time.Hour)))
	f.Post("/training/trainer/learners/:id/clock-14d", signedIn, sysAdmin, a.learnerAction("clock-14d", a.moveLearnerClock(14*24*time.Hour)))
	f.Post("/training/trainer/learners/:id/lock", signedIn, sysAdmin, a.learnerAction("lock", a.lockLearner))
	f.Post("/training/trainer/learners/:id/expire-link", signedIn, sysAdmin, a.learnerAction("expire-link", a.expireLearnerLink))
	f.Post("/training/trainer/learners/:id/nocqrs", signedIn, sysAdmin, a.learnerAction("nocqrs", a.giveLearnerNoCQRS))
	f.Post("/training/trainer/learners/:id/lock-nhsmail", signedIn, sysAdmin, a.learnerAction("lock-nhsmail", a.lockLearnerNHSmail))
	f.Post("/training/trainer/learners/:id/reset", signedIn, sysAdmin, a.learnerAction("reset", a.resetLearner))
	if a.mfaControls != nil {
		f.Get("/training/phone", a.learnerPhoneCard)
		f.Post("/training/trainer/learners/:id/mfa-timeout", signedIn, sysAdmin, a.learnerAction("mfa-timeout", a.setMFADrill(cqrs.MFADrillTimeout)))
		f.Post("/training/trainer/learners/:id/mfa-deny", signedIn, sysAdmin, a.learnerAction("mfa-deny", a.setMFADrill(cqrs.MFADrillDeny)))
		f.Post("/training/trainer/learners/:id/mfa-phone-changed", signedIn, sysAdmin, a.learnerAction("mfa-phone-changed", a.setMFADrill(cqrs.MFADrillPhoneChanged)))
	}
}
