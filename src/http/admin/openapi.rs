//! The OpenAPI 3.1 document of the admin API, served unauthenticated at
//! `/api/v1/openapi.json` and committed as `docs/openapi.json` (`tests/openapi.rs` fails when
//! the two differ, and when a route of [`super::router`] is missing here or the other way
//! round).
//!
//! Written by hand with `serde_json` rather than derived (no schema crate to compile): when a
//! handler, a request struct or a `*_json` function changes, change the matching operation or
//! schema below. Request bodies mirror the structs' `deny_unknown_fields` with
//! `additionalProperties: false` and state the checks the handlers make (`check_id`,
//! `check_name`, `check_description`, the permission catalogue, namespaces), so that a client
//! or a fuzzer can tell valid input from invalid input.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::rbac::{Action, MAX_NAMESPACE_LEN, Permission};

/// GET `/api/v1/openapi.json`.
pub async fn serve() -> Response {
    static DOC: OnceLock<Value> = OnceLock::new();
    Json(DOC.get_or_init(document)).into_response()
}

/// `check_id`: 1 to 64 letters, digits, '_', '.' or '-'.
const ID: &str = r"^[A-Za-z0-9_.-]{1,64}$";
/// What `char::is_control` matches (Unicode Cc).
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// What `str::trim` and `char::is_whitespace` match (Unicode White_Space), spelled out:
/// `\s` means different sets in ECMAScript and in Python.
const SPACE: &str = r"\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Tenant ids the API refuses because they would collide with its own paths.
const RESERVED_TENANT_IDS: [&str; 5] = ["identity-providers", "instance-admins", "me", "openapi.json", "tenants"];
/// Path segments a client normalizes away (RFC 3986 dot segments): never an addressable id.
const DOT_SEGMENTS: [&str; 2] = [".", ".."];

/// The document, with keys in serde_json's (sorted) order.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in operations() {
        let (path, method, v) = op.finish();
        paths.entry(path).or_insert_with(|| json!({})).as_object_mut().expect("object").insert(method.into(), v);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tessera admin API",
            "version": "1",
            "description": "Administration of a Tessera instance: tenants, their users, groups, roles, role \
                bindings, service accounts (with their API tokens and clients), workload identities and audit \
                log, and the Instance Admins. Every operation but this \
                document needs `Authorization: Bearer <access token>` (a Tessera access token requested with \
                `resource={issuer}/api`) or `Authorization: Basic` with a username and password. Callers are \
                authorized by the access model: a tenant the caller has no access to answers 404, like a \
                tenant that does not exist; a missing permission answers 403. Errors are RFC 9457 problem \
                details (`application/problem+json`). Lists are paged by keyset: pass a page's `next` as \
                `after` to get the following page; `next` is null on the last page.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "basic": [] }, { "bearer": [] }],
        "tags": [
            { "name": "meta", "description": "This document." },
            { "name": "me", "description": "The caller." },
            { "name": "tenants", "description": "Tenants (Instance Admins; others see the tenants they can access)." },
            { "name": "instance-admins", "description": "Principals with every permission in every tenant." },
            { "name": "users", "description": "The users with access to a tenant." },
            { "name": "groups", "description": "Groups of users and service accounts." },
            { "name": "roles", "description": "Named sets of permissions from the fixed catalogue." },
            { "name": "bindings", "description": "Roles bound to principals, tenant-wide or on namespaces." },
            { "name": "service-accounts", "description": "Application identities, their API tokens and clients." },
            {
                "name": "workload-identities",
                "description": "External OIDC issuers whose tokens are exchanged for a service account's.",
            },
            {
                "name": "identity-providers",
                "description": "Upstream OpenID providers people sign in through (federation), of a tenant or the instance.",
            },
            { "name": "audit-logs", "description": "The tenant's hash-chained audit log." },
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "A username and password (for the CLI and scripts).",
                },
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A Tessera access token whose audience is `{issuer}/api`, of an enabled user.",
                },
            },
            "parameters": parameters(),
            "responses": problem_responses(),
            "schemas": with_identity_providers(schemas()),
        },
    })
}

// --- Operations -------------------------------------------------------------------------------

/// One operation under construction.
struct Op {
    path: &'static str,
    method: &'static str,
    v: Map<String, Value>,
    params: Vec<Value>,
    responses: Map<String, Value>,
    errors: BTreeSet<u16>,
    public: bool,
}

fn op(method: &'static str, path: &'static str, id: &str, tag: &str, summary: &str) -> Op {
    let mut v = Map::new();
    v.insert("operationId".into(), id.into());
    v.insert("tags".into(), json!([tag]));
    v.insert("summary".into(), summary.into());
    let mut o =
        Op { path, method, v, params: Vec::new(), responses: Map::new(), errors: BTreeSet::new(), public: false };
    if path.starts_with("/{tenant}") {
        // No tenant, or no access to it: 404 alike.
        o = o.params(&["tenant"]).errors(&[404]);
    }
    o
}

impl Op {
    fn describe(mut self, text: &str) -> Self {
        self.v.insert("description".into(), text.into());
        self
    }

    /// Parameters by component name (see [`parameters`]).
    fn params(mut self, names: &[&str]) -> Self {
        for n in names {
            self.params.push(json!({ "$ref": format!("#/components/parameters/{n}") }));
        }
        self
    }

    /// Query parameters: an unknown parameter or a value of the wrong type is a 400.
    fn query(self, names: &[&str]) -> Self {
        self.params(names).errors(&[400])
    }

    /// A JSON body of the named schema: wrong content type 415, bad JSON 400, wrong shape 422.
    fn body(mut self, schema: &str, example: Value) -> Self {
        self.v.insert(
            "requestBody".into(),
            json!({
                "required": true,
                "content": { "application/json": { "schema": schema_ref(schema), "example": example } },
            }),
        );
        self.errors(&[400, 415, 422])
    }

    fn ok(mut self, status: u16, description: &str, schema: Option<Value>) -> Self {
        let mut r = json!({ "description": description });
        if let Some(s) = schema {
            r["content"] = json!({ "application/json": { "schema": s } });
        }
        self.responses.insert(status.to_string(), r);
        self
    }

    /// A success answer that shows a secret once: sent with `Cache-Control: no-store`.
    fn ok_once(self, status: u16, description: &str, schema: Value) -> Self {
        let mut o = self.ok(status, description, Some(schema));
        o.responses[&status.to_string()]["headers"] = json!({
            "Cache-Control": {
                "description": "`no-store`: the secret must not be kept by anything on the way.",
                "required": true,
                "schema": { "type": "string", "const": "no-store" },
            },
        });
        o
    }

    fn errors(mut self, codes: &[u16]) -> Self {
        self.errors.extend(codes);
        self
    }

    /// No authentication.
    fn public(mut self) -> Self {
        self.public = true;
        self
    }

    fn finish(mut self) -> (String, &'static str, Value) {
        if self.public {
            self.v.insert("security".into(), json!([]));
        } else {
            // No or bad credentials; a token whose subject is not an enabled user, or a
            // missing permission.
            self.errors.extend([401, 403]);
        }
        for code in &self.errors {
            let name = match code {
                400 => "BadRequest",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "NotFound",
                409 => "Conflict",
                415 => "UnsupportedMediaType",
                422 => "UnprocessableContent",
                _ => unreachable!("undocumented problem status {code}"),
            };
            self.responses.insert(code.to_string(), json!({ "$ref": format!("#/components/responses/{name}") }));
        }
        if !self.params.is_empty() {
            self.v.insert("parameters".into(), Value::Array(self.params));
        }
        self.v.insert("responses".into(), Value::Object(self.responses));
        (self.path.to_string(), self.method, Value::Object(self.v))
    }
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// Every operation of the admin router, in the order of the handlers' files.
fn operations() -> Vec<Op> {
    let page = ["after", "limit", "q"];
    vec![
        op("get", "/openapi.json", "getOpenApi", "meta", "This OpenAPI document")
            .public()
            .ok(200, "The OpenAPI 3.1 document of the admin API.", Some(json!({ "type": "object" }))),
        // tenants.rs
        op("get", "/me", "getMe", "me", "The caller, whether they are an Instance Admin, and their tenants")
            .ok(200, "The caller.", Some(schema_ref("Me"))),
        op("get", "/tenants", "listTenants", "tenants", "List tenants")
            .describe(
                "Every tenant for an Instance Admin; for anyone else, the tenants they have access to (for a \
                 tenant switcher). `q` is accepted but not applied.",
            )
            .query(&page)
            .errors(&[422])
            .ok(200, "A page of tenants.", Some(schema_ref("TenantList"))),
        op("post", "/tenants", "createTenant", "tenants", "Create a tenant (Instance Admins)")
            .describe("The creator becomes the tenant's Tenant Admin (a binding of the built-in role `admin`).")
            .body("NewTenant", json!({ "id": "acme", "name": "ACME" }))
            .errors(&[409])
            .ok(201, "The tenant.", Some(schema_ref("Tenant"))),
        op("get", "/tenants/{id}", "getTenant", "tenants", "Read a tenant")
            .params(&["tenantId"])
            .errors(&[404])
            .ok(200, "The tenant.", Some(schema_ref("Tenant"))),
        op("patch", "/tenants/{id}", "renameTenant", "tenants", "Rename a tenant (Instance Admins)")
            .params(&["tenantId"])
            .body("RenameTenant", json!({ "name": "ACME Corporation" }))
            .errors(&[404])
            .ok(200, "The renamed tenant.", Some(schema_ref("Tenant"))),
        op("delete", "/tenants/{id}", "deleteTenant", "tenants", "Delete a tenant and everything in it (Instance Admins)")
            .describe(
                "Deletes the tenant's clients, users homed there, groups, roles, bindings and service accounts. \
                 The audit log is kept. The `default` tenant cannot be deleted (409).",
            )
            .params(&["tenantId"])
            .errors(&[404, 409])
            .ok(204, "Deleted.", None),
        op("get", "/instance-admins", "listInstanceAdmins", "instance-admins", "List the Instance Admins")
            .ok(200, "Every Instance Admin.", Some(schema_ref("InstanceAdminList"))),
        op("post", "/instance-admins", "grantInstanceAdmin", "instance-admins", "Make a principal an Instance Admin")
            .body("NewInstanceAdmin", json!({ "kind": "user", "id": "Zq3x9Kp2LmN4" }))
            .errors(&[404, 409])
            .ok(201, "Granted.", None),
        op(
            "delete",
            "/instance-admins/{kind}/{id}",
            "revokeInstanceAdmin",
            "instance-admins",
            "Revoke a principal's Instance Admin role",
        )
        .describe("Callers cannot revoke their own role (409). An unknown kind or a principal that is not an Instance Admin: 404.")
        .params(&["instanceAdminKind", "instanceAdminId"])
        .errors(&[404, 409])
        .ok(204, "Revoked.", None),
        // audit_logs.rs
        op("get", "/{tenant}/audit-logs", "listAuditLogs", "audit-logs", "Read the tenant's audit log (AUDITLOG:READ)")
            .describe("Entries oldest first, filtered by exact actor, target and action and by time, paged by `seq`.")
            .query(&["auditActor", "auditTarget", "auditAction", "auditFrom", "auditTo", "auditAfter", "limit"])
            .errors(&[422])
            .ok(200, "A page of audit entries.", Some(schema_ref("AuditEntryList"))),
        // users.rs
        op("get", "/{tenant}/users", "listUsers", "users", "List the users with access to the tenant (USER:READ)")
            .query(&page)
            .errors(&[422])
            .ok(200, "A page of users.", Some(schema_ref("UserList"))),
        op("post", "/{tenant}/users", "createUser", "users", "Create a user homed in the tenant (USER:CREATE)")
            .describe(
                "The user has no password: they get a mandatory change-password request. Admins never set \
                 passwords.",
            )
            .body("NewUser", json!({ "username": "carol", "email": "carol@example.com", "name": "Carol" }))
            .errors(&[409])
            .ok(201, "The user.", Some(schema_ref("User"))),
        op("get", "/{tenant}/users/lookup", "lookupUser", "users", "Find any user of the instance by exact email (USER:READ)")
            .describe("To invite someone without access to the tenant yet (through a group or a binding).")
            .query(&["lookupEmail"])
            .errors(&[422])
            .ok(200, "The user.", Some(schema_ref("UserLookup"))),
        op(
            "post",
            "/{tenant}/users/password-change-requests",
            "requestPasswordChanges",
            "users",
            "Send a mandatory change-password request to several users (USER:UPDATE)",
        )
        .describe("All or nothing: 404 if any of the users has no access to the tenant.")
        .body("PasswordChangeRequests", json!({ "user_ids": ["Zq3x9Kp2LmN4"] }))
        .ok(202, "Requested.", Some(schema_ref("Requested"))),
        op("get", "/{tenant}/users/{id}", "getUser", "users", "Read a user and their groups in the tenant (USER:READ)")
            .params(&["userId"])
            .ok(200, "The user.", Some(schema_ref("UserDetail"))),
        op("patch", "/{tenant}/users/{id}", "updateUser", "users", "Change a user's name, or disable them (USER:UPDATE)")
            .describe(
                "Only an Instance Admin can disable a user (403 otherwise). Admins cannot change an email or a \
                 password (422). Renaming follows the authority rule: the caller must hold at least as much as \
                 the user in every tenant where the user holds anything, and only an Instance Admin acts on an \
                 Instance Admin (403 naming why).",
            )
            .params(&["userId"])
            .body("UpdateUser", json!({ "name": "Carol C." }))
            .ok(200, "The user.", Some(schema_ref("User"))),
        op("delete", "/{tenant}/users/{id}", "removeUser", "users", "Remove a user's access to the tenant (USER:DELETE)")
            .describe("Also removes their bindings and memberships there; the identity stays.")
            .params(&["userId"])
            .ok(204, "Removed.", None),
        op(
            "post",
            "/{tenant}/users/{id}/password-change-request",
            "requestPasswordChange",
            "users",
            "Send a mandatory change-password request to a user (USER:UPDATE)",
        )
        .params(&["userId"])
        .ok(202, "Requested.", None),
        // groups.rs
        op("get", "/{tenant}/groups", "listGroups", "groups", "List groups (GROUP:READ)")
            .query(&page)
            .errors(&[422])
            .ok(200, "A page of groups.", Some(schema_ref("GroupList"))),
        op("post", "/{tenant}/groups", "createGroup", "groups", "Create a group (GROUP:CREATE)")
            .body("NewGroup", json!({ "id": "ops", "name": "Ops", "description": "On-call engineers" }))
            .errors(&[409])
            .ok(201, "The group.", Some(schema_ref("Group"))),
        op("get", "/{tenant}/groups/{id}", "getGroup", "groups", "Read a group (GROUP:READ)")
            .params(&["groupId"])
            .ok(200, "The group.", Some(schema_ref("Group"))),
        op("patch", "/{tenant}/groups/{id}", "updateGroup", "groups", "Change a group's name or description (GROUP:UPDATE)")
            .params(&["groupId"])
            .body("UpdateGroup", json!({ "description": "Operations" }))
            .errors(&[409])
            .ok(200, "The group.", Some(schema_ref("Group"))),
        op("delete", "/{tenant}/groups/{id}", "deleteGroup", "groups", "Delete a group (GROUP:DELETE)")
            .describe("Deletes its memberships and bindings, never its members.")
            .params(&["groupId"])
            .ok(204, "Deleted.", None),
        op("get", "/{tenant}/groups/{id}/members", "listGroupMembers", "groups", "List a group's members (GROUP:READ)")
            .describe("Paged by (kind, id): pass both `after_kind` and `after` from a page's `next`.")
            .params(&["groupId"])
            .query(&["memberAfterKind", "after", "limit"])
            .errors(&[422])
            .ok(200, "A page of members.", Some(schema_ref("GroupMemberList"))),
        op("post", "/{tenant}/groups/{id}/members", "addGroupMember", "groups", "Add a member to a group (GROUP:UPDATE)")
            .describe(
                "No escalation: the caller must hold everything the group's bindings grant (403). Adding someone \
                 homed elsewhere invites them to the tenant.",
            )
            .params(&["groupId"])
            .body("NewGroupMember", json!({ "kind": "user", "id": "Zq3x9Kp2LmN4" }))
            .errors(&[409])
            .ok(201, "Added.", None),
        op(
            "delete",
            "/{tenant}/groups/{id}/members/{kind}/{member}",
            "removeGroupMember",
            "groups",
            "Remove a member from a group (GROUP:UPDATE)",
        )
        .params(&["groupId", "memberKind", "memberId"])
        .ok(204, "Removed.", None),
        op(
            "post",
            "/{tenant}/groups/{id}/password-change-request",
            "requestGroupPasswordChange",
            "groups",
            "Send a mandatory change-password request to every user of a group (USER:UPDATE)",
        )
        .params(&["groupId"])
        .ok(202, "Requested.", Some(schema_ref("Requested"))),
        op("put", "/{tenant}/users/{id}/groups/{group_id}", "addUserToGroup", "users", "Attach a user to a group (GROUP:UPDATE)")
            .describe(MEMBER_SIDE_ADD)
            .params(&["userId", "memberGroupId"])
            .ok(201, "Attached.", None)
            .ok(204, "The user was a member already: nothing changed.", None),
        op(
            "delete",
            "/{tenant}/users/{id}/groups/{group_id}",
            "removeUserFromGroup",
            "users",
            "Detach a user from a group (GROUP:UPDATE)",
        )
        .describe("The same as `DELETE /{tenant}/groups/{id}/members/user/{member}`. Not a member: 404.")
        .params(&["userId", "memberGroupId"])
        .ok(204, "Detached.", None),
        op(
            "put",
            "/{tenant}/service-accounts/{id}/groups/{group_id}",
            "addServiceAccountToGroup",
            "service-accounts",
            "Attach a service account to a group (GROUP:UPDATE)",
        )
        .describe(MEMBER_SIDE_ADD)
        .params(&["serviceAccountId", "memberGroupId"])
        .ok(201, "Attached.", None)
        .ok(204, "The service account was a member already: nothing changed.", None),
        op(
            "delete",
            "/{tenant}/service-accounts/{id}/groups/{group_id}",
            "removeServiceAccountFromGroup",
            "service-accounts",
            "Detach a service account from a group (GROUP:UPDATE)",
        )
        .describe("The same as `DELETE /{tenant}/groups/{id}/members/service_account/{member}`. Not a member: 404.")
        .params(&["serviceAccountId", "memberGroupId"])
        .ok(204, "Detached.", None),
        // roles.rs
        op("get", "/{tenant}/roles", "listRoles", "roles", "List roles (ROLE:READ)")
            .query(&page)
            .errors(&[422])
            .ok(200, "A page of roles.", Some(schema_ref("RoleList"))),
        op("post", "/{tenant}/roles", "createRole", "roles", "Create a role (ROLE:CREATE)")
            .describe("No escalation: the caller must hold every permission of the role tenant-wide (403).")
            .body("NewRole", json!({ "id": "viewer", "name": "Viewer", "permissions": ["FLOW:READ", "ROLE:READ"] }))
            .errors(&[409])
            .ok(201, "The role.", Some(schema_ref("Role"))),
        op("get", "/{tenant}/roles/{id}", "getRole", "roles", "Read a role (ROLE:READ)")
            .params(&["roleId"])
            .ok(200, "The role.", Some(schema_ref("Role"))),
        op("patch", "/{tenant}/roles/{id}", "updateRole", "roles", "Change a role (ROLE:UPDATE)")
            .describe(
                "Built-in roles cannot be changed (409). No escalation: the caller must hold the permissions \
                 added, tenant-wide (403).",
            )
            .params(&["roleId"])
            .body("UpdateRole", json!({ "permissions": ["FLOW:READ", "FLOW:UPDATE"] }))
            .errors(&[409])
            .ok(200, "The role.", Some(schema_ref("Role"))),
        op("delete", "/{tenant}/roles/{id}", "deleteRole", "roles", "Delete a role (ROLE:DELETE)")
            .describe("Built-in roles and roles still bound cannot be deleted (409).")
            .params(&["roleId"])
            .errors(&[409])
            .ok(204, "Deleted.", None),
        // bindings.rs
        op("get", "/{tenant}/bindings", "listBindings", "bindings", "List bindings (BINDING:READ)")
            .describe("Filter by principal (give both `principal_kind` and `principal_id`) and by role.")
            .query(&["bindingPrincipalKind", "bindingPrincipalId", "bindingRoleId", "after", "limit"])
            .errors(&[422])
            .ok(200, "A page of bindings.", Some(schema_ref("BindingList"))),
        op("post", "/{tenant}/bindings", "createBinding", "bindings", "Bind a role to a principal (BINDING:CREATE)")
            .describe(
                "Tenant-wide when `namespaces` is empty or absent. No escalation: the caller must hold the role's \
                 permissions in every namespace bound, or tenant-wide (403). An unknown role or principal: 422.",
            )
            .body(
                "NewBinding",
                json!({
                    "role_id": "viewer",
                    "principal_kind": "group",
                    "principal_id": "ops",
                    "namespaces": ["prod.engineering"],
                }),
            )
            .errors(&[409])
            .ok(201, "The binding.", Some(schema_ref("Binding"))),
        op("get", "/{tenant}/bindings/{id}", "getBinding", "bindings", "Read a binding (BINDING:READ)")
            .params(&["bindingId"])
            .ok(200, "The binding.", Some(schema_ref("Binding"))),
        op("delete", "/{tenant}/bindings/{id}", "deleteBinding", "bindings", "Delete a binding (BINDING:DELETE)")
            .params(&["bindingId"])
            .ok(204, "Deleted.", None),
        // service_accounts.rs
        op("get", "/{tenant}/service-accounts", "listServiceAccounts", "service-accounts", "List service accounts (USER:READ)")
            .query(&page)
            .errors(&[422])
            .ok(200, "A page of service accounts.", Some(schema_ref("ServiceAccountList"))),
        op("post", "/{tenant}/service-accounts", "createServiceAccount", "service-accounts", "Create a service account (USER:CREATE)")
            .body(
                "NewServiceAccount",
                json!({
                    "id": "ci-bot",
                    "name": "CI",
                    "description": "Deploys from CI",
                    "audiences": ["https://flows.example.com"],
                }),
            )
            .errors(&[409])
            .ok(201, "The service account.", Some(schema_ref("ServiceAccount"))),
        op("get", "/{tenant}/service-accounts/{id}", "getServiceAccount", "service-accounts", "Read a service account and its groups (USER:READ)")
            .describe("An account homed in another tenant and invited here: 409.")
            .params(&["serviceAccountId"])
            .errors(&[409])
            .ok(200, "The service account.", Some(schema_ref("ServiceAccountDetail"))),
        op("patch", "/{tenant}/service-accounts/{id}", "updateServiceAccount", "service-accounts", "Change a service account (USER:UPDATE)")
            .describe("An account homed in another tenant cannot be changed here (409).")
            .params(&["serviceAccountId"])
            .body("UpdateServiceAccount", json!({ "description": "Deploys to production" }))
            .errors(&[409])
            .ok(200, "The service account.", Some(schema_ref("ServiceAccount"))),
        op("delete", "/{tenant}/service-accounts/{id}", "deleteServiceAccount", "service-accounts", "Delete a service account (USER:DELETE)")
            .describe("Also deletes its access, memberships and bindings in every tenant. An account homed in another tenant: 409.")
            .params(&["serviceAccountId"])
            .errors(&[409])
            .ok(204, "Deleted.", None),
        // api_tokens.rs
        op("get", "/{tenant}/service-accounts/{id}/tokens", "listApiTokens", "service-accounts", "List a service account's API tokens (USER:READ)")
            .describe(
                "Every token, revoked and expired ones included, newest first; never a token itself. An account \
                 homed in another tenant and invited here: 409 (its tokens are managed in its home tenant).",
            )
            .params(&["serviceAccountId"])
            .errors(&[409])
            .ok(200, "The tokens.", Some(schema_ref("ApiTokenList"))),
        op("post", "/{tenant}/service-accounts/{id}/tokens", "createApiToken", "service-accounts", "Create an API token (USER:CREATE)")
            .describe(
                "The token is in this answer only (`token`, sent with `Cache-Control: no-store`); Tessera keeps its \
                 SHA-256. Without `expires_at` or `expires_in` it does not expire. No escalation: the caller must \
                 hold everything the account holds, where it holds it, and only an Instance Admin issues for an \
                 Instance Admin account (403). An account homed in another tenant: 409.",
            )
            .params(&["serviceAccountId"])
            .body("NewApiToken", json!({ "name": "deploy", "expires_in": 7_776_000 }))
            .errors(&[409])
            .ok_once(201, "The token, shown once.", schema_ref("IssuedApiToken")),
        op("get", "/{tenant}/service-accounts/{id}/tokens/{token_id}", "getApiToken", "service-accounts", "Read an API token (USER:READ)")
            .params(&["serviceAccountId", "tokenId"])
            .ok(200, "The token's metadata.", Some(schema_ref("ApiToken"))),
        op("delete", "/{tenant}/service-accounts/{id}/tokens/{token_id}", "revokeApiToken", "service-accounts", "Revoke an API token (USER:DELETE)")
            .describe(
                "The token stops working at once and stays listed with the status `revoked`; revoking it again \
                 changes nothing (its first revocation time stays).",
            )
            .params(&["serviceAccountId", "tokenId"])
            .ok(204, "Revoked.", None),
        op(
            "post",
            "/{tenant}/service-accounts/{id}/tokens/{token_id}/rotate",
            "rotateApiToken",
            "service-accounts",
            "Rotate an API token (USER:CREATE)",
        )
        .describe(
            "Creates the successor, with the old token's name, shown once in this answer (`token`, sent with \
             `Cache-Control: no-store`); the old token keeps working for `overlap_seconds` (0: revoked now), so \
             that a deployment can switch without an outage. Without `expires_at` or `expires_in` the successor \
             gets the old token's lifetime from now (none if it had none). A revoked or expired token: 409. No \
             escalation, as for creating a token (403). The body is required; `{}` takes every default.",
        )
        .params(&["serviceAccountId", "tokenId"])
        .body("ApiTokenRotation", json!({ "overlap_seconds": 3600 }))
        .errors(&[409])
        .ok_once(201, "The successor, shown once, and the old token as it now is.", schema_ref("RotatedApiToken")),
        // sa_clients.rs
        op(
            "get",
            "/{tenant}/service-accounts/{id}/clients",
            "listServiceAccountClients",
            "service-accounts",
            "List the OAuth clients acting as a service account (USER:READ)",
        )
        .describe("An account that is not homed in this tenant: 404.")
        .params(&["serviceAccountId"])
        .ok(200, "The clients.", Some(schema_ref("ServiceAccountClientList"))),
        op(
            "post",
            "/{tenant}/service-accounts/{id}/clients",
            "createServiceAccountClient",
            "service-accounts",
            "Create an OAuth client acting as a service account (USER:CREATE)",
        )
        .describe(
            "A confidential client for the `client_credentials` grant whose tokens carry the account's role \
             bindings. With `client_secret_basic` (the default) or `client_secret_post`, its secret is in this \
             answer only (`client_secret`, sent with `Cache-Control: no-store`), and `jwks` must be absent; with \
             `private_key_jwt` (RFC 7523), `jwks` is required and holds its public keys. No escalation: the \
             caller must hold everything the account holds, where it holds it (403). An account homed in \
             another tenant: 409.",
        )
        .params(&["serviceAccountId"])
        .body("NewServiceAccountClient", json!({ "name": "CI deployer", "audiences": ["https://flows.example.com"] }))
        .errors(&[409])
        .ok_once(201, "The client, with its secret (if any) shown once.", schema_ref("IssuedServiceAccountClient")),
        op(
            "delete",
            "/{tenant}/service-accounts/{id}/clients/{client_id}",
            "deleteServiceAccountClient",
            "service-accounts",
            "Delete a service account's OAuth client (USER:DELETE)",
        )
        .describe("Its tokens can no longer be refreshed or introspected as active.")
        .params(&["serviceAccountId", "clientId"])
        .ok(204, "Deleted.", None),
        // workload_identities.rs
        op("get", "/{tenant}/workload-identities", "listWorkloadIdentities", "workload-identities", "List workload identities (USER:READ)")
            .ok(200, "Every workload identity of the tenant, by id.", Some(schema_ref("WorkloadIdentityList"))),
        op("post", "/{tenant}/workload-identities", "createWorkloadIdentity", "workload-identities", "Trust an external issuer's workloads as a service account (USER:CREATE)")
            .describe(
                "A job holding a token of `issuer` for `audience` whose claims match every rule of `claims` may \
                 exchange it (RFC 8693) for an access token of the service account, with no stored secret. No \
                 escalation: the caller must hold everything the account holds, where it holds it (403). An \
                 unknown service account: 404; one homed in another tenant, or an id or name taken: 409.",
            )
            .body(
                "NewWorkloadIdentity",
                json!({
                    "id": "gh-deploy",
                    "name": "GitHub deploys",
                    "issuer": "https://token.actions.githubusercontent.com",
                    "audience": "https://tessera.example.com",
                    "claims": { "repository": "acme/app", "ref": "refs/heads/main" },
                    "service_account_id": "ci-bot",
                }),
            )
            .errors(&[409])
            .ok(201, "The workload identity.", Some(schema_ref("WorkloadIdentity"))),
        op("get", "/{tenant}/workload-identities/{id}", "getWorkloadIdentity", "workload-identities", "Read a workload identity (USER:READ)")
            .params(&["workloadIdentityId"])
            .ok(200, "The workload identity.", Some(schema_ref("WorkloadIdentity"))),
        op("delete", "/{tenant}/workload-identities/{id}", "deleteWorkloadIdentity", "workload-identities", "Delete a workload identity (USER:DELETE)")
            .describe("Tokens of the issuer are no longer exchanged for the account's; tokens issued before stay valid until they expire.")
            .params(&["workloadIdentityId"])
            .ok(204, "Deleted.", None),
        // identity_providers.rs
        op("get", "/{tenant}/identity-providers", "listIdentityProviders", "identity-providers", "List a tenant's identity providers (Tenant Admin)")
            .ok(200, "Every identity provider of the tenant, by id.", Some(schema_ref("IdentityProviderList"))),
        op("post", "/{tenant}/identity-providers", "createIdentityProvider", "identity-providers", "Connect an upstream OpenID provider (Tenant Admin)")
            .describe(IDP_CREATE)
            .body("NewIdentityProvider", idp_example())
            .errors(&[409])
            .ok(201, "The identity provider.", Some(schema_ref("IdentityProvider"))),
        op("get", "/{tenant}/identity-providers/{id}", "getIdentityProvider", "identity-providers", "Read an identity provider (Tenant Admin)")
            .params(&["identityProviderId"])
            .ok(200, "The identity provider.", Some(schema_ref("IdentityProvider"))),
        op("put", "/{tenant}/identity-providers/{id}", "replaceIdentityProvider", "identity-providers", "Replace an identity provider (Tenant Admin)")
            .describe(IDP_REPLACE)
            .params(&["identityProviderId"])
            .body("NewIdentityProvider", idp_example())
            .ok(200, "The identity provider.", Some(schema_ref("IdentityProvider"))),
        op("delete", "/{tenant}/identity-providers/{id}", "deleteIdentityProvider", "identity-providers", "Delete an identity provider (Tenant Admin)")
            .describe("Its button leaves the login page and the links of its users go; the users stay.")
            .params(&["identityProviderId"])
            .ok(204, "Deleted.", None),
        op("get", "/identity-providers", "listInstanceIdentityProviders", "identity-providers", "List the instance-wide identity providers (Instance Admin)")
            .ok(200, "Every instance-wide identity provider, by id.", Some(schema_ref("IdentityProviderList"))),
        op("post", "/identity-providers", "createInstanceIdentityProvider", "identity-providers", "Connect an instance-wide upstream OpenID provider (Instance Admin)")
            .describe(IDP_CREATE)
            .body("NewIdentityProvider", idp_example())
            .errors(&[409])
            .ok(201, "The identity provider.", Some(schema_ref("IdentityProvider"))),
        op("get", "/identity-providers/{id}", "getInstanceIdentityProvider", "identity-providers", "Read an instance-wide identity provider (Instance Admin)")
            .params(&["identityProviderId"])
            .errors(&[404])
            .ok(200, "The identity provider.", Some(schema_ref("IdentityProvider"))),
        op("put", "/identity-providers/{id}", "replaceInstanceIdentityProvider", "identity-providers", "Replace an instance-wide identity provider (Instance Admin)")
            .describe(IDP_REPLACE)
            .params(&["identityProviderId"])
            .body("NewIdentityProvider", idp_example())
            .errors(&[404])
            .ok(200, "The identity provider.", Some(schema_ref("IdentityProvider"))),
        op("delete", "/identity-providers/{id}", "deleteInstanceIdentityProvider", "identity-providers", "Delete an instance-wide identity provider (Instance Admin)")
            .params(&["identityProviderId"])
            .errors(&[404])
            .ok(204, "Deleted.", None),
    ]
}

const IDP_CREATE: &str = "Register `redirect_uri` (`{issuer}/login/federated/callback`) at the provider, and \
    `post_logout_redirect_uri` for logout. The client secret is sealed at rest and never returned. Rules a schema \
    cannot state answer 422 naming the field: an issuer that is not https (http only on loopback), no secret \
    without `private_key_jwt`, a mapped group or a `home_tenant` that does not exist, an instance-wide provider \
    creating users without `home_tenant`. An id taken: 409. See docs/FEDERATION.md.";

const IDP_REPLACE: &str = "Replaces every field; without `client_secret`, the stored secret is kept. The same \
    rules as creating.";

fn idp_example() -> Value {
    json!({
        "id": "okta",
        "name": "Acme Okta",
        "issuer": "https://acme.okta.example",
        "client_id": "0oa1abc",
        "client_secret": "example-secret",
        "scopes": ["openid", "profile", "email", "groups"],
        "email_domains": ["acme.example"],
        "group_mappings": [{ "upstream": "Ops", "group": "ops" }],
    })
}

/// The description of attaching a member from its own side.
const MEMBER_SIDE_ADD: &str = "The same as adding the member from the group (`POST /{tenant}/groups/{id}/members`), \
    with the same rule: no escalation, the caller must hold everything the group's bindings grant (403). \
    Idempotent: 201 when attached, 204 when it was a member already. One homed in another tenant is invited to \
    this one. An unknown group or member: 404.";

// --- Parameters -------------------------------------------------------------------------------

fn path_param(name: &str, description: &str, schema: Value, example: &str) -> Value {
    json!({
        "name": name,
        "in": "path",
        "required": true,
        "description": description,
        "schema": schema,
        "example": example,
    })
}

/// Free text in a query: anything but NUL, which the API refuses with 400 (no stored text can
/// hold it).
const NO_NUL: &str = "^[^\\u0000]*$";

fn query_param(name: &str, description: &str, mut schema: Value) -> Value {
    if schema["type"] == "string" && schema.get("pattern").is_none() {
        schema["pattern"] = NO_NUL.into();
    }
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

/// An id in a path: the `check_id` form, less what a client cannot put in a path segment and
/// what another route of the same shape answers instead (a static segment wins over a
/// parameter).
fn path_id(also_not: &[&str]) -> Value {
    let mut not: Vec<&str> = DOT_SEGMENTS.to_vec();
    not.extend_from_slice(also_not);
    json!({ "type": "string", "pattern": ID, "not": { "enum": not } })
}

fn parameters() -> Value {
    let tenant_id = path_id(&RESERVED_TENANT_IDS);
    json!({
        "tenant": path_param("tenant", "The tenant's id.", tenant_id.clone(), "acme"),
        "tenantId": path_param("id", "The tenant's id.", tenant_id, "globex"),
        "instanceAdminKind": path_param("kind", "The principal's kind.", schema_ref("MemberKind"), "user"),
        "instanceAdminId": path_param("id", "The principal's id.", path_id(&[]), "Zq3x9Kp2LmN4"),
        "userId": path_param(
            "id",
            "The user's id.",
            path_id(&["lookup", "password-change-requests"]),
            "Zq3x9Kp2LmN4",
        ),
        "groupId": path_param("id", "The group's id.", path_id(&[]), "ops"),
        "memberKind": path_param("kind", "The member's kind.", schema_ref("MemberKind"), "user"),
        "memberId": path_param("member", "The member's id.", path_id(&[]), "Zq3x9Kp2LmN4"),
        "roleId": path_param("id", "The role's id.", path_id(&[]), "viewer"),
        "bindingId": path_param("id", "The binding's id.", path_id(&[]), "b7Tq2Lx9Wm4K"),
        "serviceAccountId": path_param("id", "The service account's id.", path_id(&[]), "ci-bot"),
        "memberGroupId": path_param("group_id", "The group's id.", path_id(&[]), "ops"),
        "tokenId": path_param("token_id", "The token's id.", path_id(&[]), "tok_Hq3x9Kp2LmN4"),
        "clientId": path_param("client_id", "The client's id.", path_id(&[]), "sac_Vb8nR2xq5TzLw7Kd"),
        "workloadIdentityId": path_param("id", "The workload identity's id.", path_id(&[]), "gh-deploy"),
        "identityProviderId": path_param("id", "The identity provider's id.", path_id(&[]), "okta"),
        "after": query_param("after", "Return the items after this id (a page's `next`).", json!({ "type": "string" })),
        "limit": query_param(
            "limit",
            "At most this many items (default 50).",
            json!({ "type": "integer", "minimum": 1, "maximum": 200 }),
        ),
        "q": query_param(
            "q",
            "Case-insensitive substring search (of names, and of usernames and emails for users).",
            json!({ "type": "string" }),
        ),
        "auditActor": query_param("actor", "Entries of this actor (`user:{id}` or `service_account:{id}`).", json!({ "type": "string" })),
        "auditTarget": query_param("target", "Entries about this target, e.g. `group:ops`.", json!({ "type": "string" })),
        "auditAction": query_param("action", "Entries of this action, e.g. `group.create`.", json!({ "type": "string" })),
        "auditFrom": query_param("from", "Entries at or after this time (Unix seconds).", int64()),
        "auditTo": query_param("to", "Entries at or before this time (Unix seconds).", int64()),
        "auditAfter": query_param("after", "Entries after this sequence number (a page's `next`).", int64()),
        "lookupEmail": {
            "name": "email",
            "in": "query",
            "required": true,
            "description": "The exact email address (422 without an '@').",
            "schema": { "type": "string", "pattern": "^[^\\u0000]*@[^\\u0000]*$" },
            "example": "carol@example.com",
        },
        "memberAfterKind": query_param(
            "after_kind",
            "With `after`: return the members after this (kind, id).",
            schema_ref("MemberKind"),
        ),
        "bindingPrincipalKind": query_param("principal_kind", "With `principal_id`: bindings of this principal.", schema_ref("PrincipalKind")),
        "bindingPrincipalId": query_param("principal_id", "With `principal_kind`: bindings of this principal.", json!({ "type": "string" })),
        "bindingRoleId": query_param("role_id", "Bindings of this role.", json!({ "type": "string" })),
    })
}

fn int64() -> Value {
    json!({ "type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX })
}

// --- Responses --------------------------------------------------------------------------------

fn problem_responses() -> Value {
    let problem = |description: &str| {
        json!({
            "description": description,
            "content": { "application/problem+json": { "schema": schema_ref("Problem") } },
        })
    };
    let mut unauthorized = problem("No credentials, or wrong ones.");
    unauthorized["headers"] = json!({
        "WWW-Authenticate": {
            "description": "The accepted schemes: `Bearer realm=\"tessera\", Basic realm=\"tessera\"`.",
            "schema": { "type": "string" },
        },
    });
    json!({
        "BadRequest": problem("The body is not valid JSON, or a query parameter is unknown or has the wrong type."),
        "Unauthorized": unauthorized,
        "Forbidden": problem(
            "The caller lacks a permission (named in `detail`), or the token's subject is not an enabled user.",
        ),
        "NotFound": problem("No such resource, or no access to the tenant."),
        "Conflict": problem("The request conflicts with the current state, e.g. the id or name is taken."),
        "UnsupportedMediaType": problem("The body is not sent as `application/json`."),
        "UnprocessableContent": problem("A field has a wrong value: `errors` names it."),
    })
}

// --- Schemas ----------------------------------------------------------------------------------

fn nullable(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "null" }] })
}

/// A request body: exactly these properties (`deny_unknown_fields`).
fn body(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": required, "properties": properties })
}

/// A response object: every property listed is always present.
fn object(properties: Value) -> Value {
    let required: Vec<&String> = properties.as_object().expect("object").keys().collect();
    json!({ "type": "object", "required": required, "properties": properties })
}

fn list(item: &str, next: Value) -> Value {
    object(json!({ "items": { "type": "array", "items": schema_ref(item) }, "next": next }))
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn string_or_null() -> Value {
    json!({ "type": ["string", "null"] })
}

fn timestamp() -> Value {
    json!({ "type": "integer", "description": "Unix seconds." })
}

fn permission_pattern() -> String {
    let perms: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    format!("^({}):({})$", perms.join("|"), actions.join("|"))
}

/// The identity providers' schemas, added to [`schemas`] (one `json!` that size would pass the
/// macro recursion limit).
fn with_identity_providers(mut all: Value) -> Value {
    let claims = json!({
        "type": "object",
        "additionalProperties": false,
        "description": "Which upstream claims fill the user (defaults: sub, preferred_username, email, name, groups).",
        "properties": {
            "subject": text(100, "The stable subject claim."),
            "username": text(100, "The username claim."),
            "email": text(100, "The email claim."),
            "name": text(100, "The display-name claim."),
            "groups": text(100, "The groups claim (an array of strings, or one string)."),
        },
    });
    let mapping = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["upstream", "group"],
        "properties": {
            "upstream": text(500, "The upstream group value (exact)."),
            "tenant": nullable(schema_ref("Id")),
            "group": schema_ref("Id"),
        },
    });
    let mut props = json!({
        "id": {
            "anyOf": [schema_ref("Id"), { "type": "null" }],
            "description": "Required when creating (it appears in `idp_hint`); in a replacement, the path's id if given.",
        },
        "name": schema_ref("Name"),
        "issuer": text(500, "The provider's issuer, exactly as the `iss` of its ID tokens: an https URL without query \
            or fragment (http only on a loopback address). Its discovery document gives the endpoints and keys."),
        "client_id": text(255, "Tessera's client id at the provider."),
        "client_secret": nullable(text(1000, "Tessera's client secret at the provider: write-only, sealed at rest. \
            Required unless `auth_method` is `private_key_jwt`; absent in a replacement, the stored one is kept.")),
        "auth_method": {
            "type": "string",
            "enum": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "description": "How Tessera authenticates at the token endpoint; `private_key_jwt` signs with \
                Tessera's RS256 key (register `{issuer}/jwks` at the provider). Default `client_secret_basic`.",
        },
        "scopes": nullable(json!({
            "type": "array",
            "maxItems": 20,
            "items": { "type": "string", "pattern": "^[!#-\\[\\]-~]{1,100}$" },
            "description": "Scopes to request; `openid` is added if missing. Default: openid profile email.",
        })),
    });
    let more = json!({
        "claims": claims,
        "email_domains": {
            "type": "array",
            "maxItems": 50,
            "items": { "type": "string", "maxLength": 253 },
            "description": "Domains of this provider: home-realm discovery, and when not empty the only ones allowed.",
        },
        "link": {
            "type": "string",
            "enum": ["never", "verified_email"],
            "description": "Whether a first sign-in may link an existing user with the same verified email. Default never.",
        },
        "jit": nullable(json!({ "type": "boolean", "description": "Create users at their first sign-in. Default true." })),
        "home_tenant": nullable(schema_ref("Id")),
        "group_mappings": { "type": "array", "maxItems": 100, "items": mapping },
        "end_session": nullable(json!({ "type": "boolean", "description": "End the upstream session at logout. Default true." })),
        "enabled": nullable(json!({ "type": "boolean", "description": "Offered on the login page. Default true." })),
    });
    props.as_object_mut().expect("object").extend(more.as_object().expect("object").clone());
    let provider = json!({
        "id": string(),
        "tenant": { "type": "string", "description": "The tenant, or `*` for an instance-wide provider." },
        "name": string(),
        "issuer": string(),
        "client_id": string(),
        "client_secret_set": { "type": "boolean" },
        "auth_method": string(),
        "scopes": { "type": "array", "items": string() },
        "claims": { "type": "object" },
        "email_domains": { "type": "array", "items": string() },
    });
    let provider_more = json!({
        "link": string(),
        "jit": { "type": "boolean" },
        "home_tenant": string_or_null(),
        "group_mappings": { "type": "array", "items": { "type": "object" } },
        "end_session": { "type": "boolean" },
        "enabled": { "type": "boolean" },
        "redirect_uri": string(),
        "post_logout_redirect_uri": string(),
        "created_at": timestamp(),
        "updated_at": timestamp(),
    });
    let mut provider = provider;
    provider.as_object_mut().expect("object").extend(provider_more.as_object().expect("object").clone());
    let map = all.as_object_mut().expect("schemas");
    map.insert("NewIdentityProvider".into(), body(&["name", "issuer", "client_id"], props));
    map.insert("IdentityProvider".into(), object(provider));
    map.insert(
        "IdentityProviderList".into(),
        object(json!({ "items": { "type": "array", "items": schema_ref("IdentityProvider") } })),
    );
    all
}

fn schemas() -> Value {
    let id = json!({
        "type": "string",
        "pattern": ID,
        "description": "1 to 64 letters, digits, '_', '.' or '-'.",
    });
    let name = json!({
        "type": "string",
        "pattern": format!("^[{SPACE}]*[^{SPACE}{CONTROL}]([^{CONTROL}]{{0,198}}[^{SPACE}{CONTROL}])?[{SPACE}]*$"),
        "description": "1 to 200 characters once leading and trailing white space is trimmed (it is), without \
            control characters.",
        "examples": ["Ops"],
    });
    let description = json!({
        "type": "string",
        "maxLength": 2000,
        "pattern": r"^[^\u0000-\u0009\u000b-\u001f\u007f-\u009f]*$",
        "description": "At most 2000 characters, without control characters but line feeds.",
    });
    let username = json!({
        "type": "string",
        "pattern": format!("^[{SPACE}]*[^{SPACE}{CONTROL}]{{1,128}}[{SPACE}]*$"),
        "description": "1 to 128 characters once leading and trailing white space is trimmed (it is), valid \
            under RFC 8265's UsernameCaseMapped profile (letters and digits of any script and printable ASCII; \
            no invisible, control, space, compatibility or non-ASCII symbol characters: 422 naming the code \
            point). Unique in its canonical form (case, width and composition ignored): a variant of a taken \
            name is 409.",
    });
    let email = json!({
        "type": "string",
        "maxLength": 254,
        "pattern": format!("^[^{SPACE}]*@[^{SPACE}]*$"),
        "description": "An address with an '@' and no white space, of at most 254 bytes.",
    });
    let namespace = json!({
        "type": "string",
        "maxLength": MAX_NAMESPACE_LEN,
        "pattern": r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        "description": "Dot-separated segments of letters, digits, '_' and '-'; a binding on `prod` covers \
            `prod.engineering`.",
        "examples": ["prod.engineering"],
    });
    let permission = json!({
        "type": "string",
        "pattern": permission_pattern(),
        "description": "`PERMISSION:ACTION` from the fixed catalogue.",
        "examples": ["FLOW:READ"],
    });
    let id_name = object(json!({ "id": string(), "name": string() }));
    let common = json!({
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": { "type": "string", "const": "about:blank" },
                "title": { "type": "string", "description": "The status's reason phrase." },
                "status": { "type": "integer", "minimum": 400, "maximum": 599 },
                "detail": { "type": "string" },
                "errors": {
                    "type": "array",
                    "description": "For 422: the wrong fields.",
                    "items": object(json!({
                        "field": { "type": "string", "description": "The field or parameter, e.g. `namespaces/0`." },
                        "message": string(),
                    })),
                },
            },
        },
        "Id": id.clone(),
        "Name": name.clone(),
        "Description": description.clone(),
        "Namespace": namespace,
        "Permission": permission,
        "MemberKind": { "type": "string", "enum": ["user", "service_account"] },
        "Audiences": {
            "type": "array",
            "maxItems": 20,
            "uniqueItems": true,
            "items": {
                "type": "string",
                "pattern": "^[!-~]{1,500}$",
                "description": "1 to 500 visible ASCII characters: an absolute URI or a logical name.",
            },
            "description": "At most 20 distinct audiences.",
            "examples": [["https://flows.example.com"]],
        },
        "PrincipalKind": { "type": "string", "enum": ["user", "service_account", "group"] },
    });
    let requests = json!({
        "NewTenant": body(&["id", "name"], json!({
            "id": {
                "allOf": [schema_ref("Id")],
                "not": { "enum": RESERVED_TENANT_IDS },
                "description": "The tenant's id, used in paths; reserved: the API's own first path segments.",
            },
            "name": schema_ref("Name"),
        })),
        "RenameTenant": body(&["name"], json!({ "name": schema_ref("Name") })),
        "NewInstanceAdmin": body(&["kind", "id"], json!({
            "kind": schema_ref("MemberKind"),
            "id": { "type": "string", "description": "The principal's id (404 if it does not exist)." },
        })),
        "NewUser": body(&["username"], json!({
            "username": username,
            "email": nullable(email),
            "name": nullable(schema_ref("Name")),
        })),
        "UpdateUser": body(&[], json!({
            "name": nullable(schema_ref("Name")),
            "disabled": { "type": ["boolean", "null"], "description": "Instance Admins only." },
            "email": { "type": "null", "description": "Admins cannot change emails: any other value is a 422." },
            "password": { "type": "null", "description": "Admins cannot set passwords: any other value is a 422." },
        })),
        "PasswordChangeRequests": body(&["user_ids"], json!({
            "user_ids": { "type": "array", "minItems": 1, "maxItems": 1000, "items": string() },
        })),
        "NewGroup": body(&["name"], json!({
            "id": nullable(schema_ref("Id")),
            "name": schema_ref("Name"),
            "description": nullable(schema_ref("Description")),
        })),
        "UpdateGroup": body(&[], json!({
            "name": nullable(schema_ref("Name")),
            "description": nullable(schema_ref("Description")),
        })),
        "NewGroupMember": body(&["kind", "id"], json!({
            "kind": schema_ref("MemberKind"),
            "id": { "type": "string", "description": "The user's or service account's id (404 if it does not exist)." },
        })),
        "NewRole": body(&["name", "permissions"], json!({
            "id": nullable(schema_ref("Id")),
            "name": schema_ref("Name"),
            "description": nullable(schema_ref("Description")),
            "permissions": { "type": "array", "items": schema_ref("Permission") },
        })),
        "UpdateRole": body(&[], json!({
            "name": nullable(schema_ref("Name")),
            "description": nullable(schema_ref("Description")),
            "permissions": nullable(json!({ "type": "array", "items": schema_ref("Permission") })),
        })),
        "NewBinding": body(&["role_id", "principal_kind", "principal_id"], json!({
            "role_id": { "type": "string", "description": "A role of the tenant (422 otherwise)." },
            "principal_kind": schema_ref("PrincipalKind"),
            "principal_id": { "type": "string", "description": "An existing principal (422 otherwise)." },
            "namespaces": {
                "type": "array",
                "maxItems": 100,
                "items": schema_ref("Namespace"),
                "description": "Empty or absent: the whole tenant.",
            },
        })),
        "NewServiceAccount": body(&["name"], json!({
            "id": nullable(schema_ref("Id")),
            "name": schema_ref("Name"),
            "description": nullable(schema_ref("Description")),
            "audiences": {
                "allOf": [schema_ref("Audiences")],
                "description": "The audiences its tokens may be for; absent: none (its clients then default to \
                    the admin API).",
            },
        })),
        "UpdateServiceAccount": body(&[], json!({
            "name": nullable(schema_ref("Name")),
            "description": nullable(schema_ref("Description")),
            "audiences": nullable(schema_ref("Audiences")),
        })),
        "NewApiToken": expiring(body(&["name"], json!({
            "name": schema_ref("Name"),
            "expires_at": nullable(expires_at()),
            "expires_in": nullable(expires_in()),
        }))),
        "ApiTokenRotation": expiring(body(&[], json!({
            "overlap_seconds": nullable(json!({
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_OVERLAP_SECS,
                "description": "How long the old token keeps working, in seconds (default 86400, one day; at \
                    most 30 days; 0 revokes it now).",
            })),
            "expires_at": nullable(expires_at()),
            "expires_in": nullable(expires_in()),
        }))),
        "NewServiceAccountClient": body(&[], json!({
            "name": {
                "anyOf": [schema_ref("Name"), { "type": "null" }],
                "description": "Default: `{id} client`.",
            },
            "auth_method": {
                "anyOf": [
                    { "type": "string", "enum": ["client_secret_basic", "client_secret_post", "private_key_jwt"] },
                    { "type": "null" },
                ],
                "description": "How the client authenticates at the token endpoint (default `client_secret_basic`).",
            },
            "jwks": {
                "anyOf": [
                    {
                        "type": "object",
                        "required": ["keys"],
                        "properties": {
                            "keys": {
                                "type": "array",
                                "minItems": 1,
                                "items": { "type": "object", "required": ["kty"] },
                            },
                        },
                    },
                    { "type": "null" },
                ],
                "description": "Required with `private_key_jwt`, refused otherwise: a JWK Set of public EC P-256 \
                    or P-384, Ed25519 or RSA keys (no private members such as `d`), each with a `kid` when there \
                    are several.",
            },
            "audiences": {
                "anyOf": [schema_ref("Audiences"), { "type": "null" }],
                "description": "The audiences its tokens may have, the first being the default. Absent or empty: \
                    the account's audiences, else the admin API (`{issuer}/api`).",
            },
            "access_token_alg": {
                "anyOf": [{ "type": "string", "enum": ["ES256", "RS256", "EdDSA"] }, { "type": "null" }],
                "description": "The signing algorithm of its access tokens (default: the instance's).",
            },
        })),
        "NewWorkloadIdentity": body(&["name", "issuer", "audience", "claims", "service_account_id"], json!({
            "id": nullable(schema_ref("Id")),
            "name": schema_ref("Name"),
            "issuer": text(500, "The issuer, exactly as the `iss` of its tokens: an absolute URL, https (http \
                only on a loopback address) unless `jwks_uri` is given."),
            "jwks_uri": {
                "anyOf": [{ "type": "string" }, { "type": "null" }],
                "description": "Where the issuer's keys are: an https URL (http only on a loopback address). \
                    Absent: found through `{issuer}/.well-known/openid-configuration`.",
            },
            "audience": text(500, "The `aud` its tokens must carry for Tessera."),
            "claims": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 20,
                "propertyNames": {
                    "minLength": 1,
                    "maxLength": 100,
                    "pattern": format!("^[^{CONTROL}]*$"),
                    "not": { "enum": ["iss", "aud", "exp", "nbf", "iat"] },
                },
                "additionalProperties": text(500, "A pattern: `*` matches any run of characters."),
                "description": "1 to 20 rules, claim name (at most 100 bytes; not `iss`, `aud`, `exp`, `nbf`, \
                    `iat`, which are checked already) to pattern; a token must match them all.",
                "examples": [{ "repository": "acme/app", "ref": "refs/heads/main" }],
            },
            "service_account_id": {
                "allOf": [schema_ref("Id")],
                "description": "The service account of this tenant the tokens are exchanged for.",
            },
        })),
    });
    let responses = json!({
        "Me": object(json!({
            "kind": schema_ref("MemberKind"),
            "id": string(),
            "name": { "type": "string", "description": "The username." },
            "instance_admin": { "type": "boolean" },
            "tenants": { "type": "array", "items": string(), "description": "The tenants the caller has access to." },
        })),
        "Tenant": object(json!({
            "id": string(),
            "name": string(),
            "created_at": timestamp(),
            "created_by": string_or_null(),
        })),
        "TenantList": list("Tenant", string_or_null()),
        "InstanceAdmin": object(json!({ "kind": schema_ref("MemberKind"), "id": string(), "created_at": timestamp() })),
        "InstanceAdminList": object(json!({ "items": { "type": "array", "items": schema_ref("InstanceAdmin") } })),
        "AuditEntry": object(json!({
            "seq": { "type": "integer", "description": "1, 2, 3, ... across the instance." },
            "id": string(),
            "at": timestamp(),
            "actor": string(),
            "action": string(),
            "target": string(),
            "summary": { "description": "What changed (any JSON)." },
            "request_id": string_or_null(),
            "client_addr": string_or_null(),
            "hash": string(),
        })),
        "AuditEntryList": list("AuditEntry", json!({ "type": ["integer", "null"] })),
        "User": object(user_properties()),
        "UserDetail": object({
            let mut p = user_properties();
            p["groups"] = json!({ "type": "array", "items": id_name.clone(), "description": "Its groups in the tenant." });
            p
        }),
        "UserList": list("User", string_or_null()),
        "UserLookup": object(json!({
            "id": string(),
            "username": string(),
            "email": string(),
            "name": string_or_null(),
        })),
        "Requested": object(json!({ "requested": { "type": "integer", "minimum": 0 } })),
        "Group": object(json!({
            "id": string(),
            "name": string(),
            "description": string_or_null(),
            "created_at": timestamp(),
        })),
        "GroupList": list("Group", string_or_null()),
        "GroupMember": object(json!({ "kind": schema_ref("MemberKind"), "id": string(), "created_at": timestamp() })),
        "GroupMemberList": list(
            "GroupMember",
            nullable(object(json!({ "after_kind": schema_ref("MemberKind"), "after": string() }))),
        ),
        "Role": object(json!({
            "id": string(),
            "name": string(),
            "description": string_or_null(),
            "permissions": { "type": "array", "items": schema_ref("Permission") },
            "builtin": { "type": "boolean" },
            "created_at": timestamp(),
        })),
        "RoleList": list("Role", string_or_null()),
        "Binding": object(json!({
            "id": string(),
            "role_id": string(),
            "principal_kind": schema_ref("PrincipalKind"),
            "principal_id": string(),
            "namespaces": { "type": "array", "items": string() },
            "created_at": timestamp(),
            "created_by": string_or_null(),
        })),
        "BindingList": list("Binding", string_or_null()),
        "ServiceAccount": object(service_account_properties()),
        "ServiceAccountDetail": object({
            let mut p = service_account_properties();
            p["groups"] = json!({ "type": "array", "items": id_name, "description": "Its groups in the tenant." });
            p
        }),
        "ServiceAccountList": list("ServiceAccount", string_or_null()),
        "ApiToken": object(api_token_properties()),
        "ApiTokenList": object(json!({ "items": { "type": "array", "items": schema_ref("ApiToken") } })),
        "IssuedApiToken": object({
            let mut p = api_token_properties();
            p["token"] = secret("The token, shown this once: `tsa_` and 36 letters and digits.");
            p
        }),
        "RotatedApiToken": object({
            let mut p = api_token_properties();
            p["token"] = secret("The successor, shown this once.");
            p["replaces"] = json!({
                "allOf": [schema_ref("ApiToken")],
                "description": "The old token, with its expiry brought forward to the end of the overlap (or \
                    revoked).",
            });
            p
        }),
        "ServiceAccountClient": object(client_properties()),
        "ServiceAccountClientList": object(json!({
            "items": { "type": "array", "items": schema_ref("ServiceAccountClient") },
        })),
        // The secret is there for the secret methods only: not required.
        "IssuedServiceAccountClient": ({
            let mut v = object(client_properties());
            v["properties"]["client_secret"] =
                secret("The client secret, shown this once (absent with `private_key_jwt`).");
            v
        }),
        "WorkloadIdentity": object(json!({
            "id": string(),
            "name": string(),
            "issuer": string(),
            "jwks_uri": string_or_null(),
            "audience": string(),
            "claims": { "type": "object", "additionalProperties": string() },
            "service_account_id": string(),
            "created_at": timestamp(),
            "created_by": string_or_null(),
        })),
        "WorkloadIdentityList": object(json!({
            "items": { "type": "array", "items": schema_ref("WorkloadIdentity") },
        })),

    });
    let mut all = Map::new();
    for part in [common, requests, responses] {
        let Value::Object(m) = part else { unreachable!("an object") };
        all.extend(m);
    }
    Value::Object(all)
}

fn user_properties() -> Value {
    json!({
        "id": string(),
        "username": string(),
        "email": string_or_null(),
        "email_verified": { "type": "boolean" },
        "name": string_or_null(),
        "disabled": { "type": "boolean" },
        "password_change_required": { "type": "boolean" },
        "created_at": timestamp(),
    })
}

fn service_account_properties() -> Value {
    json!({
        "id": string(),
        "name": string(),
        "description": string_or_null(),
        "audiences": { "type": "array", "items": string(), "description": "The audiences its tokens may be for." },
        "created_at": timestamp(),
        "created_by": string_or_null(),
    })
}

/// The longest lifetime of an API token (ten years) and the longest overlap of a rotation (30
/// days), as `api_tokens.rs` checks them.
const MAX_LIFETIME_SECS: i64 = 10 * 365 * 24 * 3600;
const MAX_OVERLAP_SECS: i64 = 30 * 24 * 3600;

fn expires_at() -> Value {
    let mut v = int64();
    v["description"] = "Unix seconds after which the token stops working: at least a minute and at most 10 years \
        ahead (422 otherwise)."
        .into();
    v
}

fn expires_in() -> Value {
    json!({
        "type": "integer",
        "minimum": 60,
        "maximum": MAX_LIFETIME_SECS,
        "description": "Or: seconds from now until the token stops working (60 to 10 years).",
    })
}

/// `expires_at` and `expires_in` are alternatives: not both.
fn expiring(mut body: Value) -> Value {
    body["not"] = json!({
        "required": ["expires_at", "expires_in"],
        "properties": { "expires_at": { "type": "integer" }, "expires_in": { "type": "integer" } },
    });
    body["description"] = "Give `expires_at` or `expires_in`, not both (422).".into();
    body
}

/// Free text as `workload_identities.rs` checks it: 1 to `max` bytes of UTF-8 (the schema
/// counts characters), no control characters.
fn text(max: usize, description: &str) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": max,
        "pattern": format!("^[^{CONTROL}]*$"),
        "description": format!("{description} At most {max} bytes of UTF-8, without control characters."),
    })
}

fn secret(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

fn api_token_properties() -> Value {
    json!({
        "id": string(),
        "service_account_id": string(),
        "name": string(),
        "hint": { "type": "string", "description": "`tsa_…` and the token's last four characters." },
        "status": { "type": "string", "enum": ["active", "expired", "revoked"] },
        "created_at": timestamp(),
        "created_by": string_or_null(),
        "expires_at": { "type": ["integer", "null"], "description": "Unix seconds; null: never." },
        "last_used_at": { "type": ["integer", "null"], "description": "Unix seconds." },
        "revoked_at": { "type": ["integer", "null"], "description": "Unix seconds." },
    })
}

fn client_properties() -> Value {
    json!({
        "client_id": string(),
        "service_account_id": string(),
        "name": string(),
        "auth_method": { "type": "string", "enum": ["client_secret_basic", "client_secret_post", "private_key_jwt"] },
        "audiences": { "type": "array", "items": string(), "description": "The first is the default." },
        "access_token_alg": { "type": "string", "enum": ["ES256", "RS256", "EdDSA"] },
        "jwks": { "type": ["object", "null"], "description": "The public keys of a `private_key_jwt` client." },
        "created_at": timestamp(),
    })
}
