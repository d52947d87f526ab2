//! Store records → wire types. One function per type, used by every handler that answers it.

use chrono::{DateTime, Utc};
use jeton_api as api;
use std::collections::BTreeSet;

use jeton_core::invitation::InvitationState;
use jeton_core::{ProductAccess, ProductKey, TeamId};
use jeton_store::{catalogue, events, flex, imports, invitations, outbox, packs, teams, transfers};

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
        items: p.items.iter().map(item).collect(),
        added_at: p.added_at,
        updated_at: p.updated_at,
    }
}

pub fn item(i: &jeton_core::DownloadItem) -> api::Item {
    api::Item {
        version: i.version.clone(),
        platform: i.platform.clone(),
        url: i.url.clone(),
    }
}

pub fn access(kind: jeton_core::session::AccessKind) -> api::AccessKind {
    use jeton_core::session::AccessKind;
    match kind {
        AccessKind::Flex => api::AccessKind::Flex,
        AccessKind::Subscription => api::AccessKind::Subscription,
        AccessKind::Trial => api::AccessKind::Trial,
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
        low_percent: b.low_percent,
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
        id: e.id.0,
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

pub fn assignment_status(s: flex::AssignmentStatus) -> api::AssignmentStatus {
    match s {
        flex::AssignmentStatus::Invited => api::AssignmentStatus::Invited,
        flex::AssignmentStatus::Active => api::AssignmentStatus::Active,
    }
}

fn keys<'a>(keys: impl IntoIterator<Item = &'a ProductKey>) -> Vec<String> {
    keys.into_iter().map(ToString::to_string).collect()
}

pub fn flex_user(u: &flex::FlexUser) -> api::FlexUser {
    api::FlexUser {
        user_id: u.user.id.0,
        email: u.user.email.clone(),
        name: u.user.name.clone(),
        status: assignment_status(u.status),
        products: match &u.selection {
            ProductAccess::All => api::ProductSelection::All(api::AllProducts::All),
            ProductAccess::Selected(k) => api::ProductSelection::Some(keys(k)),
        },
        effective_products: keys(&u.effective),
        invitation_id: u.invitation.map(|(id, _)| id.0),
        invitation_expires_at: u.invitation.map(|(_, at)| at),
        assigned_at: u.assigned_at,
    }
}

pub fn defaults(team: TeamId, k: &BTreeSet<ProductKey>) -> api::Defaults {
    api::Defaults {
        team_id: team.0,
        enabled: !k.is_empty(),
        products: keys(k),
    }
}

pub fn invitation(i: &invitations::InvitationRecord) -> api::Invitation {
    api::Invitation {
        id: i.id.0,
        team_id: i.team.0,
        user_id: i.user_id.0,
        email: i.email.clone(),
        name: i.name.clone(),
        status: match i.state {
            InvitationState::Pending => api::InvitationStatus::Pending,
            InvitationState::Expired => api::InvitationStatus::Expired,
            InvitationState::Accepted => api::InvitationStatus::Accepted,
            InvitationState::Superseded => api::InvitationStatus::Superseded,
        },
        created_at: i.created_at,
        expires_at: i.expires_at,
        emailed: i.emailed,
    }
}

pub fn outbox_message(m: &outbox::OutboxRecord) -> api::OutboxMessage {
    api::OutboxMessage {
        id: m.id.0,
        team_id: m.team.0,
        to: m.to.clone(),
        subject: m.subject.clone(),
        // Links' secrets are the addressee's alone, not the operator's.
        body: jeton_core::mail::without_secrets(&m.body),
        kind: m.kind.clone(),
        status: m.status.as_str().to_owned(),
        attempts: m.attempts,
        created_at: m.created_at,
        sent_at: m.sent_at,
        last_error: m.last_error.clone(),
    }
}

pub fn import_job(j: &imports::ImportJob) -> api::ImportJob {
    api::ImportJob {
        id: j.id.0,
        team_id: j.team.0,
        status: match j.status {
            imports::ImportStatus::Queued => api::ImportStatus::Queued,
            imports::ImportStatus::Running => api::ImportStatus::Running,
            imports::ImportStatus::Done => api::ImportStatus::Done,
            imports::ImportStatus::Failed => api::ImportStatus::Failed,
        },
        total: j.total,
        done: j.done,
        applied: j.applied,
        unchanged: j.unchanged,
        refused: j.refused,
        created_at: j.created_at,
        started_at: j.started_at,
        finished_at: j.finished_at,
        error: j.error.as_ref().map(|(code, detail)| api::ImportFailure {
            code: code.clone(),
            detail: detail.clone(),
        }),
    }
}

pub fn import_line(l: &imports::ImportLine) -> api::ImportLine {
    api::ImportLine {
        line: l.line,
        outcome: match l.outcome {
            imports::LineOutcome::Applied => api::ImportLineOutcome::Applied,
            imports::LineOutcome::Unchanged => api::ImportLineOutcome::Unchanged,
            imports::LineOutcome::Refused => api::ImportLineOutcome::Refused,
        },
        reason: l.reason.clone(),
    }
}

pub fn line_outcome(o: api::ImportLineOutcome) -> imports::LineOutcome {
    match o {
        api::ImportLineOutcome::Applied => imports::LineOutcome::Applied,
        api::ImportLineOutcome::Unchanged => imports::LineOutcome::Unchanged,
        api::ImportLineOutcome::Refused => imports::LineOutcome::Refused,
    }
}
