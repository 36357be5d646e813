//! The built-in model in SageMaker's model layout (`triage model export`): a gzipped
//! tar that SageMaker unpacks into `/opt/ml/model`, where `triage model-server
//! --model-dir` serves it without a database. At its root:
//!
//! - `model.json`, the manifest: layout format, model version, classes, and the
//!   names of the two files below;
//! - `classifier.bin`, the classifier exactly as the database stores it
//!   ([`Classifier::to_bytes`]), so the container scores as Triage does, bit for bit
//!   (as JSON its quarter-million buckets of weights would be ~20 MB of decimals);
//! - `replies.jsonl`, the most recent past replies ([`PastReply`] lines), which the
//!   server drafts replies from.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::model::classifier::Classifier;
use crate::model::reply_index::{self, MAX_REPLIES, ReplyIndex};

pub const MANIFEST: &str = "model.json";
pub const CLASSIFIER: &str = "classifier.bin";
pub const REPLIES: &str = "replies.jsonl";

/// The layout this code writes and reads.
const FORMAT: u32 = 1;

/// `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// Always `builtin`: only the built-in model exports.
    pub kind: String,
    pub version: String,
    pub classes: Vec<String>,
    /// The classifier's file, beside this one.
    pub classifier: String,
    /// The past replies' file, beside this one.
    pub replies: String,
    pub reply_count: usize,
    /// When it was exported (milliseconds since the epoch).
    pub exported_at: i64,
}

/// What `export` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub version: String,
    pub classes: usize,
    pub replies: usize,
    pub bytes: u64,
}

/// Writes the active built-in model (or the one with `version`) and the most recent
/// past replies to `out` as a `model.tar.gz`. The file appears whole or not at all
/// (written beside it, then renamed).
pub async fn export(db: &Db, version: Option<&str>, out: &Path) -> DomainResult<ExportSummary> {
    #[derive(sqlx::FromRow)]
    struct Stored {
        version: String,
        artifact: Vec<u8>,
    }
    let stored: Option<Stored> =
        match version {
            Some(v) => {
                sqlx::query_as(
                    "SELECT version, artifact FROM models WHERE version = $1 AND kind = 'builtin'",
                )
                .bind(v)
                .fetch_optional(&db.pool)
                .await?
            }
            None => sqlx::query_as(
                "SELECT version, artifact FROM models WHERE status = 'active' AND kind = 'builtin'",
            )
            .fetch_optional(&db.pool)
            .await?,
        };
    let Some(Stored { version, artifact }) = stored else {
        return Err(DomainError::invalid(
            "model",
            match version {
                Some(v) => format!("there is no built-in model {v} (see the Models page)"),
                None => "there is no active built-in model to export: run `triage train \
                         --activate`, or name one with --model"
                    .into(),
            },
        ));
    };
    let classifier = Classifier::from_bytes(&artifact)
        .map_err(|e| DomainError::Internal(format!("model {version} is unreadable: {e}")))?;
    let replies = reply_index::past_replies(db, MAX_REPLIES).await?;
    let manifest = Manifest {
        format: FORMAT,
        kind: "builtin".into(),
        version,
        classes: classifier.classes.clone(),
        classifier: CLASSIFIER.into(),
        replies: REPLIES.into(),
        reply_count: replies.len(),
        exported_at: crate::time::now_ms(),
    };
    let out = out.to_path_buf();
    // Compressing ten megabytes of weights takes a while: off the async threads.
    tokio::task::spawn_blocking(move || {
        let mut jsonl = Vec::new();
        reply_index::write_jsonl(&replies, &mut jsonl)?;
        let manifest_json = serde_json::to_vec_pretty(&manifest)?;
        let mut partial = out.clone().into_os_string();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        write_tar_gz(
            &partial,
            manifest.exported_at,
            &[
                (MANIFEST, &manifest_json),
                (CLASSIFIER, &artifact),
                (REPLIES, &jsonl),
            ],
        )?;
        std::fs::rename(&partial, &out)?;
        Ok::<_, std::io::Error>(ExportSummary {
            version: manifest.version,
            classes: manifest.classes.len(),
            replies: manifest.reply_count,
            bytes: std::fs::metadata(&out)?.len(),
        })
    })
    .await
    .map_err(|e| DomainError::Internal(e.to_string()))?
    .map_err(|e| DomainError::invalid("out", e.to_string()))
}

/// A gzipped tar of `files` at its root, each readable by everyone.
fn write_tar_gz(path: &Path, mtime_ms: i64, files: &[(&str, &[u8])]) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime((mtime_ms / 1000).max(0) as u64);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, *bytes)?;
    }
    let mut file = tar.into_inner()?.finish()?;
    file.flush()?;
    file.sync_all()
}

/// A model unpacked from `model.tar.gz`, ready to serve.
pub struct ModelArtifact {
    pub manifest: Manifest,
    pub classifier: Classifier,
    /// Empty when the artifact carries no replies: classification still works, and
    /// drafting says why it cannot.
    pub replies: ReplyIndex,
}

impl ModelArtifact {
    /// Reads the unpacked layout in `dir` (SageMaker's `/opt/ml/model`); every
    /// problem names the file it is in.
    pub fn read_dir(dir: &Path) -> DomainResult<ModelArtifact> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| {
                DomainError::invalid(
                    name,
                    format!("cannot read {}: {e}", dir.join(name).display()),
                )
            })
        };
        let manifest: Manifest = serde_json::from_slice(&read(MANIFEST)?)
            .map_err(|e| DomainError::invalid(MANIFEST, e.to_string()))?;
        if manifest.format != FORMAT || manifest.kind != "builtin" {
            return Err(DomainError::invalid(
                MANIFEST,
                format!(
                    "a {} model of layout format {}; this Triage serves built-in models of format {FORMAT}",
                    manifest.kind, manifest.format
                ),
            ));
        }
        let classifier = Classifier::from_bytes(&read(&manifest.classifier)?)
            .map_err(|e| DomainError::invalid(&manifest.classifier, e))?;
        if classifier.classes != manifest.classes {
            return Err(DomainError::invalid(
                &manifest.classifier,
                format!(
                    "its classes {:?} are not the manifest's {:?}",
                    classifier.classes, manifest.classes
                ),
            ));
        }
        let replies_path = dir.join(&manifest.replies);
        let replies = if replies_path.exists() {
            let file = std::fs::File::open(&replies_path)
                .map_err(|e| DomainError::invalid(&manifest.replies, e.to_string()))?;
            ReplyIndex::from_jsonl(std::io::BufReader::new(file))?
        } else {
            ReplyIndex::default()
        };
        Ok(ModelArtifact {
            manifest,
            classifier,
            replies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::classifier::TrainOptions;
    use crate::model::features::vectorize;
    use crate::model::reply_index::{DraftPrompt, PastReply};

    fn classifier() -> Classifier {
        let examples = vec![
            (vectorize("refund", "money back please"), 0),
            (vectorize("invoice", "send the invoice copy"), 1),
        ];
        Classifier::train(
            &examples,
            vec!["Invoice".into(), "Refund".into()],
            TrainOptions::default(),
        )
    }

    fn unpack(archive: &Path, into: &Path) {
        let file = std::fs::File::open(archive).unwrap();
        tar::Archive::new(flate2::read::GzDecoder::new(file))
            .unpack(into)
            .unwrap();
    }

    fn temp_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "triage-artifact-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_artifact_unpacks_to_the_same_classifier_and_replies() {
        let dir = temp_dir();
        let model = classifier();
        let manifest = Manifest {
            format: FORMAT,
            kind: "builtin".into(),
            version: "builtin-test".into(),
            classes: model.classes.clone(),
            classifier: CLASSIFIER.into(),
            replies: REPLIES.into(),
            reply_count: 1,
            exported_at: 0,
        };
        let mut jsonl = Vec::new();
        reply_index::write_jsonl(
            &[PastReply {
                subject: "Refund".into(),
                body: "money back".into(),
                category: Some("Refund".into()),
                reply: "On its way.".into(),
            }],
            &mut jsonl,
        )
        .unwrap();
        let archive = dir.join("model.tar.gz");
        write_tar_gz(
            &archive,
            0,
            &[
                (MANIFEST, &serde_json::to_vec(&manifest).unwrap()),
                (CLASSIFIER, &model.to_bytes()),
                (REPLIES, &jsonl),
            ],
        )
        .unwrap();
        let unpacked = dir.join("opt-ml-model");
        unpack(&archive, &unpacked);

        let read = ModelArtifact::read_dir(&unpacked).unwrap();
        assert_eq!(read.manifest, manifest);
        assert_eq!(read.classifier.to_bytes(), model.to_bytes());
        let draft = read
            .replies
            .draft(&DraftPrompt::parse("money back"))
            .unwrap();
        assert_eq!(draft.reply, "On its way.");

        // Without replies it still serves its model, with nothing to draft from.
        std::fs::remove_file(unpacked.join(REPLIES)).unwrap();
        assert!(
            ModelArtifact::read_dir(&unpacked)
                .unwrap()
                .replies
                .is_empty()
        );
        // A manifest that does not match its classifier is refused, naming the file.
        let mut wrong = manifest.clone();
        wrong.classes.reverse();
        std::fs::write(unpacked.join(MANIFEST), serde_json::to_vec(&wrong).unwrap()).unwrap();
        let err = ModelArtifact::read_dir(&unpacked)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("classifier.bin: its classes"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_folder_without_a_model_says_which_file_is_missing() {
        let dir = temp_dir();
        let err = ModelArtifact::read_dir(&dir).err().unwrap().to_string();
        assert!(err.starts_with("model.json: cannot read"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
