package training

import (
	"github.com/gofiber/fiber/v2"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// practiceAdminUserID is the training data set's User Administrator, whose
// sign-in the training home page shows so the class can practise
// administration.
const practiceAdminUserID = "trn.useradmin"

// trainingScope keeps one learner's administration practice off everyone
// else in the class. The practice User Administrator's password is on the
// training home page, so whoever signs in with it is any learner: in
// training mode a User Administrator may manage a learner's account only
// from that learner's own browser (their learner cookie), and may not
// change the practice administrator account the whole class shares. The
// trainer (the system administrator) manages everyone.
func (a *app) trainingScope(c *fiber.Ctx, admin, u cqrs.User) error {
	if admin.Role == cqrs.RoleSystemAdmin {
		return nil
	}
	if u.UserID == practiceAdminUserID && c.Method() != fiber.MethodGet {
		return a.refuse(fiber.StatusForbidden, "You cannot manage this user",
			"The practice User Administrator is shared by the whole class. Practise on your own account or on users you set up.")
	}
	learners, err := a.training.Learners(c.UserContext())
	if err != nil {
		return err
	}
	own, isLearner := a.currentLearner(c)
	for _, l := range learners {
		if l.AccountID == u.ID && (!isLearner || own.AccountID != u.ID) {
			return a.refuse(fiber.StatusForbidden, "You cannot manage this user",
				"This is another learner's account: in training, each learner practises on their own. Nothing was changed.")
		}
	}
	return nil
}
