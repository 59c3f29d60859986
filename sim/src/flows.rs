//! A table built from the traffic in captures, so that real frames get rewritten: the
//! most common (address, protocol, port) keys among the TCP/UDP frames the model
//! parses, each given a made-up other port. Incoming keys on the destination (the key
//! port becomes `shared_port`); outgoing keys on the source (the key port becomes
//! `assigned_port`). Deterministic: ties break on the key itself.

use crate::model::{self, L4Protocol, Parse};
use portshare_host::table::{Entry, Protocol, Table, TableError};
use portshare_host::Direction;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::Path;

/// The made-up ports start here (above the well-known and registered ranges that
/// dominate captures, so they seldom collide with a key port).
pub const FIRST_MADE_UP_PORT: u16 = 40000;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub address: IpAddr,
    pub protocol: L4Protocol,
    pub port: u16,
}

/// (key, frames) pairs, most frames first, then by key.
pub fn count_flows<'a>(frames: impl IntoIterator<Item = &'a [u8]>, direction: Direction) -> Vec<(FlowKey, u64)> {
    let mut counts: HashMap<FlowKey, u64> = HashMap::new();
    for f in frames {
        if let Parse::Parsed(h) = model::parse(f) {
            let key = match direction {
                Direction::Incoming => FlowKey { address: h.destination, protocol: h.protocol, port: h.destination_port },
                Direction::Outgoing => FlowKey { address: h.source, protocol: h.protocol, port: h.source_port },
            };
            *counts.entry(key).or_default() += 1;
        }
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|(ka, na), (kb, nb)| nb.cmp(na).then_with(|| ka.cmp(kb)));
    v
}

/// Entries for the `max_entries` most common flows. Port 0 cannot go in a table, so
/// flows on port 0 are skipped. The made-up port of each entry differs from every key
/// port of the same address, so no frame is rewritten onto another entry's port.
pub fn entries_from_flows(flows: &[(FlowKey, u64)], direction: Direction, max_entries: usize) -> Vec<Entry> {
    let chosen: Vec<&FlowKey> = flows.iter().map(|(k, _)| k).filter(|k| k.port != 0).take(max_entries).collect();
    let key_ports: BTreeSet<(IpAddr, u16)> = chosen.iter().map(|k| (k.address, k.port)).collect();
    let mut next = FIRST_MADE_UP_PORT;
    chosen
        .into_iter()
        .map(|k| {
            while key_ports.contains(&(k.address, next)) {
                next += 1;
            }
            let made_up = next;
            next += 1;
            let (shared_port, assigned_port) = match direction {
                Direction::Incoming => (k.port, made_up),
                Direction::Outgoing => (made_up, k.port),
            };
            Entry {
                name: Some(format!("flow-{}-{}-{}", k.protocol.name(), k.address, k.port)),
                address: k.address,
                shared_port,
                assigned_port,
                protocol: match k.protocol {
                    L4Protocol::Tcp => Protocol::Tcp,
                    L4Protocol::Udp => Protocol::Udp,
                },
            }
        })
        .collect()
}

/// A validated table of the most common flows in `frames` (at most `capacity` entries).
/// `label` names the table in messages (e.g. "flows of in.pcap").
pub fn table_from_frames<'a>(
    frames: impl IntoIterator<Item = &'a [u8]>,
    direction: Direction,
    max_entries: usize,
    capacity: usize,
    label: &Path,
) -> Result<Table, TableError> {
    let flows = count_flows(frames, direction);
    Table::from_entries(label, entries_from_flows(&flows, direction, max_entries.min(capacity)), capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&28u16.to_be_bytes());
        f[23] = 17;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn most_common_flows_first_and_rewritten_by_the_model() {
        let a = [10, 0, 0, 1];
        let b = [10, 0, 0, 2];
        let mut frames = Vec::new();
        for _ in 0..3 {
            frames.push(udp4(b, a, 5000, 53));
        }
        frames.push(udp4(a, b, 53, 5000));
        frames.push(udp4(b, a, 5000, 40000)); // a key port equal to the first made-up port
        frames.push(vec![0u8; 10]); // unparsed: not counted
        let t = table_from_frames(frames.iter().map(|f| f.as_slice()), Direction::Incoming, 2, 64, Path::new("flows")).unwrap();
        assert_eq!(t.entries.len(), 2);
        assert_eq!((t.entries[0].address, t.entries[0].shared_port), ("10.0.0.1".parse().unwrap(), 53));
        // 40000 is a key port of 10.0.0.1, so the made-up ports skip it.
        assert_eq!(t.entries[0].assigned_port, 40001);
        assert_eq!((t.entries[1].shared_port, t.entries[1].assigned_port), (40000, 40002));
        let (_, c) = model::process_all(&frames, Direction::Incoming, &t.slots(), 64);
        assert_eq!((c.rewritten, c.no_match, c.unparsed), (4, 1, 1));
    }

    #[test]
    fn outgoing_keys_on_the_source() {
        let frames = [udp4([10, 0, 0, 1], [10, 0, 0, 2], 8443, 999)];
        let t = table_from_frames(frames.iter().map(|f| f.as_slice()), Direction::Outgoing, 8, 64, Path::new("flows")).unwrap();
        assert_eq!((t.entries[0].assigned_port, t.entries[0].shared_port), (8443, 40000));
        let (_, c) = model::process_all(&frames, Direction::Outgoing, &t.slots(), 64);
        assert_eq!(c.rewritten, 1);
    }
}
