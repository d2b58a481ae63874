//! One client connection: bounded lines in, replies and events out. A bad
//! client gets an `error` and is dropped; the daemon keeps serving others.

use std::sync::Arc;
use std::time::Duration;

use interprocess::local_socket::tokio::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{delivery, Shared, Subscriber};
use crate::endpoint;
use crate::protocol::{decode, encode, DaemonStatus, Reply, Request, MAX_LINE};

/// A client must say something this soon after connecting.
const FIRST_MESSAGE: Duration = Duration::from_secs(10);
/// Events queued for a subscriber that does not read are dropped past this;
/// a subscriber re-reads the store, so a wake-up is never the only truth.
const OUTBOX: usize = 64;

/// Serve one connection to its end.
pub async fn serve(stream: Stream, shared: Arc<Shared>) {
    let stream = Arc::new(stream);
    if !endpoint::peer_allowed(&stream) {
        let refusal = Reply::Error {
            message: "refused: this notifier serves only its own user".into(),
        };
        if let Ok(line) = encode(&refusal) {
            let _ = (&*stream).write_all(&line).await;
        }
        return;
    }
    shared.lock().connections += 1;
    shared.touch();
    let (tx, mut rx) = mpsc::channel::<Reply>(OUTBOX);
    let send = stream.clone();
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            let Ok(line) = encode(&message) else {
                break; // nothing sensible to send: the client sees the line end
            };
            if (&*send).write_all(&line).await.is_err() {
                break;
            }
        }
    });
    let mut subscription = None;
    read_loop(&stream, &shared, &tx, &mut subscription).await;
    {
        let mut inner = shared.lock();
        inner.connections -= 1;
        if let Some(id) = subscription {
            inner.subscribers.remove(&id);
        }
    }
    shared.touch();
    drop(tx);
    let _ = writer.await;
}

async fn read_loop(
    recv: &Stream,
    shared: &Arc<Shared>,
    tx: &mpsc::Sender<Reply>,
    subscription: &mut Option<u64>,
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        let line = match next_line(recv, &mut buf, first.then_some(FIRST_MESSAGE)).await {
            Ok(Some(line)) => line,
            Ok(None) => return, // closed, or silent too long
            Err(problem) => {
                let _ = tx.send(Reply::Error { message: problem }).await;
                return;
            }
        };
        first = false;
        shared.touch();
        // A reply-shaped line (`ok`, `event`...) is no request: refused here.
        let message = match decode::<Request>(&line) {
            Ok(message) => message,
            Err(problem) => {
                let _ = tx.send(Reply::Error { message: problem }).await;
                return;
            }
        };
        let reply = match message {
            Request::Hello { .. } => Reply::Hello {
                pid: Some(std::process::id()),
            },
            Request::JobFinished { workspace, id } => {
                shared.work.notify_one();
                delivery::job_finished(shared, &workspace, id).await
            }
            Request::JobReady { workspace, id } => {
                shared.work.notify_one();
                delivery::job_ready(shared, &workspace, id).await
            }
            // The sweep that this schedules starts it once it is due.
            Request::JobQueued { .. } => {
                shared.work.notify_one();
                Reply::Ok
            }
            Request::Subscribe {
                workspace,
                ids,
                session,
                waiter,
            } => {
                shared.work.notify_one();
                let mut inner = shared.lock();
                if let Some(key) = &waiter {
                    inner.subscribers.retain(|_, old| {
                        let replaced = old.waiter.as_ref() == Some(key);
                        if replaced {
                            let _ = old.tx.try_send(Reply::Superseded);
                        }
                        !replaced
                    });
                }
                let id = *subscription.get_or_insert_with(|| {
                    inner.next_subscriber += 1;
                    inner.next_subscriber
                });
                inner.subscribers.insert(
                    id,
                    Subscriber {
                        workspace,
                        ids,
                        session,
                        waiter,
                        tx: tx.clone(),
                    },
                );
                Reply::Ok
            }
            Request::Status => {
                let inner = shared.lock();
                Reply::StatusReply {
                    status: DaemonStatus {
                        running: true,
                        pid: std::process::id(),
                        uptime_secs: shared.started.elapsed().as_secs(),
                        endpoint: shared.endpoint.clone(),
                        connections: inner.connections,
                        deliveries: inner.deliveries,
                        desktop_shown: inner.desktop_shown,
                    },
                }
            }
            Request::Shutdown => {
                let _ = tx.send(Reply::Ok).await;
                shared.shutdown.notify_one();
                return;
            }
        };
        if tx.send(reply).await.is_err() {
            return;
        }
    }
}

/// Read the next line, at most [`MAX_LINE`] bytes. `Ok(None)` at the end of
/// the stream or when `timeout` passes; `Err` with the problem for an
/// oversized line.
async fn next_line(
    mut recv: &Stream,
    buf: &mut Vec<u8>,
    timeout: Option<Duration>,
) -> Result<Option<Vec<u8>>, String> {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    loop {
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = buf.drain(..=pos).collect();
            line.pop();
            return Ok(Some(line));
        }
        if buf.len() >= MAX_LINE {
            return Err(format!("line longer than {MAX_LINE} bytes"));
        }
        let mut chunk = [0u8; 8192];
        let read = recv.read(&mut chunk);
        let n = match deadline {
            Some(at) => match tokio::time::timeout_at(at, read).await {
                Ok(r) => r,
                Err(_) => return Ok(None),
            },
            None => read.await,
        };
        match n {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
