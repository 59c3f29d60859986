//! portshare's hardware: rust-hdl blocks, one per file (the flow that turns the board
//! top into a bitstream is a tool driver: `portshare-tools`). Of our crates it depends
//! on `portshare-spec` only (the facts host and hardware share).
//!
//! # Interfaces between blocks
//!
//! Four patterns, each used where its rule says, and bundles for the links that cross
//! levels; a link's two ends use the same signal names (`count_*` rewriter → counters,
//! `result_*` CAM → rewriter, `mgmt_*` pipeline → CAM / counters, the `mgmt`, `inject`,
//! `rewritten` and `port` bundles executor → control → core).
//!
//! - **Stream** (`*_data`, `*_valid`, `*_ready`, `*_last`): bytes that may have to wait.
//!   A beat moves on a rising edge where `valid && ready`; `last` (where bytes come in
//!   frames) marks a frame's final byte; `data`/`last` hold still while `valid && !ready`. The pipeline's `in_*` and
//!   `out_*`, the SLIP transmitter's `reply_*` and `tx_*`, the UART transmitter.
//! - **Strobe tap** (`data` + `valid` or `strobe`, no `ready`): a block that watches
//!   bytes and never stalls — it takes one per clock, decisions from registered state
//!   plus the byte itself — so a `ready` would be a constant. The parser (it sees every
//!   byte the pipeline accepts, `strobe`), the UART receiver (the line does not wait:
//!   `valid` for one clock per byte) and the SLIP receiver's `rx_*` input.
//! - **FIFO pop** (`q_data`, `q_empty`, `q_pop`): the reader of a first-word-fall-through
//!   FIFO (rust-hdl's `SynchronousFIFO`): `q_data` is the head while `!q_empty`, `q_pop`
//!   removes it at the edge. The rewriter's queue: it decides per head word whether to
//!   hold it, which a valid/ready stream would express only with a skid register more.
//! - **Management port** (`mgmt_op`, `mgmt_index`, `mgmt_wdata`, `mgmt_start` →
//!   `mgmt_busy`, `mgmt_done`, `mgmt_rdata`): one operation at a time, taking clocks.
//!   `mgmt_start && !mgmt_busy` at an edge accepts it; `mgmt_busy` is high from the next
//!   clock until `mgmt_done`, a one-clock pulse (never in the accepting clock) with
//!   `mgmt_rdata` valid in that clock only. The pipeline, the CAM and the counters.
//! - **Bundle** (a rust-hdl `LogicInterface`, its members `<bundle>$<member>` in the
//!   Verilog): a link that crosses several levels of hierarchy unchanged is one field
//!   passed down with `link` and met with `join` (or read member by member where it
//!   ends), so no level can rename or miswire a member. `ctrl::links`: `Mgmt` (a
//!   management port), `Inject` and `Rewritten` (streams), `PortRead` (READ_PORT's
//!   start/done link), each executor → control → core (`PortRead` on to the board
//!   top, which answers it); the benches' stand-in joins all four. The pipeline, the
//!   CAM and the counters keep flat `mgmt_*`/`in_*`/`out_*` ports: a block that is a
//!   simulation top (the Verilator engine, the Icarus benches, the netlist level) has
//!   its ports named by those harnesses' vectors.
//!
//! # Names inside a block
//!
//! `r_<signal>`: a register holding a copy of `<signal>` (an input or output register,
//! a registered event or predicate). `c_<name>`: a `Constant` field — how `#[hdl_gen]`
//! code reads a value defined once in Rust (it cannot read Rust constants).

pub mod board;
pub mod core;
pub mod ctrl;
pub mod eth;
pub mod prim;
pub mod resources;
