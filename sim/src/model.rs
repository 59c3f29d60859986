//! PLACEHOLDER (being written by the model owner).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub rewritten: u64,
    pub no_match: u64,
    pub fragment: u64,
    pub unparsed: u64,
    pub udp_zero_checksum: u64,
    pub hits: Vec<u64>,
}
