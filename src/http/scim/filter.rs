//! The small part of the SCIM filter and path grammar (RFC 7644 sections 3.4.2.2 and 3.5.2)
//! that Tessera supports: one `attrPath eq value` comparison, and PATCH paths of the forms
//! `attr`, `attr.sub`, `attr[sub eq value]` and `attr[sub eq value].sub`, each optionally
//! prefixed by its schema URN. Anything else is refused with a message, never a panic.

use serde_json::Value;

/// An attribute path: `name` or `name.sub`, with the schema URN it was prefixed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN, when the path named one (`urn:...:User`).
    pub schema: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// `name` or `name.sub`, lowercase, for matching (SCIM attribute names ignore case).
    pub fn key(&self) -> String {
        match &self.sub {
            Some(sub) => format!("{}.{}", self.name, sub).to_ascii_lowercase(),
            None => self.name.to_ascii_lowercase(),
        }
    }
}

/// `attrPath eq value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub attr: AttrPath,
    pub value: Value,
}

impl Comparison {
    /// Whether a value of a multi-valued attribute matches (`type eq "work"` on an email).
    /// Strings compare ignoring case, except `value` (member ids are case-exact).
    pub fn matches(&self, element: &Value) -> bool {
        let Some(found) = element.as_object().and_then(|o| get_ci(o, &self.attr.name)) else {
            return false;
        };
        match (found, &self.value) {
            (Value::String(a), Value::String(b)) if self.attr.name.eq_ignore_ascii_case("value") => a == b,
            (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        }
    }
}

/// A PATCH path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub schema: Option<String>,
    pub attr: String,
    pub filter: Option<Comparison>,
    pub sub: Option<String>,
}

/// The value of a key of a JSON object, matching the key without regard to case.
pub fn get_ci<'a>(o: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    s == "$ref"
        || (chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

/// Splits `urn:...:Schema:rest` into the schema and `rest`.
fn split_schema(s: &str) -> (Option<String>, &str) {
    if s.len() > 4 && s[..4].eq_ignore_ascii_case("urn:") {
        // The attribute follows the last ':' before any '[' (the URN itself holds dots).
        let head = s.find('[').map_or(s, |i| &s[..i]);
        if let Some(i) = head.rfind(':') {
            return (Some(s[..i].to_string()), &s[i + 1..]);
        }
    }
    (None, s)
}

/// Parses `[urn:...:]name[.sub]`.
pub fn parse_attr_path(s: &str) -> Result<AttrPath, String> {
    let (schema, rest) = split_schema(s.trim());
    let (name, sub) = match rest.split_once('.') {
        Some((n, sub)) => (n, Some(sub)),
        None => (rest, None),
    };
    if !is_name(name) || sub.is_some_and(|s| !is_name(s)) {
        return Err(format!("`{s}` is not an attribute path"));
    }
    Ok(AttrPath { schema, name: name.to_string(), sub: sub.map(str::to_string) })
}

/// Splits a filter into tokens: words, and double-quoted JSON strings kept whole.
fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut end = None;
            let mut escaped = false;
            for (j, d) in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if d == '\\' {
                    escaped = true;
                } else if d == '"' {
                    end = Some(j);
                    break;
                }
            }
            let end = end.ok_or("a string in the filter is not closed")?;
            out.push(s[i..=end].to_string());
        } else if c == '(' || c == ')' || c == '[' || c == ']' {
            return Err("grouping and complex filters are not supported: use one `attribute eq value`".into());
        } else {
            let mut end = s.len();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_whitespace() {
                    end = j;
                    break;
                }
                chars.next();
            }
            out.push(s[i..end].to_string());
        }
    }
    Ok(out)
}

fn parse_value(token: &str) -> Result<Value, String> {
    if token.starts_with('"') {
        return serde_json::from_str::<String>(token).map(Value::String).map_err(|_| "a malformed string".into());
    }
    match token.to_ascii_lowercase().as_str() {
        "true" => Ok(Value::Bool(true)),
        "false" => Ok(Value::Bool(false)),
        "null" => Ok(Value::Null),
        _ => serde_json::from_str::<serde_json::Number>(token)
            .map(Value::Number)
            .map_err(|_| format!("`{token}` is not a value: quote strings")),
    }
}

/// Parses a filter of one comparison, `attrPath eq value`.
pub fn parse_filter(s: &str) -> Result<Comparison, String> {
    let t = tokens(s)?;
    match t.as_slice() {
        [] => Err("the filter is empty".into()),
        [attr, op, value] => {
            let attr = parse_attr_path(attr)?;
            if !op.eq_ignore_ascii_case("eq") {
                let known = ["ne", "co", "sw", "ew", "gt", "lt", "ge", "le"];
                return Err(if known.iter().any(|k| op.eq_ignore_ascii_case(k)) {
                    format!("the operator `{op}` is not supported: use eq")
                } else {
                    format!("`{op}` is not a filter operator")
                });
            }
            Ok(Comparison { attr, value: parse_value(value)? })
        }
        [_, op] if op.eq_ignore_ascii_case("pr") => Err("the operator `pr` is not supported: use eq".into()),
        t if t.iter().any(|w| ["and", "or", "not"].iter().any(|k| w.eq_ignore_ascii_case(k))) => {
            Err("logical operators are not supported: use one `attribute eq value`".into())
        }
        _ => Err("expected `attribute eq value`".into()),
    }
}

/// Parses a PATCH path.
pub fn parse_patch_path(s: &str) -> Result<PatchPath, String> {
    let (schema, rest) = split_schema(s.trim());
    let Some(open) = rest.find('[') else {
        let p = parse_attr_path(rest).map_err(|_| format!("`{s}` is not a path"))?;
        return Ok(PatchPath { schema, attr: p.name, filter: None, sub: p.sub });
    };
    let close = rest.rfind(']').filter(|&c| c > open).ok_or_else(|| format!("`{s}`: unbalanced brackets"))?;
    let attr = &rest[..open];
    if !is_name(attr) {
        return Err(format!("`{s}` is not a path"));
    }
    let filter = parse_filter(&rest[open + 1..close])?;
    let after = &rest[close + 1..];
    let sub = match after {
        "" => None,
        _ => match after.strip_prefix('.') {
            Some(sub) if is_name(sub) => Some(sub.to_string()),
            _ => return Err(format!("`{s}` is not a path")),
        },
    };
    Ok(PatchPath { schema, attr: attr.to_string(), filter: Some(filter), sub })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters() {
        let f = parse_filter(r#"userName eq "bjensen""#).unwrap();
        assert_eq!((f.attr.key(), f.value), ("username".into(), json!("bjensen")));
        let f = parse_filter(r#"emails.value EQ "a \"b\"@x""#).unwrap();
        assert_eq!((f.attr.key(), f.value), ("emails.value".into(), json!("a \"b\"@x")));
        let f = parse_filter(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#).unwrap();
        assert_eq!(f.attr.key(), "username");
        assert_eq!(parse_filter("active eq true").unwrap().value, json!(true));
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName eq "x"#,
            r#"userName co "x""#,
            r#"userName eq "x" and active eq true"#,
            "userName eq x",
            r#"(userName eq "x")"#,
            r#"user$ eq "x""#,
            "title pr",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths() {
        let p = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!((p.attr.as_str(), p.sub.as_deref()), ("emails", Some("value")));
        assert!(p.filter.unwrap().matches(&json!({ "type": "Work" })));
        let p = parse_patch_path(r#"members[value eq "abc"]"#).unwrap();
        assert!(p.filter.as_ref().unwrap().matches(&json!({ "value": "abc" })));
        assert!(!p.filter.unwrap().matches(&json!({ "value": "ABC" })));
        let p = parse_patch_path("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName").unwrap();
        assert_eq!((p.schema.is_some(), p.attr.as_str(), p.sub.as_deref()), (true, "name", Some("givenName")));
        for bad in ["", "emails[", "emails[type eq \"work\"", "emails[type eq \"w\"]x", "a.b.c", "9x"] {
            assert!(parse_patch_path(bad).is_err(), "{bad:?}");
        }
    }
}
