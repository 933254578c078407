-- Initial schema (SQLite). Keep in step with migrations/postgres/0001_init.sql.
--
-- Conventions: every row carries its tenant_id; lists are JSON arrays in TEXT columns;
-- times are unix seconds in INTEGER columns; booleans are INTEGER 0/1. STRICT tables make
-- SQLite reject values of the wrong type instead of silently storing them.

CREATE TABLE clients (
    client_id                 TEXT    NOT NULL PRIMARY KEY,
    tenant_id                 TEXT    NOT NULL,
    name                      TEXT    NOT NULL,
    secret_hash               TEXT,
    auth_method               TEXT    NOT NULL,
    redirect_uris             TEXT    NOT NULL,
    post_logout_redirect_uris TEXT    NOT NULL,
    grant_types               TEXT    NOT NULL,
    scopes                    TEXT    NOT NULL,
    first_party               INTEGER NOT NULL CHECK (first_party IN (0, 1)),
    access_token_alg          TEXT    NOT NULL,
    id_token_alg              TEXT    NOT NULL,
    default_audience          TEXT,
    allowed_audiences         TEXT    NOT NULL,
    created_at                INTEGER NOT NULL
) STRICT;

-- The tenant index; unique so that consents can reference (tenant_id, client_id).
CREATE UNIQUE INDEX clients_tenant_idx ON clients (tenant_id, client_id);

CREATE TABLE users (
    id             TEXT    NOT NULL PRIMARY KEY,
    tenant_id      TEXT    NOT NULL,
    -- Unique across the whole instance, not per tenant.
    username       TEXT    NOT NULL UNIQUE,
    email          TEXT,
    email_verified INTEGER NOT NULL CHECK (email_verified IN (0, 1)),
    name           TEXT,
    password_hash  TEXT,
    disabled       INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    created_at     INTEGER NOT NULL
) STRICT;

-- The tenant index; unique so that consents can reference (tenant_id, id).
CREATE UNIQUE INDEX users_tenant_idx ON users (tenant_id, id);

CREATE TABLE consents (
    tenant_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    -- The primary key leads with tenant_id, so it is also the tenant index.
    PRIMARY KEY (tenant_id, user_id, client_id),
    -- A consent belongs to a user and a client of its own tenant, and goes with them.
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, client_id) ON DELETE CASCADE
) STRICT;

-- Serves the cascade when a client is deleted.
CREATE INDEX consents_client_idx ON consents (tenant_id, client_id);
