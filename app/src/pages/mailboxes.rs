//! The Mailboxes page (admins): the mail accounts Triage reads over IMAP, or from an
//! S3 bucket mail is delivered to, and sends replies through over SMTP. Where reading
//! each folder stands (the first read-in's progress, the last good sync, the last
//! error), messages that could not be read, replies waiting or failed; adding,
//! editing, enabling and disabling a mailbox, reading it now, and testing its
//! connections. Passwords go in and never come back out.

use std::time::Duration;

use domain::wire::mailboxes::{
    AfterStore, ConnectionCheck, FolderStatus, MailboxKind, MailboxView, Security, UnreadableMail,
};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::actions::ticks;
use crate::components::outcome::action_outcome;
use crate::components::table::TableHead;
use crate::error::AppError;
use crate::format;

/// Every mailbox with where it stands.
#[server(prefix = "/rpc", endpoint = "load_mailboxes")]
pub async fn load_mailboxes() -> Result<Vec<MailboxView>, AppError> {
    let (_, db) = crate::auth::guard(domain::role::Role::Admin)?;
    domain::mailboxes::list(&db).await.map_err(AppError::from)
}

/// The mailbox form as the browser sends it: text, so that an empty port or interval
/// means the usual one, and a mistyped number is named rather than refused whole.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MailboxForm {
    pub name: String,
    pub address: String,
    pub kind: MailboxKind,
    pub imap_host: String,
    pub imap_port: String,
    pub imap_security: Security,
    pub imap_user: String,
    /// Empty: keep the stored one.
    pub imap_password: String,
    /// Separated by commas.
    pub imap_folders: String,
    pub poll_seconds: String,
    pub after_store: AfterStore,
    pub move_to: String,
    pub smtp_host: String,
    pub smtp_port: String,
    pub smtp_security: Security,
    pub smtp_user: String,
    /// Empty: keep the stored one.
    pub smtp_password: String,
    pub s3_bucket: String,
    pub s3_prefix: String,
    pub s3_region: String,
    pub s3_endpoint_url: String,
    /// A checkbox: present when ticked.
    pub transform_after_sync: Option<String>,
}

#[cfg(feature = "ssr")]
impl MailboxForm {
    fn into_input(self) -> Result<domain::wire::mailboxes::MailboxInput, AppError> {
        fn number<N: std::str::FromStr + Default>(field: &str, text: &str) -> Result<N, AppError> {
            match text.trim() {
                "" => Ok(N::default()),
                t => t.parse().map_err(|_| {
                    AppError::invalid(field, format!("{t:?} is not a number in range")).refuse()
                }),
            }
        }
        let password = |p: String| Some(p).filter(|p| !p.is_empty());
        Ok(domain::wire::mailboxes::MailboxInput {
            imap_port: number("imap_port", &self.imap_port)?,
            poll_seconds: number("poll_seconds", &self.poll_seconds)?,
            smtp_port: number("smtp_port", &self.smtp_port)?,
            imap_folders: self
                .imap_folders
                .split(',')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect(),
            imap_password: password(self.imap_password),
            smtp_password: password(self.smtp_password),
            name: self.name,
            address: self.address,
            imap_host: self.imap_host,
            imap_security: self.imap_security,
            imap_user: self.imap_user,
            after_store: self.after_store,
            move_to: self.move_to,
            smtp_host: self.smtp_host,
            smtp_security: self.smtp_security,
            smtp_user: self.smtp_user,
            kind: self.kind,
            s3_bucket: self.s3_bucket,
            s3_prefix: self.s3_prefix,
            s3_region: self.s3_region,
            s3_endpoint_url: self.s3_endpoint_url,
            transform_after_sync: self.transform_after_sync.is_some(),
        })
    }
}

/// Tells this process's mailbox runner the mailboxes changed (server side only).
#[cfg(feature = "ssr")]
fn reload_mail() {
    if let Some(mail) = use_context::<domain::mailboxes::runner::MailHandle>() {
        mail.reload();
    }
}

/// Adds a mailbox (no `id`) or saves an edited one; a password left empty keeps the
/// stored one.
#[server(prefix = "/rpc", endpoint = "save_mailbox")]
pub async fn save_mailbox(id: Option<i64>, mailbox: MailboxForm) -> Result<String, AppError> {
    let (admin, db) = crate::auth::guard(domain::role::Role::Admin)?;
    let secrets = crate::actions::secret_box()?;
    let input = mailbox.into_input()?;
    let actor = domain::audit::Actor::User(admin.id);
    let name = input.name.trim().to_string();
    let message = match id {
        Some(id) => {
            domain::mailboxes::update(&db, &secrets, id, &input, actor).await?;
            format!("Mailbox {name} saved.")
        }
        None => {
            domain::mailboxes::create(&db, &secrets, &input, actor).await?;
            format!("Mailbox {name} added: Triage starts reading it now.")
        }
    };
    reload_mail();
    Ok(message)
}

/// Stops or resumes reading and sending for a mailbox; nothing is deleted.
#[server(prefix = "/rpc", endpoint = "set_mailbox_enabled")]
pub async fn set_mailbox_enabled(id: i64, enabled: bool) -> Result<String, AppError> {
    let (admin, db) = crate::auth::guard(domain::role::Role::Admin)?;
    domain::mailboxes::set_enabled(&db, id, enabled, domain::audit::Actor::User(admin.id)).await?;
    reload_mail();
    Ok(if enabled {
        "Enabled: Triage reads and sends from it again."
    } else {
        "Disabled: Triage stops reading and sending from it. Nothing is deleted."
    }
    .into())
}

/// What both servers of a mailbox answered (and S3, for a mailbox read from it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionTest {
    pub id: i64,
    pub imap: ConnectionCheck,
    pub smtp: ConnectionCheck,
    pub s3: Option<ConnectionCheck>,
}

/// Connects to both servers (or lists the S3 bucket) with the saved settings and says
/// what they answered.
#[server(prefix = "/rpc", endpoint = "test_mailbox")]
pub async fn test_mailbox(id: i64) -> Result<ConnectionTest, AppError> {
    let (_, db) = crate::auth::guard(domain::role::Role::Admin)?;
    let secrets = crate::actions::secret_box()?;
    let settings =
        use_context::<std::sync::Arc<domain::settings::Settings>>().ok_or_else(|| {
            tracing::error!("server function without the settings in its context");
            AppError::Internal.refuse()
        })?;
    let mailbox = domain::mailboxes::load(&db, &secrets, id).await?;
    let (s3, credentials) = (settings.s3_address(), settings.aws_credentials());
    let (imap, smtp, s3) = tokio::join!(
        domain::mailboxes::imap::check(&mailbox),
        domain::mailboxes::outbox::check(&mailbox),
        domain::mailboxes::s3::check_mailbox(&mailbox, &s3, &credentials)
    );
    Ok(ConnectionTest { id, imap, smtp, s3 })
}

/// Reads a mailbox now rather than at its next poll.
#[server(prefix = "/rpc", endpoint = "sync_mailbox")]
pub async fn sync_mailbox(id: i64) -> Result<String, AppError> {
    crate::auth::guard(domain::role::Role::Admin)?;
    let mail = use_context::<domain::mailboxes::runner::MailHandle>().ok_or_else(|| {
        tracing::error!("server function without the mail runner in its context");
        AppError::Internal.refuse()
    })?;
    let asked = mail.sync_now(id).await?;
    Ok(format!("Reading {} now.", asked.folders.join(", ")))
}

/// The messages of a mailbox the parser could not read, newest first.
#[server(prefix = "/rpc", endpoint = "unreadable_messages")]
pub async fn unreadable_messages(id: i64) -> Result<Vec<UnreadableMail>, AppError> {
    let (_, db) = crate::auth::guard(domain::role::Role::Admin)?;
    domain::mailboxes::unreadable(&db, id, 200)
        .await
        .map_err(AppError::from)
}

/// The page's actions, shared by every mailbox on it: their outcome outlives the
/// redraw a change causes.
#[derive(Clone, Copy)]
struct Actions {
    save: ServerAction<SaveMailbox>,
    set_enabled: ServerAction<SetMailboxEnabled>,
    test: ServerAction<TestMailbox>,
    sync: ServerAction<SyncMailbox>,
    /// The form a save came from (`Some(None)`: the new-mailbox form), so its outcome
    /// shows under it.
    saved_from: RwSignal<Option<Option<i64>>>,
    /// The mailbox last enabled or disabled, last tested, and last read on request.
    toggled: RwSignal<Option<i64>>,
    tested: RwSignal<Option<i64>>,
    synced: RwSignal<Option<i64>>,
}

#[component]
pub fn MailboxesPage() -> impl IntoView {
    let actions = Actions {
        save: ServerAction::<SaveMailbox>::new(),
        set_enabled: ServerAction::<SetMailboxEnabled>::new(),
        test: ServerAction::<TestMailbox>::new(),
        sync: ServerAction::<SyncMailbox>::new(),
        saved_from: RwSignal::new(None),
        toggled: RwSignal::new(None),
        tested: RwSignal::new(None),
        synced: RwSignal::new(None),
    };
    let Actions {
        save,
        set_enabled,
        saved_from,
        toggled,
        ..
    } = actions;
    Effect::new(move |_| {
        if let Some(id) = save.input().with(|i| i.as_ref().map(|i| i.id)) {
            saved_from.set(Some(id));
        }
    });
    Effect::new(move |_| {
        if let Some(id) = set_enabled.input().with(|i| i.as_ref().map(|i| i.id)) {
            toggled.set(Some(id));
        }
    });
    // The forms are drawn again only after a change went through: a refused one
    // keeps what was typed into it.
    let changed = RwSignal::new(0usize);
    Effect::new(move |_| {
        if save.value().with(|v| matches!(v, Some(Ok(_)))) {
            changed.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if set_enabled.value().with(|v| matches!(v, Some(Ok(_)))) {
            changed.update(|n| *n += 1);
        }
    });
    let mailboxes = Resource::new(move || changed.get(), |_| load_mailboxes());
    // Where each stands is read again every few seconds, so a read-in's bar moves.
    let tick = ticks(Duration::from_secs(3));
    let status = Resource::new(move || (tick.get(), changed.get()), |_| load_mailboxes());
    view! {
        <Title text="Mailboxes" />
        <p class="back">
            <a href="/admin">"← Admin"</a>
        </p>
        <h1>"Mailboxes"</h1>
        <p class="hint">
            "Triage reads new mail from each mailbox's IMAP folders, or from the S3 bucket Amazon SES delivers it to, and sends replies from its address through its SMTP server. Passwords are stored sealed and never shown again."
        </p>
        <Transition fallback=|| {
            view! { <p>"Loading…"</p> }
        }>
            {move || Suspend::new(async move {
                match mailboxes.await {
                    Ok(list) => {
                        let empty = list.is_empty();
                        let cards: Vec<Option<MailboxView>> = list
                            .into_iter()
                            .map(Some)
                            .chain([None])
                            .collect();
                        let generation = changed.get_untracked();
                        // Every mailbox's card, then the new-mailbox form (`None`).
                        // Keyed on the change count too: after a change each card is
                        // drawn afresh, never over the one drawn before (whose inputs
                        // would keep what was typed, and a folded form stay open).
                        view! {
                            {empty
                                .then(|| {
                                    view! {
                                        <p class="page-message">
                                            "No mailbox yet. Add one below, or define one in triage.toml under [[mailboxes]]."
                                        </p>
                                    }
                                })}
                            <For
                                each=move || cards.clone()
                                key=move |card| (card.as_ref().map(|m| m.id), generation)
                                let:card
                            >
                                {match card {
                                    Some(m) => {
                                        view! { <Mailbox mailbox=m status actions /> }.into_any()
                                    }
                                    None => {
                                        view! {
                                            <section class="mailbox" aria-labelledby="add-mailbox">
                                                <h2 id="add-mailbox">"Add a mailbox"</h2>
                                                <MailboxSettings mailbox=None actions />
                                                {actions.save_outcome(None)}
                                            </section>
                                        }
                                            .into_any()
                                    }
                                }}
                            </For>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn security_label(security: Security) -> &'static str {
    match security {
        Security::Tls => "TLS",
        Security::Starttls => "STARTTLS",
        Security::None => "none",
    }
}

/// `s3://bucket/prefix`, with the region and endpoint when the mailbox names its own.
fn s3_line(mailbox: &MailboxView) -> String {
    let mut line = format!("s3://{}/{}", mailbox.s3_bucket, mailbox.s3_prefix);
    let own: Vec<&str> = [mailbox.s3_region.as_str(), mailbox.s3_endpoint_url.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if !own.is_empty() {
        line.push_str(&format!(" ({})", own.join(", ")));
    }
    line
}

/// `user at host:port (TLS)`, or what not having the server means.
fn server_line(user: &str, host: &str, port: u16, security: Security, missing: &str) -> String {
    if host.is_empty() {
        return missing.to_string();
    }
    let at = if user.is_empty() {
        String::new()
    } else {
        format!("{user} at ")
    };
    format!("{at}{host}:{port} ({})", security_label(security))
}

/// One mailbox: its settings, where it stands (read again every few seconds), its
/// buttons, and its form.
#[component]
fn Mailbox(
    mailbox: MailboxView,
    status: Resource<Result<Vec<MailboxView>, AppError>>,
    actions: Actions,
) -> impl IntoView {
    let id = mailbox.id;
    let (heading, heading_id) = (format!("mailbox-{id}"), format!("mailbox-{id}"));
    let show_unreadable = RwSignal::new(false);
    let after_store = match mailbox.after_store {
        AfterStore::Keep => "left as they are".to_string(),
        AfterStore::MarkRead => "marked read".to_string(),
        AfterStore::Move => format!("moved to {}", mailbox.move_to),
    };
    let reading = server_line(
        &mailbox.imap_user,
        &mailbox.imap_host,
        mailbox.imap_port,
        mailbox.imap_security,
        "none: this mailbox only sends",
    );
    let sending = server_line(
        &mailbox.smtp_user,
        &mailbox.smtp_host,
        mailbox.smtp_port,
        mailbox.smtp_security,
        "none: replies cannot be sent from it",
    );
    let from_s3 = mailbox.kind == MailboxKind::S3;
    let reads_imap = !from_s3 && !mailbox.imap_host.is_empty();
    let reads = reads_imap || from_s3;
    let sends = !mailbox.smtp_host.is_empty();
    let bucket = s3_line(&mailbox);
    view! {
        <section
            class="mailbox"
            class:disabled=!mailbox.enabled
            aria-labelledby=heading
            data-mailbox=mailbox.name.clone()
        >
            <h2 id=heading_id>
                {mailbox.name.clone()} " "
                <span class=if mailbox.enabled {
                    "badge mailbox-on"
                } else {
                    "badge mailbox-off"
                }>{if mailbox.enabled { "enabled" } else { "disabled" }}</span>
            </h2>
            <dl class="email-meta">
                <dt>"Address"</dt>
                <dd>{mailbox.address.clone()}</dd>
                {if from_s3 {
                    view! {
                        <dt>"Amazon S3"</dt>
                        <dd>
                            {bucket}
                            <span class="hint">
                                {format!(
                                    " · read every {} s, and at once on POST /api/v1/sources/{id}/sync",
                                    mailbox.poll_seconds,
                                )}
                            </span>
                        </dd>
                    }
                        .into_any()
                } else {
                    view! {
                        <dt>"IMAP"</dt>
                        <dd>{reading}</dd>
                    }
                        .into_any()
                }}
                {reads_imap
                    .then(|| {
                        view! {
                            <dt>"Folders"</dt>
                            <dd>
                                {mailbox.imap_folders.join(", ")}
                                <span class="hint">
                                    {format!(
                                        " · checked every {} s where the server cannot push · after storing, messages are {after_store}",
                                        mailbox.poll_seconds,
                                    )}
                                </span>
                            </dd>
                        }
                    })}
                <dt>"SMTP"</dt>
                <dd>{sending}</dd>
                {mailbox
                    .transform_after_sync
                    .then(|| {
                        view! {
                            <dt>"After new mail"</dt>
                            <dd>
                                "a Batch Transform job is queued (unless one is waiting or running)"
                            </dd>
                        }
                    })}
            </dl>
            {mailbox
                .from_config
                .then(|| {
                    view! {
                        <p class="hint">
                            "Defined in triage.toml: change it there (it is read again at each start)."
                        </p>
                    }
                })}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let now = status
                        .await
                        .ok()
                        .and_then(|list| list.into_iter().find(|m| m.id == id));
                    now.map(|m| view! { <Status mailbox=m reads show_unreadable /> })
                })}
            </Transition>
            {move || show_unreadable.get().then(|| view! { <Unreadable mailbox_id=id /> })}
            <div class="mailbox-actions">
                <ActionForm action=actions.set_enabled attr:class="row-form">
                    <input type="hidden" name="id" value=id />
                    <input type="hidden" name="enabled" value=(!mailbox.enabled).to_string() />
                    <button type="submit">
                        {if mailbox.enabled { "Disable" } else { "Enable" }}
                    </button>
                </ActionForm>
                <button
                    type="button"
                    disabled=move || actions.test.pending().get()
                    on:click=move |_| {
                        actions.tested.set(Some(id));
                        actions.test.dispatch(TestMailbox { id });
                    }
                >
                    "Test connection"
                </button>
                {(reads && mailbox.enabled)
                    .then(|| {
                        view! {
                            <button
                                type="button"
                                disabled=move || actions.sync.pending().get()
                                on:click=move |_| {
                                    actions.synced.set(Some(id));
                                    actions.sync.dispatch(SyncMailbox { id });
                                }
                            >
                                "Read now"
                            </button>
                        }
                    })}
            </div>
            {action_outcome(move || {
                (actions.toggled.get() == Some(id))
                    .then(|| actions.set_enabled.value().get())
                    .flatten()
            })}
            {action_outcome(move || {
                (actions.synced.get() == Some(id)).then(|| actions.sync.value().get()).flatten()
            })}
            <ConnectionResult id reads=reads_imap sends test=actions.test tested=actions.tested />
            {(!mailbox.from_config)
                .then(|| {
                    view! {
                        <details class="mailbox-edit">
                            <summary>"Edit settings"</summary>
                            <MailboxSettings mailbox=Some(mailbox.clone()) actions />
                        </details>
                        {actions.save_outcome(Some(id))}
                    }
                })}
        </section>
    }
}

/// What "Test connection" found, announced to screen readers; a side the mailbox
/// does not use is said plainly, not as a failure.
#[component]
fn ConnectionResult(
    id: i64,
    reads: bool,
    sends: bool,
    test: ServerAction<TestMailbox>,
    tested: RwSignal<Option<i64>>,
) -> impl IntoView {
    let side = move |name: &'static str, used: bool, check: ConnectionCheck| {
        let (class, words) = match (used, check.ok) {
            (false, _) => ("hint", "not set".to_string()),
            (true, true) => ("check-ok", format::sentence(&check.message)),
            (true, false) => ("error-text", format::sentence(&check.message)),
        };
        view! {
            <p class=class>
                <strong>{name}</strong>
                {if used && check.ok { " ✓ " } else if used { " ✗ " } else { " " }}
                {words}
            </p>
        }
    };
    view! {
        <div role="status" aria-live="polite" class="action-outcome">
            {move || {
                if tested.get() != Some(id) {
                    return None;
                }
                if test.pending().get() {
                    return Some(
                        view! { <p class="hint">"Connecting with the saved settings…"</p> }
                            .into_any(),
                    );
                }
                match test.value().get()? {
                    Ok(t) if t.id == id => {
                        let reading = match t.s3 {
                            Some(check) => side("Amazon S3", true, check),
                            None => side("IMAP", reads, t.imap),
                        };
                        Some(
                            view! {
                                {reading}
                                {side("SMTP", sends, t.smtp)}
                            }
                                .into_any(),
                        )
                    }
                    Ok(_) => None,
                    Err(e) => Some(view! { <p class="form-error">{e.to_string()}</p> }.into_any()),
                }
            }}
        </div>
    }
}

/// Where a mailbox stands now: each folder, unreadable messages, the outbox.
#[component]
fn Status(mailbox: MailboxView, reads: bool, show_unreadable: RwSignal<bool>) -> impl IntoView {
    let objects = (mailbox.kind == MailboxKind::S3).then(|| {
        format!(
            "{} {} read from the bucket · ",
            mailbox.s3_objects,
            if mailbox.s3_objects == 1 {
                "object"
            } else {
                "objects"
            },
        )
    });
    let MailboxView {
        id,
        name,
        folders,
        unreadable,
        outbox_queued,
        outbox_failed,
        ..
    } = mailbox;
    let any_failed = outbox_failed > 0;
    view! {
        {(reads && !folders.is_empty())
            .then(|| {
                view! {
                    <table class="grid mailbox-folders" aria-label=format!("Folders of {name}")>
                        <TableHead columns=&[
                            "Folder",
                            "Stored",
                            "First read-in",
                            "Last good sync",
                            "Last error",
                        ] />
                        <tbody>{folders.into_iter().map(folder_row).collect_view()}</tbody>
                    </table>
                }
            })}
        <p class="mailbox-counts">
            {objects}
            {if unreadable == 0 {
                view! { <span class="hint">"No unreadable messages"</span> }.into_any()
            } else {
                view! {
                    <button
                        type="button"
                        class="link"
                        aria-expanded=move || show_unreadable.get().to_string()
                        aria-controls=format!("unreadable-{id}")
                        on:click=move |_| show_unreadable.update(|open| *open = !*open)
                    >
                        {format!(
                            "{unreadable} unreadable {}",
                            if unreadable == 1 { "message" } else { "messages" },
                        )}
                    </button>
                }
                    .into_any()
            }} " · Outbox: " {format!("{outbox_queued} waiting")} " · "
            <span class:error-text=any_failed>{format!("{outbox_failed} failed")}</span>
        </p>
    }
}

fn folder_row(f: FolderStatus) -> impl IntoView {
    let reading_in = f.backfill_total > 0 && f.backfill_done < f.backfill_total;
    let read_in = if reading_in {
        let percent = f.backfill_done as f64 * 100.0 / f.backfill_total as f64;
        view! {
            <progress
                max=f.backfill_total
                value=f.backfill_done
                aria-label=format!("First read-in of {}", f.folder)
            ></progress>
            <span class="progress-text">
                {format!("{} / {} ({percent:.0}%)", f.backfill_done, f.backfill_total)}
            </span>
        }
        .into_any()
    } else if f.backfill_total > 0 || f.last_sync_at.is_some() {
        view! { <span class="hint">"done"</span> }.into_any()
    } else {
        view! { <span class="hint">"not started"</span> }.into_any()
    };
    view! {
        <tr>
            <td>{f.folder.clone()}</td>
            <td class="num">{f.stored}</td>
            <td class="progress-cell">{read_in}</td>
            <td>{f.last_sync_at.map(format::timestamp).unwrap_or_else(|| "never".into())}</td>
            <td>
                {f
                    .last_error
                    .map(|e| {
                        view! {
                            <span class="error-text">{e}</span>
                            {f
                                .last_error_at
                                .map(|at| {
                                    view! {
                                        <span class="hint">
                                            {format!(" ({})", format::timestamp(at))}
                                        </span>
                                    }
                                })}
                        }
                    })}
            </td>
        </tr>
    }
}

/// The messages the parser could not read, each kept whole to download.
#[component]
fn Unreadable(mailbox_id: i64) -> impl IntoView {
    let list = Resource::new(|| (), move |_| unreadable_messages(mailbox_id));
    view! {
        <div id=format!("unreadable-{mailbox_id}")>
            <Suspense fallback=|| {
                view! { <p class="hint">"Loading…"</p> }
            }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(items) => {
                            view! {
                                <table
                                    class="grid mailbox-unreadable"
                                    aria-label="Unreadable messages"
                                >
                                    <TableHead columns=&[
                                        "Received",
                                        "Folder",
                                        "Size",
                                        "Error",
                                        "",
                                    ] />
                                    <tbody>
                                        {items
                                            .into_iter()
                                            .map(|u| {
                                                view! {
                                                    <tr>
                                                        <td>{format::timestamp(u.received_at)}</td>
                                                        <td>{u.folder}</td>
                                                        <td class="num">{format::size(u.size.max(0) as u64)}</td>
                                                        <td class="error-text">{u.error}</td>
                                                        <td>
                                                            <a
                                                                href=format!(
                                                                    "/admin/mailboxes/{mailbox_id}/unreadable/{}",
                                                                    u.id,
                                                                )
                                                                download=""
                                                            >
                                                                "Download"
                                                            </a>
                                                        </td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </div>
    }
}

fn security_options(current: Security) -> impl IntoView {
    [Security::Tls, Security::Starttls, Security::None]
        .map(|s| {
            let label = match s {
                Security::None => "none (local test servers only)",
                other => security_label(other),
            };
            view! {
                <option value=s.as_str() selected=s == current>
                    {label}
                </option>
            }
        })
        .collect_view()
}

/// The form that adds a mailbox (`None`) or edits one. Its fields are named
/// `mailbox[...]`, the server function's one argument.
#[component]
fn MailboxSettings(mailbox: Option<MailboxView>, actions: Actions) -> impl IntoView {
    let key = mailbox.as_ref().map(|m| m.id);
    let m = mailbox.clone().unwrap_or_else(|| MailboxView {
        id: 0,
        name: String::new(),
        address: String::new(),
        imap_host: String::new(),
        imap_port: 0,
        imap_security: Security::Tls,
        imap_user: String::new(),
        imap_password_set: false,
        imap_folders: vec!["INBOX".into()],
        poll_seconds: 0,
        after_store: AfterStore::Keep,
        move_to: String::new(),
        smtp_host: String::new(),
        smtp_port: 0,
        smtp_security: Security::Tls,
        smtp_user: String::new(),
        smtp_password_set: false,
        kind: MailboxKind::Imap,
        s3_bucket: String::new(),
        s3_prefix: String::new(),
        s3_region: String::new(),
        s3_endpoint_url: String::new(),
        transform_after_sync: false,
        from_config: false,
        enabled: true,
        folders: Vec::new(),
        unreadable: 0,
        outbox_queued: 0,
        outbox_failed: 0,
        s3_objects: 0,
    });
    let field = |name: &str| format!("mailbox[{name}]");
    let number = |n: u32| if n == 0 { String::new() } else { n.to_string() };
    // A side without a server shows no port (the stored one is only the default).
    let port =
        move |host: &str, port: u16| number(if host.is_empty() { 0 } else { u32::from(port) });
    let unchanged = |set: bool| if set { "unchanged" } else { "" };
    let save = actions.save;
    view! {
        <ActionForm action=save attr:class="mailbox-form">
            {key.map(|id| view! { <input type="hidden" name="id" value=id /> })}
            <div class="stacked-form">
                <label>
                    "Name"
                    <input name=field("name") required maxlength="100" value=m.name.clone() />
                </label>
                <label>
                    "Address replies go out from"
                    <input
                        name=field("address")
                        type="email"
                        required
                        placeholder="support@example.com"
                        value=m.address.clone()
                    />
                </label>
            </div>
            // Which fields apply follows the choice in CSS (style/mailboxes.css), so it
            // works before the page's script has loaded, and without it.
            <fieldset class="mailbox-kind">
                <legend>"Mail comes from"</legend>
                {[
                    (MailboxKind::Imap, "an IMAP server"),
                    (MailboxKind::S3, "an Amazon S3 bucket (SES “deliver to S3”)"),
                ]
                    .map(|(kind, label)| {
                        view! {
                            <label>
                                <input
                                    type="radio"
                                    name=field("kind")
                                    value=kind.as_str()
                                    checked=kind == m.kind
                                />
                                " "
                                {label}
                            </label>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <div class="stacked-form">
                <label>
                    "Check every (seconds)"
                    <input
                        name=field("poll_seconds")
                        type="number"
                        min="5"
                        max="3600"
                        placeholder="60 (an IMAP server that pushes new mail is read at once)"
                        value=number(m.poll_seconds)
                    />
                </label>
                <label class="checkbox">
                    <input
                        type="checkbox"
                        name=field("transform_after_sync")
                        value="on"
                        checked=m.transform_after_sync
                    />
                    " Queue a Batch Transform job when new mail is stored"
                </label>
            </div>
            <fieldset class="stacked-form mailbox-s3">
                <legend>"Reading (Amazon S3)"</legend>
                <label>
                    "Bucket"
                    <input
                        name=field("s3_bucket")
                        placeholder="the bucket SES delivers to"
                        value=m.s3_bucket.clone()
                    />
                </label>
                <label>
                    "Key prefix"
                    <input
                        name=field("s3_prefix")
                        placeholder="inbound/ (the receipt rule's object key prefix)"
                        value=m.s3_prefix.clone()
                    />
                </label>
                <label>
                    "Region"
                    <input
                        name=field("s3_region")
                        placeholder="empty: the s3_region setting"
                        value=m.s3_region.clone()
                    />
                </label>
                <label>
                    "Endpoint URL"
                    <input
                        name=field("s3_endpoint_url")
                        type="url"
                        placeholder="empty: the s3_endpoint_url setting, else AWS"
                        value=m.s3_endpoint_url.clone()
                    />
                </label>
            </fieldset>
            <fieldset class="stacked-form mailbox-imap">
                <legend>"Reading (IMAP)"</legend>
                <label>
                    "Server"
                    <input
                        name=field("imap_host")
                        placeholder="imap.example.com (empty: this mailbox only sends)"
                        value=m.imap_host.clone()
                    />
                </label>
                <label>
                    "Port"
                    <input
                        name=field("imap_port")
                        type="number"
                        min="1"
                        max="65535"
                        placeholder="usual: 993 with TLS, 143 otherwise"
                        value=port(&m.imap_host, m.imap_port)
                    />
                </label>
                <label>
                    "Security"
                    <select name=field("imap_security")>{security_options(m.imap_security)}</select>
                </label>
                <label>
                    "User name"
                    <input name=field("imap_user") autocomplete="off" value=m.imap_user.clone() />
                </label>
                <label>
                    "Password"
                    <input
                        name=field("imap_password")
                        type="password"
                        autocomplete="new-password"
                        placeholder=unchanged(m.imap_password_set)
                    />
                </label>
                <label>
                    "Folders"
                    <input
                        name=field("imap_folders")
                        placeholder="INBOX, Support (separated by commas)"
                        value=m.imap_folders.join(", ")
                    />
                </label>
                <label>
                    "After storing a message"
                    <select name=field(
                        "after_store",
                    )>
                        {[
                            (AfterStore::Keep, "leave it as it is"),
                            (AfterStore::MarkRead, "mark it read"),
                            (AfterStore::Move, "move it to the folder below"),
                        ]
                            .map(|(a, label)| {
                                view! {
                                    <option value=a.as_str() selected=a == m.after_store>
                                        {label}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Move to folder"
                    <input name=field("move_to") placeholder="Triaged" value=m.move_to.clone() />
                </label>
            </fieldset>
            <fieldset class="stacked-form">
                <legend>"Sending (SMTP)"</legend>
                <label>
                    "Server"
                    <input
                        name=field("smtp_host")
                        placeholder="smtp.example.com (empty: replies are not sent)"
                        value=m.smtp_host.clone()
                    />
                </label>
                <label>
                    "Port"
                    <input
                        name=field("smtp_port")
                        type="number"
                        min="1"
                        max="65535"
                        placeholder="usual: 465 TLS, 587 STARTTLS, 25 none"
                        value=port(&m.smtp_host, m.smtp_port)
                    />
                </label>
                <label>
                    "Security"
                    <select name=field("smtp_security")>{security_options(m.smtp_security)}</select>
                </label>
                <label>
                    "User name"
                    <input
                        name=field("smtp_user")
                        autocomplete="off"
                        placeholder="empty: no sign-in"
                        value=m.smtp_user.clone()
                    />
                </label>
                <label>
                    "Password"
                    <input
                        name=field("smtp_password")
                        type="password"
                        autocomplete="new-password"
                        placeholder=unchanged(m.smtp_password_set)
                    />
                </label>
            </fieldset>
            <button type="submit" class="primary">
                {if key.is_some() { "Save" } else { "Add mailbox" }}
            </button>
        </ActionForm>
    }
}

impl Actions {
    /// How the last save from this form went (`None`: the new-mailbox form); it
    /// stands outside a folded form, which a saved card is drawn with.
    fn save_outcome(self, form: Option<i64>) -> impl IntoView {
        action_outcome(move || {
            (self.saved_from.get() == Some(form))
                .then(|| self.save.value().get())
                .flatten()
        })
    }
}
