//! `triage score --wait`: works the job in this process (alongside any server's
//! workers) and draws its progress until it ends.

use std::time::Duration;

use domain::db::Db;
use domain::jobs::worker::Worker;
use domain::settings::Settings;
use domain::wire::JobView;
use indicatif::{ProgressBar, ProgressStyle};

pub async fn work_and_watch(db: &Db, settings: &Settings, id: i64) -> anyhow::Result<JobView> {
    let mut work = settings.worker_settings();
    work.poll_ms = 200;
    // Runs until the process ends; it also takes over chunks of a worker that died.
    Worker::new(db.clone(), settings.aws_credentials(), work).spawn();
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} emails {per_sec} eta {eta} {msg}")
            .expect("a valid template"),
    );
    let job = loop {
        let job = domain::jobs::get(db, id).await?;
        bar.set_length(job.total.max(0) as u64);
        bar.set_position((job.done + job.failed).max(0) as u64);
        if job.failed > 0 {
            bar.set_message(format!("{} failed", job.failed));
        }
        if job.status.is_finished() {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    bar.finish_and_clear();
    Ok(job)
}

pub fn summary(job: &JobView) -> String {
    let seconds = match (job.started_at, job.finished_at) {
        (Some(s), Some(f)) => (f - s) as f64 / 1000.0,
        _ => 0.0,
    };
    let mut line = format!(
        "job {} {}: {} of {} emails scored, {} failed, in {seconds:.1} s",
        job.id, job.status, job.done, job.total, job.failed
    );
    if let Some(e) = &job.error {
        line.push_str(&format!(" ({e})"));
    }
    line
}
