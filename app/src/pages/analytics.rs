//! The Analytics page (supervisors): how much mail arrives, what waits, how fast the
//! team decides, how often the model is right by the team's judgement, and whether
//! suggested replies help. The period lives in the URL (`?from=2026-11-01&to=…`);
//! every view has a CSV export and its numbers under its chart.

use domain::wire::analytics::{AnalyticsReport, Drift, Period};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::charts::{
    BarList, ConfusionMatrix, DataTable, LineChart, Reliability, Series, StackedBars, pct,
};
use crate::components::outcome::action_outcome;
use crate::components::table::TableHead;
use crate::error::AppError;
use crate::format;

#[server(prefix = "/rpc", endpoint = "load_analytics")]
pub async fn load_analytics(
    from: Option<String>,
    to: Option<String>,
) -> Result<AnalyticsReport, AppError> {
    let (_, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    let period = domain::analytics::period(from.as_deref(), to.as_deref(), domain::time::now_ms())?;
    domain::analytics::report(&db, period)
        .await
        .map_err(AppError::from)
}

/// Sets the agreement level below which the drift alert is raised.
#[server(prefix = "/rpc", endpoint = "save_drift_settings")]
pub async fn save_drift_settings(threshold_percent: f64, window: i64) -> Result<String, AppError> {
    let (user, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    let settings = domain::analytics::DriftSettings {
        threshold: threshold_percent / 100.0,
        window,
    };
    domain::analytics::set_drift_settings(&db, settings, domain::audit::Actor::User(user.id))
        .await?;
    Ok(format!(
        "Saved: alert when agreement over the last {window} labels falls below {threshold_percent}%."
    ))
}

/// `95 min` → `1 h 35 min`; days beyond two days.
pub fn duration(ms: i64) -> String {
    let minutes = ms / 60_000;
    match minutes {
        m if m < 1 => format!("{} s", ms / 1000),
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{:.1} days", m as f64 / 1440.0),
    }
}

#[component]
pub fn AnalyticsPage() -> impl IntoView {
    let query = use_query_map();
    let save = ServerAction::<SaveDriftSettings>::new();
    let range = move || {
        query.with(|q| {
            (
                q.get("from").filter(|s| !s.is_empty()),
                q.get("to").filter(|s| !s.is_empty()),
            )
        })
    };
    let report = Resource::new(
        move || (range(), save.version().get()),
        |((from, to), _)| load_analytics(from, to),
    );
    view! {
        <Title text="Analytics" />
        <h1>"Analytics"</h1>
        <Suspense fallback=|| {
            view! { <p>"Loading…"</p> }
        }>
            {move || Suspend::new(async move {
                match report.await {
                    Ok(r) => view! { <Report report=r save /> }.into_any(),
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
    }
}

/// The period form: a GET form, so it works before hydration and the URL can be shared.
#[component]
fn PeriodForm(period: Period) -> impl IntoView {
    let first = domain::wire::analytics::date(period.from);
    let last = domain::wire::analytics::date(period.to - 1);
    let preset = move |days: i64| {
        let from = domain::wire::analytics::date(period.to - days * Period::DAY_MS);
        format!(
            "/analytics?from={from}&to={last}",
            last = domain::wire::analytics::date(period.to - 1)
        )
    };
    view! {
        <form method="get" action="/analytics" class="period-form" aria-label="Period">
            <label>"From " <input type="date" name="from" value=first.clone() required /></label>
            <label>"to " <input type="date" name="to" value=last.clone() required /></label>
            <button type="submit">"Show"</button>
            <span class="presets">
                <a href=preset(7)>"7 days"</a>
                <a href=preset(30)>"30 days"</a>
                <a href=preset(90)>"90 days"</a>
                <a href=preset(365)>"a year"</a>
            </span>
            <span class="hint">
                {if period.bucket_ms > Period::DAY_MS {
                    "counted by week (UTC)"
                } else {
                    "counted by day (UTC)"
                }}
            </span>
        </form>
    }
}

/// The drift alert (or, when all is well, one quiet line); also on the Models page.
#[component]
pub fn DriftBanner(drift: Drift) -> impl IntoView {
    let rate = drift.overall.rate().map(pct).unwrap_or_else(|| "–".into());
    let model = drift
        .model
        .clone()
        .unwrap_or_else(|| "no active model".into());
    let categories = drift
        .low_categories
        .iter()
        .map(|(c, a)| {
            format!(
                "{} {}",
                format::category(c),
                a.rate().map(pct).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    if drift.alert {
        view! {
            <div class="drift-alert" role="alert">
                <strong>"Model drift: "</strong>
                <code>{model}</code>
                " agrees with staff on "
                {rate}
                " of its last "
                {drift.overall.labels}
                " judged predictions (alert below "
                {pct(drift.threshold)}
                ")."
                {(!categories.is_empty())
                    .then(|| {
                        view! {
                            " Low: "
                            {categories.clone()}
                            "."
                        }
                    })}
                " "
                <a href="/models">"Train a new model on the labels"</a>
            </div>
        }
        .into_any()
    } else {
        view! {
            <p class="hint drift-ok">
                "Drift: " <code>{model}</code> " agrees with staff on " {rate} " of its last "
                {drift.overall.labels} " judged predictions; the alert is raised below "
                {pct(drift.threshold)} "."
            </p>
        }
        .into_any()
    }
}

/// A view's heading with its CSV link.
#[component]
fn ViewHeading(title: &'static str, view_name: &'static str, period: Period) -> impl IntoView {
    let href = format!(
        "/api/v1/analytics/{view_name}?from={}&to={}",
        domain::wire::analytics::date(period.from),
        domain::wire::analytics::date(period.to - 1)
    );
    view! {
        <div class="view-heading">
            <h2 id=view_name>{title}</h2>
            <a class="csv-link" href=href download>
                "CSV"
                <span class="sr-only">{format!(" of {title}")}</span>
            </a>
        </div>
    }
}

#[component]
fn Report(report: AnalyticsReport, save: ServerAction<SaveDriftSettings>) -> impl IntoView {
    let AnalyticsReport {
        period,
        volume,
        backlog,
        time_to_label,
        staff,
        agreement,
        calibration,
        suggestions,
        drift,
    } = report;
    let dates: Vec<String> = (0..period.buckets())
        .map(|b| period.bucket_date(b)[5..].to_string())
        .collect();
    let staff_labels: i64 = staff.people.iter().map(|p| p.labels).sum();
    let staff_corrections: i64 = staff.people.iter().map(|p| p.corrections).sum();
    let correction_rate =
        (staff_labels > 0).then(|| staff_corrections as f64 / staff_labels as f64);
    let oldest = backlog
        .oldest_age_ms
        .map(|age| format!("oldest waited {}", duration(age)))
        .unwrap_or_else(|| "nothing waiting".into());
    let tiles = [
        (
            "Received",
            volume.total().to_string(),
            "emails in the period".to_string(),
        ),
        ("Untriaged", backlog.untriaged.to_string(), oldest),
        (
            "Time to first label",
            time_to_label
                .median_ms
                .map(duration)
                .unwrap_or_else(|| "–".into()),
            time_to_label
                .p90_ms
                .map(|p| format!("median; p90 {}", duration(p)))
                .unwrap_or_default(),
        ),
        (
            "Staff labels",
            staff_labels.to_string(),
            correction_rate
                .map(|r| format!("{} corrected", pct(r)))
                .unwrap_or_default(),
        ),
        (
            "Model agreement",
            agreement
                .overall
                .rate()
                .map(pct)
                .unwrap_or_else(|| "–".into()),
            format!("on {} staff labels", agreement.overall.labels),
        ),
        (
            "Suggestions used",
            suggestions
                .use_rate()
                .map(pct)
                .unwrap_or_else(|| "–".into()),
            format!("of {} replies", suggestions.replies),
        ),
    ];

    let volume_series: Vec<Series> = volume
        .categories
        .iter()
        .zip(&volume.counts)
        .map(|((name, color), counts)| Series {
            name: name.clone(),
            color: color.clone(),
            values: counts.iter().map(|&c| Some(c as f64)).collect(),
        })
        .collect();
    let hours = |ms: i64| ms as f64 / 3_600_000.0;
    let ttl_series = vec![Series {
        name: "median hours to first label".into(),
        color: "var(--accent)".into(),
        values: time_to_label
            .median_by_bucket
            .iter()
            .map(|m| m.map(hours))
            .collect(),
    }];
    let throughput_series = vec![Series {
        name: "staff labels".into(),
        color: "var(--accent)".into(),
        values: staff
            .labels_by_bucket
            .iter()
            .map(|&n| Some(n as f64))
            .collect(),
    }];
    let agreement_series = vec![Series {
        name: "agreement".into(),
        color: "var(--accent)".into(),
        values: agreement.by_bucket.iter().map(|a| a.rate()).collect(),
    }];
    let rate_rows =
        |rows: &[(String, domain::wire::analytics::Agreed)]| -> Vec<(String, f64, String)> {
            rows.iter()
                .map(|(k, a)| {
                    (
                        k.clone(),
                        a.rate().unwrap_or(0.0),
                        format!("{} of {}", a.rate().map(pct).unwrap_or_default(), a.labels),
                    )
                })
                .collect()
        };
    let ece = calibration
        .ece
        .map(|e| format!("{e:.3}"))
        .unwrap_or_else(|| "–".into());

    view! {
        <PeriodForm period />
        <DriftBanner drift=drift.clone() />
        <ul class="tiles" aria-label="Summary">
            {tiles
                .into_iter()
                .map(|(name, value, note)| {
                    view! {
                        <li>
                            <span class="tile-name">{name}</span>
                            <span class="tile-value">{value}</span>
                            <span class="tile-note">{note}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>

        <section aria-labelledby="volume">
            <ViewHeading title="Volume by category" view_name="volume" period />
            <StackedBars
                label="Emails received per day, stacked by category".to_string()
                x_labels=dates.clone()
                series=volume_series
            />
            <DataTable table=volume.table() summary="Numbers" />
        </section>

        <div class="analytics-columns">
            <section aria-labelledby="backlog">
                <ViewHeading title="Backlog" view_name="backlog" period />
                <p class="hint">"Emails still new, whatever their arrival date."</p>
                <BarList
                    label="Untriaged emails by age".to_string()
                    rows=domain::wire::analytics::Backlog::AGE_BANDS
                        .iter()
                        .zip(backlog.by_age)
                        .map(|(b, n)| (b.to_string(), n as f64, n.to_string()))
                        .collect()
                />
                <h3>"By category"</h3>
                <BarList
                    label="Untriaged emails by category".to_string()
                    rows=backlog
                        .by_category
                        .iter()
                        .map(|(c, n)| (c.clone(), *n as f64, n.to_string()))
                        .collect()
                />
            </section>
            <section aria-labelledby="time-to-label">
                <ViewHeading title="Time to first label" view_name="time-to-label" period />
                <p class="hint">
                    {format!(
                        "{} emails received in the period were labelled; median hours from arrival by day of arrival.",
                        time_to_label.labelled,
                    )}
                </p>
                <LineChart
                    label="Median hours from arrival to first staff label, by day of arrival"
                        .to_string()
                    x_labels=dates.clone()
                    series=ttl_series
                    format=|v| format!("{v:.1}")
                />
                <DataTable table=time_to_label.table() summary="Numbers" />
            </section>
        </div>

        <section aria-labelledby="staff">
            <ViewHeading title="Staff throughput" view_name="staff" period />
            <LineChart
                label="Staff labels per day".to_string()
                x_labels=dates.clone()
                series=throughput_series
            />
            <table class="grid staff-table">
                <TableHead columns=&[
                    "Person",
                    "Labels",
                    "Corrections",
                    "Correction rate",
                    "Median time per email",
                ] />
                <tbody>
                    {staff
                        .people
                        .iter()
                        .map(|p| {
                            view! {
                                <tr>
                                    <td>{p.user.clone()}</td>
                                    <td class="num">{p.labels}</td>
                                    <td class="num">{p.corrections}</td>
                                    <td class="num">
                                        {p.correction_rate().map(pct).unwrap_or_default()}
                                    </td>
                                    <td class="num">
                                        {p
                                            .median_seconds
                                            .map(|s| format!("{s:.0} s"))
                                            .unwrap_or_default()}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>

        <section aria-labelledby="agreement">
            <ViewHeading title="Model agreement with staff labels" view_name="agreement" period />
            <p class="hint">
                "How often the category staff chose was the one predicted. Accepted and corrected labels count; imported ones do not."
            </p>
            <LineChart
                label="Agreement rate per day".to_string()
                x_labels=dates
                series=agreement_series
                max=1.0
                format=pct
            />
            <div class="analytics-columns">
                <div>
                    <h3>"By model version"</h3>
                    <BarList
                        label="Agreement by model version".to_string()
                        rows=rate_rows(&agreement.by_model)
                        max=1.0
                    />
                </div>
                <div>
                    <h3>"By category (staff label)"</h3>
                    <BarList
                        label="Agreement by category".to_string()
                        rows=rate_rows(&agreement.by_category)
                        max=1.0
                    />
                </div>
            </div>
            <DataTable table=agreement.table() summary="Numbers" />
        </section>

        <div class="analytics-columns">
            <section aria-labelledby="confusion">
                <ViewHeading title="Confusion matrix" view_name="confusion" period />
                {if agreement.classes.is_empty() {
                    view! { <p class="page-message">"No staff labels in the period."</p> }
                        .into_any()
                } else {
                    view! {
                        <ConfusionMatrix
                            classes=agreement.classes.clone()
                            counts=agreement.confusion.clone()
                        />
                    }
                        .into_any()
                }}
            </section>
            <section aria-labelledby="calibration">
                <ViewHeading title="Calibration" view_name="calibration" period />
                <p class="hint">
                    {format!(
                        "Expected calibration error {ece}: bars under the diagonal mean the model is surer than it is right.",
                    )}
                </p>
                <Reliability bins=calibration.bins.clone() />
                <DataTable table=calibration.table() summary="Numbers" />
            </section>
        </div>

        <section aria-labelledby="suggestions">
            <ViewHeading title="Suggested replies" view_name="suggestions" period />
            <BarList
                label="Replies by the suggestion they started from".to_string()
                rows=suggestions
                    .by_kind
                    .iter()
                    .map(|k| (
                        k.kind.to_string(),
                        k.replies as f64,
                        format!(
                            "{} replies, {} unedited{}",
                            k.replies,
                            k.unedited,
                            k
                                .median_edit_distance
                                .map(|d| format!(", median {d} characters changed"))
                                .unwrap_or_default(),
                        ),
                    ))
                    .collect()
            />
        </section>

        <section aria-labelledby="drift-settings">
            <h2 id="drift-settings">"Drift alert"</h2>
            <ActionForm action=save attr:class="inline-form drift-form">
                <label>
                    "Alert below "
                    <input
                        type="number"
                        name="threshold_percent"
                        min="0"
                        max="100"
                        step="1"
                        value=format!("{:.0}", drift.threshold * 100.0)
                        required
                    /> "% agreement"
                </label>
                <label>
                    " over the last "
                    <input
                        type="number"
                        name="window"
                        min="30"
                        max="100000"
                        value=drift.window
                        required
                    /> " staff labels"
                </label>
                <button type="submit">"Save"</button>
            </ActionForm>
            {action_outcome(move || save.value().get())}
        </section>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_naturally() {
        assert_eq!(super::duration(30_000), "30 s");
        assert_eq!(super::duration(45 * 60_000), "45 min");
        assert_eq!(super::duration(95 * 60_000), "1 h 35 min");
        assert_eq!(super::duration(3 * 86_400_000), "3.0 days");
    }
}
