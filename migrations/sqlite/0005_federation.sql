-- OpenID Connect federation (SQLite). Keep in step with migrations/postgres/0005_federation.sql.
--
-- A connection is an upstream OpenID provider that people of a tenant (or, with tenant_id
-- '*', of the whole instance) sign in through. Its client secret is sealed (AES-256-GCM under
-- the instance's sealing key) and never returned. The settings that only the federation code
-- reads (claim mapping, email domains, linking policy, group mappings) are one JSON document.

CREATE TABLE idp_connections (
    tenant_id            TEXT    NOT NULL,
    id                   TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    issuer               TEXT    NOT NULL,
    client_id            TEXT    NOT NULL,
    client_secret_sealed TEXT,
    settings             TEXT    NOT NULL,
    enabled              INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;

-- Who a person is at a connection (its `sub`, or the mapped subject claim) and which Tessera
-- user that is. Goes with the user and with the connection.
CREATE TABLE federated_identities (
    tenant_id       TEXT    NOT NULL,
    connection_id   TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    last_sign_in_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, subject),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES idp_connections (tenant_id, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX federated_identities_user_idx ON federated_identities (user_id);
