//! The keyboard shortcuts' help: `?` opens the list on every page, drawn from the
//! one keymap (`components::decide::KEYMAP`).

use leptos::ev;
use leptos::prelude::*;

use super::decide::{KEYMAP, Scope};

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
                <section
                    class="shortcut-help"
                    role="dialog"
                    aria-modal="true"
                    aria-labelledby="shortcut-title"
                    on:click=|e| e.stop_propagation()
                >
                    <h2 id="shortcut-title">"Keyboard shortcuts"</h2>
                    {Scope::ALL
                        .iter()
                        .map(|scope| {
                            view! {
                                <h3>{scope.title()}</h3>
                                <dl>
                                    {KEYMAP
                                        .iter()
                                        .filter(|b| b.scope == *scope)
                                        .map(|b| {
                                            view! {
                                                <dt>
                                                    <kbd>{b.shown}</kbd>
                                                </dt>
                                                <dd>{b.does}</dd>
                                            }
                                        })
                                        .collect_view()}
                                </dl>
                            }
                        })
                        .collect_view()}
                    <button type="button" on:click=move |_| open.set(false) autofocus=true>
                        "Close"
                    </button>
                </section>
            </div>
        </Show>
    }
}
