//! `portshare serve`: put a simulated board's UART on a unix socket, as the far end of
//! QEMU's emulated FTDI chip (`-chardev socket,path=…` + `-device usb-serial`), so the
//! USB transport can run through a real Linux USB stack with no hardware
//! (`tests/usb-qemu/run`). Serves one peer and exits when it closes the connection.

use anyhow::{bail, Context as _, Result};
use portshare_sim::socket_uart::{self, ReplyFault};
use portshare_host::transport::Transport as _;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use super::board::{DeviceArgs, DeviceSpec};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Where to listen: `unix:PATH` (a new unix socket; the file must not exist yet).
    #[arg(long, value_name = "unix:PATH", value_parser = parse_uart)]
    pub uart: PathBuf,
    /// What to do to the replies, for testing a client's error paths: `none`,
    /// `silent` (read every request, never answer), `bad-crc` (corrupt every reply's
    /// CRC) or `version=N` (INFO replies claim control-protocol version N).
    #[arg(long, default_value = "none")]
    pub fault: ReplyFault,
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
    if a.uart.exists() {
        bail!("{}: already exists; serve creates the socket itself", a.uart.display());
    }
    // The board first, so the socket exists only once it can answer.
    let mut board = a.dev.sim_board()?;
    let listener = UnixListener::bind(&a.uart).with_context(|| format!("listening on {}", a.uart.display()))?;
    eprintln!("serving {} on unix:{} (fault: {}); waiting for a peer", board.describe(), a.uart.display(), a.fault);
    let served = listener
        .accept()
        .with_context(|| format!("accepting on {}", a.uart.display()))
        .and_then(|(stream, _)| socket_uart::serve(stream, &mut board, a.fault));
    // The socket file is ours; leave nothing behind, whatever happened.
    let _ = std::fs::remove_file(&a.uart);
    let report = served?;
    eprintln!(
        "peer closed unix:{}: {} bytes received, {} sent; {} clocks simulated",
        a.uart.display(),
        report.bytes_from_peer,
        report.bytes_to_peer,
        board.clocks()
    );
    Ok(())
}
