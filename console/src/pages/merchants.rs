//! Find a merchant by name (substring), external id or id, as you type.
//! The search is in the URL (`?q=`), so back and a pasted link work.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api;
use crate::components::{Pager, empty, error_line, href, loading, short};
use crate::session::ctx;

/// The search page.
#[component]
pub fn MerchantSearch() -> impl IntoView {
    let ctx = ctx();
    let query = use_query_map();
    let navigate = use_navigate();
    let q = Memo::new(move |_| query.with(|m| m.get("q").unwrap_or_default()));
    let pager = Pager::resetting_on(move || q.track());
    let results = LocalResource::new(move || {
        let (q, after) = (q.get(), pager.after());
        async move { api::search_merchants(&ctx, &q, after).await }
    });
    let input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(el) = input.get() {
            let _ = el.focus();
        }
    });
    let on_input = move |ev| {
        let value = event_target_value(&ev);
        let path = if value.is_empty() { "/".to_owned() } else { format!("/?q={}", super::encode(&value)) };
        navigate(&path, NavigateOptions { replace: true, ..Default::default() });
    };
    view! {
        <section>
            <h1>"Merchants"</h1>
            <super::find::FindBox />
            <form role="search" on:submit=|ev| ev.prevent_default()>
                <label for="merchant-search">"Search by name, external id or id"</label>
                <input id="merchant-search" type="search" node_ref=input autocomplete="off"
                    prop:value=move || q.get() on:input=on_input />
            </form>
            {move || match results.get() {
                None => loading("merchants").into_any(),
                Some(Err(e)) => error_line(&e).into_any(),
                Some(Ok(page)) if page.nodes.is_empty() && q.get_untracked().is_empty() => empty("No merchants yet.").into_any(),
                Some(Ok(page)) if page.nodes.is_empty() => empty("No merchant matches.").into_any(),
                Some(Ok(page)) => view! {
                    <table aria-label="Merchants found">
                        <thead><tr>
                            <th scope="col">"Name"</th><th scope="col">"External id"</th>
                            <th scope="col">"Class"</th><th scope="col">"Id"</th>
                        </tr></thead>
                        <tbody>
                            {page.nodes.iter().map(|m| view! {
                                <tr>
                                    <td><a href=href(&format!("/merchants/{}", m.id))>{m.name.clone()}</a></td>
                                    <td>{m.external_id.clone().unwrap_or_default()}</td>
                                    <td>{m.class.clone()}</td>
                                    <td><code title=m.id.clone()>{short(&m.id)}</code></td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    {pager.controls("Merchants", page.next.clone())}
                }.into_any(),
            }}
        </section>
    }
}
