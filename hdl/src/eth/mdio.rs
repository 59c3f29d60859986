//! MDIO master (IEEE 802.3 clause 22), on the 100 MHz core clock, for both of the
//! board's PHYs — each a LAN8720 module strapped to address 1 on its own MDC/MDIO pair:
//! polls PHY 0 (`phy` low) and then PHY 1 for their control (0, BMCR), vendor special
//! control/status (31, the LAN8720's "PHY Special Control/Status" register) and status
//! (1, BMSR) registers, then waits `interval` clocks and polls again, and tells each
//! port link, speed and duplex. `phy` says which PHY the lines are for (the board top
//! routes MDC and MDIO to that PHY's pins); the results, with `updated`, are the PHY
//! just polled (each port keeps its own). One master for two PHYs saves a master
//! (~150 logic cells) at the cost of a poll twice as long (two 3-read rounds, 0.1 ms).
//!
//! * MDC = core clock / (2 · `MDC_HALF`) = 2 MHz (period 500 ns, 250 ns high and low;
//!   the standard asks for ≥ 400 ns and ≥ 160 ns). It runs only during a read.
//! * The master changes MDIO on MDC's falling edge (250 ns of setup before the PHY
//!   samples on the rising one) and samples the PHY's bits on the rising edge, through a
//!   2-flip-flop synchronizer (MDIO comes from the PHY's clock domain): the PHY changes
//!   them up to 300 ns after the previous rising edge, 500 ns earlier.
//! * `mdio_oe` drives the line (`mdio_o`); released, the module's pull-up holds it high.
//!   A PHY that does not pull the turnaround's second bit low is absent
//!   (`phy_present` low, the registers read as what the line showed).
//! * Results: `link` = BMSR bit 2 (which latches low: a link that dropped between two
//!   polls shows down for one poll) and, when auto-negotiation is on (BMCR bit 12), the
//!   vendor register's "autodone" (bit 12). `speed_10` / `full_duplex` come from the
//!   vendor register's speed indication (bits 4:2: 001 10BASE-T, 010 100BASE-TX, bit 4
//!   full duplex); 100 Mb/s unless it says 10. `updated` strobes when a PHY's poll
//!   completes. BMSR is read last, so `bmsr` is the read shift register itself (valid
//!   with `updated`); of BMCR only bit 12 is kept, of the vendor register its bits 12, 4
//!   and 2:3.
//! * The command bits (ST, OP, PHYAD, REGAD) are looked up by bit cell from a constant per
//!   register rather than shifted out of a register.
//!
//! 141 LCs, core clock 125.0 MHz (`eth::fit`; 156 for one PHY with BMSR in a register
//! of its own, 201 with all three registers kept, the command in a shift register and
//! a 24-bit pause).

use rust_hdl::prelude::*;

/// Core clocks per MDC half period: 2 MHz from 100 MHz.
pub const MDC_HALF: u64 = 25;
/// The module's SMI address (PHYAD0 pulled up).
pub const PHY_ADDRESS: u64 = 1;
/// Clocks between polls: 10 ms at 100 MHz.
pub const POLL_INTERVAL: u64 = 1_000_000;
/// The registers read, in order.
pub const REG_BMCR: u64 = 0;
pub const REG_SPECIAL: u64 = 31;
pub const REG_BMSR: u64 = 1;

#[derive(LogicBlock)]
pub struct MdioMaster {
    /// The 100 MHz core clock.
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub mdc: Signal<Out, Bit>,
    pub mdio_o: Signal<Out, Bit>,
    pub mdio_oe: Signal<Out, Bit>,
    pub mdio_i: Signal<In, Bit>,
    pub link: Signal<Out, Bit>,
    pub speed_10: Signal<Out, Bit>,
    pub full_duplex: Signal<Out, Bit>,
    pub phy_present: Signal<Out, Bit>,
    /// BMSR as just read (for the control plane; valid with `updated`).
    pub bmsr: Signal<Out, Bits<16>>,
    /// One clock when PHY `phy`'s poll has completed and the outputs above are its.
    pub updated: Signal<Out, Bit>,
    /// The PHY the lines (`mdc`, `mdio_*`) and results are for.
    pub phy: Signal<Out, Bit>,
    sync1: DFFWithInit<Bit>,
    sync2: DFFWithInit<Bit>,
    active: DFF<Bit>,
    div: DFF<Bits<5>>,
    r_mdc: DFF<Bit>,
    r_o: DFF<Bit>,
    r_oe: DFF<Bit>,
    /// The MDIO bit cell (0..=63: 32 preamble, ST, OP, PHYAD, REGAD, TA, 16 data; not
    /// `cell`: a Verilog-2001 keyword).
    bit_cell: DFF<Bits<6>>,
    rd: DFF<Bits<16>>,
    ta_ok: DFF<Bit>,
    /// Which register this read is (0: BMCR, 1: special, 2: BMSR), and of which PHY.
    which: DFF<Bits<2>>,
    r_phy: DFF<Bit>,
    /// Clocks to the next read or poll, less one (not `wait`: a Verilog keyword Verilator
    /// rejects): it counts down past 0, and its top bit set says the pause is over (a
    /// flip-flop rather than a 20-bit zero test on the start's path, which was the
    /// board's critical path). 20 bits hold `POLL_INTERVAL`.
    pause: DFF<Bits<21>>,
    /// BMCR bit 12: auto-negotiation enabled; the vendor register's autodone.
    r_autoneg: DFF<Bit>,
    r_autodone: DFF<Bit>,
    r_present: DFF<Bit>,
    r_link: DFF<Bit>,
    speed_10_r: DFF<Bit>,
    r_duplex: DFF<Bit>,
    r_updated: DFF<Bit>,
    /// Registered views of `div` and `bit_cell`, each valid at every half tick: `div`
    /// reaches its last value on this clock, and the cell tests and next command bit
    /// (`bit_cell` and `which` change only at half ticks, 25 clocks apart). They keep the
    /// compares off the half tick's decisions (`div` → `pause` was the board's critical
    /// path, 7 LUTs).
    r_div_end: DFF<Bit>,
    r_cell_end: DFF<Bit>,
    r_cell_ta: DFF<Bit>,
    r_cell_data: DFF<Bit>,
    r_cell_cmd: DFF<Bit>,
    r_cell_release: DFF<Bit>,
    r_cmd_bit: DFF<Bit>,
    c_half_m2: Constant<Bits<5>>,
    c_interval: Constant<Bits<21>>,
    /// Each read's command, bit 0 the first sent (cell 32).
    c_cmd_bmcr: Constant<Bits<14>>,
    c_cmd_bmsr: Constant<Bits<14>>,
    c_cmd_special: Constant<Bits<14>>,
    /// MDC's half period is up (not `event`: a Verilog keyword).
    half_tick: Signal<Local, Bit>,
    cmd: Signal<Local, Bits<14>>,
    /// The next cell's place in the command (14 and above: past it).
    cmd_at: Signal<Local, Bits<6>>,
    /// The command from that place on (a signal: Verilog cannot index an expression).
    cmd_rest: Signal<Local, Bits<14>>,
}

impl MdioMaster {
    /// `interval`: core clocks between polls.
    pub fn new(interval: u64) -> Self {
        assert!((2..1 << 20).contains(&interval), "the poll interval is 2 to 2^20 - 1 clocks");
        // ST 01, OP 10 (read), PHYAD, REGAD; sent MSB first, so stored bit-reversed.
        let cmd = |reg: u64| Constant::new((((0b0110 << 10 | PHY_ADDRESS << 5 | reg) as u16).reverse_bits() as u64 >> 2).into());
        Self {
            clock: Default::default(),
            reset: Default::default(),
            mdc: Default::default(),
            mdio_o: Default::default(),
            mdio_oe: Default::default(),
            mdio_i: Default::default(),
            link: Default::default(),
            speed_10: Default::default(),
            full_duplex: Default::default(),
            phy_present: Default::default(),
            bmsr: Default::default(),
            updated: Default::default(),
            phy: Default::default(),
            sync1: DFFWithInit::new(true),
            sync2: DFFWithInit::new(true),
            active: Default::default(),
            div: Default::default(),
            r_mdc: Default::default(),
            r_o: Default::default(),
            r_oe: Default::default(),
            bit_cell: Default::default(),
            rd: Default::default(),
            ta_ok: Default::default(),
            which: Default::default(),
            r_phy: Default::default(),
            pause: Default::default(),
            r_autoneg: Default::default(),
            r_autodone: Default::default(),
            r_present: Default::default(),
            r_link: Default::default(),
            speed_10_r: Default::default(),
            r_duplex: Default::default(),
            r_updated: Default::default(),
            r_div_end: Default::default(),
            r_cell_end: Default::default(),
            r_cell_ta: Default::default(),
            r_cell_data: Default::default(),
            r_cell_cmd: Default::default(),
            r_cell_release: Default::default(),
            r_cmd_bit: Default::default(),
            c_half_m2: Constant::new((MDC_HALF - 2).into()),
            c_interval: Constant::new((interval - 1).into()),
            c_cmd_bmcr: cmd(REG_BMCR),
            c_cmd_bmsr: cmd(REG_BMSR),
            c_cmd_special: cmd(REG_SPECIAL),
            half_tick: Default::default(),
            cmd: Default::default(),
            cmd_at: Default::default(),
            cmd_rest: Default::default(),
        }
    }
}

impl Default for MdioMaster {
    fn default() -> Self {
        Self::new(POLL_INTERVAL)
    }
}

impl Logic for MdioMaster {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, sync1, sync2, active, div, r_mdc, r_o, r_oe, bit_cell, rd, ta_ok, which, r_phy, pause, r_autoneg,
            r_autodone, r_present, r_link, speed_10_r, r_duplex, r_updated, r_div_end, r_cell_end, r_cell_ta, r_cell_data,
            r_cell_cmd, r_cell_release, r_cmd_bit
        );
        self.sync1.d.next = self.mdio_i.val();
        self.sync2.d.next = self.sync1.q.val();
        self.r_updated.d.next = false;
        // The other PHY's turn once this one's results are out (`phy` stays theirs
        // through `updated`).
        if self.r_updated.q.val() {
            self.r_phy.d.next = !self.r_phy.q.val();
        }
        self.half_tick.next = false;
        self.cmd.next = self.c_cmd_bmcr.val();
        if self.which.q.val() == 1 {
            self.cmd.next = self.c_cmd_special.val();
        }
        if self.which.q.val() == 2 {
            self.cmd.next = self.c_cmd_bmsr.val();
        }
        self.cmd_at.next = self.bit_cell.q.val() - 31;
        self.cmd_rest.next = self.cmd.val() >> self.cmd_at.val();
        self.r_cmd_bit.d.next = self.cmd_rest.val().get_bit(0);
        self.r_cell_end.d.next = self.bit_cell.q.val() == 63;
        self.r_cell_ta.d.next = self.bit_cell.q.val() == 47;
        self.r_cell_data.d.next = self.bit_cell.q.val() >= 48;
        self.r_cell_cmd.d.next = self.bit_cell.q.val() >= 31;
        self.r_cell_release.d.next = self.bit_cell.q.val() >= 45;
        // `div` counts 0..=MDC_HALF-1 while active (it starts at 0 with `active`).
        self.r_div_end.d.next = self.active.q.val() & (self.div.q.val() == self.c_half_m2.val());
        if self.active.q.val() {
            if self.r_div_end.q.val() {
                self.div.d.next = 0.into();
                self.half_tick.next = true;
            } else {
                self.div.d.next = self.div.q.val() + 1;
            }
        }
        if !self.active.q.val() {
            if !self.pause.q.val().get_bit(20) {
                self.pause.d.next = self.pause.q.val() - 1;
            } else {
                // Start a read: preamble.
                self.active.d.next = true;
                self.div.d.next = 0.into();
                self.bit_cell.d.next = 0.into();
                self.r_mdc.d.next = false;
                self.r_o.d.next = true;
                self.r_oe.d.next = true;
                self.ta_ok.d.next = false;
            }
        } else if self.half_tick.val() & !self.r_mdc.q.val() {
            // Rising edge: the PHY samples our bit, we sample its.
            self.r_mdc.d.next = true;
            if self.r_cell_ta.q.val() {
                self.ta_ok.d.next = !self.sync2.q.val();
            }
            if self.r_cell_data.q.val() {
                self.rd.d.next = self.rd.q.val() << 1;
                if self.sync2.q.val() {
                    self.rd.d.next = (self.rd.q.val() << 1) | 1;
                }
            }
        } else if self.half_tick.val() {
            // Falling edge: the next cell's bit.
            self.r_mdc.d.next = false;
            self.bit_cell.d.next = self.bit_cell.q.val() + 1;
            if self.r_cell_cmd.q.val() {
                self.r_o.d.next = self.r_cmd_bit.q.val();
            }
            if self.r_cell_release.q.val() {
                self.r_oe.d.next = false;
            }
            if self.r_cell_end.q.val() {
                // The read is complete.
                self.active.d.next = false;
                self.r_oe.d.next = false;
                self.which.d.next = self.which.q.val() + 1;
                self.pause.d.next = 1.into();
                if self.which.q.val() == 0 {
                    self.r_autoneg.d.next = self.rd.q.val().get_bit(12);
                    self.r_present.d.next = self.ta_ok.q.val();
                }
                if self.which.q.val() == 1 {
                    self.r_autodone.d.next = self.rd.q.val().get_bit(12);
                    self.speed_10_r.d.next = self.rd.q.val().get_bit(2) & !self.rd.q.val().get_bit(3);
                    self.r_duplex.d.next = self.rd.q.val().get_bit(4);
                    self.r_present.d.next = self.r_present.q.val() & self.ta_ok.q.val();
                }
                if self.which.q.val() == 2 {
                    // BMSR: this PHY's poll is complete; the other's follows, or a pause.
                    self.which.d.next = 0.into();
                    if self.r_phy.q.val() {
                        self.pause.d.next = self.c_interval.val();
                    }
                    self.r_updated.d.next = true;
                    self.r_link.d.next = self.r_present.q.val()
                        & self.ta_ok.q.val()
                        & self.rd.q.val().get_bit(2)
                        & (!self.r_autoneg.q.val() | self.r_autodone.q.val());
                    self.r_present.d.next = self.r_present.q.val() & self.ta_ok.q.val();
                }
            }
        }
        if self.reset.val() {
            self.active.d.next = false;
            self.r_oe.d.next = false;
            self.r_mdc.d.next = false;
            self.which.d.next = 0.into();
            self.r_phy.d.next = false;
            self.pause.d.next = 1.into();
            self.r_link.d.next = false;
        }
        self.mdc.next = self.r_mdc.q.val();
        self.mdio_o.next = self.r_o.q.val();
        self.mdio_oe.next = self.r_oe.q.val();
        self.link.next = self.r_link.q.val();
        self.speed_10.next = self.speed_10_r.q.val();
        self.full_duplex.next = self.r_duplex.q.val();
        self.phy_present.next = self.r_present.q.val();
        self.bmsr.next = self.rd.q.val();
        self.updated.next = self.r_updated.q.val();
        self.phy.next = self.r_phy.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Seen = (bool, bool, bool, bool, u16);

    /// A bare clause-22 responder per PHY for this bench (the full model with timing
    /// checks is portshare_sim::phy::mdio): each sees MDC and MDIO only while `phy`
    /// names it (as the board top routes them), decodes the master's bits on MDC's
    /// rising edges and answers reads of address 1 from its `regs`, changing its bit 3
    /// clocks after a rising edge. Returns (phy, (link, speed_10, full_duplex,
    /// phy_present, BMSR)) at each `updated`.
    fn poll2(regs: [&[(u8, u16)]; 2], present: [bool; 2], clocks: usize) -> Vec<(bool, Seen)> {
        let mut uut = MdioMaster::new(5000);
        uut.connect_all();
        let mut bits: [Vec<bool>; 2] = Default::default();
        let mut drive: [Vec<bool>; 2] = Default::default();
        let (mut mdc_prev, mut phy_line, mut since_rise) = ([false; 2], [true; 2], [0usize; 2]);
        let mut out = Vec::new();
        for _ in 0..clocks {
            let p = uut.phy.val() as usize;
            uut.mdio_i.next = if uut.mdio_oe.val() { uut.mdio_o.val() } else { phy_line[p] };
            uut.clock.next = true.into();
            portshare_tools::clocking::settle(&mut uut);
            uut.clock.next = false.into();
            portshare_tools::clocking::settle(&mut uut);
            for k in 0..2 {
                let mine = uut.phy.val() as usize == k;
                let (mdc, o, oe) = (uut.mdc.val() && mine, uut.mdio_o.val(), uut.mdio_oe.val() && mine);
                since_rise[k] += 1;
                if mdc && !mdc_prev[k] {
                    since_rise[k] = 0;
                    let bits = &mut bits[k];
                    bits.push(!oe || o);
                    let n = bits.len();
                    // 32 ones, then 01 10 PHYAD REGAD: answer from the next cell on.
                    if n >= 46 && bits[n - 46..n - 14].iter().all(|&b| b) && bits[n - 14..n - 10] == [false, true, true, false] {
                        let field = |r: std::ops::Range<usize>| bits[r].iter().fold(0u8, |v, &b| v << 1 | b as u8);
                        let (phy, reg) = (field(n - 10..n - 5), field(n - 5..n));
                        let value = regs[k].iter().find(|r| r.0 == reg).map_or(0xFFFF, |r| r.1);
                        // TA released then 0, 16 bits MSB first, released (popped from the back).
                        let mut seq = vec![true, false];
                        seq.extend((0..16).rev().map(|i| value >> i & 1 == 1));
                        seq.push(true);
                        drive[k] = if phy == 1 && present[k] { seq.into_iter().rev().collect() } else { vec![] };
                    }
                }
                if since_rise[k] == 3 {
                    phy_line[k] = drive[k].pop().unwrap_or(true);
                }
                mdc_prev[k] = mdc;
            }
            if uut.updated.val() {
                let seen = (uut.link.val(), uut.speed_10.val(), uut.full_duplex.val(), uut.phy_present.val(), uut.bmsr.val().to_u64() as u16);
                out.push((uut.phy.val(), seen));
            }
        }
        out
    }

    /// Both PHYs the same: the results of PHY 0's polls.
    fn poll(regs: &[(u8, u16)], present: bool, clocks: usize) -> Vec<Seen> {
        poll2([regs, regs], [present; 2], clocks).into_iter().filter(|(phy, _)| !phy).map(|(_, s)| s).collect()
    }

    #[test]
    fn reads_link_speed_and_duplex_from_phy_1_and_polls_again() {
        // 100BASE-TX full duplex, auto-negotiation done, link up.
        let regs = [(0u8, 0x3100u16), (1, 0x782D), (31, 0x1058)];
        let got = poll(&regs, true, 40_000);
        assert!(got.len() >= 2, "two polls in 40 000 clocks: {got:?}");
        assert!(got.iter().all(|g| *g == (true, false, true, true, 0x782D)), "{got:x?}");
        // 10BASE-T half duplex, link up.
        let got = poll(&[(0, 0x3100), (1, 0x782D), (31, 0x1044)], true, 20_000);
        assert_eq!((got[0].0, got[0].1, got[0].2), (true, true, false));
        // Link down (BMSR bit 2 clear); auto-negotiation not done.
        let got = poll(&[(0, 0x3100), (1, 0x7809), (31, 0x0040)], true, 20_000);
        assert_eq!((got[0].0, got[0].3), (false, true));
        // Auto-negotiation on (BMCR bit 12) but not done: no link; off: BMSR's link alone.
        let got = poll(&[(0, 0x3100), (1, 0x782D), (31, 0x0058)], true, 20_000);
        assert_eq!((got[0].0, got[0].3), (false, true));
        let got = poll(&[(0, 0x2100), (1, 0x782D), (31, 0x0058)], true, 20_000);
        assert_eq!((got[0].0, got[0].1, got[0].2, got[0].4), (true, false, true, 0x782D));
        // No PHY answers.
        let got = poll(&regs, false, 20_000);
        assert_eq!((got[0].0, got[0].3), (false, false));
    }

    /// Two PHYs on their own lines, each reported as itself, alternately: PHY 0 at
    /// 100 Mb/s full duplex with a link, PHY 1 at 10 half without one; then PHY 0
    /// absent beside a PHY 1 that answers.
    #[test]
    fn polls_both_phys_in_turn_and_reports_each_as_itself() {
        let fast = [(0u8, 0x3100u16), (1, 0x782D), (31, 0x1058)];
        let slow_down = [(0u8, 0x3100u16), (1, 0x7809), (31, 0x1044)];
        let got = poll2([&fast, &slow_down], [true, true], 40_000);
        assert!(got.len() >= 3, "{got:x?}");
        for (i, (phy, seen)) in got.iter().enumerate() {
            assert_eq!(*phy, i % 2 == 1, "PHY 0 first, then 1, in turn: {got:x?}");
            let want = if *phy { (false, true, false, true, 0x7809) } else { (true, false, true, true, 0x782D) };
            assert_eq!(*seen, want, "PHY {}", *phy as u8);
        }
        let got = poll2([&fast, &fast], [false, true], 20_000);
        assert_eq!((got[0].1 .0, got[0].1 .3, got[1].1 .0, got[1].1 .3), (false, false, true, true), "{got:x?}");
    }

    #[test]
    fn generates_valid_verilog() {
        let mut uut = MdioMaster::default();
        uut.connect_all();
        check_all(&uut).unwrap();
        yosys_validate(&format!("portshare-hdl-{}-mdio", std::process::id()), &generate_verilog(&uut)).unwrap();
    }
}
