//! `spawn_app`: the real server on port 0 with its own fresh database (a SQLite file
//! in a temporary folder, or a new PostgreSQL database that is dropped afterwards),
//! and a cookie-keeping client that behaves like a same-origin browser.

use std::path::PathBuf;

use domain::audit::Actor;
use domain::db::Db;
use domain::role::Role;
use domain::settings::Settings;
use domain::users::Username;
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::SecretString;
use server::startup::Application;
use sqlx::Connection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named test once per database: for `async fn NAME(app: TestApp)`, a
/// `mod NAME { fn sqlite(); fn postgres(); }`. The tests themselves are plain
/// functions, so rustfmt formats them.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await).await;
                }
            }
        )*
    };
}

/// Runs each named test once per database, for tests that start their own app (with
/// settings of their own): `async fn NAME(backend: Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            }
        )*
    };
}

pub struct TestApp {
    pub address: String,
    pub db: Db,
    pub client: reqwest::Client,
    pub settings: Settings,
    _database: TestDatabase,
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDatabase {
    pub url: String,
    sqlite_dir: Option<PathBuf>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> TestDatabase {
        let name = format!("triage_test_{}", random_suffix());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).expect("temp dir");
                TestDatabase {
                    url: format!("sqlite://{}/triage.db", dir.display()),
                    sqlite_dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let server = postgres_server_url();
                let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
                    .await
                    .expect("PostgreSQL must run on 127.0.0.1:5432 (set TRIAGE_TEST_POSTGRES_URL)");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                TestDatabase {
                    url: format!("{server}/{name}"),
                    sqlite_dir: None,
                    postgres: Some((server, name)),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((server, name)) = self.postgres.take() {
            // A runtime of its own: Drop cannot await, and the test's runtime may be
            // shutting down.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut admin) =
                        sqlx::PgConnection::connect(&format!("{server}/postgres")).await
                    {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut admin)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

pub fn postgres_server_url() -> String {
    std::env::var("TRIAGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| (b'a' + rng.gen_range(0..26)) as char)
        .collect()
}

/// 32 bytes of 7, base64: the tests' key for sealed secrets.
pub const TEST_SECRET_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

pub fn test_settings(database_url: &str) -> Settings {
    Settings {
        database_url: Some(SecretString::from(database_url.to_string())),
        db_max_connections: 5,
        login_max_failures: 3,
        // Tests page through whole filters with one token; the rate limit has tests of
        // its own (security.rs), which set it.
        api_requests_per_minute: 0,
        // The endpoint tests talk to `triage model-server` on loopback, which checks
        // no signature; fixed keys keep the AWS chain from probing for real ones.
        endpoint_access_key_id: Some("test-key".into()),
        endpoint_secret_access_key: Some(SecretString::from("test-secret".to_string())),
        // Mailbox passwords are sealed with this key (never a key file in the tree).
        secret_key: Some(SecretString::from(TEST_SECRET_KEY.to_string())),
        ..Settings::default()
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// `spawn_app` with some settings changed first.
pub async fn spawn_app_with(backend: Backend, change: impl FnOnce(&mut Settings)) -> TestApp {
    let database = TestDatabase::create(backend).await;
    let mut settings = test_settings(&database.url);
    change(&mut settings);
    let (address, db) = start_server(settings.clone()).await;
    TestApp {
        client: browser_client(&address),
        address,
        db,
        settings,
        _database: database,
    }
}

/// Starts one more server process-alike on the given settings; returns its address.
pub async fn start_server(settings: Settings) -> (String, Db) {
    let app = Application::build(settings, "127.0.0.1:0")
        .await
        .expect("app starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.db.clone();
    tokio::spawn(app.run_until_stopped());
    (address, db)
}

/// A client that keeps cookies, does not follow redirects (tests look at them), and
/// sends the Origin header a browser sends for a same-origin request.
pub fn browser_client(address: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert("origin", HeaderValue::from_str(address).unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The session cookie the server set on this response, if any.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| {
            let v = v.to_str().ok()?;
            v.strip_prefix("triage_session=")
                .map(|rest| rest.split(';').next().unwrap_or_default().to_string())
        })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn add_user(&self, name: &str, role: Role, password: &str) -> i64 {
        domain::users::create(
            &self.db,
            &Username::parse(name).unwrap(),
            "",
            role,
            SecretString::from(password.to_string()),
            Actor::System,
        )
        .await
        .expect("user created")
    }

    pub async fn token(&self, role: Role) -> String {
        domain::tokens::create(&self.db, &format!("test {role}"), role, Actor::System)
            .await
            .unwrap()
            .secret
    }

    pub async fn sign_in(&self, name: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/login"))
            .form(&[("username", name), ("password", password), ("next", "/")])
            .send()
            .await
            .unwrap()
    }

    /// A new user of `role`, signed in on this app's client.
    pub async fn signed_in_as(&self, role: Role) -> i64 {
        let name = format!("{role}-{}", random_suffix());
        let id = self.add_user(&name, role, "long-enough-password").await;
        let response = self.sign_in(&name, "long-enough-password").await;
        assert_eq!(location(&response), "/", "sign-in as {name} failed");
        id
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn api_get(&self, path: &str, token: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// An API answer's JSON (the status is the caller's to check first, if it matters).
    pub async fn api_json<T: serde::de::DeserializeOwned>(&self, path: &str, token: &str) -> T {
        self.api_get(path, token).await.json().await.unwrap()
    }

    /// Calls a server function the way the browser does.
    pub async fn server_fn(&self, name: &str) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/rpc/{name}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap()
    }
}

/// Sends a request and reads its JSON answer; the test fails on either step.
pub trait JsonAnswer {
    fn json_answer<T: serde::de::DeserializeOwned>(self) -> impl std::future::Future<Output = T>;
}

impl JsonAnswer for reqwest::RequestBuilder {
    async fn json_answer<T: serde::de::DeserializeOwned>(self) -> T {
        self.send().await.unwrap().json().await.unwrap()
    }
}

/// Scores every unscored email with the active scorer, as the CLI does.
pub async fn score_all(db: &Db) -> domain::error::DomainResult<usize> {
    domain::scoring::score_unscored(db, &test_settings("").aws_credentials()).await
}

/// A model a test trained.
pub struct Trained {
    pub id: i64,
    pub version: String,
}

/// Loads the demo data, trains the built-in model on its labels and makes it active
/// (the demo's unlabelled emails stay unscored).
pub async fn with_trained_model(app: &TestApp) -> Trained {
    domain::demo::load(&app.db, domain::time::now_ms())
        .await
        .unwrap();
    let model = domain::training::train(&app.db, Actor::System, 42)
        .await
        .unwrap();
    domain::training::activate(&app.db, model.id, Actor::System)
        .await
        .unwrap();
    Trained {
        id: model.id,
        version: model.version,
    }
}

/// Serves the active built-in model over the SageMaker contract on loopback, with
/// `faults` (latency, throttling), drafting replies from the database's past replies;
/// returns its URL.
pub async fn model_server(db: &Db, faults: server::model_server::Faults) -> String {
    let served = server::model_server::load(db, None).await.unwrap();
    let replies = domain::model::reply_index::ReplyIndex::from_db(db)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let router = server::model_server::router(
            std::sync::Arc::new(served.model),
            std::sync::Arc::new(replies),
            faults,
        );
        axum::serve(listener, router).await.unwrap();
    });
    url
}
