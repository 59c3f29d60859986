//! The unit `wire` puts between its two ports: one trait, one implementation per
//! embodiment: [`SimPipeline`] for every engine behind `portshare_sim::engine::Engine`
//! (model, rtl, verilator), [`BoardUnit`] for a board.

use anyhow::{Context as _, Result};
use portshare_host::table::Table;
use portshare_host::Direction;
use portshare_sim::engine::{Engine, EngineKind, Traffic};
use portshare_sim::model::Counters;

use crate::cli::board::Board;

pub trait Unit {
    /// What it is, for messages and the report (`model`, `rtl (64 entries)`, the board).
    fn describe(&mut self) -> String;
    fn capacity(&self) -> usize;
    /// Loads a validated table whole: every frame passed afterwards sees all of it.
    /// `wire` passes no frame while this runs, so none sees half a table.
    fn load(&mut self, table: &Table) -> Result<()>;
    /// Passes one frame in `direction`, rewriting it in place (same length).
    fn pass(&mut self, direction: Direction, frame: &mut Vec<u8>) -> Result<()>;
    /// The counters as the unit keeps them (per reason, per entry).
    fn counters(&mut self) -> Result<Counters>;
    /// Clocks simulated so far, for a simulated pipeline.
    fn clocks(&self) -> Option<u64> {
        None
    }
    /// Whether it takes a GSO superframe (up to 64 KiB) as one frame: only the reference
    /// model, the software embodiment; a pipeline (simulated or a board) takes frames as
    /// they are on a wire.
    fn takes_superframes(&self) -> bool {
        false
    }
}

/// Any engine behind `portshare_sim::engine::Engine` — the reference model, the rust-hdl
/// RTL, the Verilog under Verilator — streamed one frame at a time.
pub struct SimPipeline {
    engine: Box<dyn Engine>,
}

impl SimPipeline {
    pub fn new(engine: Box<dyn Engine>) -> SimPipeline {
        SimPipeline { engine }
    }
}

impl Unit for SimPipeline {
    fn describe(&mut self) -> String {
        match self.engine.kind() {
            EngineKind::Model => "the reference model".into(),
            kind => format!("the {kind} pipeline ({} entries)", self.engine.capacity()),
        }
    }
    fn capacity(&self) -> usize {
        self.engine.capacity()
    }
    fn load(&mut self, table: &Table) -> Result<()> {
        table.validate(self.engine.capacity())?;
        self.engine.load(&table.slots());
        Ok(())
    }
    fn pass(&mut self, direction: Direction, frame: &mut Vec<u8>) -> Result<()> {
        if frame.is_empty() {
            return Ok(());
        }
        let mut r = self.engine.stream(&[(frame.as_slice(), direction)], &Traffic::default());
        *frame = r.frames.pop().context("the pipeline returned no frame")?;
        Ok(())
    }
    fn counters(&mut self) -> Result<Counters> {
        Ok(self.engine.read_counters())
    }
    /// The model has no clock.
    fn clocks(&self) -> Option<u64> {
        (self.engine.kind() != EngineKind::Model).then(|| self.engine.clocks())
    }
    fn takes_superframes(&self) -> bool {
        self.engine.kind() == EngineKind::Model
    }
}

/// A board (USB, or a simulated one) through its inject path.
pub struct BoardUnit {
    board: Board,
}

impl BoardUnit {
    pub fn new(board: Board) -> BoardUnit {
        BoardUnit { board }
    }
}

impl Unit for BoardUnit {
    fn describe(&mut self) -> String {
        self.board.describe()
    }
    fn capacity(&self) -> usize {
        self.board.capacity()
    }
    fn load(&mut self, table: &Table) -> Result<()> {
        self.board.load_table(table).map(drop)
    }
    fn pass(&mut self, direction: Direction, frame: &mut Vec<u8>) -> Result<()> {
        if frame.is_empty() {
            return Ok(());
        }
        let describe = self.board.describe();
        *frame = self
            .board
            .client
            .inject(direction, frame)
            .with_context(|| format!("injecting a {}-byte frame into {describe}", frame.len()))?;
        Ok(())
    }
    fn counters(&mut self) -> Result<Counters> {
        Ok(self.board.client.read_counters(self.board.capacity())?)
    }
    fn clocks(&self) -> Option<u64> {
        None
    }
}
