//! Reading a small JSON request body: the content type is checked, the size bounded,
//! a body that is not JSON is a 400 and a wrong field a 422 that names it.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::ingest::{read_body, require_content_type};

pub async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    require_content_type(headers, &["application/json"])?;
    let bytes = read_body(body, limit).await?;
    let mut json = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let field = e.path().to_string();
        let message = e.inner().to_string();
        if e.inner().is_syntax() || e.inner().is_eof() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not JSON: {message}"),
            )
        } else {
            ApiError::invalid(&field, format!("{field}: {message}"))
        }
    })
}
