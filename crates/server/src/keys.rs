//! API keys: random 256-bit secrets, shown once, stored and compared as SHA-256 digests. A fast
//! hash is right here (unlike passwords): the keys have full entropy, and lookups are by digest.

use std::io::Write;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

pub const OPERATOR_PREFIX: &str = "jeton_op_";
pub const ADMIN_PREFIX: &str = "jeton_adm_";
pub const USER_PREFIX: &str = "jeton_usr_";

/// A new invitation secret for a link, and its digest for the store.
pub fn new_secret() -> anyhow::Result<jeton_store::flex::Secret> {
    let secret = new_key("")?;
    let hash = hash_key(&secret);
    Ok(jeton_store::flex::Secret { secret, hash })
}

pub fn new_key(prefix: &str) -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The operator key: `JETON_OPERATOR_KEY` if set; otherwise the one in `<data_dir>/operator.key`,
/// created (mode 0600) and printed once on first start.
pub fn operator_key(
    configured: Option<&SecretString>,
    data_dir: &Path,
) -> anyhow::Result<SecretString> {
    if let Some(key) = configured {
        return Ok(key.clone());
    }
    let path = data_dir.join("operator.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = text.trim().to_owned();
            anyhow::ensure!(
                key.len() >= 16,
                "{} holds no usable key; delete it to have a new one made",
                path.display()
            );
            return Ok(SecretString::from(key));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    }
    let key = new_key(OPERATOR_PREFIX)?;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", data_dir.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    writeln!(file, "{key}")?;
    println!(
        "Created the operator key (shown once; also in {}):\n\n    {key}\n",
        path.display()
    );
    Ok(SecretString::from(key))
}

pub fn expose(key: &SecretString) -> &str {
    key.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashes_stable() {
        let a = new_key(ADMIN_PREFIX).unwrap();
        let b = new_key(ADMIN_PREFIX).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(ADMIN_PREFIX) && a.len() == ADMIN_PREFIX.len() + 64);
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_ne!(hash_key(&a), hash_key(&b));
    }

    #[test]
    fn the_operator_key_file_is_created_once_with_mode_0600() {
        let dir =
            std::env::temp_dir().join(format!("jeton-keys-{}-{}", std::process::id(), line!()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = operator_key(None, &dir).unwrap();
        let second = operator_key(None, &dir).unwrap();
        assert_eq!(expose(&first), expose(&second));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("operator.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let given = SecretString::from("configured-key-1234567".to_owned());
        assert_eq!(
            expose(&operator_key(Some(&given), &dir).unwrap()),
            "configured-key-1234567"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
