use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Triage API", description = "Email triage: ingest, queue, labels, jobs and models."),
    paths(super::analytics::report, super::analytics::view_csv, super::categories::list, super::emails::list, super::emails::get_one, super::emails::label, super::emails::undo_label, super::emails::export_labels, super::emails::export_predictions, super::ingest::create, super::ingest::create_raw, super::jobs::create, super::jobs::list, super::jobs::get_one, super::jobs::failures, super::jobs::cancel, super::jobs::retry, super::models::list, super::models::promote, super::models::evaluate, super::models::rollback, super::users::list, super::mailboxes::list, super::mailboxes::create, super::mailboxes::get_one, super::mailboxes::update, super::mailboxes::set_enabled, super::mailboxes::test, super::mailboxes::unreadable, super::mailboxes::sync, super::mailboxes::reply, super::mailboxes::replies, super::drafts::draft, super::mailboxes::send_again),
    modifiers(&BearerAuth),
    tags((name = "analytics"), (name = "emails"), (name = "labels"), (name = "categories"), (name = "jobs"), (name = "models"), (name = "admin"), (name = "mailboxes"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
