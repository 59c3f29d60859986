//! Frames a kernel hands over unfinished because offloads were left on.
//!
//! * `TP_STATUS_CSUMNOTREADY` (`CHECKSUM_PARTIAL`): the L4 checksum field holds only the
//!   pseudo-header sum. [`complete_checksum`] computes the full TCP/UDP checksum (with
//!   etherparse, over the pseudo-header and the whole segment) before the frame enters
//!   the unit, so the unit's incremental update starts from a right value. What it cannot
//!   finish (not TCP/UDP, a fragment) is refused.
//! * GSO superframes, longer than the MTU (GRO on the interface read coalesced a burst,
//!   or the sender's TSO/GSO): sent whole through a packet socket, the kernel cuts them
//!   into MTU-sized frames on the way out and finishes each one's checksum from the
//!   pseudo-header sum in the field. So a superframe's checksum is completed before the
//!   unit like any other, and after the unit [`defer_checksum`] checks the unit's result
//!   by a full recomputation and puts the pseudo-header sum back for the kernel. Where a
//!   superframe cannot be sent whole (a TAP, a unit that takes only wire-sized frames) it
//!   is refused.
//!
//! Unfinished checksums mean the sending side has checksum offload on (the fix is
//! `ethtool -K IF tx off` there); superframes that cannot pass, GRO on the interface read
//! (`ethtool -K IF gro off`) or TSO on the sender.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

/// Why a frame with an unfinished checksum could not be finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unfinishable {
    NotTcpUdp,
    Fragment,
    Malformed,
    /// After the unit, the checksum field did not hold the frame's checksum.
    Wrong,
}

impl Unfinishable {
    pub fn why(self) -> &'static str {
        match self {
            Unfinishable::NotTcpUdp => "not TCP or UDP",
            Unfinishable::Fragment => "an IP fragment (the checksum covers the whole datagram)",
            Unfinishable::Malformed => "headers that do not parse",
            Unfinishable::Wrong => "the unit's checksum did not verify",
        }
    }
}

/// Fills in the L4 checksum of a `CHECKSUM_PARTIAL` frame in place; returns what the
/// field held (the pseudo-header sum), for [`defer_checksum`].
pub fn complete_checksum(frame: &mut [u8]) -> Result<u16, Unfinishable> {
    let (at, sum) = l4_checksum(frame)?;
    let partial = u16::from_be_bytes([frame[at], frame[at + 1]]);
    frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(partial)
}

/// For a superframe the kernel is to cut up: checks that the L4 checksum field holds the
/// frame's checksum (recomputed in full, independent of the unit's incremental update;
/// 0x0000 and 0xFFFF are the same sum), then puts `partial` (from [`complete_checksum`]:
/// the pseudo-header sum, which a port rewrite leaves alone) back in the field, where the
/// kernel's segmentation starts from it.
pub fn defer_checksum(frame: &mut [u8], partial: u16) -> Result<(), Unfinishable> {
    let (at, sum) = l4_checksum(frame)?;
    let have = u16::from_be_bytes([frame[at], frame[at + 1]]);
    let canonical = |v: u16| if v == 0xFFFF { 0 } else { v };
    if canonical(have) != canonical(sum) {
        return Err(Unfinishable::Wrong);
    }
    frame[at..at + 2].copy_from_slice(&partial.to_be_bytes());
    Ok(())
}

/// Where a TCP/UDP frame's checksum field is, and the checksum its bytes call for.
fn l4_checksum(frame: &[u8]) -> Result<(usize, u16), Unfinishable> {
    let p = SlicedPacket::from_ethernet(frame).map_err(|_| Unfinishable::Malformed)?;
    let (src, dst): (Vec<u8>, Vec<u8>) = match &p.net {
        Some(NetSlice::Ipv4(ip)) => {
            if ip.is_payload_fragmented() {
                return Err(Unfinishable::Fragment);
            }
            (ip.header().source().to_vec(), ip.header().destination().to_vec())
        }
        Some(NetSlice::Ipv6(ip)) => {
            if ip.is_payload_fragmented() {
                return Err(Unfinishable::Fragment);
            }
            (ip.header().source().to_vec(), ip.header().destination().to_vec())
        }
        None => return Err(Unfinishable::NotTcpUdp),
    };
    let v4 = src.len() == 4;
    let (l4, field, sum) = match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            let sum = if v4 {
                t.calc_checksum_ipv4(src[..].try_into().unwrap(), dst[..].try_into().unwrap())
            } else {
                t.calc_checksum_ipv6(src[..].try_into().unwrap(), dst[..].try_into().unwrap())
            };
            (t.slice().as_ptr(), 16, sum)
        }
        Some(TransportSlice::Udp(u)) => {
            let h = u.to_header();
            let sum = if v4 {
                h.calc_checksum_ipv4_raw(src[..].try_into().unwrap(), dst[..].try_into().unwrap(), u.payload())
            } else {
                h.calc_checksum_ipv6_raw(src[..].try_into().unwrap(), dst[..].try_into().unwrap(), u.payload())
            };
            (u.slice().as_ptr(), 6, sum)
        }
        _ => return Err(Unfinishable::NotTcpUdp),
    };
    let sum = sum.map_err(|_| Unfinishable::Malformed)?;
    Ok((l4 as usize - frame.as_ptr() as usize + field, sum))
}

/// The fix to name when frames read from `interface` came unfinished: the offloads are
/// on where they are sent from (for a veth, the peer of `interface`), not on it.
pub fn fix_for(interface: &str) -> String {
    format!(
        "turn transmit offloads off on the interface that sends them (for a veth, the peer of {interface}): \
         `ethtool -K IF tx off` (Debian package `ethtool`)"
    )
}

/// The fix to name when superframes read from `interface` cannot pass: they are GRO's
/// (on `interface` itself) or the sender's TSO/GSO.
pub fn superframe_fix_for(interface: &str) -> String {
    format!(
        "turn receive offload off on {interface} (`ethtool -K {interface} gro off`) and transmit offloads off on the \
         interface that sends to it (for a veth, its peer: `ethtool -K IF tx off`; Debian package `ethtool`)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    /// A frame as a sender with checksum offload leaves it: the L4 checksum field holds
    /// the pseudo-header sum only.
    fn partial(mut frame: Vec<u8>, l4: usize, field: usize) -> Vec<u8> {
        frame[l4 + field..l4 + field + 2].copy_from_slice(&[0x12, 0x34]);
        frame
    }

    fn build(v6: bool, udp: bool, payload: &[u8]) -> (Vec<u8>, usize) {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let (b, l4) = if v6 {
            let mut s = [0u8; 16];
            s[..2].copy_from_slice(&[0x20, 0x01]);
            let mut d = s;
            d[15] = 7;
            (b.ipv6(s, d, 64), 14 + 40)
        } else {
            (b.ipv4([192, 0, 2, 1], [192, 0, 2, 10], 64), 14 + 20)
        };
        let mut out = Vec::new();
        if udp {
            let b = b.udp(40000, 53);
            out.reserve(b.size(payload.len()));
            b.write(&mut out, payload).unwrap();
        } else {
            let b = b.tcp(40000, 443, 7, 1000);
            out.reserve(b.size(payload.len()));
            b.write(&mut out, payload).unwrap();
        }
        (out, l4)
    }

    #[test]
    fn unfinished_checksums_are_completed_like_a_sender_would() {
        for v6 in [false, true] {
            for udp in [false, true] {
                for len in [0usize, 1, 17, 1000] {
                    let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                    let (good, l4) = build(v6, udp, &payload);
                    let field = if udp { 6 } else { 16 };
                    let mut f = partial(good.clone(), l4, field);
                    assert_ne!(f, good);
                    complete_checksum(&mut f).unwrap();
                    // etherparse's builder computed the checksum over the same bytes.
                    assert_eq!(f, good, "v6 {v6} udp {udp} len {len}");
                }
            }
        }
    }

    #[test]
    fn a_superframe_checksum_is_checked_then_deferred_to_the_kernel() {
        for v6 in [false, true] {
            for udp in [false, true] {
                let (good, l4) = build(v6, udp, &[9u8; 3000]);
                let field = l4 + if udp { 6 } else { 16 };
                // A port rewritten with the unit's incremental update verifies.
                let mut f = good.clone();
                let old = u16::from_be_bytes([f[l4], f[l4 + 1]]);
                let check = u16::from_be_bytes([f[field], f[field + 1]]);
                f[l4..l4 + 2].copy_from_slice(&8443u16.to_be_bytes());
                let new = portshare_sim::model::incremental_checksum(check, old, 8443);
                f[field..field + 2].copy_from_slice(&new.to_be_bytes());
                defer_checksum(&mut f, 0x1234).unwrap();
                assert_eq!(f[field..field + 2], [0x12, 0x34], "v6 {v6} udp {udp}: the pseudo-header sum is back");
                // A port rewritten without the checksum is caught and left alone.
                let mut f = good.clone();
                f[l4..l4 + 2].copy_from_slice(&8443u16.to_be_bytes());
                let before = f.clone();
                assert_eq!(defer_checksum(&mut f, 0x1234), Err(Unfinishable::Wrong), "v6 {v6} udp {udp}");
                assert_eq!(f, before);
            }
        }
    }

    #[test]
    fn what_cannot_be_finished_is_refused() {
        let mut arp = vec![0xffu8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        assert_eq!(complete_checksum(&mut arp), Err(Unfinishable::NotTcpUdp));
        // An IPv4 first fragment: the checksum covers bytes this frame does not carry.
        let (mut f, _) = build(false, true, &[1, 2, 3]);
        f[14 + 6] |= 0x20; // more fragments
        let before = f.clone();
        assert_eq!(complete_checksum(&mut f), Err(Unfinishable::Fragment));
        assert_eq!(f, before, "a refused frame is left alone");
        let (mut cut, _) = build(false, false, &[]);
        cut.truncate(14 + 20 + 10);
        assert!(complete_checksum(&mut cut).is_err());
    }
}
