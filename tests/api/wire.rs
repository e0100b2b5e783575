//! What crosses the wire between a test server and PostgreSQL: a TCP proxy
//! that forwards every byte unchanged and notes each protocol message
//! (PostgreSQL frontend/backend protocol 3.0: a type byte, then a length
//! that counts itself). Round trips are counted from PostgreSQL's
//! `ReadyForQuery` (`Z`), which ends the answer to every simple query (`Q`)
//! and every extended-protocol `Sync` (`S`).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One message seen on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// From the server to PostgreSQL: its type byte, and for a simple query
    /// (`Q`) its text.
    Sent(char, Option<String>),
    /// From PostgreSQL to the server: its type byte, and for a
    /// `CommandComplete` (`C`) its tag (`SELECT 3`, `BEGIN`, `SET`, ...).
    Received(char, Option<String>),
}

/// Every message seen so far, with the number of the connection it crossed,
/// in arrival order.
#[derive(Clone, Default)]
pub struct Wire(Arc<Mutex<Vec<(usize, Message)>>>);

impl Wire {
    /// How many messages have been seen: a mark for [`Wire::since`].
    pub fn mark(&self) -> usize {
        self.0.lock().expect("wire log").len()
    }

    /// The messages seen since `mark`, on every connection.
    pub fn since(&self, mark: usize) -> Vec<(usize, Message)> {
        self.0.lock().expect("wire log")[mark..].to_vec()
    }

    /// Waits until no message has crossed for `still` (up to ten seconds), so
    /// a count that follows starts after the server's work behind earlier
    /// requests (the event hub reading the outbox after a burst of writes).
    pub async fn quiet(&self, still: std::time::Duration) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let before = self.mark();
            tokio::time::sleep(still).await;
            if self.mark() == before || std::time::Instant::now() > deadline {
                return;
            }
        }
    }

    fn note(&self, connection: usize, message: Message) {
        self.0.lock().expect("wire log").push((connection, message));
    }
}

/// The messages of `seen` that crossed the connection whose simple query
/// contains `needle`. Panics when no or several connections sent one.
pub fn connection_that_sent(seen: &[(usize, Message)], needle: &str) -> Vec<Message> {
    let mut connections: Vec<usize> = seen
        .iter()
        .filter(|(_, m)| matches!(m, Message::Sent('Q', Some(text)) if text.contains(needle)))
        .map(|(c, _)| *c)
        .collect();
    connections.dedup();
    assert_eq!(connections.len(), 1, "connections that sent {needle:?}: {connections:?} in {seen:?}");
    seen.iter().filter(|(c, _)| *c == connections[0]).map(|(_, m)| m.clone()).collect()
}

/// All messages of `seen`, whatever their connection.
pub fn messages(seen: &[(usize, Message)]) -> Vec<Message> {
    seen.iter().map(|(_, m)| m.clone()).collect()
}

/// Round trips among `messages`: PostgreSQL's `ReadyForQuery`s.
pub fn round_trips(messages: &[Message]) -> usize {
    messages.iter().filter(|m| matches!(m, Message::Received('Z', _))).count()
}

/// Round trips among one connection's `messages` that ran no statement of
/// their own: the pool's check of an idle connection as it hands it out and
/// as it takes it back (a bare `Sync`), the `ROLLBACK` that ends a read
/// session, and the `Parse`/`Describe` of a statement the connection has not
/// prepared before. Panics on a message order it does not know, so the test
/// that calls it sees every round trip accounted for.
pub fn round_trips_besides_statements(messages: &[Message]) -> usize {
    let mut besides = 0;
    let mut batch: Vec<&Message> = Vec::new();
    for m in messages {
        match m {
            Message::Sent('S', _) => {
                let kinds: String =
                    batch.iter().filter_map(|m| if let Message::Sent(k, _) = m { Some(*k) } else { None }).collect();
                match kinds.as_str() {
                    "" | "PD" => besides += 1,
                    "BEC" | "PBEC" | "BE" | "PBE" => {}
                    other => panic!("unknown extended-protocol batch {other:?} in {messages:?}"),
                }
                batch.clear();
            }
            Message::Sent('Q', Some(q)) if q == "ROLLBACK" => besides += 1,
            Message::Sent('Q', _) => {}
            Message::Sent(..) => batch.push(m),
            Message::Received(..) => {}
        }
    }
    besides
}

/// Statements among `messages` that read or wrote rows: completions tagged
/// `SELECT`, `INSERT`, `UPDATE` or `DELETE` (not `BEGIN`, `SET`, `ROLLBACK`).
pub fn statements(messages: &[Message]) -> usize {
    messages
        .iter()
        .filter(|m| {
            matches!(m, Message::Received('C', Some(tag))
                if ["SELECT", "INSERT", "UPDATE", "DELETE"].iter().any(|t| tag.starts_with(t)))
        })
        .count()
}

/// The texts of the simple queries among `messages`.
pub fn simple_queries(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Sent('Q', Some(text)) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// Extended-protocol executions (`E`) among `messages`: prepared statements run.
pub fn executes(messages: &[Message]) -> usize {
    messages.iter().filter(|m| matches!(m, Message::Sent('E', _))).count()
}

/// Starts a proxy to PostgreSQL at `upstream` (`host:port`); returns its
/// address and its log. It runs on a thread and runtime of its own until the
/// test process ends, so it still answers while the test's runtime is blocked
/// (the closing `verify` of [`crate::helpers::TestApp`]'s drop connects
/// through it).
pub async fn proxy(upstream: String) -> (std::net::SocketAddr, Wire) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let addr = listener.local_addr().expect("proxy address");
    let wire = Wire::default();
    let log = wire.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("proxy runtime");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).expect("a tokio listener");
            let mut connection = 0;
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else { continue };
                connection += 1;
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pipe(client_read, server_write, (connection, true), log.clone()));
                tokio::spawn(pipe(server_read, client_write, (connection, false), log.clone()));
            }
        });
    });
    (addr, wire)
}

/// Copies `from` to `to` for connection `connection` (and whether `from` is
/// the client), noting each whole message. From the client the first message
/// (the startup message) has no type byte.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    (connection, from_client): (usize, bool),
    wire: Wire,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut untyped_first = from_client;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&chunk[..n]);
        loop {
            let header = if untyped_first { 0 } else { 1 };
            let Some(len) =
                pending.get(header..header + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            else {
                break;
            };
            if pending.len() < header + len {
                break;
            }
            if untyped_first {
                untyped_first = false;
            } else {
                let kind = pending[0] as char;
                let text = || String::from_utf8_lossy(&pending[5..1 + len]).trim_end_matches('\0').to_owned();
                wire.note(
                    connection,
                    if from_client {
                        Message::Sent(kind, (kind == 'Q').then(text))
                    } else {
                        Message::Received(kind, (kind == 'C').then(text))
                    },
                );
            }
            let whole: Vec<u8> = pending.drain(..header + len).collect();
            if to.write_all(&whole).await.is_err() {
                return;
            }
        }
    }
}
