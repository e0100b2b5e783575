//! A merchant's page: balances per asset that update live, then its
//! transactions, payments, payouts and an account's entries, each paginated
//! by cursor.
//!
//! Live balances: the page holds a `balanceUpdated` subscription for the
//! merchant. Each update (the first is a snapshot, sent again after every
//! reconnection) makes the page re-read its balances and the first page of
//! its transactions, so what is shown is always what the ledger committed.
//! A dropped connection is shown and retried with backoff.

use futures::StreamExt;
use futures::future::{AbortHandle, Abortable};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::{self, MerchantDetail, TransactionRow};
use crate::components::{Pager, empty, error_line, href, loading, money, short, when};
use crate::schema::Layer;
use crate::session::{Ctx, ctx};

/// Keeps a `balanceUpdated` subscription for `merchant` open, bumping
/// `tick` on every update and reconnecting with backoff when it drops.
async fn follow_balances(ctx: Ctx, merchant: String, tick: RwSignal<u64>, live: RwSignal<bool>) {
    let mut attempt = 0;
    loop {
        if let Some(session) = ctx.session.get_untracked() {
            match api::balance_updates(&session, &merchant).await {
                Ok(mut stream) => {
                    attempt = 0;
                    let _ = live.try_set(true);
                    while let Some(Ok(_)) = stream.next().await {
                        let _ = tick.try_update(|t| *t += 1);
                    }
                }
                Err(e) if e.is_offline() => {
                    let _ = ctx.online.try_set(false);
                }
                Err(_) => {}
            }
        }
        let _ = live.try_set(false);
        gloo_timers::future::sleep(api::reconnect_delay(attempt)).await;
        attempt += 1;
    }
}

/// What a transaction did to this merchant's accounts, in one line.
fn effect_on(tx: &TransactionRow, merchant: &str) -> String {
    tx.entries
        .iter()
        .filter(|e| e.account.as_ref().and_then(|a| a.merchant.as_ref()).is_some_and(|m| m.id == merchant))
        .map(|e| {
            let code = e.account.as_ref().map_or("", |a| a.code.as_str());
            let layer = match e.layer {
                Layer::Posted => String::new(),
                other => format!(" ({})", other.as_str().to_lowercase()),
            };
            format!("{} {code} {}{layer}", e.direction.label(), money(&e.amount.amount, &e.amount.currency))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The merchant page, at `/merchants/:id`.
#[component]
pub fn MerchantPage() -> impl IntoView {
    let ctx = ctx();
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let tick = RwSignal::new(0u64);
    let live = RwSignal::new(false);

    let running = StoredValue::new(None::<AbortHandle>);
    Effect::new(move |_| {
        let merchant = id.get();
        let (handle, registration) = AbortHandle::new_pair();
        if let Some(old) = running.try_update_value(|r| r.replace(handle)).flatten() {
            old.abort();
        }
        leptos::task::spawn_local(async move {
            let _ = Abortable::new(follow_balances(ctx, merchant, tick, live), registration).await;
        });
    });
    on_cleanup(move || {
        if let Some(h) = running.try_update_value(|r| r.take()).flatten() {
            h.abort();
        }
    });

    let detail = LocalResource::new(move || {
        let id = id.get();
        async move { api::merchant(&ctx, &id).await }
    });

    view! {
        <section class="merchant">
            {move || match detail.get() {
                None => loading("the merchant").into_any(),
                Some(Err(e)) => error_line(&e).into_any(),
                Some(Ok(None)) => empty("No such merchant.").into_any(),
                Some(Ok(Some(m))) => view! { <MerchantBody merchant=m tick=tick live=live /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn MerchantBody(merchant: MerchantDetail, tick: RwSignal<u64>, live: RwSignal<bool>) -> impl IntoView {
    let ctx = ctx();
    let id = merchant.id.clone();
    let balances = {
        let id = id.clone();
        LocalResource::new(move || {
            tick.track();
            let id = id.clone();
            async move { api::balances(&ctx, &id).await }
        })
    };
    let audit = href(&format!("/audit?target={}", id));
    view! {
        <h1>{merchant.name.clone()}</h1>
        <dl class="facts">
            <dt>"Id"</dt><dd><code>{merchant.id.clone()}</code></dd>
            <dt>"External id"</dt><dd>{merchant.external_id.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"Class"</dt><dd>{merchant.class.clone()}</dd>
            <dt>"Since"</dt><dd>{when(&merchant.created_at)}</dd>
        </dl>
        <p><a href=audit>"Audit log for this merchant"</a></p>

        <h2 id="balances-title">"Balances "
            <span class="live" role="status" aria-live="polite" data-testid="live">
                {move || if live.get() { "● live" } else { "○ reconnecting…" }}
            </span>
        </h2>
        {move || match balances.get() {
            None => loading("balances").into_any(),
            Some(Err(e)) => error_line(&e).into_any(),
            Some(Ok(rows)) if rows.is_empty() => empty("No balances yet.").into_any(),
            Some(Ok(rows)) => view! {
                <table aria-labelledby="balances-title" data-testid="balances">
                    <thead><tr>
                        <th scope="col">"Asset"</th><th scope="col" class="num">"Posted"</th>
                        <th scope="col" class="num">"Pending"</th><th scope="col" class="num">"Available"</th>
                    </tr></thead>
                    <tbody aria-live="polite">
                        {rows.into_iter().map(|b| view! {
                            <tr data-asset=b.asset.clone()>
                                <th scope="row">{b.asset.clone()}</th>
                                <td class="num" data-field="posted">{money(&b.posted.amount, &b.posted.currency)}</td>
                                <td class="num" data-field="pending">{money(&b.pending.amount, &b.pending.currency)}</td>
                                <td class="num" data-field="available">{money(&b.available.amount, &b.available.currency)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any(),
        }}

        <Transactions merchant=id.clone() tick=tick />
        <Payments merchant=id.clone() />
        <Payouts merchant=id.clone() />
        <Entries merchant=merchant.clone() />
    }
}

#[component]
fn Transactions(merchant: String, tick: RwSignal<u64>) -> impl IntoView {
    let ctx = ctx();
    let pager = Pager::new();
    let list = {
        let merchant = merchant.clone();
        LocalResource::new(move || {
            let after = pager.after();
            // New transactions show at once on the first page; later pages
            // stay put while the agent reads them.
            if after.is_none() {
                tick.track();
            }
            let merchant = merchant.clone();
            async move { api::merchant_transactions(&ctx, &merchant, after).await }
        })
    };
    view! {
        <h2 id="transactions-title">"Transactions"</h2>
        {move || match list.get() {
            None => loading("transactions").into_any(),
            Some(Err(e)) => error_line(&e).into_any(),
            Some(Ok(page)) if page.nodes.is_empty() => empty("No transactions yet.").into_any(),
            Some(Ok(page)) => view! {
                <table aria-labelledby="transactions-title" data-testid="transactions">
                    <thead><tr>
                        <th scope="col">"#"</th><th scope="col">"Kind"</th><th scope="col">"When"</th>
                        <th scope="col">"Reference"</th><th scope="col">"Effect on this merchant"</th><th scope="col">"Status"</th>
                    </tr></thead>
                    <tbody>
                        {page.nodes.iter().map(|t| {
                            let status = match (&t.reversed_by, &t.reverses) {
                                (Some(r), _) => view! { <a href=href(&format!("/transactions/{}", r.id))>{format!("Reversed by #{}", r.sequence)}</a> }.into_any(),
                                (None, Some(r)) => view! { <a href=href(&format!("/transactions/{}", r.id))>{format!("Reverses #{}", r.sequence)}</a> }.into_any(),
                                _ => view! { <span>"Posted"</span> }.into_any(),
                            };
                            view! {
                                <tr data-kind=t.kind.as_str() data-ref=t.external_ref.clone().unwrap_or_default()>
                                    <td>{t.sequence}</td>
                                    <td><a href=href(&format!("/transactions/{}", t.id))>{t.kind.as_str()}</a></td>
                                    <td>{when(&t.created_at)}</td>
                                    <td>{t.external_ref.clone().unwrap_or_default()}</td>
                                    <td>{effect_on(t, &merchant)}</td>
                                    <td>{status}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                {pager.controls("Transactions", page.next.clone())}
            }.into_any(),
        }}
    }
}

#[component]
fn Payments(merchant: String) -> impl IntoView {
    let ctx = ctx();
    let pager = Pager::new();
    let list = LocalResource::new(move || {
        let (merchant, after) = (merchant.clone(), pager.after());
        async move { api::merchant_payments(&ctx, &merchant, after).await }
    });
    view! {
        <h2 id="payments-title">"Payments"</h2>
        {move || match list.get() {
            None => loading("payments").into_any(),
            Some(Err(e)) => error_line(&e).into_any(),
            Some(Ok(page)) if page.nodes.is_empty() => empty("No card payments.").into_any(),
            Some(Ok(page)) => view! {
                <table aria-labelledby="payments-title">
                    <thead><tr>
                        <th scope="col">"Payment"</th><th scope="col">"State"</th><th scope="col" class="num">"Captured"</th>
                        <th scope="col" class="num">"Refunded"</th><th scope="col">"Created"</th>
                    </tr></thead>
                    <tbody>
                        {page.nodes.iter().map(|p| view! {
                            <tr>
                                <td><a href=href(&format!("/payments/{}", p.id))>{short(&p.id)}</a></td>
                                <td>{p.state.as_str()}</td>
                                <td class="num">{money(&p.captured.amount, &p.captured.currency)}</td>
                                <td class="num">{money(&p.refunded.amount, &p.refunded.currency)}</td>
                                <td>{when(&p.created_at)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                {pager.controls("Payments", page.next.clone())}
            }.into_any(),
        }}
    }
}

#[component]
fn Payouts(merchant: String) -> impl IntoView {
    let ctx = ctx();
    let pager = Pager::new();
    let list = LocalResource::new(move || {
        let (merchant, after) = (merchant.clone(), pager.after());
        async move { api::merchant_payouts(&ctx, &merchant, after).await }
    });
    view! {
        <h2 id="payouts-title">"Payouts"</h2>
        {move || match list.get() {
            None => loading("payouts").into_any(),
            Some(Err(e)) => error_line(&e).into_any(),
            Some(Ok(page)) if page.nodes.is_empty() => empty("No payouts yet.").into_any(),
            Some(Ok(page)) => view! {
                <table aria-labelledby="payouts-title">
                    <thead><tr>
                        <th scope="col">"Payout"</th><th scope="col">"State"</th><th scope="col" class="num">"Amount"</th>
                        <th scope="col">"Period"</th><th scope="col">"Created"</th>
                    </tr></thead>
                    <tbody>
                        {page.nodes.iter().map(|p| view! {
                            <tr>
                                <td><code>{short(&p.id)}</code></td>
                                <td>{p.state.as_str()}</td>
                                <td class="num">{money(&p.amount.amount, &p.amount.currency)}</td>
                                <td>{p.period.clone().unwrap_or_default()}</td>
                                <td>{when(&p.created_at)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                {pager.controls("Payouts", page.next.clone())}
            }.into_any(),
        }}
    }
}

#[component]
fn Entries(merchant: MerchantDetail) -> impl IntoView {
    let ctx = ctx();
    let first =
        merchant.accounts.iter().find(|a| a.code == "available").or(merchant.accounts.first()).map(|a| a.id.clone());
    let account = RwSignal::new(first.unwrap_or_default());
    let pager = Pager::new();
    let list = LocalResource::new(move || {
        let (account, after) = (account.get(), pager.after());
        async move {
            if account.is_empty() {
                return Ok(None);
            }
            api::account_entries(&ctx, &account, after).await.map(Some)
        }
    });
    let options = merchant.accounts.clone();
    view! {
        <h2 id="entries-title">"Entries"</h2>
        <label for="entries-account">"Account"</label>
        <select id="entries-account" on:change=move |ev| { account.set(event_target_value(&ev)); pager.reset(); }>
            {options.into_iter().map(|a| {
                let selected = a.id == account.get_untracked();
                view! { <option value=a.id.clone() selected=selected>{format!("{} · {}", a.code, a.asset)}</option> }
            }).collect_view()}
        </select>
        {move || match list.get() {
            None => loading("entries").into_any(),
            Some(Err(e)) => error_line(&e).into_any(),
            Some(Ok(None)) => empty("This merchant has no accounts yet.").into_any(),
            Some(Ok(Some(page))) if page.nodes.is_empty() => empty("No entries on this account.").into_any(),
            Some(Ok(Some(page))) => view! {
                <table aria-labelledby="entries-title">
                    <thead><tr>
                        <th scope="col">"Entry #"</th><th scope="col">"Side"</th><th scope="col">"Layer"</th>
                        <th scope="col" class="num">"Amount"</th><th scope="col">"Transaction"</th>
                    </tr></thead>
                    <tbody>
                        {page.nodes.iter().map(|e| view! {
                            <tr>
                                <td>{e.sequence}</td>
                                <td>{e.direction.label()}</td>
                                <td>{e.layer.as_str().to_lowercase()}</td>
                                <td class="num">{money(&e.amount.amount, &e.amount.currency)}</td>
                                <td>{e.transaction.clone().map(|t| view! {
                                    <a href=href(&format!("/transactions/{}", t.id))>{format!("#{} {}", t.sequence, t.kind.as_str())}</a>
                                })}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                {pager.controls("Entries", page.next.clone())}
            }.into_any(),
        }}
    }
}
