//! The fixed session that `portshare build --verify` runs through a bitstream at its
//! UART pins (and the tests through the board's netlist and bitstream), with the
//! host's codec (`Client`) and judged by the reference model: read the power-on table
//! and counters (empty: the block RAMs' initial contents), load a full table of
//! IPv4 and IPv6 entries, some of whose bytes SLIP must escape, read every slot
//! back, inject real corpus frames in both directions and compare each with the
//! model, compare the counters with the model's tally, and send one request with a
//! bad CRC and one of garbage: each must get an error reply and leave the table as
//! it was. Every difference is collected; the session passes when there is none.

use crate::board::SimBoard;
use crate::model::{self, Counters, CountOutcome};
use portshare_host::protocol::{self as proto, Client, Deframed, Reply, Request, SlipDecoder};
use portshare_host::transport::Transport;
use portshare_host::{Direction, Slot};
use serde::Serialize;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// The captures whose frames the session injects (the co-simulation's too).
pub const CAPTURES: [&str; 6] =
    ["dns_udp_2.pcap", "ssh.pcap", "afs.pcap", "ipv6-srh-ext-header.pcap", "802.1ad_QinQ.pcap", "dns_tcp.pcap"];
/// Frames injected (the issue asks for at least 50), and the longest taken: short
/// frames keep the session to seconds at the bitstream's simulation speed.
pub const FRAMES: usize = 60;
const MAX_FRAME: usize = 320;
/// Table entries taken from the frames' own flows, per direction (the rest of the
/// table is made up so that its bytes need SLIP escapes).
const FLOWS: usize = 12;
/// A reply's base wait in simulated time: the board answers in microseconds, so a
/// dead or broken board is reported quickly (the client adds long replies' wire time).
const REPLY_TIMEOUT: Duration = Duration::from_millis(2);
/// Differences listed in full (the rest are counted).
const LISTED: usize = 12;

#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    pub level: String,
    pub entries_written: usize,
    pub entries_read_back: usize,
    pub frames_injected: usize,
    pub frames_matched: usize,
    pub counters_match: bool,
    /// Every slot empty and every counter zero before anything was written.
    pub power_on_empty: bool,
    /// Error replies to the bad-CRC and garbage requests (2 when both came).
    pub errors_seen: usize,
    pub table_unchanged_after_errors: bool,
    pub differences: Vec<String>,
    pub clocks: u64,
    pub seconds: f64,
    /// Stop at the first difference ([`first_difference`]).
    #[serde(skip)]
    stop_at_first: bool,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.differences.is_empty()
    }

    /// True when a session that stops at the first difference has found one.
    fn done(&self) -> bool {
        self.stop_at_first && !self.differences.is_empty()
    }

    fn differ(&mut self, what: String) {
        if self.differences.len() < LISTED {
            self.differences.push(what);
        } else if self.differences.len() == LISTED {
            self.differences.push("… and more".into());
        }
    }

    pub fn summary(&self) -> String {
        if self.done() {
            return format!(
                "verify ({} level), stopped at the first difference after {} clocks in {:.1} s: FAILED:\n  {}\n",
                self.level,
                self.clocks,
                self.seconds,
                self.differences[0]
            );
        }
        format!(
            "verify ({} level): power-on table and counters {}; {} entries written, {} read back; {}/{} frames as the model; counters {}; {} error replies, \
             table {} after them; {} clocks in {:.1} s: {}\n",
            self.level,
            if self.power_on_empty { "empty" } else { "NOT EMPTY" },
            self.entries_written,
            self.entries_read_back,
            self.frames_matched,
            self.frames_injected,
            if self.counters_match { "match" } else { "DIFFER" },
            self.errors_seen,
            if self.table_unchanged_after_errors { "unchanged" } else { "CHANGED" },
            self.clocks,
            self.seconds,
            if self.passed() { "PASSED".to_string() } else { format!("FAILED:\n  {}", self.differences.join("\n  ")) }
        )
    }
}

/// The session's table for `capacity` entries: the frames' flows in both directions
/// first (so frames are rewritten), then IPv4 and IPv6 entries built around the bytes
/// SLIP escapes (0xC0, 0xDB) in their addresses and ports.
pub fn table(frames: &[(Vec<u8>, Direction)], capacity: usize) -> Vec<Slot> {
    let mut slots: Vec<Slot> = vec![];
    for dir in [Direction::Incoming, Direction::Outgoing] {
        let of_dir = frames.iter().filter(|(_, d)| *d == dir).map(|(f, _)| f.as_slice());
        if let Ok(t) = crate::flows::table_from_frames(of_dir, dir, FLOWS, capacity, Path::new("<verify flows>")) {
            slots.extend(t.slots().into_iter().filter(|s| s.valid));
        }
    }
    let mut i = 0u16;
    while slots.len() < capacity {
        let addr: IpAddr = if i % 2 == 0 {
            [192, 0, 2, [0xC0, 0xDB][(i / 2 % 2) as usize]].into()
        } else {
            [0x2001, 0xdb8, 0xc0db, 0xdbc0, 0, 0, 0xc0c0, i].into()
        };
        slots.push(Slot::new(addr, i % 3 != 2, i % 3 != 1, 0xC000 | i, 0xDB00 | i));
        i += 1;
    }
    slots.truncate(capacity);
    slots
}

/// The session's frames: short frames of the [`CAPTURES`], alternately incoming and
/// outgoing.
pub fn frames() -> anyhow::Result<Vec<(Vec<u8>, Direction)>> {
    let mut each = vec![];
    for name in CAPTURES {
        let cap = crate::pcap::Capture::read(&crate::corpus::capture(name))?;
        each.push(cap.frames().into_iter().filter(|f| !f.is_empty() && f.len() <= MAX_FRAME).collect::<Vec<_>>());
    }
    // Round robin over the captures (some have few short frames), up to FRAMES.
    let mut out = vec![];
    for i in 0..each.iter().map(Vec::len).max().unwrap_or(0) {
        out.extend(each.iter().filter_map(|frames| frames.get(i).cloned()));
    }
    out.truncate(FRAMES);
    anyhow::ensure!(out.len() >= 50, "the corpus captures {CAPTURES:?} hold only {} frames of at most {MAX_FRAME} bytes", out.len());
    Ok(out
        .into_iter()
        .enumerate()
        .map(|(i, f)| (f, if i % 2 == 0 { Direction::Incoming } else { Direction::Outgoing }))
        .collect())
}

/// Sends raw wire bytes and collects the replies until the board is quiet.
fn exchange(c: &mut Client<SimBoard>, wire: &[u8]) -> anyhow::Result<Vec<Reply>> {
    let board = c.transport();
    board.send(wire)?;
    let (mut rx, mut replies, mut buf) = (SlipDecoder::new(), vec![], vec![]);
    loop {
        buf.clear();
        if board.recv(&mut buf, REPLY_TIMEOUT)? == 0 {
            return Ok(replies);
        }
        for p in rx.push(&buf) {
            if let Deframed::Packet(body) = p {
                replies.push(Reply::decode(&body).map_err(|e| anyhow::anyhow!("a reply that does not decode: {e:?}"))?);
            }
        }
    }
}

/// Runs the session on `board` (labelled `level` in the report).
pub fn session(board: SimBoard, level: &str) -> anyhow::Result<VerifyReport> {
    session_with(board, level, false)
}

/// The session, stopped where it finds its first difference (what a test of a broken
/// bitstream needs to know, in a fraction of the time): the report up to there.
pub fn first_difference(board: SimBoard, level: &str) -> anyhow::Result<VerifyReport> {
    session_with(board, level, true)
}

fn session_with(board: SimBoard, level: &str, stop_at_first: bool) -> anyhow::Result<VerifyReport> {
    let capacity = board.capacity();
    let frames = frames()?;
    let slots = table(&frames, capacity);
    let t = Instant::now();
    let clocks0 = board.clocks();
    let mut c = Client::new(board).with_timeout(REPLY_TIMEOUT).with_retries(0);
    let mut r = VerifyReport { level: level.to_string(), stop_at_first, ..Default::default() };
    let result = run(&mut c, &slots, &frames, &mut r);
    if let Err(e) = result {
        r.differ(format!("the session stopped: {e:#}"));
    }
    r.clocks = c.transport().clocks() - clocks0;
    r.seconds = t.elapsed().as_secs_f64();
    Ok(r)
}

/// Every slot read back and compared with `slots`; the number that came back equal.
fn read_back(c: &mut Client<SimBoard>, slots: &[Slot], r: &mut VerifyReport, when: &str) -> anyhow::Result<usize> {
    let mut same = 0;
    for (i, want) in slots.iter().enumerate() {
        let got = c.read_entry(i as u8)?;
        if got == *want {
            same += 1;
        } else {
            r.differ(format!("{when}: slot {i} reads back {got:?}, written {want:?}"));
        }
    }
    Ok(same)
}

fn run(c: &mut Client<SimBoard>, slots: &[Slot], frames: &[(Vec<u8>, Direction)], r: &mut VerifyReport) -> anyhow::Result<()> {
    // A board just configured holds an empty table and zero counters (its block RAMs'
    // initial contents): nothing is rewritten before a table is loaded.
    let empty = vec![Slot::from_record(&[0; portshare_host::RECORD_LEN]); slots.len()];
    r.power_on_empty = read_back(c, &empty, r, "at power-on")? == slots.len();
    let at_power_on = c.read_counters(slots.len())?;
    if at_power_on != Counters::new(slots.len()) {
        r.power_on_empty = false;
        r.differ(format!("at power-on the counters are {at_power_on:?}, not zero"));
    }
    if r.done() {
        return Ok(());
    }
    c.clear_table()?;
    c.reset_counters()?;
    for (i, s) in slots.iter().enumerate() {
        c.write_entry(i as u8, s)?;
        r.entries_written += 1;
    }
    r.entries_read_back = read_back(c, slots, r, "after loading")?;
    if r.done() {
        return Ok(());
    }

    let mut tally = Counters::new(slots.len());
    for (i, (f, dir)) in frames.iter().enumerate() {
        let want = model::process_frame(f, *dir, slots);
        tally.count(&want.outcome);
        let got = c.inject(*dir, f)?;
        r.frames_injected += 1;
        if got == want.frame {
            r.frames_matched += 1;
        } else {
            let at = got.iter().zip(&want.frame).position(|(a, b)| a != b).unwrap_or(got.len().min(want.frame.len()));
            r.differ(format!(
                "frame {i} ({} bytes, {dir}): the board's output differs from the model's ({:?}) from byte {at} ({} vs {} bytes)",
                f.len(),
                want.outcome,
                got.len(),
                want.frame.len()
            ));
            if r.done() {
                return Ok(());
            }
        }
    }
    let counters = c.read_counters(slots.len())?;
    r.counters_match = counters == tally;
    if !r.counters_match {
        r.differ(format!("counters: the board's {counters:?}, the model's {tally:?}"));
    }
    if r.done() {
        return Ok(());
    }

    let mut bad_crc = Request::ClearTable.body(0x51);
    bad_crc[2] ^= 0x80;
    let garbage: Vec<u8> = [0x3C, 0xDB, 0x11, 0x99, 0x42, 0x07, proto::SLIP_END].to_vec();
    for (what, wire, status) in
        [("bad CRC", proto::slip_encode(&bad_crc), Some(proto::STATUS_BAD_CRC)), ("garbage", garbage, None)]
    {
        let replies = exchange(c, &wire)?;
        match replies.as_slice() {
            [one] if status.map_or(one.status != proto::STATUS_OK, |s| one.status == s) => r.errors_seen += 1,
            other => r.differ(format!("the {what} request got {other:?}, not one error reply")),
        }
    }
    let same = read_back(c, slots, r, "after the bad requests")?;
    r.table_unchanged_after_errors = same == slots.len();
    Ok(())
}
