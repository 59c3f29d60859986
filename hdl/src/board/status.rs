//! What every board top has besides its data path: the reset (the button through a
//! 2-FF synchronizer, plus 16 clocks after configuration), the heartbeat, and six
//! activity LEDs that stretch a one-clock event to 84–126 ms so it can be seen.

use rust_hdl::prelude::*;

/// Activity LEDs.
pub const STRETCHED_LEDS: usize = 6;

#[derive(LogicBlock)]
pub struct BoardStatus {
    pub clock: Signal<In, Clock>,
    /// The reset button, active low.
    pub reset_n: Signal<In, Bit>,
    /// Registered: fans out to every block.
    pub reset: Signal<Out, Bit>,
    /// One-clock events, one per activity LED.
    pub event0: Signal<In, Bit>,
    pub event1: Signal<In, Bit>,
    pub event2: Signal<In, Bit>,
    pub event3: Signal<In, Bit>,
    pub event4: Signal<In, Bit>,
    pub event5: Signal<In, Bit>,
    /// The LEDs, in `events`' order.
    pub lit0: Signal<Out, Bit>,
    pub lit1: Signal<Out, Bit>,
    pub lit2: Signal<Out, Bit>,
    pub lit3: Signal<Out, Bit>,
    pub lit4: Signal<Out, Bit>,
    pub lit5: Signal<Out, Bit>,
    /// Blinks at 1.5 Hz: the clock runs, the bitstream is loaded.
    pub heartbeat: Signal<Out, Bit>,
    reset_sync1: DFF<Bit>,
    reset_sync2: DFF<Bit>,
    /// Counts to 15 after configuration; reset is held until then.
    power_on: DFF<Bits<4>>,
    reset_q: DFFWithInit<Bit>,
    /// Free-running: heartbeat and the LED stretchers' tick.
    beat: DFF<Bits<26>>,
    tick: Signal<Local, Bit>,
    hold: [DFF<Bits<2>>; STRETCHED_LEDS],
    ev: [DFF<Bit>; STRETCHED_LEDS],
    c_tick_mask: Constant<Bits<26>>,
}

impl Default for BoardStatus {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset_n: Default::default(),
            reset: Default::default(),
            event0: Default::default(),
            event1: Default::default(),
            event2: Default::default(),
            event3: Default::default(),
            event4: Default::default(),
            event5: Default::default(),
            lit0: Default::default(),
            lit1: Default::default(),
            lit2: Default::default(),
            lit3: Default::default(),
            lit4: Default::default(),
            lit5: Default::default(),
            heartbeat: Default::default(),
            reset_sync1: Default::default(),
            reset_sync2: Default::default(),
            power_on: Default::default(),
            reset_q: DFFWithInit::new(true),
            beat: Default::default(),
            tick: Default::default(),
            hold: Default::default(),
            ev: Default::default(),
            c_tick_mask: Constant::new(((1u64 << 22) - 1).into()),
        }
    }
}

impl Logic for BoardStatus {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, reset_sync1, reset_sync2, power_on, reset_q, beat);
        for i in 0..STRETCHED_LEDS {
            self.hold[i].clock.next = self.clock.val();
            self.hold[i].d.next = self.hold[i].q.val();
            self.ev[i].clock.next = self.clock.val();
        }
        // The button is asynchronous to the clock.
        self.reset_sync1.d.next = !self.reset_n.val();
        self.reset_sync2.d.next = self.reset_sync1.q.val();
        if !self.power_on.q.val().all() {
            self.power_on.d.next = self.power_on.q.val() + 1;
        }
        self.reset_q.d.next = self.reset_sync2.q.val() | !self.power_on.q.val().all();
        self.reset.next = self.reset_q.q.val();

        self.beat.d.next = self.beat.q.val() + 1;
        // (Masks and per-LED code rather than shifts: cheaper in rust-hdl's simulator.)
        self.tick.next = (self.beat.q.val() & self.c_tick_mask.val()) == self.c_tick_mask.val();
        // Events are registered first: LEDs can be a clock late, paths can't be long.
        self.ev[0].d.next = self.event0.val();
        self.ev[1].d.next = self.event1.val();
        self.ev[2].d.next = self.event2.val();
        self.ev[3].d.next = self.event3.val();
        self.ev[4].d.next = self.event4.val();
        self.ev[5].d.next = self.event5.val();
        for i in 0..STRETCHED_LEDS {
            if self.tick.val() & self.hold[i].q.val().any() {
                self.hold[i].d.next = self.hold[i].q.val() - 1;
            }
            if self.ev[i].q.val() {
                self.hold[i].d.next = 3.into();
            }
        }
        self.lit0.next = self.hold[0].q.val().any();
        self.lit1.next = self.hold[1].q.val().any();
        self.lit2.next = self.hold[2].q.val().any();
        self.lit3.next = self.hold[3].q.val().any();
        self.lit4.next = self.hold[4].q.val().any();
        self.lit5.next = self.hold[5].q.val().any();
        self.heartbeat.next = self.beat.q.val().get_bit(25);
    }
}
