//! One module per page. Each page's URL holds what it shows (ids in the
//! path, search and filters in the query), so the back button and a pasted
//! link work.

pub mod audit;
pub mod find;
pub mod login;
pub mod merchant;
pub mod merchants;
pub mod payment;
pub mod reconciliation;
pub mod reports;
pub mod transaction;

use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::session::ctx;

/// Shows `children` to a logged-in staff member and sends anyone else to
/// the login page.
#[component]
pub fn RequireLogin(children: ChildrenFn) -> impl IntoView {
    let ctx = ctx();
    move || {
        if ctx.session.with(|s| s.is_some()) {
            children().into_any()
        } else {
            view! { <Redirect path="/login" /> }.into_any()
        }
    }
}

/// Encodes a query-string value.
pub fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}
