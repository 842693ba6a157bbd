package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// ListUsers returns one page of matching users in User ID order, and how
// many match in all.
func (s *Store) ListUsers(ctx context.Context, f cqrs.UserFilter) ([]cqrs.User, int, error) {
	if f.Limit <= 0 {
		f.Limit = 25
	}
	q := strings.ToLower(strings.TrimSpace(f.Query))
	var (
		page  []cqrs.User
		total int
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		ids, n, err := listUserIDs(tx, f, []byte(q))
		if err != nil {
			return err
		}
		total = n
		for _, id := range ids {
			u, err := getUser(tx, id)
			if err != nil {
				return err
			}
			page = append(page, u)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: list users: %w", err)
	}
	return page, total, nil
}

// UpdateUser saves an edited user (names, phone, email, role, organisation),
// keeping the email index unique: EditUser with no session kept and no
// notice.
func (s *Store) UpdateUser(ctx context.Context, edited cqrs.User, events ...cqrs.AuditEvent) (cqrs.User, error) {
	return s.EditUser(ctx, edited, nil, nil, events...)
}

// EditUser saves an administrator's edit. In the same transaction, a
// change of role or organisation ends the user's sessions except
// keepSession (the editor's own, which the caller rotates), and a change
// of email queues notifyOld (when not nil) to the previous address.
func (s *Store) EditUser(ctx context.Context, edited cqrs.User, keepSession []byte, notifyOld *cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, edited.ID); err != nil {
			return err
		}
		if tx.Bucket(bucketOrgs).Get(itob(edited.OrgID)) == nil {
			return fmt.Errorf("organisation %d: %w", edited.OrgID, cqrs.ErrNotFound)
		}
		byEmail := tx.Bucket(bucketUsersByEmail)
		if !strings.EqualFold(u.Email, edited.Email) {
			if byEmail.Get(foldKey(edited.Email)) != nil {
				return cqrs.ErrConflict
			}
			if err := byEmail.Delete(foldKey(u.Email)); err != nil {
				return err
			}
			if err := byEmail.Put(foldKey(edited.Email), itob(u.ID)); err != nil {
				return err
			}
		}
		before := u
		edit := u.Edit(edited)
		if err := putUser(tx, u); err != nil {
			return err
		}
		if edit.EndSessions {
			if err := deleteUserSessions(tx, u.ID, keepSession); err != nil {
				return err
			}
		}
		now := s.now()
		if notifyOld != nil && edit.EmailChanged {
			if err := notifyOwner(tx, before, notifyOld, now); err != nil {
				return err
			}
		}
		return recordEvents(tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: update user: %w", err)
	}
	return u, nil
}

// SendLink replaces the user's link of that purpose with a new one and
// queues its email, in one transaction. For registration it also renews
// the invitation.
func (s *Store) SendLink(ctx context.Context, userID uint64, purpose cqrs.LinkPurpose, linkHash []byte, ttl time.Duration, email cqrs.Email, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		now := s.now()
		var err error
		if u, err = getUser(tx, userID); err != nil {
			return err
		}
		link, reinvited, err := u.NewLink(purpose, now, ttl)
		if err != nil {
			return err
		}
		if reinvited {
			if err := putUser(tx, u); err != nil {
				return err
			}
		}
		if err := putLink(tx, linkHash, link); err != nil {
			return err
		}
		email.UserID, email.OrgID = u.ID, u.OrgID
		if err := enqueueEmail(tx, &email, now); err != nil {
			return err
		}
		return recordEvents(tx, events, u, now)
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: send link: %w", err)
	}
	return u, nil
}

// RevokeInvitation withdraws the user's unused registration links.
func (s *Store) RevokeInvitation(ctx context.Context, userID uint64, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, userID); err != nil {
			return err
		}
		if err := u.RevokeInvitation(); err != nil {
			return err
		}
		_, err = deleteWhere(tx.Bucket(bucketLinks), func(_ []byte, l cqrs.Link) bool {
			return l.UserID == u.ID && l.Purpose == cqrs.LinkRegister && l.Used.IsZero()
		})
		if err != nil {
			return err
		}
		if err := putUser(tx, u); err != nil {
			return err
		}
		return recordEvents(tx, events, u, s.now())
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: revoke invitation: %w", err)
	}
	return u, nil
}

// Unlock clears a lockout and the failure count.
func (s *Store) Unlock(ctx context.Context, userID uint64, events ...cqrs.AuditEvent) (cqrs.User, error) {
	var u cqrs.User
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if u, err = getUser(tx, userID); err != nil {
			return err
		}
		u.Unlock()
		if err := putUser(tx, u); err != nil {
			return err
		}
		return recordEvents(tx, events, u, s.now())
	})
	if err != nil {
		return cqrs.User{}, fmt.Errorf("store: unlock: %w", err)
	}
	return u, nil
}

// Organisations lists every organisation by name.
func (s *Store) Organisations(ctx context.Context) ([]cqrs.Organisation, error) {
	var out []cqrs.Organisation
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOrgs)
		return b.ForEach(func(k, v []byte) error {
			var o cqrs.Organisation
			if err := getJSON(b, k, &o); err != nil {
				return err
			}
			out = append(out, o)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, err
}

// UpdateOrganisation renames an organisation or changes its ODS code.
func (s *Store) UpdateOrganisation(ctx context.Context, o cqrs.Organisation) (cqrs.Organisation, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		orgs, byODS := tx.Bucket(bucketOrgs), tx.Bucket(bucketOrgsByODS)
		var old cqrs.Organisation
		if err := getJSON(orgs, itob(o.ID), &old); err != nil {
			return err
		}
		if !strings.EqualFold(old.ODSCode, o.ODSCode) {
			if byODS.Get(foldKey(o.ODSCode)) != nil {
				return cqrs.ErrConflict
			}
			if err := byODS.Delete(foldKey(old.ODSCode)); err != nil {
				return err
			}
			if err := byODS.Put(foldKey(o.ODSCode), itob(o.ID)); err != nil {
				return err
			}
		}
		return putJSON(orgs, itob(o.ID), o)
	})
	if err != nil {
		return cqrs.Organisation{}, fmt.Errorf("store: update organisation: %w", err)
	}
	return o, nil
}
