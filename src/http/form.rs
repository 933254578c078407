//! Strict parsing of `application/x-www-form-urlencoded` bodies for the protocol endpoints:
//! the wrong content type, bad encoding or a repeated parameter is `invalid_request`
//! (RFC 6749 section 3.2), never axum's plain-text rejection.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

use crate::oauth::OAuthError;

/// Parameters that may repeat (RFC 8707 `resource`, RFC 8693 `audience`).
const MULTI: &[&str] = &["resource", "audience"];

#[derive(Debug, Default)]
pub struct Form {
    single: HashMap<String, String>,
    multi: HashMap<String, Vec<String>>,
}

impl Form {
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
        }
        Self::parse_pairs(body)
    }

    pub fn parse_pairs(body: &[u8]) -> Result<Self, OAuthError> {
        if std::str::from_utf8(body).is_err() {
            return Err(OAuthError::invalid_request("the body is not valid UTF-8"));
        }
        let mut form = Form::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            if k.contains('\0') || v.contains('\0') {
                return Err(OAuthError::invalid_request("parameters must not contain the NUL character"));
            }
            if v.is_empty() {
                // RFC 6749 section 3.1: parameters sent without a value are treated as omitted.
                continue;
            }
            if MULTI.contains(&k.as_ref()) {
                form.multi.entry(k.into_owned()).or_default().push(v.into_owned());
            } else if form.single.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!("parameter '{k}' is repeated")));
            }
        }
        Ok(form)
    }

    pub fn get(&self, k: &str) -> Option<String> {
        self.single.get(k).cloned()
    }

    pub fn all(&self, k: &str) -> Vec<String> {
        self.multi.get(k).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_refused() {
        assert!(Form::parse_pairs(b"a=1&a=2").is_err());
        assert!(Form::parse_pairs(b"client_id=a%00b").is_err());
        let f = Form::parse_pairs(b"resource=x&resource=y&a=&b=2").unwrap();
        assert_eq!(f.all("resource"), vec!["x", "y"]);
        assert_eq!(f.get("a"), None);
        assert_eq!(f.get("b").as_deref(), Some("2"));
    }
}
