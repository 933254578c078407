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
const RESERVED_TENANT_IDS: [&str; 4] = ["instance-admins", "me", "openapi.json", "tenants"];
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
                bindings, service accounts and audit log, and the Instance Admins. Every operation but this \
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
            { "name": "service-accounts", "description": "Application identities." },
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
            "schemas": schemas(),
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
                 password (422).",
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
            .body("NewServiceAccount", json!({ "id": "ci-bot", "name": "CI", "description": "Deploys from CI" }))
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
    ]
}

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
        "description": "1 to 128 bytes (of UTF-8) without white space or control characters, once leading and \
            trailing white space is trimmed (it is).",
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
        })),
        "UpdateServiceAccount": body(&[], json!({
            "name": nullable(schema_ref("Name")),
            "description": nullable(schema_ref("Description")),
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
        "created_at": timestamp(),
        "created_by": string_or_null(),
    })
}
