//! The control protocol between the host and the board's control block (UART, 8N1,
//! 4 Mbaud by default). This module is the one definition of it: the hardware
//! (`portshare-hdl`'s `control.rs`) follows these layouts and is tested with this codec.
//!
//! # Framing: SLIP byte stuffing (RFC 1055)
//!
//! Every packet travels as `END, escaped body, END`:
//!
//! | byte in the body | on the wire |
//! |------------------|-------------|
//! | `0xC0` (END)     | `0xDB 0xDC` |
//! | `0xDB` (ESC)     | `0xDB 0xDD` |
//! | anything else    | itself      |
//!
//! A raw `0xC0` only ever delimits, so a receiver resynchronizes at the next `END`
//! after garbage, a lost byte or a UART framing error. Empty packets (two `END`s in a
//! row) are ignored by both sides; that is why every packet also *starts* with `END`:
//! it closes whatever noise came before. `ESC` followed by anything but `0xDC`/`0xDD`
//! is a framing error. SLIP rather than COBS because its encoder needs no look-ahead:
//! the board streams a reply (e.g. a frame coming out of the pipeline) straight to the
//! UART without buffering 254 bytes first, and table records (full of `0x00`) cost
//! nothing extra. The price is a worst case of 2× for a body made only of `0xC0`/`0xDB`.
//!
//! # Request body
//!
//! | offset | size | field |
//! |--------|------|-------|
//! | 0      | 1    | command (`CMD_*`) |
//! | 1      | 1    | sequence number, echoed in the reply |
//! | 2      | n    | payload (per command, below) |
//! | 2+n    | 2    | CRC-16/CCITT-FALSE of bytes `0..2+n`, big-endian |
//!
//! # Reply body
//!
//! | offset | size | field |
//! |--------|------|-------|
//! | 0      | 1    | status (`STATUS_*`) |
//! | 1      | 1    | command, echoed |
//! | 2      | 1    | sequence number, echoed |
//! | 3      | n    | payload (only when status is OK) |
//! | 3+n    | 2    | CRC-16/CCITT-FALSE of bytes `0..3+n`, big-endian |
//!
//! CRC-16/CCITT-FALSE: polynomial 0x1021, init 0xFFFF, not reflected, no final xor
//! (check value 0x29B1 for `"123456789"`). Appended big-endian, the CRC of a whole body
//! including its CRC is 0 — the hardware checks exactly that, one byte per clock.
//!
//! # Commands
//!
//! | code | command | request payload | reply payload (status OK) |
//! |------|---------|-----------------|---------------------------|
//! | 0x01 | INFO | — | version u8, capacity u16, max frame u16, build id u32 (9 bytes) |
//! | 0x02 | WRITE_ENTRY | index u8, record (21 bytes, `record.rs`) | — |
//! | 0x03 | READ_ENTRY | index u8 | record (21 bytes) |
//! | 0x04 | CLEAR_TABLE | — | — |
//! | 0x05 | READ_COUNTERS | — | 5 reason counters u32 (rewritten, no match, fragment, unparsed, UDP zero checksum), then capacity hit counters u32 (entry 0 first) |
//! | 0x06 | RESET_COUNTERS | — | — |
//! | 0x07 | INJECT | direction u8 (0 incoming, 1 outgoing), frame (1..=2048 bytes) | the frame as the pipeline put it out |
//! | 0x08 | READ_PORT | port u8 (0 network, 1 server) | status word u32, then 11 counters u32: rx frames, rx bytes, FCS errors, rx stomped, runts, alignment errors, dropped, false carriers, tx frames, tx bytes, tx stomped (48 bytes) |
//!
//! All multi-byte integers are big-endian. Payload lengths are exact: any other length
//! is `STATUS_BAD_LENGTH`.
//!
//! READ_PORT's status word: bit 0 link up, bit 1 100 Mb/s (else 10), bit 2 full
//! duplex, bit 3 the PHY answers on MDIO; bits 31..16 the PHY's BMSR (MDIO register 1)
//! as last polled (auto-negotiation complete in its bit 5, remote fault in bit 4).
//! A board without Ethernet ports (the Cu top, the simulated byte-level board) has
//! none: every port index is OUT_OF_RANGE there, which is how the host tells. What
//! each counter counts is in `portshare-hdl`'s `eth/port.rs` and the README; the
//! words are read one after another while traffic flows (each is exact at the clock
//! it is read, the reply is not one instant's snapshot). Board reset zeroes them;
//! RESET_COUNTERS does not (it zeroes the hit and reason counters). An injected frame is buffered and CRC-checked on the board
//! before it enters the pipeline; its reply streams out as the pipeline produces it.
//!
//! # Status codes
//!
//! | code | meaning | request executed? |
//! |------|---------|-------------------|
//! | 0x00 | OK | yes |
//! | 0x01 | BAD_CRC: the request's CRC did not check | no |
//! | 0x02 | BAD_LENGTH: body shorter than 4 bytes, or payload length wrong for the command | no |
//! | 0x03 | UNKNOWN_COMMAND | no |
//! | 0x04 | OUT_OF_RANGE: index ≥ capacity, direction > 1, or port ≥ the board's ports (all of them on a board without Ethernet) | no |
//! | 0x05 | BUSY: the packet arrived while the previous request was still being handled | no |
//! | 0x06 | BAD_FRAMING: bad escape or UART stop bit inside the packet | no |
//! | 0x07 | TIMEOUT: the pipeline did not finish a table operation (a hardware fault) | unknown |
//!
//! Checks run in the order FRAMING, LENGTH < 4, CRC, COMMAND, LENGTH, RANGE. An error
//! reply has no payload and echoes whatever command and sequence bytes arrived.
//!
//! Every non-empty packet gets exactly one reply. A packet arriving while the board
//! is busy with another request (from its start until the end of its reply, except
//! while an error or empty reply goes out) is not stored; it gets a BUSY reply once the
//! current reply is out (at most one such reply is held; the host's stop-and-wait
//! `Client` does not cause it).
//!
//! # Sizes at 4 Mbaud (10 bits per byte = 2.5 µs)
//!
//! WRITE_ENTRY: 28 wire bytes out (+1 per `0xC0`/`0xDB` in the record), 7 back: about
//! 90 µs per entry, 64 entries ≈ 5.8 ms on the wire. READ_COUNTERS with 128 entries:
//! 540 bytes, 1.35 ms. INJECT of a 1518-byte frame: ≈ 1530 bytes each way, 3.8 ms each.

use crate::transport::Transport;
use crate::{Direction, Slot, RECORD_LEN};
use std::time::Duration;

// The codes and sizes live in `portshare-spec`, shared with the hardware (one copy).
pub use portshare_spec::protocol::*;
/// Reason counters in a READ_COUNTERS reply, in this order.
pub use portshare_spec::reasons::NAMES as REASON_NAMES;
/// The Ethernet ports' layout in a READ_PORT reply.
pub use portshare_spec::ports;

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB first, no final xor).
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0xFFFF, |crc, &b| crc16_update(crc, b))
}

/// One byte of CRC-16/CCITT-FALSE, bit by bit (the hardware uses an equivalent xor network).
pub fn crc16_update(mut crc: u16, byte: u8) -> u16 {
    crc ^= (byte as u16) << 8;
    for _ in 0..8 {
        crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
    }
    crc
}

/// Appends the big-endian CRC of `body` to it.
pub fn append_crc(body: &mut Vec<u8>) {
    let c = crc16(body);
    body.extend_from_slice(&c.to_be_bytes());
}

/// `END, escaped body, END`.
pub fn slip_encode(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 32 + 2);
    out.push(SLIP_END);
    for &b in body {
        match b {
            SLIP_END => out.extend_from_slice(&[SLIP_ESC, SLIP_ESC_END]),
            SLIP_ESC => out.extend_from_slice(&[SLIP_ESC, SLIP_ESC_ESC]),
            _ => out.push(b),
        }
    }
    out.push(SLIP_END);
    out
}

/// A packet as the deframer found it: its unescaped body, or a framing error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deframed {
    Packet(Vec<u8>),
    /// An `ESC` followed by something other than `ESC_END`/`ESC_ESC`; the body so far.
    BadEscape(Vec<u8>),
}

/// Streaming SLIP deframer: feed it bytes as they come, collect whole packets.
/// Noise before a packet's leading `END` forms a packet of its own, which the
/// reply/request CRC check then rejects; the packet after it is unaffected.
#[derive(Clone, Debug, Default)]
pub struct SlipDecoder {
    body: Vec<u8>,
    escaped: bool,
    bad: bool,
}

impl SlipDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns every packet completed by them (empty packets are skipped).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Deframed> {
        let mut done = Vec::new();
        for &b in bytes {
            if b == SLIP_END {
                let body = std::mem::take(&mut self.body);
                if self.bad || self.escaped {
                    done.push(Deframed::BadEscape(body));
                } else if !body.is_empty() {
                    done.push(Deframed::Packet(body));
                }
                self.escaped = false;
                self.bad = false;
            } else if self.escaped {
                self.escaped = false;
                match b {
                    SLIP_ESC_END => self.body.push(SLIP_END),
                    SLIP_ESC_ESC => self.body.push(SLIP_ESC),
                    _ => {
                        self.bad = true;
                        self.body.push(b);
                    }
                }
            } else if b == SLIP_ESC {
                self.escaped = true;
            } else {
                self.body.push(b);
            }
        }
        done
    }

    /// True when a packet has started but not ended.
    pub fn in_packet(&self) -> bool {
        !self.body.is_empty() || self.escaped || self.bad
    }
}

/// A request, as the host builds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Info,
    WriteEntry { index: u8, record: [u8; RECORD_LEN] },
    ReadEntry { index: u8 },
    ClearTable,
    ReadCounters,
    ResetCounters,
    Inject { direction: Direction, frame: Vec<u8> },
    ReadPort { port: u8 },
}

impl Request {
    pub fn command(&self) -> u8 {
        match self {
            Request::Info => CMD_INFO,
            Request::WriteEntry { .. } => CMD_WRITE_ENTRY,
            Request::ReadEntry { .. } => CMD_READ_ENTRY,
            Request::ClearTable => CMD_CLEAR_TABLE,
            Request::ReadCounters => CMD_READ_COUNTERS,
            Request::ResetCounters => CMD_RESET_COUNTERS,
            Request::Inject { .. } => CMD_INJECT,
            Request::ReadPort { .. } => CMD_READ_PORT,
        }
    }

    pub fn payload(&self) -> Vec<u8> {
        match self {
            Request::WriteEntry { index, record } => {
                let mut p = vec![*index];
                p.extend_from_slice(record);
                p
            }
            Request::ReadEntry { index } => vec![*index],
            Request::ReadPort { port } => vec![*port],
            Request::Inject { direction, frame } => {
                let mut p = vec![direction.bit() as u8];
                p.extend_from_slice(frame);
                p
            }
            _ => Vec::new(),
        }
    }

    /// The request body with its CRC (not yet SLIP-framed).
    pub fn body(&self, seq: u8) -> Vec<u8> {
        let mut b = vec![self.command(), seq];
        b.extend_from_slice(&self.payload());
        append_crc(&mut b);
        b
    }

    /// The bytes to send: the SLIP-framed body.
    pub fn encode(&self, seq: u8) -> Vec<u8> {
        slip_encode(&self.body(seq))
    }

    /// Parses a request body as the board does (same checks, same order), for
    /// software stand-ins of the board. Returns `(command, seq, result)`.
    pub fn decode(body: &[u8]) -> (u8, u8, Result<Request, u8>) {
        let cmd = body.first().copied().unwrap_or(0);
        let seq = body.get(1).copied().unwrap_or(0);
        if body.len() < 4 {
            return (cmd, seq, Err(STATUS_BAD_LENGTH));
        }
        if crc16(body) != 0 {
            return (cmd, seq, Err(STATUS_BAD_CRC));
        }
        let p = &body[2..body.len() - 2];
        let want = |n: usize| if p.len() == n { Ok(()) } else { Err(STATUS_BAD_LENGTH) };
        let r = match cmd {
            CMD_INFO => want(0).map(|_| Request::Info),
            CMD_WRITE_ENTRY => want(1 + RECORD_LEN).map(|_| {
                let mut record = [0u8; RECORD_LEN];
                record.copy_from_slice(&p[1..]);
                Request::WriteEntry { index: p[0], record }
            }),
            CMD_READ_ENTRY => want(1).map(|_| Request::ReadEntry { index: p[0] }),
            CMD_CLEAR_TABLE => want(0).map(|_| Request::ClearTable),
            CMD_READ_COUNTERS => want(0).map(|_| Request::ReadCounters),
            CMD_RESET_COUNTERS => want(0).map(|_| Request::ResetCounters),
            // The port's range is the board's (none on the Cu top): not the codec's.
            CMD_READ_PORT => want(1).map(|_| Request::ReadPort { port: p[0] }),
            CMD_INJECT => {
                if p.len() < 2 || p.len() > 1 + MAX_FRAME_LEN {
                    Err(STATUS_BAD_LENGTH)
                } else if p[0] > 1 {
                    Err(STATUS_OUT_OF_RANGE)
                } else {
                    let direction = if p[0] == 1 { Direction::Outgoing } else { Direction::Incoming };
                    Ok(Request::Inject { direction, frame: p[1..].to_vec() })
                }
            }
            _ => Err(STATUS_UNKNOWN_COMMAND),
        };
        (cmd, seq, r)
    }

    /// How many reply payload bytes an OK reply carries, for a board of `capacity`
    /// (None for INJECT: as long as the frame).
    pub fn reply_len(&self, capacity: usize) -> Option<usize> {
        match self {
            Request::Info => Some(INFO_LEN),
            Request::ReadEntry { .. } => Some(RECORD_LEN),
            Request::ReadCounters => Some(COUNTER_LEN * (REASON_NAMES.len() + capacity)),
            Request::ReadPort { .. } => Some(PORT_REPLY_LEN),
            Request::Inject { .. } => None,
            _ => Some(0),
        }
    }
}

/// A reply body that passed its CRC check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u8,
    pub command: u8,
    pub seq: u8,
    pub payload: Vec<u8>,
}

impl Reply {
    /// The reply body with its CRC (not yet SLIP-framed).
    pub fn body(&self) -> Vec<u8> {
        let mut b = vec![self.status, self.command, self.seq];
        b.extend_from_slice(&self.payload);
        append_crc(&mut b);
        b
    }

    pub fn encode(&self) -> Vec<u8> {
        slip_encode(&self.body())
    }

    /// Checks length and CRC of a reply body.
    pub fn decode(body: &[u8]) -> Result<Reply, ReplyDefect> {
        if body.len() < 5 {
            return Err(ReplyDefect::TooShort(body.len()));
        }
        if crc16(body) != 0 {
            return Err(ReplyDefect::BadCrc);
        }
        Ok(Reply {
            status: body[0],
            command: body[1],
            seq: body[2],
            payload: body[3..body.len() - 2].to_vec(),
        })
    }
}

/// Why a received packet was not a usable reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyDefect {
    #[error("reply of {0} bytes is shorter than the 5-byte minimum")]
    TooShort(usize),
    #[error("reply CRC does not check")]
    BadCrc,
    #[error("bad SLIP escape in reply")]
    BadEscape,
}

/// A status code the board sent instead of OK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceStatus(pub u8);

impl DeviceStatus {
    /// True if the board did not act on the request, so sending it again is safe.
    pub fn request_untouched(self) -> bool {
        matches!(self.0, STATUS_BAD_CRC | STATUS_BAD_LENGTH | STATUS_UNKNOWN_COMMAND | STATUS_OUT_OF_RANGE | STATUS_BUSY | STATUS_BAD_FRAMING)
    }
    /// True for errors caused by the line (noise, overlap), worth a retry.
    pub fn transient(self) -> bool {
        matches!(self.0, STATUS_BAD_CRC | STATUS_BUSY | STATUS_BAD_FRAMING)
    }
}

impl std::fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self.0 {
            STATUS_OK => "OK",
            STATUS_BAD_CRC => "the board saw a bad CRC in the request",
            STATUS_BAD_LENGTH => "the board rejected the request's length",
            STATUS_UNKNOWN_COMMAND => "the board does not know the command",
            STATUS_OUT_OF_RANGE => "index or direction out of range for the board",
            STATUS_BUSY => "the board was busy with another request",
            STATUS_BAD_FRAMING => "the board saw a framing error (bad escape or UART stop bit)",
            STATUS_TIMEOUT => "the board's pipeline did not complete the operation (hardware fault)",
            _ => return write!(f, "unknown status 0x{:02x}", self.0),
        };
        write!(f, "{s} (status 0x{:02x})", self.0)
    }
}

/// What the board says about itself (INFO).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    pub protocol_version: u8,
    pub capacity: u16,
    pub max_frame: u16,
    pub build_id: u32,
}

impl DeviceInfo {
    pub fn from_payload(p: &[u8]) -> Option<DeviceInfo> {
        (p.len() == INFO_LEN).then(|| DeviceInfo {
            protocol_version: p[0],
            capacity: u16::from_be_bytes([p[1], p[2]]),
            max_frame: u16::from_be_bytes([p[3], p[4]]),
            build_id: u32::from_be_bytes([p[5], p[6], p[7], p[8]]),
        })
    }
    pub fn to_payload(&self) -> Vec<u8> {
        let mut p = vec![self.protocol_version];
        p.extend_from_slice(&self.capacity.to_be_bytes());
        p.extend_from_slice(&self.max_frame.to_be_bytes());
        p.extend_from_slice(&self.build_id.to_be_bytes());
        p
    }
}

/// The unit's counters: what the board keeps and READ_COUNTERS carries, and what the
/// reference model (`portshare_sim::model`) counts — one type for both, so a board's
/// counters and the model's compare field by field.
///
/// Each is 32 bits, the width the protocol carries and the hardware counts in; like the
/// hardware's they wrap at 2^32 (every increment here is `wrapping_add`), so the model
/// and a board agree even past a wrap, and a difference of two readings is
/// `after.wrapping_sub(before)`. [`Counters::frames`] sums in 64 bits.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub rewritten: u32,
    pub no_match: u32,
    pub fragment: u32,
    pub unparsed: u32,
    /// Rewritten frames whose UDP checksum was 0x0000 (a subset of `rewritten`).
    pub udp_zero_checksum: u32,
    /// Frames rewritten by each entry, entry 0 first.
    pub hits: Vec<u32>,
}

impl Counters {
    /// All zero, `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Counters { hits: vec![0; capacity], ..Default::default() }
    }

    /// One frame rewritten by `entry` (`hits` grows to hold it), `udp_zero_checksum` if
    /// its UDP checksum was 0x0000.
    pub fn count_rewritten(&mut self, entry: usize, udp_zero_checksum: bool) {
        self.rewritten = self.rewritten.wrapping_add(1);
        self.udp_zero_checksum = self.udp_zero_checksum.wrapping_add(udp_zero_checksum as u32);
        if entry >= self.hits.len() {
            self.hits.resize(entry + 1, 0);
        }
        self.hits[entry] = self.hits[entry].wrapping_add(1);
    }

    /// One frame passed unchanged for `reason` (`reasons::NO_MATCH`, `FRAGMENT` or
    /// `UNPARSED`).
    pub fn count_passed(&mut self, reason: usize) {
        use portshare_spec::reasons as r;
        let c = match reason {
            r::NO_MATCH => &mut self.no_match,
            r::FRAGMENT => &mut self.fragment,
            r::UNPARSED => &mut self.unparsed,
            _ => panic!("reason {reason} is not a pass-through reason"),
        };
        *c = c.wrapping_add(1);
    }

    /// The counter of reason `reason` (a `reasons::` index), as READ_COUNTERS orders them.
    pub fn reason(&self, reason: usize) -> Option<u32> {
        use portshare_spec::reasons as r;
        Some(match reason {
            r::REWRITTEN => self.rewritten,
            r::NO_MATCH => self.no_match,
            r::FRAGMENT => self.fragment,
            r::UNPARSED => self.unparsed,
            r::UDP_ZERO_CHECKSUM => self.udp_zero_checksum,
            _ => return None,
        })
    }

    /// Frames counted (the four outcomes partition them), in 64 bits.
    pub fn frames(&self) -> u64 {
        [self.rewritten, self.no_match, self.fragment, self.unparsed].iter().map(|&c| u64::from(c)).sum()
    }

    pub fn from_payload(p: &[u8]) -> Option<Counters> {
        if p.len() % COUNTER_LEN != 0 || p.len() < COUNTER_LEN * REASON_NAMES.len() {
            return None;
        }
        use portshare_spec::reasons as r;
        let w: Vec<u32> = p.chunks(COUNTER_LEN).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
        Some(Counters {
            rewritten: w[r::REWRITTEN],
            no_match: w[r::NO_MATCH],
            fragment: w[r::FRAGMENT],
            unparsed: w[r::UNPARSED],
            udp_zero_checksum: w[r::UDP_ZERO_CHECKSUM],
            hits: w[r::COUNT..].to_vec(),
        })
    }
    pub fn to_payload(&self) -> Vec<u8> {
        [self.rewritten, self.no_match, self.fragment, self.unparsed, self.udp_zero_checksum]
            .iter()
            .chain(self.hits.iter())
            .flat_map(|v| v.to_be_bytes())
            .collect()
    }
}

/// One Ethernet port as READ_PORT reports it: what MDIO says of its link, and its
/// counters (names and order: `portshare_spec::ports`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PortStatus {
    pub link: bool,
    /// 100 or 10 (Mb/s), as the PHY reports it.
    pub speed_mbps: u32,
    pub full_duplex: bool,
    /// The PHY answered on MDIO.
    pub phy_present: bool,
    /// The PHY's basic status register (MDIO register 1) as last polled.
    pub bmsr: u16,
    pub rx_frames: u32,
    pub rx_bytes: u32,
    pub fcs_errors: u32,
    pub rx_stomped: u32,
    pub runts: u32,
    pub align_errors: u32,
    pub dropped: u32,
    pub false_carriers: u32,
    pub tx_frames: u32,
    pub tx_bytes: u32,
    pub tx_stomped: u32,
}

impl PortStatus {
    /// The status word's flag bits the host knows; others are reserved (zero).
    const KNOWN_FLAGS: u32 = ports::FLAG_LINK | ports::FLAG_100M | ports::FLAG_FULL_DUPLEX | ports::FLAG_PHY_PRESENT;

    /// Decodes a READ_PORT payload: exactly `PORT_REPLY_LEN` bytes, reserved status bits
    /// zero.
    pub fn from_payload(p: &[u8]) -> Result<PortStatus, String> {
        if p.len() != PORT_REPLY_LEN {
            return Err(format!("{} bytes, expected {PORT_REPLY_LEN}", p.len()));
        }
        let w: Vec<u32> = p.chunks(COUNTER_LEN).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
        let s = w[ports::STATUS_WORD];
        let flags = s & ((1 << ports::BMSR_SHIFT) - 1);
        if flags & !Self::KNOWN_FLAGS != 0 {
            return Err(format!("status word 0x{s:08x} has reserved bits set"));
        }
        let c = &w[1..];
        Ok(PortStatus {
            link: s & ports::FLAG_LINK != 0,
            speed_mbps: if s & ports::FLAG_100M != 0 { 100 } else { 10 },
            full_duplex: s & ports::FLAG_FULL_DUPLEX != 0,
            phy_present: s & ports::FLAG_PHY_PRESENT != 0,
            bmsr: (s >> ports::BMSR_SHIFT) as u16,
            rx_frames: c[0],
            rx_bytes: c[1],
            fcs_errors: c[2],
            rx_stomped: c[3],
            runts: c[4],
            align_errors: c[5],
            dropped: c[6],
            false_carriers: c[7],
            tx_frames: c[8],
            tx_bytes: c[9],
            tx_stomped: c[10],
        })
    }

    /// The counters in `ports::COUNTER_NAMES`' order.
    pub fn counters(&self) -> [u32; ports::COUNTER_NAMES.len()] {
        [
            self.rx_frames,
            self.rx_bytes,
            self.fcs_errors,
            self.rx_stomped,
            self.runts,
            self.align_errors,
            self.dropped,
            self.false_carriers,
            self.tx_frames,
            self.tx_bytes,
            self.tx_stomped,
        ]
    }

    pub fn to_payload(&self) -> Vec<u8> {
        let mut s = (self.bmsr as u32) << ports::BMSR_SHIFT;
        for (on, bit) in [
            (self.link, ports::FLAG_LINK),
            (self.speed_mbps == 100, ports::FLAG_100M),
            (self.full_duplex, ports::FLAG_FULL_DUPLEX),
            (self.phy_present, ports::FLAG_PHY_PRESENT),
        ] {
            if on {
                s |= bit;
            }
        }
        std::iter::once(s).chain(self.counters()).flat_map(|v| v.to_be_bytes()).collect()
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no reply to {command} within {timeout:?} after {attempts} attempt(s) on {transport}")]
    Timeout { command: &'static str, timeout: Duration, attempts: u32, transport: String },
    #[error("{command}: {status}")]
    Device { command: &'static str, status: DeviceStatus },
    #[error("{command}: {attempts} attempt(s) failed, last because {last}")]
    GaveUp { command: &'static str, attempts: u32, last: String },
    #[error("{command}: the reply payload is malformed: {why}")]
    BadPayload { command: &'static str, why: String },
    #[error("{what} is not acceptable: {why}")]
    BadArgument { what: &'static str, why: String },
    #[error("transport {transport}: {source:#}")]
    Transport { transport: String, source: anyhow::Error },
}

pub fn command_name(cmd: u8) -> &'static str {
    match cmd {
        CMD_INFO => "INFO",
        CMD_WRITE_ENTRY => "WRITE_ENTRY",
        CMD_READ_ENTRY => "READ_ENTRY",
        CMD_CLEAR_TABLE => "CLEAR_TABLE",
        CMD_READ_COUNTERS => "READ_COUNTERS",
        CMD_RESET_COUNTERS => "RESET_COUNTERS",
        CMD_INJECT => "INJECT",
        CMD_READ_PORT => "READ_PORT",
        _ => "unknown command",
    }
}

enum Awaited {
    Reply(Reply),
    Damaged(ReplyDefect),
    TimedOut,
}

/// Counts of what a `Client` has seen, for diagnostics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub requests: u64,
    pub retries: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Packets that failed their CRC, were too short or badly escaped.
    pub bad_replies: u64,
    /// Well-formed replies to an older sequence number, dropped.
    pub stale_replies: u64,
}

/// Sends requests over a `Transport` and waits for their replies: stop-and-wait, one
/// request in flight, a fresh sequence number per attempt.
///
/// Retries (up to `retries` more attempts) on: no reply within the timeout, a reply
/// that fails its CRC, and the board's BAD_CRC / BAD_FRAMING / BUSY statuses (the board
/// did not act on those). Note that a reply lost *after* the board acted means the
/// request runs twice: harmless for table operations (they are idempotent), but an
/// injected frame is then counted twice in the counters.
pub struct Client<T: Transport> {
    transport: T,
    seq: u8,
    timeout: Duration,
    retries: u32,
    rx: SlipDecoder,
    stats: ClientStats,
    /// Bytes per second on the wire, to stretch the timeout for long replies.
    baud_bytes_per_sec: u64,
}

impl<T: Transport> Client<T> {
    /// A client with a 200 ms base timeout (plus wire time for long replies at 4 Mbaud)
    /// and 3 retries.
    pub fn new(transport: T) -> Self {
        Client {
            transport,
            seq: 0,
            timeout: Duration::from_millis(200),
            retries: 3,
            rx: SlipDecoder::new(),
            stats: ClientStats::default(),
            baud_bytes_per_sec: 400_000,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The UART rate (bits per second), used only to size timeouts of long replies.
    pub fn with_baud(mut self, baud: u64) -> Self {
        self.baud_bytes_per_sec = (baud / 10).max(1);
        self
    }

    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    pub fn into_transport(self) -> T {
        self.transport
    }

    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// Wait allowed for a reply: the base timeout plus twice the worst-case wire time
    /// of request and reply (every byte escaped).
    fn timeout_for(&self, wire_bytes: usize) -> Duration {
        let wire = Duration::from_micros(2 * 2 * wire_bytes as u64 * 1_000_000 / self.baud_bytes_per_sec);
        self.timeout + wire
    }

    /// Sends `req`, returns the payload of its OK reply.
    pub fn request(&mut self, req: &Request) -> Result<Vec<u8>, ClientError> {
        let command = command_name(req.command());
        self.stats.requests += 1;
        let payload_len = req.payload().len();
        let timeout = self.timeout_for(payload_len + 8 + req.reply_len(usize::from(u8::MAX) + 1).unwrap_or(payload_len));
        let mut last: Option<String> = None;
        let attempts = self.retries + 1;
        for attempt in 0..attempts {
            if attempt > 0 {
                self.stats.retries += 1;
            }
            self.seq = self.seq.wrapping_add(1);
            let seq = self.seq;
            let bytes = req.encode(seq);
            self.transport
                .send(&bytes)
                .map_err(|source| ClientError::Transport { transport: self.transport.describe(), source })?;
            self.stats.bytes_sent += bytes.len() as u64;
            match self.await_reply(req.command(), seq, timeout)? {
                Awaited::Reply(r) if r.status == STATUS_OK => return Ok(r.payload),
                Awaited::Reply(r) => {
                    let status = DeviceStatus(r.status);
                    if status.transient() {
                        last = Some(status.to_string());
                        continue;
                    }
                    return Err(ClientError::Device { command, status });
                }
                Awaited::Damaged(why) => last = Some(why.to_string()),
                Awaited::TimedOut => last = None,
            }
        }
        match last {
            None => Err(ClientError::Timeout { command, timeout, attempts, transport: self.transport.describe() }),
            Some(last) => Err(ClientError::GaveUp { command, attempts, last }),
        }
    }

    /// Reads until a well-formed reply with `seq` arrives, the line goes quiet after a
    /// damaged packet (our reply was probably the damaged one: resend rather than wait
    /// out the timeout), or the wait runs out.
    fn await_reply(&mut self, command: u8, seq: u8, timeout: Duration) -> Result<Awaited, ClientError> {
        let mut waited = Duration::ZERO;
        let step = Duration::from_millis(5).min(timeout);
        let mut buf = Vec::new();
        let mut damaged = None;
        while waited < timeout {
            buf.clear();
            let n = self
                .transport
                .recv(&mut buf, step)
                .map_err(|source| ClientError::Transport { transport: self.transport.describe(), source })?;
            if n == 0 {
                if let Some(why) = damaged.take() {
                    return Ok(Awaited::Damaged(why));
                }
                waited += step;
                continue;
            }
            self.stats.bytes_received += n as u64;
            for p in self.rx.push(&buf) {
                let reply = match p {
                    Deframed::Packet(body) => Reply::decode(&body),
                    Deframed::BadEscape(_) => Err(ReplyDefect::BadEscape),
                };
                match reply {
                    // The board echoes what it received: a request damaged in its first
                    // two bytes gets a reply we do not match, and is resent after the timeout.
                    Ok(r) if r.seq == seq && r.command == command => return Ok(Awaited::Reply(r)),
                    Ok(_) => self.stats.stale_replies += 1,
                    Err(why) => {
                        self.stats.bad_replies += 1;
                        damaged = Some(why);
                    }
                }
            }
        }
        Ok(damaged.map_or(Awaited::TimedOut, Awaited::Damaged))
    }

    pub fn info(&mut self) -> Result<DeviceInfo, ClientError> {
        let p = self.request(&Request::Info)?;
        DeviceInfo::from_payload(&p)
            .ok_or_else(|| ClientError::BadPayload { command: "INFO", why: format!("{} bytes, expected {INFO_LEN}", p.len()) })
    }

    pub fn write_entry(&mut self, index: u8, slot: &Slot) -> Result<(), ClientError> {
        self.expect_empty("WRITE_ENTRY", &Request::WriteEntry { index, record: slot.to_record() })
    }

    pub fn read_entry(&mut self, index: u8) -> Result<Slot, ClientError> {
        let p = self.request(&Request::ReadEntry { index })?;
        let r: [u8; RECORD_LEN] = p
            .as_slice()
            .try_into()
            .map_err(|_| ClientError::BadPayload { command: "READ_ENTRY", why: format!("{} bytes, expected {RECORD_LEN}", p.len()) })?;
        Ok(Slot::from_record(&r))
    }

    /// Loads a table: writes `slots` into entries 0.. of a board of `capacity`
    /// entries, empties the rest, then reads every entry back and compares (an empty
    /// entry compares by its valid bit alone). Entries are written in place and the
    /// tail emptied afterwards, so traffic sees the old table, then a mix slot by slot
    /// (each slot written whole), never an empty table. `progress` is called after each
    /// of the `2 * capacity` steps with the number done.
    pub fn load_table(&mut self, slots: &[Slot], capacity: usize, mut progress: impl FnMut(usize)) -> anyhow::Result<()> {
        use anyhow::Context;
        anyhow::ensure!(slots.len() <= capacity, "{} entries do not fit a board of {capacity}", slots.len());
        let mut expected = vec![Slot::default(); capacity];
        expected[..slots.len()].copy_from_slice(slots);
        for (i, slot) in expected.iter().enumerate() {
            self.write_entry(i as u8, slot).with_context(|| format!("writing slot {i}"))?;
            progress(i + 1);
        }
        for (i, want) in expected.iter().enumerate() {
            let got = self.read_entry(i as u8).with_context(|| format!("reading back slot {i}"))?;
            progress(capacity + i + 1);
            let same = if want.valid { got == *want } else { !got.valid };
            anyhow::ensure!(same, "slot {i} reads back as {got:?}, but {want:?} was written ({})", self.transport.describe());
        }
        Ok(())
    }

    pub fn clear_table(&mut self) -> Result<(), ClientError> {
        self.expect_empty("CLEAR_TABLE", &Request::ClearTable)
    }

    pub fn reset_counters(&mut self) -> Result<(), ClientError> {
        self.expect_empty("RESET_COUNTERS", &Request::ResetCounters)
    }

    /// Reads every counter; `capacity` (from `info`) is checked against the reply.
    pub fn read_counters(&mut self, capacity: usize) -> Result<Counters, ClientError> {
        let p = self.request(&Request::ReadCounters)?;
        let want = COUNTER_LEN * (REASON_NAMES.len() + capacity);
        if p.len() != want {
            return Err(ClientError::BadPayload { command: "READ_COUNTERS", why: format!("{} bytes, expected {want}", p.len()) });
        }
        Ok(Counters::from_payload(&p).expect("length checked"))
    }

    /// Runs `frame` through the board's pipeline; returns what came out. The output is
    /// checked to be as long as the input (the pipeline never adds or drops bytes).
    pub fn inject(&mut self, direction: Direction, frame: &[u8]) -> Result<Vec<u8>, ClientError> {
        if frame.is_empty() || frame.len() > MAX_FRAME_LEN {
            return Err(ClientError::BadArgument {
                what: "injected frame",
                why: format!("{} bytes; 1..={MAX_FRAME_LEN} allowed", frame.len()),
            });
        }
        let out = self.request(&Request::Inject { direction, frame: frame.to_vec() })?;
        if out.len() != frame.len() {
            return Err(ClientError::BadPayload {
                command: "INJECT",
                why: format!("pipeline returned {} bytes for a {}-byte frame", out.len(), frame.len()),
            });
        }
        Ok(out)
    }

    /// Reads port `port` (READ_PORT); `Ok(None)` when the board has no such port
    /// (OUT_OF_RANGE: a board without Ethernet has none at all).
    pub fn read_port(&mut self, port: u8) -> Result<Option<PortStatus>, ClientError> {
        match self.request(&Request::ReadPort { port }) {
            Ok(p) => PortStatus::from_payload(&p).map(Some).map_err(|why| ClientError::BadPayload { command: "READ_PORT", why }),
            Err(ClientError::Device { status: DeviceStatus(STATUS_OUT_OF_RANGE), .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every Ethernet port the board has, in port order (empty for a board without).
    pub fn read_ports(&mut self) -> Result<Vec<PortStatus>, ClientError> {
        let mut out = Vec::new();
        for port in 0..ports::PORT_COUNT as u8 {
            match self.read_port(port)? {
                Some(s) => out.push(s),
                None => break,
            }
        }
        Ok(out)
    }

    fn expect_empty(&mut self, command: &'static str, req: &Request) -> Result<(), ClientError> {
        let p = self.request(req)?;
        if !p.is_empty() {
            return Err(ClientError::BadPayload { command, why: format!("{} unexpected bytes", p.len()) });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn crc_matches_catalogue_check_value() {
        // CRC-16/CCITT-FALSE check value from the CRC catalogue (reveng).
        assert_eq!(crc16(b"123456789"), 0x29B1);
        assert_eq!(crc16(b""), 0xFFFF);
        let mut b = b"123456789".to_vec();
        append_crc(&mut b);
        assert_eq!(crc16(&b), 0, "residue with the CRC appended big-endian is 0");
    }

    #[test]
    fn slip_escapes_and_round_trips() {
        assert_eq!(slip_encode(&[1, 0xC0, 2, 0xDB, 3]), vec![0xC0, 1, 0xDB, 0xDC, 2, 0xDB, 0xDD, 3, 0xC0]);
        let mut d = SlipDecoder::new();
        let bodies: Vec<Vec<u8>> = vec![vec![0xC0; 5], vec![0xDB, 0xC0, 0], (0..=255).collect(), vec![7]];
        let mut wire = Vec::new();
        for b in &bodies {
            wire.extend(slip_encode(b));
        }
        // Byte-at-a-time feeding gives the same packets as one chunk.
        let mut got = Vec::new();
        for &b in &wire {
            got.extend(d.push(&[b]));
        }
        let want: Vec<Deframed> = bodies.iter().cloned().map(Deframed::Packet).collect();
        assert_eq!(got, want);
        assert!(!d.in_packet());
    }

    #[test]
    fn slip_reports_bad_escape_and_resynchronizes() {
        let mut d = SlipDecoder::new();
        let mut wire = vec![0x55, 0xDB, 0x01, 0x66];
        wire.extend(slip_encode(&[9, 9]));
        let got = d.push(&wire);
        assert_eq!(got, vec![Deframed::BadEscape(vec![0x55, 0x01, 0x66]), Deframed::Packet(vec![9, 9])]);
    }

    #[test]
    fn request_layouts_are_as_documented() {
        let slot = Slot::new("192.0.2.10".parse().unwrap(), true, false, 443, 8443);
        let b = Request::WriteEntry { index: 3, record: slot.to_record() }.body(0x42);
        assert_eq!(b.len(), 2 + 1 + 21 + 2);
        assert_eq!(&b[..3], &[CMD_WRITE_ENTRY, 0x42, 3]);
        assert_eq!(&b[3..24], &slot.to_record());
        assert_eq!(u16::from_be_bytes([b[24], b[25]]), crc16(&b[..24]));
        assert_eq!(Request::Info.body(7)[..2], [CMD_INFO, 7]);
        assert_eq!(Request::Info.body(7).len(), 4);
        let inj = Request::Inject { direction: Direction::Outgoing, frame: vec![1, 2, 3] }.body(9);
        assert_eq!(&inj[..6], &[CMD_INJECT, 9, 1, 1, 2, 3]);
        // 192 = 0xC0 in the address is escaped on the wire.
        let wire = Request::WriteEntry { index: 3, record: slot.to_record() }.encode(0x42);
        assert_eq!(wire.len(), 26 + 2 + 1);
    }

    #[test]
    fn request_decode_applies_checks_in_documented_order() {
        for r in [
            Request::Info,
            Request::ReadEntry { index: 9 },
            Request::ClearTable,
            Request::ReadCounters,
            Request::ResetCounters,
            Request::WriteEntry { index: 1, record: [0xC0; RECORD_LEN] },
            Request::Inject { direction: Direction::Incoming, frame: vec![0xDB; MAX_FRAME_LEN] },
            Request::ReadPort { port: 1 },
            Request::ReadPort { port: 0xC0 },
        ] {
            let (c, s, got) = Request::decode(&r.body(5));
            assert_eq!((c, s, got), (r.command(), 5, Ok(r.clone())));
        }
        assert_eq!(Request::decode(&[1, 2, 3]).2, Err(STATUS_BAD_LENGTH));
        let mut b = Request::Info.body(1);
        b[1] ^= 0x10;
        assert_eq!(Request::decode(&b).2, Err(STATUS_BAD_CRC));
        let mut b = vec![0x7F, 1];
        append_crc(&mut b);
        assert_eq!(Request::decode(&b).2, Err(STATUS_UNKNOWN_COMMAND));
        let mut b = vec![CMD_INFO, 1, 0];
        append_crc(&mut b);
        assert_eq!(Request::decode(&b).2, Err(STATUS_BAD_LENGTH));
        let mut b = vec![CMD_INJECT, 1, 2, 0x45];
        append_crc(&mut b);
        assert_eq!(Request::decode(&b).2, Err(STATUS_OUT_OF_RANGE));
        let too_long = Request::Inject { direction: Direction::Incoming, frame: vec![0; MAX_FRAME_LEN + 1] };
        assert_eq!(Request::decode(&too_long.body(1)).2, Err(STATUS_BAD_LENGTH));
        // READ_PORT takes exactly its port byte.
        assert_eq!(Request::ReadPort { port: 1 }.body(3).len(), READ_PORT_LEN);
        for p in [&[][..], &[0, 0][..]] {
            let mut b = vec![CMD_READ_PORT, 1];
            b.extend_from_slice(p);
            append_crc(&mut b);
            assert_eq!(Request::decode(&b).2, Err(STATUS_BAD_LENGTH), "payload {p:?}");
        }
    }

    fn port_status(k: u32) -> PortStatus {
        PortStatus {
            link: k % 2 == 0,
            speed_mbps: if k % 3 == 0 { 10 } else { 100 },
            full_duplex: k % 5 != 0,
            phy_present: true,
            bmsr: 0x782D ^ k as u16,
            rx_frames: k,
            rx_bytes: 0xC0C0_0000 + k,
            fcs_errors: k + 2,
            rx_stomped: k + 3,
            runts: k + 4,
            align_errors: k + 5,
            dropped: k + 6,
            false_carriers: k + 7,
            tx_frames: k + 8,
            tx_bytes: 0xFFFF_FFFF - k,
            tx_stomped: k + 10,
        }
    }

    #[test]
    fn port_status_round_trips_and_rejects_bad_payloads() {
        for k in 0..30 {
            let s = port_status(k);
            let p = s.to_payload();
            assert_eq!(p.len(), PORT_REPLY_LEN);
            assert_eq!(PortStatus::from_payload(&p), Ok(s), "k {k}");
        }
        // The documented layout: flags low, BMSR high, counters in COUNTER_NAMES order.
        let p = port_status(4).to_payload();
        assert_eq!(u32::from_be_bytes(p[..4].try_into().unwrap()), (0x782D ^ 4) << 16 | 0b1111);
        assert_eq!(u32::from_be_bytes(p[4..8].try_into().unwrap()), 4, "rx_frames first");
        assert_eq!(u32::from_be_bytes(p[44..48].try_into().unwrap()), 14, "tx_stomped last");
        let good = port_status(1).to_payload();
        for n in [0, 4, PORT_REPLY_LEN - 1, PORT_REPLY_LEN + 1, PORT_REPLY_LEN + 4] {
            let mut p = good.clone();
            p.resize(n, 0);
            let e = PortStatus::from_payload(&p).unwrap_err();
            assert!(e.contains(&format!("{n} bytes")), "{e}");
        }
        let mut p = good.clone();
        p[3] |= 0x10;
        assert!(PortStatus::from_payload(&p).unwrap_err().contains("reserved"));
    }

    #[test]
    fn counters_wrap_at_32_bits_like_the_hardware() {
        use portshare_spec::reasons as r;
        let mut c = Counters::new(1);
        c.rewritten = u32::MAX;
        c.udp_zero_checksum = u32::MAX;
        c.hits[0] = u32::MAX;
        c.no_match = u32::MAX;
        c.count_rewritten(0, true);
        c.count_rewritten(2, false);
        c.count_passed(r::NO_MATCH);
        c.count_passed(r::FRAGMENT);
        assert_eq!((c.rewritten, c.udp_zero_checksum, c.no_match, c.fragment), (1, 0, 0, 1));
        assert_eq!(c.hits, vec![0, 0, 1]);
        // A difference of two readings across the wrap is modulo 2^32.
        assert_eq!(c.rewritten.wrapping_sub(u32::MAX), 2);
        c.unparsed = u32::MAX;
        c.fragment = u32::MAX;
        assert_eq!(c.frames(), 1 + 2 * u64::from(u32::MAX));
        assert_eq!(
            (0..r::COUNT).map(|i| c.reason(i).unwrap()).collect::<Vec<_>>(),
            Counters::from_payload(&c.to_payload()).unwrap().to_payload().chunks(4).take(r::COUNT).map(|w| u32::from_be_bytes(w.try_into().unwrap())).collect::<Vec<_>>()
        );
        assert_eq!(c.reason(r::COUNT), None);
    }

    #[test]
    fn reply_and_payload_codecs_round_trip() {
        let info = DeviceInfo { protocol_version: 1, capacity: 64, max_frame: 2048, build_id: 0xDEADBEEF };
        assert_eq!(DeviceInfo::from_payload(&info.to_payload()), Some(info));
        let c = Counters { rewritten: 1, no_match: 2, fragment: 3, unparsed: 4, udp_zero_checksum: 5, hits: vec![6, 7] };
        assert_eq!(Counters::from_payload(&c.to_payload()), Some(c));
        let r = Reply { status: 0, command: CMD_READ_ENTRY, seq: 200, payload: vec![0xC0, 0xDB] };
        let mut d = SlipDecoder::new();
        let got = d.push(&r.encode());
        assert_eq!(got.len(), 1);
        let Deframed::Packet(body) = &got[0] else { panic!() };
        assert_eq!(Reply::decode(body), Ok(r));
        let mut bad = body.clone();
        bad[3] ^= 1;
        assert_eq!(Reply::decode(&bad), Err(ReplyDefect::BadCrc));
        assert_eq!(Reply::decode(&[0, 1, 2]), Err(ReplyDefect::TooShort(3)));
    }

    /// A software board that follows the documented semantics, with faults to inject
    /// on the way back. Simulated time advances only in `recv`.
    struct FakeBoard {
        rx: SlipDecoder,
        out: VecDeque<u8>,
        table: Vec<[u8; RECORD_LEN]>,
        /// Per reply: what to do to it (in order; then clean).
        faults: VecDeque<Fault>,
        executed: usize,
        /// The Ethernet ports it has (none by default, like the Cu top).
        ports: Vec<PortStatus>,
    }

    #[derive(Clone, Copy, Debug)]
    enum Fault {
        Drop,
        FlipPayloadBit,
        Status(u8),
        StaleFirst,
        GarbageFirst,
        /// OK, but the write is not stored.
        IgnoreWrite,
    }

    impl FakeBoard {
        fn new(faults: Vec<Fault>) -> Self {
            FakeBoard { rx: SlipDecoder::new(), out: VecDeque::new(), table: vec![[0; RECORD_LEN]; 8], faults: faults.into(), executed: 0, ports: vec![] }
        }
    }

    impl Transport for FakeBoard {
        fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
            for p in self.rx.push(bytes) {
                let Deframed::Packet(body) = p else { continue };
                let fault = self.faults.pop_front();
                let (cmd, seq, req) = Request::decode(&body);
                let mut reply = Reply { status: STATUS_OK, command: cmd, seq, payload: vec![] };
                if let Some(Fault::Status(s)) = fault {
                    reply.status = s;
                } else {
                    match req {
                        Err(s) => reply.status = s,
                        Ok(Request::WriteEntry { index, record }) => {
                            self.executed += 1;
                            if !matches!(fault, Some(Fault::IgnoreWrite)) {
                                self.table[index as usize] = record
                            }
                        }
                        Ok(Request::ReadEntry { index }) => {
                            self.executed += 1;
                            reply.payload = self.table[index as usize].to_vec()
                        }
                        Ok(Request::Inject { frame, .. }) => {
                            self.executed += 1;
                            reply.payload = frame
                        }
                        Ok(Request::ReadPort { port }) => match self.ports.get(port as usize) {
                            Some(s) => reply.payload = s.to_payload(),
                            None => reply.status = STATUS_OUT_OF_RANGE,
                        },
                        Ok(_) => self.executed += 1,
                    }
                }
                let mut wire = reply.encode();
                match fault {
                    Some(Fault::Drop) => continue,
                    Some(Fault::FlipPayloadBit) => wire[3] ^= 0x04,
                    Some(Fault::StaleFirst) => {
                        let stale = Reply { status: 0, command: cmd, seq: seq.wrapping_sub(1), payload: vec![] };
                        self.out.extend(stale.encode());
                    }
                    Some(Fault::GarbageFirst) => self.out.extend([0x13, 0x37, 0xDB]),
                    _ => {}
                }
                self.out.extend(wire);
            }
            Ok(())
        }
        fn recv(&mut self, buf: &mut Vec<u8>, _timeout: Duration) -> anyhow::Result<usize> {
            // Deliver in small pieces, as USB would.
            let n = self.out.len().min(7);
            buf.extend(self.out.drain(..n));
            Ok(n)
        }
        fn describe(&self) -> String {
            "fake board".into()
        }
    }

    fn slot(i: u8) -> Slot {
        Slot::new(std::net::IpAddr::from([192, 0, 2, i]), true, true, 443, 8000 + i as u16)
    }

    #[test]
    fn client_round_trips_through_a_clean_board() {
        let mut c = Client::new(FakeBoard::new(vec![]));
        c.write_entry(2, &slot(2)).unwrap();
        assert_eq!(c.read_entry(2).unwrap(), slot(2));
        let f: Vec<u8> = (0..=255).collect();
        assert_eq!(c.inject(Direction::Incoming, &f).unwrap(), f);
        assert_eq!(c.stats().retries, 0);
    }

    #[test]
    fn client_reads_every_port_or_none_on_a_board_without_ethernet() {
        let mut board = FakeBoard::new(vec![]);
        board.ports = vec![port_status(7), port_status(8)];
        let mut c = Client::new(board);
        assert_eq!(c.read_ports().unwrap(), vec![port_status(7), port_status(8)]);
        assert_eq!(c.read_port(2).unwrap(), None);
        // No ports: an empty list, not an error.
        let mut c = Client::new(FakeBoard::new(vec![]));
        assert_eq!(c.read_ports().unwrap(), vec![]);
        // A reply of the wrong length is an error naming the command.
        let mut c = Client::new(FakeBoard::new(vec![Fault::Status(STATUS_OK)]));
        let e = c.read_port(0).unwrap_err();
        assert!(matches!(e, ClientError::BadPayload { command: "READ_PORT", .. }), "{e}");
    }

    #[test]
    fn client_retries_lost_and_damaged_replies_and_transient_statuses() {
        let faults = vec![Fault::Drop, Fault::FlipPayloadBit, Fault::Status(STATUS_BUSY), Fault::Status(STATUS_BAD_CRC)];
        let mut c = Client::new(FakeBoard::new(faults.clone())).with_timeout(Duration::from_millis(20)).with_retries(4);
        assert_eq!(c.read_entry(0).unwrap(), Slot::default());
        assert_eq!(c.stats().retries, 4);
        assert_eq!(c.stats().bad_replies, 1);
        assert_eq!(c.transport().executed, 3, "executed on the dropped and the damaged attempt, and the last");
        // With one retry fewer the same faults exhaust the attempts, naming the last cause.
        let mut c = Client::new(FakeBoard::new(faults)).with_timeout(Duration::from_millis(20)).with_retries(3);
        let e = c.read_entry(0).unwrap_err();
        assert!(matches!(e, ClientError::GaveUp { attempts: 4, .. }), "{e}");
        assert!(e.to_string().contains("bad CRC in the request"), "{e}");
    }

    #[test]
    fn client_skips_stale_replies_and_garbage() {
        let mut c = Client::new(FakeBoard::new(vec![Fault::StaleFirst, Fault::GarbageFirst]));
        c.write_entry(1, &slot(1)).unwrap();
        assert_eq!(c.stats().stale_replies, 1);
        // The garbage before the reply's leading END forms a bad packet, which the
        // client counts and skips: the reply behind it still gets through.
        assert_eq!(c.read_entry(1).unwrap(), slot(1));
        assert_eq!(c.stats().bad_replies, 1);
        assert_eq!(c.stats().retries, 0);
    }

    #[test]
    fn client_reports_timeouts_and_device_errors_clearly() {
        let faults = vec![Fault::Drop; 4];
        let mut c = Client::new(FakeBoard::new(faults)).with_timeout(Duration::from_millis(10));
        let e = c.clear_table().unwrap_err();
        assert!(matches!(e, ClientError::Timeout { attempts: 4, .. }), "{e}");
        assert!(e.to_string().contains("CLEAR_TABLE"), "{e}");
        let mut c = Client::new(FakeBoard::new(vec![Fault::Status(STATUS_OUT_OF_RANGE)]));
        let e = c.read_entry(0).unwrap_err();
        assert!(matches!(e, ClientError::Device { status: DeviceStatus(STATUS_OUT_OF_RANGE), .. }), "{e}");
        assert_eq!(c.stats().retries, 0, "a permanent error is not retried");
        let e = c.inject(Direction::Incoming, &[]).unwrap_err();
        assert!(matches!(e, ClientError::BadArgument { .. }));
    }

    #[test]
    fn load_table_writes_clears_the_tail_and_reads_back() {
        let mut board = FakeBoard::new(vec![]);
        board.table = vec![slot(9).to_record(); 8];
        let mut c = Client::new(board);
        let mut steps = vec![];
        c.load_table(&[slot(0), slot(1), slot(2)], 8, |n| steps.push(n)).unwrap();
        assert_eq!(steps, (1..=16).collect::<Vec<_>>());
        let t = &c.transport().table;
        assert_eq!(t[..3], [slot(0).to_record(), slot(1).to_record(), slot(2).to_record()]);
        assert!(t[3..].iter().all(|r| Slot::from_record(r) == Slot::default()), "the tail emptied");
        assert_eq!(c.stats().requests, 16);
        let e = c.load_table(&vec![slot(0); 9], 8, |_| {}).unwrap_err();
        assert!(e.to_string().contains("9 entries do not fit a board of 8"), "{e}");
    }

    #[test]
    fn load_table_names_the_slot_that_does_not_read_back() {
        // The first write is acknowledged but not stored.
        let mut c = Client::new(FakeBoard::new(vec![Fault::IgnoreWrite]));
        let e = c.load_table(&[slot(0), slot(1)], 8, |_| {}).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("slot 0 reads back as") && msg.ends_with("was written (fake board)"), "{msg}");
        let mut c = Client::new(FakeBoard::new(vec![Fault::Status(STATUS_OUT_OF_RANGE)]));
        let e = c.load_table(&[slot(0)], 8, |_| {}).unwrap_err();
        assert!(format!("{e:#}").starts_with("writing slot 0: "), "{e:#}");
    }
}
