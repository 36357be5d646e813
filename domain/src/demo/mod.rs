//! `triage demo`: a realistic customer-service mailbox for Northwind Supply.
//!
//! Two kinds of mail: the 240 texts in `corpus.json`, written one by one as
//! different customers would write them (the generator only chooses senders, dates
//! and threads, and fills in names, products and numbers), and a few thousand more
//! composed from phrase pools ([`composed`]) by customers who keep one voice, some in
//! HTML, with attachments or in a legacy charset. Running it twice changes nothing
//! (fixed Message-IDs).

mod composed;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use secrecy::SecretString;
use serde::Deserialize;

use crate::audit::Actor;
use crate::db::Db;
use crate::emails::{self, Inserted, NewEmail};
use crate::error::{DomainError, DomainResult};
use crate::labels::NewLabel;
use crate::role::Role;
use crate::users::{self, Username};
use crate::wire::LabelSource;

#[derive(Deserialize)]
struct Corpus {
    categories: Vec<CorpusCategory>,
    first_names: Vec<String>,
    last_names: Vec<String>,
    companies: Vec<String>,
    products: Vec<String>,
}

#[derive(Deserialize)]
struct CorpusCategory {
    name: String,
    description: String,
    color: String,
    emails: Vec<CorpusEmail>,
}

#[derive(Deserialize)]
struct CorpusEmail {
    subject: String,
    body: String,
}

/// The demo sign-ins, as the README states them.
pub const DEMO_USERS: [(&str, &str, Role, &str); 3] = [
    ("admin", "Ada Admin", Role::Admin, "triage-admin"),
    (
        "sam",
        "Sam Supervisor",
        Role::Supervisor,
        "triage-supervisor",
    ),
    ("alex", "Alex Agent", Role::Agent, "triage-agent"),
];

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub users_created: usize,
    pub emails_created: usize,
    pub emails_already_there: usize,
    pub labels_created: usize,
    pub replies_created: usize,
}

/// Short follow-ups customers send when nobody answered; each one is quoted under the
/// original so the thread reads like real mail.
const FOLLOW_UPS: [&str; 10] = [
    "Any news on this? Still waiting.",
    "Hello again, I did not get an answer to the message below. Could someone please get back to me today?",
    "Sorry to chase, but this is getting urgent for us.",
    "Just bumping this. Is there a ticket number I can refer to?",
    "I called your hotline and was told someone would reply by email. Nothing yet.",
    "Following up on my previous email.",
    "Could you at least confirm you received this?",
    "My manager is asking me for an update, please advise.",
    "Hi, one more thing I forgot to mention: we need this sorted before the end of the month.",
    "??",
];

/// The demo's mail is written as it would have arrived by this moment (Monday
/// 2026-11-30, 17:00 UTC), then moved forward by whole days to the latest such
/// moment that is not after the real time ([`DemoClock`]). So the demo is the same
/// mail, the same labels and the same predictions whatever the day and hour it is
/// loaded (the browser tests rely on that), and none of it is in the future.
const WRITTEN_AT: i64 = 1_796_058_000_000;
const DAY_MS: i64 = 86_400_000;

/// Where the demo's mail sits in real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoClock {
    /// Added to every time the demo was written with.
    shift: i64,
}

impl DemoClock {
    /// The clock for a load at `now_ms`.
    pub fn at(now_ms: i64) -> DemoClock {
        DemoClock {
            shift: (now_ms - WRITTEN_AT).div_euclid(DAY_MS) * DAY_MS,
        }
    }

    /// The demo's "now": at most a day before the real one.
    pub fn now(self) -> i64 {
        WRITTEN_AT + self.shift
    }
}

pub async fn load(db: &Db, now_ms: i64) -> DomainResult<DemoSummary> {
    let clock = DemoClock::at(now_ms);
    let corpus: Corpus = serde_json::from_str(include_str!("corpus.json"))
        .map_err(|e| DomainError::Internal(format!("demo corpus: {e}")))?;
    let mut summary = DemoSummary::default();

    for (name, display, role, password) in DEMO_USERS {
        let username = Username::parse(name)?;
        match users::create(
            db,
            &username,
            display,
            role,
            SecretString::from(password),
            Actor::System,
        )
        .await
        {
            Ok(_) => summary.users_created += 1,
            Err(DomainError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }

    let mut category_ids = Vec::new();
    for c in &corpus.categories {
        category_ids.push(crate::categories::ensure(db, &c.name, &c.description, &c.color).await?);
    }

    let mut rng = ChaCha8Rng::seed_from_u64(20261122);
    let mut generated = Vec::new();
    for (ci, category) in corpus.categories.iter().enumerate() {
        for (ei, email) in category.emails.iter().enumerate() {
            generated.push(compose(&corpus, &mut rng, ci, ei, email, clock));
        }
    }
    // A share of the customers write again in the same thread when nobody answers.
    let mut follow_ups = Vec::new();
    for (n, original) in generated.iter().enumerate() {
        if n % 7 == 3 && corpus.categories[original.0].name != "spam" {
            let line = FOLLOW_UPS
                .choose(&mut rng)
                .copied()
                .unwrap_or(FOLLOW_UPS[0]);
            let follow = follow_up(original, line, n, rng.gen_range(1..72));
            // Only follow-ups that have already happened.
            if follow.1.received_at < clock.now() - 600_000 {
                follow_ups.push(follow);
            }
        }
    }
    generated.extend(follow_ups);
    generated.extend(composed::compose_all(&corpus, clock)?);
    generated.sort_by_key(|(_, e)| e.received_at);

    // The older half carries historical labels, as a team moving to Triage would bring.
    let labelled_before = generated[generated.len() / 2].1.received_at;
    // A few hundred emails to a transaction: one per email would make the load
    // wait on thousands of commits.
    for batch in generated.chunks(500) {
        let mut tx = db.begin_write().await?;
        for (ci, email) in batch {
            match emails::insert_in(&mut tx, email).await? {
                Inserted::Created(id) => {
                    summary.emails_created += 1;
                    if email.received_at < labelled_before {
                        emails::add_imported_label_in(
                            &mut tx,
                            id,
                            category_ids[*ci],
                            email.received_at,
                        )
                        .await?;
                        summary.labels_created += 1;
                    }
                }
                Inserted::Duplicate(_) => summary.emails_already_there += 1,
            }
        }
        tx.commit().await?;
    }
    add_templates(db).await?;
    summary.replies_created = past_replies(db, clock).await?;
    Ok(summary)
}

/// What the team sent before Triage: two of three labelled emails that a person
/// answers (not spam) have a reply, a template of their category filled in and given
/// a personal first line, sent 20 minutes to 3 hours after the email arrived. So most new
/// mail has similar past replies to suggest. Once: a database with replies keeps its
/// own.
async fn past_replies(db: &Db, clock: DemoClock) -> DomainResult<usize> {
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replies")
        .fetch_one(&db.pool)
        .await?;
    if existing > 0 {
        return Ok(0);
    }
    #[derive(sqlx::FromRow)]
    struct Answered {
        id: i64,
        received_at: i64,
        category: String,
    }
    let answered: Vec<Answered> = sqlx::query_as(
        "SELECT e.id, e.received_at, c.name AS category FROM emails e \
         JOIN categories c ON c.id = e.label_category_id \
         WHERE e.source = 'demo' AND c.name <> 'spam' ORDER BY e.id",
    )
    .fetch_all(&db.pool)
    .await?;
    let templates = crate::replies::templates(db).await?;
    let team: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, display_name FROM users WHERE username IN ('alex', 'sam') ORDER BY username",
    )
    .fetch_all(&db.pool)
    .await?;
    const OPENINGS: [&str; 4] = [
        "Thanks for getting in touch.",
        "Thank you for your patience.",
        "Many thanks for the details.",
        "Good to hear from you again.",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut sent = 0;
    for (n, email) in answered.iter().enumerate() {
        let choices: Vec<_> = templates
            .iter()
            .filter(|t| t.category.as_deref() == Some(email.category.as_str()))
            .collect();
        let (Some(template), Some((user_id, agent_name))) =
            (choices.choose(&mut rng), team.get(n % team.len().max(1)))
        else {
            continue;
        };
        if n % 3 == 2 {
            continue;
        }
        let text = crate::replies::EmailText::read(db, email.id).await?;
        let filled = crate::replies::fill(&template.body, &text.context(agent_name));
        let opening = OPENINGS.choose(&mut rng).copied().unwrap_or(OPENINGS[0]);
        // The template's greeting line, the opening, then the rest as written.
        let body = match filled.split_once("\n\n") {
            Some((greeting, rest)) => format!("{greeting}\n\n{opening} {rest}"),
            None => filled.clone(),
        };
        let at = (email.received_at + rng.gen_range(20 * 60_000..3 * 3_600_000))
            .min(clock.now() - 60_000);
        let request = crate::replies::ReplyRequest {
            email_id: email.id,
            user_id: Some(*user_id),
            agent_name: agent_name.clone(),
            body,
            suggestion_kind: crate::wire::SuggestionKind::Template,
            suggestion_ref: Some(template.id),
            generated_text: None,
        };
        crate::replies::record_at(db, &request, at).await?;
        sent += 1;
    }
    Ok(sent)
}

/// The categories whose scored mail the demo agents have partly worked through, so the
/// Analytics page has staff figures to show. The others stay untouched for whoever
/// tries the queue (and for the browser tests, which work on them).
const WORKED_CATEGORIES: [&str; 4] = [
    "quotation_request",
    "invoice_billing",
    "feedback_praise",
    "account_change",
];

/// Staff history for the demo: two of three scored, untriaged emails of
/// [`WORKED_CATEGORIES`] older than a day, labelled by the demo agent and supervisor
/// with their true category (accepted when the model was right, corrected when not),
/// minutes to hours after arrival. Call after scoring; returns how many labels.
pub async fn staff_history(db: &Db, now_ms: i64) -> DomainResult<usize> {
    let now_ms = DemoClock::at(now_ms).now();
    let corpus: Corpus = serde_json::from_str(include_str!("corpus.json"))
        .map_err(|e| DomainError::Internal(format!("demo corpus: {e}")))?;
    let people: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM users WHERE username IN ('alex', 'sam') ORDER BY username",
    )
    .fetch_all(&db.pool)
    .await?;
    #[derive(sqlx::FromRow)]
    struct Scored {
        id: i64,
        message_id: String,
        received_at: i64,
        prediction_id: i64,
        predicted_category_id: i64,
    }
    let rows: Vec<Scored> = sqlx::query_as(
        "SELECT e.id, e.message_id, e.received_at, e.prediction_id, e.predicted_category_id \
         FROM emails e WHERE e.prediction_id IS NOT NULL AND e.label_id IS NULL \
           AND e.status = 'new' AND e.received_at < $1 AND e.message_id LIKE '<demo-%' \
         ORDER BY e.id",
    )
    .bind(now_ms - 86_400_000)
    .fetch_all(&db.pool)
    .await?;
    let mut worked = std::collections::HashMap::new();
    for name in WORKED_CATEGORIES {
        if let Some(id) = crate::categories::find_id(db, name).await? {
            worked.insert(name, id);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut tx = db.begin_write().await?;
    let mut labelled = 0;
    for (n, email) in rows.into_iter().enumerate() {
        // `<demo-{category index}-{email index}@…>` says the true category.
        let Some(truth) = email
            .message_id
            .strip_prefix("<demo-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|ci| ci.parse::<usize>().ok())
            .and_then(|ci| corpus.categories.get(ci))
            .map(|c| c.name.clone())
        else {
            continue;
        };
        let Some(&category) = worked.get(truth.as_str()) else {
            continue;
        };
        if n % 3 == 0 || people.is_empty() {
            continue;
        }
        let at =
            (email.received_at + rng.gen_range(10 * 60_000..20 * 3_600_000)).min(now_ms - 60_000);
        let source = if category == email.predicted_category_id {
            LabelSource::Accepted
        } else {
            LabelSource::Corrected
        };
        let label = NewLabel {
            email_id: email.id,
            category_id: category,
            source,
            user_id: Some(people[n % people.len()]),
            token_id: None,
            prediction_id: Some(email.prediction_id),
            seconds_spent: Some(rng.gen_range(4.0..90.0f64).round()),
            created_at: at,
        };
        crate::labels::record(&mut tx, &label).await?;
        labelled += 1;
    }
    tx.commit().await?;
    Ok(labelled)
}

/// Reply templates, one or two for every category a team answers (spam is not
/// answered), as a team would have them on day one (once: a database that has
/// templates keeps its own).
const TEMPLATES: [(&str, &str, &str); 11] = [
    (
        "order_status",
        "Order on its way",
        "Hello {{customer_first_name}},\n\nthank you for your message about {{references}}. Your order has left our warehouse; you will receive the tracking link by email today.\n\nBest regards,\n{{agent_name}}\nNorthwind Supply",
    ),
    (
        "order_status",
        "Order delayed",
        "Hello {{customer_first_name}},\n\nI am sorry that {{references}} has not reached you yet. One item is back-ordered; the whole order ships as soon as it arrives, at the latest within five working days. If you would rather have the rest now, reply to this email and we split the delivery at no cost.\n\nBest regards,\n{{agent_name}}\nNorthwind Supply",
    ),
    (
        "complaint",
        "Apology and next step",
        "Dear {{customer_name}},\n\nI am sorry to read about \"{{subject}}\". I have passed your message to the team responsible and will come back to you within one working day with a solution.\n\nKind regards,\n{{agent_name}}\nNorthwind Supply",
    ),
    (
        "quotation_request",
        "Quotation on the way",
        "Hello {{customer_first_name}},\n\nthank you for your interest. We are preparing the quotation you asked for and will send it within two working days.\n\nBest regards,\n{{agent_name}}\nNorthwind Supply",
    ),
    (
        "returns_refunds",
        "Return accepted",
        "Hello {{customer_first_name}},\n\nyour return {{references}} is accepted. Please use the prepaid label attached; the refund follows within 5 working days of the goods arriving.\n\nBest regards,\n{{agent_name}}\nNorthwind Supply",
    ),
    (
        "invoice_billing",
        "Invoice corrected",
        "Hello {{customer_first_name}},\n\nthank you for pointing this out. I have checked {{references}} with our accounts team; a corrected invoice follows today and replaces the old one, so there is nothing to pay on the first.\n\nBest regards,\n{{agent_name}}\nNorthwind Supply",
    ),
    (
        "cancellation",
        "Cancellation confirmed",
        "Hello {{customer_first_name}},\n\nas you asked, {{references}} is cancelled. Nothing has been charged; if a payment was already taken it is refunded to the same card or account within 5 working days.\n\nBest regards,\n{{agent_name}}\nNorthwind Supply",
    ),
    (
        "technical_support",
        "First steps and a ticket",
        "Hello {{customer_first_name}},\n\nsorry for the trouble. Could you please switch the device off for 30 seconds, update it to the latest firmware from our support page and try again? If the problem remains, reply with the serial number and a photo of the error, and our technicians will call you within one working day.\n\nBest regards,\n{{agent_name}}\nNorthwind Supply technical support",
    ),
    (
        "feedback_praise",
        "Thank you",
        "Dear {{customer_name}},\n\nthank you for taking the time to write to us. I have shared your message with the team, who will be very glad to read it.\n\nKind regards,\n{{agent_name}}\nNorthwind Supply",
    ),
    (
        "account_change",
        "Account updated",
        "Hello {{customer_first_name}},\n\nthe change you asked for is done and applies to your next order. For your security we also sent a confirmation to the address we had on file before.\n\nBest regards,\n{{agent_name}}\nNorthwind Supply",
    ),
    (
        "account_change",
        "Need the account holder's confirmation",
        "Hello {{customer_first_name}},\n\nbefore we change the account's details we need the account holder to confirm them. Could they reply to this email from the address registered with us?\n\nBest regards,\n{{agent_name}}\nNorthwind Supply",
    ),
];

async fn add_templates(db: &Db) -> DomainResult<()> {
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reply_templates")
        .fetch_one(&db.pool)
        .await?;
    if existing > 0 {
        return Ok(());
    }
    for (category, name, body) in TEMPLATES {
        let input = crate::replies::TemplateInput {
            id: None,
            category: category.into(),
            name: name.into(),
            body: body.into(),
        };
        crate::replies::save_template(db, &input, Actor::System).await?;
    }
    Ok(())
}

fn compose(
    corpus: &Corpus,
    rng: &mut ChaCha8Rng,
    ci: usize,
    ei: usize,
    email: &CorpusEmail,
    clock: DemoClock,
) -> (usize, NewEmail) {
    let first = corpus.first_names.choose(rng).cloned().unwrap_or_default();
    let last = corpus.last_names.choose(rng).cloned().unwrap_or_default();
    let company = corpus.companies.choose(rng).cloned().unwrap_or_default();
    let product = corpus.products.choose(rng).cloned().unwrap_or_default();
    let is_spam = corpus.categories[ci].name == "spam";
    let address = sender_address(rng, &first, &last, &company, is_spam);
    let fill = |text: &str| {
        text.replace("{first_name}", &first)
            .replace("{full_name}", &format!("{first} {last}"))
            .replace("{company}", &company)
            .replace("{product}", &product)
            .replace(
                "{order}",
                &format!("SO-{}", rng_number(ci, ei, 10_000, 99_999)),
            )
            .replace(
                "{invoice}",
                &format!("INV-2026-{:04}", rng_number(ci, ei, 1, 2_999)),
            )
            .replace("{amount}", &money(rng_number(ci, ei, 4_000, 2_500_000)))
            .replace("{qty}", &(rng_number(ci, ei, 2, 60) * 25).to_string())
            .replace(
                "{date}",
                &format!("{} {}", rng_number(ci, ei, 1, 28), month(ci + ei)),
            )
    };
    let subject = fill(&email.subject);
    let body = fill(&email.body);
    let received_at = business_time(rng, WRITTEN_AT, 42) + clock.shift;
    let message_id = format!(
        "<demo-{ci}-{ei}@{}>",
        address.split('@').nth(1).unwrap_or("example.com")
    );
    let from_name = if is_spam && rng.gen_bool(0.5) {
        String::new()
    } else {
        format!("{first} {last}")
    };
    let raw = raw_message(
        &message_id,
        None,
        &from_name,
        &address,
        &subject,
        &body,
        received_at,
    );
    (
        ci,
        NewEmail {
            thread_key: message_id.clone(),
            message_id,
            in_reply_to: None,
            from_name,
            from_address: address,
            to_addresses: "support@northwind-supply.example".into(),
            cc_addresses: String::new(),
            subject,
            body_text: body,
            body_html: None,
            attachments: "[]".into(),
            raw: Some(raw),
            source: "demo".into(),
            received_at,
            mailbox_id: None,
        },
    )
}

fn follow_up(
    original: &(usize, NewEmail),
    line: &str,
    n: usize,
    hours_later: i64,
) -> (usize, NewEmail) {
    let (ci, o) = original;
    let quoted: String = o.body_text.lines().map(|l| format!("> {l}\n")).collect();
    let body = format!(
        "{line}\n\nOn an earlier date, {} wrote:\n{quoted}",
        o.from_address
    );
    let subject = if o.subject.to_lowercase().starts_with("re:") {
        o.subject.clone()
    } else {
        format!("Re: {}", o.subject)
    };
    let message_id = format!(
        "<demo-{ci}-followup-{n}@{}>",
        o.from_address.split('@').nth(1).unwrap_or("example.com")
    );
    let received_at = o.received_at + hours_later * 3_600_000;
    let raw = raw_message(
        &message_id,
        Some(&o.message_id),
        &o.from_name,
        &o.from_address,
        &subject,
        &body,
        received_at,
    );
    (
        *ci,
        // The same sender, thread and recipients as the email it follows up.
        NewEmail {
            message_id,
            in_reply_to: Some(o.message_id.clone()),
            subject,
            body_text: body,
            raw: Some(raw),
            received_at,
            mailbox_id: None,
            ..o.clone()
        },
    )
}

fn sender_address(
    rng: &mut ChaCha8Rng,
    first: &str,
    last: &str,
    company: &str,
    spam: bool,
) -> String {
    let clean = |s: &str| -> String {
        s.to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect()
    };
    if spam {
        let domains = [
            "growth-leads.biz",
            "mail-offers.top",
            "secure-pay-notice.info",
            "bizpartner.click",
            "seo-rank-pro.net",
        ];
        let d = domains.choose(rng).copied().unwrap_or(domains[0]);
        return format!("{}{}@{d}", clean(first), rng.gen_range(10..999));
    }
    let company_domain = {
        let words: Vec<String> = company
            .split_whitespace()
            .filter(|w| {
                !["gmbh", "ltd", "inc", "sarl", "bv", "llc", "ag", "&"]
                    .contains(&w.to_lowercase().trim_matches('.'))
            })
            .map(clean)
            .filter(|w| !w.is_empty())
            .collect();
        format!("{}.example", words.join("-"))
    };
    match rng.gen_range(0..5) {
        0 => format!("{}.{}@{company_domain}", clean(first), clean(last)),
        1 => format!(
            "{}{}@{company_domain}",
            &clean(first)[..1.min(clean(first).len())],
            clean(last)
        ),
        2 => format!("purchasing@{company_domain}"),
        3 => format!(
            "{}.{}{}@mailbox.example",
            clean(first),
            clean(last),
            rng.gen_range(1..99)
        ),
        _ => format!("{}@{company_domain}", clean(first)),
    }
}

/// A weekday, mostly in office hours, within the last `days`.
fn business_time(rng: &mut ChaCha8Rng, now_ms: i64, days: i64) -> i64 {
    const DAY: i64 = DAY_MS;
    let days_ago = rng.gen_range(0..days);
    let day_start = (now_ms / DAY - days_ago) * DAY;
    let weekday = (day_start / DAY + 4) % 7; // 1970-01-01 was a Thursday
    let day_start = if weekday >= 5 && rng.gen_bool(0.8) {
        day_start - (weekday - 4) * DAY
    } else {
        day_start
    };
    let hour = if rng.gen_bool(0.85) {
        rng.gen_range(7..18)
    } else {
        rng.gen_range(0..24)
    };
    let at = day_start + hour * 3_600_000 + rng.gen_range(0..3_600_000);
    // Today's mail arrived before now; a time still to come moves back a day.
    if at > now_ms - 600_000 { at - DAY } else { at }
}

/// Numbers derived from the email's place, so a re-run writes the same text.
fn rng_number(ci: usize, ei: usize, lo: u64, hi: u64) -> u64 {
    let x = (ci as u64 * 7919 + ei as u64 * 104_729 + 12_345).wrapping_mul(2_654_435_761)
        % (hi - lo + 1);
    lo + x
}

fn money(cents: u64) -> String {
    let units = cents / 100;
    let mut s = String::new();
    for (i, c) in units.to_string().chars().rev().enumerate() {
        if i > 0 && i % 3 == 0 {
            s.push(',');
        }
        s.push(c);
    }
    format!("{}.{:02}", s.chars().rev().collect::<String>(), cents % 100)
}

fn month(n: usize) -> &'static str {
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ][n % 12]
}

fn raw_message(
    message_id: &str,
    in_reply_to: Option<&str>,
    from_name: &str,
    from: &str,
    subject: &str,
    body: &str,
    at_ms: i64,
) -> Vec<u8> {
    let date = chrono::DateTime::from_timestamp_millis(at_ms)
        .map(|d| d.to_rfc2822())
        .unwrap_or_default();
    let from = if from_name.is_empty() {
        from.to_string()
    } else {
        format!("\"{from_name}\" <{from}>")
    };
    let mut raw = format!(
        "Message-ID: {message_id}\r\nDate: {date}\r\nFrom: {from}\r\nTo: support@northwind-supply.example\r\n\
         Subject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n"
    );
    if let Some(parent) = in_reply_to {
        raw.push_str(&format!(
            "In-Reply-To: {parent}\r\nReferences: {parent}\r\n"
        ));
    }
    raw.push_str("\r\n");
    raw.push_str(&body.replace('\n', "\r\n"));
    raw.into_bytes()
}

/// The demo mail on a fresh SQLite database in a folder of its own; the caller
/// removes the folder.
#[cfg(test)]
pub(crate) async fn demo_database(name: &str) -> (crate::db::Db, std::path::PathBuf) {
    demo_database_at(name, crate::time::now_ms()).await
}

/// [`demo_database`] loaded as if at `now_ms`.
#[cfg(test)]
pub(crate) async fn demo_database_at(
    name: &str,
    now_ms: i64,
) -> (crate::db::Db, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("triage-{name}-{}", std::process::id()));
    let db = crate::db::Db::connect(&format!("sqlite://{}/{name}.db", dir.display()), 4)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    load(&db, now_ms).await.unwrap();
    (db, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_has_at_least_eight_categories_and_no_stray_placeholders() {
        let corpus: Corpus = serde_json::from_str(include_str!("corpus.json")).unwrap();
        assert!(corpus.categories.len() >= 8);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (ci, c) in corpus.categories.iter().enumerate() {
            assert!(c.emails.len() >= 10, "{} has few emails", c.name);
            for (ei, e) in c.emails.iter().enumerate() {
                let (_, email) = compose(&corpus, &mut rng, ci, ei, e, DemoClock::at(WRITTEN_AT));
                assert!(
                    !email.body_text.contains('{') && !email.subject.contains('{'),
                    "{}",
                    email.body_text
                );
            }
        }
    }

    /// What a browser test sees must not depend on when the suite runs: loaded on
    /// another day at another hour, the demo is the same mail, moved in time.
    #[tokio::test]
    async fn the_demo_is_the_same_mail_whatever_the_day_and_hour() {
        let monday_morning = WRITTEN_AT + 7 * DAY_MS - 8 * 3_600_000;
        let sunday_night = WRITTEN_AT + 40 * DAY_MS + 6 * 3_600_000 + 123_456;
        let mut seen = Vec::new();
        for (name, now) in [("clock-a", monday_morning), ("clock-b", sunday_night)] {
            let (db, dir) = demo_database_at(name, now).await;
            let shift = DemoClock::at(now).shift;
            #[derive(sqlx::FromRow)]
            struct Row {
                message_id: String,
                subject: String,
                received_at: i64,
                label_category_id: Option<i64>,
                predicted_category_id: Option<i64>,
            }
            let rows: Vec<Row> = sqlx::query_as(
                "SELECT message_id, subject, received_at, label_category_id, predicted_category_id \
                 FROM emails ORDER BY id",
            )
            .fetch_all(&db.pool)
            .await
            .unwrap();
            assert!(rows.len() > 200);
            assert!(
                rows.iter().all(|r| r.received_at < now - 600_000),
                "nothing arrives in the future"
            );
            assert!(
                rows.iter().any(|r| r.received_at > now - 2 * DAY_MS),
                "the newest mail is recent"
            );
            seen.push(
                rows.into_iter()
                    .map(|r| {
                        let moved_back = r.received_at - shift;
                        let categories = (r.label_category_id, r.predicted_category_id);
                        (r.message_id, r.subject, moved_back, categories)
                    })
                    .collect::<Vec<_>>(),
            );
            db.close().await;
            std::fs::remove_dir_all(dir).unwrap();
        }
        assert_eq!(seen[0], seen[1]);
    }

    /// The demo's promise: the model a newcomer meets gets most held-out demo mail
    /// right (held out by thread, as the retrain job does).
    #[tokio::test]
    async fn the_demo_model_gets_most_held_out_demo_mail_right() {
        let (db, dir) = demo_database("demo-model").await;
        let model = crate::training::train(&db, Actor::System, 1).await.unwrap();
        let e = &model.evaluation;
        eprintln!(
            "demo model: trained on {}, held out {}: accuracy {:.3}, macro-F1 {:.3}",
            model.training_size, model.test_size, e.accuracy, e.macro_f1
        );
        for c in &e.per_class {
            eprintln!("  {c:?}");
        }
        assert!(e.accuracy >= 0.85, "accuracy {}", e.accuracy);
        // Then as `triage demo` goes on: the model scores the mail, the demo team
        // works part of it, and Analytics opens without a drift alert.
        crate::training::activate(&db, model.id, Actor::System)
            .await
            .unwrap();
        crate::scoring::score_unscored(&db, &crate::scoring::AwsCredentials::fixed("demo", "demo"))
            .await
            .unwrap();
        let worked = staff_history(&db, crate::time::now_ms()).await.unwrap();
        let drift = crate::analytics::drift(&db).await.unwrap();
        eprintln!("demo team: {worked} labels; drift {:?}", drift.overall);
        assert!(worked > 100, "{worked} staff labels");
        assert!(!drift.alert, "{drift:?}");
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn money_is_written_as_people_write_it() {
        assert_eq!(money(124_000), "1,240.00");
        assert_eq!(money(5), "0.05");
    }
}
