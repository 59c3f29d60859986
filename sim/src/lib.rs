//! portshare simulation: the reference model (the oracle and `--engine model`), pcap
//! I/O, the RTL runner that drives the rust-hdl pipeline in its cycle simulator, the
//! Icarus co-simulation of the generated Verilog, and the simulated board.

pub mod bench;
pub mod board;
pub mod flows;
pub mod icarus;
pub mod model;
pub mod pcap;
pub mod rtl;
