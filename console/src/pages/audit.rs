//! The audit log of staff actions (`auditLog`), newest first, filtered by
//! staff member and by target (an id, or a merchant's id for everything
//! about that merchant). The filters are in the URL.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, AuditRow};
use crate::components::{Pager, empty, error_line, href, loading, short, when};
use crate::session::ctx;

fn rows(nodes: &[AuditRow]) -> impl IntoView + use<> {
    nodes
        .iter()
        .map(|a| {
            let target = a.target_id.clone().unwrap_or_default();
            let link = match a.target_type.as_str() {
                "transaction" => Some(href(&format!("/transactions/{target}"))),
                "payment" => Some(href(&format!("/payments/{target}"))),
                "merchant" => Some(href(&format!("/merchants/{target}"))),
                _ => None,
            };
            let target_view = match link {
                Some(l) => view! { <a href=l>{format!("{} {}", a.target_type, short(&target))}</a> }.into_any(),
                None => view! { <span>{format!("{} {}", a.target_type, short(&target))}</span> }.into_any(),
            };
            view! {
                <tr data-action=a.action.clone()>
                    <td>{when(&a.at)}</td>
                    <td>{a.actor.clone()}</td>
                    <td>{a.action.clone()}</td>
                    <td>{target_view}</td>
                    <td>{a.reason.clone().unwrap_or_default()}</td>
                    <td>{a.result.clone()}</td>
                </tr>
            }
        })
        .collect_view()
}

fn table(nodes: &[AuditRow]) -> impl IntoView + use<> {
    view! {
        <table aria-label="Audit log" data-testid="audit">
            <thead><tr>
                <th scope="col">"When"</th><th scope="col">"Staff"</th><th scope="col">"Action"</th>
                <th scope="col">"Target"</th><th scope="col">"Reason"</th><th scope="col">"Result"</th>
            </tr></thead>
            <tbody>{rows(nodes)}</tbody>
        </table>
    }
}

/// The audit log page, at `/audit?actor=&target=`.
#[component]
pub fn AuditPage() -> impl IntoView {
    let ctx = ctx();
    let query = use_query_map();
    let navigate = use_navigate();
    let actor = Memo::new(move |_| query.with(|m| m.get("actor").unwrap_or_default()));
    let target = Memo::new(move |_| query.with(|m| m.get("target").unwrap_or_default()));
    let pager = Pager::resetting_on(move || {
        actor.track();
        target.track();
    });
    let list = LocalResource::new(move || {
        let (actor, target, after) = (actor.get(), target.get(), pager.after());
        async move { api::audit_log(&ctx, &actor, &target, after).await }
    });
    let set_filter = move |actor: String, target: String| {
        let mut parts = Vec::new();
        if !actor.is_empty() {
            parts.push(format!("actor={}", super::encode(&actor)));
        }
        if !target.is_empty() {
            parts.push(format!("target={}", super::encode(&target)));
        }
        let path = if parts.is_empty() { "/audit".to_owned() } else { format!("/audit?{}", parts.join("&")) };
        navigate(&path, NavigateOptions { replace: true, ..Default::default() });
    };
    let set_actor = set_filter.clone();
    view! {
        <section>
            <h1>"Audit log"</h1>
            <form class="filters" on:submit=|ev| ev.prevent_default()>
                <label for="audit-actor">"Staff member"</label>
                <input id="audit-actor" prop:value=move || actor.get()
                    on:change=move |ev| set_actor(event_target_value(&ev), target.get_untracked()) />
                <label for="audit-target">"Merchant or target id"</label>
                <input id="audit-target" prop:value=move || target.get()
                    on:change=move |ev| set_filter(actor.get_untracked(), event_target_value(&ev)) />
            </form>
            {move || match list.get() {
                None => loading("the audit log").into_any(),
                Some(Err(e)) => error_line(&e).into_any(),
                Some(Ok(page)) if page.nodes.is_empty() => empty("No staff actions match.").into_any(),
                Some(Ok(page)) => view! { {table(&page.nodes)} {pager.controls("Audit log", page.next.clone())} }.into_any(),
            }}
        </section>
    }
}

/// Who did what to one target (a transaction or a payment), newest first.
#[component]
pub fn AuditTrail(target: String) -> impl IntoView {
    let ctx = ctx();
    let list = LocalResource::new(move || {
        let target = target.clone();
        async move { api::audit_log(&ctx, "", &target, None).await }
    });
    view! {
        <h2>"Staff actions"</h2>
        {move || match list.get() {
            None => loading("staff actions").into_any(),
            Some(Err(e)) => error_line(&e).into_any(),
            Some(Ok(page)) if page.nodes.is_empty() => empty("No staff action on this yet.").into_any(),
            Some(Ok(page)) => table(&page.nodes).into_any(),
        }}
    }
}
