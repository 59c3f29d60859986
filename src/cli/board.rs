//! Board commands: find boards on USB, load a table, read it back, read counters, clear
//! it, and run frames through the board's pipeline — against the real Alchitry Cu
//! (`--device usb…`, the FT2232H's channel B), a simulated board that lives for one
//! command (`--device sim`), or one that `portshare serve --device sim --listen
//! unix:PATH` keeps alive between commands (`--device unix:PATH`). Every command speaks
//! the same control protocol through `portshare_host::protocol::Client`, whichever
//! transport carries it.
//!
//! `--board cu-eth` simulates the Ethernet board top instead (`sim::board::SimBoard::
//! ethernet`): both ports' PHY models (100 Mb/s full duplex, REF_CLKs ±50 ppm) answer
//! MDIO with link up, and `--net-rx`/`--srv-rx` captures are played into the ports' RX
//! pins after `--table` is loaded, so READ_PORT's counters count them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::build::BoardKind;

use anyhow::{bail, Context as _};
use portshare_host::ftdi::{self, Usability, UsbSelector};
use portshare_host::protocol::{ports, Client, ClientStats, Counters, DeviceInfo, PortStatus};
use portshare_host::socket::{self, SocketTransport};
use portshare_host::table::Table;
use portshare_host::transport::Transport;
use portshare_host::usb::{self, UartSettings, UsbTransport};
use portshare_host::{Direction, Slot};
use portshare_sim::board::{SimBoard, SimWire};
use portshare_sim::engine::EngineKind;
use portshare_sim::eth_board::{BenchOptions, Port};
use portshare_sim::pcap::Capture;

mod demo;

#[derive(clap::Subcommand)]
pub enum BoardCmd {
    /// List FTDI devices on USB and say which are boards portshare can use.
    Devices,
    /// Validate a table file, write it to the board, read it back and compare.
    Load(LoadArgs),
    /// Show the entries the board holds.
    List(ListArgs),
    /// Show the board's counters: hits per entry and frames per reason, and each
    /// Ethernet port's link and counters (a board without ports says so).
    ///
    /// A simulated Ethernet board shows its ports too: `--device sim --board cu-eth`
    /// (frames played into its ports with `--net-rx`/`--srv-rx`), or `--device
    /// unix:PATH` served by `portshare serve --device sim --board cu-eth`.
    Stats(StatsArgs),
    /// Empty the board's table.
    Clear(ClearArgs),
    /// Run the frames of a pcap or pcapng through the board's pipeline; write what comes back.
    Inject(InjectArgs),
    /// A whole session on a simulated board: load, list, inject frames, stats.
    Demo(DemoArgs),
}

/// Which board: `usb` (the one board on USB), `usb:BUS:ADDR`, `usb:SERIAL`, `sim`, or
/// `unix:PATH`. `--device` is parsed here only (`FromStr`), for every command that
/// talks to a board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceSpec {
    Usb(UsbSelector),
    /// A simulated board living for this command.
    Sim,
    /// A board behind a unix socket: `portshare serve --device sim --listen unix:PATH`.
    Unix(PathBuf),
}

impl std::str::FromStr for DeviceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "sim" {
            return Ok(DeviceSpec::Sim);
        }
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("`unix:` needs a path: unix:PATH".into());
            }
            return Ok(DeviceSpec::Unix(path.into()));
        }
        s.parse::<UsbSelector>().map(DeviceSpec::Usb).map_err(|e| {
            format!("{e}, `sim` for a simulated board, or `unix:PATH` for one served by `portshare serve --listen`")
        })
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct DeviceArgs {
    /// The board: `usb` (the only one plugged in), `usb:BUS:ADDR`, `usb:SERIAL`
    /// (see `portshare devices`); `sim`, a simulated board that lives for this one
    /// command (its table is gone when the command ends); or `unix:PATH`, a simulated
    /// board kept alive between commands by `portshare serve --device sim --listen
    /// unix:PATH`.
    #[arg(long, default_value = "usb")]
    pub device: DeviceSpec,
    /// UART rate. The bitstream's UART runs at 4 Mbaud (25 clocks a bit at 100 MHz).
    #[arg(long, default_value_t = ftdi::DEFAULT_BAUD)]
    pub baud: u32,
    /// FTDI latency timer in ms (1-255): how long the chip holds a partial packet.
    #[arg(long, default_value_t = ftdi::DEFAULT_LATENCY_MS)]
    pub latency_ms: u8,
    /// Simulated board only: its table size (16, 64 or 128 slots).
    #[arg(long, default_value_t = 64)]
    pub sim_capacity: usize,
    /// Simulated board only: which board top, as `portshare build --board` names them:
    /// `cu` (its USB UART only) or `cu-eth` (also two Ethernet ports, simulated at its
    /// pins: each port's PHY model answers MDIO with link up at 100 Mb/s full duplex;
    /// its UART runs at the simulation's 25 Mbaud; 16 or 64 entries; verilator or rtl
    /// engine).
    #[arg(long, value_enum, default_value_t = BoardKind::Cu)]
    pub board: BoardKind,
    /// `--board cu-eth`: a capture (pcap or pcapng) whose frames the network port's
    /// PHY plays into its RX pins, back to back at line rate with a good FCS, once the
    /// link is up and `--table` is loaded, before the command's own work.
    #[arg(long, value_name = "PCAP")]
    pub net_rx: Option<PathBuf>,
    /// `--board cu-eth`: the same for the server port.
    #[arg(long, value_name = "PCAP")]
    pub srv_rx: Option<PathBuf>,
    /// `--board cu-eth`: where to write (pcap, frames without FCS, time stamps in
    /// simulated time) what left the network port's TX pins while the captures played.
    #[arg(long, value_name = "PCAP")]
    pub net_tx: Option<PathBuf>,
    /// `--board cu-eth`: the same for the server port.
    #[arg(long, value_name = "PCAP")]
    pub srv_tx: Option<PathBuf>,
    /// Simulated board only: `bytes` hands bytes straight to the control block (same
    /// protocol logic, the quick default); `pins` simulates the whole board with its
    /// UART at `--baud` (true wire timing, about ten times slower to simulate).
    /// `--board cu-eth` is always simulated at its pins. [default: bytes]
    #[arg(long, value_parser = parse_sim_wire)]
    pub sim_wire: Option<SimWire>,
    /// Simulated board only: `verilator` runs the board's generated Verilog under
    /// Verilator (the fast default: a 64-entry load in well under a second; its library
    /// is built once, about a minute, and cached), `rtl` the rust-hdl blocks in
    /// rust-hdl's simulator (needs no tools, ~100× slower), `netlist` yosys' iCE40
    /// netlist of the Verilog (cells simulated with yosys' cells_sim.v; built once and
    /// cached), `bitstream` the bitstream of a `portshare build` (`--build-dir`)
    /// decoded back to Verilog, at its UART pins at 4 Mbaud.
    #[arg(long = "engine", default_value = "verilator", value_name = "verilator|rtl|netlist|bitstream")]
    pub sim_engine: EngineKind,
    /// `--engine bitstream`: the build to simulate [default: out/cu-<sim-capacity>,
    /// where `portshare build` writes].
    #[arg(long)]
    pub build_dir: Option<PathBuf>,
    /// How long to wait for each reply before sending the request again (3 retries),
    /// in ms; long replies get their time on the wire on top. Raise it for a slow far
    /// end, e.g. a simulated board behind QEMU's emulated chip. [default: 200; on
    /// `unix:PATH` 10000 and no retries: the socket loses nothing, and the served
    /// board answers at simulation speed]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: Option<u64>,
}

/// The client's base reply timeout: far above the board's reply time at 4 Mbaud
/// (tens of µs) plus USB latency, and short enough that a dead board is reported quickly.
pub const DEFAULT_TIMEOUT_MS: u64 = 200;
/// The same for a served board on a unix socket: a simulated board takes tens of ms of
/// host time per short request and about a second for a 1500-byte INJECT.
pub const SOCKET_TIMEOUT_MS: u64 = 10_000;

fn parse_sim_wire(s: &str) -> Result<SimWire, String> {
    match s {
        "pins" => Ok(SimWire::UartPins),
        "bytes" => Ok(SimWire::Bytes),
        _ => Err(format!(
            "`{s}`: the simulated board's wire is `pins` or `bytes`"
        )),
    }
}

impl DeviceArgs {
    /// `device` with every other setting at its default (`wire --device`).
    pub fn new(device: DeviceSpec, sim_capacity: usize) -> DeviceArgs {
        DeviceArgs { device, ..DeviceArgs::sim(sim_capacity, SimWire::Bytes) }
    }

    /// A simulated board with `capacity` slots over `wire`.
    pub fn sim(capacity: usize, wire: SimWire) -> DeviceArgs {
        DeviceArgs {
            device: DeviceSpec::Sim,
            baud: ftdi::DEFAULT_BAUD,
            latency_ms: ftdi::DEFAULT_LATENCY_MS,
            sim_capacity: capacity,
            board: BoardKind::Cu,
            net_rx: None,
            srv_rx: None,
            net_tx: None,
            srv_tx: None,
            sim_wire: Some(wire),
            sim_engine: EngineKind::Verilator,
            build_dir: None,
            timeout_ms: None,
        }
    }

    /// The simulated board these arguments describe (`--device sim`).
    pub fn sim_board(&self) -> anyhow::Result<SimBoard> {
        if self.board == BoardKind::CuEth {
            return self.sim_eth_board();
        }
        self.ports_only_on_cu_eth()?;
        if self.sim_engine == EngineKind::Bitstream {
            // The bitstream's UART is built for 4 Mbaud and its wire is its pins.
            if self.baud != ftdi::DEFAULT_BAUD {
                bail!("the bitstream's UART runs at {} baud, not {}", ftdi::DEFAULT_BAUD, self.baud);
            }
            let dir = self.build_dir.clone().unwrap_or_else(|| portshare_sim::bitstream::default_build_dir(self.sim_capacity));
            return SimBoard::from_build(&dir, self.sim_capacity);
        }
        if self.build_dir.is_some() {
            bail!("--build-dir names the build that `--engine bitstream` simulates; the {} engine does not use one", self.sim_engine);
        }
        // The board's UART divides its 100 MHz clock: only exact divisors are rates.
        let wire = match self.sim_wire.unwrap_or(SimWire::Bytes) {
            SimWire::UartPins if self.baud != ftdi::DEFAULT_BAUD => {
                if self.baud == 0 || 100_000_000 % self.baud != 0 {
                    bail!("the simulated board's UART divides 100 MHz; {} baud is not an exact divisor", self.baud);
                }
                SimWire::UartPinsAt((100_000_000 / self.baud) as _)
            }
            w => w,
        };
        SimBoard::with_engine(self.sim_capacity, wire, self.sim_engine)
    }

    /// `--board cu-eth`: the Ethernet board top on its bench, links up.
    fn sim_eth_board(&self) -> anyhow::Result<SimBoard> {
        match self.sim_engine {
            EngineKind::Verilator | EngineKind::Rtl => {}
            EngineKind::Bitstream => bail!(
                "--engine bitstream simulates a `portshare build --board cu` bitstream; a cu-eth build has no verify \
                 path yet: use --board cu-eth with --engine verilator (or rtl)"
            ),
            e => bail!("--board cu-eth is simulated on the verilator or rtl engine, not {e}"),
        }
        if self.build_dir.is_some() {
            bail!("--build-dir names the build that `--engine bitstream` simulates; --board cu-eth does not use one");
        }
        if self.sim_wire == Some(SimWire::Bytes) {
            bail!("--board cu-eth is simulated at its pins (its ports have no byte-level path): leave out --sim-wire bytes");
        }
        if self.baud != ftdi::DEFAULT_BAUD {
            let cpb = portshare_sim::eth_board::CLOCKS_PER_BIT;
            bail!(
                "the simulated cu-eth board's UART runs at {} baud ({cpb} clocks a bit, as its bench is built); --baud does not apply",
                100_000_000 / cpb as u32
            );
        }
        SimBoard::ethernet(BenchOptions { engine: self.sim_engine, capacity: self.sim_capacity, ..Default::default() })
    }

    /// Any of `--net-rx`, `--srv-rx`, `--net-tx`, `--srv-tx`.
    fn plays(&self) -> bool {
        self.net_rx.is_some() || self.srv_rx.is_some() || self.net_tx.is_some() || self.srv_tx.is_some()
    }

    fn ports_only_on_cu_eth(&self) -> anyhow::Result<()> {
        if self.board != BoardKind::CuEth && self.plays() {
            bail!("--net-rx/--srv-rx/--net-tx/--srv-tx are the Ethernet ports of `--board cu-eth`; the cu board has none");
        }
        Ok(())
    }

    /// What `--net-rx`/`--srv-rx` name, read and checked (before the board is built: a
    /// bad file costs no simulation), and where `--net-tx`/`--srv-tx` go.
    fn play(&self) -> anyhow::Result<Play> {
        self.ports_only_on_cu_eth()?;
        let mut out = Vec::new();
        for (port, path) in [(Port::Net, &self.net_rx), (Port::Srv, &self.srv_rx)] {
            let Some(path) = path else { continue };
            let capture = Capture::read(path)?;
            for (i, r) in capture.records.iter().enumerate() {
                // A frame cut short by the capture's snap length cannot be played whole.
                if let portshare_sim::pcap::Stamp::Pcap { orig_len, .. } = r.stamp {
                    if orig_len as usize > r.data.len() {
                        bail!(
                            "{}: record {} holds {} of the frame's {orig_len} bytes (snap length): it cannot be played whole",
                            path.display(),
                            i + 1,
                            r.data.len()
                        );
                    }
                }
            }
            out.push((port, path.clone(), capture.frames()));
        }
        Ok(Play { rx: out, tx: [self.net_tx.clone(), self.srv_tx.clone()] })
    }
}

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// The table file (TOML, `[[entry]]` tables).
    pub table: PathBuf,
    /// Print the load report as one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub dev: DeviceArgs,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Load this table first (what a `--device sim` board needs to show anything).
    #[arg(long)]
    pub table: Option<PathBuf>,
    #[command(flatten)]
    pub dev: DeviceArgs,
}

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Load this table first.
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Set the counters to zero after reading them: the hit and reason counters and,
    /// on a board with Ethernet ports, each port's counters (RESET_COUNTERS).
    #[arg(long)]
    pub reset: bool,
    #[command(flatten)]
    pub dev: DeviceArgs,
}

#[derive(clap::Args, Debug)]
pub struct ClearArgs {
    /// Load this table first (to see `clear` work on a `--device sim` board).
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Also set the counters to zero.
    #[arg(long)]
    pub counters: bool,
    #[command(flatten)]
    pub dev: DeviceArgs,
}

#[derive(clap::Args, Debug)]
pub struct InjectArgs {
    /// Frames to send (classic pcap or pcapng, Ethernet link type).
    pub input: PathBuf,
    /// Where to write the frames the pipeline returns (the input's format, same
    /// timestamps; pcapng keeps interfaces and options too).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Which way the frames cross the unit.
    #[arg(long, default_value = "incoming")]
    pub direction: Direction,
    /// Load this table first.
    #[arg(long)]
    pub table: Option<PathBuf>,
    #[command(flatten)]
    pub dev: DeviceArgs,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Also inject the frames of this capture (incoming), after the demo's own frames.
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// How the simulated board is wired: `bytes` (control block and pipeline, the
    /// quick default) or `pins` (the whole board, UART at 4 Mbaud: true wire timing,
    /// about ten times slower to simulate).
    #[arg(long, default_value = "bytes", value_parser = parse_sim_wire)]
    pub wire: SimWire,
    /// The simulated board's table size (16, 64 or 128 slots).
    #[arg(long, default_value_t = 16)]
    pub capacity: usize,
}

pub fn run(c: BoardCmd) -> anyhow::Result<()> {
    match c {
        BoardCmd::Devices => devices(),
        BoardCmd::Load(a) => {
            let mut board = Board::connect(&a.dev)?;
            let report = board.load(&a.table)?;
            board.play_rx()?;
            if a.json {
                println!("{}", report.json(&a.table, board.baud));
            } else {
                println!("{}", report.summary(&a.table, board.baud));
            }
            Ok(())
        }
        BoardCmd::List(a) => {
            let mut board = Board::connect(&a.dev)?;
            board.load_first(a.table.as_deref())?;
            print!("{}", board.list_text()?);
            Ok(())
        }
        BoardCmd::Stats(a) => {
            let mut board = Board::connect(&a.dev)?;
            board.load_first(a.table.as_deref())?;
            let stats = board.stats()?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print!("{}", stats.text());
            }
            if a.reset {
                board.client.reset_counters()?;
            }
            Ok(())
        }
        BoardCmd::Clear(a) => {
            let mut board = Board::connect(&a.dev)?;
            board.load_first(a.table.as_deref())?;
            let was = board.read_slots()?.iter().filter(|s| s.valid).count();
            board.client.clear_table()?;
            if a.counters {
                board.client.reset_counters()?;
            }
            let left = board.read_slots()?.iter().filter(|s| s.valid).count();
            if left != 0 {
                bail!(
                    "{}: {left} entries still valid after CLEAR_TABLE",
                    board.describe()
                );
            }
            println!(
                "cleared {}: {was} entries removed, all {} slots empty{}",
                board.describe(),
                board.info.capacity,
                if a.counters { ", counters zeroed" } else { "" }
            );
            Ok(())
        }
        BoardCmd::Inject(a) => {
            let mut board = Board::connect(&a.dev)?;
            board.load_first(a.table.as_deref())?;
            inject(&mut board, &a)
        }
        BoardCmd::Demo(a) => demo::run(a),
    }
}

/// Any transport, so one `Client` type serves them all.
pub enum AnyTransport {
    Usb(UsbTransport),
    Sim(SimBoard),
    Socket(SocketTransport),
}

impl Transport for AnyTransport {
    fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            AnyTransport::Usb(t) => t.send(bytes),
            AnyTransport::Sim(t) => t.send(bytes),
            AnyTransport::Socket(t) => t.send(bytes),
        }
    }
    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> anyhow::Result<usize> {
        match self {
            AnyTransport::Usb(t) => t.recv(buf, timeout),
            AnyTransport::Sim(t) => t.recv(buf, timeout),
            AnyTransport::Socket(t) => t.recv(buf, timeout),
        }
    }
    fn describe(&self) -> String {
        match self {
            AnyTransport::Usb(t) => t.describe(),
            AnyTransport::Sim(t) => t.describe(),
            AnyTransport::Socket(t) => t.describe(),
        }
    }
}

/// `--net-rx`/`--srv-rx` captures to play into a simulated Ethernet board's ports
/// (port, file, frames), and where `--net-tx`/`--srv-tx` write what left them.
#[derive(Default)]
struct Play {
    rx: Vec<(Port, PathBuf, Vec<Vec<u8>>)>,
    tx: [Option<PathBuf>; 2],
}

/// A connected board and what it said about itself.
pub struct Board {
    pub client: Client<AnyTransport>,
    pub info: DeviceInfo,
    /// The UART rate really in use, for wire-time figures.
    pub baud: u32,
    /// `--net-rx`/`--srv-rx` captures still to play (`Board::play_rx`).
    play: Option<Play>,
}

/// What `load` did.
#[derive(Clone, Debug)]
pub struct LoadReport {
    pub entries: usize,
    pub cleared: usize,
    pub capacity: usize,
    pub elapsed: Duration,
    /// Bytes on the wire, both ways, as the client counted them.
    pub wire: ClientStats,
    /// Simulated time it took, on a simulated board.
    pub simulated: Option<Duration>,
}

impl LoadReport {
    /// Time the bytes take on the UART at `baud`, 10 bits a byte, each way on its own
    /// wire (the slower direction sets the pace of stop-and-wait only in sum, so this
    /// is the sum: every request waits for its reply).
    pub fn wire_time(&self, baud: u32) -> Duration {
        let bytes = self.wire.bytes_sent + self.wire.bytes_received;
        Duration::from_nanos(bytes * 10 * 1_000_000_000 / baud.max(1) as u64)
    }

    pub fn json(&self, path: &Path, baud: u32) -> serde_json::Value {
        serde_json::json!({
            "table": path.display().to_string(),
            "entries_written": self.entries,
            "slots_cleared": self.cleared,
            "capacity": self.capacity,
            "elapsed_ms": self.elapsed.as_secs_f64() * 1e3,
            "simulated_ms": self.simulated.map(|t| t.as_secs_f64() * 1e3),
            "bytes_sent": self.wire.bytes_sent,
            "bytes_received": self.wire.bytes_received,
            "requests": self.wire.requests,
            "retries": self.wire.retries,
            "baud": baud,
            "wire_ms": self.wire_time(baud).as_secs_f64() * 1e3,
        })
    }

    pub fn summary(&self, path: &Path, baud: u32) -> String {
        format!(
            "loaded {}: {} entries written{}, all {} slots read back and match\n\
             {:.1} ms{}; {} bytes sent, {} received ({} requests, {} retries) = {:.2} ms on the wire at {} baud",
            path.display(),
            self.entries,
            if self.cleared > 0 { format!(", {} slots cleared", self.cleared) } else { String::new() },
            self.capacity,
            self.elapsed.as_secs_f64() * 1e3,
            match self.simulated {
                Some(t) => format!(" ({:.2} ms simulated)", t.as_secs_f64() * 1e3),
                None => String::new(),
            },
            self.wire.bytes_sent,
            self.wire.bytes_received,
            self.wire.requests,
            self.wire.retries,
            self.wire_time(baud).as_secs_f64() * 1e3,
            baud
        )
    }
}

/// Counters with the entries they belong to.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Stats {
    pub device: String,
    pub capacity: usize,
    pub reasons: Reasons,
    pub entries: Vec<EntryStats>,
    /// The Ethernet ports (empty: the board has none).
    pub ports: Vec<PortStats>,
}

/// One Ethernet port: its name and what READ_PORT reported.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PortStats {
    pub port: &'static str,
    #[serde(flatten)]
    pub status: PortStatus,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Reasons {
    pub rewritten: u32,
    pub no_match: u32,
    pub fragment: u32,
    pub unparsed: u32,
    pub udp_zero_checksum: u32,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct EntryStats {
    pub slot: usize,
    pub address: String,
    pub protocol: &'static str,
    pub shared_port: u16,
    pub assigned_port: u16,
    pub hits: u32,
}

impl Stats {
    fn new(device: String, slots: &[Slot], c: &Counters, port_status: Vec<PortStatus>) -> Stats {
        let entries = slots
            .iter()
            .enumerate()
            // An entry cleared after it matched still shows its hits.
            .filter(|(i, s)| s.valid || c.hits.get(*i).copied().unwrap_or(0) > 0)
            .map(|(i, s)| EntryStats {
                slot: i,
                address: if s.valid {
                    s.ip().to_string()
                } else {
                    "(empty)".into()
                },
                protocol: protocol_name(s),
                shared_port: s.shared_port,
                assigned_port: s.assigned_port,
                hits: c.hits.get(i).copied().unwrap_or(0),
            })
            .collect();
        Stats {
            device,
            capacity: slots.len(),
            reasons: Reasons {
                rewritten: c.rewritten,
                no_match: c.no_match,
                fragment: c.fragment,
                unparsed: c.unparsed,
                udp_zero_checksum: c.udp_zero_checksum,
            },
            entries,
            ports: port_status
                .into_iter()
                .zip(ports::PORT_NAMES)
                .map(|(status, port)| PortStats { port, status })
                .collect(),
        }
    }

    /// The ports' part of the text: link, then a row per counter.
    fn ports_text(&self) -> String {
        if self.ports.is_empty() {
            return "ethernet: this board has no Ethernet ports\n".into();
        }
        let mut s = String::new();
        for p in &self.ports {
            let st = &p.status;
            let link = if !st.phy_present {
                "no PHY answers on MDIO".to_string()
            } else if st.link {
                format!("link up, {} Mb/s {} duplex", st.speed_mbps, if st.full_duplex { "full" } else { "half" })
            } else {
                "link down".to_string()
            };
            let _ = writeln!(s, "port {:<7}  {link} (BMSR 0x{:04x})", p.port, st.bmsr);
        }
        let _ = write!(s, "{:<14}", "counter");
        for p in &self.ports {
            let _ = write!(s, "  {:>10}", p.port);
        }
        s += "\n";
        for (i, name) in ports::COUNTER_NAMES.iter().enumerate() {
            let _ = write!(s, "{name:<14}");
            for p in &self.ports {
                let _ = write!(s, "  {:>10}", p.status.counters()[i]);
            }
            s += "\n";
        }
        s
    }

    pub fn text(&self) -> String {
        let r = &self.reasons;
        let mut s = format!(
            "{}\nframes: rewritten {}, no_match {}, fragment {}, unparsed {}, udp_zero_checksum {}\n",
            self.device, r.rewritten, r.no_match, r.fragment, r.unparsed, r.udp_zero_checksum
        );
        s += &self.ports_text();
        if self.entries.is_empty() {
            s += "no entries\n";
            return s;
        }
        let _ = writeln!(
            s,
            "{:>4}  {:<39}  {:<5}  {:>6}  {:>8}  {:>10}",
            "slot", "address", "proto", "shared", "assigned", "hits"
        );
        for e in &self.entries {
            let _ = writeln!(
                s,
                "{:>4}  {:<39}  {:<5}  {:>6}  {:>8}  {:>10}",
                e.slot, e.address, e.protocol, e.shared_port, e.assigned_port, e.hits
            );
        }
        s
    }
}

pub fn protocol_name(s: &Slot) -> &'static str {
    match (s.tcp, s.udp) {
        (true, true) => "both",
        (true, false) => "tcp",
        (false, true) => "udp",
        (false, false) => "none",
    }
}

impl Board {
    /// Opens the device and asks it what it is (INFO).
    pub fn connect(dev: &DeviceArgs) -> anyhow::Result<Board> {
        if dev.device != DeviceSpec::Sim && (dev.board != BoardKind::Cu || dev.plays()) {
            bail!(
                "--board and --net-rx/--srv-rx/--net-tx/--srv-tx describe a simulated board (--device sim); a board on USB is what its \
                 bitstream is, and one on unix:PATH is what `portshare serve` was given"
            );
        }
        if let DeviceSpec::Unix(path) = &dev.device {
            let timeout = Duration::from_millis(dev.timeout_ms.unwrap_or(SOCKET_TIMEOUT_MS));
            let transport = AnyTransport::Socket(SocketTransport::connect(path)?);
            return Board::over(transport, dev.baud, timeout, 0).with_context(|| {
                format!(
                    "unix:{} did not answer as a portshare board (a served board takes one command at a time: is \
                     another still connected?); {}",
                    path.display(),
                    socket::serve_hint(path)
                )
            });
        }
        let (transport, baud) = match &dev.device {
            DeviceSpec::Usb(sel) => {
                let t = UsbTransport::open(
                    sel,
                    UartSettings {
                        baud: dev.baud,
                        latency_ms: dev.latency_ms,
                    },
                )?;
                let baud = t.baud();
                (AnyTransport::Usb(t), baud)
            }
            DeviceSpec::Sim => {
                let play = dev.plays().then(|| dev.play()).transpose()?;
                let sim = dev.sim_board()?;
                let baud = sim.baud().unwrap_or(dev.baud);
                let mut board = Board::over(AnyTransport::Sim(sim), baud, Duration::from_millis(dev.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)), 3)?;
                board.play = play;
                return Ok(board);
            }
            DeviceSpec::Unix(_) => unreachable!("connected above"),
        };
        Board::over(transport, baud, Duration::from_millis(dev.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)), 3)
    }

    /// Plays the `--net-rx`/`--srv-rx` captures into the simulated Ethernet board's
    /// RX pins (both ports at once) and runs until nothing moves; says on stderr what
    /// went in and what came out of each port, and writes `--net-tx`/`--srv-tx`.
    pub fn play_rx(&mut self) -> anyhow::Result<()> {
        let Some(Play { rx, tx }) = self.play.take() else { return Ok(()) };
        let AnyTransport::Sim(sim) = self.client.transport() else { unreachable!("captures are taken for a simulated board only") };
        let bench = sim.eth_bench().context("--net-rx/--srv-rx need --board cu-eth")?;
        let mut frames: [&[Vec<u8>]; 2] = [&[], &[]];
        for (port, _, f) in &rx {
            frames[*port as usize] = f;
        }
        let before = Port::BOTH.map(|p| bench.sent(p).len());
        bench.play(frames).context("playing the captures into the Ethernet ports")?;
        for (port, path) in Port::BOTH.into_iter().zip(&tx) {
            let Some(path) = path else { continue };
            write_tx(bench, port, before[port as usize], path)?;
        }
        for (port, path, f) in &rx {
            let out = port.other();
            eprintln!(
                "played {} frames ({} bytes without FCS) of {} into the {} port's RX pins; {} frames have left the {} port",
                f.iter().filter(|f| !f.is_empty()).count(),
                f.iter().map(Vec::len).sum::<usize>(),
                path.display(),
                ports::PORT_NAMES[*port as usize],
                bench.sent(out).len() - before[out as usize],
                ports::PORT_NAMES[out as usize],
            );
        }
        Ok(())
    }

    /// `timeout`: the client's base wait for a reply (long replies get their wire time
    /// on top); `retries`: further attempts after it.
    pub fn over(transport: AnyTransport, baud: u32, timeout: Duration, retries: u32) -> anyhow::Result<Board> {
        let describe = transport.describe();
        let mut client = Client::new(transport)
            .with_baud(baud as u64)
            .with_timeout(timeout)
            .with_retries(retries);
        let info = client
            .info()
            .with_context(|| format!("asking {describe} what it is (INFO)"))?;
        if info.protocol_version != portshare_host::protocol::PROTOCOL_VERSION {
            bail!(
                "{describe} speaks control protocol version {}, this tool version {}: rebuild and flash the bitstream \
                 from this source tree",
                info.protocol_version,
                portshare_host::protocol::PROTOCOL_VERSION
            );
        }
        // Slot indices travel as one byte.
        if info.capacity == 0 || info.capacity > 256 {
            bail!(
                "{describe} reports {} table slots; 1-256 are possible",
                info.capacity
            );
        }
        Ok(Board { client, info, baud, play: None })
    }

    pub fn describe(&mut self) -> String {
        self.client.transport().describe()
    }

    pub fn capacity(&self) -> usize {
        self.info.capacity as usize
    }

    /// Simulated time so far, on a simulated board.
    pub fn simulated_time(&mut self) -> Option<Duration> {
        match self.client.transport() {
            AnyTransport::Sim(b) => Some(b.elapsed()),
            AnyTransport::Usb(_) | AnyTransport::Socket(_) => None,
        }
    }

    /// Validates `path` against the board's capacity, writes every entry, empties the
    /// slots past the table, reads every slot back and compares.
    pub fn load(&mut self, path: &Path) -> anyhow::Result<LoadReport> {
        let table = Table::load(path, self.capacity())?;
        self.load_table(&table)
    }

    /// Writes a validated table; see `load`.
    pub fn load_table(&mut self, table: &Table) -> anyhow::Result<LoadReport> {
        let capacity = self.capacity();
        table.validate(capacity)?;
        let wanted = table.slots();
        let before = self.client.stats();
        let sim_before = self.simulated_time();
        let started = Instant::now();
        let progress = indicatif::ProgressBar::new(2 * capacity as u64).with_message("writing");
        let loaded = self.client.load_table(&wanted, capacity, |done| {
            progress.set_position(done as u64);
            if done == capacity {
                progress.set_message("verifying");
            }
        });
        if loaded.is_err() {
            progress.abandon();
        }
        loaded?;
        progress.finish_and_clear();
        let elapsed = started.elapsed();
        let after = self.client.stats();
        let simulated = self.simulated_time().zip(sim_before).map(|(a, b)| a - b);
        Ok(LoadReport {
            simulated,
            entries: wanted.len(),
            cleared: capacity - wanted.len(),
            capacity,
            elapsed,
            wire: ClientStats {
                requests: after.requests - before.requests,
                retries: after.retries - before.retries,
                bytes_sent: after.bytes_sent - before.bytes_sent,
                bytes_received: after.bytes_received - before.bytes_received,
                bad_replies: after.bad_replies - before.bad_replies,
                stale_replies: after.stale_replies - before.stale_replies,
            },
        })
    }

    /// `--table` on list/stats/inject/clear: load first and say so on stderr (stdout
    /// stays the command's own output, e.g. JSON); then play any `--net-rx`/`--srv-rx`
    /// captures (`Board::play_rx`).
    pub fn load_first(&mut self, table: Option<&Path>) -> anyhow::Result<()> {
        if let Some(path) = table {
            let report = self.load(path)?;
            eprintln!("{}", report.summary(path, self.baud));
        }
        self.play_rx()
    }

    pub fn read_slots(&mut self) -> anyhow::Result<Vec<Slot>> {
        (0..self.capacity())
            .map(|i| {
                self.client
                    .read_entry(i as u8)
                    .with_context(|| format!("reading slot {i}"))
            })
            .collect()
    }

    pub fn list_text(&mut self) -> anyhow::Result<String> {
        let slots = self.read_slots()?;
        let used: Vec<(usize, &Slot)> = slots.iter().enumerate().filter(|(_, s)| s.valid).collect();
        let mut s = format!(
            "{}: {} of {} slots used\n",
            self.describe(),
            used.len(),
            slots.len()
        );
        if !used.is_empty() {
            let _ = writeln!(
                s,
                "{:>4}  {:<39}  {:<5}  {:>6}  {:>8}",
                "slot", "address", "proto", "shared", "assigned"
            );
        }
        for (i, e) in used {
            let _ = writeln!(
                s,
                "{:>4}  {:<39}  {:<5}  {:>6}  {:>8}",
                i,
                e.ip().to_string(),
                protocol_name(e),
                e.shared_port,
                e.assigned_port
            );
        }
        Ok(s)
    }

    pub fn stats(&mut self) -> anyhow::Result<Stats> {
        let slots = self.read_slots()?;
        let counters = self.client.read_counters(self.capacity())?;
        let ports = self.client.read_ports()?;
        Ok(Stats::new(self.describe(), &slots, &counters, ports))
    }
}

/// What left `port`'s TX pins from its `from`th frame on, as a pcap: frames without
/// FCS, stamped with the simulated time TX_EN rose. A frame that left with an FCS other
/// than its own is written too and said on stderr; one the PHY model could not decode
/// is an error.
fn write_tx(bench: &mut portshare_sim::eth_board::EthBench, port: Port, from: usize, path: &Path) -> anyhow::Result<()> {
    use portshare_sim::pcap::{ethernet_header, Format, Record, Stamp};
    let (_, starts) = bench.starts(port);
    let starts = starts[from..].to_vec();
    let name = ports::PORT_NAMES[port as usize];
    if starts.len() != bench.sent(port).len() - from {
        bail!("the {name} port's TX_EN rose {} times for {} frames", starts.len(), bench.sent(port).len() - from);
    }
    let mut records = Vec::new();
    let mut bad_fcs = 0;
    for (i, (f, t)) in bench.sent(port)[from..].iter().zip(starts).enumerate() {
        let f = f.as_ref().map_err(|e| anyhow::anyhow!("frame {} out of the {name} port could not be decoded: {e}", i + 1))?;
        bad_fcs += (f.fcs != portshare_sim::phy::rmii::Fcs::Good) as usize;
        let ns = t as u64;
        let stamp = Stamp::Pcap { ts_sec: (ns / 1_000_000_000) as u32, ts_frac: (ns % 1_000_000_000 / 1000) as u32, orig_len: f.bytes.len() as u32 };
        records.push(Record { data: f.bytes.clone(), stamp });
    }
    if bad_fcs > 0 {
        eprintln!("{}: {bad_fcs} of the frames left the {name} port with a stomped FCS", path.display());
    }
    Capture { format: Format::Pcap(ethernet_header()), records }.write(path)?;
    Ok(())
}

fn devices() -> anyhow::Result<()> {
    let all = usb::enumerate()?;
    let ftdi: Vec<_> = all
        .iter()
        .filter(|d| d.vid == ftdi::FTDI_VID || ftdi::part_for(d.vid, d.pid).is_some())
        .collect();
    if ftdi.is_empty() {
        bail!(
            "no FTDI devices on USB ({} other USB device(s) seen); looked for {}",
            all.len(),
            ftdi::wanted_parts()
        );
    }
    println!(
        "{:<8}  {:<9}  {:<9}  {:<16}  {:<24}  board?",
        "bus:addr", "vid:pid", "chip", "serial", "product"
    );
    let mut usable = 0;
    for d in &ftdi {
        let verdict = match d.usability() {
            Usability::Usable(p) => {
                usable += 1;
                format!("yes: {} — --device usb:{}:{}", p.name, d.bus, d.address)
            }
            Usability::Unverified(p) => {
                usable += 1;
                format!(
                    "maybe: {} (strings unreadable: {}; see {})",
                    p.name,
                    d.open_error.as_deref().unwrap_or("?"),
                    usb::UDEV_RULE_PATH
                )
            }
            Usability::OtherProduct(p) => format!(
                "not by default: a {:04x}:{:04x} but not \"{}\"",
                p.vid,
                p.pid,
                p.product.unwrap_or("")
            ),
            Usability::UnknownPart => "no: not a part portshare drives".to_string(),
        };
        println!(
            "{:<8}  {:<9}  {:<9}  {:<16}  {:<24}  {}",
            format!("{}:{}", d.bus, d.address),
            format!("{:04x}:{:04x}", d.vid, d.pid),
            d.chip().map(|c| c.name()).unwrap_or("?"),
            d.serial.as_deref().unwrap_or("-"),
            d.product.as_deref().unwrap_or("-"),
            verdict
        );
    }
    if usable == 0 {
        bail!(
            "none of the {} FTDI device(s) is a board portshare can use; looked for {}",
            ftdi.len(),
            ftdi::wanted_parts()
        );
    }
    Ok(())
}

fn inject(board: &mut Board, a: &InjectArgs) -> anyhow::Result<()> {
    let capture = Capture::read(&a.input)?;
    let before = board.client.read_counters(board.capacity())?;
    let mut out = Vec::with_capacity(capture.records.len());
    let mut changed = 0;
    let progress = indicatif::ProgressBar::new(capture.records.len() as u64);
    let started = Instant::now();
    for (i, r) in capture.records.iter().enumerate() {
        let back = board.client.inject(a.direction, &r.data).with_context(|| {
            format!(
                "{}: record {} ({} bytes)",
                a.input.display(),
                i + 1,
                r.data.len()
            )
        })?;
        if back != r.data {
            changed += 1;
        }
        out.push(back);
        progress.inc(1);
    }
    progress.finish_and_clear();
    let elapsed = started.elapsed();
    capture.with_frames(out)?.write(&a.output)?;
    let after = board.client.read_counters(board.capacity())?;
    println!(
        "{} frames {} through {}: {changed} changed, written to {} ({:.1} ms)",
        capture.records.len(),
        a.direction,
        board.describe(),
        a.output.display(),
        elapsed.as_secs_f64() * 1e3
    );
    println!(
        "counters: rewritten +{}, no_match +{}, fragment +{}, unparsed +{}, udp_zero_checksum +{}",
        after.rewritten.wrapping_sub(before.rewritten),
        after.no_match.wrapping_sub(before.no_match),
        after.fragment.wrapping_sub(before.fragment),
        after.unparsed.wrapping_sub(before.unparsed),
        after
            .udp_zero_checksum
            .wrapping_sub(before.udp_zero_checksum),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specs_parse() {
        assert_eq!("sim".parse::<DeviceSpec>(), Ok(DeviceSpec::Sim));
        assert_eq!(
            "usb".parse::<DeviceSpec>(),
            Ok(DeviceSpec::Usb(UsbSelector::Any))
        );
        assert_eq!(
            "usb:2:5".parse::<DeviceSpec>(),
            Ok(DeviceSpec::Usb(UsbSelector::BusAddress(2, 5)))
        );
        assert_eq!(
            "usb:FT66".parse::<DeviceSpec>(),
            Ok(DeviceSpec::Usb(UsbSelector::Serial("FT66".into())))
        );
        assert_eq!("unix:/run/b.sock".parse::<DeviceSpec>(), Ok(DeviceSpec::Unix("/run/b.sock".into())));
        assert!("unix:".parse::<DeviceSpec>().unwrap_err().contains("unix:PATH"));
        let e = "serial0".parse::<DeviceSpec>().unwrap_err();
        assert!(e.contains("sim") && e.contains("usb:BUS:ADDR") && e.contains("unix:PATH"), "{e}");
    }

    #[test]
    fn wire_time_is_ten_bits_a_byte() {
        let r = LoadReport {
            entries: 1,
            cleared: 0,
            capacity: 1,
            elapsed: Duration::ZERO,
            wire: ClientStats {
                bytes_sent: 28,
                bytes_received: 7,
                ..Default::default()
            },
            simulated: None,
        };
        // 35 bytes · 10 bits / 4e6 = 87.5 µs.
        assert_eq!(r.wire_time(4_000_000), Duration::from_nanos(87_500));
    }

    #[test]
    fn stats_show_each_port_link_and_counters_or_that_there_are_none() {
        let slot = Slot::new("192.0.2.10".parse().unwrap(), true, false, 443, 8443);
        let c = Counters { hits: vec![0], ..Default::default() };
        let net = PortStatus { link: true, speed_mbps: 100, full_duplex: true, phy_present: true, bmsr: 0x782D, rx_frames: 24, rx_bytes: 1440, fcs_errors: 2, ..Default::default() };
        let srv = PortStatus { phy_present: true, bmsr: 0x7809, tx_frames: 7, tx_bytes: 0xFFFF_FFFF, ..Default::default() };
        let s = Stats::new("sim".into(), &[slot], &c, vec![net.clone(), srv]);
        let t = s.text();
        assert!(t.contains("port network  link up, 100 Mb/s full duplex (BMSR 0x782d)"), "{t}");
        assert!(t.contains("port server   link down (BMSR 0x7809)"), "{t}");
        let row = |name: &str| t.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} row: {t}")).to_string();
        assert_eq!(row("rx_frames").split_whitespace().collect::<Vec<_>>(), ["rx_frames", "24", "0"]);
        assert_eq!(row("tx_bytes").split_whitespace().collect::<Vec<_>>(), ["tx_bytes", "0", "4294967295"]);
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["ports"][0]["port"], "network");
        assert_eq!(j["ports"][0]["rx_bytes"], 1440);
        assert_eq!(j["ports"][1]["link"], false);
        let none = Stats::new("sim".into(), &[slot], &c, vec![]);
        assert!(none.text().contains("this board has no Ethernet ports"));
        assert_eq!(serde_json::to_value(&none).unwrap()["ports"], serde_json::json!([]));
    }
}
