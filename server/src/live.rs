//! `GET /events/emails`: server-sent events that tell an open queue new mail has
//! arrived. Each connection looks at the newest email id once a second, so it works
//! on both databases and across several server processes without a message bus.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

use crate::state::AppState;

pub async fn emails(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures::stream::unfold((state, None::<i64>), |(state, last)| async move {
        loop {
            let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM emails")
                .fetch_one(&state.db.pool)
                .await
                .unwrap_or(last);
            match (last, newest) {
                (Some(before), Some(now)) if now > before => {
                    let event = Event::default().event("emails").data(now.to_string());
                    return Some((Ok(event), (state, newest)));
                }
                (None, _) => {
                    // First look: remember where we are, tell nothing.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    return Some((
                        Ok(Event::default().comment("watching")),
                        (state, newest.or(Some(0))),
                    ));
                }
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
