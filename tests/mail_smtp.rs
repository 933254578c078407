//! Mail through a real SMTP server on loopback: Python's aiosmtpd (PyPI; `.ci/run` installs
//! it), requiring authentication, and saving each message it accepts. The test fails when
//! python3 or aiosmtpd is missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::mail::Message;
use common::*;
use tessera::config::{MailConfig, MailTransport, SmtpSecurity};
use tessera::mail::{self, Mailer};

const USER: &str = "tessera";
const PASS: &str = "smtp-s3cret";

/// An SMTP server that accepts AUTH PLAIN/LOGIN for USER/PASS over plain TCP (loopback only)
/// and writes every accepted message to `<dir>/<n>.json`: envelope, the authenticated login,
/// and the raw content.
const SERVER: &str = r#"
import asyncio, json, os, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, folder, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), sys.argv[4].encode()

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == user and auth_data.password == password
    # handled=False: aiosmtpd answers 535 itself (its default, True, leaves the client waiting).
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

class Saver:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Saver.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "login": session.login_data.decode() if isinstance(session.login_data, bytes) else None,
            "content": envelope.original_content.decode("utf-8", "replace"),
        }
        tmp = os.path.join(folder, f".{Saver.count}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(folder, f"{Saver.count}.json"))
        return "250 Message accepted for delivery"

controller = Controller(Saver(), hostname="127.0.0.1", port=port, authenticator=authenticator,
                        auth_required=True, auth_require_tls=False)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"#;

struct Smtp {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new("python3")
            .args(["-c", SERVER, &port.to_string(), dir.path().to_str().unwrap(), USER, PASS])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 (with aiosmtpd from PyPI: pip install aiosmtpd)");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the aiosmtpd server did not start (pip install aiosmtpd)");
        Self { child, port, dir }
    }

    fn config(&self, password: &str) -> MailConfig {
        MailConfig {
            transport: MailTransport::Smtp,
            from: "Tessera <no-reply@id.test>".into(),
            smtp_host: "127.0.0.1".into(),
            smtp_port: self.port,
            smtp_security: SmtpSecurity::None,
            smtp_username: USER.into(),
            smtp_password: password.into(),
            smtp_timeout_secs: 10,
            ..MailConfig::default()
        }
    }

    /// The saved messages, in the order accepted.
    fn received(&self) -> Vec<serde_json::Value> {
        received(self.dir.path())
    }
}

fn received(dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort_by_key(|p| p.file_stem().unwrap().to_str().unwrap().parse::<u32>().unwrap());
    files.iter().map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_goes_through_smtp_with_authentication() {
    let smtp = Smtp::start();
    let mailer = Mailer::from_config(&smtp.config(PASS)).unwrap();
    assert_eq!(mailer.transport(), "smtp");
    let link = "https://id.test/login/reset?token=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let m = mail::reset_link("ann@example.com", Some("Ann Example"), "ann", link, 60, "user:u1".into());
    mailer.send(&m).await.expect("sent");
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["mail_from"], "no-reply@id.test");
    assert_eq!(got[0]["rcpt_tos"], serde_json::json!(["ann@example.com"]));
    assert_eq!(got[0]["login"], USER, "authenticated");
    let msg = Message::parse(got[0]["content"].as_str().unwrap());
    assert_eq!(msg.header("From"), Some("Tessera <no-reply@id.test>"));
    assert_eq!(msg.header("To"), Some("\"Ann Example\" <ann@example.com>"));
    assert_eq!(msg.header("Subject"), Some("Reset your password"));
    assert!(msg.header("Message-ID").is_some_and(|id| id.ends_with("@id.test>")));
    assert!(msg.header("Date").is_some());
    assert_eq!(msg.link("https://id.test/").as_deref(), Some(link), "the link is whole: {}", msg.body);

    // A wrong SMTP password: refused, and nothing is delivered.
    let wrong = Mailer::from_config(&smtp.config("not it")).unwrap();
    assert!(wrong.send(&m).await.is_err());
    assert_eq!(smtp.received().len(), 1);
}

/// The forgot-password page of a server configured for SMTP: the message reaches the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forgot_password_page_mails_through_smtp() {
    let smtp = Smtp::start();
    let config = smtp.config(PASS);
    let app = TestApp::with_config(Backend::SqliteMemory, |c| c.mail = config).await;
    app.client("web", false, |_| {}).await;
    app.user("bea").await;
    let (q, _) = code_request("web");
    let started = app.get(&format!("/authorize?{q}")).await;
    let browser = browser_cookie(&started);
    let page = body_text(app.get(&format!("/{}", location(&started))).await).await;
    let (request, csrf) = (hidden(&page, "request"), hidden(&page, "csrf"));
    let fields = [("request", request.as_str()), ("csrf", &csrf), ("identifier", "bea@example.com")];
    let res = app.post_form_cookie("/login/forgot", &fields, None, browser.as_deref()).await;
    assert_eq!(res.status(), axum::http::StatusCode::OK);
    let mut got = Vec::new();
    for _ in 0..200 {
        got = smtp.received();
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 1, "one message reached the SMTP server");
    assert_eq!(got[0]["rcpt_tos"], serde_json::json!(["bea@example.com"]));
    let msg = Message::parse(got[0]["content"].as_str().unwrap());
    assert!(msg.link("https://id.test/login/reset?token=").is_some(), "{}", msg.body);
}

/// A server that accepts the connection and never answers: the send gives up after
/// `mail.smtp_timeout_secs` (lettre's own timeout covers connecting only) instead of hanging
/// and holding one of the mailer's few send slots for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_smtp_server_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = MailConfig {
        transport: MailTransport::Smtp,
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        smtp_security: SmtpSecurity::None,
        smtp_timeout_secs: 1,
        ..MailConfig::default()
    };
    let mailer = Mailer::from_config(&config).unwrap();
    let m =
        mail::reset_link("ann@example.com", None, "ann", "https://id.test/login/reset?token=x", 60, "user:u1".into());
    let sent =
        tokio::time::timeout(Duration::from_secs(120), mailer.send(&m)).await.expect("the send gave up by itself");
    let err = sent.expect_err("nothing was sent");
    assert!(err.to_string().contains("timed out"), "{err}");
    silent.abort();
}
