-- The access model (PostgreSQL). Keep in step with migrations/sqlite/0002_access_model.sql.
--
-- Tenants; users as instance-wide identities with per-tenant access; service accounts,
-- groups, roles and bindings per tenant; instance admins; binding epochs; the hash-chained
-- audit log. Same conventions as 0001: a tenant_id on every row ('*' for instance-level rows),
-- lists as JSON text, times as unix seconds. Permission sets are 60-bit integers. Ids are
-- never empty: keyset pagination starts a list after the id ''.

-- Users are instance-wide: tenant_id is the home tenant the user was created in.
ALTER TABLE users ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT FALSE;

-- Emails are unique across the instance, like usernames (NULL emails do not collide). This
-- fails if existing users share an email: resolve the duplicates, then migrate again.
CREATE UNIQUE INDEX users_email_idx ON users (email) WHERE email IS NOT NULL;

CREATE TABLE tenants (
    id         TEXT   NOT NULL PRIMARY KEY CHECK (id NOT IN ('', '*')),
    tenant_id  TEXT   NOT NULL CHECK (tenant_id = id),
    name       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT
);

-- Which users and service accounts may act in which tenant.
CREATE TABLE tenant_access (
    tenant_id      TEXT   NOT NULL REFERENCES tenants (id),
    principal_kind TEXT   NOT NULL CHECK (principal_kind IN ('user', 'service_account')),
    principal_id   TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, principal_kind, principal_id)
);

-- The tenants of a principal, and its clean-up when deleted.
CREATE INDEX tenant_access_principal_idx ON tenant_access (principal_kind, principal_id);

CREATE TABLE service_accounts (
    tenant_id   TEXT   NOT NULL REFERENCES tenants (id),
    id          TEXT   NOT NULL CHECK (id <> ''),
    name        TEXT   NOT NULL,
    description TEXT,
    created_at  BIGINT NOT NULL,
    created_by  TEXT,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

-- Service accounts can be given access to other tenants, so, like user ids, their ids are
-- unique across the instance: a (kind, id) pair names one principal everywhere.
CREATE UNIQUE INDEX service_accounts_id_idx ON service_accounts (id);

CREATE TABLE groups (
    tenant_id   TEXT   NOT NULL REFERENCES tenants (id),
    id          TEXT   NOT NULL CHECK (id <> ''),
    name        TEXT   NOT NULL,
    description TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE group_members (
    tenant_id   TEXT   NOT NULL,
    group_id    TEXT   NOT NULL,
    member_kind TEXT   NOT NULL CHECK (member_kind IN ('user', 'service_account')),
    member_id   TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, member_kind, member_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE
);

-- The groups of a principal in a tenant (effective bindings), and across tenants (clean-up).
CREATE INDEX group_members_member_idx ON group_members (tenant_id, member_kind, member_id, group_id);
CREATE INDEX group_members_principal_idx ON group_members (member_kind, member_id);

CREATE TABLE roles (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    id          TEXT    NOT NULL CHECK (id <> ''),
    name        TEXT    NOT NULL,
    description TEXT,
    permissions BIGINT  NOT NULL CHECK (permissions BETWEEN 0 AND 1152921504606846975),
    builtin     BOOLEAN NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE bindings (
    tenant_id      TEXT   NOT NULL,
    id             TEXT   NOT NULL CHECK (id <> ''),
    role_id        TEXT   NOT NULL,
    principal_kind TEXT   NOT NULL CHECK (principal_kind IN ('user', 'group', 'service_account')),
    principal_id   TEXT   NOT NULL,
    namespaces     TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    created_by     TEXT,
    PRIMARY KEY (tenant_id, id),
    -- A role in use cannot be deleted.
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id)
);

-- The bindings of a principal (effective bindings), of a role (role updates and deletes), and
-- of a principal across tenants (clean-up).
CREATE INDEX bindings_principal_idx ON bindings (tenant_id, principal_kind, principal_id);
CREATE INDEX bindings_role_idx ON bindings (tenant_id, role_id);
CREATE INDEX bindings_any_tenant_idx ON bindings (principal_kind, principal_id);

CREATE TABLE instance_admins (
    tenant_id      TEXT   NOT NULL DEFAULT '*' CHECK (tenant_id = '*'),
    principal_kind TEXT   NOT NULL CHECK (principal_kind IN ('user', 'service_account')),
    principal_id   TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, principal_kind, principal_id)
);

-- Bumped whenever the principal's effective bindings in the tenant change.
CREATE TABLE principal_epochs (
    tenant_id      TEXT   NOT NULL,
    principal_kind TEXT   NOT NULL CHECK (principal_kind IN ('user', 'service_account')),
    principal_id   TEXT   NOT NULL,
    epoch          BIGINT NOT NULL,
    changed_at     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, principal_kind, principal_id)
);

CREATE INDEX principal_epochs_changed_idx ON principal_epochs (tenant_id, changed_at);

-- One hash chain across the instance; see AuditHashInput::hash for what the hash covers.
CREATE TABLE audit_log (
    seq         BIGINT NOT NULL PRIMARY KEY CHECK (seq > 0),
    tenant_id   TEXT   NOT NULL,
    id          TEXT   NOT NULL UNIQUE,
    at          BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    target      TEXT   NOT NULL,
    summary     TEXT   NOT NULL,
    request_id  TEXT,
    client_addr TEXT,
    prev_hash   TEXT   NOT NULL,
    hash        TEXT   NOT NULL
);

CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, seq);

-- The end of the chain. Appenders lock this row first, which serialises them on both
-- backends, and move it in the same transaction as their entries.
CREATE TABLE audit_head (
    id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    tenant_id TEXT    NOT NULL DEFAULT '*' CHECK (tenant_id = '*'),
    seq       BIGINT  NOT NULL,
    hash      TEXT    NOT NULL
);

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The default tenant, and a tenant for every other tenant id already in use.
INSERT INTO tenants (id, tenant_id, name, created_at, created_by)
VALUES ('default', 'default', 'Default', CAST(EXTRACT(EPOCH FROM now()) AS BIGINT), NULL);

INSERT INTO tenants (id, tenant_id, name, created_at, created_by)
SELECT DISTINCT used.tenant_id, used.tenant_id, used.tenant_id, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT), NULL
FROM (SELECT tenant_id FROM users UNION SELECT tenant_id FROM clients) used
WHERE used.tenant_id <> 'default' AND used.tenant_id <> '*';

-- Every tenant gets its builtin Tenant Admin role (every permission bit).
INSERT INTO roles (tenant_id, id, name, description, permissions, builtin, created_at)
SELECT id, 'admin', 'Tenant Admin', 'Full access to everything in the tenant', 1152921504606846975, TRUE, created_at
FROM tenants;

-- Existing users keep access to the tenant they were created in.
INSERT INTO tenant_access (tenant_id, principal_kind, principal_id, created_at)
SELECT tenant_id, 'user', id, created_at FROM users WHERE tenant_id <> '*';
