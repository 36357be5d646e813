//! The background work of mailboxes, inside `triage serve` and `triage worker`: one
//! task per folder to read (IDLE where the server has it, polling where not), and
//! the outbox's sender. Changes on the Mailboxes page take effect at once (`reload`);
//! the list is also read again every half minute, for changes another process made.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::imap::{self, MailError};
use super::sync::{self, SyncError};
use super::{Mailbox, outbox};
use crate::db::Db;
use crate::secrets::SecretBox;

/// How the runner works; the defaults suit a server.
#[derive(Clone)]
pub struct RunnerSettings {
    /// Largest message stored whole (bytes).
    pub max_message_bytes: usize,
    /// Names this process in folder leases.
    pub owner: String,
    /// Longest wait between two looks at the outbox.
    pub outbox_interval: Duration,
    /// Longest wait between two readings of the mailbox list.
    pub reload_interval: Duration,
    /// First wait after a failure; it doubles up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Called when new mail was stored (the arrival scorer's wake-up).
    pub on_new_mail: Arc<dyn Fn() + Send + Sync>,
}

impl RunnerSettings {
    pub fn new(
        max_message_bytes: usize,
        on_new_mail: Arc<dyn Fn() + Send + Sync>,
    ) -> RunnerSettings {
        RunnerSettings {
            max_message_bytes,
            owner: format!(
                "{}-{}-{:x}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "triage".into()),
                std::process::id(),
                rand::random::<u32>()
            ),
            outbox_interval: Duration::from_secs(5),
            reload_interval: Duration::from_secs(30),
            first_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            on_new_mail,
        }
    }
}

/// A handle on this process's mailbox runner; cheap to clone.
#[derive(Clone)]
pub struct MailHandle {
    reload: Arc<Notify>,
    outbox: Arc<Notify>,
}

impl MailHandle {
    /// A handle on nothing (mail runs in another process).
    pub fn detached() -> MailHandle {
        MailHandle {
            reload: Arc::new(Notify::new()),
            outbox: Arc::new(Notify::new()),
        }
    }

    /// Mailboxes changed: read them again now.
    pub fn reload(&self) {
        self.reload.notify_one();
    }

    /// A reply is waiting: send it now.
    pub fn send_now(&self) {
        self.outbox.notify_one();
    }
}

/// Starts the runner of this process.
pub fn spawn(db: Db, secrets: SecretBox, settings: RunnerSettings) -> MailHandle {
    let handle = MailHandle::detached();
    tokio::spawn(supervise(
        db.clone(),
        secrets.clone(),
        settings.clone(),
        Arc::clone(&handle.reload),
    ));
    tokio::spawn(send_loop(db, secrets, settings, Arc::clone(&handle.outbox)));
    handle
}

/// Keeps one reading task per configured folder, restarting a folder's task when its
/// mailbox changed.
async fn supervise(db: Db, secrets: SecretBox, settings: RunnerSettings, reload: Arc<Notify>) {
    let mut running: HashMap<(i64, String), (Mailbox, JoinHandle<()>)> = HashMap::new();
    loop {
        match super::active(&db, &secrets).await {
            Err(e) => tracing::warn!(error = %e, "cannot read the mailboxes"),
            Ok(mailboxes) => {
                let wanted: HashMap<(i64, String), Mailbox> = mailboxes
                    .into_iter()
                    .filter(|m| m.imap.is_some())
                    .flat_map(|m| {
                        m.folders
                            .clone()
                            .into_iter()
                            .map(move |f| ((m.id, f), m.clone()))
                    })
                    .collect();
                running.retain(|key, (config, task)| {
                    let keep = wanted.get(key) == Some(config) && !task.is_finished();
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for (key, mailbox) in wanted {
                    let folder = key.1.clone();
                    running.entry(key).or_insert_with(|| {
                        let task = tokio::spawn(read_folder(
                            db.clone(),
                            mailbox.clone(),
                            folder,
                            settings.clone(),
                        ));
                        (mailbox, task)
                    });
                }
            }
        }
        let _ = tokio::time::timeout(settings.reload_interval, reload.notified()).await;
    }
}

/// Reads one folder for as long as the process runs: connect, read, wait for news
/// (IDLE or a poll), read again. A failure is recorded on the folder (the last good
/// sync time stays) and retried with back-off.
async fn read_folder(db: Db, mailbox: Mailbox, folder: String, settings: RunnerSettings) {
    let mut backoff = settings.first_backoff;
    loop {
        match watch(&db, &mailbox, &folder, &settings, &mut backoff).await {
            Ok(()) => {
                // Another process reads this folder: look again after a poll interval,
                // to take over if it stops.
                tokio::time::sleep(Duration::from_secs(mailbox.poll_seconds)).await;
                continue;
            }
            Err(SyncError::Mail(e)) => {
                tracing::warn!(mailbox = %mailbox.name, %folder, error = %e, "mailbox unavailable");
                metrics::counter!("triage_mailbox_errors_total",
                    "mailbox" => mailbox.name.clone(), "kind" => e.kind())
                .increment(1);
                let _ = sync::record_error(&db, mailbox.id, &folder, &e.to_string()).await;
            }
            Err(SyncError::Domain(e)) => {
                tracing::warn!(mailbox = %mailbox.name, %folder, error = %e, "storing mail failed");
                metrics::counter!("triage_mailbox_errors_total",
                    "mailbox" => mailbox.name.clone(), "kind" => "database")
                .increment(1);
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(settings.max_backoff);
    }
}

/// One connection's life. Returns `Ok` when the folder is another process's to read.
async fn watch(
    db: &Db,
    mailbox: &Mailbox,
    folder: &str,
    settings: &RunnerSettings,
    backoff: &mut Duration,
) -> Result<(), SyncError> {
    let account = mailbox.imap.as_ref().expect("only IMAP mailboxes are read");
    let poll = Duration::from_secs(mailbox.poll_seconds);
    // The lease outlives the longest wait between renewals.
    let lease_ms = (poll.max(Duration::from_secs(30)).as_millis() as i64) * 3;
    if !sync::take_lease(db, mailbox.id, folder, &settings.owner, lease_ms).await? {
        return Ok(());
    }
    let mut session = imap::connect(account).await?;
    let idle = session
        .capabilities()
        .await
        .map_err(MailError::from)?
        .has_str("IDLE");
    loop {
        if !sync::take_lease(db, mailbox.id, folder, &settings.owner, lease_ms).await? {
            let _ = session.logout().await;
            return Ok(());
        }
        // Read until nothing is left (new mail between backfill chunks included).
        loop {
            let pass = sync::pass(
                &mut session,
                db,
                mailbox,
                folder,
                settings.max_message_bytes,
            )
            .await?;
            if pass.tally.created > 0 {
                (settings.on_new_mail)();
            }
            *backoff = settings.first_backoff;
            metrics::gauge!("triage_mailbox_last_sync_timestamp_seconds",
                "mailbox" => mailbox.name.clone(), "folder" => folder.to_string())
            .set(crate::time::now_ms() as f64 / 1000.0);
            if !pass.backfill_left {
                break;
            }
        }
        if idle {
            // Wait for the server to tell of news; renew the lease at least every
            // `poll` (IDLE is also re-issued then, as servers drop idle clients).
            let mut handle = session.idle();
            handle.init().await.map_err(MailError::from)?;
            let (wait, _stop) = handle.wait_with_timeout(poll.min(Duration::from_secs(25 * 60)));
            let response = wait.await.map_err(MailError::from)?;
            session = handle.done().await.map_err(MailError::from)?;
            if matches!(response, IdleResponse::ManualInterrupt) {
                // Nothing here interrupts IDLE: the connection ended under it.
                return Err(
                    MailError::Unreachable("the server closed the connection".into()).into(),
                );
            }
        } else {
            tokio::time::sleep(poll).await;
            session.noop().await.map_err(MailError::from)?;
        }
    }
}

/// Sends due replies whenever one is queued here, and every few seconds for those
/// queued elsewhere or waiting out a back-off.
async fn send_loop(db: Db, secrets: SecretBox, settings: RunnerSettings, wake: Arc<Notify>) {
    loop {
        match outbox::send_due(&db, &secrets).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sent = n, "replies sent"),
            Err(e) => tracing::warn!(error = %e, "the outbox could not be read"),
        }
        let _ = tokio::time::timeout(settings.outbox_interval, wake.notified()).await;
    }
}
