//! What the engine tests share: the corpus, the random frame generator (valid and
//! mangled frames of every class in DESIGN.md §3) and the byte-for-byte comparison
//! with the reference model.
#![allow(dead_code)]

use portshare_host::{Direction, Slot};
use portshare_sim::engine::{Engine, Traffic};
use portshare_sim::model::{self, Counters, Outcome};
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
    let delta = |a: u64, b: u64| a - b;
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
