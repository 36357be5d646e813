use domain::wire::{CategoryView, QueuePage};
use leptos::ev;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::format;

/// What the queue page needs in one round trip: a page of rows and the categories
/// for the filter.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QueueView {
    pub page: QueuePage,
    pub categories: Vec<CategoryView>,
}

#[server(prefix = "/rpc", endpoint = "queue")]
pub async fn load_queue(
    status: Option<String>,
    category: Option<String>,
    cursor: Option<String>,
) -> Result<QueueView, ServerFnError> {
    use crate::auth::{db, internal, require_role};
    require_role(domain::role::Role::Agent)?;
    let db = db()?;
    let filter = domain::emails::QueueFilter {
        status: status.filter(|s| !s.is_empty()),
        category: category.filter(|s| !s.is_empty()),
        cursor: cursor.filter(|s| !s.is_empty()),
        limit: 50,
    };
    let page = domain::emails::queue(&db, &filter)
        .await
        .map_err(internal)?;
    let categories = domain::categories::list(&db).await.map_err(internal)?;
    Ok(QueueView { page, categories })
}

/// The queue: newest mail first, filterable; `j`/`k` move the selection.
#[component]
pub fn QueuePage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.with(|q| q.get(name).filter(|v| !v.is_empty()));
    let queue = Resource::new(
        move || (param("status"), param("category"), param("cursor")),
        |(status, category, cursor)| load_queue(status, category, cursor),
    );
    let selected = RwSignal::new(0usize);
    // The current filter, carried into the "older" link.
    let filter_query = move || {
        ["status", "category"]
            .iter()
            .filter_map(|k| param(k).map(|v| format!("{k}={v}&")))
            .collect::<String>()
    };
    let row_count = move || {
        queue
            .get()
            .and_then(Result::ok)
            .map_or(0, |v| v.page.rows.len())
    };

    Effect::new(move |_| {
        let handle = window_event_listener(ev::keydown, move |e| {
            let typing = document()
                .active_element()
                .map(|el| matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"))
                .unwrap_or(false);
            if typing || e.ctrl_key() || e.meta_key() || e.alt_key() {
                return;
            }
            let last = row_count().saturating_sub(1);
            match e.key().as_str() {
                "j" | "ArrowDown" => selected.update(|i| *i = (*i + 1).min(last)),
                "k" | "ArrowUp" => selected.update(|i| *i = i.saturating_sub(1)),
                _ => return,
            }
            e.prevent_default();
        });
        on_cleanup(move || handle.remove());
    });

    // New mail appears without a reload: the server says when something arrived and
    // the first page is fetched again (later pages stay put while someone reads them).
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;
        let Ok(source) = web_sys::EventSource::new("/events/emails") else {
            return;
        };
        let on_new = Closure::<dyn Fn(web_sys::Event)>::new(move |_| {
            if query.with_untracked(|q| q.get("cursor").is_none()) {
                queue.refetch();
            }
        });
        let _ = source.add_event_listener_with_callback("emails", on_new.as_ref().unchecked_ref());
        let held = send_wrapper::SendWrapper::new((source, on_new));
        on_cleanup(move || held.0.close());
    });

    view! {
        <Title text="Queue" />
        <div class="page-head">
            <h1>"Queue"</h1>
            <p class="hint" aria-hidden="true"><kbd>"j"</kbd>" / "<kbd>"k"</kbd>" move"</p>
        </div>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match queue.await {
                    Ok(view) => view! {
                        <Filters categories=view.categories status=param("status") category=param("category") />
                        <QueueTable page=view.page selected=selected keep=filter_query() />
                    }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A plain GET form: the filter lives in the URL, so a view can be bookmarked, and it
/// works without JavaScript.
#[component]
fn Filters(
    categories: Vec<CategoryView>,
    status: Option<String>,
    category: Option<String>,
) -> impl IntoView {
    let status = status.unwrap_or_default();
    let category = category.unwrap_or_default();
    view! {
        <form method="get" action="/" class="filters" aria-label="Filter the queue">
            <label>"Status "
                <select name="status">
                    <option value="" selected=status.is_empty()>"any"</option>
                    {domain_statuses().into_iter().map(|s| view! {
                        <option value=s selected=status == s>{s}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Category "
                <select name="category">
                    <option value="" selected=category.is_empty()>"any"</option>
                    {categories.into_iter().map(|c| {
                        let is = category == c.name;
                        view! { <option value=c.name.clone() selected=is>{format::category(&c.name)}</option> }
                    }).collect_view()}
                </select>
            </label>
            <button type="submit">"Apply"</button>
        </form>
    }
}

fn domain_statuses() -> [&'static str; 4] {
    ["new", "triaged", "replied", "archived"]
}

#[component]
fn QueueTable(page: QueuePage, selected: RwSignal<usize>, keep: String) -> impl IntoView {
    if page.rows.is_empty() {
        return view! { <p class="page-message">"No emails match this view."</p> }.into_any();
    }
    let next = page.next_cursor.clone();
    let rows = page
        .rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let category = row.label.clone().or(row.predicted.clone());
            let color = row.color.clone().unwrap_or_default();
            view! {
                <tr
                    class:selected=move || selected.get() == i
                    aria-selected=move || (selected.get() == i).to_string()
                    on:click=move |_| selected.set(i)
                    data-email-id=row.id
                >
                    <td class="when">{format::timestamp(row.received_at)}</td>
                    <td class="from" title=row.from_address.clone()>
                        {if row.from_name.is_empty() { row.from_address.clone() } else { row.from_name.clone() }}
                    </td>
                    <td class="subject">
                        <a class="subject-text" href=format!("/emails/{}", row.id)>{row.subject.clone()}</a>
                        <span class="snippet">{row.snippet.clone()}</span>
                    </td>
                    <td class="category">
                        {category.map(|c| view! {
                            <span class="badge" style=format!("--badge: {color}")>{format::category(&c)}</span>
                        })}
                    </td>
                    <td class="confidence">
                        {row.confidence.map(|p| view! {
                            <span class="bar" aria-hidden="true"><span style=format!("width: {:.0}%", p * 100.0)></span></span>
                            <span class="pct">{format::percent(p)}</span>
                        })}
                    </td>
                    <td class="status"><span class=format!("status status-{}", row.status)>{row.status.clone()}</span></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="queue" aria-label="Emails">
            <thead>
                <tr>
                    <th scope="col">"Received (UTC)"</th>
                    <th scope="col">"From"</th>
                    <th scope="col">"Subject"</th>
                    <th scope="col">"Category"</th>
                    <th scope="col">"Confidence"</th>
                    <th scope="col">"Status"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        {next.map(|cursor| view! {
            <nav class="pager" aria-label="Pages"><a href=format!("?{keep}cursor={cursor}") rel="next">"Older →"</a></nav>
        })}
    }
    .into_any()
}
