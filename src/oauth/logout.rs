//! RP-Initiated Logout 1.0: `post_logout_redirect_uri` must be registered, exactly, for the
//! client named by `id_token_hint` or `client_id`; otherwise Tessera shows its own page and
//! redirects nowhere. Without a hint that matches the session, the person confirms first
//! (a logout triggered by a third-party link must not sign people out silently).

use serde::{Deserialize, Serialize};

use super::authorize::append_query;
use super::session::Session;
use super::{OAuthError, OAuthResult, Provider};
use crate::crypto::{ct_eq, random_token};
use crate::keys::Typ;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
    pub logout_hint: Option<String>,
    pub ui_locales: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogout {
    pub redirect: Option<String>,
    pub client_name: Option<String>,
    pub csrf: String,
    /// The `sid` of the session the confirmation was asked of: only that session's browser
    /// can confirm (another's confirmation form is worthless).
    #[serde(default)]
    pub sid: String,
}

#[derive(Debug)]
pub enum LogoutStep {
    /// Ask the person to confirm; the form posts this id and token back.
    Confirm {
        id: String,
        pending: PendingLogout,
    },
    /// End the session (if any) and go here, or show the signed-out page.
    Done {
        redirect: Option<String>,
    },
    ErrorPage(OAuthError),
}

#[derive(Deserialize)]
struct HintClaims {
    sub: String,
    aud: serde_json::Value,
}

pub async fn begin(p: &Provider, params: &LogoutParams, session: Option<&Session>) -> OAuthResult<LogoutStep> {
    let page = |d: &'static str| Ok(LogoutStep::ErrorPage(OAuthError::invalid_request(d)));
    let hint = match params.id_token_hint.as_deref() {
        None => None,
        Some(t) => match p.keys.current().verify_allow_expired::<HintClaims>(t, Typ::Jwt, &p.settings.issuer) {
            Ok(c) => Some(c),
            Err(_) => return page("id_token_hint is not an ID token issued by this server"),
        },
    };
    let hint_aud: Vec<String> = match hint.as_ref().map(|h| &h.aud) {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => vec![],
    };
    let client_id = match (params.client_id.as_deref(), hint_aud.first()) {
        (Some(c), _) if !hint_aud.is_empty() && !hint_aud.iter().any(|a| a == c) => {
            return page("client_id does not match the id_token_hint");
        }
        (Some(c), _) => Some(c.to_string()),
        (None, Some(a)) => Some(a.clone()),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(id) => p.client(id).await?,
        None => None,
    };
    if client_id.is_some() && client.is_none() {
        return page("unknown client");
    }
    let redirect = match params.post_logout_redirect_uri.as_deref() {
        None => None,
        Some(uri) => {
            let Some(c) = &client else {
                return page("post_logout_redirect_uri needs id_token_hint or client_id");
            };
            if !c.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return page("post_logout_redirect_uri is not registered for this client");
            }
            let mut q = Vec::new();
            if let Some(s) = params.state.as_deref() {
                q.push(("state", s));
            }
            Some(if q.is_empty() { uri.to_string() } else { append_query(uri, &q) })
        }
    };
    let confirmed_by_hint = match (&hint, session) {
        (Some(h), Some(s)) => h.sub == s.user_id,
        _ => false,
    };
    if session.is_none() || confirmed_by_hint {
        return Ok(LogoutStep::Done { redirect });
    }
    let sid = session.map(|s| s.sid.clone()).unwrap_or_default();
    let pending = PendingLogout { redirect, client_name: client.map(|c| c.name.clone()), csrf: random_token(24), sid };
    let id = random_token(24);
    let value = serde_json::to_vec(&pending).map_err(OAuthError::server_error)?;
    p.kv.put(&format!("logoutreq:{id}"), &value, p.settings.login_request_ttl).await?;
    Ok(LogoutStep::Confirm { id, pending })
}

/// The confirmed logout: checks the form's anti-CSRF token and that it is posted by the
/// browser of the session it was asked of (`session`, the one its cookie names now), and
/// returns where to go. A confirmation posted with another session, or none, is worthless.
pub async fn confirm(
    p: &Provider,
    id: &str,
    csrf: &str,
    session: Option<&Session>,
) -> OAuthResult<Option<PendingLogout>> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let key = format!("logoutreq:{id}");
    let Some(raw) = p.kv.get(&key).await? else { return Ok(None) };
    let pending: PendingLogout = serde_json::from_slice(&raw).map_err(OAuthError::server_error)?;
    let same_session =
        session.is_some_and(|s| !pending.sid.is_empty() && ct_eq(s.sid.as_bytes(), pending.sid.as_bytes()));
    if !ct_eq(pending.csrf.as_bytes(), csrf.as_bytes()) || !same_session {
        return Ok(None);
    }
    // Once: a second post of the same form finds nothing.
    Ok(p.kv.take(&key).await?.map(|_| pending))
}
