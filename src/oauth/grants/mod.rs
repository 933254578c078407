//! The token endpoint (RFC 6749 section 3.2): one file per grant type.

mod authorization_code;
mod client_credentials;
mod refresh_token;
pub mod token_exchange;

use serde::Serialize;

use super::client_auth::{self, ClientCredentials};
use super::{ErrorCode, OAuthError, OAuthResult, Provider};

/// A token request as parsed from the form body (each parameter at most once, except
/// `resource`, which RFC 8707 allows to repeat).
#[derive(Debug, Default, Clone)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub resource: Vec<String>,
    pub credentials: ClientCredentials,
    /// RFC 8693 parameters.
    pub subject_token: Option<crate::crypto::Secret>,
    pub subject_token_type: Option<String>,
    pub actor_token: Option<crate::crypto::Secret>,
    pub actor_token_type: Option<String>,
    pub requested_token_type: Option<String>,
    /// RFC 8693 `audience` (may repeat).
    pub audience: Vec<String>,
}

/// A successful token response (RFC 6749 section 5.1, OIDC Core section 3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// RFC 8693 section 2.2.1: the type of the token issued by a token exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

impl TokenResponse {
    /// An access token alone (no refresh or ID token), valid for the configured lifetime.
    pub fn bearer(p: &Provider, access_token: String, scopes: &[String]) -> Self {
        TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: p.settings.access_token_ttl.as_secs(),
            refresh_token: None,
            id_token: None,
            scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
            issued_token_type: None,
        }
    }
}

pub const AUTHORIZATION_CODE: &str = "authorization_code";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const CLIENT_CREDENTIALS: &str = "client_credentials";

/// Handles a token request: authenticate the client, then run its grant.
pub async fn token(p: &Provider, req: &TokenRequest, now: i64) -> OAuthResult<TokenResponse> {
    let grant = req.grant_type.as_deref().ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    if !matches!(grant, AUTHORIZATION_CODE | REFRESH_TOKEN | CLIENT_CREDENTIALS | token_exchange::GRANT_TYPE) {
        return Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "this grant type is not supported"));
    }
    if grant == token_exchange::GRANT_TYPE && req.credentials.is_empty() {
        // The subject token is the credential; a client may authenticate but need not.
        return token_exchange::exchange(p, None, req, now).await;
    }
    let client = client_auth::authenticate(p, &req.credentials, now).await?;
    if !client.allows_grant(grant) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use this grant type"));
    }
    match grant {
        AUTHORIZATION_CODE => authorization_code::exchange(p, &client, req, now).await,
        REFRESH_TOKEN => refresh_token::refresh(p, &client, req, now).await,
        CLIENT_CREDENTIALS => client_credentials::issue(p, &client, req, now).await,
        _ => token_exchange::exchange(p, Some(&client), req, now).await,
    }
}
