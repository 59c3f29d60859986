//! Byte-serial frame parser: watches every byte the pipeline accepts and says, for
//! that byte, whether it is a CAM key byte (and at which key position), what role it
//! plays for the rewriter (port or checksum byte), and at the frame's last byte how the
//! frame classifies. It never stalls: one byte per clock, decisions from registered
//! state plus the byte itself.
//!
//! Semantics: docs/semantics.md §3, exactly as `portshare_sim::model` implements them
//! (Ethernet II, up to two VLAN tags, IPv4 with any IHL, IPv6 with up to four
//! hop-by-hop / routing / destination-options / fragment headers).
//!
//! Key positions (the CAM's byte slots): 0..16 the address (IPv4 uses 12..16, the
//! `::ffff:a.b.c.d` tail), 16 the shared port's high byte (incoming dst port), 18 the
//! assigned port's high byte (outgoing src port). The port's low byte, the final key
//! byte, also names the frame's kind: position 20 + 2·IPv4 + TCP (incoming) or 24 +
//! 2·IPv4 + TCP (outgoing), so the CAM matches family and protocol as key bytes.
//!
//! Codes: [`role`] (what a byte is to the rewriter) and [`class`] (how a frame
//! classifies), defined once here; the parser, pipeline, rewriter and counters read
//! them through `Constant` fields (`#[hdl_gen]` cannot read Rust constants), the
//! benches through these modules.
//!
//! Test bench: `sim/tests/parser.rs` (beside the reference model it checks against:
//! every byte's key/role/L4 events and every frame's class, corpus and mangled frames).

use rust_hdl::prelude::*;

/// A byte's role for the rewriter (`Parser::role`, 3 bits, queued with the byte).
pub mod role {
    /// Passes unchanged.
    pub const NONE: u64 = 0;
    /// The rewritten port's high byte.
    pub const PORT_HI: u64 = 1;
    /// The rewritten port's low byte.
    pub const PORT_LO: u64 = 2;
    /// The L4 checksum's high byte.
    pub const CHECKSUM_HI: u64 = 3;
    /// The L4 checksum's low byte.
    pub const CHECKSUM_LO: u64 = 4;
}

/// A frame's class (`Parser::class` at its last byte, 2 bits, queued with each byte).
pub mod class {
    /// Not followed to a TCP/UDP header (counted `unparsed`).
    pub const UNPARSED: u64 = 0;
    /// A non-first IPv6 fragment (counted `fragment`).
    pub const FRAGMENT: u64 = 1;
    /// A TCP/UDP header lies wholly inside frame and datagram: the frame was looked up
    /// (counted `rewritten` or `no_match`).
    pub const LOOKED_UP: u64 = 2;
}

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum ParseState {
    /// MAC addresses and the first EtherType.
    Eth,
    /// A VLAN tag's TCI and the EtherType after it.
    Tag,
    Ip4,
    Ip6,
    /// IPv6 hop-by-hop, routing or destination-options header.
    Ext,
    /// IPv6 fragment header.
    Frag,
    /// The TCP or UDP header.
    L4,
}

#[derive(LogicBlock)]
pub struct Parser {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    /// The byte being accepted this clock (meaningful when `strobe`).
    pub data: Signal<In, Bits<8>>,
    pub strobe: Signal<In, Bit>,
    pub last: Signal<In, Bit>,
    /// 0 incoming, 1 outgoing; sampled with a frame's first byte.
    pub direction: Signal<In, Bit>,
    /// The byte entering the pipeline's input register (`data` from the next clock on)
    /// and that register's load: the byte's predicates are decoded on the way in, so
    /// the decisions on `data` start from flip-flops.
    pub next_data: Signal<In, Bits<8>>,
    pub next_load: Signal<In, Bit>,

    /// This byte is a key byte at `key_pos`.
    pub key_valid: Signal<Out, Bit>,
    pub key_pos: Signal<Out, Bits<5>>,
    /// First key byte of the frame (start a new match).
    pub key_first: Signal<Out, Bit>,
    /// Final key byte of the frame (its position names the frame's kind).
    pub key_last: Signal<Out, Bit>,
    /// The frame's direction (as sampled with its first byte).
    pub frame_dir: Signal<Out, Bit>,
    /// Role of this byte for the rewriter (codes in the module doc).
    pub role: Signal<Out, Bits<3>>,
    /// First byte of the L4 header (the rewriter starts a new frame context).
    pub l4_start: Signal<Out, Bit>,
    /// The L4 protocol is UDP (valid from `l4_start` on).
    pub l4_udp: Signal<Out, Bit>,
    /// This byte completes an L4 header that lies inside the datagram.
    pub l4_complete: Signal<Out, Bit>,
    /// The L4 header will not complete (cut off, or beyond the datagram): no rewrite.
    pub l4_fail: Signal<Out, Bit>,
    /// The frame's class (codes in the module doc), valid with the last byte.
    pub class: Signal<Out, Bits<2>>,

    state: DFF<ParseState>,
    /// The frame is decided (not followable, a fragment, or its L4 header done): the
    /// rest passes. A flag beside the state keeps error exits out of the state logic.
    skip: DFF<Bit>,
    /// Index of the byte within the current header.
    hi: DFF<Bits<12>>,
    tags: DFF<Bits<2>>,
    dir: DFF<Bit>,
    etype_hi: DFF<Bits<8>>,
    hold: DFF<Bits<8>>,
    /// The IPv4 header's last byte index less one (4·IHL − 2), and whether the next
    /// byte is that last byte (registered, like `ext_end`).
    hdr_last_m1: DFF<Bits<6>>,
    ip4_end: DFF<Bit>,
    hdr_m4: DFF<Bits<12>>,
    /// The IPv4 total length is shorter than the header (decided at byte 4).
    len_short: DFF<Bit>,
    /// An extension header's last byte index less one, and whether the next byte is
    /// that last byte (registered, so no 12-bit compare sits in the state logic).
    hdr_end_m1: DFF<Bits<12>>,
    ext_end: DFF<Bit>,
    /// One-hot `hi` while it is below 64 (zero after): position tests are single bits.
    pos: DFFWithInit<Bits<64>>,
    hi6: Signal<Local, Bits<6>>,
    /// Datagram bytes from the next byte on (IPv4 total length / IPv6 40 + payload).
    remaining: DFF<Bits<18>>,
    /// `remaining == 0`, kept beside it from its load on (before the load the count is
    /// not used): the countdown stops at zero without an 18-bit zero test in front of
    /// its own enable, which was the board's critical path.
    r_remaining_zero: DFF<Bit>,
    nh: DFF<Bits<8>>,
    ext_count: DFF<Bits<3>>,
    tcp: DFF<Bit>,
    /// The frame is IPv4 (set in the IPv4 header, cleared in the IPv6 one).
    v4: DFF<Bit>,
    dgram_ok: DFF<Bit>,
    cls: DFF<Bits<2>>,

    /// Predicates of `data`, registered beside it: 0x00, 0xA8, 0xDD, 6 (TCP), 17 (UDP),
    /// an IPv4 version/IHL byte (4, IHL ≥ 5), an IPv6 version nibble (6), and a
    /// fragment offset's high bits in an IPv6 fragment header (bits 7..3).
    r_zero: DFF<Bit>,
    r_a8: DFF<Bit>,
    r_dd: DFF<Bit>,
    r_tcp: DFF<Bit>,
    r_udp: DFF<Bit>,
    r_v4_ok: DFF<Bit>,
    r_v6: DFF<Bit>,
    r_off_hi: DFF<Bit>,
    // Per-byte decode of the EtherType and next-header values.
    etype_vlan: Signal<Local, Bit>,
    etype_ip4: Signal<Local, Bit>,
    etype_ip6: Signal<Local, Bit>,
    nh_ext: Signal<Local, Bit>,
    nh_frag: Signal<Local, Bit>,
    nh_tcp: Signal<Local, Bit>,
    nh_udp: Signal<Local, Bit>,
    complete_now: Signal<Local, Bit>,
    fragment_now: Signal<Local, Bit>,
    /// 2·IPv4 + TCP: the final key byte's position offset.
    kind: Signal<Local, Bits<5>>,
    c_role_none: Constant<Bits<3>>,
    c_role_port_hi: Constant<Bits<3>>,
    c_role_port_lo: Constant<Bits<3>>,
    c_role_checksum_hi: Constant<Bits<3>>,
    c_role_checksum_lo: Constant<Bits<3>>,
    c_class_unparsed: Constant<Bits<2>>,
    c_class_fragment: Constant<Bits<2>>,
    c_class_looked_up: Constant<Bits<2>>,
}

impl Default for Parser {
    /// `pos` starts at byte 0 without a reset pulse, as `hi` does.
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            data: Default::default(),
            strobe: Default::default(),
            last: Default::default(),
            direction: Default::default(),
            next_data: Default::default(),
            next_load: Default::default(),
            r_zero: Default::default(),
            r_a8: Default::default(),
            r_dd: Default::default(),
            r_tcp: Default::default(),
            r_udp: Default::default(),
            r_v4_ok: Default::default(),
            r_v6: Default::default(),
            r_off_hi: Default::default(),
            key_valid: Default::default(),
            key_pos: Default::default(),
            key_first: Default::default(),
            key_last: Default::default(),
            frame_dir: Default::default(),
            role: Default::default(),
            l4_start: Default::default(),
            l4_udp: Default::default(),
            l4_complete: Default::default(),
            l4_fail: Default::default(),
            class: Default::default(),
            state: Default::default(),
            skip: Default::default(),
            hi: Default::default(),
            tags: Default::default(),
            dir: Default::default(),
            etype_hi: Default::default(),
            hold: Default::default(),
            hdr_last_m1: Default::default(),
            ip4_end: Default::default(),
            hdr_m4: Default::default(),
            len_short: Default::default(),
            hdr_end_m1: Default::default(),
            ext_end: Default::default(),
            pos: DFFWithInit::new(1.into()),
            hi6: Default::default(),
            remaining: Default::default(),
            r_remaining_zero: Default::default(),
            nh: Default::default(),
            ext_count: Default::default(),
            tcp: Default::default(),
            v4: Default::default(),
            dgram_ok: Default::default(),
            cls: Default::default(),
            etype_vlan: Default::default(),
            etype_ip4: Default::default(),
            etype_ip6: Default::default(),
            nh_ext: Default::default(),
            nh_frag: Default::default(),
            nh_tcp: Default::default(),
            nh_udp: Default::default(),
            complete_now: Default::default(),
            fragment_now: Default::default(),
            kind: Default::default(),
            c_role_none: Constant::new(role::NONE.into()),
            c_role_port_hi: Constant::new(role::PORT_HI.into()),
            c_role_port_lo: Constant::new(role::PORT_LO.into()),
            c_role_checksum_hi: Constant::new(role::CHECKSUM_HI.into()),
            c_role_checksum_lo: Constant::new(role::CHECKSUM_LO.into()),
            c_class_unparsed: Constant::new(class::UNPARSED.into()),
            c_class_fragment: Constant::new(class::FRAGMENT.into()),
            c_class_looked_up: Constant::new(class::LOOKED_UP.into()),
        }
    }
}

impl Logic for Parser {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, skip, hi, tags, dir, etype_hi, hold, hdr_last_m1, ip4_end, hdr_m4, len_short, hdr_end_m1, ext_end, pos, remaining, r_remaining_zero, nh, ext_count,
            tcp, v4, dgram_ok, cls, r_zero, r_a8, r_dd, r_tcp, r_udp, r_v4_ok, r_v6, r_off_hi
        );
        if self.next_load.val() {
            self.r_zero.d.next = self.next_data.val() == 0x00;
            self.r_a8.d.next = self.next_data.val() == 0xA8;
            self.r_dd.d.next = self.next_data.val() == 0xDD;
            self.r_tcp.d.next = self.next_data.val() == 6;
            self.r_udp.d.next = self.next_data.val() == 17;
            self.r_v4_ok.d.next = (self.next_data.val().get_bits::<4>(4) == 4) & (self.next_data.val().get_bits::<4>(0) >= 5);
            self.r_v6.d.next = self.next_data.val().get_bits::<4>(4) == 6;
            self.r_off_hi.d.next = self.next_data.val().get_bits::<5>(3).any();
        }
        // Defaults: no key, no role, nothing happens.
        self.kind.next = 0.into();
        if self.v4.q.val() & self.tcp.q.val() {
            self.kind.next = 3.into();
        } else if self.v4.q.val() {
            self.kind.next = 2.into();
        } else if self.tcp.q.val() {
            self.kind.next = 1.into();
        }
        self.key_valid.next = false;
        self.key_pos.next = 0.into();
        self.key_first.next = false;
        self.key_last.next = false;
        self.frame_dir.next = self.dir.q.val();
        self.role.next = self.c_role_none.val();
        self.l4_start.next = false;
        self.l4_udp.next = !self.tcp.q.val();
        self.l4_complete.next = false;
        self.l4_fail.next = false;
        self.complete_now.next = false;
        self.fragment_now.next = false;

        self.etype_vlan.next = ((self.etype_hi.q.val() == 0x81) & self.r_zero.q.val())
            | ((self.etype_hi.q.val() == 0x88) & self.r_a8.q.val())
            | ((self.etype_hi.q.val() == 0x91) & self.r_zero.q.val());
        self.etype_ip4.next = (self.etype_hi.q.val() == 0x08) & self.r_zero.q.val();
        self.etype_ip6.next = (self.etype_hi.q.val() == 0x86) & self.r_dd.q.val();
        self.nh_ext.next = (self.nh.q.val() == 0) | (self.nh.q.val() == 43) | (self.nh.q.val() == 60);
        self.nh_frag.next = self.nh.q.val() == 44;
        self.nh_tcp.next = self.nh.q.val() == 6;
        self.nh_udp.next = self.nh.q.val() == 17;

        self.hi6.next = self.hi.q.val().get_bits::<6>(0);
        if self.strobe.val() {
            self.hi.d.next = self.hi.q.val() + 1;
            self.pos.d.next = self.pos.q.val() << 1;
            self.ext_end.d.next = (self.state.q.val() == ParseState::Ext)
                & (self.hi.q.val() == self.hdr_end_m1.q.val())
                & !(self.pos.q.val().get_bit(0) | self.pos.q.val().get_bit(1));
            // Next byte ends the IPv4 header (index 4·IHL − 1, at least 19).
            self.ip4_end.d.next = (self.state.q.val() == ParseState::Ip4)
                & (self.hi6.val() == self.hdr_last_m1.q.val())
                & (self.hi6.val() >= 18);
            // Bytes of the IP header and its extensions count down the datagram.
            if (self.state.q.val() == ParseState::Ip4)
                | (self.state.q.val() == ParseState::Ip6)
                | (self.state.q.val() == ParseState::Ext)
                | (self.state.q.val() == ParseState::Frag)
            {
                if !self.r_remaining_zero.q.val() {
                    self.remaining.d.next = self.remaining.q.val() - 1;
                    self.r_remaining_zero.d.next = self.remaining.q.val() == 1;
                }
            }
            // Once decided (`skip`), the rest of the frame passes as it is.
            if !self.skip.q.val() {
                match self.state.q.val() {
                    ParseState::Eth => {
                        if self.pos.q.val().get_bit(0) {
                            self.dir.d.next = self.direction.val();
                            self.frame_dir.next = self.direction.val();
                        }
                        if self.pos.q.val().get_bit(12) {
                            self.etype_hi.d.next = self.data.val();
                        }
                        if self.pos.q.val().get_bit(13) {
                            self.hi.d.next = 0.into();
                            self.pos.d.next = 1.into();
                        }
                    }
                    ParseState::Tag => {
                        if self.pos.q.val().get_bit(2) {
                            self.etype_hi.d.next = self.data.val();
                        }
                        if self.pos.q.val().get_bit(3) {
                            self.hi.d.next = 0.into();
                            self.pos.d.next = 1.into();
                        }
                    }
                    ParseState::Ip4 => {
                        if self.pos.q.val().get_bit(0) {
                            if !self.r_v4_ok.q.val() {
                                self.skip.d.next = true;
                            }
                            self.hdr_last_m1.d.next =
                                (bit_cast::<6, 4>(self.data.val().get_bits::<4>(0)) << 2) - 2;
                            self.hdr_m4.d.next =
                                (bit_cast::<12, 4>(self.data.val().get_bits::<4>(0)) << 2) - 4;
                        }
                        if self.pos.q.val().get_bit(2) {
                            self.hold.d.next = self.data.val();
                        }
                        if self.pos.q.val().get_bit(3) {
                            // Datagram bytes after this one; checked against the header next byte.
                            self.remaining.d.next = ((bit_cast::<18, 8>(self.hold.q.val()) << 8)
                                | bit_cast::<18, 8>(self.data.val()))
                                - 4;
                            self.r_remaining_zero.d.next = !self.hold.q.val().any() & (self.data.val() == 4);
                        }
                        if self.pos.q.val().get_bit(4) {
                            // total length must cover the header (compared from registers:
                            // remaining = total length − 4, hdr_m4 = 4·IHL − 4)
                            // (bit 17 set: total length < 4 wrapped the subtraction);
                            // registered, and acted on at the next byte (the compare's
                            // carry chain stays out of the skip logic).
                            self.len_short.d.next = self.remaining.q.val().get_bit(17)
                                | (self.remaining.q.val() < bit_cast::<18, 12>(self.hdr_m4.q.val()));
                        }
                        if self.pos.q.val().get_bit(5) & self.len_short.q.val() {
                            self.skip.d.next = true;
                        }
                        if self.pos.q.val().get_bit(6) {
                            self.hold.d.next = self.data.val() & 0x1F;
                        }
                        if self.pos.q.val().get_bit(7) {
                            if self.hold.q.val().any() | !self.r_zero.q.val() {
                                self.cls.d.next = self.c_class_fragment.val();
                                self.fragment_now.next = true;
                                self.skip.d.next = true;
                            }
                        }
                        if self.pos.q.val().get_bit(9) {
                            self.tcp.d.next = self.r_tcp.q.val();
                            if !self.r_tcp.q.val() & !self.r_udp.q.val() {
                                self.skip.d.next = true;
                            }
                        }
                        // Address bytes: source 12..16 (outgoing), destination 16..20 (incoming).
                        if self.dir.q.val() {
                            if self.pos.q.val().get_bits::<4>(12).any() {
                                self.key_valid.next = true;
                                self.key_pos.next = self.hi.q.val().get_bits::<5>(0);
                            }
                        } else if self.pos.q.val().get_bits::<4>(16).any() {
                            self.key_valid.next = true;
                            self.key_pos.next = self.hi.q.val().get_bits::<5>(0) - 4;
                        }
                        self.v4.d.next = true;
                        self.key_first.next = (self.dir.q.val() & (self.pos.q.val().get_bit(12)))
                            | (!self.dir.q.val() & (self.pos.q.val().get_bit(16)));
                        if self.ip4_end.q.val() {
                            self.hi.d.next = 0.into();
                            self.pos.d.next = 1.into();
                            self.state.d.next = ParseState::L4;
                        }
                    }
                    ParseState::Ip6 => {
                        if self.pos.q.val().get_bit(0) {
                            if !self.r_v6.q.val() {
                                self.skip.d.next = true;
                            }
                        }
                        if self.pos.q.val().get_bit(4) {
                            self.hold.d.next = self.data.val();
                        }
                        if self.pos.q.val().get_bit(5) {
                            self.remaining.d.next = ((bit_cast::<18, 8>(self.hold.q.val()) << 8)
                                | bit_cast::<18, 8>(self.data.val()))
                                + 34;
                            // (at most 65 535 + 34: never zero)
                            self.r_remaining_zero.d.next = false;
                        }
                        if self.pos.q.val().get_bit(6) {
                            self.nh.d.next = self.data.val();
                        }
                        // Address bytes: source 8..24 (outgoing), destination 24..40 (incoming).
                        if self.dir.q.val() {
                            if self.pos.q.val().get_bits::<16>(8).any() {
                                self.key_valid.next = true;
                                self.key_pos.next = self.hi.q.val().get_bits::<5>(0) - 8;
                            }
                        } else if self.pos.q.val().get_bits::<16>(24).any() {
                            self.key_valid.next = true;
                            self.key_pos.next = self.hi.q.val().get_bits::<5>(0) - 24;
                        }
                        self.v4.d.next = false;
                        self.key_first.next = (self.dir.q.val() & (self.pos.q.val().get_bit(8)))
                            | (!self.dir.q.val() & (self.pos.q.val().get_bit(24)));
                        if self.pos.q.val().get_bit(39) {
                            self.hi.d.next = 0.into();
                            self.pos.d.next = 1.into();
                        }
                    }
                    ParseState::Ext => {
                        if self.pos.q.val().get_bit(0) {
                            self.nh.d.next = self.data.val();
                        }
                        if self.pos.q.val().get_bit(1) {
                            // the header's last byte index less one: (len + 1)·8 − 2
                            self.hdr_end_m1.d.next = (bit_cast::<12, 8>(self.data.val()) << 3) + 6;
                        }
                        if self.ext_end.q.val() {
                            self.hi.d.next = 0.into();
                            self.pos.d.next = 1.into();
                        }
                    }
                    ParseState::Frag => {
                        if self.pos.q.val().get_bit(0) {
                            self.nh.d.next = self.data.val();
                        }
                        if self.pos.q.val().get_bit(2) {
                            self.hold.d.next = self.data.val();
                        }
                        if self.pos.q.val().get_bit(3) {
                            // fragment offset = bits 15..3 of bytes 2..4
                            if self.hold.q.val().any() | self.r_off_hi.q.val() {
                                self.cls.d.next = self.c_class_fragment.val();
                                self.fragment_now.next = true;
                                self.skip.d.next = true;
                            }
                        }
                        if self.pos.q.val().get_bit(7) {
                            self.hi.d.next = 0.into();
                            self.pos.d.next = 1.into();
                        }
                    }
                    ParseState::L4 => {
                        if self.pos.q.val().get_bit(0) {
                            self.l4_start.next = true;
                            // The datagram must hold the whole L4 header from here on.
                            if self.tcp.q.val() {
                                self.dgram_ok.d.next = self.remaining.q.val() >= 20;
                            } else {
                                self.dgram_ok.d.next = self.remaining.q.val() >= 8;
                            }
                        }
                        // Ports: src 0..2 (outgoing key: assigned port), dst 2..4 (incoming key: shared port).
                        if self.dir.q.val() {
                            if self.pos.q.val().get_bit(0) {
                                self.role.next = self.c_role_port_hi.val();
                                self.key_valid.next = true;
                                self.key_pos.next = 18.into();
                            }
                            if self.pos.q.val().get_bit(1) {
                                self.role.next = self.c_role_port_lo.val();
                                self.key_valid.next = true;
                                self.key_pos.next = self.kind.val() | 24;
                                self.key_last.next = true;
                            }
                        } else {
                            if self.pos.q.val().get_bit(2) {
                                self.role.next = self.c_role_port_hi.val();
                                self.key_valid.next = true;
                                self.key_pos.next = 16.into();
                            }
                            if self.pos.q.val().get_bit(3) {
                                self.role.next = self.c_role_port_lo.val();
                                self.key_valid.next = true;
                                self.key_pos.next = self.kind.val() | 20;
                                self.key_last.next = true;
                            }
                        }
                        if self.tcp.q.val() {
                            if self.pos.q.val().get_bit(16) {
                                self.role.next = self.c_role_checksum_hi.val();
                            }
                            if self.pos.q.val().get_bit(17) {
                                self.role.next = self.c_role_checksum_lo.val();
                            }
                            if self.pos.q.val().get_bit(19) {
                                self.complete_now.next = self.dgram_ok.q.val();
                                self.l4_fail.next = !self.dgram_ok.q.val();
                                self.skip.d.next = true;
                            }
                        } else {
                            if self.pos.q.val().get_bit(6) {
                                self.role.next = self.c_role_checksum_hi.val();
                            }
                            if self.pos.q.val().get_bit(7) {
                                self.role.next = self.c_role_checksum_lo.val();
                                self.complete_now.next = self.dgram_ok.q.val();
                                self.l4_fail.next = !self.dgram_ok.q.val();
                                self.skip.d.next = true;
                            }
                        }
                        if self.complete_now.val() {
                            self.l4_complete.next = true;
                            self.cls.d.next = self.c_class_looked_up.val();
                        }
                    }
                    _ => {}
                }
                // The EtherType's second byte (of the Ethernet header or a VLAN tag): the
                // next header. (`tags` is 0 in Eth: a third tag is not followed.)
                if ((self.state.q.val() == ParseState::Eth) & self.pos.q.val().get_bit(13))
                    | ((self.state.q.val() == ParseState::Tag) & self.pos.q.val().get_bit(3))
                {
                    if self.etype_vlan.val() & (self.tags.q.val() != 2) {
                        self.state.d.next = ParseState::Tag;
                        self.tags.d.next = self.tags.q.val() + 1;
                    } else if self.etype_ip4.val() {
                        self.state.d.next = ParseState::Ip4;
                    } else if self.etype_ip6.val() {
                        self.state.d.next = ParseState::Ip6;
                    } else {
                        self.skip.d.next = true;
                    }
                }
                // End of the IPv6 header or of an extension or fragment header: follow
                // the chain (≤ 4 extension headers; `ext_count` is 0 in Ip6).
                if ((self.state.q.val() == ParseState::Ip6) & self.pos.q.val().get_bit(39))
                    | ((self.state.q.val() == ParseState::Ext) & self.ext_end.q.val())
                    | ((self.state.q.val() == ParseState::Frag) & (self.pos.q.val().get_bit(7)))
                {
                    if (self.nh_ext.val() | self.nh_frag.val()) & (self.ext_count.q.val() == 4) {
                        self.skip.d.next = true;
                    } else if self.nh_ext.val() {
                        self.ext_count.d.next = self.ext_count.q.val() + 1;
                        self.state.d.next = ParseState::Ext;
                    } else if self.nh_frag.val() {
                        self.ext_count.d.next = self.ext_count.q.val() + 1;
                        self.state.d.next = ParseState::Frag;
                    } else if self.nh_tcp.val() | self.nh_udp.val() {
                        self.tcp.d.next = self.nh_tcp.val();
                        self.state.d.next = ParseState::L4;
                    } else {
                        self.skip.d.next = true;
                    }
                }
            }
            // A frame's last byte: report its class and start over.
            // A decision made on this very byte counts for a frame that ends here.
            self.class.next = self.cls.q.val();
            if self.fragment_now.val() {
                self.class.next = self.c_class_fragment.val();
            }
            if self.complete_now.val() {
                self.class.next = self.c_class_looked_up.val();
            }
            if self.last.val() {
                if (self.state.q.val() == ParseState::L4) & !self.skip.q.val() & !self.complete_now.val() {
                    self.l4_fail.next = true;
                }
                self.state.d.next = ParseState::Eth;
                self.skip.d.next = false;
                self.hi.d.next = 0.into();
                self.pos.d.next = 1.into();
                self.tags.d.next = 0.into();
                self.cls.d.next = self.c_class_unparsed.val();
                self.ext_count.d.next = 0.into();
            }
        } else {
            self.class.next = self.cls.q.val();
        }
        if self.reset.val() {
            self.state.d.next = ParseState::Eth;
            self.skip.d.next = false;
            self.hi.d.next = 0.into();
            self.pos.d.next = 1.into();
            self.tags.d.next = 0.into();
            self.cls.d.next = self.c_class_unparsed.val();
            self.ext_count.d.next = 0.into();
        }
    }
}
