//! The RTL engine: the rust-hdl `Pipeline` in its cycle simulator, driven by the
//! direct loop (set inputs, settle, clock) — hundreds of times faster than the
//! threaded `Simulation`.
//!
//! [`Harness`] owns one pipeline and counts clocks; [`Harness::stream`] pushes frames
//! through with optional input gaps, output back-pressure and management operations
//! issued at given clocks (table writes while traffic flows), and measures throughput
//! and per-byte latency. [`run`] is what `portshare sim --engine rtl` calls.

use crate::model::Counters;
use portshare_hdl::pipeline::*;
use portshare_host::{Direction, Slot, RECORD_LEN};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rust_hdl::core::vcd_probe::VCDProbe;
use rust_hdl::prelude::*;
use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

/// Table capacities the design is built for.
pub const CAPACITIES: [usize; 3] = [16, 64, 128];

#[derive(Clone, Debug)]
pub struct RtlOptions {
    /// Table capacity of the simulated design (16, 64 or 128).
    pub capacity: usize,
    /// Write a VCD waveform here (slow; for small captures).
    pub vcd: Option<PathBuf>,
}

impl Default for RtlOptions {
    fn default() -> Self {
        RtlOptions { capacity: 64, vcd: None }
    }
}

#[derive(Clone, Debug)]
pub struct RtlResult {
    /// Output frames, in order.
    pub frames: Vec<Vec<u8>>,
    /// Counters read back from the hardware's counter registers.
    pub counters: Counters,
    pub clocks: u64,
    pub bytes_in: u64,
    /// Clocks from a byte entering to the same byte leaving, worst case over the run.
    pub latency_clocks: u64,
}

/// Traffic shaping for [`Harness::stream`].
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
    fn encode(&self) -> (u64, u64, [u8; RECORD_LEN]) {
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
#[derive(Clone, Debug, Default)]
pub struct StreamResult {
    pub frames: Vec<Vec<u8>>,
    pub clocks: u64,
    pub bytes_in: u64,
    pub latency_min: u64,
    pub latency_max: u64,
    /// The replies (`mgmt_rdata` as record bytes) of the stream's management ops.
    pub mgmt_replies: Vec<[u8; RECORD_LEN]>,
}

/// A pipeline of capacity N in the cycle simulator.
pub struct Harness<const N: usize> {
    uut: Pipeline<N>,
    pub clocks: u64,
    vcd: Option<VCDProbe<BufWriter<File>>>,
    recorder: Option<crate::icarus::Recorder>,
}

impl<const N: usize> Default for Harness<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Harness<N> {
    pub fn new() -> Self {
        let mut uut = Pipeline::<N>::default();
        uut.connect_all();
        check_all(&uut).expect("pipeline passes rust-hdl's checks");
        uut.out_ready.next = true;
        let mut h = Harness { uut, clocks: 0, vcd: None, recorder: None };
        h.settle();
        h
    }

    /// Record every signal of every clock into a VCD file from now on.
    pub fn trace_to(&mut self, path: &std::path::Path) -> anyhow::Result<()> {
        let f = File::create(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        self.vcd = Some(write_vcd_header(BufWriter::new(f), &self.uut));
        Ok(())
    }

    /// Record every clock's ports from now on, for [`Harness::cosimulate`].
    pub fn record(&mut self) {
        self.recorder = Some(crate::icarus::Recorder::new(&self.uut).expect("pipeline ports are plain bit vectors"));
    }

    /// Replays the recorded clocks on the generated Verilog in Icarus and compares
    /// every output on every clock with what the Rust simulation produced.
    pub fn cosimulate(&self, work_dir: &std::path::Path) -> Result<crate::icarus::CosimReport, crate::icarus::CosimError> {
        let rec = self.recorder.as_ref().expect("call record() before streaming");
        // Verilog from a fresh pipeline: rust-hdl writes its `RAM`'s (the queue's)
        // *current* simulated contents as its `initial` block, so the simulated one
        // would start pre-filled. (`BlockRam`s always start zeroed.)
        let mut fresh = Pipeline::<N>::default();
        fresh.connect_all();
        rec.run_icarus(&generate_verilog(&fresh), work_dir)
    }

    fn settle(&mut self) {
        assert!(simulate(&mut self.uut, 200), "pipeline logic did not settle");
    }

    /// Settles the inputs set since the last clock (outputs then reflect them).
    fn eval(&mut self) {
        self.uut.clock.next = false.into();
        self.settle();
    }

    /// One rising edge.
    fn edge(&mut self) {
        if let Some(v) = self.vcd.take() {
            let mut v = v;
            let _ = v.timestamp(self.clocks * 10);
            self.vcd = Some(write_vcd_change(v, &self.uut));
        }
        if let Some(rec) = self.recorder.as_mut() {
            rec.sample(&mut self.uut).expect("pipeline settles");
        }
        self.uut.clock.next = true.into();
        self.settle();
        self.clocks += 1;
    }

    /// Runs one management op to completion on an otherwise idle pipeline.
    pub fn mgmt(&mut self, op: &MgmtOp) -> [u8; RECORD_LEN] {
        let mut t = Traffic::default();
        t.mgmt.push((0, op.clone()));
        self.stream(&[], &t).mgmt_replies[0]
    }

    pub fn write_slot(&mut self, index: usize, slot: &Slot) {
        self.mgmt(&MgmtOp::WriteEntry(index as u8, slot.to_record()));
    }

    pub fn read_slot(&mut self, index: usize) -> Slot {
        Slot::from_record(&self.mgmt(&MgmtOp::ReadEntry(index as u8)))
    }

    /// Writes `slots` to entries 0.. and empties the rest.
    pub fn load(&mut self, slots: &[Slot]) {
        assert!(slots.len() <= N, "{} slots for a {N}-entry table", slots.len());
        for i in 0..N {
            let s = slots.get(i).copied().unwrap_or_default();
            self.write_slot(i, &s);
        }
    }

    fn counter(reply: [u8; RECORD_LEN]) -> u64 {
        u32::from_be_bytes([reply[17], reply[18], reply[19], reply[20]]) as u64
    }

    /// Reads every counter through the management port.
    pub fn read_counters(&mut self) -> Counters {
        let reason = |h: &mut Self, r: u64| Self::counter(h.mgmt(&MgmtOp::ReadReason(r as u8)));
        let mut c = Counters {
            rewritten: reason(self, REASON_REWRITTEN),
            no_match: reason(self, REASON_NO_MATCH),
            fragment: reason(self, REASON_FRAGMENT),
            unparsed: reason(self, REASON_UNPARSED),
            udp_zero_checksum: reason(self, REASON_UDP_ZERO_CHECKSUM),
            hits: vec![],
        };
        for i in 0..N {
            c.hits.push(Self::counter(self.mgmt(&MgmtOp::ReadHits(i as u8))));
        }
        c
    }

    /// Streams `frames` (each with its direction) through the pipeline and returns
    /// what came out once every frame has left and every management op is done.
    /// Empty frames cannot be carried by the stream (a beat needs a byte) and are
    /// returned empty without entering the pipeline.
    pub fn stream(&mut self, frames: &[(&[u8], Direction)], traffic: &Traffic) -> StreamResult {
        self.stream_with_progress(frames, traffic, &mut |_| {})
    }

    /// [`Harness::stream`], calling `progress` with the number of frames out so far
    /// each time a frame leaves.
    pub fn stream_with_progress(
        &mut self,
        frames: &[(&[u8], Direction)],
        traffic: &Traffic,
        progress: &mut dyn FnMut(usize),
    ) -> StreamResult {
        let mut rng = StdRng::seed_from_u64(traffic.seed);
        let start = self.clocks;
        let mut out = StreamResult { latency_min: u64::MAX, ..Default::default() };
        let expected = frames.iter().filter(|(f, _)| !f.is_empty()).count();
        let mut fi = 0usize;
        let mut bi = 0usize;
        let mut entered: VecDeque<u64> = VecDeque::new();
        let mut current: Vec<u8> = Vec::new();
        let mut got = 0usize;
        let mut ops = traffic.mgmt.iter().peekable();
        let mut op_in_flight = false;
        let mut stalled_for = 0u64;
        loop {
            while fi < frames.len() && frames[fi].0.is_empty() {
                fi += 1;
            }
            let now = self.clocks - start;
            // Source.
            let offer = fi < frames.len() && !rng.gen_bool(traffic.input_gap);
            self.uut.in_valid.next = offer;
            if offer {
                let (f, d) = frames[fi];
                self.uut.in_data.next = (f[bi] as u64).into();
                self.uut.in_last.next = bi + 1 == f.len();
                self.uut.in_direction.next = d.bit();
            }
            // Sink.
            let ready = !rng.gen_bool(traffic.backpressure);
            self.uut.out_ready.next = ready;
            // Management.
            self.uut.mgmt_start.next = false;
            if !op_in_flight {
                if let Some((at, op)) = ops.peek() {
                    if *at <= now {
                        let (code, index, rec) = op.encode();
                        self.uut.mgmt_op.next = code.into();
                        self.uut.mgmt_index.next = index.into();
                        self.uut.mgmt_wdata.next = record_to_bits(&rec);
                        self.uut.mgmt_start.next = true;
                    }
                }
            }
            self.eval();
            if self.uut.mgmt_start.val() && !self.uut.mgmt_busy.val() {
                ops.next();
                op_in_flight = true;
            }
            if self.uut.mgmt_done.val() {
                out.mgmt_replies.push(bits_to_record(self.uut.mgmt_rdata.val()));
                op_in_flight = false;
            }
            let mut moved = false;
            if offer && self.uut.in_ready.val() {
                entered.push_back(self.clocks);
                out.bytes_in += 1;
                bi += 1;
                if bi == frames[fi].0.len() {
                    fi += 1;
                    bi = 0;
                }
                moved = true;
            }
            if ready && self.uut.out_valid.val() {
                current.push(u64::from(self.uut.out_data.val()) as u8);
                let t_in = entered.pop_front().expect("a byte left that never entered");
                let lat = self.clocks - t_in;
                out.latency_min = out.latency_min.min(lat);
                out.latency_max = out.latency_max.max(lat);
                if self.uut.out_last.val() {
                    out.frames.push(std::mem::take(&mut current));
                    got += 1;
                    progress(got);
                }
                moved = true;
            }
            self.edge();
            let all_ops_done = ops.peek().is_none() && !op_in_flight;
            if got == expected && fi >= frames.len() && all_ops_done {
                break;
            }
            stalled_for = if moved || op_in_flight { 0 } else { stalled_for + 1 };
            assert!(stalled_for < 10_000, "pipeline stopped moving at clock {}", self.clocks);
        }
        // Put back the empty frames where they were.
        let mut produced = std::mem::take(&mut out.frames).into_iter();
        out.frames = frames
            .iter()
            .map(|(f, _)| if f.is_empty() { vec![] } else { produced.next().unwrap() })
            .collect();
        out.clocks = self.clocks - start;
        if out.latency_min == u64::MAX {
            out.latency_min = 0;
        }
        out
    }
}

/// Object-safe view of a harness of any capacity.
pub trait Engine {
    fn capacity(&self) -> usize;
    fn load(&mut self, slots: &[Slot]);
    fn stream(&mut self, frames: &[(&[u8], Direction)], traffic: &Traffic) -> StreamResult {
        self.stream_with_progress(frames, traffic, &mut |_| {})
    }
    fn stream_with_progress(
        &mut self,
        frames: &[(&[u8], Direction)],
        traffic: &Traffic,
        progress: &mut dyn FnMut(usize),
    ) -> StreamResult;
    fn read_counters(&mut self) -> Counters;
    fn mgmt(&mut self, op: &MgmtOp) -> [u8; RECORD_LEN];
    fn trace_to(&mut self, path: &std::path::Path) -> anyhow::Result<()>;
    fn clocks(&self) -> u64;
}

impl<const N: usize> Engine for Harness<N> {
    fn capacity(&self) -> usize {
        N
    }
    fn load(&mut self, slots: &[Slot]) {
        Harness::load(self, slots)
    }
    fn stream_with_progress(
        &mut self,
        frames: &[(&[u8], Direction)],
        traffic: &Traffic,
        progress: &mut dyn FnMut(usize),
    ) -> StreamResult {
        Harness::stream_with_progress(self, frames, traffic, progress)
    }
    fn read_counters(&mut self) -> Counters {
        Harness::read_counters(self)
    }
    fn mgmt(&mut self, op: &MgmtOp) -> [u8; RECORD_LEN] {
        Harness::mgmt(self, op)
    }
    fn trace_to(&mut self, path: &std::path::Path) -> anyhow::Result<()> {
        Harness::trace_to(self, path)
    }
    fn clocks(&self) -> u64 {
        self.clocks
    }
}

/// A pipeline of the given capacity (16, 64 or 128).
pub fn engine(capacity: usize) -> anyhow::Result<Box<dyn Engine>> {
    Ok(match capacity {
        16 => Box::new(Harness::<16>::new()),
        64 => Box::new(Harness::<64>::new()),
        128 => Box::new(Harness::<128>::new()),
        n => anyhow::bail!("the design is built for 16, 64 or 128 entries, not {n}"),
    })
}

/// Loads `slots` into the design, streams `frames` back to back in `direction`, and
/// collects the output. `progress` is called with the number of frames done so far.
pub fn run(
    slots: &[Slot],
    frames: &[Vec<u8>],
    direction: Direction,
    opts: &RtlOptions,
    progress: &mut dyn FnMut(usize),
) -> anyhow::Result<RtlResult> {
    let mut e = engine(opts.capacity)?;
    anyhow::ensure!(
        slots.len() <= e.capacity(),
        "the table has {} entries; the design holds {}",
        slots.len(),
        e.capacity()
    );
    e.load(slots);
    if let Some(p) = &opts.vcd {
        e.trace_to(p)?;
    }
    let batch: Vec<(&[u8], Direction)> = frames.iter().map(|f| (f.as_slice(), direction)).collect();
    let r = e.stream_with_progress(&batch, &Traffic::default(), progress);
    let mut result = RtlResult {
        frames: r.frames,
        counters: Counters::default(),
        clocks: r.clocks,
        bytes_in: r.bytes_in,
        latency_clocks: r.latency_max,
    };
    result.counters = e.read_counters();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_bits_round_trip() {
        let s = Slot::new("2001:db8::7".parse().unwrap(), true, false, 443, 8443);
        let r = s.to_record();
        assert_eq!(bits_to_record(record_to_bits(&r)), r);
        // byte 0 (flags) lands in bits 167..160 as the management port expects
        let b = record_to_bits(&r);
        assert_eq!(u64::from(b.get_bits::<8>(160)), r[0] as u64);
    }

    #[test]
    fn entries_read_back_as_written() {
        let mut h = Harness::<16>::new();
        let a = Slot::new("192.0.2.10".parse().unwrap(), true, false, 443, 8443);
        let b = Slot::new("2001:db8::1:2".parse().unwrap(), true, true, 53, 5353);
        h.write_slot(3, &a);
        h.write_slot(15, &b);
        assert_eq!(h.read_slot(3), a);
        assert_eq!(h.read_slot(15), b);
        assert_eq!(h.read_slot(4), Slot::default());
        // overwrite, then clear
        h.write_slot(3, &b);
        assert_eq!(h.read_slot(3), b);
        h.mgmt(&MgmtOp::ClearTable);
        assert!(!h.read_slot(3).valid);
        assert!(!h.read_slot(15).valid);
    }
}
