//! `triage import PATH… [--labels FILE.csv] [--strict-categories]`: `.eml` files,
//! folders of them, mbox files and JSON Lines, with a progress bar and a summary.
//! Re-running the same import changes nothing (emails are idempotent on Message-ID,
//! historical labels are attached once).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use domain::db::Db;
use domain::emails::NewEmail;
use domain::ingest::store::{self, UnknownCategories};
use domain::ingest::{Outcome, Rejection, Tally, json, mbox, parse};
use indicatif::{ProgressBar, ProgressStyle};

pub struct ImportOptions {
    pub labels: Option<PathBuf>,
    pub unknown_categories: UnknownCategories,
    pub max_message_bytes: usize,
    pub progress: bool,
    /// Parse and report, store nothing.
    pub dry_run: bool,
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

/// What a file holds, by its name and, failing that, by its first bytes.
#[derive(Clone, Copy)]
enum Kind {
    Eml,
    Mbox,
    JsonLines,
}

fn kind_of(name: &str, head: &[u8]) -> Kind {
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "eml" | "msg" => Kind::Eml,
        "mbox" | "mbx" => Kind::Mbox,
        "jsonl" | "ndjson" | "json" => Kind::JsonLines,
        _ if mbox::looks_like_mbox(head) => Kind::Mbox,
        _ => Kind::Eml,
    }
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
        let mut reader = BufReader::new(
            std::fs::File::open(file).with_context(|| format!("cannot read {name}"))?,
        );
        let kind = kind_of(&name, reader.fill_buf()?);
        import_source(db, &name, kind, reader, now, options, &mut report, &bar).await?;
        bar.inc(size);
    }
    bar.finish_and_clear();

    if let Some(labels) = options.labels.as_ref().filter(|_| !options.dry_run) {
        attach_labels(db, labels, options.unknown_categories, &mut report).await?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Imports uploaded files (the Import page): the same rules as the command line.
pub async fn run_uploads(
    db: &Db,
    files: &[(String, Vec<u8>)],
    options: &ImportOptions,
) -> anyhow::Result<ImportReport> {
    let started = Instant::now();
    let mut report = ImportReport::default();
    let now = domain::time::now_ms();
    let bar = ProgressBar::hidden();
    for (name, bytes) in files {
        let kind = kind_of(name, bytes);
        import_source(db, name, kind, &bytes[..], now, options, &mut report, &bar).await?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Emails are written this many to a transaction: one commit per email would make
/// PostgreSQL wait for the disk thousands of times.
const CHUNK: usize = 256;

/// Parsed emails waiting for their transaction, with where each came from.
#[derive(Default)]
struct Pending {
    places: Vec<String>,
    emails: Vec<(NewEmail, Option<i64>)>,
}

impl Pending {
    async fn push(
        &mut self,
        db: &Db,
        report: &mut ImportReport,
        place: String,
        prepared: Prepared,
    ) -> anyhow::Result<()> {
        match prepared {
            Prepared::Done(outcome) => note(report, &place, outcome),
            Prepared::Store(email, category) => {
                self.places.push(place);
                self.emails.push((*email, category));
                if self.emails.len() >= CHUNK {
                    self.flush(db, report).await?;
                }
            }
        }
        Ok(())
    }

    async fn flush(&mut self, db: &Db, report: &mut ImportReport) -> anyhow::Result<()> {
        if self.emails.is_empty() {
            return Ok(());
        }
        let outcomes = store::store_many(db, &self.emails).await?;
        for (place, outcome) in self.places.drain(..).zip(outcomes) {
            note(report, &place, outcome);
        }
        self.emails.clear();
        Ok(())
    }
}

/// An email ready to store, or what already happened to it.
enum Prepared {
    Done(Outcome),
    Store(Box<NewEmail>, Option<i64>),
}

/// One file's emails, whatever holds them.
#[allow(clippy::too_many_arguments)]
async fn import_source<R: BufRead>(
    db: &Db,
    name: &str,
    kind: Kind,
    mut reader: R,
    now: i64,
    options: &ImportOptions,
    report: &mut ImportReport,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let mut pending = Pending::default();
    match kind {
        Kind::Eml => {
            let mut raw = Vec::new();
            reader
                .read_to_end(&mut raw)
                .with_context(|| format!("cannot read {name}"))?;
            pending
                .push(
                    db,
                    report,
                    name.to_string(),
                    prepare_raw(&raw, now, options),
                )
                .await?;
        }
        Kind::Mbox => {
            for (n, message) in mbox::messages(reader).enumerate() {
                let prepared = match message {
                    Ok(raw) => prepare_raw(&raw, now, options),
                    Err(e) => Prepared::Done(Outcome::rejected(
                        None,
                        &Rejection::Malformed(format!("unreadable: {e}")),
                    )),
                };
                pending
                    .push(db, report, format!("{name} message {}", n + 1), prepared)
                    .await?;
                if n % 256 == 0 {
                    bar.set_message(format!("{} emails", n));
                }
            }
        }
        Kind::JsonLines => {
            for (n, line) in reader.lines().enumerate() {
                let place = format!("{name} line {}", n + 1);
                let line = line.with_context(|| format!("cannot read {place}"))?;
                if line.trim().is_empty() {
                    continue;
                }
                let prepared = match serde_json::from_str::<serde_json::Value>(&line) {
                    Err(e) => Prepared::Done(Outcome::rejected(
                        None,
                        &Rejection::Malformed(format!("not JSON: {e}")),
                    )),
                    Ok(value) => prepare_json(db, value, now, options).await?,
                };
                pending.push(db, report, place, prepared).await?;
            }
        }
    }
    pending.flush(db, report).await
}

fn prepare_raw(raw: &[u8], now: i64, options: &ImportOptions) -> Prepared {
    match parse::parse_raw(raw, now, options.max_message_bytes, "import") {
        Ok(email) if options.dry_run => Prepared::Done(Outcome::Created {
            id: 0,
            message_id: email.message_id,
        }),
        Ok(email) => Prepared::Store(Box::new(email), None),
        Err(reason) => Prepared::Done(Outcome::rejected(None, &reason)),
    }
}

async fn prepare_json(
    db: &Db,
    value: serde_json::Value,
    now: i64,
    options: &ImportOptions,
) -> anyhow::Result<Prepared> {
    let checked = match json::from_value(value, now, options.max_message_bytes) {
        Ok(c) => c,
        Err(reason) => return Ok(Prepared::Done(Outcome::rejected(None, &reason))),
    };
    let mut email = checked.email;
    email.source = "import".into();
    if options.dry_run {
        return Ok(Prepared::Done(Outcome::Created {
            id: 0,
            message_id: email.message_id,
        }));
    }
    let category_id = match &checked.category {
        None => None,
        Some(name) => match store::resolve_category(db, name, options.unknown_categories).await? {
            Ok(id) => Some(id),
            Err(reason) => {
                return Ok(Prepared::Done(Outcome::rejected(
                    Some(email.message_id),
                    &reason,
                )));
            }
        },
    };
    Ok(Prepared::Store(Box::new(email), category_id))
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
