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
        // A relative address would load from Triage itself, with the reader's cookies.
        .url_relative(ammonia::UrlRelative::Deny)
        .add_generic_attributes(["align", "width", "height"])
        .attribute_filter(move |element, attribute, value| {
            if element == "img" && attribute == "src" {
                return match image_source(value) {
                    ImageSource::Embedded => Some(value.into()),
                    ImageSource::Remote if allow_remote_images => Some(value.into()),
                    ImageSource::Remote | ImageSource::Unknown => {
                        counter.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                };
            }
            // `data:` is for pictures only: as a link it can carry a page with script.
            if starts_with_ignoring_case(value.trim_start(), "data:") {
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

/// Where an image comes from, decided by an allow-list: only what travels inside the
/// message loads without asking; anything unrecognised counts as remote. Browsers
/// forgive a lot (`HTTPS:`, leading spaces, `//host`, `\\host`), so the check does
/// not try to list the forms of "remote".
enum ImageSource {
    /// A part of the message (`cid:`) or a picture inside the address (`data:image/…`,
    /// never SVG, which can carry script).
    Embedded,
    /// `http:` or `https:`.
    Remote,
    /// Anything else: protocol-relative, backslashes, relative paths, other schemes.
    Unknown,
}

fn image_source(value: &str) -> ImageSource {
    let v = value.trim_start_matches(|c: char| c.is_whitespace() || c.is_control());
    if starts_with_ignoring_case(v, "cid:")
        || (starts_with_ignoring_case(v, "data:image/")
            && !starts_with_ignoring_case(v, "data:image/svg"))
    {
        ImageSource::Embedded
    } else if starts_with_ignoring_case(v, "http://") || starts_with_ignoring_case(v, "https://") {
        ImageSource::Remote
    } else {
        ImageSource::Unknown
    }
}

fn starts_with_ignoring_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
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

    /// Every form of remote content a browser would still fetch: none survives
    /// unless the reader asked for images, and even then only plain `img src`.
    #[test]
    fn remote_content_is_removed_in_every_form() {
        let hostile = [
            r#"<img src="HTTPS://tracker.example/1.gif">"#,
            r#"<img src="  https://tracker.example/2.gif">"#,
            "<img src=\"\t\nhttps://tracker.example/3.gif\">",
            r#"<img src="//tracker.example/4.gif">"#,
            r#"<img src="\\tracker.example/5.gif">"#,
            r#"<img src="/\tracker.example/6.gif">"#,
            r#"<img srcset="https://tracker.example/7.gif 1x">"#,
            r#"<table background="https://tracker.example/8.gif"><tr><td>x</td></tr></table>"#,
            r#"<body background="https://tracker.example/9.gif">"#,
            r#"<p style="background:url(https://tracker.example/10.gif)">x</p>"#,
            r#"<style>@import url(https://tracker.example/11.css);</style>"#,
            r#"<link rel="stylesheet" href="https://tracker.example/12.css">"#,
            r#"<meta http-equiv="refresh" content="0;url=https://tracker.example/13">"#,
            r#"<svg><image href="https://tracker.example/14.gif"/></svg>"#,
            r#"<video poster="https://tracker.example/15.gif"></video>"#,
            r#"<input type="image" src="https://tracker.example/16.gif">"#,
            r#"<img src="/api/v1/emails">"#,
            r#"<iframe src="https://tracker.example/17"></iframe>"#,
            r#"<object data="https://tracker.example/18"></object>"#,
        ];
        for html in hostile {
            let out = sanitize_html(html, false);
            assert!(
                !out.html.contains("tracker.example") && !out.html.contains("/api/"),
                "{html} -> {}",
                out.html
            );
        }
        // Asked for, a plain remote image loads; the other forms still do not.
        assert!(
            sanitize_html(hostile[0], true)
                .html
                .contains("tracker.example")
        );
        assert!(
            !sanitize_html(hostile[3], true)
                .html
                .contains("tracker.example")
        );
    }

    #[test]
    fn script_carried_by_data_and_svg_is_removed() {
        for html in [
            r#"<a href="data:text/html,<script>alert(1)</script>">x</a>"#,
            r#"<a href=" DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>"#,
            r#"<img src="data:image/svg+xml,<svg onload=alert(1)>">"#,
            r#"<svg><script>alert(1)</script></svg>"#,
            r#"<img src=x onerror="alert(1)">"#,
            r#"<a href="jAvAsCrIpT:alert(1)">x</a>"#,
        ] {
            let out = sanitize_html(html, true);
            let lower = out.html.to_lowercase();
            assert!(
                !lower.contains("alert")
                    && !lower.contains("data:")
                    && !lower.contains("javascript"),
                "{html} -> {}",
                out.html
            );
        }
        // A picture inside the message still shows.
        let png = r#"<img src="data:image/png;base64,iVBORw0KGgo=">"#;
        assert!(sanitize_html(png, false).html.contains("data:image/png"));
    }

    /// The tags of serialized HTML with their attributes (name, value). Text never
    /// holds a raw `<` (the serializer escapes it) but quoted values may, so this
    /// follows quotes.
    fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut out = Vec::new();
        let mut chars = html.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '<' {
                continue;
            }
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '>' {
                    break;
                }
                name.push(c.to_ascii_lowercase());
                chars.next();
            }
            let mut attributes = Vec::new();
            loop {
                while chars.peek().is_some_and(|c| c.is_whitespace() || *c == '/') {
                    chars.next();
                }
                match chars.peek() {
                    None => break,
                    Some('>') => {
                        chars.next();
                        break;
                    }
                    _ => {}
                }
                let mut attribute = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '=' || c == '>' {
                        break;
                    }
                    attribute.push(c.to_ascii_lowercase());
                    chars.next();
                }
                let mut value = String::new();
                if chars.peek() == Some(&'=') {
                    chars.next();
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        for c in chars.by_ref() {
                            if c == '"' {
                                break;
                            }
                            value.push(c);
                        }
                    }
                }
                attributes.push((attribute, value));
            }
            out.push((name, attributes));
        }
        out
    }

    /// What "inert" means for sanitized mail: no element that runs, loads or
    /// submits anything, no event handler, no script or non-image `data:` address,
    /// and (unless asked for) no image from elsewhere. Written against the output,
    /// independently of how the sanitizer works.
    fn assert_inert(html: &str, remote_images: bool) {
        const ACTIVE: [&str; 14] = [
            "script", "style", "iframe", "frame", "object", "embed", "link", "meta", "base",
            "form", "svg", "math", "video", "audio",
        ];
        for (name, attributes) in tags(html) {
            let name = name.trim_start_matches('/');
            assert!(!ACTIVE.contains(&name), "<{name}> in {html:?}");
            for (attribute, value) in attributes {
                assert!(
                    !attribute.starts_with("on")
                        && !["srcset", "background", "style", "formaction", "poster"]
                            .contains(&attribute.as_str()),
                    "{attribute}= in {html:?}"
                );
                let value = value.trim().to_ascii_lowercase();
                let embedded_image =
                    value.starts_with("data:image/") && !value.starts_with("data:image/svg");
                assert!(
                    !value.starts_with("javascript:")
                        && !value.starts_with("vbscript:")
                        && (!value.starts_with("data:") || embedded_image),
                    "{attribute}={value:?} in {html:?}"
                );
                if attribute == "src" && !remote_images {
                    assert!(
                        value.starts_with("cid:") || embedded_image,
                        "an image from elsewhere: {value:?} in {html:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_inertness_check_itself_catches_what_it_should() {
        let caught = |html: &str| std::panic::catch_unwind(|| assert_inert(html, false)).is_err();
        assert!(caught("<p onclick=\"x()\">hi</p>"));
        assert!(caught("<img src=\"https://t.example/p.gif\">"));
        assert!(caught("<a href=\"javascript:x()\">a</a>"));
        assert!(caught("<script>x()</script>"));
        assert!(!caught(
            "<p title=\"a <script> onclick=x\">javascript: is text here</p>"
        ));
        assert!(!caught(
            "<img src=\"cid:logo\"><a href=\"https://shop.example\">shop</a>"
        ));
    }

    /// Pieces hostile mail is made of, for the generator to combine.
    const PIECES: [&str; 24] = [
        "<img src=",
        "<script>",
        "</script>",
        "<svg onload=",
        "<a href=",
        "javascript:",
        "https://t.example/p.gif",
        "//t.example/x",
        "\\\\t.example",
        "\"",
        "'",
        ">",
        "<",
        " onerror=",
        "<style>",
        "@import url(",
        "<table background=",
        " srcset=",
        "data:text/html,",
        "data:image/svg+xml,",
        "<!--",
        "-->",
        "<math><mtext>",
        "&#x3c;",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic_and_come_out_inert(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            images in proptest::prelude::any::<bool>(),
        ) {
            let html = String::from_utf8_lossy(&bytes);
            assert_inert(&sanitize_html(&html, images).html, images);
        }

        #[test]
        fn hostile_pieces_in_any_order_come_out_inert(
            picks in proptest::collection::vec((0..PIECES.len(), "[a-z ]{0,6}"), 0..40),
            images in proptest::prelude::any::<bool>(),
        ) {
            let html: String = picks.iter().map(|(i, filler)| format!("{}{filler}", PIECES[*i])).collect();
            assert_inert(&sanitize_html(&html, images).html, images);
        }
    }
}
