//! SCIM 2.0 (RFC 7643, RFC 7644) per tenant, under `/scim/v2/{tenant}`: Users and Groups,
//! which are the same objects as the admin API's, plus the discovery documents. Callers are
//! service accounts of the tenant (an API token, or an access token for the admin API's
//! audience), authorized by the access model (USER:* for Users, GROUP:* for Groups). Errors
//! are SCIM errors (`error.rs`). See `docs/SCIM.md`.

mod discovery;
mod error;
mod filter;
mod groups;
mod patch;
mod users;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::admin::{AccessError, Actor};
use crate::rbac::{Action, EffectiveAccess, Permission};
pub use error::{ScimError, ScimResult};

/// The media type of SCIM bodies.
pub const SCIM_JSON: &str = "application/scim+json";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The largest page a list returns.
const MAX_COUNT: u32 = 200;

/// SCIM, to be nested under `/scim/v2`.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(users::router())
        .merge(groups::router())
        .merge(discovery::router())
        .fallback(|| async { ScimError::not_found() })
        .layer(axum::middleware::from_fn(refuse_nul))
}

/// A percent-encoded NUL in the path or query: no stored text can hold it.
async fn refuse_nul(req: Request, next: axum::middleware::Next) -> Response {
    let uri = req.uri();
    let has_nul = |s: &str| s.to_ascii_lowercase().contains("%00");
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ScimError::value("the request must not contain the NUL character").into_response();
    }
    next.run(req).await
}

/// A SCIM response body with its media type.
pub(crate) fn scim_json(status: StatusCode, body: Value) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    res
}

/// The authenticated service account, the tenant its credential belongs to, and the request id.
pub(crate) struct ScimCaller {
    actor: Actor,
    tenant: String,
    request_id: Option<String>,
}

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ScimError> {
        let request_id = parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ScimError::unauthorized("authenticate with a service account's Bearer token"))?;
        let value = value.to_str().map_err(|_| ScimError::unauthorized("malformed Authorization header"))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(ScimError::unauthorized("use the Bearer authorization scheme")),
        };
        use crate::admin::bearer::{self, BearerError};
        let caller = bearer::authenticate(&s.provider, token).await.map_err(|e| match e {
            BearerError::Unauthorized(why) => ScimError::unauthorized(why),
            BearerError::Forbidden(why) => ScimError::forbidden(why),
            BearerError::Store(e) => e.into(),
            BearerError::Unavailable(why) => ScimError::unavailable(why),
        })?;
        // SCIM clients are provisioning systems: service accounts, never people.
        if caller.actor.kind != crate::store::MemberKind::ServiceAccount {
            return Err(ScimError::forbidden("SCIM is for service accounts: use a service account's token"));
        }
        let (actor, tenant) = (caller.actor, caller.tenant);
        Ok(ScimCaller { actor, tenant, request_id })
    }
}

/// A SCIM request in a tenant: the caller and its effective access there.
pub(crate) struct ScimCtx {
    actor: Actor,
    access: EffectiveAccess,
    request_id: Option<String>,
}

impl ScimCtx {
    /// Resolves the caller in `tenant`. A credential of another tenant, no access and no
    /// tenant are the same 404: a tenant's provisioning client cannot probe another's.
    pub async fn new(s: &AppState, caller: ScimCaller, tenant: &str) -> ScimResult<Self> {
        if caller.tenant != tenant {
            return Err(ScimError::not_found());
        }
        match crate::admin::access_in(&s.provider.stores, &caller.actor, tenant).await {
            Ok(access) => Ok(Self { actor: caller.actor, access, request_id: caller.request_id }),
            Err(AccessError::NoTenant) => Err(ScimError::not_found()),
            Err(AccessError::Store(e)) => Err(e.into()),
        }
    }

    pub fn require(&self, p: Permission, a: Action) -> ScimResult<()> {
        self.access.require(p, a).map(|_| ()).map_err(|d| ScimError::forbidden(d.to_string()))
    }

    pub fn tenant(&self) -> &str {
        self.access.tenant_id()
    }

    /// The authority rule over a user (`crate::rbac::check_authority`), before any write: a
    /// provisioning client changes only users it holds at least as much as, wherever they
    /// hold anything; never an Instance Admin, never a Tenant Admin unless it is one.
    pub async fn authority(&self, s: &AppState, user_id: &str, reach: crate::rbac::Reach<'_>) -> ScimResult<()> {
        let target = crate::admin::Target::user(user_id);
        match crate::admin::require_authority(&s.provider.stores, &self.actor, target, reach).await {
            Ok(()) => Ok(()),
            Err(crate::admin::AuthorityError::Denied(d)) => Err(ScimError::forbidden(d.to_string())),
            Err(crate::admin::AuthorityError::Store(e)) => Err(e.into()),
        }
    }

    /// No escalation for everything a group grants (the built-in `admin` role for the whole
    /// tenant needs Tenant Admin): for adding members and, its mirror, removing them or
    /// deleting the group.
    pub async fn check_group_grants(&self, s: &AppState, group: &str) -> ScimResult<()> {
        for (scope, perms, admin) in crate::admin::group_grants(&s.provider.stores, self.tenant(), group).await? {
            self.access.check_grant_role(perms, &scope, admin).map_err(|d| ScimError::forbidden(d.to_string()))?;
        }
        Ok(())
    }

    /// Records a change in the audit log, as the admin API does, marked as made through SCIM.
    pub async fn audit(&self, s: &AppState, action: &str, target: String, mut summary: Value) {
        summary["via"] = "scim".into();
        crate::http::admin::audit(s, self.tenant(), &self.actor, self.request_id.clone(), action, target, summary)
            .await;
    }
}

/// A SCIM request body: `application/scim+json` or `application/json`, a JSON object with no
/// NUL character. Anything else is a SCIM error, never axum's plain text.
pub(crate) struct ScimBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ScimError> {
        let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence != SCIM_JSON && essence != "application/json" {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "send the body as application/scim+json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|_| ScimError::syntax("the body cannot be read"))?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| ScimError::syntax("the body is not valid JSON"))?;
        if !v.is_object() {
            return Err(ScimError::syntax("send a JSON object"));
        }
        if has_nul(&v) {
            return Err(ScimError::value("the body must not contain the NUL character"));
        }
        Ok(ScimBody(v))
    }
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, x)| k.contains('\0') || has_nul(x)),
        _ => false,
    }
}

/// The query parameters of a list: `filter`, `startIndex`, `count`, `attributes`,
/// `excludedAttributes` (sorting is not supported and ignored).
pub(crate) struct ListQuery {
    pub filter: Option<filter::Comparison>,
    /// 1-based.
    pub start_index: u64,
    pub count: u32,
    pub projection: Projection,
}

/// `attributes` and `excludedAttributes`.
#[derive(Default)]
pub(crate) struct Projection {
    attributes: Vec<String>,
    excluded: Vec<String>,
}

impl Projection {
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let list = |name: &str| -> Vec<String> {
            pairs
                .iter()
                .filter(|(k, _)| k == name)
                .flat_map(|(_, v)| v.split(','))
                .map(|a| {
                    let a = a.trim();
                    let a = a.rsplit_once(':').map_or(a, |(_, rest)| rest);
                    a.split('.').next().unwrap_or("").to_ascii_lowercase()
                })
                .filter(|a| !a.is_empty())
                .collect()
        };
        Self { attributes: list("attributes"), excluded: list("excludedAttributes") }
    }

    pub fn parse(query: Option<&str>) -> ScimResult<Self> {
        Ok(Self::from_pairs(&pairs(query)?))
    }

    /// Whether the attribute is returned.
    pub fn wants(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        if matches!(name.as_str(), "id" | "schemas") {
            return true;
        }
        if !self.attributes.is_empty() {
            return self.attributes.contains(&name);
        }
        !self.excluded.contains(&name)
    }

    pub fn apply(&self, mut v: Value) -> Value {
        if let Some(o) = v.as_object_mut() {
            o.retain(|k, _| self.wants(k));
        }
        v
    }
}

fn pairs(query: Option<&str>) -> ScimResult<Vec<(String, String)>> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
        .map_err(|_| ScimError::syntax("the query string is malformed"))
}

impl ListQuery {
    pub fn parse(query: Option<&str>) -> ScimResult<Self> {
        let pairs = pairs(query)?;
        let get = |name: &str| pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let filter = match get("filter") {
            Some(f) => Some(filter::parse_filter(f).map_err(ScimError::filter)?),
            None => None,
        };
        let int = |name: &str| -> ScimResult<Option<i64>> {
            get(name)
                .map(|v| v.trim().parse::<i64>().map_err(|_| ScimError::value(format!("{name} must be an integer"))))
                .transpose()
        };
        // RFC 7644 3.4.2.4: a startIndex below 1 is 1; a negative count is 0.
        let start_index = int("startIndex")?.unwrap_or(1).max(1) as u64;
        let count = int("count")?.map_or(100, |c| c.clamp(0, i64::from(MAX_COUNT)) as u32);
        Ok(Self { filter, start_index, count, projection: Projection::from_pairs(&pairs) })
    }

    /// A ListResponse of this page.
    pub fn response(&self, total: u64, resources: Vec<Value>) -> Response {
        scim_json(
            StatusCode::OK,
            json!({
                "schemas": [LIST_SCHEMA],
                "totalResults": total,
                "startIndex": self.start_index,
                "itemsPerPage": resources.len(),
                "Resources": resources,
            }),
        )
    }
}

/// A resource's `meta`.
pub(crate) fn meta(s: &AppState, resource_type: &str, location: &str, created: i64, modified: i64) -> Value {
    json!({
        "resourceType": resource_type,
        "created": rfc3339(created),
        "lastModified": rfc3339(modified.max(created)),
        "location": s.provider.settings.url(location),
        "version": format!("W/\"{}\"", modified.max(created)),
    })
}

/// Unix seconds as an RFC 3339 UTC date-time (the civil-from-days algorithm).
pub(crate) fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// A string attribute, ignoring the case of its name: absent or null is `None`.
pub(crate) fn opt_str(o: &serde_json::Map<String, Value>, name: &str) -> ScimResult<Option<String>> {
    match filter::get_ci(o, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::value(format!("{name} must be a string"))),
    }
}

/// A boolean attribute; `"True"` and `"False"` as strings too, as Entra sends them.
pub(crate) fn opt_bool(o: &serde_json::Map<String, Value>, name: &str) -> ScimResult<Option<bool>> {
    match filter::get_ci(o, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(ScimError::value(format!("{name} must be a boolean"))),
    }
}

/// Checks the `schemas` of a resource body when present: it must list `schema`.
pub(crate) fn check_schemas(o: &serde_json::Map<String, Value>, schema: &str) -> ScimResult<()> {
    match filter::get_ci(o, "schemas") {
        None => Ok(()),
        Some(Value::Array(a)) if a.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(schema))) => Ok(()),
        Some(_) => Err(ScimError::syntax(format!("schemas must list {schema}"))),
    }
}

/// An externalId: 1 to 255 characters, no control characters.
pub(crate) fn check_external_id(v: Option<String>) -> ScimResult<Option<String>> {
    match v {
        Some(x) if x.is_empty() || x.chars().count() > 255 || x.chars().any(char::is_control) => {
            Err(ScimError::value("externalId: use 1 to 255 printable characters"))
        }
        v => Ok(v),
    }
}

/// `id` and `meta` are read-only: a body may repeat them, never change the id.
pub(crate) fn check_id(o: &serde_json::Map<String, Value>, id: &str) -> ScimResult<()> {
    match filter::get_ci(o, "id") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(x)) if x == id => Ok(()),
        Some(_) => Err(ScimError::mutability("id cannot be changed")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
