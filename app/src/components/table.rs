//! Pieces every table of the app shares.

use leptos::prelude::*;

/// A table's column headings, each a `<th scope="col">` (an empty one heads a column
/// of buttons).
#[component]
pub fn TableHead(columns: &'static [&'static str]) -> impl IntoView {
    view! {
        <thead>
            <tr>{columns.iter().map(|c| view! { <th scope="col">{*c}</th> }).collect_view()}</tr>
        </thead>
    }
}
