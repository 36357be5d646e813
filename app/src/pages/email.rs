//! One email: its text, the model's answer with every category's probability, and
//! the words that drove it (built-in model), so an agent sees why before deciding.

use domain::wire::{EmailView, PredictionExplained};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::format;

#[server(prefix = "/rpc", endpoint = "load_email")]
pub async fn load_email(id: i64) -> Result<EmailView, ServerFnError> {
    use crate::auth::{db, internal, require_role};
    require_role(domain::role::Role::Agent)?;
    domain::models::email_view(&db()?, id)
        .await
        .map_err(internal)
}

#[component]
pub fn EmailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok());
    let email = Resource::new(id, |id| async move {
        match id {
            Some(id) => load_email(id).await,
            None => Err(ServerFnError::new("not found")),
        }
    });
    view! {
        <p class="back"><a href="/">"← Queue"</a></p>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match email.await {
                    Ok(e) => view! { <Email email=e /> }.into_any(),
                    Err(_) => view! {
                        <Title text="Email not found" />
                        <p class="page-message">"This email does not exist."</p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Email(email: EmailView) -> impl IntoView {
    let from = if email.from_name.is_empty() {
        email.from_address.clone()
    } else {
        format!("{} <{}>", email.from_name, email.from_address)
    };
    let subject = if email.subject.is_empty() {
        "(no subject)".to_string()
    } else {
        email.subject.clone()
    };
    view! {
        <Title text=subject.clone() />
        <div class="email-layout">
            <article class="email" aria-labelledby="email-subject">
                <h1 id="email-subject">{subject}</h1>
                <dl class="email-meta">
                    <dt>"From"</dt><dd>{from}</dd>
                    <dt>"To"</dt><dd>{email.to.clone()}</dd>
                    <dt>"Received"</dt><dd>{format::timestamp(email.received_at)} " UTC"</dd>
                    <dt>"Status"</dt><dd><span class=format!("status status-{}", email.status)>{email.status.clone()}</span></dd>
                    {email.label.clone().map(|(category, by)| view! {
                        <dt>"Label"</dt>
                        <dd>{format::category(&category)} " · " {by.unwrap_or_else(|| "historical".into())}</dd>
                    })}
                </dl>
                // Plain text only: the HTML part is shown sanitized in the workspace (#6).
                <pre class="email-body">{email.body_text.clone()}</pre>
            </article>
            <aside class="prediction" aria-label="Model prediction">
                {match email.prediction {
                    Some(p) => view! { <Prediction prediction=p /> }.into_any(),
                    None => view! { <p class="page-message">"Not scored yet: it waits for the active model."</p> }.into_any(),
                }}
            </aside>
        </div>
    }
}

#[component]
fn Prediction(prediction: PredictionExplained) -> impl IntoView {
    let PredictionExplained {
        category,
        confidence,
        model,
        probabilities,
        reasons,
    } = prediction;
    view! {
        <h2>"Prediction"</h2>
        <p class="predicted">
            <strong>{format::category(&category)}</strong> " · " {format::percent(confidence)}
        </p>
        <p class="hint">"by " <code>{model}</code></p>
        <h3>"Probabilities"</h3>
        <ul class="probabilities">
            {probabilities.into_iter().map(|(c, p)| view! {
                <li>
                    <span class="prob-label">{format::category(&c)}</span>
                    <span class="bar" aria-hidden="true"><span style=format!("width: {:.0}%", p * 100.0)></span></span>
                    <span class="pct">{format::percent(p)}</span>
                </li>
            }).collect_view()}
        </ul>
        <h3>"Why"</h3>
        {if reasons.is_empty() {
            view! { <p class="hint">"This model gives no reasons (an endpoint answers with probabilities only)."</p> }.into_any()
        } else {
            view! {
                <p class="hint">"Words that pushed it most toward " {format::category(&category)} ":"</p>
                <ol class="reasons">
                    {reasons.into_iter().map(|(word, weight)| view! {
                        <li><span class="term">{word}</span> <span class="weight">{format!("+{weight:.2}")}</span></li>
                    }).collect_view()}
                </ol>
            }.into_any()
        }}
    }
}
