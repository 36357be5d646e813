//! Real mail servers on loopback for the mailbox tests: Dovecot serving IMAP for one
//! user, and an SMTP sink (`scripts/mail_servers/smtp_sink.py`) that delivers what it
//! accepts into that user's INBOX. Each listens on a free port of 127.0.0.1, without
//! TLS, and keeps all its files in one temporary folder, removed on drop (kept, and
//! named on stderr, when the test panicked: `dovecot.log` is there).
//!
//! Needs Debian's dovecot-imapd and Python's aiosmtpd: `scripts/setup.sh --test`.
//!
//! Dovecot never runs a user's mail as root, so when the tests run as root the mail
//! belongs to `nobody`, and whatever this module writes into the Maildir is handed over.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::process::{Child, Command};

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/mail_servers");
const DOVECOT: &str = "/usr/sbin/dovecot";
const DOVEADM: &str = "/usr/bin/doveadm";
const SETUP: &str = "run `scripts/setup.sh --test`";
/// How long a server may take to start, or its port to be released.
const PATIENCE: Duration = Duration::from_secs(10);

/// Names of temporary folders and Maildir files, unique within this test binary.
static COUNTER: AtomicU64 = AtomicU64::new(0);

pub struct MailServers {
    pub imap_port: u16,
    pub smtp_port: u16,
    pub user: String,
    pub password: String,
    dir: PathBuf,
    mail_owner: Owner,
    refuse: Vec<String>,
    tempfail: Vec<String>,
    dovecot: Option<Child>,
    smtp: Option<Child>,
}

/// The system user Dovecot reads and writes the mail as.
struct Owner {
    name: String,
    group: String,
    uid: u32,
    gid: u32,
}

impl MailServers {
    /// Both servers, with an SMTP sink that accepts every recipient.
    pub async fn start() -> MailServers {
        MailServers::start_with(&[], &[]).await
    }

    /// Both servers; the SMTP sink answers RCPT TO an address of `refuse` with
    /// `550 5.1.1 <addr>: Recipient address rejected: User unknown`, and one of
    /// `tempfail` with `451 4.3.0 Try again later` (compared case-insensitively).
    pub async fn start_with(refuse: &[&str], tempfail: &[&str]) -> MailServers {
        assert!(
            Path::new(DOVECOT).exists(),
            "Dovecot is not installed: {SETUP}"
        );
        let dir = std::env::temp_dir().join(format!(
            "triage-mail-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir); // left by an earlier run with our pid
        std::fs::create_dir_all(&dir).expect("temporary folder for the mail servers");
        // Dovecot's processes may run as another user: they must reach their files.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();

        // Two listeners at once, so the two ports differ.
        let (imap, smtp) = (free_port(), free_port());
        let (imap_port, smtp_port) = (
            imap.local_addr().unwrap().port(),
            smtp.local_addr().unwrap().port(),
        );
        drop((imap, smtp));

        let mut servers = MailServers {
            imap_port,
            smtp_port,
            user: "triage".into(),
            password: "secret".into(),
            mail_owner: mail_owner(&dir),
            dir,
            refuse: refuse.iter().map(|a| a.to_string()).collect(),
            tempfail: tempfail.iter().map(|a| a.to_string()).collect(),
            dovecot: None,
            smtp: None,
        };
        servers.write_dovecot_config();
        // The INBOX exists before the sink delivers into it, and belongs to the mail owner.
        for path in [
            "home",
            "home/Maildir",
            "home/Maildir/cur",
            "home/Maildir/new",
            "home/Maildir/tmp",
        ] {
            let path = servers.dir.join(path);
            std::fs::create_dir_all(&path).unwrap();
            servers.hand_over(&path);
        }

        servers.start_imap_again().await;
        servers.start_smtp_again().await;
        servers
    }

    /// Puts a message into `folder` ("INBOX" or another, created when missing; ASCII
    /// names) the way a local delivery agent does: a file in the folder's Maildir.
    /// Dovecot notices it at once, IDLE included (inotify; about 0.5 s to the client).
    pub fn deliver(&self, folder: &str, raw: &[u8]) {
        let maildir = self.maildir(folder);
        if !maildir.exists() {
            self.create_folder(folder);
        }
        let name = unique_name();
        let tmp = maildir.join("tmp").join(&name);
        std::fs::write(&tmp, raw).expect("write into the Maildir");
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
        self.hand_over(&tmp);
        // Written in tmp/, then renamed: Dovecot never sees half a message.
        std::fs::rename(&tmp, maildir.join("new").join(&name)).expect("deliver into the Maildir");
    }

    /// Creates (and subscribes to) a folder; nothing happens if it exists. Through
    /// doveadm, because Dovecot's LIST doesn't see a folder made behind its back.
    pub fn create_folder(&self, name: &str) {
        if !self.maildir(name).exists() {
            self.doveadm(&["mailbox", "create", "-s", "-u", &self.user, name]);
        }
    }

    /// Gives `folder` a new UIDVALIDITY; its messages stay. The next SELECT sees it; a
    /// session that has the folder selected gets `* BYE IMAP session state is
    /// inconsistent, please relogin.` on its next command or new mail (Dovecot's answer
    /// to a UIDVALIDITY change under it), so a client must reconnect and select again.
    pub fn reset_uidvalidity(&self, folder: &str) {
        let status = self.doveadm(&["mailbox", "status", "-u", &self.user, "uidvalidity", folder]);
        // "INBOX uidvalidity=1796650180"
        let current: u32 = status
            .split("uidvalidity=")
            .nth(1)
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected doveadm mailbox status: {status:?}"));
        let next = current.checked_add(1).unwrap_or(1).to_string();
        self.doveadm(&[
            "mailbox",
            "update",
            "-u",
            &self.user,
            "--uid-validity",
            &next,
            folder,
        ]);
    }

    /// The messages the SMTP sink accepted, in order, across its restarts. Each is
    /// what the client sent after two headers the sink adds: `X-Envelope-From: <from>`
    /// and `X-Envelope-To: a@x, b@y` (the accepted recipients). The same bytes were
    /// delivered into the INBOX.
    pub fn delivered_by_smtp(&self) -> Vec<Vec<u8>> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("spool")) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
            .collect();
        files.sort(); // 000001.eml, 000002.eml, ...
        files
            .iter()
            .map(|path| std::fs::read(path).unwrap())
            .collect()
    }

    /// "SMTP server down": the sink is killed, its port refuses connections.
    pub async fn stop_smtp(&mut self) {
        if let Some(mut sink) = self.smtp.take() {
            let _ = sink.start_kill();
            let _ = sink.wait().await;
        }
        wait_until_free(self.smtp_port).await;
    }

    /// The sink back on the same port, with the same refusals and the same spool.
    pub async fn start_smtp_again(&mut self) {
        assert!(self.smtp.is_none(), "the SMTP sink is running");
        let mut command = Command::new("python3");
        command
            .arg(format!("{SCRIPTS}/smtp_sink.py"))
            .arg("--port")
            .arg(self.smtp_port.to_string())
            .arg("--maildir")
            .arg(self.maildir("INBOX"))
            .arg("--spool")
            .arg(self.dir.join("spool"));
        for address in &self.refuse {
            command.arg("--refuse").arg(address);
        }
        for address in &self.tempfail {
            command.arg("--tempfail").arg(address);
        }
        let mut sink = command
            .stdin(Stdio::null())
            .stdout(Stdio::null()) // its "ready": we watch the port instead
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 for the SMTP sink ({e}): {SETUP}"));
        let hint = format!("its error is above; is aiosmtpd installed? {SETUP}");
        wait_until_listening(&mut sink, self.smtp_port, "The SMTP sink", &hint).await;
        self.smtp = Some(sink);
    }

    /// "IMAP server down": Dovecot and all its processes are killed, so the sessions
    /// it was serving end too (a plain stop of Dovecot would let them carry on).
    pub async fn stop_imap(&mut self) {
        if let Some(mut dovecot) = self.dovecot.take() {
            kill_process_group(&dovecot);
            let _ = dovecot.wait().await;
        }
        wait_until_free(self.imap_port).await;
    }

    /// Dovecot back on the same port, with the same mail.
    pub async fn start_imap_again(&mut self) {
        assert!(self.dovecot.is_none(), "Dovecot is running");
        // Dovecot refuses to start while its pid file names a live process, and a
        // killed Dovecot leaves the file behind.
        let _ = std::fs::remove_file(self.dir.join("run/master.pid"));
        let mut dovecot = Command::new(DOVECOT)
            .arg("-F") // in the foreground: our child, killed on drop
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null()) // it logs into dovecot.log; startup errors go to stderr
            .process_group(0) // a group of its own, for stop_imap and drop
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {DOVECOT} ({e}): {SETUP}"));
        let hint = format!("see above and {}", self.log_path().display());
        wait_until_listening(&mut dovecot, self.imap_port, "Dovecot", &hint).await;
        self.dovecot = Some(dovecot);
    }

    fn write_dovecot_config(&self) {
        let template = std::fs::read_to_string(format!("{SCRIPTS}/dovecot.conf"))
            .expect("scripts/mail_servers/dovecot.conf");
        let owner = &self.mail_owner;
        let config = template
            .replace("@DIR@", &self.dir.display().to_string())
            .replace("@PORT@", &self.imap_port.to_string())
            .replace("@USER@", &owner.name)
            .replace("@GROUP@", &owner.group)
            .replace("@UID@", &owner.uid.to_string())
            .replace("@GID@", &owner.gid.to_string());
        std::fs::write(self.dir.join("dovecot.conf"), config).unwrap();
        // passwd-file: user:{scheme}password
        let passwd = format!("{}:{{PLAIN}}{}\n", self.user, self.password);
        std::fs::write(self.dir.join("passwd"), passwd).unwrap();
        // Read by Dovecot's auth process, perhaps as another user, whatever our umask.
        for file in ["dovecot.conf", "passwd"] {
            let mode = std::fs::Permissions::from_mode(0o644);
            std::fs::set_permissions(self.dir.join(file), mode).unwrap();
        }
    }

    /// A folder's Maildir (Maildir++: the INBOX at the top, "Support" in `.Support`).
    fn maildir(&self, folder: &str) -> PathBuf {
        let top = self.dir.join("home/Maildir");
        if folder.eq_ignore_ascii_case("INBOX") {
            top
        } else {
            top.join(format!(".{folder}"))
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("dovecot.log")
    }

    /// Gives what we wrote as root to the mail owner (nothing to do otherwise).
    fn hand_over(&self, path: &Path) {
        let owner = &self.mail_owner;
        if std::fs::metadata(path).unwrap().uid() != owner.uid {
            std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }

    /// Dovecot's admin tool, on this instance; its output, or a panic with its errors.
    fn doveadm(&self, args: &[&str]) -> String {
        let output = std::process::Command::new(DOVEADM)
            .arg("-c")
            .arg(self.dir.join("dovecot.conf"))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {DOVEADM} ({e}): {SETUP}"));
        assert!(
            output.status.success(),
            "doveadm {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for MailServers {
    fn drop(&mut self) {
        if let Some(dovecot) = &self.dovecot {
            kill_process_group(dovecot);
        }
        if let Some(sink) = &mut self.smtp {
            let _ = sink.start_kill();
        }
        if std::thread::panicking() {
            eprintln!(
                "mail servers' files (dovecot.log, Maildir, spool): {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A listener on a free port of 127.0.0.1; drop it and start a server on its port.
fn free_port() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1")
}

/// Waits until `server`, our child, accepts connections on `port`.
async fn wait_until_listening(server: &mut Child, port: u16, name: &str, hint: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = server.try_wait() {
            panic!("{name} exited ({status}); {hint}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} did not listen on port {port} within {PATIENCE:?}; {hint}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until nothing listens on `port` (std's bind allows TIME_WAIT leftovers).
async fn wait_until_free(port: u16) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "port {port} still in use"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGKILL to a child and every process it started in its group (Dovecot's login,
/// imap and auth processes outlive their master otherwise). std and tokio only signal
/// the child itself; python3 is here anyway for the SMTP sink.
fn kill_process_group(child: &Child) {
    let Some(pid) = child.id() else { return };
    let _ = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, sys; os.killpg(int(sys.argv[1]), 9)",
            &pid.to_string(),
        ])
        .status();
}

/// Dovecot's mail user: ourselves, or `nobody` when we are root.
fn mail_owner(our_dir: &Path) -> Owner {
    // std has no getuid(); a folder we just created is ours.
    let our_uid = std::fs::metadata(our_dir).unwrap().uid();
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    let user: Vec<&str> = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| {
            fields.len() > 3
                && if our_uid == 0 {
                    fields[0] == "nobody"
                } else {
                    fields[2] == our_uid.to_string()
                }
        })
        .unwrap_or_else(|| panic!("no /etc/passwd entry for Dovecot's mail user (uid {our_uid})"));
    let gid = user[3].to_string();
    let groups = std::fs::read_to_string("/etc/group").expect("/etc/group");
    let group = groups
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() > 2 && fields[2] == gid)
        .map(|fields| fields[0].to_string())
        .unwrap_or_else(|| panic!("no /etc/group entry for gid {gid}"));
    Owner {
        name: user[0].into(),
        group,
        uid: user[2].parse().unwrap(),
        gid: gid.parse().unwrap(),
    }
}

/// A Maildir file name: seconds, microseconds, pid and a counter, then a host name.
fn unique_name() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!(
        "{}.M{}P{}Q{}.triage-tests",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
