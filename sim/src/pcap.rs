//! Classic pcap in and out (pcap-file). A capture is read as raw records, so the
//! output keeps everything the input had: the header word for word (byte order,
//! timestamp resolution, snap length, link-type field), each record's timestamp fields
//! and original length as stored, and the order. Only frame bytes may differ.

use pcap_file::pcap::{PcapHeader, PcapReader, PcapWriter, RawPcapPacket};
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path}: not a classic pcap file: {error}")]
    Header { path: PathBuf, error: pcap_file::PcapError },
    #[error("{path}: record {index} (1-based): {error}")]
    Record { path: PathBuf, index: usize, error: pcap_file::PcapError },
    #[error(
        "{path}: link type {link_type} is not Ethernet (link type 1); portshare handles Ethernet II frames only"
    )]
    NotEthernet { path: PathBuf, link_type: u32 },
    #[error("{path}: writing: {error}")]
    Write { path: PathBuf, error: pcap_file::PcapError },
    #[error("frame count changed: {frames} frames for {records} records")]
    FrameCount { frames: usize, records: usize },
    #[error("record {index} (1-based): frame length changed from {was} to {now} bytes")]
    FrameLength { index: usize, was: usize, now: usize },
}

/// One record as stored in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub ts_sec: u32,
    /// Microseconds or nanoseconds, as the header says.
    pub ts_frac: u32,
    pub orig_len: u32,
    pub data: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Capture {
    pub header: PcapHeader,
    pub records: Vec<Record>,
}

/// The link type in a pcap header's link-type field: libpcap keeps it in the low 16
/// bits, the high bits carry optional FCS-length information (LT_LINKTYPE).
pub fn link_type(header: &PcapHeader) -> u32 {
    u32::from(header.datalink) & 0xFFFF
}

impl Capture {
    /// Reads a classic pcap; a link type other than Ethernet is an error.
    pub fn read(path: &Path) -> Result<Capture, PcapError> {
        let file = File::open(path).map_err(|error| PcapError::Io { path: path.into(), error })?;
        let mut reader = PcapReader::new(BufReader::new(file))
            .map_err(|error| PcapError::Header { path: path.into(), error })?;
        let header = reader.header();
        let link_type = link_type(&header);
        if link_type != LINKTYPE_ETHERNET {
            return Err(PcapError::NotEthernet { path: path.into(), link_type });
        }
        let mut records = Vec::new();
        while let Some(r) = reader.next_raw_packet() {
            let r = r.map_err(|error| PcapError::Record { path: path.into(), index: records.len() + 1, error })?;
            records.push(Record { ts_sec: r.ts_sec, ts_frac: r.ts_frac, orig_len: r.orig_len, data: r.data.into_owned() });
        }
        Ok(Capture { header, records })
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
                Ok(Record { data, ..r.clone() })
            })
            .collect::<Result<_, _>>()?;
        Ok(Capture { header: self.header, records })
    }

    pub fn write(&self, path: &Path) -> Result<(), PcapError> {
        let file = File::create(path).map_err(|error| PcapError::Io { path: path.into(), error })?;
        let write_err = |error| PcapError::Write { path: path.into(), error };
        let mut writer = PcapWriter::with_header(BufWriter::new(file), self.header).map_err(write_err)?;
        for r in &self.records {
            writer
                .write_raw_packet(&RawPcapPacket {
                    ts_sec: r.ts_sec,
                    ts_frac: r.ts_frac,
                    incl_len: r.data.len() as u32,
                    orig_len: r.orig_len,
                    data: Cow::Borrowed(&r.data),
                })
                .map_err(write_err)?;
        }
        writer
            .into_writer()
            .flush()
            .map_err(|error| PcapError::Io { path: path.into(), error })
    }
}

/// A fresh little-endian, microsecond Ethernet capture (for tests and generated samples).
pub fn ethernet_header() -> PcapHeader {
    PcapHeader { endianness: pcap_file::Endianness::Little, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::DataLink;

    fn sample() -> Capture {
        Capture {
            header: ethernet_header(),
            records: vec![
                Record { ts_sec: 1, ts_frac: 999_999, orig_len: 64, data: vec![0xAA; 60] },
                Record { ts_sec: 7, ts_frac: 0, orig_len: 3, data: vec![1, 2, 3] },
            ],
        }
    }

    #[test]
    fn write_then_read_keeps_everything() {
        let dir = std::env::temp_dir().join(format!("portshare-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.pcap");
        let c = sample();
        c.write(&path).unwrap();
        let back = Capture::read(&path).unwrap();
        assert_eq!(back.header, c.header);
        assert_eq!(back.records, c.records);
        // Byte-identical when rewritten unchanged.
        let path2 = dir.join("b.pcap");
        back.with_frames(back.frames()).unwrap().write(&path2).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&path2).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn non_ethernet_is_refused_with_file_and_link_type() {
        let dir = std::env::temp_dir().join(format!("portshare-pcap-raw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("raw.pcap");
        let mut c = sample();
        c.header.datalink = DataLink::RAW;
        c.write(&path).unwrap();
        let e = Capture::read(&path).unwrap_err().to_string();
        assert!(e.contains("raw.pcap") && e.contains("link type 101"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
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
}
