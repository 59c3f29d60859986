//! The parser's own test bench (`portshare_hdl::core::parser::Parser`, alone, in rust-hdl's
//! simulator): for every byte of a frame, whether it is a key byte (position, first,
//! last), its role for the rewriter, the L4 events, and the frame's class at its last
//! byte — against what the reference model's parse (`portshare_sim::model::parse`)
//! says the frame is. It lives in sim because the model does (hdl cannot depend on
//! sim); the pipeline tests check the parser again in context.
//!
//! The reference derives each tag from the model's `Headers` alone: the looked-up
//! address is the destination (incoming) or source (outgoing) address, at key
//! positions 12..16 (IPv4) or 0..16 (IPv6); the port's high byte at 16 (incoming) /
//! 18 (outgoing); its low byte, the last key byte, at 20 / 24 + 2·IPv4 + TCP; the
//! rewritten port bytes have roles `role::PORT_HI`/`PORT_LO`, the checksum bytes
//! `role::CHECKSUM_HI`/`CHECKSUM_LO`.

mod common;

use common::build::{self, ethernet, ipv4, ipv6, ipv6_fragment, ipv6_generic_ext, set_checksum, tcp, udp};
use portshare_hdl::core::parser::{class, role, Parser};
use portshare_tools::clocking::settle;
use portshare_host::Direction;
use portshare_sim::model::{self, L4Protocol, Parse};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rust_hdl::prelude::*;
use std::net::IpAddr;

/// What the parser said about one frame.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tags {
    /// (frame offset, key position, byte, first, last)
    keys: Vec<(usize, u8, u8, bool, bool)>,
    /// (frame offset, role) for every byte whose role is not 0.
    roles: Vec<(usize, u8)>,
    l4_start: Vec<usize>,
    l4_complete: Vec<usize>,
    l4_fail: Vec<usize>,
    /// `l4_udp` as seen on the `l4_complete` byte.
    udp: Option<bool>,
    class: u8,
    outgoing: bool,
}

/// The reference: what the parser must say, from the model's parse. For frames the
/// model does not follow only the class (and the absence of a completed L4 header)
/// is defined; key bytes and roles then do not matter (nothing is looked up or
/// rewritten), so they are not compared.
fn expected(frame: &[u8], dir: Direction) -> (Tags, bool) {
    let outgoing = dir == Direction::Outgoing;
    match model::parse(frame) {
        Parse::Parsed(h) => {
            let (v4, tcp) = (h.is_ipv4(), h.protocol == L4Protocol::Tcp);
            let addr_at = h.ip_offset + match (v4, outgoing) {
                (true, false) => 16,
                (true, true) => 12,
                (false, false) => 24,
                (false, true) => 8,
            };
            let addr = if outgoing { h.source } else { h.destination };
            let (first_pos, addr_len) = match addr {
                IpAddr::V4(_) => (12u8, 4),
                IpAddr::V6(_) => (0u8, 16),
            };
            let mut keys: Vec<(usize, u8, u8, bool, bool)> =
                (0..addr_len).map(|i| (addr_at + i, first_pos + i as u8, frame[addr_at + i], i == 0, false)).collect();
            let port_at = h.l4_offset + if outgoing { 0 } else { 2 };
            let kind = 2 * v4 as u8 + tcp as u8;
            keys.push((port_at, if outgoing { 18 } else { 16 }, frame[port_at], false, false));
            keys.push((port_at + 1, if outgoing { 24 } else { 20 } + kind, frame[port_at + 1], false, true));
            let mut roles = vec![
                (port_at, role::PORT_HI as u8),
                (port_at + 1, role::PORT_LO as u8),
                (h.checksum_offset, role::CHECKSUM_HI as u8),
                (h.checksum_offset + 1, role::CHECKSUM_LO as u8),
            ];
            roles.sort();
            let end = h.l4_offset + h.protocol.header_len() - 1;
            let t = Tags {
                keys,
                roles,
                l4_start: vec![h.l4_offset],
                l4_complete: vec![end],
                l4_fail: vec![],
                udp: Some(!tcp),
                class: class::LOOKED_UP as u8,
                outgoing,
            };
            (t, true)
        }
        Parse::Fragment => (Tags { class: class::FRAGMENT as u8, outgoing, ..Default::default() }, false),
        Parse::Unparsed(_) => (Tags { class: class::UNPARSED as u8, outgoing, ..Default::default() }, false),
    }
}

struct Bench {
    p: Parser,
}

impl Bench {
    fn new() -> Self {
        let mut p = Parser::default();
        p.connect_all();
        let mut b = Bench { p };
        b.p.reset.next = true;
        b.edge();
        b.p.reset.next = false;
        b
    }

    fn settle(&mut self) {
        settle(&mut self.p);
    }

    fn edge(&mut self) {
        self.p.clock.next = false.into();
        self.settle();
        self.p.clock.next = true.into();
        self.settle();
    }

    /// Streams the frames the way the pipeline feeds its parser — each byte through
    /// an input register (`next_data`/`next_load` the clock before it is `data`) —
    /// with up to `max_gap` idle clocks at random between bytes; returns the tags.
    fn run(&mut self, frames: &[(Vec<u8>, Direction)], rng: &mut StdRng, max_gap: usize) -> Vec<Tags> {
        // The byte stream with its idle clocks: Some((frame, offset)) per clock.
        let mut slots: Vec<Option<(usize, usize)>> = vec![];
        for (f, (frame, _)) in frames.iter().enumerate() {
            for i in 0..frame.len() {
                for _ in 0..rng.gen_range(0..=max_gap) {
                    slots.push(None);
                }
                slots.push(Some((f, i)));
            }
        }
        slots.push(None);
        let mut out: Vec<Tags> = frames.iter().map(|(_, d)| Tags { outgoing: *d == Direction::Outgoing, ..Default::default() }).collect();
        let byte = |s: Option<(usize, usize)>| s.map(|(f, i)| frames[f].0[i]);
        let mut reg: Option<(usize, usize)> = None;
        for &next in &slots {
            let p = &mut self.p;
            p.next_data.next = (byte(next).unwrap_or(0) as u64).into();
            p.next_load.next = next.is_some();
            p.strobe.next = reg.is_some();
            p.data.next = (byte(reg).unwrap_or(0) as u64).into();
            if let Some((f, i)) = reg {
                p.last.next = i + 1 == frames[f].0.len();
                p.direction.next = frames[f].1 == Direction::Outgoing;
            } else {
                p.last.next = false;
            }
            p.clock.next = false.into();
            self.settle();
            if let Some((f, i)) = reg {
                let p = &self.p;
                let t = &mut out[f];
                if p.key_valid.val() {
                    t.keys.push((i, p.key_pos.val().index() as u8, frames[f].0[i], p.key_first.val(), p.key_last.val()));
                }
                let r = p.role.val().index() as u8;
                if r != role::NONE as u8 {
                    t.roles.push((i, r));
                }
                if p.l4_start.val() {
                    t.l4_start.push(i);
                }
                if p.l4_complete.val() {
                    t.l4_complete.push(i);
                    t.udp = Some(p.l4_udp.val());
                }
                if p.l4_fail.val() {
                    t.l4_fail.push(i);
                }
                if i + 1 == frames[f].0.len() {
                    t.class = p.class.val().index() as u8;
                    assert_eq!(p.frame_dir.val(), t.outgoing, "frame {f}: frame_dir");
                }
            }
            self.p.clock.next = true.into();
            self.settle();
            reg = next;
        }
        out
    }
}

/// Compares the parser's tags with the reference for every frame; panics naming the
/// first frame that differs.
fn check(frames: &[(Vec<u8>, Direction)], names: &[String], seed: u64, max_gap: usize) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut bench = Bench::new();
    let got = bench.run(frames, &mut rng, max_gap);
    let mut parsed = 0;
    for (k, ((frame, dir), g)) in frames.iter().zip(&got).enumerate() {
        let (want, full) = expected(frame, *dir);
        let what = format!("frame {k} ({}, {dir:?}, {} bytes, model: {:?}), seed {seed}", names[k], frame.len(), model::parse(frame));
        assert_eq!(g.class, want.class, "class of {what}");
        if full {
            parsed += 1;
            assert_eq!(g, &want, "tags of {what}");
        } else {
            assert!(g.l4_complete.is_empty(), "{what}: an L4 header completed in a frame the model does not follow");
        }
    }
    parsed
}

fn random_dir(rng: &mut StdRng) -> Direction {
    if rng.gen() { Direction::Outgoing } else { Direction::Incoming }
}

#[test]
fn parser_tags_every_corpus_frame_as_the_model_parses_it() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut frames = vec![];
    let mut names = vec![];
    for path in portshare_sim::corpus::pcaps() {
        let cap = portshare_sim::pcap::Capture::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        for (i, f) in cap.frames().into_iter().enumerate() {
            frames.push((f, random_dir(&mut rng)));
            names.push(format!("{name}#{}", i + 1));
        }
    }
    let parsed = check(&frames, &names, 11, 0);
    // The corpus is mostly not TCP/UDP-followable; make sure plenty of frames were
    // compared tag for tag.
    assert!(parsed > 1500, "only {parsed} corpus frames parsed");
}

/// Frames the corpus lacks: VLAN depths 0–3, IHL 0–15, IPv6 chains 0–5 deep with
/// fragments, wrong lengths — each also cut at random lengths and fed with gaps.
#[test]
fn parser_tags_built_and_mangled_frames_as_the_model_parses_them() {
    let seed = 0x9A45_u64;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut frames = vec![];
    let mut names = vec![];
    let (a4, b4) = ([192, 0, 2, 10], [198, 51, 100, 7]);
    let a6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 0xDB, 0x10];
    let b6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x77];
    for n in 0..700 {
        let tags: Vec<u16> = (0..rng.gen_range(0..=3)).map(|_| [0x8100, 0x88A8, 0x9100][rng.gen_range(0..3)]).collect();
        let proto = [6u8, 17, 6, 17, 1][rng.gen_range(0..5)];
        let payload: Vec<u8> = (0..rng.gen_range(0..40)).map(|_| rng.gen()).collect();
        let mut l4 = if proto == 6 { tcp(rng.gen(), rng.gen(), &payload) } else { udp(rng.gen(), rng.gen(), &payload) };
        let v6 = rng.gen_bool(0.5);
        let mut f;
        if v6 {
            // A chain of 0–5 extension headers, maybe with a fragment header.
            let depth = rng.gen_range(0..=5);
            let kinds: Vec<u8> = (0..depth).map(|_| [0u8, 43, 60, 44][rng.gen_range(0..4)]).collect();
            if proto != 1 {
                set_checksum(&b6, &a6, proto, &mut l4);
            }
            let mut chain = vec![];
            for (i, &k) in kinds.iter().enumerate() {
                let next = *kinds.get(i + 1).unwrap_or(&proto);
                chain.extend(if k == 44 {
                    ipv6_fragment(next, if rng.gen_bool(0.3) { rng.gen_range(1..100) } else { 0 }, rng.gen())
                } else {
                    ipv6_generic_ext(next, rng.gen_range(1..4))
                });
            }
            let first = *kinds.first().unwrap_or(&proto);
            let mut plen = (chain.len() + l4.len()) as u16;
            if rng.gen_bool(0.15) {
                plen = rng.gen_range(0..plen.max(1) + 8);
            }
            let (src, dst) = if rng.gen() { (b6, a6) } else { (a6, b6) };
            f = ethernet(&tags, 0x86DD);
            f.extend(ipv6(first, plen, src, dst));
            f.extend(chain);
            f.extend(&l4);
        } else {
            let ihl = if rng.gen_bool(0.1) { rng.gen_range(0..5) } else { rng.gen_range(5..=15) };
            let frag = if rng.gen_bool(0.2) { rng.gen_range(0..0x4000) } else { 0 };
            let total = if rng.gen_bool(0.15) { Some(rng.gen_range(0..80)) } else { None };
            let (src, dst) = if rng.gen() { (b4, a4) } else { (a4, b4) };
            if proto != 1 {
                set_checksum(&src, &dst, proto, &mut l4);
            }
            f = ethernet(&tags, if rng.gen_bool(0.05) { 0x0801 } else { 0x0800 });
            f.extend(ipv4(ihl, proto, src, dst, l4.len(), total, frag));
            f.extend(&l4);
        }
        if rng.gen_bool(0.1) {
            f.extend(vec![0u8; rng.gen_range(1..20)]); // Ethernet padding
        }
        if rng.gen_bool(0.3) {
            f.truncate(rng.gen_range(1..=f.len()));
        }
        if rng.gen_bool(0.05) {
            let i = rng.gen_range(0..f.len());
            f[i] ^= 1 << rng.gen_range(0..8);
        }
        frames.push((f, random_dir(&mut rng)));
        names.push(format!("built #{n}"));
    }
    // Every truncation of a few rewritable frames (IPv4/IPv6, TCP/UDP, tags).
    for (n, (tags, v6, proto)) in [(&[][..], false, 6u8), (&[0x8100u16][..], true, 17), (&[0x88A8, 0x8100][..], true, 6)].into_iter().enumerate() {
        let mut l4 = if proto == 6 { tcp(40000, 443, b"x") } else { udp(40000, 53, b"") };
        let f = if v6 {
            set_checksum(&b6, &a6, proto, &mut l4);
            let mut f = ethernet(tags, 0x86DD);
            f.extend(ipv6(proto, l4.len() as u16, b6, a6));
            f.extend(&l4);
            f
        } else {
            set_checksum(&b4, &a4, proto, &mut l4);
            let mut f = ethernet(tags, 0x0800);
            f.extend(ipv4(5, proto, b4, a4, l4.len(), None, 0));
            f.extend(&l4);
            f
        };
        for len in 1..=f.len() {
            frames.push((f[..len].to_vec(), if len % 2 == 0 { Direction::Incoming } else { Direction::Outgoing }));
            names.push(format!("truncation {n} to {len}"));
        }
    }
    let _ = build::MAC;
    let parsed = check(&frames, &names, seed, 2);
    assert!(parsed > 150, "only {parsed} built frames parsed");
}
