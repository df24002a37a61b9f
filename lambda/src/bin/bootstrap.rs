//! `bootstrap`: the Lambda function for the `provided.al2023` runtime.
//! Clients and settings are built once per cold start; the compiled plan
//! is cached across warm invocations (see `config_source`).

use std::sync::Arc;

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use tattletail_lambda::handler::{App, HandlerError};
use tattletail_lambda::logging;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The invocation's error as Lambda records it: `Tattletail.<kind>` and
/// the message.
fn failure(e: HandlerError) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type().into(),
        error_message: e.to_string(),
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let app = match App::from_env().await {
        Ok(app) => Arc::new(app),
        Err(e) => {
            tracing::error!(message = "init_failed", error = e.to_string().as_str());
            // That line says it all; an `Err` from `main` would print the
            // error again, as `Debug`.
            std::process::exit(1);
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            let deadline = event.context.deadline();
            app.handle(event.payload, &event.context.request_id, Some(deadline))
                .await
                .map_err(failure)
        }
    }))
    .await
}
