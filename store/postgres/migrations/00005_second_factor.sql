-- A second factor for CQRS accounts (--second-factor): each person's
-- authenticator secret, sealed by the app (never readable here), the last
-- time step accepted and the SHA-256 hashes of their unused recovery
-- codes; and the sign-ins waiting for their second factor after a right
-- password, under the SHA-256 of their cookie's token.

-- +goose Up
CREATE TABLE second_factors (
    user_id        BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed         BYTEA NOT NULL,
    enrolled       TIMESTAMPTZ NOT NULL,
    last_step      BIGINT NOT NULL,
    recovery_codes BYTEA[] NOT NULL
);

CREATE TABLE pending_sign_ins (
    hash             BYTEA PRIMARY KEY,
    user_id          BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account          TEXT NOT NULL,
    created          TIMESTAMPTZ NOT NULL,
    expires          TIMESTAMPTZ NOT NULL,
    replaced_session BYTEA,
    enrolling        BYTEA
);
CREATE INDEX pending_sign_ins_user ON pending_sign_ins (user_id);

-- +goose Down
DROP TABLE pending_sign_ins;
DROP TABLE second_factors;
