//! The administration console in headless Chromium, against the built binary: a Tenant Admin
//! signs in through Tessera, creates a role with the permission matrix, a group, a user, adds
//! the user to the group, binds the role on a namespace, creates a service account and an API
//! token (shown once, copied with the button), an identity provider; a person without admin rights sees no
//! Administration menu; the Tenant Admin of another tenant sees none of it. Each page is
//! photographed (into a temporary folder; into docs/console/, committed and linked from the
//! README, with `TESSERA_UPDATE_SCREENSHOTS=1`).
//!
//! Needs Debian's `chromium` and `chromium-driver` (a missing piece is a failure that says how
//! to install it, never a skip).

#[path = "common/browser.rs"]
mod browser;
#[path = "common/update.rs"]
mod update;

use std::path::{Path, PathBuf};

use browser::{ChromeDriver, Tessera, eventually, require_browser};
use fantoccini::{Client, Locator, elements::Element};

const PASSWORD: &str = "Correct-Horse-Battery-Staple-7";

/// The browser, on the server under test, taking screenshots.
struct Console {
    browser: Client,
    issuer: String,
    shots: PathBuf,
}

impl Console {
    async fn goto(&self, path: &str) {
        self.browser.goto(&format!("{}{path}", self.issuer)).await.unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    async fn css(&self, selector: &str) -> Element {
        let b = self.browser.clone();
        let what = format!("the element {selector}");
        eventually(&what, || {
            let b = b.clone();
            async move { b.find(Locator::Css(selector)).await.map_err(|e| e.to_string()) }
        })
        .await
    }

    /// The field of a form, by its label's text (every field has one).
    async fn labelled(&self, form: &str, label: &str) -> Element {
        let xpath = format!("//form[@id='{form}']//label[normalize-space()='{label}']");
        let b = self.browser.clone();
        let label_el = eventually(&format!("the label '{label}' of {form}"), || {
            let b = b.clone();
            let xpath = xpath.clone();
            async move { b.find(Locator::XPath(&xpath)).await.map_err(|e| e.to_string()) }
        })
        .await;
        let target = label_el.attr("for").await.unwrap().expect("the label names its field");
        self.css(&format!("[id=\"{target}\"]")).await
    }

    async fn fill(&self, form: &str, label: &str, text: &str) {
        let field = self.labelled(form, label).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap_or_else(|e| panic!("type into '{label}': {e}"));
    }

    async fn choose(&self, form: &str, label: &str, value: &str) {
        let field = self.labelled(form, label).await;
        field.select_by_value(value).await.unwrap_or_else(|e| panic!("choose {value} in '{label}': {e}"));
    }

    /// Submits a form with its button, and waits for the next page to load.
    async fn submit(&self, form: &str) {
        self.browser.execute("window.__consoleOld = true; return null", vec![]).await.unwrap();
        let button = self.css(&format!("form#{form} button[type=submit]")).await;
        button.click().await.unwrap();
        self.wait_new_page().await;
    }

    /// Waits until the page marked by [`Self::submit`] is replaced and loaded.
    async fn wait_new_page(&self) {
        let b = self.browser.clone();
        eventually("the next page", || {
            let b = b.clone();
            async move {
                let v = b
                    .execute("return window.__consoleOld === undefined && document.readyState === 'complete'", vec![])
                    .await
                    .map_err(|e| e.to_string())?;
                if v == serde_json::Value::Bool(true) { Ok(()) } else { Err("still the old page".into()) }
            }
        })
        .await;
    }

    async fn click_link(&self, text: &str) {
        self.browser.execute("window.__consoleOld = true; return null", vec![]).await.unwrap();
        let link = self.css_xpath(&format!("//a[normalize-space()='{text}']")).await;
        link.click().await.unwrap();
        self.wait_new_page().await;
    }

    async fn css_xpath(&self, xpath: &str) -> Element {
        let b = self.browser.clone();
        eventually(&format!("the element {xpath}"), || {
            let b = b.clone();
            async move { b.find(Locator::XPath(xpath)).await.map_err(|e| e.to_string()) }
        })
        .await
    }

    async fn source(&self) -> String {
        self.browser.source().await.unwrap()
    }

    async fn has(&self, selector: &str) -> bool {
        self.browser.find(Locator::Css(selector)).await.is_ok()
    }

    async fn shot(&self, name: &str) {
        let png = self.browser.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write the screenshot");
    }

    /// Signs in on Tessera's own page (the console sends the browser there).
    async fn sign_in(&self, username: &str) {
        self.goto("/console").await;
        let user = self.css("input#username").await;
        user.send_keys(username).await.unwrap();
        self.css("input#password").await.send_keys(PASSWORD).await.unwrap();
        self.css("form[action=login] button[type=submit]").await.click().await.unwrap();
        self.css("#signed-in-as").await;
    }

    /// Signs out of the console and of Tessera.
    async fn sign_out(&self) {
        self.css("form.signout button").await.click().await.unwrap();
        self.css("form[action=logout] button[type=submit]").await.click().await.unwrap();
        self.css("input#username").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_console_walk_through() {
    require_browser();
    let dir = tempfile::tempdir().expect("temporary folder");
    let env = vec![
        ("TESSERA__DATABASE__URL".to_string(), format!("sqlite://{}/t.db", dir.path().display())),
        ("TESSERA__STATE__BACKEND".to_string(), "memory".to_string()),
    ];
    let server = Tessera::start(dir.path(), env).await;
    let user = |name: &str, extra: &[&str]| {
        let email = format!("{name}@example.test");
        let mut args = vec!["auths", "users", "create", "--username", name, "--password", PASSWORD, "--email", &email];
        args.extend_from_slice(extra);
        server.cli(&args);
    };
    user("alice", &["--tenant-admin", "default"]);
    user("carol", &[]);
    user("dave", &["--tenant-admin", "acme"]);
    user("root", &["--instance-admin"]);

    let driver = ChromeDriver::start(dir.path()).await;
    let browser = driver.browser(dir.path()).await;
    browser.set_window_size(1280, 900).await.expect("window size");
    // The committed pictures change only when asked; a plain test run leaves the tree clean.
    let shots = if update::requested("TESSERA_UPDATE_SCREENSHOTS") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console")
    } else {
        dir.path().join("screenshots")
    };
    std::fs::create_dir_all(&shots).unwrap();
    let c = Console { browser, issuer: server.issuer.clone(), shots };
    let result = story(&c).await;
    c.browser.clone().close().await.ok();
    result
}

async fn story(c: &Console) {
    // A Tenant Admin signs in through Tessera and lands on Users.
    c.sign_in("alice").await;
    assert!(c.has("#admin-menu").await, "the Tenant Admin sees the Administration menu");
    assert!(c.source().await.contains("alice@example.test"));
    // Keyboard: the first Tab reaches the skip link, which is visible when focused.
    c.css("body").await.send_keys("\u{E004}").await.unwrap();
    let focused = c.browser.active_element().await.unwrap();
    assert_eq!(focused.text().await.unwrap(), "Skip to content");
    c.shot("users").await;

    // A role with the matrix.
    c.click_link("Roles").await;
    c.css("#roles").await;
    c.shot("roles").await;
    c.click_link("Create a role").await;
    c.fill("role-form", "Id", "flow-editor").await;
    c.fill("role-form", "Name", "Flow editor").await;
    for perm in ["FLOW:READ", "FLOW:UPDATE", "EXECUTION:CREATE", "EXECUTION:READ"] {
        c.css(&format!("[id=\"perm-{perm}\"]")).await.click().await.unwrap();
    }
    c.shot("role-create").await;
    c.submit("role-form").await;
    assert!(c.source().await.contains("id=\"role-id\">flow-editor"));
    assert!(c.css("[id=\"perm-FLOW:UPDATE\"]").await.is_selected().await.unwrap());
    assert!(!c.css("[id=\"perm-FLOW:DELETE\"]").await.is_selected().await.unwrap());

    // Server-side validation, shown next to the field.
    c.click_link("Groups").await;
    c.click_link("Create a group").await;
    c.fill("group-form", "Id", "bad id!").await;
    c.fill("group-form", "Name", "Engineers").await;
    c.submit("group-form").await;
    let error = c.css("#group-id-err").await.text().await.unwrap();
    assert!(error.contains("letters, digits"), "{error}");
    c.shot("form-error").await;
    // A group.
    c.fill("group-form", "Id", "engineers").await;
    c.submit("group-form").await;
    assert!(c.source().await.contains("id=\"group-id\">engineers"));

    // A user (no password: they must set one), then added to the group from the group page.
    c.click_link("Users").await;
    c.click_link("Create a user").await;
    c.fill("user-form", "Username", "erin").await;
    c.fill("user-form", "Email", "erin@example.test").await;
    c.fill("user-form", "Full name", "Erin Example").await;
    c.shot("user-create").await;
    c.submit("user-form").await;
    assert!(c.source().await.contains("Must set a password"));
    let erin_page = c.browser.current_url().await.unwrap();
    c.click_link("Groups").await;
    c.click_link("engineers").await;
    c.choose("member-form", "Kind", "user").await;
    c.fill("member-form", "User or service account", "erin@example.test").await;
    c.submit("member-form").await;
    assert!(c.css("#group-members").await.text().await.unwrap().contains("erin@example.test"));
    // The role bound to the group on a namespace.
    c.choose("bind-form", "Role", "flow-editor").await;
    c.fill("bind-form", "Namespaces", "prod").await;
    c.submit("bind-form").await;
    let access = c.css("#access").await.text().await.unwrap();
    assert!(access.contains("flow-editor") && access.contains("prod"), "{access}");
    c.shot("group").await;
    // The role also bound to the user directly, on a narrower namespace.
    c.browser.goto(erin_page.as_str()).await.unwrap();
    c.choose("bind-form", "Role", "flow-editor").await;
    c.fill("bind-form", "Namespaces", "staging.eu").await;
    c.submit("bind-form").await;
    let page = c.source().await;
    assert!(page.contains("staging.eu") && page.contains("engineers"));
    c.shot("user").await;

    // A service account and an API token, shown once, copied with the button.
    c.click_link("Service accounts").await;
    c.click_link("Create a service account").await;
    c.fill("sa-form", "Id", "ci-bot").await;
    c.fill("sa-form", "Name", "CI bot").await;
    c.submit("sa-form").await;
    c.choose("attach-form", "Group", "engineers").await;
    c.submit("attach-form").await;
    c.fill("token-form", "Token name", "deploy").await;
    c.fill("token-form", "Expires after (days)", "90").await;
    c.submit("token-form").await;
    let token = c.css("#token-value").await.prop("value").await.unwrap().unwrap_or_default();
    assert!(token.starts_with("tsa_"), "{token}");
    c.css("#copy-token").await.click().await.unwrap();
    let copied = c.css("#copy-token").await;
    eventually("the copy button to confirm", || {
        let copied = copied.clone();
        async move {
            let t = copied.text().await.map_err(|e| e.to_string())?;
            if t == "Copied" { Ok(()) } else { Err(t) }
        }
    })
    .await;
    c.shot("service-account-token").await;
    // The token is never shown again.
    c.click_link("Service accounts").await;
    c.click_link("ci-bot").await;
    assert!(!c.source().await.contains(&token));
    c.click_link("Service accounts").await;
    c.shot("service-accounts").await;

    c.click_link("Bindings").await;
    c.css("#bind-form").await;
    c.shot("bindings").await;
    // An identity provider (federation connection); its secret is never shown back.
    c.click_link("Identity providers").await;
    c.fill("idp-form", "Id", "corp").await;
    c.fill("idp-form", "Name", "Corp SSO").await;
    c.fill("idp-form", "Issuer", "https://idp.example.com").await;
    c.fill("idp-form", "Client id", "tessera").await;
    c.fill("idp-form", "Client secret", "upstream-secret-value").await;
    c.fill("idp-form", "Email domains", "example.com").await;
    c.submit("idp-form").await;
    let idps = c.css("#identity-providers").await.text().await.unwrap();
    assert!(idps.contains("Corp SSO") && idps.contains("https://idp.example.com"), "{idps}");
    assert!(!c.source().await.contains("upstream-secret-value"));
    c.shot("identity-providers").await;
    c.click_link("Audit logs").await;
    c.css("#audit").await;
    assert!(c.source().await.contains("role.create"));
    c.shot("audit-logs").await;
    c.sign_out().await;

    // Someone without Tenant or Instance Admin sees no Administration menu.
    c.sign_in("carol").await;
    assert!(!c.has("#admin-menu").await);
    c.shot("no-admin").await;
    c.goto("/console/t/default/users").await;
    assert!(c.source().await.contains("There is nothing here that you can administer"));
    assert!(!c.has("#admin-menu").await);
    c.sign_out().await;

    // The Tenant Admin of another tenant sees none of it.
    c.sign_in("dave").await;
    assert!(c.has("#admin-menu").await);
    let page = c.source().await;
    assert!(page.contains("id=\"current-tenant\">acme"), "dave administers acme");
    assert!(!page.contains("erin") && !page.contains("alice@example.test"));
    for path in [
        "/console/t/acme/roles",
        "/console/t/acme/groups",
        "/console/t/acme/service-accounts",
        "/console/t/acme/bindings",
    ] {
        c.goto(path).await;
        let page = c.source().await;
        assert!(!page.contains("flow-editor") && !page.contains("engineers") && !page.contains("ci-bot"), "{path}");
    }
    c.goto("/console/t/default/groups/engineers").await;
    assert!(c.source().await.contains("There is nothing here that you can administer"));
    c.sign_out().await;

    // An Instance Admin manages tenants and switches between them.
    c.sign_in("root").await;
    c.click_link("Tenants").await;
    c.fill("tenant-form", "Id", "globex").await;
    c.fill("tenant-form", "Name", "Globex").await;
    c.submit("tenant-form").await;
    assert!(c.css("#tenants").await.text().await.unwrap().contains("globex"));
    c.shot("tenants").await;
    // The switcher: a plain form, so it works from the keyboard and without JavaScript.
    c.choose("tenant-switcher", "Tenant", "acme").await;
    c.submit("tenant-switcher").await;
    let url = c.browser.current_url().await.unwrap();
    assert!(url.path().starts_with("/console/t/acme/"), "{url}");
    assert!(c.source().await.contains("dave@example.test"));
}
