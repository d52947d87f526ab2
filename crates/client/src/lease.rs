//! Offline leases (R-SES-7) as a product sees them.
//!
//! At sign-in and at every heartbeat the server hands out a lease signed with its Ed25519 key. A
//! product verifies it with only the server's public key (`GET /v1/lease-key`, or one shipped
//! with the product) and may keep working on it while the server cannot be reached, until the
//! lease's `valid_until` (at most 24 hours after the last contact).
//!
//! ```
//! # fn demo(lease_text: &str, key_text: &str) -> Result<(), jeton_client::lease::LeaseError> {
//! let now = chrono::Utc::now();
//! let lease = jeton_client::verify_lease(lease_text, key_text, now)?;
//! println!("session {} may run offline until {}", lease.session, lease.valid_until);
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
pub use jeton_core::lease::{LEASE_VERSION, Lease, LeaseError, MAX_LEASE_LEN};

/// The only signature algorithm leases use.
pub const ALGORITHM: &str = "ed25519";

/// A server's public lease key: all that is needed to verify its leases.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// A key as `GET /v1/lease-key` publishes it: base64url without padding, 32 bytes.
    pub fn parse(text: &str) -> Result<PublicKey, LeaseError> {
        jeton_core::lease::decode_public_key(text).map(PublicKey)
    }

    /// Checks the lease's signature and that it is still valid at `now`; returns what it says.
    pub fn verify(&self, lease: &str, now: DateTime<Utc>) -> Result<Lease, LeaseError> {
        jeton_core::lease::verify(lease, &self.0, now)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&jeton_core::lease::encode_public_key(&self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = LeaseError;

    fn from_str(s: &str) -> Result<PublicKey, LeaseError> {
        PublicKey::parse(s)
    }
}

/// Verifies `lease` with the server's public key (as published, base64url) at `now`: the
/// signature must match and `now` must be before the lease's `valid_until`. No server is needed.
pub fn verify_lease(
    lease: &str,
    public_key: &str,
    now: DateTime<Utc>,
) -> Result<Lease, LeaseError> {
    PublicKey::parse(public_key)?.verify(lease, now)
}

/// What a lease says, **without** checking its signature or its validity: for showing a lease to
/// a person. Trust only what [`verify_lease`] returns.
pub fn read_unverified(lease: &str) -> Result<Lease, LeaseError> {
    if lease.len() > MAX_LEASE_LEN {
        return Err(LeaseError::Malformed);
    }
    let (payload, _signature) = lease.trim().split_once('.').ok_or(LeaseError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| LeaseError::Malformed)?;
    serde_json::from_slice(&payload).map_err(|_| LeaseError::Malformed)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::Duration;
    use jeton_core::lease::{sign, signing_key};
    use jeton_core::{SessionId, TeamId, UserId};

    pub(crate) fn start() -> DateTime<Utc> {
        "2026-01-05T08:00:00Z".parse().unwrap()
    }

    /// What a lease of `session` issued at `issued_at` says.
    pub(crate) fn claims(session: i64, issued_at: DateTime<Utc>) -> Lease {
        Lease {
            v: LEASE_VERSION,
            session: SessionId(session),
            user: UserId(3),
            team: TeamId(1),
            product: "autocad".into(),
            access: "flex".into(),
            period_ends_at: issued_at + Duration::hours(20),
            issued_at,
            valid_until: issued_at + Duration::hours(24),
        }
    }

    /// A lease as a server with seed `seed` would sign it at `issued_at`.
    pub(crate) fn signed(seed: u8, session: i64, issued_at: DateTime<Utc>) -> String {
        sign(&claims(session, issued_at), &signing_key(&[seed; 32]))
    }

    pub(crate) fn public(seed: u8) -> String {
        jeton_core::lease::encode_public_key(&signing_key(&[seed; 32]).verifying_key())
    }

    #[test]
    fn r_ses_7_a_valid_lease_verifies_with_only_the_public_key() {
        let now = start();
        let text = signed(7, 42, now);
        let lease = verify_lease(&text, &public(7), now + Duration::hours(23)).unwrap();
        assert_eq!(lease, claims(42, now), "every claim as signed");
        // Surrounding whitespace (a lease pasted from a terminal) does not matter.
        assert_eq!(
            verify_lease(&format!(" {text}\n"), &public(7), now).unwrap(),
            lease
        );
        let key: PublicKey = public(7).parse().unwrap();
        assert_eq!(
            key.to_string(),
            public(7),
            "a key prints as it is published"
        );
        assert_eq!(key.verify(&text, now).unwrap(), lease);
    }

    #[test]
    fn r_ses_7_a_tampered_lease_or_another_servers_lease_is_refused() {
        let now = start();
        let text = signed(7, 42, now);
        // Push valid_until a year out, keep the signature.
        let (payload, signature) = text.split_once('.').unwrap();
        let mut lease = read_unverified(&text).unwrap();
        lease.valid_until = now + Duration::days(365);
        let forged = format!(
            "{}.{signature}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&lease).unwrap())
        );
        assert_ne!(forged.split_once('.').unwrap().0, payload);
        assert_eq!(
            verify_lease(&forged, &public(7), now).unwrap_err(),
            LeaseError::BadSignature
        );
        // Signed by another server.
        assert_eq!(
            verify_lease(&signed(8, 42, now), &public(7), now).unwrap_err(),
            LeaseError::BadSignature
        );
        for junk in ["", "nonsense", "a.b", &"x.".repeat(3000)] {
            assert_eq!(
                verify_lease(junk, &public(7), now).unwrap_err(),
                LeaseError::Malformed,
                "{junk:?}"
            );
            assert_eq!(
                read_unverified(junk).unwrap_err(),
                LeaseError::Malformed,
                "{junk:?}"
            );
        }
        assert_eq!(
            verify_lease(&text, "not a key", now).unwrap_err(),
            LeaseError::Malformed
        );
    }

    #[test]
    fn r_ses_7_a_lease_stops_verifying_at_valid_until() {
        let now = start();
        let text = signed(7, 42, now);
        let until = now + Duration::hours(24);
        assert_eq!(
            verify_lease(&text, &public(7), until - Duration::microseconds(1)).unwrap(),
            claims(42, now),
            "valid up to the last microsecond"
        );
        assert_eq!(
            verify_lease(&text, &public(7), until).unwrap_err(),
            LeaseError::Expired(until)
        );
        // Unverified reading still shows what it says.
        assert_eq!(read_unverified(&text).unwrap(), claims(42, now));
    }
}
