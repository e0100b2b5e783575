//! `replay`: drives a running server through its GraphQL API with the Olist
//! marketplace sample (real Brazilian marketplace records, amounts in BRL).
//!
//! Mapping:
//! - each row of `olist_sellers_dataset.csv` → `createMerchant` with external id
//!   `seller_id`, class `seller_state`, idempotency key `seller:<seller_id>`;
//! - each row of `olist_order_items_dataset.csv` → one `recordPayment` in BRL:
//!   gross = `price` + `freight_value`; fee = 10 % of gross rounded half-to-even
//!   to the cent; idempotency key `order_id:order_item_id`; `effectiveAt` =
//!   `shipping_limit_date` (the file's `M/D/YYYY H:MM`, taken as UTC).
//!
//! Every request carries an idempotency key, so running the replay twice writes
//! nothing the second time, and a request that failed in transit is simply sent
//! again with the same key.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use serde_json::json;

use crate::config::ReplayArgs;

/// Tries per request before the replay gives up (transport errors and
/// `TRY_AGAIN` or `RATE_LIMITED` answers are retried with the same idempotency key).
pub const MAX_REQUEST_ATTEMPTS: u32 = 5;

/// The platform fee the replay charges: 10 % of gross.
pub const FEE_RATE_PERCENT: i64 = 10;

/// The currency of the Olist sample.
pub const ASSET: &str = "BRL";

/// A seller row.
#[derive(Debug, Clone, Deserialize)]
pub struct SellerRow {
    /// Olist's seller id.
    pub seller_id: String,
    /// Two-letter Brazilian state.
    pub seller_state: String,
    /// City, used as the merchant's display name together with the id prefix.
    pub seller_city: String,
}

/// An order-item row.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemRow {
    /// Order id.
    pub order_id: String,
    /// Item number within the order.
    pub order_item_id: u32,
    /// Seller.
    pub seller_id: String,
    /// `M/D/YYYY H:MM`.
    pub shipping_limit_date: String,
    /// Item price in BRL.
    pub price: Decimal,
    /// Freight in BRL.
    pub freight_value: Decimal,
}

impl ItemRow {
    /// Gross amount: price + freight, BRL.
    pub fn gross(&self) -> Decimal {
        self.price + self.freight_value
    }

    /// The platform fee: 10 % of gross, rounded half-to-even to the cent.
    pub fn fee(&self) -> Decimal {
        (self.gross() * Decimal::new(FEE_RATE_PERCENT, 2))
            .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
    }

    /// What the merchant is owed: gross − fee.
    pub fn net(&self) -> Decimal {
        self.gross() - self.fee()
    }

    /// The idempotency key `order_id:order_item_id`.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.order_id, self.order_item_id)
    }

    /// `shipping_limit_date` as a UTC time. Errors when it is not `M/D/YYYY H:MM`.
    pub fn effective_at(&self) -> anyhow::Result<DateTime<Utc>> {
        let t = NaiveDateTime::parse_from_str(&self.shipping_limit_date, "%m/%d/%Y %H:%M")
            .with_context(|| format!("bad shipping_limit_date `{}`", self.shipping_limit_date))?;
        Ok(t.and_utc())
    }
}

/// Reads the sellers file.
pub fn read_sellers(dir: &Path) -> anyhow::Result<Vec<SellerRow>> {
    read_csv(&dir.join("olist_sellers_dataset.csv"))
}

/// Reads the order-items file.
pub fn read_items(dir: &Path) -> anyhow::Result<Vec<ItemRow>> {
    read_csv(&dir.join("olist_order_items_dataset.csv"))
}

fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("cannot open {}", path.display()))?;
    reader.deserialize().collect::<Result<Vec<T>, _>>().with_context(|| format!("cannot parse {}", path.display()))
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Merchants created (not counting replays of earlier runs).
    pub merchants_created: u64,
    /// Payments posted by this run.
    pub payments_posted: u64,
    /// Payments that an earlier run had already posted.
    pub payments_replayed: u64,
    /// Sum of all merchants' posted BRL `available` balances, as a decimal string.
    pub merchant_total: String,
    /// Life-cycle replay: items voided (canceled or unavailable orders).
    pub payments_voided: u64,
    /// Life-cycle replay: payouts made by this run.
    pub payouts_made: u64,
    /// Wall time, in milliseconds.
    pub elapsed_ms: u128,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "replay done in {:.1} s: {} merchants created, {} payments posted, {} already posted; \
             sum of merchant balances: {} {ASSET}",
            self.elapsed_ms as f64 / 1000.0,
            self.merchants_created,
            self.payments_posted,
            self.payments_replayed,
            self.merchant_total
        )?;
        if self.payouts_made > 0 || self.payments_voided > 0 {
            write!(f, "; {} voided, {} payouts made", self.payments_voided, self.payouts_made)?;
        }
        Ok(())
    }
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl Client {
    /// Posts one GraphQL request, retrying transport failures, `TRY_AGAIN` and `RATE_LIMITED`.
    async fn call(&self, query: &str, variables: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        let mut last = anyhow!("no attempt made");
        for attempt in 0..MAX_REQUEST_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            let mut req = self.http.post(&self.url);
            if let Some(token) = &self.token {
                req = req.bearer_auth(token);
            }
            let sent = req.json(&json!({ "query": query, "variables": variables })).send().await;
            let body: serde_json::Value = match sent {
                Ok(r) => match r.json().await {
                    Ok(b) => b,
                    Err(e) => {
                        last = e.into();
                        continue;
                    }
                },
                Err(e) => {
                    last = e.into();
                    continue;
                }
            };
            if let Some(err) = body["errors"].as_array().and_then(|e| e.first()) {
                if err["extensions"]["code"] == "TRY_AGAIN" || err["extensions"]["code"] == "RATE_LIMITED" {
                    last = anyhow!("server busy");
                    continue;
                }
                bail!("GraphQL error {}: {}", err["extensions"]["code"], err["message"]);
            }
            return Ok(body["data"].clone());
        }
        Err(last)
    }
}

const CREATE_MERCHANT: &str = "mutation($input: CreateMerchantInput!) { \
    createMerchant(input: $input) { merchant { id } replayed } }";
const RECORD_PAYMENT: &str = "mutation($input: RecordPaymentInput!) { \
    recordPayment(input: $input) { transaction { id } replayed } }";
const TRIAL_BALANCE: &str = "{ trialBalance { code asset platform creditsPosted { amount } debitsPosted { amount } } }";

fn progress(len: usize, quiet: bool, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template("{msg:10} [{bar:40}] {pos}/{len} {per_sec} ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

/// Runs the replay against `args.url`. Errors: unreadable files, or a request
/// that still fails after [`MAX_REQUEST_ATTEMPTS`].
pub async fn run(args: &ReplayArgs) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let sellers = read_sellers(&args.data)?;
    let items = read_items(&args.data)?;
    let client = Arc::new(Client {
        http: reqwest::Client::new(),
        url: args.url.clone(),
        token: args.token.as_ref().map(|t| t.expose().to_owned()),
    });
    let concurrency = args.concurrency.max(1);

    let created = Arc::new(AtomicU64::new(0));
    let bar = progress(sellers.len(), args.quiet, "merchants");
    let merchant_ids: HashMap<String, String> = futures::stream::iter(sellers.into_iter().map(|s| {
        let (client, created, bar) = (client.clone(), created.clone(), bar.clone());
        async move {
            let input = json!({
                "name": format!("{} seller {}", title_case(&s.seller_city), s.seller_id.chars().take(8).collect::<String>()),
                "externalId": s.seller_id,
                "class": s.seller_state,
                "idempotencyKey": format!("seller:{}", s.seller_id),
            });
            let data = client.call(CREATE_MERCHANT, json!({ "input": input })).await?;
            let payload = &data["createMerchant"];
            if payload["replayed"] == false {
                created.fetch_add(1, Ordering::Relaxed);
            }
            bar.inc(1);
            let id = payload["merchant"]["id"].as_str().ok_or_else(|| anyhow!("no merchant id"))?.to_owned();
            anyhow::Ok((s.seller_id, id))
        }
    }))
    .buffer_unordered(concurrency)
    .try_collect()
    .await?;
    bar.finish();

    let posted = Arc::new(AtomicU64::new(0));
    let replayed = Arc::new(AtomicU64::new(0));
    let merchant_ids = Arc::new(merchant_ids);
    let mut summary = Summary::default();
    if args.lifecycle {
        lifecycle(args, &client, &merchant_ids, items, &posted, &replayed, &mut summary).await?;
    } else {
        record_payments(args, &client, &merchant_ids, items, &posted, &replayed).await?;
    }
    let total = merchant_total(&client).await?;
    Ok(Summary {
        merchants_created: created.load(Ordering::Relaxed),
        payments_posted: posted.load(Ordering::Relaxed),
        payments_replayed: replayed.load(Ordering::Relaxed),
        merchant_total: total.to_string(),
        elapsed_ms: started.elapsed().as_millis(),
        ..summary
    })
}

/// The core mapping: one `recordPayment` per item.
async fn record_payments(
    args: &ReplayArgs,
    client: &Arc<Client>,
    merchant_ids: &Arc<HashMap<String, String>>,
    items: Vec<ItemRow>,
    posted: &Arc<AtomicU64>,
    replayed: &Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let concurrency = args.concurrency.max(1);
    let bar = progress(items.len(), args.quiet, "payments");
    futures::stream::iter(items.into_iter().map(|item| {
        let (client, posted, replayed, bar, ids) =
            (client.clone(), posted.clone(), replayed.clone(), bar.clone(), merchant_ids.clone());
        async move {
            let merchant = ids.get(&item.seller_id).ok_or_else(|| anyhow!("unknown seller {}", item.seller_id))?;
            let input = json!({
                "merchantId": merchant,
                "gross": { "amount": item.gross().to_string(), "currency": ASSET },
                "fee": { "amount": item.fee().to_string(), "currency": ASSET },
                "externalRef": item.order_id,
                "effectiveAt": item.effective_at()?.to_rfc3339(),
                "idempotencyKey": item.idempotency_key(),
            });
            let data = client.call(RECORD_PAYMENT, json!({ "input": input })).await?;
            if data["recordPayment"]["replayed"] == true {
                replayed.fetch_add(1, Ordering::Relaxed);
            } else {
                posted.fetch_add(1, Ordering::Relaxed);
            }
            bar.inc(1);
            anyhow::Ok(())
        }
    }))
    .buffer_unordered(concurrency)
    .try_collect::<()>()
    .await?;
    bar.finish();
    Ok(())
}

/// Sum of every merchant's posted `available` balance in BRL, from the trial balance.
async fn merchant_total(client: &Client) -> anyhow::Result<Decimal> {
    let data = client.call(TRIAL_BALANCE, json!({})).await?;
    let mut total = Decimal::ZERO;
    for line in data["trialBalance"].as_array().into_iter().flatten() {
        if line["code"] == "available" && line["asset"] == ASSET && line["platform"] == false {
            let credits: Decimal = line["creditsPosted"]["amount"].as_str().unwrap_or("0").parse()?;
            let debits: Decimal = line["debitsPosted"]["amount"].as_str().unwrap_or("0").parse()?;
            total += credits - debits;
        }
    }
    Ok(total)
}

fn title_case(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(price: &str, freight: &str, date: &str) -> ItemRow {
        ItemRow {
            order_id: "o".into(),
            order_item_id: 1,
            seller_id: "s".into(),
            shipping_limit_date: date.into(),
            price: price.parse().unwrap_or_default(),
            freight_value: freight.parse().unwrap_or_default(),
        }
    }

    #[test]
    fn fee_is_ten_percent_half_to_even() {
        assert_eq!(item("58.9", "13.29", "9/19/2017 9:45").fee().to_string(), "7.22");
        // 0.25 * 10 % = 0.025 → half-to-even → 0.02
        assert_eq!(item("0.20", "0.05", "1/1/2018 0:00").fee().to_string(), "0.02");
        assert_eq!(item("0.30", "0.05", "1/1/2018 0:00").fee().to_string(), "0.04");
    }

    #[test]
    fn shipping_dates_parse_without_zero_padding() {
        let t = item("1", "0", "9/19/2017 9:45").effective_at().map(|t| t.to_rfc3339());
        assert_eq!(t.ok().as_deref(), Some("2017-09-19T09:45:00+00:00"));
        assert!(item("1", "0", "2017-09-19").effective_at().is_err());
    }
}

/// Order statuses whose items are voided instead of captured.
pub const VOIDED_STATUSES: [&str; 2] = ["canceled", "unavailable"];

/// An order row (only the fields the replay needs).
#[derive(Debug, Clone, Deserialize)]
pub struct OrderRow {
    /// Order id.
    pub order_id: String,
    /// delivered, shipped, canceled, unavailable, …
    pub order_status: String,
}

/// Reads the orders file and returns the ids of orders whose items are voided.
pub fn voided_orders(dir: &Path) -> anyhow::Result<std::collections::HashSet<String>> {
    let rows: Vec<OrderRow> = read_csv(&dir.join("olist_orders_dataset.csv"))?;
    Ok(rows.into_iter().filter(|o| VOIDED_STATUSES.contains(&o.order_status.as_str())).map(|o| o.order_id).collect())
}

/// The ISO week (`2017-W38`) of an item's shipping limit date.
pub fn week_of(item: &ItemRow) -> anyhow::Result<String> {
    let t = item.effective_at()?;
    let w = chrono::Datelike::iso_week(&t);
    Ok(format!("{}-W{:02}", w.year(), w.week()))
}

const SET_FEES: &str = "mutation($input: SetFeeScheduleInput!) { setFeeSchedule(input: $input) { percentBps } }";
const AUTHORIZE: &str =
    "mutation($input: AuthorizePaymentInput!) { authorizePayment(input: $input) { payment { id } } }";
const CAPTURE: &str = "mutation($input: CapturePaymentInput!) { capturePayment(input: $input) { replayed } }";
const VOID: &str = "mutation($input: VoidAuthorizationInput!) { voidAuthorization(input: $input) { replayed } }";
const PAYOUT: &str = "mutation($input: CreatePayoutInput!) { createPayout(input: $input) { replayed } }";

/// The life-cycle mapping: week by week of `shipping_limit_date`, authorize each
/// item and capture it (or void it when its order was canceled or unavailable),
/// then pay out every merchant that sold that week. The fee is the merchant's
/// fee schedule, 10 % (1000 basis points), rounded half-to-even as in the core
/// mapping.
async fn lifecycle(
    args: &ReplayArgs,
    client: &Arc<Client>,
    merchant_ids: &Arc<HashMap<String, String>>,
    items: Vec<ItemRow>,
    posted: &Arc<AtomicU64>,
    replayed: &Arc<AtomicU64>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let concurrency = args.concurrency.max(1);
    let voided_orders = Arc::new(voided_orders(&args.data)?);
    let bar = progress(merchant_ids.len(), args.quiet, "fees");
    futures::stream::iter(merchant_ids.values().cloned().map(|merchant| {
        let (client, bar) = (client.clone(), bar.clone());
        async move {
            let input = json!({ "merchantId": merchant, "asset": ASSET, "percentBps": FEE_RATE_PERCENT * 100,
                "idempotencyKey": format!("fees:{ASSET}") });
            client.call(SET_FEES, json!({ "input": input })).await?;
            bar.inc(1);
            anyhow::Ok(())
        }
    }))
    .buffer_unordered(concurrency)
    .try_collect::<()>()
    .await?;
    bar.finish();

    let mut weeks: std::collections::BTreeMap<String, Vec<ItemRow>> = std::collections::BTreeMap::new();
    for item in items {
        weeks.entry(week_of(&item)?).or_default().push(item);
    }
    let voided = Arc::new(AtomicU64::new(0));
    let payouts = Arc::new(AtomicU64::new(0));
    let bar = progress(weeks.values().map(Vec::len).sum(), args.quiet, "lifecycle");
    for (week, items) in weeks {
        let sellers: std::collections::BTreeSet<String> = items.iter().map(|i| i.seller_id.clone()).collect();
        futures::stream::iter(items.into_iter().map(|item| {
            let (client, ids, bar, voided_orders) = (client.clone(), merchant_ids.clone(), bar.clone(), voided_orders.clone());
            let (posted, replayed, voided) = (posted.clone(), replayed.clone(), voided.clone());
            async move {
                let merchant = ids.get(&item.seller_id).ok_or_else(|| anyhow!("unknown seller {}", item.seller_id))?;
                let key = item.idempotency_key();
                let auth = json!({ "merchantId": merchant, "amount": { "amount": item.gross().to_string(), "currency": ASSET },
                    "externalRef": item.order_id, "idempotencyKey": format!("auth:{key}") });
                let data = client.call(AUTHORIZE, json!({ "input": auth })).await?;
                let payment = data["authorizePayment"]["payment"]["id"].as_str().ok_or_else(|| anyhow!("no payment id"))?;
                let (query, field) = if voided_orders.contains(&item.order_id) { (VOID, "voidAuthorization") } else { (CAPTURE, "capturePayment") };
                let step = json!({ "paymentId": payment, "idempotencyKey": format!("{field}:{key}") });
                let data = client.call(query, json!({ "input": step })).await?;
                let counter = match (field, data[field]["replayed"] == true) {
                    ("capturePayment", true) => &replayed,
                    ("capturePayment", false) => &posted,
                    (_, false) => &voided,
                    (_, true) => {
                        bar.inc(1);
                        return anyhow::Ok(());
                    }
                };
                counter.fetch_add(1, Ordering::Relaxed);
                bar.inc(1);
                anyhow::Ok(())
            }
        }))
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await?;
        futures::stream::iter(sellers.into_iter().map(|seller| {
            let (client, ids, payouts, week) = (client.clone(), merchant_ids.clone(), payouts.clone(), week.clone());
            async move {
                let merchant = ids.get(&seller).ok_or_else(|| anyhow!("unknown seller {seller}"))?;
                let input =
                    json!({ "merchantId": merchant, "asset": ASSET, "idempotencyKey": format!("payout:{week}") });
                match client.call(PAYOUT, json!({ "input": input })).await {
                    Ok(data) if data["createPayout"]["replayed"] == false => {
                        payouts.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    // A seller whose only item this week was voided has nothing to pay out.
                    Err(e) if e.to_string().contains("NOTHING_TO_PAY_OUT") => {}
                    Err(e) => return Err(e),
                }
                anyhow::Ok(())
            }
        }))
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await?;
    }
    bar.finish();
    summary.payments_voided = voided.load(Ordering::Relaxed);
    summary.payouts_made = payouts.load(Ordering::Relaxed);
    Ok(())
}
