use domain::wire::UserSummary;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::format;

/// Everyone who can sign in (admins only).
#[server(prefix = "/rpc", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserSummary>, ServerFnError> {
    use crate::auth::{db, internal, require_role};
    require_role(domain::role::Role::Admin)?;
    domain::users::list(&db()?).await.map_err(internal)
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let users = Resource::new(|| (), |_| list_users());
    view! {
        <Title text="Admin" />
        <h1>"Admin"</h1>
        <h2>"Users"</h2>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(users) => view! {
                        <table class="grid">
                            <thead><tr><th>"User name"</th><th>"Name"</th><th>"Role"</th><th>"Active"</th><th>"Since"</th></tr></thead>
                            <tbody>
                                {users.into_iter().map(|u| view! {
                                    <tr>
                                        <td>{u.username}</td>
                                        <td>{u.display_name}</td>
                                        <td><span class="role-badge">{u.role.as_str()}</span></td>
                                        <td>{if u.active { "yes" } else { "no" }}</td>
                                        <td>{format::timestamp(u.created_at)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
        <p class="hint">"Add people with " <code>"triage user add NAME --role ROLE --password-stdin"</code> "."</p>
    }
}
