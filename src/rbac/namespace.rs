//! Kestra namespaces: dot-separated paths such as `prod.engineering.etl`. A binding on a
//! namespace also applies to every namespace below it ([`Namespace::covers`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest namespace accepted, in characters.
pub const MAX_NAMESPACE_LEN: usize = 255;

/// A validated namespace: non-empty segments of `[A-Za-z0-9_-]` separated by single dots, at
/// most [`MAX_NAMESPACE_LEN`] characters. Comparison is exact (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Namespace(String);

/// Why a namespace was rejected; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamespaceError {
    /// The empty string.
    #[error("namespace must not be empty")]
    Empty,
    /// Longer than [`MAX_NAMESPACE_LEN`].
    #[error("namespace is {0} characters long; the maximum is {MAX_NAMESPACE_LEN}")]
    TooLong(usize),
    /// Starts with a dot.
    #[error("namespace `{0}` must not start with a dot")]
    LeadingDot(String),
    /// Ends with a dot.
    #[error("namespace `{0}` must not end with a dot")]
    TrailingDot(String),
    /// Two dots in a row (an empty segment).
    #[error("namespace `{0}` must not contain two consecutive dots")]
    EmptySegment(String),
    /// A character outside `[A-Za-z0-9_-]` and the dot separator.
    #[error(
        "namespace `{namespace}` contains {character:?} at position {position}; only letters A-Z and a-z, \
         digits, `_` and `-` are allowed, with `.` between segments"
    )]
    InvalidCharacter { namespace: String, character: char, position: usize },
}

impl Namespace {
    /// Validates and wraps a namespace.
    pub fn new(namespace: impl Into<String>) -> Result<Namespace, NamespaceError> {
        let namespace = namespace.into();
        if namespace.is_empty() {
            return Err(NamespaceError::Empty);
        }
        let len = namespace.chars().count();
        if len > MAX_NAMESPACE_LEN {
            return Err(NamespaceError::TooLong(len));
        }
        if let Some((position, character)) = namespace
            .chars()
            .enumerate()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
        {
            return Err(NamespaceError::InvalidCharacter { namespace, character, position });
        }
        if namespace.starts_with('.') {
            return Err(NamespaceError::LeadingDot(namespace));
        }
        if namespace.ends_with('.') {
            return Err(NamespaceError::TrailingDot(namespace));
        }
        if namespace.contains("..") {
            return Err(NamespaceError::EmptySegment(namespace));
        }
        Ok(Namespace(namespace))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a binding on `self` applies to `other`: `other` is `self` or lies below it.
    /// `prod` covers `prod`, `prod.engineering` and `prod.engineering.etl`, but neither
    /// `production` nor `pro`. Matching is by whole segments, never by string prefix.
    pub fn covers(&self, other: &Namespace) -> bool {
        match other.0.strip_prefix(self.0.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('.'),
            None => false,
        }
    }

    /// `self` and every namespace above it, as strings, from the root: `prod.engineering.etl`
    /// yields `prod`, `prod.engineering`, `prod.engineering.etl` (the namespaces that cover it).
    pub fn self_and_ancestors(&self) -> impl Iterator<Item = &str> {
        let s = self.0.as_str();
        s.match_indices('.').map(move |(i, _)| &s[..i]).chain(std::iter::once(s))
    }

    /// The segments, from the root: `prod.engineering` yields `prod`, `engineering`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Namespace {
    type Err = NamespaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Namespace::new(s)
    }
}

impl TryFrom<String> for Namespace {
    type Error = NamespaceError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Namespace::new(value)
    }
}

impl From<Namespace> for String {
    fn from(value: Namespace) -> Self {
        value.0
    }
}

/// Lets maps keyed by namespace be searched with a `&str` (the derived `Eq`, `Ord` and `Hash`
/// are those of the inner string, as `Borrow` requires).
impl std::borrow::Borrow<str> for Namespace {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Namespace {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> Namespace {
        Namespace::new(s).unwrap()
    }

    #[test]
    fn prod_covers_itself_and_its_children_only() {
        let prod = ns("prod");
        assert!(prod.covers(&ns("prod")));
        assert!(prod.covers(&ns("prod.engineering")));
        assert!(prod.covers(&ns("prod.engineering.etl")));
        assert!(!prod.covers(&ns("production")));
        assert!(!prod.covers(&ns("pro")));
    }

    #[test]
    fn covering_goes_downwards_only_and_by_whole_segments() {
        assert!(!ns("prod.engineering").covers(&ns("prod")));
        assert!(ns("prod.engineering").covers(&ns("prod.engineering.etl")));
        assert!(!ns("prod.engineering").covers(&ns("prod.engineering-eu")));
        assert!(!ns("prod.engineering").covers(&ns("prod.eng")));
        assert!(!ns("prod").covers(&ns("dev.prod")));
        assert!(!ns("prod").covers(&ns("Prod")));
    }

    #[test]
    fn valid_namespaces() {
        for ok in ["prod", "prod.engineering.etl", "a", "A-b_c.d-9", "company_team.sub-team.x1", "0.1.2"] {
            assert_eq!(ns(ok).as_str(), ok);
            assert_eq!(ok.parse::<Namespace>().unwrap().to_string(), ok);
        }
        assert_eq!(
            ns("prod.engineering.etl").self_and_ancestors().collect::<Vec<_>>(),
            ["prod", "prod.engineering", "prod.engineering.etl"]
        );
        assert_eq!(ns("prod").self_and_ancestors().collect::<Vec<_>>(), ["prod"]);
        assert_eq!(ns("prod.engineering.etl").segments().collect::<Vec<_>>(), ["prod", "engineering", "etl"]);
        let longest = "a".repeat(MAX_NAMESPACE_LEN);
        assert!(Namespace::new(longest).is_ok());
    }

    #[test]
    fn invalid_namespaces_say_why() {
        let cases: [(&str, NamespaceError, &str); 8] = [
            ("", NamespaceError::Empty, "must not be empty"),
            (".prod", NamespaceError::LeadingDot(".prod".into()), "must not start with a dot"),
            ("prod.", NamespaceError::TrailingDot("prod.".into()), "must not end with a dot"),
            (".", NamespaceError::LeadingDot(".".into()), "must not start with a dot"),
            ("prod..etl", NamespaceError::EmptySegment("prod..etl".into()), "two consecutive dots"),
            (
                "prod/etl",
                NamespaceError::InvalidCharacter { namespace: "prod/etl".into(), character: '/', position: 4 },
                "'/' at position 4",
            ),
            (
                "prod etl",
                NamespaceError::InvalidCharacter { namespace: "prod etl".into(), character: ' ', position: 4 },
                "' ' at position 4",
            ),
            (
                "prodé",
                NamespaceError::InvalidCharacter { namespace: "prodé".into(), character: 'é', position: 4 },
                "'é' at position 4",
            ),
        ];
        for (input, expected, message) in cases {
            let err = Namespace::new(input).unwrap_err();
            assert_eq!(err, expected);
            assert!(err.to_string().contains(message), "{err}");
        }
        let err = Namespace::new("a".repeat(MAX_NAMESPACE_LEN + 1)).unwrap_err();
        assert_eq!(err, NamespaceError::TooLong(256));
        assert_eq!(err.to_string(), "namespace is 256 characters long; the maximum is 255");
    }

    #[test]
    fn serde_validates() {
        assert_eq!(serde_json::to_string(&ns("prod.etl")).unwrap(), r#""prod.etl""#);
        assert_eq!(serde_json::from_str::<Namespace>(r#""prod.etl""#).unwrap(), ns("prod.etl"));
        let err = serde_json::from_str::<Namespace>(r#""prod..etl""#).unwrap_err();
        assert!(err.to_string().contains("two consecutive dots"), "{err}");
    }
}
