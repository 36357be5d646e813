//! Replies leave over SMTP (lettre) through a durable outbox.
//!
//! Sending a reply writes, in one transaction, the reply (its suggestion and edit
//! distance, as "mark replied" does), the email's new status, and the outgoing
//! message: whole, formatted, with its Message-ID. Only then does anything talk to a
//! server, and it always sends those exact bytes. A transient failure (server down,
//! a 4xx answer) tries again later with back-off; a permanent one (5xx: recipient
//! refused) stops and shows the server's words, with "send again". A process that
//! stopped in the middle of a send leaves the message marked failed with a note,
//! never re-sent on its own: it may have left already, and a reply sent twice is
//! worse than one a person looks at.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox as Address, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rand::Rng;

use super::{Account, Mailbox};
use crate::audit::{self, Actor};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::replies::{self, ReplyRequest};
use crate::secrets::SecretBox;
use crate::time::now_ms;
use crate::wire::mailboxes::{ConnectionCheck, OutgoingReply, Security};
use crate::wire::{OutboxStatus, StoredReply};

/// Tries before a transiently failing message is given up as failed.
pub const MAX_ATTEMPTS: i64 = 10;
/// How long one send may take before its process is presumed gone.
const SEND_LEASE_MS: i64 = 5 * 60 * 1000;
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits before the next try: 30 s, 1 min, 2 min ... at most an hour.
pub fn backoff_ms(attempts: i64) -> i64 {
    let step = 30_000i64.saturating_mul(1 << attempts.clamp(1, 8).saturating_sub(1));
    step.min(3_600_000)
}

#[derive(sqlx::FromRow)]
struct Original {
    message_id: String,
    in_reply_to: Option<String>,
    thread_key: String,
    subject: String,
    from_name: String,
    from_address: String,
    to_addresses: String,
    cc_addresses: String,
    mailbox_id: Option<i64>,
}

/// Sends a reply to an email from the mailbox it came in on: the reply is recorded
/// and the email marked replied at once; the message leaves in the background.
pub async fn send_reply(
    db: &Db,
    secrets: &SecretBox,
    req: &ReplyRequest,
) -> DomainResult<(StoredReply, i64)> {
    let original: Original = sqlx::query_as(
        "SELECT message_id, in_reply_to, thread_key, subject, from_name, from_address, \
           to_addresses, cc_addresses, mailbox_id FROM emails WHERE id = $1",
    )
    .bind(req.email_id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(DomainError::NotFound)?;
    let mailbox = sending_mailbox(db, secrets, &original).await?;
    let measured = replies::measure(db, req).await?;
    let (message_id, message, sender, recipient) = compose(&mailbox, &original, req)?;
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let stored = replies::insert_in(&mut tx, req, measured, now).await?;
    let outbox_id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (email_id, reply_id, mailbox_id, message_id, sender, recipients, \
           message, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
         RETURNING id",
    )
    .bind(req.email_id)
    .bind(stored.id)
    .bind(mailbox.id)
    .bind(&message_id)
    .bind(&sender)
    .bind(&recipient)
    .bind(&message)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((stored, outbox_id))
}

/// The mailbox a reply leaves from: the one the email came in on; else the one it was
/// addressed to; else the only one that can send.
async fn sending_mailbox(db: &Db, secrets: &SecretBox, email: &Original) -> DomainResult<Mailbox> {
    let senders: Vec<Mailbox> = super::active(db, secrets)
        .await?
        .into_iter()
        .filter(|m| m.smtp.is_some())
        .collect();
    let addressed = |m: &&Mailbox| {
        let address = m.address.to_lowercase();
        email.to_addresses.to_lowercase().contains(&address)
            || email.cc_addresses.to_lowercase().contains(&address)
    };
    senders
        .iter()
        .find(|m| Some(m.id) == email.mailbox_id)
        .or_else(|| senders.iter().find(addressed))
        .or_else(|| (senders.len() == 1).then(|| &senders[0]))
        .cloned()
        .ok_or_else(|| {
            DomainError::invalid(
                "mailbox",
                "no mailbox can send this reply: add one with an SMTP server on the Mailboxes page, \
                 or copy the reply and mark it replied",
            )
        })
}

/// The reply as it will leave: `Re:` subject, threaded on the original, from the
/// mailbox's address under the agent's name. Returns (Message-ID, bytes, sender,
/// recipient).
fn compose(
    mailbox: &Mailbox,
    original: &Original,
    req: &ReplyRequest,
) -> DomainResult<(String, Vec<u8>, String, String)> {
    let from_address: lettre::Address = mailbox
        .address
        .parse()
        .map_err(|_| DomainError::invalid("mailbox", "the mailbox's address is not valid"))?;
    let to_address: lettre::Address = original.from_address.trim().parse().map_err(|_| {
        DomainError::invalid(
            "to",
            format!(
                "the sender's address {:?} cannot be written to",
                original.from_address
            ),
        )
    })?;
    let from_name = if req.agent_name.trim().is_empty() {
        mailbox.name.clone()
    } else {
        format!("{} ({})", req.agent_name.trim(), mailbox.name)
    };
    let to_name = Some(original.from_name.trim().to_string()).filter(|n| !n.is_empty());
    let domain = mailbox
        .address
        .rsplit('@')
        .next()
        .unwrap_or("triage.invalid");
    let token: u128 = rand::thread_rng().r#gen();
    let message_id = format!("<triage.{token:032x}@{domain}>");
    // References: the thread's first message, the parent, and the email itself.
    let mut references: Vec<&str> = vec![&original.thread_key];
    references.extend(original.in_reply_to.as_deref());
    references.push(&original.message_id);
    references.dedup();
    let message = Message::builder()
        .message_id(Some(message_id.clone()))
        .from(Address::new(Some(from_name), from_address.clone()))
        .to(Address::new(to_name, to_address.clone()))
        .subject(reply_subject(&original.subject))
        .in_reply_to(original.message_id.clone())
        .references(references.join(" "))
        .date_now()
        .header(ContentType::TEXT_PLAIN)
        .body(req.body.clone())
        .map_err(|e| DomainError::invalid("body", e.to_string()))?;
    Ok((
        message_id,
        message.formatted(),
        from_address.to_string(),
        to_address.to_string(),
    ))
}

/// `Re: ` once, however many the subject already carries.
pub fn reply_subject(subject: &str) -> String {
    let mut rest = subject.trim();
    while rest
        .get(..3)
        .is_some_and(|head| head.eq_ignore_ascii_case("re:"))
    {
        rest = rest[3..].trim_start();
    }
    format!("Re: {rest}")
}

fn transport(account: &Account) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    type Smtp = AsyncSmtpTransport<Tokio1Executor>;
    let builder = match account.security {
        Security::Tls => Smtp::relay(&account.host).map_err(|e| e.to_string())?,
        Security::Starttls => Smtp::starttls_relay(&account.host).map_err(|e| e.to_string())?,
        Security::None => Smtp::builder_dangerous(&account.host),
    };
    let mut builder = builder.port(account.port).timeout(Some(SMTP_TIMEOUT));
    if !account.user.is_empty() {
        builder = builder.credentials(Credentials::new(
            account.user.clone(),
            account.password.clone(),
        ));
    }
    Ok(builder.build())
}

/// An SMTP failure in words, and whether trying again later may help.
fn explain(e: &lettre::transport::smtp::Error, account: &Account) -> (String, bool) {
    let text = e.to_string();
    if e.is_permanent() {
        (format!("the server refused it: {text}"), false)
    } else if e.is_transient() {
        (format!("the server asked to try later: {text}"), true)
    } else if e.is_tls() {
        (
            format!(
                "secure connection to {}:{} failed: {text}",
                account.host, account.port
            ),
            true,
        )
    } else if e.is_timeout() {
        (
            format!("{}:{} did not answer in time", account.host, account.port),
            true,
        )
    } else {
        (
            format!("cannot reach {}:{}: {text}", account.host, account.port),
            true,
        )
    }
}

/// "Test connection" for the SMTP side.
pub async fn check(mailbox: &Mailbox) -> ConnectionCheck {
    let Some(account) = &mailbox.smtp else {
        return ConnectionCheck {
            ok: false,
            message: "no SMTP server is set".into(),
        };
    };
    let result = match transport(account) {
        Err(message) => Err(message),
        Ok(smtp) => match smtp.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "{}:{} did not accept a session",
                account.host, account.port
            )),
            Err(e) => Err(explain(&e, account).0),
        },
    };
    match result {
        Ok(()) => ConnectionCheck {
            ok: true,
            message: format!(
                "Connected to {}:{} and signed in.",
                account.host, account.port
            ),
        },
        Err(message) => ConnectionCheck { ok: false, message },
    }
}

#[derive(sqlx::FromRow)]
struct Due {
    id: i64,
    mailbox_id: i64,
    sender: String,
    recipients: String,
    message: Vec<u8>,
    attempts: i64,
}

/// Sends what is due; returns how many left. Safe to run in several processes: each
/// message is claimed by one.
pub async fn send_due(db: &Db, secrets: &SecretBox) -> DomainResult<usize> {
    let now = now_ms();
    give_up_stale_sends(db, now).await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= $1 ORDER BY id LIMIT 50",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    let mut sent = 0;
    for id in ids {
        // Claimed and read in one statement: no other process gets it after this.
        let claimed: Option<Due> = sqlx::query_as(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_until = $2 \
             WHERE id = $1 AND status = 'queued' \
             RETURNING id, mailbox_id, sender, recipients, message, attempts",
        )
        .bind(id)
        .bind(now_ms() + SEND_LEASE_MS)
        .fetch_optional(&db.pool)
        .await?;
        let Some(due) = claimed else {
            continue; // another process took it
        };
        if send_one(db, secrets, &due).await? {
            sent += 1;
        }
    }
    Ok(sent)
}

async fn send_one(db: &Db, secrets: &SecretBox, due: &Due) -> DomainResult<bool> {
    let outcome = match super::load(db, secrets, due.mailbox_id).await {
        Err(e) => Err((format!("the mailbox cannot be used: {e}"), true)),
        Ok(Mailbox { smtp: None, .. }) => {
            Err(("the mailbox has no SMTP server any more".to_string(), false))
        }
        Ok(Mailbox {
            smtp: Some(account),
            ..
        }) => deliver(&account, due).await,
    };
    let now = now_ms();
    match outcome {
        Ok(()) => {
            sqlx::query(
                "UPDATE outbox SET status = 'sent', sent_at = $2, last_error = NULL, lease_until = NULL \
                 WHERE id = $1",
            )
            .bind(due.id)
            .bind(now)
            .execute(&db.pool)
            .await?;
            metrics::counter!("triage_replies_sent_total", "outcome" => "sent").increment(1);
            Ok(true)
        }
        Err((error, transient)) => {
            let retry = transient && due.attempts < MAX_ATTEMPTS;
            let error = if transient && !retry {
                format!("gave up after {} tries: {error}", due.attempts)
            } else {
                error
            };
            sqlx::query(
                "UPDATE outbox SET status = $2, last_error = $3, next_attempt_at = $4, \
                   lease_until = NULL WHERE id = $1",
            )
            .bind(due.id)
            .bind(if retry {
                OutboxStatus::Queued
            } else {
                OutboxStatus::Failed
            })
            .bind(&error)
            .bind(now + backoff_ms(due.attempts))
            .execute(&db.pool)
            .await?;
            let outcome = if retry { "retry" } else { "failed" };
            metrics::counter!("triage_replies_sent_total", "outcome" => outcome).increment(1);
            tracing::warn!(outbox = due.id, %error, retry, "a reply was not sent");
            Ok(false)
        }
    }
}

async fn deliver(account: &Account, due: &Due) -> Result<(), (String, bool)> {
    let smtp = transport(account).map_err(|e| (e, true))?;
    let from: lettre::Address = due
        .sender
        .parse()
        .map_err(|_| ("bad sender".to_string(), false))?;
    let to = due
        .recipients
        .split(',')
        .map(|r| r.trim().parse::<lettre::Address>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ("a recipient's address is not valid".to_string(), false))?;
    let envelope =
        lettre::address::Envelope::new(Some(from), to).map_err(|e| (e.to_string(), false))?;
    smtp.send_raw(&envelope, &due.message)
        .await
        .map(|_| ())
        .map_err(|e| explain(&e, account))
}

/// A send whose process stopped before it finished: failed, with a note, never sent
/// again on its own.
async fn give_up_stale_sends(db: &Db, now: i64) -> DomainResult<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'failed', lease_until = NULL, last_error = $2 \
         WHERE status = 'sending' AND lease_until < $1",
    )
    .bind(now)
    .bind(
        "Triage stopped while sending this reply, so it may have left already: \
         check the mailbox's Sent folder before sending it again",
    )
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Puts a failed reply back in the outbox, as the same message (same Message-ID).
pub async fn send_again(db: &Db, outbox_id: i64, actor: Actor) -> DomainResult<()> {
    let changed = sqlx::query(
        "UPDATE outbox SET status = 'queued', next_attempt_at = $2, attempts = 0 \
         WHERE id = $1 AND status = 'failed'",
    )
    .bind(outbox_id)
    .bind(now_ms())
    .execute(&db.pool)
    .await?
    .rows_affected();
    if changed == 0 {
        let exists: Option<String> = sqlx::query_scalar("SELECT status FROM outbox WHERE id = $1")
            .bind(outbox_id)
            .fetch_optional(&db.pool)
            .await?;
        return Err(match exists {
            None => DomainError::NotFound,
            Some(status) => DomainError::Conflict(format!("this reply is {status}, not failed")),
        });
    }
    audit::record(
        db,
        actor,
        "reply.send_again",
        "outbox",
        &outbox_id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct OutgoingRow {
    id: i64,
    reply_id: i64,
    message_id: String,
    sender: String,
    recipients: String,
    body: String,
    status: OutboxStatus,
    attempts: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
    by: String,
    subject: String,
}

/// The replies sent (or on their way) for an email, oldest first.
pub async fn for_email(db: &Db, email_id: i64) -> DomainResult<Vec<OutgoingReply>> {
    let rows: Vec<OutgoingRow> = sqlx::query_as(
        "SELECT o.id, o.reply_id, o.message_id, o.sender, o.recipients, r.body, o.status, \
           o.attempts, o.last_error, o.created_at, o.sent_at, COALESCE(u.display_name, '') AS by, \
           e.subject \
         FROM outbox o JOIN replies r ON r.id = o.reply_id JOIN emails e ON e.id = o.email_id \
           LEFT JOIN users u ON u.id = r.user_id \
         WHERE o.email_id = $1 ORDER BY o.id",
    )
    .bind(email_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OutgoingReply {
            id: r.id,
            reply_id: r.reply_id,
            message_id: r.message_id,
            from: r.sender,
            to: r.recipients,
            subject: reply_subject(&r.subject),
            body: r.body,
            status: r.status,
            attempts: r.attempts,
            error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
            by: r.by,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_subject_has_one_re() {
        assert_eq!(reply_subject("Refund"), "Re: Refund");
        assert_eq!(reply_subject("RE: re:Refund"), "Re: Refund");
        assert_eq!(reply_subject(""), "Re: ");
        assert_eq!(reply_subject("Réclamation"), "Re: Réclamation");
    }

    #[test]
    fn backoff_grows_and_stops_at_an_hour() {
        assert_eq!(backoff_ms(1), 30_000);
        assert_eq!(backoff_ms(2), 60_000);
        assert!(backoff_ms(5) > backoff_ms(4));
        assert_eq!(backoff_ms(50), 3_600_000);
    }
}
