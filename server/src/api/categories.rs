use axum::Json;
use axum::extract::State;
use domain::role::Role;
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::ApiCaller;
use super::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub color: String,
}

#[derive(Serialize, ToSchema)]
pub struct CategoryList {
    pub items: Vec<Category>,
}

/// The active categories.
#[utoipa::path(get, path = "/api/v1/categories", tag = "categories",
    responses((status = 200, body = CategoryList), (status = 401, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<CategoryList>, ApiError> {
    caller.require(Role::Ingest)?;
    let items = domain::categories::list(&state.db)
        .await?
        .into_iter()
        .map(|c| Category {
            id: c.id,
            name: c.name,
            description: c.description,
            color: c.color,
        })
        .collect();
    Ok(Json(CategoryList { items }))
}
