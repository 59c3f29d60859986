//! Two free-running clocks stepped by time, for benches that drive a block with two
//! clock domains through rust-hdl's direct loop (the REF_CLK at a ppm offset against the
//! core's 100 MHz). Not a block: simulation only.

/// Clock 0 and clock 1 with their own periods; clock 1 starts a third of its period late,
/// so their edges do not line up at the start.
pub struct TwoClocks {
    half: [f64; 2],
    phase: [f64; 2],
    count: [u64; 2],
    now: f64,
}

/// Which clocks changed at an `advance` and which way.
pub struct Edge {
    toggled: [bool; 2],
    level: [bool; 2],
}

impl Edge {
    pub fn rises(&self, clock: usize) -> bool {
        self.toggled[clock] && self.level[clock]
    }
}

impl TwoClocks {
    pub fn new(period0_ns: f64, period1_ns: f64) -> Self {
        Self { half: [period0_ns / 2.0, period1_ns / 2.0], phase: [0.0, period1_ns / 3.0], count: [0, 0], now: 0.0 }
    }

    fn next(&self, i: usize) -> f64 {
        self.phase[i] + (self.count[i] + 1) as f64 * self.half[i]
    }

    /// When the next edge of either clock comes.
    pub fn peek_ns(&self) -> f64 {
        self.next(0).min(self.next(1))
    }

    /// Moves to the next edge of either clock (both, if they coincide).
    pub fn advance(&mut self) -> Edge {
        let t = self.next(0).min(self.next(1));
        let mut toggled = [false; 2];
        for (i, tog) in toggled.iter_mut().enumerate() {
            if self.next(i) - t < 1e-6 {
                self.count[i] += 1;
                *tog = true;
            }
        }
        self.now = t;
        Edge { toggled, level: [self.level(0), self.level(1)] }
    }

    /// The clock's level now (high after an odd number of edges).
    pub fn level(&self, clock: usize) -> bool {
        self.count[clock] % 2 == 1
    }

    pub fn now_ns(&self) -> f64 {
        self.now
    }
}
