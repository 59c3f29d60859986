//! What sim's tests share: the corpus frames, the random frame generator (valid and
//! mangled frames of every class in docs/semantics.md §3) and the byte-for-byte
//! comparison of an engine with the reference model; hand-built frames (`build`) and an
//! independent full L4 checksum (one's-complement sum over pseudo-header + L4 bytes),
//! written apart from the model.
#![allow(dead_code)]

use portshare_host::{Direction, Slot};
use portshare_sim::engine::{Engine, Traffic};
use portshare_sim::model::{self, Counters, CountOutcome, Outcome};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

pub fn corpus_frames() -> Vec<(String, Vec<u8>)> {
    let mut frames = vec![];
    for f in portshare_sim::corpus::pcaps() {
        let cap = portshare_sim::pcap::Capture::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        for (i, fr) in cap.frames().into_iter().enumerate() {
            frames.push((format!("{name}#{}", i + 1), fr));
        }
    }
    assert!(frames.len() > 5000, "corpus looks incomplete: {} frames", frames.len());
    frames
}

/// Runs `frames` through the RTL and the model and demands identical bytes, order and
/// counters; returns the model's counters and what the engine streamed.
pub fn compare(
    h: &mut dyn Engine,
    slots: &[Slot],
    frames: &[(String, Vec<u8>, Direction)],
    traffic: &Traffic,
) -> (Counters, portshare_sim::engine::StreamResult) {
    let batch: Vec<(&[u8], Direction)> = frames.iter().map(|(_, f, d)| (f.as_slice(), *d)).collect();
    let before = h.read_counters();
    let r = h.stream(&batch, traffic);
    assert_eq!(r.frames.len(), frames.len(), "frame count");
    let mut expect = Counters::new(h.capacity());
    for ((name, f, d), got) in frames.iter().zip(&r.frames) {
        let m = model::process_frame(f, *d, slots);
        if f.is_empty() {
            assert!(got.is_empty());
            continue; // a zero-length record never enters the stream
        }
        expect.count(&m.outcome);
        if *got != m.frame {
            let diff: Vec<usize> = (0..got.len().max(m.frame.len()))
                .filter(|&i| got.get(i) != m.frame.get(i))
                .collect();
            panic!(
                "{name} ({d}, {} bytes, model says {:?}): {} differs from model at bytes {diff:?}\n engine {:02x?}\n model {:02x?}",
                f.len(),
                m.outcome,
                h.kind(),
                &got[..got.len().min(80)],
                &m.frame[..m.frame.len().min(80)]
            );
        }
        if !matches!(m.outcome, Outcome::Rewritten { .. }) {
            assert_eq!(got, f, "{name}: a frame that was not rewritten must leave unchanged");
        }
    }
    let after = h.read_counters();
    // 32-bit counters wrap as the hardware's do: a difference of readings is modulo 2^32.
    let delta = |a: u32, b: u32| a.wrapping_sub(b);
    assert_eq!(delta(after.rewritten, before.rewritten), expect.rewritten, "rewritten");
    assert_eq!(delta(after.no_match, before.no_match), expect.no_match, "no_match");
    assert_eq!(delta(after.fragment, before.fragment), expect.fragment, "fragment");
    assert_eq!(delta(after.unparsed, before.unparsed), expect.unparsed, "unparsed");
    assert_eq!(
        delta(after.udp_zero_checksum, before.udp_zero_checksum),
        expect.udp_zero_checksum,
        "udp_zero_checksum"
    );
    for i in 0..h.capacity() {
        assert_eq!(delta(after.hits[i], before.hits[i]), expect.hits[i], "hits[{i}]");
    }
    (expect, r)
}

// ---- Random frames ----

pub struct Gen {
    pub rng: StdRng,
    addrs4: Vec<[u8; 4]>,
    addrs6: Vec<[u8; 16]>,
    ports: Vec<u16>,
}

impl Gen {
    fn pick_port(&mut self) -> u16 {
        if self.rng.gen_bool(0.7) {
            *self.ports.choose(&mut self.rng).unwrap()
        } else {
            self.rng.gen()
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.rng.gen()).collect()
    }

    /// A frame that is valid more often than not, with every kind of header the parser knows.
    pub fn frame(&mut self) -> Vec<u8> {
        let r = &mut self.rng;
        let mut f = vec![];
        f.extend((0..12).map(|_| r.gen::<u8>()));
        let tags = *[0usize, 0, 0, 1, 2, 3].choose(r).unwrap();
        for _ in 0..tags {
            let t: u16 = *[0x8100u16, 0x88A8, 0x9100].choose(r).unwrap();
            f.extend(t.to_be_bytes());
            f.extend(r.gen::<u16>().to_be_bytes());
        }
        let v6 = r.gen_bool(0.4);
        let proto: u8 = *[6u8, 6, 17, 17, 1, 58].choose(r).unwrap();
        let l4len = if proto == 6 { 20 + 4 * r.gen_range(0..3) } else { 8 };
        let payload = r.gen_range(0..40);
        if !v6 {
            let weird_type = r.gen_bool(0.05);
            f.extend(if weird_type { [0x08u8, 0x06] } else { [0x08, 0x00] });
            let ihl: u8 = if r.gen_bool(0.7) { 5 } else { r.gen_range(0..16) };
            let version: u8 = if r.gen_bool(0.95) { 4 } else { r.gen_range(0..16) };
            let hdr = (ihl as usize).max(5) * 4;
            let mut total = (hdr + l4len + payload) as u16;
            if r.gen_bool(0.15) {
                total = r.gen_range(0..total.saturating_add(30));
            }
            let frag: u16 = if r.gen_bool(0.15) { r.gen_range(0..0x4000) } else { 0 };
            let mut ip = vec![version << 4 | ihl, 0];
            ip.extend(total.to_be_bytes());
            ip.extend([0x12, 0x34]);
            ip.extend(frag.to_be_bytes());
            ip.extend([64, proto, 0xab, 0xcd]);
            let a = *self.addrs4.choose(r).unwrap();
            let b: [u8; 4] = if r.gen_bool(0.8) { *self.addrs4.choose(r).unwrap() } else { r.gen() };
            let (src, dst) = if r.gen_bool(0.5) { (a, b) } else { (b, a) };
            ip.extend(src);
            ip.extend(dst);
            while ip.len() < hdr {
                ip.push(r.gen());
            }
            f.extend(ip);
        } else {
            f.extend([0x86, 0xDD]);
            let version: u8 = if r.gen_bool(0.95) { 6 } else { r.gen_range(0..16) };
            let mut exts = vec![];
            let n_ext = *[0usize, 0, 1, 2, 4, 5].choose(r).unwrap();
            for _ in 0..n_ext {
                exts.push(*[0u8, 43, 60, 44].choose(r).unwrap());
            }
            let mut chain = vec![];
            let mut next_hdrs = exts.clone();
            next_hdrs.push(proto);
            for (i, &e) in exts.iter().enumerate() {
                let nh = next_hdrs[i + 1];
                if e == 44 {
                    let off: u16 = if r.gen_bool(0.2) { r.gen_range(1..0x2000) << 3 } else { r.gen_range(0..2) };
                    chain.push(nh);
                    chain.push(0);
                    chain.extend(off.to_be_bytes());
                    chain.extend([1, 2, 3, 4]);
                } else {
                    let units: u8 = r.gen_range(0..3);
                    chain.push(nh);
                    chain.push(units);
                    for _ in 0..(units as usize * 8 + 6) {
                        chain.push(r.gen());
                    }
                }
            }
            let mut plen = (chain.len() + l4len + payload) as u16;
            if r.gen_bool(0.15) {
                plen = r.gen_range(0..plen.saturating_add(30));
            }
            let mut ip = vec![version << 4, 0, 0, 0];
            ip.extend(plen.to_be_bytes());
            ip.push(next_hdrs[0]);
            ip.push(64);
            let a = *self.addrs6.choose(r).unwrap();
            let b: [u8; 16] = if r.gen_bool(0.8) { *self.addrs6.choose(r).unwrap() } else { r.gen() };
            let (src, dst) = if r.gen_bool(0.5) { (a, b) } else { (b, a) };
            ip.extend(src);
            ip.extend(dst);
            ip.extend(chain);
            f.extend(ip);
        }
        let sp = self.pick_port();
        let dp = self.pick_port();
        let r = &mut self.rng;
        let mut l4 = vec![];
        l4.extend(sp.to_be_bytes());
        l4.extend(dp.to_be_bytes());
        while l4.len() < l4len {
            l4.push(r.gen());
        }
        // Checksums of 0 (UDP: none) and 0xFFFF, for TCP and UDP alike.
        let ck = if proto == 6 { 16 } else { 6 };
        if (proto == 6 || proto == 17) && r.gen_bool(0.25) {
            let v = if r.gen_bool(0.6) { 0u8 } else { 0xFF };
            l4[ck] = v;
            l4[ck + 1] = v;
        }
        f.extend(l4);
        let p = self.bytes(payload);
        f.extend(p);
        let r = &mut self.rng;
        if r.gen_bool(0.2) {
            f.extend((0..r.gen_range(1..20)).map(|_| 0u8)); // ethernet padding
        }
        if r.gen_bool(0.25) {
            let cut = r.gen_range(1..=f.len());
            f.truncate(cut); // truncated anywhere, header boundaries included
        }
        if r.gen_bool(0.05) {
            let i = r.gen_range(0..f.len());
            f[i] = r.gen();
        }
        f
    }
}

pub fn random_table(rng: &mut StdRng, g: &Gen, n: usize) -> Vec<Slot> {
    (0..n)
        .map(|_| {
            let addr: std::net::IpAddr = if rng.gen_bool(0.5) {
                std::net::Ipv4Addr::from(*g.addrs4.choose(rng).unwrap()).into()
            } else {
                std::net::Ipv6Addr::from(*g.addrs6.choose(rng).unwrap()).into()
            };
            let (tcp, udp) = *[(true, false), (false, true), (true, true)].choose(rng).unwrap();
            let mut s = Slot::new(addr, tcp, udp, *g.ports.choose(rng).unwrap(), *g.ports.choose(rng).unwrap());
            s.valid = rng.gen_bool(0.9);
            s
        })
        .collect()
}

pub fn generator(seed: u64) -> Gen {
    let mut rng = StdRng::seed_from_u64(seed);
    let addrs4 = (0..4).map(|_| rng.gen()).collect();
    let addrs6 = (0..4).map(|_| rng.gen()).collect();
    let ports = (0..6).map(|_| rng.gen_range(1..=65535)).collect();
    Gen { rng, addrs4, addrs6, ports }
}


/// The model's result for frame `f` in some table whose entries in `changed` are each
/// wholly old, new or absent (the others old): `None` when `got` fits no such table.
/// Only the changed entries that can match `f` at all are varied (3^k tables).
pub fn fits_whole_entries(
    f: &[u8],
    d: Direction,
    old: &[Slot],
    new: &[Slot],
    changed: &[usize],
    got: &[u8],
) -> Option<model::Processed> {
    whole_entry_outcomes(f, d, old, new, changed, got).into_iter().next()
}

/// Every distinct result of [`fits_whole_entries`]'s tables that gives `got`: more
/// than one when two tables give the same bytes with different outcomes (an entry
/// whose ports map to themselves, two entries with the same mapping).
pub fn whole_entry_outcomes(
    f: &[u8],
    d: Direction,
    old: &[Slot],
    new: &[Slot],
    changed: &[usize],
    got: &[u8],
) -> Vec<model::Processed> {
    let mut found: Vec<model::Processed> = vec![];
    let n = old.len();
    let candidates: Vec<usize> = changed
        .iter()
        .copied()
        .filter(|&e| {
            let one = |s: Slot| {
                let mut t = vec![Slot::default(); n];
                t[e] = s;
                matches!(model::process_frame(f, d, &t).outcome, Outcome::Rewritten { .. })
            };
            one(old[e]) || one(new[e])
        })
        .collect();
    for mut c in 0..3usize.pow(candidates.len() as u32) {
        let mut t = old.to_vec();
        for &e in &candidates {
            t[e] = match c % 3 {
                0 => old[e],
                1 => new[e],
                _ => Slot::default(),
            };
            c /= 3;
        }
        let p = model::process_frame(f, d, &t);
        if p.frame == got && !found.iter().any(|q| q.outcome == p.outcome) {
            found.push(p);
        }
    }
    found
}

/// The cycle-accurate engines, each with `slots` loaded: rust-hdl's simulator and the
/// Verilog under Verilator.
pub fn cycle_engines(capacity: usize, slots: &[Slot]) -> Vec<Box<dyn Engine>> {
    use portshare_sim::engine::{open, EngineKind};
    [EngineKind::Rtl, EngineKind::Verilator]
        .into_iter()
        .map(|k| {
            let mut e = open(k, capacity).unwrap_or_else(|e| panic!("{k} engine: {e:#}"));
            e.load(slots);
            e
        })
        .collect()
}

// ---- Hand-built frames and an independent checksum ----

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
