//! Captures in and out (pcap-file): classic pcap and pcapng, told apart by their first
//! bytes, and written back in the format they came in. Only frame bytes may differ:
//!
//! * classic pcap is read as raw records, so the output keeps the header word for word
//!   (byte order, timestamp resolution, snap length, link-type field), each record's
//!   timestamp fields and original length as stored, and the order;
//! * pcapng is kept block by block as read (pcap-file's raw blocks): interfaces with
//!   their link type, timestamp resolution and options, every packet's interface,
//!   timestamp, flags, comments and other options, statistics, name resolution and
//!   unknown blocks go out byte for byte; in a packet block only the frame bytes are
//!   replaced. (The first section header is the one block pcap-file hands over parsed
//!   only: it is written back from its parsed fields and options.)
//!
//! Every interface must be Ethernet; anything else is refused with the same error as a
//! classic capture of another link type.

use pcap_file::pcap::{PcapHeader, PcapReader, PcapWriter, RawPcapPacket};
use pcap_file::pcapng::blocks::section_header::SectionHeaderBlock;
use pcap_file::pcapng::blocks::{ENHANCED_PACKET_BLOCK, PACKET_BLOCK, SIMPLE_PACKET_BLOCK};
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter, RawBlock};
use pcap_file::DataLink;
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// The first four bytes of a pcapng file (its section header's block type).
const PCAPNG_MAGIC: [u8; 4] = [0x0A, 0x0D, 0x0D, 0x0A];

#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path}: not a pcap or pcapng file: {error}")]
    Header { path: PathBuf, error: pcap_file::PcapError },
    #[error("{path}: record {index} (1-based): {error}")]
    Record { path: PathBuf, index: usize, error: pcap_file::PcapError },
    #[error("{path}: pcapng block {index} (1-based): {error}")]
    Block { path: PathBuf, index: usize, error: String },
    #[error(
        "{path}: {}link type {link_type} is not Ethernet (link type 1); portshare handles Ethernet II frames only",
        interface.map(|i| format!("interface {i}: ")).unwrap_or_default()
    )]
    NotEthernet { path: PathBuf, interface: Option<u32>, link_type: u32 },
    #[error("{path}: writing: {error}")]
    Write { path: PathBuf, error: pcap_file::PcapError },
    #[error("frame count changed: {frames} frames for {records} records")]
    FrameCount { frames: usize, records: usize },
    #[error("record {index} (1-based): frame length changed from {was} to {now} bytes")]
    FrameLength { index: usize, was: usize, now: usize },
}

/// One packet: its frame and where it sits in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub data: Vec<u8>,
    pub stamp: Stamp,
}

/// What a packet carries besides its frame, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// A classic pcap record's header fields (`ts_frac` in µs or ns, as the header says).
    Pcap { ts_sec: u32, ts_frac: u32, orig_len: u32 },
    /// A pcapng packet block: its index in [`Format::PcapNg`]'s `blocks` and where the
    /// frame starts in that block's body (interface, timestamp and options stay there).
    PcapNg { block: usize, offset: usize },
}

/// The file a capture came from, less its frames.
#[derive(Clone, Debug)]
pub enum Format {
    Pcap(PcapHeader),
    PcapNg {
        /// The first section header.
        section: SectionHeaderBlock<'static>,
        /// Every later block, in file order.
        blocks: Vec<RawBlock<'static>>,
    },
}

#[derive(Clone, Debug)]
pub struct Capture {
    pub format: Format,
    pub records: Vec<Record>,
}

/// The link type in a pcap header's link-type field: libpcap keeps it in the low 16
/// bits, the high bits carry optional FCS-length information (LT_LINKTYPE).
pub fn link_type(header: &PcapHeader) -> u32 {
    u32::from(header.datalink) & 0xFFFF
}

impl Capture {
    /// Reads a classic pcap or a pcapng; a link type other than Ethernet is an error.
    pub fn read(path: &Path) -> Result<Capture, PcapError> {
        let io = |error| PcapError::Io { path: path.into(), error };
        let bytes = std::fs::read(path).map_err(io)?;
        if bytes.starts_with(&PCAPNG_MAGIC) {
            return read_pcapng(path, &bytes);
        }
        let mut reader = PcapReader::new(&bytes[..]).map_err(|error| PcapError::Header { path: path.into(), error })?;
        let header = reader.header();
        let link_type = link_type(&header);
        if link_type != LINKTYPE_ETHERNET {
            return Err(PcapError::NotEthernet { path: path.into(), interface: None, link_type });
        }
        let mut records = Vec::new();
        while let Some(r) = reader.next_raw_packet() {
            let r = r.map_err(|error| PcapError::Record { path: path.into(), index: records.len() + 1, error })?;
            let stamp = Stamp::Pcap { ts_sec: r.ts_sec, ts_frac: r.ts_frac, orig_len: r.orig_len };
            records.push(Record { data: r.data.into_owned(), stamp });
        }
        Ok(Capture { format: Format::Pcap(header), records })
    }

    /// `pcap` or `pcapng`.
    pub fn format_name(&self) -> &'static str {
        match self.format {
            Format::Pcap(_) => "pcap",
            Format::PcapNg { .. } => "pcapng",
        }
    }

    pub fn frames(&self) -> Vec<Vec<u8>> {
        self.records.iter().map(|r| r.data.clone()).collect()
    }

    /// The same capture with new frame bytes; each frame must keep its length (the
    /// unit never adds or removes bytes).
    pub fn with_frames(&self, frames: Vec<Vec<u8>>) -> Result<Capture, PcapError> {
        if frames.len() != self.records.len() {
            return Err(PcapError::FrameCount { frames: frames.len(), records: self.records.len() });
        }
        let records = self
            .records
            .iter()
            .zip(frames)
            .enumerate()
            .map(|(i, (r, data))| {
                if data.len() != r.data.len() {
                    return Err(PcapError::FrameLength { index: i + 1, was: r.data.len(), now: data.len() });
                }
                Ok(Record { data, stamp: r.stamp })
            })
            .collect::<Result<_, _>>()?;
        Ok(Capture { format: self.format.clone(), records })
    }

    /// Writes the capture in the format it was read in.
    pub fn write(&self, path: &Path) -> Result<(), PcapError> {
        let file = File::create(path).map_err(|error| PcapError::Io { path: path.into(), error })?;
        let write_err = |error| PcapError::Write { path: path.into(), error };
        let out = match &self.format {
            Format::Pcap(header) => {
                let mut writer = PcapWriter::with_header(BufWriter::new(file), *header).map_err(write_err)?;
                for r in &self.records {
                    let Stamp::Pcap { ts_sec, ts_frac, orig_len } = r.stamp else {
                        unreachable!("a classic capture holds classic records")
                    };
                    let data = Cow::Borrowed(&r.data[..]);
                    let packet = RawPcapPacket { ts_sec, ts_frac, incl_len: r.data.len() as u32, orig_len, data };
                    writer.write_raw_packet(&packet).map_err(write_err)?;
                }
                writer.into_writer()
            }
            Format::PcapNg { section, blocks } => {
                let mut writer =
                    PcapNgWriter::with_section_header(BufWriter::new(file), section.clone()).map_err(write_err)?;
                let mut packets = self.records.iter().peekable();
                for (i, block) in blocks.iter().enumerate() {
                    match packets.next_if(|r| matches!(r.stamp, Stamp::PcapNg { block, .. } if block == i)) {
                        Some(r) => {
                            let Stamp::PcapNg { offset, .. } = r.stamp else { unreachable!() };
                            let mut body = block.body.to_vec();
                            body[offset..offset + r.data.len()].copy_from_slice(&r.data);
                            writer
                                .write_raw_block(&RawBlock { body: Cow::Owned(body), ..block.clone() })
                                .map_err(write_err)?;
                        }
                        None => {
                            writer.write_raw_block(block).map_err(write_err)?;
                        }
                    }
                }
                writer.into_inner()
            }
        };
        out.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|mut f| f.flush())
            .map_err(|error| PcapError::Io { path: path.into(), error })
    }
}

/// Reads a pcapng: every block raw (kept for writing) and, in step, parsed by a second
/// reader over the same bytes (for link types and where each frame lies).
fn read_pcapng(path: &Path, bytes: &[u8]) -> Result<Capture, PcapError> {
    let header_err = |error| PcapError::Header { path: path.into(), error };
    let mut raw = PcapNgReader::new(bytes).map_err(header_err)?;
    let mut parsed = PcapNgReader::new(bytes).map_err(header_err)?;
    let section = raw.section().clone();
    let mut blocks = Vec::new();
    let mut records = Vec::new();
    // Snap lengths of the current section's interfaces (all Ethernet).
    let mut interfaces: Vec<u32> = Vec::new();
    loop {
        // Block 1 is the first section header.
        let index = blocks.len() + 2;
        let block_err = |error: pcap_file::PcapError| PcapError::Block { path: path.into(), index, error: error.to_string() };
        let (Some(r), Some(p)) = (raw.next_raw_block(), parsed.next_block()) else { break };
        let r = r.map_err(block_err)?;
        let p = p.map_err(block_err)?;
        let malformed = |what: String| PcapError::Block { path: path.into(), index, error: what };
        // Where the frame starts in the body (the fixed fields before it) and how long it is.
        let frame = match &p {
            Block::SectionHeader(_) => {
                interfaces.clear();
                None
            }
            Block::InterfaceDescription(idb) => {
                if idb.linktype != DataLink::ETHERNET {
                    let (interface, link_type) = (Some(interfaces.len() as u32), u32::from(idb.linktype));
                    return Err(PcapError::NotEthernet { path: path.into(), interface, link_type });
                }
                interfaces.push(idb.snaplen);
                None
            }
            Block::EnhancedPacket(epb) => Some((epb.interface_id, 20, epb.data.len())),
            Block::Packet(pb) => Some((u32::from(pb.interface_id), 20, pb.data.len())),
            // An SPB's captured length is not stored: it is the original length, cut to
            // interface 0's snap length (0: none) and the body (pcapng spec §4.4).
            Block::SimplePacket(spb) => {
                let snaplen = interfaces.first().copied().unwrap_or(0);
                let limit = if snaplen == 0 { u32::MAX } else { snaplen };
                Some((0, 4, (spb.original_len.min(limit) as usize).min(spb.data.len())))
            }
            _ => None,
        };
        debug_assert_eq!(
            frame.is_some(),
            [ENHANCED_PACKET_BLOCK, PACKET_BLOCK, SIMPLE_PACKET_BLOCK].contains(&r.type_)
        );
        if let Some((interface, offset, len)) = frame {
            if interface as usize >= interfaces.len() {
                return Err(malformed(format!("packet on interface {interface}, but the section describes {}", interfaces.len())));
            }
            let data = r.body[offset..offset + len].to_vec();
            records.push(Record { data, stamp: Stamp::PcapNg { block: blocks.len(), offset } });
        }
        blocks.push(RawBlock { body: Cow::Owned(r.body.into_owned()), ..r });
    }
    Ok(Capture { format: Format::PcapNg { section, blocks }, records })
}

/// A fresh little-endian, microsecond Ethernet capture (for tests and generated samples).
pub fn ethernet_header() -> PcapHeader {
    PcapHeader { endianness: pcap_file::Endianness::Little, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
    use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
    use pcap_file::pcapng::blocks::simple_packet::SimplePacketBlock;
    use std::time::Duration;

    fn sample() -> Capture {
        let stamp = |ts_sec, ts_frac, orig_len| Stamp::Pcap { ts_sec, ts_frac, orig_len };
        Capture {
            format: Format::Pcap(ethernet_header()),
            records: vec![
                Record { data: vec![0xAA; 60], stamp: stamp(1, 999_999, 64) },
                Record { data: vec![1, 2, 3], stamp: stamp(7, 0, 3) },
            ],
        }
    }

    #[test]
    fn write_then_read_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pcap");
        let c = sample();
        c.write(&path).unwrap();
        let back = Capture::read(&path).unwrap();
        let (Format::Pcap(h1), Format::Pcap(h2)) = (&back.format, &c.format) else { panic!("format changed") };
        assert_eq!(h1, h2);
        assert_eq!(back.records, c.records);
        // Byte-identical when rewritten unchanged.
        let path2 = dir.path().join("b.pcap");
        back.with_frames(back.frames()).unwrap().write(&path2).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&path2).unwrap());
    }

    #[test]
    fn non_ethernet_is_refused_with_file_and_link_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.pcap");
        let mut c = sample();
        c.format = Format::Pcap(PcapHeader { datalink: DataLink::RAW, ..ethernet_header() });
        c.write(&path).unwrap();
        let e = Capture::read(&path).unwrap_err().to_string();
        assert!(e.contains("raw.pcap") && e.contains(": link type 101 is not Ethernet"), "{e}");
    }

    #[test]
    fn fcs_bits_in_the_link_type_field_are_not_the_link_type() {
        let mut h = ethernet_header();
        h.datalink = DataLink::from(0x3000_0001);
        assert_eq!(link_type(&h), LINKTYPE_ETHERNET);
    }

    #[test]
    fn frames_must_keep_count_and_length() {
        let c = sample();
        assert!(matches!(c.with_frames(vec![vec![0; 60]]), Err(PcapError::FrameCount { .. })));
        assert!(matches!(
            c.with_frames(vec![vec![0; 60], vec![0; 4]]),
            Err(PcapError::FrameLength { index: 2, .. })
        ));
    }

    fn idb(linktype: DataLink, snaplen: u32, options: Vec<InterfaceDescriptionOption<'static>>) -> Block<'static> {
        Block::InterfaceDescription(InterfaceDescriptionBlock { linktype, snaplen, options })
    }

    fn epb(interface_id: u32, nanos: u64, data: &[u8], options: Vec<EnhancedPacketOption<'static>>) -> Block<'static> {
        Block::EnhancedPacket(EnhancedPacketBlock {
            interface_id,
            timestamp: Duration::from_nanos(nanos),
            original_len: data.len() as u32 + 4,
            data: Cow::Owned(data.to_vec()),
            options,
        })
    }

    /// Writes `blocks` as a pcapng with pcap-file's own writer (big-endian, to show the
    /// byte order is kept too).
    fn write_pcapng(path: &Path, blocks: &[Block<'static>]) {
        let mut w = PcapNgWriter::with_endianness(File::create(path).unwrap(), pcap_file::Endianness::Big).unwrap();
        for b in blocks {
            w.write_block(b).unwrap();
        }
    }

    fn read_blocks(path: &Path) -> Vec<Block<'static>> {
        let bytes = std::fs::read(path).unwrap();
        let mut r = PcapNgReader::new(&bytes[..]).unwrap();
        let mut v = vec![Block::SectionHeader(r.section().clone())];
        while let Some(b) = r.next_block() {
            v.push(match b.unwrap().into_owned() {
                // pcap-file hands an SPB's padding over as frame bytes.
                Block::SimplePacket(mut p) => {
                    p.data.to_mut().truncate(p.original_len as usize);
                    Block::SimplePacket(p)
                }
                b => b,
            });
        }
        v
    }

    #[test]
    fn pcapng_keeps_interfaces_resolutions_options_and_other_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.pcapng");
        let blocks = vec![
            idb(DataLink::ETHERNET, 0, vec![InterfaceDescriptionOption::IfTsResol(9)]),
            epb(0, 1_700_000_000_123_456_789, &[0x11; 60], vec![EnhancedPacketOption::Comment("first".into())]),
            // Microseconds (the default resolution) on a second interface.
            idb(DataLink::ETHERNET, 96, vec![InterfaceDescriptionOption::IfName("eth1".into())]),
            epb(1, 1_700_000_000_654_321, &[0x22; 61], vec![EnhancedPacketOption::Flags(0x2)]),
            Block::SimplePacket(SimplePacketBlock { original_len: 62, data: Cow::Owned(vec![0x33; 62]) }),
            epb(0, 5, &[0x44; 63], vec![]),
        ];
        write_pcapng(&path, &blocks);
        let c = Capture::read(&path).unwrap();
        assert_eq!(c.format_name(), "pcapng");
        assert_eq!(c.frames(), vec![vec![0x11; 60], vec![0x22; 61], vec![0x33; 62], vec![0x44; 63]]);
        // Unchanged frames: the very same bytes.
        let same = dir.path().join("same.pcapng");
        c.write(&same).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&same).unwrap());
        // New frames: every block as before but the frames.
        let frames: Vec<Vec<u8>> = c.frames().iter().map(|f| f.iter().map(|b| b ^ 0xFF).collect()).collect();
        let out = dir.path().join("out.pcapng");
        c.with_frames(frames.clone()).unwrap().write(&out).unwrap();
        let mut want = read_blocks(&path);
        let mut frames = frames.into_iter();
        for b in &mut want {
            match b {
                Block::EnhancedPacket(p) => p.data = Cow::Owned(frames.next().unwrap()),
                Block::SimplePacket(p) => p.data = Cow::Owned(frames.next().unwrap()),
                _ => {}
            }
        }
        assert_eq!(read_blocks(&out), want);
    }

    #[test]
    fn pcapng_interface_that_is_not_ethernet_is_refused_like_classic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mixed.pcapng");
        write_pcapng(
            &path,
            &[idb(DataLink::ETHERNET, 0, vec![]), epb(0, 1, &[0; 60], vec![]), idb(DataLink::RAW, 0, vec![])],
        );
        let e = Capture::read(&path).unwrap_err().to_string();
        assert!(
            e.contains("mixed.pcapng: interface 1: link type 101 is not Ethernet (link type 1); portshare handles Ethernet II"),
            "{e}"
        );
    }

    #[test]
    fn neither_format_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcap");
        std::fs::write(&path, b"hello, not a capture at all").unwrap();
        let e = Capture::read(&path).unwrap_err().to_string();
        assert!(e.contains("x.pcap: not a pcap or pcapng file"), "{e}");
    }
}
