//! `pyk mcp`: the service as MCP tools, on the official Rust SDK (`rmcp`).
//!
//! Each MCP client (the stdio peer, or one streamable HTTP session) gets its own
//! [`Service`], so the kernels it started go when it goes. Requests are handled
//! concurrently, so `interrupt_session` reaches a cell whose `run_python` is in flight.

mod http;
mod tools;

use std::{
    collections::HashSet,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use pykernel::{KernelError, Outcome, Output, SettledOutputs};
use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequestParams,
        ElicitationAction, ElicitationSchema, Implementation, ListToolsResult,
        PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ServerCapabilities,
        ServerConfig,
    },
    service::{ElicitationMode, Peer, RequestContext},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncRead, ReadBuf},
    time::{self, Instant, MissedTickBehavior},
};
use tokio_util::sync::CancellationToken;

pub use crate::mcp::http::{HttpOptions, LOOPBACK_ORIGINS, MCP_PATH, serve_http};
use crate::{
    CellText, KernelStart, RunInfo, RunOptions, Service, ServiceError, ServiceOptions, Transcript,
    serve::TruncatedJson,
};

/// Progress notifications go out this often while a cell runs (when the client asked).
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);

/// What `pyk exec` says when a cell calls `input()` with no stdin to answer it.
const STDIN_REFUSED: &str = "the code called input(), but there is no stdin to answer it here";

/// How `pyk mcp` makes the service of each client.
#[derive(Clone)]
#[non_exhaustive]
pub struct McpOptions {
    /// The sessions, limits and output bound of each client's service.
    pub service: ServiceOptions,
    /// Starts each kernel; `None` uses [`pykernel::Kernel::start`]. `pyk` uses it to
    /// watch kernels so a SIGTERM shuts them down.
    pub kernel_start: Option<KernelStart>,
}

impl McpOptions {
    /// Kernels started with [`pykernel::Kernel::start`].
    pub fn new(service: ServiceOptions) -> Self {
        Self {
            service,
            kernel_start: None,
        }
    }

    /// Starts each kernel with `start`.
    pub fn with_kernel_start(mut self, start: KernelStart) -> Self {
        self.kernel_start = Some(start);
        self
    }

    /// A new service for one client.
    fn make_service(&self) -> Result<Service, ServiceError> {
        match &self.kernel_start {
            Some(start) => Service::with_kernel_start(self.service.clone(), Arc::clone(start)),
            None => Service::new(self.service.clone()),
        }
    }
}

/// Serves MCP over this process's stdin and stdout until the client closes stdin, then
/// shuts every kernel down.
///
/// # Errors
/// When the service cannot be made or the MCP handshake fails.
pub async fn serve_stdio(options: McpOptions) -> Result<(), ServiceError> {
    let service = options.make_service()?;
    let handler = PykMcp::new(service.clone());
    let eof = CancellationToken::new();
    let stdin = EofWatch {
        inner: tokio::io::stdin(),
        eof: eof.clone(),
    };
    // rmcp lets in-flight calls finish for a while after stdin closes; a client that
    // went away waits for nothing, so its kernels go at once and those calls end.
    let shutdown_on_eof = tokio::spawn({
        let service = service.clone();
        async move {
            eof.cancelled().await;
            service.shutdown_all().await;
        }
    });
    let result = match handler.serve((stdin, tokio::io::stdout())).await {
        Ok(running) => {
            let _ = running.waiting().await;
            Ok(())
        }
        Err(err) => Err(ServiceError::Mcp(err.to_string())),
    };
    shutdown_on_eof.abort();
    service.shutdown_all().await;
    result
}

/// Stdin that says when it reached its end.
struct EofWatch<R> {
    inner: R,
    eof: CancellationToken,
}

impl<R: AsyncRead + Unpin> AsyncRead for EofWatch<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let at_end = matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() == before;
        if at_end && buf.remaining() > 0 {
            self.eof.cancel();
        }
        poll
    }
}

/// The MCP server of one client: the four tools over one [`Service`].
///
/// When the last clone goes (the client went away: its HTTP session was deleted or the
/// stdio connection closed), every kernel of the service is shut down.
#[derive(Clone)]
pub struct PykMcp {
    service: Service,
    tools: Arc<Vec<rmcp::model::Tool>>,
    _client: Arc<ClientGuard>,
}

/// Shuts the client's kernels down when dropped.
struct ClientGuard {
    service: Service,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        tracing::debug!("mcp client gone; shutting its kernels down");
        let service = self.service.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { service.shutdown_all().await });
        }
    }
}

impl PykMcp {
    /// A server over `service`.
    pub fn new(service: Service) -> Self {
        Self {
            _client: Arc::new(ClientGuard {
                service: service.clone(),
            }),
            service,
            tools: Arc::new(tools::tools()),
        }
    }

    async fn run_python(
        &self,
        arguments: RunArgs,
        progress: Option<ProgressToken>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let can_elicit = context
            .peer
            .supported_elicitation_modes()
            .contains(&ElicitationMode::Form);
        // Each tool call is its own request: one that fails must not abort the next.
        let mut options = RunOptions::new()
            .with_stdin(can_elicit)
            .with_continue_on_error(true);
        if let Some(timeout) = arguments.timeout {
            options = options.with_timeout(timeout);
        }
        // What background threads wrote after the session's last call ended comes first.
        let late = self.service.take_unattached_output(&arguments.session);
        let mut run = match self
            .service
            .run(&arguments.session, arguments.code, options)
            .await
        {
            Ok(run) => run,
            Err(err) => return service_error(&arguments.session, &err),
        };
        let info = run.info().clone();
        let limit = self.service.options().output_limit;
        let mut transcript = Transcript::new(self.service.artifacts(), limit);
        if !late.is_empty() {
            transcript.push_text(LATE_OUTPUT_HEADER);
            let mut settling = Settling::new(limit);
            for output in late {
                settling.push(output.output, &mut transcript);
            }
            settling.finish(&mut transcript);
            transcript.push_text(LATE_OUTPUT_END);
        }
        let mut settling = Settling::new(limit);
        let started = Instant::now();
        let mut ticks = time::interval_at(started + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut cancelled = false;
        loop {
            tokio::select! {
                output = run.next_output() => match output {
                    None => break,
                    Some(Output::InputRequest { prompt, .. }) => {
                        transcript.push_text(&prompt);
                        let answer = tokio::select! {
                            answer = elicit_line(&context.peer, &prompt) => answer,
                            () = context.ct.cancelled() => None,
                        };
                        let sent = match answer {
                            Some(line) => {
                                transcript.push_text(&format!("{line}\n"));
                                run.reply_input(line)
                            }
                            None => run.reply_input_eof(),
                        };
                        if let Err(err) = sent {
                            tracing::debug!(%err, "input reply not delivered");
                        }
                    }
                    Some(output) => settling.push(output, &mut transcript),
                },
                _ = ticks.tick(), if progress.is_some() => {
                    if let Some(token) = &progress {
                        let last_line = settling.last_line().unwrap_or(transcript.last_line());
                        notify_progress(&context.peer, token, started, last_line).await;
                    }
                }
                () = context.ct.cancelled(), if !cancelled => {
                    // Interrupt, and kill after the grace, as the kernel does for any cancel.
                    cancelled = true;
                    run.cancel();
                }
            }
        }
        let outcome = run.outcome().await;
        settling.finish(&mut transcript);
        run_result(&info, outcome, transcript.finish())
    }

    fn list_sessions(&self) -> CallToolResult {
        let sessions: Vec<Value> = self
            .service
            .sessions()
            .into_iter()
            .map(|session| {
                json!({
                    "name": session.name,
                    "alive": session.alive,
                    "busy": session.busy,
                    "idleSeconds": session.idle.map(|idle| (idle.as_secs_f64() * 10.0).round() / 10.0),
                    "cwd": session.cwd.map(|cwd| cwd.display().to_string()),
                    "generation": session.generation,
                })
            })
            .collect();
        let text = if sessions.is_empty() {
            "No sessions yet; run_python creates one on first use.".to_owned()
        } else {
            sessions
                .iter()
                .map(|session| {
                    format!(
                        "{}: {}, {}, idle {}, cwd {}",
                        session["name"].as_str().unwrap_or_default(),
                        if session["alive"] == true {
                            "alive"
                        } else {
                            "stopped"
                        },
                        if session["busy"] == true {
                            "busy"
                        } else {
                            "not busy"
                        },
                        session["idleSeconds"]
                            .as_f64()
                            .map_or_else(|| "-".to_owned(), |secs| format!("{secs} s")),
                        session["cwd"].as_str().unwrap_or("unknown"),
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        structured(false, text, json!({ "sessions": sessions }))
    }

    fn interrupt_session(&self, session: &str) -> CallToolResult {
        let busy = self
            .service
            .sessions()
            .iter()
            .any(|info| info.name == session && info.busy);
        match self.service.interrupt(session) {
            Ok(()) => structured(
                false,
                if busy {
                    format!("Interrupted the code running in session `{session}`.")
                } else {
                    format!("Session `{session}` was idle; nothing to interrupt.")
                },
                json!({ "session": session, "busy": busy }),
            ),
            Err(err) => CallToolResult::error(vec![ContentBlock::text(err.to_string())]),
        }
    }

    async fn restart_session(&self, session: &str) -> CallToolResult {
        match self.service.restart(session).await {
            Ok(info) => structured(
                false,
                format!("Session `{session}` restarted with an empty namespace."),
                json!({ "session": session, "generation": info.generation }),
            ),
            Err(err) => CallToolResult::error(vec![ContentBlock::text(err.to_string())]),
        }
    }
}

impl ServerHandler for PykMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("pykernel", env!("CARGO_PKG_VERSION")).with_title("pykernel"),
            )
            .with_instructions(
                "Persistent Python kernels. run_python runs code in a named session whose \
                 variables persist between calls; list_sessions, interrupt_session and \
                 restart_session manage the sessions.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
        let result = match request.name.as_ref() {
            tools::RUN_PYTHON => {
                let args: RunArgs = parse(arguments)?;
                let progress = request
                    .meta
                    .as_ref()
                    .and_then(|meta| meta.get_progress_token())
                    .or_else(|| context.meta.get_progress_token());
                self.run_python(args, progress, &context).await
            }
            tools::LIST_SESSIONS => self.list_sessions(),
            tools::INTERRUPT_SESSION => {
                let args: SessionArgs = parse(arguments)?;
                self.interrupt_session(&args.session)
            }
            tools::RESTART_SESSION => {
                let args: SessionArgs = parse(arguments)?;
                self.restart_session(&args.session).await
            }
            name => {
                return Err(McpError::invalid_params(
                    format!("unknown tool `{name}`"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }
}

/// `run_python`'s arguments.
#[derive(Debug, Deserialize)]
struct RunArgs {
    code: String,
    #[serde(default = "default_session")]
    session: String,
    #[serde(default, deserialize_with = "seconds")]
    timeout: Option<Duration>,
}

/// The arguments of the tools that name a session.
#[derive(Debug, Deserialize)]
struct SessionArgs {
    session: String,
}

fn default_session() -> String {
    "default".to_owned()
}

fn seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    let Some(secs) = Option::<f64>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if secs.is_nan() || secs <= 0.0 {
        return Err(serde::de::Error::custom(
            "timeout must be more than 0 seconds",
        ));
    }
    Duration::try_from_secs_f64(secs)
        .map(Some)
        .map_err(|_| serde::de::Error::custom("timeout is too large"))
}

fn parse<T: for<'de> Deserialize<'de>>(arguments: Value) -> Result<T, McpError> {
    serde_json::from_value(arguments)
        .map_err(|err| McpError::invalid_params(format!("invalid arguments: {err}"), None))
}

/// Asks the user for one line through elicitation; `None` when they decline or it fails.
async fn elicit_line(peer: &Peer<RoleServer>, prompt: &str) -> Option<String> {
    let schema: ElicitationSchema = serde_json::from_value(json!({
        "type": "object",
        "properties": {
            "input": {
                "type": "string",
                "title": "Input",
                "description": if prompt.trim().is_empty() { "The line input() reads" } else { prompt.trim() },
            }
        },
        "required": ["input"]
    }))
    .ok()?;
    let message = if prompt.trim().is_empty() {
        "The Python code calls input() and waits for a line.".to_owned()
    } else {
        format!("The Python code asks: {}", prompt.trim())
    };
    let request = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: schema,
    };
    match peer.create_elicitation(request).await {
        Ok(result) if result.action == ElicitationAction::Accept => {
            let content = result.content?;
            match &content["input"] {
                Value::String(line) => Some(line.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }
        }
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(%err, "elicitation failed");
            None
        }
    }
}

async fn notify_progress(
    peer: &Peer<RoleServer>,
    token: &ProgressToken,
    started: Instant,
    last_line: &str,
) {
    let elapsed = started.elapsed().as_secs_f64();
    let mut message = format!("running for {elapsed:.0} s");
    if !last_line.is_empty() {
        let line: String = last_line.chars().take(200).collect();
        message.push_str("; last output: ");
        message.push_str(&line);
    }
    let param = ProgressNotificationParam::new(token.clone(), elapsed).with_message(message);
    if let Err(err) = peer.notify_progress(param).await {
        tracing::debug!(%err, "progress notification not sent");
    }
}

/// The tool result of one cell.
fn run_result(
    info: &RunInfo,
    outcome: Result<Outcome, KernelError>,
    cell: CellText,
) -> CallToolResult {
    let mut notes = Vec::new();
    if info.kernel_restarted {
        notes.push(
            "[note: this session's previous kernel died or was stopped since the last call, \
             so this cell ran in a fresh kernel and earlier variables are gone]"
                .to_owned(),
        );
    }
    let (status_ok, execution_count, timed_out, cancelled, kernel_killed, stdin_requested) =
        match &outcome {
            Ok(outcome) => (
                outcome.is_ok(),
                outcome.execution_count,
                outcome.timed_out(),
                outcome.cancelled(),
                outcome.kernel_killed(),
                outcome.stdin_requested(),
            ),
            Err(_) => (false, None, false, false, true, false),
        };
    let mut trailer = Vec::new();
    if stdin_requested {
        trailer.push(format!(
            "[error: input() is not available: {STDIN_REFUSED} (this MCP client does not support elicitation)]"
        ));
    } else if timed_out {
        trailer.push("[the cell hit its timeout and was interrupted]".to_owned());
    }
    if let Ok(outcome) = &outcome
        && outcome.kernel_killed()
    {
        trailer.push(
            "[the cell did not stop when interrupted, so its kernel was killed; \
             the next call starts a fresh kernel]"
                .to_owned(),
        );
    }
    if let Err(err) = &outcome {
        trailer.push(format!(
            "[error: the kernel died while running this cell ({err}); the next call starts a fresh kernel]"
        ));
    }
    let mut text = notes.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&cell.text);
    for line in &trailer {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
    }
    let mut structured_content = json!({
        "status": if status_ok { "ok" } else { "error" },
        "session": info.session,
        "executionCount": execution_count,
        "error": cell.error.as_ref().map(|error| json!({"ename": error.ename, "evalue": error.evalue})),
        "timedOut": timed_out,
        "cancelled": cancelled,
        "kernelRestarted": info.kernel_restarted,
        "kernelKilled": kernel_killed,
        "stdinRequested": stdin_requested,
        "truncated": cell.truncated,
        "savedOutput": cell.artifact.as_ref().map(|artifact| artifact.path.display().to_string()),
    });
    // Only when a display was cut, so every other result keeps its shape.
    if let Ok(outcome) = &outcome
        && !outcome.truncated.is_empty()
    {
        let cut: Vec<TruncatedJson> = outcome.truncated.iter().map(TruncatedJson::from).collect();
        structured_content["truncatedDisplays"] = json!(cut);
    }
    let mut content = Vec::new();
    if !text.is_empty() || cell.images.is_empty() {
        content.push(ContentBlock::text(text));
    }
    for image in cell.images {
        content.push(ContentBlock::image(image.data, image.mime));
    }
    let mut result = if status_ok {
        CallToolResult::success(content)
    } else {
        CallToolResult::error(content)
    };
    result.structured_content = Some(structured_content);
    result
}

/// Heads what background threads wrote after an earlier call of the session ended.
const LATE_OUTPUT_HEADER: &str =
    "[output background threads wrote after an earlier call of this session ended:]\n";
/// Ends that output; this call's own follows.
const LATE_OUTPUT_END: &str = "[this call's output:]\n";

/// A cell's outputs held back until the cell ends, so the tool result shows their final
/// state: updates and clears applied (see [`SettledOutputs`]). What is held is bounded:
/// past a few times the text limit the oldest goes into the transcript as it stands, and
/// an update of a display that went out that way is shown as a new display.
struct Settling {
    held: SettledOutputs,
    held_bytes: usize,
    max_bytes: usize,
    /// Display ids of displays already written into the transcript.
    written_ids: HashSet<String>,
    /// The last non-blank line of stream text pushed, cleaned: progress reports quote it,
    /// since held text is not in the transcript yet.
    last_line: Option<String>,
}

impl Settling {
    fn new(limit: usize) -> Self {
        Self {
            held: SettledOutputs::new(),
            held_bytes: 0,
            max_bytes: limit.saturating_mul(4).max(1 << 20),
            written_ids: HashSet::new(),
            last_line: None,
        }
    }

    /// The last non-blank line of stream text the cell wrote, if any.
    fn last_line(&self) -> Option<&str> {
        self.last_line.as_deref()
    }

    fn push(&mut self, output: Output, transcript: &mut Transcript<'_>) {
        let output = match output {
            Output::UpdateDisplay {
                display_id,
                bundle,
                metadata,
            } => {
                if self.held.update(&display_id, &bundle, &metadata)
                    || !self.written_ids.contains(&display_id)
                {
                    return;
                }
                Output::DisplayWithId {
                    display_id,
                    bundle,
                    metadata,
                }
            }
            output => output,
        };
        if let Output::Stdout(text) | Output::Stderr(text) = &output
            && let Some(line) = text.lines().rev().find(|line| !line.trim().is_empty())
        {
            self.last_line = Some(pykernel::clean_text(line));
        }
        self.held_bytes += match &output {
            Output::Stdout(text) | Output::Stderr(text) => text.len(),
            _ => 256,
        };
        self.held.push(output);
        if self.held_bytes > self.max_bytes {
            self.finish(transcript);
        }
    }

    /// Writes what is held into `transcript`.
    fn finish(&mut self, transcript: &mut Transcript<'_>) {
        for output in std::mem::take(&mut self.held).into_outputs() {
            if let Output::DisplayWithId { display_id, .. } = &output {
                self.written_ids.insert(display_id.clone());
            }
            transcript.push(&output);
        }
        self.held_bytes = 0;
    }
}

/// A run that could not start, as a tool error the model can read.
fn service_error(session: &str, err: &ServiceError) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(format!("error: {err}"))]);
    result.structured_content = Some(json!({
        "status": "error",
        "session": session,
        "executionCount": null,
        "error": null,
        "timedOut": false,
        "cancelled": false,
        "kernelRestarted": false,
        "truncated": false,
    }));
    result
}

fn structured(is_error: bool, text: String, value: Value) -> CallToolResult {
    let mut result = if is_error {
        CallToolResult::error(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(text)])
    };
    result.structured_content = Some(value);
    result
}

#[cfg(test)]
mod tests;
