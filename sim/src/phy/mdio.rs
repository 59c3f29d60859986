//! The PHY's management interface (IEEE 802.3 clause 22) at the pins, one core clock at
//! a time: it samples MDIO on MDC's rising edges, answers reads at its address after a full preamble, drives the turnaround's second bit low and its data
//! bits `delay` clocks after a rising edge (the LAN8720 allows 0–300 ns), and checks
//! MDC's timing (≥ 160 ns high and low, ≥ 400 ns period) and that the master never
//! drives while it does.

use std::collections::VecDeque;

/// LAN8720 register numbers and bits used by the model's presets.
pub const BMCR: usize = 0;
pub const BMSR: usize = 1;
pub const SPECIAL: usize = 31;

/// A LAN8720's registers for a link state: BMCR with auto-negotiation on (100 Mb/s,
/// full duplex advertised), BMSR with its capability bits, link status (bit 2) and
/// auto-negotiation complete (bit 5), and the special control/status register's
/// autodone (bit 12) and speed indication (bits 4:2).
pub fn lan8720(link: bool, speed_10: bool, full_duplex: bool) -> [u16; 32] {
    let mut r = [0u16; 32];
    r[BMCR] = 0x3100;
    r[BMSR] = 0x7809 | (link as u16) << 2 | (link as u16) << 5;
    r[2] = 0x0007;
    r[3] = 0xC0F1;
    let speed = if speed_10 { 0b001 } else { 0b010 } | (full_duplex as u16) << 2;
    r[SPECIAL] = 0x0040 | if link { 1 << 12 | speed << 2 } else { 0 };
    r
}

pub struct MdioPhy {
    pub address: u8,
    pub regs: [u16; 32],
    /// Core clocks after MDC's rising edge at which the PHY changes its output.
    pub delay: usize,
    clock_ns: f64,
    bits: Vec<bool>,
    /// The PHY's bits for the coming MDC cycles (None: released).
    drive: VecDeque<Option<bool>>,
    /// What the PHY drives: None when released.
    out: Option<bool>,
    mdc_prev: bool,
    since_rise: usize,
    run: usize,
    last_rise: Option<usize>,
    now: usize,
    pub min_high_ns: f64,
    pub min_low_ns: f64,
    pub min_period_ns: f64,
    /// (PHY address, register) of every read request seen, for any address.
    pub reads: Vec<(u8, u8)>,
    /// Times the master drove MDIO while the PHY did.
    pub contention: usize,
}

impl MdioPhy {
    pub fn new(address: u8, regs: [u16; 32], clock_ns: f64) -> Self {
        Self {
            address,
            regs,
            delay: 10,
            clock_ns,
            bits: Vec::new(),
            drive: VecDeque::new(),
            out: None,
            mdc_prev: false,
            since_rise: 0,
            run: 0,
            last_rise: None,
            now: 0,
            min_high_ns: f64::INFINITY,
            min_low_ns: f64::INFINITY,
            min_period_ns: f64::INFINITY,
            reads: Vec::new(),
            contention: 0,
        }
    }

    /// One core clock with the master's pins as they are after it; returns the line
    /// (the master's drive, else the PHY's, else the module's pull-up).
    pub fn step(&mut self, mdc: bool, mdio_o: bool, mdio_oe: bool) -> bool {
        self.now += 1;
        self.since_rise += 1;
        if mdc != self.mdc_prev {
            let ns = self.run as f64 * self.clock_ns;
            if self.mdc_prev {
                self.min_high_ns = self.min_high_ns.min(ns);
            } else if self.last_rise.is_some() {
                self.min_low_ns = self.min_low_ns.min(ns);
            }
            self.run = 0;
        }
        self.run += 1;
        if mdc && !self.mdc_prev {
            if let Some(t) = self.last_rise {
                self.min_period_ns = self.min_period_ns.min((self.now - t) as f64 * self.clock_ns);
            }
            self.last_rise = Some(self.now);
            self.since_rise = 0;
            self.rising(if mdio_oe { mdio_o } else { self.out.unwrap_or(true) });
        }
        if self.since_rise == self.delay {
            self.out = self.drive.pop_front().flatten();
        }
        self.mdc_prev = mdc;
        if mdio_oe && self.out.is_some() {
            self.contention += 1;
        }
        if mdio_oe {
            mdio_o
        } else {
            self.out.unwrap_or(true)
        }
    }

    fn rising(&mut self, line: bool) {
        self.bits.push(line);
        let n = self.bits.len();
        // 32 ones of preamble, ST 01, OP, PHYAD, REGAD: 46 bits.
        if n < 46 || !self.bits[n - 46..n - 14].iter().all(|&b| b) || self.bits[n - 14..n - 12] != [false, true] {
            return;
        }
        let field = |r: std::ops::Range<usize>| self.bits[r].iter().fold(0u8, |v, &b| v << 1 | b as u8);
        let (op, phy, reg) = (field(n - 12..n - 10), field(n - 10..n - 5), field(n - 5..n));
        if op == 0b10 {
            self.reads.push((phy, reg));
            if phy == self.address {
                let value = self.regs[reg as usize];
                // Released for TA's first bit, 0 for its second, the data MSB first.
                self.drive = std::iter::once(None)
                    .chain(std::iter::once(Some(false)))
                    .chain((0..16).rev().map(|i| Some(value >> i & 1 == 1)))
                    .chain(std::iter::once(None))
                    .collect();
            }
        }
    }
}
