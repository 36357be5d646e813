//! The `triage` command line (PRODUCT.md, "The command line at a glance").

use std::io::Read;

use clap::{Parser, Subcommand};
use domain::audit::Actor;
use domain::role::Role;
use domain::scoring::AwsCredentials;
use domain::settings::Settings;
use domain::users::Username;
use secrecy::SecretString;

use crate::startup::{Application, open_database};

#[derive(Parser)]
#[command(name = "triage", version, about = "Triage: the email-triage dashboard")]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web app (the default).
    Serve(ServeArgs),
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Manage the people who sign in.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Load the demo mailbox and the demo sign-ins (safe to run twice).
    Demo(DemoArgs),
    /// Import .eml files, folders of them, mbox files and JSON Lines.
    Import(ImportArgs),
    /// Serve the built-in model over the SageMaker container contract
    /// (GET /ping, POST /invocations): classification, and reply drafts by retrieval
    /// from past replies (text-generation requests).
    ModelServer(ModelServerArgs),
    /// The built-in model as a SageMaker model.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Queue a scoring job: every unscored email (the default) or every email.
    Score {
        /// Score the emails without a prediction (the default).
        #[arg(long, conflicts_with = "all")]
        unscored: bool,
        /// Rescore every email.
        #[arg(long)]
        all: bool,
        /// Score through a SageMaker Batch Transform job instead of the endpoint or
        /// the built-in model in this process: the emails go to S3, SageMaker runs
        /// the job, and its output comes back as predictions. The knobs below
        /// override the `transform_*` settings.
        #[arg(long)]
        transform: bool,
        /// The SageMaker model the transform job runs.
        #[arg(long, requires = "transform")]
        sagemaker_model: Option<String>,
        /// The S3 folder for the job's input and output, `s3://bucket/prefix`.
        #[arg(long, requires = "transform")]
        s3_uri: Option<String>,
        #[arg(long, requires = "transform")]
        instance_type: Option<String>,
        #[arg(long, requires = "transform")]
        instance_count: Option<i64>,
        #[arg(long, requires = "transform")]
        max_concurrent_transforms: Option<i64>,
        #[arg(long, requires = "transform")]
        max_payload_mb: Option<i64>,
        /// The model version to score with (default: the active model).
        #[arg(long)]
        model: Option<String>,
        /// Work the job in this process too and show its progress until it ends;
        /// exits non-zero if any email failed.
        #[arg(long)]
        wait: bool,
    },
    /// Work batch jobs until stopped (for a process that serves no web pages).
    Worker,
    /// Copy the SQLite database into a new FILE while Triage runs (a consistent
    /// snapshot; restore by pointing TRIAGE_DATA_DIR or DATABASE_URL at the copy).
    /// PostgreSQL: use pg_dump.
    Backup { file: std::path::PathBuf },
    /// Write data out of Triage.
    Export {
        #[command(subcommand)]
        what: ExportCommand,
    },
    /// Train the built-in model on the labels and report its held-out metrics.
    Train {
        /// Make it the active model and score every email that has no prediction.
        #[arg(long)]
        activate: bool,
        /// Seed for the training order (the same labels and seed give the same model).
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Every label with its email's text: JSON Lines, CSV or fastText/BlazingText.
    /// Prints the dataset hash and the last label id (pass it as --as-of to rebuild
    /// the same set).
    Labels {
        /// jsonl, csv or fasttext.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Labels given on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        from: Option<String>,
        /// Labels given on or before this day.
        #[arg(long)]
        to: Option<String>,
        /// Sources, comma-separated: accepted, corrected, imported, auto.
        #[arg(long)]
        source: Option<String>,
        /// Time-based split: threads first labelled on or after this day are test.
        #[arg(long)]
        split_at: Option<String>,
        /// Only the train or the test side (needs --split-at).
        #[arg(long)]
        side: Option<String>,
        /// Only labels up to this id: an earlier export, exactly.
        #[arg(long)]
        as_of: Option<i64>,
    },
    /// Every current prediction of the emails the queue's filter selects: email id,
    /// message id, category, confidence, model version, time.
    Predictions {
        /// jsonl or csv.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// new, triaged, replied or archived.
        #[arg(long)]
        status: Option<String>,
        /// A category name (the label, else the prediction).
        #[arg(long)]
        category: Option<String>,
        /// Words to find in the subject or body.
        #[arg(long)]
        q: Option<String>,
        /// low, medium or high.
        #[arg(long)]
        confidence: Option<String>,
        /// Received on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        from: Option<String>,
        /// Received on or before this day.
        #[arg(long)]
        to: Option<String>,
        /// The model version of the prediction.
        #[arg(long)]
        model: Option<String>,
    },
    /// JSON Lines for a SageMaker Batch Transform job: one email per line, with its
    /// id and the endpoint payload (`{"id", "inputs", "parameters"}`).
    BatchInput {
        /// Every email, not only the unscored ones.
        #[arg(long)]
        all: bool,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(clap::Args)]
struct ModelServerArgs {
    #[arg(long, default_value = "0.0.0.0:8080")]
    addr: String,
    /// Serve the model `triage model export` wrote, unpacked in DIR, with no database
    /// at all (SageMaker unpacks model.tar.gz into /opt/ml/model, the value when DIR
    /// is left out). Without it, the model and past replies are read from the database.
    #[arg(
        long,
        env = "SM_MODEL_DIR",
        value_name = "DIR",
        num_args = 0..=1,
        default_missing_value = "/opt/ml/model",
        conflicts_with = "model"
    )]
    model_dir: Option<std::path::PathBuf>,
    /// A model version in the database (default: the active built-in model).
    #[arg(long)]
    model: Option<String>,
    /// Drill: answer every request after this many milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Drill: refuse every Nth runtime request as throttled (0: never).
    #[arg(long, default_value_t = 0)]
    throttle_every: u64,
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Write a built-in model in SageMaker's model layout: a model.tar.gz holding
    /// model.json, classifier.bin and the most recent past replies (replies.jsonl),
    /// for `triage model-server --model-dir` in a SageMaker endpoint or Batch Transform.
    Export {
        /// The file to write, e.g. model.tar.gz.
        #[arg(long)]
        out: std::path::PathBuf,
        /// A model version (default: the active built-in model).
        #[arg(long)]
        model: Option<String>,
    },
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct ImportArgs {
    #[command(subcommand)]
    command: Option<ImportCommand>,
    /// Files or folders (.eml, .mbox or mbox content, .jsonl).
    #[arg(required = true)]
    paths: Vec<std::path::PathBuf>,
    /// Historical categories: CSV with the header `message_id,category`.
    #[arg(long)]
    labels: Option<std::path::PathBuf>,
    /// Reject labels whose category does not exist yet (default: create it).
    #[arg(long)]
    strict_categories: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Parse everything and report what would happen; store nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Store the predictions of SageMaker Batch Transform output (`.out` files of a
    /// job run with `JoinSource=Input` on `triage export batch-input`'s lines).
    /// `triage score --transform` does the whole round trip itself.
    BatchOutput {
        /// The `.out` files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// The Triage model whose labels the transform job answered with (an
        /// endpoint model, or a built-in one run as a container; default: the active
        /// model).
        #[arg(long)]
        model: Option<String>,
    },
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Address to listen on (also TRIAGE_ADDR); default 127.0.0.1:3000.
    #[arg(long)]
    addr: Option<String>,
    /// Load the demo data before serving.
    #[arg(long)]
    demo: bool,
}

#[derive(clap::Args)]
struct DemoArgs {
    /// Start the web app afterwards.
    #[arg(long)]
    serve: bool,
    #[arg(long)]
    addr: Option<String>,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a person; the password is read from standard input.
    Add {
        name: String,
        #[arg(long, value_parser = Role::USER_ROLES.map(Role::as_str))]
        role: String,
        /// Read the password from standard input (required: passwords never go in
        /// arguments, where other users and shell history can see them).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long, default_value = "")]
        display_name: String,
    },
    /// Set a person's password, read from standard input; their sessions end.
    Passwd {
        name: String,
        /// Read the password from standard input (required, as for `add`).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Deactivate a person: they cannot sign in, and their sessions end at once.
    Deactivate { name: String },
    /// Every person: user name, role, whether active, and since when.
    List,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once; only its hash is kept.
    Create {
        name: String,
        #[arg(long, value_parser = Role::ALL.map(Role::as_str))]
        role: String,
    },
    /// Every token: id, name, role, first characters, last use, revoked or not.
    List,
    /// Revoke a token by id (from `triage token list`): it is refused from now on.
    Revoke { id: i64 },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    crate::observability::init_tracing(&settings.log);
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(settings, args.addr, args.demo).await,
        Command::Demo(args) if args.serve => serve(settings, args.addr, true).await,
        Command::Demo(_) => {
            let db = open_database(&settings).await?;
            load_demo(&db).await
        }
        Command::Import(ImportArgs {
            command: Some(ImportCommand::BatchOutput { files, model }),
            ..
        }) => {
            let db = open_database(&settings).await?;
            import_batch_output(&db, &files, model).await
        }
        Command::Export {
            what:
                ExportCommand::Labels {
                    format,
                    out,
                    from,
                    to,
                    source,
                    split_at,
                    side,
                    as_of,
                },
        } => {
            let db = open_database(&settings).await?;
            let format = domain::labels_export::Format::parse(&format)?;
            let options = domain::labels_export::ExportOptions::parse(
                from.as_deref(),
                to.as_deref(),
                source.as_deref(),
                split_at.as_deref(),
                side.as_deref(),
                as_of,
            )?;
            let summary = match out {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
                    domain::labels_export::export(&db, format, &options, &mut file).await?
                }
                None => {
                    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
                    domain::labels_export::export(&db, format, &options, &mut stdout).await?
                }
            };
            eprintln!(
                "{} labels written; dataset sha256 {}; rebuild with --as-of {}",
                summary.written,
                summary.dataset_hash,
                summary
                    .as_of
                    .map(|id| id.to_string())
                    .unwrap_or_else(|| "(none)".into())
            );
            Ok(())
        }
        Command::Export {
            what:
                ExportCommand::Predictions {
                    format,
                    out,
                    status,
                    category,
                    q,
                    confidence,
                    from,
                    to,
                    model,
                },
        } => {
            let db = open_database(&settings).await?;
            let format = domain::predictions_export::parse_format(&format)?;
            let query = domain::wire::QueueQuery {
                status,
                category,
                q,
                confidence,
                from,
                to,
                model,
                ..Default::default()
            };
            let filter = domain::queue::QueueFilter::parse(&db, &query, None, 1).await?;
            let written = match out {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
                    domain::predictions_export::export(&db, &filter, format, &mut file).await?
                }
                None => {
                    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
                    domain::predictions_export::export(&db, &filter, format, &mut stdout).await?
                }
            };
            eprintln!("{written} predictions written");
            Ok(())
        }
        Command::Export {
            what: ExportCommand::BatchInput { all, out },
        } => {
            let db = open_database(&settings).await?;
            let written = match out {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
                    let n =
                        domain::jobs::batch_transform::export_input(&db, all, &mut file).await?;
                    std::io::Write::flush(&mut file)?;
                    n
                }
                None => {
                    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
                    domain::jobs::batch_transform::export_input(&db, all, &mut stdout).await?
                }
            };
            eprintln!("{written} emails written");
            Ok(())
        }
        Command::Import(args) => {
            let db = open_database(&settings).await?;
            let options = crate::import::ImportOptions {
                labels: args.labels,
                unknown_categories: if args.strict_categories {
                    domain::ingest::store::UnknownCategories::Reject
                } else {
                    domain::ingest::store::UnknownCategories::Create
                },
                max_message_bytes: settings.max_message_bytes,
                progress: !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
                dry_run: args.dry_run,
            };
            let report =
                crate::import::run(&db, &args.paths, &options, domain::audit::Actor::System)
                    .await?;
            println!("{}", report.summary());
            if report.tally.created > 0 && !options.dry_run {
                domain::scoring::active::apply_pin(&db, settings.pinned_scorer()?).await?;
                let scored =
                    domain::scoring::score_unscored(&db, &settings.aws_credentials()).await?;
                if scored > 0 {
                    println!("{scored} emails scored by the active model");
                }
            }
            Ok(())
        }
        Command::ModelServer(args) => model_server(&settings, args).await,
        Command::Model {
            command: ModelCommand::Export { out, model },
        } => {
            let db = open_database(&settings).await?;
            let s = domain::model::artifact::export(&db, model.as_deref(), &out).await?;
            println!(
                "wrote {} to {} ({} classes, {} past replies, {} bytes)",
                s.version,
                out.display(),
                s.classes,
                s.replies,
                s.bytes
            );
            Ok(())
        }
        Command::Score {
            unscored: _,
            all,
            model,
            wait,
            transform,
            sagemaker_model,
            s3_uri,
            instance_type,
            instance_count,
            max_concurrent_transforms,
            max_payload_mb,
        } => {
            let db = open_database(&settings).await?;
            let kind = if transform {
                domain::wire::JobKind::Transform
            } else if all {
                domain::wire::JobKind::Rescore
            } else {
                domain::wire::JobKind::Score
            };
            let job = domain::jobs::NewJob {
                model,
                transform: domain::wire::TransformOptions {
                    model_name: sagemaker_model,
                    instance_type,
                    instance_count,
                    max_concurrent_transforms,
                    max_payload_mb,
                    s3_uri,
                    all,
                },
                ..domain::jobs::NewJob::of(kind)
            };
            let job = domain::jobs::create(&db, &job, Actor::System).await?;
            println!(
                "job {} queued: {} with {}",
                job.id,
                job.description,
                job.model.clone().unwrap_or_default()
            );
            if wait {
                let job = crate::jobs_cli::work_and_watch(&db, &settings, job.id).await?;
                println!("{}", crate::jobs_cli::summary(&job));
                if job.status != domain::wire::JobStatus::Succeeded || job.failed > 0 {
                    anyhow::bail!(
                        "job {} ended {} with {} failed emails",
                        job.id,
                        job.status,
                        job.failed
                    );
                }
            }
            Ok(())
        }
        Command::Backup { file } => {
            let db = open_database(&settings).await?;
            db.backup_to(&file).await?;
            println!("copied the database to {}", file.display());
            Ok(())
        }
        Command::Worker => {
            let db = open_database(&settings).await?;
            let worker_db = db.clone();
            let worker = domain::jobs::worker::Worker::new(
                db,
                settings.aws_credentials(),
                settings.worker_settings(),
            );
            println!("worker {} is waiting for jobs", worker.name());
            let _handle = worker.spawn();
            // Mailboxes are read, and replies sent, where jobs are done.
            let scorer = domain::scoring::arrival::ArrivalScorer::start(
                worker_db.clone(),
                settings.aws_credentials(),
            );
            let secrets = settings.secret_box()?;
            let _mail =
                crate::startup::start_mail(&worker_db, &settings, &secrets, &scorer).await?;
            tokio::signal::ctrl_c().await?;
            Ok(())
        }
        Command::Train { activate, seed } => {
            let db = open_database(&settings).await?;
            train(&db, activate, seed, &settings.aws_credentials()).await
        }
        Command::Migrate => {
            open_database(&settings).await?;
            println!(
                "database is up to date ({})",
                domain::db::redact(&settings.database_url())
            );
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    name,
                    role,
                    password_stdin: _,
                    display_name,
                },
        } => {
            let username = Username::parse(&name)?;
            let role = Role::parse_user_role(&role)?;
            let password = password_from_stdin()?;
            let db = open_database(&settings).await?;
            domain::users::create(&db, &username, &display_name, role, password, Actor::System)
                .await?;
            println!("added {} ({role})", username.as_str());
            Ok(())
        }
        Command::User {
            command: UserCommand::Passwd { name, .. },
        } => {
            let password = password_from_stdin()?;
            let db = open_database(&settings).await?;
            let id = user_id(&db, &name).await?;
            domain::accounts::set_password(&db, id, password, Actor::System).await?;
            println!("password of {name} changed; their sessions have ended");
            Ok(())
        }
        Command::User {
            command: UserCommand::Deactivate { name },
        } => {
            let db = open_database(&settings).await?;
            let id = user_id(&db, &name).await?;
            domain::users::set_active(&db, id, false, Actor::System).await?;
            println!("{name} deactivated; their sessions have ended");
            Ok(())
        }
        Command::User {
            command: UserCommand::List,
        } => {
            let db = open_database(&settings).await?;
            println!(
                "{:<24} {:<28} {:<11} {:<7} since",
                "user", "name", "role", "active"
            );
            for u in domain::users::list(&db).await? {
                println!(
                    "{:<24} {:<28} {:<11} {:<7} {}",
                    u.username,
                    u.display_name,
                    u.role.as_str(),
                    if u.active { "yes" } else { "no" },
                    domain::time::format_ms(u.created_at),
                );
            }
            Ok(())
        }
        Command::Token {
            command: TokenCommand::List,
        } => {
            let db = open_database(&settings).await?;
            println!(
                "{:>5} {:<24} {:<11} {:<10} {:<17} state",
                "id", "name", "role", "prefix", "last used"
            );
            for t in domain::tokens::list(&db).await? {
                println!(
                    "{:>5} {:<24} {:<11} {:<10} {:<17} {}",
                    t.id,
                    t.name,
                    t.role.as_str(),
                    t.prefix,
                    t.last_used_at
                        .map(domain::time::format_ms)
                        .unwrap_or_else(|| "never".into()),
                    if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    },
                );
            }
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Revoke { id },
        } => {
            let db = open_database(&settings).await?;
            domain::tokens::revoke(&db, id, Actor::System).await?;
            println!("token {id} revoked");
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { name, role },
        } => {
            let role = Role::parse(&role)?;
            let db = open_database(&settings).await?;
            let token = domain::tokens::create(&db, &name, role, Actor::System).await?;
            eprintln!("token {} ({role}) created; it is shown only now:", token.id);
            println!("{}", token.secret);
            Ok(())
        }
    }
}

/// A password piped in on standard input (never an argument: other users and shell
/// history would see it), without its final line break.
fn password_from_stdin() -> anyhow::Result<SecretString> {
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    Ok(SecretString::from(
        password.trim_end_matches(['\r', '\n']).to_string(),
    ))
}

async fn user_id(db: &domain::db::Db, name: &str) -> anyhow::Result<i64> {
    match domain::users::id_by_username(db, name).await {
        Err(domain::error::DomainError::NotFound) => anyhow::bail!("no user named {name}"),
        other => Ok(other?),
    }
}

/// Stores the predictions of SageMaker Batch Transform output files.
async fn import_batch_output(
    db: &domain::db::Db,
    files: &[std::path::PathBuf],
    model: Option<String>,
) -> anyhow::Result<()> {
    let version = match model {
        Some(v) => v,
        None => sqlx::query_scalar("SELECT version FROM models WHERE status = 'active'")
            .fetch_optional(&db.pool)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no model is active: name one with --model"))?,
    };
    let mut rejected = 0;
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let report =
            domain::jobs::batch_transform::import_output(db, &version, &text, Actor::System)
                .await?;
        println!(
            "{}: {} predictions stored as job {}, {} lines rejected",
            file.display(),
            report.stored,
            report.job_id,
            report.rejected.len()
        );
        for (line, why) in report.rejected.iter().take(20) {
            println!("  line {line}: {why}");
        }
        rejected += report.rejected.len();
    }
    if rejected > 0 {
        anyhow::bail!("{rejected} lines were not stored");
    }
    Ok(())
}

/// `triage model-server`: from an unpacked model directory without a database, or
/// from the database.
async fn model_server(settings: &Settings, args: ModelServerArgs) -> anyhow::Result<()> {
    use domain::model::artifact::ModelArtifact;
    use domain::model::reply_index::ReplyIndex;
    let (version, model, replies) = match args.model_dir {
        Some(dir) => {
            let artifact =
                tokio::task::spawn_blocking(move || ModelArtifact::read_dir(&dir)).await??;
            (
                artifact.manifest.version,
                artifact.classifier,
                artifact.replies,
            )
        }
        None => {
            let db = open_database(settings).await?;
            let served = crate::model_server::load(&db, args.model.as_deref()).await?;
            let replies = ReplyIndex::from_db(&db).await?;
            db.close().await;
            (served.version, served.model, replies)
        }
    };
    let listener = tokio::net::TcpListener::bind(&args.addr).await?;
    // Tests and scripts read the address as the line's last word.
    println!(
        "serving {version} ({} past replies to draft from) at http://{}",
        replies.len(),
        listener.local_addr()?
    );
    axum::serve(
        listener,
        crate::model_server::router(
            std::sync::Arc::new(model),
            std::sync::Arc::new(replies),
            crate::model_server::Faults {
                latency: std::time::Duration::from_millis(args.latency_ms),
                throttle_every: args.throttle_every,
            },
        ),
    )
    .await?;
    Ok(())
}

async fn serve(settings: Settings, addr: Option<String>, demo: bool) -> anyhow::Result<()> {
    let addr = addr.unwrap_or_else(|| settings.listen_addr());
    let app = Application::build(settings, &addr).await?;
    if demo {
        load_demo(&app.db).await?;
        println!("demo sign-ins (user / password):");
        for (name, _, role, password) in domain::demo::DEMO_USERS {
            println!("  {name:<6} / {password:<18} {role}");
        }
    }
    println!(
        "Triage is running at http://{}",
        display_addr(&addr, app.port())
    );
    app.run_until_stopped().await?;
    Ok(())
}

/// Loads the demo mailbox; on first load, trains the built-in model on its
/// historical labels and scores the rest, as a team starting with Triage would.
async fn load_demo(db: &domain::db::Db) -> anyhow::Result<()> {
    let s = domain::demo::load(db, domain::time::now_ms()).await?;
    println!(
        "demo data: {} emails added ({} already there), {} labels, {} past replies, {} users added",
        s.emails_created,
        s.emails_already_there,
        s.labels_created,
        s.replies_created,
        s.users_created
    );
    let has_model: Option<i64> =
        sqlx::query_scalar("SELECT id FROM models WHERE status = 'active'")
            .fetch_optional(&db.pool)
            .await?;
    if has_model.is_none() {
        run_demo_jobs(db).await?;
        let worked = domain::demo::staff_history(db, domain::time::now_ms()).await?;
        println!("demo history: {worked} emails labelled by the demo team");
    }
    Ok(())
}

/// The demo's first model, as a supervisor starting with Triage would make it: a
/// retrain job on the imported labels that activates its model, then a score job for
/// the rest, both run to the end here, so the Jobs page shows them finished.
async fn run_demo_jobs(db: &domain::db::Db) -> anyhow::Result<()> {
    use domain::jobs::{self, NewJob, worker::Worker, worker::WorkerSettings};
    use domain::wire::{JobKind, JobStatus};
    let supervisor: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = 'sam'")
        .fetch_optional(&db.pool)
        .await?;
    let actor = supervisor.map_or(Actor::System, Actor::User);
    let worker = Worker::new(
        db.clone(),
        AwsCredentials::StandardChain,
        WorkerSettings::default(),
    );
    let retrain = NewJob {
        activate: true,
        ..NewJob::of(JobKind::Retrain)
    };
    for job in [retrain, NewJob::of(JobKind::Score)] {
        let id = jobs::create(db, &job, actor).await?.id;
        // `triage serve --demo` has started the server's own worker, which may take
        // the job first: work until it has ended, whoever runs it.
        let done = loop {
            worker.run_until_idle().await?;
            let job = jobs::get(db, id).await?;
            if job.status.is_finished() {
                break job;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        if done.status != JobStatus::Succeeded {
            anyhow::bail!(
                "the demo's {} job ended {}: {}",
                job.kind,
                done.status,
                done.error.unwrap_or_default()
            );
        }
        let result: serde_json::Value =
            serde_json::from_str(done.result.as_deref().unwrap_or("{}")).unwrap_or_default();
        match job.kind {
            JobKind::Retrain => println!(
                "demo retrain job: model {} active; held-out accuracy {:.1} %, macro-F1 {:.3}",
                result["version"].as_str().unwrap_or("?"),
                result["accuracy"].as_f64().unwrap_or(0.0) * 100.0,
                result["macro_f1"].as_f64().unwrap_or(0.0)
            ),
            _ => println!("demo {} job: {} emails scored", job.kind, done.done),
        }
    }
    Ok(())
}

async fn train(
    db: &domain::db::Db,
    activate: bool,
    seed: u64,
    credentials: &AwsCredentials,
) -> anyhow::Result<()> {
    let model = domain::training::train(db, Actor::System, seed).await?;
    let e = &model.evaluation;
    println!(
        "trained {} on all {} labelled emails; measured on {} held-out emails by a twin trained without them: \
         accuracy {:.3}, macro-F1 {:.3}, calibration error {:.3}",
        model.version, model.training_size, model.test_size, e.accuracy, e.macro_f1, e.ece
    );
    print!("{}", per_category_table(e));
    if activate {
        domain::training::activate(db, model.id, Actor::System).await?;
        let scored = domain::scoring::score_unscored(db, credentials).await?;
        println!("{} is active; {scored} emails scored", model.version);
    }
    Ok(())
}

/// Per category: labels learnt from, held-out precision, recall and support, and a
/// flag on categories with too few labels to learn.
fn per_category_table(e: &domain::model::metrics::Evaluation) -> String {
    let min = domain::wire::MIN_LABELS_TO_LEARN as usize;
    let mut out = format!(
        "  {:24} {:>6} {:>9} {:>6} {:>7}\n",
        "category", "labels", "precision", "recall", "support"
    );
    for c in &e.per_class {
        out += &format!(
            "  {:24} {:>6} {:>9.3} {:>6.3} {:>7}{}\n",
            c.class,
            c.labels,
            c.precision,
            c.recall,
            c.support,
            if c.labels < min {
                format!("  too few labels to learn (under {min}): label more")
            } else {
                String::new()
            }
        );
    }
    out
}

fn display_addr(addr: &str, port: u16) -> String {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = if host == "0.0.0.0" || host.is_empty() {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{port}")
}

#[cfg(test)]
mod tests {
    use domain::model::metrics::{ClassMetrics, Evaluation};

    fn class(name: &str, labels: usize) -> ClassMetrics {
        ClassMetrics {
            class: name.into(),
            precision: 0.9,
            recall: 0.8,
            f1: 0.85,
            support: 7,
            labels,
        }
    }

    #[test]
    fn the_training_table_flags_categories_with_too_few_labels_to_learn() {
        let table = super::per_category_table(&Evaluation {
            accuracy: 0.9,
            macro_f1: 0.8,
            per_class: vec![class("refund", 120), class("legal", 6)],
            confusion: vec![vec![0; 2]; 2],
            ece: 0.02,
        });
        let line = |name: &str| {
            table
                .lines()
                .find(|l| l.contains(name))
                .unwrap()
                .to_string()
        };
        assert!(line("refund").contains("0.800"), "{table}");
        assert!(!line("refund").contains("too few"), "{table}");
        assert!(
            line("legal").contains("too few labels to learn (under 20)"),
            "{table}"
        );
    }
}
