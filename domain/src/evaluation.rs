//! Judging a candidate model against the active one before promoting it: both score
//! the same held-out labelled emails (threads in the test split; a built-in model
//! scores them with its twin that never trained on them), and the page shows their figures side by side with the emails
//! whose category would change.

use std::collections::BTreeSet;

use crate::audit::{self, Actor};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::model::metrics::evaluate;
use crate::scoring::{AwsCredentials, EmailText, Scorer, active};
use crate::training::Example;
use crate::wire::{ChangedEmail, ClassFigures, ModelComparison, ModelFigures};

/// At most this many held-out emails are scored (the most recent), so comparing an
/// endpoint model stays a few hundred requests.
const MAX_HELD_OUT: usize = 5000;
/// How many changed emails the comparison lists.
const MAX_CHANGED: usize = 200;

/// The labelled emails in the test split, newest first (see
/// [`crate::training::labelled_examples`]).
async fn held_out(db: &Db) -> DomainResult<Vec<Example>> {
    Ok(crate::training::labelled_examples(db)
        .await?
        .into_iter()
        .rev()
        .filter(|e| crate::training::is_held_out(&e.thread_key))
        .take(MAX_HELD_OUT)
        .collect())
}

/// Each held-out email's predicted category and confidence under `scorer`.
async fn predict(scorer: &Scorer, emails: &[Example]) -> DomainResult<Vec<(String, f64)>> {
    let mut out = Vec::with_capacity(emails.len());
    for chunk in emails.chunks(scorer.batch_size().max(1)) {
        let texts: Vec<EmailText> = chunk
            .iter()
            .map(|e| EmailText {
                subject: e.subject.clone(),
                body: e.body.clone(),
            })
            .collect();
        let answers = scorer.score(&texts).await?;
        out.extend(answers.into_iter().map(|a| (a.category, a.confidence)));
    }
    Ok(out)
}

fn figures(
    scorer: &Scorer,
    classes: &[String],
    emails: &[Example],
    predicted: &[(String, f64)],
) -> ModelFigures {
    let index = |name: &str| {
        classes
            .binary_search_by(|c| c.as_str().cmp(name))
            .unwrap_or(0)
    };
    let rows: Vec<(usize, usize, f64)> = emails
        .iter()
        .zip(predicted)
        .map(|(e, (p, confidence))| (index(&e.category), index(p), *confidence))
        .collect();
    let evaluation = evaluate(classes, &rows);
    ModelFigures {
        model_id: scorer.model_id(),
        version: scorer.version().to_string(),
        accuracy: evaluation.accuracy,
        macro_f1: evaluation.macro_f1,
        per_class: evaluation
            .per_class
            .iter()
            .map(|m| ClassFigures {
                category: m.class.clone(),
                precision: m.precision,
                recall: m.recall,
                support: m.support as i64,
                labels: None,
            })
            .collect(),
        confusion: evaluation
            .confusion
            .iter()
            .map(|row| row.iter().map(|&n| n as i64).collect())
            .collect(),
    }
}

/// Scores the held-out emails with `candidate` and with the active model (when
/// another model is active) and compares them. Audited.
pub async fn compare(
    db: &Db,
    candidate: i64,
    credentials: &AwsCredentials,
    actor: Actor,
) -> DomainResult<ModelComparison> {
    let emails = held_out(db).await?;
    if emails.is_empty() {
        return Err(DomainError::invalid(
            "labels",
            "no held-out labelled emails to compare on: label more emails first",
        ));
    }
    // Built-in models learnt from every label, the held-out ones too: each is judged
    // by its twin, fitted the same way without them.
    let candidate_scorer = active::load_held_out_twin(db, candidate, credentials).await?;
    let active_scorer = match active::active_marker(db).await? {
        Some(marker) if marker.id != candidate => {
            Some(active::load_held_out_twin(db, marker.id, credentials).await?)
        }
        _ => None,
    };
    let candidate_predictions = predict(&candidate_scorer, &emails).await?;
    let active_predictions = match &active_scorer {
        Some(s) => Some(predict(s, &emails).await?),
        None => None,
    };

    let classes: Vec<String> = emails
        .iter()
        .map(|e| e.category.clone())
        .chain(candidate_predictions.iter().map(|p| p.0.clone()))
        .chain(active_predictions.iter().flatten().map(|p| p.0.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let candidate_figures = figures(&candidate_scorer, &classes, &emails, &candidate_predictions);
    let active_figures = active_scorer
        .as_ref()
        .zip(active_predictions.as_ref())
        .map(|(s, p)| figures(s, &classes, &emails, p));

    let mut changed = Vec::new();
    let mut changed_total = 0;
    if let Some(active_predictions) = &active_predictions {
        for ((e, (c, _)), (a, _)) in emails
            .iter()
            .zip(&candidate_predictions)
            .zip(active_predictions)
        {
            if c != a {
                changed_total += 1;
                if changed.len() < MAX_CHANGED {
                    changed.push(ChangedEmail {
                        id: e.email_id,
                        subject: e.subject.clone(),
                        label: e.category.clone(),
                        active: a.clone(),
                        candidate: c.clone(),
                    });
                }
            }
        }
    }
    audit::record(
        db,
        actor,
        "model.evaluate",
        "model",
        &candidate.to_string(),
        serde_json::json!({
            "held_out": emails.len(),
            "candidate": {"version": candidate_figures.version, "accuracy": candidate_figures.accuracy, "macro_f1": candidate_figures.macro_f1},
            "active": active_figures.as_ref().map(|a| serde_json::json!({"version": a.version, "accuracy": a.accuracy, "macro_f1": a.macro_f1})),
        }),
    )
    .await?;
    Ok(ModelComparison {
        held_out: emails.len() as i64,
        classes,
        candidate: candidate_figures,
        active: active_figures,
        changed_total,
        changed,
    })
}
