//! The bare SQLite charge transaction, the floor under Jeton's charging sign-ins on SQLite: one
//! thread, WAL, `synchronous=FULL`, and per charge `BEGIN IMMEDIATE`, read the pack, update it,
//! insert a ledger row, `COMMIT`. Uses the SQLite library sqlx links (libsqlite3-sys 0.30), so
//! the figure is that of the same C code, without sqlx, the async runtime or Jeton around it.
//!
//!     cargo bench -p jeton-store --bench bare_sqlite -- [SECONDS] [DATABASE_FILE]
//!
//! SECONDS defaults to 5; the database file must not exist (by default one in the temporary
//! directory, removed afterwards). Prints one JSON line per load shape of `bench/charging.sh` (one thread has no
//! spread or hot: both lines carry the same run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code: a failure is a panic

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, TransactionBehavior};

fn main() {
    // `cargo bench` adds `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let seconds: f64 = args.first().map_or(5.0, |s| {
        s.parse()
            .unwrap_or_else(|_| panic!("SECONDS must be a number, got {s:?}"))
    });
    let temporary = args.get(1).is_none();
    let path = args.get(1).map_or_else(
        || std::env::temp_dir().join(format!("jeton-bare-{}.db", std::process::id())),
        PathBuf::from,
    );
    assert!(!path.exists(), "{} exists already", path.display());

    let mut db = Connection::open(&path).expect("open the database");
    db.pragma_update(None, "journal_mode", "WAL").unwrap();
    db.pragma_update(None, "synchronous", "FULL").unwrap();
    db.execute_batch(
        "CREATE TABLE packs (id INTEGER PRIMARY KEY, team_id INTEGER, \
             remaining INTEGER CHECK (remaining >= 0));
         CREATE TABLE ledger_events (id INTEGER PRIMARY KEY AUTOINCREMENT, team_id INTEGER, \
             pack_id INTEGER, amount INTEGER, at INTEGER);
         INSERT INTO packs VALUES (1, 1, 1000000000);",
    )
    .unwrap();

    let mut latencies: Vec<Duration> = Vec::new();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    loop {
        let t = Instant::now();
        if t >= end {
            break;
        }
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let _remaining: i64 = tx
            .prepare_cached("SELECT remaining FROM packs WHERE id = 1")
            .unwrap()
            .query_row([], |row| row.get(0))
            .unwrap();
        tx.prepare_cached(
            "UPDATE packs SET remaining = remaining - 5 WHERE id = 1 AND remaining >= 5",
        )
        .unwrap()
        .execute([])
        .unwrap();
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        tx.prepare_cached(
            "INSERT INTO ledger_events (team_id, pack_id, amount, at) VALUES (1, 1, -5, ?1)",
        )
        .unwrap()
        .execute([at])
        .unwrap();
        tx.commit().unwrap();
        latencies.push(t.elapsed());
    }

    drop(db);
    if temporary {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    latencies.sort();
    let pick = |q: f64| {
        let i = ((q * latencies.len() as f64) as usize).min(latencies.len() - 1);
        latencies[i].as_secs_f64() * 1000.0
    };
    for shape in ["spread", "hot"] {
        let line = serde_json::json!({
            "backend": "sqlite",
            "shape": shape,
            "what": "bare charge (1 thread)",
            "binary": "-",
            "rate": latencies.len() as f64 / seconds,
            "p50": pick(0.5),
            "p99": pick(0.99),
            "errors": 0,
        });
        println!("{line}");
    }
}
