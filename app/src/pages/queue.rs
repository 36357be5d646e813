//! The queue and the review view: the agents' day. A filter that lives in the URL,
//! full-text search, keyset pages, live arrival of new mail, and the keyboard: j/k
//! move, a accepts, 1–9 pick a category, e archives, x selects, z undoes; selected
//! rows (or the whole view) take bulk actions.

use domain::wire::{
    BulkAction, CategoryView, EmailStatus, LabelOutcome, QueuePage, QueueQuery, QueueRow,
};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use serde::{Deserialize, Serialize};

use crate::actions::{BulkApply, bulk_count, focus_by_id};
use crate::components::decide::{Command, Decider, DecisionNotice, Notice, Target, use_keymap};
use crate::error::AppError;
use crate::format;

/// What the queue page needs in one round trip.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QueueView {
    pub page: QueuePage,
    /// Active categories by name: `1`–`9` pick the first nine.
    pub categories: Vec<CategoryView>,
    /// People an email can be assigned to: (id, name).
    pub people: Vec<(i64, String)>,
}

#[server(prefix = "/rpc", endpoint = "queue", input = Json)]
pub async fn load_queue(query: QueueQuery) -> Result<QueueView, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Agent)?;
    let filter = domain::queue::QueueFilter::parse(&db, &query, Some(user.id), 50).await?;
    let page = domain::queue::page(&db, &filter).await?;
    let categories = domain::categories::list(&db).await?;
    let people = domain::users::list(&db)
        .await?
        .into_iter()
        .filter(|u| u.active)
        .map(|u| (u.id, u.display_name))
        .collect();
    Ok(QueueView {
        page,
        categories,
        people,
    })
}

/// The review view: untriaged mail, the model's least sure predictions first, so
/// staff labels go where they teach the model most.
#[component]
pub fn ReviewPage() -> impl IntoView {
    view! { <Queue review=true /> }
}

#[component]
pub fn QueuePage() -> impl IntoView {
    view! { <Queue review=false /> }
}

#[component]
fn Queue(review: bool) -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        let mut q = QueueQuery::from_params(|k| params.with(|p| p.get(k)));
        if review {
            q.status.get_or_insert_with(|| EmailStatus::New.to_string());
            q.sort.get_or_insert_with(|| "least_confident".into());
        }
        q
    });
    let queue = Resource::new(move || query.get(), load_queue);

    // New mail appears without a reload: the server says when something arrived, the
    // first page is fetched again and the emails not shown yet are added on top. The
    // rows on screen keep their state and the selection stays on the same email. Only
    // in newest-first order: on top of another order (the review's least sure first)
    // new mail would sit out of place.
    let arrivals = RwSignal::new(Vec::<QueueRow>::new());
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;
        let Ok(source) = web_sys::EventSource::new("/events/emails") else {
            return;
        };
        let on_new = Closure::<dyn Fn(web_sys::Event)>::new(move |_| {
            let current = query.get_untracked();
            let newest_first = current
                .sort
                .as_deref()
                .is_none_or(|s| s.is_empty() || s == "newest");
            if newest_first && params.with_untracked(|q| q.get("cursor").is_none()) {
                leptos::task::spawn_local(async move {
                    if let Ok(view) = load_queue(current).await {
                        arrivals.set(view.page.rows);
                    }
                });
            }
        });
        let _ = source.add_event_listener_with_callback("emails", on_new.as_ref().unchecked_ref());
        let held = send_wrapper::SendWrapper::new((source, on_new));
        on_cleanup(move || held.0.close());
    });

    let (title, action) = if review {
        ("Review", "/review")
    } else {
        ("Queue", "/")
    };
    // Decisions live here, above the table, so what they say outlives the reload an
    // undo causes; the table applies each change to its rows.
    let change = RwSignal::new(None::<RowChange>);
    let decider = Decider::new(
        move |outcome| change.set(Some(RowChange::Labelled(outcome.clone()))),
        move |id, status| change.set(Some(RowChange::Status(id, status))),
        move || queue.refetch(),
    );
    view! {
        <Title text=title />
        <div class="page-head">
            {if review {
                view! { <h1>"Review"</h1> }.into_any()
            } else {
                view! { <h1>"Queue"</h1> }.into_any()
            }}
            {review
                .then(|| {
                    view! {
                        <p class="hint">
                            "Untriaged mail, the model's least sure predictions first."
                        </p>
                    }
                })} <p class="hint shortcut-hint">
                <kbd>"?"</kbd>
                " shortcuts"
            </p>
        </div>
        <DecisionNotice decider />
        <Transition fallback=|| {
            view! { <p>"Loading…"</p> }
        }>
            {move || Suspend::new(async move {
                let current = query.get_untracked();
                match queue.await {
                    Ok(view) => {
                        view! {
                            <Filters
                                query=current.clone()
                                categories=view.categories.clone()
                                action
                            />
                            <Workspace
                                view
                                query=current
                                arrivals
                                decider
                                change
                                reload=Callback::new(move |_| queue.refetch())
                            />
                        }
                            .into_any()
                    }
                    Err(e) => {
                        view! {
                            <Filters query=current categories=Vec::new() action />
                            <p class="form-error" role="alert">
                                {e.to_string()}
                            </p>
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// A plain GET form: the filter lives in the URL, so a view can be bookmarked and
/// shared, and it works without JavaScript.
#[component]
fn Filters(
    query: QueueQuery,
    categories: Vec<CategoryView>,
    action: &'static str,
) -> impl IntoView {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let QueueQuery {
        status,
        category,
        q,
        confidence,
        from,
        to,
        assignee,
        model,
        sort,
        ..
    } = query;
    let (status, category, confidence, sort, assignee) = (
        value(&status),
        value(&category),
        value(&confidence),
        value(&sort),
        value(&assignee),
    );
    let more_open = from.is_some() || to.is_some() || model.is_some() || !assignee.is_empty();
    let select = move |name: &'static str,
                       label: &'static str,
                       current: String,
                       options: Vec<(String, String)>| {
        view! {
            <label>
                {label} " "
                <select name=name>
                    {options
                        .into_iter()
                        .map(|(v, text)| {
                            let is = current == v;
                            view! {
                                <option value=v selected=is>
                                    {text}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
        }
    };
    let pairs = |list: &[(&str, &str)]| {
        list.iter()
            .map(|(v, t)| (v.to_string(), t.to_string()))
            .collect::<Vec<_>>()
    };
    let mut status_options = pairs(&[("", "any")]);
    status_options.extend(
        EmailStatus::ALL
            .iter()
            .map(|s| (s.to_string(), s.to_string())),
    );
    let mut category_options = pairs(&[("", "any")]);
    category_options.extend(
        categories
            .iter()
            .map(|c| (c.name.clone(), format::category(&c.name))),
    );
    view! {
        <form
            method="get"
            action=action
            class="filters"
            role="search"
            aria-label="Filter the queue"
        >
            <input
                id="queue-search"
                type="search"
                name="q"
                value=value(&q)
                placeholder="Search subject and body  ( / )"
                aria-label="Search subject and body"
            />
            {select("status", "Status", status, status_options)}
            {select("category", "Category", category, category_options)}
            {select(
                "confidence",
                "Confidence",
                confidence,
                pairs(
                    &[
                        ("", "any"),
                        ("low", "low (< 50%)"),
                        ("medium", "medium (50–80%)"),
                        ("high", "high (≥ 80%)"),
                    ],
                ),
            )}
            {select(
                "sort",
                "Sort",
                sort,
                pairs(
                    &[
                        ("", "newest first"),
                        ("oldest", "oldest first"),
                        ("least_confident", "least sure first"),
                        ("most_confident", "most sure first"),
                    ],
                ),
            )}
            <details class="more-filters" open=more_open>
                <summary>"More"</summary>
                <label>"From " <input type="date" name="from" value=value(&from) /></label>
                <label>"To " <input type="date" name="to" value=value(&to) /></label>
                {select(
                    "assignee",
                    "Assignee",
                    assignee,
                    pairs(&[("", "anyone"), ("me", "me"), ("none", "nobody")]),
                )}
                <label>
                    "Model "
                    <input
                        type="text"
                        name="model"
                        value=value(&model)
                        placeholder="any version"
                        size="18"
                    />
                </label>
            </details>
            <button type="submit">"Apply"</button>
            <a class="link" href=action>
                "Clear"
            </a>
        </form>
    }
}

/// A decision's change to one row, applied where the row is shown.
#[derive(Clone, Debug, PartialEq)]
enum RowChange {
    Labelled(LabelOutcome),
    Status(i64, EmailStatus),
}

/// The table and everything the keyboard does to it.
#[component]
fn Workspace(
    view: QueueView,
    query: QueueQuery,
    arrivals: RwSignal<Vec<QueueRow>>,
    decider: Decider,
    change: RwSignal<Option<RowChange>>,
    reload: Callback<()>,
) -> impl IntoView {
    let QueueView {
        page,
        categories,
        people,
    } = view;
    if page.rows.is_empty() {
        return view! { <p class="page-message">"No emails match this view."</p> }.into_any();
    }
    let next = page.next_cursor.clone();
    let keep = query.to_query_string();
    let rows = RwSignal::new(page.rows);
    let selected = RwSignal::new(0usize);
    let picked = RwSignal::new(Vec::<i64>::new());
    let whole_view = RwSignal::new(false);
    let categories = StoredValue::new(categories);
    let bulk = ServerAction::<BulkApply>::new();
    let navigate = use_navigate();
    let notice = decider.notice;

    let color_of = move |name: &str| {
        categories.with_value(|cs| cs.iter().find(|c| c.name == name).map(|c| c.color.clone()))
    };
    // Each change is applied once and then forgotten: a table drawn again after a
    // reload shows what the server says (replaying an undone label would not).
    Effect::new(move |_| {
        let Some(applied) = change.get() else {
            return;
        };
        change.update_untracked(|c| *c = None);
        rows.update(|rs| match applied {
            RowChange::Labelled(outcome) => {
                if let Some(r) = rs.iter_mut().find(|r| r.id == outcome.email_id) {
                    r.label = Some(outcome.category.clone());
                    r.label_id = Some(outcome.label_id);
                    r.color = color_of(&outcome.category);
                    r.status = r.status.after_label();
                }
            }
            RowChange::Status(id, status) => {
                if let Some(r) = rs.iter_mut().find(|r| r.id == id) {
                    r.status = status;
                }
            }
        });
    });
    Effect::new(move |_| match bulk.value().get() {
        Some(Ok(message)) => {
            notice.set(Some(Notice::ok(message)));
            picked.set(Vec::new());
            whole_view.set(false);
            reload.run(());
        }
        Some(Err(e)) => notice.set(Some(Notice::failed(e.to_string()))),
        None => {}
    });

    Effect::new(move |_| {
        let fresh: Vec<QueueRow> = arrivals.with(|a| {
            rows.with_untracked(|rs| {
                a.iter()
                    .filter(|n| !rs.iter().any(|r| r.id == n.id))
                    .cloned()
                    .collect()
            })
        });
        if !fresh.is_empty() {
            let added = fresh.len();
            rows.update(|rs| {
                rs.splice(0..0, fresh);
            });
            selected.update(|i| *i += added);
        }
    });

    let current = move || rows.with_untracked(|rs| rs.get(selected.get_untracked()).cloned());
    let select = move |i: usize| {
        let last = rows.with_untracked(Vec::len).saturating_sub(1);
        selected.set(i.min(last));
        decider.looking_at_next();
        // After the selection is drawn.
        request_animation_frame(|| {
            if let Some(row) = document()
                .query_selector("table.queue tr.selected")
                .ok()
                .flatten()
            {
                row.scroll_into_view_with_bool(false);
            }
        });
    };
    let toggle_pick = move |id: i64| {
        picked.update(|p| match p.iter().position(|x| *x == id) {
            Some(i) => {
                p.remove(i);
            }
            None => p.push(id),
        })
    };

    use_keymap(move |command| {
        let next = selected.get_untracked() + 1;
        match command {
            Command::Next => select(next),
            Command::Previous => select(selected.get_untracked().saturating_sub(1)),
            Command::Search => focus_by_id("queue-search"),
            Command::Undo => decider.undo_last(),
            Command::Back => return false,
            Command::Open | Command::Correct | Command::Reply | Command::Select => {
                let Some(row) = current() else {
                    return false;
                };
                let open = match command {
                    Command::Correct => "?correct=1",
                    Command::Reply => "?reply=1",
                    Command::Select => {
                        toggle_pick(row.id);
                        return true;
                    }
                    _ => "",
                };
                navigate(&format!("/emails/{}{open}", row.id), Default::default());
            }
            Command::Accept | Command::Label(_) | Command::Archive => {
                let Some(row) = current() else {
                    return false;
                };
                let target = Target {
                    email_id: row.id,
                    predicted: row.predicted.clone(),
                    label_id: row.label_id,
                };
                if !categories.with_value(|cs| decider.run(command, &target, cs)) {
                    return false;
                }
                // Decided: on to the next email.
                select(next);
            }
        }
        true
    });

    let query = StoredValue::new(query);
    let run_bulk = move |action: BulkAction, category: Option<String>, assignee: Option<i64>| {
        let ids = if whole_view.get_untracked() {
            Vec::new()
        } else {
            picked.get_untracked()
        };
        let query = query.get_value();
        leptos::task::spawn_local(async move {
            let count = if ids.is_empty() {
                match bulk_count(query.clone()).await {
                    Ok(n) => n,
                    Err(e) => {
                        notice.set(Some(Notice::failed(e.to_string())));
                        return;
                    }
                }
            } else {
                ids.len() as i64
            };
            let what = match action {
                BulkAction::Accept => "Accept the model's category for".to_string(),
                BulkAction::Correct => format!(
                    "Label as {}",
                    format::category(category.as_deref().unwrap_or_default())
                ),
                BulkAction::Assign => "Assign".to_string(),
                BulkAction::Archive => "Archive".to_string(),
            };
            let extra = if action == BulkAction::Accept {
                " (emails someone already labelled keep their label)"
            } else {
                ""
            };
            let question = format!(
                "{what} {count} {}?{extra}",
                if count == 1 { "email" } else { "emails" }
            );
            if window().confirm_with_message(&question).unwrap_or(false) {
                bulk.dispatch(BulkApply {
                    query,
                    ids,
                    action,
                    category,
                    assignee,
                });
            }
        });
    };
    let category_names = categories.get_value();
    let people = StoredValue::new(people);

    let table_rows = move || {
        rows.get()
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                let id = row.id;
                let category = row.label.clone().or(row.predicted.clone());
                let from = if row.from_name.is_empty() {
                    row.from_address.clone()
                } else {
                    row.from_name.clone()
                };
                let labelled = row.label.is_some();
                view! {
                    <tr
                        class:selected=move || selected.get() == i
                        class:picked=move || picked.with(|p| p.contains(&id))
                        aria-selected=move || (selected.get() == i).to_string()
                        on:click=move |_| select(i)
                        data-email-id=id
                        data-status=row.status.to_string()
                    >
                        <td class="pick">
                            <input
                                type="checkbox"
                                aria-label=format!("Select “{}”", row.subject)
                                prop:checked=move || {
                                    whole_view.get() || picked.with(|p| p.contains(&id))
                                }
                                on:change=move |_| toggle_pick(id)
                            />
                        </td>
                        <td class="when">
                            <format::When ms=row.received_at />
                        </td>
                        <td class="from" title=row.from_address.clone()>
                            {from}
                        </td>
                        <td class="subject">
                            <a class="subject-text" href=format!("/emails/{id}")>
                                {row.subject.clone()}
                            </a>
                            <span class="snippet">{row.snippet.clone()}</span>
                        </td>
                        <td class="category">
                            {category
                                .map(|c| {
                                    view! {
                                        <span
                                            class="badge"
                                            class:labelled=labelled
                                            style=format!(
                                                "--badge: {}",
                                                row.color.clone().unwrap_or_default(),
                                            )
                                            title=if labelled {
                                                "labelled by staff"
                                            } else {
                                                "predicted"
                                            }
                                        >
                                            {format::category(&c)}
                                        </span>
                                    }
                                })}
                        </td>
                        <td class="confidence">
                            {row
                                .confidence
                                .map(|p| {
                                    view! {
                                        <span class="bar" aria-hidden="true">
                                            <span style=format!("width: {:.0}%", p * 100.0)></span>
                                        </span>
                                        <span class="pct">{format::percent(p)}</span>
                                    }
                                })}
                        </td>
                        <td class="status">
                            <span class=format!(
                                "status status-{}",
                                row.status,
                            )>{row.status.to_string()}</span>
                        </td>
                        <td class="assignee">{row.assignee.clone().unwrap_or_default()}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    let selection_size = move || {
        if whole_view.get() {
            None
        } else {
            Some(picked.with(Vec::len))
        }
    };

    view! {
        <div
            class="bulk-bar"
            role="region"
            aria-label="Bulk actions"
            class:active=move || whole_view.get() || picked.with(|p| !p.is_empty())
        >
            <label class="checkbox">
                <input
                    type="checkbox"
                    prop:checked=move || whole_view.get()
                    on:change=move |_| whole_view.update(|w| *w = !*w)
                />
                " Every email in this view"
            </label>
            <span class="hint">
                {move || match selection_size() {
                    None => "all pages of this filter".to_string(),
                    Some(0) => "select rows with x or the boxes".to_string(),
                    Some(n) => format!("{n} selected"),
                }}
            </span>
            <button type="button" on:click=move |_| run_bulk(BulkAction::Accept, None, None)>
                "Accept"
            </button>
            <label>
                "Label as "
                <select on:change=move |e| {
                    let v = event_target_value(&e);
                    if !v.is_empty() {
                        run_bulk(BulkAction::Correct, Some(v), None);
                    }
                }>
                    <option value="" selected=true>
                        "…"
                    </option>
                    {category_names
                        .iter()
                        .map(|c| {
                            view! {
                                <option value=c.name.clone()>{format::category(&c.name)}</option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            <label>
                "Assign to "
                <select on:change=move |e| {
                    match event_target_value(&e).as_str() {
                        "" => {}
                        "none" => run_bulk(BulkAction::Assign, None, None),
                        id => run_bulk(BulkAction::Assign, None, id.parse().ok()),
                    }
                }>
                    <option value="" selected=true>
                        "…"
                    </option>
                    <option value="none">"nobody"</option>
                    {people
                        .get_value()
                        .into_iter()
                        .map(|(id, name)| view! { <option value=id.to_string()>{name}</option> })
                        .collect_view()}
                </select>
            </label>
            <button type="button" on:click=move |_| run_bulk(BulkAction::Archive, None, None)>
                "Archive"
            </button>
        </div>
        <table class="queue" aria-label="Emails">
            <thead>
                <tr>
                    <th scope="col">
                        <span class="sr-only">"Selected"</span>
                    </th>
                    <th scope="col">"Received"</th>
                    <th scope="col">"From"</th>
                    <th scope="col">"Subject"</th>
                    <th scope="col">"Category"</th>
                    <th scope="col">"Confidence"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Assignee"</th>
                </tr>
            </thead>
            <tbody>{table_rows}</tbody>
        </table>
        <p class="hint category-keys" aria-label="Keys for categories">
            {category_names
                .iter()
                .take(9)
                .enumerate()
                .map(|(i, c)| {
                    view! {
                        <span>
                            <kbd>{(i + 1).to_string()}</kbd>
                            " "
                            {format::category(&c.name)}
                        </span>
                    }
                })
                .collect_view()}
        </p>
        {next
            .map(|cursor| {
                view! {
                    <nav class="pager" aria-label="Pages">
                        <a
                            href=format!(
                                "?{}{}cursor={cursor}",
                                keep,
                                if keep.is_empty() { "" } else { "&" },
                            )
                            rel="next"
                        >
                            "Next page →"
                        </a>
                    </nav>
                }
            })}
    }
    .into_any()
}
