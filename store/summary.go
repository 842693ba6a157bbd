package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// The summary index holds, per user and in User ID order, just what the
// administration list filters on: organisation, state and the searchable
// text. Filtering 10,000 users then reads small fixed-layout values instead
// of decoding every record; only the page shown is decoded.
//
// Value layout: record ID (8 bytes) | organisation ID (8) | state (1) |
// lower-cased "userid\x00full name\x00email".

var stateCodes = map[string]byte{cqrs.StateInvited: 1, cqrs.StateActive: 2, cqrs.StateLocked: 3, cqrs.StateDisabled: 4}

var errBadSummary = errors.New("store: malformed user summary")

func putUserSummary(tx *bolt.Tx, u cqrs.User) error {
	b := tx.Bucket(bucketUsersSummary)
	if b == nil { // before migration 2 has run
		return nil
	}
	text := strings.ToLower(u.UserID + "\x00" + u.FullName() + "\x00" + u.Email)
	v := make([]byte, 17, 17+len(text))
	binary.BigEndian.PutUint64(v[0:8], u.ID)
	binary.BigEndian.PutUint64(v[8:16], u.OrgID)
	v[16] = stateCodes[u.State()]
	return b.Put(foldKey(u.UserID), append(v, text...))
}

// listUserIDs walks the summary index and returns the record IDs of one
// page of matches, and how many match in all.
func listUserIDs(tx *bolt.Tx, f cqrs.UserFilter, q []byte) ([]uint64, int, error) {
	var (
		ids   []uint64
		total int
	)
	state := stateCodes[f.State]
	err := tx.Bucket(bucketUsersSummary).ForEach(func(k, v []byte) error {
		if len(v) < 17 {
			return errBadSummary
		}
		if f.OrgID != 0 && binary.BigEndian.Uint64(v[8:16]) != f.OrgID {
			return nil
		}
		if state != 0 && v[16] != state {
			return nil
		}
		if len(q) > 0 && !bytes.Contains(v[17:], q) {
			return nil
		}
		if total >= f.Offset && len(ids) < f.Limit {
			ids = append(ids, binary.BigEndian.Uint64(v[0:8]))
		}
		total++
		return nil
	})
	return ids, total, err
}
