//! Mail: the messages Tessera sends (password-reset links, change-password requests) and the
//! two transports: SMTP through lettre (STARTTLS or TLS over rustls, optional
//! authentication), or a development folder where each message is written as an `.eml` file,
//! so the embedded set-up works with no mail server.
//!
//! Messages go out in the background ([`Mailer::send_later`]): a request never waits on a
//! mail server, and a reply never shows whether a message was sent. Failures are logged with
//! the user id, never the message (it can carry a reset link).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, MailTransport, SmtpSecurity};

/// Messages sent at the same time at most; more wait their turn.
const CONCURRENT_SENDS: usize = 4;

/// A failure to build or send a message. Never shown to clients.
#[derive(Debug, thiserror::Error)]
#[error("mail: {0}")]
pub struct MailError(String);

/// One plain-text message to one person.
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The recipient's display name, if known.
    pub to_name: Option<String>,
    pub subject: String,
    pub body: String,
    /// Who the message is about (`user:…`), for the log.
    pub about: String,
}

impl std::fmt::Debug for Mail {
    /// The body can carry a reset link: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail").field("subject", &self.subject).field("about", &self.about).finish_non_exhaustive()
    }
}

enum Transport {
    Folder(PathBuf),
    /// lettre's own timeout covers connecting only: the whole send is bounded by the second.
    Smtp(AsyncSmtpTransport<Tokio1Executor>, Duration),
}

/// Sends mail through the configured transport. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    from: Mailbox,
    /// The domain of Message-ID headers: the sender's.
    domain: String,
    sends: tokio::sync::Semaphore,
}

impl Mailer {
    /// The transport named by the configuration (already validated: see
    /// [`crate::config::Config::validate`]). Opens no connection: SMTP connects on the first
    /// message.
    pub fn from_config(c: &MailConfig) -> Result<Self, MailError> {
        let from: Mailbox = c.from.parse().map_err(|_| MailError("mail.from is not an address".into()))?;
        let transport = match c.transport {
            MailTransport::Folder => Transport::Folder(c.folder.clone()),
            MailTransport::Smtp => {
                let builder = match c.smtp_security {
                    SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.smtp_host),
                    SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.smtp_host),
                    SmtpSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.smtp_host)),
                }
                .map_err(|e| MailError(format!("SMTP set-up: {e}")))?;
                let mut builder = builder.port(c.smtp_port()).timeout(Some(Duration::from_secs(c.smtp_timeout_secs)));
                if !c.smtp_username.is_empty() {
                    builder = builder.credentials(Credentials::new(c.smtp_username.clone(), c.smtp_password.clone()));
                }
                Transport::Smtp(builder.build(), Duration::from_secs(c.smtp_timeout_secs))
            }
        };
        let domain = from.email.domain().to_string();
        Ok(Self {
            inner: Arc::new(Inner { transport, from, domain, sends: tokio::sync::Semaphore::new(CONCURRENT_SENDS) }),
        })
    }

    /// A mailer writing into `folder` (tests and tools).
    pub fn folder(folder: impl Into<PathBuf>) -> Self {
        let c = MailConfig { transport: MailTransport::Folder, folder: folder.into(), ..MailConfig::default() };
        Self::from_config(&c).expect("the default sender is an address")
    }

    /// "folder" or "smtp".
    pub fn transport(&self) -> &'static str {
        match self.inner.transport {
            Transport::Folder(_) => "folder",
            Transport::Smtp(..) => "smtp",
        }
    }

    /// Sends now and waits for the transport's answer.
    pub async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let message = self.message(mail)?;
        let _permit = self.inner.sends.acquire().await.map_err(|_| MailError("the mailer is closed".into()))?;
        match &self.inner.transport {
            Transport::Folder(dir) => write_to_folder(dir, &message.formatted()).await,
            Transport::Smtp(smtp, timeout) => match tokio::time::timeout(*timeout, smtp.send(message)).await {
                Ok(sent) => sent.map(|_| ()).map_err(|e| MailError(smtp_cause(&e))),
                Err(_) => Err(MailError("SMTP: timed out".into())),
            },
        }
    }

    /// Sends in the background; a failure is logged (with [`Mail::about`], not the message).
    pub fn send_later(&self, mail: Mail) {
        let mailer = self.clone();
        tokio::spawn(async move {
            match mailer.send(&mail).await {
                Ok(()) => tracing::info!(about = %mail.about, subject = %mail.subject, "mail sent"),
                Err(e) => tracing::warn!(about = %mail.about, error = %e, "mail not sent"),
            }
        });
    }

    fn message(&self, mail: &Mail) -> Result<Message, MailError> {
        let to = Mailbox::new(
            mail.to_name.clone(),
            mail.to.parse().map_err(|_| MailError(format!("the address of {} is not valid", mail.about)))?,
        );
        Message::builder()
            .from(self.inner.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{}@{}>", crate::crypto::random_token(18), self.inner.domain)))
            .header(ContentType::TEXT_PLAIN)
            .body(body(&mail.body))
            .map_err(|e| MailError(format!("cannot build the message: {e}")))
    }
}

/// The body as 7bit (ASCII) or 8bit text with CRLF line ends when every line fits the 998
/// characters RFC 5322 allows, so a link stays whole and readable on its line. (lettre's own
/// choice turns to quoted-printable past 76 characters, whose soft breaks split links.)
/// Else whatever encoding lettre picks.
fn body(text: &str) -> Body {
    let crlf = text.replace("\r\n", "\n").replace('\r', "\n").replace('\n', "\r\n");
    if crlf.contains('\0') || crlf.split("\r\n").any(|line| line.len() > 998) {
        return Body::new(text.to_string());
    }
    let encoding = if crlf.is_ascii() { ContentTransferEncoding::SevenBit } else { ContentTransferEncoding::EightBit };
    Body::dangerous_pre_encoded(crlf.into_bytes(), encoding)
}

/// What went wrong with SMTP, without the server's reply text (it can quote the message).
fn smtp_cause(e: &lettre::transport::smtp::Error) -> String {
    if e.is_timeout() {
        "SMTP: timed out".into()
    } else if e.is_tls() {
        "SMTP: TLS failure".into()
    } else if let Some(code) = e.status() {
        format!("SMTP: refused with status {code}")
    } else {
        "SMTP: connection or protocol failure".into()
    }
}

/// Writes one message as `<millis>-<random>.eml`, complete or not at all (written aside,
/// then renamed), readable by its owner only: it can carry a reset link.
async fn write_to_folder(dir: &std::path::Path, bytes: &[u8]) -> Result<(), MailError> {
    let io = |e: std::io::Error| MailError(format!("mail folder {}: {}", dir.display(), e.kind()));
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let name = format!("{millis:013}-{}", crate::crypto::random_token(6));
    let tmp = dir.join(format!(".{name}.tmp"));
    let dir = dir.to_path_buf();
    let bytes = bytes.to_vec();
    let tmp2 = tmp.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp2)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp2, dir.join(format!("{name}.eml")))
    })
    .await
    .map_err(|_| MailError("mail folder: the writing task failed".into()))?
    .map_err(io)
}

/// The message asking a person to choose a new password (a mandatory change-password
/// request from an administrator). No link: the change happens at the next sign-in.
pub fn change_request(to: &str, name: Option<&str>, username: &str, tenant: &str, issuer: &str, about: String) -> Mail {
    Mail {
        to: to.to_string(),
        to_name: name.map(str::to_string),
        subject: "Choose a new password".into(),
        body: format!(
            "Hello,\r\n\r\nAn administrator of {tenant} asked you to choose a new password for your account \
\"{username}\".\r\n\r\nThe next time you sign in at {issuer} you will be asked to set it, before you \
continue.\r\n\r\nTessera never asks for your password by mail.\r\n"
        ),
        about,
    }
}

/// The message carrying a single-use password-reset link.
pub fn reset_link(to: &str, name: Option<&str>, username: &str, link: &str, minutes: u64, about: String) -> Mail {
    Mail {
        to: to.to_string(),
        to_name: name.map(str::to_string),
        subject: "Reset your password".into(),
        body: format!(
            "Hello,\r\n\r\nSomeone asked to reset the password of your account \"{username}\". To choose a new \
password, open this link within {minutes} minutes:\r\n\r\n{link}\r\n\r\nThe link works once. If you did not ask \
for it, ignore this message: your password stays as it is.\r\n"
        ),
        about,
    }
}
