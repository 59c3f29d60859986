//! `portshare serve`: put a simulated board's UART on a unix socket.
//!
//! * `--uart unix:PATH`: as the far end of QEMU's emulated FTDI chip (`-chardev
//!   socket,path=…` + `-device usb-serial`), so the USB transport can run through a
//!   real Linux USB stack with no hardware (`tests/usb-qemu/run`). Serves one peer and
//!   exits when it closes the connection.
//! * `--listen unix:PATH`: a board that remembers: one simulated board stays alive and
//!   serves command after command (`--device unix:PATH` on load, list, stats, clear,
//!   inject), one at a time: a command that connects while another is served waits
//!   its turn (within its reply timeout, 10 s by default). Runs until killed.
//!
//! The board is `--device sim`'s (`Board::connect`, `--board cu|cu-eth` included),
//! with `--table` loaded and any `--net-rx`/`--srv-rx` captures played into a cu-eth
//! board's ports before the socket exists, so the first command sees their counters.

use anyhow::{bail, Context as _, Result};
use portshare_host::transport::Transport as _;
use portshare_sim::board::SimBoard;
use portshare_sim::socket_uart::{self, ReplyFault};
use std::os::unix::fs::FileTypeExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::board::{AnyTransport, Board, DeviceArgs, DeviceSpec};

#[derive(clap::Args, Debug)]
#[group(id = "socket", required = true, multiple = false, args = ["uart", "listen"])]
pub struct ServeArgs {
    /// Serve one peer (QEMU's emulated FTDI chip) on `unix:PATH`, a new unix socket
    /// (the file must not exist yet); exit when it closes.
    #[arg(long, value_name = "unix:PATH", value_parser = parse_uart)]
    pub uart: Option<PathBuf>,
    /// Keep the board alive on `unix:PATH` for any number of commands in turn
    /// (`--device unix:PATH`), until killed. One is served at a time; the next waits
    /// its turn. A leftover socket file nobody listens on is replaced.
    #[arg(long, value_name = "unix:PATH", value_parser = parse_uart)]
    pub listen: Option<PathBuf>,
    /// What to do to the replies, for testing a client's error paths: `none`,
    /// `silent` (read every request, never answer), `bad-crc` (corrupt every reply's
    /// CRC) or `version=N` (INFO replies claim control-protocol version N).
    #[arg(long, default_value = "none")]
    pub fault: ReplyFault,
    /// Load this table into the board before serving it (before `--net-rx`/`--srv-rx`
    /// are played, so the pipeline carries them with it).
    #[arg(long)]
    pub table: Option<PathBuf>,
    #[command(flatten)]
    pub dev: DeviceArgs,
}

fn parse_uart(s: &str) -> Result<PathBuf, String> {
    match s.strip_prefix("unix:") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err(format!("`{s}`: the UART is served as `unix:PATH`")),
    }
}

pub fn run(a: ServeArgs) -> Result<()> {
    if a.dev.device != DeviceSpec::Sim {
        bail!("serve puts a simulated board on the socket: use --device sim");
    }
    if let Some(path) = &a.listen {
        return listen(&a, path);
    }
    let uart = a.uart.as_ref().expect("clap requires --uart or --listen");
    if uart.exists() {
        bail!("{}: already exists; serve creates the socket itself", uart.display());
    }
    // The board first, so the socket exists only once it can answer.
    let mut board = prepared(&a)?;
    let listener = UnixListener::bind(uart).with_context(|| format!("listening on {}", uart.display()))?;
    eprintln!("serving {} on unix:{} (fault: {}); waiting for a peer", board.describe(), uart.display(), a.fault);
    let served = listener
        .accept()
        .with_context(|| format!("accepting on {}", uart.display()))
        .and_then(|(stream, _)| socket_uart::serve(stream, &mut board, a.fault));
    // The socket file is ours; leave nothing behind, whatever happened.
    let _ = std::fs::remove_file(uart);
    let report = served?;
    eprintln!(
        "peer closed unix:{}: {} bytes received, {} sent; {} clocks simulated",
        uart.display(),
        report.bytes_from_peer,
        report.bytes_to_peer,
        board.clocks()
    );
    Ok(())
}

/// `--listen`: one board, command after command.
fn listen(a: &ServeArgs, path: &Path) -> Result<()> {
    claim(path)?;
    let mut board = prepared(a)?;
    let listener = UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?;
    eprintln!(
        "serving {} on unix:{} (fault: {}) until killed; commands reach it with --device unix:{}",
        board.describe(),
        path.display(),
        a.fault,
        path.display()
    );
    // One command at a time: the next waits in the listen backlog (its request
    // already sent) until the one before it closes its connection.
    for (n, stream) in listener.incoming().enumerate() {
        let stream = stream.with_context(|| format!("accepting on {}", path.display()))?;
        match socket_uart::serve(stream, &mut board, a.fault) {
            Ok(r) => eprintln!(
                "connection {} closed: {} bytes received, {} sent; {} clocks simulated so far",
                n + 1,
                r.bytes_from_peer,
                r.bytes_to_peer,
                board.clocks()
            ),
            // One client's trouble ends its connection, not the board.
            Err(e) => eprintln!("connection {}: {e:#}", n + 1),
        }
        // A peer may close (a timed-out command) with its request still being
        // answered: let the board finish it, so the next command does not meet BUSY.
        drain(&mut board);
    }
    unreachable!("incoming() never ends")
}

/// The simulated board, `--table` loaded and `--net-rx`/`--srv-rx` played (the
/// commands' own path: `Board::connect`, `load_first`).
fn prepared(a: &ServeArgs) -> Result<SimBoard> {
    let mut board = Board::connect(&a.dev)?;
    board.load_first(a.table.as_deref())?;
    match board.client.into_transport() {
        AnyTransport::Sim(b) => Ok(b),
        _ => unreachable!("--device sim is checked above"),
    }
}

/// Runs the board until it has nothing left to say: each `recv` simulates up to
/// 100 µs of board time, and stops early once a reply has been sent and paused.
fn drain(board: &mut SimBoard) {
    let mut dropped = Vec::new();
    loop {
        let sent = board.recv(&mut dropped, std::time::Duration::from_micros(100)).unwrap_or(0);
        if sent == 0 && !board.input_pending() {
            break;
        }
    }
}

/// Makes `path` free for a new socket: absent, or a socket file nobody listens on any
/// more (a server killed before it could remove it).
fn claim(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
    if !meta.file_type().is_socket() {
        bail!("{}: already exists and is not a socket; serve creates the socket itself", path.display());
    }
    if UnixStream::connect(path).is_ok() {
        bail!("{}: a server already listens there", path.display());
    }
    std::fs::remove_file(path).with_context(|| format!("removing the stale socket {}", path.display()))
}
