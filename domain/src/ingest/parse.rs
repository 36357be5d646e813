//! Raw RFC 822 bytes → an email ready to store.

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Rejection;
use super::sanitize::sanitize_html;
use crate::emails::NewEmail;

/// An attachment as listed with the email; its bytes stay in the raw message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub size: usize,
}

/// Parses one message. `arrival_ms` stands in for a missing or impossible Date.
/// The raw bytes are kept whole on the email, so nothing the parser skipped is lost.
pub fn parse_raw(
    raw: &[u8],
    arrival_ms: i64,
    max_bytes: usize,
    source: &str,
) -> Result<NewEmail, Rejection> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::Empty);
    }
    if raw.len() > max_bytes {
        return Err(Rejection::TooLarge {
            size: raw.len(),
            limit: max_bytes,
        });
    }
    if !starts_like_a_header(raw) {
        return Err(Rejection::NotEmail(
            "it does not start with a mail header".into(),
        ));
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| Rejection::NotEmail("no header could be read".into()))?;

    // Mail without a From header exists (bounces, system mail); it is kept with the
    // best sender there is, or none.
    let sender = message
        .from()
        .or_else(|| message.sender())
        .or_else(|| message.reply_to())
        .and_then(Address::first);
    let from_address = sender
        .and_then(|a| a.address.as_deref())
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .or_else(|| message.return_address().map(str::to_string))
        .unwrap_or_default();
    let from_name = sender
        .and_then(|a| a.name.as_deref())
        .unwrap_or_default()
        .trim()
        .to_string();

    let message_id = message
        .message_id()
        .and_then(normalize_message_id)
        .unwrap_or_else(|| synthesized_message_id(raw));
    let in_reply_to = first_id(message.in_reply_to());
    let thread_key = first_id(message.references())
        .or_else(|| in_reply_to.clone())
        .unwrap_or_else(|| message_id.clone());

    let received_at = message
        .date()
        .filter(|d| d.is_valid())
        .map(|d| d.to_timestamp() * 1000)
        .filter(|ms| plausible_date(*ms, arrival_ms))
        .unwrap_or(arrival_ms);

    let has_html = message.html_bodies().any(|p| {
        p.content_type().is_some_and(|ct| {
            ct.c_subtype
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("html"))
        })
    });
    let body_html = if has_html {
        // Stored without script but with its remote images: each showing sanitizes
        // again with the reader's choice (blocked unless asked for).
        message.body_html(0).map(|h| sanitize_html(&h, true).html)
    } else {
        None
    };
    let body_text = message
        .body_text(0)
        .map(|t| t.trim_end().to_string())
        .unwrap_or_default();

    let attachments: Vec<Attachment> = message
        .attachments()
        .map(|part| Attachment {
            name: part.attachment_name().unwrap_or("(unnamed)").to_string(),
            content_type: part
                .content_type()
                .map(|ct| match &ct.c_subtype {
                    Some(sub) => format!("{}/{}", ct.c_type, sub),
                    None => ct.c_type.to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into()),
            size: part.contents().len(),
        })
        .collect();

    Ok(NewEmail {
        message_id,
        in_reply_to,
        thread_key,
        from_name,
        from_address,
        to_addresses: addresses(message.to()),
        cc_addresses: addresses(message.cc()),
        subject: message.subject().unwrap_or_default().trim().to_string(),
        body_text,
        body_html,
        attachments: serde_json::to_string(&attachments).unwrap_or_else(|_| "[]".into()),
        raw: Some(raw.to_vec()),
        source: source.to_string(),
        received_at,
        mailbox_id: None,
    })
}

fn content_type_of(part: &mail_parser::MessagePart) -> String {
    part.content_type()
        .map(|ct| match &ct.c_subtype {
            Some(sub) => format!("{}/{}", ct.c_type, sub),
            None => ct.c_type.to_string(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
        .to_ascii_lowercase()
}

/// An attachment's file: its name, declared type and bytes, by its place in the
/// email's list of attachments.
pub fn attachment_file(raw: &[u8], index: usize) -> Option<(String, String, Vec<u8>)> {
    let message = MessageParser::default().parse(raw)?;
    let part = message.attachments().nth(index)?;
    Some((
        part.attachment_name().unwrap_or("attachment").to_string(),
        content_type_of(part),
        part.contents().to_vec(),
    ))
}

/// The message's inline pictures (`cid:` in its HTML) as `data:` addresses, keyed by
/// Content-ID. SVG is left out: it can carry script.
pub fn inline_images(raw: &[u8]) -> Vec<(String, String)> {
    use base64::Engine;
    let Some(message) = MessageParser::default().parse(raw) else {
        return Vec::new();
    };
    message
        .parts
        .iter()
        .filter_map(|part| {
            let cid = part
                .content_id()?
                .trim_matches(|c| c == '<' || c == '>')
                .to_string();
            let kind = content_type_of(part);
            if !kind.starts_with("image/") || kind.contains("svg") {
                return None;
            }
            let data = base64::engine::general_purpose::STANDARD.encode(part.contents());
            Some((cid, format!("data:{kind};base64,{data}")))
        })
        .collect()
}

/// A Message-ID in one canonical form, `<local@domain>`, so `abc@x` and `<abc@x>`
/// are the same email.
pub fn normalize_message_id(id: &str) -> Option<String> {
    let inner = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    if inner.is_empty() || inner.len() > 900 || inner.chars().any(char::is_whitespace) {
        None
    } else {
        Some(format!("<{inner}>"))
    }
}

/// A stable id for mail that has none: the same bytes always get the same id, so
/// importing them twice stores them once.
pub fn synthesized_message_id(raw: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(raw));
    format!("<{}@synthesized.triage.invalid>", &digest[..40])
}

fn first_id(value: &HeaderValue) -> Option<String> {
    match value {
        HeaderValue::Text(t) => normalize_message_id(t),
        HeaderValue::TextList(list) => list.iter().find_map(|t| normalize_message_id(t)),
        _ => None,
    }
}

fn addresses(address: Option<&Address>) -> String {
    address
        .map(|a| {
            a.iter()
                .filter_map(|addr| addr.address.as_deref())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Dates before e-mail was common, or more than a day in the future, are typos or
/// broken clocks; the arrival time is the better guess.
fn plausible_date(ms: i64, arrival_ms: i64) -> bool {
    const YEAR_1990: i64 = 631_152_000_000;
    (YEAR_1990..=arrival_ms + 86_400_000).contains(&ms)
}

/// The first line of a message is a header (`Name: value`), perhaps after an mbox
/// `From ` line. Binary junk and plain text files are not mail.
fn starts_like_a_header(raw: &[u8]) -> bool {
    let mut lines = raw.split(|b| *b == b'\n');
    let mut first = lines.next().unwrap_or_default();
    if first.starts_with(b"From ") {
        first = lines.next().unwrap_or_default();
    }
    let Some(colon) = first.iter().position(|b| *b == b':') else {
        return false;
    };
    colon > 0
        && first[..colon]
            .iter()
            .all(|b| b.is_ascii_graphic() && *b != b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const MAX: usize = 1_000_000;

    fn parse(raw: &[u8]) -> Result<NewEmail, Rejection> {
        parse_raw(raw, NOW, MAX, "test")
    }

    #[test]
    fn a_plain_message_gives_its_fields() {
        let e = parse(b"Message-ID: <a1@shop.example>\r\nFrom: \"Ann Lee\" <ann@shop.example>\r\nTo: support@n.example, b@n.example\r\nCc: boss@shop.example\r\nSubject: Where is my order?\r\nDate: Tue, 3 Nov 2026 10:00:00 +0100\r\n\r\nHello,\r\norder SO-1 is late.\r\n").unwrap();
        assert_eq!(e.message_id, "<a1@shop.example>");
        assert_eq!(
            (e.from_name.as_str(), e.from_address.as_str()),
            ("Ann Lee", "ann@shop.example")
        );
        assert_eq!(e.to_addresses, "support@n.example, b@n.example");
        assert_eq!(e.cc_addresses, "boss@shop.example");
        assert_eq!(e.subject, "Where is my order?");
        assert_eq!(e.received_at, 1_793_696_400_000);
        assert!(e.body_text.contains("order SO-1 is late."));
        assert_eq!(e.thread_key, e.message_id);
    }

    #[test]
    fn quoted_printable_base64_and_legacy_charsets_are_decoded() {
        let qp = parse(b"From: a@x.example\r\nSubject: =?ISO-8859-1?Q?R=E9clamation?=\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nJ'ai re=E7u un colis ab=EEm=E9.\r\n").unwrap();
        assert_eq!(qp.subject, "Réclamation");
        assert!(
            qp.body_text.contains("J'ai reçu un colis abîmé."),
            "{}",
            qp.body_text
        );
        let b64 = parse(b"From: a@x.example\r\nContent-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8g4oCcd29ybGTigJ0=\r\n").unwrap();
        assert!(b64.body_text.starts_with("Hello "), "{}", b64.body_text);
    }

    #[test]
    fn html_only_mail_gets_readable_text_and_safe_html() {
        let e = parse(b"From: a@x.example\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Please <b>cancel</b> my order.</p><script>alert(1)</script><img src=\"https://t.example/p.gif\"></body></html>").unwrap();
        assert!(
            e.body_text.contains("Please cancel my order."),
            "{}",
            e.body_text
        );
        let html = e.body_html.unwrap();
        assert!(
            html.contains("<b>cancel</b>") && !html.contains("script"),
            "{html}"
        );
        // The remote image is kept for a reader who asks for it; showing the mail
        // blocks it otherwise.
        assert!(html.contains("t.example"), "{html}");
        let shown = sanitize_html(&html, false);
        assert!(!shown.html.contains("t.example") && shown.blocked_images == 1);
    }

    #[test]
    fn attachments_are_listed_with_name_type_and_size() {
        let raw = b"From: a@x.example\r\nSubject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: application/pdf; name=\"INV-7.pdf\"\r\nContent-Disposition: attachment; filename=\"INV-7.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";
        let e = parse(raw).unwrap();
        let list: Vec<Attachment> = serde_json::from_str(&e.attachments).unwrap();
        assert_eq!(
            list,
            vec![Attachment {
                name: "INV-7.pdf".into(),
                content_type: "application/pdf".into(),
                size: 9
            }]
        );
        assert_eq!(e.body_text, "See attached.");
        assert_eq!(
            e.raw.as_deref(),
            Some(&raw[..]),
            "the raw message is kept whole"
        );
    }

    #[test]
    fn a_missing_message_id_is_synthesized_stably_from_the_bytes() {
        let raw = b"From: a@x.example\r\nSubject: hi\r\n\r\nbody\r\n";
        let a = parse(raw).unwrap();
        assert_eq!(a.message_id, parse(raw).unwrap().message_id);
        assert!(a.message_id.ends_with("@synthesized.triage.invalid>"));
        assert_ne!(
            a.message_id,
            parse(b"From: a@x.example\r\nSubject: hi\r\n\r\nbody!\r\n")
                .unwrap()
                .message_id
        );
    }

    #[test]
    fn a_missing_or_impossible_date_falls_back_to_arrival() {
        assert_eq!(
            parse(b"From: a@x.example\r\n\r\nx").unwrap().received_at,
            NOW
        );
        assert_eq!(
            parse(b"From: a@x.example\r\nDate: yesterday-ish\r\n\r\nx")
                .unwrap()
                .received_at,
            NOW
        );
        assert_eq!(
            parse(b"From: a@x.example\r\nDate: Mon, 1 Jan 2199 00:00:00 +0000\r\n\r\nx")
                .unwrap()
                .received_at,
            NOW
        );
    }

    #[test]
    fn replies_join_the_thread_of_their_first_message() {
        let e = parse(b"From: a@x.example\r\nMessage-ID: <3@x>\r\nIn-Reply-To: <2@x>\r\nReferences: <1@x> <2@x>\r\n\r\nx").unwrap();
        assert_eq!(e.in_reply_to.as_deref(), Some("<2@x>"));
        assert_eq!(e.thread_key, "<1@x>");
    }

    #[test]
    fn eight_bit_headers_and_unknown_charsets_do_not_lose_the_message() {
        let e = parse(b"From: J\xc3\xbcrgen <j@x.example>\r\nSubject: Gr\xfc\xdfe\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nBody text\r\n").unwrap();
        assert_eq!(e.from_name, "Jürgen");
        assert!(!e.subject.is_empty());
        assert!(e.body_text.contains("Body text"));
    }

    #[test]
    fn malformed_mime_keeps_what_can_be_read() {
        // A multipart message whose closing boundary never comes, with a broken
        // base64 part and a header line without a colon.
        let raw = b"From: a@x.example\r\nSubject: broken\r\nthis line is not a header\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nThe readable part.\r\n--zz\r\nContent-Type: application/pdf; name=\"x.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%not base64%%%\r\n";
        let e = parse(raw).unwrap();
        assert_eq!(e.from_address, "a@x.example");
        assert!(
            e.body_text.contains("The readable part."),
            "{}",
            e.body_text
        );
        assert_eq!(e.raw.as_deref(), Some(&raw[..]));
    }

    #[test]
    fn a_message_with_no_body_is_kept() {
        let e = parse(b"From: a@x.example\r\nSubject: (empty)\r\n\r\n").unwrap();
        assert_eq!(e.body_text, "");
    }

    #[test]
    fn empty_oversized_and_junk_input_is_refused_with_a_reason() {
        assert_eq!(parse(b""), Err(Rejection::Empty));
        assert_eq!(parse(b"  \r\n"), Err(Rejection::Empty));
        let big = vec![b'a'; MAX + 1];
        assert!(matches!(parse(&big), Err(Rejection::TooLarge { .. })));
        assert!(matches!(
            parse(&[0u8, 159, 146, 150, 7, 0, 1]),
            Err(Rejection::NotEmail(_))
        ));
        assert!(matches!(
            parse(b"just some words\nand more"),
            Err(Rejection::NotEmail(_))
        ));
        let anonymous = parse(b"Subject: who sent me?\r\n\r\nx").unwrap();
        assert_eq!(anonymous.from_address, "", "mail without a sender is kept");
    }

    #[test]
    fn message_ids_are_compared_in_one_form() {
        assert_eq!(normalize_message_id(" abc@x "), Some("<abc@x>".into()));
        assert_eq!(normalize_message_id("<abc@x>"), Some("<abc@x>".into()));
        assert_eq!(normalize_message_id("<>"), None);
        assert_eq!(normalize_message_id("a b@x"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any bytes: an email or a clear rejection, never a panic; whatever is
        /// accepted keeps the raw bytes whole.
        #[test]
        fn arbitrary_bytes_are_parsed_or_rejected_never_a_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
            with_header in proptest::prelude::any::<bool>(),
        ) {
            let mut raw = if with_header {
                b"From: a@b.example\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n".to_vec()
            } else {
                Vec::new()
            };
            raw.extend_from_slice(&body);
            if let Ok(email) = parse_raw(&raw, 0, 1 << 20, "test") {
                proptest::prop_assert_eq!(email.raw.as_deref(), Some(&raw[..]));
            }
        }
    }
}
