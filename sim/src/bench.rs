//! Throughput and latency of the RTL pipeline on back-to-back frames that all hit the
//! table (the worst case: every frame is looked up and rewritten), and the speed of
//! the cycle simulator itself. `portshare bench` prints these; nothing asserts on the
//! wall-clock figures.

use crate::rtl::{engine, Traffic};
use portshare_host::{Direction, Slot};
use serde::Serialize;
use std::net::Ipv4Addr;
use std::time::Instant;

/// An Ethernet II + IPv4 + TCP frame of exactly `len` bytes (≥ 54), checksums correct.
pub fn tcp4_frame(len: usize, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> Vec<u8> {
    assert!(len >= 54, "a TCP/IPv4 frame needs 54 bytes");
    let payload: Vec<u8> = (0..len - 54).map(|i| i as u8).collect();
    let builder = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.octets(), dst.octets(), 64)
        .tcp(sport, dport, 0, 4096)
        .psh()
        .ack(0);
    let mut f = Vec::with_capacity(len);
    builder.write(&mut f, &payload).expect("writing to a Vec cannot fail");
    f
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchCase {
    pub frame_bytes: usize,
    pub frames: usize,
    pub capacity: usize,
    pub bytes_in: u64,
    /// Clocks from the first byte offered to the last byte out.
    pub clocks: u64,
    pub bytes_per_clock: f64,
    pub latency_min_clocks: u64,
    pub latency_max_clocks: u64,
    /// Every frame was rewritten (the entry sits in the table's last slot).
    pub rewritten: u64,
    pub sim_seconds: f64,
    pub sim_clocks_per_second: f64,
    pub sim_frames_per_second: f64,
}

/// Streams `frames` back-to-back frames of `frame_bytes` bytes, all hitting the table's
/// last entry, through a pipeline of `capacity` entries.
pub fn run_case(capacity: usize, frame_bytes: usize, frames: usize) -> anyhow::Result<BenchCase> {
    let server = Ipv4Addr::new(192, 0, 2, 10);
    let mut e = engine(capacity)?;
    let mut slots = vec![Slot::default(); capacity];
    slots[capacity - 1] = Slot::new(server.into(), true, false, 443, 8443);
    e.load(&slots);
    let frame = tcp4_frame(frame_bytes, Ipv4Addr::new(198, 51, 100, 7), server, 40000, 443);
    let batch: Vec<(&[u8], Direction)> = (0..frames).map(|_| (frame.as_slice(), Direction::Incoming)).collect();
    let t = Instant::now();
    let r = e.stream(&batch, &Traffic::default());
    let secs = t.elapsed().as_secs_f64();
    let c = e.read_counters();
    Ok(BenchCase {
        frame_bytes,
        frames,
        capacity,
        bytes_in: r.bytes_in,
        clocks: r.clocks,
        bytes_per_clock: r.bytes_in as f64 / r.clocks as f64,
        latency_min_clocks: r.latency_min,
        latency_max_clocks: r.latency_max,
        rewritten: c.rewritten,
        sim_seconds: secs,
        sim_clocks_per_second: r.clocks as f64 / secs,
        sim_frames_per_second: frames as f64 / secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_frames_are_valid_tcp() {
        let f = tcp4_frame(60, Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(5, 6, 7, 8), 1, 2);
        assert_eq!(f.len(), 60);
        let p = crate::model::parse(&f);
        assert!(matches!(p, crate::model::Parse::Parsed(_)), "{p:?}");
        // the checksum verifies by full recomputation
        let h = etherparse::PacketHeaders::from_ethernet_slice(&f).unwrap();
        let (Some(etherparse::NetHeaders::Ipv4(ip, _)), Some(etherparse::TransportHeader::Tcp(t))) = (h.net, h.transport) else {
            panic!("not TCP/IPv4")
        };
        assert_eq!(t.calc_checksum_ipv4(&ip, h.payload.slice()).unwrap(), t.checksum);
    }

    #[test]
    fn back_to_back_minimum_frames_move_one_byte_per_clock() {
        let c = run_case(16, 60, 200).unwrap();
        assert_eq!(c.rewritten, 200);
        // Every byte in takes a clock; fill and drain add the latency once.
        assert!(c.clocks <= c.bytes_in + c.latency_max_clocks + 4, "{c:?}");
    }
}
