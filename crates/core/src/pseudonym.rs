//! The privacy switch: a team may show its users in reports and exports as stable pseudonyms
//! instead of names and emails. The same user always gets the same pseudonym on that team; the
//! team's random salt keeps it from being recomputed from a user id.

use sha2::{Digest, Sha256};

pub fn pseudonym(salt: &str, user_id: i64) -> String {
    let digest = Sha256::digest(format!("{salt}:{user_id}").as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("person-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_and_distinct() {
        assert_eq!(pseudonym("s", 1), pseudonym("s", 1));
        assert_ne!(pseudonym("s", 1), pseudonym("s", 2));
        assert_ne!(pseudonym("s", 1), pseudonym("t", 1));
        assert!(pseudonym("s", 1).starts_with("person-"));
    }
}
