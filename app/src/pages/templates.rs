//! Supervisors manage what agents answer with: the categories (colour and
//! description, add, retire) and the reply templates of each category.

use domain::wire::{CategoryView, ReplyTemplate};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::components::outcome::{action_outcome, after_actions};
use crate::components::table::TableHead;
use crate::error::AppError;
use crate::format;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TemplatesData {
    pub categories: Vec<CategoryView>,
    pub templates: Vec<ReplyTemplate>,
}

#[server(prefix = "/rpc", endpoint = "load_templates")]
pub async fn load_templates() -> Result<TemplatesData, AppError> {
    let (_, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    Ok(TemplatesData {
        categories: domain::categories::list(&db).await?,
        templates: domain::replies::templates(&db).await?,
    })
}

/// Creates a template (empty `id`) or saves an edited one.
#[server(prefix = "/rpc", endpoint = "save_template")]
pub async fn save_template(
    id: Option<String>,
    category: String,
    name: String,
    body: String,
) -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    let id = id.filter(|s| !s.is_empty()).and_then(|s| s.parse().ok());
    let input = domain::replies::TemplateInput {
        id,
        category,
        name: name.clone(),
        body,
    };
    domain::replies::save_template(&db, &input, domain::audit::Actor::User(user.id)).await?;
    Ok(format!("Template “{}” saved.", name.trim()))
}

#[server(prefix = "/rpc", endpoint = "retire_template")]
pub async fn retire_template(id: i64) -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    domain::replies::retire_template(&db, id, domain::audit::Actor::User(user.id)).await?;
    Ok("Template retired.".into())
}

/// Adds a category (empty `id`) or changes one's colour and description.
#[server(prefix = "/rpc", endpoint = "save_category")]
pub async fn save_category(
    id: Option<String>,
    name: Option<String>,
    description: String,
    color: String,
) -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    let actor = domain::audit::Actor::User(user.id);
    match id
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<i64>().ok())
    {
        Some(id) => {
            domain::categories::update(&db, id, &description, &color, actor).await?;
            Ok("Category saved.".into())
        }
        None => {
            let name = name.unwrap_or_default();
            domain::categories::create(&db, &name, &description, &color, actor).await?;
            Ok(format!("Category {} added.", name.trim()))
        }
    }
}

#[server(prefix = "/rpc", endpoint = "retire_category")]
pub async fn retire_category(id: i64) -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    domain::categories::retire(&db, id, domain::audit::Actor::User(user.id)).await?;
    Ok("Category retired: no longer offered for labels; its history stays.".into())
}

#[component]
pub fn TemplatesPage() -> impl IntoView {
    let save = ServerAction::<SaveTemplate>::new();
    let retire = ServerAction::<RetireTemplate>::new();
    let save_cat = ServerAction::<SaveCategory>::new();
    let retire_cat = ServerAction::<RetireCategory>::new();
    let data = Resource::new(
        after_actions([
            save.version(),
            retire.version(),
            save_cat.version(),
            retire_cat.version(),
        ]),
        |_| load_templates(),
    );
    let outcome = move || {
        [
            save.value().get(),
            retire.value().get(),
            save_cat.value().get(),
            retire_cat.value().get(),
        ]
        .into_iter()
        .flatten()
        .next_back()
    };
    let placeholders = StoredValue::new(domain_placeholders());
    view! {
        <Title text="Templates" />
        <h1>"Reply templates and categories"</h1>
        {action_outcome(outcome)}
        <Transition fallback=|| {
            view! { <p>"Loading…"</p> }
        }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => {
                        let names: Vec<String> = d
                            .categories
                            .iter()
                            .map(|c| c.name.clone())
                            .collect();
                        view! {
                            <section aria-labelledby="templates-title">
                                <h2 id="templates-title">"Templates"</h2>
                                <p class="hint">"Placeholders: " {placeholders.get_value()}</p>
                                {d
                                    .templates
                                    .into_iter()
                                    .map(|t| {
                                        view! {
                                            <TemplateForm
                                                save
                                                retire
                                                template=Some(t)
                                                categories=names.clone()
                                            />
                                        }
                                    })
                                    .collect_view()}
                                <h3>"New template"</h3>
                                <TemplateForm save retire template=None categories=names.clone() />
                            </section>
                            <section aria-labelledby="categories-title">
                                <h2 id="categories-title">"Categories"</h2>
                                <table class="grid">
                                    <TableHead columns=&["Name", "Colour and description", ""] />
                                    <tbody>
                                        {d
                                            .categories
                                            .into_iter()
                                            .map(|c| {
                                                view! {
                                                    <tr>
                                                        <td>
                                                            <span class="badge" style=format!("--badge: {}", c.color)>
                                                                {format::category(&c.name)}
                                                            </span>
                                                        </td>
                                                        <td>
                                                            <ActionForm action=save_cat attr:class="inline-form">
                                                                <input type="hidden" name="id" value=c.id />
                                                                <input
                                                                    type="color"
                                                                    name="color"
                                                                    value=c.color.clone()
                                                                    aria-label=format!("Colour of {}", c.name)
                                                                />
                                                                <input
                                                                    type="text"
                                                                    name="description"
                                                                    value=c.description.clone()
                                                                    size="40"
                                                                    aria-label=format!("Description of {}", c.name)
                                                                />
                                                                <button type="submit">"Save"</button>
                                                            </ActionForm>
                                                        </td>
                                                        <td>
                                                            <ActionForm action=retire_cat>
                                                                <input type="hidden" name="id" value=c.id />
                                                                <button type="submit">"Retire"</button>
                                                            </ActionForm>
                                                        </td>
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                                <ActionForm action=save_cat attr:class="inline-form">
                                    <label>
                                        "New category "
                                        <input
                                            type="text"
                                            name="name"
                                            required=true
                                            placeholder="e.g. warranty_claim"
                                        />
                                    </label>
                                    <input
                                        type="color"
                                        name="color"
                                        value="#6b7280"
                                        aria-label="Colour"
                                    />
                                    <input
                                        type="text"
                                        name="description"
                                        placeholder="what belongs here"
                                        aria-label="Description"
                                    />
                                    <button type="submit">"Add"</button>
                                </ActionForm>
                            </section>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn domain_placeholders() -> String {
    domain::wire::REPLY_PLACEHOLDERS
        .iter()
        .map(|p| format!("{{{{{p}}}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[component]
fn TemplateForm(
    save: ServerAction<SaveTemplate>,
    retire: ServerAction<RetireTemplate>,
    template: Option<ReplyTemplate>,
    categories: Vec<String>,
) -> impl IntoView {
    let t = template.clone().unwrap_or(ReplyTemplate {
        id: 0,
        category: None,
        name: String::new(),
        body: String::new(),
        retired: false,
        updated_at: 0,
    });
    let current = t.category.clone().unwrap_or_default();
    let id = template
        .as_ref()
        .map(|t| t.id.to_string())
        .unwrap_or_default();
    let existing = template.is_some();
    view! {
        <div class="template" class:retired=t.retired>
            <ActionForm action=save attr:class="stacked-form">
                <input type="hidden" name="id" value=id.clone() />
                <label>
                    "Name " <input type="text" name="name" value=t.name.clone() required=true />
                </label>
                <label>
                    "Category " <select name="category">
                        <option value="" selected=current.is_empty()>
                            "any email"
                        </option>
                        {categories
                            .into_iter()
                            .map(|c| {
                                let is = c == current;
                                view! {
                                    <option value=c.clone() selected=is>
                                        {format::category(&c)}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Text " <textarea name="body" rows="5" required=true>
                        {t.body.clone()}
                    </textarea>
                </label>
                <button type="submit">{if existing { "Save" } else { "Create" }}</button>
                {t.retired.then(|| view! { <span class="hint">" retired"</span> })}
            </ActionForm>
            {(existing && !t.retired)
                .then(|| {
                    view! {
                        <ActionForm action=retire>
                            <input type="hidden" name="id" value=t.id />
                            <button type="submit">"Retire"</button>
                        </ActionForm>
                    }
                })}
        </div>
    }
}
