//! One email: its text (plain by default, sanitized HTML on request), attachments and
//! thread; the model's answer with every category's probability and the words that
//! drove it; accept or correct; suggested replies, sent from the email's mailbox, and
//! the replies sent with where each stands; downloads of the original message and its
//! attachments; and the history of every prediction and label.

use std::time::Duration;

use domain::wire::mailboxes::OutgoingReply;
use domain::wire::{
    CategoryView, Draft, DraftSource, EmailView, HistoryEntry, HistoryKind, OutboxStatus,
    PredictionExplained, Suggestion, SuggestionKind,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use crate::actions::{
    AssignEmail, SendEmailReply, SendReply, draft_reply, focus_by_id, load_suggestions, ticks,
};
use crate::components::decide::{Command, Decider, DecisionNotice, Target, use_keymap};
use crate::components::outcome::action_outcome;
use crate::error::AppError;
use crate::format;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmailPageData {
    pub email: EmailView,
    pub categories: Vec<CategoryView>,
    /// Whether a text-generation endpoint drafts replies.
    pub drafts: bool,
}

#[server(prefix = "/rpc", endpoint = "load_email")]
pub async fn load_email(id: i64, html: bool, images: bool) -> Result<EmailPageData, AppError> {
    let (_, db) = crate::auth::guard(domain::role::Role::Agent)?;
    let show = domain::models::HtmlChoice {
        html,
        remote_images: images,
    };
    Ok(EmailPageData {
        email: domain::models::email_view(&db, id, show).await?,
        categories: domain::categories::list(&db).await?,
        drafts: crate::actions::generator()?.is_some(),
    })
}

/// The replies sent from Triage for an email, oldest first, with where each stands.
#[server(prefix = "/rpc", endpoint = "outgoing_replies")]
pub async fn outgoing_replies(email_id: i64) -> Result<Vec<OutgoingReply>, AppError> {
    let (_, db) = crate::auth::guard(domain::role::Role::Agent)?;
    domain::mailboxes::outbox::for_email(&db, email_id)
        .await
        .map_err(AppError::from)
}

/// Puts a failed reply back in the outbox, as the same message (same Message-ID).
#[server(prefix = "/rpc", endpoint = "send_again")]
pub async fn send_again(outbox_id: i64) -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Agent)?;
    domain::mailboxes::outbox::send_again(&db, outbox_id, domain::audit::Actor::User(user.id))
        .await?;
    crate::actions::wake_outbox();
    Ok("Queued again: it leaves in a moment.".into())
}

#[component]
pub fn EmailPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let flag = move |k: &str| query.with(|q| q.get(k).is_some_and(|v| v == "1"));
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok());
    let email = Resource::new(
        move || (id(), flag("html"), flag("images")),
        |(id, html, images)| async move {
            match id {
                Some(id) => load_email(id, html, images).await,
                None => Err(AppError::NotFound),
            }
        },
    );
    let (open_correct, open_reply) = (flag("correct"), flag("reply"));
    // Decisions live on the page, not on the email drawn inside it: what they say
    // outlives the reload an undo or an archive causes.
    let decider = Decider::new(|_| {}, move |_, _| email.refetch(), move || email.refetch());
    view! {
        <p class="back">
            <a href="/">"← Queue"</a>
            <span class="hint">" (Esc)"</span>
        </p>
        <Transition fallback=|| {
            view! { <p>"Loading…"</p> }
        }>
            {move || Suspend::new(async move {
                match email.await {
                    Ok(data) => view! { <Email data open_correct open_reply decider /> }.into_any(),
                    Err(e) => {
                        let (title, message) = match &e {
                            AppError::NotFound => {
                                ("Email not found", "This email does not exist.".to_string())
                            }
                            AppError::NotAllowed | AppError::SignedOut => {
                                ("Not allowed", format!("You may not open this email. {e}"))
                            }
                            other => {
                                (
                                    "Email not loaded",
                                    format!("This email could not be loaded: {other}"),
                                )
                            }
                        };
                        view! {
                            <Title text=title />
                            <p class="page-message" role="alert">
                                {message}
                            </p>
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn Email(
    data: EmailPageData,
    open_correct: bool,
    open_reply: bool,
    decider: Decider,
) -> impl IntoView {
    let EmailPageData {
        email,
        categories,
        drafts,
    } = data;
    let id = email.id;
    let from = if email.from_name.is_empty() {
        email.from_address.clone()
    } else {
        format!("{} <{}>", email.from_name, email.from_address)
    };
    let subject = if email.subject.is_empty() {
        "(no subject)".to_string()
    } else {
        email.subject.clone()
    };
    let predicted = email.prediction.as_ref().map(|p| p.category.clone());
    let predicted_for_target = predicted.clone();
    let email_label_id = email.label_id;
    let current_category = email
        .label
        .as_ref()
        .map(|l| l.category.clone())
        .or(predicted.clone());
    let target = move || Target {
        email_id: id,
        predicted: predicted_for_target.clone(),
        label_id: decider.seen_label(id, email_label_id),
    };
    let reply_open = RwSignal::new(open_reply);
    let categories = StoredValue::new(categories);
    let navigate = use_navigate();
    let keys_target = target.clone();
    use_keymap(move |command| match command {
        Command::Accept | Command::Label(_) | Command::Archive | Command::Undo => {
            categories.with_value(|cs| decider.run(command, &keys_target(), cs))
        }
        Command::Correct => {
            focus_by_id("correct-filter");
            true
        }
        Command::Reply => {
            reply_open.set(true);
            request_animation_frame(|| focus_by_id("reply-draft"));
            true
        }
        Command::Back => {
            let went_back = window()
                .history()
                .ok()
                .filter(|h| h.length().unwrap_or(0) > 1)
                .map(|h| h.back().is_ok())
                .unwrap_or(false);
            if !went_back {
                navigate("/", Default::default());
            }
            true
        }
        Command::Next | Command::Previous | Command::Open | Command::Select | Command::Search => {
            false
        }
    });
    let body = match email.html_shown {
        true => {
            let frame_src = format!(
                "/emails/{}/html{}",
                email.id,
                if email.remote_images { "?images=1" } else { "" },
            );
            view! {
                <p class="hint">
                    "HTML, sanitized. "
                    {(email.blocked_images > 0)
                        .then(|| {
                            view! {
                                {format!("{} remote images blocked. ", email.blocked_images)}
                                <a href="?html=1&images=1">"Load them"</a>
                                " · "
                            }
                        })} <a href="?">"Plain text"</a>
                </p>
                // The mail runs in a frame of its own with nothing allowed
                // (server/src/mail_frame.rs); the HTML here only counted the images.
                <iframe
                    class="email-html"
                    title="The email's HTML version"
                    sandbox="allow-popups allow-popups-to-escape-sandbox"
                    src=frame_src
                ></iframe>
            }
            .into_any()
        }
        false => view! {
            {email
                .has_html
                .then(|| {
                    view! {
                        <p class="hint">
                            <a href="?html=1">"Show the HTML version"</a>
                            " (remote images stay blocked)"
                        </p>
                    }
                })}
            <pre class="email-body">{email.body_text.clone()}</pre>
        }
        .into_any(),
    };
    view! {
        <Title text=subject.clone() />
        <div class="email-layout">
            <article class="email" aria-labelledby="email-subject">
                <h1 id="email-subject">{subject}</h1>
                <dl class="email-meta">
                    <dt>"From"</dt>
                    <dd>{from}</dd>
                    <dt>"To"</dt>
                    <dd>{email.to.clone()}</dd>
                    {(!email.cc.is_empty())
                        .then(|| {
                            view! {
                                <dt>"Cc"</dt>
                                <dd>{email.cc.clone()}</dd>
                            }
                        })}
                    <dt>"Received"</dt>
                    <dd>
                        <format::FullTime ms=email.received_at />
                    </dd>
                    <dt>"Status"</dt>
                    <dd>
                        <span class=format!(
                            "status status-{}",
                            email.status,
                        )>{email.status.to_string()}</span>
                    </dd>
                    <dt>"Assignee"</dt>
                    <dd>
                        <Assignment email_id=email.id assignee=email.assignee.clone() />
                    </dd>
                    {email
                        .label
                        .clone()
                        .map(|label| {
                            view! {
                                <dt>"Label"</dt>
                                <dd>
                                    {format::category(&label.category)} " · "
                                    {label.by.unwrap_or_else(|| "historical".into())}
                                </dd>
                            }
                        })}
                </dl>
                {body}
                {(!email.attachments.is_empty())
                    .then(|| {
                        view! {
                            <h2 class="section-title">"Attachments"</h2>
                            <ul class="attachments">
                                {email
                                    .attachments
                                    .iter()
                                    .enumerate()
                                    .map(|(index, a)| {
                                        view! {
                                            <li>
                                                <a
                                                    href=format!("/emails/{id}/attachments/{index}")
                                                    download=a.name.clone()
                                                >
                                                    {a.name.clone()}
                                                </a>
                                                <span class="hint">
                                                    {format!(" {} · {}", a.content_type, format::size(a.size))}
                                                </span>
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        }
                    })}
                <p class="downloads">
                    <a href=format!("/emails/{id}/original.eml") download="">
                        "Download original (.eml)"
                    </a>
                </p>
                {(!email.thread.is_empty())
                    .then(|| {
                        view! {
                            <h2 class="section-title">"Thread"</h2>
                            <ol class="thread">
                                {email
                                    .thread
                                    .iter()
                                    .map(|t| {
                                        view! {
                                            <li>
                                                <span class="when">{format::timestamp(t.received_at)}</span>
                                                " "
                                                <a href=format!("/emails/{}", t.id)>{t.subject.clone()}</a>
                                                <span class="hint">
                                                    {format!(" — {} · {}", t.from, t.status)}
                                                </span>
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ol>
                        }
                    })}
                {email
                    .reply
                    .clone()
                    .map(|reply| {
                        view! {
                            <h2 class="section-title">"Reply sent"</h2>
                            <p class="hint">
                                {format!("by {}, {}", reply.by, format::timestamp(reply.at))}
                            </p>
                            <pre class="email-body">{reply.text}</pre>
                        }
                    })}
            </article>
            <aside class="side" aria-label="Decision">
                <Decide
                    decider
                    target=Callback::new(move |_| target())
                    predicted=predicted.clone()
                    categories
                    open_correct
                />
                <Reply email_id=id category=current_category open=reply_open drafts />
                <section class="prediction" aria-label="Model prediction">
                    {match email.prediction.clone() {
                        Some(p) => view! { <Prediction prediction=p /> }.into_any(),
                        None => {
                            view! {
                                <p class="page-message">
                                    "Not scored yet: it waits for the active model."
                                </p>
                            }
                                .into_any()
                        }
                    }}
                </section>
                <History entries=email.history.clone() />
            </aside>
        </div>
    }
}

/// Accept, correct (type to filter), archive and undo, by click; the keys go
/// through the page's keymap to the same [`Decider`]. The categories are a list of
/// buttons the text narrows, not a listbox: a listbox's options cannot hold buttons.
#[component]
fn Decide(
    decider: Decider,
    target: Callback<(), Target>,
    predicted: Option<String>,
    categories: StoredValue<Vec<CategoryView>>,
    open_correct: bool,
) -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let decide = move |category: String| {
        decider.decide(&target.run(()), category);
        filter.set(String::new());
    };
    let matching = move || {
        let f = filter.get().to_lowercase().replace(' ', "_");
        categories.with_value(|cs| {
            cs.iter()
                .enumerate()
                .filter(|(_, c)| f.is_empty() || c.name.contains(&f))
                .map(|(i, c)| (i, c.clone()))
                .collect::<Vec<_>>()
        })
    };
    if open_correct {
        Effect::new(move |_| focus_by_id("correct-filter"));
    }
    let archive = move |_| {
        decider.run(Command::Archive, &target.run(()), &[]);
    };
    view! {
        <section class="decide" aria-labelledby="decide-title">
            <h2 id="decide-title">"Category"</h2>
            <DecisionNotice decider />
            {predicted
                .map(|p| {
                    let name = format::category(&p);
                    view! {
                        <button
                            type="button"
                            class="primary accept"
                            on:click=move |_| decide(p.clone())
                        >
                            "Accept "
                            <strong>{name}</strong>
                            " "
                            <kbd>"a"</kbd>
                        </button>
                    }
                })}
            <label for="correct-filter" class="correct-label">
                "Correct to "
                <kbd>"c"</kbd>
            </label>
            <input
                id="correct-filter"
                type="text"
                autocomplete="off"
                aria-controls="correct-list"
                placeholder="type to filter, Enter picks the first"
                prop:value=move || filter.get()
                on:input=move |e| filter.set(event_target_value(&e))
                on:keydown=move |e| {
                    if e.key() == "Enter" {
                        e.prevent_default();
                        if let Some((_, c)) = matching().into_iter().next() {
                            decide(c.name);
                        }
                    }
                }
            />
            <ul id="correct-list" aria-label="Categories" class="category-list">
                {move || {
                    matching()
                        .into_iter()
                        .map(|(i, c)| {
                            let name = c.name.clone();
                            view! {
                                <li>
                                    <button
                                        type="button"
                                        class="category-choice"
                                        style=format!("--badge: {}", c.color)
                                        on:click=move |_| decide(name.clone())
                                        title=c.description.clone()
                                    >
                                        {(i < 9)
                                            .then(|| view! { <kbd>{(i + 1).to_string()}</kbd> })}
                                        " "
                                        {format::category(&c.name)}
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            <button type="button" on:click=archive>
                "Archive "
                <kbd>"e"</kbd>
            </button>
        </section>
    }
}

/// Who the email is assigned to, with "Assign to me" and "Unassign".
#[component]
fn Assignment(email_id: i64, assignee: Option<String>) -> impl IntoView {
    let assignee = RwSignal::new(assignee);
    let assign = ServerAction::<AssignEmail>::new();
    Effect::new(move |_| {
        if let Some(Ok(now)) = assign.value().get() {
            assignee.set(now);
        }
    });
    let failed = move || {
        assign.value().get().and_then(|r| r.err()).map(|e| {
            view! {
                <span class="error-text" role="alert">
                    {e.to_string()}
                </span>
            }
        })
    };
    let button = move |to_me: bool, label: &'static str| {
        view! {
            <button
                type="button"
                class="link-button"
                on:click=move |_| {
                    assign.dispatch(AssignEmail { email_id, to_me });
                }
            >
                {label}
            </button>
        }
    };
    view! {
        <span class="assignment">
            <span class="assignee-name">
                {move || assignee.get().unwrap_or_else(|| "nobody".into())}
            </span>
            " "
            {button(true, "Assign to me")}
            <Show when=move || assignee.get().is_some()>" · " {button(false, "Unassign")}</Show>
            {failed}
        </span>
    }
}

/// Which of the reply panel's two ways the last click took.
#[derive(Clone, Copy, PartialEq)]
enum ReplyWay {
    Sent,
    Marked,
}

/// Suggested replies: pick one, edit it, then send it from the email's mailbox, or
/// copy it and mark the email replied when it leaves some other way. Under them, the
/// replies sent from Triage and where each stands. With a text-generation endpoint
/// (`drafts`), its draft joins the suggestions when it comes.
#[component]
fn Reply(
    email_id: i64,
    category: Option<String>,
    open: RwSignal<bool>,
    drafts: bool,
) -> impl IntoView {
    let shown = open;
    let draft = RwSignal::new(String::new());
    let source = RwSignal::new((SuggestionKind::Unassisted, None::<i64>));
    // The generated draft the reply started from: the server cannot write it again
    // to measure the edits.
    let generated = RwSignal::new(None::<String>);
    let deliver = ServerAction::<SendEmailReply>::new();
    let mark = ServerAction::<SendReply>::new();
    let way = RwSignal::new(None::<ReplyWay>);
    // The text last sent: the same text again needs an edit first, so a second
    // click does not send one reply twice.
    let sent_text = RwSignal::new(None::<String>);
    let copied = RwSignal::new(false);
    let suggestions = Resource::new(
        move || shown.get(),
        move |shown| {
            let category = category.clone();
            async move {
                if shown {
                    load_suggestions(email_id, category).await
                } else {
                    Ok(Vec::new())
                }
            }
        },
    );
    // Seconds, not milliseconds: asked for on its own and only in the browser, so
    // the other suggestions (and the page) never wait for it.
    let generated_draft = LocalResource::new(move || {
        let wanted = drafts && shown.get();
        async move {
            if wanted {
                draft_reply(email_id).await
            } else {
                Ok(None)
            }
        }
    });
    let focus_draft = || focus_by_id("reply-draft");
    let use_suggestion = move |s: Suggestion| {
        draft.set(s.body.clone());
        source.set((s.kind, s.reference));
        generated.set((s.kind == SuggestionKind::Generated).then(|| s.body.clone()));
        copied.set(false);
        request_animation_frame(focus_draft);
    };
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let _ = window()
                .navigator()
                .clipboard()
                .write_text(&draft.get_untracked());
        }
        copied.set(true);
    };
    let send = move |_| {
        let (kind, reference) = source.get_untracked();
        let body = draft.get_untracked();
        way.set(Some(ReplyWay::Sent));
        sent_text.set(Some(body.clone()));
        deliver.dispatch(SendEmailReply {
            email_id,
            body,
            suggestion_kind: kind,
            suggestion_ref: reference,
            generated_text: generated.get_untracked(),
        });
    };
    let sent_unchanged = move || {
        matches!(deliver.value().read().as_ref(), Some(Ok(_)))
            && sent_text.with(|t| t.as_deref() == Some(draft.read().as_str()))
    };
    let mark_replied = move |_| {
        let (kind, reference) = source.get_untracked();
        way.set(Some(ReplyWay::Marked));
        mark.dispatch(SendReply {
            email_id,
            body: draft.get_untracked(),
            suggestion_kind: kind,
            suggestion_ref: reference,
            generated_text: generated.get_untracked(),
        });
    };
    let outcome = move || {
        let said = |line: String, ok: bool| {
            let class = if ok { "form-ok" } else { "form-error" };
            view! { <p class=class>{line}</p> }
        };
        match way.get()? {
            ReplyWay::Sent if deliver.pending().get() => {
                Some(view! { <p class="hint">"Sending…"</p> }.into_any())
            }
            ReplyWay::Sent => {
                deliver.value().get().map(|r| match r {
                    Ok(_) => {
                        said(
                            "Reply queued: it leaves from the mailbox in a moment (see Sent replies below). The email is marked replied."
                                .into(),
                            true,
                        )
                            .into_any()
                    }
                    Err(e) => said(in_words(&e), false).into_any(),
                })
            }
            ReplyWay::Marked => {
                mark.value().get().map(|r| match r {
                    Ok(stored) => {
                        said(
                            format!(
                                "Marked replied ({} characters edited).",
                                stored.edit_distance,
                            ),
                            true,
                        )
                            .into_any()
                    }
                    Err(e) => said(in_words(&e), false).into_any(),
                })
            }
        }
    };
    view! {
        <section class="reply" aria-labelledby="reply-title">
            <h2 id="reply-title">"Reply"</h2>
            <Show
                when=move || shown.get()
                fallback=move || {
                    view! {
                        <button type="button" on:click=move |_| shown.set(true)>
                            "Suggested replies "
                            <kbd>"r"</kbd>
                        </button>
                    }
                }
            >
                <Suspense fallback=|| {
                    view! { <p class="hint">"Finding suggestions…"</p> }
                }>
                    {move || Suspend::new(async move {
                        match suggestions.await {
                            Ok(list) if list.is_empty() => {
                                view! {
                                    <p class="hint">
                                        "No template for this category yet, and no similar email answered. Write one below."
                                    </p>
                                }
                                    .into_any()
                            }
                            Ok(list) => {
                                view! {
                                    <ul class="suggestions" aria-label="Suggestions">
                                        {list
                                            .into_iter()
                                            .map(|s| suggestion_choice(s, use_suggestion))
                                            .collect_view()}
                                    </ul>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
                {drafts
                    .then(|| {
                        view! {
                            <div class="generated-draft" aria-live="polite">
                                <Suspense fallback=|| {
                                    view! { <p class="hint">"Drafting a reply…"</p> }
                                }>
                                    {move || Suspend::new(async move {
                                        match generated_draft.await {
                                            Ok(None) => ().into_any(),
                                            Ok(Some(d)) => {
                                                view! {
                                                    <ul class="suggestions" aria-label="Generated draft">
                                                        {suggestion_choice(draft_suggestion(d), use_suggestion)}
                                                    </ul>
                                                }
                                                    .into_any()
                                            }
                                            Err(e) => {
                                                view! {
                                                    <p class="hint">"No generated draft: " {in_words(&e)}</p>
                                                }
                                                    .into_any()
                                            }
                                        }
                                    })}
                                </Suspense>
                            </div>
                        }
                    })}
                <label for="reply-draft" class="sr-only">
                    "Reply text"
                </label>
                <textarea
                    id="reply-draft"
                    rows="10"
                    prop:value=move || draft.get()
                    on:input=move |e| {
                        draft.set(event_target_value(&e));
                        copied.set(false);
                    }
                ></textarea>
                <div class="reply-actions">
                    <button type="button" on:click=copy>
                        {move || if copied.get() { "Copied" } else { "Copy to clipboard" }}
                    </button>
                    <button
                        type="button"
                        on:click=mark_replied
                        title="The reply left some other way: record it and mark the email replied"
                    >
                        "Mark replied"
                    </button>
                    <button
                        type="button"
                        class="primary"
                        on:click=send
                        disabled=move || deliver.pending().get() || sent_unchanged()
                    >
                        {move || if sent_unchanged() { "Sent" } else { "Send" }}
                    </button>
                </div>
                <div role="status" aria-live="polite" class="action-outcome">
                    {outcome}
                </div>
            </Show>
            <SentReplies email_id sent=deliver.version() />
        </section>
    }
}

/// An error as the reply panel says it: a refused value in the domain's own words
/// (no mailbox can send, no text), anything else as it reads.
fn in_words(e: &AppError) -> String {
    match e {
        AppError::Invalid { message, .. } | AppError::Unavailable(message) => {
            format::sentence(message)
        }
        other => other.to_string(),
    }
}

/// One suggestion as a button that puts its text in the reply box.
fn suggestion_choice(
    s: Suggestion,
    use_suggestion: impl Fn(Suggestion) + Copy + 'static,
) -> impl IntoView {
    let title = s.title.clone();
    let kind = match s.kind {
        SuggestionKind::Template => "Template",
        SuggestionKind::Similar => "Similar email",
        SuggestionKind::Generated | SuggestionKind::Unassisted => "Draft",
    };
    view! {
        <li>
            <button type="button" class="suggestion" on:click=move |_| use_suggestion(s.clone())>
                <span class="suggestion-kind">{kind}</span>
                " "
                {title}
            </button>
        </li>
    }
}

/// The generated draft as a suggestion, saying what wrote it.
fn draft_suggestion(d: Draft) -> Suggestion {
    let title = match d.source {
        DraftSource::Retrieval => {
            "built from the most similar past replies (no language model)".to_string()
        }
        DraftSource::Endpoint => format!(
            "written by {} in {:.1} s",
            d.endpoint,
            d.elapsed_ms as f64 / 1000.0
        ),
    };
    Suggestion {
        kind: SuggestionKind::Generated,
        reference: None,
        title,
        body: d.text,
    }
}

/// The replies sent from Triage for this email, newest first: to whom, when, and
/// where each stands; a failed one can be sent again. Looked at again every two
/// seconds while one is on its way.
#[component]
fn SentReplies(email_id: i64, sent: RwSignal<usize>) -> impl IntoView {
    let again = ServerAction::<SendAgain>::new();
    let poll = RwSignal::new(0u64);
    let replies = Resource::new(
        move || (sent.get(), again.version().get(), poll.get()),
        move |_| outgoing_replies(email_id),
    );
    let tick = ticks(Duration::from_secs(2));
    Effect::new(move |_| {
        tick.track();
        let on_its_way = replies.with_untracked(|r| {
            matches!(r, Some(Ok(list)) if list.iter().any(|o| matches!(o.status, OutboxStatus::Queued | OutboxStatus::Sending)))
        });
        if on_its_way {
            poll.update(|n| *n += 1);
        }
    });
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match replies.await {
                    Ok(list) if list.is_empty() => ().into_any(),
                    Ok(list) => {
                        view! {
                            <h3 id="sent-replies-title">"Sent replies"</h3>
                            // Keyed on where each stands, so a reply whose state
                            // changed is drawn anew and the others keep theirs.
                            <ul class="sent-replies" aria-labelledby="sent-replies-title">
                                <For
                                    each=move || list.clone().into_iter().rev()
                                    key=|o| (o.id, o.status, o.attempts)
                                    let:reply
                                >
                                    <SentReply reply again />
                                </For>
                            </ul>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        {action_outcome(move || again.value().get())}
    }
}

#[component]
fn SentReply(reply: OutgoingReply, again: ServerAction<SendAgain>) -> impl IntoView {
    let OutgoingReply {
        id,
        to,
        status,
        attempts,
        error,
        created_at,
        sent_at,
        by,
        body,
        ..
    } = reply;
    let failed = status == OutboxStatus::Failed;
    let when = format::timestamp(sent_at.unwrap_or(created_at));
    let tries = if attempts == 1 {
        "1 try".to_string()
    } else {
        format!("{attempts} tries")
    };
    let error = error.map(|e| {
        if failed {
            view! { <p class="error-text">{format::sentence(&e)}</p> }.into_any()
        } else {
            view! {
                <p class="hint">
                    {format!(
                        "Last try: {}. Trying again ({tries} so far).",
                        e.trim_end_matches('.'),
                    )}
                </p>
            }
            .into_any()
        }
    });
    view! {
        <li>
            <span class=format!("badge send-{status}")>{status.as_str()}</span>
            " to "
            {to}
            <div class="hint">{when} {(!by.is_empty()).then(|| format!(" · by {by}"))}</div>
            {error}
            {failed
                .then(|| {
                    view! {
                        <button
                            type="button"
                            disabled=move || again.pending().get()
                            on:click=move |_| {
                                again.dispatch(SendAgain { outbox_id: id });
                            }
                        >
                            "Send again"
                        </button>
                    }
                })}
            <details>
                <summary>"Text"</summary>
                <pre class="email-body">{body}</pre>
            </details>
        </li>
    }
}

#[component]
fn Prediction(prediction: PredictionExplained) -> impl IntoView {
    let PredictionExplained {
        category,
        confidence,
        model,
        probabilities,
        reasons,
    } = prediction;
    view! {
        <h2>"Prediction"</h2>
        <p class="predicted">
            <strong>{format::category(&category)}</strong>
            " · "
            {format::percent(confidence)}
        </p>
        <p class="hint">"by " <code>{model}</code></p>
        <h3>"Probabilities"</h3>
        <ul class="probabilities">
            {probabilities
                .into_iter()
                .map(|(c, p)| {
                    view! {
                        <li>
                            <span class="prob-label">{format::category(&c)}</span>
                            <span class="bar" aria-hidden="true">
                                <span style=format!("width: {:.0}%", p * 100.0)></span>
                            </span>
                            <span class="pct">{format::percent(p)}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
        <h3>"Why"</h3>
        {if reasons.is_empty() {
            view! {
                <p class="hint">
                    "This model gives no reasons (an endpoint answers with probabilities only)."
                </p>
            }
                .into_any()
        } else {
            view! {
                <p class="hint">
                    "Words that pushed it most toward " {format::category(&category)} ":"
                </p>
                <ol class="reasons">
                    {reasons
                        .into_iter()
                        .map(|(word, weight)| {
                            view! {
                                <li>
                                    <span class="term">{word}</span>
                                    <span class="weight">{format!("+{weight:.2}")}</span>
                                </li>
                            }
                        })
                        .collect_view()}
                </ol>
            }
                .into_any()
        }}
    }
}

/// Every prediction and label, newest first.
#[component]
fn History(entries: Vec<HistoryEntry>) -> impl IntoView {
    view! {
        <section class="history" aria-labelledby="history-title">
            <h2 id="history-title">"History"</h2>
            {if entries.is_empty() {
                view! { <p class="hint">"Nothing yet."</p> }.into_any()
            } else {
                view! {
                    <ol class="history-list">
                        {entries
                            .into_iter()
                            .map(|h| {
                                let what = match h.kind {
                                    HistoryKind::Prediction => {
                                        format!(
                                            "predicted {} ({})",
                                            format::category(&h.category),
                                            format::percent(h.confidence.unwrap_or(0.0)),
                                        )
                                    }
                                    HistoryKind::Label(source) => {
                                        format!("{source} {}", format::category(&h.category))
                                    }
                                };
                                let time = h
                                    .seconds_spent
                                    .map(|s| format!(" · {s:.0} s"))
                                    .unwrap_or_default();
                                view! {
                                    <li class:undone=h.undone>
                                        <span class="when">{format::timestamp(h.at)}</span>
                                        " "
                                        {what}
                                        <span class="hint">{format!(" — {}{time}", h.by)}</span>
                                        {h
                                            .undone
                                            .then(|| view! { <span class="hint">" (undone)"</span> })}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ol>
                }
                    .into_any()
            }}
        </section>
    }
}
