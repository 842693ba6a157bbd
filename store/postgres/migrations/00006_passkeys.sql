-- Passkeys (WebAuthn) as a second factor: each credential under its ID,
-- its owner, the name they gave it and the credential as the WebAuthn
-- library keeps it (public key, signature count, flags); and the
-- ceremonies begun, bound to the SHA-256 of the session's or pending
-- sign-in's token, each used once before it expires. Someone with
-- passkeys only has a second_factors row (their recovery codes) with no
-- sealed secret.

-- +goose Up
CREATE TABLE passkeys (
    credential_id BYTEA PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    credential    BYTEA NOT NULL,
    added         TIMESTAMPTZ NOT NULL,
    last_used     TIMESTAMPTZ
);
CREATE INDEX passkeys_user ON passkeys (user_id);

CREATE TABLE passkey_challenges (
    owner    BYTEA NOT NULL,
    purpose  TEXT NOT NULL,
    user_id  BIGINT NOT NULL,
    session  BYTEA NOT NULL,
    expires  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (owner, purpose)
);

ALTER TABLE second_factors ALTER COLUMN sealed DROP NOT NULL;

-- +goose Down
DELETE FROM second_factors WHERE sealed IS NULL;
ALTER TABLE second_factors ALTER COLUMN sealed SET NOT NULL;
DROP TABLE passkey_challenges;
DROP TABLE passkeys;
