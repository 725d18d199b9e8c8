//! The TCP workloads measured besides bulk throughput: request/response
//! round trips of one byte over one connection, and new connections per
//! second (connect, send a byte, receive it back, close). One echo server
//! answers both, one connection at a time.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};

use crate::netns::NsPath;
use crate::ns_thread::{run_job, spawn_job};

/// A connection whose client went silent this long is dropped.
const IDLE_LIMIT: Duration = Duration::from_secs(5);

/// An echo server on a thread inside a netns, stopped when dropped.
pub struct EchoServer {
    netns: NsPath,
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl EchoServer {
    /// Listens on [::]:`port` (both families) in `netns`; returns once it
    /// listens.
    pub fn start(netns: &NsPath, port: u16) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (listening, bound) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let thread = spawn_job(netns, move || {
            let listener = TcpListener::bind((Ipv6Addr::UNSPECIFIED, port));
            let listener = match listener {
                Ok(l) => {
                    let _ = listening.send(Ok(()));
                    l
                }
                Err(e) => {
                    let _ = listening.send(Err(anyhow!("binding port {port}: {e}")));
                    return Ok(());
                }
            };
            serve(&listener, &flag)
        })?;
        let mut server = EchoServer {
            netns: netns.clone(),
            port,
            stop,
            thread: Some(thread),
        };
        match bound.recv() {
            Ok(listens) => listens.map(|()| server),
            Err(_) => {
                server.finish()?;
                Err(anyhow!("the echo server thread ended before listening"))
            }
        }
    }

    /// Stops the server and reports how its thread ended: the flag is
    /// seen when a connection over loopback wakes the blocked accept.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        if self.thread.is_some() {
            let port = self.port;
            // Fails only when the thread has already ended, which join reports.
            let _ = run_job(&self.netns, move || {
                Ok(TcpStream::connect((Ipv4Addr::LOCALHOST, port))?)
            });
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| anyhow!("the echo server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn serve(listener: &TcpListener, stop: &AtomicBool) -> anyhow::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                // A broken client connection ends only that connection.
                let _ = echo(stream);
            }
            Err(e) => return Err(e).context("accepting"),
        }
    }
    Ok(())
}

fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE_LIMIT))?;
    let mut buf = [0u8; 64];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

/// `count` one-byte round trips over one connection (after `warmup`
/// untimed ones); each one's duration. Run inside the client's netns.
pub fn round_trips(
    server: IpAddr,
    port: u16,
    warmup: usize,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut stream = TcpStream::connect(SocketAddr::new(server, port))
        .with_context(|| format!("connecting to {server}:{port}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE_LIMIT))?;
    let mut byte = [0u8; 1];
    let mut samples = Vec::with_capacity(count);
    for i in 0..warmup + count {
        let started = Instant::now();
        stream.write_all(&byte)?;
        stream
            .read_exact(&mut byte)
            .context("reading the echoed byte")?;
        if i >= warmup {
            samples.push(started.elapsed());
        }
    }
    Ok(samples)
}

/// New connections per second for `duration`, each one connect, one byte
/// there and back, close. Run inside the client's netns.
pub fn connection_rate(server: IpAddr, port: u16, duration: Duration) -> anyhow::Result<f64> {
    let target = SocketAddr::new(server, port);
    let started = Instant::now();
    let mut done = 0u64;
    let mut byte = [0u8; 1];
    while started.elapsed() < duration {
        let mut stream =
            TcpStream::connect(target).with_context(|| format!("connection {done} to {target}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IDLE_LIMIT))?;
        stream.write_all(&byte)?;
        stream
            .read_exact(&mut byte)
            .with_context(|| format!("reading the reply on connection {done}"))?;
        drop(stream);
        done += 1;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}
