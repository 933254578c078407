//! Durable storage: one small trait per concern, one SQL implementation per backend.
//!
//! The business logic only sees `Arc<dyn ClientStore>` and friends; which database sits
//! behind them is decided once, by the database URL, in [`connect`].

mod account;
mod models;
mod signing_keys;
mod sql;

use std::sync::Arc;

use async_trait::async_trait;

pub use account::*;
pub use models::*;
pub use signing_keys::*;

/// A storage failure. `Conflict` and `NotFound` are domain outcomes the HTTP layer maps to
/// 409 and 404; `Backend` is an internal cause that is logged, never shown to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique key already exists.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The row that was to be changed does not exist.
    #[error("not found")]
    NotFound,
    /// The database failed.
    #[error("database error: {0}")]
    Backend(String),
    /// The database could not be reached (refused or dropped connections, no connection free
    /// within the pool's wait, a server shutting down, a locked SQLite file): worth a retry,
    /// answered 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// OAuth clients (relying parties and service callers).
#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
    /// Looks a client up by its globally unique id, in any tenant: the token endpoint
    /// knows the client before it knows the tenant. The tenant is on the returned row.
    async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>>;
    async fn list_clients(&self, tenant_id: &str) -> StoreResult<Vec<Client>>;
    /// The clients acting as this service account of the tenant, by id.
    async fn list_service_account_clients(&self, tenant_id: &str, service_account_id: &str)
    -> StoreResult<Vec<Client>>;
    /// Deletes a client of this tenant; `NotFound` if the tenant has no such client.
    async fn delete_client(&self, tenant_id: &str, client_id: &str) -> StoreResult<()>;
}

/// User accounts. Users are instance-wide identities (see [`User`]); the tenant-scoped methods
/// take the user's home tenant, the `_any` methods look across the instance.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user and, in the same transaction, gives it access to its home tenant when
    /// that tenant is registered (see [`AccessStore`]). `Conflict` if the id, username or
    /// email is taken anywhere in the instance, in canonical form ([`crate::identity`]: `ALICE`
    /// takes `alice`). The username and email must be ones the rule accepts.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// The user whose home tenant is `tenant_id`.
    async fn get_user(&self, tenant_id: &str, user_id: &str) -> StoreResult<Option<User>>;
    /// The user of this home tenant whose username is `username` in canonical form
    /// ([`crate::identity`]); `None` for a name the rule refuses.
    async fn find_user_by_username(&self, tenant_id: &str, username: &str) -> StoreResult<Option<User>>;
    /// Users whose home tenant is `tenant_id`, by username. A tenant's Users page lists the
    /// users with access instead: [`AccessStore::list_users_with_access`].
    async fn list_users(&self, tenant_id: &str) -> StoreResult<Vec<User>>;
    /// Deletes a user of this home tenant and, in the same transaction, its tenant access,
    /// group memberships, bindings and instance-admin grant in every tenant (its binding
    /// epochs are kept, so they never go back). `NotFound` if the tenant has no such user.
    async fn delete_user(&self, tenant_id: &str, user_id: &str) -> StoreResult<()>;
    async fn set_password_hash(&self, tenant_id: &str, user_id: &str, hash: &str) -> StoreResult<()>;

    /// The user with this id, whatever its home tenant.
    async fn get_user_any(&self, user_id: &str) -> StoreResult<Option<User>>;
    /// The user with this username in canonical form ([`crate::identity`]: `ALICE` and a
    /// full-width `ａｌｉｃｅ` find `alice`), instance-wide (sign-in); `None` for a name the
    /// rule refuses.
    async fn find_user_by_username_any(&self, username: &str) -> StoreResult<Option<User>>;
    /// The user with this email in canonical form (case-insensitive, [`crate::identity`]),
    /// instance-wide (sign-in, and an admin inviting a user by exact email: the only way a
    /// tenant admin sees a user without access to the tenant).
    async fn find_user_by_email_any(&self, email: &str) -> StoreResult<Option<User>>;
    /// `NotFound` if there is no such user; the same for the three methods below.
    async fn set_disabled(&self, user_id: &str, disabled: bool) -> StoreResult<()>;
    async fn update_profile(&self, user_id: &str, name: Option<&str>) -> StoreResult<()>;
    /// Sets or clears the mandatory change-password request. Setting a password hash does not
    /// clear it: the caller does, once the user has chosen the new password.
    async fn require_password_change(&self, user_id: &str, required: bool) -> StoreResult<()>;
}

/// Consents a user has given to a client, remembered so the consent page is shown once.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// The scopes the user has already granted to the client (empty if none).
    async fn granted_scopes(&self, tenant_id: &str, user_id: &str, client_id: &str) -> StoreResult<Vec<String>>;
    /// Records the scopes granted (replacing the previous set); `NotFound` if the tenant has
    /// no such user or client.
    async fn grant_scopes(
        &self,
        tenant_id: &str,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
        now: i64,
    ) -> StoreResult<()>;
    /// Forgets the consent; `NotFound` if there was none.
    async fn revoke_consent(&self, tenant_id: &str, user_id: &str, client_id: &str) -> StoreResult<()>;
}

/// Tenants. Pagination everywhere in the access model is by keyset: a page holds at most
/// `limit` rows ordered by id, starting after the id `after`.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates the tenant and, in the same transaction, its builtin Tenant Admin role
    /// ([`TENANT_ADMIN_ROLE_ID`], every permission). Making its creator an admin is the
    /// caller's job (a binding of that role). `Conflict` if the id is taken.
    async fn create_tenant(&self, tenant: &Tenant) -> StoreResult<()>;
    async fn get_tenant(&self, tenant_id: &str) -> StoreResult<Option<Tenant>>;
    async fn list_tenants(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<Tenant>>;
    async fn rename_tenant(&self, tenant_id: &str, name: &str) -> StoreResult<()>;
    /// Deletes the tenant and, in one transaction, every row carrying its `tenant_id` in every
    /// table (clients, consents, users homed there, tenant access, service accounts, groups,
    /// memberships, roles, bindings, binding epochs), plus the rows that the users and service
    /// accounts homed there had in other tenants. The audit log is kept: deleting entries
    /// would break the hash chain. `Conflict` for [`DEFAULT_TENANT`], `NotFound` if absent.
    async fn delete_tenant(&self, tenant_id: &str) -> StoreResult<()>;
}

/// Which users and service accounts may act in which tenant (the `tenant_access` table).
/// Access is granted explicitly, when a principal is created in its home tenant, and when it
/// is added to a group or bound to a role in a tenant (inviting it there).
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// `NotFound` if the tenant or the principal does not exist, `Conflict` if it already
    /// has access.
    async fn grant_access(&self, tenant_id: &str, kind: MemberKind, principal_id: &str, now: i64) -> StoreResult<()>;
    /// Removes the access and, in the same transaction, the principal's bindings and group
    /// memberships in that tenant, and bumps its binding epoch there. `NotFound` if it had no
    /// access.
    async fn revoke_access(&self, tenant_id: &str, kind: MemberKind, principal_id: &str, now: i64) -> StoreResult<()>;
    async fn has_access(&self, tenant_id: &str, kind: MemberKind, principal_id: &str) -> StoreResult<bool>;
    async fn list_user_ids_with_access(
        &self,
        tenant_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<String>>;
    /// The users with access to the tenant, by id; `search` matches a substring of the
    /// username, email or name, ignoring case (ASCII case only on SQLite).
    async fn list_users_with_access(
        &self,
        tenant_id: &str,
        search: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;
    /// The tenants the principal has access to, by id.
    async fn tenants_of(&self, kind: MemberKind, principal_id: &str) -> StoreResult<Vec<String>>;
}

/// Service accounts, scoped to their home tenant.
#[async_trait]
pub trait ServiceAccountStore: Send + Sync {
    /// Creates the account with access to its home tenant. `NotFound` if the tenant does not
    /// exist, `Conflict` if the id (instance-wide) or the name (in the tenant) is taken.
    async fn create_service_account(&self, account: &ServiceAccount) -> StoreResult<()>;
    async fn get_service_account(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ServiceAccount>>;
    /// Accounts homed in the tenant, by id; `search` matches a substring of the id, name or
    /// description, ignoring case.
    async fn list_service_accounts(
        &self,
        tenant_id: &str,
        search: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ServiceAccount>>;
    async fn update_service_account(
        &self,
        tenant_id: &str,
        id: &str,
        name: &str,
        description: Option<&str>,
        audiences: &[String],
    ) -> StoreResult<()>;
    /// Deletes the account and, in the same transaction, its tenant access, memberships,
    /// bindings and instance-admin grant in every tenant, its API tokens, workload-identity
    /// trusts and clients.
    async fn delete_service_account(&self, tenant_id: &str, id: &str) -> StoreResult<()>;
}

/// API tokens of service accounts, and the workload-identity trusts that map external
/// issuers' tokens to service accounts.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// `NotFound` if the tenant has no such service account, `Conflict` if the id is taken.
    async fn create_api_token(&self, token: &ApiToken) -> StoreResult<()>;
    async fn get_api_token(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ApiToken>>;
    /// The token whose SHA-256 is `token_hash`, in any tenant (the exchange knows the token
    /// before the tenant; the tenant is on the row).
    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>>;
    /// The account's tokens, revoked ones included, newest first.
    async fn list_api_tokens(&self, tenant_id: &str, service_account_id: &str) -> StoreResult<Vec<ApiToken>>;
    /// Marks the token revoked at `now` (once: a revoked token stays revoked at its first
    /// revocation time). `NotFound` if the account has no such token.
    async fn revoke_api_token(&self, tenant_id: &str, service_account_id: &str, id: &str, now: i64) -> StoreResult<()>;
    /// Brings the expiry forward to `expires_at` if it was later or unset (the overlap of a
    /// rotation). `NotFound` if the account has no such token.
    async fn shorten_api_token(
        &self,
        tenant_id: &str,
        service_account_id: &str,
        id: &str,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// Records a use of the token.
    async fn touch_api_token(&self, tenant_id: &str, id: &str, now: i64) -> StoreResult<()>;

    /// `NotFound` if the tenant has no such service account, `Conflict` if the id or name is
    /// taken in the tenant.
    async fn create_workload_trust(&self, trust: &WorkloadTrust) -> StoreResult<()>;
    async fn get_workload_trust(&self, tenant_id: &str, id: &str) -> StoreResult<Option<WorkloadTrust>>;
    /// The tenant's trusts, by id.
    async fn list_workload_trusts(&self, tenant_id: &str) -> StoreResult<Vec<WorkloadTrust>>;
    /// Every trust of this issuer, in any tenant, by (tenant, id).
    async fn workload_trusts_of_issuer(&self, issuer: &str) -> StoreResult<Vec<WorkloadTrust>>;
    /// `NotFound` if the tenant has no such trust.
    async fn delete_workload_trust(&self, tenant_id: &str, id: &str) -> StoreResult<()>;
}

/// Groups and their members.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// `NotFound` if the tenant does not exist, `Conflict` if the id or name is taken in it.
    async fn create_group(&self, group: &Group) -> StoreResult<()>;
    async fn get_group(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Group>>;
    /// By id; `search` matches a substring of the name or description, ignoring case.
    async fn list_groups(
        &self,
        tenant_id: &str,
        search: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Group>>;
    async fn update_group(&self, tenant_id: &str, id: &str, name: &str, description: Option<&str>) -> StoreResult<()>;
    /// Deletes the group, its memberships and its bindings (never the members), bumping every
    /// member's binding epoch, in one transaction.
    async fn delete_group(&self, tenant_id: &str, id: &str, now: i64) -> StoreResult<()>;
    /// Attaches a user or service account (of any home tenant) to the group, giving it access
    /// to the tenant if it had none, and bumps its binding epoch. `NotFound` if the group or
    /// the member does not exist, `Conflict` if it is already a member.
    async fn add_member(
        &self,
        tenant_id: &str,
        group_id: &str,
        kind: MemberKind,
        member_id: &str,
        now: i64,
    ) -> StoreResult<()>;
    /// Detaches the member and bumps its binding epoch; `NotFound` if it was not a member.
    async fn remove_member(
        &self,
        tenant_id: &str,
        group_id: &str,
        kind: MemberKind,
        member_id: &str,
        now: i64,
    ) -> StoreResult<()>;
    /// Members by (kind, id), starting after the (kind, id) `after`.
    async fn list_members(
        &self,
        tenant_id: &str,
        group_id: &str,
        after: Option<(MemberKind, &str)>,
        limit: u32,
    ) -> StoreResult<Vec<GroupMember>>;
    /// The groups of the tenant the principal is a member of, by id.
    async fn groups_of(&self, tenant_id: &str, kind: MemberKind, member_id: &str) -> StoreResult<Vec<Group>>;
}

/// Roles: named permission sets.
#[async_trait]
pub trait RoleStore: Send + Sync {
    /// `NotFound` if the tenant does not exist, `Conflict` if the id or name is taken in it.
    async fn create_role(&self, role: &Role) -> StoreResult<()>;
    async fn get_role(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Role>>;
    /// By id; `search` matches a substring of the name or description, ignoring case.
    async fn list_roles(
        &self,
        tenant_id: &str,
        search: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Role>>;
    /// Replaces name, description and permissions and, in the same transaction, bumps the
    /// binding epoch of every principal holding the role, directly or through a group.
    /// `Conflict` for a builtin role or a taken name.
    async fn update_role(
        &self,
        tenant_id: &str,
        id: &str,
        name: &str,
        description: Option<&str>,
        permissions: i64,
        now: i64,
    ) -> StoreResult<()>;
    /// `Conflict` for a builtin role and for a role still used by a binding: bindings are
    /// deleted one by one, deliberately, never as a side effect of deleting a role.
    async fn delete_role(&self, tenant_id: &str, id: &str) -> StoreResult<()>;
}

/// Bindings of roles to principals, and the query authorization runs on.
#[async_trait]
pub trait BindingStore: Send + Sync {
    /// Creates the binding and, in the same transaction, gives a user or service account
    /// access to the tenant if it had none and bumps the binding epoch of the principal (of
    /// every member, for a group). `NotFound` if the role, the group or the principal does not
    /// exist, `Conflict` if the id is taken. The epoch change is dated `binding.created_at`.
    async fn create_binding(&self, binding: &Binding) -> StoreResult<()>;
    async fn get_binding(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Binding>>;
    /// Deletes the binding and bumps the epochs as `create_binding` does.
    async fn delete_binding(&self, tenant_id: &str, id: &str, now: i64) -> StoreResult<()>;
    async fn list_bindings(
        &self,
        tenant_id: &str,
        filter: &BindingFilter,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Binding>>;
    /// The principal's own bindings in the tenant plus those of every group it is a member of
    /// there, each with its role's permissions, by binding id. One indexed query: its cost
    /// grows with the principal's bindings and groups, not with the size of the store.
    async fn effective_bindings(
        &self,
        tenant_id: &str,
        kind: MemberKind,
        principal_id: &str,
    ) -> StoreResult<Vec<(Binding, i64)>>;
}

/// Instance Admins: principals with every permission in every tenant.
#[async_trait]
pub trait InstanceAdminStore: Send + Sync {
    /// `NotFound` if the principal does not exist, `Conflict` if it is already an admin.
    async fn grant_instance_admin(&self, kind: MemberKind, principal_id: &str, now: i64) -> StoreResult<()>;
    async fn revoke_instance_admin(&self, kind: MemberKind, principal_id: &str) -> StoreResult<()>;
    async fn is_instance_admin(&self, kind: MemberKind, principal_id: &str) -> StoreResult<bool>;
    /// By (kind, id).
    async fn list_instance_admins(&self) -> StoreResult<Vec<InstanceAdmin>>;
}

/// Binding epochs: a counter per principal and tenant, bumped in the same transaction as
/// every change of the principal's effective bindings there, so that tokens can carry it and
/// caches can tell they are stale.
#[async_trait]
pub trait EpochStore: Send + Sync {
    /// 0 until the first change.
    async fn epoch_of(&self, tenant_id: &str, kind: MemberKind, principal_id: &str) -> StoreResult<i64>;
    /// The epochs changed after `changed_at_after`, by (changed_at, kind, id). A page holds at
    /// least `limit` rows when there are that many, and never ends in the middle of a second:
    /// all rows sharing the last `changed_at` are included, so the caller continues with
    /// `changed_at_after = last.changed_at` without missing any.
    async fn changed_since(
        &self,
        tenant_id: &str,
        changed_at_after: i64,
        limit: u32,
    ) -> StoreResult<Vec<PrincipalEpoch>>;
}

/// The tamper-evident audit log: one hash chain across the instance.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends the entries, in order, in one transaction: each gets the next `seq`, the hash of
    /// the entry before it as `prev_hash`, and its own hash. Safe with concurrent writers (in
    /// this process or others): appends are serialised on the one-row `audit_head` table.
    /// `Conflict` if an entry id is taken; then nothing is appended.
    async fn append_batch(&self, entries: &[NewAuditEntry]) -> StoreResult<()>;
    /// The tenant's entries matching the filter, by seq, starting after `after_seq`.
    async fn list_audit(
        &self,
        tenant_id: &str,
        filter: &AuditFilter,
        after_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// Recomputes the whole chain: `Ok(Ok(n))` when all `n` entries verify and the chain ends
    /// where the head says, `Ok(Err(_))` naming the first entry that does not.
    async fn verify_audit(&self) -> StoreResult<Result<u64, AuditBroken>>;
}

/// SCIM provisioning records (see [`ScimRecord`]). A user's record hangs on its access to the
/// tenant and a group's on the group: they go with them. Pagination is by offset, as SCIM's
/// `startIndex` and `count` ask, over rows ordered by id.
#[async_trait]
pub trait ScimStore: Send + Sync {
    /// Creates the user homed in its tenant, its access there and its SCIM record, in one
    /// transaction. `Conflict` if the id, username, email or external id is taken.
    async fn create_scim_user(&self, user: &User, record: &ScimRecord) -> StoreResult<()>;
    /// The users with access to the tenant matching the filter, by id, skipping `offset`, at
    /// most `limit`, with their records; and how many match in all.
    async fn scim_users(
        &self,
        tenant_id: &str,
        filter: &ScimUserFilter,
        offset: u64,
        limit: u32,
    ) -> StoreResult<(Vec<(User, Option<ScimRecord>)>, u64)>;
    /// Creates or replaces the user's record in the tenant (keeping its `created_at` when it
    /// existed). `NotFound` if the user has no access to the tenant, `Conflict` if the external
    /// id is taken there.
    async fn put_scim_user_record(&self, tenant_id: &str, user_id: &str, record: &ScimRecord) -> StoreResult<()>;
    /// Replaces the user's username, email and name; a changed email is no longer verified.
    /// `NotFound` if there is no such user, `Conflict` if the username or email is taken (in
    /// canonical form, by another user).
    async fn update_user_identity(
        &self,
        user_id: &str,
        username: &str,
        email: Option<&str>,
        name: Option<&str>,
    ) -> StoreResult<()>;
    /// Creates the group and its SCIM record in one transaction. `NotFound` if the tenant does
    /// not exist, `Conflict` if the id, name or external id is taken in it.
    async fn create_scim_group(&self, group: &Group, record: &ScimRecord) -> StoreResult<()>;
    /// The tenant's groups matching the filter, by id, skipping `offset`, at most `limit`, with
    /// their records; and how many match in all.
    async fn scim_groups(
        &self,
        tenant_id: &str,
        filter: &ScimGroupFilter,
        offset: u64,
        limit: u32,
    ) -> StoreResult<(Vec<(Group, Option<ScimRecord>)>, u64)>;
    /// Creates or replaces the group's record. `NotFound` if the tenant has no such group,
    /// `Conflict` if the external id is taken there.
    async fn put_scim_group_record(&self, tenant_id: &str, group_id: &str, record: &ScimRecord) -> StoreResult<()>;
}

/// Federation connections (upstream OpenID providers) and the identities people have at them.
#[async_trait]
pub trait FederationStore: Send + Sync {
    /// `Conflict` if the tenant already has a connection with this id.
    async fn create_connection(&self, c: &Connection) -> StoreResult<()>;
    async fn get_connection(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Connection>>;
    /// The tenant's connections (or, for [`INSTANCE_SCOPE`], the instance-wide ones), by id.
    async fn list_connections(&self, tenant_id: &str) -> StoreResult<Vec<Connection>>;
    /// Replaces everything but `created_at`. `NotFound` if there is no such connection.
    async fn update_connection(&self, c: &Connection) -> StoreResult<()>;
    /// Deletes the connection and the identities linked through it. `NotFound` if none.
    async fn delete_connection(&self, tenant_id: &str, id: &str) -> StoreResult<()>;
    /// The user linked to `subject` at the connection, recording this sign-in's time.
    async fn find_identity(
        &self,
        tenant_id: &str,
        connection_id: &str,
        subject: &str,
        now: i64,
    ) -> StoreResult<Option<String>>;
    /// Links `subject` at the connection to an existing user. `Conflict` if it is linked.
    async fn link_identity(
        &self,
        tenant_id: &str,
        connection_id: &str,
        subject: &str,
        user_id: &str,
        now: i64,
    ) -> StoreResult<()>;
    /// Creates the user (with access to its home tenant) and links `subject` at the
    /// connection to it, in one transaction. `Conflict` if the id, username, email or the
    /// link is taken.
    async fn provision_user(&self, user: &User, tenant_id: &str, connection_id: &str, subject: &str)
    -> StoreResult<()>;
    /// Replaces the profile the upstream holds: email (and whether it is verified) and name.
    /// `NotFound` if there is no such user, `Conflict` if the email is taken.
    async fn update_federated_profile(
        &self,
        user_id: &str,
        email: Option<&str>,
        email_verified: bool,
        name: Option<&str>,
    ) -> StoreResult<()>;
}

/// Users' passkeys (WebAuthn credentials), rows of each user's home tenant.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// `NotFound` if the tenant has no such user, `Conflict` if the credential is registered
    /// already (to anyone) or the id is taken.
    async fn add_passkey(&self, passkey: &PasskeyRecord) -> StoreResult<()>;
    /// The user's passkeys, oldest first.
    async fn list_passkeys(&self, tenant_id: &str, user_id: &str) -> StoreResult<Vec<PasskeyRecord>>;
    /// The passkey with this credential id, in any tenant: a discoverable sign-in knows the
    /// credential before it knows the user. The tenant and the user are on the row.
    async fn find_passkey(&self, credential_id: &str) -> StoreResult<Option<PasskeyRecord>>;
    /// `NotFound` if the user has no such passkey; the same for the two methods below.
    async fn rename_passkey(&self, tenant_id: &str, user_id: &str, id: &str, name: &str) -> StoreResult<()>;
    async fn delete_passkey(&self, tenant_id: &str, user_id: &str, id: &str) -> StoreResult<()>;
    /// Records a use: the credential as updated (its signature counter) and the time.
    async fn touch_passkey(
        &self,
        tenant_id: &str,
        user_id: &str,
        id: &str,
        credential: &str,
        now: i64,
    ) -> StoreResult<()>;
}

/// Users' preferences: theme and time zone (home tenant), default namespace (per tenant).
#[async_trait]
pub trait PreferenceStore: Send + Sync {
    /// `None` until the user saves some.
    async fn get_preferences(&self, tenant_id: &str, user_id: &str) -> StoreResult<Option<Preferences>>;
    /// Creates or replaces them; `NotFound` if the tenant has no such user.
    async fn put_preferences(&self, tenant_id: &str, user_id: &str, prefs: &Preferences, now: i64) -> StoreResult<()>;
    async fn get_default_namespace(&self, tenant_id: &str, user_id: &str) -> StoreResult<Option<String>>;
    /// Sets (`Some`) or clears (`None`) the user's default namespace in the tenant; `NotFound`
    /// when setting it for a user without access to the tenant.
    async fn set_default_namespace(
        &self,
        tenant_id: &str,
        user_id: &str,
        namespace: Option<&str>,
        now: i64,
    ) -> StoreResult<()>;
}

/// Health of the durable store, for readiness.
#[async_trait]
pub trait StoreHealth: Send + Sync {
    async fn ping(&self) -> StoreResult<()>;
}

/// The set of stores the application runs on.
#[derive(Clone)]
pub struct Stores {
    pub clients: Arc<dyn ClientStore>,
    pub users: Arc<dyn UserStore>,
    pub consents: Arc<dyn ConsentStore>,
    pub tenants: Arc<dyn TenantStore>,
    pub access: Arc<dyn AccessStore>,
    pub service_accounts: Arc<dyn ServiceAccountStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub groups: Arc<dyn GroupStore>,
    pub roles: Arc<dyn RoleStore>,
    pub bindings: Arc<dyn BindingStore>,
    pub instance_admins: Arc<dyn InstanceAdminStore>,
    pub epochs: Arc<dyn EpochStore>,
    pub audit: Arc<dyn AuditStore>,
    pub health: Arc<dyn StoreHealth>,
    pub signing_keys: Arc<dyn SigningKeyStore>,
    pub scim: Arc<dyn ScimStore>,
    pub passkeys: Arc<dyn PasskeyStore>,
    pub preferences: Arc<dyn PreferenceStore>,
    pub federation: Arc<dyn FederationStore>,
    /// Which backend this is ("sqlite" or "postgres"), for logs and readiness output.
    pub backend: &'static str,
}

/// Options for opening the database.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub url: String,
    pub max_connections: u32,
    /// PostgreSQL only: the schema to use (tests use one schema each). `None` uses the default.
    pub pg_schema: Option<String>,
}

/// Opens the database named by the URL (`sqlite:` or `postgres:`), creating a SQLite file and
/// its folder if needed, and applies pending migrations.
pub async fn connect(opts: &ConnectOptions) -> StoreResult<Stores> {
    sql::connect(opts).await
}

/// Applies pending migrations without starting anything else (`tessera migrate`).
pub async fn migrate(opts: &ConnectOptions) -> StoreResult<()> {
    sql::connect(opts).await.map(|_| ())
}
