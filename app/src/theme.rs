//! The colour theme: the system's light or dark preference, or a person's own choice
//! kept in a cookie (`triage_theme`). The server reads the cookie and renders the page
//! in the chosen theme from its first byte (`<html data-theme>`), so no page flashes
//! the other one; the stylesheet does the rest (`light-dark()` in style/base.css).

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    /// Follows the system's preference.
    System,
    Light,
    Dark,
}

impl Theme {
    pub const COOKIE: &'static str = "triage_theme";

    pub fn as_str(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    /// Anything unknown is the system's preference.
    pub fn parse(text: &str) -> Theme {
        match text.trim() {
            "light" => Theme::Light,
            "dark" => Theme::Dark,
            _ => Theme::System,
        }
    }

    /// What the button switches to: system, light, dark, and round again.
    pub fn next(self) -> Theme {
        match self {
            Theme::System => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::System,
        }
    }

    /// The button's symbol and word.
    fn label(self) -> (&'static str, &'static str) {
        match self {
            Theme::System => ("◐", "auto"),
            Theme::Light => ("☀", "light"),
            Theme::Dark => ("☾", "dark"),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Theme::System => "follows your system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    /// The theme a `Cookie` header names.
    pub fn from_cookie_header(header: &str) -> Theme {
        crate::cookies::in_header(header, Theme::COOKIE)
            .map(|value| Theme::parse(&value))
            .unwrap_or(Theme::System)
    }
}

/// The theme of the request being rendered (on the server), or of the page the
/// browser shows (after hydration: what the server put on `<html>`).
pub fn current() -> Theme {
    #[cfg(feature = "ssr")]
    let chosen = crate::cookies::of_request(Theme::COOKIE);
    #[cfg(not(feature = "ssr"))]
    let chosen = crate::cookies::page_attribute("data-theme");
    chosen.map(|t| Theme::parse(&t)).unwrap_or(Theme::System)
}

/// The top bar's theme button: one click goes to the next theme, at once, and the
/// choice is remembered for a year in this browser.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let theme = RwSignal::new(current());
    let choose = move |_| {
        let next = theme.get_untracked().next();
        theme.set(next);
        #[cfg(feature = "hydrate")]
        {
            if let Some(root) = document().document_element() {
                let _ = root.set_attribute("data-theme", next.as_str());
            }
            crate::cookies::remember(Theme::COOKIE, next.as_str());
        }
    };
    view! {
        <button
            type="button"
            class="theme-toggle"
            on:click=choose
            title=move || {
                format!(
                    "Colour theme: {}. Click for {}.",
                    theme.get().describe(),
                    theme.get().next().describe(),
                )
            }
        >
            <span aria-hidden="true">{move || theme.get().label().0}</span>
            " Theme: "
            {move || theme.get().label().1}
        </button>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_names_the_theme_and_anything_else_follows_the_system() {
        assert_eq!(
            Theme::from_cookie_header("a=1; triage_theme=dark; b=2"),
            Theme::Dark
        );
        assert_eq!(
            Theme::from_cookie_header("triage_theme=light"),
            Theme::Light
        );
        assert_eq!(
            Theme::from_cookie_header("triage_theme=purple"),
            Theme::System
        );
        assert_eq!(Theme::from_cookie_header("other_theme=dark"), Theme::System);
        assert_eq!(Theme::from_cookie_header(""), Theme::System);
    }

    #[test]
    fn the_button_goes_round_the_three_themes() {
        let mut theme = Theme::System;
        let mut seen = vec![];
        for _ in 0..3 {
            theme = theme.next();
            seen.push(theme);
        }
        assert_eq!(seen, [Theme::Light, Theme::Dark, Theme::System]);
        for t in seen {
            assert_eq!(Theme::parse(t.as_str()), t);
        }
    }
}
