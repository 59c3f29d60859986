//! portshare simulation: one `Engine` interface over the reference model (the oracle),
//! the rust-hdl pipeline in its cycle simulator (`rtl`) and its generated Verilog under
//! Verilator (`verilator`); pcap I/O, the simulated board, and that board's
//! UART on a unix socket (the far end of QEMU's emulated FTDI chip).

pub mod bench;
pub mod bitstream;
pub mod board;
pub mod verify;
pub mod corpus;
pub mod engine;
pub mod eth_board;
pub mod flows;
pub mod model;
pub mod pcap;
pub mod phy;
pub mod rtl;
pub mod socket_uart;
pub mod verilator;
