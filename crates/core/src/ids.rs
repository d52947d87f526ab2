//! Identifiers. Each kind of id has its own type so a pack id can never be passed where a team id
//! is expected. They are database-assigned positive integers (the session engine names the
//! periods it plans, before they are written, with negative ones). On the wire and in stored
//! JSON an id is its bare number (`serde(transparent)`).

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        /// A stored id: what database rows hold (`#[sqlx(try_from = "i64")]` in the store).
        impl From<i64> for $name {
            fn from(id: i64) -> $name {
                $name(id)
            }
        }
    };
}

id_type!(
    /// A team: the unit that owns packs and the unit of scale (every balance change touches one).
    TeamId
);
id_type!(
    /// A token pack.
    PackId
);
id_type!(
    /// A move of tokens between two teams.
    MoveId
);
id_type!(
    /// A team admin (holder of a team-scoped key).
    AdminId
);
id_type!(
    /// A person: one identity (email), on any number of teams.
    UserId
);
id_type!(
    /// A product of the catalogue.
    ProductId
);
id_type!(
    /// A product session: one sign-in of a user to a product on a team, until it ends.
    SessionId
);
id_type!(
    /// A usage period of (team, user, product) (R-SES-2).
    PeriodId
);
id_type!(
    /// A per-result charge (R-SES-8).
    ResultId
);
id_type!(
    /// An invitation (R-USR-3); a resend makes a new one.
    InvitationId
);
id_type!(
    /// A subscription or trial of a user for a product (R-PRI).
    EntitlementId
);
id_type!(
    /// An import job (R-USR-5).
    ImportId
);
id_type!(
    /// A message of the outbox (R-NOT-2).
    MessageId
);
id_type!(
    /// A ledger event (R-PACK-5).
    EventId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bare_numbers_on_the_wire() {
        assert_eq!(serde_json::to_string(&UserId(7)).unwrap(), "7");
        assert_eq!(
            serde_json::from_str::<SessionId>("12").unwrap(),
            SessionId(12)
        );
        assert_eq!(TeamId::from(3), TeamId(3));
        assert_eq!(PeriodId(-1).to_string(), "-1");
    }
}
