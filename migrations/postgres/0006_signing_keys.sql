-- Signing keys kept in the database (keys.store = "database"), shared by every instance.
-- The private key is sealed with AES-256-GCM under keys.encryption_key (never stored here):
-- base64 of nonce (12 bytes) || ciphertext || tag, bound to its tenant, kid, alg and
-- generation as additional data. Instance-wide rows: tenant_id is '*'.
CREATE TABLE signing_keys (
    tenant_id TEXT NOT NULL DEFAULT '*',
    kid TEXT NOT NULL,
    alg TEXT NOT NULL,
    -- 1, 2, 3... per algorithm. A rotation inserts the next number: of instances rotating
    -- at the same time, the unique key lets exactly one insert succeed.
    generation BIGINT NOT NULL,
    sealed_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activate_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kid),
    UNIQUE (tenant_id, alg, generation)
);
