-- Single sign-on requests in flight, the rate limits' counts, and the
-- embedded NHSmail simulator's directory, sessions, applications and state.

-- +goose Up
CREATE TABLE sso_pending (
    state_hash BYTEA PRIMARY KEY,
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,
    next       TEXT NOT NULL,
    expires    TIMESTAMPTZ NOT NULL,
    used       BOOLEAN NOT NULL
);

-- Requests per key (a limit and a client address) per one-minute window.
CREATE TABLE rate_hits (
    key          TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    hits         INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);

CREATE TABLE nhsmail_accounts (
    id               BIGSERIAL PRIMARY KEY,
    email            TEXT NOT NULL,
    first_name       TEXT NOT NULL,
    last_name        TEXT NOT NULL,
    password_hash    TEXT NOT NULL,
    disabled         BOOLEAN NOT NULL,
    locked           BOOLEAN NOT NULL,
    consent_required BOOLEAN NOT NULL,
    tenant_id        TEXT NOT NULL,
    object_id        TEXT NOT NULL,
    created          TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX nhsmail_accounts_email ON nhsmail_accounts (lower(email));

CREATE TABLE nhsmail_sessions (
    hash       BYTEA PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES nhsmail_accounts (id) ON DELETE CASCADE,
    created    TIMESTAMPTZ NOT NULL,
    expires    TIMESTAMPTZ NOT NULL
);

CREATE TABLE nhsmail_applications (
    client_id     TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_hash   BYTEA,
    redirect_uris TEXT[] NOT NULL,
    created       TIMESTAMPTZ NOT NULL
);

-- The provider's authorisation requests, codes and tokens, as JSON.
CREATE TABLE nhsmail_state (
    kind    TEXT NOT NULL,
    key     BYTEA NOT NULL,
    value   BYTEA NOT NULL,
    expires TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, key)
);

-- +goose Down
DROP TABLE nhsmail_state;
DROP TABLE nhsmail_applications;
DROP TABLE nhsmail_sessions;
DROP TABLE nhsmail_accounts;
DROP TABLE rate_hits;
DROP TABLE sso_pending;
