//! Suggested replies and the replies staff send.
//!
//! Suggestions come from the reply templates of the email's category (placeholders
//! filled from the email and the agent), and from what staff answered the most
//! similar past emails (cosine similarity over the same hashed text features the
//! built-in model reads). The reply an agent finally uses is stored with the
//! suggestion it started from and how many characters they changed.

use crate::audit::{self, Actor};
use crate::db::Db;
use crate::email_state;
use crate::error::{DomainError, DomainResult};
use crate::model::features;
use crate::time::now_ms;
use crate::wire::{EmailStatus, ReplyTemplate, SentReply, StoredReply, Suggestion, SuggestionKind};

const MAX_REPLY_CHARS: usize = 50_000;
/// Past replies compared with an email: the most recent ones.
const SIMILAR_CANDIDATES: i64 = 500;
/// Below this cosine similarity a past email is not "similar".
const MIN_SIMILARITY: f32 = 0.15;

/// What placeholders are filled from.
pub struct ReplyContext<'a> {
    pub from_name: &'a str,
    pub from_address: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub agent_name: &'a str,
}

/// A template with its placeholders filled. Unknown placeholders stay as written, so
/// a typo shows in the draft instead of silently vanishing.
pub fn fill(template: &str, ctx: &ReplyContext) -> String {
    let name = if ctx.from_name.trim().is_empty() {
        ctx.from_address
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        ctx.from_name.trim().to_string()
    };
    let first = name
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let references = reference_numbers(&format!("{}\n{}", ctx.subject, ctx.body)).join(", ");
    let subject = strip_reply_prefixes(ctx.subject);
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let key = after[..end].trim();
                let value = match key {
                    "customer_name" => Some(name.as_str()),
                    "customer_first_name" => Some(first.as_str()),
                    "subject" => Some(subject),
                    "agent_name" => Some(ctx.agent_name),
                    "references" => Some(references.as_str()),
                    _ => None,
                };
                match value {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn strip_reply_prefixes(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        let lower = s.get(..4).map(str::to_ascii_lowercase);
        match lower.as_deref() {
            Some("re: ") | Some("fw: ") => s = s[4..].trim_start(),
            _ => match s.get(..5).map(str::to_ascii_lowercase).as_deref() {
                Some("fwd: ") => s = s[5..].trim_start(),
                _ => return s,
            },
        }
    }
}

/// Order and reference numbers in a text: tokens with at least 4 digits that carry a
/// letter, `#` or `-` (`SO-48213`, `#10442`, `INV2026-001`), or 5 digits and more;
/// not years or dates. At most three, in order of appearance.
pub fn reference_numbers(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for raw in text.split(|c: char| c.is_whitespace() || ",;:()[]<>\"'!?".contains(c)) {
        let token = raw.trim_end_matches('.');
        let digits = token.chars().filter(char::is_ascii_digit).count();
        let letters = token.chars().filter(|c| c.is_ascii_alphabetic()).count();
        let allowed = token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '#' || c == '/');
        let marked = letters > 0 || token.contains('#') || token.contains('-');
        let year =
            digits == 4 && letters == 0 && (token.starts_with("19") || token.starts_with("20"));
        let date = token.matches(['-', '/']).count() >= 2 && letters == 0;
        let long_plain = (5..=12).contains(&digits) && letters == 0 && !token.contains('-');
        if allowed
            && token.len() <= 24
            && digits >= 4
            && !year
            && !date
            && (marked || long_plain)
            && letters <= 6
            && !found.iter().any(|f| f == token)
        {
            found.push(token.to_string());
            if found.len() == 3 {
                break;
            }
        }
    }
    found
}

/// What placeholders and similarity read of an email.
#[derive(sqlx::FromRow)]
pub(crate) struct EmailText {
    from_name: String,
    from_address: String,
    pub subject: String,
    pub body: String,
}

impl EmailText {
    pub(crate) async fn read(db: &Db, id: i64) -> DomainResult<EmailText> {
        sqlx::query_as(
            "SELECT e.from_name, e.from_address, e.subject, b.body_text AS body FROM emails e \
             JOIN email_bodies b ON b.email_id = e.id WHERE e.id = $1",
        )
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(DomainError::NotFound)
    }

    pub(crate) fn context<'a>(&'a self, agent_name: &'a str) -> ReplyContext<'a> {
        ReplyContext {
            from_name: &self.from_name,
            from_address: &self.from_address,
            subject: &self.subject,
            body: &self.body,
            agent_name,
        }
    }
}

/// The suggestions for an email labelled (or predicted) `category`.
pub async fn suggestions(
    db: &Db,
    email_id: i64,
    category: Option<&str>,
    agent_name: &str,
) -> DomainResult<Vec<Suggestion>> {
    let email = EmailText::read(db, email_id).await?;
    let ctx = email.context(agent_name);
    let mut out: Vec<Suggestion> = category_templates(db, category)
        .await?
        .into_iter()
        .map(|t| Suggestion {
            kind: SuggestionKind::Template,
            reference: Some(t.id),
            title: t.name,
            body: fill(&t.body, &ctx),
        })
        .collect();
    for similar in similar_replies(db, email_id, &email.subject, &email.body, 3).await? {
        out.push(Suggestion {
            kind: SuggestionKind::Similar,
            reference: Some(similar.reply.id),
            title: format!(
                "Sent for “{}” ({:.0}% alike)",
                similar.reply.subject,
                similar.similarity * 100.0
            ),
            body: similar.reply.reply,
        });
    }
    Ok(out)
}

/// A current reply template, as written (placeholders unfilled).
#[derive(sqlx::FromRow)]
pub(crate) struct Template {
    pub id: i64,
    pub name: String,
    pub body: String,
}

/// The current templates of `category`, then those for any email, by name.
pub(crate) async fn category_templates(
    db: &Db,
    category: Option<&str>,
) -> DomainResult<Vec<Template>> {
    Ok(sqlx::query_as(
        "SELECT t.id, t.name, t.body FROM reply_templates t \
         LEFT JOIN categories c ON c.id = t.category_id \
         WHERE t.retired_at IS NULL AND (c.name = $1 OR t.category_id IS NULL) \
         ORDER BY CASE WHEN t.category_id IS NULL THEN 1 ELSE 0 END, t.name",
    )
    .bind(category.unwrap_or_default())
    .fetch_all(&db.pool)
    .await?)
}

/// A reply staff sent, with the email it answered.
#[derive(sqlx::FromRow)]
pub(crate) struct PastReply {
    pub id: i64,
    email_id: i64,
    /// The answered email's subject and (the start of its) body.
    pub subject: String,
    body: String,
    pub reply: String,
}

/// A past reply and how alike its email is to this one.
pub(crate) struct Similar {
    pub reply: PastReply,
    pub similarity: f32,
}

/// The replies staff sent to the `n` past emails most like this one (one per email).
pub(crate) async fn similar_replies(
    db: &Db,
    email_id: i64,
    subject: &str,
    body: &str,
    n: usize,
) -> DomainResult<Vec<Similar>> {
    let rows: Vec<PastReply> = sqlx::query_as(
        "SELECT r.id, r.email_id, e.subject, SUBSTR(b.body_text, 1, 4000) AS body, r.body AS reply \
         FROM replies r JOIN emails e ON e.id = r.email_id \
         JOIN email_bodies b ON b.email_id = r.email_id \
         WHERE r.email_id <> $1 \
         ORDER BY r.id DESC LIMIT $2",
    )
    .bind(email_id)
    .bind(SIMILAR_CANDIDATES)
    .fetch_all(&db.pool)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let this = features::vectorize(subject, &body.chars().take(4000).collect::<String>());
    let mut seen_emails = std::collections::HashSet::new();
    let mut alike: Vec<Similar> = rows
        .into_iter()
        // The newest reply per email only.
        .filter(|r| seen_emails.insert(r.email_id))
        .map(|reply| {
            let similarity = cosine(&this, &features::vectorize(&reply.subject, &reply.body));
            Similar { reply, similarity }
        })
        .filter(|s| s.similarity >= MIN_SIMILARITY)
        .collect();
    alike.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    alike.truncate(n);
    Ok(alike)
}

/// Cosine similarity of two unit-length sparse vectors sorted by bucket.
pub(crate) fn cosine(a: &features::Sparse, b: &features::Sparse) -> f32 {
    let (mut i, mut j, mut dot) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                dot += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    dot
}

/// The reply an agent used.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyRequest {
    pub email_id: i64,
    /// The person (`None`: an API token without an owner).
    pub user_id: Option<i64>,
    pub agent_name: String,
    pub body: String,
    pub suggestion_kind: SuggestionKind,
    pub suggestion_ref: Option<i64>,
    /// The generated draft the agent started from (the server cannot rebuild it).
    pub generated_text: Option<String>,
}

/// Stores the reply and marks the email replied. The suggestion's text is rebuilt on
/// the server (a template filled for this email and agent, or the past reply), so the
/// edit distance measures what the agent really changed.
pub async fn record(db: &Db, req: &ReplyRequest) -> DomainResult<StoredReply> {
    record_at(db, req, now_ms()).await
}

/// [`record`], sent at `at` (the demo's history writes replies in the past).
pub(crate) async fn record_at(db: &Db, req: &ReplyRequest, at: i64) -> DomainResult<StoredReply> {
    let measured = measure(db, req).await?;
    let mut tx = db.begin_write().await?;
    let stored = insert_in(&mut tx, req, measured, at).await?;
    tx.commit().await?;
    Ok(stored)
}

/// How far a reply is from the suggestion it started from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    edit_distance: usize,
    suggestion_length: usize,
}

/// Checks a reply and measures it against its suggestion, rebuilt on the server.
pub(crate) async fn measure(db: &Db, req: &ReplyRequest) -> DomainResult<Measured> {
    if req.body.trim().is_empty() {
        return Err(DomainError::invalid("body", "a reply needs some text"));
    }
    if req.body.chars().count() > MAX_REPLY_CHARS {
        return Err(DomainError::invalid(
            "body",
            format!("a reply is at most {MAX_REPLY_CHARS} characters"),
        ));
    }
    let suggestion: String = match (req.suggestion_kind, req.suggestion_ref) {
        (SuggestionKind::Unassisted, _) => String::new(),
        (SuggestionKind::Generated, _) => req.generated_text.clone().unwrap_or_default(),
        (SuggestionKind::Template, Some(id)) => {
            let template: String =
                sqlx::query_scalar("SELECT body FROM reply_templates WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&db.pool)
                    .await?
                    .ok_or_else(|| DomainError::invalid("suggestion_ref", "no such template"))?;
            let email = EmailText::read(db, req.email_id).await?;
            fill(&template, &email.context(&req.agent_name))
        }
        (SuggestionKind::Similar, Some(id)) => {
            sqlx::query_scalar("SELECT body FROM replies WHERE id = $1")
                .bind(id)
                .fetch_optional(&db.pool)
                .await?
                .ok_or_else(|| DomainError::invalid("suggestion_ref", "no such reply"))?
        }
        (SuggestionKind::Template | SuggestionKind::Similar, None) => {
            return Err(DomainError::invalid(
                "suggestion_ref",
                "which suggestion was used?",
            ));
        }
    };
    let edit_distance = if suggestion.is_empty() {
        req.body.chars().count()
    } else {
        edit_distance(&suggestion, &req.body)
    };
    Ok(Measured {
        edit_distance,
        suggestion_length: suggestion.chars().count(),
    })
}

/// Stores a measured reply and marks its email replied, inside the caller's
/// transaction (sending a reply writes its outgoing message in the same one).
pub(crate) async fn insert_in(
    tx: &mut sqlx::AnyConnection,
    req: &ReplyRequest,
    measured: Measured,
    at: i64,
) -> DomainResult<StoredReply> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO replies (email_id, user_id, body, suggestion_kind, suggestion_ref, edit_distance, \
           suggestion_length, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(req.email_id)
    .bind(req.user_id)
    .bind(&req.body)
    .bind(req.suggestion_kind)
    .bind(req.suggestion_ref)
    .bind(measured.edit_distance as i64)
    .bind(measured.suggestion_length as i64)
    .bind(at)
    .fetch_one(&mut *tx)
    .await?;
    email_state::set_statuses(tx, &[req.email_id], EmailStatus::Replied).await?;
    Ok(StoredReply {
        id,
        edit_distance: measured.edit_distance as i64,
    })
}

/// Levenshtein distance in characters. Past 5,000 characters a side, the rest counts
/// as its length difference (the full matrix would cost too much for a figure).
pub fn edit_distance(a: &str, b: &str) -> usize {
    const HEAD: usize = 5_000;
    let (a_len, b_len) = (a.chars().count(), b.chars().count());
    let a_head: String = a.chars().take(HEAD).collect();
    let b_head: String = b.chars().take(HEAD).collect();
    let tail = a_len
        .saturating_sub(HEAD)
        .abs_diff(b_len.saturating_sub(HEAD));
    strsim::levenshtein(&a_head, &b_head) + tail
}

/// The most recent reply sent for an email.
pub async fn latest(db: &Db, email_id: i64) -> DomainResult<Option<SentReply>> {
    Ok(sqlx::query_as(
        "SELECT r.body AS text, COALESCE(u.display_name, '') AS by, r.created_at AS at \
         FROM replies r LEFT JOIN users u ON u.id = r.user_id \
         WHERE r.email_id = $1 ORDER BY r.id DESC LIMIT 1",
    )
    .bind(email_id)
    .fetch_optional(&db.pool)
    .await?)
}

// ---- Templates, managed by supervisors ----

/// Every template, current ones first, by category and name.
pub async fn templates(db: &Db) -> DomainResult<Vec<ReplyTemplate>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        category: Option<String>,
        name: String,
        body: String,
        retired_at: Option<i64>,
        updated_at: i64,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT t.id, c.name AS category, t.name, t.body, t.retired_at, t.updated_at \
         FROM reply_templates t LEFT JOIN categories c ON c.id = t.category_id \
         ORDER BY CASE WHEN t.retired_at IS NULL THEN 0 ELSE 1 END, c.name, t.name",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ReplyTemplate {
            id: r.id,
            category: r.category,
            name: r.name,
            body: r.body,
            retired: r.retired_at.is_some(),
            updated_at: r.updated_at,
        })
        .collect())
}

/// A template to create (`id: None`) or change.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TemplateInput {
    pub id: Option<i64>,
    /// A category name, or empty for "any email".
    pub category: String,
    pub name: String,
    pub body: String,
}

pub async fn save_template(db: &Db, input: &TemplateInput, actor: Actor) -> DomainResult<i64> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(DomainError::invalid(
            "name",
            "a template needs a name of at most 100 characters",
        ));
    }
    if input.body.trim().is_empty() || input.body.chars().count() > MAX_REPLY_CHARS {
        return Err(DomainError::invalid(
            "body",
            format!("a template needs a text of at most {MAX_REPLY_CHARS} characters"),
        ));
    }
    let category_id =
        match input.category.trim() {
            "" => None,
            c => Some(crate::categories::find_id(db, c).await?.ok_or_else(|| {
                DomainError::invalid("category", format!("no category named {c:?}"))
            })?),
        };
    let now = now_ms();
    let id: i64 = match input.id {
        None => {
            sqlx::query_scalar(
                "INSERT INTO reply_templates (category_id, name, body, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            )
            .bind(category_id)
            .bind(name)
            .bind(&input.body)
            .bind(actor.user_id())
            .bind(now)
            .fetch_one(&db.pool)
            .await?
        }
        Some(id) => sqlx::query_scalar(
            "UPDATE reply_templates SET category_id = $1, name = $2, body = $3, updated_at = $4 \
             WHERE id = $5 RETURNING id",
        )
        .bind(category_id)
        .bind(name)
        .bind(&input.body)
        .bind(now)
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(DomainError::NotFound)?,
    };
    let action = if input.id.is_some() {
        "template.update"
    } else {
        "template.create"
    };
    audit::record(
        db,
        actor,
        action,
        "reply_template",
        &id.to_string(),
        serde_json::json!({ "name": name }),
    )
    .await?;
    Ok(id)
}

/// Retires a template (it stays in the history of replies that used it).
pub async fn retire_template(db: &Db, id: i64, actor: Actor) -> DomainResult<()> {
    crate::sql::stamp_once(db, "reply_templates", "retired_at", id).await?;
    audit::record(
        db,
        actor,
        "template.retire",
        "reply_template",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(subject: &'a str, body: &'a str) -> ReplyContext<'a> {
        ReplyContext {
            from_name: "Nora Quinn",
            from_address: "nora@shop.example",
            subject,
            body,
            agent_name: "Alex",
        }
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_stay_visible() {
        let out = fill(
            "Hi {{customer_first_name}},\nabout \"{{subject}}\" ({{ references }}): {{oops}}\n{{agent_name}}",
            &ctx(
                "Re: RE: Where is order SO-48213?",
                "I ordered on 2026-11-02, ref #10442, call 0612345678.",
            ),
        );
        assert_eq!(
            out,
            "Hi Nora,\nabout \"Where is order SO-48213?\" (SO-48213, #10442, 0612345678): {{oops}}\nAlex"
        );
    }

    #[test]
    fn references_skip_years_dates_and_short_numbers() {
        assert_eq!(
            reference_numbers("In 2026 I paid 12 EUR on 2026-11-02."),
            Vec::<String>::new()
        );
        assert_eq!(
            reference_numbers("Invoice INV2026-001 and order 884213."),
            ["INV2026-001", "884213"]
        );
    }

    #[test]
    fn edit_distance_counts_characters() {
        assert_eq!(edit_distance("Dear Nora,", "Dear Nora,"), 0);
        assert_eq!(edit_distance("Dear Nora,", "Hi Nora!"), 5);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn a_template_gets_the_subject_without_reply_and_forward_prefixes() {
        assert_eq!(strip_reply_prefixes("Fw: still waiting"), "still waiting");
        assert_eq!(strip_reply_prefixes("RE: Fwd:  re: Order 42 "), "Order 42");
        assert_eq!(strip_reply_prefixes("Refund please"), "Refund please");
    }
}
