//! One interface for every way of running the pipeline: the reference model
//! ([`ModelEngine`]), rust-hdl's cycle simulator (`rtl::Harness`) and the generated
//! Verilog under Verilator (`verilator::VerilatorPipeline`). Each streams frames in
//! both directions with input gaps and output back-pressure, takes management
//! operations (table writes, counter reads) at given clocks while frames flow, and
//! reports clocks and per-byte latency (the model has no clock: it reports 0).
//!
//! The gap/back-pressure draws come from one [`Pattern`] per stream, one draw per
//! clock whatever happens, so two cycle-accurate engines given the same [`Traffic`]
//! see the same pattern clock for clock — and must agree on every clock count.

use crate::model::{self, Counters, CountOutcome};
use portshare_hdl::core::pipeline::*;
use portshare_host::{Direction, Slot, RECORD_LEN};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::fmt;
use std::str::FromStr;

/// Traffic shaping for [`Engine::stream`].
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    /// Probability that the source idles on a clock (input gaps).
    pub input_gap: f64,
    /// Probability that the sink refuses a byte on a clock (back-pressure).
    pub backpressure: f64,
    pub seed: u64,
    /// Management operations issued once the stream reaches the given clock
    /// (relative to the stream's start), in order.
    pub mgmt: Vec<(u64, MgmtOp)>,
    /// Record every byte's entry and exit clock ([`StreamResult::byte_clocks`]).
    pub timing: bool,
}

/// Clocks without any movement after which a stream is declared stuck.
pub const STALL_LIMIT: u64 = 10_000;

/// The per-clock gap and back-pressure draws of a stream.
pub struct Pattern {
    rng: StdRng,
    gap: f64,
    stall: f64,
}

impl Pattern {
    pub fn new(t: &Traffic) -> Pattern {
        Pattern { rng: StdRng::seed_from_u64(t.seed), gap: t.input_gap, stall: t.backpressure }
    }

    /// This clock's (source idles, sink refuses). A probability of 0 draws nothing.
    pub fn next(&mut self) -> (bool, bool) {
        let gap = self.gap > 0.0 && self.rng.gen_bool(self.gap);
        let stall = self.stall > 0.0 && self.rng.gen_bool(self.stall);
        (gap, stall)
    }

    /// [`Pattern::next`] as the Verilator shim takes it: bit 0 gap, bit 1 stall.
    pub fn byte(&mut self) -> u8 {
        let (g, s) = self.next();
        g as u8 | (s as u8) << 1
    }
}

/// One management-port operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MgmtOp {
    WriteEntry(u8, [u8; RECORD_LEN]),
    ReadEntry(u8),
    ClearTable,
    ReadHits(u8),
    ReadReason(u8),
    ResetCounters,
}

impl MgmtOp {
    /// (mgmt_op, mgmt_index, mgmt_wdata as record bytes).
    pub fn encode(&self) -> (u64, u64, [u8; RECORD_LEN]) {
        let zero = [0u8; RECORD_LEN];
        match self {
            MgmtOp::WriteEntry(i, r) => (MGMT_WRITE_ENTRY, *i as u64, *r),
            MgmtOp::ReadEntry(i) => (MGMT_READ_ENTRY, *i as u64, zero),
            MgmtOp::ClearTable => (MGMT_CLEAR_TABLE, 0, zero),
            MgmtOp::ReadHits(i) => (MGMT_READ_HITS, *i as u64, zero),
            MgmtOp::ReadReason(i) => (MGMT_READ_REASON, *i as u64, zero),
            MgmtOp::ResetCounters => (MGMT_RESET_COUNTERS, 0, zero),
        }
    }
}

/// What a stream produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamResult {
    pub frames: Vec<Vec<u8>>,
    pub clocks: u64,
    pub bytes_in: u64,
    pub latency_min: u64,
    pub latency_max: u64,
    /// The replies (`mgmt_rdata` as record bytes) of the stream's management ops.
    pub mgmt_replies: Vec<[u8; RECORD_LEN]>,
    /// With [`Traffic::timing`]: each byte's (entry, exit) clock, in byte order
    /// (bytes leave in the order they enter), relative to the stream's start.
    pub byte_clocks: Vec<(u64, u64)>,
}

/// Puts empty frames (which no stream can carry: a beat needs a byte) back where they
/// were among the frames that went through.
pub fn with_empty_frames(frames: &[(&[u8], Direction)], produced: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut produced = produced.into_iter();
    frames.iter().map(|(f, _)| if f.is_empty() { vec![] } else { produced.next().expect("a frame out per frame in") }).collect()
}

/// A counter value from a READ_HITS / READ_REASON reply (32 bits, as the hardware keeps it).
pub fn counter_of(reply: &[u8; RECORD_LEN]) -> u32 {
    u32::from_be_bytes([reply[17], reply[18], reply[19], reply[20]])
}

/// A pipeline, however it is run.
pub trait Engine {
    /// `model`, `rtl` or `verilator`.
    fn kind(&self) -> EngineKind;
    fn capacity(&self) -> usize;
    /// Streams `frames` (each with its direction) through and returns what came out
    /// once every frame has left and every management op is done. Empty frames come
    /// back empty without entering.
    fn stream(&mut self, frames: &[(&[u8], Direction)], traffic: &Traffic) -> StreamResult {
        self.stream_with_progress(frames, traffic, &mut |_| {})
    }
    /// [`Engine::stream`], calling `progress` with the number of frames out so far.
    fn stream_with_progress(
        &mut self,
        frames: &[(&[u8], Direction)],
        traffic: &Traffic,
        progress: &mut dyn FnMut(usize),
    ) -> StreamResult;
    /// Runs one management op to completion on an otherwise idle pipeline.
    fn mgmt(&mut self, op: &MgmtOp) -> [u8; RECORD_LEN] {
        let t = Traffic { mgmt: vec![(0, op.clone())], ..Default::default() };
        self.stream(&[], &t).mgmt_replies[0]
    }
    /// Clocks simulated so far.
    fn clocks(&self) -> u64;
    /// Writes a VCD waveform of everything from now on (the rtl engine only).
    fn trace_to(&mut self, _path: &std::path::Path) -> anyhow::Result<()> {
        anyhow::bail!("--vcd needs --engine rtl (the {} engine writes no waveform)", self.kind())
    }

    /// Writes `slots` to entries 0.. and empties the rest.
    fn load(&mut self, slots: &[Slot]) {
        let n = self.capacity();
        assert!(slots.len() <= n, "{} slots for a {n}-entry table", slots.len());
        for i in 0..n {
            let s = slots.get(i).copied().unwrap_or_default();
            self.mgmt(&MgmtOp::WriteEntry(i as u8, s.to_record()));
        }
    }
    fn write_slot(&mut self, index: usize, slot: &Slot) {
        self.mgmt(&MgmtOp::WriteEntry(index as u8, slot.to_record()));
    }
    fn read_slot(&mut self, index: usize) -> Slot {
        Slot::from_record(&self.mgmt(&MgmtOp::ReadEntry(index as u8)))
    }
    /// Every counter, read through the management port.
    fn read_counters(&mut self) -> Counters {
        let mut reason = |r: u64| counter_of(&self.mgmt(&MgmtOp::ReadReason(r as u8)));
        let mut c = Counters {
            rewritten: reason(REASON_REWRITTEN),
            no_match: reason(REASON_NO_MATCH),
            fragment: reason(REASON_FRAGMENT),
            unparsed: reason(REASON_UNPARSED),
            udp_zero_checksum: reason(REASON_UDP_ZERO_CHECKSUM),
            hits: vec![],
        };
        for i in 0..self.capacity() {
            c.hits.push(counter_of(&self.mgmt(&MgmtOp::ReadHits(i as u8))));
        }
        c
    }
}

/// What [`run`] produced.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// Output frames, in order.
    pub frames: Vec<Vec<u8>>,
    /// Counters read back through the management port (the model's own for the model).
    pub counters: Counters,
    pub clocks: u64,
    pub bytes_in: u64,
    /// Clocks from a byte entering to the same byte leaving, worst case over the run.
    pub latency_clocks: u64,
}

/// Loads `slots` into a `capacity`-entry pipeline run by `kind`, streams `frames` back
/// to back in `direction` and collects the output and the counters; `vcd` (rtl only)
/// writes a waveform. `progress` is called with the number of frames done so far.
pub fn run(
    kind: EngineKind,
    capacity: usize,
    vcd: Option<&std::path::Path>,
    slots: &[Slot],
    frames: &[Vec<u8>],
    direction: Direction,
    progress: &mut dyn FnMut(usize),
) -> anyhow::Result<RunResult> {
    let mut e = open(kind, capacity)?;
    anyhow::ensure!(slots.len() <= e.capacity(), "the table has {} entries; the design holds {}", slots.len(), e.capacity());
    e.load(slots);
    if let Some(p) = vcd {
        e.trace_to(p)?;
    }
    let batch: Vec<(&[u8], Direction)> = frames.iter().map(|f| (f.as_slice(), direction)).collect();
    let r = e.stream_with_progress(&batch, &Traffic::default(), progress);
    Ok(RunResult { frames: r.frames, counters: e.read_counters(), clocks: r.clocks, bytes_in: r.bytes_in, latency_clocks: r.latency_max })
}

/// Which engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// The reference model (no clock).
    Model,
    /// rust-hdl's cycle simulator on the rust-hdl blocks.
    Rtl,
    /// The blocks' generated Verilog under Verilator.
    Verilator,
    /// yosys' iCE40 netlist of that Verilog under Verilator, with yosys' cell models.
    Netlist,
    /// The placed-and-routed bitstream of a `portshare build`, decoded back to Verilog
    /// (`icebox_vlog`), under Verilator with the cell models: the whole board only.
    Bitstream,
}

impl EngineKind {
    pub const ALL: [EngineKind; 5] =
        [EngineKind::Model, EngineKind::Rtl, EngineKind::Verilator, EngineKind::Netlist, EngineKind::Bitstream];
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Model => "model",
            EngineKind::Rtl => "rtl",
            EngineKind::Verilator => "verilator",
            EngineKind::Netlist => "netlist",
            EngineKind::Bitstream => "bitstream",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EngineKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("`{s}`: the engines are model, rtl, verilator, netlist and bitstream"))
    }
}

/// A pipeline of `capacity` entries (16, 64 or 128) run by `kind`.
pub fn open(kind: EngineKind, capacity: usize) -> anyhow::Result<Box<dyn Engine>> {
    match kind {
        EngineKind::Model => Ok(Box::new(ModelEngine::new(capacity)?)),
        EngineKind::Rtl => crate::rtl::engine(capacity),
        EngineKind::Verilator | EngineKind::Netlist => crate::verilator::engine(kind, capacity),
        EngineKind::Bitstream => anyhow::bail!(
            "the bitstream is the whole board: simulate it with `--device sim --engine bitstream` (load, list, stats, \
             clear, inject, serve); the pipeline alone runs as rtl, verilator or netlist"
        ),
    }
}

/// The reference model behind [`Engine`]: frames in order, no clock. A management op
/// at clock `t` takes effect before the first frame whose first byte would enter at or
/// after clock `t` on an ideal one-byte-per-clock pipeline.
pub struct ModelEngine {
    slots: Vec<Slot>,
    counters: Counters,
}

impl ModelEngine {
    pub fn new(capacity: usize) -> anyhow::Result<ModelEngine> {
        anyhow::ensure!(crate::rtl::CAPACITIES.contains(&capacity), "the design is built for 16, 64 or 128 entries, not {capacity}");
        Ok(ModelEngine { slots: vec![Slot::default(); capacity], counters: Counters::new(capacity) })
    }

    fn apply(&mut self, op: &MgmtOp) -> [u8; RECORD_LEN] {
        let mut reply = [0u8; RECORD_LEN];
        let mut count = |v: u32| reply[17..21].copy_from_slice(&v.to_be_bytes());
        let c = &mut self.counters;
        match op {
            MgmtOp::WriteEntry(i, r) => self.slots[*i as usize] = Slot::from_record(r),
            MgmtOp::ReadEntry(i) => return self.slots[*i as usize].to_record(),
            MgmtOp::ClearTable => self.slots.iter_mut().for_each(|s| s.valid = false),
            MgmtOp::ReadHits(i) => count(c.hits[*i as usize]),
            MgmtOp::ReadReason(r) => count(c.reason(*r as usize).unwrap_or(0)),
            MgmtOp::ResetCounters => *c = Counters::new(self.slots.len()),
        }
        reply
    }
}

impl Engine for ModelEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Model
    }
    fn capacity(&self) -> usize {
        self.slots.len()
    }
    fn clocks(&self) -> u64 {
        0
    }
    fn stream_with_progress(
        &mut self,
        frames: &[(&[u8], Direction)],
        traffic: &Traffic,
        progress: &mut dyn FnMut(usize),
    ) -> StreamResult {
        let mut out = StreamResult::default();
        let mut ops = traffic.mgmt.iter().peekable();
        let mut byte = 0u64;
        for (i, (f, d)) in frames.iter().enumerate() {
            while let Some((_, op)) = ops.next_if(|(at, _)| *at <= byte) {
                let r = self.apply(op);
                out.mgmt_replies.push(r);
            }
            if f.is_empty() {
                out.frames.push(vec![]);
                continue;
            }
            let p = model::process_frame(f, *d, &self.slots);
            self.counters.count(&p.outcome);
            out.frames.push(p.frame);
            byte += f.len() as u64;
            out.bytes_in += f.len() as u64;
            if i % 256 == 0 {
                progress(i + 1);
            }
        }
        for (_, op) in ops {
            let r = self.apply(op);
            out.mgmt_replies.push(r);
        }
        progress(frames.len());
        out
    }
    fn read_counters(&mut self) -> Counters {
        self.counters.clone()
    }
}
