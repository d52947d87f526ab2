//! Times are stored as microseconds since the Unix epoch in BIGINT columns: the same on both
//! backends, exact, and ordered.

use chrono::{DateTime, Utc};

use crate::error::{StoreError, StoreResult};

pub(crate) fn to_db(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_db(micros: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::corrupt(format!("stored time {micros} is out of range")))
}
