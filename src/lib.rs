//! Tessera: an OpenID Connect provider and OAuth 2.0 token issuer.
//!
//! Layout (see `docs/ARCHITECTURE.md`): [`oauth`] is the protocol engine, free of HTTP;
//! [`http`] maps HTTP to it; [`store`] and [`kv`] are the durable and short-lived state;
//! [`keys`] signs; [`server`] wires everything from a [`config::Config`]; [`cli`] is the binary.
#![forbid(unsafe_code)]

pub mod admin;
pub mod cli;
pub mod cli_admin;
pub mod config;
pub mod crypto;
pub mod federation;
pub mod http;
pub mod identity;
pub mod keys;
pub mod kv;
pub mod mail;
pub mod metrics;
pub mod oauth;
pub mod outbound;
pub mod password;
pub mod rbac;
pub mod sealing;
pub mod server;
pub mod store;
pub mod throttle;
pub mod webauthn;

pub use http::{AppState, app};
