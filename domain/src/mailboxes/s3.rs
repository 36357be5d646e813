//! Reading an S3 mailbox: the raw messages Amazon SES ("deliver to S3"), or anything
//! else, puts in a bucket, one object each.
//!
//! A pass lists the mailbox's prefix a page (1,000 keys) at a time, asks the database
//! in one query which of the page's (key, ETag) pairs it has already read, downloads
//! only the others (a few at once), parses them and stores them through the same
//! path as IMAP mail. Each object is recorded in `s3_objects` with the email it became
//! or why it could not be one, in the same transaction as the emails: a crash repeats
//! at most the chunk in flight, and a repeated message is a duplicate by Message-ID.
//! So every object is read once across restarts and processes, and an object
//! replaced under the same key (a new ETag) is read again.
//!
//! There is no high-water mark on the key: SES names objects by its random message
//! id, so a new object can sort anywhere in the listing. Listing is cheap beside
//! reading (one request per 1,000 keys); what is new is found by the lookup.

use std::collections::{HashSet, VecDeque};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio_util::task::AbortOnDropHandle;

use super::imap::MailError;
use super::sync::{self, Pass, SyncError};
use super::{Mailbox, S3Source};
use crate::db::Db;
use crate::emails::NewEmail;
use crate::error::{DomainError, DomainResult};
use crate::ingest::{self, Outcome, parse};
use crate::time::now_ms;

/// Keys listed per request (S3's most).
pub const PAGE: i32 = 1000;
/// Objects downloaded, then stored in one transaction...
pub const CHUNK: usize = 100;
/// ...and at most this many bytes of them, so memory stays bounded whatever the size
/// of the mail.
const CHUNK_BYTES: usize = 16 * 1024 * 1024;
/// Chunks downloaded ahead of the ones being stored.
const CHUNKS_AHEAD: usize = 2;
/// Chunks stored at once. PostgreSQL takes several writers, and a chunk's time there
/// is mostly round trips (a few statements an email): 10,000 messages from a local
/// S3 (bench/s3_ingest.py) were stored at 284 messages/s one chunk at a time
/// (generated mail), 680 three at once (the SpamAssassin corpus). SQLite's one writer
/// takes them in turn.
const STORES_AT_ONCE: usize = 3;
/// Downloads in flight at once. S3 answers each GET in tens of milliseconds, so one
/// at a time would cap a pass at a few dozen messages a second.
const DOWNLOADS: usize = 16;
/// Of an object over the size limit, only this much is read: enough for its header.
const HEADER_BYTES: usize = 64 * 1024;
/// The object SES writes when a receipt rule is set up; it is not mail.
const SES_SETUP: &str = "AMAZON_SES_SETUP_NOTIFICATION";

/// An object as the listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    /// Without its quotes.
    pub etag: String,
    pub size: i64,
    pub last_modified_ms: Option<i64>,
}

impl Listed {
    fn from_object(object: &aws_sdk_s3::types::Object) -> Option<Listed> {
        Some(Listed {
            key: object.key()?.to_string(),
            etag: etag(object.e_tag().unwrap_or_default()),
            size: object.size().unwrap_or_default(),
            last_modified_ms: object.last_modified().and_then(|t| t.to_millis().ok()),
        })
    }
}

/// Whether a key holds a message: not a "folder" placeholder, not SES's setup note.
pub fn is_message(key: &str) -> bool {
    !key.is_empty() && !key.ends_with('/') && key.rsplit('/').next() != Some(SES_SETUP)
}

/// An ETag as S3 sends it (`"…"`), without the quotes.
pub fn etag(raw: &str) -> String {
    raw.trim().trim_matches('"').to_string()
}

/// The number an unreadable object is kept under in `unreadable_mail`, whose rows are
/// unique by (mailbox, folder, UIDVALIDITY, UID): with the key as the folder and 0 as
/// the UIDVALIDITY, a hash of the ETag tells the versions of one key apart, and is the
/// same in every pass and every process, so a repeated record changes nothing (a row
/// count would differ between two processes). 48 bits: exact in JavaScript too.
pub fn unreadable_uid(etag: &str) -> i64 {
    let hash = Sha256::digest(etag.as_bytes());
    let mut bytes = [0u8; 8];
    bytes[2..].copy_from_slice(&hash[..6]);
    i64::from_be_bytes(bytes)
}

/// The header of a message, from its first bytes: up to the blank line after it.
pub fn header_of(start: &[u8]) -> &[u8] {
    let end = [&b"\r\n\r\n"[..], &b"\n\n"[..]]
        .iter()
        .filter_map(|blank| {
            start
                .windows(blank.len())
                .position(|w| w == *blank)
                .map(|at| at + blank.len())
        })
        .min();
    &start[..end.unwrap_or(start.len())]
}

/// What a download brought.
enum Fetched {
    Whole(Vec<u8>),
    /// The start of an object over the size limit.
    Start(Vec<u8>),
    /// Deleted, replaced or archived since it was listed: the next listing tells.
    Gone,
}

/// What became of one object.
enum Read {
    Email(Box<NewEmail>),
    Unreadable { raw: Vec<u8>, error: String },
    Gone,
}

/// What an object became, once its email is out to be stored.
enum Became {
    Email { message_id: String },
    Unreadable { raw: Vec<u8>, error: String },
}

/// An S3 failure in the words of S3 (its error code and message, e.g. "NoSuchBucket:
/// The specified bucket does not exist"); an unreachable S3 is told apart, as an
/// unreachable mail server is.
fn s3_error<E, R>(what: &str, e: SdkError<E, R>) -> MailError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    if matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) {
        return MailError::Unreachable(format!("S3 ({what}): {}", crate::aws::describe(e)));
    }
    let said = match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => crate::aws::describe(e),
    };
    MailError::Server(format!("{what}: {said}"))
}

/// Reads every object of the mailbox's prefix not read before. `on_new_mail` is
/// called after each chunk that stored new mail.
pub async fn pass(
    client: &Client,
    db: &Db,
    mailbox: &Mailbox,
    max_bytes: usize,
    on_new_mail: &(dyn Fn() + Send + Sync),
) -> Result<Pass, SyncError> {
    let source = mailbox.s3.as_ref().ok_or_else(|| {
        DomainError::Internal(format!("mailbox {} is not read from S3", mailbox.id))
    })?;
    let folder = source.folder();
    sync::state(db, mailbox.id, &folder).await?;
    let mut pass = Pass::default();
    // Chunks are downloaded and parsed ahead (spawned), while the one before is
    // stored: the database and S3 work at the same time.
    let mut ahead: VecDeque<Reading> = VecDeque::new();
    let mut storing = futures::stream::FuturesUnordered::new();
    let mut pending: Vec<Listed> = Vec::new();
    let mut token: Option<String> = None;
    let mut listed_all = false;
    loop {
        while ahead.len() < CHUNKS_AHEAD {
            if let Some(chunk) = take_chunk(&mut pending, listed_all, max_bytes) {
                let (client, bucket) = (client.clone(), source.bucket.clone());
                ahead.push_back(AbortOnDropHandle::new(tokio::spawn(download_and_parse(
                    client, bucket, chunk, mailbox.id, max_bytes,
                ))));
                continue;
            }
            if listed_all {
                break;
            }
            let page = client
                .list_objects_v2()
                .bucket(&source.bucket)
                .prefix(&source.prefix)
                .max_keys(PAGE)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| s3_error(&format!("listing {folder}"), e))?;
            let listed: Vec<Listed> = page
                .contents()
                .iter()
                .filter_map(Listed::from_object)
                .filter(|o| is_message(&o.key))
                .collect();
            pending.extend(unseen(db, mailbox.id, listed).await?);
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => listed_all = true,
            }
        }
        let Some(mut next) = ahead.pop_front() else {
            break;
        };
        // Stores go on while the next chunk downloads.
        let read = loop {
            tokio::select! {
                read = &mut next => break read,
                Some(stored) = storing.next(), if !storing.is_empty() => {
                    count(&mut pass, stored?, on_new_mail);
                }
            }
        };
        let read =
            read.map_err(|e| DomainError::Internal(format!("reading mail from S3: {e}")))??;
        while storing.len() >= STORES_AT_ONCE {
            if let Some(stored) = storing.next().await {
                count(&mut pass, stored?, on_new_mail);
            }
        }
        storing.push(store_chunk(db, mailbox, &folder, read));
    }
    while let Some(stored) = storing.next().await {
        count(&mut pass, stored?, on_new_mail);
    }
    sqlx::query(
        "UPDATE mailbox_folders SET last_sync_at = $3, last_error = NULL, last_error_at = NULL \
         WHERE mailbox_id = $1 AND folder = $2",
    )
    .bind(mailbox.id)
    .bind(&folder)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(pass)
}

/// Adds what a chunk stored to the pass.
fn count(pass: &mut Pass, stored: Pass, on_new_mail: &(dyn Fn() + Send + Sync)) {
    if stored.tally.created > 0 {
        on_new_mail();
    }
    pass.tally.created += stored.tally.created;
    pass.tally.duplicates += stored.tally.duplicates;
    pass.unreadable += stored.unreadable;
}

/// The objects of one listed page not read before (one query a page).
async fn unseen(db: &Db, mailbox_id: i64, listed: Vec<Listed>) -> DomainResult<Vec<Listed>> {
    if listed.is_empty() {
        return Ok(listed);
    }
    let placeholders: Vec<String> = (2..listed.len() + 2).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT object_key, etag FROM s3_objects WHERE mailbox_id = $1 AND object_key IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String, String)>(&sql).bind(mailbox_id);
    for object in &listed {
        query = query.bind(&object.key);
    }
    let seen: HashSet<(String, String)> = query.fetch_all(&db.pool).await?.into_iter().collect();
    Ok(listed
        .into_iter()
        .filter(|o| !seen.contains(&(o.key.clone(), o.etag.clone())))
        .collect())
}

/// Downloads one object: whole, or only its start when it is over the limit.
async fn fetch(
    client: &Client,
    bucket: &str,
    object: &Listed,
    max_bytes: usize,
) -> Result<Fetched, MailError> {
    let large = object.size.max(0) as u64 > max_bytes as u64;
    // The version listed, not one written since (that one is listed next time).
    let mut request = client
        .get_object()
        .bucket(bucket)
        .key(&object.key)
        .if_match(format!("\"{}\"", object.etag));
    if large {
        request = request.range(format!("bytes=0-{}", HEADER_BYTES - 1));
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => {
            let gone = matches!(
                e.code(),
                Some("NoSuchKey" | "PreconditionFailed" | "InvalidObjectState")
            ) || e
                .raw_response()
                .is_some_and(|r| matches!(r.status().as_u16(), 404 | 412));
            if gone {
                tracing::info!(key = %object.key, "an S3 object changed since it was listed");
                return Ok(Fetched::Gone);
            }
            return Err(s3_error(&format!("reading {}", object.key), e));
        }
    };
    let bytes = answer
        .body
        .collect()
        .await
        .map_err(|e| MailError::Unreachable(format!("S3 (reading {}): {e}", object.key)))?
        .into_bytes()
        .to_vec();
    Ok(if large {
        Fetched::Start(bytes)
    } else {
        Fetched::Whole(bytes)
    })
}

/// Parses what was downloaded (CPU work, so off the async threads' way).
fn parse_all(
    fetched: Vec<(Listed, Fetched)>,
    mailbox_id: i64,
    max_bytes: usize,
) -> Vec<(Listed, Read)> {
    let now = now_ms();
    fetched
        .into_iter()
        .map(|(object, fetched)| {
            let read = match fetched {
                Fetched::Gone => Read::Gone,
                Fetched::Start(start) => {
                    let reason = ingest::Rejection::TooLarge {
                        size: object.size.max(0) as usize,
                        limit: max_bytes,
                    };
                    Read::Unreadable {
                        raw: header_of(&start).to_vec(),
                        error: format!("{reason} (only its header is kept)"),
                    }
                }
                Fetched::Whole(raw) => {
                    let arrival = object.last_modified_ms.unwrap_or(now);
                    match parse::parse_raw(&raw, arrival, max_bytes, "s3") {
                        Ok(mut email) => {
                            email.mailbox_id = Some(mailbox_id);
                            Read::Email(Box::new(email))
                        }
                        Err(reason) => Read::Unreadable {
                            raw,
                            error: reason.to_string(),
                        },
                    }
                }
            };
            (object, read)
        })
        .collect()
}

/// A chunk of objects being downloaded and parsed in the background, stopped if the
/// pass ends early (an error).
type Reading = AbortOnDropHandle<Result<Vec<(Listed, Read)>, SyncError>>;

/// The next chunk of `pending`: up to [`CHUNK`] objects and [`CHUNK_BYTES`] bytes
/// (an object over the limit counts as the header read of it). `None` while a full
/// chunk is not there yet, unless the listing is over.
fn take_chunk(
    pending: &mut Vec<Listed>,
    listed_all: bool,
    max_bytes: usize,
) -> Option<Vec<Listed>> {
    let (mut count, mut bytes) = (0, 0);
    for object in pending.iter() {
        let size = match object.size.max(0) as usize {
            large if large > max_bytes => HEADER_BYTES,
            size => size,
        };
        if count == CHUNK || (count > 0 && bytes + size > CHUNK_BYTES) {
            break;
        }
        count += 1;
        bytes += size;
    }
    let full = count == CHUNK || count < pending.len();
    if count == 0 || !(full || listed_all) {
        return None;
    }
    Some(pending.drain(..count).collect())
}

/// Downloads a chunk of new objects (a few at once) and parses them.
async fn download_and_parse(
    client: Client,
    bucket: String,
    chunk: Vec<Listed>,
    mailbox_id: i64,
    max_bytes: usize,
) -> Result<Vec<(Listed, Read)>, SyncError> {
    let fetched: Vec<(Listed, Fetched)> = futures::stream::iter(chunk)
        .map(|object| {
            let (client, bucket) = (&client, &bucket);
            async move {
                let fetched = fetch(client, bucket, &object, max_bytes).await?;
                Ok::<_, MailError>((object, fetched))
            }
        })
        .buffered(DOWNLOADS)
        .try_collect()
        .await?;
    Ok(
        tokio::task::spawn_blocking(move || parse_all(fetched, mailbox_id, max_bytes))
            .await
            .map_err(|e| DomainError::Internal(format!("parsing mail from S3: {e}")))?,
    )
}

/// Stores a chunk's emails and records each of its objects, in one transaction.
async fn store_chunk(
    db: &Db,
    mailbox: &Mailbox,
    folder: &str,
    read: Vec<(Listed, Read)>,
) -> Result<Pass, SyncError> {
    // What each object became: an email (by its Message-ID) or an unreadable message.
    let mut emails: Vec<(NewEmail, Option<i64>)> = Vec::with_capacity(read.len());
    let mut objects: Vec<(Listed, Became)> = Vec::with_capacity(read.len());
    for (object, read) in read {
        match read {
            Read::Gone => {}
            Read::Email(email) => {
                let message_id = email.message_id.clone();
                objects.push((object, Became::Email { message_id }));
                emails.push((*email, None));
            }
            Read::Unreadable { raw, error } => {
                objects.push((object, Became::Unreadable { raw, error }))
            }
        }
    }
    // A reply Triage sent can come back in (SES delivering a copy to the team's own
    // address): it is already on its email's thread.
    let own: HashSet<String> = sync::sent_by_triage(db, &emails)
        .await?
        .into_iter()
        .collect();
    emails.retain(|(email, _)| !own.contains(&email.message_id));
    // In one order everywhere, so chunks stored at once that share a Message-ID wait
    // for each other instead of deadlocking.
    emails.sort_by(|(a, _), (b, _)| a.message_id.cmp(&b.message_id));

    let mut pass = Pass::default();
    let mut tx = db.begin_write().await?;
    let outcomes = ingest::store::store_many_in(&mut tx, &emails).await?;
    let mut ids = std::collections::HashMap::new();
    for outcome in &outcomes {
        pass.tally.add(outcome);
        if let Outcome::Created { id, message_id } | Outcome::Duplicate { id, message_id } = outcome
        {
            ids.insert(message_id.clone(), *id);
        }
    }
    let now = now_ms();
    let mut records: Vec<(&Listed, Option<i64>, Option<&str>)> = Vec::with_capacity(objects.len());
    for (object, became) in &objects {
        let (raw, error) = match became {
            Became::Email { message_id } => {
                records.push((object, ids.get(message_id).copied(), None));
                continue;
            }
            Became::Unreadable { raw, error } => (raw, error),
        };
        sqlx::query(
            "INSERT INTO unreadable_mail \
               (mailbox_id, folder, uid_validity, uid, raw, error, received_at) \
             VALUES ($1, $2, 0, $3, $4, $5, $6) \
             ON CONFLICT (mailbox_id, folder, uid_validity, uid) DO NOTHING",
        )
        .bind(mailbox.id)
        .bind(&object.key)
        .bind(unreadable_uid(&object.etag))
        .bind(raw.as_slice())
        .bind(error.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        metrics::counter!("triage_ingest_total", "outcome" => "rejected").increment(1);
        pass.unreadable += 1;
        records.push((object, None, Some(error.as_str())));
    }
    record_objects(&mut tx, mailbox.id, &records, now).await?;
    sqlx::query(
        "UPDATE mailbox_folders SET stored = stored + $3 WHERE mailbox_id = $1 AND folder = $2",
    )
    .bind(mailbox.id)
    .bind(folder)
    .bind(pass.tally.created as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if pass.tally.created > 0 {
        metrics::counter!("triage_mailbox_messages_total", "mailbox" => mailbox.name.clone())
            .increment(pass.tally.created as u64);
    }
    Ok(pass)
}

/// Records objects as read: with the email each became, or why it could not be one.
async fn record_objects(
    tx: &mut sqlx::AnyConnection,
    mailbox_id: i64,
    records: &[(&Listed, Option<i64>, Option<&str>)],
    now: i64,
) -> DomainResult<()> {
    // One statement for many rows: six parameters a row, well under either
    // database's limit at 100 rows.
    for rows in records.chunks(100) {
        let values: Vec<String> = (0..rows.len())
            .map(|i| {
                let p = i * 6 + 2;
                format!(
                    "($1, ${}, ${}, ${}, ${}, ${}, ${})",
                    p,
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO s3_objects \
               (mailbox_id, object_key, etag, last_modified, email_id, error, read_at) \
             VALUES {} ON CONFLICT (mailbox_id, object_key, etag) DO NOTHING",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(mailbox_id);
        for (object, email_id, error) in rows {
            query = query
                .bind(&object.key)
                .bind(&object.etag)
                .bind(object.last_modified_ms.unwrap_or(now))
                .bind(*email_id)
                .bind(*error)
                .bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// "Test connection" for a mailbox read from S3 (`None` for any other): can its
/// prefix be listed, and what is there.
pub async fn check_mailbox(
    mailbox: &Mailbox,
    default: &crate::aws::ServiceAddress,
    credentials: &crate::scoring::AwsCredentials,
) -> Option<crate::wire::mailboxes::ConnectionCheck> {
    let source = mailbox.s3.as_ref()?;
    let client = crate::aws::s3(&source.address(default), credentials).await;
    Some(check(&client, source).await)
}

async fn check(client: &Client, source: &S3Source) -> crate::wire::mailboxes::ConnectionCheck {
    let listed = client
        .list_objects_v2()
        .bucket(&source.bucket)
        .prefix(&source.prefix)
        .max_keys(PAGE)
        .send()
        .await;
    match listed {
        Ok(page) => {
            let count = page
                .contents()
                .iter()
                .filter(|o| o.key().is_some_and(is_message))
                .count();
            let more = if page.is_truncated() == Some(true) {
                " or more"
            } else {
                ""
            };
            crate::wire::mailboxes::ConnectionCheck {
                ok: true,
                message: format!("Listed {}: {count}{more} messages there.", source.folder()),
            }
        }
        Err(e) => crate::wire::mailboxes::ConnectionCheck {
            ok: false,
            message: s3_error(&format!("listing {}", source.folder()), e).to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_the_ses_setup_note_are_not_mail() {
        assert!(is_message("inbound/0f3k2l1m9n8o7p6q5r4s3t2u1v0w"));
        assert!(is_message("message"));
        assert!(!is_message("inbound/"));
        assert!(!is_message(""));
        assert!(!is_message("inbound/AMAZON_SES_SETUP_NOTIFICATION"));
        assert!(!is_message("AMAZON_SES_SETUP_NOTIFICATION"));
        assert!(is_message("inbound/AMAZON_SES_SETUP_NOTIFICATION.eml"));
    }

    #[test]
    fn etags_lose_their_quotes_and_hash_to_a_stable_safe_number() {
        assert_eq!(
            etag("\"9b2cf535f27731c974343645a3985328\""),
            "9b2cf535f27731c974343645a3985328"
        );
        assert_eq!(etag("abc-3"), "abc-3");
        let uid = unreadable_uid("9b2cf535f27731c974343645a3985328");
        assert_eq!(uid, unreadable_uid("9b2cf535f27731c974343645a3985328"));
        assert_ne!(uid, unreadable_uid("9b2cf535f27731c974343645a3985329"));
        assert!((0..1i64 << 48).contains(&uid), "{uid}");
    }

    fn listed(sizes: &[i64]) -> Vec<Listed> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, size)| Listed {
                key: format!("k{i}"),
                etag: format!("e{i}"),
                size: *size,
                last_modified_ms: None,
            })
            .collect()
    }

    #[test]
    fn chunks_are_bounded_by_count_and_bytes_and_wait_for_the_listing() {
        let max = 25 * 1024 * 1024;
        // Too few for a chunk while the listing goes on; all of them once it is over.
        let mut pending = listed(&[1000; 10]);
        assert_eq!(take_chunk(&mut pending, false, max), None);
        assert_eq!(take_chunk(&mut pending, true, max).unwrap().len(), 10);
        assert_eq!(take_chunk(&mut pending, true, max), None);

        let mut pending = listed(&[1000; 250]);
        assert_eq!(take_chunk(&mut pending, false, max).unwrap().len(), CHUNK);
        assert_eq!(pending.len(), 150);

        // Large messages: as many as fit in the byte budget, at least one.
        let mut pending = listed(&[20 * 1024 * 1024; 3]);
        assert_eq!(take_chunk(&mut pending, false, max).unwrap().len(), 1);
        // One over the size limit counts as its header only.
        let mut pending = listed(&[i64::MAX, 1000, 1000]);
        assert_eq!(take_chunk(&mut pending, true, max).unwrap().len(), 3);
    }

    #[test]
    fn the_header_ends_at_the_first_blank_line() {
        assert_eq!(
            header_of(b"Subject: a\r\nFrom: b\r\n\r\nbody\r\n\r\nmore"),
            b"Subject: a\r\nFrom: b\r\n\r\n"
        );
        assert_eq!(header_of(b"Subject: a\n\nbody"), b"Subject: a\n\n");
        assert_eq!(header_of(b"Subject: cut off"), b"Subject: cut off");
    }
}
