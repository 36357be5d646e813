//! The keyboard shortcuts, listed in one place: `?` opens this list on every page.

use leptos::ev;
use leptos::prelude::*;

/// (keys, what they do), grouped as the help shows them.
pub const SHORTCUTS: [(&str, &[(&str, &str)]); 3] = [
    (
        "Queue",
        &[
            ("j / k", "next / previous email"),
            ("Enter", "open the email"),
            ("x", "select the email for a bulk action"),
            ("/", "search"),
        ],
    ),
    (
        "Decide (queue and email)",
        &[
            ("a", "accept the predicted category"),
            (
                "1–9",
                "label with a category (numbers shown under the list)",
            ),
            ("c", "correct: type to filter the categories"),
            ("r", "reply with a suggestion"),
            ("e", "archive"),
            ("z", "undo the last label"),
        ],
    ),
    (
        "Anywhere",
        &[
            ("Esc", "back to the queue / close"),
            ("?", "show or hide this list"),
        ],
    ),
];

/// The help overlay, opened with `?` and closed with `?`, Esc or its button.
#[component]
pub fn ShortcutHelp() -> impl IntoView {
    let open = RwSignal::new(false);
    Effect::new(move |_| {
        let handle = window_event_listener(ev::keydown, move |e| {
            if crate::actions::typing_in_field() {
                return;
            }
            match e.key().as_str() {
                "?" => open.update(|o| *o = !*o),
                "Escape" if open.get_untracked() => open.set(false),
                _ => return,
            }
            e.prevent_default();
            e.stop_immediate_propagation();
        });
        on_cleanup(move || handle.remove());
    });
    view! {
        <Show when=move || open.get()>
            <div class="overlay" on:click=move |_| open.set(false)>
                <section class="shortcut-help" role="dialog" aria-modal="true" aria-labelledby="shortcut-title"
                    on:click=|e| e.stop_propagation()>
                    <h2 id="shortcut-title">"Keyboard shortcuts"</h2>
                    {SHORTCUTS.iter().map(|(group, keys)| view! {
                        <h3>{*group}</h3>
                        <dl>
                            {keys.iter().map(|(k, what)| view! { <dt><kbd>{*k}</kbd></dt><dd>{*what}</dd> }).collect_view()}
                        </dl>
                    }).collect_view()}
                    <button type="button" on:click=move |_| open.set(false) autofocus=true>"Close"</button>
                </section>
            </div>
        </Show>
    }
}
