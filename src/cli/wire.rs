//! `portshare wire`: the unit live between two interfaces. Every frame read from the
//! network side goes through the unit as incoming and out of the server side; every
//! frame from the server side goes through as outgoing and out of the network side.
//!
//! One thread, one loop: wait until either port has frames, pass a batch from each,
//! check the signal flags in between. Frames wait in the kernel's socket buffer while
//! the unit works on another one, so a table reload (SIGHUP) happens between two frames
//! — every frame sees the old table or the new one, never half — and a stop
//! (SIGINT/SIGTERM) never abandons a frame that was read.

mod engine;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use portshare_host::table::Table;
use portshare_host::Direction;
use portshare_sim::model::Counters;
use serde::Serialize;

use crate::cli::board::{Board, DeviceArgs, DeviceSpec};
use crate::live::{offload, Gso, Port, PortSpec, SendFailure};
use engine::{BoardUnit, SimPipeline, Unit};
use portshare_sim::engine::EngineKind;

#[derive(clap::Args, Debug)]
pub struct WireArgs {
    /// The port-sharing table (TOML); names are resolved as `load` resolves them.
    /// SIGHUP reads it again.
    #[arg(long, value_name = "T.toml")]
    pub table: PathBuf,
    /// The network side: an interface (AF_PACKET) or `tap:NAME` (a TAP device created
    /// for the run and removed afterwards).
    #[arg(long, value_name = "IF")]
    pub network: PortSpec,
    /// The server side, likewise.
    #[arg(long, value_name = "IF")]
    pub server: PortSpec,
    /// Which unit passes the frames: `model` (the reference model, the software
    /// embodiment, fast; the default), `rtl` (the rust-hdl pipeline in its cycle
    /// simulator: hardware in the loop, slow) or `verilator` (the pipeline's Verilog).
    #[arg(long, value_name = "model|rtl|verilator", conflicts_with = "device")]
    pub engine: Option<EngineKind>,
    /// Pass the frames through a board's pipeline over the control protocol instead:
    /// `usb`, `usb:BUS:ADDR`, `usb:SERIAL`, or `sim` (a simulated board).
    #[arg(long)]
    pub device: Option<DeviceSpec>,
    /// Table capacity of the model or simulated pipeline (16, 64 or 128; a board says its own).
    #[arg(long, default_value_t = 64)]
    pub capacity: usize,
    /// Print the counters as one JSON object on stdout when it stops.
    #[arg(long)]
    pub json: bool,
    /// Also print the counters (one JSON line on stderr) every SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub stats_every: Option<f64>,
}

/// The unit for these arguments. One arm per engine.
fn open_unit(a: &WireArgs) -> Result<Box<dyn Unit>> {
    if let Some(device) = &a.device {
        let board = Board::connect(&DeviceArgs::new(device.clone(), a.capacity))?;
        return Ok(Box::new(BoardUnit::new(board)));
    }
    let kind = a.engine.unwrap_or(EngineKind::Model);
    anyhow::ensure!(portshare_sim::rtl::CAPACITIES.contains(&a.capacity), "--capacity: 16, 64 or 128, not {}", a.capacity);
    Ok(Box::new(SimPipeline::new(portshare_sim::engine::open(kind, a.capacity)?)))
}

/// Per side: what was read from it and written to it, and what could not pass.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Side {
    pub interface: String,
    pub frames_read: u64,
    pub bytes_read: u64,
    pub frames_written: u64,
    pub bytes_written: u64,
    /// Frames read with an unfinished checksum (TP_STATUS_CSUMNOTREADY) that were
    /// completed before entering the unit.
    pub checksums_completed: u64,
    /// GSO superframes read from this side and passed whole (GRO on the interface): the
    /// kernel cuts each into MTU-sized frames on the way out, so the far end's kernel
    /// counts more frames than `frames_written`.
    pub superframes_passed: u64,
    pub not_passed: NotPassed,
}

/// Frames that did not get through, by why. `link_down` and `send_refused` count
/// frames toward this side; the rest count frames read from it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NotPassed {
    /// Read with an unfinished checksum that cannot be completed (not TCP/UDP, a fragment).
    pub checksum_unfinishable: u64,
    /// GSO superframes that could not pass whole (toward a TAP, through a unit that takes
    /// wire-sized frames only, truncated, or of a kind the kernel could not describe).
    pub superframe: u64,
    /// Superframes whose checksum did not verify after the unit (a unit fault).
    pub checksum_wrong: u64,
    /// Toward this side while its link was down.
    pub link_down: u64,
    /// Toward this side, refused by the kernel (no buffer, too long).
    pub send_refused: u64,
    /// Dropped by the kernel before portshare read them (socket buffer full).
    pub kernel_dropped: u64,
}

impl NotPassed {
    fn total(&self) -> u64 {
        self.checksum_unfinishable + self.superframe + self.checksum_wrong + self.link_down + self.send_refused + self.kernel_dropped
    }
}

#[derive(Clone, Debug, Serialize)]
struct EntryReport {
    slot: usize,
    name: Option<String>,
    address: String,
    protocol: &'static str,
    shared_port: u16,
    assigned_port: u16,
    hits: u32,
}

#[derive(Clone, Debug, Serialize)]
struct Report {
    engine: String,
    table: String,
    elapsed_s: f64,
    reloads: u64,
    reloads_refused: u64,
    /// Per reason, and `hits` per slot, as the unit keeps them.
    counters: Counters,
    /// The table's entries with their hits.
    entries: Vec<EntryReport>,
    network: Side,
    server: Side,
    /// Frames read that did not come out of the other side, both ways.
    frames_not_passed: u64,
    /// Time spent passing frames through the unit.
    unit_busy_s: f64,
    /// A simulated pipeline's clocks, and clocks per second of `unit_busy_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    clocks: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clocks_per_s: Option<f64>,
}


/// Frames taken from one side before looking at the other (fairness, signal latency).
const BATCH: usize = 64;
/// How often the loop looks at the signal flags and the interfaces when idle.
const TICK: Duration = Duration::from_millis(100);

/// One side: its port and what happened on it.
struct End {
    port: Port,
    spec: PortSpec,
    side: Side,
    longest: Option<usize>,
    warned_csum: bool,
    warned_superframe: bool,
    down: bool,
}

impl End {
    /// Counts a superframe read from this side that cannot pass; warns the first time.
    fn refuse_superframe(&mut self, what: &str) {
        self.side.not_passed.superframe += 1;
        if !self.warned_superframe {
            self.warned_superframe = true;
            eprintln!(
                "portshare wire: warning: {} hands over {what}, which cannot pass whole here: refused and counted; {}",
                self.spec,
                offload::superframe_fix_for(self.port.name())
            );
        }
    }

    fn open(spec: &PortSpec) -> Result<End> {
        let port = Port::open(spec).with_context(|| format!("opening {spec}"))?;
        let longest = port.longest_frame().with_context(|| format!("{spec}"))?;
        Ok(End {
            side: Side { interface: spec.to_string(), ..Default::default() },
            port,
            spec: spec.clone(),
            longest,
            warned_csum: false,
            warned_superframe: false,
            down: false,
        })
    }
}

struct Wire {
    unit: Box<dyn Unit>,
    table: Table,
    ends: [End; 2],
    reloads: u64,
    reloads_refused: u64,
    started: Instant,
    clocks_at_start: u64,
    /// Time spent inside the unit (the simulator's speed is clocks over this).
    busy: Duration,
}

const NETWORK: usize = 0;
const SERVER: usize = 1;

fn direction_from(side: usize) -> Direction {
    if side == NETWORK {
        Direction::Incoming
    } else {
        Direction::Outgoing
    }
}

impl Wire {
    /// Reads and passes up to `BATCH` frames from side `from`, fewer when no more are waiting.
    fn pass_batch(&mut self, from: usize, buf: &mut [u8], frame: &mut Vec<u8>) -> Result<()> {
        let to = 1 - from;
        for _ in 0..BATCH {
            let r = match self.ends[from].port.recv(buf) {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(()),
                Err(e) if self.ends[from].port.recv_error_is_transient(&e) => return Ok(()),
                Err(e) if self.ends[from].port.recv_error_is_dropped_superframe(&e) => {
                    let e = &mut self.ends[from];
                    e.side.frames_read += 1;
                    e.refuse_superframe("a superframe the kernel could not describe (dropped by the kernel)");
                    continue;
                }
                Err(e) => {
                    if !self.ends[from].port.exists() {
                        bail!("interface `{}` disappeared", self.ends[from].spec);
                    }
                    return Err(e).with_context(|| format!("reading from {}", self.ends[from].spec));
                }
            };
            // A superframe passes whole when the kernel is to finish its checksum, the unit
            // takes one, and the other side can send it for the kernel to cut up.
            let whole = r.status.gso.filter(|g| {
                g.csum.is_some() && r.status.csum_not_ready && self.unit.takes_superframes() && self.ends[to].port.takes_superframes()
            });
            let e = &mut self.ends[from];
            e.side.frames_read += 1;
            e.side.bytes_read += r.status.wire_len as u64;
            let frame_len = r.len;
            let too_long = e.longest.is_some_and(|l| frame_len > l);
            if r.status.truncated || (whole.is_none() && (too_long || r.status.gso.is_some())) {
                let what = format!("{}-byte frames (GSO superframes, MTU {})", r.status.wire_len, e.longest.map(|l| l - 22).unwrap_or(0));
                e.refuse_superframe(&what);
                continue;
            }
            frame.clear();
            frame.extend_from_slice(&buf[..frame_len]);
            let mut partial = None;
            if r.status.csum_not_ready {
                if !e.warned_csum && whole.is_none() {
                    e.warned_csum = true;
                    eprintln!(
                        "portshare wire: warning: {} hands over frames with unfinished checksums (checksum offload): completing them \
                         (what cannot be completed is refused and counted); {}",
                        e.spec,
                        offload::fix_for(e.port.name())
                    );
                }
                match offload::complete_checksum(frame) {
                    Ok(p) => {
                        e.side.checksums_completed += 1;
                        partial = Some(p);
                    }
                    Err(u) => {
                        e.side.not_passed.checksum_unfinishable += 1;
                        if e.side.not_passed.checksum_unfinishable == 1 {
                            eprintln!("portshare wire: refused a frame from {} with an unfinished checksum: {}", e.spec, u.why());
                        }
                        continue;
                    }
                }
            }
            let t = Instant::now();
            self.unit.pass(direction_from(from), frame)?;
            self.busy += t.elapsed();
            if let (Some(_), Some(p)) = (whole, partial) {
                let e = &mut self.ends[from];
                if let Err(u) = offload::defer_checksum(frame, p) {
                    e.side.not_passed.checksum_wrong += 1;
                    if e.side.not_passed.checksum_wrong == 1 {
                        eprintln!("portshare wire: refused a superframe from {}: {}", e.spec, u.why());
                    }
                    continue;
                }
                e.side.superframes_passed += 1;
            }
            self.write(to, frame, whole.as_ref())?;
        }
        Ok(())
    }

    fn write(&mut self, to: usize, frame: &[u8], gso: Option<&Gso>) -> Result<()> {
        let e = &mut self.ends[to];
        match e.port.send(frame, gso) {
            Ok(()) => {
                e.side.frames_written += 1;
                e.side.bytes_written += frame.len() as u64;
                if e.down {
                    e.down = false;
                    eprintln!("portshare wire: {} is up again", e.spec);
                }
            }
            Err(SendFailure::LinkDown) => {
                e.side.not_passed.link_down += 1;
                if !e.down {
                    e.down = true;
                    eprintln!("portshare wire: {} is down: frames toward it are counted as not passed until it is back", e.spec);
                }
            }
            Err(SendFailure::Gone) => bail!("interface `{}` disappeared", e.spec),
            Err(SendFailure::TooLong) | Err(SendFailure::Refused) => e.side.not_passed.send_refused += 1,
        }
        Ok(())
    }

    /// SIGHUP: read and validate the file first; only a good table replaces the old one.
    fn reload(&mut self) {
        match Table::load(&self.table.path, self.unit.capacity()) {
            Ok(t) => match self.unit.load(&t) {
                Ok(()) => {
                    self.reloads += 1;
                    eprintln!("portshare wire: reloaded {}: {} entries", t.path.display(), t.entries.len());
                    self.table = t;
                }
                Err(e) => {
                    self.reloads_refused += 1;
                    eprintln!("portshare wire: reload failed while loading the unit: {e:#}");
                }
            },
            Err(e) => {
                self.reloads_refused += 1;
                eprintln!(
                    "portshare wire: reload refused, keeping the previous table ({} entries): {e}",
                    self.table.entries.len()
                );
            }
        }
    }

    fn collect_kernel_drops(&mut self) {
        for e in &mut self.ends {
            e.side.not_passed.kernel_dropped += e.port.kernel_drops();
        }
    }

    fn report(&mut self) -> Result<Report> {
        self.collect_kernel_drops();
        let c: Counters = self.unit.counters()?;
        let entries = self
            .table
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| EntryReport {
                slot: i,
                name: e.name.clone(),
                address: e.address.to_string(),
                protocol: e.protocol.as_str(),
                shared_port: e.shared_port,
                assigned_port: e.assigned_port,
                hits: c.hits.get(i).copied().unwrap_or(0),
            })
            .collect();
        let elapsed = self.started.elapsed().as_secs_f64();
        let clocks = self.unit.clocks().map(|c| c - self.clocks_at_start);
        let [n, s] = &self.ends;
        let lost = |from: &Side, to: &Side| from.frames_read.saturating_sub(to.frames_written);
        Ok(Report {
            engine: self.unit.describe(),
            table: self.table.path.display().to_string(),
            elapsed_s: elapsed,
            reloads: self.reloads,
            reloads_refused: self.reloads_refused,
            counters: c,
            entries,
            frames_not_passed: lost(&n.side, &s.side) + lost(&s.side, &n.side) + n.side.not_passed.kernel_dropped
                + s.side.not_passed.kernel_dropped,
            network: n.side.clone(),
            server: s.side.clone(),
            clocks,
            unit_busy_s: self.busy.as_secs_f64(),
            clocks_per_s: clocks.map(|c| c as f64 / self.busy.as_secs_f64().max(1e-9)),
        })
    }
}

pub fn run(a: WireArgs) -> Result<()> {
    if a.network == a.server {
        bail!("--network and --server are both {}", a.network);
    }
    if let Some(s) = a.stats_every {
        anyhow::ensure!(s > 0.0 && s.is_finite(), "--stats-every: a number of seconds above 0, not {s}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))?;

    let mut unit = open_unit(&a)?;
    let table = Table::load(&a.table, unit.capacity())?;
    unit.load(&table).with_context(|| format!("loading {} into {}", a.table.display(), unit.describe()))?;
    let ends = [End::open(&a.network)?, End::open(&a.server)?];
    let clocks_at_start = unit.clocks().unwrap_or(0);
    let mut w = Wire { unit, table, ends, reloads: 0, reloads_refused: 0, started: Instant::now(), clocks_at_start, busy: Duration::ZERO };
    // Frames dropped before the run started are not the run's.
    for e in &w.ends {
        e.port.kernel_drops();
    }
    eprintln!(
        "portshare wire: {} (network) <-> {} (server) through {}, table {} ({} entries); SIGHUP reloads, SIGINT/SIGTERM stops",
        a.network,
        a.server,
        w.unit.describe(),
        a.table.display(),
        w.table.entries.len()
    );
    let _ = std::io::stderr().flush();

    let mut buf = Port::buffer();
    let mut frame = Vec::with_capacity(buf.len());
    let stats_every = a.stats_every.map(Duration::from_secs_f64);
    let mut next_stats = stats_every.map(|d| Instant::now() + d);
    let mut last_check = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if hup.swap(false, Ordering::Relaxed) {
            w.reload();
        }
        let any = wait_either(&w.ends, TICK)?;
        if any[NETWORK] {
            w.pass_batch(NETWORK, &mut buf, &mut frame)?;
        }
        if any[SERVER] {
            w.pass_batch(SERVER, &mut buf, &mut frame)?;
        }
        if last_check.elapsed() >= TICK {
            last_check = Instant::now();
            for e in &w.ends {
                if !e.port.exists() {
                    bail!("interface `{}` disappeared", e.spec);
                }
            }
        }
        if let (Some(t), Some(d)) = (next_stats, stats_every) {
            if Instant::now() >= t {
                next_stats = Some(Instant::now() + d);
                let r = w.report()?;
                eprintln!("{}", serde_json::to_string(&r)?);
            }
        }
    }
    let r = w.report()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", summary(&r));
    }
    Ok(())
}

/// Waits up to `timeout` for either end to have a frame.
fn wait_either(ends: &[End; 2], timeout: Duration) -> Result<[bool; 2]> {
    let mut fds = [
        libc::pollfd { fd: ends[0].port.raw_fd(), events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: ends[1].port.raw_fd(), events: libc::POLLIN, revents: 0 },
    ];
    // SAFETY: two valid pollfds.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout.as_millis() as libc::c_int) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok([false; 2]);
        }
        return Err(e).context("poll");
    }
    let ready = |p: &libc::pollfd| p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0;
    Ok([ready(&fds[0]), ready(&fds[1])])
}

fn summary(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = format!(
        "{} over {:.1} s: rewritten {}, no_match {}, fragment {}, unparsed {}, udp_zero_checksum {}; {} reloads ({} refused)\n",
        r.engine,
        r.elapsed_s,
        r.counters.rewritten,
        r.counters.no_match,
        r.counters.fragment,
        r.counters.unparsed,
        r.counters.udp_zero_checksum,
        r.reloads,
        r.reloads_refused
    );
    for e in &r.entries {
        let _ = writeln!(
            s,
            "  entry {} {} {} {}/{} -> {}: {} hits",
            e.slot,
            e.name.as_deref().unwrap_or("-"),
            e.address,
            e.protocol,
            e.shared_port,
            e.assigned_port,
            e.hits
        );
    }
    for (what, side) in [("network", &r.network), ("server", &r.server)] {
        let _ = writeln!(
            s,
            "  {what} {}: read {} frames / {} bytes, written {} / {}, checksums completed {}, not passed {} {:?}",
            side.interface,
            side.frames_read,
            side.bytes_read,
            side.frames_written,
            side.bytes_written,
            side.checksums_completed,
            side.not_passed.total(),
            side.not_passed
        );
    }
    if let (Some(c), Some(cps)) = (r.clocks, r.clocks_per_s) {
        let _ = writeln!(s, "  {c} clocks simulated in {:.1} s: {cps:.0} clocks/s", r.unit_busy_s);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_parse_and_a_board_and_an_engine_at_once_is_refused() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            w: WireArgs,
        }
        for engine in ["model", "rtl", "verilator"] {
            let t = T::try_parse_from(["t", "--table", "x.toml", "--network", "a", "--server", "tap:b", "--engine", engine]).unwrap();
            assert_eq!(t.w.engine.map(|e| e.name()), Some(engine));
        }
        // A board and an engine at once is refused by the parser.
        assert!(T::try_parse_from(["t", "--table", "x", "--network", "a", "--server", "b", "--engine", "rtl", "--device", "sim"]).is_err());
    }

    #[test]
    fn a_missing_interface_fails_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t.toml");
        std::fs::write(&t, "[[entry]]\naddress = \"192.0.2.10\"\nshared_port = 443\nassigned_port = 8443\n").unwrap();
        let a = WireArgs {
            table: t,
            network: PortSpec::Interface("ps-nosuch1".into()),
            server: PortSpec::Interface("ps-nosuch2".into()),
            engine: None,
            device: None,
            capacity: 64,
            json: false,
            stats_every: None,
        };
        let e = format!("{:#}", run(a).unwrap_err());
        assert!(e.contains("no interface `ps-nosuch1`"), "{e}");
    }
}
