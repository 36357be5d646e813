//! `triage import PATH… [--labels FILE.csv] [--strict-categories]`: `.eml` files,
//! folders of them, mbox files and JSON Lines, with a progress bar and a summary.
//! Re-running the same import changes nothing (emails are idempotent on Message-ID,
//! historical labels are attached once).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use domain::audit::Actor;
use domain::db::Db;
use domain::emails::NewEmail;
use domain::ingest::store::{self, CategoryResolver, UnknownCategories};
use domain::ingest::{Outcome, Rejection, Tally, json, mbox, parse};
use domain::jobs::imports::ImportJob;
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

/// Imports files and folders (`triage import`), recorded as an import job.
pub async fn run(
    db: &Db,
    paths: &[PathBuf],
    options: &ImportOptions,
    actor: Actor,
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
    let source = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut import = Import::new(db, options, &source, actor).await?;
    let outcome = async {
        for file in &files {
            let name = file.display().to_string();
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let mut reader = BufReader::new(
                std::fs::File::open(file).with_context(|| format!("cannot read {name}"))?,
            );
            let kind = kind_of(&name, reader.fill_buf()?);
            import.source(&name, kind, reader, &bar).await?;
            bar.inc(size);
        }
        if let Some(labels) = options.labels.as_ref().filter(|_| !options.dry_run) {
            import.attach_labels(labels).await?;
        }
        Ok(())
    }
    .await;
    bar.finish_and_clear();
    import.finish(outcome).await
}

/// Imports uploaded files (the Import page): the same rules as the command line.
pub async fn run_uploads(
    db: &Db,
    files: &[(String, Vec<u8>)],
    options: &ImportOptions,
    actor: Actor,
) -> anyhow::Result<ImportReport> {
    let source = files
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut import = Import::new(db, options, &format!("upload {source}"), actor).await?;
    let outcome = async {
        for (name, bytes) in files {
            let kind = kind_of(name, bytes);
            import
                .source(name, kind, &bytes[..], &ProgressBar::hidden())
                .await?;
        }
        Ok(())
    }
    .await;
    import.finish(outcome).await
}

/// Emails are written this many to a transaction: one commit per email would make
/// PostgreSQL wait for the disk thousands of times.
const CHUNK: usize = 256;

/// One import run: its report, the categories it has resolved, and the parsed
/// emails waiting for their transaction (with where each came from).
struct Import<'a> {
    db: &'a Db,
    options: &'a ImportOptions,
    now: i64,
    started: Instant,
    categories: CategoryResolver,
    report: ImportReport,
    pending_places: Vec<String>,
    pending: Vec<(NewEmail, Option<i64>)>,
    /// The job that records this import in the history (none for a dry run).
    job: Option<ImportJob>,
}

/// An email ready to store, or what already happened to it.
enum Prepared {
    Done(Outcome),
    Store(Box<NewEmail>, Option<i64>),
}

impl<'a> Import<'a> {
    async fn new(
        db: &'a Db,
        options: &'a ImportOptions,
        source: &str,
        actor: Actor,
    ) -> anyhow::Result<Import<'a>> {
        let job = if options.dry_run {
            None
        } else {
            Some(domain::jobs::imports::start(db, source, actor).await?)
        };
        Ok(Import {
            db,
            options,
            now: domain::time::now_ms(),
            started: Instant::now(),
            categories: CategoryResolver::new(options.unknown_categories),
            report: ImportReport::default(),
            pending_places: Vec::new(),
            pending: Vec::new(),
            job,
        })
    }

    /// Closes the run's job with the outcome: the report, or the error that stopped it
    /// (emails stored before it stay stored).
    async fn finish(mut self, outcome: anyhow::Result<()>) -> anyhow::Result<ImportReport> {
        self.report.seconds = self.started.elapsed().as_secs_f64();
        if let Some(job) = &self.job {
            let t = &self.report.tally;
            let rejections: Vec<String> = self
                .report
                .rejections
                .iter()
                .chain(&self.report.labels_rejected)
                .cloned()
                .collect();
            let error = outcome.as_ref().err().map(|e| format!("{e:#}"));
            job.finish(
                t.created + t.duplicates,
                &rejections,
                &self.report.summary(),
                error,
            )
            .await?;
        }
        outcome.map(|()| self.report)
    }

    /// One file's emails, whatever holds them.
    async fn source<R: BufRead>(
        &mut self,
        name: &str,
        kind: Kind,
        mut reader: R,
        bar: &ProgressBar,
    ) -> anyhow::Result<()> {
        match kind {
            Kind::Eml => {
                let mut raw = Vec::new();
                reader
                    .read_to_end(&mut raw)
                    .with_context(|| format!("cannot read {name}"))?;
                let prepared = self.prepare_raw(&raw);
                self.push(name.to_string(), prepared).await?;
            }
            Kind::Mbox => {
                for (n, message) in mbox::messages(reader).enumerate() {
                    let prepared = match message {
                        Ok(raw) => self.prepare_raw(&raw),
                        Err(e) => Prepared::Done(Outcome::rejected(
                            None,
                            &Rejection::Malformed(format!("unreadable: {e}")),
                        )),
                    };
                    self.push(format!("{name} message {}", n + 1), prepared)
                        .await?;
                    if n % 256 == 0 {
                        bar.set_message(format!("{n} emails"));
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
                        Ok(value) => self.prepare_json(value).await?,
                    };
                    self.push(place, prepared).await?;
                }
            }
        }
        self.flush().await
    }

    fn prepare_raw(&self, raw: &[u8]) -> Prepared {
        match parse::parse_raw(raw, self.now, self.options.max_message_bytes, "import") {
            Ok(email) if self.options.dry_run => Prepared::Done(Outcome::Created {
                id: 0,
                message_id: email.message_id,
            }),
            Ok(email) => Prepared::Store(Box::new(email), None),
            Err(reason) => Prepared::Done(Outcome::rejected(None, &reason)),
        }
    }

    async fn prepare_json(&mut self, value: serde_json::Value) -> anyhow::Result<Prepared> {
        let max = self.options.max_message_bytes;
        if self.options.dry_run {
            // Check only: resolving categories could create them.
            return Ok(Prepared::Done(
                match json::from_value(value, self.now, max) {
                    Ok(checked) => Outcome::Created {
                        id: 0,
                        message_id: checked.email.message_id,
                    },
                    Err(reason) => Outcome::rejected(None, &reason),
                },
            ));
        }
        let prepared = store::prepare_json(
            self.db,
            value,
            self.now,
            max,
            "import",
            &mut self.categories,
        )
        .await?;
        Ok(match prepared {
            Ok((email, category)) => Prepared::Store(Box::new(email), category),
            Err(rejected) => Prepared::Done(rejected),
        })
    }

    async fn push(&mut self, place: String, prepared: Prepared) -> anyhow::Result<()> {
        match prepared {
            Prepared::Done(outcome) => self.note(&place, outcome),
            Prepared::Store(email, category) => {
                self.pending_places.push(place);
                self.pending.push((*email, category));
                if self.pending.len() >= CHUNK {
                    self.flush().await?;
                }
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let outcomes = store::store_many(self.db, &self.pending).await?;
        let places = std::mem::take(&mut self.pending_places);
        for (place, outcome) in places.into_iter().zip(outcomes) {
            self.note(&place, outcome);
        }
        self.pending.clear();
        if let Some(job) = &self.job {
            let t = &self.report.tally;
            job.progress(t.created + t.duplicates, t.rejected).await?;
        }
        Ok(())
    }

    fn note(&mut self, place: &str, outcome: Outcome) {
        self.report.tally.add(&outcome);
        if let Outcome::Rejected { error, .. } = &outcome {
            self.report.rejections.push(format!("{place}: {error}"));
        }
    }

    /// The labels file: CSV with the header `message_id,category`.
    async fn attach_labels(&mut self, path: &Path) -> anyhow::Result<()> {
        let (db, report) = (self.db, &mut self.report);
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
            let category_id = match self.categories.resolve(db, category).await? {
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
}
