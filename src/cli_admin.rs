//! `tessera auths …`: the admin API from the command line, in two modes with one code path.
//! Without `--server`, the API runs in process on the configured database as the local
//! operator (Instance Admin rights, audited as `cli`); with `--server URL`, requests go over
//! HTTP with `--token` (a Bearer access token) or `--user name:password` (Basic).

use axum::body::Body;
use axum::http::{Method, Request, header};
use clap::{Args, Subcommand};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::config::Config;
use crate::server::BoxError;

/// Where the admin API is.
#[derive(Args, Debug, Clone, Default)]
pub struct Remote {
    /// A running Tessera, e.g. https://id.example.com. Without it, work on the database.
    #[arg(long, global = true, env = "TESSERA_SERVER")]
    pub server: Option<String>,
    /// An access token for the admin API (audience {issuer}/api).
    #[arg(long, global = true, env = "TESSERA_TOKEN", conflicts_with = "user")]
    pub token: Option<String>,
    /// name:password, for Basic authentication.
    #[arg(long, global = true, env = "TESSERA_USER")]
    pub user: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ApiCmd {
    /// Tenants (Instance Admin).
    #[command(subcommand)]
    Tenants(TenantsCmd),
    /// Groups of a tenant and their members.
    #[command(subcommand)]
    Groups(GroupsCmd),
    /// Roles of a tenant.
    #[command(subcommand)]
    Roles(RolesCmd),
    /// Role bindings of a tenant.
    #[command(subcommand)]
    Bindings(BindingsCmd),
    /// Service accounts of a tenant.
    #[command(subcommand, name = "service-accounts")]
    ServiceAccounts(ServiceAccountsCmd),
    /// Any admin API call: `tessera auths api GET /acme/users`.
    Api {
        method: String,
        /// The path under /api/v1.
        path: String,
        /// A JSON body.
        #[arg(long)]
        data: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TenantsCmd {
    List,
    Create {
        id: String,
        #[arg(long)]
        name: String,
    },
    Rename {
        id: String,
        #[arg(long)]
        name: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum GroupsCmd {
    List {
        #[arg(long)]
        tenant: String,
    },
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    Delete {
        #[arg(long)]
        tenant: String,
        id: String,
    },
    Members {
        #[arg(long)]
        tenant: String,
        id: String,
    },
    /// Attach a user (by id) or a service account.
    AddMember {
        #[arg(long)]
        tenant: String,
        id: String,
        #[arg(long = "user-id")]
        user_id: Option<String>,
        #[arg(long = "service-account-id")]
        service_account_id: Option<String>,
    },
    RemoveMember {
        #[arg(long)]
        tenant: String,
        id: String,
        #[arg(long = "user-id")]
        user_id: Option<String>,
        #[arg(long = "service-account-id")]
        service_account_id: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RolesCmd {
    List {
        #[arg(long)]
        tenant: String,
    },
    /// `--permission FLOW:READ --permission EXECUTION:CREATE …`
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        name: String,
        #[arg(long = "permission")]
        permissions: Vec<String>,
    },
    Delete {
        #[arg(long)]
        tenant: String,
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum BindingsCmd {
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Bind a role to one principal, tenant-wide or on `--namespace` (repeatable).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        role: String,
        #[arg(long = "user-id")]
        user_id: Option<String>,
        #[arg(long = "group-id")]
        group_id: Option<String>,
        #[arg(long = "service-account-id")]
        service_account_id: Option<String>,
        #[arg(long = "namespace")]
        namespaces: Vec<String>,
    },
    Delete {
        #[arg(long)]
        tenant: String,
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ServiceAccountsCmd {
    List {
        #[arg(long)]
        tenant: String,
    },
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    Delete {
        #[arg(long)]
        tenant: String,
        id: String,
    },
}

fn principal(
    user: Option<String>,
    group: Option<String>,
    sa: Option<String>,
) -> Result<(&'static str, String), BoxError> {
    match (user, group, sa) {
        (Some(u), None, None) => Ok(("user", u)),
        (None, Some(g), None) => Ok(("group", g)),
        (None, None, Some(s)) => Ok(("service_account", s)),
        _ => Err("name exactly one of --user-id, --group-id, --service-account-id".into()),
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Translates a command into (method, path under /api/v1, body).
pub fn request(cmd: ApiCmd) -> Result<(Method, String, Option<Value>), BoxError> {
    use Method as M;
    Ok(match cmd {
        ApiCmd::Tenants(c) => match c {
            TenantsCmd::List => (M::GET, "/tenants".into(), None),
            TenantsCmd::Create { id, name } => (M::POST, "/tenants".into(), Some(json!({ "id": id, "name": name }))),
            TenantsCmd::Rename { id, name } => {
                (M::PATCH, format!("/tenants/{}", enc(&id)), Some(json!({ "name": name })))
            }
            TenantsCmd::Delete { id } => (M::DELETE, format!("/tenants/{}", enc(&id)), None),
        },
        ApiCmd::Groups(c) => match c {
            GroupsCmd::List { tenant } => (M::GET, format!("/{}/groups", enc(&tenant)), None),
            GroupsCmd::Create { tenant, id, name, description } => (
                M::POST,
                format!("/{}/groups", enc(&tenant)),
                Some(json!({ "id": id, "name": name, "description": description })),
            ),
            GroupsCmd::Delete { tenant, id } => (M::DELETE, format!("/{}/groups/{}", enc(&tenant), enc(&id)), None),
            GroupsCmd::Members { tenant, id } => {
                (M::GET, format!("/{}/groups/{}/members", enc(&tenant), enc(&id)), None)
            }
            GroupsCmd::AddMember { tenant, id, user_id, service_account_id } => {
                let (kind, who) = principal(user_id, None, service_account_id)?;
                (
                    M::POST,
                    format!("/{}/groups/{}/members", enc(&tenant), enc(&id)),
                    Some(json!({ "kind": kind, "id": who })),
                )
            }
            GroupsCmd::RemoveMember { tenant, id, user_id, service_account_id } => {
                let (kind, who) = principal(user_id, None, service_account_id)?;
                (M::DELETE, format!("/{}/groups/{}/members/{kind}/{}", enc(&tenant), enc(&id), enc(&who)), None)
            }
        },
        ApiCmd::Roles(c) => match c {
            RolesCmd::List { tenant } => (M::GET, format!("/{}/roles", enc(&tenant)), None),
            RolesCmd::Create { tenant, id, name, permissions } => (
                M::POST,
                format!("/{}/roles", enc(&tenant)),
                Some(json!({ "id": id, "name": name, "permissions": permissions })),
            ),
            RolesCmd::Delete { tenant, id } => (M::DELETE, format!("/{}/roles/{}", enc(&tenant), enc(&id)), None),
        },
        ApiCmd::Bindings(c) => match c {
            BindingsCmd::List { tenant } => (M::GET, format!("/{}/bindings", enc(&tenant)), None),
            BindingsCmd::Create { tenant, role, user_id, group_id, service_account_id, namespaces } => {
                let (kind, who) = principal(user_id, group_id, service_account_id)?;
                let body =
                    json!({ "role_id": role, "principal_kind": kind, "principal_id": who, "namespaces": namespaces });
                (M::POST, format!("/{}/bindings", enc(&tenant)), Some(body))
            }
            BindingsCmd::Delete { tenant, id } => (M::DELETE, format!("/{}/bindings/{}", enc(&tenant), enc(&id)), None),
        },
        ApiCmd::ServiceAccounts(c) => match c {
            ServiceAccountsCmd::List { tenant } => (M::GET, format!("/{}/service-accounts", enc(&tenant)), None),
            ServiceAccountsCmd::Create { tenant, id, name, description } => (
                M::POST,
                format!("/{}/service-accounts", enc(&tenant)),
                Some(json!({ "id": id, "name": name, "description": description })),
            ),
            ServiceAccountsCmd::Delete { tenant, id } => {
                (M::DELETE, format!("/{}/service-accounts/{}", enc(&tenant), enc(&id)), None)
            }
        },
        ApiCmd::Api { method, path, data } => {
            let m =
                Method::from_bytes(method.to_uppercase().as_bytes()).map_err(|_| format!("unknown method {method}"))?;
            let body =
                data.map(|d| serde_json::from_str(&d)).transpose().map_err(|e| format!("--data is not JSON: {e}"))?;
            (m, if path.starts_with('/') { path } else { format!("/{path}") }, body)
        }
    })
}

/// Drops the `null` members of a JSON object body (optional arguments not given).
fn prune(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// Runs a command and prints the answer; an error status is an error with the problem detail.
pub async fn run(config: &Config, remote: &Remote, cmd: ApiCmd) -> Result<(), BoxError> {
    let (method, path, body) = request(cmd)?;
    let body = body.map(prune);
    let (status, text) = match &remote.server {
        Some(server) => call_remote(server, remote, method, &path, body).await?,
        None => call_local(config, method, &path, body).await?,
    };
    let shown = serde_json::from_str::<Value>(&text)
        .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
        .unwrap_or(text);
    if (200..300).contains(&status) {
        if !shown.is_empty() {
            println!("{shown}");
        }
        Ok(())
    } else {
        Err(format!("HTTP {status}: {shown}").into())
    }
}

async fn call_local(
    config: &Config,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, String), BoxError> {
    let stores = crate::server::open_stores(config).await?;
    let keys = std::sync::Arc::new(crate::keys::KeySet::ephemeral()?);
    let kv: std::sync::Arc<dyn crate::kv::Kv> = std::sync::Arc::new(crate::kv::MemoryKv::new());
    let state = crate::server::state(config, keys, stores, kv);
    let audit = state.audit.clone();
    let app = crate::http::app(state);
    let mut req = Request::builder().method(method).uri(format!("/api/v1{path}"));
    let payload = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let mut req = req.body(payload)?;
    req.extensions_mut().insert(crate::http::admin::Operator);
    let res = app.oneshot(req).await?;
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await?.to_bytes();
    audit.flush().await;
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

async fn call_remote(
    server: &str,
    r: &Remote,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, String), BoxError> {
    let url = format!("{}/api/v1{path}", server.trim_end_matches('/'));
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
    let mut req = http.request(reqwest::Method::from_bytes(method.as_str().as_bytes())?, &url);
    req = match (&r.token, &r.user) {
        (Some(t), _) => req.bearer_auth(t),
        (None, Some(u)) => {
            let (name, pass) = u.split_once(':').ok_or("--user takes name:password")?;
            req.basic_auth(name, Some(pass))
        }
        (None, None) => return Err("--server needs --token or --user".into()),
    };
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.map_err(|e| format!("cannot reach {server}: {e}"))?;
    let status = res.status().as_u16();
    Ok((status, res.text().await?))
}
