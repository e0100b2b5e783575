//! Log in with a staff username and password (`login`). The session token
//! is kept in this browser until logout or expiry.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::api::{self, ApiError};
use crate::session::ctx;

/// The login form.
#[component]
pub fn LoginPage() -> impl IntoView {
    let ctx = ctx();
    let navigate = use_navigate();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let pending = RwSignal::new(false);
    let first = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(el) = first.get() {
            let _ = el.focus();
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        pending.set(true);
        error.set(None);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match api::login(&ctx, &username.get_untracked(), &password.get_untracked()).await {
                Ok(session) => {
                    ctx.sign_in(session);
                    if let Ok(assets) = api::assets(&ctx).await {
                        ctx.assets.set(assets);
                    }
                    navigate("/", Default::default());
                }
                Err(e) => error.set(Some(e)),
            }
            pending.set(false);
        });
    };
    view! {
        <section class="login">
            <h1>"Staff login"</h1>
            <form on:submit=on_submit>
                <label for="username">"Username"</label>
                <input id="username" name="username" autocomplete="username" node_ref=first required
                    prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev)) />
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required
                    prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev)) />
                {move || error.get().map(|e| crate::components::error_line(&e))}
                <button type="submit" disabled=move || pending.get()>"Log in"</button>
            </form>
        </section>
    }
}
