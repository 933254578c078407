//! Tenants, for Instance Admins: the list and creation (the creator becomes the new tenant's
//! Tenant Admin, as the API does).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::Page;
use super::layout::{self, Errors, Field, Nav, s as text, seg};
use super::session::{Console, Form};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/tenants", get(list).post(create))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    after: Option<String>,
    done: Option<String>,
}

/// The navigation of the tenants page: Instance Admins only (anyone else: not found).
async fn nav(con: &Console, s: &AppState) -> Result<Nav, Response> {
    let nav = con.nav(s, Some(crate::store::DEFAULT_TENANT)).await?;
    if !nav.instance_admin {
        return Err(layout::not_found(&nav));
    }
    Ok(nav)
}

async fn render(con: &Console, s: &AppState, nav: &Nav, q: &ListQuery, f: Option<&Form>, e: &Errors) -> Page {
    let after = q.after.as_deref().map(|a| format!("&after={}", layout::q(a))).unwrap_or_default();
    let list = con.get(s, &format!("/tenants?limit=50{after}")).await?;
    let rows: String = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "<tr><td><a href=\"/console/t/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                seg(t["id"].as_str().unwrap_or("")),
                text(t, "id"),
                text(t, "name"),
                text(t, "created_by"),
                layout::time(&t["created_at"])
            )
        })
        .collect();
    let next = list["next"]
        .as_str()
        .map(|n| format!("<p><a href=\"/console/tenants?after={}\" rel=\"next\">Next page</a></p>", layout::q(n)))
        .unwrap_or_default();
    let v = |k: &str| f.map(|f| f.text(k)).unwrap_or_default();
    let body = format!(
        "<h1>Tenants</h1>{}<table id=\"tenants\"><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Name</th><th scope=\"col\">Created by</th><th scope=\"col\">Created</th></tr></thead><tbody>{rows}</tbody></table>{next}\
<h2>Create a tenant</h2><p class=\"muted\">You become its Tenant Admin.</p><form method=\"post\" action=\"/console/tenants\" id=\"tenant-form\">{}{}{}{}<button type=\"submit\">Create tenant</button></form>",
        layout::done(q.done.as_deref()),
        nav.csrf_field(),
        e.summary("tenant"),
        Field::new("tenant", "id", "Id", &v("id"))
            .hint("1 to 64 letters, digits, '_', '.' or '-'.")
            .required()
            .render(e),
        Field::new("tenant", "name", "Name", &v("name")).required().render(e),
    );
    let status = if e.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(layout::page(status, nav, "Tenants", "tenants", &body))
}

async fn list(State(s): State<AppState>, con: Console, Query(q): Query<ListQuery>) -> Page {
    let nav = nav(&con, &s).await?;
    render(&con, &s, &nav, &q, None, &Errors::default()).await
}

async fn create(State(s): State<AppState>, con: Console, headers: HeaderMap, body: Bytes) -> Page {
    let nav = nav(&con, &s).await?;
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    let a =
        con.api(&s, Method::POST, "/tenants", Some(json!({ "id": form.text("id"), "name": form.text("name") }))).await;
    if !a.ok() {
        return render(&con, &s, &nav, &ListQuery::default(), Some(&form), &Errors::from_api(&a)).await;
    }
    Ok(Redirect::to("/console/tenants?done=created").into_response())
}
