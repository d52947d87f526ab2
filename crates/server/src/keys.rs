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
    write_secret_file(&path, &key)?;
    println!(
        "Created the operator key (shown once; also in {}):\n\n    {key}\n",
        path.display()
    );
    Ok(SecretString::from(key))
}

/// Creates `path` (and its directory) readable by the owner only, holding `secret`. Never
/// overwrites: a second server starting at the same moment gets an error instead of a new key.
fn write_secret_file(path: &Path, secret: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    writeln!(file, "{secret}")?;
    Ok(())
}

/// R-SES-7: the key that signs offline leases, from `path` (a 32-byte seed in hex), made there on
/// first start.
pub fn lease_key(path: &Path) -> anyhow::Result<ed25519_dalek::SigningKey> {
    let seed = match std::fs::read_to_string(path) {
        Ok(text) => text.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes)
                .map_err(|e| anyhow::anyhow!("no randomness for the lease key: {e}"))?;
            let seed = hex::encode(bytes);
            write_secret_file(path, &seed)?;
            tracing::info!(path = %path.display(), "created the offline-lease signing key");
            seed
        }
        Err(e) => anyhow::bail!("cannot read the lease key {}: {e}", path.display()),
    };
    let bytes: [u8; 32] = hex::decode(&seed)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} does not hold a lease key (64 hex digits)",
                path.display()
            )
        })?;
    Ok(jeton_core::lease::signing_key(&bytes))
}

/// A fresh lease key that lives only in memory (tests).
#[cfg(feature = "testing")]
pub fn ephemeral_lease_key() -> anyhow::Result<ed25519_dalek::SigningKey> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no randomness for the lease key: {e}"))?;
    Ok(jeton_core::lease::signing_key(&bytes))
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
        let lease = lease_key(&dir.join("lease.key")).unwrap();
        assert_eq!(
            lease.to_bytes(),
            lease_key(&dir.join("lease.key")).unwrap().to_bytes(),
            "kept"
        );
        let given = SecretString::from("configured-key-1234567".to_owned());
        assert_eq!(
            expose(&operator_key(Some(&given), &dir).unwrap()),
            "configured-key-1234567"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
