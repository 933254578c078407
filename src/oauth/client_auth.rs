//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523 section 2.2,
//! OIDC Core section 9) and `none` (public clients, with PKCE).

use std::sync::Arc;

use base64::Engine;

use super::{OAuthError, OAuthResult, Provider};
use crate::crypto::{Secret, verify_secret};
use crate::store::{Client, ClientAuthMethod};

/// What the request offered as client credentials.
#[derive(Debug, Default, Clone)]
pub struct ClientCredentials {
    /// From `Authorization: Basic` (already decoded), if present.
    pub basic: Option<(String, Secret)>,
    /// `client_id` form parameter.
    pub client_id: Option<String>,
    /// `client_secret` form parameter.
    pub client_secret: Option<Secret>,
    /// `client_assertion_type` form parameter.
    pub client_assertion_type: Option<String>,
    /// `client_assertion` form parameter.
    pub client_assertion: Option<Secret>,
}

/// RFC 7523 section 2.2: the `client_assertion_type` of a JWT client assertion.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest lifetime accepted for a client assertion (its `jti` is remembered that long).
const MAX_ASSERTION_LIFETIME_SECS: i64 = 600;

impl ClientCredentials {
    /// Whether the request offered no client authentication at all.
    pub fn is_empty(&self) -> bool {
        self.basic.is_none()
            && self.client_id.is_none()
            && self.client_secret.is_none()
            && self.client_assertion.is_none()
            && self.client_assertion_type.is_none()
    }

    /// Parses an `Authorization` header value. `Ok(None)` when it is not Basic; an error when
    /// it is Basic but malformed. Per RFC 6749 section 2.3.1 both parts are form-urlencoded.
    pub fn parse_basic(header: &str) -> OAuthResult<Option<(String, Secret)>> {
        let Some((scheme, rest)) = header.split_once(' ') else { return Ok(None) };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Ok(None);
        }
        let bad = || OAuthError::invalid_client();
        let raw = base64::engine::general_purpose::STANDARD.decode(rest.trim()).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
        let id = form_decode(id).ok_or_else(bad)?;
        let secret = form_decode(secret).ok_or_else(bad)?;
        Ok(Some((id, Secret::new(secret))))
    }
}

fn form_decode(s: &str) -> Option<String> {
    let s = s.replace('+', " ");
    url::form_urlencoded::parse(format!("x={}", s.replace('&', "%26").replace('=', "%3D")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// Authenticates the client. Every failure is the same `invalid_client`, so that the response
/// does not tell an unknown client from a wrong secret.
pub async fn authenticate(p: &Provider, creds: &ClientCredentials, now: i64) -> OAuthResult<Arc<Client>> {
    if creds.client_assertion.is_some() || creds.client_assertion_type.is_some() {
        if creds.basic.is_some() || creds.client_secret.is_some() {
            return Err(OAuthError::invalid_request("use one client authentication method, not several"));
        }
        return private_key_jwt(p, creds, now).await;
    }
    let (client_id, secret, method) = match (&creds.basic, &creds.client_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request("use one client authentication method, not several"));
        }
        (Some((id, secret)), None) => {
            if creds.client_id.as_deref().is_some_and(|cid| cid != id) {
                return Err(OAuthError::invalid_request("client_id does not match the Authorization header"));
            }
            (id.as_str(), Some(secret), ClientAuthMethod::ClientSecretBasic)
        }
        (None, Some(secret)) => {
            let id = creds.client_id.as_deref().ok_or_else(|| OAuthError::invalid_request("client_id is missing"))?;
            (id, Some(secret), ClientAuthMethod::ClientSecretPost)
        }
        (None, None) => {
            let id = creds.client_id.as_deref().ok_or_else(OAuthError::invalid_client)?;
            (id, None, ClientAuthMethod::None)
        }
    };
    let client = p.client(client_id).await?;
    let Some(client) = client else {
        // Spend the same work as a real check.
        if let Some(s) = secret {
            let _ = verify_secret(s.expose(), "0000000000000000000000000000000000000000000000000000000000000000");
        }
        return Err(OAuthError::invalid_client());
    };
    if client.auth_method != method {
        return Err(OAuthError::invalid_client());
    }
    match (secret, &client.secret_hash) {
        (None, _) if client.is_public() => Ok(client),
        (Some(s), Some(hash)) if verify_secret(s.expose(), hash) => Ok(client),
        _ => Err(OAuthError::invalid_client()),
    }
}

/// `private_key_jwt`: a JWT signed with one of the client's registered keys, `iss` and `sub`
/// its client id, `aud` the token endpoint or the issuer, unexpired and short-lived, its
/// `jti` never seen before. Every failure is the same `invalid_client` to the caller; the
/// reason is logged.
async fn private_key_jwt(p: &Provider, creds: &ClientCredentials, now: i64) -> OAuthResult<Arc<Client>> {
    use super::foreign_jwt::ForeignKeys;
    if creds.client_assertion_type.as_deref() != Some(JWT_BEARER_ASSERTION) {
        return Err(OAuthError::invalid_request(format!("client_assertion_type must be {JWT_BEARER_ASSERTION}")));
    }
    let assertion =
        creds.client_assertion.as_ref().ok_or_else(|| OAuthError::invalid_request("client_assertion is missing"))?;
    let refuse = |why: &str| {
        tracing::info!(reason = why, "client assertion refused");
        OAuthError::invalid_client()
    };
    // Whose keys to check it with: the unverified `sub` (which must equal `client_id`, if sent).
    let claimed = unverified_claim(assertion.expose(), "sub").ok_or_else(|| refuse("no sub claim"))?;
    if creds.client_id.as_deref().is_some_and(|id| id != claimed) {
        return Err(refuse("client_id differs from the assertion's sub"));
    }
    let client = p.client(&claimed).await?.ok_or_else(|| refuse("unknown client"))?;
    if client.auth_method != ClientAuthMethod::PrivateKeyJwt {
        return Err(refuse("the client does not use private_key_jwt"));
    }
    let jwks: serde_json::Value = client
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(|| refuse("the client has no usable keys"))?;
    let keys = ForeignKeys::parse_registered(&jwks).map_err(|_| refuse("the client has no usable keys"))?;
    let claims = keys.verify_signature(assertion.expose()).map_err(|e| refuse(&e.to_string()))?;
    if claims.str("iss") != Some(client.client_id.as_str()) || claims.str("sub") != Some(client.client_id.as_str()) {
        return Err(refuse("iss and sub must both be the client_id"));
    }
    let token_endpoint = p.settings.url("/token");
    if !claims.has_audience(&token_endpoint) && !claims.has_audience(&p.settings.issuer) {
        return Err(refuse("aud must be the token endpoint or the issuer"));
    }
    let exp = claims.check_times(now).map_err(|e| refuse(&e.to_string()))?;
    if exp - now > MAX_ASSERTION_LIFETIME_SECS {
        return Err(refuse("the assertion lives too long"));
    }
    let jti = claims.str("jti").filter(|j| !j.is_empty() && j.len() <= 256).ok_or_else(|| refuse("no jti"))?;
    let key = format!("assertion-jti:{}:{}", client.client_id, crate::crypto::hash_secret(jti));
    let ttl = std::time::Duration::from_secs((exp - now + super::foreign_jwt::LEEWAY_SECS).max(1) as u64);
    if !p.kv.put_if_absent(&key, b"1", ttl).await? {
        return Err(refuse("the assertion was already used (jti replay)"));
    }
    Ok(client)
}

/// A string claim of a JWT, read without verifying it (only to find the client).
fn unverified_claim(token: &str, name: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get(name)?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_form_decoded() {
        let h = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("my%20app:s%3Acret+x"));
        let (id, secret) = ClientCredentials::parse_basic(&h).unwrap().unwrap();
        assert_eq!(id, "my app");
        assert_eq!(secret.expose(), "s:cret x");
        assert!(ClientCredentials::parse_basic("Bearer abc").unwrap().is_none());
        assert!(ClientCredentials::parse_basic("Basic !!!").is_err());
    }
}
