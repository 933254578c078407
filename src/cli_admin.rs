//! `tessera auths …`: the admin API from the command line, in two modes with one code path.
//! Without `--server`, the API runs in process on the configured database as the local
//! operator (Instance Admin rights, audited as `cli`); with `--server URL`, requests go over
//! HTTP with `--token` (sent as `Authorization: Bearer`: an access token for the admin API or a
//! service account's API token, `tsa_…`) or `--user name:password` (Basic).
//!
//! Secrets: a created API token or client secret is in the answer that creates it, printed
//! once on standard output; nothing else prints it, and `--token`/`--user` never appear in
//! help (`hide_env_values`), debug output or error messages.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Method, Request, header};
use clap::{Args, Subcommand};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::config::Config;
use crate::server::BoxError;

/// Where the admin API is.
#[derive(Args, Clone, Default)]
pub struct Remote {
    /// A running Tessera, e.g. https://id.example.com. Without it, work on the database.
    #[arg(long, global = true, env = "TESSERA_SERVER")]
    pub server: Option<String>,
    /// Sent as `Authorization: Bearer` with --server: an access token for the admin API
    /// (audience {issuer}/api) or a service account's API token (tsa_…), which then acts
    /// with the account's role bindings.
    #[arg(long, global = true, env = "TESSERA_TOKEN", hide_env_values = true, conflicts_with = "user")]
    pub token: Option<String>,
    /// name:password, for Basic authentication with --server.
    #[arg(long, global = true, env = "TESSERA_USER", hide_env_values = true)]
    pub user: Option<String>,
}

/// Never shows the credentials.
impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |o: &Option<String>| o.as_ref().map(|_| "<hidden>");
        f.debug_struct("Remote")
            .field("server", &self.server)
            .field("token", &hidden(&self.token))
            .field("user", &hidden(&self.user))
            .finish()
    }
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
    /// Service accounts of a tenant, their API tokens and their OAuth clients.
    #[command(subcommand, name = "service-accounts")]
    ServiceAccounts(ServiceAccountsCmd),
    /// Trusted external OIDC issuers (CI systems, Kubernetes clusters) whose tokens a job
    /// exchanges for a service account's access token, with no stored secret.
    #[command(subcommand, name = "workload-identities")]
    WorkloadIdentities(WorkloadIdentitiesCmd),
    /// Upstream OpenID providers people sign in through (federation), of a tenant
    /// (`--tenant`) or, without it, of the whole instance.
    #[command(subcommand, name = "identity-providers")]
    IdentityProviders(IdentityProvidersCmd),
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
    /// One service account and its groups.
    Get {
        #[arg(long)]
        tenant: String,
        id: String,
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
        /// An audience the account may get tokens for (repeatable; the first is the default).
        #[arg(long = "audience")]
        audiences: Vec<String>,
    },
    /// Change the name, description or audiences (the options given; the rest stay).
    Update {
        #[arg(long)]
        tenant: String,
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Replaces the audiences (repeatable).
        #[arg(long = "audience", conflicts_with = "clear_audiences")]
        audiences: Vec<String>,
        /// Remove every audience.
        #[arg(long)]
        clear_audiences: bool,
    },
    Delete {
        #[arg(long)]
        tenant: String,
        id: String,
    },
    /// API tokens of a service account: shown once at creation, usable as `--token` and in a
    /// token exchange; they expire, are revoked and rotate.
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// OAuth clients acting as a service account with client_credentials (a client secret,
    /// shown once, or private_key_jwt with registered public keys).
    #[command(subcommand)]
    Clients(SaClientsCmd),
}

/// The service account whose credentials a command manages.
#[derive(Args, Debug)]
pub struct AccountRef {
    #[arg(long)]
    pub tenant: String,
    /// The service account's id.
    #[arg(long = "service-account", alias = "service-account-id", value_name = "ID")]
    pub service_account: String,
}

#[derive(Subcommand, Debug)]
pub enum TokensCmd {
    /// Create a token; it is printed once (the `token` field): store it now.
    Create {
        #[command(flatten)]
        account: AccountRef,
        #[arg(long)]
        name: String,
        /// Lifetime in seconds (60 to 10 years). Default: no expiry.
        #[arg(long, value_name = "SECONDS", conflicts_with = "expires_at")]
        expires_in: Option<i64>,
        /// Expiry as Unix seconds.
        #[arg(long, value_name = "UNIX")]
        expires_at: Option<i64>,
    },
    /// The tokens of the account, without their secret: id, name, hint, status, dates.
    List {
        #[command(flatten)]
        account: AccountRef,
    },
    /// One token, without its secret.
    Get {
        #[command(flatten)]
        account: AccountRef,
        #[arg(long)]
        token_id: String,
    },
    /// Revoke a token: the next use or exchange fails.
    Revoke {
        #[command(flatten)]
        account: AccountRef,
        #[arg(long)]
        token_id: String,
    },
    /// Create the token's successor (printed once); the old one keeps working for the overlap.
    Rotate {
        #[command(flatten)]
        account: AccountRef,
        #[arg(long)]
        token_id: String,
        /// How long the old token keeps working (default one day, at most 30; 0 revokes it now).
        #[arg(long, value_name = "SECONDS")]
        overlap_seconds: Option<i64>,
        /// The new token's lifetime in seconds (default: the old token's lifetime).
        #[arg(long, value_name = "SECONDS", conflicts_with = "expires_at")]
        expires_in: Option<i64>,
        #[arg(long, value_name = "UNIX")]
        expires_at: Option<i64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SaClientsCmd {
    /// Create a client; a client secret is printed once (`client_secret`): store it now.
    Create {
        #[command(flatten)]
        account: AccountRef,
        #[arg(long)]
        name: Option<String>,
        /// How the client authenticates at the token endpoint.
        #[arg(
            long,
            default_value = "client_secret_basic",
            value_parser = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
        )]
        auth_method: String,
        /// The client's public keys for private_key_jwt: a JWK Set (or one JWK) in a JSON file.
        #[arg(long, value_name = "PATH")]
        jwks_file: Option<PathBuf>,
        /// An audience its tokens may have (repeatable; the first is the default). Default:
        /// the account's audiences, else the admin API.
        #[arg(long = "audience")]
        audiences: Vec<String>,
        /// ES256, RS256 or EdDSA (default: the server's).
        #[arg(long)]
        access_token_alg: Option<String>,
    },
    List {
        #[command(flatten)]
        account: AccountRef,
    },
    Delete {
        #[command(flatten)]
        account: AccountRef,
        #[arg(long)]
        client_id: String,
    },
}

// Parsed once per command-line run: the size of the `Create` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum IdentityProvidersCmd {
    List {
        /// The tenant; without it, the instance-wide providers.
        #[arg(long)]
        tenant: Option<String>,
    },
    Get {
        #[arg(long)]
        tenant: Option<String>,
        id: String,
    },
    /// Connect an upstream OpenID provider. Register `{issuer}/login/federated/callback` as
    /// the redirect URI there (and `{issuer}/login/federated/logged-out` for logout).
    Create {
        #[arg(long)]
        tenant: Option<String>,
        /// Appears in `idp_hint` and on the login page's button's form.
        #[arg(long)]
        id: String,
        /// The button reads "Sign in with NAME".
        #[arg(long)]
        name: String,
        /// The upstream issuer (its discovery document gives endpoints and keys).
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        client_id: String,
        /// A file holding the client secret (`-` for standard input); never on the command line.
        #[arg(long, value_name = "FILE")]
        client_secret_file: Option<PathBuf>,
        /// client_secret_basic (default), client_secret_post or private_key_jwt.
        #[arg(long)]
        auth_method: Option<String>,
        /// A scope to request (repeatable; default: openid profile email).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// An email domain of this provider: home-realm discovery and the only domains allowed
        /// (repeatable).
        #[arg(long = "email-domain")]
        email_domains: Vec<String>,
        /// never (default) or verified_email: link an existing user with the same verified email.
        #[arg(long)]
        link: Option<String>,
        /// Do not create users at their first sign-in.
        #[arg(long)]
        no_jit: bool,
        /// The tenant of the users an instance-wide provider creates.
        #[arg(long)]
        home_tenant: Option<String>,
        /// UPSTREAM=GROUP (or UPSTREAM=TENANT/GROUP for an instance-wide provider): holders
        /// of the upstream group value are members of the group (repeatable).
        #[arg(long = "map-group", value_name = "UPSTREAM=GROUP")]
        group_mappings: Vec<String>,
        /// The upstream claim that carries the groups (default: groups).
        #[arg(long)]
        groups_claim: Option<String>,
        /// Do not end the upstream session at logout.
        #[arg(long)]
        no_end_session: bool,
    },
    Delete {
        #[arg(long)]
        tenant: Option<String>,
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum WorkloadIdentitiesCmd {
    List {
        #[arg(long)]
        tenant: String,
    },
    Get {
        #[arg(long)]
        tenant: String,
        id: String,
    },
    /// Trust an issuer's tokens for one audience, with claim rules, as one service account:
    /// `--claim repository=acme/app --claim ref=refs/heads/main`.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        name: String,
        /// The issuer, exactly as the `iss` of its tokens.
        #[arg(long)]
        issuer: String,
        /// Where its keys are (default: found by OIDC discovery on the issuer).
        #[arg(long)]
        jwks_uri: Option<String>,
        /// The `aud` its tokens must carry.
        #[arg(long)]
        audience: String,
        /// A claim rule, name=pattern (`*` matches any run of characters); at least one,
        /// repeatable.
        #[arg(long = "claim", value_name = "NAME=PATTERN", required = true)]
        claims: Vec<String>,
        /// The service account the matching workloads act as.
        #[arg(long = "service-account", alias = "service-account-id", value_name = "ID")]
        service_account: String,
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

/// `/{tenant}/identity-providers`, or `/identity-providers` for the instance.
fn idp_base(tenant: &Option<String>) -> String {
    match tenant {
        Some(t) => format!("/{}/identity-providers", enc(t)),
        None => "/identity-providers".to_string(),
    }
}

fn identity_providers_request(c: IdentityProvidersCmd) -> Result<(Method, String, Option<Value>), BoxError> {
    use Method as M;
    Ok(match c {
        IdentityProvidersCmd::List { tenant } => (M::GET, idp_base(&tenant), None),
        IdentityProvidersCmd::Get { tenant, id } => (M::GET, format!("{}/{}", idp_base(&tenant), enc(&id)), None),
        IdentityProvidersCmd::Delete { tenant, id } => (M::DELETE, format!("{}/{}", idp_base(&tenant), enc(&id)), None),
        IdentityProvidersCmd::Create {
            tenant,
            id,
            name,
            issuer,
            client_id,
            client_secret_file,
            auth_method,
            scopes,
            email_domains,
            link,
            no_jit,
            home_tenant,
            group_mappings,
            groups_claim,
            no_end_session,
        } => {
            let secret = match client_secret_file {
                None => None,
                Some(p) if p.as_os_str() == "-" => {
                    let mut s = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                    Some(s.trim_end_matches(['\r', '\n']).to_string())
                }
                Some(p) => Some(
                    std::fs::read_to_string(&p)
                        .map_err(|e| format!("cannot read {}: {e}", p.display()))?
                        .trim_end_matches(['\r', '\n'])
                        .to_string(),
                ),
            };
            let mut mappings = Vec::new();
            for m in &group_mappings {
                let (upstream, group) =
                    m.rsplit_once('=').ok_or_else(|| format!("--map-group {m}: use UPSTREAM=GROUP"))?;
                let (tenant, group) = match group.split_once('/') {
                    Some((t, g)) => (Some(t), g),
                    None => (None, group),
                };
                mappings.push(json!({ "upstream": upstream, "tenant": tenant, "group": group }));
            }
            let mut body = json!({
                "id": id,
                "name": name,
                "issuer": issuer,
                "client_id": client_id,
                "client_secret": secret,
                "email_domains": email_domains,
                "jit": !no_jit,
                "home_tenant": home_tenant,
                "group_mappings": mappings,
                "end_session": !no_end_session,
            });
            if let Some(a) = auth_method {
                body["auth_method"] = json!(a);
            }
            if !scopes.is_empty() {
                body["scopes"] = json!(scopes);
            }
            if let Some(l) = link {
                body["link"] = json!(l);
            }
            if let Some(g) = groups_claim {
                body["claims"] = json!({ "groups": g });
            }
            (M::POST, idp_base(&tenant), Some(body))
        }
    })
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl AccountRef {
    /// `/{tenant}/service-accounts/{id}/{what}`.
    fn path(&self, what: &str) -> String {
        format!("/{}/service-accounts/{}/{what}", enc(&self.tenant), enc(&self.service_account))
    }
}

/// `name=pattern` rules as a map; each name once.
fn claim_rules(rules: &[String]) -> Result<BTreeMap<String, String>, BoxError> {
    let mut map = BTreeMap::new();
    for rule in rules {
        let (name, pattern) = rule
            .split_once('=')
            .ok_or_else(|| format!("--claim '{rule}': use name=pattern, e.g. repository=acme/*"))?;
        if name.trim().is_empty() {
            return Err(format!("--claim '{rule}': the claim name is empty").into());
        }
        if map.insert(name.trim().to_string(), pattern.to_string()).is_some() {
            return Err(format!("--claim: '{}' is given twice", name.trim()).into());
        }
    }
    Ok(map)
}

/// A JWK Set from a file; a single JWK is wrapped in a set.
fn read_jwks(path: &std::path::Path) -> Result<Value, BoxError> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--jwks-file {}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("--jwks-file {}: not JSON: {e}", path.display()))?;
    Ok(if v.get("kty").is_some() { json!({ "keys": [v] }) } else { v })
}

fn tokens_request(c: TokensCmd) -> (Method, String, Option<Value>) {
    use Method as M;
    match c {
        TokensCmd::Create { account, name, expires_in, expires_at } => (
            M::POST,
            account.path("tokens"),
            Some(json!({ "name": name, "expires_in": expires_in, "expires_at": expires_at })),
        ),
        TokensCmd::List { account } => (M::GET, account.path("tokens"), None),
        TokensCmd::Get { account, token_id } => (M::GET, account.path(&format!("tokens/{}", enc(&token_id))), None),
        TokensCmd::Revoke { account, token_id } => {
            (M::DELETE, account.path(&format!("tokens/{}", enc(&token_id))), None)
        }
        TokensCmd::Rotate { account, token_id, overlap_seconds, expires_in, expires_at } => (
            M::POST,
            account.path(&format!("tokens/{}/rotate", enc(&token_id))),
            Some(json!({ "overlap_seconds": overlap_seconds, "expires_in": expires_in, "expires_at": expires_at })),
        ),
    }
}

fn sa_clients_request(c: SaClientsCmd) -> Result<(Method, String, Option<Value>), BoxError> {
    use Method as M;
    Ok(match c {
        SaClientsCmd::Create { account, name, auth_method, jwks_file, audiences, access_token_alg } => {
            if jwks_file.is_some() != (auth_method == "private_key_jwt") {
                return Err("--jwks-file goes with --auth-method private_key_jwt, and only with it".into());
            }
            let jwks = jwks_file.as_deref().map(read_jwks).transpose()?;
            let audiences = (!audiences.is_empty()).then_some(audiences);
            let body = json!({
                "name": name,
                "auth_method": auth_method,
                "jwks": jwks,
                "audiences": audiences,
                "access_token_alg": access_token_alg,
            });
            (M::POST, account.path("clients"), Some(body))
        }
        SaClientsCmd::List { account } => (M::GET, account.path("clients"), None),
        SaClientsCmd::Delete { account, client_id } => {
            (M::DELETE, account.path(&format!("clients/{}", enc(&client_id))), None)
        }
    })
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
            ServiceAccountsCmd::Get { tenant, id } => {
                (M::GET, format!("/{}/service-accounts/{}", enc(&tenant), enc(&id)), None)
            }
            ServiceAccountsCmd::Create { tenant, id, name, description, audiences } => (
                M::POST,
                format!("/{}/service-accounts", enc(&tenant)),
                Some(json!({ "id": id, "name": name, "description": description, "audiences": audiences })),
            ),
            ServiceAccountsCmd::Update { tenant, id, name, description, audiences, clear_audiences } => {
                let audiences = (clear_audiences || !audiences.is_empty()).then_some(audiences);
                if name.is_none() && description.is_none() && audiences.is_none() {
                    return Err("give --name, --description, --audience or --clear-audiences".into());
                }
                (
                    M::PATCH,
                    format!("/{}/service-accounts/{}", enc(&tenant), enc(&id)),
                    Some(json!({ "name": name, "description": description, "audiences": audiences })),
                )
            }
            ServiceAccountsCmd::Delete { tenant, id } => {
                (M::DELETE, format!("/{}/service-accounts/{}", enc(&tenant), enc(&id)), None)
            }
            ServiceAccountsCmd::Tokens(c) => tokens_request(c),
            ServiceAccountsCmd::Clients(c) => sa_clients_request(c)?,
        },
        ApiCmd::WorkloadIdentities(c) => match c {
            WorkloadIdentitiesCmd::List { tenant } => (M::GET, format!("/{}/workload-identities", enc(&tenant)), None),
            WorkloadIdentitiesCmd::Get { tenant, id } => {
                (M::GET, format!("/{}/workload-identities/{}", enc(&tenant), enc(&id)), None)
            }
            WorkloadIdentitiesCmd::Create { tenant, id, name, issuer, jwks_uri, audience, claims, service_account } => {
                let body = json!({
                    "id": id,
                    "name": name,
                    "issuer": issuer,
                    "jwks_uri": jwks_uri,
                    "audience": audience,
                    "claims": claim_rules(&claims)?,
                    "service_account_id": service_account,
                });
                (M::POST, format!("/{}/workload-identities", enc(&tenant)), Some(body))
            }
            WorkloadIdentitiesCmd::Delete { tenant, id } => {
                (M::DELETE, format!("/{}/workload-identities/{}", enc(&tenant), enc(&id)), None)
            }
        },
        ApiCmd::IdentityProviders(c) => identity_providers_request(c)?,
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
        None => {
            if remote.token.is_some() || remote.user.is_some() {
                eprintln!("note: --token and --user go with --server; working on the database as the local operator");
            }
            call_local(config, method, &path, body).await?
        }
    };
    let parsed = serde_json::from_str::<Value>(&text).ok();
    let shown = parsed.as_ref().map(|v| serde_json::to_string_pretty(v).unwrap_or_default()).unwrap_or(text);
    if (200..300).contains(&status) {
        if !shown.is_empty() {
            println!("{shown}");
        }
        if let Some(v) = &parsed
            && (v.get("token").is_some() || v.get("client_secret").is_some())
        {
            eprintln!("The secret above is shown once: store it now.");
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
    state.provider.federation.set_sealing_key(std::sync::Arc::new(crate::server::sealing_key(config)?));
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
        (Some(t), _) => {
            let t = t.trim();
            // A mistyped or truncated API token fails here, before any request.
            if crate::oauth::api_token::looks_like(t) && !crate::oauth::api_token::is_well_formed(t) {
                return Err("--token is not a valid API token (tsa_…): check for a typo or a truncated copy".into());
            }
            req.bearer_auth(t)
        }
        (None, Some(u)) => {
            let (name, pass) = u.split_once(':').ok_or("--user takes name:password")?;
            req.basic_auth(name, Some(pass))
        }
        (None, None) => return Err("--server needs --token (an access token or API token) or --user".into()),
    };
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.map_err(|e| format!("cannot reach {server}: {e}"))?;
    let status = res.status().as_u16();
    Ok((status, res.text().await?))
}
