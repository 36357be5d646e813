//! HTML mail made safe to show: no scripts, styles, event handlers or forms, links
//! open in a new tab without a referrer, and remote images removed unless the reader
//! asked for them (they can track when and where mail is read).

use std::collections::HashSet;

pub struct SanitizedHtml {
    pub html: String,
    /// Remote images that were removed.
    pub blocked_images: usize,
}

pub fn sanitize_html(html: &str, allow_remote_images: bool) -> SanitizedHtml {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let blocked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&blocked);
    let mut builder = ammonia::Builder::default();
    builder
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_schemes(HashSet::from(["http", "https", "mailto", "cid", "data"]))
        .add_generic_attributes(["align", "width", "height"])
        .attribute_filter(move |element, attribute, value| {
            let remote = value.starts_with("http://")
                || value.starts_with("https://")
                || value.starts_with("//");
            if element == "img" && attribute == "src" && remote && !allow_remote_images {
                counter.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Some(value.into())
        });
    let html = builder.clean(html).to_string();
    SanitizedHtml {
        html,
        blocked_images: blocked.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_styles_are_removed() {
        let out = sanitize_html(
            r#"<p onclick="steal()">Hi<script>alert(1)</script><style>p{}</style><a href="javascript:x()">x</a></p>"#,
            false,
        );
        assert!(
            !out.html.contains("script") && !out.html.contains("onclick"),
            "{}",
            out.html
        );
        assert!(
            !out.html.contains("javascript:") && !out.html.contains("<style"),
            "{}",
            out.html
        );
        assert!(out.html.contains("Hi"));
    }

    #[test]
    fn remote_images_are_blocked_until_asked_for() {
        let html = r#"<img src="https://tracker.example/p.gif"><img src="cid:logo">"#;
        let blocked = sanitize_html(html, false);
        assert_eq!(blocked.blocked_images, 1);
        assert!(!blocked.html.contains("tracker.example") && blocked.html.contains("cid:logo"));
        let shown = sanitize_html(html, true);
        assert!(shown.html.contains("tracker.example"));
    }
}
