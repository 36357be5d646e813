//! The API's JSON email (PRODUCT.md): `{message_id?, from, to?, subject, body, html?,
//! received_at?, category?}`. Each email of a batch is checked on its own, so one bad
//! email is reported without refusing the rest.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Rejection;
use super::parse::normalize_message_id;
use super::sanitize::sanitize_html;
use crate::emails::NewEmail;

#[derive(Debug, Deserialize)]
pub struct JsonEmail {
    pub message_id: Option<String>,
    /// `ann@shop.example` or `Ann Lee <ann@shop.example>`.
    pub from: String,
    pub from_name: Option<String>,
    pub to: Option<Recipients>,
    pub cc: Option<Recipients>,
    #[serde(default)]
    pub subject: String,
    pub body: Option<String>,
    pub html: Option<String>,
    /// RFC 3339 text or Unix milliseconds.
    pub received_at: Option<Timestamp>,
    pub in_reply_to: Option<String>,
    pub references: Option<Vec<String>>,
    /// A historical label.
    pub category: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Recipients {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Timestamp {
    Millis(i64),
    Text(String),
}

/// A JSON email checked and ready to store, with its historical category if any.
#[derive(Debug)]
pub struct Checked {
    pub email: NewEmail,
    pub category: Option<String>,
}

/// Reads one email from JSON; a wrong or missing field is a `Rejection` naming it.
pub fn from_value(
    value: serde_json::Value,
    arrival_ms: i64,
    max_bytes: usize,
) -> Result<Checked, Rejection> {
    if !value.is_object() {
        return Err(Rejection::invalid(
            "email",
            "each email must be a JSON object",
        ));
    }
    let original = value.to_string();
    if original.len() > max_bytes {
        return Err(Rejection::TooLarge {
            size: original.len(),
            limit: max_bytes,
        });
    }
    let json: JsonEmail = serde_path_to_error::deserialize(value).map_err(|e| {
        let message = e.inner().to_string();
        let field = missing_field(&message).unwrap_or_else(|| e.path().to_string());
        Rejection::invalid(&field, message)
    })?;
    json.check(original, arrival_ms)
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

impl JsonEmail {
    fn check(self, original: String, arrival_ms: i64) -> Result<Checked, Rejection> {
        let (parsed_name, from_address) = parse_mailbox(&self.from).ok_or_else(|| {
            Rejection::invalid("from", format!("{:?} is not an email address", self.from))
        })?;
        // Stored without script but with its remote images: each showing sanitizes
        // again with the reader's choice (blocked unless asked for).
        let body_html = self.html.as_deref().map(|h| sanitize_html(h, true).html);
        let body_text = match (self.body, &self.html) {
            (Some(body), _) => body,
            (None, Some(html)) => mail_parser::decoders::html::html_to_text(html),
            (None, None) => return Err(Rejection::invalid("body", "is required (or give html)")),
        };
        let received_at = match self.received_at {
            None => arrival_ms,
            Some(Timestamp::Millis(ms)) => ms,
            Some(Timestamp::Text(text)) => chrono::DateTime::parse_from_rfc3339(&text)
                .map(|d| d.timestamp_millis())
                .map_err(|_| {
                    Rejection::invalid("received_at", format!("{text:?} is not an RFC 3339 date"))
                })?,
        };
        if received_at > arrival_ms + 86_400_000 || received_at < 0 {
            return Err(Rejection::invalid(
                "received_at",
                "is in the future or before 1970",
            ));
        }
        let message_id = match self.message_id {
            Some(id) => normalize_message_id(&id).ok_or_else(|| {
                Rejection::invalid("message_id", format!("{id:?} is not a Message-ID"))
            })?,
            // The same email posted twice gets the same id, so a retry is a duplicate.
            None => {
                let digest = hex::encode(Sha256::digest(
                    format!(
                        "{from_address}\n{}\n{received_at}\n{body_text}",
                        self.subject
                    )
                    .as_bytes(),
                ));
                format!("<{}@synthesized.triage.invalid>", &digest[..40])
            }
        };
        let in_reply_to = self.in_reply_to.as_deref().and_then(normalize_message_id);
        let thread_key = self
            .references
            .as_ref()
            .and_then(|r| r.iter().find_map(|id| normalize_message_id(id)))
            .or_else(|| in_reply_to.clone())
            .unwrap_or_else(|| message_id.clone());
        let recipients = |r: Option<Recipients>| match r {
            None => String::new(),
            Some(Recipients::One(s)) => s,
            Some(Recipients::Many(v)) => v.join(", "),
        };
        Ok(Checked {
            email: NewEmail {
                message_id,
                in_reply_to,
                thread_key,
                from_name: self.from_name.or(parsed_name).unwrap_or_default(),
                from_address,
                to_addresses: recipients(self.to),
                cc_addresses: recipients(self.cc),
                subject: self.subject,
                body_text,
                body_html,
                attachments: "[]".into(),
                raw: Some(original.into_bytes()),
                source: "api".into(),
                received_at,
                mailbox_id: None,
            },
            category: self.category.filter(|c| !c.trim().is_empty()),
        })
    }
}

/// `Name <addr>` or `addr` → (name, address), when the address looks like one.
pub fn parse_mailbox(s: &str) -> Option<(Option<String>, String)> {
    let s = s.trim();
    let (name, addr) = match (s.rfind('<'), s.ends_with('>')) {
        (Some(open), true) => {
            let name = s[..open].trim().trim_matches('"').trim();
            (
                Some(name.to_string()).filter(|n| !n.is_empty()),
                &s[open + 1..s.len() - 1],
            )
        }
        _ => (None, s),
    };
    let addr = addr.trim();
    let (local, domain) = addr.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !addr
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>');
    ok.then(|| (name, addr.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000_000;

    fn check(v: serde_json::Value) -> Result<Checked, Rejection> {
        from_value(v, NOW, 1_000_000)
    }

    #[test]
    fn a_full_json_email_is_read() {
        let c = check(json!({"message_id": "x1@shop", "from": "Ann Lee <ann@shop.example>", "to": ["s@n.example"],
            "subject": "Quote", "body": "Price for 200 boxes?", "received_at": "2026-11-01T09:30:00Z", "category": "quotation_request"})).unwrap();
        assert_eq!(c.email.message_id, "<x1@shop>");
        assert_eq!(
            (c.email.from_name.as_str(), c.email.from_address.as_str()),
            ("Ann Lee", "ann@shop.example")
        );
        assert_eq!(c.email.received_at, 1_793_525_400_000);
        assert_eq!(c.category.as_deref(), Some("quotation_request"));
    }

    #[test]
    fn a_missing_or_mistyped_field_is_named() {
        assert_eq!(
            check(json!({"from": "a@x.example", "subject": "no body"}))
                .unwrap_err()
                .field(),
            Some("body")
        );
        assert_eq!(
            check(json!({"subject": "s", "body": "b"}))
                .unwrap_err()
                .field(),
            Some("from")
        );
        assert_eq!(
            check(json!({"from": "a@x.example", "body": 42}))
                .unwrap_err()
                .field(),
            Some("body")
        );
        assert_eq!(
            check(json!({"from": "not an address", "body": "b"}))
                .unwrap_err()
                .field(),
            Some("from")
        );
        assert_eq!(
            check(json!({"from": "a@x.example", "body": "b", "received_at": "last week"}))
                .unwrap_err()
                .field(),
            Some("received_at")
        );
        assert_eq!(
            check(json!(["not", "an", "object"])).unwrap_err().field(),
            Some("email")
        );
    }

    #[test]
    fn an_email_without_id_gets_the_same_id_when_posted_again() {
        let v = json!({"from": "a@x.example", "subject": "s", "body": "b", "received_at": 1_789_000_000_000i64});
        assert_eq!(
            check(v.clone()).unwrap().email.message_id,
            check(v).unwrap().email.message_id
        );
    }

    #[test]
    fn html_only_json_gets_text_too() {
        let c = check(
            json!({"from": "a@x.example", "html": "<p>Hello <b>there</b></p><script>x()</script>"}),
        )
        .unwrap();
        assert!(
            c.email.body_text.contains("Hello there"),
            "{}",
            c.email.body_text
        );
        assert!(!c.email.body_html.unwrap().contains("script"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any bytes posted as JSON: an email, or a rejection that names a field,
        /// never a panic.
        #[test]
        fn arbitrary_json_is_read_or_rejected_never_a_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024),
            from in "[a-z@. <>]{0,20}",
            subject in "\\PC{0,40}",
        ) {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                let _ = from_value(value, 0, 1 << 20);
            }
            let shaped = serde_json::json!({
                "from": from, "subject": subject,
                "body": String::from_utf8_lossy(&bytes), "received_at": subject,
            });
            match from_value(shaped, 0, 1 << 20) {
                Ok(checked) => proptest::prop_assert!(!checked.email.from_address.is_empty()),
                Err(rejection) => proptest::prop_assert!(!rejection.to_string().is_empty()),
            }
        }
    }
}
