//! The Jobs page: start scoring, rescoring, retraining and Batch Transform jobs, watch
//! them with live progress bars (rate and time left, and SageMaker's own status for a
//! transform job), cancel them, retry their failures, and set the schedules that
//! queue jobs by themselves.

// `start_job` takes one argument per form field, as every server function behind an
// ActionForm; the lint fires on the code the server macro generates.
#![allow(clippy::too_many_arguments)]

use domain::wire::{
    EmailStatus, JobFailure, JobKind, JobSchedule, JobStatus, JobView, TransformOptions,
};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::components::outcome::{action_outcome, after_actions};
use crate::components::table::TableHead;
use crate::error::AppError;
use crate::format;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobsData {
    pub jobs: Vec<JobView>,
    pub schedules: Vec<JobSchedule>,
    /// Model versions a job can score with, active first.
    pub models: Vec<String>,
    pub categories: Vec<String>,
    /// The `transform_*` settings: what an empty Batch Transform field means.
    pub transform_defaults: TransformOptions,
}

#[server(prefix = "/rpc", endpoint = "load_jobs")]
pub async fn load_jobs() -> Result<JobsData, AppError> {
    let (_, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    Ok(JobsData {
        jobs: domain::jobs::list(&db, 30).await?,
        schedules: domain::jobs::schedule::list(&db).await?,
        models: domain::models::list(&db)
            .await?
            .into_iter()
            .map(|m| m.version)
            .collect(),
        categories: domain::categories::list(&db)
            .await?
            .into_iter()
            .map(|c| c.name)
            .collect(),
        transform_defaults: use_context::<std::sync::Arc<domain::settings::Settings>>()
            .map(|s| s.transform_settings().options)
            .unwrap_or_default(),
    })
}

/// Tells this process's job worker a job is waiting (server side only).
#[cfg(feature = "ssr")]
fn wake_worker() {
    if let Some(jobs) = use_context::<domain::jobs::worker::WorkerHandle>() {
        jobs.wake();
    }
}

/// Queues a job from the form; empty fields mean "any" / "the active model".
#[server(prefix = "/rpc", endpoint = "start_job")]
pub async fn start_job(
    kind: String,
    model: Option<String>,
    category: Option<String>,
    status: Option<String>,
    min_confidence: Option<String>,
    max_confidence: Option<String>,
    activate: Option<String>,
    #[server(default)] transform: TransformForm,
) -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    let some = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let percent = |v: Option<String>, field: &str| -> Result<Option<f64>, AppError> {
        some(v)
            .map(|s| {
                s.parse::<f64>().map(|p| p / 100.0).map_err(|_| {
                    AppError::invalid(field, format!("{s:?} is not a percentage")).refuse()
                })
            })
            .transpose()
    };
    let kind: domain::wire::JobKind = kind.parse().map_err(|e: domain::wire::UnknownState| {
        AppError::invalid("kind", e.to_string()).refuse()
    })?;
    let status = some(status)
        .map(|s| s.parse::<domain::wire::EmailStatus>())
        .transpose()
        .map_err(|e| AppError::invalid("status", e.to_string()).refuse())?;
    let number = |v: Option<String>, field: &str| -> Result<Option<i64>, AppError> {
        some(v)
            .map(|s| {
                s.parse::<i64>().map_err(|_| {
                    AppError::invalid(field, format!("{s:?} is not a whole number")).refuse()
                })
            })
            .transpose()
    };
    let t = transform;
    let transform = TransformOptions {
        model_name: some(t.sagemaker_model),
        instance_type: some(t.instance_type),
        instance_count: number(t.instance_count, "instance count")?,
        max_concurrent_transforms: number(t.max_concurrent_transforms, "concurrent transforms")?,
        max_payload_mb: number(t.max_payload_mb, "largest payload")?,
        s3_uri: some(t.s3_uri),
        all: false,
    };
    let job = domain::jobs::NewJob {
        kind,
        model: some(model),
        activate: activate.is_some(),
        transform: if kind == JobKind::Transform {
            transform
        } else {
            TransformOptions::default()
        },
        filter: domain::jobs::JobFilter {
            category: some(category),
            status,
            min_confidence: percent(min_confidence, "lowest confidence")?,
            max_confidence: percent(max_confidence, "highest confidence")?,
            ..Default::default()
        },
    };
    let job = domain::jobs::create(&db, &job, domain::audit::Actor::User(user.id)).await?;
    wake_worker();
    Ok(format!("Job {} queued: {}.", job.id, job.description))
}

/// The Batch Transform fields of the start form (`transform[model_name]`, …).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TransformForm {
    pub sagemaker_model: Option<String>,
    pub instance_type: Option<String>,
    pub instance_count: Option<String>,
    pub max_concurrent_transforms: Option<String>,
    pub max_payload_mb: Option<String>,
    pub s3_uri: Option<String>,
}

#[server(prefix = "/rpc", endpoint = "cancel_job")]
pub async fn cancel_job(id: i64) -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    domain::jobs::cancel(&db, id, domain::audit::Actor::User(user.id)).await?;
    Ok(format!("Job {id} cancelled."))
}

#[server(prefix = "/rpc", endpoint = "retry_job")]
pub async fn retry_job(id: i64) -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    domain::jobs::retry(&db, id, domain::audit::Actor::User(user.id)).await?;
    wake_worker();
    Ok(format!("Job {id} is retrying its failed emails."))
}

/// Sets a schedule; an empty interval removes it.
#[server(prefix = "/rpc", endpoint = "set_schedule")]
pub async fn set_schedule(
    kind: domain::wire::JobKind,
    every_minutes: String,
) -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    let every = match every_minutes.trim() {
        "" | "0" => None,
        s => Some(s.parse::<i64>().map_err(|_| {
            AppError::invalid("every", format!("{s:?} is not a number of minutes")).refuse()
        })?),
    };
    domain::jobs::schedule::set(&db, kind, every, domain::audit::Actor::User(user.id)).await?;
    Ok(match every {
        Some(n) => format!("A {kind} job now runs every {n} minutes."),
        None => format!("The {kind} schedule is off."),
    })
}

#[server(prefix = "/rpc", endpoint = "job_failures")]
pub async fn job_failures(id: i64) -> Result<Vec<JobFailure>, AppError> {
    let (_, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    domain::jobs::failures(&db, id, 100)
        .await
        .map_err(AppError::from)
}

#[component]
pub fn JobsPage() -> impl IntoView {
    let start = ServerAction::<StartJob>::new();
    let cancel = ServerAction::<CancelJob>::new();
    let retry = ServerAction::<RetryJob>::new();
    let schedule = ServerAction::<SetSchedule>::new();
    // Live progress: look again every second while the page is open.
    let tick = crate::actions::ticks(std::time::Duration::from_secs(1));
    let actions = after_actions([
        start.version(),
        cancel.version(),
        retry.version(),
        schedule.version(),
    ]);
    let page = Resource::new(move || (tick.get(), actions()), |_| load_jobs());
    let outcome = move || {
        [
            start.value().get(),
            cancel.value().get(),
            retry.value().get(),
            schedule.value().get(),
        ]
        .into_iter()
        .flatten()
        .next_back()
    };
    view! {
        <Title text="Jobs" />
        <h1>"Jobs"</h1>
        {action_outcome(outcome)}
        <Transition fallback=|| {
            view! { <p>"Loading…"</p> }
        }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) => {
                        view! {
                            <JobTable jobs=p.jobs.clone() cancel retry />
                            <div class="job-forms">
                                <StartForm
                                    start
                                    models=p.models.clone()
                                    categories=p.categories.clone()
                                    defaults=p.transform_defaults.clone()
                                />
                                <Schedules schedule schedules=p.schedules.clone() />
                            </div>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn duration(seconds: f64) -> String {
    let s = seconds.round() as i64;
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[component]
fn JobTable(
    jobs: Vec<JobView>,
    cancel: ServerAction<CancelJob>,
    retry: ServerAction<RetryJob>,
) -> impl IntoView {
    if jobs.is_empty() {
        return view! { <p class="page-message">"No job yet. Start one below, or let a schedule do it."</p> }.into_any();
    }
    view! {
        <table class="grid jobs" aria-label="Jobs">
            <TableHead columns=&[
                "Job",
                "What",
                "Model",
                "Status",
                "Progress",
                "Rate",
                "Started",
                "",
            ] />
            <tbody>
                {jobs.into_iter().map(|j| view! { <JobRow job=j cancel retry /> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn JobRow(
    job: JobView,
    cancel: ServerAction<CancelJob>,
    retry: ServerAction<RetryJob>,
) -> impl IntoView {
    let processed = job.done + job.failed;
    let percent = if job.total > 0 {
        processed as f64 * 100.0 / job.total as f64
    } else if job.status == JobStatus::Succeeded {
        100.0
    } else {
        0.0
    };
    let live = !job.status.is_finished();
    let can_retry = !live
        && (job.failed > 0
            || job.status == JobStatus::Cancelled
            || (job.kind == JobKind::Retrain && job.status == JobStatus::Failed));
    let id = job.id;
    let show_failures = RwSignal::new(false);
    let failures = Resource::new(
        move || show_failures.get(),
        move |open| async move {
            if open {
                job_failures(id).await
            } else {
                Ok(Vec::new())
            }
        },
    );
    let rate = job
        .rate_per_second
        .map(|r| format!("{r:.0}/s"))
        .unwrap_or_else(|| "–".into());
    let eta = job
        .eta_seconds
        .map(|s| format!(" · {} left", duration(s)))
        .unwrap_or_default();
    view! {
        <tr data-job=job.id class=format!("job-{}", job.status)>
            <td class="num">{job.id}</td>
            // A finished retrain names the version it trained in the Model column.
            <td>{job.kind.to_string()} ": " {job.description.clone()}</td>
            <td>
                <code>{job.model.clone().unwrap_or_else(|| "–".into())}</code>
            </td>
            <td>
                <span class=format!("status status-{}", job.status)>{job.status.to_string()}</span>
                {transform_status(&job)}
                {job.error.clone().map(|e| view! { <div class="hint">{e}</div> })}
            </td>
            <td class="progress-cell">
                <progress
                    max=job.total.max(1)
                    value=processed
                    aria-label=format!("Job {} progress", job.id)
                ></progress>
                <span class="progress-text">
                    {format!("{processed} / {} ({percent:.0}%)", job.total)}
                    {(job.failed > 0)
                        .then(|| {
                            view! {
                                " · "
                                <button
                                    type="button"
                                    class="link"
                                    on:click=move |_| show_failures.update(|o| *o = !*o)
                                >
                                    {format!("{} failed", job.failed)}
                                </button>
                            }
                        })}
                </span>
            </td>
            <td class="num">{rate}{eta}</td>
            <td>{job.started_at.map(format::timestamp).unwrap_or_else(|| "waiting".into())}</td>
            <td>
                {live
                    .then(|| {
                        view! {
                            <ActionForm action=cancel>
                                <input type="hidden" name="id" value=id />
                                <button type="submit">"Cancel"</button>
                            </ActionForm>
                        }
                    })}
                {can_retry
                    .then(|| {
                        view! {
                            <ActionForm action=retry>
                                <input type="hidden" name="id" value=id />
                                <button type="submit">"Retry"</button>
                            </ActionForm>
                        }
                    })}
            </td>
        </tr>
        {move || {
            show_failures
                .get()
                .then(|| {
                    view! {
                        <tr class="job-failures">
                            <td colspan="8">
                                <Suspense fallback=|| {
                                    view! { "Loading…" }
                                }>
                                    {move || Suspend::new(async move {
                                        match failures.await {
                                            Ok(list) => {
                                                view! {
                                                    <ul>
                                                        {list
                                                            .into_iter()
                                                            .map(|f| {
                                                                view! {
                                                                    <li>
                                                                        {match f.email_id {
                                                                            Some(id) => {
                                                                                view! { <a href=format!("/emails/{id}")>{f.subject}</a> }
                                                                                    .into_any()
                                                                            }
                                                                            None => view! { <code>{f.subject}</code> }.into_any(),
                                                                        }} " — " {f.error} {format!(" ({} tries)", f.attempts)}
                                                                    </li>
                                                                }
                                                            })
                                                            .collect_view()}
                                                    </ul>
                                                }
                                                    .into_any()
                                            }
                                            Err(e) => {
                                                view! { <p class="form-error">{e.to_string()}</p> }
                                                    .into_any()
                                            }
                                        }
                                    })}
                                </Suspense>
                            </td>
                        </tr>
                    }
                })
        }}
    }
}

/// A transform job's SageMaker job and its status there, under Triage's status.
fn transform_status(job: &JobView) -> Option<impl IntoView + use<>> {
    let run = job.transform.clone()?;
    let title = format!(
        "{} × {} · SageMaker model {} · input {} · output {}",
        run.instance_count, run.instance_type, run.model_name, run.input, run.output
    );
    Some(view! {
        <div class="hint" title=title>
            "SageMaker "
            <code>{run.transform_job}</code>
            ": "
            {run.sagemaker_status.unwrap_or_else(|| "not created yet".into())}
        </div>
    })
}

#[component]
fn StartForm(
    start: ServerAction<StartJob>,
    models: Vec<String>,
    categories: Vec<String>,
    defaults: TransformOptions,
) -> impl IntoView {
    let default = |v: Option<String>| v.unwrap_or_else(|| "not set".into());
    let default_number = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    view! {
        <section aria-labelledby="start-job">
            <h2 id="start-job">"Start a job"</h2>
            <ActionForm action=start attr:class="stacked-form">
                <label>
                    "Kind"
                    <select name="kind">
                        {JobKind::REQUESTABLE
                            .map(|kind| {
                                view! { <option value=kind.as_str()>{asked(kind)}</option> }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Model" <select name="model">
                        <option value="">"the active model"</option>
                        {models
                            .into_iter()
                            .map(|m| view! { <option value=m.clone()>{m.clone()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Predicted category" <select name="category">
                        <option value="">"any"</option>
                        {categories
                            .into_iter()
                            .map(|c| {
                                view! { <option value=c.clone()>{format::category(&c)}</option> }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Status" <select name="status">
                        <option value="">"any"</option>
                        {EmailStatus::ALL
                            .iter()
                            .map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Confidence from (%)"
                    <input name="min_confidence" type="number" min="0" max="100" />
                </label>
                <label>
                    "Confidence to (%)"
                    <input name="max_confidence" type="number" min="0" max="100" />
                </label>
                <label class="checkbox">
                    <input type="checkbox" name="activate" value="on" />
                    " After a retrain, make the new model active"
                </label>
                <fieldset class="transform-fields">
                    <legend>"Batch Transform (SageMaker)"</legend>
                    <label>
                        "SageMaker model"
                        <input
                            name="transform[sagemaker_model]"
                            placeholder=default(defaults.model_name.clone())
                        />
                    </label>
                    <label>
                        "S3 folder"
                        <input
                            name="transform[s3_uri]"
                            placeholder=default(defaults.s3_uri.clone())
                        />
                    </label>
                    <label>
                        "Instance type"
                        <input
                            name="transform[instance_type]"
                            placeholder=default(defaults.instance_type.clone())
                        />
                    </label>
                    <label>
                        "Instances"
                        <input
                            name="transform[instance_count]"
                            type="number"
                            min="1"
                            placeholder=default_number(defaults.instance_count)
                        />
                    </label>
                    <label>
                        "Concurrent transforms"
                        <input
                            name="transform[max_concurrent_transforms]"
                            type="number"
                            min="1"
                            placeholder=default_number(defaults.max_concurrent_transforms)
                        />
                    </label>
                    <label>
                        "Largest payload (MB)"
                        <input
                            name="transform[max_payload_mb]"
                            type="number"
                            min="1"
                            max="100"
                            placeholder=default_number(defaults.max_payload_mb)
                        />
                    </label>
                </fieldset>
                <button type="submit" class="primary">
                    "Start"
                </button>
            </ActionForm>
            <p class="hint">
                "The filter applies to rescoring and Batch Transform; scoring takes every email without a prediction, as does a transform without a filter. Empty Batch Transform fields take the settings' values, shown greyed."
            </p>
        </section>
    }
}

/// What a supervisor asks for when starting a job of `kind`.
fn asked(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Score => "Score what is unscored",
        JobKind::Rescore => "Rescore a selection",
        JobKind::Retrain => "Retrain the built-in model",
        JobKind::Import => "Import mail",
        JobKind::Transform => "Score by SageMaker Batch Transform",
    }
}

#[component]
fn Schedules(schedule: ServerAction<SetSchedule>, schedules: Vec<JobSchedule>) -> impl IntoView {
    let every = |kind: JobKind| {
        schedules
            .iter()
            .find(|s| s.kind == kind)
            .map(|s| s.every_minutes.to_string())
            .unwrap_or_default()
    };
    let rows = [
        (
            JobKind::Score,
            "Score what is unscored every",
            every(JobKind::Score),
        ),
        (
            JobKind::Retrain,
            "Retrain the built-in model every",
            every(JobKind::Retrain),
        ),
        (
            JobKind::Transform,
            "Batch Transform what is unscored every",
            every(JobKind::Transform),
        ),
    ];
    view! {
        <section aria-labelledby="schedules">
            <h2 id="schedules">"Schedules"</h2>
            {rows
                .into_iter()
                .map(|(kind, label, minutes)| {
                    view! {
                        <ActionForm action=schedule attr:class="schedule-form">
                            <input type="hidden" name="kind" value=kind.to_string() />
                            <label>
                                {label} " "
                                <input
                                    name="every_minutes"
                                    type="number"
                                    min="0"
                                    max="10080"
                                    value=minutes
                                    aria-label=format!("{label} (minutes)")
                                /> " minutes"
                            </label>
                            <button type="submit">"Save"</button>
                        </ActionForm>
                    }
                })
                .collect_view()}
            <p class="hint">"Empty or 0 turns a schedule off."</p>
        </section>
    }
}
