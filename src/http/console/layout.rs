//! The console's layout: the page shell (header, tenant switcher, Administration menu), its
//! stylesheet and script (served by Tessera itself, so the CSP allows only 'self'), form
//! fields with their error messages, and the mapping of the admin API's problem JSON to them.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;

use super::session::Api;
pub use crate::http::pages::esc;

/// The navigation state of a page.
pub struct Nav {
    /// The tenant the page is about.
    pub tenant: Option<String>,
    /// The tenants the person can switch to.
    pub tenants: Vec<String>,
    pub instance_admin: bool,
    /// Instance Admin, or Tenant Admin of `tenant`: the Administration menu shows.
    pub admin: bool,
    pub user: String,
    pub csrf: String,
}

impl Nav {
    /// The tenant of an administration page.
    pub fn t(&self) -> &str {
        self.tenant.as_deref().unwrap_or_default()
    }

    /// A console path in the current tenant.
    pub fn path(&self, rest: &str) -> String {
        format!("/console/t/{}{rest}", seg(self.t()))
    }

    /// The hidden anti-CSRF field of every form.
    pub fn csrf_field(&self) -> String {
        format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(&self.csrf))
    }
}

/// Percent-encodes a path segment (everything but unreserved characters).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a query value.
pub fn q(s: &str) -> String {
    seg(s)
}

pub const CSS: &str = include_str!("console.css");
pub const JS: &str = include_str!("console.js");

pub fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    res
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn secure_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    res
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{} · Tessera console</title>\
<link rel=\"stylesheet\" href=\"/console/static/console.css\"><script src=\"/console/static/console.js\" defer></script>\
</head><body>{body}</body></html>",
        esc(title)
    )
}

/// The menu entries: (path under the tenant, label, key).
const MENU: [(&str, &str, &str); 7] = [
    ("/users", "Users", "users"),
    ("/groups", "Groups", "groups"),
    ("/roles", "Roles", "roles"),
    ("/service-accounts", "Service accounts", "service-accounts"),
    ("/bindings", "Bindings", "bindings"),
    ("/identity-providers", "Identity providers", "identity-providers"),
    ("/audit-logs", "Audit logs", "audit-logs"),
];

/// A console page: the header (tenant switcher, person, sign out), the Administration menu
/// when the person administers this tenant, and the body.
pub fn page(status: StatusCode, nav: &Nav, title: &str, active: &str, body: &str) -> Response {
    let switcher = if nav.tenants.len() > 1
        || (nav.tenants.len() == 1 && nav.tenant.as_deref() != nav.tenants.first().map(String::as_str))
    {
        let options: String = nav
            .tenants
            .iter()
            .map(|t| {
                let sel = if nav.tenant.as_deref() == Some(t.as_str()) { " selected" } else { "" };
                format!("<option value=\"{0}\"{sel}>{0}</option>", esc(t))
            })
            .collect();
        format!(
            "<form method=\"get\" action=\"/console/switch\" class=\"switcher\" id=\"tenant-switcher\"><label for=\"tenant-switch\">Tenant</label>\
<select id=\"tenant-switch\" name=\"tenant\">{options}</select><button type=\"submit\" class=\"secondary\">Switch</button></form>"
        )
    } else if let Some(t) = &nav.tenant {
        format!("<span class=\"tenant\">Tenant <strong id=\"current-tenant\">{}</strong></span>", esc(t))
    } else {
        String::new()
    };
    let menu = if nav.admin {
        let items: String = MENU
            .iter()
            .map(|(path, label, key)| {
                let current = if *key == active { " aria-current=\"page\"" } else { "" };
                format!("<li><a href=\"{}\"{current}>{label}</a></li>", nav.path(path))
            })
            .collect();
        let tenants = if nav.instance_admin {
            let current = if active == "tenants" { " aria-current=\"page\"" } else { "" };
            format!("<li><a href=\"/console/tenants\"{current}>Tenants</a></li>")
        } else {
            String::new()
        };
        format!(
            "<nav id=\"admin-menu\" aria-label=\"Administration\"><h2>Administration</h2><ul>{items}{tenants}</ul></nav>"
        )
    } else {
        String::new()
    };
    let body = format!(
        "<a class=\"skip\" href=\"#main\">Skip to content</a>\
<header><a class=\"brand\" href=\"/console\">Tessera</a>{switcher}\
<span class=\"who\">Signed in as <strong id=\"signed-in-as\">{user}</strong></span>\
<form method=\"post\" action=\"/console/logout\" class=\"signout\">{csrf}<button type=\"submit\" class=\"secondary\">Sign out</button></form></header>\
<div class=\"layout\">{menu}<main id=\"main\" tabindex=\"-1\">{body}</main></div>",
        user = esc(&nav.user),
        csrf = nav.csrf_field(),
    );
    secure_headers((status, Html(document(title, &body))).into_response())
}

/// A page without the console's navigation (sign-in failures, expired forms).
pub fn bare_error(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<main id=\"main\" class=\"narrow\"><h1>Something went wrong</h1><p class=\"error\" role=\"alert\">{}</p>\
<p><a href=\"/console\">Back to the console</a></p></main>",
        esc(message)
    );
    secure_headers((status, Html(document("Error", &body))).into_response())
}

/// The page of someone who administers nothing here: no Administration menu.
pub fn welcome(nav: &Nav) -> Response {
    let tenants: String = nav.tenants.iter().map(|t| format!("<li>{}</li>", esc(t))).collect();
    let body = format!(
        "<h1>Welcome, {}</h1><p>You are signed in to Tessera.</p>\
<p class=\"muted\">Administration is for Tenant Admins and Instance Admins; you have no administration rights here.</p>\
<h2>Your tenants</h2><ul id=\"my-tenants\">{tenants}</ul>",
        esc(&nav.user)
    );
    page(StatusCode::OK, nav, "Welcome", "", &body)
}

pub fn not_found(nav: &Nav) -> Response {
    page(
        StatusCode::NOT_FOUND,
        nav,
        "Not found",
        "",
        "<h1>Not found</h1><p class=\"error\" role=\"alert\">There is nothing here that you can administer.</p>",
    )
}

/// The message a person sees for an API refusal that is not about one field.
pub fn api_message(a: &Api) -> String {
    let detail = a.json["detail"].as_str().unwrap_or("");
    match a.status {
        StatusCode::FORBIDDEN => format!("You are not allowed to do this: {detail}."),
        StatusCode::NOT_FOUND => "Not found: it does not exist, or you cannot see it.".into(),
        StatusCode::CONFLICT => format!("Conflict: {detail}."),
        StatusCode::UNAUTHORIZED => "Your session has expired: sign in again.".into(),
        s if s.is_server_error() => "The server could not complete the request; try again.".into(),
        _ if !detail.is_empty() => format!("{detail}."),
        _ => "The request was refused.".into(),
    }
}

/// An error page for a failed read.
pub fn api_error_page(a: &Api) -> Response {
    let status =
        if a.status.is_client_error() || a.status.is_server_error() { a.status } else { StatusCode::BAD_GATEWAY };
    bare_error(status, &api_message(a))
}

/// The errors of one form: one message for the form, and one per field.
#[derive(Default, Debug)]
pub struct Errors {
    pub general: Option<String>,
    pub fields: Vec<(String, String)>,
}

impl Errors {
    /// The API's problem JSON as form errors: each `errors[].field` next to its field (JSON
    /// pointers such as `namespaces/0` go to `namespaces`); anything else for the form.
    pub fn from_api(a: &Api) -> Errors {
        let mut e = Errors::default();
        if let Some(list) = a.json["errors"].as_array() {
            for item in list {
                let field = item["field"].as_str().unwrap_or("").trim_start_matches('/');
                let field = field.split('/').next().unwrap_or("").to_string();
                let message = item["message"].as_str().unwrap_or("invalid value").to_string();
                e.fields.push((field, message));
            }
        }
        if e.fields.is_empty() {
            e.general = Some(api_message(a));
        }
        e
    }

    pub fn field(&mut self, name: &str, message: &str) {
        self.fields.push((name.to_string(), message.to_string()));
    }

    pub fn is_empty(&self) -> bool {
        self.general.is_none() && self.fields.is_empty()
    }

    pub fn of(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(f, _)| f == name).map(|(_, m)| m.as_str())
    }

    /// The summary at the top of a form (a live region, so screen readers announce it).
    pub fn summary(&self, form: &str) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut text = String::new();
        if let Some(g) = &self.general {
            text.push_str(&esc(g));
        }
        if !self.fields.is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str("Check the fields marked below.");
            // Messages of fields that have no input on this form.
        }
        format!("<p class=\"error\" role=\"alert\" id=\"{form}-error\">{text}</p>")
    }
}

/// A labelled input, with its hint and its error message (linked by `aria-describedby`).
pub struct Field<'a> {
    pub form: &'a str,
    pub name: &'a str,
    pub label: &'a str,
    pub value: &'a str,
    pub kind: &'a str,
    pub hint: Option<&'a str>,
    pub required: bool,
}

impl<'a> Field<'a> {
    pub fn new(form: &'a str, name: &'a str, label: &'a str, value: &'a str) -> Self {
        Field { form, name, label, value, kind: "text", hint: None, required: false }
    }
    pub fn kind(mut self, kind: &'a str) -> Self {
        self.kind = kind;
        self
    }
    pub fn hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn render(&self, errors: &Errors) -> String {
        let id = format!("{}-{}", self.form, self.name);
        let (hint, mut described) = match self.hint {
            Some(h) => (format!("<p class=\"hint\" id=\"{id}-hint\">{}</p>", esc(h)), vec![format!("{id}-hint")]),
            None => (String::new(), vec![]),
        };
        let error = match errors.of(self.name) {
            Some(m) => {
                described.push(format!("{id}-err"));
                format!("<p class=\"field-error\" id=\"{id}-err\">{}</p>", esc(m))
            }
            None => String::new(),
        };
        let invalid = if errors.of(self.name).is_some() { " aria-invalid=\"true\"" } else { "" };
        let describedby =
            if described.is_empty() { String::new() } else { format!(" aria-describedby=\"{}\"", described.join(" ")) };
        let required = if self.required { " required" } else { "" };
        let input = if self.kind == "textarea" {
            format!(
                "<textarea id=\"{id}\" name=\"{}\"{describedby}{invalid}{required}>{}</textarea>",
                esc(self.name),
                esc(self.value)
            )
        } else {
            format!(
                "<input type=\"{}\" id=\"{id}\" name=\"{}\" value=\"{}\"{describedby}{invalid}{required}>",
                self.kind,
                esc(self.name),
                esc(self.value)
            )
        };
        format!("<div class=\"field\"><label for=\"{id}\">{}</label>{hint}{input}{error}</div>", esc(self.label))
    }
}

/// A labelled `<select>` with its error message.
pub fn select(
    form: &str,
    name: &str,
    label: &str,
    options: &[(String, String)],
    selected: &str,
    errors: &Errors,
) -> String {
    let id = format!("{form}-{name}");
    let opts: String = options
        .iter()
        .map(|(v, l)| {
            let sel = if v == selected { " selected" } else { "" };
            format!("<option value=\"{}\"{sel}>{}</option>", esc(v), esc(l))
        })
        .collect();
    let (error, extra) = match errors.of(name) {
        Some(m) => (
            format!("<p class=\"field-error\" id=\"{id}-err\">{}</p>", esc(m)),
            format!(" aria-describedby=\"{id}-err\" aria-invalid=\"true\""),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "<div class=\"field\"><label for=\"{id}\">{}</label><select id=\"{id}\" name=\"{}\"{extra}>{opts}</select>{error}</div>",
        esc(label),
        esc(name)
    )
}

/// A small form with one button (a change without fields).
pub fn button_form(nav: &Nav, action: &str, label: &str, class: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"inline\">{}<button type=\"submit\" class=\"{class}\">{}</button></form>",
        esc(action),
        nav.csrf_field(),
        esc(label)
    )
}

/// A confirmation after a change, from a fixed list (no text is reflected from the URL).
pub fn done(code: Option<&str>) -> String {
    let text = match code {
        Some("created") => "Created.",
        Some("saved") => "Saved.",
        Some("added") => "Added.",
        Some("bound") => "The role is bound.",
        Some("deleted") => "Deleted.",
        Some("revoked") => "The token is revoked.",
        Some("password") => {
            "A mandatory change-password request was sent: a new password is required at the next sign-in."
        }
        Some("user-created") => "The user is created, without a password: they must set one at their first sign-in.",
        _ => return String::new(),
    };
    format!("<p class=\"notice\" role=\"status\" id=\"notice\">{text}</p>")
}

/// A string field of a JSON object, HTML-escaped ("" when absent).
pub fn s(v: &Value, key: &str) -> String {
    esc(v[key].as_str().unwrap_or(""))
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC`.
pub fn time(v: &Value) -> String {
    let Some(t) = v.as_i64() else { return String::new() };
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A date `YYYY-MM-DD` (UTC midnight) as Unix seconds.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut it = text.split('-');
    let (y, m, d) = (it.next()?.parse::<i64>().ok()?, it.next()?.parse::<i64>().ok()?, it.next()?.parse::<i64>().ok()?);
    if it.next().is_some() || !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    // Refuse dates that do not exist (2025-02-30).
    (civil_from_days(days) == (y, m as u32, d as u32)).then_some(days * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_date("2025-02-29"), None);
        assert_eq!(parse_date("2025-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(time(&Value::from(1_709_164_800 + 3_600 + 120)), "2024-02-29 01:02 UTC");
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(seg("prod.eng-1_x~"), "prod.eng-1_x~");
    }

    #[test]
    fn problem_fields_go_next_to_their_inputs() {
        let api = Api {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            json: serde_json::json!({"detail": "x", "errors": [{"field": "namespaces/1", "message": "bad"}]}),
        };
        let e = Errors::from_api(&api);
        assert_eq!(e.of("namespaces"), Some("bad"));
        assert!(e.general.is_none());
        let forbidden =
            Api { status: StatusCode::FORBIDDEN, json: serde_json::json!({"detail": "missing ROLE:CREATE"}) };
        assert_eq!(
            Errors::from_api(&forbidden).general.as_deref(),
            Some("You are not allowed to do this: missing ROLE:CREATE.")
        );
    }
}
