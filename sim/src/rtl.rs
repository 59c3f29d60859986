//! The RTL engine: the rust-hdl `Pipeline` in its cycle simulator, driven by the
//! direct loop (set inputs, settle, clock) — hundreds of times faster than the
//! threaded `Simulation`.
//!
//! [`Harness`] owns one pipeline and counts clocks; [`Harness::stream`] pushes frames
//! through with optional input gaps, output back-pressure and management operations
//! issued at given clocks (table writes while traffic flows), and measures throughput
//! and per-byte latency. [`run`] is what `portshare sim --engine rtl` calls.

pub use crate::engine::{Engine, EngineKind, MgmtOp, StreamResult, Traffic};
use crate::engine::{with_empty_frames, Pattern, STALL_LIMIT};
use portshare_hdl::core::pipeline::*;
use portshare_host::{Direction, Slot};
use rust_hdl::core::vcd_probe::VCDProbe;
use portshare_tools::clocking::settle;
use rust_hdl::prelude::*;
use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

/// Table capacities the design is built for.
/// Table capacities the pipeline is built with (the one list: `portshare_spec`).
pub use portshare_spec::CAPACITIES;

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

pub use crate::engine::RunResult as RtlResult;

/// A pipeline of capacity N in the cycle simulator.
pub struct Harness<const N: usize> {
    uut: Pipeline<N>,
    pub clocks: u64,
    vcd: Option<VCDProbe<BufWriter<File>>>,
    recorder: Option<portshare_tools::icarus::Recorder>,
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
        self.recorder = Some(portshare_tools::icarus::Recorder::new(&self.uut).expect("pipeline ports are plain bit vectors"));
    }

    /// Replays the recorded clocks on the generated Verilog in Icarus and compares
    /// every output on every clock with what the Rust simulation produced.
    pub fn cosimulate(&self, work_dir: &std::path::Path) -> Result<portshare_tools::icarus::CosimReport, portshare_tools::ToolError> {
        let rec = self.recorder.as_ref().expect("call record() before streaming");
        // Verilog from a fresh pipeline: rust-hdl writes its `RAM`'s (the queue's)
        // *current* simulated contents as its `initial` block, so the simulated one
        // would start pre-filled. (`BlockRam`s always start zeroed.)
        let mut fresh = Pipeline::<N>::default();
        fresh.connect_all();
        rec.run_icarus(&generate_verilog(&fresh), work_dir)
    }

    /// Replays the recorded clocks on the pipeline's yosys netlist under Verilator
    /// (cells simulated with yosys' models) and compares every output on every clock
    /// with what the Rust simulation produced; returns the clocks compared.
    pub fn replay_on_netlist(&self) -> anyhow::Result<usize> {
        let rec = self.recorder.as_ref().expect("call record() before streaming");
        let lib = crate::verilator::library_at(crate::engine::EngineKind::Netlist, N)?;
        Ok(rec.replay(&mut lib.instance(), "netlist")?)
    }

    fn settle(&mut self) {
        settle(&mut self.uut);
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

    /// [`Harness::stream`], calling `progress` with the number of frames out so far
    /// each time a frame leaves.
    pub fn stream_with_progress(
        &mut self,
        frames: &[(&[u8], Direction)],
        traffic: &Traffic,
        progress: &mut dyn FnMut(usize),
    ) -> StreamResult {
        let mut pattern = Pattern::new(traffic);
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
            let (gap, stall) = pattern.next();
            // Source.
            let offer = fi < frames.len() && !gap;
            self.uut.in_valid.next = offer;
            if offer {
                let (f, d) = frames[fi];
                self.uut.in_data.next = (f[bi] as u64).into();
                self.uut.in_last.next = bi + 1 == f.len();
                self.uut.in_direction.next = d.bit();
            }
            // Sink.
            let ready = !stall;
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
                entered.push_back(self.clocks - start);
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
                let lat = self.clocks - start - t_in;
                if traffic.timing {
                    out.byte_clocks.push((t_in, self.clocks - start));
                }
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
            assert!(stalled_for < STALL_LIMIT, "pipeline stopped moving at clock {}", self.clocks);
        }
        out.frames = with_empty_frames(frames, std::mem::take(&mut out.frames));
        out.clocks = self.clocks - start;
        if out.latency_min == u64::MAX {
            out.latency_min = 0;
        }
        out
    }
}

impl<const N: usize> Engine for Harness<N> {
    fn kind(&self) -> EngineKind {
        EngineKind::Rtl
    }
    fn capacity(&self) -> usize {
        N
    }
    fn stream_with_progress(
        &mut self,
        frames: &[(&[u8], Direction)],
        traffic: &Traffic,
        progress: &mut dyn FnMut(usize),
    ) -> StreamResult {
        Harness::stream_with_progress(self, frames, traffic, progress)
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

/// [`crate::engine::run`] on the rtl engine.
pub fn run(
    slots: &[Slot],
    frames: &[Vec<u8>],
    direction: Direction,
    opts: &RtlOptions,
    progress: &mut dyn FnMut(usize),
) -> anyhow::Result<RtlResult> {
    crate::engine::run(EngineKind::Rtl, opts.capacity, opts.vcd.as_deref(), slots, frames, direction, progress)
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
