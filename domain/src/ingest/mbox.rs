//! Splits an mbox file into messages (mboxo/mboxrd `From ` lines, as mail-parser
//! reads them). A truncated last message is still returned: whether it is an email
//! is for the parser to say.

use std::io::BufRead;

/// Each message's raw bytes, in file order. Read errors end the iteration with the
/// error so the caller can report how far it got.
pub fn messages<R: BufRead>(reader: R) -> impl Iterator<Item = std::io::Result<Vec<u8>>> {
    mail_parser::mailbox::mbox::MessageIterator::new(reader).map(|m| m.map(|m| m.unwrap_contents()))
}

/// True when the bytes look like an mbox file rather than one message.
pub fn looks_like_mbox(head: &[u8]) -> bool {
    head.starts_with(b"From ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mbox_splits_into_its_messages_even_when_cut_short() {
        let mbox = b"From a@x Thu Nov  5 10:00:00 2026\nFrom: a@x.example\nSubject: one\n\nfirst\n>From here\n\nFrom b@x Thu Nov  5 11:00:00 2026\nFrom: b@x.example\nSubject: two\n\nsecond, cut sh";
        let all: Vec<Vec<u8>> = messages(&mbox[..]).map(Result::unwrap).collect();
        assert_eq!(all.len(), 2);
        assert!(
            String::from_utf8_lossy(&all[0]).contains("From here"),
            "mboxrd quoting is undone"
        );
        assert!(String::from_utf8_lossy(&all[1]).ends_with("cut sh"));
    }
}
