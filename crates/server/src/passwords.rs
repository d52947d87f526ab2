//! Password hashing with argon2id (default parameters), off the async threads: hashing is
//! deliberately slow.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use jeton_core::Password;

use crate::error::ApiError;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("password hashing: {e}"))
}

pub async fn hash(password: &Password) -> Result<String, ApiError> {
    let password = password.expose().to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(internal)
    })
    .await
    .map_err(internal)?
}

/// Whether `password` matches the stored hash. With no hash (no such user, or no password yet) a
/// dummy hash is checked anyway, so that the answer takes as long whether the account exists.
pub async fn verify(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let password = password.to_owned();
    let stored = stored.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let (stored, real) = match stored {
            Some(s) => (s, true),
            None => {
                let dummy = DUMMY.get_or_init(|| {
                    Argon2::default()
                        .hash_password(b"no account has this password")
                        .map(|h| h.to_string())
                        .ok()
                });
                match dummy {
                    Some(d) => (d.clone(), false),
                    None => return false,
                }
            }
        };
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && real
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_by_salt() {
        let p = Password::parse("correct horse battery").unwrap();
        let a = hash(&p).await.unwrap();
        let b = hash(&p).await.unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&a)).await);
        assert!(!verify("wrong horse battery", Some(&a)).await);
        assert!(!verify("correct horse battery", None).await);
        assert!(!verify("x", Some("not a hash")).await);
    }
}
