//! Reading one IMAP folder into Triage: new mail first, then (at the first
//! connection) the mail already there, newest first, a chunk at a time, so a
//! mailbox holding 10,000 messages never keeps new mail waiting for long.
//!
//! Where reading stands lives in `mailbox_folders` (UIDVALIDITY, the highest UID of
//! new mail stored, the backfill's lower edge). It is written after each chunk's
//! emails are stored, so a crash or a dropped connection repeats at most one chunk,
//! and a repeated message is a duplicate by Message-ID (or by its UID, for one the
//! parser could not read): nothing is lost, nothing stored twice.

use crate::db::Db;
use crate::error::DomainResult;
use crate::ingest::{self, Outcome, Tally, parse};
use crate::time::now_ms;
use crate::wire::mailboxes::AfterStore;

use super::Mailbox;
use super::imap::{self, MailError, Session};

/// Messages fetched at once.
pub const CHUNK: usize = 50;

/// Where reading a folder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct FolderState {
    pub uid_validity: Option<i64>,
    pub last_uid: i64,
    pub backfill_below: i64,
}

/// What one pass stored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub tally: Tally,
    pub unreadable: usize,
    /// Mail already on the server still to read in.
    pub backfill_left: bool,
}

impl Pass {
    fn add(&mut self, other: Pass) {
        self.tally.created += other.tally.created;
        self.tally.duplicates += other.tally.duplicates;
        self.tally.rejected += other.tally.rejected;
        self.unreadable += other.unreadable;
        self.backfill_left = other.backfill_left;
    }
}

/// A failure while reading: the server's, or the database's (kept apart, because only
/// the server's is the mailbox's fault).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Domain(#[from] crate::error::DomainError),
}

impl From<sqlx::Error> for SyncError {
    fn from(e: sqlx::Error) -> SyncError {
        SyncError::Domain(e.into())
    }
}

/// Reads a folder: every new message, then one chunk of the backfill. Returns what
/// was stored; call again while `backfill_left`.
pub async fn pass(
    session: &mut Session,
    db: &Db,
    mailbox: &Mailbox,
    folder: &str,
    max_bytes: usize,
) -> Result<Pass, SyncError> {
    let selected = session
        .select(folder)
        .await
        .map_err(|e| MailError::Server(format!("cannot open folder {folder:?}: {e}")))?;
    let uid_validity = selected.uid_validity.map(i64::from);
    let mut state = state(db, mailbox.id, folder).await?;
    if state.uid_validity.is_none() || state.uid_validity != uid_validity {
        // First connection, or the server renumbered the folder: read everything
        // again (Message-IDs keep it from storing anything twice).
        let highest = match selected.uid_next {
            Some(next) => i64::from(next) - 1,
            None => imap::uid_search(session, "ALL")
                .await?
                .last()
                .map_or(0, |u| i64::from(*u)),
        };
        state = FolderState {
            uid_validity,
            last_uid: highest,
            backfill_below: highest + 1,
        };
        restart(db, mailbox.id, folder, state, i64::from(selected.exists)).await?;
    }
    let validity = state.uid_validity.unwrap_or(0);
    let mut pass = Pass::default();

    // New mail, oldest first, in chunks.
    let new: Vec<u32> = imap::uid_search(session, &format!("UID {}:*", state.last_uid + 1))
        .await?
        .into_iter()
        .filter(|u| i64::from(*u) > state.last_uid)
        .collect();
    for chunk in new.chunks(CHUNK) {
        let stored = store_chunk(session, db, mailbox, folder, validity, chunk, max_bytes).await?;
        let highest = i64::from(*chunk.last().expect("chunks are not empty"));
        record(db, mailbox.id, folder, "last_uid = $3", highest, &stored, 0).await?;
        pass.add(stored);
    }

    // One chunk of the mail already there, newest first.
    if state.backfill_below > 1 {
        let (older, lowest_asked) = older_uids(session, state.backfill_below).await?;
        let chunk: Vec<u32> = older.iter().rev().take(CHUNK).rev().copied().collect();
        if chunk.is_empty() {
            let nothing = Pass::default();
            record(
                db,
                mailbox.id,
                folder,
                "backfill_below = $3",
                0,
                &nothing,
                0,
            )
            .await?;
        } else {
            let mut stored =
                store_chunk(session, db, mailbox, folder, validity, &chunk, max_bytes).await?;
            let lowest = i64::from(chunk[0]);
            let edge = "backfill_below = $3";
            record(db, mailbox.id, folder, edge, lowest, &stored, chunk.len()).await?;
            stored.backfill_left = older.len() > chunk.len() || lowest_asked > 1;
            pass.add(stored);
        }
    }
    sqlx::query(
        "UPDATE mailbox_folders SET last_sync_at = $3, last_error = NULL, last_error_at = NULL \
         WHERE mailbox_id = $1 AND folder = $2",
    )
    .bind(mailbox.id)
    .bind(folder)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(pass)
}

/// At least a chunk's worth of the UIDs below `below` (all of them when fewer are
/// left), ascending, and the lowest UID asked about. Asking for a window below the
/// edge, widened until it holds a chunk, keeps each search small: asking for every
/// UID left would make reading a large mailbox cost the square of its size.
async fn older_uids(session: &mut Session, below: i64) -> Result<(Vec<u32>, i64), MailError> {
    let mut window = (CHUNK * 4) as i64;
    loop {
        let lowest = (below - window).max(1);
        let uids = imap::uid_search(session, &format!("UID {lowest}:{}", below - 1)).await?;
        // `UID a:b` also answers the highest UID when none is in the range; keep the range.
        let uids: Vec<u32> = uids
            .into_iter()
            .filter(|u| i64::from(*u) >= lowest && i64::from(*u) < below)
            .collect();
        if uids.len() >= CHUNK || lowest == 1 {
            return Ok((uids, lowest));
        }
        window *= 4;
    }
}

/// Fetches, parses and stores the messages `uids`, then applies the mailbox's
/// after-store action on the server.
async fn store_chunk(
    session: &mut Session,
    db: &Db,
    mailbox: &Mailbox,
    folder: &str,
    validity: i64,
    uids: &[u32],
    max_bytes: usize,
) -> Result<Pass, SyncError> {
    let set = imap::uid_set(uids);
    // Sizes first: a message over the limit is never downloaded whole.
    let sizes = imap::uid_fetch(session, &set, "(UID RFC822.SIZE)").await?;
    let (small, large): (Vec<_>, Vec<_>) =
        sizes.iter().partition(|f| (f.size as usize) <= max_bytes);
    let mut fetched = Vec::new();
    if !small.is_empty() {
        let set = imap::uid_set(&small.iter().map(|f| f.uid).collect::<Vec<_>>());
        fetched =
            imap::uid_fetch(session, &set, "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[])").await?;
    }
    let now = now_ms();
    let mut pass = Pass::default();
    let mut emails = Vec::new();
    let mut unreadable: Vec<(u32, Vec<u8>, String)> = Vec::new();
    for message in fetched {
        let raw = message.raw.unwrap_or_default();
        match parse::parse_raw(
            &raw,
            message.internal_date_ms.unwrap_or(now),
            max_bytes,
            "imap",
        ) {
            Ok(mut email) => {
                email.mailbox_id = Some(mailbox.id);
                emails.push((email, None));
            }
            Err(reason) => unreadable.push((message.uid, raw, reason.to_string())),
        }
    }
    for message in large {
        let header = imap::uid_fetch(session, &message.uid.to_string(), "(UID BODY.PEEK[HEADER])")
            .await?
            .into_iter()
            .next()
            .and_then(|f| f.raw)
            .unwrap_or_default();
        let reason = ingest::Rejection::TooLarge {
            size: message.size as usize,
            limit: max_bytes,
        };
        unreadable.push((
            message.uid,
            header,
            format!("{reason} (only its header is kept)"),
        ));
    }
    // A reply Triage sent can come back in (a copy to the team's own address, a
    // server that files sent mail in the inbox): it is already on its email's thread.
    let own = sent_by_triage(db, &emails).await?;
    emails.retain(|(email, _)| !own.contains(&email.message_id));
    let outcomes = ingest::store::store_many(db, &emails).await?;
    for outcome in &outcomes {
        pass.tally.add(outcome);
    }
    for (uid, raw, error) in &unreadable {
        keep_unreadable(db, mailbox.id, folder, validity, *uid, raw, error).await?;
        metrics::counter!("triage_ingest_total", "outcome" => "rejected").increment(1);
    }
    pass.unreadable = unreadable.len();
    if outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Created { .. }))
    {
        metrics::counter!("triage_mailbox_messages_total", "mailbox" => mailbox.name.clone())
            .increment(pass.tally.created as u64);
    }
    after_store(session, mailbox, uids).await?;
    Ok(pass)
}

async fn after_store(
    session: &mut Session,
    mailbox: &Mailbox,
    uids: &[u32],
) -> Result<(), MailError> {
    let set = imap::uid_set(uids);
    match mailbox.after_store {
        AfterStore::Keep => {}
        AfterStore::MarkRead => {
            use futures::TryStreamExt;
            let _: Vec<_> = session
                .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                .await?
                .try_collect()
                .await?;
        }
        AfterStore::Move => session.uid_mv(&set, &mailbox.move_to).await.map_err(|e| {
            MailError::Server(format!(
                "cannot move messages to {:?}: {e}",
                mailbox.move_to
            ))
        })?,
    }
    Ok(())
}

async fn keep_unreadable(
    db: &Db,
    mailbox_id: i64,
    folder: &str,
    validity: i64,
    uid: u32,
    raw: &[u8],
    error: &str,
) -> DomainResult<()> {
    sqlx::query(
        "INSERT INTO unreadable_mail (mailbox_id, folder, uid_validity, uid, raw, error, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (mailbox_id, folder, uid_validity, uid) DO NOTHING",
    )
    .bind(mailbox_id)
    .bind(folder)
    .bind(validity)
    .bind(i64::from(uid))
    .bind(raw)
    .bind(error)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Which of these emails' Message-IDs are replies Triage sent (one query a chunk).
pub(super) async fn sent_by_triage(
    db: &Db,
    emails: &[(crate::emails::NewEmail, Option<i64>)],
) -> DomainResult<Vec<String>> {
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=emails.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT message_id FROM outbox WHERE message_id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_scalar(&sql);
    for (email, _) in emails {
        query = query.bind(&email.message_id);
    }
    Ok(query.fetch_all(&db.pool).await?)
}

/// The folder's reading state, created empty the first time.
pub async fn state(db: &Db, mailbox_id: i64, folder: &str) -> DomainResult<FolderState> {
    sqlx::query(
        "INSERT INTO mailbox_folders (mailbox_id, folder) VALUES ($1, $2) \
         ON CONFLICT (mailbox_id, folder) DO NOTHING",
    )
    .bind(mailbox_id)
    .bind(folder)
    .execute(&db.pool)
    .await?;
    Ok(sqlx::query_as(
        "SELECT uid_validity, last_uid, backfill_below FROM mailbox_folders \
         WHERE mailbox_id = $1 AND folder = $2",
    )
    .bind(mailbox_id)
    .bind(folder)
    .fetch_one(&db.pool)
    .await?)
}

async fn restart(
    db: &Db,
    mailbox_id: i64,
    folder: &str,
    state: FolderState,
    exists: i64,
) -> DomainResult<()> {
    sqlx::query(
        "UPDATE mailbox_folders SET uid_validity = $3, last_uid = $4, backfill_below = $5, \
           backfill_total = $6, backfill_done = 0 WHERE mailbox_id = $1 AND folder = $2",
    )
    .bind(mailbox_id)
    .bind(folder)
    .bind(state.uid_validity)
    .bind(state.last_uid)
    .bind(state.backfill_below)
    .bind(exists)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Moves one edge of the reading state (`assignment` sets it from `$3`) and counts
/// what was stored, and how many messages of the read-in were read.
async fn record(
    db: &Db,
    mailbox_id: i64,
    folder: &str,
    assignment: &str,
    value: i64,
    stored: &Pass,
    read_in: usize,
) -> DomainResult<()> {
    sqlx::query(&format!(
        "UPDATE mailbox_folders SET {assignment}, stored = stored + $4, \
           backfill_done = backfill_done + $5 WHERE mailbox_id = $1 AND folder = $2"
    ))
    .bind(mailbox_id)
    .bind(folder)
    .bind(value)
    .bind(stored.tally.created as i64)
    .bind(read_in as i64)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Records a failure on the folder, keeping the last good sync time.
pub async fn record_error(db: &Db, mailbox_id: i64, folder: &str, error: &str) -> DomainResult<()> {
    state(db, mailbox_id, folder).await?;
    sqlx::query(
        "UPDATE mailbox_folders SET last_error = $3, last_error_at = $4 \
         WHERE mailbox_id = $1 AND folder = $2",
    )
    .bind(mailbox_id)
    .bind(folder)
    .bind(error)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Takes (or keeps) the right to read a folder for `lease_ms`: one process at a time
/// reads a folder when several share the database. False: another process has it.
pub async fn take_lease(
    db: &Db,
    mailbox_id: i64,
    folder: &str,
    owner: &str,
    lease_ms: i64,
) -> DomainResult<bool> {
    state(db, mailbox_id, folder).await?;
    let now = now_ms();
    let taken = sqlx::query(
        "UPDATE mailbox_folders SET lease_owner = $3, lease_until = $4 \
         WHERE mailbox_id = $1 AND folder = $2 \
           AND (lease_owner IS NULL OR lease_owner = $3 OR lease_until < $5)",
    )
    .bind(mailbox_id)
    .bind(folder)
    .bind(owner)
    .bind(now + lease_ms)
    .bind(now)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(taken == 1)
}
