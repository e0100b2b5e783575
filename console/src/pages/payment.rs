//! A payment: its state and amounts, every transaction of its life cycle,
//! who did what, and for support and admin staff the Refund action (in full
//! or in part) and, while a dispute is open, Resolve dispute.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::{self, PaymentDetail, PaymentMoney, Posted};
use crate::components::action_dialog::{Action, ActionDialog};
use crate::components::{empty, error_line, href, loading, money, short, when};
use crate::pages::audit::AuditTrail;
use crate::session::ctx;

/// The payment page, at `/payments/:id`.
#[component]
pub fn PaymentPage() -> impl IntoView {
    let ctx = ctx();
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let version = RwSignal::new(0u32);
    let payment = LocalResource::new(move || {
        version.track();
        let id = id.get();
        async move { api::payment(&ctx, &id).await }
    });
    let done = RwSignal::new(None::<Posted>);
    view! {
        <section class="payment">
            {crate::components::done_notice(done)}
            {move || match payment.get() {
                None => loading("the payment").into_any(),
                Some(Err(e)) => error_line(&e).into_any(),
                Some(Ok(None)) => empty("No such payment.").into_any(),
                Some(Ok(Some(p))) => view! {
                    <PaymentBody payment=p on_done=Callback::new(move |link| { done.set(Some(link)); version.update(|v| *v += 1); }) />
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn PaymentBody(payment: PaymentDetail, on_done: Callback<Posted>) -> impl IntoView {
    let ctx = ctx();
    let open = RwSignal::new(false);
    let exponent = ctx.exponent(&payment.captured.currency);
    let captured = crate::money::to_minor(&payment.captured.amount, exponent).unwrap_or(0);
    let refunded = crate::money::to_minor(&payment.refunded.amount, exponent).unwrap_or(0);
    let refundable = captured > refunded;
    let may_act = move || ctx.session.with(|s| s.as_ref().is_some_and(|s| s.may_act()));
    let for_dialog = payment.clone();
    let for_dispute = payment.clone();
    let resolving = RwSignal::new(false);
    let disputed = payment.state == crate::schema::PaymentState::Disputed;
    let row =
        |label: &'static str, m: &PaymentMoney| view! { <dt>{label}</dt><dd>{money(&m.amount, &m.currency)}</dd> };
    view! {
        <h1>{format!("Payment {} · {}", short(&payment.id), payment.state.as_str())}</h1>
        <dl class="facts">
            <dt>"Merchant"</dt><dd>{payment.merchant.clone().map(|m| view! { <a href=href(&format!("/merchants/{}", m.id))>{m.name}</a> })}</dd>
            <dt>"Reference"</dt><dd>{payment.external_ref.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"Created"</dt><dd>{when(&payment.created_at)}</dd>
            {row("Authorized", &payment.authorized)}
            {row("Captured", &payment.captured)}
            {row("Fee", &payment.fee)}
            {row("Still held", &payment.pending)}
            {row("Voided", &payment.voided)}
            {row("Refunded", &payment.refunded)}
            {row("Disputed", &payment.disputed)}
        </dl>
        <h2 id="life-cycle">"Life cycle"</h2>
        <ol aria-labelledby="life-cycle">
            {payment.transactions.iter().map(|t| view! {
                <li><a href=href(&format!("/transactions/{}", t.id))>{format!("#{} {}", t.sequence, t.kind.as_str())}</a></li>
            }).collect_view()}
        </ol>
        <Show when=move || refundable && may_act()>
            <button type="button" class="danger" on:click=move |_| open.set(true)>"Refund…"</button>
        </Show>
        <Show when=move || open.get()>
            <ActionDialog
                action=Action::Refund(Box::new(for_dialog.clone()))
                on_close=Callback::new(move |_| open.set(false))
                on_done=Callback::new(move |link| { open.set(false); on_done.run(link); })
            />
        </Show>
        <Show when=move || disputed && may_act()>
            <button type="button" class="danger" on:click=move |_| resolving.set(true)>"Resolve dispute…"</button>
        </Show>
        <Show when=move || resolving.get()>
            <ActionDialog
                action=Action::ResolveDispute(Box::new(for_dispute.clone()))
                on_close=Callback::new(move |_| resolving.set(false))
                on_done=Callback::new(move |link| { resolving.set(false); on_done.run(link); })
            />
        </Show>
        <AuditTrail target=payment.id.clone() />
    }
}
