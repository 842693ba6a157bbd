package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// Training mode: a data set that is seeded and reset in one transaction,
// learners who each have their own invitation and NHSmail account, a
// clock the trainer can move forward, and named snapshots.

var (
	// bucketLearners holds training learners under the SHA-256 of their
	// learner cookie. It is made on first use, so databases that never ran
	// in training mode do not carry it.
	bucketLearners = []byte("training.learners")

	keyClockOffset = []byte("training-clock-offset")

	// trainingKept are the buckets a reset or restore leaves as they are:
	// meta (schema, CSRF key, clock), nhsmail.meta (the simulator's signing
	// key, tenant and client secret, which the running relying party
	// already holds) and the audit log, which is only ever appended to.
	trainingKept = map[string]bool{string(bucketMeta): true, string(bucketNHSmailMeta): true, string(bucketAudit): true}
)

// trainingCleared are the buckets a reset empties: every bucket Open makes
// except the kept ones, and the learners.
func trainingCleared() [][]byte {
	var out [][]byte
	for _, name := range allBuckets {
		if !trainingKept[string(name)] {
			out = append(out, name)
		}
	}
	return append(out, bucketLearners)
}

// ResetTraining replaces the application's data with set in one
// transaction: every data bucket is emptied (learners included), then the
// organisation, users, links, emails and NHSmail accounts are written, the
// training clock goes back to real time and event is appended to the audit
// log. Either all of it happens or none.
func (s *Store) ResetTraining(ctx context.Context, set cqrs.TrainingSet, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range trainingCleared() {
			if err := recreateBucket(tx, name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Delete(keySetup); err != nil {
			return err
		}
		if err := meta.Put(keyClockOffset, itob(0)); err != nil {
			return err
		}
		now := s.now()
		org := set.Org
		if err := putNewOrg(tx, &org); err != nil {
			return fmt.Errorf("organisation: %w", err)
		}
		for _, tu := range set.Users {
			tu.User.OrgID = org.ID
			if _, err := putTrainingUser(tx, tu, now); err != nil {
				return fmt.Errorf("user %s: %w", tu.User.UserID, err)
			}
		}
		for _, acc := range set.NHSmail {
			if _, err := putNHSmailAccount(tx, acc, now); err != nil {
				return fmt.Errorf("NHSmail account %s: %w", acc.Email, err)
			}
		}
		if err := keepSession(tx, keep, now); err != nil {
			return err
		}
		return appendAudit(tx, &event, now)
	})
	if err != nil {
		return fmt.Errorf("store: reset training data: %w", err)
	}
	return nil
}

func recreateBucket(tx *bolt.Tx, name []byte) error {
	if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
		return err
	}
	_, err := tx.CreateBucket(name)
	return err
}

// putTrainingUser writes a prepared user, its link and email.
func putTrainingUser(tx *bolt.Tx, tu cqrs.TrainingUser, now time.Time) (cqrs.User, error) {
	u := tu.User
	if u.Created.IsZero() {
		u.Created = now
	}
	if u.Status == "" {
		u.Status = cqrs.StatusInvited
	}
	if tu.LinkHash != nil {
		u.InviteExpires = now.Add(tu.LinkTTL)
	}
	if err := putNewUser(tx, &u); err != nil {
		return cqrs.User{}, err
	}
	if tu.LinkHash != nil {
		if err := putLink(tx, tu.LinkHash, cqrs.Link{UserID: u.ID, Purpose: cqrs.LinkRegister, Created: now, Expires: u.InviteExpires}); err != nil {
			return cqrs.User{}, err
		}
	}
	if tu.SecondFactor != nil {
		f := tu.SecondFactor(u.ID)
		f.UserID, f.Enrolled = u.ID, now
		if err := putJSON(tx.Bucket(bucketSecondFactors), itob(u.ID), f); err != nil {
			return cqrs.User{}, err
		}
	}
	if tu.Email != nil {
		e := *tu.Email
		e.UserID, e.OrgID = u.ID, u.OrgID
		if err := enqueueEmail(tx, &e, now); err != nil {
			return cqrs.User{}, err
		}
	}
	return u, nil
}

// putNHSmailAccount is CreateNHSmailAccount inside a transaction.
func putNHSmailAccount(tx *bolt.Tx, a cqrs.NHSmailAccount, now time.Time) (cqrs.NHSmailAccount, error) {
	a.Email = strings.TrimSpace(a.Email)
	if a.Email == "" {
		return a, errNHSmailNoEmail
	}
	var err error
	if a.ObjectID, err = newObjectID(); err != nil {
		return a, err
	}
	a.Created = now
	accounts := tx.Bucket(bucketNHSmailAccounts)
	byEmail, err := accounts.CreateBucketIfNotExists(bucketNHSmailByEmail)
	if err != nil {
		return a, err
	}
	if byEmail.Get(foldKey(a.Email)) != nil {
		return a, cqrs.ErrConflict
	}
	if a.TenantID, err = nhsmailTenant(tx); err != nil {
		return a, err
	}
	if a.ID, err = accounts.NextSequence(); err != nil {
		return a, err
	}
	if err := putJSON(accounts, itob(a.ID), a); err != nil {
		return a, err
	}
	return a, byEmail.Put(foldKey(a.Email), itob(a.ID))
}

// keepSession stores keep's session for the system administrator with its
// User ID, when the data has one.
func keepSession(tx *bolt.Tx, keep *cqrs.KeepSignedIn, now time.Time) error {
	if keep == nil || keep.SessionHash == nil {
		return nil
	}
	id := tx.Bucket(bucketUsersByID).Get(foldKey(keep.UserID))
	if id == nil {
		return nil
	}
	u, err := getUser(tx, bytesToID(id))
	if err != nil || u.Role != cqrs.RoleSystemAdmin || u.Status != cqrs.StatusActive || !u.LockedAt.IsZero() {
		return nil
	}
	return putJSON(tx.Bucket(bucketSessions), keep.SessionHash, cqrs.Session{UserID: u.ID, Created: now, LastSeen: now})
}

// SetTrainerPassword gives the training system administrator with the
// User ID a new password hash at start, unlocks the account and appends
// event to the audit log, in one transaction. Their sessions stay: a
// trainer signed in before a restart stays signed in. A missing or
// non-administrator account is ErrNotFound and nothing changes.
func (s *Store) SetTrainerPassword(ctx context.Context, userID, hash string, event cqrs.AuditEvent) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketUsersByID).Get(foldKey(userID))
		if id == nil {
			return cqrs.ErrNotFound
		}
		u, err := getUser(tx, bytesToID(id))
		if err != nil {
			return err
		}
		if u.Role != cqrs.RoleSystemAdmin {
			return cqrs.ErrNotFound
		}
		u.PasswordHash, u.FailedSignIns, u.LockedAt = hash, 0, time.Time{}
		if err := putUser(tx, u); err != nil {
			return err
		}
		return appendAudit(tx, &event, s.now())
	})
	if err != nil {
		return fmt.Errorf("store: set trainer password: %w", err)
	}
	return nil
}

// CreateLearners adds learners in one transaction: each one's invited CQRS
// user, registration link and email, NHSmail account and learner record.
// A User ID or email already taken is ErrConflict and nothing is written.
func (s *Store) CreateLearners(ctx context.Context, ls []cqrs.NewLearner, events ...cqrs.AuditEvent) ([]cqrs.Learner, error) {
	var out []cqrs.Learner
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketLearners)
		if err != nil {
			return err
		}
		now := s.now()
		out = out[:0]
		for _, nl := range ls {
			if b.Get(nl.TokenHash) != nil {
				return cqrs.ErrConflict
			}
			u, err := putTrainingUser(tx, nl.User, now)
			if err != nil {
				return err
			}
			acc, err := putNHSmailAccount(tx, nl.NHSmail, now)
			if err != nil {
				return err
			}
			l := cqrs.Learner{UserID: u.UserID, AccountID: u.ID, NHSmailID: acc.ID, NHSmailEmail: acc.Email, Cohort: nl.Cohort, Created: now}
			if err := putJSON(b, nl.TokenHash, l); err != nil {
				return err
			}
			out = append(out, l)
		}
		return recordEvents(tx, events, cqrs.User{}, now)
	})
	if err != nil {
		return nil, fmt.Errorf("store: create learners: %w", err)
	}
	return out, nil
}

// LearnerByToken returns the learner whose cookie hashes to hash.
func (s *Store) LearnerByToken(ctx context.Context, hash []byte) (cqrs.Learner, error) {
	var l cqrs.Learner
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLearners)
		if b == nil {
			return cqrs.ErrNotFound
		}
		return getJSON(b, hash, &l)
	})
	if err != nil {
		return cqrs.Learner{}, fmt.Errorf("store: learner: %w", err)
	}
	return l, nil
}

// Learners lists every learner by User ID.
func (s *Store) Learners(ctx context.Context) ([]cqrs.Learner, error) {
	var out []cqrs.Learner
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLearners)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var l cqrs.Learner
			if err := getJSON(b, k, &l); err != nil {
				return err
			}
			out = append(out, l)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: learners: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out, nil
}

// ClockOffset is the stored training clock offset, so training time
// survives a restart.
func (s *Store) ClockOffset(ctx context.Context) (time.Duration, error) {
	var d time.Duration
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyClockOffset); len(v) == 8 {
			d = time.Duration(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	return d, err
}

// MoveClock moves the stored training clock forward by d and records event
// in the audit log in the same transaction; it returns the new offset. The
// session keep names is renewed at the new time, so the trainer who moved
// the clock is not signed out by the idle timeout it jumped over.
func (s *Store) MoveClock(ctx context.Context, d time.Duration, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) (time.Duration, error) {
	var offset time.Duration
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyClockOffset); len(v) == 8 {
			offset = time.Duration(binary.BigEndian.Uint64(v))
		}
		offset += d
		if err := meta.Put(keyClockOffset, itob(uint64(offset))); err != nil {
			return err
		}
		now := s.now()
		if err := keepSession(tx, keep, now.Add(d)); err != nil {
			return err
		}
		return appendAudit(tx, &event, now)
	})
	if err != nil {
		return 0, fmt.Errorf("store: move training clock: %w", err)
	}
	return offset, nil
}

// Snapshots

// snapshotName is compiled on first use: its {0,39} compiles into 39
// copies, 0.6 ms and 550 allocations of every start otherwise.
var snapshotName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _-]{0,39}$`) })

// SnapshotDir is the snapshots folder beside the database file.
func (s *Store) SnapshotDir() string { return filepath.Join(filepath.Dir(s.Path()), "snapshots") }

func (s *Store) snapshotPath(name string) (string, error) {
	if !snapshotName().MatchString(name) || strings.TrimSpace(name) != name {
		return "", cqrs.ErrSnapshotName
	}
	return filepath.Join(s.SnapshotDir(), name+".db"), nil
}

// SaveSnapshot writes a hot backup of the database as the named snapshot,
// replacing one of the same name. It is written under a temporary name and
// renamed, so a snapshot file is always whole.
func (s *Store) SaveSnapshot(ctx context.Context, name string) error {
	path, err := s.snapshotPath(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("store: save snapshot: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".snapshot-*")
	if err != nil {
		return fmt.Errorf("store: save snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	// A snapshot stays beside the database and is restored into this same
	// training system, so unlike a backup it keeps the learners' links.
	err = s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(tmp)
		return err
	})
	if err != nil {
		tmp.Close()
		return fmt.Errorf("store: save snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("store: save snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store: save snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("store: save snapshot: %w", err)
	}
	return nil
}

// Snapshots lists the saved snapshots, newest first.
func (s *Store) Snapshots(ctx context.Context) ([]cqrs.Snapshot, error) {
	entries, err := os.ReadDir(s.SnapshotDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: snapshots: %w", err)
	}
	var out []cqrs.Snapshot
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".db")
		if !ok || e.IsDir() || !snapshotName().MatchString(name) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, cqrs.Snapshot{Name: name, Saved: info.ModTime(), Size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Saved.After(out[j].Saved) })
	return out, nil
}

// RestoreSnapshot replaces the data buckets with the named snapshot's in
// one transaction (the live secrets and audit log stay), signs everyone
// out but keep, sets the clock offset to the snapshot's and appends event.
// It returns the restored clock offset.
func (s *Store) RestoreSnapshot(ctx context.Context, name string, keep *cqrs.KeepSignedIn, event cqrs.AuditEvent) (time.Duration, error) {
	path, err := s.snapshotPath(name)
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("store: restore snapshot %q: %w", name, cqrs.ErrNotFound)
	}
	if _, err := Verify(path); err != nil {
		return 0, fmt.Errorf("store: restore snapshot %q: %w", name, err)
	}
	src, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: 500 * time.Millisecond})
	if err != nil {
		return 0, fmt.Errorf("store: restore snapshot %q: %w", name, err)
	}
	defer src.Close()
	var offset time.Duration
	// Two different database files: the read transaction on the snapshot
	// and the write transaction on the live file do not nest on one DB.
	err = src.View(func(stx *bolt.Tx) error {
		return s.db.Update(func(dtx *bolt.Tx) error {
			for _, name := range trainingCleared() {
				if err := recreateBucket(dtx, name); err != nil {
					return err
				}
			}
			err := stx.ForEach(func(name []byte, b *bolt.Bucket) error {
				if trainingKept[string(name)] {
					return nil
				}
				if err := recreateBucket(dtx, name); err != nil {
					return err
				}
				return CopyBucket(dtx.Bucket(name), b)
			})
			if err != nil {
				return err
			}
			if err := recreateBucket(dtx, bucketSessions); err != nil {
				return err
			}
			if err := recreateBucket(dtx, bucketNHSmailSessions); err != nil {
				return err
			}
			if err := recreateBucket(dtx, bucketSSOPending); err != nil {
				return err
			}
			// A sign-in waiting for its second factor belongs to a browser
			// of the time the snapshot was saved: it does not come back.
			if err := recreateBucket(dtx, bucketPendingSignIns); err != nil {
				return err
			}
			if err := recreateBucket(dtx, bucketPasskeyChallenges); err != nil {
				return err
			}
			meta := dtx.Bucket(bucketMeta)
			if m := stx.Bucket(bucketMeta); m != nil {
				if v := m.Get(keyClockOffset); len(v) == 8 {
					offset = time.Duration(binary.BigEndian.Uint64(v))
				}
			}
			if err := meta.Put(keyClockOffset, itob(uint64(offset))); err != nil {
				return err
			}
			now := s.now()
			if err := keepSession(dtx, keep, now); err != nil {
				return err
			}
			return appendAudit(dtx, &event, now)
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: restore snapshot %q: %w", name, err)
	}
	return offset, nil
}

// CopyBucket copies every key, nested bucket and sequence of src into dst.
// Keys and values are cloned: src's bytes belong to its transaction.
func CopyBucket(dst, src *bolt.Bucket) error { return copyBucket(dst, src, nil) }

// copyBucket is CopyBucket with each value of src (not of nested buckets)
// passed through change, when change is not nil.
func copyBucket(dst, src *bolt.Bucket, change func([]byte) ([]byte, error)) error {
	if err := dst.SetSequence(src.Sequence()); err != nil {
		return err
	}
	return src.ForEach(func(k, v []byte) error {
		if v == nil {
			child, err := dst.CreateBucketIfNotExists(bytes.Clone(k))
			if err != nil {
				return err
			}
			return copyBucket(child, src.Bucket(k), nil)
		}
		if change != nil {
			var err error
			if v, err = change(v); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		return dst.Put(bytes.Clone(k), bytes.Clone(v))
	})
}
