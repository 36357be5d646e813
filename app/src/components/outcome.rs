//! The line under a form that says how its last submission went, announced to
//! screen readers (`role="status"`).

use leptos::prelude::*;

use crate::error::AppError;

/// The latest outcome `value` gives: the server's message, or its error in red.
pub fn action_outcome(
    value: impl Fn() -> Option<Result<String, AppError>> + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div role="status" aria-live="polite" class="action-outcome">
            {move || {
                value()
                    .map(|r| match r {
                        Ok(message) => view! { <p class="form-ok">{message}</p> }.into_any(),
                        Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                    })
            }}
        </div>
    }
}

/// A key that moves whenever one of these actions (their `version()`s) completes:
/// a page's resource keyed on it is read again after each, so the page shows what
/// the action changed.
pub fn after_actions<const N: usize>(
    versions: [RwSignal<usize>; N],
) -> impl Fn() -> usize + Clone + Send + Sync + 'static {
    move || versions.iter().map(|v| v.get()).sum()
}
