//! The methods a client calls, with their parameters and results.

use std::{
    sync::{Arc, PoisonError},
    time::Duration,
};

use pykernel::{Kernel, Output};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    OwnerId, RunOptions, ServiceError,
    serve::{
        connection::{Connection, Outbox},
        output::{ExecuteResult, OutputJson},
        rpc::{
            INTERNAL_ERROR, INVALID_PARAMS, Json, KERNEL_FAILED, METHOD_NOT_FOUND, NO_SUCH_SESSION,
            Outgoing, REQUEST_CANCELLED, RequestId, RpcError, SHUTTING_DOWN, TOO_MANY_SESSIONS,
        },
    },
};

/// The session a request names when it names none.
const DEFAULT_SESSION: &str = "default";

/// `execute` parameters.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecuteParams {
    #[serde(default = "default_session")]
    session: String,
    code: String,
    /// Seconds; fractions allowed.
    timeout: Option<f64>,
    #[serde(default)]
    silent: bool,
    #[serde(default)]
    allow_stdin: bool,
}

/// Parameters of the methods that take just a session.
#[derive(Debug, Deserialize)]
struct SessionParams {
    #[serde(default = "default_session")]
    session: String,
}

/// `complete` parameters.
#[derive(Debug, Deserialize)]
struct CompleteParams {
    #[serde(default = "default_session")]
    session: String,
    code: String,
    /// In characters (Unicode scalar values).
    cursor: usize,
}

/// `session.close` parameters.
#[derive(Debug, Deserialize)]
struct CloseParams {
    owner: u64,
}

/// `session.open` result.
#[derive(Serialize)]
struct OpenResult<'a> {
    session: &'a str,
    owner: u64,
    owners: usize,
    generation: u64,
    pid: u32,
}

/// `session.close` result.
#[derive(Serialize)]
struct CloseResult {
    closed: bool,
}

/// `restart` result.
#[derive(Serialize)]
struct RestartResult<'a> {
    session: &'a str,
    generation: u64,
}

/// `complete` result.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CompleteResult<'a> {
    matches: &'a [String],
    cursor_start: usize,
    cursor_end: usize,
}

/// `sessions` result.
#[derive(Serialize)]
struct SessionsResult {
    sessions: Vec<SessionJson>,
}

/// One session in the `sessions` result.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionJson {
    name: String,
    alive: bool,
    busy: bool,
    idle_seconds: Option<f64>,
    cwd: Option<String>,
    generation: u64,
    pid: u32,
}

/// `output` parameters: one output of the cell that request `request_id` runs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutputParams<'a> {
    request_id: &'a RequestId,
    output: &'a OutputJson,
}

/// `lateOutput` parameters: a background thread of `session`'s kernel wrote `output`
/// after its cell ended.
#[derive(Serialize)]
struct LateOutputParams<'a> {
    session: &'a str,
    output: &'a OutputJson,
}

/// `input` parameters: the cell of request `request_id` waits in `input()`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InputParams<'a> {
    session: &'a str,
    request_id: &'a RequestId,
    prompt: &'a str,
    password: bool,
}

/// Runs method `method` of request `id`.
pub(crate) async fn call(
    connection: &Connection,
    id: &RequestId,
    method: &str,
    params: Value,
) -> Result<Json, RpcError> {
    match method {
        "execute" => execute(connection, id, parse(params)?).await,
        "interrupt" => {
            let SessionParams { session } = parse(params)?;
            connection
                .service
                .interrupt(&session)
                .map_err(service_error)?;
            Ok(Json::empty())
        }
        "restart" => {
            let SessionParams { session } = parse(params)?;
            let info = connection
                .service
                .restart(&session)
                .await
                .map_err(service_error)?;
            Ok(Json::of(&RestartResult {
                session: &info.session,
                generation: info.generation,
            }))
        }
        "shutdown" => {
            let SessionParams { session } = parse(params)?;
            match connection.service.shutdown(&session).await {
                Ok(()) | Err(ServiceError::NoSuchSession(_)) => Ok(Json::empty()),
                Err(err) => Err(service_error(err)),
            }
        }
        "sessions" => Ok(sessions(connection)),
        "session.open" => {
            let SessionParams { session } = parse(params)?;
            let opened = connection
                .service
                .open(&session)
                .await
                .map_err(service_error)?;
            Ok(Json::of(&OpenResult {
                session: &opened.info.session,
                owner: opened.owner.get(),
                owners: opened.owners,
                generation: opened.info.generation,
                pid: opened.info.pid,
            }))
        }
        "session.close" => {
            let CloseParams { owner } = parse(params)?;
            let closed = connection
                .service
                .close(OwnerId::new(owner))
                .await
                .map_err(service_error)?;
            Ok(Json::of(&CloseResult { closed }))
        }
        "complete" => {
            let CompleteParams {
                session,
                code,
                cursor,
            } = parse(params)?;
            let completions = connection
                .service
                .complete(&session, &code, cursor)
                .await
                .map_err(service_error)?;
            Ok(Json::of(&CompleteResult {
                matches: &completions.matches,
                cursor_start: completions.cursor_start,
                cursor_end: completions.cursor_end,
            }))
        }
        _ => Err(RpcError::new(
            METHOD_NOT_FOUND,
            format!("method not found: {method:?}"),
        )),
    }
}

/// Runs one cell, streaming its outputs as `output` notifications and asking the client
/// for `input()`, until it ends or the client cancels it.
async fn execute(
    connection: &Connection,
    id: &RequestId,
    params: ExecuteParams,
) -> Result<Json, RpcError> {
    let mut options = RunOptions::new()
        .with_stdin(params.allow_stdin)
        .with_silent(params.silent);
    if let Some(seconds) = params.timeout {
        let timeout = Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .ok_or_else(|| {
                RpcError::invalid_params("`timeout` must be a positive number of seconds")
            })?;
        options = options.with_timeout(timeout);
    }
    let mut cancel = connection.cancellable(id)?;
    let mut run = tokio::select! {
        run = connection.service.run(&params.session, params.code, options) => {
            run.map_err(service_error)?
        }
        () = cancel.wait() => {
            return Err(RpcError::new(REQUEST_CANCELLED, "request cancelled before the cell started"));
        }
    };
    let info = run.info().clone();
    watch_late_output(connection, &info.session, info.pid);
    let mut cancelled = false;
    loop {
        let output = tokio::select! {
            biased;
            () = cancel.wait(), if !cancelled => {
                run.cancel();
                cancelled = true;
                continue;
            }
            output = run.next_output() => output,
        };
        let Some(output) = output else { break };
        if let Output::InputRequest { prompt, password } = output {
            let params = Json::of(&InputParams {
                session: &info.session,
                request_id: id,
                prompt: &prompt,
                password,
            });
            let answer = tokio::select! {
                answer = connection.outbox.request("input", params) => Some(answer),
                () = cancel.wait(), if !cancelled => None,
            };
            let replied = match answer {
                Some(Ok(Value::Object(answer)))
                    if answer.get("value").is_some_and(Value::is_string) =>
                {
                    run.reply_input(answer["value"].as_str().unwrap_or_default())
                }
                Some(_) => run.reply_input_eof(),
                None => {
                    run.cancel();
                    cancelled = true;
                    Ok(())
                }
            };
            if let Err(err) = replied {
                tracing::debug!(%err, "the kernel went away before the input reply");
            }
            continue;
        }
        let Some(output) = OutputJson::from_output(&output) else {
            continue;
        };
        let params = Json::of(&OutputParams {
            request_id: id,
            output: &output,
        });
        connection
            .outbox
            .send(Outgoing::Notification {
                method: "output",
                params,
            })
            .await;
    }
    let result = match run.outcome().await {
        Ok(outcome) => ExecuteResult::from_outcome(&outcome, info.kernel_restarted),
        Err(err) => ExecuteResult::from_kernel_error(&err, info.kernel_restarted),
    };
    Ok(Json::of(&result))
}

/// Sends what background threads of `session`'s kernel (pid `pid`) write after their
/// cells ended as `lateOutput` notifications, from a task of its own that ends with the
/// kernel; once per kernel.
fn watch_late_output(connection: &Connection, session: &str, pid: u32) {
    let Some(kernel) = connection.service.session_kernel(session) else {
        return;
    };
    if kernel.info().pid != pid {
        return;
    }
    {
        let mut watched = connection
            .late_watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !watched.insert(kernel.instance()) {
            return;
        }
    }
    let outbox = connection.outbox.clone();
    let watched = Arc::clone(&connection.late_watched);
    let session = session.to_owned();
    tokio::spawn(async move {
        send_late_output(&kernel, &session, &outbox).await;
        // The kernel ended: nothing of it is left to watch.
        watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&kernel.instance());
    });
}

async fn send_late_output(kernel: &Kernel, session: &str, outbox: &Outbox) {
    while let Some(outputs) = kernel.unattached_output().await {
        for late in outputs {
            let Some(output) = OutputJson::from_output(&late.output) else {
                continue;
            };
            let params = Json::of(&LateOutputParams {
                session,
                output: &output,
            });
            let message = Outgoing::Notification {
                method: "lateOutput",
                params,
            };
            if !outbox.send(message).await {
                return;
            }
        }
    }
}

fn sessions(connection: &Connection) -> Json {
    let sessions = connection
        .service
        .sessions()
        .into_iter()
        .map(|session| SessionJson {
            name: session.name,
            alive: session.alive,
            busy: session.busy,
            idle_seconds: session.idle.map(|idle| idle.as_secs_f64()),
            cwd: session.cwd.map(|cwd| cwd.display().to_string()),
            generation: session.generation,
            pid: session.pid,
        })
        .collect();
    Json::of(&SessionsResult { sessions })
}

fn parse<T: DeserializeOwned>(params: Value) -> Result<T, RpcError> {
    serde_json::from_value(params).map_err(RpcError::invalid_params)
}

fn default_session() -> String {
    DEFAULT_SESSION.to_owned()
}

/// The JSON-RPC error for a service error.
fn service_error(err: ServiceError) -> RpcError {
    let code = match &err {
        ServiceError::Kernel(_) => KERNEL_FAILED,
        ServiceError::TooManySessions { .. } => TOO_MANY_SESSIONS,
        ServiceError::NoSuchSession(_) => NO_SUCH_SESSION,
        ServiceError::InvalidSessionName(_) | ServiceError::NoSuchOwner(_) => INVALID_PARAMS,
        ServiceError::Closed => SHUTTING_DOWN,
        _ => INTERNAL_ERROR,
    };
    RpcError::new(code, crate::serve::output::error_chain(&err))
}
