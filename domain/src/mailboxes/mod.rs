//! Mailboxes: the team's mail account, read over IMAP (`imap`, `sync`) or from an S3
//! bucket mail is delivered to (`s3`), and written to over SMTP (`outbox`), run in
//! the background by `runner`.
//!
//! This module keeps the mailboxes themselves: their settings as the admin page and
//! `triage.toml` give them (passwords sealed by `crate::secrets`), and what the admin
//! page shows of each.

pub mod imap;
pub mod outbox;
pub mod runner;
pub mod s3;
pub mod sync;

use serde::Deserialize;

use crate::audit::{self, Actor};
use crate::aws::ServiceAddress;
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::jobs::NewJob;
use crate::secrets::SecretBox;
use crate::time::now_ms;
use crate::wire::JobKind;
use crate::wire::mailboxes::{
    AfterStore, FolderStatus, MailboxInput, MailboxKind, MailboxView, Security, UnreadableMail,
};

/// One server account, with its password opened: only the runner and the connection
/// test hold one.
#[derive(Clone, PartialEq)]
pub struct Account {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{}:{} ({})",
            self.user,
            self.host,
            self.port,
            self.security.as_str()
        )
    }
}

/// Where an S3 mailbox's mail is delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct S3Source {
    pub bucket: String,
    pub prefix: String,
    /// Empty: the settings' S3 region.
    pub region: String,
    /// Empty: the settings' S3 endpoint (AWS itself unless one is set).
    pub endpoint_url: String,
}

impl S3Source {
    /// `s3://bucket/prefix`: the name its reading state is kept under (as an IMAP
    /// folder's is), and what the Mailboxes page shows.
    pub fn folder(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Where S3 is for this mailbox: its own region and endpoint, else `default`'s.
    pub fn address(&self, default: &ServiceAddress) -> ServiceAddress {
        ServiceAddress {
            region: if self.region.is_empty() {
                default.region.clone()
            } else {
                self.region.clone()
            },
            endpoint_url: if self.endpoint_url.is_empty() {
                default.endpoint_url.clone()
            } else {
                Some(self.endpoint_url.clone())
            },
        }
    }
}

/// A mailbox as the runner uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct Mailbox {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub kind: MailboxKind,
    /// `None`: no IMAP side (a send-only mailbox, or one read from S3).
    pub imap: Option<Account>,
    /// `Some` for a mailbox read from S3.
    pub s3: Option<S3Source>,
    /// Queue a Batch Transform job when a sync stored new mail.
    pub transform_after_sync: bool,
    pub folders: Vec<String>,
    pub poll_seconds: u64,
    pub after_store: AfterStore,
    pub move_to: String,
    /// `None`: replies cannot be sent from it.
    pub smtp: Option<Account>,
}

/// A mailbox defined in `triage.toml` (`[[mailboxes]]`): the same fields as the
/// admin page's form, passwords in clear (keep the file private).
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct MailboxConfig {
    #[serde(flatten)]
    pub input: MailboxInput,
}

impl std::fmt::Debug for MailboxConfig {
    // Never the passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MailboxConfig({:?})", self.input.name)
    }
}

/// The input with the usual ports and poll interval where none was given. An S3
/// mailbox keeps no IMAP settings (a stored IMAP password is cleared), an IMAP one no
/// S3 settings.
pub fn with_defaults(input: &MailboxInput) -> MailboxInput {
    let mut input = input.clone();
    match input.kind {
        MailboxKind::S3 => {
            input.imap_host.clear();
            input.imap_user.clear();
            input.imap_password = Some(String::new());
            input.imap_folders.clear();
            input.after_store = AfterStore::Keep;
            input.move_to.clear();
            input.s3_bucket = input.s3_bucket.trim().to_string();
            // Keys never start with a slash; a prefix typed as a path would match nothing.
            input.s3_prefix = input.s3_prefix.trim().trim_start_matches('/').to_string();
            input.s3_region = input.s3_region.trim().to_string();
            input.s3_endpoint_url = input.s3_endpoint_url.trim().to_string();
        }
        MailboxKind::Imap => {
            input.s3_bucket.clear();
            input.s3_prefix.clear();
            input.s3_region.clear();
            input.s3_endpoint_url.clear();
        }
    }
    if input.imap_port == 0 {
        input.imap_port = match input.imap_security {
            Security::Tls => 993,
            Security::Starttls | Security::None => 143,
        };
    }
    if input.smtp_port == 0 {
        input.smtp_port = match input.smtp_security {
            Security::Tls => 465,
            Security::Starttls => 587,
            Security::None => 25,
        };
    }
    if input.poll_seconds == 0 {
        input.poll_seconds = 60;
    }
    if input.imap_folders.is_empty() && input.kind == MailboxKind::Imap {
        input.imap_folders = vec!["INBOX".to_string()];
    }
    input
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    address: String,
    imap_host: String,
    imap_port: i64,
    imap_security: String,
    imap_user: String,
    imap_password: String,
    imap_folders: String,
    poll_seconds: i64,
    after_store: String,
    move_to: String,
    smtp_host: String,
    smtp_port: i64,
    smtp_security: String,
    smtp_user: String,
    smtp_password: String,
    kind: String,
    s3_bucket: String,
    s3_prefix: String,
    s3_region: String,
    s3_endpoint_url: String,
    transform_after_sync: i64,
    from_config: i64,
    disabled_at: Option<i64>,
}

const COLUMNS: &str = "id, name, address, imap_host, imap_port, imap_security, imap_user, \
    imap_password, imap_folders, poll_seconds, after_store, move_to, smtp_host, smtp_port, \
    smtp_security, smtp_user, smtp_password, kind, s3_bucket, s3_prefix, s3_region, \
    s3_endpoint_url, transform_after_sync, from_config, disabled_at";

fn folders_of(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

impl Row {
    fn security(s: &str) -> Security {
        Security::parse(s).unwrap_or_default()
    }

    fn kind(&self) -> MailboxKind {
        MailboxKind::parse(&self.kind).unwrap_or_default()
    }

    fn into_mailbox(self, secrets: &SecretBox) -> DomainResult<Mailbox> {
        let account = |host: &str, port: i64, security: &str, user: &str, sealed: &str| {
            if host.is_empty() {
                return Ok(None);
            }
            Ok::<_, DomainError>(Some(Account {
                host: host.to_string(),
                port: port as u16,
                security: Row::security(security),
                user: user.to_string(),
                password: secrets.open(sealed)?,
            }))
        };
        let kind = self.kind();
        Ok(Mailbox {
            imap: match kind {
                MailboxKind::S3 => None,
                MailboxKind::Imap => account(
                    &self.imap_host,
                    self.imap_port,
                    &self.imap_security,
                    &self.imap_user,
                    &self.imap_password,
                )?,
            },
            s3: (kind == MailboxKind::S3).then(|| S3Source {
                bucket: self.s3_bucket.clone(),
                prefix: self.s3_prefix.clone(),
                region: self.s3_region.clone(),
                endpoint_url: self.s3_endpoint_url.clone(),
            }),
            kind,
            transform_after_sync: self.transform_after_sync != 0,
            smtp: account(
                &self.smtp_host,
                self.smtp_port,
                &self.smtp_security,
                &self.smtp_user,
                &self.smtp_password,
            )?,
            folders: folders_of(&self.imap_folders),
            poll_seconds: self.poll_seconds.max(1) as u64,
            after_store: AfterStore::parse(&self.after_store).unwrap_or_default(),
            move_to: self.move_to,
            id: self.id,
            name: self.name,
            address: self.address,
        })
    }

    fn into_view(self) -> MailboxView {
        MailboxView {
            id: self.id,
            kind: self.kind(),
            transform_after_sync: self.transform_after_sync != 0,
            imap_port: self.imap_port as u16,
            imap_security: Row::security(&self.imap_security),
            imap_password_set: !self.imap_password.is_empty(),
            imap_folders: folders_of(&self.imap_folders),
            poll_seconds: self.poll_seconds as u32,
            after_store: AfterStore::parse(&self.after_store).unwrap_or_default(),
            smtp_port: self.smtp_port as u16,
            smtp_security: Row::security(&self.smtp_security),
            smtp_password_set: !self.smtp_password.is_empty(),
            from_config: self.from_config != 0,
            enabled: self.disabled_at.is_none(),
            name: self.name,
            address: self.address,
            imap_host: self.imap_host,
            imap_user: self.imap_user,
            move_to: self.move_to,
            smtp_host: self.smtp_host,
            smtp_user: self.smtp_user,
            s3_bucket: self.s3_bucket,
            s3_prefix: self.s3_prefix,
            s3_region: self.s3_region,
            s3_endpoint_url: self.s3_endpoint_url,
            folders: Vec::new(),
            unreadable: 0,
            outbox_queued: 0,
            outbox_failed: 0,
            s3_objects: 0,
        }
    }
}

/// Checks a mailbox's settings; every message names the field at fault.
pub fn validate(input: &MailboxInput) -> DomainResult<()> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(DomainError::invalid("name", "1 to 100 characters"));
    }
    if input.address.trim().parse::<lettre::Address>().is_err() {
        return Err(DomainError::invalid(
            "address",
            format!("{:?} is not an email address", input.address),
        ));
    }
    if input.kind == MailboxKind::S3 {
        validate_s3(input)?;
    } else if input.imap_host.trim().is_empty() && input.smtp_host.trim().is_empty() {
        return Err(DomainError::invalid(
            "imap_host",
            "give an IMAP server to read mail, an SMTP server to send it, or both",
        ));
    }
    if !input.imap_host.trim().is_empty() {
        if input.imap_port == 0 {
            return Err(DomainError::invalid("imap_port", "a port from 1 to 65535"));
        }
        if input.imap_folders.iter().all(|f| f.trim().is_empty()) {
            return Err(DomainError::invalid(
                "imap_folders",
                "name at least one folder",
            ));
        }
        if input.imap_folders.iter().any(|f| f.contains(',')) {
            return Err(DomainError::invalid(
                "imap_folders",
                "a folder name cannot hold a comma",
            ));
        }
        if !(5..=3600).contains(&input.poll_seconds) {
            return Err(DomainError::invalid(
                "poll_seconds",
                "from 5 to 3600 seconds",
            ));
        }
        if input.after_store == AfterStore::Move && input.move_to.trim().is_empty() {
            return Err(DomainError::invalid(
                "move_to",
                "name the folder to move messages to",
            ));
        }
    }
    if !input.smtp_host.trim().is_empty() && input.smtp_port == 0 {
        return Err(DomainError::invalid("smtp_port", "a port from 1 to 65535"));
    }
    Ok(())
}

/// An S3 mailbox's own fields (after [`with_defaults`] trimmed them).
fn validate_s3(input: &MailboxInput) -> DomainResult<()> {
    let bucket = &input.s3_bucket;
    if bucket.is_empty() {
        return Err(DomainError::invalid(
            "s3_bucket",
            "name the bucket the mail is delivered to",
        ));
    }
    // S3's naming rules (underscores and capitals only in old us-east-1 buckets, which
    // S3-compatible servers also allow).
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if !(3..=63).contains(&bucket.len()) || !bucket.chars().all(allowed) {
        return Err(DomainError::invalid(
            "s3_bucket",
            format!("{bucket:?} is not a bucket name: 3 to 63 letters, digits, dots and hyphens"),
        ));
    }
    if input.s3_prefix.len() > 1024 {
        return Err(DomainError::invalid(
            "s3_prefix",
            "at most 1,024 bytes, as an S3 key",
        ));
    }
    let region = &input.s3_region;
    if !region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(DomainError::invalid(
            "s3_region",
            format!("{region:?} is not a region, e.g. eu-west-1 (empty: the settings' region)"),
        ));
    }
    let url = &input.s3_endpoint_url;
    if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
        return Err(DomainError::invalid(
            "s3_endpoint_url",
            format!("{url:?} is not an http:// or https:// address (empty: AWS itself)"),
        ));
    }
    if !(5..=3600).contains(&input.poll_seconds) {
        return Err(DomainError::invalid(
            "poll_seconds",
            "from 5 to 3600 seconds",
        ));
    }
    Ok(())
}

/// Every mailbox, enabled or not, with where each folder stands.
pub async fn list(db: &Db) -> DomainResult<Vec<MailboxView>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM mailboxes ORDER BY name"))
        .fetch_all(&db.pool)
        .await?;
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        views.push(with_status(db, row.into_view()).await?);
    }
    Ok(views)
}

pub async fn get(db: &Db, id: i64) -> DomainResult<MailboxView> {
    let row: Row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM mailboxes WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(DomainError::NotFound)?;
    with_status(db, row.into_view()).await
}

/// The names reading state is kept under: the IMAP folders, or the S3 mailbox's
/// `s3://bucket/prefix`.
fn folder_names(view: &MailboxView) -> Vec<String> {
    match view.kind {
        MailboxKind::Imap => view.imap_folders.clone(),
        MailboxKind::S3 => vec![
            S3Source {
                bucket: view.s3_bucket.clone(),
                prefix: view.s3_prefix.clone(),
                region: String::new(),
                endpoint_url: String::new(),
            }
            .folder(),
        ],
    }
}

async fn with_status(db: &Db, mut view: MailboxView) -> DomainResult<MailboxView> {
    let mut folders: Vec<FolderStatus> = sqlx::query_as(
        "SELECT folder, stored, backfill_done, backfill_total, last_sync_at, last_error, \
           last_error_at FROM mailbox_folders WHERE mailbox_id = $1",
    )
    .bind(view.id)
    .fetch_all(&db.pool)
    .await?;
    // The configured folders, in their order, including those never reached.
    view.folders = folder_names(&view)
        .iter()
        .map(
            |name| match folders.iter().position(|f| &f.folder == name) {
                Some(i) => folders.swap_remove(i),
                None => FolderStatus {
                    folder: name.clone(),
                    stored: 0,
                    backfill_done: 0,
                    backfill_total: 0,
                    last_sync_at: None,
                    last_error: None,
                    last_error_at: None,
                },
            },
        )
        .collect();
    view.unreadable =
        sqlx::query_scalar("SELECT COUNT(*) FROM unreadable_mail WHERE mailbox_id = $1")
            .bind(view.id)
            .fetch_one(&db.pool)
            .await?;
    let (queued, failed): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN status IN ('queued', 'sending') THEN 1 ELSE 0 END), 0), \
           COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) \
         FROM outbox WHERE mailbox_id = $1",
    )
    .bind(view.id)
    .fetch_one(&db.pool)
    .await?;
    view.outbox_queued = queued;
    view.outbox_failed = failed;
    if view.kind == MailboxKind::S3 {
        view.s3_objects =
            sqlx::query_scalar("SELECT COUNT(*) FROM s3_objects WHERE mailbox_id = $1")
                .bind(view.id)
                .fetch_one(&db.pool)
                .await?;
    }
    Ok(view)
}

/// Creates a mailbox; the runner picks it up at once.
pub async fn create(
    db: &Db,
    secrets: &SecretBox,
    input: &MailboxInput,
    actor: Actor,
) -> DomainResult<i64> {
    insert(db, secrets, input, false, actor).await
}

async fn insert(
    db: &Db,
    secrets: &SecretBox,
    input: &MailboxInput,
    from_config: bool,
    actor: Actor,
) -> DomainResult<i64> {
    let input = &with_defaults(input);
    validate(input)?;
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO mailboxes (name, address, from_config, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(input.name.trim())
    .bind(input.address.trim())
    .bind(from_config as i64)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| name_taken(e, &input.name))?;
    // A new mailbox's passwords are what was given, or none.
    let mut input = input.clone();
    input.imap_password.get_or_insert_with(String::new);
    input.smtp_password.get_or_insert_with(String::new);
    write_fields(&mut tx, secrets, id, &input).await?;
    tx.commit().await?;
    let details = serde_json::json!({ "name": input.name.trim() });
    audit::record(
        db,
        actor,
        "mailbox.create",
        "mailbox",
        &id.to_string(),
        details,
    )
    .await?;
    Ok(id)
}

/// Writes every setting of a mailbox; a password left out keeps the stored one.
async fn write_fields(
    tx: &mut sqlx::AnyConnection,
    secrets: &SecretBox,
    id: i64,
    input: &MailboxInput,
) -> DomainResult<()> {
    sqlx::query(
        "UPDATE mailboxes SET name = $2, address = $3, imap_host = $4, imap_port = $5, \
           imap_security = $6, imap_user = $7, imap_folders = $8, poll_seconds = $9, \
           after_store = $10, move_to = $11, smtp_host = $12, smtp_port = $13, smtp_security = $14, \
           smtp_user = $15, updated_at = $16, kind = $17, s3_bucket = $18, s3_prefix = $19, \
           s3_region = $20, s3_endpoint_url = $21, transform_after_sync = $22 WHERE id = $1",
    )
    .bind(id)
    .bind(input.name.trim())
    .bind(input.address.trim())
    .bind(input.imap_host.trim())
    .bind(input.imap_port as i64)
    .bind(input.imap_security.as_str())
    .bind(input.imap_user.trim())
    .bind(folder_list(input))
    .bind(input.poll_seconds as i64)
    .bind(input.after_store.as_str())
    .bind(input.move_to.trim())
    .bind(input.smtp_host.trim())
    .bind(input.smtp_port as i64)
    .bind(input.smtp_security.as_str())
    .bind(input.smtp_user.trim())
    .bind(now_ms())
    .bind(input.kind.as_str())
    .bind(&input.s3_bucket)
    .bind(&input.s3_prefix)
    .bind(&input.s3_region)
    .bind(&input.s3_endpoint_url)
    .bind(input.transform_after_sync as i64)
    .execute(&mut *tx)
    .await
    .map_err(|e| name_taken(e, &input.name))?;
    for (column, password) in [
        ("imap_password", &input.imap_password),
        ("smtp_password", &input.smtp_password),
    ] {
        if let Some(password) = password {
            sqlx::query(&format!("UPDATE mailboxes SET {column} = $2 WHERE id = $1"))
                .bind(id)
                .bind(secrets.seal(password)?)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

fn folder_list(input: &MailboxInput) -> String {
    input
        .imap_folders
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

fn name_taken(e: sqlx::Error, name: &str) -> DomainError {
    if crate::error::is_unique_violation(&e) {
        DomainError::Conflict(format!("a mailbox named {:?} already exists", name.trim()))
    } else {
        e.into()
    }
}

/// Changes a mailbox. A mailbox from `triage.toml` is changed there, not here.
pub async fn update(
    db: &Db,
    secrets: &SecretBox,
    id: i64,
    input: &MailboxInput,
    actor: Actor,
) -> DomainResult<()> {
    let current = get(db, id).await?;
    if current.from_config {
        return Err(DomainError::Conflict(
            "this mailbox is defined in triage.toml: change it there".into(),
        ));
    }
    write_update(db, secrets, id, input, actor).await
}

async fn write_update(
    db: &Db,
    secrets: &SecretBox,
    id: i64,
    input: &MailboxInput,
    actor: Actor,
) -> DomainResult<()> {
    let input = &with_defaults(input);
    validate(input)?;
    let mut tx = db.begin_write().await?;
    write_fields(&mut tx, secrets, id, input).await?;
    tx.commit().await?;
    let details = serde_json::json!({ "name": input.name.trim() });
    audit::record(
        db,
        actor,
        "mailbox.update",
        "mailbox",
        &id.to_string(),
        details,
    )
    .await?;
    Ok(())
}

/// Stops (or resumes) reading and sending for a mailbox; nothing is deleted.
pub async fn set_enabled(db: &Db, id: i64, enabled: bool, actor: Actor) -> DomainResult<()> {
    let mut tx = db.begin_write().await?;
    let changed =
        sqlx::query("UPDATE mailboxes SET disabled_at = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind((!enabled).then(now_ms))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if changed == 0 {
        return Err(DomainError::NotFound);
    }
    let action = if enabled {
        "mailbox.enable"
    } else {
        "mailbox.disable"
    };
    tx.commit().await?;
    audit::record(
        db,
        actor,
        action,
        "mailbox",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    Ok(())
}

/// The enabled mailboxes with their passwords opened, for the runner.
pub async fn active(db: &Db, secrets: &SecretBox) -> DomainResult<Vec<Mailbox>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mailboxes WHERE disabled_at IS NULL ORDER BY id"
    ))
    .fetch_all(&db.pool)
    .await?;
    rows.into_iter().map(|r| r.into_mailbox(secrets)).collect()
}

/// One mailbox with its passwords opened (enabled or not: the connection test).
pub async fn load(db: &Db, secrets: &SecretBox, id: i64) -> DomainResult<Mailbox> {
    let row: Row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM mailboxes WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(DomainError::NotFound)?;
    row.into_mailbox(secrets)
}

/// Brings the mailboxes of `triage.toml` into the database by name: new ones are
/// created, changed ones updated. One the file no longer names stays, as the admin
/// page left it.
pub async fn apply_config(
    db: &Db,
    secrets: &SecretBox,
    configs: &[MailboxConfig],
) -> DomainResult<()> {
    for config in configs {
        let input = &config.input;
        let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM mailboxes WHERE name = $1")
            .bind(input.name.trim())
            .fetch_optional(&db.pool)
            .await?;
        match existing {
            None => {
                insert(db, secrets, input, true, Actor::System).await?;
            }
            Some(id) => {
                let mut input = input.clone();
                // The file always names the password.
                input.imap_password.get_or_insert_with(String::new);
                input.smtp_password.get_or_insert_with(String::new);
                write_update(db, secrets, id, &input, Actor::System).await?;
                sqlx::query("UPDATE mailboxes SET from_config = 1 WHERE id = $1")
                    .bind(id)
                    .execute(&db.pool)
                    .await?;
            }
        }
    }
    Ok(())
}

/// For a mailbox with `transform_after_sync`, after a sync stored new mail: queues a
/// Batch Transform job, unless one is queued or running already. Returns the job's id.
pub async fn queue_transform(db: &Db) -> DomainResult<Option<i64>> {
    let new = NewJob::of(JobKind::Transform);
    let Some(job) = crate::jobs::create_unless_waiting(db, &new, Actor::System).await? else {
        return Ok(None);
    };
    tracing::info!(job = job.id, "new mail: a Batch Transform job is queued");
    Ok(Some(job.id))
}

/// After a Batch Transform job over the unscored emails ends: mail that a
/// `transform_after_sync` mailbox stored since the job started (`since`, ms) and that
/// is still unscored arrived too late for that job, and its arrival found the job
/// running and queued none. Queues the job that scores it. An email the finished job
/// failed counts too, once: the next job starts after it arrived.
pub async fn queue_transform_for_mail_since(db: &Db, since: i64) -> DomainResult<Option<i64>> {
    let late: Option<i64> = sqlx::query_scalar(
        "SELECT e.id FROM emails e JOIN mailboxes m ON m.id = e.mailbox_id \
         WHERE m.transform_after_sync = 1 AND e.prediction_id IS NULL AND e.ingested_at >= $1 \
         LIMIT 1",
    )
    .bind(since)
    .fetch_optional(&db.pool)
    .await?;
    if late.is_none() {
        return Ok(None);
    }
    queue_transform(db).await
}

/// The messages of a mailbox the parser could not read, newest first.
pub async fn unreadable(db: &Db, mailbox_id: i64, limit: i64) -> DomainResult<Vec<UnreadableMail>> {
    Ok(sqlx::query_as(
        "SELECT id, folder, uid, error, LENGTH(raw) AS size, received_at FROM unreadable_mail \
         WHERE mailbox_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(mailbox_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// An unreadable message's raw bytes, to download.
pub async fn unreadable_raw(db: &Db, id: i64) -> DomainResult<Vec<u8>> {
    sqlx::query_scalar("SELECT raw FROM unreadable_mail WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(DomainError::NotFound)
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;

    fn config(toml: &str) -> MailboxInput {
        let config: MailboxConfig = Figment::from(Toml::string(toml)).extract().unwrap();
        with_defaults(&config.input)
    }

    #[test]
    fn an_s3_mailbox_from_triage_toml_needs_a_bucket_and_no_imap_server() {
        let input = config(
            r#"
            name = "Inbound"
            address = "support@example.com"
            kind = "s3"
            s3_bucket = "mail-inbound"
            s3_prefix = " /ses/inbound/ "
            transform_after_sync = true
            imap_host = "left.over.example"
            "#,
        );
        validate(&input).unwrap();
        assert_eq!(input.kind, MailboxKind::S3);
        assert_eq!(
            input.s3_prefix, "ses/inbound/",
            "keys never start with a slash"
        );
        assert_eq!(input.poll_seconds, 60);
        assert!(input.transform_after_sync);
        assert!(input.imap_host.is_empty() && input.imap_folders.is_empty());

        let no_bucket = config(
            r#"
            name = "Inbound"
            address = "support@example.com"
            kind = "s3"
            "#,
        );
        match validate(&no_bucket) {
            Err(DomainError::Invalid { field, .. }) => assert_eq!(field, "s3_bucket"),
            other => panic!("{other:?}"),
        }
        let bad_region = MailboxInput {
            s3_region: "EU West".into(),
            ..input.clone()
        };
        assert!(validate(&bad_region).is_err());
    }

    #[test]
    fn an_imap_mailbox_is_still_the_default_and_keeps_no_s3_settings() {
        let input = config(
            r#"
            name = "Support"
            address = "support@example.com"
            imap_host = "imap.example.com"
            s3_bucket = "ignored"
            "#,
        );
        validate(&input).unwrap();
        assert_eq!(input.kind, MailboxKind::Imap);
        assert!(input.s3_bucket.is_empty());
        assert_eq!(input.imap_folders, vec!["INBOX".to_string()]);
    }

    #[test]
    fn an_s3_mailbox_falls_back_to_the_settings_address() {
        let source = S3Source {
            bucket: "mail".into(),
            prefix: "in/".into(),
            region: String::new(),
            endpoint_url: String::new(),
        };
        let default = ServiceAddress {
            region: "eu-west-1".into(),
            endpoint_url: Some("http://127.0.0.1:5000".into()),
        };
        assert_eq!(source.address(&default), default);
        let own = S3Source {
            region: "us-east-2".into(),
            endpoint_url: "https://s3.example.com".into(),
            ..source.clone()
        };
        assert_eq!(
            own.address(&default),
            ServiceAddress {
                region: "us-east-2".into(),
                endpoint_url: Some("https://s3.example.com".into()),
            }
        );
        assert_eq!(source.folder(), "s3://mail/in/");
    }
}
