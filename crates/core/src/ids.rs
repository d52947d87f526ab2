//! Identifiers. Each kind of id has its own type so a pack id can never be passed where a team id
//! is expected. They are database-assigned positive integers.

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
