//! Charts drawn as SVG by the server, so a supervisor sees them with or without
//! JavaScript; once hydrated, the legend's buttons show and hide series. Every chart
//! carries a text description, and the page prints its numbers in a table beside it.
//!
//! Hand-drawn rather than a chart crate: leptos-chartistry (the maintained Leptos one)
//! measures its container in the browser before drawing, so the server sends
//! "Loading..." instead of a chart.

use domain::wire::analytics::{CalibrationBin, Table};
use leptos::prelude::*;

/// One coloured series of values, one per x position (`None`: no data there).
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub color: String,
    pub values: Vec<Option<f64>>,
}

const W: f64 = 800.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

fn plot_w() -> f64 {
    W - LEFT - 8.0
}

fn plot_h() -> f64 {
    H - BOTTOM - TOP
}

/// A value's height on the plot, 0 at the bottom.
fn y_of(v: f64, max: f64) -> f64 {
    TOP + plot_h() * (1.0 - (v / max).clamp(0.0, 1.0))
}

/// The y axis's top and the distance between its grid lines: steps of 1, 2 or 5
/// times a power of ten, about five of them, whole steps for whole numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Axis {
    max: f64,
    step: f64,
}

fn axis(data_max: f64, whole_numbers: bool) -> Axis {
    if data_max <= 0.0 {
        return Axis {
            max: 1.0,
            step: if whole_numbers { 1.0 } else { 0.25 },
        };
    }
    let raw = data_max / 5.0;
    let p = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&m| m >= raw)
        .unwrap_or(10.0 * p);
    if whole_numbers {
        step = step.max(1.0);
    }
    Axis {
        max: (data_max / step).ceil() * step,
        step,
    }
}

/// The y axis: a grid line and its value at every step.
fn y_axis(axis: Axis, format: fn(f64) -> String) -> impl IntoView {
    let lines = (axis.max / axis.step).round() as usize;
    (0..=lines)
        .map(|i| {
            let v = axis.step * i as f64;
            let y = y_of(v, axis.max);
            view! {
                <line class="grid-line" x1=LEFT x2=W - 8.0 y1=y y2=y />
                <text class="axis-label" x=LEFT - 4.0 y=y + 4.0 text-anchor="end">
                    {format(v)}
                </text>
            }
        })
        .collect_view()
}

/// Up to seven evenly spaced labels under the x axis.
fn x_axis(labels: &[String]) -> impl IntoView {
    let n = labels.len();
    let step = n.div_ceil(7).max(1);
    let slot = plot_w() / n.max(1) as f64;
    labels
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0)
        .map(|(i, l)| {
            let x = LEFT + slot * (i as f64 + 0.5);
            view! {
                <text class="axis-label" x=x y=H - 6.0 text-anchor="middle">
                    {l.clone()}
                </text>
            }
        })
        .collect_view()
}

/// The legend: one button per series that hides or shows it (after hydration).
#[component]
fn Legend(series: Vec<Series>, hidden: RwSignal<Vec<bool>>) -> impl IntoView {
    view! {
        <div class="legend" role="group" aria-label="Series">
            {series
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let shown = move || !hidden.with(|h| h.get(i).copied().unwrap_or(false));
                    view! {
                        <button
                            type="button"
                            class="legend-item"
                            aria-pressed=move || shown().to_string()
                            on:click=move |_| {
                                hidden
                                    .update(|h| {
                                        if let Some(v) = h.get_mut(i) {
                                            *v = !*v;
                                        }
                                    })
                            }
                        >
                            <span class="swatch" style:background=s.color.clone()></span>
                            {crate::format::category(&s.name)}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}

/// Stacked columns: one column per x position, one band per series.
#[component]
pub fn StackedBars(
    label: String,
    x_labels: Vec<String>,
    series: Vec<Series>,
    #[prop(default = whole)] format: fn(f64) -> String,
) -> impl IntoView {
    let hidden = RwSignal::new(vec![false; series.len()]);
    let n = x_labels.len();
    let slot = plot_w() / n.max(1) as f64;
    let data = series.clone();
    let dates = x_labels.clone();
    let bars = move || {
        let hidden = hidden.get();
        let shown: Vec<&Series> = data
            .iter()
            .enumerate()
            .filter(|(i, _)| !hidden.get(*i).copied().unwrap_or(false))
            .map(|(_, s)| s)
            .collect();
        let totals: Vec<f64> = (0..n)
            .map(|x| shown.iter().map(|s| s.values[x].unwrap_or(0.0)).sum())
            .collect();
        let scale = axis(
            totals.iter().copied().fold(0.0, f64::max),
            totals.iter().all(|t| t.fract() == 0.0),
        );
        let max = scale.max;
        let mut rects = Vec::new();
        for (x, date) in dates.iter().enumerate().take(n) {
            let mut base = 0.0;
            for s in &shown {
                let v = s.values[x].unwrap_or(0.0);
                if v <= 0.0 {
                    continue;
                }
                let (y0, y1) = (y_of(base, max), y_of(base + v, max));
                rects.push(view! {
                    <rect
                        x=LEFT + slot * x as f64 + slot * 0.1
                        y=y1
                        width=slot * 0.8
                        height=(y0 - y1).max(0.5)
                        fill=s.color.clone()
                    >
                        <title>
                            {format!(
                                "{} on {}: {}",
                                crate::format::category(&s.name),
                                date,
                                format(v),
                            )}
                        </title>
                    </rect>
                });
                base += v;
            }
        }
        view! {
            {y_axis(scale, format)}
            {rects}
        }
    };
    view! {
        <figure class="chart">
            <Legend series=series hidden />
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=label>
                {bars}
                {x_axis(&x_labels)}
            </svg>
        </figure>
    }
}

/// Lines over the x positions, gaps where a series has no value.
#[component]
pub fn LineChart(
    label: String,
    x_labels: Vec<String>,
    series: Vec<Series>,
    /// The top of the axis; the data's maximum (rounded up) when missing.
    #[prop(optional)]
    max: Option<f64>,
    #[prop(default = whole)] format: fn(f64) -> String,
) -> impl IntoView {
    let hidden = RwSignal::new(vec![false; series.len()]);
    let n = x_labels.len();
    let slot = plot_w() / n.max(1) as f64;
    let values = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
    };
    let scale = match max {
        Some(max) => Axis {
            max,
            step: max / 4.0,
        },
        None => axis(
            values().fold(0.0, f64::max),
            values().all(|v| v.fract() == 0.0),
        ),
    };
    let max = scale.max;
    let data = series.clone();
    let lines = move || {
        let hidden = hidden.get();
        data.iter()
            .enumerate()
            .filter(|(i, _)| !hidden.get(*i).copied().unwrap_or(false))
            .map(|(_, s)| {
                let points: Vec<(f64, f64, f64)> = s
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(x, v)| {
                        v.map(|v| (LEFT + slot * (x as f64 + 0.5), y_of(v, max), v))
                    })
                    .collect();
                let path: String = s
                    .values
                    .iter()
                    .enumerate()
                    .fold((String::new(), false), |(mut d, drawing), (x, v)| match v {
                        Some(v) => {
                            let cmd = if drawing { 'L' } else { 'M' };
                            d.push_str(&format!(
                                "{cmd}{:.1},{:.1} ",
                                LEFT + slot * (x as f64 + 0.5),
                                y_of(*v, max)
                            ));
                            (d, true)
                        }
                        None => (d, false),
                    })
                    .0;
                let color = s.color.clone();
                let name = crate::format::category(&s.name);
                view! {
                    <path d=path fill="none" stroke=color.clone() stroke-width="2" />
                    {points
                        .into_iter()
                        .map(|(x, y, v)| {
                            view! {
                                <circle cx=x cy=y r="2.5" fill=color.clone()>
                                    <title>{format!("{name}: {}", format(v))}</title>
                                </circle>
                            }
                        })
                        .collect_view()}
                }
            })
            .collect_view()
    };
    view! {
        <figure class="chart">
            {(series.len() > 1).then(|| view! { <Legend series=series.clone() hidden /> })}
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=label>
                {y_axis(scale, format)}
                {lines}
                {x_axis(&x_labels)}
            </svg>
        </figure>
    }
}

/// Horizontal bars with their value written beside them (HTML, not SVG: the names
/// wrap and screen readers read them as a list).
#[component]
pub fn BarList(
    label: String,
    rows: Vec<(String, f64, String)>,
    #[prop(optional)] max: Option<f64>,
) -> impl IntoView {
    let max = max
        .unwrap_or_else(|| rows.iter().map(|r| r.1).fold(0.0, f64::max))
        .max(f64::MIN_POSITIVE);
    view! {
        <ul class="bar-list" aria-label=label>
            {rows
                .into_iter()
                .map(|(name, v, text)| {
                    view! {
                        <li>
                            <span class="bar-name">{crate::format::category(&name)}</span>
                            <span class="bar-track">
                                <span
                                    class="bar-fill"
                                    style:width=format!(
                                        "{:.1}%",
                                        (v / max * 100.0).clamp(0.0, 100.0),
                                    )
                                ></span>
                            </span>
                            <span class="bar-value">{text}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// The reliability diagram: for each confidence band, how often the model was right;
/// a calibrated model's bars touch the diagonal.
#[component]
pub fn Reliability(bins: Vec<CalibrationBin>) -> impl IntoView {
    const S: f64 = 200.0;
    let side = S - 30.0;
    let x0 = 26.0;
    let at = move |v: f64| 8.0 + side * (1.0 - v);
    view! {
        <figure class="chart reliability">
            <svg
                viewBox=format!("0 0 {S} {S}")
                role="img"
                aria-label="Reliability: accuracy of staff-judged predictions per confidence band, against the diagonal of perfect calibration"
            >
                {(0..=4)
                    .map(|i| {
                        let v = i as f64 / 4.0;
                        view! {
                            <line class="grid-line" x1=x0 x2=x0 + side y1=at(v) y2=at(v) />
                            <text class="axis-label" x=x0 - 3.0 y=at(v) + 3.0 text-anchor="end">
                                {format!("{:.0}", v * 100.0)}
                            </text>
                        }
                    })
                    .collect_view()}
                {bins
                    .iter()
                    .filter(|b| b.count > 0)
                    .map(|b| {
                        let acc = b.accuracy.unwrap_or(0.0);
                        let x = x0 + side * b.lower;
                        view! {
                            <rect
                                class="reliability-bar"
                                x=x + 1.0
                                y=at(acc)
                                width=side / 10.0 - 2.0
                                height=(at(0.0) - at(acc)).max(0.5)
                            >
                                <title>
                                    {format!(
                                        "confidence {:.0}–{:.0}%: right {:.0}% of {} times",
                                        b.lower * 100.0,
                                        b.lower * 100.0 + 10.0,
                                        acc * 100.0,
                                        b.count,
                                    )}
                                </title>
                            </rect>
                        }
                    })
                    .collect_view()}
                <line class="diagonal" x1=x0 y1=at(0.0) x2=x0 + side y2=at(1.0) />
                <text class="axis-label" x=x0 + side / 2.0 y=S - 4.0 text-anchor="middle">
                    "confidence (%)"
                </text>
            </svg>
        </figure>
    }
}

/// A confusion matrix as a table shaded by count: the diagonal (agreement) in the
/// accent colour, the rest in the danger colour.
#[component]
pub fn ConfusionMatrix(
    classes: Vec<String>,
    counts: Vec<Vec<i64>>,
    #[prop(default = "Rows: the staff label; columns: the prediction.")] caption: &'static str,
) -> impl IntoView {
    let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1);
    view! {
        <div class="table-scroll">
            <table class="confusion">
                <caption class="hint">{caption}</caption>
                <thead>
                    <tr>
                        <td></td>
                        {classes
                            .iter()
                            .map(|c| {
                                view! {
                                    <th scope="col">
                                        <span>{crate::format::category(c)}</span>
                                    </th>
                                }
                            })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {classes
                        .iter()
                        .zip(counts)
                        .enumerate()
                        .map(|(i, (c, row))| {
                            view! {
                                <tr>
                                    <th scope="row">{crate::format::category(c)}</th>
                                    {row
                                        .into_iter()
                                        .enumerate()
                                        .map(|(j, n)| {
                                            let shade = format!(
                                                "--shade: {:.0}%",
                                                n as f64 / max as f64 * 45.0,
                                            );
                                            // At most 45 % of the colour: the count stays
                                            // readable (4.5:1) in light and dark.
                                            view! {
                                                <td class:diagonal=i == j style=shade>
                                                    {(n > 0).then_some(n)}
                                                </td>
                                            }
                                        })
                                        .collect_view()}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// A view's numbers as a table, folded away under its chart.
#[component]
pub fn DataTable(table: Table, summary: &'static str) -> impl IntoView {
    view! {
        <details class="data-table">
            <summary>{summary}</summary>
            <table class="grid">
                <thead>
                    <tr>
                        {table
                            .columns
                            .into_iter()
                            .map(|c| view! { <th scope="col">{c}</th> })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {table
                        .rows
                        .into_iter()
                        .map(|r| {
                            view! {
                                <tr>
                                    {r.into_iter().map(|v| view! { <td>{v}</td> }).collect_view()}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </details>
    }
}

/// `1234.0` → `1234`.
pub fn whole(v: f64) -> String {
    format!("{v:.0}")
}

/// `0.873` → `87%`.
pub fn pct(v: f64) -> String {
    crate::format::percent(v)
}

#[cfg(test)]
mod tests {
    use super::{Axis, axis};

    #[test]
    fn axes_step_in_round_numbers() {
        assert_eq!(
            axis(0.0, true),
            Axis {
                max: 1.0,
                step: 1.0
            }
        );
        assert_eq!(
            axis(5.0, true),
            Axis {
                max: 5.0,
                step: 1.0
            }
        );
        assert_eq!(
            axis(2.0, true),
            Axis {
                max: 2.0,
                step: 1.0
            }
        );
        assert_eq!(
            axis(47.0, true),
            Axis {
                max: 50.0,
                step: 10.0
            }
        );
        assert_eq!(
            axis(130.0, true),
            Axis {
                max: 150.0,
                step: 50.0
            }
        );
        assert_eq!(
            axis(16.5, false),
            Axis {
                max: 20.0,
                step: 5.0
            }
        );
        assert_eq!(
            axis(0.42, false),
            Axis {
                max: 0.5,
                step: 0.1
            }
        );
    }
}
