//! The reference model: docs/semantics.md §1–3 in plain Rust, byte offsets and all. It is the
//! oracle the RTL is tested against byte for byte and the engine behind
//! `portshare sim --engine model`, so it follows the written rules literally (the order
//! of the checks decides Fragment versus Unparsed) rather than any packet library.

use portshare_host::{Direction, Slot};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// EtherTypes of the VLAN tags the parser skips (802.1Q, 802.1ad, the old QinQ value).
pub const VLAN_ETHERTYPES: [u16; 3] = [0x8100, 0x88A8, 0x9100];
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// At most this many VLAN tags are skipped; a third tag reads as an unknown EtherType.
pub const MAX_VLAN_TAGS: usize = 2;
/// At most this many IPv6 extension headers are followed.
pub const MAX_IPV6_EXTENSION_HEADERS: usize = 4;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
/// IPv6 extension headers with the generic (next, length in 8-byte units − 1) layout:
/// hop-by-hop, routing, destination options.
const IPV6_GENERIC_EXTENSIONS: [u8; 3] = [0, 43, 60];
const IPV6_FRAGMENT: u8 = 44;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4Protocol {
    Tcp,
    Udp,
}

impl L4Protocol {
    /// Bytes of the fixed L4 header that must be present: the ports and the checksum.
    pub fn header_len(self) -> usize {
        match self {
            L4Protocol::Tcp => 20,
            L4Protocol::Udp => 8,
        }
    }
    /// Offset of the checksum inside the L4 header.
    pub fn checksum_offset(self) -> usize {
        match self {
            L4Protocol::Tcp => 16,
            L4Protocol::Udp => 6,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            L4Protocol::Tcp => "tcp",
            L4Protocol::Udp => "udp",
        }
    }
}

/// Why a frame is not followed (the outcome is `Unparsed` for all of them; the reason
/// exists so tests can check that the right rule fired).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unparsed {
    /// The frame ends before a byte the parser needs (`needed` = that byte's offset).
    Truncated { needed: usize },
    UnknownEtherType(u16),
    WrongIpVersion(u8),
    /// IPv4 IHL below 5.
    IhlTooSmall(u8),
    /// IPv4 total length shorter than the header (4·IHL).
    TotalLengthTooShort(u16),
    /// Not TCP or UDP (IPv4 protocol / IPv6 next header after the chain).
    NotTcpOrUdp(u8),
    /// More IPv6 extension headers than the parser follows.
    ExtensionChainTooLong,
    /// The L4 header reaches past the IP datagram (total / payload length).
    L4BeyondDatagram,
    /// The L4 header reaches past the end of the frame.
    L4BeyondFrame,
}

/// What the parser found in a frame it could follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers {
    /// VLAN tags skipped (0–2).
    pub vlan_tags: usize,
    /// Offset of the IP header.
    pub ip_offset: usize,
    /// Offset of the L4 (TCP/UDP) header.
    pub l4_offset: usize,
    pub protocol: L4Protocol,
    pub source: IpAddr,
    pub destination: IpAddr,
    pub source_port: u16,
    pub destination_port: u16,
    /// Absolute offset of the L4 checksum in the frame.
    pub checksum_offset: usize,
    pub checksum: u16,
    /// IPv6 extension headers followed (0 for IPv4).
    pub extension_headers: usize,
}

impl Headers {
    pub fn is_ipv4(&self) -> bool {
        self.source.is_ipv4()
    }
    /// Offset of the destination port (incoming rewrites it).
    pub fn destination_port_offset(&self) -> usize {
        self.l4_offset + 2
    }
    /// Offset of the source port (outgoing rewrites it).
    pub fn source_port_offset(&self) -> usize {
        self.l4_offset
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parse {
    Parsed(Headers),
    /// A later fragment (offset ≠ 0): no L4 header, never rewritten.
    Fragment,
    Unparsed(Unparsed),
}

/// Bounds-checked big-endian reads: every read says which byte it needs.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&self, k: usize) -> Result<u8, Unparsed> {
        self.0.get(k).copied().ok_or(Unparsed::Truncated { needed: k })
    }
    fn u16(&self, k: usize) -> Result<u16, Unparsed> {
        Ok(u16::from_be_bytes([self.u8(k)?, self.u8(k + 1)?]))
    }
    fn need(&self, k: usize) -> Result<(), Unparsed> {
        self.u8(k).map(|_| ())
    }
    fn array<const N: usize>(&self, k: usize) -> Result<[u8; N], Unparsed> {
        self.need(k + N - 1)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&self.0[k..k + N]);
        Ok(a)
    }
}

/// Parses the headers of an Ethernet II frame following docs/semantics.md §3, in the order the
/// rules are written (the order decides whether a truncated later fragment is a
/// Fragment or Unparsed). Parsing does not depend on the direction; only the lookup does.
pub fn parse(frame: &[u8]) -> Parse {
    match parse_inner(frame) {
        Ok(Some(h)) => Parse::Parsed(h),
        Ok(None) => Parse::Fragment,
        Err(u) => Parse::Unparsed(u),
    }
}

/// `Ok(None)` is a fragment.
fn parse_inner(frame: &[u8]) -> Result<Option<Headers>, Unparsed> {
    let b = Bytes(frame);
    let mut ethertype_at = 12;
    let mut ethertype = b.u16(ethertype_at)?;
    let mut vlan_tags = 0;
    while vlan_tags < MAX_VLAN_TAGS && VLAN_ETHERTYPES.contains(&ethertype) {
        ethertype_at += 4;
        ethertype = b.u16(ethertype_at)?;
        vlan_tags += 1;
    }
    let ip = ethertype_at + 2;

    let (protocol_number, source, destination, l4, datagram_end, extension_headers) = match ethertype {
        ETHERTYPE_IPV4 => {
            let version_ihl = b.u8(ip)?;
            if version_ihl >> 4 != 4 {
                return Err(Unparsed::WrongIpVersion(version_ihl >> 4));
            }
            let ihl = version_ihl & 0x0F;
            if ihl < 5 {
                return Err(Unparsed::IhlTooSmall(ihl));
            }
            let header_len = 4 * ihl as usize;
            let total_length = b.u16(ip + 2)?;
            if (total_length as usize) < header_len {
                return Err(Unparsed::TotalLengthTooShort(total_length));
            }
            if b.u16(ip + 6)? & 0x1FFF != 0 {
                return Ok(None);
            }
            let protocol = b.u8(ip + 9)?;
            let source = Ipv4Addr::from(b.array::<4>(ip + 12)?);
            let destination = Ipv4Addr::from(b.array::<4>(ip + 16)?);
            (
                protocol,
                IpAddr::V4(source),
                IpAddr::V4(destination),
                ip + header_len,
                ip + total_length as usize,
                0,
            )
        }
        ETHERTYPE_IPV6 => {
            let version = b.u8(ip)? >> 4;
            if version != 6 {
                return Err(Unparsed::WrongIpVersion(version));
            }
            let payload_length = b.u16(ip + 4)?;
            let mut next = b.u8(ip + 6)?;
            let source = Ipv6Addr::from(b.array::<16>(ip + 8)?);
            let destination = Ipv6Addr::from(b.array::<16>(ip + 24)?);
            let mut off = ip + 40;
            let mut headers = 0;
            // One chain, any order of the four kinds, each counting toward the limit.
            loop {
                let generic = IPV6_GENERIC_EXTENSIONS.contains(&next);
                if !generic && next != IPV6_FRAGMENT {
                    break;
                }
                if headers == MAX_IPV6_EXTENSION_HEADERS {
                    return Err(Unparsed::ExtensionChainTooLong);
                }
                if generic {
                    let length = b.u8(off + 1)?;
                    next = b.u8(off)?;
                    off += (length as usize + 1) * 8;
                } else {
                    next = b.u8(off)?;
                    if b.u16(off + 2)? >> 3 != 0 {
                        return Ok(None);
                    }
                    off += 8;
                }
                headers += 1;
            }
            (
                next,
                IpAddr::V6(source),
                IpAddr::V6(destination),
                off,
                ip + 40 + payload_length as usize,
                headers,
            )
        }
        other => return Err(Unparsed::UnknownEtherType(other)),
    };

    let protocol = match protocol_number {
        IPPROTO_TCP => L4Protocol::Tcp,
        IPPROTO_UDP => L4Protocol::Udp,
        other => return Err(Unparsed::NotTcpOrUdp(other)),
    };
    let l4_end = l4 + protocol.header_len();
    if l4_end > datagram_end {
        return Err(Unparsed::L4BeyondDatagram);
    }
    if l4_end > frame.len() {
        return Err(Unparsed::L4BeyondFrame);
    }
    let checksum_offset = l4 + protocol.checksum_offset();
    Ok(Some(Headers {
        vlan_tags,
        ip_offset: ip,
        l4_offset: l4,
        protocol,
        source,
        destination,
        source_port: b.u16(l4)?,
        destination_port: b.u16(l4 + 2)?,
        checksum_offset,
        checksum: b.u16(checksum_offset)?,
        extension_headers,
    }))
}

/// Does `slot` hold `address`? IPv4 compares only the low 4 bytes of the stored
/// `::ffff:a.b.c.d`, exactly like the hardware.
fn slot_holds(slot: &Slot, address: &IpAddr) -> bool {
    match address {
        IpAddr::V4(a) => slot.ipv4 && slot.address[12..16] == a.octets(),
        IpAddr::V6(a) => !slot.ipv4 && slot.address == a.octets(),
    }
}

/// The lowest-index slot that matches the parsed frame in `direction`.
pub fn lookup(h: &Headers, direction: Direction, slots: &[Slot]) -> Option<usize> {
    slots.iter().position(|s| {
        let protocol_allowed = match h.protocol {
            L4Protocol::Tcp => s.tcp,
            L4Protocol::Udp => s.udp,
        };
        s.valid
            && protocol_allowed
            && match direction {
                Direction::Incoming => slot_holds(s, &h.destination) && h.destination_port == s.shared_port,
                Direction::Outgoing => slot_holds(s, &h.source) && h.source_port == s.assigned_port,
            }
    })
}

/// RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`, one's-complement 16-bit sums with every
/// carry folded back in.
pub fn incremental_checksum(hc: u16, old: u16, new: u16) -> u16 {
    let mut sum = (!hc) as u32 + (!old) as u32 + new as u32;
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Slot `entry` matched and the port was rewritten; `udp_zero_checksum` says the
    /// frame was UDP with checksum 0x0000, which was left at 0x0000.
    Rewritten { entry: usize, udp_zero_checksum: bool },
    /// Parsed, but no slot matched.
    NoMatch,
    /// A later fragment (offset ≠ 0).
    Fragment,
    /// The parser could not follow the frame.
    Unparsed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Processed {
    pub frame: Vec<u8>,
    pub outcome: Outcome,
}

/// One frame through the unit: parse, look up, rewrite the port and adjust the checksum.
/// Every frame comes out with the same length; only a rewritten frame's port and L4
/// checksum bytes differ.
pub fn process_frame(frame: &[u8], direction: Direction, slots: &[Slot]) -> Processed {
    let mut out = frame.to_vec();
    let h = match parse(frame) {
        Parse::Parsed(h) => h,
        Parse::Fragment => return Processed { frame: out, outcome: Outcome::Fragment },
        Parse::Unparsed(_) => return Processed { frame: out, outcome: Outcome::Unparsed },
    };
    let Some(entry) = lookup(&h, direction, slots) else {
        return Processed { frame: out, outcome: Outcome::NoMatch };
    };
    let slot = &slots[entry];
    let (port_at, old, new) = match direction {
        Direction::Incoming => (h.destination_port_offset(), h.destination_port, slot.assigned_port),
        Direction::Outgoing => (h.source_port_offset(), h.source_port, slot.shared_port),
    };
    out[port_at..port_at + 2].copy_from_slice(&new.to_be_bytes());
    let udp_zero_checksum = h.protocol == L4Protocol::Udp && h.checksum == 0;
    if !udp_zero_checksum {
        let mut checksum = incremental_checksum(h.checksum, old, new);
        // 0x0000 means "no checksum" in UDP; its one's-complement twin is sent instead.
        if checksum == 0 && h.protocol == L4Protocol::Udp {
            checksum = 0xFFFF;
        }
        out[h.checksum_offset..h.checksum_offset + 2].copy_from_slice(&checksum.to_be_bytes());
    }
    Processed { frame: out, outcome: Outcome::Rewritten { entry, udp_zero_checksum } }
}

/// What the unit counts: the protocol's type, the one the board's READ_COUNTERS reply
/// decodes into, so the model's tally and a board's compare directly (32 bits each,
/// wrapping at 2^32 as the hardware's do).
pub use portshare_host::protocol::Counters;

/// Counting an outcome (a trait because [`Counters`] lives in the host crate, which does
/// not know [`Outcome`]).
pub trait CountOutcome {
    fn count(&mut self, o: &Outcome);
}

impl CountOutcome for Counters {
    fn count(&mut self, o: &Outcome) {
        use portshare_spec::reasons as r;
        match *o {
            Outcome::Rewritten { entry, udp_zero_checksum } => self.count_rewritten(entry, udp_zero_checksum),
            Outcome::NoMatch => self.count_passed(r::NO_MATCH),
            Outcome::Fragment => self.count_passed(r::FRAGMENT),
            Outcome::Unparsed => self.count_passed(r::UNPARSED),
        }
    }
}

/// Runs a whole capture through the model.
pub fn process_all(
    frames: &[Vec<u8>],
    direction: Direction,
    slots: &[Slot],
    capacity: usize,
) -> (Vec<Processed>, Counters) {
    let mut counters = Counters::new(capacity);
    let out = frames
        .iter()
        .map(|f| {
            let p = process_frame(f, direction, slots);
            counters.count(&p.outcome);
            p
        })
        .collect();
    (out, counters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_checksum_matches_rfc1624_examples() {
        // RFC 1624 §4: HC = 0xDD2F, m = 0x5555 → m' = 0x3285 gives HC' = 0x0000.
        assert_eq!(incremental_checksum(0xDD2F, 0x5555, 0x3285), 0x0000);
        // Unchanged field → unchanged checksum (except the one's-complement zero pair).
        assert_eq!(incremental_checksum(0x1234, 0x0050, 0x0050), 0x1234);
        // A sum of 0x1FFFF needs a second fold: 0xFFFE + 0xFFFF + 0x0002.
        assert_eq!(incremental_checksum(0x0001, 0x0000, 0x0002), 0xFFFE);
    }

    #[test]
    fn incremental_checksum_equals_full_recomputation() {
        // Sum over a few words, change one, compare with a full recomputation.
        fn full(words: &[u16]) -> u16 {
            let mut s: u32 = words.iter().map(|&w| w as u32).sum();
            while s > 0xFFFF {
                s = (s & 0xFFFF) + (s >> 16);
            }
            !(s as u16)
        }
        let mut x: u32 = 12345;
        for _ in 0..20000 {
            let mut w = [0u16; 6];
            for v in w.iter_mut() {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                *v = (x >> 8) as u16;
            }
            let hc = full(&w);
            let new = (x >> 3) as u16;
            let old = w[2];
            w[2] = new;
            let want = full(&w);
            let got = incremental_checksum(hc, old, new);
            // 0x0000 and 0xFFFF are the same one's-complement number.
            assert!(got == want || (got == 0xFFFF && want == 0) || (got == 0 && want == 0xFFFF), "{got:04x} {want:04x}");
        }
    }

    #[test]
    fn counters_partition_and_grow() {
        let mut c = Counters::new(2);
        c.count(&Outcome::Rewritten { entry: 1, udp_zero_checksum: true });
        c.count(&Outcome::Rewritten { entry: 3, udp_zero_checksum: false });
        c.count(&Outcome::NoMatch);
        c.count(&Outcome::Fragment);
        c.count(&Outcome::Unparsed);
        assert_eq!(c.hits, vec![0, 1, 0, 1]);
        assert_eq!((c.rewritten, c.udp_zero_checksum, c.frames()), (2, 1, 5));
    }
}
