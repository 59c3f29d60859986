//! The verilator engine: the pipeline's generated Verilog (from a fresh block) compiled
//! by Verilator into a library at first use (`portshare_tools::verilator`, cached) and
//! streamed through its C ABI in batches — a chunk of clocks per call, the gap and
//! back-pressure pattern and the management op handled in C++ — behind the same
//! [`Engine`] trait as the rtl engine, with which it agrees clock for clock.

use crate::engine::{with_empty_frames, Engine, EngineKind, Pattern, StreamResult, Traffic, STALL_LIMIT};
use anyhow::Context as _;
use portshare_hdl::core::pipeline::{Pipeline, RECORD_BITS};
use portshare_host::{Direction, RECORD_LEN};
use portshare_tools::verilator::{CommandPorts, Design, Library, Model, Stream, StreamPorts, StreamStatus};
use std::sync::Arc;

/// Clocks per call into the library: enough that the call costs nothing against the
/// clocks, few enough that progress is reported a few times a second.
const CHUNK_CLOCKS: usize = 1 << 16;
/// 32-bit words of a management record.
const RECORD_WORDS: usize = RECORD_BITS.div_ceil(32);

/// The pipeline's stream and management port, by the names the Verilog gives them.
fn pipeline_stream() -> StreamPorts {
    let s = |n: &str| n.to_string();
    StreamPorts {
        in_data: s("in_data"),
        in_valid: s("in_valid"),
        in_last: s("in_last"),
        in_ready: s("in_ready"),
        in_side: Some(s("in_direction")),
        out_data: s("out_data"),
        out_valid: s("out_valid"),
        out_last: s("out_last"),
        out_ready: s("out_ready"),
        command: Some(CommandPorts {
            start: s("mgmt_start"),
            busy: s("mgmt_busy"),
            done: s("mgmt_done"),
            reply: s("mgmt_rdata"),
            payload: vec![s("mgmt_op"), s("mgmt_index"), s("mgmt_wdata")],
        }),
    }
}

fn design<const N: usize>() -> anyhow::Result<Design> {
    let mut fresh = Pipeline::<N>::default();
    Ok(Design::of(&mut fresh, Some(pipeline_stream()))?)
}

/// The compiled pipeline of `capacity` entries (built or taken from the cache).
pub fn library(capacity: usize) -> anyhow::Result<Arc<Library>> {
    library_at(EngineKind::Verilator, capacity)
}

/// The pipeline compiled at `level`: its Verilog (`Verilator`) or its yosys netlist
/// (`Netlist`).
pub fn library_at(level: EngineKind, capacity: usize) -> anyhow::Result<Arc<Library>> {
    let d = match capacity {
        16 => design::<16>()?,
        64 => design::<64>()?,
        128 => design::<128>()?,
        n => anyhow::bail!("the design is built for 16, 64 or 128 entries, not {n}"),
    };
    Library::get(&at_level(d, level)?).context(NEEDS)
}

/// A block's design at `level`: as generated (`Verilator`), or its yosys netlist with
/// the cell models (`Netlist`).
pub fn at_level(d: Design, level: EngineKind) -> anyhow::Result<Design> {
    match level {
        EngineKind::Verilator => Ok(d),
        EngineKind::Netlist => portshare_tools::gates::netlist_design(d).context(NETLIST_NEEDS),
        other => anyhow::bail!("no Verilog of the {other} engine"),
    }
}

/// What the netlist and bitstream levels need besides Verilator.
pub const NETLIST_NEEDS: &str = "the netlist and bitstream levels synthesize with yosys (and decode the bitstream \
     with icestorm's icebox_vlog) and simulate yosys' cells_sim.v: Debian packages `yosys` and `fpga-icestorm` \
     (scripts/setup installs them)";

/// What every verilator-engine error adds: what it needs and the fallback.
pub const NEEDS: &str = "the verilator engine compiles the design's Verilog with Verilator 5.006 and g++ \
     (Debian packages `verilator` and `g++`, which scripts/setup installs); \
     `--engine rtl` runs rust-hdl's own simulator instead and needs neither";

/// A record's bytes as the management port's 32-bit words, least significant first
/// (byte 0 is bits 167..160, as `record_to_bits` lays it out).
pub fn record_to_words(r: &[u8; RECORD_LEN]) -> [u32; RECORD_WORDS] {
    let mut w = [0u32; RECORD_WORDS];
    for (i, &b) in r.iter().enumerate() {
        let bit = (RECORD_LEN - 1 - i) * 8;
        w[bit / 32] |= (b as u32) << (bit % 32);
    }
    w
}

/// The inverse of [`record_to_words`].
pub fn words_to_record(w: &[u32]) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    for (i, b) in r.iter_mut().enumerate() {
        let bit = (RECORD_LEN - 1 - i) * 8;
        *b = (w[bit / 32] >> (bit % 32)) as u8;
    }
    r
}

/// One pipeline in Verilator.
pub struct VerilatorPipeline {
    model: Model,
    kind: EngineKind,
    capacity: usize,
    clocks: u64,
}

impl VerilatorPipeline {
    pub fn new(capacity: usize) -> anyhow::Result<VerilatorPipeline> {
        Self::at_level(EngineKind::Verilator, capacity)
    }

    /// The pipeline's Verilog (`Verilator`) or its netlist (`Netlist`) in Verilator.
    pub fn at_level(kind: EngineKind, capacity: usize) -> anyhow::Result<VerilatorPipeline> {
        let lib = library_at(kind, capacity)?;
        let mut model = lib.instance();
        let ready = model.port("out_ready").expect("the pipeline has out_ready");
        model.set_u64(ready, 1);
        model.eval();
        Ok(VerilatorPipeline { model, kind, capacity, clocks: 0 })
    }

    /// The model itself, for port-level work.
    pub fn model(&mut self) -> &mut Model {
        &mut self.model
    }
}

/// The engine for `portshare … --engine verilator|netlist`.
pub fn engine(kind: EngineKind, capacity: usize) -> anyhow::Result<Box<dyn Engine>> {
    Ok(Box::new(VerilatorPipeline::at_level(kind, capacity)?))
}

impl Engine for VerilatorPipeline {
    fn kind(&self) -> EngineKind {
        self.kind
    }
    fn capacity(&self) -> usize {
        self.capacity
    }
    fn clocks(&self) -> u64 {
        self.clocks
    }

    fn stream_with_progress(
        &mut self,
        frames: &[(&[u8], Direction)],
        traffic: &Traffic,
        progress: &mut dyn FnMut(usize),
    ) -> StreamResult {
        let lib = self.model.library().clone();
        let mut stream = Stream::new(
            frames.iter().filter(|(f, _)| !f.is_empty()).map(|(f, d)| (*f, d.bit() as u8)),
            traffic.timing,
            STALL_LIMIT,
        );
        let mut pattern = Pattern::new(traffic);
        let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK_CLOCKS);
        let mut ops = traffic.mgmt.iter();
        let mut replies = vec![];
        loop {
            if !stream.command_pending() {
                if let Some((at, op)) = ops.next() {
                    let (code, index, rec) = op.encode();
                    stream.command(&lib, *at, &[&[code as u32], &[index as u32], &record_to_words(&rec)]);
                }
            }
            while chunk.len() < CHUNK_CLOCKS {
                chunk.push(pattern.byte());
            }
            let before = stream.clocks();
            let status = self.model.stream(&mut stream, Some(&chunk));
            chunk.drain(..(stream.clocks() - before) as usize);
            if let Some(w) = stream.take_reply(&lib) {
                replies.push(words_to_record(&w));
            }
            progress(stream.frames_out());
            match status {
                StreamStatus::Finished if ops.len() == 0 && !stream.command_pending() => break,
                StreamStatus::Finished | StreamStatus::PatternUsed | StreamStatus::CommandDone => {}
                other => panic!("the verilator pipeline stopped ({other:?}) at clock {}", self.clocks + stream.clocks()),
            }
        }
        self.clocks += stream.clocks();
        let (latency_min, latency_max) = stream.latency();
        StreamResult {
            frames: with_empty_frames(frames, stream.frames()),
            clocks: stream.clocks(),
            bytes_in: stream.bytes_in(),
            latency_min,
            latency_max,
            mgmt_replies: replies,
            byte_clocks: stream.byte_clocks().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portshare_hdl::core::pipeline::{bits_to_record, record_to_bits};

    #[test]
    fn record_words_match_the_management_ports_bit_layout() {
        let r: [u8; RECORD_LEN] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a);
        let w = record_to_words(&r);
        let bits = record_to_bits(&r);
        for (i, word) in w.iter().enumerate() {
            let n = (RECORD_BITS - 32 * i).min(32);
            let mut expect = 0u32;
            for b in 0..n {
                expect |= (bits.get_bit(32 * i + b) as u32) << b;
            }
            assert_eq!(*word, expect, "word {i}");
        }
        assert_eq!(words_to_record(&w), r);
        assert_eq!(bits_to_record(bits), r);
        assert_eq!(portshare_tools::verilator::words(RECORD_BITS), RECORD_WORDS);
    }
}
