//! Capture formats end to end: a corpus capture as classic µs pcap, as nanosecond pcap
//! and as pcapng (written with pcap-file: two interfaces of different timestamp
//! resolutions, packet options, a statistics block; and converted by Wireshark's
//! `editcap`, an independent writer and reader) through `portshare sim` on both engines
//! and through `portshare inject`: the frames must be the reference model's, and
//! everything else the input's.


use pcap_file::pcap::{PcapHeader, PcapReader, PcapWriter, RawPcapPacket};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::blocks::interface_statistics::{InterfaceStatisticsBlock, InterfaceStatisticsOption};
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter};
use pcap_file::{DataLink, TsResolution};
use portshare_host::table::Table;
use portshare_host::Direction;
use portshare_sim::model;
use std::borrow::Cow;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn portshare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portshare")).args(args).output().expect("run portshare")
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "portshare failed: {}", String::from_utf8_lossy(&o.stderr));
    o
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The classic records of a pcap: (header, [(ts_sec, ts_frac, orig_len, data)]).
type Classic = (PcapHeader, Vec<(u32, u32, u32, Vec<u8>)>);

fn read_classic(path: &Path) -> Classic {
    let mut r = PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let header = r.header();
    let mut v = Vec::new();
    while let Some(p) = r.next_raw_packet() {
        let p = p.unwrap();
        v.push((p.ts_sec, p.ts_frac, p.orig_len, p.data.into_owned()));
    }
    (header, v)
}

/// Every block of a pcapng as pcap-file parses it, and its packets' frames.
fn read_pcapng(path: &Path) -> (Vec<Block<'static>>, Vec<Vec<u8>>) {
    let bytes = std::fs::read(path).unwrap();
    let mut r = PcapNgReader::new(&bytes[..]).unwrap();
    let mut blocks = vec![Block::SectionHeader(r.section().clone())];
    let mut frames = Vec::new();
    while let Some(b) = r.next_block() {
        let b = b.unwrap().into_owned();
        if let Block::EnhancedPacket(p) = &b {
            frames.push(p.data.to_vec());
        }
        blocks.push(b);
    }
    (blocks, frames)
}

/// The blocks with every packet's frame left out: what must not change.
fn without_frames(blocks: &[Block<'static>]) -> Vec<Block<'static>> {
    blocks
        .iter()
        .cloned()
        .map(|b| match b {
            Block::EnhancedPacket(p) => Block::EnhancedPacket(EnhancedPacketBlock { data: Cow::Borrowed(&[]), ..p }),
            b => b,
        })
        .collect()
}

/// `ssh.pcap` as a pcapng: packets alternate between interface 0 (nanoseconds,
/// `if_tsresol` 9) and interface 1 (microseconds, the default), each with a comment and
/// flags; a statistics block at the end.
fn make_pcapng(classic: &Classic, path: &Path) {
    let mut w = PcapNgWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    let idb = |options| Block::InterfaceDescription(InterfaceDescriptionBlock { linktype: DataLink::ETHERNET, snaplen: 0, options });
    w.write_block(&idb(vec![InterfaceDescriptionOption::IfTsResol(9), InterfaceDescriptionOption::IfName("eth0".into())]))
        .unwrap();
    w.write_block(&idb(vec![InterfaceDescriptionOption::IfName("eth1".into())])).unwrap();
    for (i, (sec, usec, orig_len, data)) in classic.1.iter().enumerate() {
        let interface = (i % 2) as u32;
        // pcap-file keeps an EPB's timestamp as a count of the interface's units.
        let units = if interface == 0 {
            *sec as u64 * 1_000_000_000 + *usec as u64 * 1000 + 7
        } else {
            *sec as u64 * 1_000_000 + *usec as u64
        };
        w.write_block(&Block::EnhancedPacket(EnhancedPacketBlock {
            interface_id: interface,
            timestamp: Duration::from_nanos(units),
            original_len: *orig_len,
            data: Cow::Borrowed(data),
            options: vec![EnhancedPacketOption::Comment(format!("packet {i}").into()), EnhancedPacketOption::Flags(1 + interface)],
        }))
        .unwrap();
    }
    w.write_block(&Block::InterfaceStatistics(InterfaceStatisticsBlock {
        interface_id: 1,
        timestamp: 42,
        options: vec![InterfaceStatisticsOption::IsbIfRecv(27)],
    }))
    .unwrap();
}

/// The model's frames for `frames` under `table`.
fn model_frames(frames: &[Vec<u8>], table: &Path) -> Vec<Vec<u8>> {
    let slots = Table::load(table, 64).unwrap().slots();
    frames.iter().map(|f| model::process_frame(f, Direction::Incoming, &slots).frame).collect()
}

#[test]
fn pcapng_and_nanosecond_pcap_through_both_engines_keep_everything_but_the_frames() {
    let dir = tempfile::tempdir().unwrap();
    let input = portshare_sim::corpus::capture("ssh.pcap");
    let table = dir.path().join("flows.toml");
    let classic_out = dir.path().join("out.pcap");
    ok(portshare(&["sim", "--engine", "model", "--flows", "4", "--save-table", s(&table), s(&input), "-o", s(&classic_out)]));
    let classic = read_classic(&input);
    let frames: Vec<Vec<u8>> = classic.1.iter().map(|r| r.3.clone()).collect();
    let want = model_frames(&frames, &table);
    assert!(want.iter().zip(&frames).filter(|(a, b)| a != b).count() > 0, "the table rewrites some frames");
    let classic_frames: Vec<Vec<u8>> = read_classic(&classic_out).1.into_iter().map(|r| r.3).collect();
    assert_eq!(classic_frames, want);

    // pcapng, written by pcap-file.
    let ng = dir.path().join("in.pcapng");
    make_pcapng(&classic, &ng);
    let (in_blocks, in_frames) = read_pcapng(&ng);
    assert_eq!(in_frames, frames);
    // Nanosecond classic pcap: fractions past 999 999 only nanoseconds can hold.
    let ns = dir.path().join("in-ns.pcap");
    {
        let header = PcapHeader { ts_resolution: TsResolution::NanoSecond, ..classic.0 };
        let mut w = PcapWriter::with_header(std::fs::File::create(&ns).unwrap(), header).unwrap();
        for (sec, usec, orig_len, data) in &classic.1 {
            let ts_frac = usec * 1000 + 999;
            let packet = RawPcapPacket { ts_sec: *sec, ts_frac, incl_len: data.len() as u32, orig_len: *orig_len, data: Cow::Borrowed(data) };
            w.write_raw_packet(&packet).unwrap();
        }
    }
    let ns_in = read_classic(&ns);
    assert_eq!(ns_in.0.ts_resolution, TsResolution::NanoSecond);

    for engine in ["model", "rtl"] {
        let out = dir.path().join(format!("out-{engine}.pcapng"));
        ok(portshare(&["sim", "--engine", engine, "--table", s(&table), s(&ng), "-o", s(&out)]));
        let (out_blocks, out_frames) = read_pcapng(&out);
        assert_eq!(out_frames, want, "{engine}: pcapng frames differ from the classic run's");
        assert_eq!(without_frames(&out_blocks), without_frames(&in_blocks), "{engine}: interfaces, timestamps or options changed");

        let out = dir.path().join(format!("out-{engine}-ns.pcap"));
        ok(portshare(&["sim", "--engine", engine, "--table", s(&table), s(&ns), "-o", s(&out)]));
        let ns_out = read_classic(&out);
        assert_eq!(ns_out.0, ns_in.0, "{engine}: nanosecond header changed");
        let stamps = |c: &Classic| c.1.iter().map(|r| (r.0, r.1, r.2)).collect::<Vec<_>>();
        assert_eq!(stamps(&ns_out), stamps(&ns_in), "{engine}: nanosecond timestamps changed");
        assert_eq!(ns_out.1.into_iter().map(|r| r.3).collect::<Vec<_>>(), want, "{engine}");
    }

    // Through the board's pipeline over the control protocol, too.
    let out = dir.path().join("inject.pcapng");
    ok(portshare(&["inject", "--device", "sim", "--sim-capacity", "16", "--table", s(&table), s(&ng), "-o", s(&out)]));
    let (out_blocks, out_frames) = read_pcapng(&out);
    assert_eq!(out_frames, want);
    assert_eq!(without_frames(&out_blocks), without_frames(&in_blocks));
}

/// Wireshark's own tools as the second opinion: `editcap` turns the corpus capture into
/// a pcapng; portshare's output of it, turned back into classic pcap by `editcap`,
/// holds the classic run's frames at the classic input's timestamps.
#[test]
fn editcap_reads_what_portshare_writes() {
    let editcap = |args: &[&str]| {
        let o = Command::new("editcap")
            .args(args)
            .output()
            .expect("editcap not found: scripts/setup installs it (Debian package wireshark-common)");
        assert!(o.status.success(), "editcap {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    let dir = tempfile::tempdir().unwrap();
    let input = portshare_sim::corpus::capture("ssh.pcap");
    let table = dir.path().join("flows.toml");
    let classic_out = dir.path().join("out.pcap");
    ok(portshare(&["sim", "--engine", "model", "--flows", "4", "--save-table", s(&table), s(&input), "-o", s(&classic_out)]));
    let ng = dir.path().join("editcap.pcapng");
    editcap(&["-F", "pcapng", s(&input), s(&ng)]);
    let out = dir.path().join("out.pcapng");
    ok(portshare(&["sim", "--engine", "model", "--table", s(&table), s(&ng), "-o", s(&out)]));
    assert_eq!(&std::fs::read(&out).unwrap()[..4], &[0x0A, 0x0D, 0x0D, 0x0A], "written as pcapng");
    let back = dir.path().join("back.pcap");
    editcap(&["-F", "pcap", s(&out), s(&back)]);
    let (classic_in, classic_run, back) = (read_classic(&input), read_classic(&classic_out), read_classic(&back));
    let stamps = |c: &Classic| c.1.iter().map(|r| (r.0, r.1, r.2)).collect::<Vec<_>>();
    let frames = |c: &Classic| c.1.iter().map(|r| r.3.clone()).collect::<Vec<_>>();
    assert_eq!(stamps(&back), stamps(&classic_in));
    assert_eq!(frames(&back), frames(&classic_run));
}

#[test]
fn a_pcapng_interface_that_is_not_ethernet_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ng = dir.path().join("raw.pcapng");
    {
        let mut w = PcapNgWriter::new(std::fs::File::create(&ng).unwrap()).unwrap();
        let idb = |linktype| Block::InterfaceDescription(InterfaceDescriptionBlock { linktype, snaplen: 0, options: vec![] });
        w.write_block(&idb(DataLink::ETHERNET)).unwrap();
        w.write_block(&idb(DataLink::RAW)).unwrap();
        w.write_block(&Block::EnhancedPacket(EnhancedPacketBlock {
            interface_id: 1,
            timestamp: Duration::ZERO,
            original_len: 20,
            data: Cow::Owned(vec![0x45; 20]),
            options: vec![],
        }))
        .unwrap();
    }
    let out = dir.path().join("out.pcapng");
    let table = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/table.toml");
    for args in [
        vec!["sim", "--engine", "model", "--table", s(&table), s(&ng), "-o", s(&out)],
        vec!["inject", "--device", "sim", "--sim-capacity", "16", s(&ng), "-o", s(&out)],
    ] {
        let o = portshare(&args);
        assert!(!o.status.success(), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("raw.pcapng: interface 1: link type 101 is not Ethernet (link type 1)"), "{args:?}: {e}");
        assert!(!out.exists(), "{args:?}: nothing written");
    }
}
