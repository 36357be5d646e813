//! The preferences this browser keeps in cookies (colour theme, time zone) and the
//! server reads, so it renders each page in them; the page carries what the server
//! used on `<html>` for the browser to read back.

/// The value of cookie `name` in a `Cookie` header (none when empty).
pub fn in_header(header: &str, name: &str) -> Option<String> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// The value of cookie `name` on the request being rendered.
#[cfg(feature = "ssr")]
pub fn of_request(name: &str) -> Option<String> {
    leptos::prelude::use_context::<http::request::Parts>().and_then(|parts| {
        parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|header| in_header(header, name))
    })
}

/// What the server put on the page's `<html>` as attribute `name`.
#[cfg(not(feature = "ssr"))]
pub fn page_attribute(name: &str) -> Option<String> {
    leptos::prelude::document()
        .document_element()
        .and_then(|root| root.get_attribute(name))
}

/// Keeps `name=value` in this browser for a year, for every page.
#[cfg(feature = "hydrate")]
pub fn remember(name: &str, value: &str) {
    use wasm_bindgen::JsCast;
    if let Ok(html) = leptos::prelude::document().dyn_into::<web_sys::HtmlDocument>() {
        let _ = html.set_cookie(&format!(
            "{name}={value}; Path=/; Max-Age=31536000; SameSite=Lax"
        ));
    }
}

/// The value of cookie `name` this browser holds.
#[cfg(feature = "hydrate")]
pub fn held(name: &str) -> Option<String> {
    use wasm_bindgen::JsCast;
    let html = leptos::prelude::document()
        .dyn_into::<web_sys::HtmlDocument>()
        .ok()?;
    in_header(&html.cookie().ok()?, name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cookie_is_found_by_its_name_and_an_empty_one_is_none() {
        let header = "a=1; triage_tz=Europe/Paris ; b=2";
        assert_eq!(
            super::in_header(header, "triage_tz").as_deref(),
            Some("Europe/Paris")
        );
        assert_eq!(super::in_header(header, "a").as_deref(), Some("1"));
        assert_eq!(super::in_header("triage_tz=", "triage_tz"), None);
        assert_eq!(super::in_header("", "a"), None);
    }
}
