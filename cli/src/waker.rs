//! What wakes a waiter (`wait`, `hook --rewake`) for its next look at the
//! store: the notifier's push when it answers, else a short growing pause.
//! Either way the waiter re-reads the store; a wake-up is never the truth.

use std::time::Duration;

use bgjobs_notifier::{Client, Reply, Request};
use bgjobs_store::Store;

use crate::notify;

/// Longest pause between two looks at the store without a notifier.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// Which ends the waiter wants to hear about.
#[derive(Debug, Default, Clone)]
pub struct Interest {
    /// These jobs (empty: see `session`).
    pub ids: Vec<u64>,
    /// This session's jobs.
    pub session: Option<String>,
    /// Exclusive waiter key: a newer waiter with the same key supersedes us.
    pub waiter: Option<String>,
}

/// Sleeps until something may have changed.
pub enum Waker {
    /// Subscribed to the notifier; `superseded` once a newer waiter took over.
    Push { client: Client, superseded: bool },
    /// No notifier: the next pause.
    Poll(Duration),
}

impl Waker {
    /// Subscribe before the caller's first look at the store, so that an end
    /// between the two is not missed.
    pub fn subscribe(store: &Store, interest: Interest) -> Self {
        let subscribed = notify::connect_or_start(store.root()).and_then(|mut client| {
            client.request(&Request::Subscribe {
                workspace: store.workspace().to_path_buf(),
                ids: interest.ids,
                session: interest.session,
                waiter: interest.waiter,
            })?;
            Ok(client)
        });
        match subscribed {
            Ok(client) => Waker::Push {
                client,
                superseded: false,
            },
            Err(_) => Waker::Poll(Duration::from_millis(1)),
        }
    }

    /// Sleep until woken, at most `limit`.
    pub fn sleep(&mut self, limit: Duration) {
        match self {
            Waker::Push { client, superseded } => match client.recv(Some(limit)) {
                Ok(Some(Reply::Superseded)) => *superseded = true,
                Ok(_) => {}
                // The notifier went away: fall back to watching the store.
                Err(_) => *self = Waker::Poll(Duration::from_millis(1)),
            },
            Waker::Poll(pause) => {
                std::thread::sleep((*pause).min(limit));
                *pause = (*pause * 2).min(MAX_PAUSE);
            }
        }
    }

    /// Whether the notifier said a newer waiter with our key took over.
    pub fn superseded(&self) -> bool {
        matches!(
            self,
            Waker::Push {
                superseded: true,
                ..
            }
        )
    }
}
