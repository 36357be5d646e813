//! What agents do to emails — label, undo, archive, reply, bulk — as server functions
//! shared by the queue and the email page. Each checks the role and calls one domain
//! function.

use crate::error::AppError;
use domain::wire::{
    BulkAction, Draft, EmailStatus, LabelOutcome, QueueQuery, Suggestion, SuggestionKind,
};
use leptos::prelude::*;

/// Accepts or corrects an email's category.
#[server(prefix = "/rpc", endpoint = "label_email")]
pub async fn label_email(
    email_id: i64,
    category: String,
    seen_label_id: Option<i64>,
    seconds_spent: Option<f64>,
) -> Result<LabelOutcome, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Agent)?;
    let request = domain::labels::LabelRequest {
        email_id,
        category,
        user_id: Some(user.id),
        token_id: None,
        seen_label_id,
        seconds_spent,
    };
    domain::labels::label(&db, &request)
        .await
        .map_err(AppError::from)
}

#[server(prefix = "/rpc", endpoint = "undo_label")]
pub async fn undo_label(label_id: i64) -> Result<i64, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Agent)?;
    domain::labels::undo(&db, label_id, user.id).await?;
    Ok(label_id)
}

/// Archives an email, or puts it back (`new`).
#[server(prefix = "/rpc", endpoint = "set_email_status")]
pub async fn set_email_status(
    email_id: i64,
    status: EmailStatus,
) -> Result<(i64, EmailStatus), AppError> {
    let (_, db) = crate::auth::guard(domain::role::Role::Agent)?;
    domain::email_state::set_status(&db, email_id, status).await?;
    Ok((email_id, status))
}

/// Suggested replies for the email's category (its label, else the prediction).
#[server(prefix = "/rpc", endpoint = "suggestions")]
pub async fn load_suggestions(
    email_id: i64,
    category: Option<String>,
) -> Result<Vec<Suggestion>, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Agent)?;
    domain::replies::suggestions(&db, email_id, category.as_deref(), &user.display_name)
        .await
        .map_err(AppError::from)
}

/// A reply drafted by the text-generation endpoint for the email; `None` when no
/// endpoint is configured (the panel then offers no draft). Slow by nature: the
/// panel asks for it apart from the other suggestions.
#[server(prefix = "/rpc", endpoint = "draft_reply")]
pub async fn draft_reply(email_id: i64) -> Result<Option<Draft>, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Agent)?;
    let Some(generator) = generator()? else {
        return Ok(None);
    };
    domain::drafts::draft(&db, &generator, email_id, &user.display_name)
        .await
        .map(Some)
        .map_err(AppError::from)
}

/// The text-generation endpoint, if one is configured (server side only).
#[cfg(feature = "ssr")]
pub(crate) fn generator() -> Result<Option<domain::drafts::Generator>, AppError> {
    use_context::<Option<domain::drafts::Generator>>().ok_or_else(|| {
        tracing::error!("server function without the reply generator in its context");
        AppError::Internal.refuse()
    })
}

/// Stores the reply an agent used and marks the email replied (a reply sent from
/// somewhere else than Triage).
#[server(prefix = "/rpc", endpoint = "send_reply")]
pub async fn send_reply(
    email_id: i64,
    body: String,
    suggestion_kind: SuggestionKind,
    suggestion_ref: Option<i64>,
    generated_text: Option<String>,
) -> Result<domain::wire::StoredReply, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Agent)?;
    let request = reply_request(
        user,
        email_id,
        body,
        suggestion_kind,
        suggestion_ref,
        generated_text,
    );
    domain::replies::record(&db, &request)
        .await
        .map_err(AppError::from)
}

/// Sends a reply from the mailbox the email came in on: it is stored and the email
/// marked replied at once, and the message leaves through the outbox.
#[server(prefix = "/rpc", endpoint = "send_email_reply")]
pub async fn send_email_reply(
    email_id: i64,
    body: String,
    suggestion_kind: SuggestionKind,
    suggestion_ref: Option<i64>,
    generated_text: Option<String>,
) -> Result<domain::wire::StoredReply, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Agent)?;
    let secrets = secret_box()?;
    let request = reply_request(
        user,
        email_id,
        body,
        suggestion_kind,
        suggestion_ref,
        generated_text,
    );
    let (stored, _) = domain::mailboxes::outbox::send_reply(&db, &secrets, &request).await?;
    wake_outbox();
    Ok(stored)
}

/// The reply as the signed-in agent wrote it (server side only).
#[cfg(feature = "ssr")]
fn reply_request(
    user: domain::wire::CurrentUser,
    email_id: i64,
    body: String,
    suggestion_kind: SuggestionKind,
    suggestion_ref: Option<i64>,
    generated_text: Option<String>,
) -> domain::replies::ReplyRequest {
    domain::replies::ReplyRequest {
        email_id,
        user_id: Some(user.id),
        agent_name: user.display_name,
        body,
        suggestion_kind,
        suggestion_ref,
        // Only a reply that started from a draft carries the draft's text.
        generated_text: generated_text.filter(|_| suggestion_kind == SuggestionKind::Generated),
    }
}

/// The key that seals and opens mailbox passwords (server side only).
#[cfg(feature = "ssr")]
pub(crate) fn secret_box() -> Result<domain::secrets::SecretBox, AppError> {
    use_context::<domain::secrets::SecretBox>().ok_or_else(|| {
        tracing::error!("server function without the secret box in its context");
        AppError::Internal.refuse()
    })
}

/// Tells this process's mailbox runner a reply is waiting (server side only; where
/// mail runs in a worker process, that worker finds it on its next round).
#[cfg(feature = "ssr")]
pub(crate) fn wake_outbox() {
    if let Some(mail) = use_context::<domain::mailboxes::runner::MailHandle>() {
        mail.send_now();
    }
}

/// How many emails a bulk action would change: the selection, or the whole filter.
#[server(prefix = "/rpc", endpoint = "bulk_count", input = leptos::server_fn::codec::Json)]
pub async fn bulk_count(query: QueueQuery) -> Result<i64, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Agent)?;
    let filter = domain::queue::QueueFilter::parse(&db, &query, Some(user.id), 1).await?;
    domain::queue::count(&db, &filter)
        .await
        .map_err(AppError::from)
}

/// Applies a bulk action: `accept`, `correct` (with `category`), `assign` (with
/// `assignee`: a user id, or empty for nobody) or `archive`, to `ids` or, when
/// `ids` is empty, to every email of the filter.
#[server(prefix = "/rpc", endpoint = "bulk_apply", input = leptos::server_fn::codec::Json)]
pub async fn bulk_apply(
    query: QueueQuery,
    ids: Vec<i64>,
    action: BulkAction,
    category: Option<String>,
    assignee: Option<i64>,
) -> Result<String, AppError> {
    use domain::bulk::{Action, Target};
    let (user, db) = crate::auth::guard(domain::role::Role::Agent)?;
    let target = if ids.is_empty() {
        Target::Filter(domain::queue::QueueFilter::parse(&db, &query, Some(user.id), 1).await?)
    } else {
        Target::Ids(ids)
    };
    let action = match action {
        BulkAction::Accept => Action::Accept,
        BulkAction::Correct => Action::Correct(category.unwrap_or_default()),
        BulkAction::Assign => Action::Assign(assignee),
        BulkAction::Archive => Action::Archive,
    };
    let changed = domain::bulk::apply(&db, &target, &action, user.id).await?;
    let verb = match action {
        Action::Accept => "accepted",
        Action::Correct(_) => "labelled",
        Action::Assign(_) => "assigned",
        Action::Archive => "archived",
    };
    Ok(format!(
        "{changed} {} {verb}.",
        if changed == 1 { "email" } else { "emails" }
    ))
}

/// Assigns one email to the caller (`to_me`) or to nobody, through the bulk path;
/// returns who it is assigned to now.
#[server(prefix = "/rpc", endpoint = "assign_email")]
pub async fn assign_email(email_id: i64, to_me: bool) -> Result<Option<String>, AppError> {
    use domain::bulk::{Action, Target};
    let (user, db) = crate::auth::guard(domain::role::Role::Agent)?;
    let assignee = to_me.then_some(user.id);
    let changed = domain::bulk::apply(
        &db,
        &Target::Ids(vec![email_id]),
        &Action::Assign(assignee),
        user.id,
    )
    .await?;
    if changed == 0 {
        return Err(AppError::from(domain::error::DomainError::NotFound));
    }
    Ok(to_me.then_some(user.display_name))
}

/// Milliseconds since the Unix epoch, in the browser (0 on the server).
pub fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

/// A count that goes up every `period` while the page is open in a browser (it stays
/// at 0 on the server): a resource keyed on it is read again at that pace.
pub fn ticks(period: std::time::Duration) -> ReadSignal<u64> {
    let tick = RwSignal::new(0u64);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(move || tick.update(|t| *t += 1), period) {
            on_cleanup(move || handle.clear());
        }
    });
    tick.read_only()
}

/// Moves the keyboard focus to the element with this id, if it is on the page.
pub fn focus_by_id(id: &str) {
    use leptos::wasm_bindgen::JsCast;
    if let Some(el) = document().get_element_by_id(id)
        && let Ok(el) = el.dyn_into::<leptos::web_sys::HtmlElement>()
    {
        let _ = el.focus();
    }
}

/// True while the keyboard belongs to a text field (shortcuts stay out of its way).
pub fn typing_in_field() -> bool {
    document()
        .active_element()
        .map(|el| matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"))
        .unwrap_or(false)
}
