package nhsmail

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// The trainer's controls (cqrs.MFADrill*) are kept per account here, in
// the simulator's state, until the account's next sign-in spends them.

const (
	// drillKeep is how long a control waits for the learner's next sign-in.
	drillKeep = 30 * 24 * time.Hour
	// drillDenyAfter is how long a prompt the trainer made denied waits on
	// the page before the denial arrives, so the learner sees the prompt.
	drillDenyAfter = 5 * time.Second
	// mfaSetupWithin is how long "More information required" and the
	// set-up can take; the set-up's own test prompt then has
	// MFAAnswerWithin like any other.
	mfaSetupWithin = 10 * time.Minute
)

// mfaDrill is a control waiting for the account's next sign-in.
type mfaDrill struct {
	Drill string    `json:"drill"`
	Set   time.Time `json:"set"`
}

// accountKey is an account's key in the state kept by account.
func accountKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// SetMFADrill makes the account's next sign-in with a password meet drill,
// once; it replaces a control set before and not yet used.
func (p *Provider) SetMFADrill(ctx context.Context, accountID uint64, drill string) error {
	if !cqrs.ValidMFADrill(drill) {
		return errors.New("nhsmail: no such control of the second step: " + drill)
	}
	if _, err := p.dir.NHSmailAccount(ctx, accountID); err != nil {
		return err
	}
	return p.dir.UpdateNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		return tx.Put(stateMFADrill, accountKey(accountID), mfaDrill{Drill: drill, Set: tx.Now()}, tx.Now().Add(drillKeep))
	})
}

// MFADrills are the controls still waiting for the accounts' next sign-in,
// by account ID.
func (p *Provider) MFADrills(ctx context.Context, accountIDs []uint64) (map[uint64]string, error) {
	out := map[uint64]string{}
	err := p.dir.ViewNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		for _, id := range accountIDs {
			var d mfaDrill
			err := tx.Get(stateMFADrill, accountKey(id), &d)
			if errors.Is(err, cqrs.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out[id] = d.Drill
		}
		return nil
	})
	return out, err
}

// takeDrill spends the account's waiting control, "" when none waits.
func (p *Provider) takeDrill(ctx context.Context, accountID uint64) (string, error) {
	var d mfaDrill
	err := p.dir.UpdateNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		err := tx.Get(stateMFADrill, accountKey(accountID), &d)
		if errors.Is(err, cqrs.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return tx.Delete(stateMFADrill, accountKey(accountID))
	})
	return d.Drill, err
}

// PhoneLink is the phone page (a path under the issuer) of the account's
// latest sign-in still waiting for its second step, "" when none waits.
// It is the same unguessable link the waiting page shows; training mode
// shows it on the learner's own page, to the account's owner alone.
func (p *Provider) PhoneLink(ctx context.Context, accountID uint64) (string, error) {
	var key []byte
	var pending pendingMFA
	err := p.dir.ViewNHSmailState(ctx, func(tx cqrs.NHSmailStateTx) error {
		if err := tx.Get(stateMFAAccount, accountKey(accountID), &key); err != nil {
			return err
		}
		return tx.Get(stateMFA, key, &pending)
	})
	if errors.Is(err, cqrs.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if pending.AccountID != accountID || p.outcome(pending) != mfaWaiting {
		return "", nil
	}
	return p.prefix + "/phone/" + p.phoneToken(key), nil
}
