//! portshare simulation: the reference model (the oracle and `--engine model`), pcap
//! I/O, the RTL runner that drives the rust-hdl pipeline in its cycle simulator, the
//! Icarus co-simulation of the generated Verilog, the simulated board, and that board's
//! UART on a unix socket (the far end of QEMU's emulated FTDI chip).

pub mod bench;
pub mod board;
pub mod corpus;
pub mod flows;
pub mod icarus;
pub mod model;
pub mod pcap;
pub mod phy;
pub mod rtl;
pub mod socket_uart;
