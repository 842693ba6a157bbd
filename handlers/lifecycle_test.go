package handlers

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/cqrs-local/cqrs-signin/clock"
)

// TestNewReadsWritesAndStartsNothing: New only builds the app. With no
// store it could reach (a call on any of them panics) it still succeeds,
// in training mode too, leaves the shared clock where it was and starts no
// goroutine: the seed data, the clock's stored offset and the session
// sweeper are the caller's to run (App.Prepare, App.SweepSessions), so
// main can stop them before it closes the database.
func TestNewReadsWritesAndStartsNothing(t *testing.T) {
	cfg := DefaultConfig()
	trainingClock := clock.New(nil)
	cfg.Training, cfg.Clock, cfg.TrainerPassword = true, trainingClock, NewTrainerPassword()
	deps := Deps{Instance: Instance{CSRFKey: bytes.Repeat([]byte{7}, 32), ID: "lifecycle-test"}, Training: untouchedTraining{}}

	var app *App
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("New used a store: %v", r)
			}
		}()
		var err error
		if app, err = New(nilLogger(), cfg, deps); err != nil {
			t.Fatal(err)
		}
	}()
	if app == nil {
		t.Fatal("New returned no app")
	}
	if off := trainingClock.Offset(); off != 0 {
		t.Errorf("New moved the training clock by %v", off)
	}
	// Every goroutine's stack, and where each was started.
	stacks := make([]byte, 1<<20)
	stacks = stacks[:runtime.Stack(stacks, true)]
	if bytes.Contains(stacks, []byte("sweepSessions")) {
		t.Errorf("New started the session sweeper:\n%s", stacks)
	}
}

// untouchedTraining is a training store whose every method panics (its
// embedded interface is nil): any use of it is seen.
type untouchedTraining struct{ TrainingStore }
