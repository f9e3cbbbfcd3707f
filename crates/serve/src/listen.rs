//! The accept loop: HTTP/1.1 connections served by hyper with a header-read timer, a cap on
//! open connections, and a shutdown that waits a grace period and then cuts what is left.
//!
//! `axum::serve` sets no timer at all, so a client that sends its headers one byte per
//! second (slowloris) holds a connection, a file descriptor and a task forever, and a
//! shutdown waits for it forever. Here:
//!
//! * **header timeout** — hyper's header-read timer runs from the moment a connection waits
//!   for a request head (on a new connection and between keep-alive requests alike) until
//!   the head is complete; a client that is idle or slow for longer is disconnected. It is
//!   therefore also the keep-alive idle timeout.
//! * **connection cap** — with `max_connections` open the loop stops accepting (counted
//!   once per pause) until one closes: new clients wait in the kernel's backlog instead of
//!   being reset, the process never runs out of file descriptors, and since idle
//!   connections are cut at the header timeout, a flood of idle connections delays a new
//!   client by at most about that long.
//! * **grace** — on shutdown the listener closes, idle connections close, requests in
//!   flight are answered; connections still open after the grace period are cut, and
//!   [`accept_loop`] reports how many.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt;

use crate::Metrics;

/// The limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub grace: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets open
/// connections finish for up to `grace`, and cuts the rest. Returns how many were cut.
pub(crate) async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> usize {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // Reap finished connection tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
        // A free slot first: at the cap, wait (new clients queue in the kernel's backlog).
        let permit = match open.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                metrics.connection_limit_pauses.inc();
                tracing::warn!(
                    limit = limits.max_connections,
                    "connection limit reached; accepting again when one closes"
                );
                tokio::select! {
                    p = open.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors (or another transient failure): say so and
                    // retry shortly instead of spinning or exiting.
                    tracing::warn!(error = %e, "accept failed; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(req.map(Body::new))
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let metrics = metrics.clone();
        metrics.connections.inc();
        tasks.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            metrics.connections.dec();
            drop(permit);
        });
    }
    drop(listener);
    let cut = tokio::time::timeout(limits.grace, graceful.shutdown())
        .await
        .is_err();
    if !cut {
        return 0;
    }
    while tasks.try_join_next().is_some() {}
    let left = tasks.len();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    metrics.connections_cut.inc_by(left as u64);
    metrics.connections.set(0);
    tracing::warn!(
        connections = left,
        grace_ms = limits.grace.as_millis() as u64,
        "shutdown grace period over; cut the connections still open"
    );
    left
}
