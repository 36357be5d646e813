use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The signed-in person's account: change their password, sign out everywhere.
/// Plain forms posted to the server (server/src/auth/account.rs), as sign-in is, so
/// a person with a one-time password can change it before anything else loads.
#[component]
pub fn AccountPage() -> impl IntoView {
    let query = use_query_map();
    let message = move || {
        query.with(|q| {
            let error = match q.get("error").as_deref() {
                Some("wrong") => Some("The current password is wrong."),
                Some("mismatch") => Some("The two new passwords differ."),
                Some("unchanged") => Some("Choose a password other than the current one."),
                Some("short") => Some("The new password must be at least 8 characters."),
                Some("unavailable") => Some("That did not work just now; try again."),
                _ => None,
            };
            if let Some(error) = error {
                return Some(
                    view! {
                        <p class="form-error" role="alert">
                            {error}
                        </p>
                    }
                    .into_any(),
                );
            }
            if q.get("done").as_deref() == Some("changed") {
                return Some(
                    view! {
                        <p class="form-done" role="status">
                            "Password changed. Every other session of yours has ended."
                        </p>
                    }
                    .into_any(),
                );
            }
            (q.get("required").as_deref() == Some("1")).then(|| {
                view! {
                    <p class="form-error" role="alert">
                        "Your password was given to you by someone else. Choose your own to go on."
                    </p>
                }
                .into_any()
            })
        })
    };
    view! {
        <Title text="Your account" />
        <h1>"Your account"</h1>
        <section class="account-section" aria-labelledby="password-title">
            <h2 id="password-title" class="section-title">
                "Change your password"
            </h2>
            {message}
            <form method="post" action="/account/password" class="account-form">
                <label for="current">"Current password"</label>
                <input
                    id="current"
                    name="current"
                    type="password"
                    autocomplete="current-password"
                    required
                />
                <label for="new">"New password (at least 8 characters)"</label>
                <input
                    id="new"
                    name="new"
                    type="password"
                    autocomplete="new-password"
                    minlength="8"
                    required
                />
                <label for="confirm">"New password again"</label>
                <input
                    id="confirm"
                    name="confirm"
                    type="password"
                    autocomplete="new-password"
                    minlength="8"
                    required
                />
                <button type="submit">"Change password"</button>
            </form>
        </section>
        <section class="account-section" aria-labelledby="sessions-title">
            <h2 id="sessions-title" class="section-title">
                "Sessions"
            </h2>
            <p class="hint">
                "Signed in on a shared or lost computer? End every session of yours, this one included."
            </p>
            <form method="post" action="/account/sign-out-everywhere">
                <button type="submit">"Sign out everywhere"</button>
            </form>
        </section>
    }
}
