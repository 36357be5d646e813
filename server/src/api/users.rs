use axum::Json;
use axum::extract::State;
use domain::role::Role;
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::ApiCaller;
use super::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub active: bool,
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<User>,
}

/// Everyone who can sign in (admins only).
#[utoipa::path(get, path = "/api/v1/users", tag = "admin",
    responses((status = 200, body = UserList), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<UserList>, ApiError> {
    caller.require(Role::Admin)?;
    let items = domain::users::list(&state.db)
        .await?
        .into_iter()
        .map(|u| User {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.to_string(),
            active: u.active,
        })
        .collect();
    Ok(Json(UserList { items }))
}
