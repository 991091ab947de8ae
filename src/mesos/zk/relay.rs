//! A bound on what a ZooKeeper server can make this process buffer.
//!
//! `zookeeper-client` reads every reply frame whole into one growing
//! buffer before it looks at it, and has no maximum frame size: a server
//! (or anything answering on its port) that announces a 1.9 GB reply gets
//! 1.9 GB buffered. So detection talks to each ensemble member through a
//! relay on 127.0.0.1 that copies the client's requests as they are and
//! reads the server's replies frame by frame: a frame's 4-byte big-endian
//! length is checked before any of its body is read, and a length above
//! [`MAX_REPLY`] (or negative) closes both connections. The client then
//! never holds more than one frame of at most [`MAX_REPLY`] bytes (plus
//! what it already parsed); the relay itself holds one [`CHUNK`].
//!
//! The relay adds no protocol of its own: the bytes that pass are the
//! server's. A member that is down or hangs looks the same to the client
//! as without the relay (the connection fails or stays silent).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Largest reply frame accepted: ZooKeeper's own limit on a node's data
/// (`jute.maxbuffer`, 0xfffff bytes, which its Java client also applies to
/// the replies it reads), plus 4 KiB for the reply header and the node's
/// stat. A children list above it (more than about 43,000 `json.info_`
/// names) is refused as well.
pub const MAX_REPLY: u32 = 0xfffff + 4096;

/// What the relay copies at a time.
const CHUNK: usize = 64 * 1024;

/// The relays of one detection; dropping it stops them.
pub(super) struct Relays {
    /// `127.0.0.1:port` of each member's relay, in the URL's order.
    pub addrs: Vec<String>,
    stop: Arc<AtomicBool>,
    /// Why a reply was refused (the first one), for the error message.
    refused: Arc<Mutex<Option<String>>>,
    listeners: Vec<SocketAddr>,
}

impl Relays {
    /// Starts one relay per `host:port`. Connections to a member get
    /// `connect_timeout`; every socket read or write gives up after `idle`,
    /// and all copying ends by `end`.
    pub(super) fn start(
        hosts: &[String],
        connect_timeout: Duration,
        end: Instant,
    ) -> io::Result<Relays> {
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(Mutex::new(None));
        let mut addrs = Vec::new();
        let mut listeners = Vec::new();
        for host in hosts {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let local = listener.local_addr()?;
            addrs.push(local.to_string());
            listeners.push(local);
            let (stop, refused, host) = (stop.clone(), refused.clone(), host.clone());
            thread::Builder::new()
                .name("zk-relay".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) || Instant::now() >= end {
                            break;
                        }
                        let Ok(client) = conn else { continue };
                        let (stop, refused, host) = (stop.clone(), refused.clone(), host.clone());
                        let _ =
                            thread::Builder::new()
                                .name("zk-relay-conn".into())
                                .spawn(move || {
                                    serve(client, &host, connect_timeout, end, &stop, &refused)
                                });
                    }
                })?;
        }
        Ok(Relays {
            addrs,
            stop,
            refused,
            listeners,
        })
    }

    /// Why a reply was refused, if one was.
    pub(super) fn refused(&self) -> Option<String> {
        self.refused.lock().map(|r| r.clone()).unwrap_or(None)
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loops.
        for l in &self.listeners {
            let _ = TcpStream::connect_timeout(l, Duration::from_millis(100));
        }
    }
}

fn connect(host: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::other(format!("{host}: no address"));
    for addr in host.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn serve(
    client: TcpStream,
    host: &str,
    connect_timeout: Duration,
    end: Instant,
    stop: &AtomicBool,
    refused: &Mutex<Option<String>>,
) {
    let left = end.saturating_duration_since(Instant::now());
    if left.is_zero() || stop.load(Ordering::SeqCst) {
        return;
    }
    let server = match connect(host, connect_timeout.min(left)) {
        Ok(s) => s,
        Err(e) => {
            log::debug!("ZooKeeper member {host}: {e}");
            return;
        }
    };
    for s in [&client, &server] {
        let _ = s.set_nodelay(true);
        let _ = s.set_read_timeout(Some(left));
        let _ = s.set_write_timeout(Some(left));
    }
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    // Requests: copied as they are (they are ours).
    let up = thread::Builder::new()
        .name("zk-relay-up".into())
        .spawn(move || {
            let _ = copy(client2, server2);
        });
    if let Err(e) = replies(&server, &client, host)
        && e.kind() == io::ErrorKind::InvalidData
    {
        log::debug!("{e}");
        if let Ok(mut r) = refused.lock() {
            r.get_or_insert_with(|| e.to_string());
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
    if let Ok(up) = up {
        let _ = up.join();
    }
}

fn copy(mut from: TcpStream, mut to: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            let _ = to.shutdown(Shutdown::Both);
            return Ok(());
        }
        to.write_all(&buf[..n])?;
    }
}

/// Copies reply frames, refusing one whose length is above [`MAX_REPLY`]
/// before reading its body.
fn replies(mut from: &TcpStream, mut to: &TcpStream, host: &str) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let mut len = [0u8; 4];
        match from.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let n = i32::from_be_bytes(len);
        if n < 0 || n as u32 > MAX_REPLY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "ZooKeeper member {host} announced a reply of {n} bytes, over the {MAX_REPLY}-byte \
                     limit (ZooKeeper's own 1 MB jute.maxbuffer); refused without reading it"
                ),
            ));
        }
        to.write_all(&len)?;
        let mut left = n as usize;
        while left > 0 {
            let want = left.min(CHUNK);
            from.read_exact(&mut buf[..want])?;
            to.write_all(&buf[..want])?;
            left -= want;
        }
    }
}
