//! The privacy switch: a team may show its users in reports and exports as stable pseudonyms
//! instead of names and emails. The same user always gets the same pseudonym on that team; the
//! team's random salt keeps it from being recomputed from a user id.

use sha2::{Digest, Sha256};

use crate::ids::UserId;

pub fn pseudonym(salt: &str, user_id: UserId) -> String {
    let digest = Sha256::digest(format!("{salt}:{user_id}").as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("person-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_and_distinct() {
        assert_eq!(pseudonym("s", UserId(1)), pseudonym("s", UserId(1)));
        assert_ne!(pseudonym("s", UserId(1)), pseudonym("s", UserId(2)));
        assert_ne!(pseudonym("s", UserId(1)), pseudonym("t", UserId(1)));
        assert!(pseudonym("s", UserId(1)).starts_with("person-"));
    }
}
