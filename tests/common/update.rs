//! `TESSERA_UPDATE_*` variables: a developer regenerates a committed file (the OpenAPI
//! document, the test vectors, the console screenshots) by running its test with the variable
//! set. Under CI that is refused: CI only compares, it never rewrites what it checks.
//!
//! Include from a test crate with `mod common;` (as `common::update`) or
//! `#[path = "common/update.rs"] mod update;`.
#![allow(dead_code)]

/// Whether CI is running (`CI` set to anything but empty, `0` or `false`), as GitHub Actions,
/// GitLab and `.ci/run` set it.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Whether `var` (a `TESSERA_UPDATE_*` name) asks to regenerate: set and not empty or `0`.
/// Panics under CI when it is set, so the test fails instead of rewriting its reference.
pub fn requested(var: &str) -> bool {
    let set = std::env::var_os(var).is_some_and(|v| !v.is_empty() && v != "0");
    assert!(
        !(set && under_ci()),
        "{var} is set while CI={:?}: CI must compare with the committed files, never regenerate them",
        std::env::var("CI").unwrap_or_default()
    );
    set
}
