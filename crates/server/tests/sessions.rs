//! Product sessions over real HTTP on both backends (R-SES-*, R-PRI-*): the scenarios,
//! each on a manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod common;

use common::{Http, RawBody, app};
use jeton_core::{SessionId, TeamId, UserId};
use jeton_server::testing::{SpawnOptions, TestApp, spawn_with_options};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

both_backends! {
    r_ses_2_3_the_canonical_day_charges_14_tokens => canonical_day,
    r_ses_4_grace_refunds_within_five_minutes_only => grace,
    r_pri_1_a_subscription_holder_pays_nothing_for_that_product => subscription,
    r_pri_2_a_trial_is_free_until_it_ends => trial,
    r_ses_1_the_third_sign_in_is_refused_when_the_balance_is_short => short_balance,
    r_pack_2_a_pack_expiring_mid_period_is_not_recharged => pack_expiring_mid_period,
    r_ses_5_an_idle_product_charges_again_when_use_resumes => idle,
    r_ses_6_a_dead_session_is_ended_and_charges_nothing => dead_session,
    r_ses_3_4_6_one_user_on_several_machines_is_charged_as_on_one => machines,
    r_ses_7_the_lease_verifies_offline_with_the_published_key => lease,
    r_ses_8_results_charge_rate_times_quantity_once_per_id => results,
    r_ses_2_an_idempotency_key_returns_the_first_answer => idempotent_sign_in,
    r_ses_1_refusals_have_stable_reasons_and_charge_nothing => refusals,
    bad_session_input_gets_a_problem_and_charges_nothing => bad_input,
    r_ses_9_two_servers_50_concurrent_sign_ins_one_charge => one_charge,
    r_ses_9_two_servers_200_users_race_for_37_sign_ins => race_for_balance,
    r_ses_2_4_9_concurrent_sign_ins_retries_and_sign_outs_on_two_servers_stay_exact => mixed_rush,
    r_ses_4_a_sign_in_at_the_instant_of_a_refund_pays_again => refund_then_sign_in,
    r_ses_3_a_session_the_sweep_stopped_is_told_insufficient_tokens => stopped_by_sweep,
    r_pack_7_r_ses_4_a_refund_after_a_merge_goes_where_the_packs_went => refund_after_merge,
    r_ses_6_a_quiet_heartbeat_kept_in_memory_counts_for_its_own_server => kept_beat,
    r_ses_6_a_kept_heartbeat_lost_by_another_server_only_ends_the_session_earlier => lost_beat,
    r_auth_1_a_quiet_heartbeat_checks_its_key_like_every_request => quiet_beat_key,
    r_cat_3_a_rate_changed_on_another_server_applies_to_the_next_period => rate_changed_elsewhere,
}

/// A session on a team that is then merged (R-PACK-7) may use up its period; a grace refund
/// (R-SES-4) goes back to the packs the charge came from, which belong to the target team now.
/// It used to fail the packs' check (a merged-away pack has nothing left to take a refund):
/// sign-out answered 500, and the sweep failed at every run (found by `.ci/fuzz`).
async fn refund_after_merge(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let design = scene(&op, 100).await;
    let ops = op.team("Ops").await;
    op.buy(ops, 50).await;
    let render = op.team("Render").await;
    let (_, jane) = user(&app, design, 1).await;
    let (_, sam) = user(&app, design, 2).await;
    let (jane_session, _) = started(&jane, design, "autocad").await;
    let (sam_session, _) = started(&sam, design, "revit").await;
    assert_eq!(op.available(design).await, 83);
    op.post(
        &format!("/v1/teams/{design}/merge"),
        json!({"into_team": ops}),
    )
    .await
    .ok(200);
    assert_eq!(op.available(ops).await, 133);

    // Jane signs out within five minutes: her 7 tokens go back, to Ops.
    assert_eq!(sign_out(&jane, jane_session).await, 7);
    assert_eq!(op.available(ops).await, 140);
    // Ops is merged on into Render. Sam's session dies without a heartbeat; the sweep ends it at
    // its sign-in, within the grace, and his 10 tokens go back to Render.
    op.post(
        &format!("/v1/teams/{ops}/merge"),
        json!({"into_team": render}),
    )
    .await
    .ok(200);
    op.advance(20 * 60).await;
    beat(&sam, sam_session, true)
        .await
        .problem(410, "session_ended");
    assert_eq!(op.available(render).await, 150);
    let refunds: Vec<_> = op
        .events(render)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "refunded")
        .map(|e| (e["team_id"].clone(), e["amount"].clone()))
        .collect();
    assert_eq!(
        refunds,
        [(json!(ops), json!(7)), (json!(render), json!(10))]
    );
    for team in [design, ops, render] {
        let audit = op.get(&format!("/v1/teams/{team}/audit")).await;
        assert_eq!(audit.ok(200)["balanced"], true, "team {team}: {audit:?}");
    }
    app.shutdown().await;
}

async fn refund_then_sign_in(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (_, jane) = user(&app, team, 1).await;
    let (s, _) = started(&jane, team, "autocad").await;
    assert_eq!(
        sign_out(&jane, s).await,
        7,
        "refunded at once (the clock did not move)"
    );
    let (_, charged) = started(&jane, team, "autocad").await;
    assert_eq!(charged, 7, "a new period at the same instant");
    assert_eq!(op.available(team).await, 93);
    app.shutdown().await;
}

async fn stopped_by_sweep(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 7).await;
    let (_, jane) = user(&app, team, 1).await;
    let (s, _) = started(&jane, team, "autocad").await;
    use_for(&op, &jane, s, 23 * 60 + 55, true).await; // Tuesday 07:55
    op.advance(8 * 60).await; // the sweep at 08:03 cannot pay the next period
    let info = op
        .get(&format!("/v1/teams/{team}/sessions?open=false"))
        .await;
    assert_eq!(info.ok(200)[0]["end_reason"], "insufficient_tokens");
    beat(&jane, s, true)
        .await
        .problem(422, "insufficient_tokens");
    assert_eq!(op.available(team).await, 0);
    app.shutdown().await;
}

/// A team with a pack, AutoCAD at 7/day (render.cloud 5 per result), Revit at 10/day, Maya at
/// 4/day and idle-aware.
async fn scene(op: &Http, tokens: i64) -> i64 {
    op.post(
        "/v1/products",
        json!({"key": "autocad", "name": "AutoCAD", "daily_rate": 7, "result_rates": {"render.cloud": 5}}),
    )
    .await
    .ok(201);
    op.product("revit", 10).await;
    op.post(
        "/v1/products",
        json!({"key": "maya", "name": "Maya", "daily_rate": 4, "idle_awareness": true}),
    )
    .await
    .ok(201);
    let team = op.team("Design").await;
    if tokens > 0 {
        op.buy(team, tokens).await;
    }
    team
}

/// A user with an account, assigned to the team with every product; an Http signed in as them.
async fn user(app: &TestApp, team: i64, n: usize) -> (i64, Http) {
    Http::new(app).flex_user(app, team, n).await
}

async fn sign_in(u: &Http, team: i64, product: &str) -> common::Answer {
    u.post(
        "/v1/sessions",
        json!({"team": team, "product": product, "version": "2027.1"}),
    )
    .await
}

async fn started(u: &Http, team: i64, product: &str) -> (i64, i64) {
    let a = sign_in(u, team, product).await;
    let body = a.ok(201);
    (
        body["id"].as_i64().unwrap(),
        body["tokens_charged"].as_i64().unwrap(),
    )
}

async fn beat(u: &Http, session: i64, active: bool) -> common::Answer {
    u.post(
        &format!("/v1/sessions/{session}/heartbeat"),
        json!({"active": active}),
    )
    .await
}

async fn sign_out(u: &Http, session: i64) -> i64 {
    u.send(
        Method::DELETE,
        &format!("/v1/sessions/{session}"),
        None,
        &[],
    )
    .await
    .ok(200)["tokens_refunded"]
        .as_i64()
        .unwrap()
}

/// Uses a session for `minutes`, moving the clock 5 minutes at a time with a heartbeat after
/// each step; returns the tokens the heartbeats charged.
async fn use_for(op: &Http, u: &Http, session: i64, minutes: i64, active: bool) -> i64 {
    let mut charged = 0;
    for _ in 0..minutes / 5 {
        op.advance(300).await;
        charged += beat(u, session, active).await.ok(200)["tokens_charged"]
            .as_i64()
            .unwrap();
    }
    charged
}

async fn charged_events(op: &Http, team: i64) -> Vec<Value> {
    op.get(&format!(
        "/v1/teams/{team}/events?from=2000-01-01T00:00:00Z"
    ))
    .await
    .ok(200)
    .as_array()
    .unwrap()
    .iter()
    .filter(|e| e["kind"] == "charged")
    .cloned()
    .collect()
}

async fn canonical_day(db: TestDb) {
    let app = app(db).await; // Monday 5 January 2026, 08:00
    let op = Http::new(&app);
    let team = scene(&op, 1000).await;
    let (_, jane) = user(&app, team, 1).await;

    let first = sign_in(&jane, team, "autocad").await;
    let first = first.ok(201).clone();
    assert_eq!(first["tokens_charged"], 7);
    assert_eq!(first["access"], "flex");
    assert_eq!(first["period_ends_at"], "2026-01-06T08:00:00Z");
    let s = first["id"].as_i64().unwrap();
    assert_eq!(
        use_for(&op, &jane, s, 9 * 60, true).await,
        0,
        "Monday 08:00-17:00"
    );
    assert_eq!(sign_out(&jane, s).await, 0);

    op.advance(14 * 3600).await; // Tuesday 07:00
    let (s, charged) = started(&jane, team, "autocad").await;
    assert_eq!(charged, 0, "Monday's period runs to Tuesday 08:00");
    // Still in use at 08:00: the next period opens at 08:00 and charges, even when nobody looks
    // until 08:03 (the period runs from the previous one's end, not from when it was noticed).
    use_for(&op, &jane, s, 55, true).await;
    op.advance(8 * 60).await;
    let b = beat(&jane, s, true).await;
    assert_eq!(b.ok(200)["period_ends_at"], "2026-01-07T08:00:00Z");
    use_for(&op, &jane, s, 9 * 60 - 3, true).await;
    assert_eq!(sign_out(&jane, s).await, 0);
    op.advance(5 * 86_400).await;

    let charges = charged_events(&op, team).await;
    assert_eq!(charges.len(), 2, "{charges:?}");
    assert_eq!(
        charges
            .iter()
            .map(|e| e["amount"].as_i64().unwrap())
            .sum::<i64>(),
        -14
    );
    assert_ne!(
        charges[0]["cause"], charges[1]["cause"],
        "two usage periods"
    );
    assert_eq!(
        charges[1]["at"], "2026-01-06T08:03:00Z",
        "charged when the sweep saw it"
    );
    assert_eq!(op.available(team).await, 1000 - 14);
    let audit = op.get(&format!("/v1/teams/{team}/audit")).await;
    assert_eq!(audit.ok(200)["balanced"], true);
    // The week's report: two usage days of AutoCAD, 14 tokens.
    let week = op
        .get(&format!(
            "/v1/teams/{team}/usage?from=2026-01-05&to=2026-01-11&by=product"
        ))
        .await;
    let row = week.ok(200)["by_product"][0].clone();
    assert_eq!(
        (
            row["product"].as_str(),
            row["days"].as_i64(),
            row["tokens"].as_i64()
        ),
        (Some("autocad"), Some(2), Some(14))
    );
    app.shutdown().await;
}

async fn grace(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (_, jane) = user(&app, team, 1).await;
    let (s, charged) = started(&jane, team, "autocad").await;
    assert_eq!(charged, 7);
    op.advance(4 * 60).await;
    assert_eq!(
        sign_out(&jane, s).await,
        7,
        "closed within 4 minutes: refunded"
    );
    assert_eq!(op.available(team).await, 100);
    let events = op.events(team).await;
    assert_eq!(events.last().unwrap()["kind"], "refunded");

    op.advance(3600).await;
    let (s, charged) = started(&jane, team, "autocad").await;
    assert_eq!(charged, 7, "a refunded period covers nothing: new use pays");
    op.advance(6 * 60).await;
    beat(&jane, s, true).await.ok(200);
    assert_eq!(sign_out(&jane, s).await, 0, "6 minutes: kept");
    assert_eq!(op.available(team).await, 93);
    app.shutdown().await;
}

async fn subscription(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (jane_id, jane) = user(&app, team, 1).await;
    op.post(
        &format!("/v1/users/{jane_id}/subscriptions"),
        json!({"product": "autocad", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}),
    )
    .await
    .ok(201);
    let a = sign_in(&jane, team, "autocad").await;
    assert_eq!(a.ok(201)["access"], "subscription");
    assert_eq!(a.ok(201)["tokens_charged"], 0);
    let b = sign_in(&jane, team, "revit").await;
    assert_eq!(b.ok(201)["access"], "flex");
    assert_eq!(b.ok(201)["tokens_charged"], 10);
    assert_eq!(op.available(team).await, 90);
    // The downloads view says how each product is paid for.
    let view = jane.get("/v1/me/products").await;
    let view = view.ok(200).as_array().unwrap().clone();
    let access = |k: &str| view.iter().find(|p| p["key"] == k).unwrap()["access"].clone();
    assert_eq!(access("autocad"), "subscription");
    assert_eq!(access("revit"), "flex");
    // R-PRI-3: it belongs to Jane's identity, not to someone else on the team.
    let (_, john) = user(&app, team, 2).await;
    let c = sign_in(&john, team, "autocad").await;
    assert_eq!(c.ok(201)["tokens_charged"], 7);
    // A subscription needs no Flex assignment.
    let other = op.team("Other").await;
    let d = sign_in(&jane, other, "autocad").await;
    assert_eq!(d.ok(201)["access"], "subscription");
    sign_in(&jane, other, "revit")
        .await
        .problem(422, "not_assigned");

    // Removed, it pays no more: the next sign-in is charged, what was used under it is not.
    let list = op.get(&format!("/v1/users/{jane_id}/entitlements")).await;
    let id = list.ok(200)[0]["id"].as_i64().unwrap();
    let before = op.available(team).await;
    let path = format!("/v1/users/{jane_id}/subscriptions/{id}");
    let removed = op.send(Method::DELETE, &path, None, &[]).await;
    assert_eq!(removed.ok(200)["kind"], "subscription");
    assert_eq!(op.available(team).await, before, "no retroactive charge");
    // (Not at the instant the subscription's period opened: one period starts at one instant.)
    op.advance(60).await;
    let e = sign_in(&jane, team, "autocad").await;
    assert_eq!(e.ok(201)["access"], "flex");
    assert_eq!(e.ok(201)["tokens_charged"], 7);
    assert_eq!(op.available(team).await, before - 7);
    op.send(Method::DELETE, &path, None, &[])
        .await
        .problem(404, "not_found");
    let trial = format!("/v1/users/{jane_id}/trials/{id}");
    op.send(Method::DELETE, &trial, None, &[])
        .await
        .problem(404, "not_found");
    app.shutdown().await;
}

async fn trial(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (jane_id, jane) = user(&app, team, 1).await;
    op.post(
        &format!("/v1/users/{jane_id}/trials"),
        json!({"product": "autocad", "starts_at": "2026-01-05T00:00:00Z", "ends_at": "2026-01-05T12:00:00Z"}),
    )
    .await
    .ok(201);
    let (s, charged) = started(&jane, team, "autocad").await;
    assert_eq!(charged, 0);
    op.advance(3600).await;
    sign_out(&jane, s).await;
    op.advance(4 * 3600).await; // 13:00: the trial ended at 12:00
    let a = sign_in(&jane, team, "autocad").await;
    assert_eq!(a.ok(201)["access"], "flex");
    assert_eq!(
        a.ok(201)["tokens_charged"],
        7,
        "the first sign-in after the trial pays"
    );
    assert_eq!(op.available(team).await, 93);
    app.shutdown().await;
}

async fn short_balance(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 20).await;
    let (_, a) = user(&app, team, 1).await;
    let (_, b) = user(&app, team, 2).await;
    let (_, c) = user(&app, team, 3).await;
    assert_eq!(started(&a, team, "autocad").await.1, 7);
    assert_eq!(started(&b, team, "autocad").await.1, 7);
    let refused = sign_in(&c, team, "autocad").await;
    let detail = refused.problem(422, "insufficient_tokens");
    assert!(detail.contains('6') && detail.contains('7'), "{detail}");
    assert_eq!(op.available(team).await, 6, "the refusal charged nothing");
    let sessions = op.get(&format!("/v1/teams/{team}/sessions")).await;
    assert_eq!(sessions.ok(200).as_array().unwrap().len(), 2);
    app.shutdown().await;
}

async fn pack_expiring_mid_period(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 20).await; // pack 1: 20 tokens, expires 2027-01-05 08:00
    // Almost a year later, a second pack; then a sign-in 12 hours before pack 1 expires.
    op.advance(364 * 86_400 + 12 * 3600).await; // 2027-01-04 20:00
    let p2 = op.buy(team, 100).await;
    let (_, jane) = user(&app, team, 1).await;
    let (s, charged) = started(&jane, team, "autocad").await;
    assert_eq!(charged, 7);
    assert_eq!(
        op.available(team).await,
        13 + 100,
        "drawn from the pack expiring first"
    );
    // Through pack 1's expiry (2027-01-05 08:00): the running period is not charged again.
    assert_eq!(use_for(&op, &jane, s, 12 * 60 + 30, true).await, 0);
    assert_eq!(op.available(team).await, 100);
    // At the period's end (2027-01-05 20:00) the next one is paid by the live pack only.
    use_for(&op, &jane, s, 12 * 60, true).await;
    let balance = op.get(&format!("/v1/teams/{team}/balance")).await;
    assert_eq!(balance.ok(200)["available"], 93);
    let charges = charged_events(&op, team).await;
    assert_eq!(charges.len(), 2);
    assert_eq!(charges[1]["pack_id"], p2["id"]);
    let expired: Vec<Value> = op
        .events(team)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "expired")
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["amount"], -13);
    app.shutdown().await;
}

async fn idle(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (_, jane) = user(&app, team, 1).await;
    let (s, charged) = started(&jane, team, "maya").await;
    assert_eq!(charged, 4);
    use_for(&op, &jane, s, 2 * 60, true).await; // active until 10:00
    // Idle from 10:00 through the period's end (Tuesday 08:00) until 11:55.
    assert_eq!(
        use_for(&op, &jane, s, 25 * 60 + 55, false).await,
        0,
        "paused: no period opens"
    );
    op.advance(300).await; // Tuesday 12:00
    let resumed = beat(&jane, s, true).await;
    assert_eq!(
        resumed.ok(200)["tokens_charged"],
        4,
        "the second charge happens at 12:00"
    );
    assert_eq!(resumed.ok(200)["period_ends_at"], "2026-01-07T12:00:00Z");
    let charges = charged_events(&op, team).await;
    assert_eq!(charges[1]["at"], "2026-01-06T12:00:00Z");
    app.shutdown().await;
}

async fn dead_session(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (_, jane) = user(&app, team, 1).await;
    let (s, _) = started(&jane, team, "autocad").await;
    use_for(&op, &jane, s, 60, true).await;
    // The machine crashes at 09:00. Two days pass; the sweep ends the session, charging nothing.
    op.advance(2 * 86_400).await;
    let sessions = op
        .get(&format!("/v1/teams/{team}/sessions?open=false"))
        .await;
    let info = sessions.ok(200)[0].clone();
    assert_eq!(info["end_reason"], "lease_expired");
    assert_eq!(
        info["ended_at"], "2026-01-05T09:00:00Z",
        "ended at its last heartbeat"
    );
    assert_eq!(op.available(team).await, 93);
    beat(&jane, s, true).await.problem(410, "session_ended");
    app.shutdown().await;
}

/// One user on several machines at once (a pool of build machines on one account). A sign-in or
/// sign-out reads only the open sessions its step needs (the dead ones, its own, and whether any
/// other is open; every one when the period may roll over): a refund still waits for the last
/// session, dead sessions still end at their last heartbeat, and a rollover still sees the
/// sessions in use at the period's end.
async fn machines(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (_, jane) = user(&app, team, 1).await;
    // 08:00 machine A pays; 08:01 machine B is covered.
    let (a, charged) = started(&jane, team, "autocad").await;
    assert_eq!(charged, 7);
    op.advance(60).await;
    let (b, charged) = started(&jane, team, "autocad").await;
    assert_eq!(charged, 0);
    // 08:02 B signs out within the grace window, but A is still open: no refund.
    op.advance(60).await;
    assert_eq!(sign_out(&jane, b).await, 0, "A is still open");
    // 08:03 A, the last one, signs out within the grace window: refunded.
    op.advance(60).await;
    assert_eq!(
        sign_out(&jane, a).await,
        7,
        "the last session ended in grace"
    );
    assert_eq!(op.available(team).await, 100);

    // 09:00 C pays, 09:01 D is covered and beats at 09:06; both crash. 09:25 E signs in: C and D
    // are dead and end at their last heartbeat (past the grace window: no refund), charging
    // nothing; E is covered.
    op.advance(57 * 60).await;
    let (c, charged) = started(&jane, team, "autocad").await;
    assert_eq!(charged, 7);
    op.advance(60).await;
    let (d, _) = started(&jane, team, "autocad").await;
    op.advance(5 * 60).await;
    beat(&jane, d, true).await.ok(200);
    op.advance(19 * 60).await;
    let (_e, charged) = started(&jane, team, "autocad").await;
    assert_eq!(charged, 0, "covered by C's period");
    let ended = op
        .get(&format!("/v1/teams/{team}/sessions?open=false"))
        .await
        .ok(200)
        .clone();
    let end_of = |id: i64| {
        let s = ended
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("session {id} ended: {ended}"));
        (s["end_reason"].clone(), s["ended_at"].clone())
    };
    assert_eq!(
        end_of(c),
        (json!("lease_expired"), json!("2026-01-05T09:00:00Z"))
    );
    assert_eq!(
        end_of(d),
        (json!("lease_expired"), json!("2026-01-05T09:06:00Z"))
    );
    assert_eq!(op.available(team).await, 93);

    // The next day at 08:50 G signs in, covered, and is in use at 09:00 when the period ends (its
    // lease runs to 09:05). At 09:02 H signs in: the period rolls over at 09:00 for G and charges,
    // and H is covered by it (it would otherwise open its own period at 09:02).
    op.advance((23 * 60 + 25) * 60).await;
    let (_g, charged) = started(&jane, team, "autocad").await;
    assert_eq!(charged, 0);
    op.advance(12 * 60).await;
    let h = sign_in(&jane, team, "autocad").await.ok(201).clone();
    assert_eq!(h["tokens_charged"], 0, "covered by the rollover: {h}");
    assert_eq!(h["period_ends_at"], "2026-01-07T09:00:00Z", "{h}");
    assert_eq!(op.available(team).await, 86, "C's period and its rollover");
    app.shutdown().await;
}

async fn lease(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (jane_id, jane) = user(&app, team, 1).await;
    let a = sign_in(&jane, team, "autocad").await;
    let text = a.ok(201)["lease"].as_str().unwrap().to_owned();
    let published = Http::with_key(&app, None).get("/v1/lease-key").await;
    assert_eq!(published.ok(200)["algorithm"], "ed25519");
    let key =
        jeton_core::lease::decode_public_key(published.ok(200)["public_key"].as_str().unwrap())
            .unwrap();
    assert_eq!(key, app.lease_public_key);
    let now: chrono::DateTime<chrono::Utc> = "2026-01-05T08:00:00Z".parse().unwrap();
    let lease = jeton_core::lease::verify(&text, &key, now).unwrap();
    let session = a.ok(201)["id"].as_i64().unwrap();
    let day = chrono::Duration::hours(24);
    assert_eq!(
        lease,
        jeton_core::lease::Lease {
            v: jeton_core::lease::LEASE_VERSION,
            session: SessionId(session),
            user: UserId(jane_id),
            team: TeamId(team),
            product: "autocad".into(),
            access: "flex".into(),
            period_ends_at: now + day,
            issued_at: now,
            valid_until: now + day,
        }
    );
    assert_eq!(
        jeton_core::lease::verify(&text, &key, now + day).unwrap_err(),
        jeton_core::lease::LeaseError::Expired(now + day)
    );
    // A heartbeat renews it: 24 hours after this contact, in the same period.
    op.advance(600).await;
    let b = beat(&jane, session, true).await;
    let renewed =
        jeton_core::lease::verify(b.ok(200)["lease"].as_str().unwrap(), &key, now).unwrap();
    let contact = now + chrono::Duration::minutes(10);
    assert_eq!(
        renewed,
        jeton_core::lease::Lease {
            issued_at: contact,
            valid_until: contact + day,
            ..lease
        }
    );
    app.shutdown().await;
}

async fn results(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (_, jane) = user(&app, team, 1).await;
    let (s, _) = started(&jane, team, "autocad").await;
    let path = format!("/v1/sessions/{s}/results");
    let r = jane
        .post(
            &path,
            json!({"type": "render.cloud", "quantity": 3, "id": "job-1"}),
        )
        .await;
    assert_eq!(r.ok(200)["tokens_charged"], 15);
    let again = jane
        .post(
            &path,
            json!({"type": "render.cloud", "quantity": 3, "id": "job-1"}),
        )
        .await;
    assert_eq!(
        again.ok(200)["tokens_charged"],
        15,
        "the same id: the first answer"
    );
    assert_eq!(op.available(team).await, 100 - 7 - 15, "charged once");
    jane.post(
        &path,
        json!({"type": "render.cloud", "quantity": 4, "id": "job-1"}),
    )
    .await
    .problem(422, "idempotency_key_reused");
    jane.post(
        &path,
        json!({"type": "render.local", "quantity": 1, "id": "job-2"}),
    )
    .await
    .problem(422, "unknown_result_type");
    jane.post(
        &path,
        json!({"type": "render.cloud", "quantity": 100, "id": "job-3"}),
    )
    .await
    .problem(422, "insufficient_tokens");
    assert_eq!(op.available(team).await, 78);
    app.shutdown().await;
}

async fn idempotent_sign_in(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (_, jane) = user(&app, team, 1).await;
    let body = json!({"team": team, "product": "autocad"});
    let send = |b: Value| {
        let jane = jane.clone();
        async move {
            jane.send(
                Method::POST,
                "/v1/sessions",
                Some(RawBody::Json(b)),
                &[("Idempotency-Key", "open-1")],
            )
            .await
        }
    };
    let first = send(body.clone()).await;
    op.advance(60).await;
    let again = send(body.clone()).await;
    assert_eq!(
        first.ok(201),
        again.ok(201),
        "the first answer, lease and all"
    );
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(op.available(team).await, 93);
    send(json!({"team": team, "product": "revit"}))
        .await
        .problem(422, "idempotency_key_reused");
    assert_eq!(op.available(team).await, 93);
    app.shutdown().await;
}

async fn refusals(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (jane_id, jane) = user(&app, team, 1).await;
    sign_in(&jane, team, "photoshop")
        .await
        .problem(422, "unknown_product");
    // Not on the team at all.
    let (_, outsider) = app.user_with_token("out@example.com", "Out Sider").await;
    let outsider = Http::with_key(&app, Some(outsider));
    sign_in(&outsider, team, "autocad")
        .await
        .problem(422, "not_assigned");
    // Invited here (by an import, so still invited), with an account made elsewhere since.
    op.import(&app, team, "Ann Bee,ann@example.com,*\n", "")
        .await;
    let elsewhere = op.team("Elsewhere").await;
    op.post(
        &format!("/v1/teams/{elsewhere}/flex/users"),
        json!({"invite": "Ann Bee <ann@example.com>"}),
    )
    .await
    .ok(201);
    let secret = app.invitation_secret("ann@example.com").await;
    op.post(
        "/v1/invitations/accept",
        json!({"secret": secret, "password": "ann-password-1"}),
    )
    .await
    .ok(200);
    let ann = common::signed_in(&app, "ann@example.com", "ann-password-1").await;
    sign_in(&ann, team, "autocad")
        .await
        .problem(422, "invitation_pending");
    sign_in(&ann, elsewhere, "autocad")
        .await
        .problem(422, "product_not_allowed");
    // Product not allowed: Jane limited to Revit.
    op.send(
        Method::PUT,
        &format!("/v1/teams/{team}/flex/users/{jane_id}/products"),
        Some(RawBody::Json(json!({"products": ["revit"]}))),
        &[],
    )
    .await
    .ok(200);
    sign_in(&jane, team, "autocad")
        .await
        .problem(422, "product_not_allowed");
    // Unassigned: refused at once.
    let removed = op
        .send(
            Method::DELETE,
            &format!("/v1/teams/{team}/flex/users/{jane_id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(removed.status.as_u16(), 204);
    sign_in(&jane, team, "revit")
        .await
        .problem(422, "not_assigned");
    // A closed team.
    let (_, john) = user(&app, team, 2).await;
    let target = op.team("Target").await;
    op.post(
        &format!("/v1/teams/{team}/merge"),
        json!({"into_team": target}),
    )
    .await
    .ok(200);
    sign_in(&john, team, "revit")
        .await
        .problem(422, "team_closed");
    sign_in(&john, 999_999, "revit")
        .await
        .problem(404, "not_found");
    assert_eq!(op.available(team).await, 0, "merged away");
    assert_eq!(op.available(target).await, 100, "nothing was charged");
    app.shutdown().await;
}

async fn bad_input(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (_, jane) = user(&app, team, 1).await;
    let (_, john) = user(&app, team, 2).await;
    let (s, _) = started(&jane, team, "autocad").await;
    let before = op.available(team).await;
    let results = format!("/v1/sessions/{s}/results");
    john.post(
        &format!("/v1/sessions/{s}/heartbeat"),
        json!({"active": true}),
    )
    .await
    .problem(404, "not_found");
    jane.post("/v1/sessions/999999/heartbeat", json!({"active": true}))
        .await
        .problem(404, "not_found");
    jane.post(
        &format!("/v1/sessions/{s}/heartbeat"),
        json!({"active": "yes"}),
    )
    .await
    .problem(400, "invalid_body");
    jane.post(&format!("/v1/sessions/{s}/heartbeat"), json!({}))
        .await
        .problem(400, "invalid_body");
    john.post(
        &results,
        json!({"type": "render.cloud", "quantity": 1, "id": "x"}),
    )
    .await
    .problem(404, "not_found");
    jane.post(
        &results,
        json!({"type": "render.cloud", "quantity": -1, "id": "x"}),
    )
    .await
    .problem(400, "invalid_tokens");
    jane.post(
        &results,
        json!({"type": "render.cloud", "quantity": 0, "id": "x"}),
    )
    .await
    .problem(400, "invalid_tokens");
    jane.post(
        &results,
        json!({"type": "render.cloud", "quantity": 1_000_000_000_000i64, "id": "x"}),
    )
    .await
    .problem(400, "invalid_tokens");
    jane.post(
        &results,
        json!({"type": "render.cloud", "quantity": 1, "id": ""}),
    )
    .await
    .problem(400, "invalid_idempotency_key");
    jane.post(
        &results,
        json!({"type": "Render Cloud", "quantity": 1, "id": "x"}),
    )
    .await
    .problem(400, "invalid_rate");
    jane.post("/v1/sessions", json!({"team": team}))
        .await
        .problem(400, "invalid_body");
    jane.post("/v1/sessions", json!({"team": "one", "product": "autocad"}))
        .await
        .problem(400, "invalid_body");
    jane.post(
        "/v1/sessions",
        json!({"team": team, "product": "autocad", "machine": "x".repeat(500)}),
    )
    .await
    .problem(400, "invalid_name");
    op.post("/v1/sessions", json!({"team": team, "product": "autocad"}))
        .await
        .problem(403, "forbidden");
    Http::with_key(&app, None)
        .post("/v1/sessions", json!({"team": team, "product": "autocad"}))
        .await
        .problem(401, "unauthorized");
    john.send(Method::DELETE, &format!("/v1/sessions/{s}"), None, &[])
        .await
        .problem(404, "not_found");
    op.post(
        "/v1/users/1/subscriptions",
        json!({"product": "autocad", "starts_at": "2026-02-01T00:00:00Z", "ends_at": "2026-01-01T00:00:00Z"}),
    )
    .await
    .problem(400, "invalid_range");
    op.post("/v1/users/1/trials", json!({"product": "nope", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-02-01T00:00:00Z"}))
        .await
        .problem(422, "unknown_product");
    op.post("/v1/users/999999/trials", json!({"product": "autocad", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-02-01T00:00:00Z"}))
        .await
        .problem(404, "not_found");
    assert_eq!(op.available(team).await, before, "nothing charged");
    // Signing out twice is harmless.
    assert_eq!(sign_out(&jane, s).await, 7);
    assert_eq!(sign_out(&jane, s).await, 0);
    app.shutdown().await;
}

/// Two servers on one database whose quiet heartbeats are written only when told (or lost, as
/// in a crash), to look at what is written in between.
async fn servers_keeping_beats(db: TestDb) -> (TestApp, TestApp) {
    let shared = db.share();
    let options = || SpawnOptions {
        lease_seed: Some([42u8; 32]),
        heartbeat_flush_every: None,
        ..SpawnOptions::default()
    };
    let one = spawn_with_options(db, options()).await;
    let two = spawn_with_options(shared, options()).await;
    (one, two)
}

/// A session's open listing on a server: (last_seen_at, ended_at).
async fn seen(op: &Http, team: i64, session: i64) -> (Value, Value) {
    let list = op
        .get(&format!("/v1/teams/{team}/sessions?open=false"))
        .await;
    let s = list
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == session)
        .unwrap()
        .clone();
    (s["last_seen_at"].clone(), s["ended_at"].clone())
}

/// A quiet heartbeat is answered before it is written; the server that answered it decides on
/// it at once (its sweep does not end the session), and writes it when asked.
async fn kept_beat(db: TestDb) {
    let (one, two) = servers_keeping_beats(db).await;
    let op = Http::new(&one);
    let team = scene(&op, 100).await;
    let (_, jane) = user(&one, team, 1).await;
    let (s, _) = started(&jane, team, "autocad").await; // 08:00
    op.advance(5 * 60).await;
    beat(&jane, s, true).await.ok(200); // 08:05, kept
    let other = Http::new(&two);
    assert_eq!(
        seen(&other, team, s).await,
        (json!("2026-01-05T08:00:00Z"), Value::Null),
        "not written yet: the other server sees the sign-in"
    );
    // 08:19: 19 minutes after the written contact, 14 after the kept one. This server's sweep
    // (run at every advance) counts the kept heartbeat.
    op.advance(14 * 60).await;
    one.store.flush_heartbeats().await.unwrap();
    assert_eq!(
        seen(&other, team, s).await,
        (json!("2026-01-05T08:05:00Z"), Value::Null),
        "written now, the session still open"
    );
    beat(&jane, s, true).await.ok(200);
    assert_eq!(op.available(team).await, 93, "one charge");
    two.shutdown().await;
    one.shutdown().await;
}

/// Another server cannot see a heartbeat kept in memory (or lost in a crash): its sweep judges
/// the session by the written contact and ends it there — earlier, charging nothing more. Writing
/// the kept heartbeat afterwards does not bring the session back.
async fn lost_beat(db: TestDb) {
    let (one, two) = servers_keeping_beats(db).await;
    let op = Http::new(&one);
    let team = scene(&op, 100).await;
    let (_, jane) = user(&one, team, 1).await;
    let (s, _) = started(&jane, team, "autocad").await; // 08:00
    op.advance(6 * 60).await;
    beat(&jane, s, true).await.ok(200); // 08:06
    one.store.flush_heartbeats().await.unwrap();
    op.advance(4 * 60).await;
    beat(&jane, s, true).await.ok(200); // 08:10, kept by server one only
    let other = Http::new(&two);
    other.advance(22 * 60).await; // server two's sweep at 08:22
    let ended = (json!("2026-01-05T08:06:00Z"), json!("2026-01-05T08:06:00Z"));
    assert_eq!(
        seen(&other, team, s).await,
        ended,
        "ended at its last written contact"
    );
    one.store.flush_heartbeats().await.unwrap();
    assert_eq!(
        seen(&other, team, s).await,
        ended,
        "a kept heartbeat does not revive an ended session"
    );
    beat(&jane, s, true).await.problem(410, "session_ended");
    assert_eq!(op.available(team).await, 93, "one charge, nothing more");
    let audit = op.get(&format!("/v1/teams/{team}/audit")).await;
    assert_eq!(audit.ok(200)["balanced"], true, "{audit:?}");
    two.shutdown().await;
    one.shutdown().await;
}

/// A quiet heartbeat checks its user token in the same read that finds nothing due; every other
/// key, and a token that no longer signs in, gets what any request would, in the same order.
async fn quiet_beat_key(db: TestDb) {
    let app = app(db).await;
    let op = Http::new(&app);
    let team = scene(&op, 100).await;
    let (_, jane) = user(&app, team, 1).await;
    let (_, bob) = user(&app, team, 2).await;
    let (s, _) = started(&jane, team, "autocad").await;
    op.advance(60).await;
    beat(&jane, s, true).await.ok(200);
    beat(&bob, s, true).await.problem(404, "not_found");
    beat(&op, s, true).await.problem(403, "forbidden");
    let expired = Http::with_key(&app, Some("jeton_usr_not-a-token-of-anyone".into()));
    beat(&expired, s, true).await.problem(401, "unauthorized");
    // Auth comes before a bad path or body, as everywhere.
    expired
        .post(
            &format!("/v1/sessions/{s}/heartbeat"),
            json!({"active": "yes"}),
        )
        .await
        .problem(401, "unauthorized");
    expired
        .post("/v1/sessions/x/heartbeat", json!({"active": true}))
        .await
        .problem(401, "unauthorized");
    jane.post(
        &format!("/v1/sessions/{s}/heartbeat"),
        json!({"active": "yes"}),
    )
    .await
    .problem(400, "invalid_body");
    // Signed out of this device: the same token now answers 401, quiet or not.
    jane.post("/v1/me/sign-out", json!({})).await;
    beat(&jane, s, true).await.problem(401, "unauthorized");
    app.shutdown().await;
}

/// Two servers on one database, sharing their lease key like a real deployment.
async fn two_servers(db: TestDb) -> (TestApp, TestApp) {
    let shared = db.share();
    let options = || SpawnOptions {
        lease_seed: Some([42u8; 32]),
        ..SpawnOptions::default()
    };
    let one = spawn_with_options(db, options()).await;
    let two = spawn_with_options(shared, options()).await;
    (one, two)
}

/// R-CAT-3 across servers: a server that has signed someone in to a product keeps its key, and a
/// rate changed on another server still applies to the next period it opens (the batch reads the
/// rate under the team's lock, not from what the server keeps).
async fn rate_changed_elsewhere(db: TestDb) {
    let (one, two) = two_servers(db).await;
    let op = Http::new(&one);
    let team = scene(&op, 100).await;
    let (_, jane) = user(&one, team, 1).await;
    let (s, charged) = started(&jane, team, "autocad").await;
    assert_eq!(charged, 7);
    assert_eq!(sign_out(&jane, s).await, 7, "refunded at once");
    Http::new(&two)
        .patch("/v1/products/autocad", json!({"daily_rate": 9}))
        .await
        .ok(200);
    let (_, charged) = started(&jane, team, "autocad").await;
    assert_eq!(
        charged, 9,
        "the new rate, on the server that knew the product"
    );
    assert_eq!(op.available(team).await, 91);
    two.shutdown().await;
    one.shutdown().await;
}

async fn one_charge(db: TestDb) {
    let (one, two) = two_servers(db).await;
    let op = Http::new(&one);
    let team = scene(&op, 1000).await;
    let (_, token) = one.user_with_token("jane@example.com", "Jane").await;
    op.post(
        &format!("/v1/teams/{team}/flex/users"),
        json!({"email": "jane@example.com", "all": true}),
    )
    .await
    .ok(201);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let app = if i % 2 == 0 { &one } else { &two };
            let u = Http::with_key(app, Some(token.clone()));
            tokio::spawn(async move {
                let a = sign_in(&u, team, "autocad").await;
                a.ok(201)["tokens_charged"].as_i64().unwrap()
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 7, "50 concurrent sign-ins, one charge");
    assert_eq!(op.available(team).await, 993);
    assert_eq!(charged_events(&op, team).await.len(), 1);
    let sessions = op
        .get(&format!("/v1/teams/{team}/sessions?limit=1000"))
        .await;
    assert_eq!(sessions.ok(200).as_array().unwrap().len(), 50);
    one.shutdown().await;
    two.shutdown().await;
}

async fn race_for_balance(db: TestDb) {
    let (one, two) = two_servers(db).await;
    let op = Http::new(&one);
    let team = scene(&op, 7 * 37).await;
    let mut users = Vec::new();
    let mut csv = String::new();
    for i in 0..200 {
        let email = format!("racer{i}@example.com");
        let (_, token) = one.user_with_token(&email, &format!("Racer {i}")).await;
        csv.push_str(&format!("Racer {i},{email},*\n"));
        users.push(token);
    }
    let imported = op.import(&one, team, &csv, "").await;
    assert_eq!(imported["applied"], 200);
    let tasks: Vec<_> = users
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let app = if i % 2 == 0 { &one } else { &two };
            let u = Http::with_key(app, Some(token));
            tokio::spawn(async move {
                let a = sign_in(&u, team, "autocad").await;
                match a.status.as_u16() {
                    201 => Ok(a.body["tokens_charged"].as_i64().unwrap()),
                    _ => Err(a.body["code"].as_str().unwrap().to_owned()),
                }
            })
        })
        .collect();
    let (mut ok, mut charged, mut refused) = (0, 0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(tokens) => {
                ok += 1;
                charged += tokens;
            }
            Err(code) => {
                assert_eq!(code, "insufficient_tokens");
                refused += 1;
            }
        }
    }
    assert_eq!((ok, refused, charged), (37, 163, 259));
    assert_eq!(
        op.available(team).await,
        0,
        "the exact remainder, never negative"
    );
    assert_eq!(
        op.get(&format!("/v1/teams/{team}/audit")).await.ok(200)["balanced"],
        true
    );
    one.shutdown().await;
    two.shutdown().await;
}

/// Batches (many requests under their teams' locks) under a rush on two servers: every user signs
/// in to two products at once, each request sent twice with one idempotency key; then at once
/// each signs out of one (a grace refund), opens a third and signs in again to the second (a
/// paid period). Every retried request gets the first answer, each period is charged once, every
/// refund gives back its charge, and the ledger, balance and usage report agree.
async fn mixed_rush(db: TestDb) {
    const USERS: usize = 30;
    let (one, two) = two_servers(db).await;
    let op = Http::new(&one);
    let team = scene(&op, 1000).await;
    let mut users = Vec::new();
    let mut csv = String::new();
    for i in 0..USERS {
        let email = format!("rush{i}@example.com");
        let (_, token) = one.user_with_token(&email, &format!("Rush {i}")).await;
        csv.push_str(&format!("Rush {i},{email},*\n"));
        let app = if i % 2 == 0 { &one } else { &two };
        let other = if i % 2 == 0 { &two } else { &one };
        users.push((
            Http::with_key(app, Some(token.clone())),
            Http::with_key(other, Some(token)),
        ));
    }
    assert_eq!(op.import(&one, team, &csv, "").await["applied"], USERS);

    let mut tasks = Vec::new();
    for (i, (u, again)) in users.iter().enumerate() {
        for product in ["autocad", "revit"] {
            for http in [u.clone(), again.clone()] {
                let key = format!("rush-{i}-{product}");
                tasks.push(tokio::spawn(async move {
                    let body = json!({"team": team, "product": product});
                    let a = http
                        .send(
                            Method::POST,
                            "/v1/sessions",
                            Some(RawBody::Json(body)),
                            &[("Idempotency-Key", key.as_str())],
                        )
                        .await;
                    let body = a.ok(201);
                    (
                        i,
                        product,
                        body["id"].as_i64().unwrap(),
                        body["tokens_charged"].as_i64().unwrap(),
                    )
                }));
            }
        }
    }
    let mut first: std::collections::BTreeMap<(usize, &str), (i64, i64)> = Default::default();
    let mut charged = 0;
    for t in tasks {
        let (i, product, id, tokens) = t.await.unwrap();
        match first.get(&(i, product)) {
            Some(seen) => assert_eq!(*seen, (id, tokens), "a retry gets the first answer"),
            None => {
                first.insert((i, product), (id, tokens));
                charged += tokens;
            }
        }
    }
    assert_eq!(
        charged,
        USERS as i64 * (7 + 10),
        "each (user, product) charged once"
    );
    assert_eq!(op.available(team).await, 1000 - 510);

    let mut tasks = Vec::new();
    for (i, (u, again)) in users.iter().enumerate() {
        let autocad = first[&(i, "autocad")].0;
        let u = u.clone();
        tasks.push(tokio::spawn(async move { sign_out(&u, autocad).await }));
        let again = again.clone();
        tasks.push(tokio::spawn(async move {
            started(&again, team, "maya").await.1 + started(&again, team, "revit").await.1
        }));
    }
    let mut moved = 0;
    for (k, t) in tasks.into_iter().enumerate() {
        let tokens = t.await.unwrap();
        // Even tasks sign out (a refund of 7), odd ones open Maya (4) and Revit's paid period.
        assert_eq!(tokens, if k % 2 == 0 { 7 } else { 4 }, "task {k}");
        moved += if k % 2 == 0 { tokens } else { -tokens };
    }
    assert_eq!(moved, USERS as i64 * (7 - 4));
    assert_eq!(op.available(team).await, 1000 - 510 + 210 - 120);
    let audit = op.get(&format!("/v1/teams/{team}/audit")).await;
    assert_eq!(audit.ok(200)["balanced"], true, "{audit:?}");
    let events = charged_events(&op, team).await;
    assert_eq!(events.len(), USERS * 3, "one charge per period");
    let usage = op
        .get(&format!(
            "/v1/teams/{team}/usage?range=past_30_days&by=product"
        ))
        .await;
    let usage = usage.ok(200);
    assert_eq!(usage["summary"]["tokens"], 510 - 210 + 120);
    assert_eq!(usage["summary"]["periods"], USERS * 3);
    let mut tokens: Vec<_> = usage["by_product"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["product"].as_str().unwrap(),
                p["tokens"].as_i64().unwrap(),
            )
        })
        .collect();
    tokens.sort();
    assert_eq!(tokens, [("autocad", 0), ("maya", 120), ("revit", 300)]);
    // The rush was served by batches of several requests (else this test would not test them).
    let (mut batches, mut requests) = (0, 0);
    for app in [&one, &two] {
        let text = Http::new(app).metrics_text().await;
        let total = |name: &str| -> u64 {
            let line = text.lines().find(|l| l.starts_with(&format!("{name} ")));
            line.and_then(|l| l.split(' ').nth(1)?.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        batches += total("jeton_session_batches_total");
        requests += total("jeton_session_batch_requests_total");
    }
    assert!(
        requests > batches,
        "{requests} requests in {batches} batches"
    );
    one.shutdown().await;
    two.shutdown().await;
}
