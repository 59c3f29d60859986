//! portshare's hardware: rust-hdl blocks, one per file, and the flow that turns the
//! board top into an iCE40 bitstream. Depends on nothing else of ours.
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
pub mod flow;
pub mod parser;
pub mod pipeline;
pub mod ram;
pub mod rewriter;
pub mod uart;
