//! The capture corpus that ships with the repository (`tests/corpus/`): tcpdump's own
//! test captures, BSD licence (`tests/corpus/tcpdump/LICENSE.tcpdump`, provenance in
//! `tests/corpus/README.md`). One place finds it, with one policy: a missing corpus is
//! an error (a test that skips its real frames proves nothing).

use std::path::{Path, PathBuf};

/// `tests/corpus/tcpdump` of this checkout.
pub fn tcpdump_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/tcpdump")
}

/// One capture of the corpus by file name; panics (naming the path) when it is absent.
pub fn capture(name: &str) -> PathBuf {
    let p = tcpdump_dir().join(name);
    assert!(p.is_file(), "corpus capture {} not found (it ships in the repository)", p.display());
    p
}

/// Every classic pcap in the corpus, sorted by name; panics when the corpus is missing
/// or incomplete.
pub fn pcaps() -> Vec<PathBuf> {
    let dir = tcpdump_dir();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus not found at {}: {e} (it ships in the repository)", dir.display()));
    let mut v: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    v.sort();
    assert!(v.len() >= 230, "expected the 230 corpus captures in {}, found {}", dir.display(), v.len());
    v
}

/// Up to `per_capture` frames of every corpus capture (`pcaps()` order) of at most the
/// Ethernet maximum, 1 514 bytes without FCS (a few captures hold 64–80 kB segments a
/// NIC's offload saw before cutting them into frames — no wire carries those): the
/// Ethernet benches' sample.
pub fn ethernet_frames(per_capture: usize) -> Vec<Vec<u8>> {
    pcaps()
        .iter()
        .flat_map(|p| {
            let c = crate::pcap::Capture::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            c.frames().into_iter().filter(|f| f.len() <= 1514).take(per_capture)
        })
        .collect()
}
