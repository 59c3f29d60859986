//! The rewriter's own test bench (`portshare_hdl::core::rewriter::Rewriter`, alone, in
//! rust-hdl's simulator). The bench plays the parser (events derived from the
//! reference model's parse of each frame), the CAM (a hit or a miss with a new port,
//! after a random delay) and the 32-word queue; the output is judged by RFC 1624
//! eqn. 3 computed here and by a full checksum recomputation over what came out.
//!
//! Judges: every byte but the port and checksum bytes leaves as it came; on a hit the
//! port is the new one and the checksum is `~(~HC + ~m + m')` (UDP 0 stays 0, a UDP
//! result of 0 leaves as 0xFFFF); and, independently, the checksum's error against a
//! full recomputation over the bytes that left equals its error over the bytes that
//! came in (a right checksum stays right, a wrong one wrong by the same amount).

mod common;

use common::build::{ethernet, ipv4, ipv6, set_checksum, tcp, udp};
use common::{fold, ones_sum, pseudo_sum};
use portshare_hdl::core::parser::{class, role};
use portshare_hdl::core::rewriter::{Rewriter, QUEUE_BITS};
use portshare_tools::clocking::settle;
use portshare_host::Direction;
use portshare_sim::model::{self, L4Protocol, Parse};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rust_hdl::prelude::*;
use std::collections::VecDeque;

/// One frame for the bench: bytes, the per-byte events the parser would give, and
/// what the CAM answers.
struct Case {
    frame: Vec<u8>,
    /// Per byte: its `role::` code.
    roles: Vec<u64>,
    l4_start: usize,
    udp: bool,
    /// The byte that completes the L4 header, or (for a header the parser gives up
    /// on) the byte where it fails.
    end: usize,
    complete: bool,
    /// `Some(port)`: the CAM hits with this new port; the key's last byte is `key_last`.
    hit: Option<u16>,
    key_last: usize,
    delay: usize,
    /// Where the rewritten port and the checksum are.
    port_at: usize,
    cks_at: usize,
}

fn rfc1624(hc: u16, m: u16, m_new: u16) -> u16 {
    let sum = (!hc) as u32 + (!m) as u32 + m_new as u32;
    !fold(sum)
}

/// What must come out, by RFC 1624 and the zero rules (docs/semantics.md §3).
fn expected(c: &Case) -> Vec<u8> {
    let mut out = c.frame.clone();
    if let (true, Some(new)) = (c.complete, c.hit) {
        let old = u16::from_be_bytes([out[c.port_at], out[c.port_at + 1]]);
        let hc = u16::from_be_bytes([out[c.cks_at], out[c.cks_at + 1]]);
        out[c.port_at..c.port_at + 2].copy_from_slice(&new.to_be_bytes());
        if !(c.udp && hc == 0) {
            let mut cks = rfc1624(hc, old, new);
            if c.udp && cks == 0 {
                cks = 0xFFFF;
            }
            out[c.cks_at..c.cks_at + 2].copy_from_slice(&cks.to_be_bytes());
        }
    }
    out
}

/// A case from a frame the model follows; `dir` picks which port is rewritten.
fn case(frame: Vec<u8>, dir: Direction, hit: Option<u16>, rng: &mut StdRng) -> Option<Case> {
    let Parse::Parsed(h) = model::parse(&frame) else { return None };
    let udp = h.protocol == L4Protocol::Udp;
    let port_at = h.l4_offset + if dir == Direction::Outgoing { 0 } else { 2 };
    let mut roles = vec![role::NONE; frame.len()];
    roles[port_at] = role::PORT_HI;
    roles[port_at + 1] = role::PORT_LO;
    roles[h.checksum_offset] = role::CHECKSUM_HI;
    roles[h.checksum_offset + 1] = role::CHECKSUM_LO;
    Some(Case {
        roles,
        l4_start: h.l4_offset,
        udp,
        end: h.l4_offset + h.protocol.header_len() - 1,
        complete: true,
        hit,
        key_last: port_at + 1,
        delay: rng.gen_range(0..12),
        port_at,
        cks_at: h.checksum_offset,
        frame,
    })
}

struct Bench {
    r: Rewriter,
}

impl Bench {
    fn new() -> Self {
        let mut r = Rewriter::default();
        r.connect_all();
        let mut b = Bench { r };
        b.r.reset.next = true;
        b.r.q_empty.next = true;
        b.edge();
        b.r.reset.next = false;
        b
    }

    fn settle(&mut self) {
        settle(&mut self.r);
    }

    fn edge(&mut self) {
        self.r.clock.next = false.into();
        self.settle();
        self.r.clock.next = true.into();
        self.settle();
    }

    /// Feeds the cases back to back (with random input gaps and output
    /// back-pressure), the queue at most 32 words deep as in the pipeline; returns the
    /// frames that came out.
    fn run(&mut self, cases: &[Case], rng: &mut StdRng) -> Vec<Vec<u8>> {
        let total: usize = cases.iter().map(|c| c.frame.len()).sum();
        let mut queue: VecDeque<u64> = VecDeque::new();
        let (mut ci, mut bi) = (0usize, 0usize);
        let mut results: Vec<(usize, bool, u16)> = vec![]; // (clock due, hit, port)
        let mut out: Vec<Vec<u8>> = vec![vec![]];
        let (mut got, mut clock) = (0usize, 0usize);
        while got < total {
            clock += 1;
            assert!(clock < 20 * total + 1000, "the rewriter stopped after {got} of {total} bytes");
            let r = &mut self.r;
            // The parser's events for the byte accepted this clock.
            let feed = ci < cases.len() && queue.len() < 32 && rng.gen_bool(0.8);
            r.strobe.next = feed;
            for s in [&mut r.l4_start, &mut r.l4_complete, &mut r.l4_fail] {
                s.next = false;
            }
            r.role.next = role::NONE.into();
            let mut word = None;
            if feed {
                let c = &cases[ci];
                r.data.next = (c.frame[bi] as u64).into();
                r.role.next = c.roles[bi].into();
                r.l4_start.next = bi == c.l4_start;
                r.l4_udp.next = c.udp;
                r.l4_complete.next = bi == c.end && c.complete;
                r.l4_fail.next = bi == c.end && !c.complete;
                if bi == c.key_last && c.complete {
                    results.push((clock + c.delay, c.hit.is_some(), c.hit.unwrap_or(0)));
                }
                let rl = c.roles[bi];
                let last = bi + 1 == c.frame.len();
                let cls = if c.complete { class::LOOKED_UP } else { class::UNPARSED };
                word = Some(
                    c.frame[bi] as u64
                        | (last as u64) << 8
                        | rl << 9
                        | cls << 12
                        | ((rl == role::PORT_HI || rl == role::PORT_LO) as u64) << 14
                        | ((rl == role::CHECKSUM_HI || rl == role::CHECKSUM_LO) as u64) << 15,
                );
                bi += 1;
                if last {
                    (ci, bi) = (ci + 1, 0);
                }
            }
            // The CAM's answer, when due.
            r.result_valid.next = false;
            if let Some(k) = results.iter().position(|&(due, _, _)| due <= clock) {
                let (_, hit, port) = results.remove(k);
                r.result_valid.next = true;
                r.result_hit.next = hit;
                r.result_index.next = 3.into();
                r.result_port.next = (port as u64).into();
            }
            r.q_empty.next = queue.is_empty();
            r.q_data.next = Bits::<QUEUE_BITS>::from(*queue.front().unwrap_or(&0));
            r.out_ready.next = rng.gen_bool(0.7);
            r.clock.next = false.into();
            self.settle();
            let r = &self.r;
            if r.out_valid.val() && r.out_ready.val() {
                out.last_mut().unwrap().push(r.out_data.val().index() as u8);
                got += 1;
                if r.out_last.val() {
                    out.push(vec![]);
                }
            }
            let pop = r.q_pop.val();
            self.r.clock.next = true.into();
            self.settle();
            if pop {
                queue.pop_front().expect("q_pop on an empty queue");
            }
            if let Some(w) = word {
                queue.push_back(w);
            }
        }
        out.pop();
        out
    }
}

/// The checksum's error against a full recomputation over the bytes present.
fn checksum_error(frame: &[u8]) -> Option<u16> {
    let Parse::Parsed(h) = model::parse(frame) else { return None };
    let (src, dst) = match (h.source, h.destination) {
        (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => (s.octets().to_vec(), d.octets().to_vec()),
        (std::net::IpAddr::V6(s), std::net::IpAddr::V6(d)) => (s.octets().to_vec(), d.octets().to_vec()),
        _ => unreachable!("one family per frame"),
    };
    let proto = if h.protocol == L4Protocol::Tcp { 6 } else { 17 };
    let datagram_end = match h.source {
        std::net::IpAddr::V4(_) => h.ip_offset + u16::from_be_bytes([frame[h.ip_offset + 2], frame[h.ip_offset + 3]]) as usize,
        std::net::IpAddr::V6(_) => h.ip_offset + 40 + u16::from_be_bytes([frame[h.ip_offset + 4], frame[h.ip_offset + 5]]) as usize,
    };
    let l4 = &frame[h.l4_offset..datagram_end.min(frame.len())];
    if proto == 17 && h.checksum == 0 {
        return None;
    }
    // Over pseudo-header and L4 bytes (checksum field included) a right checksum
    // sums to 0xFFFF; anything else is the error.
    let s = fold(ones_sum(pseudo_sum(&src, &dst, proto, l4.len()), l4));
    Some(if s == 0xFFFF { 0 } else { s })
}

fn check(cases: &[Case], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut bench = Bench::new();
    let out = bench.run(cases, &mut rng);
    assert_eq!(out.len(), cases.len(), "frames out (seed {seed})");
    for (k, (c, o)) in cases.iter().zip(&out).enumerate() {
        assert_eq!(o, &expected(c), "frame {k} (hit {:?}, udp {}, complete {}), seed {seed}", c.hit, c.udp, c.complete);
        if c.complete && c.hit.is_some() {
            assert_eq!(checksum_error(o), checksum_error(&c.frame), "frame {k}: checksum error changed, seed {seed}");
        }
    }
}

/// A TCP or UDP frame over IPv4 or IPv6 with a right checksum.
fn frame(rng: &mut StdRng, udp_proto: bool, v6: bool, sport: u16, dport: u16) -> Vec<u8> {
    let (a4, b4) = ([192, 0, 2, 10], [198, 51, 100, 7]);
    let (a6, b6) = ([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x77]);
    let payload: Vec<u8> = (0..rng.gen_range(0..60)).map(|_| rng.gen()).collect();
    let proto = if udp_proto { 17 } else { 6 };
    let mut l4 = if udp_proto { udp(sport, dport, &payload) } else { tcp(sport, dport, &payload) };
    let tags: Vec<u16> = (0..rng.gen_range(0..=2)).map(|_| 0x8100).collect();
    let mut f;
    if v6 {
        set_checksum(&b6, &a6, proto, &mut l4);
        f = ethernet(&tags, 0x86DD);
        f.extend(ipv6(proto, l4.len() as u16, b6, a6));
    } else {
        set_checksum(&b4, &a4, proto, &mut l4);
        f = ethernet(&tags, 0x0800);
        f.extend(ipv4(rng.gen_range(5..=15), proto, b4, a4, l4.len(), None, 0));
    }
    f.extend(l4);
    f
}

#[test]
fn rewriter_follows_rfc1624_and_a_full_recomputation() {
    let seed = 0x1624;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cases = vec![];
    for _ in 0..400 {
        let (udp_proto, v6) = (rng.gen(), rng.gen());
        let dir = if rng.gen() { Direction::Outgoing } else { Direction::Incoming };
        let (sport, dport) = (rng.gen_range(1..=65535), rng.gen_range(1..=65535));
        let mut f = frame(&mut rng, udp_proto, v6, sport, dport);
        let Parse::Parsed(h) = model::parse(&f) else { unreachable!() };
        match rng.gen_range(0..6) {
            // A wrong checksum stays wrong by the same amount.
            0 => f[h.checksum_offset] ^= 0x5A,
            // UDP without a checksum.
            1 if udp_proto => f[h.checksum_offset..h.checksum_offset + 2].copy_from_slice(&[0, 0]),
            _ => {}
        }
        let hit = rng.gen_bool(0.8).then(|| rng.gen_range(1..=65535));
        let mut c = case(f, dir, hit, &mut rng).unwrap();
        if rng.gen_bool(0.1) {
            // The parser gives up on the header (cut off or beyond the datagram):
            // the frame passes unchanged, roles or not.
            c.complete = false;
        }
        cases.push(c);
    }
    // New ports that make RFC 1624's result 0: UDP must send 0xFFFF, TCP keeps 0.
    for udp_proto in [true, false] {
        for _ in 0..20 {
            let v6 = rng.gen();
            let f = frame(&mut rng, udp_proto, v6, 40000, 443);
            let Parse::Parsed(h) = model::parse(&f) else { unreachable!() };
            let hc = h.checksum;
            // ~HC + ~m + m' = 0xFFFF (one's complement) makes the result 0.
            let need = !fold((!hc) as u32 + (!443u16) as u32);
            if need == 0 || (udp_proto && hc == 0) {
                continue;
            }
            assert_eq!(rfc1624(hc, 443, need), 0);
            cases.push(case(f, Direction::Incoming, Some(need), &mut rng).unwrap());
        }
    }
    // Real frames the model follows, from the corpus.
    for name in ["dns_udp_2.pcap", "ssh.pcap", "ipv6-srh-ext-header.pcap", "802.1ad_QinQ.pcap"] {
        let cap = portshare_sim::pcap::Capture::read(&portshare_sim::corpus::capture(name)).unwrap();
        for f in cap.frames().into_iter().take(40) {
            let dir = if rng.gen() { Direction::Outgoing } else { Direction::Incoming };
            let hit = rng.gen_bool(0.8).then(|| rng.gen_range(1..=65535));
            if let Some(c) = case(f, dir, hit, &mut rng) {
                cases.push(c);
            }
        }
    }
    assert!(cases.len() > 450, "{} cases", cases.len());
    check(&cases, seed);
}
