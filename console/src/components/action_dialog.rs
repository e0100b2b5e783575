//! The confirm dialog of a reversal, a refund, a payout or a dispute's
//! resolution.
//!
//! It shows what will happen before anything does: the server's dry run of
//! the write (the entries it will post, the balances after them, or the
//! error it would raise) and how each balance moves (see
//! [`crate::preview`]). It asks for
//! the reason, which goes in the audit log. The idempotency key is made when
//! the dialog opens and sent with every attempt, so a double click, a retry
//! after an error, or the automatic retry after a lost connection can never
//! act twice. Errors are shown in plain words and leave the dialog open.

use leptos::prelude::*;

use crate::api::{self, ApiError, ErrorCode, PaymentDetail, Posted, TransactionDetail};
use crate::components::money;
use crate::preview;
use crate::session::ctx;

/// What the dialog does.
#[derive(Clone, Debug)]
pub enum Action {
    /// Reverse this transaction (`reverseTransaction`).
    Reverse(Box<TransactionDetail>),
    /// Refund part or all of this payment (`refundPayment`).
    Refund(Box<PaymentDetail>),
    /// Pay out a merchant's whole available balance in one of `assets`
    /// (`createPayout`; an admin's).
    Payout {
        /// The merchant's id.
        merchant: String,
        /// Its name, for the title.
        name: String,
        /// The assets it holds an `available` account in.
        assets: Vec<String>,
    },
    /// Resolve this payment's open dispute, won or lost (`resolveDispute`).
    ResolveDispute(Box<PaymentDetail>),
}

/// What is left to refund of a payment: captured less refunded, as a
/// decimal string in the major unit.
fn refundable(p: &PaymentDetail, exponent: u32) -> String {
    let captured = crate::money::to_minor(&p.captured.amount, exponent).unwrap_or(0);
    let refunded = crate::money::to_minor(&p.refunded.amount, exponent).unwrap_or(0);
    crate::money::from_minor((captured - refunded).max(0), exponent)
}

/// The dialog. `on_close` runs on Cancel or Escape; `on_done` with the new
/// transaction once the server has written it.
#[component]
pub fn ActionDialog(action: Action, on_close: Callback<()>, on_done: Callback<Posted>) -> impl IntoView {
    let ctx = ctx();
    let key = StoredValue::new(api::new_idempotency_key());
    let reason = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let reason_box = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(el) = reason_box.get() {
            let _ = el.focus();
        }
    });

    let (title, verb) = match &action {
        Action::Reverse(tx) => (format!("Reverse transaction #{}", tx.sequence), "Confirm reversal"),
        Action::Refund(p) => (format!("Refund payment {}", crate::components::short(&p.id)), "Confirm refund"),
        Action::Payout { name, .. } => (format!("Pay out {name}"), "Confirm payout"),
        Action::ResolveDispute(p) => {
            (format!("Resolve the dispute of payment {}", crate::components::short(&p.id)), "Confirm resolution")
        }
    };
    let currency = match &action {
        Action::Refund(p) => p.captured.currency.clone(),
        _ => String::new(),
    };
    let amount = RwSignal::new(match &action {
        Action::Refund(p) => refundable(p, ctx.exponent(&p.captured.currency)),
        _ => String::new(),
    });
    // The payout's asset, and the dispute's outcome (lost by default: the
    // money goes back to the buyer, the common end of a chargeback).
    let assets = match &action {
        Action::Payout { assets, .. } => assets.clone(),
        _ => Vec::new(),
    };
    let asset = RwSignal::new(assets.first().cloned().unwrap_or_default());
    let won = RwSignal::new(false);
    // A payout's input has no reason; every other action's reason goes in
    // the audit log.
    let needs_reason = !matches!(action, Action::Payout { .. });

    // Both plans are the server's dry runs of the very write Confirm sends
    // (`dryRun: true`, under the dialog's own key, which a dry run does not
    // claim): the write path runs it and rolls it back, so the entries shown
    // are what will be posted (a capture's posted entries reversed, a hold
    // turned into a release, the fee share a schedule gives back), the
    // balances after are the ledger's own, and a write that would be refused
    // (too much to refund, a balance limit) says so before Confirm. The
    // refund's dry run runs again when the amount changes.
    let action_for_preview = action.clone();
    let planned = LocalResource::new(move || {
        let action = action_for_preview.clone();
        let amount = amount.get().trim().to_owned();
        let (asset, won) = (asset.get(), won.get());
        let key = key.get_value();
        async move {
            match action {
                Action::Reverse(tx) => api::reverse_dry_run(&ctx, &tx.id, &key).await,
                Action::Refund(p) => api::refund_dry_run(&ctx, &p.id, &amount, &p.captured.currency, &key).await,
                Action::Payout { merchant, .. } => api::payout_dry_run(&ctx, &merchant, &asset, &key).await,
                Action::ResolveDispute(p) => api::resolve_dry_run(&ctx, &p.id, won, &key).await,
            }
        }
    });
    let dry_run = Memo::new(move |_| planned.get().and_then(Result::ok).unwrap_or_default());
    let entries = Memo::new(move |_| dry_run.with(|d| d.entries.clone()));
    let plan_error = Memo::new(move |_| planned.get().and_then(Result::err));
    let changes = Memo::new(move |_| entries.with(|e| preview::balance_changes(e, |a| ctx.exponent(a))));

    let action_for_submit = action.clone();
    let currency_for_submit = currency.clone();
    let submit = move || {
        if pending.get_untracked() {
            return;
        }
        let why = reason.get_untracked().trim().to_owned();
        if why.is_empty() && needs_reason {
            error.set(Some(ApiError::new(ErrorCode::ReasonRequired, "")));
            return;
        }
        let action = action_for_submit.clone();
        let currency = currency_for_submit.clone();
        let amount = amount.get_untracked().trim().to_owned();
        let (asset, won) = (asset.get_untracked(), won.get_untracked());
        pending.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let key = key.get_value();
            let result = match &action {
                Action::Reverse(tx) => api::reverse(&ctx, &tx.id, &why, &key).await,
                Action::Refund(p) => api::refund(&ctx, &p.id, &amount, &currency, &why, &key).await,
                Action::Payout { merchant, .. } => api::create_payout(&ctx, merchant, &asset, &key).await,
                Action::ResolveDispute(p) => api::resolve_dispute(&ctx, &p.id, won, &why, &key).await,
            };
            let _ = pending.try_set(false);
            match result {
                Ok(link) => on_done.run(link),
                Err(e) => {
                    let _ = error.try_set(Some(e));
                }
            }
        });
    };

    let is_refund = matches!(action, Action::Refund(_));
    let note = match &action {
        Action::Reverse(_) => {
            "A new REVERSAL transaction posts these entries: the ledger ran it as a dry run, writing nothing. The original stays, marked as reversed."
        }
        Action::Refund(_) => {
            "A REFUND transaction posts these entries: the ledger ran it as a dry run, writing nothing (with the fee share the merchant's schedule gives back, if any)."
        }
        Action::Payout { .. } => {
            "A PAYOUT transaction moves the merchant's whole available balance (less its reserve) into payouts in transit: the ledger ran it as a dry run, writing nothing."
        }
        Action::ResolveDispute(_) => {
            "The dispute's resolution posts these entries: the ledger ran it as a dry run, writing nothing. Won: the held money returns to the merchant. Lost: it goes back to the buyer."
        }
    };
    let is_payout = matches!(action, Action::Payout { .. });
    let is_dispute = matches!(action, Action::ResolveDispute(_));

    view! {
        <div class="backdrop">
            <div
                class="dialog"
                role="dialog"
                aria-modal="true"
                aria-labelledby="dialog-title"
                on:keydown=move |ev| if ev.key() == "Escape" { on_close.run(()) }
            >
                <h2 id="dialog-title">{title}</h2>
                <p>{note}</p>
                <Show when=move || is_refund>
                    <label for="refund-amount">"Amount to refund (" {currency.clone()} ")"</label>
                    <input
                        id="refund-amount"
                        inputmode="decimal"
                        prop:value=move || amount.get()
                        on:input=move |ev| amount.set(event_target_value(&ev))
                    />
                </Show>
                <Show when=move || is_payout>
                    <label for="payout-asset">"Asset"</label>
                    <select id="payout-asset" on:change=move |ev| asset.set(event_target_value(&ev))>
                        {assets.iter().map(|a| view! { <option value=a.clone()>{a.clone()}</option> }).collect_view()}
                    </select>
                </Show>
                <Show when=move || is_dispute>
                    <label for="dispute-outcome">"Outcome"</label>
                    <select id="dispute-outcome" on:change=move |ev| won.set(event_target_value(&ev) == "WON")>
                        <option value="LOST" selected=true>"The merchant lost: the money goes back to the buyer"</option>
                        <option value="WON">"The merchant won: the money returns to it"</option>
                    </select>
                </Show>
                <h3>"Entries to be posted"</h3>
                <table class="entries" aria-label="Entries to be posted">
                    <thead><tr><th scope="col">"Side"</th><th scope="col">"Account"</th><th scope="col" class="num">"Amount"</th></tr></thead>
                    <tbody>
                        {move || entries.get().into_iter().map(|e| view! {
                            <tr data-account=e.account_id.clone().unwrap_or_default() data-direction=e.direction.as_str() data-layer=e.layer.as_str() data-amount=e.amount.clone()>
                                <td>{e.direction.label()}</td>
                                <td>{format!("{} · {}", e.owner, e.account)}</td>
                                <td class="num">{money(&e.amount, &e.asset)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                {move || plan_error.get().map(|e| crate::components::error_line(&e))}
                <h3>"Balance changes"</h3>
                {move || match changes.get() {
                    None => view! { <p class="error" role="alert">"The amount is not valid for this currency."</p> }.into_any(),
                    Some(lines) => view! {
                        <ul class="changes" data-testid="balance-changes">
                            {lines.into_iter().map(|c| {
                                let sign = if c.delta.starts_with('-') { "" } else { "+" };
                                view! { <li>{format!("{} · {} ({}): {sign}{}", c.owner, c.account, c.which, money(&c.delta, &c.asset))}</li> }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }}
                <h3>"Balances after"</h3>
                <table class="entries" aria-label="Balances after" data-testid="balances-after">
                    <thead><tr>
                        <th scope="col">"Account"</th><th scope="col" class="num">"Posted"</th>
                        <th scope="col" class="num">"Pending"</th><th scope="col" class="num">"Available"</th>
                    </tr></thead>
                    <tbody>
                        {move || dry_run.get().balances_after.into_iter().map(|b| view! {
                            <tr data-account=format!("{} · {}", b.owner, b.account)>
                                <td>{format!("{} · {}", b.owner, b.account)}</td>
                                <td class="num" data-field="posted">{money(&b.posted, &b.asset)}</td>
                                <td class="num" data-field="pending">{money(&b.pending, &b.asset)}</td>
                                <td class="num" data-field="available">{money(&b.available, &b.asset)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                <Show when=move || needs_reason>
                <label for="action-reason">"Reason (kept in the audit log)"</label>
                <textarea
                    id="action-reason"
                    node_ref=reason_box
                    required
                    rows="3"
                    prop:value=move || reason.get()
                    on:input=move |ev| {
                        reason.set(event_target_value(&ev));
                        if error.with_untracked(|e| e.as_ref().is_some_and(|e| e.code == ErrorCode::ReasonRequired)) {
                            error.set(None);
                        }
                    }
                ></textarea>
                </Show>
                {move || error.get().map(|e| crate::components::error_line(&e))}
                <div class="buttons">
                    <button type="button" on:click=move |_| on_close.run(())>"Cancel"</button>
                    <button
                        type="button"
                        class="danger"
                        disabled=move || pending.get()
                        on:click=move |_| submit()
                    >{move || if pending.get() { "Working…" } else { verb }}</button>
                </div>
            </div>
        </div>
    }
}
