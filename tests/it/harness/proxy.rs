//! A TCP proxy between one bot and a server it uses (MongoDB, Lavalink, Discord's REST API): it
//! forwards bytes both ways and notes, per connection, when it opened, when the client sent
//! something (with the first line of it: an HTTP request line) and when it closed, so a test
//! can tell one instance's traffic from another's. [`Proxy::stall`] holds every byte, in both
//! directions, until [`Proxy::flow`]: a network partition, not a refused connection —
//! connections stay open, nothing is lost, and what was held arrives afterwards.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// One connection through the proxy; times are Unix microseconds, like the fakes' records.
#[derive(Debug, Clone)]
pub struct Connection {
    pub opened_at_us: u64,
    /// What the client sent, when it was passed on, with the first line of each chunk.
    pub sent: Vec<(u64, String)>,
    /// When either side closed it (the proxy then closes the other).
    pub closed_at_us: Option<u64>,
}

impl Connection {
    /// The first line the client sent (for HTTP: `GET /v4/websocket HTTP/1.1`).
    pub fn head(&self) -> &str {
        self.sent.first().map_or("", |(_, line)| line.as_str())
    }

    pub fn is_websocket(&self) -> bool {
        self.head().starts_with("GET /v4/websocket")
    }
}

struct Shared {
    upstream: String,
    flowing: watch::Sender<bool>,
    connections: Mutex<Vec<Connection>>,
    /// Client chunks whose first line starts with this are held this long before they go on.
    delay: Mutex<Option<(String, std::time::Duration)>>,
}

/// A proxy on `127.0.0.1`, forwarding to one upstream address; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            flowing: watch::Sender::new(true),
            connections: Mutex::new(Vec::new()),
            delay: Mutex::new(None),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let index = {
                    let mut c = s.connections.lock().unwrap();
                    c.push(Connection {
                        opened_at_us: unix_us(),
                        sent: Vec::new(),
                        closed_at_us: None,
                    });
                    c.len() - 1
                };
                tokio::spawn(serve(s.clone(), index, client));
            }
        });
        Proxy { addr, shared, task }
    }

    /// A proxy to the one MongoDB server of `uri` (`mongodb://[user:password@]host:port/...`),
    /// and `uri` pointed at it, with `directConnection=true` (the driver must not look for the
    /// server's own address and go around the proxy).
    pub async fn mongo(uri: &str) -> (Proxy, String) {
        let rest = uri
            .strip_prefix("mongodb://")
            .expect("a mongodb:// URI (not mongodb+srv://) for the stalling proxy");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (user, host) = match authority.rsplit_once('@') {
            Some((user, host)) => (format!("{user}@"), host),
            None => (String::new(), authority),
        };
        assert!(
            !host.contains(','),
            "one MongoDB server, not a replica set: {host}"
        );
        let proxy = Proxy::start(host).await;
        let tail = match tail {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        let mut proxied = format!("mongodb://{user}{}{tail}", proxy.addr());
        if !proxied.contains("directConnection=true") {
            proxied.push(if proxied.contains('?') { '&' } else { '?' });
            proxied.push_str("directConnection=true");
        }
        (proxy, proxied)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Holds every byte in both directions from now on (a chunk already being written goes
    /// through); new connections are accepted and held too.
    pub fn stall(&self) {
        self.shared.flowing.send_replace(false);
    }

    /// Lets the bytes through again, those held first.
    pub fn flow(&self) {
        self.shared.flowing.send_replace(true);
    }

    /// From now on, holds each request whose first line starts with `head` (such as
    /// `GET /v4/loadtracks`) for `by` before passing it on: a slow server for those requests
    /// only. `None` ends it.
    pub fn delay_requests(&self, delay: Option<(&str, std::time::Duration)>) {
        *self.shared.delay.lock().unwrap() = delay.map(|(h, d)| (h.to_string(), d));
    }

    /// Every connection so far, in the order they were opened.
    pub fn connections(&self) -> Vec<Connection> {
        self.shared.connections.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(shared: Arc<Shared>, index: usize, client: TcpStream) {
    let Ok(server) = TcpStream::connect(&shared.upstream).await else {
        closed(&shared, index);
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(&shared, index, client_read, server_write, true),
        pump(&shared, index, server_read, client_write, false),
    );
}

/// Copies one direction until it ends, waiting while stalled before each write (and before
/// passing the end on); `from_client` chunks are recorded.
async fn pump(
    shared: &Shared,
    index: usize,
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    from_client: bool,
) {
    let mut flowing = shared.flowing.subscribe();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        if flowing.wait_for(|f| *f).await.is_err() {
            break;
        }
        if n == 0 {
            break;
        }
        if from_client {
            let line = String::from_utf8_lossy(&buf[..n.min(120)])
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            let hold = shared
                .delay
                .lock()
                .unwrap()
                .as_ref()
                .filter(|(head, _)| line.starts_with(head.as_str()))
                .map(|(_, by)| *by);
            shared.connections.lock().unwrap()[index]
                .sent
                .push((unix_us(), line));
            if let Some(by) = hold {
                tokio::time::sleep(by).await;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    closed(shared, index);
    let _ = to.shutdown().await;
}

/// Now, in Unix microseconds (the clock of the fakes' `received_at_unix_us`).
fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn closed(shared: &Shared, index: usize) {
    let mut c = shared.connections.lock().unwrap();
    c[index].closed_at_us.get_or_insert_with(unix_us);
}
