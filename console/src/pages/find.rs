//! Find a deal from what the customer gave: an order number (the external
//! reference, looked up in every merchant's books), a transaction id or a
//! payment id. Results link to the merchant and to the transaction or
//! payment, where staff refund or reverse it. The search is in the URL
//! (`/find?q=`), so back and a pasted link work.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, ApiResult, FoundTransaction, Page};
use crate::components::{Pager, empty, error_line, href, loading, short, when};
use crate::session::ctx;

/// What a search found.
#[derive(Clone, Debug, PartialEq)]
enum Found {
    /// Transactions with that order number.
    ByReference(Page<FoundTransaction>),
    /// The transaction with that id.
    Transaction(Box<api::TransactionDetail>),
    /// The payment with that id.
    Payment(Box<api::PaymentDetail>),
    /// Nothing.
    Nothing,
}

/// True for a UUID's text (8-4-4-4-12 hex digits).
fn is_uuid(q: &str) -> bool {
    let parts: Vec<&str> = q.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Looks `q` up: an id as a transaction, then as a payment; anything else
/// (and an id that is neither) as an order number.
async fn find(ctx: &crate::session::Ctx, q: String, after: Option<String>) -> ApiResult<Found> {
    if is_uuid(&q) && after.is_none() {
        if let Some(t) = api::transaction(ctx, &q).await? {
            return Ok(Found::Transaction(Box::new(t)));
        }
        if let Ok(Some(p)) = api::payment(ctx, &q).await {
            return Ok(Found::Payment(Box::new(p)));
        }
    }
    let page = api::find_by_reference(ctx, &q, after).await?;
    Ok(if page.nodes.is_empty() { Found::Nothing } else { Found::ByReference(page) })
}

/// The find box, shown on the home page: it opens `/find?q=`.
#[component]
pub fn FindBox() -> impl IntoView {
    let navigate = use_navigate();
    let text = RwSignal::new(String::new());
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let q = text.get_untracked().trim().to_owned();
        if !q.is_empty() {
            navigate(&format!("/find?q={}", super::encode(&q)), NavigateOptions::default());
        }
    };
    view! {
        <form role="search" class="find" on:submit=on_submit>
            <label for="find-box">"Find an order number, transaction id or payment id"</label>
            <input id="find-box" type="search" autocomplete="off"
                prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev)) />
            <button type="submit">"Find"</button>
        </form>
    }
}

/// The results page, at `/find?q=`.
#[component]
pub fn FindPage() -> impl IntoView {
    let ctx = ctx();
    let query = use_query_map();
    let q = Memo::new(move |_| query.with(|m| m.get("q").unwrap_or_default().trim().to_owned()));
    let pager = Pager::resetting_on(move || q.track());
    let results = LocalResource::new(move || {
        let (q, after) = (q.get(), pager.after());
        async move { if q.is_empty() { Ok(Found::Nothing) } else { find(&ctx, q, after).await } }
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        // One transaction or payment found by id: open it.
        match results.get() {
            Some(Ok(Found::Transaction(t))) => {
                navigate(&format!("/transactions/{}", t.id), NavigateOptions { replace: true, ..Default::default() });
            }
            Some(Ok(Found::Payment(p))) => {
                navigate(&format!("/payments/{}", p.id), NavigateOptions { replace: true, ..Default::default() });
            }
            _ => {}
        }
    });
    view! {
        <section>
            <h1>{move || format!("Find “{}”", q.get())}</h1>
            <FindBox />
            {move || match results.get() {
                None => loading("the books").into_any(),
                Some(Err(e)) => error_line(&e).into_any(),
                Some(Ok(Found::Nothing)) => empty("Nothing has this order number or id.").into_any(),
                Some(Ok(Found::Transaction(_) | Found::Payment(_))) => loading("it").into_any(),
                Some(Ok(Found::ByReference(page))) => view! {
                    <table aria-label="Transactions found">
                        <thead><tr>
                            <th scope="col">"Transaction"</th><th scope="col">"Merchant"</th>
                            <th scope="col">"Order number"</th><th scope="col">"Payment"</th><th scope="col">"Recorded"</th>
                        </tr></thead>
                        <tbody>
                            {page.nodes.iter().map(|t| view! {
                                <tr data-testid="found">
                                    <td><a href=href(&format!("/transactions/{}", t.id))>{format!("#{} {}", t.sequence, t.kind.as_str())}</a>
                                        {t.reversed_by.as_ref().map(|r| format!(" (reversed by #{})", r.sequence))}</td>
                                    <td>{t.merchant.clone().map(|m| view! { <a href=href(&format!("/merchants/{}", m.id))>{m.name}</a> })}</td>
                                    <td>{t.external_ref.clone().unwrap_or_default()}</td>
                                    <td>{t.payment.clone().map(|p| view! { <a href=href(&format!("/payments/{}", p.id))>{format!("{} ({})", short(&p.id), p.state.as_str())}</a> })}</td>
                                    <td>{when(&t.created_at)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    {pager.controls("Transactions", page.next.clone())}
                }.into_any(),
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::is_uuid;

    #[test]
    fn an_id_is_told_from_an_order_number() {
        assert!(is_uuid("0192f0c4-8b1e-7cc0-9a57-1b2c3d4e5f60"));
        assert!(!is_uuid("order-4711"));
        assert!(!is_uuid("4711"));
        assert!(!is_uuid("0192f0c4-8b1e-7cc0-9a57-1b2c3d4e5f6g"));
    }
}
