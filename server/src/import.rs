//! `triage import PATH… [--labels FILE.csv] [--strict-categories]`: `.eml` files,
//! folders of them, mbox files and JSON Lines, with a progress bar and a summary.
//! Re-running the same import changes nothing (emails are idempotent on Message-ID,
//! historical labels are attached once).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use domain::db::Db;
use domain::ingest::store::{self, UnknownCategories};
use domain::ingest::{Outcome, Rejection, Tally, json, mbox, parse};
use indicatif::{ProgressBar, ProgressStyle};

pub struct ImportOptions {
    pub labels: Option<PathBuf>,
    pub unknown_categories: UnknownCategories,
    pub max_message_bytes: usize,
    pub progress: bool,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub tally: Tally,
    /// `where: why`, for every rejected email.
    pub rejections: Vec<String>,
    pub labels_attached: usize,
    pub labels_rejected: Vec<String>,
    pub seconds: f64,
}

impl ImportReport {
    pub fn summary(&self) -> String {
        let t = &self.tally;
        let total = t.created + t.duplicates + t.rejected;
        let mut out = format!(
            "{} imported, {} duplicates, {} rejected ({} messages in {:.1} s, {:.0}/s)",
            t.created,
            t.duplicates,
            t.rejected,
            total,
            self.seconds,
            total as f64 / self.seconds.max(1e-9)
        );
        if self.labels_attached > 0 || !self.labels_rejected.is_empty() {
            out.push_str(&format!(
                "\nlabels: {} attached, {} rejected",
                self.labels_attached,
                self.labels_rejected.len()
            ));
        }
        for line in self.rejections.iter().chain(&self.labels_rejected).take(50) {
            out.push_str(&format!("\n  rejected {line}"));
        }
        let more = self.rejections.len() + self.labels_rejected.len();
        if more > 50 {
            out.push_str(&format!("\n  … and {} more", more - 50));
        }
        out
    }
}

/// What a file holds, by extension and, failing that, by its first bytes.
enum Kind {
    Eml,
    Mbox,
    JsonLines,
}

fn kind_of(path: &Path) -> std::io::Result<Kind> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    Ok(match ext.as_str() {
        "eml" | "msg" => Kind::Eml,
        "mbox" | "mbx" => Kind::Mbox,
        "jsonl" | "ndjson" | "json" => Kind::JsonLines,
        _ => {
            let mut head = [0u8; 5];
            let n = std::fs::File::open(path)?.read(&mut head)?;
            if mbox::looks_like_mbox(&head[..n]) {
                Kind::Mbox
            } else {
                Kind::Eml
            }
        }
    })
}

/// Every file under the given paths, folders walked recursively, in a stable order.
fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
                let entry = entry?;
                let hidden = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with('.'));
                if entry.file_type().is_file() && !hidden {
                    files.push(entry.into_path());
                }
            }
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            anyhow::bail!("{} does not exist", path.display());
        }
    }
    Ok(files)
}

pub async fn run(
    db: &Db,
    paths: &[PathBuf],
    options: &ImportOptions,
) -> anyhow::Result<ImportReport> {
    let files = expand(paths)?;
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    let bar = if options.progress {
        ProgressBar::new(total_bytes)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut report = ImportReport::default();
    let now = domain::time::now_ms();

    for file in &files {
        let name = file.display().to_string();
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        match kind_of(file).with_context(|| format!("cannot read {name}"))? {
            Kind::Eml => {
                let raw = std::fs::read(file).with_context(|| format!("cannot read {name}"))?;
                let outcome = match parse::parse_raw(&raw, now, options.max_message_bytes, "import")
                {
                    Ok(email) => store::store(db, &email, None).await?,
                    Err(reason) => Outcome::rejected(None, &reason),
                };
                note(&mut report, &name, outcome);
            }
            Kind::Mbox => {
                let reader = BufReader::new(std::fs::File::open(file)?);
                for (n, message) in mbox::messages(reader).enumerate() {
                    let place = format!("{name} message {}", n + 1);
                    let outcome = match message {
                        Ok(raw) => {
                            match parse::parse_raw(&raw, now, options.max_message_bytes, "import") {
                                Ok(email) => store::store(db, &email, None).await?,
                                Err(reason) => Outcome::rejected(None, &reason),
                            }
                        }
                        Err(e) => Outcome::rejected(
                            None,
                            &Rejection::Malformed(format!("unreadable: {e}")),
                        ),
                    };
                    note(&mut report, &place, outcome);
                    bar.set_message(format!(
                        "{} emails",
                        report.tally.created + report.tally.duplicates
                    ));
                }
            }
            Kind::JsonLines => {
                let reader = BufReader::new(std::fs::File::open(file)?);
                for (n, line) in reader.lines().enumerate() {
                    let place = format!("{name} line {}", n + 1);
                    let line = line.with_context(|| format!("cannot read {place}"))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let outcome = match serde_json::from_str::<serde_json::Value>(&line) {
                        Err(e) => {
                            Outcome::rejected(None, &Rejection::Malformed(format!("not JSON: {e}")))
                        }
                        Ok(value) => store_json(db, value, now, options).await?,
                    };
                    note(&mut report, &place, outcome);
                }
            }
        }
        bar.inc(size);
    }
    bar.finish_and_clear();

    if let Some(labels) = &options.labels {
        attach_labels(db, labels, options.unknown_categories, &mut report).await?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn store_json(
    db: &Db,
    value: serde_json::Value,
    now: i64,
    options: &ImportOptions,
) -> anyhow::Result<Outcome> {
    let checked = match json::from_value(value, now, options.max_message_bytes) {
        Ok(c) => c,
        Err(reason) => return Ok(Outcome::rejected(None, &reason)),
    };
    let mut email = checked.email;
    email.source = "import".into();
    let category_id = match &checked.category {
        None => None,
        Some(name) => match store::resolve_category(db, name, options.unknown_categories).await? {
            Ok(id) => Some(id),
            Err(reason) => return Ok(Outcome::rejected(Some(email.message_id), &reason)),
        },
    };
    Ok(store::store(db, &email, category_id).await?)
}

fn note(report: &mut ImportReport, place: &str, outcome: Outcome) {
    report.tally.add(&outcome);
    if let Outcome::Rejected { error, .. } = &outcome {
        report.rejections.push(format!("{place}: {error}"));
    }
}

/// The labels file: CSV with the header `message_id,category`.
async fn attach_labels(
    db: &Db,
    path: &Path,
    unknown: UnknownCategories,
    report: &mut ImportReport,
) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read {name}"))?;
    let headers = reader.headers()?.clone();
    let column = |wanted: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(wanted));
    let (Some(id_col), Some(cat_col)) = (column("message_id"), column("category")) else {
        anyhow::bail!("{name}: the first line must be the header message_id,category");
    };
    for (n, record) in reader.records().enumerate() {
        let place = format!("{name} line {}", n + 2);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                report.labels_rejected.push(format!("{place}: {e}"));
                continue;
            }
        };
        let (message_id, category) = (
            record.get(id_col).unwrap_or_default(),
            record.get(cat_col).unwrap_or_default(),
        );
        let category_id = match store::resolve_category(db, category, unknown).await? {
            Ok(id) => id,
            Err(reason) => {
                report.labels_rejected.push(format!("{place}: {reason}"));
                continue;
            }
        };
        if store::label_by_message_id(db, message_id, category_id).await? {
            report.labels_attached += 1;
        } else {
            report
                .labels_rejected
                .push(format!("{place}: no email with Message-ID {message_id:?}"));
        }
    }
    Ok(())
}
