//! The line under a form that says how its last submission went, announced to
//! screen readers (`role="status"`).

use leptos::prelude::*;

use crate::format::server_message;

/// The latest outcome `value` gives: the server's message, or its error in red.
pub fn action_outcome(
    value: impl Fn() -> Option<Result<String, ServerFnError>> + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div role="status" aria-live="polite" class="action-outcome">
            {move || value().map(|r| match r {
                Ok(message) => view! { <p class="form-ok">{message}</p> }.into_any(),
                Err(e) => view! { <p class="form-error">{server_message(&e)}</p> }.into_any(),
            })}
        </div>
    }
}
