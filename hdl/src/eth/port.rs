//! One RMII Ethernet port of the board, everything between its pins and the core's
//! frame streams:
//!
//! ```text
//!  CRS_DV,RXD ─► rmii_rx ─► cdc_rx ─► ingress FrameFifo ─► in_* (whole frames, with length and FCS-bad flag)
//!  TX_EN,TXD ◄── rmii_tx ◄── cdc_tx ◄── egress FrameFifo ◄── out_* (frames from the pipeline, with stomp; out_free/out_full)
//!  phy_* (the board's one MDIO master: link, speed, duplex) ─► r_* ── speed_10 ─► both MACs (2-FF synchronizer into REF_CLK)
//! ```
//!
//! `rmii_rx`/`rmii_tx`/the crossings' REF_CLK side run on `ref_clk`, the rest on the
//! core `clock`. The counters count in the core domain, each frame once, from the
//! receiver's status as it crosses: `rx_frames`/`rx_bytes` frames whose FCS checked (and
//! their bytes without FCS); `fcs_errors` the others (of which `rx_stomped` arrived
//! already stomped); `runts` and `align_errors` whatever their FCS; `dropped` frames
//! the ingress buffer could not hold; `false_carriers`; `tx_frames` frames sent, of
//! which `tx_stomped` with a stomped FCS; `tx_bytes` the bytes handed from the egress
//! buffer to the transmitter (without FCS; it leads `tx_frames` while a frame is on
//! the wire). Frames dropped are not sent, so
//! `rx_frames + fcs_errors = dropped + (frames handed to the pipeline)`.
//!
//! When: a received frame's counts at its end as it leaves the crossing (`rx_bytes` the
//! clock after), a false carrier as it leaves the crossing, a drop as the ingress
//! buffer rolls the frame back, a sent frame (and its stomp) once the transmitter's
//! strobe has crossed into the core domain, `tx_bytes` per byte the egress buffer
//! hands on. Each event is a bit of `events` (with a good frame's length in `rx_len`),
//! out to the board's one [`PortCounters`](super::port_counters::PortCounters), which
//! keeps both ports' 32-bit counters in one block RAM.
//!
//! `status_word` is word 0 of READ_PORT's reply (`portshare_spec::ports`: link, speed,
//! duplex, PHY present, BMSR), from core-domain registers; the board answers READ_PORT
//! (the counters are its words 1 on).

use super::cdc_rx::RxCdc;
use super::cdc_tx::TxCdc;
use super::frame_fifo::{EgressFifo, IngressFifo};
use super::rmii_rx::RmiiRx;
use super::rmii_tx::RmiiTx;
use super::port_counters::COUNTERS;
use crate::prim::skid::Skid;
use rust_hdl::prelude::*;
use portshare_spec::ports::{BMSR_SHIFT, FLAG_100M, FLAG_FULL_DUPLEX, FLAG_LINK, FLAG_PHY_PRESENT};
use rust_hdl::widgets::prelude::BitSynchronizer;

/// Counter width.
pub const COUNTER_BITS: usize = 32;

#[derive(LogicBlock)]
pub struct EthPort {
    /// The core clock and its reset.
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    /// The pins (MDC and MDIO are the board top's, for its one MDIO master).
    pub ref_clk: Signal<In, Clock>,
    pub crs_dv: Signal<In, Bit>,
    pub rxd: Signal<In, Bits<2>>,
    pub tx_en: Signal<Out, Bit>,
    pub txd: Signal<Out, Bits<2>>,
    /// This port's PHY as the MDIO master just read it, taken with `phy_updated`.
    pub phy_updated: Signal<In, Bit>,
    pub phy_link: Signal<In, Bit>,
    pub phy_speed_10: Signal<In, Bit>,
    pub phy_full_duplex: Signal<In, Bit>,
    pub phy_present: Signal<In, Bit>,
    pub phy_bmsr: Signal<In, Bits<16>>,
    /// Received frames, whole, `in_fcs_bad` with every byte (its FCS did not check, or
    /// it is a runt or ends on a half byte: it leaves stomped); the ingress buffer's
    /// output through a skid register: `in_ready` reaches no further than it.
    pub in_data: Signal<Out, Bits<8>>,
    pub in_valid: Signal<Out, Bit>,
    pub in_last: Signal<Out, Bit>,
    pub in_ready: Signal<In, Bit>,
    pub in_fcs_bad: Signal<Out, Bit>,
    /// The length of the frame `in_*` holds (valid with `in_valid`; it travels through
    /// the skid with the bytes, so it is the length of the frame at its head).
    pub in_len: Signal<Out, Bits<12>>,
    /// Frames to send: a byte per `out_byte`, `out_stomp` with `out_end`, only while
    /// `out_ready` (room for a byte, and for a frame's end).
    pub out_data: Signal<In, Bits<8>>,
    pub out_byte: Signal<In, Bit>,
    pub out_end: Signal<In, Bit>,
    pub out_stomp: Signal<In, Bit>,
    pub out_ready: Signal<Out, Bit>,
    /// The space a frame may still take in the egress buffer, and that it has no
    /// descriptor left (the arbiter sends a frame in only when both say it fits, so the
    /// egress never holds the pipeline back).
    pub out_free: Signal<Out, Bits<12>>,
    pub out_full: Signal<Out, Bit>,
    /// The egress buffer holds nothing (a frame longer than it may go in then).
    pub out_empty: Signal<Out, Bit>,
    /// From the PHY's registers (MDIO).
    pub link: Signal<Out, Bit>,
    pub speed_10: Signal<Out, Bit>,
    pub full_duplex: Signal<Out, Bit>,
    /// One clock per byte received / frame sent (LEDs).
    pub rx_activity: Signal<Out, Bit>,
    pub tx_activity: Signal<Out, Bit>,
    /// One clock per frame dropped (LEDs).
    pub drop_activity: Signal<Out, Bit>,
    /// The counters' events (bit `i`: counter `i` of `COUNTER_NAMES` counts) and the
    /// length `rx_bytes` adds.
    pub events: Signal<Out, Bits<COUNTERS>>,
    pub rx_len: Signal<Out, Bits<11>>,
    /// READ_PORT's word 0 (see above).
    pub status_word: Signal<Out, Bits<COUNTER_BITS>>,
    pub rx: RmiiRx,
    pub tx: RmiiTx,
    pub rx_cdc: RxCdc,
    pub tx_cdc: TxCdc,
    pub ingress: IngressFifo,
    pub egress: EgressFifo,
    /// Data, last, the FCS flag and the frame's length of the ingress buffer's bytes.
    in_skid: Skid<22>,
    /// The PHY's state as last polled (link down until the first poll).
    r_link: DFF<Bit>,
    r_speed_10: DFF<Bit>,
    r_duplex: DFF<Bit>,
    r_present: DFF<Bit>,
    r_bmsr: DFF<Bits<16>>,
    speed_sync: BitSynchronizer,
    reset_sync: BitSynchronizer,
    /// Bytes of the frame being received (for `rx_bytes`).
    frame_bytes: DFF<Bits<11>>,
    /// A good frame's bytes, added to `rx_bytes` the clock after its end (one 32-bit
    /// add from registers, not two after the end's decode).
    good_len: DFF<Bits<11>>,
    good_add: DFF<Bit>,
    tx_sent: Signal<Local, Bit>,
    tx_stomped_seen: Signal<Local, Bit>,
    /// The status word's flags, each 0 or its bit (`portshare_spec::ports`).
    flag_link: Signal<Local, Bits<COUNTER_BITS>>,
    flag_100m: Signal<Local, Bits<COUNTER_BITS>>,
    flag_duplex: Signal<Local, Bits<COUNTER_BITS>>,
    flag_phy: Signal<Local, Bits<COUNTER_BITS>>,
    c_flag_link: Constant<Bits<COUNTER_BITS>>,
    c_flag_100m: Constant<Bits<COUNTER_BITS>>,
    c_flag_duplex: Constant<Bits<COUNTER_BITS>>,
    c_flag_phy: Constant<Bits<COUNTER_BITS>>,
    c_bmsr_shift: Constant<Bits<8>>,
    /// The sent strobe crossed into the core domain (it lasts one REF_CLK cycle, two
    /// core clocks: a toggle crosses instead).
    sent_toggle: DFF<Bit>,
    stomped_toggle: DFF<Bit>,
    sent_sync: BitSynchronizer,
    stomped_sync: BitSynchronizer,
    sent_seen: DFF<Bit>,
    stomped_seen: DFF<Bit>,
    rx_end: Signal<Local, Bit>,
    rx_byte: Signal<Local, Bit>,
    in_word: Signal<Local, Bits<22>>,
    c_len_shift: Constant<Bits<8>>,
}

impl Default for EthPort {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            ref_clk: Default::default(),
            crs_dv: Default::default(),
            rxd: Default::default(),
            tx_en: Default::default(),
            txd: Default::default(),
            phy_updated: Default::default(),
            phy_link: Default::default(),
            phy_speed_10: Default::default(),
            phy_full_duplex: Default::default(),
            phy_present: Default::default(),
            phy_bmsr: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_last: Default::default(),
            in_ready: Default::default(),
            in_fcs_bad: Default::default(),
            in_len: Default::default(),
            out_data: Default::default(),
            out_byte: Default::default(),
            out_end: Default::default(),
            out_stomp: Default::default(),
            out_ready: Default::default(),
            out_free: Default::default(),
            out_full: Default::default(),
            out_empty: Default::default(),
            link: Default::default(),
            speed_10: Default::default(),
            full_duplex: Default::default(),
            rx_activity: Default::default(),
            tx_activity: Default::default(),
            drop_activity: Default::default(),
            events: Default::default(),
            rx_len: Default::default(),
            status_word: Default::default(),
            rx: Default::default(),
            tx: Default::default(),
            rx_cdc: Default::default(),
            tx_cdc: Default::default(),
            ingress: IngressFifo::new(false),
            egress: EgressFifo::new(true),
            in_skid: Default::default(),
            r_link: Default::default(),
            r_speed_10: Default::default(),
            r_duplex: Default::default(),
            r_present: Default::default(),
            r_bmsr: Default::default(),
            speed_sync: Default::default(),
            reset_sync: Default::default(),
            frame_bytes: Default::default(),
            good_len: Default::default(),
            good_add: Default::default(),
            tx_sent: Default::default(),
            tx_stomped_seen: Default::default(),
            flag_link: Default::default(),
            flag_100m: Default::default(),
            flag_duplex: Default::default(),
            flag_phy: Default::default(),
            c_flag_link: Constant::new((FLAG_LINK as u64).into()),
            c_flag_100m: Constant::new((FLAG_100M as u64).into()),
            c_flag_duplex: Constant::new((FLAG_FULL_DUPLEX as u64).into()),
            c_flag_phy: Constant::new((FLAG_PHY_PRESENT as u64).into()),
            c_bmsr_shift: Constant::new((BMSR_SHIFT as u64).into()),
            sent_toggle: Default::default(),
            stomped_toggle: Default::default(),
            sent_sync: Default::default(),
            stomped_sync: Default::default(),
            sent_seen: Default::default(),
            stomped_seen: Default::default(),
            rx_end: Default::default(),
            rx_byte: Default::default(),
            in_word: Default::default(),
            c_len_shift: Constant::new(10.into()),
        }
    }
}

impl Logic for EthPort {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, frame_bytes, good_len, good_add, sent_seen, stomped_seen, r_link, r_speed_10, r_duplex, r_present,
            r_bmsr
        );
        clock!(self, clock, ingress, egress, in_skid);
        self.sent_toggle.clock.next = self.ref_clk.val();
        self.sent_toggle.d.next = self.sent_toggle.q.val();
        self.stomped_toggle.clock.next = self.ref_clk.val();
        self.stomped_toggle.d.next = self.stomped_toggle.q.val();
        self.rx.clock.next = self.ref_clk.val();
        self.tx.clock.next = self.ref_clk.val();
        self.speed_sync.clock.next = self.ref_clk.val();
        self.reset_sync.clock.next = self.ref_clk.val();
        self.sent_sync.clock.next = self.clock.val();
        self.stomped_sync.clock.next = self.clock.val();
        self.rx_cdc.rx_clock.next = self.ref_clk.val();
        self.rx_cdc.clock.next = self.clock.val();
        self.tx_cdc.tx_clock.next = self.ref_clk.val();
        self.tx_cdc.clock.next = self.clock.val();

        // The PHY's state from MDIO, and the speed it reports into the REF_CLK domain.
        if self.phy_updated.val() {
            self.r_link.d.next = self.phy_link.val();
            self.r_speed_10.d.next = self.phy_speed_10.val();
            self.r_duplex.d.next = self.phy_full_duplex.val();
            self.r_present.d.next = self.phy_present.val();
            self.r_bmsr.d.next = self.phy_bmsr.val();
        }
        if self.reset.val() {
            self.r_link.d.next = false;
        }
        self.link.next = self.r_link.q.val();
        self.speed_10.next = self.r_speed_10.q.val();
        self.full_duplex.next = self.r_duplex.q.val();
        self.speed_sync.sig_in.next = self.r_speed_10.q.val();
        self.reset_sync.sig_in.next = self.reset.val();

        // Receive: pins → MAC → crossing → ingress buffer.
        self.rx.reset.next = self.reset_sync.sig_out.val();
        self.rx.crs_dv.next = self.crs_dv.val();
        self.rx.rxd.next = self.rxd.val();
        self.rx.speed_10.next = self.speed_sync.sig_out.val();
        self.rx_cdc.rx_data.next = self.rx.data.val();
        self.rx_cdc.rx_valid.next = self.rx.valid.val();
        self.rx_cdc.rx_frame_end.next = self.rx.frame_end.val();
        self.rx_cdc.rx_fcs_bad.next = self.rx.fcs_bad.val();
        self.rx_cdc.rx_stomped.next = self.rx.stomped.val();
        self.rx_cdc.rx_runt.next = self.rx.runt.val();
        self.rx_cdc.rx_align.next = self.rx.align.val();
        self.rx_cdc.rx_false_carrier.next = self.rx.false_carrier.val();
        self.rx_byte.next = self.rx_cdc.valid.val() & self.rx_cdc.byte.val();
        self.rx_end.next = self.rx_cdc.valid.val() & self.rx_cdc.last.val();
        self.ingress.reset.next = self.reset.val();
        self.ingress.w_data.next = self.rx_cdc.data.val();
        self.ingress.w_byte.next = self.rx_byte.val();
        self.ingress.w_end.next = self.rx_end.val();
        // The frame's flag (stomp on egress, not counted by the pipeline): a bad FCS,
        // a runt or a half byte at the end — docs/semantics.md §3a stomps all three.
        self.ingress.w_flag.next = self.rx_cdc.fcs_bad.val() | self.rx_cdc.runt.val() | self.rx_cdc.align.val();
        self.ingress.w_drop.next = false;
        self.in_skid.reset.next = self.reset.val();
        self.in_word.next = bit_cast::<22, 8>(self.ingress.r_data.val())
            | (bit_cast::<22, 12>(self.ingress.r_len.val()) << self.c_len_shift.val());
        if self.ingress.r_last.val() {
            self.in_word.next = bit_cast::<22, 8>(self.ingress.r_data.val())
                | (bit_cast::<22, 12>(self.ingress.r_len.val()) << self.c_len_shift.val())
                | 0x100;
        }
        self.in_skid.up_data.next = self.in_word.val();
        if self.ingress.r_flag.val() {
            self.in_skid.up_data.next = self.in_word.val() | 0x200;
        }
        self.in_skid.up_valid.next = self.ingress.r_valid.val();
        self.ingress.r_ready.next = self.in_skid.up_ready.val();
        self.in_data.next = self.in_skid.data.val().get_bits::<8>(0);
        self.in_last.next = self.in_skid.data.val().get_bit(8);
        self.in_fcs_bad.next = self.in_skid.data.val().get_bit(9);
        self.in_len.next = self.in_skid.data.val().get_bits::<12>(10);
        self.in_valid.next = self.in_skid.valid.val();
        self.in_skid.ready.next = self.in_ready.val();

        // Transmit: egress buffer → crossing → MAC → pins.
        self.egress.reset.next = self.reset.val();
        self.egress.w_data.next = self.out_data.val();
        self.egress.w_byte.next = self.out_byte.val();
        self.egress.w_end.next = self.out_end.val();
        self.egress.w_flag.next = self.out_stomp.val();
        self.egress.w_drop.next = false;
        self.out_ready.next = self.egress.room.val();
        self.out_free.next = self.egress.free.val();
        self.out_full.next = self.egress.full.val();
        self.out_empty.next = self.egress.empty.val();
        self.tx_cdc.data.next = self.egress.r_data.val();
        self.tx_cdc.valid.next = self.egress.r_valid.val();
        self.tx_cdc.last.next = self.egress.r_last.val();
        self.tx_cdc.stomp.next = self.egress.r_flag.val();
        self.egress.r_ready.next = self.tx_cdc.ready.val();
        self.tx.reset.next = self.reset_sync.sig_out.val();
        self.tx.speed_10.next = self.speed_sync.sig_out.val();
        self.tx.data.next = self.tx_cdc.tx_data.val();
        self.tx.valid.next = self.tx_cdc.tx_valid.val();
        self.tx.last.next = self.tx_cdc.tx_last.val();
        self.tx.stomp.next = self.tx_cdc.tx_stomp.val();
        self.tx_cdc.tx_ready.next = self.tx.ready.val();
        self.tx_en.next = self.tx.tx_en.val();
        self.txd.next = self.tx.txd.val();

        // Counters: each event a bit of `events` (COUNTER_NAMES order), counted by
        // the board's `PortCounters`.
        self.good_add.d.next = false;
        self.good_len.d.next = self.frame_bytes.q.val();
        if self.rx_byte.val() {
            self.good_len.d.next = self.frame_bytes.q.val() + 1;
        }
        if self.rx_byte.val() {
            self.frame_bytes.d.next = self.frame_bytes.q.val() + 1;
        }
        if self.rx_end.val() {
            self.frame_bytes.d.next = 0.into();
            // A good frame's bytes count the clock after its end, from registers.
            self.good_add.d.next = !self.rx_cdc.fcs_bad.val();
        }
        if self.tx.sent.val() {
            self.sent_toggle.d.next = !self.sent_toggle.q.val();
            if self.tx.stomped.val() {
                self.stomped_toggle.d.next = !self.stomped_toggle.q.val();
            }
        }
        self.sent_sync.sig_in.next = self.sent_toggle.q.val();
        self.stomped_sync.sig_in.next = self.stomped_toggle.q.val();
        self.sent_seen.d.next = self.sent_sync.sig_out.val();
        self.stomped_seen.d.next = self.stomped_sync.sig_out.val();
        self.tx_sent.next = self.sent_seen.q.val() != self.sent_sync.sig_out.val();
        self.tx_stomped_seen.next = self.stomped_seen.q.val() != self.stomped_sync.sig_out.val();
        self.tx_activity.next = self.tx_sent.val();
        self.events.next = bit_cast::<COUNTERS, 1>((self.rx_end.val() & !self.rx_cdc.fcs_bad.val()).into())
            | (bit_cast::<COUNTERS, 1>(self.good_add.q.val().into()) << 1)
            | (bit_cast::<COUNTERS, 1>((self.rx_end.val() & self.rx_cdc.fcs_bad.val()).into()) << 2)
            | (bit_cast::<COUNTERS, 1>((self.rx_end.val() & self.rx_cdc.stomped.val()).into()) << 3)
            | (bit_cast::<COUNTERS, 1>((self.rx_end.val() & self.rx_cdc.runt.val()).into()) << 4)
            | (bit_cast::<COUNTERS, 1>((self.rx_end.val() & self.rx_cdc.align.val()).into()) << 5)
            | (bit_cast::<COUNTERS, 1>(self.ingress.dropped.val().into()) << 6)
            | (bit_cast::<COUNTERS, 1>((self.rx_cdc.valid.val() & self.rx_cdc.false_carrier.val()).into()) << 7)
            | (bit_cast::<COUNTERS, 1>(self.tx_sent.val().into()) << 8)
            | (bit_cast::<COUNTERS, 1>((self.egress.r_valid.val() & self.egress.r_ready.val()).into()) << 9)
            | (bit_cast::<COUNTERS, 1>(self.tx_stomped_seen.val().into()) << 10);
        self.rx_len.next = self.good_len.q.val();
        self.rx_activity.next = self.rx_byte.val();
        self.drop_activity.next = self.ingress.dropped.val();
        if self.reset.val() {
            self.frame_bytes.d.next = 0.into();
            self.good_add.d.next = false;
        }

        // READ_PORT's word 0, the status word.
        self.flag_link.next = 0.into();
        self.flag_100m.next = 0.into();
        self.flag_duplex.next = 0.into();
        self.flag_phy.next = 0.into();
        if self.r_link.q.val() {
            self.flag_link.next = self.c_flag_link.val();
        }
        if !self.r_speed_10.q.val() {
            self.flag_100m.next = self.c_flag_100m.val();
        }
        if self.r_duplex.q.val() {
            self.flag_duplex.next = self.c_flag_duplex.val();
        }
        if self.r_present.q.val() {
            self.flag_phy.next = self.c_flag_phy.val();
        }
        self.status_word.next = (bit_cast::<COUNTER_BITS, 16>(self.r_bmsr.q.val()) << self.c_bmsr_shift.val())
            | self.flag_link.val()
            | self.flag_100m.val()
            | self.flag_duplex.val()
            | self.flag_phy.val();
    }
}
