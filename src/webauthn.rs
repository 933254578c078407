//! Passkeys (WebAuthn) with webauthn-rs: the relying party, derived from the issuer, and the
//! ceremony states, kept in the short-lived state store between the two requests of a
//! ceremony (the options, then the browser's answer), single use, for [`CEREMONY_TTL`].
//!
//! Passkeys require user verification (a PIN or a biometric on the authenticator), so a
//! passkey is a sign-in on its own (`amr` `hwk` and `user`); after a password it is a second
//! factor (`mfa`). They are registered as discoverable credentials, so a user can sign in
//! without typing a username.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;
use webauthn_rs::prelude::{AuthenticationResult, WebauthnError};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Uuid, Webauthn, WebauthnBuilder,
};

use crate::kv::{Kv, KvResult};

/// How long a ceremony may take, from the options to the browser's answer.
pub const CEREMONY_TTL: Duration = Duration::from_secs(300);

/// The relying party: Tessera's issuer.
pub struct Passkeys {
    webauthn: Webauthn,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkeys").finish_non_exhaustive()
    }
}

/// Why the issuer cannot be a WebAuthn relying party.
#[derive(Debug, thiserror::Error)]
#[error("passkeys are off: {0}")]
pub struct Unsupported(pub String);

impl Passkeys {
    /// The relying party of the issuer: its host is the RP id, its origin the one origin
    /// allowed. Browsers accept a domain name only (never an IP address), over https or on
    /// `localhost`.
    pub fn for_issuer(issuer: &str) -> Result<Self, Unsupported> {
        let url = Url::parse(issuer).map_err(|e| Unsupported(format!("the issuer is not a URL: {e}")))?;
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(_) => {
                return Err(Unsupported(
                    "the issuer's host is an IP address; browsers need a domain name (localhost for tests)".into(),
                ));
            }
            None => return Err(Unsupported("the issuer has no host".into())),
        };
        if url.scheme() != "https" && host != "localhost" {
            return Err(Unsupported("browsers offer passkeys on https origins (or http://localhost) only".into()));
        }
        let origin = Url::parse(&url.origin().ascii_serialization())
            .map_err(|e| Unsupported(format!("the issuer has no origin: {e}")))?;
        let webauthn = WebauthnBuilder::new(&host, &origin)
            .and_then(|b| b.rp_name("Tessera").build())
            .map_err(|e| Unsupported(format!("webauthn-rs refused the relying party {host}: {e}")))?;
        Ok(Self { webauthn })
    }

    /// Starts registering a passkey for a user, excluding the ones it has: the browser's
    /// `publicKey` options (JSON) and the state to keep. The credential is asked to be
    /// discoverable (a resident key), so that it can sign in without a username.
    pub fn start_registration(
        &self,
        user_handle: Uuid,
        username: &str,
        display_name: &str,
        existing: &[Passkey],
    ) -> Result<(serde_json::Value, PasskeyRegistration), WebauthnError> {
        let exclude = existing.iter().map(|p| p.cred_id().clone()).collect::<Vec<_>>();
        let exclude = if exclude.is_empty() { None } else { Some(exclude) };
        let (ccr, state) = self.webauthn.start_passkey_registration(user_handle, username, display_name, exclude)?;
        let mut options = serde_json::to_value(&ccr.public_key).map_err(|_| WebauthnError::Configuration)?;
        // webauthn-rs asks for a non-resident key; a discoverable sign-in needs a resident one.
        // Only the browser's options change: the server verifies the same either way.
        if let Some(sel) = options.get_mut("authenticatorSelection").and_then(|v| v.as_object_mut()) {
            sel.insert("residentKey".into(), "required".into());
            sel.insert("requireResidentKey".into(), true.into());
        }
        Ok((options, state))
    }

    pub fn finish_registration(
        &self,
        answer: &RegisterPublicKeyCredential,
        state: &PasskeyRegistration,
    ) -> Result<Passkey, WebauthnError> {
        self.webauthn.finish_passkey_registration(answer, state)
    }

    /// A username-less sign-in: any discoverable credential of this relying party.
    pub fn start_discoverable(&self) -> Result<(RequestChallengeResponse, DiscoverableAuthentication), WebauthnError> {
        let (mut rcr, state) = self.webauthn.start_discoverable_authentication()?;
        // webauthn-rs marks it for conditional mediation (autofill); the page asks on a click.
        rcr.mediation = None;
        Ok((rcr, state))
    }

    /// The user handle and credential id a discoverable answer names (nothing verified yet).
    pub fn identify<'a>(&self, answer: &'a PublicKeyCredential) -> Result<(Uuid, &'a [u8]), WebauthnError> {
        self.webauthn.identify_discoverable_authentication(answer)
    }

    pub fn finish_discoverable(
        &self,
        answer: &PublicKeyCredential,
        state: DiscoverableAuthentication,
        passkey: &Passkey,
    ) -> Result<AuthenticationResult, WebauthnError> {
        self.webauthn.finish_discoverable_authentication_v2(answer, state, passkey)
    }

    /// A sign-in with one of these passkeys (the second factor of a known user).
    pub fn start_for(
        &self,
        passkeys: &[Passkey],
    ) -> Result<(RequestChallengeResponse, PasskeyAuthentication), WebauthnError> {
        self.webauthn.start_passkey_authentication(passkeys)
    }

    pub fn finish_for(
        &self,
        answer: &PublicKeyCredential,
        state: &PasskeyAuthentication,
    ) -> Result<AuthenticationResult, WebauthnError> {
        self.webauthn.finish_passkey_authentication(answer, state)
    }
}

/// A credential id as stored and looked up: base64url without padding.
pub fn credential_id_text(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// Keeps a ceremony's state under a new random id, for [`CEREMONY_TTL`]; returns the id.
pub async fn save_ceremony<T: Serialize>(kv: &dyn Kv, purpose: &str, state: &T) -> KvResult<String> {
    let id = crate::crypto::random_token(24);
    let value = serde_json::to_vec(state).map_err(|e| crate::kv::KvError(format!("ceremony state: {e}")))?;
    kv.put(&ceremony_key(purpose, &id), &value, CEREMONY_TTL).await?;
    Ok(id)
}

/// Takes a ceremony's state (once: a second answer to the same challenge finds nothing).
pub async fn take_ceremony<T: DeserializeOwned>(kv: &dyn Kv, purpose: &str, id: &str) -> KvResult<Option<T>> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    Ok(kv.take(&ceremony_key(purpose, id)).await?.and_then(|v| serde_json::from_slice(&v).ok()))
}

fn ceremony_key(purpose: &str, id: &str) -> String {
    format!("webauthn:{purpose}:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relying_party_comes_from_the_issuer() {
        assert!(Passkeys::for_issuer("https://id.example.com").is_ok());
        assert!(Passkeys::for_issuer("http://localhost:8080").is_ok());
        assert!(Passkeys::for_issuer("https://id.example.com/tessera").is_ok());
        let ip = Passkeys::for_issuer("http://127.0.0.1:8080").unwrap_err();
        assert!(ip.0.contains("IP address"), "{ip}");
        let plain = Passkeys::for_issuer("http://id.example.com").unwrap_err();
        assert!(plain.0.contains("https"), "{plain}");
    }

    #[test]
    fn registration_asks_for_a_discoverable_credential() {
        let p = Passkeys::for_issuer("https://id.example.com").unwrap();
        let (json, _) = p.start_registration(Uuid::new_v4(), "alice", "Alice", &[]).unwrap();
        let sel = &json["authenticatorSelection"];
        assert_eq!(sel["residentKey"], "required", "{json}");
        assert_eq!(sel["userVerification"], "required", "{json}");
        assert_eq!(json["rp"]["id"], "id.example.com", "{json}");
    }
}
