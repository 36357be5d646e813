//! Mailboxes over the API (admins), and replies sent from an email's mailbox
//! (agents): the same domain calls as the Mailboxes page and the reply composer.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use domain::role::Role;
use domain::wire::SuggestionKind;
use domain::wire::mailboxes::{
    ConnectionCheck, MailboxInput, MailboxView, OutgoingReply, SyncRequested, UnreadableMail,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::ApiCaller;
use super::error::ApiError;
use super::json::read_json;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct MailboxList {
    pub items: Vec<MailboxView>,
}

/// Every mailbox, with where reading each folder stands. Passwords are never shown.
#[utoipa::path(get, path = "/api/v1/mailboxes", tag = "mailboxes",
    responses((status = 200, body = MailboxList)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<MailboxList>, ApiError> {
    caller.require(Role::Admin)?;
    let items = domain::mailboxes::list(&state.db).await?;
    Ok(Json(MailboxList { items }))
}

/// Adds a mailbox; Triage starts reading it at once.
#[utoipa::path(post, path = "/api/v1/mailboxes", tag = "mailboxes", request_body = MailboxInput,
    responses((status = 201, body = MailboxView),
              (status = 409, body = super::error::ErrorBody, description = "the name is taken"),
              (status = 422, body = super::error::ErrorBody, description = "an invalid field, named in details.field")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<MailboxView>), ApiError> {
    let caller = caller.require(Role::Admin)?;
    let input: MailboxInput = read_json(&headers, body, 64 * 1024).await?;
    let id = domain::mailboxes::create(&state.db, &state.secrets, &input, caller.actor).await?;
    state.mail.reload();
    Ok((
        StatusCode::CREATED,
        Json(domain::mailboxes::get(&state.db, id).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/mailboxes/{id}", tag = "mailboxes",
    responses((status = 200, body = MailboxView), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<MailboxView>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(domain::mailboxes::get(&state.db, id).await?))
}

/// Changes a mailbox. A password left out keeps the stored one.
#[utoipa::path(put, path = "/api/v1/mailboxes/{id}", tag = "mailboxes", request_body = MailboxInput,
    responses((status = 200, body = MailboxView),
              (status = 409, body = super::error::ErrorBody, description = "defined in triage.toml, or the name is taken"),
              (status = 422, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<MailboxView>, ApiError> {
    let caller = caller.require(Role::Admin)?;
    let input: MailboxInput = read_json(&headers, body, 64 * 1024).await?;
    domain::mailboxes::update(&state.db, &state.secrets, id, &input, caller.actor).await?;
    state.mail.reload();
    Ok(Json(domain::mailboxes::get(&state.db, id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct Enabled {
    pub enabled: bool,
}

/// Stops or resumes reading and sending; nothing is deleted.
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/enabled", tag = "mailboxes", request_body = Enabled,
    responses((status = 200, body = MailboxView)), security(("bearer" = [])))]
pub async fn set_enabled(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<MailboxView>, ApiError> {
    let caller = caller.require(Role::Admin)?;
    let Enabled { enabled } = read_json(&headers, body, 1024).await?;
    domain::mailboxes::set_enabled(&state.db, id, enabled, caller.actor).await?;
    state.mail.reload();
    Ok(Json(domain::mailboxes::get(&state.db, id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionChecks {
    pub imap: ConnectionCheck,
    pub smtp: ConnectionCheck,
    /// For a mailbox read from S3: whether its prefix can be listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<ConnectionCheck>,
}

/// Connects to both servers (and, for an S3 mailbox, lists its bucket) with the
/// stored settings and says what they answered.
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/test", tag = "mailboxes",
    responses((status = 200, body = ConnectionChecks)), security(("bearer" = [])))]
pub async fn test(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<ConnectionChecks>, ApiError> {
    caller.require(Role::Admin)?;
    let mailbox = domain::mailboxes::load(&state.db, &state.secrets, id).await?;
    let (s3, credentials) = (
        state.settings.s3_address(),
        state.settings.aws_credentials(),
    );
    let (imap, smtp, s3) = tokio::join!(
        domain::mailboxes::imap::check(&mailbox),
        domain::mailboxes::outbox::check(&mailbox),
        domain::mailboxes::s3::check_mailbox(&mailbox, &s3, &credentials)
    );
    Ok(Json(ConnectionChecks { imap, smtp, s3 }))
}

/// Reads a mailbox now rather than at its next poll: for an S3 event notification
/// (a Lambda, or anything an object's arrival can call, with an admin token). An S3
/// mailbox gets a pass over its prefix; an IMAP mailbox's folders are looked at
/// again. Answers at once with what was set going; the mail follows within seconds.
#[utoipa::path(post, path = "/api/v1/sources/{id}/sync", tag = "mailboxes",
    params(("id" = i64, Path, description = "the mailbox")),
    responses((status = 202, body = SyncRequested, description = "the read is under way"),
              (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody,
               description = "the mailbox is disabled, or it is an IMAP mailbox this server does not read")),
    security(("bearer" = [])))]
pub async fn sync(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<SyncRequested>), ApiError> {
    caller.require(Role::Admin)?;
    let asked = state.mail.sync_now(id).await?;
    Ok((StatusCode::ACCEPTED, Json(asked)))
}

#[derive(Serialize, ToSchema)]
pub struct UnreadableList {
    pub items: Vec<UnreadableMail>,
}

/// Messages the parser could not read, newest first (download one from
/// `/admin/mailboxes/{id}/unreadable/{message}`).
#[utoipa::path(get, path = "/api/v1/mailboxes/{id}/unreadable", tag = "mailboxes",
    responses((status = 200, body = UnreadableList)), security(("bearer" = [])))]
pub async fn unreadable(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<UnreadableList>, ApiError> {
    caller.require(Role::Admin)?;
    let items = domain::mailboxes::unreadable(&state.db, id, 200).await?;
    Ok(Json(UnreadableList { items }))
}

/// A reply to send (or, with `send: false`, one sent elsewhere to record).
#[derive(Deserialize, ToSchema)]
pub struct NewReply {
    pub body: String,
    /// template, similar, generated or none (the default)
    #[serde(default)]
    pub suggestion_kind: Option<SuggestionKind>,
    /// The template's or past reply's id the reply started from.
    pub suggestion_ref: Option<i64>,
    /// The generated draft it started from.
    pub generated_text: Option<String>,
    /// Send it from the email's mailbox (default), or only record it as replied.
    #[serde(default = "sent_by_default")]
    pub send: bool,
}

fn sent_by_default() -> bool {
    true
}

#[derive(Serialize, ToSchema)]
pub struct ReplyCreated {
    pub reply_id: i64,
    pub edit_distance: i64,
    /// The outgoing message, when it is sent from Triage.
    pub outgoing: Option<OutgoingReply>,
}

/// Replies to an email: `Re:` subject, threaded on it, from the mailbox it came in
/// on, under the caller's name. The email becomes replied at once; the message
/// leaves through the outbox (see `GET /api/v1/emails/{id}/replies` for its state).
#[utoipa::path(post, path = "/api/v1/emails/{id}/replies", tag = "emails", request_body = NewReply,
    responses((status = 201, body = ReplyCreated),
              (status = 404, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody, description = "no text, or no mailbox can send")),
    security(("bearer" = [])))]
pub async fn reply(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ReplyCreated>), ApiError> {
    let caller = caller.require(Role::Agent)?;
    let new: NewReply = read_json(&headers, body, 512 * 1024).await?;
    let user_id = caller.actor.user_id();
    let agent_name = match user_id {
        Some(id) => domain::users::find_active(&state.db, id)
            .await?
            .map(|u| u.display_name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let request = domain::replies::ReplyRequest {
        email_id: id,
        user_id,
        agent_name,
        body: new.body,
        suggestion_kind: new.suggestion_kind.unwrap_or(SuggestionKind::Unassisted),
        suggestion_ref: new.suggestion_ref,
        generated_text: new.generated_text,
    };
    let created = if new.send {
        let (stored, outbox_id) =
            domain::mailboxes::outbox::send_reply(&state.db, &state.secrets, &request).await?;
        state.mail.send_now();
        let outgoing = domain::mailboxes::outbox::for_email(&state.db, id)
            .await?
            .into_iter()
            .find(|o| o.id == outbox_id);
        ReplyCreated {
            reply_id: stored.id,
            edit_distance: stored.edit_distance,
            outgoing,
        }
    } else {
        let stored = domain::replies::record(&state.db, &request).await?;
        ReplyCreated {
            reply_id: stored.id,
            edit_distance: stored.edit_distance,
            outgoing: None,
        }
    };
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Serialize, ToSchema)]
pub struct OutgoingList {
    pub items: Vec<OutgoingReply>,
}

/// The replies sent from Triage for an email, oldest first, with their state
/// (queued, sending, sent, failed and the server's words).
#[utoipa::path(get, path = "/api/v1/emails/{id}/replies", tag = "emails",
    responses((status = 200, body = OutgoingList)), security(("bearer" = [])))]
pub async fn replies(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<Json<OutgoingList>, ApiError> {
    caller.require(Role::Agent)?;
    let items = domain::mailboxes::outbox::for_email(&state.db, id).await?;
    Ok(Json(OutgoingList { items }))
}

/// Puts a failed reply back in the outbox, as the same message.
#[utoipa::path(post, path = "/api/v1/outbox/{id}/send-again", tag = "emails",
    responses((status = 202, description = "queued again"),
              (status = 409, body = super::error::ErrorBody, description = "not failed")),
    security(("bearer" = [])))]
pub async fn send_again(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let caller = caller.require(Role::Agent)?;
    domain::mailboxes::outbox::send_again(&state.db, id, caller.actor).await?;
    state.mail.send_now();
    Ok(StatusCode::ACCEPTED)
}
