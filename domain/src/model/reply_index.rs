//! Reply drafts by retrieval, for the built-in model server's text-generation
//! contract: it has no language model, so its "generated" draft is what staff sent
//! to the past email most like the one in the prompt (cosine similarity over the
//! hashed text features the model reads, as the reply panel's similar suggestions).
//!
//! The past replies come from the database (`triage model-server` beside Triage) or
//! from a model artifact's `replies.jsonl` (`triage model export`); both read the
//! same [`PastReply`] lines.

use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::model::features::{self, Sparse};
use crate::replies::cosine;

/// How many past replies an artifact carries and a server compares with: the most
/// recent ones, which say how the team answers today.
pub const MAX_REPLIES: i64 = 5_000;

/// Only the start of an email is compared, as for the reply panel's suggestions.
const COMPARED_CHARS: usize = 4_000;

/// A reply staff sent, with the email it answered: one line of `replies.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastReply {
    pub subject: String,
    /// The email's body text (its first 4,000 characters).
    pub body: String,
    /// The email's category (its label, else its prediction), if it had one.
    pub category: Option<String>,
    pub reply: String,
}

/// The newest reply to each email, newest first, at most `limit`.
pub async fn past_replies(db: &Db, limit: i64) -> DomainResult<Vec<PastReply>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        subject: String,
        body: String,
        category: Option<String>,
        reply: String,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT e.subject, SUBSTR(b.body_text, 1, 4000) AS body, c.name AS category, \
           r.body AS reply \
         FROM replies r JOIN emails e ON e.id = r.email_id \
         JOIN email_bodies b ON b.email_id = r.email_id \
         LEFT JOIN categories c ON c.id = COALESCE(e.label_category_id, e.predicted_category_id) \
         WHERE r.id IN (SELECT MAX(id) FROM replies GROUP BY email_id) \
         ORDER BY r.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PastReply {
            subject: r.subject,
            body: r.body,
            category: r.category,
            reply: r.reply,
        })
        .collect())
}

/// Writes past replies as JSON Lines, one [`PastReply`] a line.
pub fn write_jsonl(replies: &[PastReply], out: &mut impl std::io::Write) -> std::io::Result<()> {
    for reply in replies {
        serde_json::to_writer(&mut *out, reply)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// A past reply ready to be compared: its email's features, not its text.
struct Indexed {
    subject: String,
    category: Option<String>,
    reply: String,
    features: Sparse,
}

/// The past replies a model server drafts from, newest first.
#[derive(Default)]
pub struct ReplyIndex {
    replies: Vec<Indexed>,
}

/// The past reply chosen for a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft<'a> {
    pub reply: &'a str,
    /// The subject of the past email it answered.
    pub similar_to: &'a str,
    pub similarity: f32,
}

impl ReplyIndex {
    pub fn new(replies: Vec<PastReply>) -> ReplyIndex {
        ReplyIndex {
            replies: replies
                .into_iter()
                .map(|r| Indexed {
                    features: email_features(&r.subject, &r.body),
                    subject: r.subject,
                    category: r.category,
                    reply: r.reply,
                })
                .collect(),
        }
    }

    /// The database's most recent replies ([`MAX_REPLIES`]).
    pub async fn from_db(db: &Db) -> DomainResult<ReplyIndex> {
        Ok(ReplyIndex::new(past_replies(db, MAX_REPLIES).await?))
    }

    /// An artifact's `replies.jsonl`; a line that is not a past reply is an error
    /// naming it, so a damaged artifact fails at start, not at the first request.
    pub fn from_jsonl(reader: impl BufRead) -> DomainResult<ReplyIndex> {
        let mut replies = Vec::new();
        for (n, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| DomainError::invalid("replies.jsonl", e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let reply: PastReply = serde_json::from_str(&line).map_err(|e| {
                DomainError::invalid("replies.jsonl", format!("line {}: {e}", n + 1))
            })?;
            replies.push(reply);
        }
        Ok(ReplyIndex::new(replies))
    }

    pub fn len(&self) -> usize {
        self.replies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// The reply to the past email most like the prompt's, among the prompt's
    /// category's replies when it names a category that has some, else among all
    /// (on a tie, the newest). `None` only when there are no replies at all.
    pub fn draft(&self, prompt: &DraftPrompt) -> Option<Draft<'_>> {
        let this = email_features(prompt.subject, prompt.body);
        let in_category = |r: &&Indexed| {
            prompt
                .category
                .is_none_or(|c| r.category.as_deref() == Some(c))
        };
        let restrict = self.replies.iter().any(|r| in_category(&r));
        let mut best: Option<Draft<'_>> = None;
        for r in self.replies.iter().filter(|r| !restrict || in_category(r)) {
            let similarity = cosine(&this, &r.features);
            if best.as_ref().is_none_or(|b| similarity > b.similarity) {
                best = Some(Draft {
                    reply: &r.reply,
                    similar_to: &r.subject,
                    similarity,
                });
            }
        }
        best
    }
}

fn email_features(subject: &str, body: &str) -> Sparse {
    let body = match body.char_indices().nth(COMPARED_CHARS) {
        Some((end, _)) => &body[..end],
        None => body,
    };
    features::vectorize(subject, body)
}

/// What a reply-draft prompt says about the email to answer. Triage writes it as:
///
/// ```text
/// Category: Refund request
/// …
/// ### Email
/// Subject: Where is my refund?
///
/// I sent the parcel back two weeks ago…
/// ### Reply
/// ```
///
/// The `Category:` line (before `### Email`) is optional; without the markers the
/// whole prompt is the email's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DraftPrompt<'a> {
    pub category: Option<&'a str>,
    pub subject: &'a str,
    pub body: &'a str,
}

impl<'a> DraftPrompt<'a> {
    pub fn parse(prompt: &'a str) -> DraftPrompt<'a> {
        // Each line with the offset it starts at.
        let mut offset = 0;
        let lines: Vec<(usize, &str)> = prompt
            .split_inclusive('\n')
            .map(|line| {
                let start = offset;
                offset += line.len();
                (start, line)
            })
            .collect();
        let is = |line: &str, marker: &str| line.trim() == marker;
        let Some(email_at) = lines.iter().position(|(_, l)| is(l, "### Email")) else {
            return DraftPrompt {
                category: None,
                subject: "",
                body: prompt.trim(),
            };
        };
        let category = lines[..email_at]
            .iter()
            .find_map(|(_, l)| l.trim().strip_prefix("Category:"))
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let start = lines
            .get(email_at + 1)
            .map_or(prompt.len(), |(start, _)| *start);
        let end = lines[email_at + 1..]
            .iter()
            .find(|(_, l)| is(l, "### Reply"))
            .map_or(prompt.len(), |(start, _)| *start);
        let email = prompt[start..end].trim_start_matches(['\r', '\n']);
        let (first, rest) = email.split_once('\n').unwrap_or((email, ""));
        match first.trim().strip_prefix("Subject:") {
            Some(subject) => DraftPrompt {
                category,
                subject: subject.trim(),
                body: rest.trim(),
            },
            None => DraftPrompt {
                category,
                subject: "",
                body: email.trim(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(subject: &str, body: &str, category: Option<&str>, reply: &str) -> PastReply {
        PastReply {
            subject: subject.into(),
            body: body.into(),
            category: category.map(Into::into),
            reply: reply.into(),
        }
    }

    #[test]
    fn a_prompt_gives_its_category_subject_and_body() {
        let prompt = "You draft replies for a support team.\nCategory: Refund request\n\
                      Templates:\n- We are sorry…\n\n### Email\nSubject: Where is my refund?\n\n\
                      I sent the parcel back.\nIt was two weeks ago.\n### Reply\n";
        assert_eq!(
            DraftPrompt::parse(prompt),
            DraftPrompt {
                category: Some("Refund request"),
                subject: "Where is my refund?",
                body: "I sent the parcel back.\nIt was two weeks ago.",
            }
        );
    }

    #[test]
    fn a_prompt_without_markers_is_all_body_and_one_without_a_subject_line_too() {
        assert_eq!(
            DraftPrompt::parse("Subject: ignored\n\nplain text"),
            DraftPrompt {
                category: None,
                subject: "",
                body: "Subject: ignored\n\nplain text",
            }
        );
        assert_eq!(
            DraftPrompt::parse("### Email\r\nno subject here\r\nsecond line"),
            DraftPrompt {
                category: None,
                subject: "",
                body: "no subject here\r\nsecond line",
            }
        );
    }

    #[test]
    fn a_category_line_after_the_email_marker_is_part_of_the_email() {
        let parsed = DraftPrompt::parse("### Email\nSubject: Hi\n\nCategory: not this\n");
        assert_eq!(parsed.category, None);
        assert_eq!(parsed.body, "Category: not this");
    }

    #[test]
    fn the_draft_is_the_reply_to_the_most_similar_email_within_the_category() {
        let index = ReplyIndex::new(vec![
            reply(
                "Refund for order 4411",
                "I returned the shoes and want my money back",
                Some("Refund"),
                "Your refund is on its way.",
            ),
            reply(
                "Invoice copy please",
                "Could you send a copy of my invoice for the shoes",
                Some("Invoice"),
                "Here is your invoice.",
            ),
        ]);
        let email = "### Email\nSubject: Invoice copy\n\nPlease send a copy of my invoice\n";
        let draft = index.draft(&DraftPrompt::parse(email)).unwrap();
        assert_eq!(draft.reply, "Here is your invoice.");
        assert_eq!(draft.similar_to, "Invoice copy please");
        assert!(draft.similarity > 0.3, "{}", draft.similarity);

        let in_refunds = format!("Category: Refund\n{email}");
        let draft = index.draft(&DraftPrompt::parse(&in_refunds)).unwrap();
        assert_eq!(draft.reply, "Your refund is on its way.");

        // A category without replies restricts nothing.
        let elsewhere = format!("Category: Legal\n{email}");
        let draft = index.draft(&DraftPrompt::parse(&elsewhere)).unwrap();
        assert_eq!(draft.reply, "Here is your invoice.");
    }

    #[test]
    fn no_replies_means_no_draft() {
        let index = ReplyIndex::new(Vec::new());
        assert!(index.is_empty());
        assert_eq!(index.draft(&DraftPrompt::parse("anything")), None);
    }

    #[test]
    fn replies_survive_the_jsonl_round_trip_and_a_bad_line_is_named() {
        let replies = vec![
            reply("A", "money back for the shoes", Some("Refund"), "reply a"),
            reply("B", "a copy of the invoice", None, "reply b"),
        ];
        let mut jsonl = Vec::new();
        write_jsonl(&replies, &mut jsonl).unwrap();
        let index = ReplyIndex::from_jsonl(&jsonl[..]).unwrap();
        assert_eq!(index.len(), 2);
        let draft = index
            .draft(&DraftPrompt::parse("the invoice, please"))
            .unwrap();
        assert_eq!(draft.reply, "reply b");

        let err = ReplyIndex::from_jsonl(&b"{\"subject\": \"A\"}\n"[..])
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("replies.jsonl: line 1:"), "{err}");
    }
}
