//! Connecting to an IMAP server (async-imap over tokio, TLS by rustls with the
//! system's roots), and saying what went wrong in words an admin can act on.

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{Account, Mailbox};
use crate::wire::mailboxes::{ConnectionCheck, Security};

/// How long connecting, the TLS handshake and signing in may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A byte stream to a mail server: plain TCP, or TLS over it.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Stream for T {}

pub type Session = async_imap::Session<Box<dyn Stream>>;

/// Why a mail server could not be used, in plain words; `kind` names it for metrics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MailError {
    #[error("cannot reach {0}")]
    Unreachable(String),
    #[error("secure connection failed: {0}")]
    Tls(String),
    #[error("the server refused the user name or password: {0}")]
    SignIn(String),
    #[error("the server said: {0}")]
    Server(String),
    #[error("{0}")]
    Other(String),
}

impl MailError {
    pub fn kind(&self) -> &'static str {
        match self {
            MailError::Unreachable(_) => "unreachable",
            MailError::Tls(_) => "tls",
            MailError::SignIn(_) => "sign_in",
            MailError::Server(_) => "server",
            MailError::Other(_) => "other",
        }
    }

    fn from_imap(e: async_imap::error::Error) -> MailError {
        use async_imap::error::Error;
        match e {
            Error::No(text) | Error::Bad(text) => MailError::Server(text),
            Error::Io(io) => MailError::Unreachable(format!("connection broke: {io}")),
            Error::ConnectionLost => {
                MailError::Unreachable("the server closed the connection".into())
            }
            other => MailError::Other(other.to_string()),
        }
    }
}

impl From<async_imap::error::Error> for MailError {
    fn from(e: async_imap::error::Error) -> MailError {
        MailError::from_imap(e)
    }
}

/// A TLS client that trusts the system's certificate authorities.
pub fn tls_connector() -> tokio_rustls::TlsConnector {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the default protocol versions are supported")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn tls_over(tcp: TcpStream, host: &str) -> Result<Box<dyn Stream>, MailError> {
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| MailError::Tls(format!("{host:?} is not a valid server name")))?;
    let stream = tls_connector()
        .connect(name, tcp)
        .await
        .map_err(|e| MailError::Tls(plain_tls_error(&e)))?;
    Ok(Box::new(stream))
}

fn plain_tls_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    if text.contains("UnknownIssuer") || text.contains("invalid peer certificate") {
        format!("the server's certificate is not trusted ({text})")
    } else if text.contains("NotValidForName") {
        format!("the server's certificate is for another name ({text})")
    } else {
        text
    }
}

async fn tcp(account: &Account) -> Result<TcpStream, MailError> {
    let address = format!("{}:{}", account.host, account.port);
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&address)).await {
        Err(_) => Err(MailError::Unreachable(format!(
            "{address} (no answer in 15 s)"
        ))),
        Ok(Err(e)) => Err(MailError::Unreachable(match e.kind() {
            std::io::ErrorKind::ConnectionRefused => format!("{address} (connection refused)"),
            _ if e.to_string().contains("lookup") || e.to_string().contains("resolve") => {
                format!("{address} (no such host)")
            }
            _ => format!("{address} ({e})"),
        })),
        Ok(Ok(stream)) => Ok(stream),
    }
}

/// Connects and signs in.
pub async fn connect(account: &Account) -> Result<Session, MailError> {
    tokio::time::timeout(CONNECT_TIMEOUT * 2, connect_inner(account))
        .await
        .map_err(|_| {
            MailError::Unreachable(format!(
                "{}:{} (no answer to sign-in in 30 s)",
                account.host, account.port
            ))
        })?
}

async fn connect_inner(account: &Account) -> Result<Session, MailError> {
    let tcp = tcp(account).await?;
    let client = match account.security {
        Security::Tls => {
            let mut client = async_imap::Client::new(tls_over(tcp, &account.host).await?);
            greeting(&mut client).await?;
            client
        }
        Security::None => {
            let mut client = async_imap::Client::new(Box::new(tcp) as Box<dyn Stream>);
            greeting(&mut client).await?;
            client
        }
        Security::Starttls => {
            let mut plain = async_imap::Client::new(tcp);
            plain
                .read_response()
                .await
                .map_err(|e| MailError::Unreachable(e.to_string()))?;
            plain
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| MailError::Tls(format!("STARTTLS refused: {e}")))?;
            // No greeting after STARTTLS.
            async_imap::Client::new(tls_over(plain.into_inner(), &account.host).await?)
        }
    };
    client
        .login(&account.user, &account.password)
        .await
        .map_err(|(e, _)| match e {
            async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
                MailError::SignIn(text)
            }
            other => MailError::from_imap(other),
        })
}

async fn greeting(client: &mut async_imap::Client<Box<dyn Stream>>) -> Result<(), MailError> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(MailError::Unreachable(
            "the server closed the connection before greeting".into(),
        )),
        Err(e) => Err(MailError::Unreachable(e.to_string())),
    }
}

/// "Test connection" for the IMAP side: sign in and open every folder to read.
pub async fn check(mailbox: &Mailbox) -> ConnectionCheck {
    let Some(account) = &mailbox.imap else {
        return ConnectionCheck {
            ok: false,
            message: "no IMAP server is set".into(),
        };
    };
    let outcome = async {
        let mut session = connect(account).await?;
        let mut counts = Vec::new();
        for folder in &mailbox.folders {
            let selected = session
                .examine(folder)
                .await
                .map_err(|e| MailError::Server(format!("folder {folder:?}: {e}")))?;
            counts.push(format!("{folder}: {} messages", selected.exists));
        }
        let capabilities = session.capabilities().await?;
        let idle = if capabilities.has_str("IDLE") {
            "new mail is pushed (IDLE)"
        } else {
            "no IDLE: Triage will poll"
        };
        let _ = session.logout().await;
        Ok::<_, MailError>(format!("Signed in. {}; {idle}.", counts.join(", ")))
    }
    .await;
    match outcome {
        Ok(message) => ConnectionCheck { ok: true, message },
        Err(e) => ConnectionCheck {
            ok: false,
            message: e.to_string(),
        },
    }
}

/// One fetched message.
pub struct Fetched {
    pub uid: u32,
    pub size: u32,
    /// The whole message; `None` when only its size was asked for.
    pub raw: Option<Vec<u8>>,
    pub internal_date_ms: Option<i64>,
}

/// Fetches `items` for the UIDs in `set` (e.g. `4,7,9`).
pub async fn uid_fetch(
    session: &mut Session,
    set: &str,
    items: &str,
) -> Result<Vec<Fetched>, MailError> {
    let stream = session.uid_fetch(set, items).await?;
    let fetched: Vec<async_imap::types::Fetch> = stream.try_collect().await?;
    Ok(fetched
        .iter()
        .filter_map(|f| {
            Some(Fetched {
                uid: f.uid?,
                size: f.size.unwrap_or(0),
                raw: f.body().or_else(|| f.header()).map(<[u8]>::to_vec),
                internal_date_ms: f.internal_date().map(|d| d.timestamp_millis()),
            })
        })
        .collect())
}

/// The UIDs matching an IMAP search, ascending.
pub async fn uid_search(session: &mut Session, query: &str) -> Result<Vec<u32>, MailError> {
    let mut uids: Vec<u32> = session.uid_search(query).await?.into_iter().collect();
    uids.sort_unstable();
    Ok(uids)
}

/// A UID set in IMAP syntax.
pub fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
