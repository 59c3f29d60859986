//! One file per group of subcommands.
pub mod bench;
pub mod board;
pub mod build;
pub mod serve;
pub mod sim;
