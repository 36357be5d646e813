//! The Models page: every model version with its held-out figures, training a new
//! built-in model, comparing a candidate with the active model side by side
//! (`?compare=ID`), promoting it, rolling back, and (admins) connecting a SageMaker
//! endpoint as a candidate.

use domain::wire::analytics::AutoAcceptCategory;
use domain::wire::{
    ClassFigures, LabelSource, MIN_LABELS_TO_LEARN, ModelComparison, ModelFigures, ModelKind,
    ModelStatus, ModelSummary, ModelsOverview,
};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::charts::ConfusionMatrix;
use crate::components::outcome::{action_outcome, after_actions};

use crate::components::table::TableHead;
use crate::error::AppError;
use crate::format;

#[server(prefix = "/rpc", endpoint = "load_models")]
pub async fn load_models() -> Result<ModelsOverview, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    let models = domain::models::list(&db).await?;
    let rollback_to = domain::training::previous_active(&db)
        .await?
        .map(|model| model.version);
    let drift = domain::analytics::drift(&db).await?;
    Ok(ModelsOverview {
        models,
        can_configure: user.role.allows(domain::role::Role::Admin),
        rollback_to,
        drift,
    })
}

/// Trains a candidate on the current labels; it is not made active.
#[server(prefix = "/rpc", endpoint = "train_model")]
pub async fn train_model() -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    let actor = domain::audit::Actor::User(user.id);
    let model = domain::training::train(&db, actor, 42).await?;
    Ok(format!(
        "Trained {} on all {} labelled emails. Measured on {} held-out emails by its twin, \
         trained without them: accuracy {:.1}%, macro-F1 {:.3}.",
        model.version,
        model.training_size,
        model.test_size,
        model.evaluation.accuracy * 100.0,
        model.evaluation.macro_f1
    ))
}

/// Scores the held-out labelled emails with a candidate and the active model.
#[server(prefix = "/rpc", endpoint = "compare_models")]
pub async fn compare_models(id: i64) -> Result<ModelComparison, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    let settings = use_context::<std::sync::Arc<domain::settings::Settings>>()
        .ok_or_else(|| AppError::Internal.refuse())?;
    domain::evaluation::compare(
        &db,
        id,
        &settings.aws_credentials(),
        domain::audit::Actor::User(user.id),
    )
    .await
    .map_err(AppError::from)
}

/// Undoes the last promotion.
#[server(prefix = "/rpc", endpoint = "rollback_model")]
pub async fn rollback_model() -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    domain::training::rollback(&db, domain::audit::Actor::User(user.id)).await?;
    if let Some(scorer) = use_context::<domain::scoring::arrival::ArrivalScorer>() {
        scorer.new_mail();
    }
    Ok("Rolled back: the previous model scores new mail again.".to_string())
}

/// Makes a model the one that scores new mail; the unscored backlog follows.
#[server(prefix = "/rpc", endpoint = "activate_model")]
pub async fn activate_model(id: i64) -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    domain::training::activate(&db, id, domain::audit::Actor::User(user.id)).await?;
    if let Some(scorer) = use_context::<domain::scoring::arrival::ArrivalScorer>() {
        scorer.new_mail();
    }
    Ok("Promoted: new mail is scored by this model from now on.".to_string())
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
) -> Result<String, AppError> {
    use domain::scoring::{EmailText, EndpointConfig, active};
    let (user, db) = crate::auth::guard(domain::role::Role::Admin)?;
    let actor = domain::audit::Actor::User(user.id);
    let settings = use_context::<std::sync::Arc<domain::settings::Settings>>()
        .ok_or_else(|| AppError::Internal.refuse())?;
    let config = EndpointConfig {
        endpoint_name: endpoint_name.trim().to_string(),
        region: region.trim().to_string(),
        endpoint_url: Some(endpoint_url.trim().to_string()).filter(|u| !u.is_empty()),
        content_type: content_type.trim().to_string(),
        timeout_ms,
        label_map: EndpointConfig::parse_label_map(&label_map)?,
        ..EndpointConfig::default()
    };
    let id = active::register_endpoint(&db, &config, actor).await?;
    let scorer = active::load(&db, id, &settings.aws_credentials()).await?;
    let sample = EmailText {
        subject: "Where is my order?".into(),
        body: "Hello, I ordered a chair two weeks ago and it has not arrived. Can you check?"
            .into(),
    };
    let answer = match scorer.score(std::slice::from_ref(&sample)).await {
        Ok(answer) => answer,
        Err(e) => {
            return Err(AppError::Unavailable(format!(
                "Saved {}, but the check failed, so it is not active: {e}",
                scorer.version()
            ))
            .refuse());
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
        domain::training::activate(&db, id, actor).await?;
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
    let rollback = ServerAction::<RollbackModel>::new();
    let overview = Resource::new(
        after_actions([
            train.version(),
            activate.version(),
            connect.version(),
            rollback.version(),
        ]),
        |_| load_models(),
    );
    let query = use_query_map();
    let compare_id =
        Memo::new(move |_| query.with(|q| q.get("compare").and_then(|v| v.parse::<i64>().ok())));
    let comparison = Resource::new(
        move || compare_id.get(),
        |id| async move {
            match id {
                Some(id) => compare_models(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let outcome = move || {
        [
            train.value().get(),
            activate.value().get(),
            connect.value().get(),
            rollback.value().get(),
        ]
        .into_iter()
        .flatten()
        .next_back()
    };
    view! {
        <Title text="Models" />
        <h1>"Models"</h1>
        <p class="hint">
            "The active model scores every new email. Figures are measured on held-out emails whose threads the model never saw."
        </p>
        <ActionForm action=train attr:class="inline-form">
            <button type="submit" class="primary" disabled=move || train.pending().get()>
                {move || {
                    if train.pending().get() {
                        "Training…"
                    } else {
                        "Train a new model on the labels"
                    }
                }}
            </button>
        </ActionForm>
        {action_outcome(outcome)}
        <Suspense fallback=|| {
            view! { <p>"Loading…"</p> }
        }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => {
                        view! {
                            {o
                                .drift
                                .alert
                                .then(|| {
                                    view! {
                                        <crate::pages::analytics::DriftBanner drift=o
                                            .drift
                                            .clone() />
                                    }
                                })}
                            <LabelsDownload />
                            {o
                                .rollback_to
                                .clone()
                                .map(|previous| {
                                    view! {
                                        <ActionForm action=rollback attr:class="inline-form">
                                            <button type="submit">
                                                "Roll back to " <code>{previous}</code>
                                            </button>
                                        </ActionForm>
                                    }
                                })}
                            <ModelTable models=o.models activate />
                            {o.can_configure.then(|| view! { <EndpointForm connect /> })}
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
        <Suspense fallback=|| {
            view! { <p>"Scoring the held-out emails with both models…"</p> }
        }>
            {move || Suspend::new(async move {
                match comparison.await {
                    Ok(Some(c)) => view! { <Comparison comparison=c activate /> }.into_any(),
                    Ok(None) => ().into_any(),
                    Err(e) => {
                        view! {
                            <p class="form-error" role="alert">
                                {e.to_string()}
                            </p>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
        <AutoAccept />
    }
}

/// Every category's auto-accept threshold, with what each threshold would give.
#[server(prefix = "/rpc", endpoint = "load_auto_accept")]
pub async fn load_auto_accept() -> Result<Vec<AutoAcceptCategory>, AppError> {
    let (_, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    domain::auto_accept::overview(&db)
        .await
        .map_err(AppError::from)
}

/// Sets a category's auto-accept threshold (`threshold` empty: never).
#[server(prefix = "/rpc", endpoint = "set_auto_accept")]
pub async fn set_auto_accept(category: String, threshold: String) -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    let value = match threshold.trim() {
        "" => None,
        t => Some(t.parse::<f64>().map_err(|_| {
            AppError::invalid("threshold", format!("{t:?} is not a number")).refuse()
        })?),
    };
    domain::auto_accept::set_threshold(&db, &category, value, domain::audit::Actor::User(user.id))
        .await?;
    Ok(match value {
        Some(t) => format!(
            "{}: predictions at {} or more are accepted automatically.",
            format::category(&category),
            format::percent(t)
        ),
        None => format!(
            "{}: every prediction waits for a person.",
            format::category(&category)
        ),
    })
}

/// Auto-accept thresholds per category. Precision comes from staff labels on the
/// active model's predictions; coverage from the emails' current predictions.
#[component]
fn AutoAccept() -> impl IntoView {
    let save = ServerAction::<SetAutoAccept>::new();
    let overview = Resource::new(move || save.version().get(), |_| load_auto_accept());
    view! {
        <section class="auto-accept" aria-labelledby="auto-accept-heading">
            <h2 id="auto-accept-heading">"Auto-accept"</h2>
            <p class="hint">
                "A prediction at or above its category's threshold is accepted without a person and leaves the queue; it is recorded as automatic, never as a staff label, and never trains the next model. The review queue keeps the rest."
            </p>
            {action_outcome(move || save.value().get())}
            <Suspense fallback=|| {
                view! { <p>"Loading…"</p> }
            }>
                {move || Suspend::new(async move {
                    match overview.await {
                        Ok(rows) => {
                            view! {
                                <table
                                    class="grid models auto-accept-table"
                                    aria-label="Auto-accept thresholds"
                                >
                                    <thead>
                                        <tr>
                                            <th scope="col">"Category"</th>
                                            <th scope="col">"Predicted"</th>
                                            <th scope="col">
                                                "Threshold: staff-judged precision, emails covered"
                                            </th>
                                            <th scope="col"></th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {rows
                                            .into_iter()
                                            .map(|c| {
                                                let current = c.threshold;
                                                let select_label = format!(
                                                    "Auto-accept threshold for {}",
                                                    format::category(&c.category),
                                                );
                                                let name = c.category.clone();
                                                view! {
                                                    <tr data-category=c.category.clone()>
                                                        <th scope="row">
                                                            <span
                                                                class="swatch"
                                                                style:background=c.color.clone()
                                                            ></span>
                                                            " "
                                                            {format::category(&c.category)}
                                                        </th>
                                                        <td class="num">{c.predicted}</td>
                                                        <td colspan="2">
                                                            <ActionForm action=save attr:class="threshold-form">
                                                                <input type="hidden" name="category" value=name />
                                                                <select name="threshold" aria-label=select_label>
                                                                    <option value="" selected=current.is_none()>
                                                                        "never"
                                                                    </option>
                                                                    {c
                                                                        .options
                                                                        .iter()
                                                                        .map(|o| {
                                                                            let precision = o
                                                                                .precision
                                                                                .map(format::percent)
                                                                                .unwrap_or_else(|| "no judgements".into());
                                                                            view! {
                                                                                <option
                                                                                    value=o.threshold.to_string()
                                                                                    selected=current == Some(o.threshold)
                                                                                >
                                                                                    {format!(
                                                                                        "{} or more: precision {precision} of {} judged, covers {}",
                                                                                        format::percent(o.threshold),
                                                                                        o.judged,
                                                                                        o.covered,
                                                                                    )}
                                                                                </option>
                                                                            }
                                                                        })
                                                                        .collect_view()}
                                                                </select>
                                                                " "
                                                                <button type="submit">"Set"</button>
                                                            </ActionForm>
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
        </section>
    }
}

/// The training data as a file: the labels export with its filters and split (a GET
/// form to the API, so it downloads without scripts).
#[component]
fn LabelsDownload() -> impl IntoView {
    view! {
        <details class="labels-download">
            <summary>"Download the labels (training data)"</summary>
            <form method="get" action="/api/v1/labels/export" class="period-form">
                <label>
                    "Format " <select name="format">
                        <option value="jsonl">"JSON Lines"</option>
                        <option value="csv">"CSV"</option>
                        <option value="fasttext">"fastText / BlazingText"</option>
                    </select>
                </label>
                <label>
                    "Source " <select name="source">
                        <option value="">"all"</option>
                        <option value=format!(
                            "{},{}",
                            LabelSource::Accepted,
                            LabelSource::Corrected,
                        )>"staff (accepted and corrected)"</option>
                        <option value=LabelSource::Corrected.as_str()>"corrections only"</option>
                        <option value=LabelSource::Imported.as_str()>"imported"</option>
                    </select>
                </label>
                <label>"From " <input type="date" name="from" /></label>
                <label>"to " <input type="date" name="to" /></label>
                <label>"Test from " <input type="date" name="split_at" /></label>
                <button type="submit">"Download"</button>
            </form>
            <p class="hint">
                "With a test date, each row says train or test; whole threads stay on one side. The response headers carry the dataset hash and the last label id, to rebuild the same file later."
            </p>
        </details>
    }
}

/// A candidate and the active model side by side on the same held-out emails.
#[component]
fn Comparison(comparison: ModelComparison, activate: ServerAction<ActivateModel>) -> impl IntoView {
    let ModelComparison {
        held_out,
        classes,
        candidate,
        active,
        changed_total,
        changed,
    } = comparison;
    let figure = |f: Option<&ModelFigures>, get: fn(&ModelFigures) -> f64| {
        f.map(|f| format!("{:.3}", get(f)))
            .unwrap_or_else(|| "–".into())
    };
    let better = active.as_ref().map(|a| candidate.macro_f1 > a.macro_f1);
    let candidate_id = candidate.model_id;
    let per_class_rows = classes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let a = active.as_ref().map(|a| a.per_class[i].clone());
            let k = candidate.per_class[i].clone();
            let pct = |v: f64| format::percent(v);
            view! {
                <tr>
                    <th scope="row">{format::category(c)}</th>
                    <td class="num">{k.support}</td>
                    <td class="num">{a.as_ref().map(|a| pct(a.precision)).unwrap_or_default()}</td>
                    <td class="num">{pct(k.precision)}</td>
                    <td class="num">{a.as_ref().map(|a| pct(a.recall)).unwrap_or_default()}</td>
                    <td class="num">{pct(k.recall)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="comparison" aria-labelledby="comparison-heading">
            <h2 id="comparison-heading">
                "Candidate " <code>{candidate.version.clone()}</code>
                {active
                    .as_ref()
                    .map(|a| {
                        view! {
                            " against active "
                            <code>{a.version.clone()}</code>
                        }
                    })}
            </h2>
            <p class="hint">
                {format!(
                    "Both scored the same {held_out} held-out labelled emails; a built-in model is judged by its twin, trained on every label but these threads.",
                )}
            </p>
            {match better {
                Some(true) => {
                    view! {
                        <p class="form-ok verdict">"The candidate has the higher macro-F1."</p>
                    }
                        .into_any()
                }
                Some(false) => {
                    view! {
                        <p class="form-error verdict">"The candidate is not better on macro-F1."</p>
                    }
                        .into_any()
                }
                None => {
                    view! {
                        <p class="hint">
                            "No other model is active: these are the candidate's figures alone."
                        </p>
                    }
                        .into_any()
                }
            }}
            <table class="grid models comparison-figures">
                <TableHead columns=&["Figure", "Active", "Candidate"] />
                <tbody>
                    <tr>
                        <th scope="row">"Accuracy"</th>
                        <td class="num">{figure(active.as_ref(), |f| f.accuracy)}</td>
                        <td class="num" data-figure="candidate-accuracy">
                            {format!("{:.3}", candidate.accuracy)}
                        </td>
                    </tr>
                    <tr>
                        <th scope="row">"Macro-F1"</th>
                        <td class="num" data-figure="active-macro-f1">
                            {figure(active.as_ref(), |f| f.macro_f1)}
                        </td>
                        <td class="num" data-figure="candidate-macro-f1">
                            {format!("{:.3}", candidate.macro_f1)}
                        </td>
                    </tr>
                </tbody>
            </table>
            <h3>"Per category"</h3>
            <table class="grid models">
                <TableHead columns=&[
                    "Category",
                    "Emails",
                    "Precision (active)",
                    "Precision (candidate)",
                    "Recall (active)",
                    "Recall (candidate)",
                ] />
                <tbody>{per_class_rows}</tbody>
            </table>
            <div class="analytics-columns">
                {active
                    .as_ref()
                    .map(|a| {
                        view! {
                            <div>
                                <h3>"Active: confusion"</h3>
                                <ConfusionMatrix
                                    classes=classes.clone()
                                    counts=a.confusion.clone()
                                    caption="Rows: the label; columns: the active model's prediction."
                                />
                            </div>
                        }
                    })} <div>
                    <h3>"Candidate: confusion"</h3>
                    <ConfusionMatrix
                        classes=classes.clone()
                        counts=candidate.confusion.clone()
                        caption="Rows: the label; columns: the candidate's prediction."
                    />
                </div>
            </div>
            {active
                .is_some()
                .then(|| {
                    view! {
                        <h3>{format!("{changed_total} emails would change category")}</h3>
                        <table class="grid changed-emails">
                            <TableHead columns=&[
                                "Email",
                                "Label",
                                "Active says",
                                "Candidate says",
                            ] />
                            <tbody>
                                {changed
                                    .into_iter()
                                    .map(|e| {
                                        view! {
                                            <tr
                                                class:fixed=e.candidate == e.label
                                                class:broken=e.active == e.label
                                            >
                                                <td>
                                                    <a href=format!("/emails/{}", e.id)>{e.subject.clone()}</a>
                                                </td>
                                                <td>{format::category(&e.label)}</td>
                                                <td>{format::category(&e.active)}</td>
                                                <td>{format::category(&e.candidate)}</td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    }
                })}
            <ActionForm action=activate attr:class="inline-form">
                <input type="hidden" name="id" value=candidate_id />
                <button type="submit" class="primary">
                    "Promote "
                    <code>{candidate.version.clone()}</code>
                </button>
            </ActionForm>
        </section>
    }
}

#[component]
fn ModelTable(models: Vec<ModelSummary>, activate: ServerAction<ActivateModel>) -> impl IntoView {
    if models.is_empty() {
        return view! {
            <p class="page-message">
                "No model yet: train one on the labels, or connect an endpoint."
            </p>
        }
        .into_any();
    }
    let figure = |v: Option<f64>, f: fn(f64) -> String| v.map(f).unwrap_or_else(|| "–".into());
    view! {
        <table class="grid models" aria-label="Model versions">
            <TableHead columns=&[
                "Version",
                "Kind",
                "Status",
                "Trained on",
                "Accuracy",
                "Macro-F1",
                "Calibration error",
                "Created",
                "",
            ] />
            <tbody>
                {models
                    .into_iter()
                    .map(|m| {
                        let is_active = m.status == ModelStatus::Active;
                        let per_category = m.per_category.clone();
                        view! {
                            <tr class:active-model=is_active data-model=m.version.clone()>
                                <td>
                                    <code>{m.version.clone()}</code>
                                    {m
                                        .endpoint
                                        .clone()
                                        .map(|e| view! { <div class="hint">{e}</div> })}
                                </td>
                                <td>
                                    {match m.kind {
                                        ModelKind::Builtin => "built-in",
                                        ModelKind::Endpoint => "endpoint",
                                    }}
                                </td>
                                <td>
                                    <span class=format!(
                                        "status status-{}",
                                        m.status,
                                    )>{m.status.to_string()}</span>
                                </td>
                                <td class="num">
                                    {m
                                        .training_size
                                        .map(|n| n.to_string())
                                        .unwrap_or_else(|| "–".into())}
                                </td>
                                <td class="num">{figure(m.accuracy, format::percent)}</td>
                                <td class="num">{figure(m.macro_f1, |v| format!("{v:.3}"))}</td>
                                <td class="num">{figure(m.ece, |v| format!("{v:.3}"))}</td>
                                <td>
                                    {format::timestamp(m.created_at)}
                                    <div class="hint">
                                        {m.created_by.clone().unwrap_or_else(|| "system".into())}
                                        {m
                                            .dataset_hash
                                            .clone()
                                            .map(|h| {
                                                view! {
                                                    " · data "
                                                    <code title=h
                                                        .clone()>{h[..h.len().min(8)].to_string()}</code>
                                                }
                                            })}
                                    </div>
                                </td>
                                <td class="row-actions">
                                    {(!is_active)
                                        .then(|| {
                                            view! {
                                                <a href=format!("/models?compare={}", m.id)>"Compare"</a>
                                                <ActionForm action=activate>
                                                    <input type="hidden" name="id" value=m.id />
                                                    <button type="submit">"Promote"</button>
                                                </ActionForm>
                                            }
                                        })}
                                </td>
                            </tr>
                            {(!per_category.is_empty())
                                .then(|| {
                                    view! {
                                        <tr class="per-category-row">
                                            <td colspan="9">
                                                <PerCategory classes=per_category />
                                            </td>
                                        </tr>
                                    }
                                })}
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }.into_any()
}

/// A built-in model's held-out precision and recall per category, with the labels it
/// learnt from; categories with too few labels to learn are flagged and counted in
/// the summary, so a supervisor sees where labelling more pays.
#[component]
fn PerCategory(classes: Vec<ClassFigures>) -> impl IntoView {
    let few: Vec<String> = classes
        .iter()
        .filter(|c| c.too_few_labels())
        .map(|c| format::category(&c.category))
        .collect();
    let summary = if few.is_empty() {
        format!("Per category ({})", classes.len())
    } else {
        format!(
            "Per category ({}): {} with too few labels to learn ({})",
            classes.len(),
            few.len(),
            few.join(", ")
        )
    };
    view! {
        <details class="per-category" class:has-warning=!few.is_empty()>
            <summary>{summary}</summary>
            <table class="grid compact" aria-label="Figures per category">
                <TableHead columns=&["Category", "Labels", "Precision", "Recall", "Held out"] />
                <tbody>
                    {classes
                        .into_iter()
                        .map(|c| {
                            let few = c.too_few_labels();
                            view! {
                                <tr class:too-few=few>
                                    <td>
                                        {format::category(&c.category)}
                                        {few
                                            .then(|| {
                                                view! {
                                                    <span
                                                        class="warning-tag"
                                                        title=format!(
                                                            "Fewer than {MIN_LABELS_TO_LEARN} labels: the model cannot learn this category reliably. Label more of its emails.",
                                                        )
                                                    >
                                                        "too few labels"
                                                    </span>
                                                }
                                            })}
                                    </td>
                                    <td class="num">
                                        {c
                                            .labels
                                            .map(|n| n.to_string())
                                            .unwrap_or_else(|| "–".into())}
                                    </td>
                                    <td class="num">{format::percent(c.precision)}</td>
                                    <td class="num">{format::percent(c.recall)}</td>
                                    <td class="num">{c.support}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </details>
    }
}

/// Connecting a SageMaker endpoint (admins). Credentials are not entered here: they
/// come from the standard AWS chain of the machine Triage runs on.
#[component]
fn EndpointForm(connect: ServerAction<ConnectEndpoint>) -> impl IntoView {
    view! {
        <h2>"Connect a SageMaker endpoint"</h2>
        <ActionForm action=connect attr:class="stacked-form endpoint-form">
            <label>
                "Endpoint name"
                <input
                    name="endpoint_name"
                    required
                    pattern="[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
                    maxlength="63"
                />
            </label>
            <label>"Region" <input name="region" placeholder="from the AWS configuration" /></label>
            <label>
                "Endpoint URL"
                <input
                    name="endpoint_url"
                    type="url"
                    placeholder="AWS (leave empty), or a compatible server"
                />
            </label>
            <label>
                "Content type" <input name="content_type" value="application/json" required />
            </label>
            <label>
                "Timeout (ms)"
                <input
                    name="timeout_ms"
                    type="number"
                    min="100"
                    max="600000"
                    value="10000"
                    required
                />
            </label>
            <label>
                "Label mapping"
                <textarea
                    name="label_map"
                    rows="2"
                    placeholder="LABEL_0=feedback, LABEL_1=complaint"
                ></textarea>
            </label>
            <label class="checkbox">
                <input type="checkbox" name="activate" value="on" />
                " Make it the active scorer if the check passes"
            </label>
            <button type="submit" class="primary" disabled=move || connect.pending().get()>
                {move || if connect.pending().get() { "Checking…" } else { "Save and check" }}
            </button>
        </ActionForm>
        <p class="hint">
            "Credentials come from the standard AWS chain of the machine running Triage (environment, profile, SSO or role). Labels are matched to categories by name unless mapped."
        </p>
    }
}
