use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The sign-in page. A plain form posted to `/login` (server/src/auth/handlers.rs),
/// so it works with or without JavaScript.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let error = move || {
        query.with(|q| match q.get("error").as_deref() {
            Some("invalid") => Some("Wrong user name or password."),
            Some("expired") => Some("Your session ended. Please sign in again."),
            Some("everywhere") => Some("You are signed out on every device."),
            _ => None,
        })
    };
    let next = move || query.with(|q| q.get("next").unwrap_or_else(|| "/".to_string()));
    view! {
        <Title text="Sign in" />
        <main class="login" id="main">
            <h1>"Triage"</h1>
            <form method="post" action="/login" class="login-form">
                {move || {
                    error()
                        .map(|e| {
                            view! {
                                <p class="form-error" role="alert">
                                    {e}
                                </p>
                            }
                        })
                }}
                <input type="hidden" name="next" value=next />
                <label for="username">"User name"</label>
                <input id="username" name="username" autocomplete="username" required autofocus />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                />
                <button type="submit" class="primary">
                    "Sign in"
                </button>
            </form>
        </main>
    }
}
