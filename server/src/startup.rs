//! Builds the application: database, migrations, router, listener.

use domain::jobs::worker::{Worker, WorkerHandle};
use std::net::SocketAddr;
use std::sync::Arc;

use app::{App, shell};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use domain::db::{Db, DbError};
use domain::settings::Settings;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::auth::session_store::DbSessionStore;
use crate::auth::{self, SESSION_COOKIE};
use crate::observability;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("scorer configuration: {0}")]
    Scorer(#[from] domain::error::DomainError),
    #[error("Leptos configuration: {0}")]
    Leptos(String),
}

/// Starts this process's mailbox runner (reading mailboxes, sending replies), after
/// bringing the mailboxes of `triage.toml` into the database.
pub async fn start_mail(
    db: &Db,
    settings: &Settings,
    secrets: &domain::secrets::SecretBox,
    scorer: &domain::scoring::arrival::ArrivalScorer,
) -> Result<domain::mailboxes::runner::MailHandle, StartError> {
    use domain::mailboxes::{self, runner};
    mailboxes::apply_config(db, secrets, &settings.mailboxes).await?;
    Ok(runner::spawn(
        db.clone(),
        secrets.clone(),
        mail_settings(settings, scorer),
    ))
}

/// How this process reads mail: new mail wakes the arrival scorer; S3 is where the
/// settings say unless a mailbox names its own.
fn mail_settings(
    settings: &Settings,
    scorer: &domain::scoring::arrival::ArrivalScorer,
) -> domain::mailboxes::runner::RunnerSettings {
    let scorer = scorer.clone();
    let on_new_mail = Arc::new(move || scorer.new_mail());
    domain::mailboxes::runner::RunnerSettings::new(settings.max_message_bytes, on_new_mail)
        .with_aws(settings.s3_address(), settings.aws_credentials())
}

pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    pub db: Db,
}

/// Connects to the database and brings its schema up to date, loudly.
pub async fn open_database(settings: &Settings) -> Result<Db, DbError> {
    let db = Db::connect(&settings.database_url(), settings.db_max_connections).await?;
    db.migrate().await?;
    Ok(db)
}

impl Application {
    /// Everything but serving: an error here stops the program before it listens.
    pub async fn build(settings: Settings, addr: &str) -> Result<Application, StartError> {
        let db = open_database(&settings).await?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let mut leptos_options = leptos::config::get_configuration(None)
            .map_err(|e| StartError::Leptos(e.to_string()))?
            .leptos_options;
        if let Ok(local) = listener.local_addr() {
            leptos_options.site_addr = local;
        }
        domain::scoring::active::apply_pin(&db, settings.pinned_scorer()?).await?;
        let credentials = settings.aws_credentials();
        let jobs = if settings.jobs_in_server {
            Worker::new(db.clone(), credentials.clone(), settings.worker_settings()).spawn()
        } else {
            WorkerHandle::detached()
        };
        let api_rate = Arc::new(crate::limits::ApiRateLimit::from_settings(&settings));
        let secrets = settings.secret_box()?;
        let generator = match settings.generator_config()? {
            Some(config) => Some(domain::drafts::Generator::connect(config, &credentials).await),
            None => None,
        };
        let scorer = domain::scoring::arrival::ArrivalScorer::start(db.clone(), credentials);
        let mail = if settings.jobs_in_server {
            start_mail(&db, &settings, &secrets, &scorer).await?
        } else {
            // `triage worker` reads the mail; a sync asked of an S3 mailbox runs here.
            domain::mailboxes::runner::MailHandle::without_tasks(
                db.clone(),
                secrets.clone(),
                mail_settings(&settings, &scorer),
            )
        };
        let state = AppState {
            db: db.clone(),
            settings: Arc::new(settings),
            leptos_options,
            metrics: observability::metrics_handle(),
            scorer,
            jobs,
            api_rate,
            secrets,
            mail,
            generator,
        };
        let router = router(state);
        spawn_session_cleanup(db.clone());
        Ok(Application {
            listener,
            router,
            db,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
    }
}

fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let db = state.db.clone();
    let settings = Arc::clone(&state.settings);
    let scorer = state.scorer.clone();
    let jobs = state.jobs.clone();
    let secrets = state.secrets.clone();
    let mail = state.mail.clone();
    let generator = state.generator.clone();
    let session_layer = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.settings.cookie_secure)
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
            state.settings.session_idle_minutes,
        )));

    // The site's own files (wasm, script, styles) are served here rather than by
    // leptos_axum's file handler: that one applies the ResponseOptions of whatever
    // page is rendering on the same thread at the time, taking its headers (the
    // Content-Security-Policy with its nonce) and status (seen under 16 concurrent
    // requests: a page answered without its policy, a .wasm file with a page's).
    let site_files = tower_http::services::ServeDir::new(format!(
        "{}/{}",
        state.leptos_options.site_root, state.leptos_options.site_pkg_dir
    ));
    // Layers run outside-in from the bottom of this list: trace, metrics, security
    // headers, body limit, session, CSRF, then the user/role guard, then the route.
    Router::new()
        .route("/healthz", get(observability::healthz))
        .route("/readyz", get(observability::readyz))
        .route("/metrics", get(observability::serve_metrics))
        .route("/login", post(auth::handlers::login))
        .route("/logout", post(auth::handlers::logout))
        .route("/account/password", post(auth::account::change_password))
        .route(
            "/account/sign-out-everywhere",
            post(auth::account::sign_out_everywhere),
        )
        .route(
            "/import/upload",
            post(crate::upload::upload)
                .layer(DefaultBodyLimit::max(state.settings.max_upload_bytes)),
        )
        .route("/events/emails", get(crate::live::emails))
        .route("/emails/{id}/html", get(crate::mail_frame::serve))
        .route("/emails/{id}/original.eml", get(crate::downloads::original))
        .route(
            "/emails/{id}/attachments/{index}",
            get(crate::downloads::attachment),
        )
        .route(
            "/admin/mailboxes/{id}/unreadable/{message}",
            get(crate::downloads::unreadable),
        )
        .nest("/api/v1", crate::api::router())
        .nest_service("/pkg", site_files)
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(db.clone());
                provide_context(Arc::clone(&settings));
                provide_context(scorer.clone());
                provide_context(jobs.clone());
                provide_context(secrets.clone());
                provide_context(mail.clone());
                provide_context(generator.clone());
            },
            {
                let options = state.leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(from_fn_with_state(
            state.clone(),
            auth::guard::resolve_user_and_guard_pages,
        ))
        .layer(from_fn_with_state(state.clone(), auth::csrf::protect))
        .layer(session_layer)
        .layer(from_fn_with_state(
            state.clone(),
            crate::limits::limit_request_body,
        ))
        .layer(from_fn_with_state(
            state.clone(),
            crate::security_headers::add_security_headers,
        ))
        .layer(from_fn(observability::track_requests))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Expired sessions are deleted hourly by whichever process gets there.
fn spawn_session_cleanup(db: Db) {
    tokio::spawn(async move {
        let store = DbSessionStore::new(db);
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            if let Err(e) = store.delete_expired().await {
                tracing::warn!(error = %e, "could not delete expired sessions");
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
