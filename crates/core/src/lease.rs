//! R-SES-7: offline leases. At sign-in and at every heartbeat the server signs a lease (Ed25519)
//! that a product can verify with only the server's public key, and keep working on while the
//! server cannot be reached: at most 24 hours after the last successful contact.
//!
//! Format: `base64url(JSON payload) "." base64url(signature over the payload bytes)`, no padding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::ids::{SessionId, TeamId, UserId};

/// What a lease says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Format version.
    pub v: u32,
    pub session: SessionId,
    pub user: UserId,
    pub team: TeamId,
    pub product: String,
    /// flex, subscription or trial.
    pub access: String,
    pub period_ends_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    /// At most 24 hours after `issued_at` (the last contact).
    pub valid_until: DateTime<Utc>,
}

pub const LEASE_VERSION: u32 = 1;
/// Longest lease text accepted for verification.
pub const MAX_LEASE_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("the lease is not in the lease format")]
    Malformed,
    #[error("the lease's signature does not match: it was altered or signed by another server")]
    BadSignature,
    #[error("the lease expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("the lease is of an unknown version {0}")]
    Version(u32),
}

pub fn sign(lease: &Lease, key: &SigningKey) -> String {
    // Serialising a struct of plain fields cannot fail.
    let payload = serde_json::to_vec(lease).unwrap_or_default();
    let signature = key.sign(&payload);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

/// Checks the signature and the validity at `now`. Needs only the public key: no server.
pub fn verify(text: &str, key: &VerifyingKey, now: DateTime<Utc>) -> Result<Lease, LeaseError> {
    if text.len() > MAX_LEASE_LEN {
        return Err(LeaseError::Malformed);
    }
    let (payload, signature) = text.trim().split_once('.').ok_or(LeaseError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| LeaseError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| LeaseError::Malformed)?;
    let signature = Signature::from_slice(&signature).map_err(|_| LeaseError::Malformed)?;
    key.verify(&payload, &signature)
        .map_err(|_| LeaseError::BadSignature)?;
    let lease: Lease = serde_json::from_slice(&payload).map_err(|_| LeaseError::Malformed)?;
    if lease.v != LEASE_VERSION {
        return Err(LeaseError::Version(lease.v));
    }
    if now >= lease.valid_until {
        return Err(LeaseError::Expired(lease.valid_until));
    }
    Ok(lease)
}

/// The public key as published at `GET /v1/lease-key`.
pub fn encode_public_key(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(key.to_bytes())
}

pub fn decode_public_key(text: &str) -> Result<VerifyingKey, LeaseError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|_| LeaseError::Malformed)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| LeaseError::Malformed)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| LeaseError::Malformed)
}

/// A signing key from its 32-byte seed (kept in the data directory or configured).
pub fn signing_key(seed: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(now: DateTime<Utc>) -> Lease {
        Lease {
            v: LEASE_VERSION,
            session: SessionId(9),
            user: UserId(3),
            team: TeamId(1),
            product: "autocad".into(),
            access: "flex".into(),
            period_ends_at: now + chrono::Duration::hours(20),
            issued_at: now,
            valid_until: now + crate::session::offline_lease(),
        }
    }

    #[test]
    fn r_ses_7_a_lease_verifies_offline_with_only_the_public_key() {
        let now: DateTime<Utc> = "2026-01-05T08:00:00Z".parse().unwrap();
        let key = signing_key(&[7u8; 32]);
        let public = decode_public_key(&encode_public_key(&key.verifying_key())).unwrap();
        let text = sign(&lease(now), &key);
        assert_eq!(
            verify(&text, &public, now + chrono::Duration::hours(23)).unwrap(),
            lease(now)
        );
        // Past valid_until: refused.
        assert_eq!(
            verify(&text, &public, now + chrono::Duration::hours(24)).unwrap_err(),
            LeaseError::Expired(now + chrono::Duration::hours(24))
        );
        // Tampered payload (a later valid_until): refused.
        let mut forged = lease(now);
        forged.valid_until = now + chrono::Duration::days(365);
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let signature = text.split_once('.').unwrap().1;
        assert_eq!(
            verify(&format!("{forged_payload}.{signature}"), &public, now).unwrap_err(),
            LeaseError::BadSignature
        );
        // Signed by another key: refused.
        let other = signing_key(&[8u8; 32]);
        assert_eq!(
            verify(&sign(&lease(now), &other), &public, now).unwrap_err(),
            LeaseError::BadSignature
        );
        for junk in ["", "x", "a.b", "..", &"a".repeat(5000)] {
            assert_eq!(
                verify(junk, &public, now).unwrap_err(),
                LeaseError::Malformed,
                "{junk:?}"
            );
        }
    }

    #[test]
    fn r_ses_7_each_refusal_says_why() {
        let now: DateTime<Utc> = "2026-01-05T08:00:00Z".parse().unwrap();
        let key = signing_key(&[7u8; 32]);
        let public = key.verifying_key();
        // Signed, but by a later format.
        let newer = Lease {
            v: LEASE_VERSION + 1,
            ..lease(now)
        };
        assert_eq!(
            verify(&sign(&newer, &key), &public, now).unwrap_err(),
            LeaseError::Version(LEASE_VERSION + 1)
        );
        // Signed, but not a lease.
        let payload = br#"{"v":1}"#;
        let text = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(key.sign(payload).to_bytes())
        );
        assert_eq!(
            verify(&text, &public, now).unwrap_err(),
            LeaseError::Malformed
        );
        // A signature of the wrong length.
        let good = sign(&lease(now), &key);
        let (payload, _) = good.split_once('.').unwrap();
        assert_eq!(
            verify(&format!("{payload}.AAAA"), &public, now).unwrap_err(),
            LeaseError::Malformed
        );
        // Keys: 32 bytes of base64url, and what they decode to.
        assert_eq!(
            decode_public_key(&encode_public_key(&public)).unwrap(),
            public
        );
        for junk in [
            "",
            "not base64!",
            "AAAA",
            &URL_SAFE_NO_PAD.encode([1u8; 33]),
        ] {
            assert_eq!(
                decode_public_key(junk).unwrap_err(),
                LeaseError::Malformed,
                "{junk:?}"
            );
        }
    }
}
