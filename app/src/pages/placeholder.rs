use leptos::prelude::*;
use leptos_meta::Title;

/// A section whose page is not built yet. It says so plainly, with the issue that
/// builds it, rather than pretending.
#[component]
pub fn Unbuilt(title: &'static str, issue: u32) -> impl IntoView {
    view! {
        <Title text=title />
        <h1>{title}</h1>
        <p class="page-message">
            "This section is not built yet (issue #" {issue} "). Its place in the navigation and its access rules are."
        </p>
    }
}
