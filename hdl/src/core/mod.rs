//! The port-mapping pipeline: parser → CAM → rewriter (with its byte queue), the hit and
//! reason counters beside them, and `pipeline` wiring them together.

pub mod cam;
pub mod counters;
pub mod parser;
pub mod pipeline;
pub mod rewriter;
