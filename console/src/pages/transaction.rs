//! A transaction: its entries (debit, credit, account, amount), its life
//! cycle, who did what, links to what it reverses or what reversed it, and
//! the Reverse action for support and admin staff.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::{self, Posted, TransactionDetail};
use crate::components::action_dialog::{Action, ActionDialog};
use crate::components::{empty, error_line, href, loading, money, when};
use crate::pages::audit::AuditTrail;
use crate::schema::{Direction, TransactionKind};
use crate::session::ctx;

/// The transaction page, at `/transactions/:id`.
#[component]
pub fn TransactionPage() -> impl IntoView {
    let ctx = ctx();
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let version = RwSignal::new(0u32);
    let tx = LocalResource::new(move || {
        version.track();
        let id = id.get();
        async move { api::transaction(&ctx, &id).await }
    });
    let done = RwSignal::new(None::<Posted>);
    view! {
        <section class="transaction">
            {crate::components::done_notice(done)}
            {move || match tx.get() {
                None => loading("the transaction").into_any(),
                Some(Err(e)) => error_line(&e).into_any(),
                Some(Ok(None)) => empty("No such transaction.").into_any(),
                Some(Ok(Some(t))) => view! {
                    <TransactionBody tx=t on_done=Callback::new(move |link| { done.set(Some(link)); version.update(|v| *v += 1); }) />
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn TransactionBody(tx: TransactionDetail, on_done: Callback<Posted>) -> impl IntoView {
    let ctx = ctx();
    let open = RwSignal::new(false);
    let reversible = tx.reversed_by.is_none() && tx.kind != TransactionKind::Reversal;
    let may_act = move || ctx.session.with(|s| s.as_ref().is_some_and(|s| s.may_act()));
    let reason = api::reason_of(&tx);
    let for_dialog = tx.clone();
    let merchant_link =
        tx.merchant.clone().map(|m| view! { <a href=href(&format!("/merchants/{}", m.id))>{m.name}</a> });
    view! {
        <h1>{format!("Transaction #{} · {}", tx.sequence, tx.kind.as_str())}</h1>
        <dl class="facts">
            <dt>"Merchant"</dt><dd>{merchant_link}</dd>
            <dt>"Id"</dt><dd><code>{tx.id.clone()}</code></dd>
            <dt>"Effective"</dt><dd>{when(&tx.effective_at)}</dd>
            <dt>"Recorded"</dt><dd>{when(&tx.created_at)}</dd>
            <dt>"Posted by"</dt><dd>{tx.actor.clone()}</dd>
            <dt>"Reference"</dt><dd>{tx.external_ref.clone().unwrap_or_else(|| "—".into())}</dd>
            {reason.map(|r| view! { <dt>"Reason"</dt><dd>{r}</dd> })}
            {tx.payment.clone().map(|p| view! {
                <dt>"Payment"</dt><dd><a href=href(&format!("/payments/{}", p.id))>{format!("{} ({})", crate::components::short(&p.id), p.state.as_str())}</a></dd>
            })}
            {tx.reverses.clone().map(|r| view! {
                <dt>"Reverses"</dt><dd><a href=href(&format!("/transactions/{}", r.id))>{format!("#{} {}", r.sequence, r.kind.as_str())}</a></dd>
            })}
            {tx.reversed_by.clone().map(|r| view! {
                <dt>"Reversed by"</dt><dd data-testid="reversed-by"><a href=href(&format!("/transactions/{}", r.id))>{format!("#{} {}", r.sequence, r.kind.as_str())}</a></dd>
            })}
        </dl>
        <h2 id="tx-entries">"Entries"</h2>
        <table aria-labelledby="tx-entries">
            <thead><tr>
                <th scope="col">"Account"</th><th scope="col">"Layer"</th>
                <th scope="col" class="num">"Debit"</th><th scope="col" class="num">"Credit"</th>
            </tr></thead>
            <tbody>
                {tx.entries.iter().map(|e| {
                    let amount = money(&e.amount.amount, &e.amount.currency);
                    let (debit, credit) = match e.direction {
                        Direction::Debit => (amount, String::new()),
                        Direction::Credit => (String::new(), amount),
                    };
                    let account = api::account_label(e);
                    view! {
                        <tr><td>{account}</td><td>{e.layer.as_str().to_lowercase()}</td><td class="num">{debit}</td><td class="num">{credit}</td></tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <Show when=move || reversible && may_act()>
            <button type="button" class="danger" on:click=move |_| open.set(true)>"Reverse…"</button>
        </Show>
        <Show when=move || open.get()>
            <ActionDialog
                action=Action::Reverse(Box::new(for_dialog.clone()))
                on_close=Callback::new(move |_| open.set(false))
                on_done=Callback::new(move |link| { open.set(false); on_done.run(link); })
            />
        </Show>
        <AuditTrail target=tx.id.clone() />
    }
}
