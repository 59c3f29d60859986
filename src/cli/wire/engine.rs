//! The unit `wire` puts between its two ports: one trait, one implementation per
//! embodiment. Adding an engine is one type implementing [`Unit`] (or a
//! `portshare_sim::rtl::Engine`, which [`SimPipeline`] already adapts) and one arm in
//! `wire::open_unit`.

use anyhow::{Context as _, Result};
use portshare_host::table::Table;
use portshare_host::Direction;
use portshare_sim::model::{self, Counters};
use portshare_sim::rtl::{Engine, Traffic};

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
}

/// The reference model (`portshare_sim::model`): the software embodiment.
pub struct ModelUnit {
    slots: Vec<portshare_host::Slot>,
    counters: Counters,
    capacity: usize,
}

impl ModelUnit {
    pub fn new(capacity: usize) -> ModelUnit {
        ModelUnit { slots: vec![], counters: Counters::new(capacity), capacity }
    }
}

impl Unit for ModelUnit {
    fn describe(&mut self) -> String {
        "the reference model".into()
    }
    fn capacity(&self) -> usize {
        self.capacity
    }
    fn load(&mut self, table: &Table) -> Result<()> {
        table.validate(self.capacity)?;
        self.slots = table.slots();
        Ok(())
    }
    fn pass(&mut self, direction: Direction, frame: &mut Vec<u8>) -> Result<()> {
        let p = model::process_frame(frame, direction, &self.slots);
        self.counters.count(&p.outcome);
        *frame = p.frame;
        Ok(())
    }
    fn counters(&mut self) -> Result<Counters> {
        Ok(self.counters.clone())
    }
}

/// A simulated pipeline behind `portshare_sim::rtl::Engine` (the rust-hdl RTL; any other
/// engine behind the same trait fits too), streamed one frame at a time.
pub struct SimPipeline {
    engine: Box<dyn Engine>,
    name: &'static str,
}

impl SimPipeline {
    pub fn new(engine: Box<dyn Engine>, name: &'static str) -> SimPipeline {
        SimPipeline { engine, name }
    }
}

impl Unit for SimPipeline {
    fn describe(&mut self) -> String {
        format!("the {} pipeline ({} entries)", self.name, self.engine.capacity())
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
    fn clocks(&self) -> Option<u64> {
        Some(self.engine.clocks())
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
        let c = self.board.client.read_counters(self.board.capacity())?;
        Ok(Counters {
            rewritten: c.rewritten as u64,
            no_match: c.no_match as u64,
            fragment: c.fragment as u64,
            unparsed: c.unparsed as u64,
            udp_zero_checksum: c.udp_zero_checksum as u64,
            hits: c.hits.iter().map(|&h| h as u64).collect(),
        })
    }
    fn clocks(&self) -> Option<u64> {
        None
    }
}
