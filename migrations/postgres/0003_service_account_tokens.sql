-- Service-account credentials (PostgreSQL). Keep in step with
-- migrations/sqlite/0003_service_account_tokens.sql.

-- API tokens of service accounts: only the SHA-256 of each token is stored. A token is
-- shown once, when created; `hint` (its last four characters) lets people tell tokens apart.
CREATE TABLE api_tokens (
    tenant_id          TEXT    NOT NULL REFERENCES tenants (id),
    id                 TEXT    NOT NULL CHECK (id <> ''),
    service_account_id TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    token_hash         TEXT    NOT NULL,
    hint               TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    created_by         TEXT,
    expires_at         BIGINT,
    last_used_at       BIGINT,
    revoked_at         BIGINT,
    PRIMARY KEY (tenant_id, id),
    -- A token goes with its service account.
    FOREIGN KEY (tenant_id, service_account_id) REFERENCES service_accounts (tenant_id, id) ON DELETE CASCADE
);

-- The exchange finds a token by its hash, instance-wide.
CREATE UNIQUE INDEX api_tokens_hash_idx ON api_tokens (token_hash);
-- Listing a service account's tokens, and the cascade.
CREATE INDEX api_tokens_account_idx ON api_tokens (tenant_id, service_account_id);

-- Workload identity: a tenant trusts an external OIDC issuer (a CI system, a Kubernetes
-- cluster) for tokens with this audience whose claims match `claims` (a JSON object of claim
-- name to pattern), and maps them to one service account.
CREATE TABLE workload_trusts (
    tenant_id          TEXT    NOT NULL REFERENCES tenants (id),
    id                 TEXT    NOT NULL CHECK (id <> ''),
    name               TEXT    NOT NULL,
    issuer             TEXT    NOT NULL,
    jwks_uri           TEXT,
    audience           TEXT    NOT NULL,
    claims             TEXT    NOT NULL,
    service_account_id TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    created_by         TEXT,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name),
    FOREIGN KEY (tenant_id, service_account_id) REFERENCES service_accounts (tenant_id, id) ON DELETE CASCADE
);

-- The exchange finds the trusts of an issuer, instance-wide.
CREATE INDEX workload_trusts_issuer_idx ON workload_trusts (issuer);
CREATE INDEX workload_trusts_account_idx ON workload_trusts (tenant_id, service_account_id);

-- The services (token audiences) a service account may get access tokens for by token
-- exchange, as a JSON list; the first is the default.
ALTER TABLE service_accounts ADD COLUMN audiences TEXT NOT NULL DEFAULT '[]';

-- OAuth clients that act as a service account (client_credentials with a secret or with
-- private_key_jwt), and the public keys of private_key_jwt clients (a JWK Set, JSON).
ALTER TABLE clients ADD COLUMN service_account_id TEXT;
ALTER TABLE clients ADD COLUMN jwks TEXT;
CREATE INDEX clients_service_account_idx ON clients (tenant_id, service_account_id);
