use chrono::{DateTime, Utc};
use jeton_core::ledger::{Actor, Cause};
use jeton_core::pack::Draw;
use jeton_core::{TeamId, Tokens};

use crate::Store;
use crate::error::StoreResult;
use crate::ledger;

/// What a charge took, pack by pack, in consumption order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeReceipt {
    pub team: TeamId,
    pub amount: Tokens,
    pub draws: Vec<Draw>,
    pub at: DateTime<Utc>,
}

impl Store {
    /// Takes `amount` tokens from a team in one transaction: lock the team, expire what is due,
    /// plan the draws with `jeton_core::pack::plan_draw`, apply them, append one `charged`
    /// event per pack. Refused with `insufficient_tokens` (and nothing written) when the live
    /// packs do not cover it. Sessions and results charge through here.
    pub async fn charge(
        &self,
        team: TeamId,
        amount: Tokens,
        cause: &Cause,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<ChargeReceipt> {
        let mut w = self.begin_write().await?;
        ledger::open_team(&mut w.tx, team, now).await?;
        let draws = ledger::apply_charge(&mut w.tx, team, amount, cause, actor, now).await?;
        w.commit().await?;
        Ok(ChargeReceipt {
            team,
            amount,
            draws,
            at: now,
        })
    }
}
