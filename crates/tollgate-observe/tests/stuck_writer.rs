//! A log writer that cannot write (another process holds the log database
//! locked) never holds up whoever sends it lines: sending stays
//! non-blocking, the queue fills, and the dropped lines are counted.

use std::sync::{mpsc, Arc};
use std::time::Duration;

use tollgate_observe::logs::writer::{self, LogLine};
use tollgate_observe::logs::LogStore;

#[test]
fn a_stuck_writer_drops_and_counts_instead_of_waiting() {
    let dir = std::env::temp_dir().join(format!("tollgate-stuck-writer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(LogStore::open(&dir).expect("opens"));
    // Another connection takes the database for itself: the writer's next
    // transaction waits on it.
    let blocker = rusqlite::Connection::open(dir.join("logs.db")).expect("opens");
    blocker.execute_batch("BEGIN EXCLUSIVE").expect("locked");
    let lines = writer::start(store.clone()).expect("starts");

    let (done, finished) = mpsc::channel();
    let sender = lines.clone();
    std::thread::spawn(move || {
        let group: Arc<str> = Arc::from("/stuck");
        let stream: Arc<str> = Arc::from("s");
        for i in 0..200_000i64 {
            sender.send(LogLine {
                group: group.clone(),
                stream: stream.clone(),
                timestamp_ms: i,
                message: format!("line {i}"),
            });
        }
        let _ = done.send(());
    });
    // 200 000 sends with the writer stuck: they finish (nothing waits on
    // the writer); a send that blocked would never finish while the lock is held.
    assert!(
        finished.recv_timeout(Duration::from_secs(60)).is_ok(),
        "sending lines waited on a stuck writer"
    );
    assert!(
        lines.dropped() > 100_000,
        "the full queue's drops are counted: {}",
        lines.dropped()
    );
    blocker.execute_batch("ROLLBACK").expect("unlocked");
    drop(blocker);
    let _ = std::fs::remove_dir_all(&dir);
}
