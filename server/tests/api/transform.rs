//! Batch Transform jobs run by Triage (issue 31): the emails go to S3, SageMaker's
//! control plane gets the job, the `.out` objects come back as predictions. S3 is
//! moto's in every test. The full flow runs against moto's SageMaker as well; the
//! failure, stop and restart cases need job states moto cannot produce, so they use
//! the test's own control plane (see `aws_servers`). The test drives the worker step
//! by step (`run_once`) and plays SageMaker's part between steps, so no step races
//! the test.

use domain::audit::Actor;
use domain::jobs::NewJob;
use domain::jobs::worker::Worker;
use domain::wire::{JobKind, JobStatus, TransformOptions};

use crate::aws_servers::{ControlPlane, Moto, credentials, play_sagemaker};
use crate::helpers::{Backend, TestApp, spawn_app_with, with_trained_model};

const BUCKET: &str = "triage-batch";

/// An app whose jobs run only where the test says, with S3 (and, unless
/// `control_plane` is given, SageMaker) at moto.
async fn app_on(backend: Backend, moto: &Moto, control_plane: Option<&ControlPlane>) -> TestApp {
    let (s3, sagemaker) = (
        moto.url.clone(),
        control_plane.map_or(moto.url.clone(), |c| c.url.clone()),
    );
    spawn_app_with(backend, move |s| {
        s.jobs_in_server = false;
        s.s3_region = "us-east-1".into();
        s.s3_endpoint_url = Some(s3);
        s.sagemaker_region = "us-east-1".into();
        s.sagemaker_endpoint_url = Some(sagemaker);
        s.transform_model_name = Some("triage-builtin".into());
        s.transform_s3_uri = Some(format!("s3://{BUCKET}/jobs"));
        s.transform_lines_per_object = 40;
        // The test moves the clock itself (`due_now`).
        s.transform_poll_ms = 3_600_000;
    })
    .await
}

fn worker(app: &TestApp) -> Worker {
    Worker::new(
        app.db.clone(),
        credentials(),
        app.settings.worker_settings(),
    )
}

async fn queue(app: &TestApp, options: TransformOptions) -> i64 {
    let job = NewJob {
        transform: options,
        ..NewJob::of(JobKind::Transform)
    };
    domain::jobs::create(&app.db, &job, Actor::System)
        .await
        .unwrap()
        .id
}

/// Makes the job's next step due (as the poll interval passing would).
async fn due_now(app: &TestApp, id: i64) {
    sqlx::query("UPDATE jobs SET next_step_at = 0 WHERE id = $1")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();
}

async fn stage(app: &TestApp, id: i64) -> Option<String> {
    sqlx::query_scalar("SELECT transform_stage FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn run(app: &TestApp, id: i64) -> domain::jobs::transform::TransformRun {
    let job = domain::jobs::get(&app.db, id).await.unwrap();
    serde_json::from_str(job.result.as_deref().expect("the run is recorded")).unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn the_seed_pattern_runs_through_s3_and_sagemaker_into_the_queue(backend: Backend) {
    let moto = Moto::start().await;
    let s3 = moto.bucket(BUCKET).await;
    let app = app_on(backend, &moto, None).await;
    let trained = with_trained_model(&app).await;
    let model_server = crate::helpers::model_server(&app.db, Default::default()).await;
    let unscored = count(
        &app,
        "SELECT COUNT(*) FROM emails WHERE prediction_id IS NULL",
    )
    .await;
    assert!(
        unscored > 40,
        "the demo leaves emails unscored ({unscored})"
    );

    let id = queue(&app, TransformOptions::default()).await;
    let worker = worker(&app);
    assert!(worker.run_once().await.unwrap(), "the job starts");
    // Exported and submitted; SageMaker has it now.
    assert_eq!(stage(&app, id).await.as_deref(), Some("follow"));
    let job = domain::jobs::get(&app.db, id).await.unwrap();
    assert_eq!((job.status, job.total), (JobStatus::Running, unscored));
    let plan = run(&app, id).await;
    assert_eq!(
        plan.transform_job,
        format!("triage-{id}-{}", job.created_at / 1000)
    );
    assert_eq!(plan.input_objects, (unscored + 39) / 40);
    assert!(
        plan.input
            .starts_with(&format!("s3://{BUCKET}/jobs/triage-{id}-"))
    );

    // moto kept the request as SageMaker would get it.
    let sagemaker = domain::aws::sagemaker(&moto.address(), &credentials()).await;
    let described = sagemaker
        .describe_transform_job()
        .transform_job_name(&plan.transform_job)
        .send()
        .await
        .unwrap();
    assert_eq!(described.model_name(), Some("triage-builtin"));
    assert_eq!(described.max_payload_in_mb(), Some(6));
    assert_eq!(described.max_concurrent_transforms(), Some(4));
    assert_eq!(
        described.batch_strategy().map(|b| b.as_str()),
        Some("MultiRecord")
    );
    let resources = described.transform_resources().unwrap();
    assert_eq!(
        (
            resources.instance_type().map(|t| t.as_str()),
            resources.instance_count()
        ),
        (Some("ml.m5.xlarge"), Some(1))
    );

    // SageMaker's part, with Triage's own model server as the container.
    let answered = play_sagemaker(&s3, &plan.input, &plan.output, &model_server).await;
    assert_eq!(answered as i64, unscored);
    due_now(&app, id).await;
    assert!(worker.run_once().await.unwrap());

    let job = domain::jobs::get(&app.db, id).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);
    assert_eq!((job.done, job.failed), (unscored, 0));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM emails WHERE prediction_id IS NULL"
        )
        .await,
        0
    );
    // Stored through the one prediction path: by the model the job names, with the
    // job on each prediction, the same answer the model gives in-process.
    let by_job: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM predictions WHERE job_id = $1 AND model_id = $2")
            .bind(id)
            .bind(trained.id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(by_job, unscored);
    let (email, category): (i64, String) = sqlx::query_as(
        "SELECT e.id, c.name FROM predictions p JOIN emails e ON e.prediction_id = p.id \
         JOIN categories c ON c.id = e.predicted_category_id WHERE p.job_id = $1 ORDER BY e.id LIMIT 1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let text: (String, String) = sqlx::query_as(
        "SELECT e.subject, b.body_text FROM emails e JOIN email_bodies b ON b.email_id = e.id WHERE e.id = $1",
    )
    .bind(email)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let scorer = domain::scoring::active::load(&app.db, trained.id, &credentials())
        .await
        .unwrap();
    let direct = scorer
        .score(&[domain::scoring::EmailText {
            subject: text.0,
            body: text.1,
        }])
        .await
        .unwrap();
    assert_eq!(direct[0].category, category);

    // The email view shows it, named as the job's model's answer.
    let token = app.token(domain::role::Role::Agent).await;
    let shown: serde_json::Value = app
        .api_json(&format!("/api/v1/emails/{email}"), &token)
        .await;
    assert_eq!(
        shown["prediction"]["category"],
        category.as_str(),
        "{shown}"
    );
    assert_eq!(shown["prediction"]["model"], trained.version.as_str());
}

async fn a_restarted_worker_takes_the_transform_job_up_where_it_was(backend: Backend) {
    let moto = Moto::start().await;
    let s3 = moto.bucket(BUCKET).await;
    let plane = ControlPlane::start().await;
    let app = app_on(backend, &moto, Some(&plane)).await;
    with_trained_model(&app).await;
    let model_server = crate::helpers::model_server(&app.db, Default::default()).await;
    let id = queue(
        &app,
        TransformOptions {
            model_name: Some("bert-email-classifier".into()),
            instance_type: Some("ml.c5.2xlarge".into()),
            instance_count: Some(2),
            max_concurrent_transforms: Some(8),
            max_payload_mb: Some(2),
            ..Default::default()
        },
    )
    .await;

    assert!(worker(&app).run_once().await.unwrap());
    let plan = run(&app, id).await;
    assert_eq!(plane.calls("CreateTransformJob"), 1);
    // Every knob of the job reached SageMaker.
    let request = plane.jobs.lock().unwrap()[&plan.transform_job]
        .request
        .clone();
    assert_eq!(request["ModelName"], "bert-email-classifier");
    assert_eq!(request["MaxConcurrentTransforms"], 8);
    assert_eq!(request["MaxPayloadInMB"], 2);
    assert_eq!(request["BatchStrategy"], "MultiRecord");
    assert_eq!(
        request["TransformResources"]["InstanceType"],
        "ml.c5.2xlarge"
    );
    assert_eq!(request["TransformResources"]["InstanceCount"], 2);
    assert_eq!(request["TransformInput"]["SplitType"], "Line");
    assert_eq!(request["TransformOutput"]["AssembleWith"], "Line");
    assert_eq!(request["DataProcessing"]["JoinSource"], "Input");
    assert_eq!(
        request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
        plan.input
    );

    // The process died after SageMaker created the job but before Triage recorded
    // it: the stage still says submit. A new worker (a restarted Triage) goes on.
    sqlx::query("UPDATE jobs SET transform_stage = 'submit', next_step_at = 0 WHERE id = $1")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let restarted = worker(&app);
    assert!(restarted.run_once().await.unwrap());
    assert_eq!(stage(&app, id).await.as_deref(), Some("follow"));
    assert_eq!(
        plane.jobs.lock().unwrap().len(),
        1,
        "one SageMaker job, not two"
    );

    // Still running: the job says so and waits.
    due_now(&app, id).await;
    assert!(restarted.run_once().await.unwrap());
    assert_eq!(
        run(&app, id).await.sagemaker_status.as_deref(),
        Some("InProgress")
    );
    assert_eq!(
        domain::jobs::get(&app.db, id).await.unwrap().status,
        JobStatus::Running
    );

    let answered = play_sagemaker(&s3, &plan.input, &plan.output, &model_server).await as i64;
    plane.set(&plan.transform_job, "Completed", None);
    due_now(&app, id).await;
    assert!(restarted.run_once().await.unwrap());
    let job = domain::jobs::get(&app.db, id).await.unwrap();
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.error);
    assert_eq!(job.done, answered);

    // Reading the output again (a crash after the last object) stores nothing twice.
    sqlx::query(
        "UPDATE jobs SET status = 'running', transform_stage = 'import', next_step_at = 0 WHERE id = $1",
    )
    .bind(id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    sqlx::query("DELETE FROM transform_outputs WHERE job_id = $1")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    assert!(worker(&app).run_once().await.unwrap());
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM predictions WHERE job_id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, answered);
    assert_eq!(
        domain::jobs::get(&app.db, id).await.unwrap().status,
        JobStatus::Succeeded
    );
}

async fn a_failed_transform_job_is_shown_with_its_reason(backend: Backend) {
    let moto = Moto::start().await;
    moto.bucket(BUCKET).await;
    let plane = ControlPlane::start().await;
    let app = app_on(backend, &moto, Some(&plane)).await;
    with_trained_model(&app).await;
    let id = queue(&app, TransformOptions::default()).await;
    let worker = worker(&app);
    worker.run_once().await.unwrap();
    let plan = run(&app, id).await;
    plane.set(
        &plan.transform_job,
        "Failed",
        Some("ClientError: See job logs for more information"),
    );
    due_now(&app, id).await;
    worker.run_once().await.unwrap();

    let token = app.token(domain::role::Role::Supervisor).await;
    let job: serde_json::Value = app.api_json(&format!("/api/v1/jobs/{id}"), &token).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(
        job["error"],
        "the SageMaker transform job failed: ClientError: See job logs for more information"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM predictions WHERE job_id IS NOT NULL"
        )
        .await,
        0
    );
}

async fn cancelling_a_transform_job_stops_it_in_sagemaker(backend: Backend) {
    let moto = Moto::start().await;
    moto.bucket(BUCKET).await;
    let plane = ControlPlane::start().await;
    let app = app_on(backend, &moto, Some(&plane)).await;
    with_trained_model(&app).await;
    let id = queue(&app, TransformOptions::default()).await;
    let worker = worker(&app);
    worker.run_once().await.unwrap();
    let plan = run(&app, id).await;

    let token = app.token(domain::role::Role::Supervisor).await;
    let cancelled = app
        .client
        .post(app.url(&format!("/api/v1/jobs/{id}/cancel")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(cancelled.status().is_success());
    assert!(worker.run_once().await.unwrap());
    assert_eq!(plane.calls("StopTransformJob"), 1);
    assert_eq!(
        plane.jobs.lock().unwrap()[&plan.transform_job].status,
        "Stopping"
    );
    assert_eq!(stage(&app, id).await.as_deref(), Some("done"));
    // Nothing more to do for it.
    assert!(!worker.run_once().await.unwrap());
}

async fn a_transform_job_without_a_sagemaker_model_fails_saying_what_to_set(backend: Backend) {
    let moto = Moto::start().await;
    let plane = ControlPlane::start().await;
    let app = spawn_app_with(backend, |s| {
        s.jobs_in_server = false;
        s.s3_endpoint_url = Some(moto.url.clone());
        s.sagemaker_endpoint_url = Some(plane.url.clone());
    })
    .await;
    with_trained_model(&app).await;
    let id = queue(&app, TransformOptions::default()).await;
    worker(&app).run_once().await.unwrap();
    let job = domain::jobs::get(&app.db, id).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(
        job.error.as_deref(),
        Some("no SageMaker model to run: name one on the job, or set transform_model_name")
    );
    assert_eq!(plane.calls("CreateTransformJob"), 0);
}

crate::on_both_backends!(
    the_seed_pattern_runs_through_s3_and_sagemaker_into_the_queue,
    a_restarted_worker_takes_the_transform_job_up_where_it_was,
    a_failed_transform_job_is_shown_with_its_reason,
    cancelling_a_transform_job_stops_it_in_sagemaker,
    a_transform_job_without_a_sagemaker_model_fails_saying_what_to_set,
);
