//! The one way a bench clocks a rust-hdl design in the direct loop (rust-hdl's
//! `simulate`, ~15× faster than the threaded `Simulation`): set the clock, let the logic
//! settle, with one settle limit for every design.

use rust_hdl::prelude::*;

/// `simulate` passes the logic gets to settle after a clock or input change. `simulate`
/// stops as soon as nothing changes, so a design that settles costs the same under any
/// limit; the limit only decides how soon a design that never settles (a combinational
/// loop) is reported. The deepest designs here (the board tops) settle in well under
/// 200 passes; 1 000 leaves room for deeper ones and still fails fast.
pub const SETTLE_LIMIT: usize = 1_000;

/// Whether `uut` settles within [`SETTLE_LIMIT`] passes (for callers that report it
/// as an error rather than a panic).
pub fn settles<B: Block>(uut: &mut B) -> bool {
    simulate(uut, SETTLE_LIMIT)
}

/// Settles `uut` after its inputs changed; panics if it does not.
#[track_caller]
pub fn settle<B: Block>(uut: &mut B) {
    assert!(settles(uut), "the logic did not settle within {SETTLE_LIMIT} passes");
}

/// Drives the clock `clock` selects to `high` and settles: one clock edge.
#[track_caller]
pub fn edge<B: Block>(uut: &mut B, clock: impl FnOnce(&mut B) -> &mut Signal<In, Clock>, high: bool) {
    clock(uut).next = high.into();
    settle(uut);
}

/// One clock: a rising edge (inputs as set now are sampled) then a falling one, each
/// settled, so the registers' new values are visible on return.
#[track_caller]
pub fn cycle<B: Block>(uut: &mut B, clock: impl Fn(&mut B) -> &mut Signal<In, Clock>) {
    edge(uut, &clock, true);
    edge(uut, &clock, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(LogicBlock, Default)]
    struct Toggle {
        clock: Signal<In, Clock>,
        q: Signal<Out, Bit>,
        r: DFF<Bit>,
    }
    impl Logic for Toggle {
        #[hdl_gen]
        fn update(&mut self) {
            dff_setup!(self, clock, r);
            self.r.d.next = !self.r.q.val();
            self.q.next = self.r.q.val();
        }
    }

    /// A combinational loop that never settles: `a = !a`.
    #[derive(LogicBlock, Default)]
    struct Ring {
        clock: Signal<In, Clock>,
        a: Signal<Out, Bit>,
    }
    impl Logic for Ring {
        fn update(&mut self) {
            self.a.next = !self.a.val();
        }
        fn connect(&mut self) {
            self.a.connect();
        }
        fn hdl(&self) -> Verilog {
            Verilog::Empty
        }
    }

    #[test]
    fn a_cycle_is_one_rising_edge() {
        let mut t = Toggle::default();
        t.connect_all();
        settle(&mut t);
        let mut seen = vec![];
        for _ in 0..4 {
            cycle(&mut t, |t| &mut t.clock);
            seen.push(t.q.val());
        }
        assert_eq!(seen, [true, false, true, false]);
        // A falling edge alone moves nothing.
        edge(&mut t, |t| &mut t.clock, false);
        assert!(!t.q.val());
    }

    #[test]
    fn logic_that_never_settles_is_reported() {
        let mut r = Ring::default();
        r.connect_all();
        assert!(!settles(&mut r));
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| settle(&mut r))).is_err());
    }
}
