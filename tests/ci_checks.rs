//! The CI gate's own logic, on fake test logs: `.ci/check-test-log` fails on any ignored or
//! filtered-out test and when fewer tests passed than the committed minimum (`.ci/min-passed`),
//! and `.ci/run` refuses `TESSERA_UPDATE_*` variables before doing anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The end-to-end tests `.ci/check-test-log` requires by name.
const NAMED: [&str; 6] = [
    "browser_oidc_postgres_redis",
    "browser_oidc_sqlite_memory",
    "three_instances_on_postgres_and_redis_serve_any_step_of_any_flow",
    "node_oidc_provider_upstream",
    "tessera_upstream",
    "browser_password_reset_and_mandatory_change",
];

/// A `cargo test` log of two binaries: the named tests plus `extra` lines in the second, whose
/// summary counts `passed`, `ignored` and `filtered` as given.
fn log(extra: &[&str], passed: u32, ignored: u32, filtered: u32) -> String {
    let mut out = String::from("     Running tests/a.rs\n\nrunning 8 tests\n");
    for name in NAMED {
        out.push_str(&format!("test {name} ... ok\n"));
    }
    out.push_str("test postgres_redis::flow ... ok\ntest sqlite_memory::flow ... ok\n\n");
    out.push_str("test result: ok. 8 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s\n\n");
    out.push_str("     Running tests/b.rs\n\nrunning 1 test\n");
    for line in extra {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!(
        "\ntest result: ok. {passed} passed; 0 failed; {ignored} ignored; 0 measured; {filtered} filtered out; \
         finished in 0.10s\n"
    ));
    out
}

fn check(log_text: &str, min: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (log_path, min_path) = (dir.path().join("test.log"), dir.path().join("min-passed"));
    std::fs::write(&log_path, log_text).unwrap();
    std::fs::write(&min_path, min).unwrap();
    Command::new("bash")
        .arg(repo().join(".ci/check-test-log"))
        .args([&log_path, &min_path])
        .output()
        .expect("bash runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn a_complete_log_passes_and_prints_both_counts() {
    let o = check(&log(&["test b::one ... ok"], 1, 0, 0), "# minimum, set from a full run\n9\n");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("passed: 9 (committed minimum: 9)"), "{}", text(&o));
}

#[test]
fn any_ignored_test_fails_whatever_its_name() {
    let o = check(&log(&["test b::slow_thing ... ignored"], 0, 1, 0), "8");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 tests were ignored") && text(&o).contains("b::slow_thing"), "{}", text(&o));
    // With a reason, as `#[ignore = "…"]` prints it.
    let o = check(&log(&["test b::other ... ignored, needs a GPU"], 0, 1, 0), "8");
    assert!(!o.status.success(), "{}", text(&o));
}

#[test]
fn fewer_passed_than_the_committed_minimum_fails() {
    let o = check(&log(&["test b::one ... ok"], 1, 0, 0), "10");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("only 9 tests passed, fewer than the committed minimum of 10"), "{}", text(&o));
}

#[test]
fn filtered_out_failed_or_missing_runs_fail() {
    let o = check(&log(&[], 0, 0, 3), "8");
    assert!(!o.status.success() && text(&o).contains("filtered out"), "{}", text(&o));
    let failed = log(&[], 0, 0, 0)
        .replace("0 failed; 0 ignored; 0 measured; 0 filtered", "2 failed; 0 ignored; 0 measured; 0 filtered");
    let o = check(&failed, "8");
    assert!(!o.status.success() && text(&o).contains("tests failed"), "{}", text(&o));
    let o = check("error: could not compile `tessera`\n", "0");
    assert!(!o.status.success() && text(&o).contains("no test summary"), "{}", text(&o));
    // The named end-to-end tests and the service-backed ones must be there.
    let o = check(&log(&[], 0, 0, 0).replace("test tessera_upstream ... ok\n", ""), "7");
    assert!(!o.status.success() && text(&o).contains("Tessera upstream"), "{}", text(&o));
    let no_postgres: String =
        log(&[], 0, 0, 0).lines().filter(|l| !l.contains("postgres")).map(|l| format!("{l}\n")).collect();
    let o = check(&no_postgres, "5");
    assert!(!o.status.success() && text(&o).contains("no PostgreSQL test passed"), "{}", text(&o));
}

#[test]
fn the_minimum_must_be_one_integer() {
    for bad in ["", "# nothing\n", "12 13", "many"] {
        let o = check(&log(&[], 0, 0, 0), bad);
        assert!(!o.status.success(), "{bad:?}: {}", text(&o));
        assert!(text(&o).contains("must hold one integer"), "{bad:?}: {}", text(&o));
    }
    let committed = std::fs::read_to_string(repo().join(".ci/min-passed")).expect(".ci/min-passed is committed");
    let value: String = committed.lines().map(|l| l.split('#').next().unwrap().trim()).collect();
    assert!(value.parse::<u32>().is_ok_and(|n| n > 500), ".ci/min-passed: {committed:?}");
}

#[test]
fn ci_run_refuses_update_variables_before_doing_anything() {
    // Only the tools the first lines need: were the check missing, the script would stop at
    // the first install step (no apt-get, pip, cargo here) rather than touch the machine.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["dirname", "grep", "tr", "sed"] {
        let found = ["/usr/bin", "/bin"].iter().map(|d| Path::new(d).join(tool)).find(|p| p.exists());
        std::os::unix::fs::symlink(found.unwrap_or_else(|| panic!("{tool} not found")), bin.path().join(tool)).unwrap();
    }
    let bash = ["/usr/bin/bash", "/bin/bash"].into_iter().find(|p| Path::new(p).exists()).expect("bash");
    let o = Command::new(bash)
        .arg(repo().join(".ci/run"))
        .env_clear()
        .env("PATH", bin.path())
        .env("CI", "true")
        .env("TESSERA_UPDATE_OPENAPI", "1")
        .output()
        .expect("bash runs");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("refusing to run with TESSERA_UPDATE_OPENAPI"), "{}", text(&o));
}
