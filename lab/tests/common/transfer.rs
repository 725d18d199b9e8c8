//! A verified 1 GiB transfer between two pods: the sender writes numbered
//! pseudo-random blocks, the receiver checks every one (loss, reordering,
//! duplication or corruption all fail).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use weft_lab::netns::run_in;

use super::TestLab;

pub const BLOCK: usize = 1 << 20;
/// 1 GiB.
pub const BLOCKS: u64 = 1024;
const PORT: u16 = 9300;
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One pseudo-random block; block `n` on the wire is it with `n` in its
/// first 8 bytes.
fn pattern() -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = Vec::with_capacity(BLOCK);
    while block.len() < BLOCK {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        block.extend_from_slice(&state.to_le_bytes());
    }
    block
}

/// Listens in `netns`; the thread returns how many blocks arrived intact
/// and in order, or what was wrong.
fn receive(netns: &Path, ipv6: bool) -> JoinHandle<Result<u64, String>> {
    let any: IpAddr = if ipv6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    let listener = run_in(netns, move || TcpListener::bind((any, PORT)))
        .expect("entering the receiver")
        .expect("listening in the receiver");
    std::thread::spawn(move || {
        let expected = pattern();
        let (mut stream, _) = listener.accept().map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let mut block = vec![0; BLOCK];
        for n in 0..BLOCKS {
            stream
                .read_exact(&mut block)
                .map_err(|e| format!("block {n}: {e}"))?;
            let number = u64::from_le_bytes(block[..8].try_into().expect("8 bytes"));
            if number != n || block[8..] != expected[8..] {
                return Err(format!("block {n} arrived as block {number} or corrupt"));
            }
        }
        Ok(BLOCKS)
    })
}

/// Sends `BLOCKS` numbered blocks from `netns` to `to`.
fn send(netns: &Path, to: SocketAddr) -> Result<(), String> {
    run_in(netns, move || -> std::io::Result<()> {
        let mut block = pattern();
        let mut stream = TcpStream::connect_timeout(&to, IO_TIMEOUT)?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        for n in 0..BLOCKS {
            block[..8].copy_from_slice(&n.to_le_bytes());
            stream.write_all(&block)?;
        }
        stream.shutdown(Shutdown::Write)
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

/// Sends 1 GiB from pod `from` to pod `to` at `to_ip` and checks that all
/// of it arrived intact and in order.
pub fn transfer_gib(lab: &TestLab, from: &str, to: &str, to_ip: IpAddr) {
    let receiver = receive(&lab.pod_netns(to), to_ip.is_ipv6());
    send(&lab.pod_netns(from), SocketAddr::new(to_ip, PORT))
        .unwrap_or_else(|e| panic!("{from} -> {to}: sending failed: {e}"));
    let received = receiver.join().expect("the receiver thread");
    assert_eq!(received, Ok(BLOCKS), "{from} -> {to}");
}
