//! The background work of mailboxes, inside `triage serve` and `triage worker`: one
//! task per IMAP folder to read (IDLE where the server has it, polling where not),
//! one per S3 mailbox (a pass every poll interval), and the outbox's sender. Changes
//! on the Mailboxes page take effect at once (`reload`); the list is also read again
//! every half minute, for changes another process made. A sync asked for
//! (`MailHandle::sync_now`, e.g. by an S3 event through a Lambda) wakes the
//! mailbox's tasks at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::imap::{self, MailError};
use super::sync::{self, SyncError};
use super::{Mailbox, outbox, s3};
use crate::aws::ServiceAddress;
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::scoring::AwsCredentials;
use crate::secrets::SecretBox;
use crate::wire::mailboxes::{MailboxKind, SyncRequested};

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
    /// S3 for a mailbox that names no region or endpoint of its own.
    pub s3: ServiceAddress,
    pub aws_credentials: AwsCredentials,
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
            s3: ServiceAddress::default(),
            aws_credentials: AwsCredentials::StandardChain,
        }
    }

    /// Where S3 is unless a mailbox says, and the AWS credentials.
    pub fn with_aws(self, s3: ServiceAddress, aws_credentials: AwsCredentials) -> RunnerSettings {
        RunnerSettings {
            s3,
            aws_credentials,
            ..self
        }
    }
}

/// The wake-up of each reading task of this process, by mailbox: (folder, wake-up).
type Readers = Arc<Mutex<HashMap<i64, Vec<(String, Arc<Notify>)>>>>;

/// A handle on this process's mailbox runner; cheap to clone.
#[derive(Clone)]
pub struct MailHandle {
    reload: Arc<Notify>,
    outbox: Arc<Notify>,
    readers: Readers,
    /// What a sync asked of a mailbox that no task here reads needs (`None`: a handle
    /// on nothing).
    requests: Option<Arc<Requests>>,
}

struct Requests {
    db: Db,
    secrets: SecretBox,
    settings: RunnerSettings,
    /// S3 mailboxes being read on request, and whether another request came meanwhile.
    in_flight: Mutex<HashMap<i64, bool>>,
}

impl MailHandle {
    /// A handle on nothing (mail runs in another process).
    pub fn detached() -> MailHandle {
        MailHandle {
            reload: Arc::new(Notify::new()),
            outbox: Arc::new(Notify::new()),
            readers: Readers::default(),
            requests: None,
        }
    }

    /// A handle for a process that runs no mailbox tasks (`triage serve` when
    /// `triage worker` reads the mail): a sync asked of an S3 mailbox runs here, once.
    pub fn without_tasks(db: Db, secrets: SecretBox, settings: RunnerSettings) -> MailHandle {
        MailHandle {
            requests: Some(Arc::new(Requests {
                db,
                secrets,
                settings,
                in_flight: Mutex::default(),
            })),
            ..MailHandle::detached()
        }
    }

    /// Reads a mailbox now: wakes its tasks in this process (an IMAP folder waiting
    /// for its next poll or IDLE news, an S3 mailbox waiting for its next pass). An S3
    /// mailbox no task here reads (mail read by another process, or a mailbox just
    /// added) gets a pass of its own here: two passes at once store nothing twice.
    /// Refused for a disabled mailbox, and for an IMAP one no task here reads.
    pub async fn sync_now(&self, mailbox_id: i64) -> DomainResult<SyncRequested> {
        let Some(requests) = &self.requests else {
            return Err(DomainError::Conflict("this process reads no mail".into()));
        };
        let view = super::get(&requests.db, mailbox_id).await?;
        if !view.enabled {
            return Err(DomainError::Conflict(
                "the mailbox is disabled: enable it to read it".into(),
            ));
        }
        let asked = SyncRequested {
            mailbox_id,
            kind: view.kind,
            folders: view.folders.iter().map(|f| f.folder.clone()).collect(),
        };
        let woken = {
            let readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
            let tasks = readers
                .get(&mailbox_id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for (_, wake) in tasks {
                // Stored if the task is mid-pass: it makes one more right after.
                wake.notify_one();
            }
            !tasks.is_empty()
        };
        match view.kind {
            _ if woken => Ok(asked),
            MailboxKind::S3 => {
                read_once(Arc::clone(requests), mailbox_id);
                Ok(asked)
            }
            MailboxKind::Imap if view.imap_host.is_empty() => Err(DomainError::Conflict(
                "this mailbox has no IMAP server: it only sends".into(),
            )),
            MailboxKind::Imap => Err(DomainError::Conflict(
                "this process does not read this mailbox's folders (mail is read by `triage \
                 worker`, or the mailbox was added a moment ago): new mail arrives by IDLE, or \
                 at the next poll"
                    .into(),
            )),
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
    let handle = MailHandle::without_tasks(db.clone(), secrets.clone(), settings.clone());
    tokio::spawn(supervise(
        db.clone(),
        secrets.clone(),
        settings.clone(),
        Arc::clone(&handle.reload),
        Arc::clone(&handle.readers),
    ));
    tokio::spawn(send_loop(db, secrets, settings, Arc::clone(&handle.outbox)));
    handle
}

/// A reading task: what it reads, and how to wake it.
struct Reader {
    mailbox: Mailbox,
    task: JoinHandle<()>,
    wake: Arc<Notify>,
}

/// What a mailbox's reading tasks read: each IMAP folder, or the S3 prefix.
fn reading(mailbox: Mailbox) -> Vec<((i64, String), Mailbox)> {
    let folders = match (&mailbox.imap, &mailbox.s3) {
        (Some(_), _) => mailbox.folders.clone(),
        (None, Some(source)) => vec![source.folder()],
        (None, None) => Vec::new(),
    };
    folders
        .into_iter()
        .map(|f| ((mailbox.id, f), mailbox.clone()))
        .collect()
}

/// Keeps one reading task per configured folder or S3 mailbox, restarting a task
/// when its mailbox changed.
async fn supervise(
    db: Db,
    secrets: SecretBox,
    settings: RunnerSettings,
    reload: Arc<Notify>,
    readers: Readers,
) {
    let mut running: HashMap<(i64, String), Reader> = HashMap::new();
    loop {
        match super::active(&db, &secrets).await {
            Err(e) => tracing::warn!(error = %e, "cannot read the mailboxes"),
            Ok(mailboxes) => {
                let wanted: HashMap<(i64, String), Mailbox> =
                    mailboxes.into_iter().flat_map(reading).collect();
                running.retain(|key, reader| {
                    let keep =
                        wanted.get(key) == Some(&reader.mailbox) && !reader.task.is_finished();
                    if !keep {
                        reader.task.abort();
                    }
                    keep
                });
                for (key, mailbox) in wanted {
                    let folder = key.1.clone();
                    running.entry(key).or_insert_with(|| {
                        let wake = Arc::new(Notify::new());
                        let (db, settings, woken) =
                            (db.clone(), settings.clone(), Arc::clone(&wake));
                        let task = match mailbox.kind {
                            MailboxKind::Imap => tokio::spawn(read_folder(
                                db,
                                mailbox.clone(),
                                folder,
                                settings,
                                woken,
                            )),
                            MailboxKind::S3 => {
                                tokio::spawn(read_bucket(db, mailbox.clone(), settings, woken))
                            }
                        };
                        Reader {
                            mailbox,
                            task,
                            wake,
                        }
                    });
                }
                let mut wakes: HashMap<i64, Vec<(String, Arc<Notify>)>> = HashMap::new();
                for ((id, folder), reader) in &running {
                    wakes
                        .entry(*id)
                        .or_default()
                        .push((folder.clone(), Arc::clone(&reader.wake)));
                }
                *readers.lock().unwrap_or_else(|e| e.into_inner()) = wakes;
            }
        }
        let _ = tokio::time::timeout(settings.reload_interval, reload.notified()).await;
    }
}

/// Counts and records a failed read: on the folder (the last good sync time stays)
/// when it is the mail server's or S3's fault.
async fn report(db: &Db, mailbox: &Mailbox, folder: &str, error: &SyncError) {
    match error {
        SyncError::Mail(e) => {
            tracing::warn!(mailbox = %mailbox.name, %folder, error = %e, "mailbox unavailable");
            metrics::counter!("triage_mailbox_errors_total",
                "mailbox" => mailbox.name.clone(), "kind" => e.kind())
            .increment(1);
            let _ = sync::record_error(db, mailbox.id, folder, &e.to_string()).await;
        }
        SyncError::Domain(e) => {
            tracing::warn!(mailbox = %mailbox.name, %folder, error = %e, "storing mail failed");
            metrics::counter!("triage_mailbox_errors_total",
                "mailbox" => mailbox.name.clone(), "kind" => "database")
            .increment(1);
        }
    }
}

/// After a read that stored new mail: the mailbox's Batch Transform job, when it asks
/// for one. A job that cannot be queued (no model is active) shows on the folder.
async fn after_new_mail(db: &Db, mailbox: &Mailbox, folder: &str) {
    if !mailbox.transform_after_sync {
        return;
    }
    if let Err(e) = super::queue_transform(db).await {
        tracing::warn!(mailbox = %mailbox.name, error = %e, "no Batch Transform job could be queued");
        let said = format!("new mail was stored, but no Batch Transform job could be queued: {e}");
        let _ = sync::record_error(db, mailbox.id, folder, &said).await;
    }
}

/// One pass over an S3 mailbox, as every reader of one makes it.
pub async fn read_bucket_once(
    client: &aws_sdk_s3::Client,
    db: &Db,
    mailbox: &Mailbox,
    settings: &RunnerSettings,
) -> Result<sync::Pass, SyncError> {
    let folder = mailbox.s3.as_ref().map(|s| s.folder()).unwrap_or_default();
    let pass = s3::pass(
        client,
        db,
        mailbox,
        settings.max_message_bytes,
        settings.on_new_mail.as_ref(),
    )
    .await;
    match &pass {
        Ok(pass) => {
            metrics::gauge!("triage_mailbox_last_sync_timestamp_seconds",
                "mailbox" => mailbox.name.clone(), "folder" => folder.clone())
            .set(crate::time::now_ms() as f64 / 1000.0);
            if pass.tally.created > 0 {
                after_new_mail(db, mailbox, &folder).await;
            }
        }
        Err(e) => report(db, mailbox, &folder, e).await,
    }
    pass
}

/// Reads an S3 mailbox for as long as the process runs: a pass every poll interval,
/// and at once when asked. One process at a time reads it on its own schedule (the
/// lease, as for an IMAP folder); a pass asked for runs even where another process
/// holds the lease, as two passes store nothing twice.
async fn read_bucket(db: Db, mailbox: Mailbox, settings: RunnerSettings, wake: Arc<Notify>) {
    let Some(source) = mailbox.s3.clone() else {
        return;
    };
    let folder = source.folder();
    let client = crate::aws::s3(&source.address(&settings.s3), &settings.aws_credentials).await;
    let poll = Duration::from_secs(mailbox.poll_seconds);
    let lease_ms = (poll.max(Duration::from_secs(30)).as_millis() as i64) * 3;
    let mut backoff = settings.first_backoff;
    let mut asked = false;
    loop {
        let ours = match sync::take_lease(&db, mailbox.id, &folder, &settings.owner, lease_ms).await
        {
            Ok(ours) => ours,
            Err(e) => {
                tracing::warn!(mailbox = %mailbox.name, error = %e, "cannot take the mailbox's lease");
                false
            }
        };
        let wait = if ours || asked {
            match read_bucket_once(&client, &db, &mailbox, &settings).await {
                Ok(_) => {
                    backoff = settings.first_backoff;
                    poll
                }
                Err(_) => {
                    let wait = backoff;
                    backoff = (backoff * 2).min(settings.max_backoff);
                    wait.min(poll)
                }
            }
        } else {
            poll
        };
        asked = tokio::time::timeout(wait, wake.notified()).await.is_ok();
    }
}

/// A pass asked of an S3 mailbox that no task of this process reads. Requests that
/// come while it runs make one more pass after it, not one each.
fn read_once(requests: Arc<Requests>, mailbox_id: i64) {
    {
        let mut in_flight = requests.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(again) = in_flight.get_mut(&mailbox_id) {
            *again = true;
            return;
        }
        in_flight.insert(mailbox_id, false);
    }
    tokio::spawn(async move {
        loop {
            match super::load(&requests.db, &requests.secrets, mailbox_id).await {
                Ok(mailbox) => {
                    if let Some(source) = &mailbox.s3 {
                        let address = source.address(&requests.settings.s3);
                        let client =
                            crate::aws::s3(&address, &requests.settings.aws_credentials).await;
                        let _ =
                            read_bucket_once(&client, &requests.db, &mailbox, &requests.settings)
                                .await;
                    }
                }
                Err(e) => tracing::warn!(mailbox_id, error = %e, "cannot load the mailbox"),
            }
            let again = {
                let mut in_flight = requests.in_flight.lock().unwrap_or_else(|e| e.into_inner());
                let again = in_flight.get(&mailbox_id) == Some(&true);
                if again {
                    in_flight.insert(mailbox_id, false);
                } else {
                    in_flight.remove(&mailbox_id);
                }
                again
            };
            if !again {
                break;
            }
        }
    });
}

/// Reads one folder for as long as the process runs: connect, read, wait for news
/// (IDLE or a poll, or a sync asked for), read again. A failure is recorded on the
/// folder (the last good sync time stays) and retried with back-off.
async fn read_folder(
    db: Db,
    mailbox: Mailbox,
    folder: String,
    settings: RunnerSettings,
    wake: Arc<Notify>,
) {
    let mut backoff = settings.first_backoff;
    loop {
        match watch(&db, &mailbox, &folder, &settings, &mut backoff, &wake).await {
            Ok(()) => {
                // Another process reads this folder: look again after a poll interval,
                // to take over if it stops.
                let poll = Duration::from_secs(mailbox.poll_seconds);
                let _ = tokio::time::timeout(poll, wake.notified()).await;
                continue;
            }
            Err(e) => report(&db, &mailbox, &folder, &e).await,
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
    wake: &Notify,
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
                after_new_mail(db, mailbox, folder).await;
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
            let woken: bool;
            let response = {
                let (wait, stop) = handle.wait_with_timeout(poll.min(Duration::from_secs(25 * 60)));
                tokio::pin!(wait);
                tokio::select! {
                    response = &mut wait => {
                        woken = false;
                        response
                    }
                    _ = wake.notified() => {
                        // A sync asked for: end IDLE (dropping its stop source), read.
                        woken = true;
                        drop(stop);
                        wait.await
                    }
                }
            }
            .map_err(MailError::from)?;
            session = handle.done().await.map_err(MailError::from)?;
            if matches!(response, IdleResponse::ManualInterrupt) && !woken {
                // Nothing here interrupts IDLE: the connection ended under it.
                return Err(
                    MailError::Unreachable("the server closed the connection".into()).into(),
                );
            }
        } else {
            let _ = tokio::time::timeout(poll, wake.notified()).await;
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
