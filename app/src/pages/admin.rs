//! The Admin page (admins): people and their roles, API tokens, renaming and merging
//! categories, and the audit log with filters (`?action=model&actor=sam`). Mailboxes
//! have a page of their own (pages/mailboxes.rs).

use domain::role::Role;
use domain::wire::{AuditRow, CategoryView, TokenSummary, UserSummary};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::components::outcome::{action_outcome, after_actions};
use crate::components::table::TableHead;
use crate::error::AppError;
use crate::format;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminData {
    pub me: i64,
    pub users: Vec<UserSummary>,
    pub tokens: Vec<TokenSummary>,
    pub categories: Vec<CategoryView>,
}

#[server(prefix = "/rpc", endpoint = "load_admin")]
pub async fn load_admin() -> Result<AdminData, AppError> {
    let (me, db) = crate::auth::guard(Role::Admin)?;
    Ok(AdminData {
        me: me.id,
        users: domain::users::list(&db).await?,
        tokens: domain::tokens::list(&db).await?,
        categories: domain::categories::list(&db).await?,
    })
}

/// Everyone who can sign in (admins only).
#[server(prefix = "/rpc", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserSummary>, AppError> {
    let (_, db) = crate::auth::guard(Role::Admin)?;
    domain::users::list(&db).await.map_err(AppError::from)
}

/// Adds a person with a one-time password, shown once to the admin to pass on.
#[server(prefix = "/rpc", endpoint = "invite_user")]
pub async fn invite_user(
    username: String,
    display_name: String,
    role: String,
) -> Result<String, AppError> {
    let (admin, db) = crate::auth::guard(Role::Admin)?;
    let role = Role::parse_user_role(&role)
        .map_err(|e| AppError::invalid("role", e.to_string()).refuse())?;
    let password = domain::users::invite(
        &db,
        &username,
        &display_name,
        role,
        domain::audit::Actor::User(admin.id),
    )
    .await?;
    Ok(format!(
        "Added {} as {}. Their one-time password, shown only now: {password} \
         (they choose their own at the first sign-in)",
        username.trim().to_lowercase(),
        role.as_str()
    ))
}

#[server(prefix = "/rpc", endpoint = "set_user_role")]
pub async fn set_user_role(id: i64, role: String) -> Result<String, AppError> {
    let (admin, db) = crate::auth::guard(Role::Admin)?;
    let role = Role::parse_user_role(&role)
        .map_err(|e| AppError::invalid("role", e.to_string()).refuse())?;
    domain::users::set_role(&db, id, role, domain::audit::Actor::User(admin.id)).await?;
    Ok(format!("Role changed to {}.", role.as_str()))
}

#[server(prefix = "/rpc", endpoint = "set_user_active")]
pub async fn set_user_active(id: i64, active: bool) -> Result<String, AppError> {
    let (admin, db) = crate::auth::guard(Role::Admin)?;
    domain::users::set_active(&db, id, active, domain::audit::Actor::User(admin.id)).await?;
    Ok(if active {
        "Reactivated."
    } else {
        "Deactivated: their sessions have stopped working."
    }
    .into())
}

/// Gives a person a one-time password (shown once): their sessions end, and they
/// choose their own password at the next sign-in.
#[server(prefix = "/rpc", endpoint = "reset_user_password")]
pub async fn reset_user_password(id: i64) -> Result<String, AppError> {
    let (admin, db) = crate::auth::guard(Role::Admin)?;
    let password =
        domain::accounts::reset_password(&db, id, domain::audit::Actor::User(admin.id)).await?;
    Ok(format!(
        "Password reset; their sessions have ended. The one-time password, shown only now: \
         {password} (they choose their own at the next sign-in)"
    ))
}

/// Creates an API token; its secret is shown once.
#[server(prefix = "/rpc", endpoint = "create_token")]
pub async fn create_token(name: String, role: String) -> Result<String, AppError> {
    let (admin, db) = crate::auth::guard(Role::Admin)?;
    let role = Role::parse(&role).map_err(|e| AppError::invalid("role", e.to_string()).refuse())?;
    let token =
        domain::tokens::create(&db, name.trim(), role, domain::audit::Actor::User(admin.id))
            .await?;
    Ok(format!(
        "Token created. Copy it now, it is not shown again: {}",
        token.secret
    ))
}

#[server(prefix = "/rpc", endpoint = "revoke_token")]
pub async fn revoke_token(id: i64) -> Result<String, AppError> {
    let (admin, db) = crate::auth::guard(Role::Admin)?;
    domain::tokens::revoke(&db, id, domain::audit::Actor::User(admin.id)).await?;
    Ok("Token revoked: requests with it are refused from now on.".into())
}

#[server(prefix = "/rpc", endpoint = "rename_category")]
pub async fn rename_category(id: i64, name: String) -> Result<String, AppError> {
    let (admin, db) = crate::auth::guard(Role::Admin)?;
    domain::categories::rename(&db, id, &name, domain::audit::Actor::User(admin.id)).await?;
    Ok(format!(
        "Renamed to {}; the old name still leads to it.",
        name.trim()
    ))
}

#[server(prefix = "/rpc", endpoint = "merge_category")]
pub async fn merge_category(from: i64, into: i64) -> Result<String, AppError> {
    let (admin, db) = crate::auth::guard(Role::Admin)?;
    let merged =
        domain::categories::merge(&db, from, into, domain::audit::Actor::User(admin.id)).await?;
    Ok(format!(
        "Merged: {} labels, {} predictions and {} emails moved.",
        merged.labels, merged.predictions, merged.emails
    ))
}

/// The audit log, newest first, 100 entries at a time.
#[server(prefix = "/rpc", endpoint = "search_audit")]
pub async fn search_audit(
    action: Option<String>,
    actor: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<i64>,
) -> Result<Vec<AuditRow>, AppError> {
    let (_, db) = crate::auth::guard(Role::Admin)?;
    let day = |field: &str, v: Option<String>| {
        v.filter(|d| !d.trim().is_empty())
            .map(|d| domain::time::day_start(field, &d))
            .transpose()
            .map_err(AppError::from)
    };
    let filter = domain::audit::AuditFilter {
        action,
        actor,
        from: day("from", from)?,
        to: day("to", to)?.map(|t| t + domain::time::DAY_MS),
        before_id: before,
    };
    domain::audit::search(&db, &filter, 100)
        .await
        .map_err(AppError::from)
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let invite = ServerAction::<InviteUser>::new();
    let set_role = ServerAction::<SetUserRole>::new();
    let set_active = ServerAction::<SetUserActive>::new();
    let reset = ServerAction::<ResetUserPassword>::new();
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let rename = ServerAction::<RenameCategory>::new();
    let merge = ServerAction::<MergeCategory>::new();
    let data = Resource::new(
        after_actions([
            invite.version(),
            set_role.version(),
            set_active.version(),
            reset.version(),
            create.version(),
            revoke.version(),
            rename.version(),
            merge.version(),
        ]),
        |_| load_admin(),
    );
    view! {
        <Title text="Admin" />
        <h1>"Admin"</h1>
        <p>
            <a href="/admin/mailboxes">"Mailboxes"</a>
            <span class="hint">
                ": the mail accounts Triage reads over IMAP and sends replies through, and where reading each stands."
            </span>
        </p>
        <Suspense fallback=|| {
            view! { <p>"Loading…"</p> }
        }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => {
                        view! {
                            <Users users=d.users me=d.me invite set_role set_active reset />
                            <Tokens tokens=d.tokens create revoke />
                            <Categories categories=d.categories rename merge />
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
        <AuditLog />
    }
}

#[component]
fn Users(
    users: Vec<UserSummary>,
    me: i64,
    invite: ServerAction<InviteUser>,
    set_role: ServerAction<SetUserRole>,
    set_active: ServerAction<SetUserActive>,
    reset: ServerAction<ResetUserPassword>,
) -> impl IntoView {
    view! {
        <section aria-labelledby="users-heading">
            <h2 id="users-heading">"People"</h2>
            {action_outcome(move || set_role.value().get())}
            {action_outcome(move || set_active.value().get())}
            {action_outcome(move || reset.value().get())}
            <table class="grid admin-table" aria-label="People">
                <TableHead columns=&["User name", "Name", "Role", "Active", "Since", ""] />
                <tbody>
                    {users
                        .into_iter()
                        .map(|u| {
                            let yourself = u.id == me;
                            let role_label = format!("Role of {}", u.username);
                            view! {
                                <tr data-user=u.username.clone()>
                                    <td>{u.username.clone()}</td>
                                    <td>{u.display_name.clone()}</td>
                                    <td>
                                        <ActionForm action=set_role attr:class="row-form">
                                            <input type="hidden" name="id" value=u.id />
                                            <select name="role" aria-label=role_label disabled=yourself>
                                                {Role::USER_ROLES
                                                    .map(|r| {
                                                        view! {
                                                            <option value=r.as_str() selected=u.role == r>
                                                                {r.as_str()}
                                                            </option>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </select>
                                            {(!yourself)
                                                .then(|| view! { <button type="submit">"Set"</button> })}
                                        </ActionForm>
                                    </td>
                                    <td>{if u.active { "yes" } else { "no" }}</td>
                                    <td>{format::timestamp(u.created_at)}</td>
                                    <td>
                                        {(!yourself)
                                            .then(|| {
                                                view! {
                                                    <ActionForm action=set_active attr:class="row-form">
                                                        <input type="hidden" name="id" value=u.id />
                                                        <input
                                                            type="hidden"
                                                            name="active"
                                                            value=(!u.active).to_string()
                                                        />
                                                        <button type="submit">
                                                            {if u.active { "Deactivate" } else { "Reactivate" }}
                                                        </button>
                                                    </ActionForm>
                                                }
                                            })}
                                        {(!yourself && u.active)
                                            .then(|| {
                                                view! {
                                                    <ActionForm action=reset attr:class="row-form">
                                                        <input type="hidden" name="id" value=u.id />
                                                        <button type="submit">"Reset password"</button>
                                                    </ActionForm>
                                                }
                                            })}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <h3>"Add a person"</h3>
            <ActionForm action=invite attr:class="period-form">
                <label>
                    "User name "
                    <input
                        name="username"
                        required
                        minlength="2"
                        maxlength="64"
                        autocomplete="off"
                    />
                </label>
                <label>"Name " <input name="display_name" /></label>
                <label>
                    "Role "
                    <select name="role">
                        {Role::USER_ROLES
                            .map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <button type="submit">"Add"</button>
            </ActionForm>
            {action_outcome(move || invite.value().get())}
        </section>
    }
}

#[component]
fn Tokens(
    tokens: Vec<TokenSummary>,
    create: ServerAction<CreateToken>,
    revoke: ServerAction<RevokeToken>,
) -> impl IntoView {
    view! {
        <section aria-labelledby="tokens-heading">
            <h2 id="tokens-heading">"API tokens"</h2>
            <p class="hint">
                "For integrations calling " <code>"/api/v1"</code>
                ". A token's secret is shown once, when it is created; Triage keeps only its hash."
            </p>
            <ActionForm action=create attr:class="period-form">
                <label>
                    "Name "
                    <input name="name" required maxlength="100" placeholder="mail gateway" />
                </label>
                <label>
                    "Role "
                    <select name="role">
                        {Role::ALL
                            .map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <button type="submit">"Create token"</button>
            </ActionForm>
            {action_outcome(move || create.value().get())}
            {action_outcome(move || revoke.value().get())}
            <table class="grid admin-table" aria-label="API tokens">
                <TableHead columns=&["Name", "Role", "Starts with", "Created", "Last used", ""] />
                <tbody>
                    {tokens
                        .into_iter()
                        .map(|t| {
                            view! {
                                <tr class:revoked=t.revoked_at.is_some()>
                                    <td>{t.name.clone()}</td>
                                    <td>{t.role.to_string()}</td>
                                    <td>
                                        <code>{t.prefix.clone()} "…"</code>
                                    </td>
                                    <td>{format::timestamp(t.created_at)}</td>
                                    <td>
                                        {t
                                            .last_used_at
                                            .map(format::timestamp)
                                            .unwrap_or_else(|| "never".into())}
                                    </td>
                                    <td>
                                        {match t.revoked_at {
                                            Some(at) => {
                                                view! {
                                                    <span class="hint">"revoked " {format::timestamp(at)}</span>
                                                }
                                                    .into_any()
                                            }
                                            None => {
                                                view! {
                                                    <ActionForm action=revoke attr:class="row-form">
                                                        <input type="hidden" name="id" value=t.id />
                                                        <button type="submit">"Revoke"</button>
                                                    </ActionForm>
                                                }
                                                    .into_any()
                                            }
                                        }}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn Categories(
    categories: Vec<CategoryView>,
    rename: ServerAction<RenameCategory>,
    merge: ServerAction<MergeCategory>,
) -> impl IntoView {
    let options = move |categories: &[CategoryView]| {
        categories
            .iter()
            .map(|c| view! { <option value=c.id>{format::category(&c.name)}</option> })
            .collect_view()
    };
    let (rename_from, merge_from, merge_into) =
        (categories.clone(), categories.clone(), categories);
    view! {
        <section aria-labelledby="categories-heading">
            <h2 id="categories-heading">"Categories"</h2>
            <p class="hint">
                "Add, describe and retire categories on the " <a href="/templates">"Templates"</a>
                " page. Renaming keeps the old name as an alias; merging moves every label, prediction and email of one category to another and cannot be undone."
            </p>
            <ActionForm action=rename attr:class="period-form">
                <label>"Rename " <select name="id">{options(&rename_from)}</select></label>
                <label>"to " <input name="name" required maxlength="64" /></label>
                <button type="submit">"Rename"</button>
            </ActionForm>
            {action_outcome(move || rename.value().get())}
            <ActionForm action=merge attr:class="period-form">
                <label>"Merge " <select name="from">{options(&merge_from)}</select></label>
                <label>"into " <select name="into">{options(&merge_into)}</select></label>
                <button type="submit">"Merge"</button>
            </ActionForm>
            {action_outcome(move || merge.value().get())}
        </section>
    }
}

/// The audit log with its filters in the URL (a GET form: shareable, works before
/// hydration); "Older" pages back by id.
#[component]
fn AuditLog() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.with(|q| q.get(k).filter(|v| !v.is_empty()));
    let entries = Resource::new(
        move || {
            (
                get("action"),
                get("actor"),
                get("from"),
                get("to"),
                get("before").and_then(|b| b.parse::<i64>().ok()),
            )
        },
        |(action, actor, from, to, before)| search_audit(action, actor, from, to, before),
    );
    view! {
        <section aria-labelledby="audit-heading">
            <h2 id="audit-heading">"Audit log"</h2>
            <form method="get" action="/admin" class="period-form" aria-label="Audit filters">
                <label>
                    "Action "
                    <input
                        name="action"
                        placeholder="model, label, user.role…"
                        value=move || get("action").unwrap_or_default()
                    />
                </label>
                <label>
                    "Who "
                    <input
                        name="actor"
                        placeholder="user name or token name"
                        value=move || get("actor").unwrap_or_default()
                    />
                </label>
                <label>
                    "From "
                    <input type="date" name="from" value=move || get("from").unwrap_or_default() />
                </label>
                <label>
                    "to "
                    <input type="date" name="to" value=move || get("to").unwrap_or_default() />
                </label>
                <button type="submit">"Filter"</button>
            </form>
            <Suspense fallback=|| {
                view! { <p>"Loading…"</p> }
            }>
                {move || Suspend::new(async move {
                    match entries.await {
                        Ok(rows) => {
                            let older = (rows.len() == 100)
                                .then(|| rows.last().map(|r| r.id))
                                .flatten();
                            let link = move |before: i64| {
                                let mut params: Vec<String> = ["action", "actor", "from", "to"]
                                    .into_iter()
                                    .filter_map(|k| get(k).map(|v| format!("{k}={v}")))
                                    .collect();
                                params.push(format!("before={before}"));
                                format!("/admin?{}", params.join("&"))
                            };
                            view! {
                                <table class="grid admin-table audit" aria-label="Audit log">
                                    <TableHead columns=&[
                                        "When",
                                        "Who",
                                        "Action",
                                        "On",
                                        "Details",
                                    ] />
                                    <tbody>
                                        {rows
                                            .into_iter()
                                            .map(|r| {
                                                view! {
                                                    <tr>
                                                        <td>{format::timestamp(r.at)}</td>
                                                        <td>{r.actor}</td>
                                                        <td>
                                                            <code>{r.action}</code>
                                                        </td>
                                                        <td>{r.target}</td>
                                                        <td class="details">
                                                            <code>{r.details}</code>
                                                        </td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                                {older
                                    .map(|id| {
                                        view! {
                                            <p>
                                                <a href=link(id)>"Older entries"</a>
                                            </p>
                                        }
                                    })}
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
