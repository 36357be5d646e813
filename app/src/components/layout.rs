use leptos::prelude::*;
use leptos_router::components::{A, Outlet};

use crate::auth::signed_in_user;
use crate::components::shortcuts::ShortcutHelp;
use crate::nav::SECTIONS;
use crate::theme::ThemeToggle;
use crate::zone::ZoneNote;

/// The frame around every signed-in page: navigation by role, who is signed in,
/// sign-out, the time zone of the page's times and the colour theme. (The server already refused the page to anyone not allowed to see it.)
#[component]
pub fn Layout() -> impl IntoView {
    let me = Resource::new(|| (), |_| signed_in_user());
    view! {
        <a class="skip-link" href="#main">
            "Skip to content"
        </a>
        <header class="topbar">
            <a class="brand" href="/">
                "Triage"
            </a>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(user)) => {
                            let links = SECTIONS
                                .iter()
                                .filter(|s| user.role.allows(s.role))
                                .map(|s| {
                                    view! {
                                        <li>
                                            <A href=s.path exact=true>
                                                {s.label}
                                            </A>
                                        </li>
                                    }
                                })
                                .collect_view();
                            view! {
                                <nav aria-label="Sections">
                                    <ul class="nav">{links}</ul>
                                </nav>
                                <div class="whoami">
                                    <a
                                        href="/account"
                                        title=format!("{} · your account", user.username)
                                    >
                                        {user.display_name.clone()}
                                    </a>
                                    <span class="role-badge">{user.role.as_str()}</span>
                                    <form method="post" action="/logout">
                                        <button type="submit" class="link-button">
                                            "Sign out"
                                        </button>
                                    </form>
                                </div>
                            }
                                .into_any()
                        }
                        _ => view! { <a href="/login">"Sign in"</a> }.into_any(),
                    }
                })}
            </Suspense>
            <ZoneNote />
            <ThemeToggle />
        </header>
        <main id="main" class="page">
            <Outlet />
        </main>
        <ShortcutHelp />
    }
}
