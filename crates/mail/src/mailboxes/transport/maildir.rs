//! The built-in outbox: every message is a file in a Maildir (`tmp/`, `new/`, `cur/`) in
//! the data directory, so SalesOS sends with nothing configured and nothing leaving the
//! machine. A message is written to `tmp/` and renamed into `new/` under its email's
//! idempotency key, so a retry finds it there and writes no second copy.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::{Class, Handed, Outgoing, Probe, Stage, Transport, TransportError};

pub struct Maildir {
    root: PathBuf,
}

/// The outbox folder of mailbox `id` under the data directory.
pub fn folder(data_dir: &Path, id: uuid::Uuid) -> PathBuf {
    data_dir.join("outbox").join(id.to_string())
}

fn failed(what: &str, path: &Path, e: std::io::Error) -> TransportError {
    TransportError::new(
        Stage::Outbox,
        Class::Retryable,
        format!("cannot {what} {}: {e}", path.display()),
    )
}

/// A key as a file name: only what is safe in one path segment.
fn file_name(key: &str) -> Result<String, TransportError> {
    let ok = !key.is_empty()
        && key.len() <= 200
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !key.starts_with('.');
    if ok {
        Ok(format!("{key}.eml"))
    } else {
        Err(TransportError::new(
            Stage::Outbox,
            Class::Permanent,
            format!("`{key}` cannot name a file in the outbox"),
        ))
    }
}

impl Maildir {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    async fn prepare(&self) -> Result<(), TransportError> {
        for sub in ["tmp", "new", "cur"] {
            let dir = self.root.join(sub);
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| failed("create", &dir, e))?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Transport for Maildir {
    async fn probe(&self) -> Result<Probe, TransportError> {
        self.prepare().await?;
        let check = self.root.join("tmp").join(".probe");
        tokio::fs::write(&check, b"probe")
            .await
            .map_err(|e| failed("write to", &check, e))?;
        let _ = tokio::fs::remove_file(&check).await;
        Ok(Probe {
            steps: vec![format!("outbox {} is writable", self.root.display())],
        })
    }

    async fn send(&self, message: &Outgoing<'_>) -> Result<Handed, TransportError> {
        let name = file_name(message.key)?;
        self.prepare().await?;
        let done = self.root.join("new").join(&name);
        let receipt = format!("outbox {}", done.display());
        if tokio::fs::try_exists(&done).await.unwrap_or(false) {
            return Ok(Handed { receipt });
        }
        let staged = self.root.join("tmp").join(&name);
        let mut file = tokio::fs::File::create(&staged)
            .await
            .map_err(|e| failed("create", &staged, e))?;
        file.write_all(message.message)
            .await
            .map_err(|e| failed("write", &staged, e))?;
        file.sync_all()
            .await
            .map_err(|e| failed("write", &staged, e))?;
        drop(file);
        tokio::fs::rename(&staged, &done)
            .await
            .map_err(|e| failed("move into place", &done, e))?;
        Ok(Handed { receipt })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_lands_once_under_its_key_and_a_bad_key_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = Maildir::new(dir.path().join("box"));
        let probe = outbox.probe().await.expect("probe");
        assert!(probe.steps[0].contains("writable"), "{probe:?}");
        let to = vec!["ada@example.com".to_owned()];
        let msg = Outgoing {
            key: "email-1",
            from: "me@example.com",
            to: &to,
            message: b"Subject: hi\r\n\r\nbody\r\n",
        };
        outbox.send(&msg).await.expect("send");
        let again = Outgoing {
            message: b"Subject: changed\r\n\r\nother\r\n",
            ..msg.clone()
        };
        outbox.send(&again).await.expect("resend");
        let new = outbox.root().join("new");
        let names: Vec<_> = std::fs::read_dir(&new)
            .expect("read")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["email-1.eml"]);
        assert_eq!(
            std::fs::read(new.join("email-1.eml")).expect("read"),
            b"Subject: hi\r\n\r\nbody\r\n"
        );
        let bad = Outgoing {
            key: "../escape",
            ..msg
        };
        let err = outbox.send(&bad).await.expect_err("bad key");
        assert_eq!((err.stage, err.class), (Stage::Outbox, Class::Permanent));
    }
}
