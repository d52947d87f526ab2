//! `jeton estimate` (R-REP-5) and `jeton forecast`: the tokens a plan of use needs, and where a
//! team's balance goes at its recent burn rate.

use anyhow::Result;
use clap::Args;
use jeton_api::{Estimate, EstimateRequest, Forecast, PlanLine};
use jeton_core::forecast;

use super::Ctx;
use super::output::{self, blocks, fields, table};
use super::teams::{self, Named};

#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// Compare the plan with this team's balance and expiry dates (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: Option<String>,
    /// One line of the plan: so many users of a product, so many days a month each
    /// (e.g. autocad:5:8); repeat for more products
    #[arg(
        long = "plan",
        value_name = "PRODUCT:USERS:DAYS_PER_MONTH",
        value_parser = parse_plan_line,
        required = true
    )]
    pub plan: Vec<PlanLine>,
}

#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// The team (id or exact name)
    #[arg(long, value_name = "TEAM")]
    pub team: String,
}

/// Most planned users of one product, and most days a month (the estimator's own limits).
const MAX_USERS: i64 = forecast::MAX_PLANNED_USERS as i64;
const MAX_DAYS: i64 = forecast::MAX_DAYS_PER_MONTH as i64;

const PLAN_FORM: &str = "expected PRODUCT:USERS:DAYS_PER_MONTH, such as autocad:5:8 \
    (5 users, 8 days a month each; users 1 to 1000000, days 1 to 31)";

/// `--plan autocad:5:8`. The product is everything before the last two fields.
pub fn parse_plan_line(s: &str) -> Result<PlanLine, String> {
    let bad = |why: &str| format!("{why}: {PLAN_FORM}");
    let mut parts = s.trim().rsplitn(3, ':');
    let (Some(days), Some(users), Some(product)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(&format!("{s:?} does not have three fields")));
    };
    let product = product.trim();
    if product.is_empty() {
        return Err(bad("the product is missing"));
    }
    let number = |field: &str, what: &str, max: i64| -> Result<i64, String> {
        match field.trim().parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            Ok(n) => Err(bad(&format!("{n} {what} is out of range"))),
            Err(_) => Err(bad(&format!(
                "{what} {:?} is not a whole number",
                field.trim()
            ))),
        }
    };
    Ok(PlanLine {
        product: product.to_string(),
        users: number(users, "users", MAX_USERS)?,
        days_per_month: number(days, "days per month", MAX_DAYS)?,
    })
}

pub async fn estimate(args: EstimateArgs, ctx: &Ctx) -> Result<()> {
    let team = match &args.team {
        Some(team) => Some(teams::named(ctx, team).await?),
        None => None,
    };
    let request = EstimateRequest {
        team: team.as_ref().map(|t| t.id),
        plan: args.plan,
    };
    let estimate = ctx.client.estimate(&request).await?;
    ctx.out
        .print(&estimate, |e| show_estimate(e, team.as_ref()))
}

pub async fn forecast(args: ForecastArgs, ctx: &Ctx) -> Result<()> {
    let team = teams::named(ctx, &args.team).await?;
    let forecast = ctx.client.forecast(team.id).await?;
    ctx.out.print(&forecast, |f| show_forecast(&team, f))
}

fn show_estimate(e: &Estimate, named: Option<&Named>) -> String {
    let mut t = table(
        &[
            "product",
            "daily rate",
            "users",
            "days a month",
            "tokens a month",
            "tokens a year",
        ],
        &[1, 2, 3, 4, 5],
    );
    for l in &e.lines {
        t.add_row(vec![
            l.product.clone(),
            l.daily_rate.to_string(),
            l.users.to_string(),
            l.days_per_month.to_string(),
            l.tokens_per_month.to_string(),
            l.tokens_per_year.to_string(),
        ]);
    }
    let total = format!(
        "The plan needs {} a month, {} a year.",
        output::tokens(e.tokens_per_month),
        output::tokens(e.tokens_per_year)
    );
    let against = e.team.as_ref().map(|team| {
        let buy = if team.shortfall == 0 {
            "none: the balance covers a year of the plan".to_string()
        } else {
            output::tokens(team.shortfall)
        };
        let zero = team
            .balance_zero_at
            .as_ref()
            .map(output::date)
            .unwrap_or_else(|| "-".into());
        let name = named.map_or_else(|| format!("{}", team.team_id), |n| n.to_string());
        format!(
            "Against team {name}:\n{}",
            fields(&[
                ("available", output::tokens(team.available)),
                (
                    "expiring before the plan uses them",
                    output::tokens(team.expiring_before_use)
                ),
                ("to buy for a year", buy),
                ("balance reaches zero", zero),
            ])
        )
    });
    blocks([t.to_string(), total, against.unwrap_or_default()])
}

fn show_forecast(team: &Named, f: &Forecast) -> String {
    let head = format!(
        "{team}: {} available; burn rate {:.2} tokens a day (the last 30 days).",
        output::tokens(f.available),
        f.daily_burn
    );
    let outlook = match &f.balance_zero_at {
        None => "The balance is empty.".to_string(),
        Some(at) if f.runs_out_by_use => format!(
            "At this rate the balance reaches zero on {}: used up.",
            output::date(at)
        ),
        Some(at) => format!(
            "At this rate the balance reaches zero on {}, when the last tokens expire{}.",
            output::date(at),
            if f.daily_burn > 0.0 {
                ""
            } else {
                " (no recent use)"
            }
        ),
    };
    let expiring = if f.expiring_unused == 0 {
        "No tokens expire unused.".to_string()
    } else {
        format!(
            "{} expire unused: use them or move them to a team that will.",
            output::tokens(f.expiring_unused)
        )
    };
    if f.packs.is_empty() {
        return blocks([head, outlook]);
    }
    let mut t = table(
        &[
            "pack",
            "expires",
            "remaining",
            "used before expiry",
            "expiring unused",
        ],
        &[0, 2, 3, 4],
    );
    for p in &f.packs {
        t.add_row(vec![
            p.pack_id.to_string(),
            output::date(&p.expires_at),
            p.remaining.to_string(),
            p.used.to_string(),
            p.expiring.to_string(),
        ]);
    }
    blocks([
        format!("{head}\n{outlook}\n{expiring}"),
        format!("Packs, in the order they are used:\n{t}"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use jeton_api::{EstimateAgainstTeam, EstimateLine, PackForecast};

    fn design() -> Named {
        Named {
            id: 3,
            name: "Design".into(),
        }
    }

    #[test]
    fn r_rep_5_plan_lines_are_product_users_days() {
        assert_eq!(
            parse_plan_line("autocad:5:8").unwrap(),
            PlanLine {
                product: "autocad".into(),
                users: 5,
                days_per_month: 8
            }
        );
        assert_eq!(
            parse_plan_line(" render.cloud : 1 : 31 ").unwrap().product,
            "render.cloud"
        );
        assert_eq!(
            parse_plan_line("vendor:tool:2:3").unwrap().product,
            "vendor:tool",
            "the product is what comes before the last two fields"
        );
        for bad in [
            "autocad",
            "autocad:5",
            ":5:8",
            "autocad:five:8",
            "autocad:0:8",
            "autocad:5:32",
            "autocad:5:0",
            "autocad:-1:8",
            "autocad:5:8.5",
            "",
        ] {
            let err = parse_plan_line(bad).unwrap_err();
            assert!(
                err.contains("PRODUCT:USERS:DAYS_PER_MONTH") && err.contains("autocad:5:8"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn estimates_read_as_a_table_totals_and_the_team() {
        let e = Estimate {
            lines: vec![EstimateLine {
                product: "autocad".into(),
                daily_rate: 7,
                users: 5,
                days_per_month: 8,
                tokens_per_month: 280,
                tokens_per_year: 3360,
            }],
            tokens_per_month: 280,
            tokens_per_year: 3360,
            team: Some(EstimateAgainstTeam {
                team_id: 3,
                available: 1000,
                expiring_before_use: 0,
                shortfall: 2360,
                balance_zero_at: Some(Utc.with_ymd_and_hms(2026, 4, 21, 0, 0, 0).unwrap()),
            }),
        };
        let text = show_estimate(&e, Some(&design()));
        for part in [
            "autocad",
            "3360",
            "The plan needs 280 tokens a month, 3360 tokens a year.",
            "Against team Design:",
            "2360 tokens",
            "2026-04-21",
        ] {
            assert!(text.contains(part), "{part:?} in:\n{text}");
        }
    }

    #[test]
    fn forecasts_say_when_and_why_the_balance_ends() {
        let expires = Utc.with_ymd_and_hms(2027, 1, 5, 8, 0, 0).unwrap();
        let f = Forecast {
            team_id: 3,
            available: 980,
            daily_burn: 0.6667,
            balance_zero_at: Some(expires),
            runs_out_by_use: false,
            expiring_unused: 737,
            packs: vec![PackForecast {
                pack_id: 1,
                expires_at: expires,
                remaining: 980,
                used: 243,
                expiring: 737,
            }],
        };
        let text = show_forecast(&design(), &f);
        for part in [
            "Design: 980 tokens available; burn rate 0.67 tokens a day",
            "reaches zero on 2027-01-05, when the last tokens expire.",
            "737 tokens expire unused",
            "used before expiry",
        ] {
            assert!(text.contains(part), "{part:?} in:\n{text}");
        }
        let empty = Forecast {
            available: 0,
            balance_zero_at: None,
            expiring_unused: 0,
            packs: vec![],
            ..f
        };
        assert!(show_forecast(&design(), &empty).contains("The balance is empty."));
    }
}
