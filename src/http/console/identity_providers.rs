//! Identity providers (the tenant's federation connections): the list, adding one, removing
//! one. The client secret is write-only: the API never returns it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Page;
use super::layout::{self, Errors, Field, Nav, esc, s as text, seg};
use super::session::{Console, Form};
use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}/identity-providers", get(list).post(create))
        .route("/console/t/{tenant}/identity-providers/{id}/delete", post(remove))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    done: Option<String>,
}

async fn render(con: &Console, s: &AppState, nav: &Nav, done: Option<&str>, f: Option<&Form>, e: &Errors) -> Page {
    let list = con.get(s, &format!("/{}/identity-providers", seg(nav.t()))).await?;
    let rows: String = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c: &Value| {
            let domains: Vec<&str> =
                c["email_domains"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(c, "id"),
                text(c, "name"),
                text(c, "issuer"),
                text(c, "client_id"),
                esc(&domains.join(", ")),
                if c["enabled"].as_bool() == Some(false) { "Disabled" } else { "Enabled" },
                layout::button_form(
                    nav,
                    &nav.path(&format!("/identity-providers/{}/delete", seg(c["id"].as_str().unwrap_or("")))),
                    "Remove",
                    "danger"
                ),
            )
        })
        .collect();
    let v = |k: &str| f.map(|f| f.text(k)).unwrap_or_default();
    let methods = [
        ("client_secret_basic".to_string(), "client_secret_basic".to_string()),
        ("client_secret_post".to_string(), "client_secret_post".to_string()),
        ("private_key_jwt".to_string(), "private_key_jwt (Tessera's signing key)".to_string()),
    ];
    let redirect = s.provider.settings.url(crate::federation::CALLBACK_PATH);
    let body = format!(
        "<h1>Identity providers</h1>{}<p class=\"muted\">Upstream OpenID providers people of this tenant can sign in with. \
Register <code>{}</code> as the redirect URI at the provider.</p>\
<table id=\"identity-providers\"><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Name</th><th scope=\"col\">Issuer</th><th scope=\"col\">Client id</th><th scope=\"col\">Email domains</th><th scope=\"col\">State</th><th scope=\"col\"><span class=\"muted\">Actions</span></th></tr></thead><tbody>{rows}</tbody></table>\
<h2>Add an identity provider</h2><form method=\"post\" action=\"{}\" id=\"idp-form\">{}{}{}{}{}{}{}{}{}<button type=\"submit\">Add identity provider</button></form>",
        layout::done(done),
        esc(&redirect),
        nav.path("/identity-providers"),
        nav.csrf_field(),
        e.summary("idp"),
        Field::new("idp", "id", "Id", &v("id"))
            .hint("1 to 64 letters, digits, '_', '.' or '-'; it appears in idp_hint.")
            .required()
            .render(e),
        Field::new("idp", "name", "Name", &v("name")).hint("Shown on the sign-in button.").required().render(e),
        Field::new("idp", "issuer", "Issuer", &v("issuer"))
            .hint("Exactly the iss of its tokens (https).")
            .required()
            .render(e),
        Field::new("idp", "client_id", "Client id", &v("client_id")).required().render(e),
        Field::new("idp", "client_secret", "Client secret", "")
            .kind("password")
            .hint("Stored sealed; never shown again.")
            .render(e),
        layout::select("idp", "auth_method", "Client authentication", &methods, &v("auth_method"), e),
        Field::new("idp", "email_domains", "Email domains", &v("email_domains"))
            .hint("Optional, separated by commas: only these domains may sign in through it.")
            .render(e),
    );
    let status = if e.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(layout::page(status, nav, "Identity providers", "identity-providers", &body))
}

async fn list(State(s): State<AppState>, con: Console, Path(tenant): Path<String>, Query(q): Query<ListQuery>) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    render(&con, &s, &nav, q.done.as_deref(), None, &Errors::default()).await
}

async fn create(
    State(s): State<AppState>,
    con: Console,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    let domains: Vec<&str> =
        form.get("email_domains").unwrap_or("").split([',', ' ', '\n', '\r', '\t']).filter(|d| !d.is_empty()).collect();
    let body = json!({
        "id": form.opt("id"),
        "name": form.text("name"),
        "issuer": form.text("issuer"),
        "client_id": form.text("client_id"),
        "client_secret": form.opt("client_secret"),
        "auth_method": form.opt("auth_method").unwrap_or_else(|| "client_secret_basic".into()),
        "email_domains": domains,
    });
    let a = con.api(&s, Method::POST, &format!("/{}/identity-providers", seg(nav.t())), Some(body)).await;
    if !a.ok() {
        return render(&con, &s, &nav, None, Some(&form), &Errors::from_api(&a)).await;
    }
    Ok(Redirect::to(&format!("{}?done=created", nav.path("/identity-providers"))).into_response())
}

async fn remove(
    State(s): State<AppState>,
    con: Console,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let nav = con.admin_nav(&s, &tenant).await?;
    let form = Form::parse(&headers, &body)?;
    con.check_csrf(&form)?;
    let a = con.api(&s, Method::DELETE, &format!("/{}/identity-providers/{}", seg(nav.t()), seg(&id)), None).await;
    if !a.ok() {
        return render(&con, &s, &nav, None, None, &Errors::from_api(&a)).await;
    }
    Ok(Redirect::to(&format!("{}?done=deleted", nav.path("/identity-providers"))).into_response())
}
