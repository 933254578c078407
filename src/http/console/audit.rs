//! Audit logs of a tenant, with filters (actor, action, target, dates), oldest first as the
//! API pages them.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::get;
use serde::Deserialize;

use super::Page;
use super::layout::{self, Errors, Field, esc, s as text, seg};
use super::session::Console;
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/t/{tenant}/audit-logs", get(list))
}

#[derive(Deserialize, Default)]
struct Filter {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
    after: Option<String>,
}

async fn list(State(s): State<AppState>, con: Console, Path(tenant): Path<String>, Query(f): Query<Filter>) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let val = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_string();
    let (actor, action, target, from, to) = (val(&f.actor), val(&f.action), val(&f.target), val(&f.from), val(&f.to));
    let mut errors = Errors::default();
    let mut query = String::from("limit=50");
    for (name, v) in [("actor", &actor), ("action", &action), ("target", &target)] {
        if !v.is_empty() {
            query.push_str(&format!("&{name}={}", layout::q(v)));
        }
    }
    for (name, v, add) in [("from", &from, 0), ("to", &to, 86_399)] {
        if v.is_empty() {
            continue;
        }
        match layout::parse_date(v) {
            Some(t) => query.push_str(&format!("&{name}={}", t + add)),
            None => errors.field(name, "use a date such as 2025-01-31"),
        }
    }
    if let Some(a) = f.after.as_deref().filter(|a| !a.is_empty()) {
        match a.parse::<i64>() {
            Ok(n) => query.push_str(&format!("&after={n}")),
            Err(_) => errors.field("after", "not a page position"),
        }
    }
    let mut table = String::new();
    let mut next = String::new();
    if errors.is_empty() {
        let a = con.api(&s, Method::GET, &format!("/{}/audit-logs?{query}", seg(nav.t())), None).await;
        if a.ok() {
            let rows: String = a.json["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                        layout::time(&e["at"]),
                        text(e, "actor"),
                        text(e, "action"),
                        text(e, "target"),
                        esc(&e["summary"].to_string()),
                        text(e, "request_id"),
                    )
                })
                .collect();
            table = format!(
                "<table id=\"audit\"><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Actor</th><th scope=\"col\">Action</th><th scope=\"col\">Target</th><th scope=\"col\">Summary</th><th scope=\"col\">Request</th></tr></thead><tbody>{rows}</tbody></table>"
            );
            if let Some(n) = a.json["next"].as_i64() {
                next = format!(
                    "<p><a href=\"{}?actor={}&amp;action={}&amp;target={}&amp;from={}&amp;to={}&amp;after={n}\" rel=\"next\">Next page</a></p>",
                    nav.path("/audit-logs"),
                    layout::q(&actor),
                    layout::q(&action),
                    layout::q(&target),
                    layout::q(&from),
                    layout::q(&to)
                );
            }
        } else {
            errors = Errors::from_api(&a);
        }
    }
    let body = format!(
        "<h1>Audit logs</h1><form method=\"get\" action=\"{}\" class=\"toolbar\" id=\"audit-filter\" aria-label=\"Filter the audit log\">{}{}{}{}{}{}\
<button type=\"submit\" class=\"secondary\">Filter</button></form>{table}{next}",
        nav.path("/audit-logs"),
        errors.summary("audit"),
        Field::new("audit", "actor", "Actor", &actor).hint("user:ID or service_account:ID").render(&errors),
        Field::new("audit", "action", "Action", &action).hint("e.g. role.create").render(&errors),
        Field::new("audit", "target", "Target", &target).render(&errors),
        Field::new("audit", "from", "From (date)", &from).kind("date").render(&errors),
        Field::new("audit", "to", "To (date)", &to).kind("date").render(&errors),
    );
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(layout::page(status, &nav, "Audit logs", "audit-logs", &body))
}
