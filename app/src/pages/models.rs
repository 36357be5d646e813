//! The Models page: every model version with its held-out figures, training a new
//! built-in model, choosing which model scores new mail, and (admins) connecting a
//! SageMaker endpoint.

use domain::wire::{ModelSummary, ModelsOverview};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::format::{self, server_message};

#[server(prefix = "/rpc", endpoint = "load_models")]
pub async fn load_models() -> Result<ModelsOverview, ServerFnError> {
    use crate::auth::{db, internal, require_role};
    let user = require_role(domain::role::Role::Supervisor)?;
    let models = domain::models::list(&db()?).await.map_err(internal)?;
    Ok(ModelsOverview {
        models,
        can_configure: user.role.allows(domain::role::Role::Admin),
    })
}

/// Trains a candidate on the current labels; it is not made active.
#[server(prefix = "/rpc", endpoint = "train_model")]
pub async fn train_model() -> Result<String, ServerFnError> {
    use crate::auth::{db, internal, require_role};
    let user = require_role(domain::role::Role::Supervisor)?;
    let actor = domain::audit::Actor::User(user.id);
    let model = domain::training::train(&db()?, actor, 42)
        .await
        .map_err(internal)?;
    Ok(format!(
        "Trained {} on {} emails: accuracy {:.1}%, macro-F1 {:.3} on {} held-out emails.",
        model.version,
        model.training_size,
        model.evaluation.accuracy * 100.0,
        model.evaluation.macro_f1,
        model.test_size
    ))
}

/// Makes a model the one that scores new mail; the unscored backlog follows.
#[server(prefix = "/rpc", endpoint = "activate_model")]
pub async fn activate_model(id: i64) -> Result<String, ServerFnError> {
    use crate::auth::{db, internal, require_role};
    let user = require_role(domain::role::Role::Supervisor)?;
    let db = db()?;
    domain::training::activate(&db, id, domain::audit::Actor::User(user.id))
        .await
        .map_err(internal)?;
    if let Some(scorer) = use_context::<domain::scoring::arrival::ArrivalScorer>() {
        scorer.new_mail();
    }
    Ok("Activated: new mail is scored by this model from now on.".to_string())
}

/// Registers (or updates) a SageMaker endpoint, checks it by scoring one sample
/// email, and makes it active when asked and the check passed (admins).
#[server(prefix = "/rpc", endpoint = "connect_endpoint")]
pub async fn connect_endpoint(
    endpoint_name: String,
    region: String,
    endpoint_url: String,
    content_type: String,
    timeout_ms: u64,
    label_map: String,
    activate: Option<String>,
) -> Result<String, ServerFnError> {
    use crate::auth::{db, internal, require_role};
    use domain::scoring::{EmailText, EndpointConfig, active};
    let user = require_role(domain::role::Role::Admin)?;
    let actor = domain::audit::Actor::User(user.id);
    let db = db()?;
    let settings = use_context::<std::sync::Arc<domain::settings::Settings>>()
        .ok_or_else(|| ServerFnError::new("settings not available"))?;
    let config = EndpointConfig {
        endpoint_name: endpoint_name.trim().to_string(),
        region: region.trim().to_string(),
        endpoint_url: Some(endpoint_url.trim().to_string()).filter(|u| !u.is_empty()),
        content_type: content_type.trim().to_string(),
        timeout_ms,
        label_map: EndpointConfig::parse_label_map(&label_map).map_err(internal)?,
        ..EndpointConfig::default()
    };
    let id = active::register_endpoint(&db, &config, actor)
        .await
        .map_err(internal)?;
    let scorer = active::load(&db, id, &settings.aws_credentials())
        .await
        .map_err(internal)?;
    let sample = EmailText {
        subject: "Where is my order?".into(),
        body: "Hello, I ordered a chair two weeks ago and it has not arrived. Can you check?"
            .into(),
    };
    let answer = match scorer.score(std::slice::from_ref(&sample)).await {
        Ok(answer) => answer,
        Err(e) => {
            return Err(ServerFnError::new(format!(
                "Saved {}, but the check failed, so it is not active: {e}",
                scorer.version()
            )));
        }
    };
    let check = answer
        .first()
        .map(|a| {
            format!(
                "a sample email came back as {} ({})",
                format::category(&a.category),
                format::percent(a.confidence)
            )
        })
        .unwrap_or_default();
    if activate.is_some() {
        domain::training::activate(&db, id, actor)
            .await
            .map_err(internal)?;
        if let Some(arrival) = use_context::<domain::scoring::arrival::ArrivalScorer>() {
            arrival.new_mail();
        }
        Ok(format!("Connected and active: {check}."))
    } else {
        Ok(format!("Connected: {check}. Activate it below when ready."))
    }
}

#[component]
pub fn ModelsPage() -> impl IntoView {
    let train = ServerAction::<TrainModel>::new();
    let activate = ServerAction::<ActivateModel>::new();
    let connect = ServerAction::<ConnectEndpoint>::new();
    let overview = Resource::new(
        move || {
            (
                train.version().get(),
                activate.version().get(),
                connect.version().get(),
            )
        },
        |_| load_models(),
    );
    let outcome = move || {
        [
            train.value().get(),
            activate.value().get(),
            connect.value().get(),
        ]
        .into_iter()
        .flatten()
        .next_back()
    };
    view! {
        <Title text="Models" />
        <h1>"Models"</h1>
        <p class="hint">"The active model scores every new email. Figures are measured on held-out emails whose threads the model never saw."</p>
        <ActionForm action=train attr:class="inline-form">
            <button type="submit" class="primary" disabled=move || train.pending().get()>
                {move || if train.pending().get() { "Training…" } else { "Train a new model on the labels" }}
            </button>
        </ActionForm>
        <div role="status" aria-live="polite" class="action-outcome">
            {move || outcome().map(|r| match r {
                Ok(message) => view! { <p class="form-ok">{message}</p> }.into_any(),
                Err(e) => view! { <p class="form-error">{server_message(&e)}</p> }.into_any(),
            })}
        </div>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => view! {
                        <ModelTable models=o.models activate />
                        {o.can_configure.then(|| view! { <EndpointForm connect /> })}
                    }.into_any(),
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ModelTable(models: Vec<ModelSummary>, activate: ServerAction<ActivateModel>) -> impl IntoView {
    if models.is_empty() {
        return view! { <p class="page-message">"No model yet: train one on the labels, or connect an endpoint."</p> }.into_any();
    }
    let figure = |v: Option<f64>, f: fn(f64) -> String| v.map(f).unwrap_or_else(|| "–".into());
    view! {
        <table class="grid models" aria-label="Model versions">
            <thead><tr>
                <th scope="col">"Version"</th><th scope="col">"Kind"</th><th scope="col">"Status"</th>
                <th scope="col">"Trained on"</th><th scope="col">"Accuracy"</th><th scope="col">"Macro-F1"</th>
                <th scope="col">"Calibration error"</th><th scope="col">"Created"</th><th scope="col"></th>
            </tr></thead>
            <tbody>
                {models.into_iter().map(|m| {
                    let is_active = m.status == "active";
                    view! {
                        <tr class:active-model=is_active data-model=m.version.clone()>
                            <td><code>{m.version.clone()}</code>
                                {m.endpoint.clone().map(|e| view! { <div class="hint">{e}</div> })}</td>
                            <td>{if m.kind == "builtin" { "built-in" } else { "endpoint" }}</td>
                            <td><span class=format!("status status-{}", m.status)>{m.status.clone()}</span></td>
                            <td class="num">{m.training_size.map(|n| n.to_string()).unwrap_or_else(|| "–".into())}</td>
                            <td class="num">{figure(m.accuracy, format::percent)}</td>
                            <td class="num">{figure(m.macro_f1, |v| format!("{v:.3}"))}</td>
                            <td class="num">{figure(m.ece, |v| format!("{v:.3}"))}</td>
                            <td>{format::timestamp(m.created_at)}</td>
                            <td>{(!is_active).then(|| view! {
                                <ActionForm action=activate>
                                    <input type="hidden" name="id" value=m.id />
                                    <button type="submit">"Activate"</button>
                                </ActionForm>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }.into_any()
}

/// Connecting a SageMaker endpoint (admins). Credentials are not entered here: they
/// come from the standard AWS chain of the machine Triage runs on.
#[component]
fn EndpointForm(connect: ServerAction<ConnectEndpoint>) -> impl IntoView {
    view! {
        <h2>"Connect a SageMaker endpoint"</h2>
        <ActionForm action=connect attr:class="stacked-form endpoint-form">
            <label>"Endpoint name" <input name="endpoint_name" required pattern="[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?" maxlength="63" /></label>
            <label>"Region" <input name="region" placeholder="from the AWS configuration" /></label>
            <label>"Endpoint URL" <input name="endpoint_url" type="url" placeholder="AWS (leave empty), or a compatible server" /></label>
            <label>"Content type" <input name="content_type" value="application/json" required /></label>
            <label>"Timeout (ms)" <input name="timeout_ms" type="number" min="100" max="600000" value="10000" required /></label>
            <label>"Label mapping" <textarea name="label_map" rows="2" placeholder="LABEL_0=feedback, LABEL_1=complaint"></textarea></label>
            <label class="checkbox"><input type="checkbox" name="activate" value="on" />" Make it the active scorer if the check passes"</label>
            <button type="submit" class="primary" disabled=move || connect.pending().get()>
                {move || if connect.pending().get() { "Checking…" } else { "Save and check" }}
            </button>
        </ActionForm>
        <p class="hint">"Credentials come from the standard AWS chain of the machine running Triage (environment, profile, SSO or role). Labels are matched to categories by name unless mapped."</p>
    }
}
