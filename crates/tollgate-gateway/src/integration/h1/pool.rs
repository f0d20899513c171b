//! Idle upstream connections, kept per worker thread.
//!
//! Each worker thread keeps its own, so a request and its upstream connection
//! live on one thread: no lock shared between threads and no cross-thread
//! wake-up per request.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap as HashMap;

use super::conn::Connection;
use crate::integration::uri::Origin;

/// Idle connections kept per upstream (scheme and authority) and thread.
const MAX_IDLE_PER_UPSTREAM: usize = 256;

/// A connection idle longer than this is closed rather than reused: most
/// servers have closed their side by then (hyper-util's pool uses 90 s).
const MAX_IDLE_TIME: Duration = Duration::from_secs(60);

/// One thread's idle connections: by scheme (`[http, https]`), then by
/// authority, so a lookup borrows the target's and never allocates. (FxHash:
/// the authorities come from the configuration, not from clients.)
#[derive(Default)]
pub struct ThreadPool {
    idle: RefCell<[HashMap<String, Vec<Connection>>; 2]>,
}

// Reached only through `ThreadLocal::get_or`, i.e. from the thread that owns
// it, and never borrowed across an await: a RefCell is all it needs.
impl ThreadPool {
    /// The most recently used connection to this upstream that is still open
    /// and has sent nothing since its last response.
    pub fn checkout(&self, origin: &Origin) -> Option<Connection> {
        let mut idle = self.idle.borrow_mut();
        let list = idle[usize::from(origin.https)].get_mut(&origin.authority)?;
        let now = Instant::now();
        while let Some(mut conn) = list.pop() {
            if now.duration_since(conn.idle_since) < MAX_IDLE_TIME && conn.reusable() {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps `conn` for the next request to this upstream. Only a connection
    /// whose last response was read to its end comes here; one with bytes
    /// after that response is closed.
    pub fn checkin(&self, origin: &Origin, mut conn: Connection) {
        if !conn.buf.is_empty() || !conn.reusable() {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.idle.borrow_mut();
        let by_authority = &mut idle[usize::from(origin.https)];
        match by_authority.get_mut(&origin.authority) {
            Some(list) if list.len() < MAX_IDLE_PER_UPSTREAM => list.push(conn),
            Some(_) => {}
            None => {
                by_authority.insert(origin.authority.clone(), vec![conn]);
            }
        }
    }
}
