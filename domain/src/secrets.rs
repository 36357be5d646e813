//! Secrets kept in the database (mailbox passwords) are sealed with a key that is
//! not in the database: reading the database file, or a backup of it, alone does not
//! reveal them.
//!
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) with a random nonce per
//! value. The key is 32 bytes, given base64-encoded in `TRIAGE_SECRET_KEY`, or read
//! from `secret_key_file` (default `<data_dir>/secret.key`), which Triage creates with
//! owner-only permissions the first time it needs a key. Instances sharing one
//! PostgreSQL database must share the key (set `TRIAGE_SECRET_KEY` on each).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::{DomainError, DomainResult};

const PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;

/// The key that seals and opens stored secrets; cheap to clone. A key file is read,
/// or created, the first time a secret is sealed or opened, so a Triage that never
/// stores one never writes a key file.
#[derive(Clone)]
pub struct SecretBox {
    source: Arc<KeySource>,
}

struct KeySource {
    encoded: Option<String>,
    file: PathBuf,
    cipher: OnceLock<Result<XChaCha20Poly1305, String>>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> SecretBox {
        let source = KeySource {
            encoded: None,
            file: PathBuf::new(),
            cipher: OnceLock::new(),
        };
        let _ = source.cipher.set(Ok(XChaCha20Poly1305::new(key.into())));
        SecretBox {
            source: Arc::new(source),
        }
    }

    /// The key from `encoded` (base64) when given, else from `file`, created with a
    /// new random key when it does not exist. A key given here is checked at once; a
    /// file is read when first needed.
    pub fn load(encoded: Option<&str>, file: &Path) -> DomainResult<SecretBox> {
        let encoded = encoded
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string);
        if let Some(encoded) = &encoded {
            decode_key(encoded)?;
        }
        Ok(SecretBox {
            source: Arc::new(KeySource {
                encoded,
                file: file.to_path_buf(),
                cipher: OnceLock::new(),
            }),
        })
    }

    fn cipher(&self) -> DomainResult<&XChaCha20Poly1305> {
        let source = &*self.source;
        source
            .cipher
            .get_or_init(|| {
                let key = match &source.encoded {
                    Some(encoded) => decode_key(encoded),
                    None => key_from_file(&source.file),
                };
                key.map(|k| XChaCha20Poly1305::new((&k).into()))
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| DomainError::Internal(e.clone()))
    }

    /// Seals `plain` for storage. An empty secret stays empty (nothing to hide).
    pub fn seal(&self, plain: &str) -> DomainResult<String> {
        if plain.is_empty() {
            return Ok(String::new());
        }
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher()?
            .encrypt(&nonce, plain.as_bytes())
            .map_err(|_| DomainError::Internal("a secret could not be sealed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(format!("{PREFIX}{}", B64.encode(bytes)))
    }

    /// Opens a value [`seal`](Self::seal) made.
    pub fn open(&self, stored: &str) -> DomainResult<String> {
        if stored.is_empty() {
            return Ok(String::new());
        }
        let wrong = || {
            DomainError::Internal(
                "a stored secret cannot be opened with this secret key (was the key changed?)"
                    .into(),
            )
        };
        let bytes = stored
            .strip_prefix(PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(wrong)?;
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher()?
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| wrong())?;
        String::from_utf8(plain).map_err(|_| wrong())
    }
}

/// The key in `file`, written there first when the file does not exist.
fn key_from_file(file: &Path) -> DomainResult<[u8; 32]> {
    match std::fs::read_to_string(file) {
        Ok(text) => decode_key(text.trim()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
            write_key_file(file, &B64.encode(key))?;
            Ok(key)
        }
        Err(e) => Err(DomainError::Internal(format!(
            "cannot read the secret key {}: {e}",
            file.display()
        ))),
    }
}

fn decode_key(encoded: &str) -> DomainResult<[u8; 32]> {
    B64.decode(encoded)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| DomainError::invalid("secret_key", "must be 32 bytes, base64-encoded"))
}

fn write_key_file(file: &Path, encoded: &str) -> DomainResult<()> {
    use std::io::Write;
    let fail = |e: std::io::Error| {
        DomainError::Internal(format!(
            "cannot write the secret key {}: {e}",
            file.display()
        ))
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(file).map_err(fail)?;
    out.write_all(encoded.as_bytes()).map_err(fail)?;
    out.write_all(b"\n").map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_only_with_it() {
        let secrets = SecretBox::from_key(&[7; 32]);
        let sealed = secrets.seal("hunter2").unwrap();
        assert!(!sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            secrets.seal("hunter2").unwrap(),
            "a fresh nonce every time"
        );
        assert_eq!(secrets.open(&sealed).unwrap(), "hunter2");
        let other = SecretBox::from_key(&[8; 32]);
        assert!(other.open(&sealed).is_err());
        assert!(
            secrets.open("hunter2").is_err(),
            "plain text is not a sealed value"
        );
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("triage-secret-{}", std::process::id()));
        let file = dir.join("secret.key");
        let _ = std::fs::remove_file(&file);
        let first = SecretBox::load(None, &file).unwrap();
        assert!(!file.exists(), "no key file until a secret is stored");
        let sealed = first.seal("pw").unwrap();
        assert!(file.exists());
        let again = SecretBox::load(None, &file).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "pw");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "only the owner may read the key");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_key_from_the_environment_must_be_32_bytes() {
        assert!(SecretBox::load(Some("c2hvcnQ="), Path::new("/nonexistent")).is_err());
        let key = B64.encode([1u8; 32]);
        assert!(SecretBox::load(Some(&key), Path::new("/nonexistent")).is_ok());
    }
}
