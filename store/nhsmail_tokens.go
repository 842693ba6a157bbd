package store

import (
	"bytes"
	"encoding/json"

	bolt "go.etcd.io/bbolt"

	"github.com/cqrs-local/cqrs-signin/cqrs"
)

// deleteNHSmailTokens deletes, inside tx, the simulator's access tokens
// whose owner matches: those of a removed application, or of an account
// whose password changed or that was disabled. Tokens are few (each lives
// an hour), so they are scanned rather than indexed.
func deleteNHSmailTokens(tx *bolt.Tx, match func(cqrs.NHSmailTokenOwner) bool) error {
	root := tx.Bucket(bucketNHSmailState)
	if root == nil {
		return nil
	}
	b := root.Bucket([]byte(cqrs.NHSmailAccessTokens))
	if b == nil {
		return nil
	}
	var doomed [][]byte
	err := b.ForEach(func(k, raw []byte) error {
		var rec nhsmailStateRecord
		var owner cqrs.NHSmailTokenOwner
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		if err := json.Unmarshal(rec.Value, &owner); err != nil {
			return err
		}
		if match(owner) {
			doomed = append(doomed, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// deleteNHSmailTokensOf deletes one account's access tokens inside tx.
func deleteNHSmailTokensOf(tx *bolt.Tx, accountID uint64) error {
	return deleteNHSmailTokens(tx, func(o cqrs.NHSmailTokenOwner) bool { return o.AccountID == accountID })
}
