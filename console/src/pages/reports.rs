//! The reports page: a month's rollup per merchant class and asset, and a
//! chart of gross volume and authorization acceptance over the twelve months
//! up to it, drawn in the page as SVG. The month is in the URL (`?month=`).

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, MonthlyRollup, RollupLine};
use crate::components::{empty, error_line, loading, money};
use crate::session::ctx;

/// Months the chart covers, ending with the month picked.
pub const CHART_MONTHS: i32 = 12;

/// `YYYY-MM` of now, in UTC (months close in UTC).
fn this_month() -> String {
    let now = js_sys::Date::new_0();
    format!("{:04}-{:02}", now.get_utc_full_year(), now.get_utc_month() + 1)
}

/// The `back` months before `month` (`YYYY-MM`), oldest first, `month` last.
fn months_up_to(month: &str, back: i32) -> Vec<String> {
    let Some((y, m)) = month.split_once('-') else { return vec![] };
    let (Ok(y), Ok(m)) = (y.parse::<i32>(), m.parse::<i32>()) else { return vec![] };
    let index = y * 12 + (m - 1);
    (index - back + 1..=index).map(|i| format!("{:04}-{:02}", i.div_euclid(12), i.rem_euclid(12) + 1)).collect()
}

/// A decimal fraction as a percentage with one decimal (`"0.750000"` → `75.0 %`).
fn percent(rate: &Option<String>) -> String {
    rate.as_deref()
        .and_then(|r| r.parse::<f64>().ok())
        .map_or_else(|| "—".to_owned(), |r| format!("{:.1} %", r * 100.0))
}

fn rows(lines: &[RollupLine]) -> impl IntoView + use<> {
    lines
        .iter()
        .map(|l| {
            let avg = l.average_ticket.as_ref().map_or_else(|| "—".to_owned(), |a| money(&a.amount, &a.currency));
            view! {
                <tr data-class=l.class.clone() data-asset=l.asset.clone()>
                    <th scope="row">{l.class.clone()}</th>
                    <td>{l.asset.clone()}</td>
                    <td class="num">{l.captured_count}</td>
                    <td class="num" data-field="gross">{money(&l.gross_volume.amount, &l.gross_volume.currency)}</td>
                    <td class="num">{avg}</td>
                    <td class="num" data-field="acceptance">{percent(&l.acceptance_rate)}</td>
                    <td class="num">{format!("{} / {}", percent(&l.refund_rate_by_count), percent(&l.refund_rate_by_amount))}</td>
                    <td class="num">{percent(&l.chargeback_rate_by_count)}</td>
                    <td class="num">{money(&l.fees.amount, &l.fees.currency)}</td>
                    <td class="num">{money(&l.payout_volume.amount, &l.payout_volume.currency)}</td>
                    <td class="num">{money(&l.net_movement.amount, &l.net_movement.currency)}</td>
                </tr>
            }
        })
        .collect_view()
}

fn table(label: &'static str, lines: &[RollupLine]) -> impl IntoView + use<> {
    view! {
        <table aria-label=label data-testid=label>
            <thead><tr>
                <th scope="col">"Class"</th><th scope="col">"Asset"</th><th scope="col" class="num">"Captured"</th>
                <th scope="col" class="num">"Gross volume"</th><th scope="col" class="num">"Average ticket"</th>
                <th scope="col" class="num">"Acceptance"</th><th scope="col" class="num">"Refunds (count / amount)"</th>
                <th scope="col" class="num">"Chargebacks"</th><th scope="col" class="num">"Fees"</th>
                <th scope="col" class="num">"Payouts"</th><th scope="col" class="num">"Net movement"</th>
            </tr></thead>
            <tbody>{rows(lines)}</tbody>
        </table>
    }
}

/// One month's point of the chart: gross volume of `asset` in major units
/// over every class, and the acceptance rate over every class.
#[derive(Clone, Debug, PartialEq)]
struct Point {
    month: String,
    volume: f64,
    acceptance: Option<f64>,
}

fn point(report: &MonthlyRollup, asset: &str) -> Point {
    let lines = report.lines.iter().filter(|l| l.asset == asset);
    let mut volume = 0.0;
    let (mut accepted, mut ended) = (0.0, 0.0);
    for l in lines {
        volume += l.gross_volume.amount.parse::<f64>().unwrap_or(0.0);
        if let Some(rate) = l.acceptance_rate.as_deref().and_then(|r| r.parse::<f64>().ok()) {
            accepted += rate * l.authorizations_ended as f64;
            ended += l.authorizations_ended as f64;
        }
    }
    Point { month: report.month.clone(), volume, acceptance: (ended > 0.0).then(|| accepted / ended) }
}

/// Bars of volume (left scale) and a line of acceptance (0–100 %, right).
fn chart(points: Vec<Point>, asset: String) -> impl IntoView {
    const W: f64 = 720.0;
    const H: f64 = 220.0;
    const PAD: f64 = 36.0;
    let max = points.iter().map(|p| p.volume).fold(0.0_f64, f64::max).max(1.0);
    let slot = (W - 2.0 * PAD) / points.len().max(1) as f64;
    let y_of = |v: f64| H - PAD - v / max * (H - 2.0 * PAD);
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            p.acceptance.map(|a| format!("{:.1},{:.1}", PAD + slot * (i as f64 + 0.5), H - PAD - a * (H - 2.0 * PAD)))
        })
        .collect();
    let summary = points
        .iter()
        .map(|p| {
            format!(
                "{}: {:.2} {asset}, acceptance {}",
                p.month,
                p.volume,
                p.acceptance.map_or("—".into(), |a| format!("{:.1} %", a * 100.0))
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    view! {
        <svg class="chart" viewBox=format!("0 0 {W} {H}") role="img" aria-label=format!("Gross volume in {asset} and acceptance rate by month. {summary}") data-testid="chart">
            <line x1=PAD y1=H - PAD x2=W - PAD y2=H - PAD class="axis" />
            <text x=PAD y=PAD - 12.0 class="legend">{format!("Gross volume ({asset}), max {max:.2}")}</text>
            <text x=W - PAD y=PAD - 12.0 class="legend acceptance" text-anchor="end">"Acceptance rate, 0–100 %"</text>
            {points.iter().enumerate().map(|(i, p)| {
                let x = PAD + slot * i as f64 + slot * 0.15;
                let y = y_of(p.volume);
                view! {
                    <rect class="bar" x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{:.1}", slot * 0.7) height=format!("{:.1}", H - PAD - y)>
                        <title>{format!("{}: {:.2} {asset}", p.month, p.volume)}</title>
                    </rect>
                    <text x=format!("{:.1}", x + slot * 0.35) y=H - PAD + 16.0 text-anchor="middle" class="tick">{p.month[2..].to_owned()}</text>
                }
            }).collect_view()}
            <polyline class="acceptance" fill="none" points=line.join(" ") />
            {line.iter().filter_map(|xy| xy.split_once(',')).map(|(x, y)| view! {
                <circle class="acceptance" cx=x.to_owned() cy=y.to_owned() r="4" />
            }).collect_view()}
        </svg>
    }
}

/// The reports page, at `/reports?month=YYYY-MM`.
#[component]
pub fn ReportsPage() -> impl IntoView {
    let ctx = ctx();
    let query = use_query_map();
    let navigate = use_navigate();
    let month = Memo::new(move |_| query.with(|q| q.get("month")).filter(|m| !m.is_empty()).unwrap_or_else(this_month));
    let report = LocalResource::new(move || {
        let month = month.get();
        async move { api::monthly_rollup(&ctx, &month).await }
    });
    let history = LocalResource::new(move || {
        let months = months_up_to(&month.get(), CHART_MONTHS);
        async move {
            let calls = months.iter().map(|m| api::monthly_rollup(&ctx, m));
            // Months before the ledger began, or not begun, are left out.
            futures::future::join_all(calls).await.into_iter().filter_map(Result::ok).collect::<Vec<_>>()
        }
    });
    let on_pick = move |ev| {
        let picked = event_target_value(&ev);
        if !picked.is_empty() {
            navigate(&format!("/reports?month={picked}"), NavigateOptions { replace: false, ..Default::default() });
        }
    };
    view! {
        <section class="reports">
            <h1>"Monthly reports"</h1>
            <label for="report-month">"Month (UTC)"</label>
            <input id="report-month" type="month" prop:value=move || month.get() on:change=on_pick />
            {move || match report.get() {
                None => loading("the report").into_any(),
                Some(Err(e)) => error_line(&e).into_any(),
                Some(Ok(r)) => {
                    let state = if r.closed { "Closed: computed once, will not change." } else { "Open: computed now; new postings show within the report cache TTL (a minute by default)." };
                    let main = if r.lines.is_empty() { empty("No activity dated this month.").into_any() } else { table("Rollup", &r.lines).into_any() };
                    let adjustments = (!r.adjustments.is_empty()).then(|| view! {
                        <h2>"Adjustments (postings backdated into closed months)"</h2>
                        {table("Adjustments", &r.adjustments)}
                    });
                    view! { <p class="state" data-testid="report-state">{state}</p> {main} {adjustments} }.into_any()
                }
            }}
            <h2>"Volume and acceptance, last " {CHART_MONTHS} " months"</h2>
            {move || match history.get() {
                None => loading("the chart").into_any(),
                Some(reports) => {
                    let asset = reports.iter().rev().flat_map(|r| r.lines.iter()).map(|l| l.asset.clone()).next();
                    match asset {
                        None => empty("Nothing to chart yet.").into_any(),
                        Some(asset) => chart(reports.iter().map(|r| point(r, &asset)).collect(), asset).into_any(),
                    }
                }
            }}
        </section>
    }
}
