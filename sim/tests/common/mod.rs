//! Helpers for sim's tests: hand-built frames and an independent full L4 checksum
//! (one's-complement sum over pseudo-header + L4 bytes), written apart from the model.
#![allow(dead_code)]

/// One's-complement sum of big-endian 16-bit words (odd byte padded with 0), folded.
pub fn ones_sum(mut acc: u32, bytes: &[u8]) -> u32 {
    for c in bytes.chunks(2) {
        acc += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc
}

pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    acc as u16
}

/// The pseudo-header sum: addresses, protocol, L4 length (RFC 793/768/8200).
pub fn pseudo_sum(src: &[u8], dst: &[u8], protocol: u8, l4_len: usize) -> u32 {
    let mut acc = ones_sum(0, src);
    acc = ones_sum(acc, dst);
    if src.len() == 4 {
        acc = ones_sum(acc, &[0, protocol]);
        acc = ones_sum(acc, &(l4_len as u16).to_be_bytes());
    } else {
        acc = ones_sum(acc, &(l4_len as u32).to_be_bytes());
        acc = ones_sum(acc, &[0, 0, 0, protocol]);
    }
    acc
}

/// The checksum a full recomputation gives for `l4` (with its checksum field taken as
/// zero): `!sum`. TCP may give 0x0000; UDP's 0x0000 is sent as 0xFFFF.
pub fn full_checksum(src: &[u8], dst: &[u8], protocol: u8, l4: &[u8]) -> u16 {
    let mut l4 = l4.to_vec();
    let at = if protocol == 6 { 16 } else { 6 };
    l4[at] = 0;
    l4[at + 1] = 0;
    let c = !fold(ones_sum(pseudo_sum(src, dst, protocol, l4.len()), &l4));
    if protocol == 17 && c == 0 {
        0xFFFF
    } else {
        c
    }
}

/// Does the L4 checksum stored in `l4` verify? (sum over everything == 0xFFFF)
pub fn checksum_verifies(src: &[u8], dst: &[u8], protocol: u8, l4: &[u8]) -> bool {
    fold(ones_sum(pseudo_sum(src, dst, protocol, l4.len()), l4)) == 0xFFFF
}

/// One's-complement difference a − b, normalised so ±0 compare equal.
pub fn ones_diff(a: u16, b: u16) -> u16 {
    let d = fold(a as u32 + (!b) as u32);
    if d == 0xFFFF {
        0
    } else {
        d
    }
}

/// Hand-built frames, field by field, so malformed ones are as easy as good ones.
pub mod build {
    pub const MAC: [u8; 12] = [0x02, 0, 0, 0, 0, 0xB0, 0x02, 0, 0, 0, 0, 0xA0];

    /// MAC header with VLAN tags (each given by its TPID) and the EtherType.
    pub fn ethernet(tags: &[u16], ethertype: u16) -> Vec<u8> {
        let mut f = MAC.to_vec();
        for (i, tpid) in tags.iter().enumerate() {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&(0x0100 + i as u16).to_be_bytes());
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f
    }

    /// IPv4 header with IHL `ihl` (options filled with NOPs); `total_length` none
    /// means "header + l4_len"; `frag` is the flags+offset word.
    pub fn ipv4(ihl: u8, protocol: u8, src: [u8; 4], dst: [u8; 4], l4_len: usize, total_length: Option<u16>, frag: u16) -> Vec<u8> {
        let hl = 4 * ihl as usize;
        let mut h = vec![0u8; hl.max(20)];
        h[0] = 0x40 | ihl;
        let tl = total_length.unwrap_or((hl + l4_len) as u16);
        h[2..4].copy_from_slice(&tl.to_be_bytes());
        h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        h[6..8].copy_from_slice(&frag.to_be_bytes());
        h[8] = 64;
        h[9] = protocol;
        h[12..16].copy_from_slice(&src);
        h[16..20].copy_from_slice(&dst);
        for b in h.iter_mut().skip(20) {
            *b = 1; // NOP option
        }
        // A real header checksum, so etherparse-style readers accept the frame; the
        // unit never touches it.
        let c = !super::fold(super::ones_sum(0, &h));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }

    pub fn ipv6(next: u8, payload_length: u16, src: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
        let mut h = vec![0u8; 40];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&payload_length.to_be_bytes());
        h[6] = next;
        h[7] = 64;
        h[8..24].copy_from_slice(&src);
        h[24..40].copy_from_slice(&dst);
        h
    }

    /// A generic IPv6 extension header (hop-by-hop, routing, destination options) of
    /// `units` × 8 bytes, padded with PadN.
    pub fn ipv6_generic_ext(next: u8, units: usize) -> Vec<u8> {
        let mut h = vec![0u8; units * 8];
        h[0] = next;
        h[1] = (units - 1) as u8;
        h[2] = 1; // PadN
        h[3] = (units * 8 - 4) as u8;
        h
    }

    /// IPv6 fragment header; `offset` in 8-byte units.
    pub fn ipv6_fragment(next: u8, offset: u16, more: bool) -> Vec<u8> {
        let mut h = vec![0u8; 8];
        h[0] = next;
        h[2..4].copy_from_slice(&((offset << 3) | more as u16).to_be_bytes());
        h[4..8].copy_from_slice(&0xCAFEu32.to_be_bytes());
        h
    }

    pub fn tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[0..2].copy_from_slice(&sport.to_be_bytes());
        h[2..4].copy_from_slice(&dport.to_be_bytes());
        h[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
        h[12] = 5 << 4;
        h[13] = 0x18;
        h[14..16].copy_from_slice(&4096u16.to_be_bytes());
        h.extend_from_slice(payload);
        h
    }

    pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 8];
        h[0..2].copy_from_slice(&sport.to_be_bytes());
        h[2..4].copy_from_slice(&dport.to_be_bytes());
        h[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        h.extend_from_slice(payload);
        h
    }

    /// Fills in the correct L4 checksum (full computation).
    pub fn set_checksum(src: &[u8], dst: &[u8], protocol: u8, l4: &mut [u8]) {
        let c = super::full_checksum(src, dst, protocol, l4);
        let at = if protocol == 6 { 16 } else { 6 };
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
}
