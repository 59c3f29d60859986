//! PLACEHOLDER API (being written by the pipeline owner): runs frames through the
//! rust-hdl pipeline in its cycle simulator.

use crate::model::Counters;
use portshare_host::{Direction, Slot};
use std::path::PathBuf;

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
    /// Clocks from a byte entering to the same byte leaving (constant by design).
    pub latency_clocks: u64,
}

/// Loads `slots` into the design, streams `frames` back to back in `direction`, and
/// collects the output. `progress` is called with the number of frames done so far.
pub fn run(
    _slots: &[Slot],
    _frames: &[Vec<u8>],
    _direction: Direction,
    _opts: &RtlOptions,
    _progress: &mut dyn FnMut(usize),
) -> anyhow::Result<RtlResult> {
    anyhow::bail!("the RTL engine is not built yet")
}
