package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// bucketNHSmailApps is nested in the simulator's meta bucket, which a
// training reset keeps: registrations are set-up, not class data.
var bucketNHSmailApps = []byte("applications")

var errNHSmailAppIncomplete = errors.New("store: an NHSmail application needs a name and a redirect URI")

// CreateNHSmailApplication registers an application under a new client ID.
func (s *Store) CreateNHSmailApplication(ctx context.Context, a cqrs.NHSmailApplication) (cqrs.NHSmailApplication, error) {
	a.Name = strings.TrimSpace(a.Name)
	if a.Name == "" || len(a.RedirectURIs) == 0 {
		return cqrs.NHSmailApplication{}, errNHSmailAppIncomplete
	}
	id, err := newObjectID()
	if err != nil {
		return cqrs.NHSmailApplication{}, fmt.Errorf("store: create NHSmail application: %w", err)
	}
	a.ClientID, a.Created = id, s.now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketNHSmailMeta).CreateBucketIfNotExists(bucketNHSmailApps)
		if err != nil {
			return err
		}
		if b.Get([]byte(a.ClientID)) != nil {
			return cqrs.ErrConflict
		}
		return putJSON(b, []byte(a.ClientID), a)
	})
	if err != nil {
		return cqrs.NHSmailApplication{}, fmt.Errorf("store: create NHSmail application: %w", err)
	}
	return a, nil
}

// NHSmailApplication returns a registered application by client ID.
func (s *Store) NHSmailApplication(ctx context.Context, clientID string) (cqrs.NHSmailApplication, error) {
	var a cqrs.NHSmailApplication
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNHSmailMeta).Bucket(bucketNHSmailApps)
		if b == nil {
			return cqrs.ErrNotFound
		}
		return getJSON(b, []byte(clientID), &a)
	})
	if err != nil {
		return cqrs.NHSmailApplication{}, fmt.Errorf("store: NHSmail application: %w", err)
	}
	return a, nil
}

// NHSmailApplications lists the registered applications by name.
func (s *Store) NHSmailApplications(ctx context.Context) ([]cqrs.NHSmailApplication, error) {
	var out []cqrs.NHSmailApplication
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNHSmailMeta).Bucket(bucketNHSmailApps)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var a cqrs.NHSmailApplication
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: NHSmail applications: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if c := strings.Compare(strings.ToLower(out[i].Name), strings.ToLower(out[j].Name)); c != 0 {
			return c < 0
		}
		return out[i].ClientID < out[j].ClientID
	})
	return out, nil
}

// DeleteNHSmailApplication removes a registration and, in the same
// transaction, the access tokens it was given; its codes stop working,
// since the provider no longer knows the client.
func (s *Store) DeleteNHSmailApplication(ctx context.Context, clientID string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNHSmailMeta).Bucket(bucketNHSmailApps)
		if b == nil || b.Get([]byte(clientID)) == nil {
			return cqrs.ErrNotFound
		}
		if err := b.Delete(bytes.Clone([]byte(clientID))); err != nil {
			return err
		}
		return deleteNHSmailTokens(tx, func(o cqrs.NHSmailTokenOwner) bool { return o.ClientID == clientID })
	})
	if err != nil {
		return fmt.Errorf("store: delete NHSmail application: %w", err)
	}
	return nil
}
