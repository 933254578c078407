//! `client_credentials` (RFC 6749 section 4.4): a confidential client gets a token for itself,
//! or, for a client registered on a service account, for that account, with its role
//! bindings as claims (narrowed by permission scopes, see [`crate::oauth::downscope`]).

use super::{TokenRequest, TokenResponse};
use crate::oauth::downscope;
use crate::oauth::tokens::{self, Subject, Who};
use crate::oauth::{ErrorCode, OAuthError, OAuthResult, OIDC_SCOPES, Provider, parse_scope, resolve_audience};
use crate::store::{Client, MemberKind};

pub(super) async fn issue(p: &Provider, client: &Client, req: &TokenRequest, now: i64) -> OAuthResult<TokenResponse> {
    if client.is_public() {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "public clients cannot use client_credentials"));
    }
    let requested = parse_scope(req.scope.as_deref())?;
    let (permission_scopes, api_scopes): (Vec<String>, Vec<String>) =
        requested.into_iter().partition(|s| downscope::is_permission_scope(s));
    if client.service_account_id.is_none() && !permission_scopes.is_empty() {
        return Err(OAuthError::invalid_scope("permission scopes are for service-account clients"));
    }
    let scopes = if api_scopes.is_empty() && permission_scopes.is_empty() {
        client.scopes.iter().filter(|s| !OIDC_SCOPES.contains(&s.as_str())).cloned().collect::<Vec<_>>()
    } else {
        if let Some(s) = api_scopes.iter().find(|s| OIDC_SCOPES.contains(&s.as_str()) || !client.scopes.contains(s)) {
            return Err(OAuthError::invalid_scope(format!("scope '{s}' is not allowed for this client")));
        }
        api_scopes
    };
    // RFC 8707 `resource`, or `audience` as Auth0 and others send it (a logical name allowed).
    let audience = match req.audience.as_slice() {
        [] => resolve_audience(client, &req.resource)?,
        [one] if req.resource.is_empty() || req.resource == [one.clone()] => {
            if client.allowed_audiences.contains(one) || client.default_audience.as_ref() == Some(one) {
                one.clone()
            } else {
                return Err(OAuthError::new(
                    ErrorCode::InvalidTarget,
                    "this client may not request tokens for that audience",
                ));
            }
        }
        _ => return Err(OAuthError::new(ErrorCode::InvalidTarget, "ask for one audience per token")),
    };
    let Some(account) = client.service_account_id.as_deref() else {
        let subject = Subject::for_client(p, client, Who::Client, &scopes, &audience);
        let (access_token, _) = tokens::access_token(p, &subject, now)?;
        return Ok(TokenResponse::bearer(p, access_token, &scopes));
    };
    if p.stores.service_accounts.get_service_account(&client.tenant_id, account).await?.is_none() {
        return Err(OAuthError::invalid_client());
    }
    let (access, ep) = p.access_of(&client.tenant_id, MemberKind::ServiceAccount, account).await?;
    // The permission scopes as issued name exactly what the bindings allow.
    let narrowed = downscope::narrow(&access, ep, &permission_scopes)?;
    let authz = narrowed.authz;
    let mut all_scopes = scopes;
    all_scopes.extend(narrowed.scopes);
    let subject = Subject {
        authz: Some(&authz),
        ..Subject::for_client(p, client, Who::ServiceAccount(account), &all_scopes, &audience)
    };
    let (access_token, _) = tokens::access_token(p, &subject, now)?;
    Ok(TokenResponse::bearer(p, access_token, &all_scopes))
}
