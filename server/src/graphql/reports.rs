//! GraphQL of the reports (staff only): the trial balance, and the monthly
//! rollup with its conversion rates and the months it has closed.
//!
//! See [`crate::core::reports::rollup`] for what each figure counts and
//! [`crate::core::reports`] for when a month is computed and where it is read.
//! Rates are decimal strings with [`crate::core::reports::rollup::RATE_DECIMALS`]
//! places (`"0.750000"` is 75 %), null when there is nothing to divide by.

use std::sync::Arc;

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::access;
use super::common::Money;
use super::context::reads;
use super::error::{OrCoded, coded};
use crate::core::reports::rollup::{self, ConversionRate, RollupSums};
use crate::core::reports::{MonthReport, Reports, TrialBalanceLine};

/// The reports service from the schema data.
pub fn reports<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<Reports>> {
    ctx.data::<Arc<Reports>>().map_err(|_| coded("INTERNAL_SERVER_ERROR", "internal server error"))
}

/// A month's rollup: per merchant class and asset.
pub struct MonthlyRollupNode {
    /// The report.
    pub report: Arc<MonthReport>,
    /// Only this class, when asked.
    pub class: Option<String>,
    /// Only this asset, when asked.
    pub asset: Option<String>,
}

impl MonthlyRollupNode {
    fn select(&self, adjustments: bool) -> Vec<RollupLineNode> {
        let map = if adjustments { &self.report.figures.adjustments } else { &self.report.figures.lines };
        map.iter()
            .filter(|((c, a), _)| {
                self.class.as_ref().is_none_or(|x| x == c) && self.asset.as_ref().is_none_or(|x| x == a)
            })
            .map(|((class, asset), sums)| RollupLineNode {
                class: class.clone(),
                asset: asset.clone(),
                sums: sums.clone(),
            })
            .collect()
    }
}

#[Object(name = "MonthlyRollup")]
impl MonthlyRollupNode {
    /// The month, `YYYY-MM` (UTC).
    async fn month(&self) -> String {
        self.report.month.to_string()
    }

    /// True when the rollup job has stored it: the figures will not change.
    /// False for the open month (computed now, cached for the report TTL).
    async fn closed(&self) -> bool {
        self.report.closed
    }

    /// The place in the event feed the figures read up to (exclusive): every
    /// transaction whose event stands before it, and none after. Since issue
    /// 17 a feed position (`"<xid>.<seq>"`, see `LedgerEvent.position`), not a
    /// ledger sequence: the bound is the database's visibility watermark, so
    /// a transaction that commits late is never lost between two months.
    /// Null for the open month, which reads everything committed so far.
    async fn through_position(&self) -> Option<String> {
        let through = self.report.figures.through;
        (through != crate::domain::event::FeedPosition::END).then(|| through.to_string())
    }

    /// One line per merchant class and asset, from the month's own
    /// transactions (by `effective_at`).
    async fn lines(&self) -> Vec<RollupLineNode> {
        self.select(false)
    }

    /// Postings dated in months already closed, committed after they were
    /// closed, reported here instead of changing those months.
    async fn adjustments(&self) -> Vec<RollupLineNode> {
        self.select(true)
    }
}

/// One class and asset of a month.
pub struct RollupLineNode {
    class: String,
    asset: String,
    sums: RollupSums,
}

fn rate(part: i128, whole: i128) -> Option<String> {
    rollup::rate(part, whole).map(|r| format!("{r:.prec$}", prec = rollup::RATE_DECIMALS as usize))
}

#[Object(name = "RollupLine")]
impl RollupLineNode {
    /// Merchant class (`platform` for transactions of no merchant).
    async fn class(&self) -> &str {
        &self.class
    }
    /// Asset code.
    async fn asset(&self) -> &str {
        &self.asset
    }
    /// Captures and recorded payments.
    async fn captured_count(&self) -> i64 {
        self.sums.captured_count
    }
    /// Their gross.
    async fn gross_volume(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.sums.captured_minor).await
    }
    /// Gross volume ÷ captured count, rounded half to even to the minor unit;
    /// null with no captures.
    async fn average_ticket(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Money>> {
        match rollup::average(self.sums.captured_minor, self.sums.captured_count) {
            Some(avg) => Ok(Some(Money::of(ctx, &self.asset, avg).await?)),
            None => Ok(None),
        }
    }
    /// Authorizations that ended this month (first capture, void or expiry).
    async fn authorizations_ended(&self) -> i64 {
        self.sums.authorizations_ended
    }
    /// Of those, the ones captured.
    async fn authorizations_accepted(&self) -> i64 {
        self.sums.authorizations_accepted
    }
    /// Accepted ÷ ended; voided and expired ones count as not accepted.
    async fn acceptance_rate(&self) -> Option<String> {
        rate(self.sums.authorizations_accepted.into(), self.sums.authorizations_ended.into())
    }
    /// Refunds.
    async fn refund_count(&self) -> i64 {
        self.sums.refund_count
    }
    /// Refunded amount.
    async fn refund_volume(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.sums.refund_minor).await
    }
    /// Refunds ÷ captured count.
    async fn refund_rate_by_count(&self) -> Option<String> {
        rate(self.sums.refund_count.into(), self.sums.captured_count.into())
    }
    /// Refunded ÷ gross volume.
    async fn refund_rate_by_amount(&self) -> Option<String> {
        rate(self.sums.refund_minor, self.sums.captured_minor)
    }
    /// Chargebacks (disputes) opened.
    async fn chargeback_count(&self) -> i64 {
        self.sums.chargeback_count
    }
    /// Amount disputed.
    async fn chargeback_volume(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.sums.chargeback_minor).await
    }
    /// Chargebacks ÷ captured count.
    async fn chargeback_rate_by_count(&self) -> Option<String> {
        rate(self.sums.chargeback_count.into(), self.sums.captured_count.into())
    }
    /// Disputed ÷ gross volume.
    async fn chargeback_rate_by_amount(&self) -> Option<String> {
        rate(self.sums.chargeback_minor, self.sums.captured_minor)
    }
    /// Net fees the platform earned.
    async fn fees(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.sums.fees_minor).await
    }
    /// Payouts made.
    async fn payout_count(&self) -> i64 {
        self.sums.payout_count
    }
    /// Their amount.
    async fn payout_volume(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.sums.payout_minor).await
    }
    /// Net posted movement of the class's merchant accounts (what the
    /// platform owes them more, or less when negative).
    async fn net_movement(&self, ctx: &Context<'_>) -> async_graphql::Result<Money> {
        Money::of(ctx, &self.asset, self.sums.net_movement_minor).await
    }
}

/// A closed month.
#[derive(SimpleObject)]
pub struct RollupMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// The event feed position it was computed through (exclusive; see
    /// `MonthlyRollup.throughPosition`).
    pub through_position: String,
    /// When the job stored it.
    pub computed_at: DateTime<Utc>,
}

/// The rate between two assets implied by a month's deals.
pub struct ConversionRateNode(pub ConversionRate);

#[Object(name = "ConversionRate")]
impl ConversionRateNode {
    /// The alphabetically first asset code of the pair.
    async fn base(&self) -> &str {
        &self.0.base
    }
    /// The other asset code.
    async fn quote(&self) -> &str {
        &self.0.quote
    }
    /// Deals behind the rate.
    async fn deals(&self) -> i64 {
        self.0.deals
    }
    /// Mean of the deals' rates: `quote` units per one `base` unit (major units).
    async fn rate(&self) -> String {
        self.0.mean.to_string()
    }
    /// Lowest deal rate.
    async fn low(&self) -> String {
        self.0.low.to_string()
    }
    /// Highest deal rate.
    async fn high(&self) -> String {
        self.0.high.to_string()
    }
    /// Highest − lowest.
    async fn spread(&self) -> String {
        (self.0.high - self.0.low).to_string()
    }
}

/// The report of `month` (`YYYY-MM`) now. Errors: `BAD_USER_INPUT` for a
/// malformed month or one not begun.
pub async fn month_report(ctx: &Context<'_>, month: &str) -> async_graphql::Result<Arc<MonthReport>> {
    reports(ctx)?.report(month, Utc::now()).await.or_coded()
}

/// One line of the trial balance (all accounts with one code, asset and owner kind).
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "TrialBalanceLine")]
pub struct TrialBalanceLineNode {
    /// Account code.
    pub code: String,
    /// Asset.
    pub asset: String,
    /// True for platform accounts; false for the sum over all merchants.
    pub platform: bool,
    /// How many accounts the line sums.
    pub accounts: i64,
    /// Sum of posted debits.
    pub debits_posted: Money,
    /// Sum of posted credits.
    pub credits_posted: Money,
}

impl TrialBalanceLineNode {
    /// Builds a line from the store's totals.
    pub async fn of(ctx: &Context<'_>, l: TrialBalanceLine) -> async_graphql::Result<Self> {
        let asset = l.asset.to_string();
        Ok(Self {
            debits_posted: Money::of(ctx, &asset, l.balance.debits_posted.into()).await?,
            credits_posted: Money::of(ctx, &asset, l.balance.credits_posted.into()).await?,
            code: l.code.to_string(),
            asset,
            platform: l.platform,
            accounts: l.accounts,
        })
    }
}

/// The reports' root queries, merged into [`super::QueryRoot`].
#[derive(Default)]
pub struct ReportsQuery;

#[Object]
impl ReportsQuery {
    /// The trial balance: posted totals per account code, asset and owner kind
    /// (platform, or all merchants together). Debits equal credits per asset. Staff only.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn trial_balance(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TrialBalanceLineNode>> {
        let lines = crate::core::reports::trial_balance(&reads(ctx).await?).await.or_coded()?;
        let mut out = Vec::with_capacity(lines.len());
        for l in lines {
            out.push(TrialBalanceLineNode::of(ctx, l).await?);
        }
        Ok(out)
    }

    /// The platform's control accounts: for each account code of the
    /// platform's chart and asset (optionally one `asset`), the sum of the
    /// platform's subsidiary accounts, one per merchant, and its own; amounts
    /// in the asset's units, `accounts` how many it sums. An aggregate over
    /// the balance rows computed per call (see the README's chart of
    /// accounts). Staff only. Errors: `UNKNOWN_ASSET`.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn platform_balances(
        &self,
        ctx: &Context<'_>,
        asset: Option<String>,
    ) -> async_graphql::Result<Vec<TrialBalanceLineNode>> {
        let asset = match asset {
            Some(code) => Some(super::ledger(ctx)?.asset(&code).await.or_coded()?.code),
            None => None,
        };
        let lines = crate::core::reports::platform_balances(&reads(ctx).await?, asset.as_ref()).await.or_coded()?;
        let mut out = Vec::with_capacity(lines.len());
        for l in lines {
            out.push(TrialBalanceLineNode::of(ctx, l).await?);
        }
        Ok(out)
    }

    /// The monthly rollup of `month` (`YYYY-MM`, UTC), per merchant class and
    /// asset, optionally of one `class` and/or `asset`. A closed month comes
    /// from the rollup table and never changes; the open month is computed on
    /// demand and cached (see the README's "Monthly rollups"). Read from the
    /// reporting replica when one is configured. Staff only. Errors:
    /// `BAD_USER_INPUT` (not `YYYY-MM`, or a month not begun).
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn monthly_rollup(
        &self,
        ctx: &Context<'_>,
        month: String,
        class: Option<String>,
        asset: Option<String>,
    ) -> async_graphql::Result<MonthlyRollupNode> {
        let report = month_report(ctx, &month).await?;
        Ok(MonthlyRollupNode { report, class, asset })
    }

    /// The months the rollup job has closed and stored, oldest first. Staff only.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn rollup_months(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RollupMonth>> {
        let months = reports(ctx)?.closed_months().await.or_coded()?;
        Ok(months
            .into_iter()
            .map(|(m, through, at)| RollupMonth {
                month: m.to_string(),
                through_position: through.to_string(),
                computed_at: at,
            })
            .collect())
    }

    /// Conversion rates between assets implied by `month`'s deals that
    /// exchanged exactly two assets, per pair, with the number of deals and
    /// the spread. Staff only. Errors: `BAD_USER_INPUT`.
    #[graphql(guard = "access::FIELD", complexity = "super::NOMINAL_LIST_LEN * child_complexity + 1")]
    async fn conversion_rates(
        &self,
        ctx: &Context<'_>,
        month: String,
    ) -> async_graphql::Result<Vec<ConversionRateNode>> {
        let report = month_report(ctx, &month).await?;
        Ok(report.figures.rates.iter().cloned().map(ConversionRateNode).collect())
    }
}
