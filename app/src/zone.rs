//! Times in the viewer's time zone. The browser tells the server its IANA zone in a
//! cookie (`triage_tz`), set by any page it hydrates, the sign-in page first of all;
//! the server renders every time in that zone (chrono-tz) and names the zone on
//! `<html data-tz>` and once in the top bar. Times the browser renders later use its
//! own clock rules for the same zone. Without the cookie (or for a zone the server
//! does not know) times are in UTC, and the page says so.

use leptos::prelude::*;

pub const COOKIE: &str = "triage_tz";

/// The zone a page shows its times in: `"UTC"` or an IANA name (`"Europe/Paris"`).
/// `App` provides it; [`crate::format::timestamp`] reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewerZone(pub String);

impl ViewerZone {
    fn utc() -> ViewerZone {
        ViewerZone("UTC".into())
    }

    /// The zone of the page being rendered: on the server the request's cookie (when
    /// it names a zone the server knows); in the browser what the server rendered.
    pub fn of_page() -> ViewerZone {
        #[cfg(feature = "ssr")]
        let zone =
            crate::cookies::of_request(COOKIE).filter(|name| name.parse::<chrono_tz::Tz>().is_ok());
        #[cfg(not(feature = "ssr"))]
        let zone = crate::cookies::page_attribute("data-tz");
        zone.map(ViewerZone).unwrap_or_else(ViewerZone::utc)
    }

    /// The zone `App` provided, or UTC outside a page.
    pub fn current() -> ViewerZone {
        use_context::<ViewerZone>().unwrap_or_else(ViewerZone::utc)
    }

    /// Minutes east of UTC in this zone at the instant `ms`.
    pub fn offset_minutes(&self, ms: i64) -> i64 {
        if self.0 == "UTC" {
            return 0;
        }
        #[cfg(feature = "ssr")]
        {
            use chrono::{Offset, TimeZone};
            let Ok(zone) = self.0.parse::<chrono_tz::Tz>() else {
                return 0;
            };
            zone.timestamp_millis_opt(ms)
                .single()
                .map(|t| t.offset().fix().local_minus_utc() as i64 / 60)
                .unwrap_or(0)
        }
        #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
        {
            // The browser's zone is the page's (the cookie came from it).
            let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
            -(date.get_timezone_offset() as i64)
        }
        #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
        {
            let _ = ms;
            0
        }
    }
}

/// The zone a `Cookie` header names, if any.
pub fn zone_in_cookie_header(header: &str) -> Option<String> {
    crate::cookies::in_header(header, COOKIE)
}

/// Tells the server the browser's zone, for the pages it renders from now on. The
/// page shown keeps the zone it was rendered in (it says which), so nothing on it
/// changes under the reader.
#[cfg(feature = "hydrate")]
pub fn tell_the_server() {
    let options = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new())
        .resolved_options();
    let Some(zone) = js_sys::Reflect::get(&options, &"timeZone".into())
        .ok()
        .and_then(|z| z.as_string())
    else {
        return;
    };
    if crate::cookies::held(COOKIE).as_deref() != Some(zone.as_str()) {
        crate::cookies::remember(COOKIE, &zone);
    }
}

/// The zone, once in the top bar: every time on the page is in it.
#[component]
pub fn ZoneNote() -> impl IntoView {
    let zone = ViewerZone::current().0;
    view! {
        <span class="zone-note" title="Every time on this page is in this time zone">
            {zone}
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_names_the_zone() {
        assert_eq!(
            zone_in_cookie_header("a=1; triage_tz=Europe/Paris; b=2").as_deref(),
            Some("Europe/Paris")
        );
        assert_eq!(zone_in_cookie_header("triage_tz="), None);
        assert_eq!(zone_in_cookie_header("other=Europe/Paris"), None);
    }

    /// The server's rules (the browser's are its own).
    #[cfg(feature = "ssr")]
    #[test]
    fn offsets_follow_the_zone_and_its_summer_time() {
        let paris = ViewerZone("Europe/Paris".into());
        let winter = 1_767_225_600_000; // 2026-01-01 00:00 UTC
        let summer = 1_782_864_000_000; // 2026-07-01 00:00 UTC
        assert_eq!(paris.offset_minutes(winter), 60);
        assert_eq!(paris.offset_minutes(summer), 120);
        assert_eq!(
            ViewerZone("Asia/Kolkata".into()).offset_minutes(summer),
            330
        );
        assert_eq!(ViewerZone::utc().offset_minutes(summer), 0);
        assert_eq!(
            ViewerZone("Nowhere/Atlantis".into()).offset_minutes(summer),
            0
        );
    }
}
