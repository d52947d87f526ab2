//! Store records → wire types. One function per type, used by every handler that answers it.

use chrono::{DateTime, Utc};
use jeton_api as api;
use jeton_store::{catalogue, events, packs, teams, transfers};

pub fn product(p: &catalogue::Product) -> api::Product {
    api::Product {
        key: p.key.to_string(),
        name: p.name.clone(),
        daily_rate: p.daily_rate.get(),
        result_rates: p
            .result_rates
            .iter()
            .map(|(k, v)| (k.to_string(), v.get()))
            .collect(),
        idle_awareness: p.idle_awareness,
        items: p
            .items
            .iter()
            .map(|i| api::Item {
                version: i.version.clone(),
                platform: i.platform.clone(),
                url: i.url.clone(),
            })
            .collect(),
        added_at: p.added_at,
        updated_at: p.updated_at,
    }
}

pub fn rate_change(c: &catalogue::RateChange) -> api::RateChange {
    api::RateChange {
        at: c.at,
        daily_rate: c.daily_rate.get(),
        result_rates: c
            .result_rates
            .iter()
            .map(|(k, v)| (k.to_string(), v.get()))
            .collect(),
        actor: c.actor.to_string(),
    }
}

pub fn team(t: &teams::Team) -> api::Team {
    api::Team {
        id: t.id.0,
        name: t.name.clone(),
        status: if t.closed_at.is_some() {
            api::TeamStatus::Closed
        } else {
            api::TeamStatus::Open
        },
        created_at: t.created_at,
        closed_at: t.closed_at,
        merged_into: t.merged_into.map(|m| m.0),
    }
}

pub fn pack(p: &packs::Pack) -> api::Pack {
    api::Pack {
        id: p.id.0,
        team_id: p.team_id.0,
        tokens: p.tokens.get(),
        remaining: p.remaining.get(),
        purchased_at: p.purchased_at,
        expires_at: p.expires_at,
    }
}

pub fn balance(b: &packs::Balance, now: DateTime<Utc>) -> api::Balance {
    api::Balance {
        team_id: b.team.0,
        available: b.summary.available.get(),
        used: b.summary.used.get(),
        total: b.summary.total.get(),
        low: b.summary.low,
        packs: b
            .packs
            .iter()
            .map(|p| api::BalancePack {
                id: p.id.0,
                tokens: p.tokens.get(),
                remaining: p.remaining.get(),
                purchased_at: p.purchased_at,
                expires_at: p.expires_at,
                days_to_expiry: (p.expires_at - now).num_days(),
            })
            .collect(),
    }
}

pub fn event(e: &events::LedgerEvent) -> api::Event {
    api::Event {
        id: e.id,
        team_id: e.team.0,
        kind: e.kind.to_string(),
        amount: e.amount,
        pack_id: e.pack.0,
        at: e.at,
        actor: e.actor.to_string(),
        cause: e.cause.to_string(),
    }
}

fn moved(p: &transfers::MovedPack) -> api::MovedPack {
    api::MovedPack {
        from_pack: p.from_pack.0,
        to_pack: p.to_pack.0,
        tokens: p.tokens.get(),
        expires_at: p.expires_at,
    }
}

pub fn move_record(m: &transfers::MoveRecord) -> api::Move {
    api::Move {
        id: m.id.0,
        from_team: m.from_team.0,
        to_team: m.to_team.0,
        tokens: m.tokens.get(),
        at: m.at,
        actor: m.actor.to_string(),
        packs: m.packs.iter().map(moved).collect(),
    }
}

pub fn merge(m: &transfers::MergeRecord) -> api::Merge {
    api::Merge {
        from_team: m.from_team.0,
        into_team: m.into_team.0,
        tokens: m.tokens.get(),
        at: m.at,
        packs: m.packs.iter().map(moved).collect(),
    }
}

pub fn audit(a: &events::Audit) -> api::Audit {
    api::Audit {
        team_id: a.team.0,
        events_sum: a.events_sum,
        remaining_sum: a.remaining_sum,
        balanced: a.is_clean(),
        mismatched_packs: a.mismatched_packs.iter().map(|(p, _, _)| p.0).collect(),
    }
}
