//! One typed configuration: defaults that work on a fresh machine, then an optional
//! TOML file (`triage.toml`, or the file named by `TRIAGE_CONFIG`), then `TRIAGE_*`
//! environment variables, then `DATABASE_URL`. Later sources win.

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::PathBuf;

use crate::drafts::GeneratorConfig;
use crate::error::{DomainError, DomainResult};
use crate::scoring::active::PinnedScorer;
use crate::scoring::endpoint::{AwsCredentials, EndpointConfig};
use crate::wire::ModelKind;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where Triage keeps its SQLite database and other local files.
    pub data_dir: PathBuf,
    /// `sqlite:…` or `postgres://…`; defaults to `<data_dir>/triage.db`.
    pub database_url: Option<SecretString>,
    pub db_max_connections: u32,
    /// Address `triage serve` listens on; `TRIAGE_ADDR`, else `LEPTOS_SITE_ADDR`,
    /// else 127.0.0.1:3000.
    pub addr: Option<String>,
    /// The origin browsers use to reach Triage (e.g. `https://triage.example.com`),
    /// when a proxy in front rewrites the Host header. Used by the CSRF check.
    pub public_origin: Option<String>,
    /// Send the session cookie only over HTTPS. Turn on behind TLS.
    pub cookie_secure: bool,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: i64,
    /// Failed sign-ins allowed per user name within `login_window_seconds`.
    pub login_max_failures: i64,
    pub login_window_seconds: i64,
    /// Requests per minute one API caller (a token, or a signed-in person) may make
    /// on average before answers become 429; 0 turns the limit off.
    pub api_requests_per_minute: u32,
    /// Requests an API caller may make at once, above the average.
    pub api_burst: u32,
    /// Addresses of the proxies in front of Triage, comma-separated. A request from
    /// one of them is counted against the address its `X-Forwarded-For` names; from
    /// anywhere else that header is ignored (anyone can send it).
    pub trusted_proxies: String,
    /// How often job workers check the drift alert (seconds).
    pub drift_check_seconds: u64,
    /// Largest request body on every route that does not set its own (bytes).
    pub max_request_bytes: usize,
    /// `tracing` filter, e.g. `info,sqlx=warn`.
    pub log: String,
    /// Largest email, and largest API request body, accepted (bytes).
    pub max_message_bytes: usize,
    /// Most emails in one `POST /api/v1/emails` batch.
    pub max_batch: usize,
    /// Largest upload on the Import page (bytes, all files together).
    pub max_upload_bytes: usize,
    /// Pins the scorer at start-up: `builtin` (the newest built-in model) or
    /// `endpoint` (the endpoint below). Unset: the Models page decides.
    pub scorer: Option<String>,
    /// The SageMaker endpoint used when `scorer = "endpoint"`.
    pub endpoint_name: Option<String>,
    /// Empty: the region of the standard AWS chain.
    pub endpoint_region: String,
    /// A SageMaker-compatible server instead of AWS, e.g. `http://127.0.0.1:8080`.
    pub endpoint_url: Option<String>,
    pub endpoint_content_type: String,
    pub endpoint_timeout_ms: u64,
    pub endpoint_max_attempts: u32,
    pub endpoint_max_payload_bytes: usize,
    pub endpoint_batch_size: usize,
    /// `LABEL_0=feedback, LABEL_1=complaint`: endpoint labels that are not category names.
    pub endpoint_label_map: String,
    /// Fixed keys for a compatible server that is not AWS. Unset (the normal case):
    /// credentials come from the standard AWS chain (environment, profile, SSO, roles).
    pub endpoint_access_key_id: Option<String>,
    pub endpoint_secret_access_key: Option<SecretString>,
    /// The text-generation endpoint that drafts replies (SageMaker, speaking the
    /// Hugging Face TGI/LMI contract). Unset: no generated drafts.
    pub generator_endpoint_name: Option<String>,
    /// A SageMaker-compatible server instead of AWS (e.g. `triage model-server`).
    pub generator_endpoint_url: Option<String>,
    /// Empty: the region of the standard AWS chain.
    pub generator_region: String,
    /// How long an agent waits for a draft before hearing it timed out.
    pub generator_timeout_ms: u64,
    /// Tries per draft when the endpoint throttles or is unavailable (a timeout is
    /// not tried again).
    pub generator_max_attempts: u32,
    pub generator_max_new_tokens: u32,
    /// More generation parameters, merged into the request's `parameters` (and
    /// winning over Triage's own): a TOML table, or a JSON object as text, e.g.
    /// `TRIAGE_GENERATOR_PARAMETERS='{"temperature": 0.3, "top_p": 0.9}'`.
    pub generator_parameters: Option<serde_json::Value>,
    /// Run a job worker inside `triage serve` (turn off when `triage worker`
    /// processes do the jobs).
    pub jobs_in_server: bool,
    /// Chunks a worker scores at once (SageMaker Batch Transform's
    /// MaxConcurrentTransforms).
    pub job_max_concurrent_transforms: usize,
    /// Largest request a job sends to an endpoint, in MB (Batch Transform's MaxPayloadInMB).
    pub job_max_payload_mb: usize,
    /// Emails per chunk and per endpoint request in a job.
    pub job_batch_size: usize,
    /// A chunk whose worker stops answering returns to the pool after this long.
    pub job_lease_seconds: i64,
    /// Tries per email before a job records it as failed.
    pub job_max_attempts: i64,
    /// S3 (Batch Transform's objects, mailboxes read from a bucket): the region
    /// (empty: the AWS chain's) and a compatible server instead of AWS.
    pub s3_region: String,
    pub s3_endpoint_url: Option<String>,
    /// The SageMaker control plane (transform jobs), likewise.
    pub sagemaker_region: String,
    pub sagemaker_endpoint_url: Option<String>,
    /// Defaults of Batch Transform jobs; each job may set its own.
    /// The SageMaker model that scores (`aws sagemaker create-model`'s name).
    pub transform_model_name: Option<String>,
    /// The folder for the jobs' input and output, `s3://bucket/prefix`.
    pub transform_s3_uri: Option<String>,
    pub transform_instance_type: String,
    pub transform_instance_count: i64,
    pub transform_max_concurrent_transforms: i64,
    pub transform_max_payload_mb: i64,
    /// How often a running transform job is described (milliseconds).
    pub transform_poll_ms: u64,
    /// Emails per input object.
    pub transform_lines_per_object: usize,
    /// The key that seals mailbox passwords in the database: 32 bytes, base64. Unset:
    /// read from `secret_key_file`, created there the first time.
    pub secret_key: Option<SecretString>,
    /// Default `<data_dir>/secret.key`.
    pub secret_key_file: Option<PathBuf>,
    /// Mailboxes defined here (`[[mailboxes]]` in `triage.toml`) rather than on the
    /// Mailboxes page.
    pub mailboxes: Vec<crate::mailboxes::MailboxConfig>,
}

impl Default for Settings {
    fn default() -> Self {
        let endpoint = EndpointConfig::default();
        let generator = GeneratorConfig::default();
        Settings {
            data_dir: PathBuf::from("data"),
            database_url: None,
            db_max_connections: 10,
            addr: None,
            public_origin: None,
            cookie_secure: false,
            session_idle_minutes: 12 * 60,
            login_max_failures: 5,
            login_window_seconds: 15 * 60,
            api_requests_per_minute: 600,
            api_burst: 120,
            trusted_proxies: String::new(),
            drift_check_seconds: 300,
            max_request_bytes: 1024 * 1024,
            // html5ever warns of every oddly nested tag in spam's HTML.
            log: "info,sqlx=warn,tower_sessions=warn,html5ever=error".to_string(),
            max_message_bytes: crate::ingest::DEFAULT_MAX_MESSAGE_BYTES,
            max_batch: 1000,
            max_upload_bytes: 256 * 1024 * 1024,
            scorer: None,
            endpoint_name: None,
            endpoint_region: String::new(),
            endpoint_url: None,
            endpoint_content_type: endpoint.content_type,
            endpoint_timeout_ms: endpoint.timeout_ms,
            endpoint_max_attempts: endpoint.max_attempts,
            endpoint_max_payload_bytes: endpoint.max_payload_bytes,
            endpoint_batch_size: endpoint.batch_size,
            endpoint_label_map: String::new(),
            endpoint_access_key_id: None,
            endpoint_secret_access_key: None,
            generator_endpoint_name: None,
            generator_endpoint_url: None,
            generator_region: String::new(),
            generator_timeout_ms: generator.timeout_ms,
            generator_max_attempts: generator.max_attempts,
            generator_max_new_tokens: generator.max_new_tokens,
            generator_parameters: None,
            jobs_in_server: true,
            job_max_concurrent_transforms: 4,
            job_max_payload_mb: 6,
            job_batch_size: 32,
            job_lease_seconds: 60,
            job_max_attempts: 3,
            s3_region: String::new(),
            s3_endpoint_url: None,
            sagemaker_region: String::new(),
            sagemaker_endpoint_url: None,
            transform_model_name: None,
            transform_s3_uri: None,
            transform_instance_type: "ml.m5.xlarge".into(),
            transform_instance_count: 1,
            transform_max_concurrent_transforms: 4,
            transform_max_payload_mb: 6,
            transform_poll_ms: 30_000,
            transform_lines_per_object: 10_000,
            secret_key: None,
            secret_key_file: None,
            mailboxes: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct SettingsError(String);

impl Settings {
    /// Reads the configuration from the file and the environment.
    pub fn load() -> Result<Settings, SettingsError> {
        let file = std::env::var("TRIAGE_CONFIG").unwrap_or_else(|_| "triage.toml".into());
        Self::from_figment(
            Figment::new()
                .merge(Toml::file(file))
                .merge(Env::prefixed("TRIAGE_").ignore(&["CONFIG"]))
                .merge(Env::raw().only(&["DATABASE_URL"])),
        )
    }

    fn from_figment(figment: Figment) -> Result<Settings, SettingsError> {
        figment.extract().map_err(|e| SettingsError(e.to_string()))
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_string(),
            None => format!("sqlite://{}/triage.db", self.data_dir.display()),
        }
    }

    /// The configured endpoint, checked.
    pub fn endpoint_config(&self) -> DomainResult<EndpointConfig> {
        let config = EndpointConfig {
            endpoint_name: self.endpoint_name.clone().unwrap_or_default(),
            region: self.endpoint_region.clone(),
            endpoint_url: self.endpoint_url.clone().filter(|u| !u.is_empty()),
            content_type: self.endpoint_content_type.clone(),
            timeout_ms: self.endpoint_timeout_ms,
            max_attempts: self.endpoint_max_attempts,
            max_payload_bytes: self.endpoint_max_payload_bytes,
            batch_size: self.endpoint_batch_size,
            label_map: EndpointConfig::parse_label_map(&self.endpoint_label_map)?,
        };
        config.validate()?;
        Ok(config)
    }

    /// The text-generation endpoint that drafts replies, checked; `None` when none
    /// is configured.
    pub fn generator_config(&self) -> DomainResult<Option<GeneratorConfig>> {
        let Some(name) = self
            .generator_endpoint_name
            .clone()
            .filter(|n| !n.trim().is_empty())
        else {
            return Ok(None);
        };
        let parameters = match &self.generator_parameters {
            None => serde_json::Map::new(),
            Some(serde_json::Value::Object(map)) => map.clone(),
            Some(serde_json::Value::String(text)) if text.trim().is_empty() => {
                serde_json::Map::new()
            }
            Some(serde_json::Value::String(text)) => serde_json::from_str(text).map_err(|e| {
                DomainError::invalid(
                    "generator_parameters",
                    format!("not a JSON object of parameters: {e}"),
                )
            })?,
            Some(_) => {
                return Err(DomainError::invalid(
                    "generator_parameters",
                    "a table (or JSON object) of generation parameters",
                ));
            }
        };
        let config = GeneratorConfig {
            endpoint_name: name.trim().to_string(),
            region: self.generator_region.clone(),
            endpoint_url: self
                .generator_endpoint_url
                .clone()
                .filter(|u| !u.is_empty()),
            timeout_ms: self.generator_timeout_ms,
            max_attempts: self.generator_max_attempts,
            max_new_tokens: self.generator_max_new_tokens,
            parameters,
        };
        config.validate()?;
        Ok(Some(config))
    }

    /// The scorer pinned at start-up, if any (`scorer`: `builtin` or `endpoint`).
    pub fn pinned_scorer(&self) -> DomainResult<Option<PinnedScorer>> {
        let Some(scorer) = self.scorer.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        match scorer.parse::<ModelKind>() {
            Ok(ModelKind::Builtin) => Ok(Some(PinnedScorer::Builtin)),
            Ok(ModelKind::Endpoint) => Ok(Some(PinnedScorer::Endpoint(self.endpoint_config()?))),
            Err(_) => Err(DomainError::invalid(
                "scorer",
                format!("{scorer:?}: the scorer is \"builtin\" or \"endpoint\""),
            )),
        }
    }

    /// Where the endpoint client's credentials come from.
    pub fn aws_credentials(&self) -> AwsCredentials {
        match (
            &self.endpoint_access_key_id,
            &self.endpoint_secret_access_key,
        ) {
            (Some(key), Some(secret)) => AwsCredentials::fixed(key, secret.expose_secret()),
            _ => AwsCredentials::StandardChain,
        }
    }

    /// How this process's job workers work.
    pub fn worker_settings(&self) -> crate::jobs::worker::WorkerSettings {
        crate::jobs::worker::WorkerSettings {
            concurrency: self.job_max_concurrent_transforms.clamp(1, 64),
            batch_size: self.job_batch_size.clamp(1, 1000),
            max_payload_bytes: self.job_max_payload_mb.clamp(1, 100) * 1024 * 1024,
            lease_ms: self.job_lease_seconds.clamp(1, 3600) * 1000,
            max_attempts: self.job_max_attempts.clamp(1, 20),
            drift_check_ms: self.drift_check_seconds.clamp(10, 86_400) * 1000,
            transform: self.transform_settings(),
            ..Default::default()
        }
    }

    /// Where S3 is.
    pub fn s3_address(&self) -> crate::aws::ServiceAddress {
        crate::aws::ServiceAddress {
            region: self.s3_region.clone(),
            endpoint_url: self.s3_endpoint_url.clone(),
        }
    }

    /// Batch Transform jobs' defaults, and where S3 and SageMaker are.
    pub fn transform_settings(&self) -> crate::jobs::transform::TransformSettings {
        crate::jobs::transform::TransformSettings {
            s3: self.s3_address(),
            sagemaker: crate::aws::ServiceAddress {
                region: self.sagemaker_region.clone(),
                endpoint_url: self.sagemaker_endpoint_url.clone(),
            },
            options: crate::wire::TransformOptions {
                model_name: self.transform_model_name.clone(),
                instance_type: Some(self.transform_instance_type.clone()),
                instance_count: Some(self.transform_instance_count.clamp(1, 100)),
                max_concurrent_transforms: Some(
                    self.transform_max_concurrent_transforms.clamp(1, 100),
                ),
                max_payload_mb: Some(self.transform_max_payload_mb.clamp(1, 100)),
                s3_uri: self.transform_s3_uri.clone(),
                all: false,
            },
            poll_ms: self.transform_poll_ms.clamp(10, 3_600_000),
            lines_per_object: self.transform_lines_per_object.clamp(1, 1_000_000),
        }
    }

    /// The key that seals stored secrets.
    pub fn secret_box(&self) -> DomainResult<crate::secrets::SecretBox> {
        let file = self
            .secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secret.key"));
        crate::secrets::SecretBox::load(self.secret_key.as_ref().map(|k| k.expose_secret()), &file)
    }

    /// The address to listen on when none is given on the command line.
    pub fn listen_addr(&self) -> String {
        self.addr
            .clone()
            .or_else(|| std::env::var("LEPTOS_SITE_ADDR").ok())
            .unwrap_or_else(|| "127.0.0.1:3000".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    #[test]
    fn a_fresh_machine_gets_a_sqlite_file_in_the_data_folder() {
        let s = Settings::default();
        assert_eq!(s.database_url(), "sqlite://data/triage.db");
        assert_eq!(s.login_max_failures, 5);
    }

    #[test]
    fn the_file_and_the_environment_override_defaults() {
        let figment = Figment::new()
            .merge(Toml::string(
                "data_dir = \"/srv/triage\"\nlogin_max_failures = 3",
            ))
            .merge(Serialized::default("cookie_secure", true))
            .merge(Serialized::default("database_url", "postgres://u:p@h/db"));
        let s = Settings::from_figment(figment).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/srv/triage"));
        assert_eq!(s.login_max_failures, 3);
        assert!(s.cookie_secure);
        assert_eq!(s.database_url(), "postgres://u:p@h/db");
        // Secrets stay out of debug output.
        assert!(!format!("{s:?}").contains("u:p@"));
    }

    #[test]
    fn the_generator_is_off_until_named_and_takes_parameters_as_a_table_or_json() {
        assert_eq!(Settings::default().generator_config().unwrap(), None);
        let from_file = Settings::from_figment(Figment::new().merge(Toml::string(
            "generator_endpoint_name = \"drafts\"\n[generator_parameters]\ntemperature = 0.2",
        )))
        .unwrap();
        let config = from_file.generator_config().unwrap().unwrap();
        assert_eq!((config.timeout_ms, config.max_new_tokens), (20_000, 300));
        assert_eq!(config.parameters["temperature"], 0.2);
        // An environment variable's JSON object arrives as text (figment reads only
        // `{key=value}` as a table).
        let json: figment::value::Value = r#"{"top_p": 0.9}"#.parse().unwrap();
        let from_env = Settings::from_figment(
            Figment::new()
                .merge(Serialized::default("generator_endpoint_name", "drafts"))
                .merge(Serialized::default("generator_parameters", json)),
        )
        .unwrap();
        let config = from_env.generator_config().unwrap().unwrap();
        assert_eq!(config.parameters["top_p"], 0.9);
        let wrong = Settings {
            generator_parameters: Some(serde_json::json!("top_p=0.9")),
            ..from_env
        };
        let err = wrong.generator_config().unwrap_err().to_string();
        assert!(err.starts_with("generator_parameters"), "{err}");
    }

    #[test]
    fn a_wrongly_typed_value_is_an_error_that_names_it() {
        let figment = Figment::new().merge(Toml::string("login_max_failures = \"many\""));
        let err = Settings::from_figment(figment).unwrap_err();
        assert!(err.to_string().contains("login_max_failures"), "{err}");
    }
}
