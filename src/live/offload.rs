//! Frames a kernel hands over unfinished because offloads were left on.
//!
//! * `TP_STATUS_CSUMNOTREADY` (`CHECKSUM_PARTIAL`): the L4 checksum field holds only the
//!   pseudo-header sum. [`complete_checksum`] computes the full TCP/UDP checksum (with
//!   etherparse, over the pseudo-header and the whole segment) before the frame enters
//!   the unit, so the unit's incremental update starts from a right value. What it cannot
//!   finish (not TCP/UDP, a fragment) is refused.
//! * GSO/TSO superframes, longer than the MTU: they cannot be sent as they are and are
//!   refused.
//!
//! Both mean the sending side has offloads on; the fix is `ethtool -K IF tx off` there.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

/// Why a frame with an unfinished checksum could not be finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unfinishable {
    NotTcpUdp,
    Fragment,
    Malformed,
}

impl Unfinishable {
    pub fn why(self) -> &'static str {
        match self {
            Unfinishable::NotTcpUdp => "not TCP or UDP",
            Unfinishable::Fragment => "an IP fragment (the checksum covers the whole datagram)",
            Unfinishable::Malformed => "headers that do not parse",
        }
    }
}

/// Fills in the L4 checksum of a `CHECKSUM_PARTIAL` frame in place.
pub fn complete_checksum(frame: &mut [u8]) -> Result<(), Unfinishable> {
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
    let at = l4 as usize - frame.as_ptr() as usize + field;
    frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

/// The fix to name when frames read from `interface` came unfinished: the offloads are
/// on where they are sent from (for a veth, the peer of `interface`), not on it.
pub fn fix_for(interface: &str) -> String {
    format!(
        "turn transmit offloads off on the interface that sends them (for a veth, the peer of {interface}): \
         `ethtool -K IF tx off` (Debian package `ethtool`)"
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
