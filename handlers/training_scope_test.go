package handlers

import (
	"net/url"
	"strconv"
	"testing"
)

// TestALearnerCannotActOnAnotherLearner: the practice User Administrator's
// sign-in is on the training home page, so learner A can sign in with it.
// A may then manage their own account, but every action on learner B is
// refused (403, the database unchanged) and the class board shows nothing
// changed for B; the shared practice administrator cannot be changed either.
func TestALearnerCannotActOnAnotherLearner(t *testing.T) {
	e := newTrainingEnv(t)
	a, b := e.client(), e.client()
	aID, _ := a.startLearner()
	bID, _ := b.startLearner()
	learnerA, _ := e.store.UserByUserID(t.Context(), aID)
	learnerB, _ := e.store.UserByUserID(t.Context(), bID)
	practiceAdmin, _ := e.store.UserByUserID(t.Context(), practiceAdminUserID)
	wantStatus(t, a.signIn(practiceAdminUserID, trainingPassword, ""), 303)

	tr := e.trainer()
	boardRow := func() string {
		t.Helper()
		return tr.get("/training/board/rows").doc(t).Find(`[data-testid="board-row-` + bID + `"]`).Text()
	}
	before := boardRow()
	if before == "" {
		t.Fatalf("no board row for %s", bID)
	}

	userB := "/admin/users/" + strconv.FormatUint(learnerB.ID, 10)
	edit := url.Values{"first_name": {"Mallory"}, "last_name": {"Learner"}, "work_phone": {"0113 496 0000"}, "email": {"mallory@nhs.net"},
		"org_id": {strconv.FormatUint(learnerB.OrgID, 10)}, "role": {"user"}}
	var scenarios []scenario
	scenarios = append(scenarios, scenario{Name: "B's page", URL: userB, Role: roleLearner, ExpectedStatus: 403,
		ExpectedContent: []string{"another learner's account"}, NotExpectedContent: []string{learnerB.Email}, Unchanged: true})
	scenarios = append(scenarios, scenario{Name: "edit B", Method: "POST", URL: userB, Role: roleLearner, CSRFFrom: "/admin/users", Form: edit,
		ExpectedStatus: 403, Unchanged: true})
	for _, action := range []string{"disable", "enable", "unlock", "resend", "unlink", "revoke", "reset"} {
		scenarios = append(scenarios, scenario{Name: action + " B", Method: "POST", URL: userB + "/" + action, Role: roleLearner, CSRFFrom: "/admin/users",
			ExpectedStatus: 403, ExpectedContent: []string{"another learner's account"}, Unchanged: true})
	}
	adminPage := "/admin/users/" + strconv.FormatUint(practiceAdmin.ID, 10)
	scenarios = append(scenarios,
		scenario{Name: "lower the practice administrator's role", Method: "POST", URL: adminPage, Role: roleLearner, CSRFFrom: "/admin/users",
			Form: url.Values{"first_name": {"Uma"}, "last_name": {"Admin"}, "work_phone": {"0113 496 0000"}, "email": {practiceAdmin.Email},
				"org_id": {strconv.FormatUint(practiceAdmin.OrgID, 10)}, "role": {"user"}},
			ExpectedStatus: 403, Unchanged: true},
		scenario{Name: "reset the practice administrator's password", Method: "POST", URL: adminPage + "/reset", Role: roleLearner, CSRFFrom: "/admin/users",
			ExpectedStatus: 403, Unchanged: true},
		// A's own account is A's to practise on.
		scenario{Name: "resend A's own invitation", Method: "POST", URL: "/admin/users/" + strconv.FormatUint(learnerA.ID, 10) + "/resend", Role: roleLearner,
			CSRFFrom: "/admin/users", ExpectedStatus: 303},
	)
	runScenarios(t, e, map[string]*client{roleLearner: a}, scenarios)

	if after := boardRow(); after != before {
		t.Errorf("B's row on the class board changed:\nbefore %q\nafter  %q", before, after)
	}
	// The trainer still manages every learner.
	wantStatus(t, tr.post(userB+"/resend", url.Values{"csrf_token": {tr.csrf("/admin/users")}}), 303)
}
