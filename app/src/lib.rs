//! Triage's user interface: pages, components and the server functions they call.
//! Server-only code sits behind the `ssr` feature; the browser build uses `hydrate`.

pub mod actions;
pub mod auth;
pub mod components;
pub mod cookies;
pub mod error;
pub mod format;
pub mod nav;
pub mod pages;
pub mod theme;
pub mod zone;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::components::layout::Layout;
use crate::pages::{
    account, admin, analytics, email, import, jobs, login, mailboxes, models, queue, templates,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en" data-theme=theme::current().as_str() data-tz=zone::ViewerZone::of_page().0>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The Content-Security-Policy of a page: scripts only from Triage itself or inline
/// with this response's nonce (the one Leptos puts on its hydration script), the
/// WebAssembly bundle, styles from the stylesheet (inline `style` attributes only,
/// for bar widths and badge colours; no `<style>` element), and frames only from
/// Triage itself (the sandboxed mail frame). `cargo leptos watch` reloads over a
/// WebSocket on another port, so its policy allows `ws:` too.
pub fn page_policy(nonce: &str, watching: bool) -> String {
    let reload = if watching { " ws:" } else { "" };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'{reload}; frame-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(feature = "ssr")]
fn set_page_policy() {
    use http::{HeaderValue, header::CONTENT_SECURITY_POLICY};
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let watching = std::env::var_os("LEPTOS_WATCH").is_some();
    if let Ok(value) = HeaderValue::from_str(&page_policy(&nonce, watching)) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_context(zone::ViewerZone::of_page());
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| zone::tell_the_server());
    // Tells end-to-end tests (and anyone curious) that the page is interactive.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    // Async rendering: every page arrives complete, so it reads without JavaScript.
    view! {
        <Stylesheet id="leptos" href="/pkg/triage.css" />
        <Title formatter=|page: String| {
            if page.is_empty() { "Triage".to_string() } else { format!("{page} · Triage") }
        } />
        <Router>
            <Routes fallback=|| view! { <p class="page-message">"This page does not exist."</p> }>
                <Route path=path!("/login") view=login::LoginPage ssr=SsrMode::Async />
                <ParentRoute path=path!("") view=Layout ssr=SsrMode::Async>
                    <Route path=path!("") view=queue::QueuePage ssr=SsrMode::Async />
                    <Route path=path!("account") view=account::AccountPage ssr=SsrMode::Async />
                    <Route path=path!("review") view=queue::ReviewPage ssr=SsrMode::Async />
                    <Route
                        path=path!("templates")
                        view=templates::TemplatesPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=path!("analytics")
                        view=analytics::AnalyticsPage
                        ssr=SsrMode::Async
                    />
                    <Route path=path!("import") view=import::ImportPage ssr=SsrMode::Async />
                    <Route path=path!("jobs") view=jobs::JobsPage ssr=SsrMode::Async />
                    <Route path=path!("models") view=models::ModelsPage ssr=SsrMode::Async />
                    <Route path=path!("emails/:id") view=email::EmailPage ssr=SsrMode::Async />
                    <Route path=path!("admin") view=admin::AdminPage ssr=SsrMode::Async />
                    <Route
                        path=path!("admin/mailboxes")
                        view=mailboxes::MailboxesPage
                        ssr=SsrMode::Async
                    />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
