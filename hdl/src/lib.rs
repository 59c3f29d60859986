//! portshare's hardware: rust-hdl blocks, one per file (the flow that turns the board
//! top into a bitstream is a tool driver: `portshare-tools`). Depends on nothing else of ours.
//!
//! Stream convention (every block): 8-bit `data`, `valid`, `ready`, `last`; a beat
//! moves on a rising clock edge where `valid && ready`. `last` marks a frame's final byte.

pub mod board;
pub mod cam;
pub mod control;
pub mod counters;
pub mod crc;
pub mod crc16;
pub mod eth;
pub mod parser;
pub mod pipeline;
pub mod ram;
pub mod resources;
pub mod rewriter;
pub mod uart;
