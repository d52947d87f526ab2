//! `cargo bench -p jeton-core --bench consumption`: 100,000 charges through `plan_draw`, the one
//! consumption-order function, applied to in-memory packs. Prints figures; asserts only that the
//! ledger arithmetic came out exact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use jeton_core::pack::{expiry_for, plan_draw};
use jeton_core::{PackId, PackState, Tokens};

const CHARGES: u64 = 100_000;
const RATE: u64 = 7;

fn main() {
    for packs in [12usize, 100, 1_000] {
        run(packs);
    }
}

fn run(pack_count: usize) {
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    // Enough tokens for every charge, spread over packs bought a day apart, so charges walk
    // from pack to pack as they empty.
    // Not a multiple of the rate, so that charges regularly span two packs.
    let per_pack = (CHARGES * RATE).div_ceil(pack_count as u64) + 3;
    let mut packs: Vec<PackState> = (0..pack_count)
        .map(|i| {
            let purchased_at = start + Duration::days(i as i64 % 300);
            PackState {
                id: PackId(i as i64 + 1),
                tokens: Tokens::new(per_pack).unwrap(),
                remaining: Tokens::new(per_pack).unwrap(),
                moved_out: Tokens::ZERO,
                purchased_at,
                expires_at: expiry_for(purchased_at),
            }
        })
        .collect();
    let before: u64 = packs.iter().map(|p| p.remaining.get()).sum();
    let now = start + Duration::days(300);
    let rate = Tokens::new(RATE).unwrap();

    let t0 = Instant::now();
    let mut spanning = 0u64;
    for _ in 0..CHARGES {
        let draws = plan_draw(black_box(&packs), rate, now).expect("enough tokens");
        spanning += (draws.len() > 1) as u64;
        for d in draws {
            let p = packs.iter_mut().find(|p| p.id == d.pack).unwrap();
            p.remaining = p.remaining.checked_sub(d.tokens).unwrap();
        }
    }
    let elapsed = t0.elapsed();

    let after: u64 = packs.iter().map(|p| p.remaining.get()).sum();
    assert_eq!(before - after, CHARGES * RATE, "every token accounted for");
    println!(
        "core plan_draw: {CHARGES} charges of {RATE} over {pack_count} packs in {:.1} ms ({:.2} µs/charge, {:.0} charges/s, {spanning} spanned two packs)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / CHARGES as f64,
        CHARGES as f64 / elapsed.as_secs_f64(),
    );
}
