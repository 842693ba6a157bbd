package store

import (
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
	var bad error // a token whose owner cannot be read stops the change
	_, err := deleteWhere(b, func(_ []byte, rec nhsmailStateRecord) bool {
		var owner cqrs.NHSmailTokenOwner
		if err := json.Unmarshal(rec.Value, &owner); err != nil {
			bad = err
			return false
		}
		return match(owner)
	})
	if err != nil {
		return err
	}
	return bad
}

// deleteNHSmailTokensOf deletes one account's access tokens inside tx.
func deleteNHSmailTokensOf(tx *bolt.Tx, accountID uint64) error {
	return deleteNHSmailTokens(tx, func(o cqrs.NHSmailTokenOwner) bool { return o.AccountID == accountID })
}
