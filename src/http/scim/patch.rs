//! PATCH (RFC 7644 section 3.5.2) applied to a resource's SCIM representation: the result is
//! then read like the body of a PUT, so both follow one set of rules. Attribute names ignore
//! case, as do the operation names (Entra sends `Replace`).

use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult};
use super::filter::{PatchPath, get_ci, parse_patch_path};

pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Attributes that hold a list even before they have a value.
const MULTI_VALUED: [&str; 10] = [
    "emails",
    "members",
    "phonenumbers",
    "addresses",
    "ims",
    "photos",
    "entitlements",
    "roles",
    "x509certificates",
    "groups",
];

/// Whether a schema URN is one of the core schemas (`None`: no URN given).
fn is_core(schema: Option<&str>) -> bool {
    schema.is_none_or(|s| s.to_ascii_lowercase().starts_with("urn:ietf:params:scim:schemas:core:2.0:"))
}

/// Applies the PATCH request `body` to `doc`.
pub fn apply(doc: &mut Map<String, Value>, body: &Value) -> ScimResult<()> {
    let body = body.as_object().ok_or_else(|| ScimError::syntax("send a JSON object"))?;
    if let Some(schemas) = get_ci(body, "schemas") {
        let ok = schemas.as_array().is_some_and(|a| a.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA)));
        if !ok {
            return Err(ScimError::syntax(format!("schemas must list {PATCH_SCHEMA}")));
        }
    }
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ScimError::syntax("Operations must be a non-empty array"))?;
    if ops.len() > 1000 {
        return Err(ScimError::value("at most 1000 operations per request"));
    }
    for op in ops {
        let op = op.as_object().ok_or_else(|| ScimError::syntax("each operation must be an object"))?;
        let kind = match get_ci(op, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
            Some("add") => Op::Add,
            Some("replace") => Op::Replace,
            Some("remove") => Op::Remove,
            _ => return Err(ScimError::syntax("op must be add, replace or remove")),
        };
        let path = match get_ci(op, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(parse_patch_path(p).map_err(ScimError::path)?),
            Some(_) => return Err(ScimError::path("path must be a string")),
        };
        let value = get_ci(op, "value");
        match (path, kind) {
            (None, Op::Remove) => return Err(ScimError::no_target("remove needs a path")),
            (None, _) => {
                let obj = value
                    .and_then(Value::as_object)
                    .ok_or_else(|| ScimError::value("an operation without a path needs an object value"))?;
                for (k, v) in obj {
                    // A key may be a path (`name.givenName`); a whole extension object
                    // (`"urn:...:enterprise:2.0:User": {...}`) is ignored by `at_path`.
                    let path = parse_patch_path(k).map_err(ScimError::path)?;
                    at_path(doc, &path, kind, Some(v))?;
                }
            }
            (Some(path), _) => {
                if kind != Op::Remove && value.is_none() {
                    return Err(ScimError::value("add and replace need a value"));
                }
                at_path(doc, &path, kind, value)?;
            }
        }
    }
    Ok(())
}

/// The existing key for `name` (ignoring case), or `name` itself.
fn key_of(doc: &Map<String, Value>, name: &str) -> String {
    doc.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned().unwrap_or_else(|| name.to_string())
}

fn merge(target: &mut Value, value: &Value) {
    match (target.as_object_mut(), value.as_object()) {
        (Some(t), Some(v)) => {
            for (k, x) in v {
                let key = key_of(t, k);
                t.insert(key, x.clone());
            }
        }
        _ => *target = value.clone(),
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn at_path(doc: &mut Map<String, Value>, path: &PatchPath, op: Op, value: Option<&Value>) -> ScimResult<()> {
    if !is_core(path.schema.as_deref()) {
        // Extension attributes (the enterprise schema) are not stored: ignored.
        return Ok(());
    }
    let key = key_of(doc, &path.attr);
    let lower = path.attr.to_ascii_lowercase();
    if lower == "id" || lower == "meta" || lower == "schemas" {
        return Err(ScimError::mutability(format!("{} cannot be changed", path.attr)));
    }
    let multi = MULTI_VALUED.contains(&lower.as_str()) || doc.get(&key).is_some_and(Value::is_array);
    let Some(filter) = &path.filter else {
        return match (&path.sub, op) {
            (None, Op::Remove) if multi && value.is_some() => {
                // Entra: `{"op":"remove","path":"members","value":[{"value":"id"}]}`.
                let gone: Vec<Value> = match value {
                    Some(Value::Array(a)) => a.clone(),
                    Some(v) => vec![v.clone()],
                    None => Vec::new(),
                };
                if let Some(Value::Array(list)) = doc.get_mut(&key) {
                    list.retain(|e| !gone.iter().any(|g| same_value(e, g)));
                }
                Ok(())
            }
            (None, Op::Remove) => {
                doc.remove(&key);
                Ok(())
            }
            (None, Op::Add) if multi => {
                let new: Vec<Value> = match value {
                    Some(Value::Array(a)) => a.clone(),
                    Some(v) => vec![v.clone()],
                    None => Vec::new(),
                };
                let list = doc.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                match list {
                    Value::Array(list) => {
                        for v in new {
                            if !list.iter().any(|e| same_value(e, &v)) {
                                list.push(v);
                            }
                        }
                    }
                    other => *other = Value::Array(new),
                }
                Ok(())
            }
            (None, _) => {
                let v = value.cloned().unwrap_or(Value::Null);
                match doc.get_mut(&key) {
                    Some(target) if target.is_object() && v.is_object() => merge(target, &v),
                    _ => {
                        doc.insert(key, if multi && !v.is_array() && !v.is_null() { Value::Array(vec![v]) } else { v });
                    }
                }
                Ok(())
            }
            (Some(sub), _) => {
                let target = doc.entry(key).or_insert_with(|| Value::Object(Map::new()));
                let targets: Vec<&mut Value> = match target {
                    Value::Array(list) => list.iter_mut().collect(),
                    Value::Null => {
                        *target = Value::Object(Map::new());
                        vec![target]
                    }
                    t => vec![t],
                };
                for t in targets {
                    let Some(o) = t.as_object_mut() else {
                        return Err(ScimError::path(format!("{} has no sub-attributes", path.attr)));
                    };
                    let k = key_of(o, sub);
                    match op {
                        Op::Remove => {
                            o.remove(&k);
                        }
                        _ => {
                            o.insert(k, value.cloned().unwrap_or(Value::Null));
                        }
                    }
                }
                Ok(())
            }
        };
    };
    if !multi {
        return Err(ScimError::path(format!("{} is not multi-valued: it takes no filter", path.attr)));
    }
    let list = doc.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if list.is_null() {
        *list = Value::Array(Vec::new());
    }
    let Value::Array(list) = list else {
        return Err(ScimError::path(format!("{} is not multi-valued", path.attr)));
    };
    let matched = list.iter().filter(|e| filter.matches(e)).count();
    match (op, &path.sub) {
        (Op::Remove, _) if matched == 0 => Err(ScimError::no_target(format!("no value of {} matches", path.attr))),
        (Op::Remove, None) => {
            list.retain(|e| !filter.matches(e));
            Ok(())
        }
        (Op::Remove, Some(sub)) => {
            for e in list.iter_mut().filter(|e| filter.matches(e)) {
                if let Some(o) = e.as_object_mut() {
                    let k = key_of(o, sub);
                    o.remove(&k);
                }
            }
            Ok(())
        }
        (_, _) if matched == 0 => {
            // No value matches yet: add one that does (what Okta and Entra expect of
            // `emails[type eq "work"].value`).
            let mut element = Map::new();
            element.insert(filter.attr.name.clone(), filter.value.clone());
            let mut element = Value::Object(element);
            match (&path.sub, value) {
                (Some(sub), Some(v)) => {
                    element[sub.as_str()] = v.clone();
                }
                (None, Some(v)) => merge(&mut element, v),
                _ => {}
            }
            list.push(element);
            Ok(())
        }
        (_, sub) => {
            for e in list.iter_mut().filter(|e| filter.matches(e)) {
                match (sub, value) {
                    (Some(sub), Some(v)) => {
                        if let Some(o) = e.as_object_mut() {
                            let k = key_of(o, sub);
                            o.insert(k, v.clone());
                        }
                    }
                    (None, Some(v)) if op == Op::Add => merge(e, v),
                    (None, Some(v)) => *e = v.clone(),
                    _ => {}
                }
            }
            Ok(())
        }
    }
}
