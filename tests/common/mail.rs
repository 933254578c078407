//! Reading the mail Tessera sent: the development folder's `.eml` files, and the links in them.

use std::path::Path;
use std::time::Duration;

/// One message as written: its headers (name, value) and body, unfolded and decoded enough for
/// tests (8bit text bodies, as Tessera writes them).
#[derive(Debug, Clone)]
pub struct Message {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Message {
    pub fn parse(raw: &str) -> Self {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Self { headers, body: body.to_string() }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the message is addressed to `address`.
    pub fn is_to(&self, address: &str) -> bool {
        self.header("To").is_some_and(|to| to.contains(address))
    }

    /// The first link in the body that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> Option<String> {
        let start = self.body.find(prefix)?;
        Some(self.body[start..].split_whitespace().next()?.to_string())
    }
}

/// Every message in the folder, oldest first (names start with the time in milliseconds).
pub fn messages(dir: &Path) -> Vec<Message> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files.iter().map(|p| Message::parse(&std::fs::read_to_string(p).expect("readable message"))).collect()
}

/// Waits (up to 20 s) until the folder holds `n` messages to `address`, and returns them.
/// Mail is sent in the background, so it may land just after the response.
pub async fn wait_for(dir: &Path, address: &str, n: usize) -> Vec<Message> {
    for _ in 0..200 {
        let found: Vec<Message> = messages(dir).into_iter().filter(|m| m.is_to(address)).collect();
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {n} message(s) to {address} in {} (found {:?})", dir.display(), messages(dir));
}
