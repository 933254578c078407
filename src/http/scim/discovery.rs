//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (RFC 7644 section 4): what this
//! server supports, minimal but valid. Static documents, served without authentication.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::{GROUP_SCHEMA, USER_SCHEMA, scim_json};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/ServiceProviderConfig", get(config))
        .route("/{tenant}/ResourceTypes", get(resource_types))
        .route("/{tenant}/Schemas", get(schemas))
}

async fn config(State(s): State<AppState>, Path(tenant): Path<String>) -> Response {
    scim_json(
        StatusCode::OK,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://github.com/tessera/tessera/blob/main/docs/SCIM.md",
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": super::MAX_COUNT },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": false },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A service account's API token, or its access token for the admin API",
                "primary": true,
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": s.provider.settings.url(&format!("/scim/v2/{tenant}/ServiceProviderConfig")),
            },
        }),
    )
}

fn list(items: Vec<Value>) -> Response {
    scim_json(
        StatusCode::OK,
        json!({
            "schemas": [super::LIST_SCHEMA],
            "totalResults": items.len(),
            "startIndex": 1,
            "itemsPerPage": items.len(),
            "Resources": items,
        }),
    )
}

async fn resource_types(State(s): State<AppState>, Path(tenant): Path<String>) -> Response {
    let rt = |id: &str, endpoint: &str, schema: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": id,
            "name": id,
            "endpoint": endpoint,
            "schema": schema,
            "meta": {
                "resourceType": "ResourceType",
                "location": s.provider.settings.url(&format!("/scim/v2/{tenant}/ResourceTypes/{id}")),
            },
        })
    };
    list(vec![rt("User", "/Users", USER_SCHEMA), rt("Group", "/Groups", GROUP_SCHEMA)])
}

fn attr(name: &str, kind: &str, multi: bool, required: bool, mutability: &str, uniqueness: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": multi,
        "required": required,
        "caseExact": false,
        "mutability": mutability,
        "returned": "default",
        "uniqueness": uniqueness,
    })
}

fn complex(name: &str, multi: bool, mutability: &str, subs: Vec<Value>) -> Value {
    let mut a = attr(name, "complex", multi, false, mutability, "none");
    a["subAttributes"] = subs.into();
    a
}

async fn schemas(State(s): State<AppState>, Path(tenant): Path<String>) -> Response {
    let rw = "readWrite";
    let schema = |id: &str, name: &str, attributes: Vec<Value>| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id,
            "name": name,
            "attributes": attributes,
            "meta": {
                "resourceType": "Schema",
                "location": s.provider.settings.url(&format!("/scim/v2/{tenant}/Schemas/{id}")),
            },
        })
    };
    let mut password = attr("password", "string", false, false, "writeOnly", "none");
    password["returned"] = "never".into();
    let user = schema(
        USER_SCHEMA,
        "User",
        vec![
            attr("userName", "string", false, true, rw, "server"),
            complex(
                "name",
                false,
                rw,
                vec![
                    attr("formatted", "string", false, false, rw, "none"),
                    attr("givenName", "string", false, false, rw, "none"),
                    attr("familyName", "string", false, false, rw, "none"),
                ],
            ),
            attr("displayName", "string", false, false, rw, "none"),
            complex(
                "emails",
                true,
                rw,
                vec![
                    attr("value", "string", false, false, rw, "none"),
                    attr("type", "string", false, false, rw, "none"),
                    attr("primary", "boolean", false, false, rw, "none"),
                ],
            ),
            attr("active", "boolean", false, false, rw, "none"),
            password,
            complex(
                "groups",
                true,
                "readOnly",
                vec![
                    attr("value", "string", false, false, "readOnly", "none"),
                    attr("display", "string", false, false, "readOnly", "none"),
                ],
            ),
        ],
    );
    let group = schema(
        GROUP_SCHEMA,
        "Group",
        vec![
            attr("displayName", "string", false, true, rw, "server"),
            complex(
                "members",
                true,
                rw,
                vec![
                    attr("value", "string", false, false, "immutable", "none"),
                    attr("type", "string", false, false, "immutable", "none"),
                ],
            ),
        ],
    );
    list(vec![user, group])
}
