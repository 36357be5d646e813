//! Deciding an email's category, the same way in the queue and on the email's page:
//! one keymap (the `?` help is drawn from it), one [`Decider`] that labels, undoes and
//! archives, and one line that says what happened, with its Undo.

use domain::wire::{CategoryView, EmailStatus, LabelOutcome, LabelSource};
use leptos::ev;
use leptos::prelude::*;

use crate::actions::{LabelEmail, SetEmailStatus, UndoLabel, now_ms, typing_in_field};
use crate::format;

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Next,
    Previous,
    Open,
    Select,
    Search,
    Accept,
    /// Label with the category at this place in the list (0 for key `1`).
    Label(usize),
    Correct,
    Reply,
    Archive,
    Undo,
    Back,
}

/// Where a shortcut works, as the help groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Queue,
    Decide,
    Anywhere,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Queue, Scope::Decide, Scope::Anywhere];

    pub fn title(self) -> &'static str {
        match self {
            Scope::Queue => "Queue",
            Scope::Decide => "Decide (queue and email)",
            Scope::Anywhere => "Anywhere",
        }
    }
}

/// A shortcut: the keys that give it, as shown and as `KeyboardEvent.key` names them.
pub struct Binding {
    pub shown: &'static str,
    pub keys: &'static [&'static str],
    pub does: &'static str,
    pub scope: Scope,
    /// `None` for the keys the help overlay handles itself (`?`).
    pub command: Option<Command>,
}

const DIGITS: [&str; 9] = ["1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Every shortcut. The key handlers and the `?` help both read this table.
pub const KEYMAP: &[Binding] = &[
    Binding {
        shown: "j / ↓",
        keys: &["j", "ArrowDown"],
        does: "next email",
        scope: Scope::Queue,
        command: Some(Command::Next),
    },
    Binding {
        shown: "k / ↑",
        keys: &["k", "ArrowUp"],
        does: "previous email",
        scope: Scope::Queue,
        command: Some(Command::Previous),
    },
    Binding {
        shown: "Enter",
        keys: &["Enter", "o"],
        does: "open the email",
        scope: Scope::Queue,
        command: Some(Command::Open),
    },
    Binding {
        shown: "x",
        keys: &["x"],
        does: "select the email for a bulk action",
        scope: Scope::Queue,
        command: Some(Command::Select),
    },
    Binding {
        shown: "/",
        keys: &["/"],
        does: "search",
        scope: Scope::Queue,
        command: Some(Command::Search),
    },
    Binding {
        shown: "a",
        keys: &["a"],
        does: "accept the predicted category",
        scope: Scope::Decide,
        command: Some(Command::Accept),
    },
    Binding {
        shown: "1–9",
        keys: &DIGITS,
        does: "label with a category (numbers shown beside the categories)",
        scope: Scope::Decide,
        command: Some(Command::Label(0)),
    },
    Binding {
        shown: "c",
        keys: &["c"],
        does: "correct: type to filter the categories",
        scope: Scope::Decide,
        command: Some(Command::Correct),
    },
    Binding {
        shown: "r",
        keys: &["r"],
        does: "reply with a suggestion",
        scope: Scope::Decide,
        command: Some(Command::Reply),
    },
    Binding {
        shown: "e",
        keys: &["e"],
        does: "archive",
        scope: Scope::Decide,
        command: Some(Command::Archive),
    },
    Binding {
        shown: "z",
        keys: &["z"],
        does: "undo the last label",
        scope: Scope::Decide,
        command: Some(Command::Undo),
    },
    Binding {
        shown: "Esc",
        keys: &["Escape"],
        does: "back to the queue / close",
        scope: Scope::Anywhere,
        command: Some(Command::Back),
    },
    Binding {
        shown: "?",
        keys: &["?"],
        does: "show or hide this list",
        scope: Scope::Anywhere,
        command: None,
    },
];

/// The command a key gives, if any.
pub fn command_for(key: &str) -> Option<Command> {
    let binding = KEYMAP.iter().find(|b| b.keys.contains(&key))?;
    match binding.command? {
        Command::Label(_) => Some(Command::Label(DIGITS.iter().position(|d| *d == key)?)),
        command => Some(command),
    }
}

/// The email a decision is about, as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub email_id: i64,
    /// The model's category, if it was scored.
    pub predicted: Option<String>,
    /// The label the person sees (sent back, so a label given meanwhile is noticed).
    pub label_id: Option<i64>,
}

/// What the last decision did, with the label it may undo.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
    pub undo: Option<i64>,
}

impl Notice {
    pub fn ok(text: impl Into<String>) -> Notice {
        Notice {
            text: text.into(),
            error: false,
            undo: None,
        }
    }

    pub fn failed(text: impl Into<String>) -> Notice {
        Notice {
            text: text.into(),
            error: true,
            undo: None,
        }
    }
}

/// What a label did, in words.
pub fn labelled_text(outcome: &LabelOutcome) -> String {
    let category = format::category(&outcome.category);
    match (&outcome.conflict, outcome.source) {
        (Some(c), _) => format!(
            "Labelled {category}. {} had labelled it {} meanwhile; both labels are kept and yours is current.",
            c.by,
            format::category(&c.category)
        ),
        (None, LabelSource::Accepted) => format!("Accepted {category}."),
        (None, _) => format!("Corrected to {category}."),
    }
}

/// Labels, undoes and archives, and keeps the line that says what happened. Copy:
/// handlers take it by value.
#[derive(Clone, Copy)]
pub struct Decider {
    label: ServerAction<LabelEmail>,
    undo: ServerAction<UndoLabel>,
    status: ServerAction<SetEmailStatus>,
    pub notice: RwSignal<Option<Notice>>,
    /// When the person started looking at the current email (ms).
    since: StoredValue<f64>,
}

impl Decider {
    /// `labelled` runs after each label (the page shows it), `changed` after an undo
    /// or a status change (the page reads the email again).
    pub fn new(
        labelled: impl Fn(&LabelOutcome) + Send + Sync + 'static,
        changed: impl Fn(i64, EmailStatus) + Send + Sync + 'static,
        undone: impl Fn() + Send + Sync + 'static,
    ) -> Decider {
        let decider = Decider {
            label: ServerAction::new(),
            undo: ServerAction::new(),
            status: ServerAction::new(),
            notice: RwSignal::new(None),
            since: StoredValue::new(now_ms()),
        };
        let notice = decider.notice;
        Effect::new(move |_| match decider.label.value().get() {
            Some(Ok(outcome)) => {
                labelled(&outcome);
                notice.set(Some(Notice {
                    text: labelled_text(&outcome),
                    error: outcome.conflict.is_some(),
                    undo: Some(outcome.label_id),
                }));
            }
            Some(Err(e)) => notice.set(Some(Notice::failed(e.to_string()))),
            None => {}
        });
        Effect::new(move |_| match decider.undo.value().get() {
            Some(Ok(_)) => {
                // The label given last no longer stands.
                decider.label.value().set(None);
                notice.set(Some(Notice::ok("Label undone.")));
                undone();
            }
            Some(Err(e)) => notice.set(Some(Notice::failed(e.to_string()))),
            None => {}
        });
        Effect::new(move |_| match decider.status.value().get() {
            Some(Ok((id, status))) => {
                notice.set(Some(Notice::ok(format!("Email {status}."))));
                changed(id, status);
            }
            Some(Err(e)) => notice.set(Some(Notice::failed(e.to_string()))),
            None => {}
        });
        decider
    }

    /// The label a person sees on `email_id`: the one they gave through this decider
    /// (and did not undo), else `drawn`, the one the page showed.
    pub fn seen_label(&self, email_id: i64, drawn: Option<i64>) -> Option<i64> {
        match self.label.value().get_untracked() {
            Some(Ok(outcome)) if outcome.email_id == email_id => Some(outcome.label_id),
            _ => drawn,
        }
    }

    /// The person starts looking at another email: the time spent counts from now.
    pub fn looking_at_next(&self) {
        self.since.set_value(now_ms());
    }

    /// Labels `target` with `category`, with the seconds spent on it.
    pub fn decide(&self, target: &Target, category: String) {
        let seconds = (now_ms() - self.since.get_value()) / 1000.0;
        self.label.dispatch(LabelEmail {
            email_id: target.email_id,
            category,
            seen_label_id: target.label_id,
            seconds_spent: (seconds > 0.0).then_some(seconds),
        });
    }

    /// Carries out a decision command on `target`; false when it was none, or
    /// could not be done (the line says why).
    pub fn run(&self, command: Command, target: &Target, categories: &[CategoryView]) -> bool {
        match command {
            Command::Accept => match target.predicted.clone() {
                Some(category) => self.decide(target, category),
                None => {
                    self.notice.set(Some(Notice::failed(
                        "Not scored yet: nothing to accept. Pick a category with 1–9.",
                    )));
                    return false;
                }
            },
            Command::Label(n) => match categories.get(n) {
                Some(c) => self.decide(target, c.name.clone()),
                None => return false,
            },
            Command::Archive => {
                self.status.dispatch(SetEmailStatus {
                    email_id: target.email_id,
                    status: EmailStatus::Archived,
                });
            }
            Command::Undo => self.undo_last(),
            _ => return false,
        }
        true
    }

    /// Takes back the last label, while the line still offers it.
    pub fn undo_last(&self) {
        if let Some(Notice { undo: Some(id), .. }) = self.notice.get_untracked() {
            self.undo.dispatch(UndoLabel { label_id: id });
        }
    }
}

/// The one keyboard handler of a page that decides: each key's command goes to
/// `handle`, which says whether it did something (then the key does nothing else).
/// Keys typed into a field, or with Ctrl, Alt or ⌘, are left alone; Esc in a field
/// leaves the field.
pub fn use_keymap(handle: impl Fn(Command) -> bool + Clone + 'static) {
    Effect::new(move |_| {
        let handle = handle.clone();
        let listener = window_event_listener(ev::keydown, move |e| {
            if e.ctrl_key() || e.meta_key() || e.alt_key() {
                return;
            }
            let key = e.key();
            if typing_in_field() {
                if key == "Escape"
                    && let Some(el) = document().active_element()
                {
                    use leptos::wasm_bindgen::JsCast;
                    if let Ok(el) = el.dyn_into::<leptos::web_sys::HtmlElement>() {
                        let _ = el.blur();
                    }
                }
                return;
            }
            if let Some(command) = command_for(&key)
                && handle(command)
            {
                e.prevent_default();
            }
        });
        on_cleanup(move || listener.remove());
    });
}

/// The line that says what the last decision did, with its Undo while it lasts.
#[component]
pub fn DecisionNotice(decider: Decider) -> impl IntoView {
    view! {
        <div class="notice" role="status" aria-live="polite">
            {move || {
                decider
                    .notice
                    .get()
                    .map(|n| {
                        view! {
                            <p class=if n.error {
                                "form-error"
                            } else {
                                "form-ok"
                            }>
                                {n.text}
                                {n
                                    .undo
                                    .map(|_| {
                                        view! {
                                            " "
                                            <button
                                                type="button"
                                                class="link"
                                                on:click=move |_| decider.undo_last()
                                            >
                                                "Undo (z)"
                                            </button>
                                        }
                                    })}
                            </p>
                        }
                    })
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_the_help_gives_its_command() {
        assert_eq!(command_for("j"), Some(Command::Next));
        assert_eq!(command_for("ArrowUp"), Some(Command::Previous));
        assert_eq!(command_for("1"), Some(Command::Label(0)));
        assert_eq!(command_for("9"), Some(Command::Label(8)));
        assert_eq!(command_for("a"), Some(Command::Accept));
        assert_eq!(command_for("?"), None, "the help handles ? itself");
        assert_eq!(command_for("q"), None);
        for binding in KEYMAP {
            for key in binding.keys {
                assert_eq!(
                    command_for(key).map(|c| std::mem::discriminant(&c)),
                    binding.command.map(|c| std::mem::discriminant(&c)),
                    "{key}"
                );
            }
        }
    }

    #[test]
    fn no_key_does_two_things() {
        let mut seen = std::collections::HashSet::new();
        for key in KEYMAP.iter().flat_map(|b| b.keys) {
            assert!(seen.insert(*key), "{key} is bound twice");
        }
    }
}
