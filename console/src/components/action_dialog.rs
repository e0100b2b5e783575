//! The confirm dialog of a reversal or a refund.
//!
//! It shows what will happen before anything does: the entries the server
//! will post, as the server plans them, and how each balance moves (see
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
    };
    let currency = match &action {
        Action::Reverse(_) => String::new(),
        Action::Refund(p) => p.captured.currency.clone(),
    };
    let amount = RwSignal::new(match &action {
        Action::Reverse(_) => String::new(),
        Action::Refund(p) => refundable(p, ctx.exponent(&p.captured.currency)),
    });

    // Both plans come from the server, computed by the same code the action
    // runs (`reversalPreview`, `refundPreview`), so what is shown is what will
    // be posted: a capture's posted entries reversed, a hold turned into a
    // release, the fee share a schedule gives back. The refund's plan is
    // asked again when the amount changes.
    let action_for_preview = action.clone();
    let planned = LocalResource::new(move || {
        let action = action_for_preview.clone();
        let amount = amount.get().trim().to_owned();
        async move {
            match action {
                Action::Reverse(tx) => api::reversal_preview(&ctx, &tx).await,
                Action::Refund(p) => {
                    let merchant = p.merchant.as_ref().map_or("Merchant", |m| m.name.as_str());
                    api::refund_preview(&ctx, &p.id, merchant, &amount, &p.captured.currency).await
                }
            }
        }
    });
    let entries = Memo::new(move |_| planned.get().and_then(Result::ok).unwrap_or_default());
    let plan_error = Memo::new(move |_| planned.get().and_then(Result::err));
    let changes = Memo::new(move |_| entries.with(|e| preview::balance_changes(e, |a| ctx.exponent(a))));

    let action_for_submit = action.clone();
    let currency_for_submit = currency.clone();
    let submit = move || {
        if pending.get_untracked() {
            return;
        }
        let why = reason.get_untracked().trim().to_owned();
        if why.is_empty() {
            error.set(Some(ApiError::new(ErrorCode::ReasonRequired, "")));
            return;
        }
        let action = action_for_submit.clone();
        let currency = currency_for_submit.clone();
        let amount = amount.get_untracked().trim().to_owned();
        pending.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let key = key.get_value();
            let result = match &action {
                Action::Reverse(tx) => api::reverse(&ctx, &tx.id, &why, &key).await,
                Action::Refund(p) => api::refund(&ctx, &p.id, &amount, &currency, &why, &key).await,
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
            "A new REVERSAL transaction posts these entries, as the ledger plans them. The original stays, marked as reversed."
        }
        Action::Refund(_) => {
            "A REFUND transaction posts these entries, as the ledger plans them (with the fee share the merchant's schedule gives back, if any)."
        }
    };

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
