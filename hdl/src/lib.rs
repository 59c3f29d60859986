//! portshare's hardware: rust-hdl blocks, one per file (the flow that turns the board
//! top into a bitstream is a tool driver: `portshare-tools`). Depends on nothing else of ours.
//!
//! Stream convention (every block): 8-bit `data`, `valid`, `ready`, `last`; a beat
//! moves on a rising clock edge where `valid && ready`. `last` marks a frame's final byte.

pub mod board;
pub mod core;
pub mod ctrl;
pub mod eth;
pub mod prim;
pub mod resources;
