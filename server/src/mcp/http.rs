//! `pyk mcp --http`: MCP over streamable HTTP, closed unless asked to open.
//!
//! A server that runs arbitrary code must never be open by accident, so: it binds a
//! loopback address unless given a bearer token; with a token, every request must carry
//! `Authorization: Bearer <token>`; the `Host` header must name a loopback host (unless a
//! token is set), and a browser's `Origin` must be a loopback origin or one allowed by
//! name, which stops DNS rebinding. Each MCP session gets its own kernels, shut down when
//! the session is deleted or the server stops.

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tokio_util::sync::CancellationToken;

use crate::{
    ServiceError,
    mcp::{McpOptions, PykMcp},
};

/// The origins a browser page may call from by default: pages served from this machine.
pub const LOOPBACK_ORIGINS: [&str; 6] = [
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
];

/// Where and how `pyk mcp --http` listens.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpOptions {
    /// The address to bind; a non-loopback one needs a token.
    pub addr: SocketAddr,
    /// The bearer token every request must carry; `None` serves loopback clients only.
    pub token: Option<String>,
    /// Browser origins allowed besides [`LOOPBACK_ORIGINS`], such as `https://app.example`.
    pub allowed_origins: Vec<String>,
}

impl HttpOptions {
    /// Listens on `addr` without a token and with loopback origins only.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            token: None,
            allowed_origins: Vec::new(),
        }
    }

    /// Requires `Authorization: Bearer <token>` on every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Allows browser pages from `origin` too.
    pub fn with_allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }
}

/// The path the MCP endpoint is served at.
pub const MCP_PATH: &str = "/mcp";

/// Serves MCP over streamable HTTP at `http://ADDR/mcp` until `shutdown` completes.
/// `ready` gets the bound address (useful with port 0).
///
/// # Errors
/// [`ServiceError::Insecure`] for a non-loopback address without a token (or an empty
/// token); [`ServiceError::Io`] when the address cannot be bound.
pub async fn serve_http(
    options: McpOptions,
    http: HttpOptions,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    if http.token.as_deref().is_some_and(str::is_empty) {
        return Err(ServiceError::Insecure("the token is empty".to_owned()));
    }
    if !http.addr.ip().is_loopback() && http.token.is_none() {
        return Err(ServiceError::Insecure(format!(
            "refusing to serve on {}, which is not a loopback address, without a token: \
             anyone who reaches it could run code here; give --token or --token-file",
            http.addr
        )));
    }
    // Fail early when the options cannot make a service at all (such as the directory).
    drop(options.make_service()?);

    let stop = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(stop.child_token())
        .with_allowed_origins(
            LOOPBACK_ORIGINS
                .iter()
                .map(|origin| (*origin).to_owned())
                .chain(http.allowed_origins.iter().cloned()),
        );
    if http.token.is_some() && !http.addr.ip().is_loopback() {
        // Clients reach a public address by names we cannot know; the token guards it.
        config = config.disable_allowed_hosts();
    }
    let service: StreamableHttpService<PykMcp, LocalSessionManager> = StreamableHttpService::new(
        move || {
            options
                .make_service()
                .map(PykMcp::new)
                .map_err(std::io::Error::other)
        },
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let mut router = Router::new().nest_service(MCP_PATH, service);
    if let Some(token) = http.token {
        router = router.layer(middleware::from_fn_with_state(
            Arc::new(token),
            require_token,
        ));
    }
    let listener = tokio::net::TcpListener::bind(http.addr)
        .await
        .map_err(|err| ServiceError::Io(Arc::new(err)))?;
    let bound = listener
        .local_addr()
        .map_err(|err| ServiceError::Io(Arc::new(err)))?;
    ready(bound);
    let served = axum::serve(listener, router)
        .with_graceful_shutdown({
            let stop = stop.clone();
            async move {
                shutdown.await;
                stop.cancel();
            }
        })
        .await;
    stop.cancel();
    served.map_err(|err| ServiceError::Io(Arc::new(err)))
}

/// Lets a request through only with `Authorization: Bearer <token>`.
async fn require_token(State(token): State<Arc<String>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => {
            next.run(request).await
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token\n",
        )
            .into_response(),
    }
}

/// Compares without stopping at the first difference, so timing tells nothing about the
/// token's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
