//! A limit on everything (TIGER_STYLE): every count a caller can send has a ceiling, so that no
//! request can make the service allocate, loop or add without bound.

/// Largest token count in one purchase, move or charge. Far above any real pack (the largest Flex
/// packs sold are in the tens of thousands) and far below `i64::MAX`, so sums of many packs stay exact.
pub const MAX_TOKENS_PER_REQUEST: u64 = 1_000_000_000;

/// Largest daily or per-result rate of a product.
pub const MAX_RATE: u64 = 1_000_000;

/// Longest product or team name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Longest product key or result type, in bytes (ASCII only).
pub const MAX_KEY_LEN: usize = 64;

/// Most per-result rates and most downloadable items on one product.
pub const MAX_RESULT_RATES: usize = 64;
pub const MAX_DOWNLOAD_ITEMS: usize = 64;

/// Longest download link or item field.
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_ITEM_FIELD_LEN: usize = 100;

/// Most live packs one team may hold. A charge walks them all, so this bounds the work of one
/// charge; at one purchase a day a team would need centuries to reach it.
pub const MAX_LIVE_PACKS_PER_TEAM: usize = 10_000;

/// Most teams one admin key may be scoped to.
pub const MAX_TEAMS_PER_ADMIN: usize = 1_000;

/// Most rows one listing of sessions or emails returns.
pub const MAX_LIST_PAGE: usize = 1_000;

/// Most events one listing returns.
pub const MAX_EVENTS_PER_PAGE: usize = 10_000;

/// Most imports one team may have queued or running at once. Each holds up to
/// `import::MAX_IMPORT_LINES` lines waiting in the database; a client sending a large file in
/// parts queues one import per part.
pub const MAX_OPEN_IMPORTS_PER_TEAM: usize = 20;

/// Most line outcomes one page of an import's status returns.
pub const MAX_IMPORT_OUTCOMES_PER_PAGE: usize = 10_000;
