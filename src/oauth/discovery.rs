//! OpenID Provider metadata (OIDC Discovery 1.0) and OAuth authorization server metadata
//! (RFC 8414): one document, served at both well-known paths.

use serde_json::{Value, json};

use super::Provider;

pub fn metadata(p: &Provider) -> Value {
    let s = &p.settings;
    let auth_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
    // Client assertions are checked with the client's registered keys, algorithm pinned by key.
    let assertion_algs = ["ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
    json!({
        "issuer": s.issuer,
        "authorization_endpoint": s.url("/authorize"),
        "token_endpoint": s.url("/token"),
        "userinfo_endpoint": s.url("/userinfo"),
        "jwks_uri": s.url("/jwks.json"),
        "end_session_endpoint": s.url("/logout"),
        "revocation_endpoint": s.url("/revoke"),
        "introspection_endpoint": s.url("/introspect"),
        "binding_epochs_endpoint": s.url("/binding-epochs"),
        "scopes_supported": super::OIDC_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                                  super::grants::token_exchange::GRANT_TYPE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": p.keys.current().algorithms(),
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "azp", "sid",
                             "name", "preferred_username", "email", "email_verified", "groups"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": false,
        "frontchannel_logout_supported": false,
    })
}
