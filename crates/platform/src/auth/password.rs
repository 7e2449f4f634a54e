//! Argon2id hashing for passwords and API key secrets, run off the async threads.

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};

use crate::error::{Error, FieldError};

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Check a new password against the policy.
pub fn check_policy(password: &str) -> Result<(), FieldError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(FieldError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    Ok(())
}

/// Hash a secret into a PHC string (`$argon2id$v=19$...`).
pub async fn hash(secret: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let hashed: PasswordHash = Argon2::default()
            .hash_password(secret.as_bytes())
            .map_err(|e| anyhow::anyhow!("argon2 hash failed: {e}"))?;
        Ok::<_, anyhow::Error>(hashed.to_string())
    })
    .await
    .map_err(|e| anyhow::anyhow!("hashing task failed: {e}"))?
    .map_err(Error::Internal)
}

/// Does `secret` match the stored PHC string?
pub async fn verify(secret: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordVerifier::<str>::verify_password(&Argon2::default(), secret.as_bytes(), &phc)
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let phc = hash("correct horse battery".into()).await.expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), phc.clone()).await);
        assert!(!verify("wrong horse battery".into(), phc).await);
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough!").is_ok());
    }
}
