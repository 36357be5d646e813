use leptos::prelude::*;
use leptos_meta::Title;

use crate::error::AppError;
use crate::format;

/// An import as the page lists it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ImportSummary {
    pub at: i64,
    pub by: String,
    pub files: Vec<String>,
    pub created: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub seconds: f64,
    pub rejections: Vec<String>,
}

/// The latest uploads and command-line imports, newest first (supervisors).
#[server(prefix = "/rpc", endpoint = "recent_imports")]
pub async fn recent_imports() -> Result<Vec<ImportSummary>, AppError> {
    let (_, db) = crate::auth::guard(domain::role::Role::Supervisor)?;
    let entries = domain::audit::recent(&db, "emails.import", 10).await?;
    Ok(entries
        .into_iter()
        .map(|e| {
            let d = &e.details;
            let strings = |key: &str| -> Vec<String> {
                d[key]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            ImportSummary {
                at: e.at,
                by: e.actor,
                files: strings("files"),
                created: d["created"].as_u64().unwrap_or(0),
                duplicates: d["duplicates"].as_u64().unwrap_or(0),
                rejected: d["rejected"].as_u64().unwrap_or(0),
                seconds: d["seconds"].as_f64().unwrap_or(0.0),
                rejections: strings("rejections"),
            }
        })
        .collect())
}

/// Upload `.eml`, mbox or JSON Lines files. A plain multipart form (handled by
/// server/src/upload.rs), so it works without JavaScript; dropping files on the file
/// field works in every browser.
#[component]
pub fn ImportPage() -> impl IntoView {
    let imports = Resource::new(|| (), |_| recent_imports());
    view! {
        <Title text="Import" />
        <h1>"Import"</h1>
        <form method="post" action="/import/upload" enctype="multipart/form-data" class="upload">
            <label for="files" class="dropzone">
                <span>"Drop .eml, .mbox or .jsonl files here, or choose them"</span>
                <input
                    id="files"
                    name="files"
                    type="file"
                    multiple
                    required
                    accept=".eml,.mbox,.mbx,.jsonl,.ndjson,message/rfc822,application/mbox"
                />
            </label>
            <button type="submit" class="primary">
                "Import"
            </button>
        </form>
        <p class="hint">
            "Each email is stored once: importing the same file again changes nothing. For historical labels use "
            <code>"triage import PATH --labels FILE.csv"</code>"."
        </p>
        <h2>"Recent imports"</h2>
        <Suspense fallback=|| {
            view! { <p>"Loading…"</p> }
        }>
            {move || Suspend::new(async move {
                match imports.await {
                    Ok(list) if list.is_empty() => {
                        view! { <p class="page-message">"Nothing imported yet."</p> }.into_any()
                    }
                    Ok(list) => {
                        view! {
                            <ul class="imports">
                                {list
                                    .into_iter()
                                    .map(|i| {
                                        view! {
                                            <li class="import-summary">
                                                <strong>
                                                    {format!(
                                                        "{} imported, {} duplicates, {} rejected",
                                                        i.created,
                                                        i.duplicates,
                                                        i.rejected,
                                                    )}
                                                </strong>
                                                <span class="hint">
                                                    {format!(
                                                        " · {} · {} · {:.1} s · {}",
                                                        format::timestamp(i.at),
                                                        i.by,
                                                        i.seconds,
                                                        i.files.join(", "),
                                                    )}
                                                </span>
                                                {(!i.rejections.is_empty())
                                                    .then(|| {
                                                        view! {
                                                            <ul class="rejections">
                                                                {i
                                                                    .rejections
                                                                    .into_iter()
                                                                    .map(|r| view! { <li>{r}</li> })
                                                                    .collect_view()}
                                                            </ul>
                                                        }
                                                    })}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="form-error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
