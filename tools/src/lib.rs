//! portshare's tool drivers: everything that runs an outside program on a rust-hdl
//! block's Verilog. Nothing here is portshare's hardware; `hdl` is hardware only.
//!
//! * [`runner`] — the one way a tool is started ([`runner::run`], [`runner::run_logged`])
//!   and the one error type ([`ToolError`]): a missing tool names its Debian package.
//! * [`verilog`] — a block's top-level ports, from the block and from its Verilog.
//! * [`flow`] — yosys `synth_ice40` → nextpnr-ice40 → icepack (+ icetime) for the iCE40.
//! * [`icarus`] — records a rust-hdl run and replays it on the Verilog in Icarus.
//! * [`gates`] — below the RTL: yosys' iCE40 netlist of a block and the placed-and-routed
//!   bitstream decoded back to Verilog, for Verilator with yosys' cell models.
//! * [`verilator`] — the Verilog compiled by Verilator into a shared library (cached),
//!   driven through a small C ABI: the fast cycle-accurate engine.

pub mod clocking;
pub mod flow;
pub mod gates;
pub mod icarus;
pub mod runner;
pub mod verilator;
pub mod verilog;

pub use runner::ToolError;
