//! Mailboxes as the admin page and the API show and edit them. Passwords travel only
//! inward: a view says whether one is set, never what it is.

use serde::{Deserialize, Serialize};

/// How a connection is protected: TLS from the first byte, STARTTLS upgrade, or none
/// (loopback and test servers only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Security {
    #[default]
    Tls,
    Starttls,
    None,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Tls => "tls",
            Security::Starttls => "starttls",
            Security::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Security> {
        match s {
            "tls" => Some(Security::Tls),
            "starttls" => Some(Security::Starttls),
            "none" => Some(Security::None),
            _ => None,
        }
    }
}

/// What happens to a message on the IMAP server once Triage has stored it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AfterStore {
    #[default]
    Keep,
    MarkRead,
    Move,
}

impl AfterStore {
    pub fn as_str(self) -> &'static str {
        match self {
            AfterStore::Keep => "keep",
            AfterStore::MarkRead => "mark_read",
            AfterStore::Move => "move",
        }
    }

    pub fn parse(s: &str) -> Option<AfterStore> {
        match s {
            "keep" => Some(AfterStore::Keep),
            "mark_read" => Some(AfterStore::MarkRead),
            "move" => Some(AfterStore::Move),
            _ => None,
        }
    }
}

/// Where a mailbox's mail comes from: an IMAP server, or an S3 bucket that Amazon SES
/// (or anything else) delivers raw messages to, one object each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MailboxKind {
    #[default]
    Imap,
    S3,
}

impl MailboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxKind::Imap => "imap",
            MailboxKind::S3 => "s3",
        }
    }

    pub fn parse(s: &str) -> Option<MailboxKind> {
        match s {
            "imap" => Some(MailboxKind::Imap),
            "s3" => Some(MailboxKind::S3),
            _ => None,
        }
    }
}

/// A mailbox to create or change. A password left out (`None`) keeps the stored one;
/// an empty one clears it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MailboxInput {
    pub name: String,
    /// The address replies go out from.
    pub address: String,
    /// `imap` (the default) or `s3`. An S3 mailbox has no IMAP side; its SMTP side is
    /// optional, as an IMAP mailbox's is.
    pub kind: MailboxKind,
    pub imap_host: String,
    pub imap_port: u16,
    pub imap_security: Security,
    pub imap_user: String,
    pub imap_password: Option<String>,
    /// Folders to read, e.g. `["INBOX"]`.
    pub imap_folders: Vec<String>,
    /// Seconds between checks where the server has no IDLE.
    pub poll_seconds: u32,
    pub after_store: AfterStore,
    /// The folder messages move to when `after_store` is `move`.
    pub move_to: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: Security,
    pub smtp_user: String,
    pub smtp_password: Option<String>,
    /// For `s3`: the bucket mail is delivered to, and the key prefix under it (e.g.
    /// SES's object key prefix, `inbound/`).
    pub s3_bucket: String,
    pub s3_prefix: String,
    /// Empty: the `s3_region` and `s3_endpoint_url` settings.
    pub s3_region: String,
    pub s3_endpoint_url: String,
    /// Queue a Batch Transform job whenever a sync stored new mail (none is queued
    /// while one is queued or running).
    pub transform_after_sync: bool,
}

/// A mailbox as the admin page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct MailboxView {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub kind: MailboxKind,
    pub imap_host: String,
    pub imap_port: u16,
    pub imap_security: Security,
    pub imap_user: String,
    pub imap_password_set: bool,
    pub imap_folders: Vec<String>,
    pub poll_seconds: u32,
    pub after_store: AfterStore,
    pub move_to: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: Security,
    pub smtp_user: String,
    pub smtp_password_set: bool,
    pub s3_bucket: String,
    pub s3_prefix: String,
    pub s3_region: String,
    pub s3_endpoint_url: String,
    pub transform_after_sync: bool,
    /// Defined in `triage.toml`: edit it there.
    pub from_config: bool,
    pub enabled: bool,
    pub folders: Vec<FolderStatus>,
    /// Messages the parser could not read, kept raw with their error.
    pub unreadable: i64,
    /// Replies waiting to be sent, and replies that failed.
    pub outbox_queued: i64,
    pub outbox_failed: i64,
    /// For `s3`: the objects read from the bucket (stored, duplicates, own replies
    /// and unreadable ones alike).
    pub s3_objects: i64,
}

/// What `POST /api/v1/sources/{id}/sync` set going.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct SyncRequested {
    pub mailbox_id: i64,
    pub kind: MailboxKind,
    /// What is read: IMAP folders, or `s3://bucket/prefix`.
    pub folders: Vec<String>,
}

/// Where reading one folder stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema, sqlx::FromRow))]
pub struct FolderStatus {
    pub folder: String,
    /// Messages stored from this folder.
    pub stored: i64,
    /// The first connection's read-in of mail already there: done of total.
    pub backfill_done: i64,
    pub backfill_total: i64,
    /// The last time the folder was read to the end (Unix ms).
    pub last_sync_at: Option<i64>,
    /// The last error, in the server's words, while it lasts.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

/// One side of "test connection": what the server said, in plain words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ConnectionCheck {
    pub ok: bool,
    pub message: String,
}

/// A message the parser could not read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema, sqlx::FromRow))]
pub struct UnreadableMail {
    pub id: i64,
    pub folder: String,
    pub uid: i64,
    pub error: String,
    pub size: i64,
    pub received_at: i64,
}

/// A reply's way out, as the email view shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct OutgoingReply {
    pub id: i64,
    pub reply_id: i64,
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub status: crate::wire::OutboxStatus,
    pub attempts: i64,
    /// The server's words for the last failure.
    pub error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    /// Who wrote it.
    pub by: String,
}
