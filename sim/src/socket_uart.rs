//! The simulated board's UART on a unix socket: the far end of QEMU's emulated FTDI
//! chip (`-chardev socket,path=…` behind `-device usb-serial`), so that a guest
//! kernel's USB stack and the real CLI inside the guest talk to the simulated board.
//! `portshare serve` runs it; `tests/usb-qemu/run` starts one per emulated chip.
//!
//! The socket is read on a thread of its own, all the time: QEMU writes the guest's
//! OUT data with a blocking write from its main loop, so a far end that stops reading
//! (even while it writes back) freezes the whole emulator. Writing back happens on a
//! second thread for the same reason in the other direction.
//!
//! Faults for the bad-path checks are applied to the board's reply stream with the
//! protocol codec of `portshare_host::protocol` (deframe, change, re-encode), so the
//! damage is exactly what the client's decoder will see.

use crate::board::SimBoard;
use anyhow::{bail, Context as _, Result};
use portshare_host::protocol::{slip_encode, Deframed, DeviceInfo, Reply, SlipDecoder, CMD_INFO, STATUS_OK};
use portshare_host::transport::Transport;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Simulated time one poll of the board covers while it is busy.
const POLL: Duration = Duration::from_micros(20);
/// Polls with no input pending and nothing sent before the board counts as idle and
/// the server sleeps until the peer sends again. The board answers within a few
/// hundred clocks of a request's last byte; this is 10 000 clocks.
const IDLE_POLLS: u32 = 5;

/// What the far end does to the board's replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyFault {
    /// Replies go out as the board sent them.
    None,
    /// Requests are read (and dropped); nothing is ever sent back.
    Silent,
    /// Every reply's CRC is corrupted.
    BadCrc,
    /// INFO replies claim this control-protocol version; everything else is untouched.
    Version(u8),
}

impl std::str::FromStr for ReplyFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(ReplyFault::None),
            "silent" => Ok(ReplyFault::Silent),
            "bad-crc" => Ok(ReplyFault::BadCrc),
            _ => match s.strip_prefix("version=") {
                Some(v) => v
                    .parse()
                    .map(ReplyFault::Version)
                    .map_err(|_| format!("`{s}`: the version in version=N is 0-255")),
                None => Err(format!("`{s}`: the fault is none, silent, bad-crc or version=N")),
            },
        }
    }
}

impl std::fmt::Display for ReplyFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyFault::None => write!(f, "none"),
            ReplyFault::Silent => write!(f, "silent"),
            ReplyFault::BadCrc => write!(f, "bad-crc"),
            ReplyFault::Version(v) => write!(f, "version={v}"),
        }
    }
}

/// Applies a `ReplyFault` to the board's reply bytes as they come, packet by packet.
pub struct FaultyReplies {
    fault: ReplyFault,
    deframer: SlipDecoder,
}

impl FaultyReplies {
    pub fn new(fault: ReplyFault) -> Self {
        FaultyReplies { fault, deframer: SlipDecoder::new() }
    }

    /// The bytes to send on for `bytes` from the board. With a fault that changes
    /// packets, a packet goes out once it is complete.
    pub fn pass(&mut self, bytes: &[u8]) -> Vec<u8> {
        match self.fault {
            ReplyFault::None => return bytes.to_vec(),
            ReplyFault::Silent => return Vec::new(),
            ReplyFault::BadCrc | ReplyFault::Version(_) => {}
        }
        let mut out = Vec::new();
        for packet in self.deframer.push(bytes) {
            // The board never sends a bad escape; if it did, its body goes on re-framed.
            let (Deframed::Packet(mut body) | Deframed::BadEscape(mut body)) = packet;
            match self.fault {
                ReplyFault::BadCrc => {
                    if let Some(crc_low) = body.last_mut() {
                        *crc_low ^= 0xFF;
                    }
                    out.extend(slip_encode(&body));
                }
                ReplyFault::Version(version) => match Reply::decode(&body) {
                    Ok(mut r) if r.command == CMD_INFO && r.status == STATUS_OK => {
                        if let Some(mut info) = DeviceInfo::from_payload(&r.payload) {
                            info.protocol_version = version;
                            r.payload = info.to_payload();
                        }
                        out.extend(r.encode());
                    }
                    _ => out.extend(slip_encode(&body)),
                },
                // Returned early above; a packet would pass unchanged.
                ReplyFault::None | ReplyFault::Silent => out.extend(slip_encode(&body)),
            }
        }
        out
    }
}

/// What crossed the socket while it was served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeReport {
    pub bytes_from_peer: u64,
    pub bytes_to_peer: u64,
}

/// Serves `board` on `stream` until the peer closes it: bytes from the peer go into
/// the board's receiver, the board's replies (after `fault`) go back.
pub fn serve(stream: UnixStream, board: &mut SimBoard, fault: ReplyFault) -> Result<ServeReport> {
    let SocketThreads { from_peer, to_peer } = split(stream)?;
    let mut replies = FaultyReplies::new(fault);
    let mut report = ServeReport::default();
    let mut out = Vec::new();
    let mut idle_polls = IDLE_POLLS;
    loop {
        // Take what the peer has sent; when the board is idle, wait for it.
        let mut incoming: Vec<Vec<u8>> = Vec::new();
        if idle_polls >= IDLE_POLLS && !board.input_pending() {
            match from_peer.recv() {
                Ok(bytes) => incoming.push(bytes),
                Err(mpsc::RecvError) => return Ok(report),
            }
        }
        let mut closed = false;
        loop {
            match from_peer.try_recv() {
                Ok(bytes) => incoming.push(bytes),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        for bytes in &incoming {
            report.bytes_from_peer += bytes.len() as u64;
            board.send(bytes)?;
            idle_polls = 0;
        }
        // What came with the close still counts (and reaches the board).
        if closed {
            return Ok(report);
        }
        out.clear();
        if board.recv(&mut out, POLL)? > 0 {
            idle_polls = 0;
            let passed = replies.pass(&out);
            report.bytes_to_peer += passed.len() as u64;
            if !passed.is_empty() && to_peer.send(passed).is_err() {
                bail!("the peer stopped taking replies (socket write failed)");
            }
        } else {
            idle_polls = idle_polls.saturating_add(1);
        }
    }
}

/// The two directions of the socket, each served by its own thread.
struct SocketThreads {
    /// Bytes the peer sent; disconnects when the peer closes.
    from_peer: mpsc::Receiver<Vec<u8>>,
    /// Bytes for the peer; the writer thread ends when this is dropped.
    to_peer: mpsc::Sender<Vec<u8>>,
}

/// Reads `stream` on one thread and writes it on another.
fn split(stream: UnixStream) -> Result<SocketThreads> {
    let (in_tx, in_rx) = mpsc::channel();
    let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>();
    let mut reader = stream.try_clone().context("cloning the socket for its reader thread")?;
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || in_tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut writer = stream;
    thread::spawn(move || {
        for chunk in out_rx {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    Ok(SocketThreads { from_peer: in_rx, to_peer: out_tx })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::SimWire;
    use portshare_host::protocol::{Client, ClientError, PROTOCOL_VERSION};
    use portshare_host::socket::SocketTransport;
    use portshare_host::Slot;
    use std::time::Instant;

    /// A served board and a client on the other end of a socket pair.
    fn served(fault: ReplyFault) -> (Client<SocketTransport>, thread::JoinHandle<ServeReport>) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let server = thread::spawn(move || {
            let mut board = SimBoard::new(16, SimWire::Bytes).unwrap();
            serve(theirs, &mut board, fault).unwrap()
        });
        let client = Client::new(SocketTransport::over(ours, std::path::Path::new("pair"))).with_timeout(Duration::from_millis(2000)).with_retries(1);
        (client, server)
    }

    #[test]
    fn faults_parse_and_print_back() {
        for s in ["none", "silent", "bad-crc", "version=7"] {
            assert_eq!(s.parse::<ReplyFault>().unwrap().to_string(), s);
        }
        assert!("version=300".parse::<ReplyFault>().unwrap_err().contains("0-255"));
        assert!("loud".parse::<ReplyFault>().unwrap_err().contains("bad-crc"));
    }

    #[test]
    fn clean_board_answers_and_server_ends_when_the_peer_closes() {
        let (mut c, server) = served(ReplyFault::None);
        let info = c.info().unwrap();
        assert_eq!((info.protocol_version, info.capacity), (PROTOCOL_VERSION, 16));
        let slot = Slot::new("192.0.2.10".parse().unwrap(), true, false, 443, 8443);
        c.write_entry(3, &slot).unwrap();
        assert_eq!(c.read_entry(3).unwrap(), slot);
        assert_eq!(c.stats().retries, 0);
        let sent = c.stats().bytes_sent;
        let received = c.stats().bytes_received;
        drop(c);
        let report = server.join().unwrap();
        assert_eq!(report, ServeReport { bytes_from_peer: sent, bytes_to_peer: received });
    }

    #[test]
    fn silent_far_end_reads_everything_and_answers_nothing() {
        let (c, server) = served(ReplyFault::Silent);
        let mut c = c.with_timeout(Duration::from_millis(100));
        let started = Instant::now();
        let e = c.info().unwrap_err();
        assert!(matches!(e, ClientError::Timeout { attempts: 2, .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let sent = c.stats().bytes_sent;
        drop(c);
        let report = server.join().unwrap();
        assert_eq!(report, ServeReport { bytes_from_peer: sent, bytes_to_peer: 0 });
    }

    #[test]
    fn bad_crc_replies_are_retried_then_refused() {
        let (mut c, _server) = served(ReplyFault::BadCrc);
        let e = c.info().unwrap_err();
        assert!(matches!(e, ClientError::GaveUp { attempts: 2, .. }), "{e}");
        assert!(e.to_string().contains("CRC"), "{e}");
        assert_eq!(c.stats().bad_replies, 2);
    }

    #[test]
    fn version_fault_changes_info_only() {
        let (mut c, _server) = served(ReplyFault::Version(9));
        assert_eq!(c.info().unwrap().protocol_version, 9);
        let slot = Slot::new("2001:db8::10".parse().unwrap(), true, true, 53, 5353);
        c.write_entry(0, &slot).unwrap();
        assert_eq!(c.read_entry(0).unwrap(), slot);
        assert_eq!(c.stats().retries, 0);
    }
}
