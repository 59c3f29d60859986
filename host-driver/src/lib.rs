//! portshare host side: the table file, the hardware entry record, the control
//! protocol codec and the transports that carry it (USB via rusb, a unix socket to a
//! served simulated board, or a simulated board in the same process).
//!
//! Depends on nothing else of ours; `sim/` and the `portshare` CLI build on it.

pub mod ftdi;
pub mod protocol;
pub mod record;
pub mod socket;
pub mod table;
pub mod transport;
pub mod uart8n1;
pub mod usb;

pub use record::{Slot, RECORD_LEN};

/// Which way a frame crosses the unit (docs/semantics.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// network → server: match (dst address, dst port == shared_port), write assigned_port.
    Incoming,
    /// server → network: match (src address, src port == assigned_port), write shared_port.
    Outgoing,
}

impl Direction {
    /// The hardware's `direction` bit: 0 incoming, 1 outgoing.
    pub fn bit(self) -> bool {
        matches!(self, Direction::Outgoing)
    }
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "incoming" | "in" => Ok(Direction::Incoming),
            "outgoing" | "out" => Ok(Direction::Outgoing),
            _ => Err(format!("direction must be `incoming` or `outgoing`, not `{s}`")),
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        })
    }
}
