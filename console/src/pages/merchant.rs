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

        <PayoutAction merchant=merchant.clone() on_done=Callback::new(move |_| tick.update(|t| *t += 1)) />
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
        <Statement account=account />
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

/// Downloads the chosen account's statement for a range of days as CSV (the
/// server's `GET /accounts/{id}/statement.csv`, with the staff member's
/// token, saved through a Blob link).
#[component]
fn Statement(account: RwSignal<String>) -> impl IntoView {
    let ctx = ctx();
    let today =
        js_sys::Date::new_0().to_iso_string().as_string().unwrap_or_default().chars().take(10).collect::<String>();
    let from = RwSignal::new(format!("{}01", today.chars().take(8).collect::<String>()));
    let to = RwSignal::new(today);
    let error = RwSignal::new(None::<crate::api::ApiError>);
    let pending = RwSignal::new(false);
    let download = move |_| {
        let (account, from, to) = (account.get_untracked(), from.get_untracked(), to.get_untracked());
        pending.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let result = api::statement_csv(&ctx, &account, &from, &to).await;
            let _ = pending.try_set(false);
            match result.and_then(|csv| save(&csv, &format!("statement-{from}-{to}.csv"))) {
                Ok(()) => {}
                Err(e) => {
                    let _ = error.try_set(Some(e));
                }
            }
        });
    };
    view! {
        <fieldset class="statement">
            <legend>"Statement of this account (CSV)"</legend>
            <label for="statement-from">"From (UTC day)"</label>
            <input id="statement-from" type="date" prop:value=move || from.get() on:input=move |ev| from.set(event_target_value(&ev)) />
            <label for="statement-to">"To (UTC day, included)"</label>
            <input id="statement-to" type="date" prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev)) />
            <button type="button" disabled=move || pending.get() on:click=download>"Download statement"</button>
            {move || error.get().map(|e| error_line(&e))}
        </fieldset>
    }
}

/// Offers `text` to the browser as a CSV file named `name`.
fn save(text: &str, name: &str) -> crate::api::ApiResult<()> {
    use wasm_bindgen::JsCast;
    let failed =
        |what: &str| crate::api::ApiError::new(crate::api::ErrorCode::BadResponse, format!("could not save: {what}"));
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/csv");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(|_| failed("blob"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| failed("url"))?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or_else(|| failed("document"))?;
    let link: web_sys::HtmlAnchorElement =
        document.create_element("a").map_err(|_| failed("link"))?.dyn_into().map_err(|_| failed("link"))?;
    link.set_href(&url);
    link.set_download(name);
    link.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// "Pay out…", for an admin (the only staff role that may): the dialog shows
/// the server's dry run of `createPayout` before Confirm.
#[component]
fn PayoutAction(merchant: MerchantDetail, on_done: Callback<api::Posted>) -> impl IntoView {
    let ctx = ctx();
    let open = RwSignal::new(false);
    let done = RwSignal::new(None::<api::Posted>);
    let admin = move || ctx.session.with(|s| s.as_ref().is_some_and(|s| s.role == crate::schema::StaffRole::Admin));
    let assets: Vec<String> =
        merchant.accounts.iter().filter(|a| a.code == "available").map(|a| a.asset.clone()).collect();
    let has_assets = !assets.is_empty();
    let action = crate::components::action_dialog::Action::Payout {
        merchant: merchant.id.clone(),
        name: merchant.name.clone(),
        assets,
    };
    view! {
        {crate::components::done_notice(done)}
        <Show when=move || admin() && has_assets>
            <button type="button" on:click=move |_| open.set(true)>"Pay out…"</button>
        </Show>
        <Show when=move || open.get()>
            <crate::components::action_dialog::ActionDialog
                action=action.clone()
                on_close=Callback::new(move |_| open.set(false))
                on_done=Callback::new(move |link: api::Posted| { open.set(false); done.set(Some(link.clone())); on_done.run(link); })
            />
        </Show>
    }
}
