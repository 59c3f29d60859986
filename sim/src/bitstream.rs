//! The bitstream level's build folder: what `portshare build` wrote (`portshare_cu.v`,
//! `.pcf`, `.asc`, `.bin`), checked to be the bitstream that gets flashed before it is
//! simulated — the `.bin` unpacks to the `.asc`, the `.v` is what this source tree
//! generates for the board of that many entries, and the simulated design answers
//! INFO with this tool's protocol version, the capacity and the build id. A missing,
//! stale or foreign build is an error that says which and how to rebuild.

use crate::board::SimBoard;
use anyhow::{bail, Context as _, Result};
use portshare_hdl::board::CuBoard;
use portshare_host::protocol::{Client, PROTOCOL_VERSION};
use portshare_tools::gates;
use portshare_tools::verilator::{Library, Model};
use portshare_tools::verilog::block_ports;
use rust_hdl::prelude::Block;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The board top's module and file names in a build.
pub const TOP: &str = "portshare_cu";

/// Where `portshare build --entries N` writes by default.
pub fn default_build_dir(entries: usize) -> PathBuf {
    PathBuf::from(format!("out/cu-{entries}"))
}

/// A build folder's files.
pub struct Build {
    pub dir: PathBuf,
    pub capacity: usize,
    pub verilog: PathBuf,
    pub pcf: PathBuf,
    pub asc: PathBuf,
    pub bin: PathBuf,
}

impl Build {
    /// The files of the build in `dir` for `capacity` entries; a missing one is an error.
    pub fn at(dir: &Path, capacity: usize) -> Result<Build> {
        let f = |ext: &str| dir.join(format!("{TOP}.{ext}"));
        let b = Build { dir: dir.to_path_buf(), capacity, verilog: f("v"), pcf: f("pcf"), asc: f("asc"), bin: f("bin") };
        for p in [&b.verilog, &b.pcf, &b.asc, &b.bin] {
            if !p.exists() {
                bail!("no build in {}: {} is missing; {}", dir.display(), p.display(), b.rebuild());
            }
        }
        Ok(b)
    }

    /// The command that writes this build afresh.
    pub fn rebuild(&self) -> String {
        format!("build it with `portshare build --entries {} --out {}`", self.capacity, self.dir.display())
    }

    /// The `.bin` that is flashed is the `.asc` that is simulated.
    pub fn check_flashed(&self) -> Result<()> {
        if let Some(d) = gates::bin_differs_from_asc(&self.bin, &self.asc).context(crate::verilator::NETLIST_NEEDS)? {
            bail!(
                "stale build in {}: {} is not the bitstream {} (iceunpack of it differs: {d}); {}",
                self.dir.display(),
                self.bin.display(),
                self.asc.display(),
                self.rebuild()
            );
        }
        Ok(())
    }

    /// The build's Verilog is the board top this source tree generates.
    fn check_design<const N: usize>(&self) -> Result<()> {
        let built = std::fs::read_to_string(&self.verilog).with_context(|| format!("reading {}", self.verilog.display()))?;
        let now = portshare_tools::flow::top_verilog(&mut CuBoard::<N>::new(), TOP)?;
        if built != now {
            bail!(
                "stale build in {}: {} is not the {N}-entry board top this source tree generates (the design changed \
                 since it was built, or it was built for another size); {}",
                self.dir.display(),
                self.verilog.display(),
                self.rebuild()
            );
        }
        Ok(())
    }

    /// The simulated board answers INFO as this tree's board of `capacity` entries.
    pub fn check_info(&self, board: SimBoard) -> Result<SimBoard> {
        let mut c = Client::new(board).with_timeout(Duration::from_millis(1)).with_retries(0);
        let info = c.info().with_context(|| {
            format!(
                "the bitstream in {} does not answer INFO at its UART pins: not a portshare board, or a broken one; {}",
                self.dir.display(),
                self.rebuild()
            )
        })?;
        let foreign = |what: String| -> Result<SimBoard> {
            bail!("foreign build in {}: {what}; {}", self.dir.display(), self.rebuild())
        };
        if info.protocol_version != PROTOCOL_VERSION {
            return foreign(format!("it speaks protocol version {}, this tool {PROTOCOL_VERSION}", info.protocol_version));
        }
        if info.capacity as usize != self.capacity {
            return foreign(format!("it was built for {} entries, not {}", info.capacity, self.capacity));
        }
        let id = portshare_hdl::ctrl::control::default_build_id();
        if info.build_id != id {
            return foreign(format!("its build id is {:#010x}, this tree's {id:#010x}", info.build_id));
        }
        Ok(c.into_transport())
    }
}

/// The netlist a build placed (`portshare_cu.netlist.v`, from the same yosys run as the
/// JSON nextpnr read), checked to be this tree's design, compiled (cached) with the
/// cell models and instantiated: the level between the Verilog and the bitstream,
/// without a second synthesis.
pub fn netlist_model(dir: &Path, capacity: usize) -> Result<(Model, Build)> {
    let b = Build::at(dir, capacity)?;
    let ports = board_ports(&b)?;
    let path = dir.join(portshare_tools::flow::netlist_verilog_name(TOP));
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("no netlist in {}: reading {}; {}", dir.display(), path.display(), b.rebuild()))?;
    // yosys names the module after the board top; the simulator's harness wants `top`.
    let head = format!("module {TOP}(");
    if text.matches(&head).count() != 1 {
        bail!("{} does not hold one `{head}`: not a netlist `portshare build` wrote; {}", path.display(), b.rebuild());
    }
    let verilog = text.replacen(&head, "module top(", 1);
    portshare_tools::verilog::check_ports(&ports, &verilog)?;
    let cells = gates::cells_sim().context(crate::verilator::NETLIST_NEEDS)?;
    let design = portshare_tools::verilator::Design { verilog, ports, clock: "clock".into(), stream: None, cells: Some(cells) };
    let lib = Library::get(&design).context(crate::verilator::NEEDS)?;
    Ok((lib.instance(), b))
}

/// The build in `dir` checked (files, `.bin` = `.asc`, the design) and its bitstream
/// decoded, compiled (cached) and instantiated.
pub fn model(dir: &Path, capacity: usize) -> Result<(Model, Build)> {
    let b = Build::at(dir, capacity)?;
    b.check_flashed()?;
    let ports = board_ports(&b)?;
    let design = gates::bitstream_design(&b.asc, &b.pcf, ports, "clock").context(crate::verilator::NETLIST_NEEDS)?;
    let lib = Library::get(&design).context(crate::verilator::NEEDS)?;
    Ok((lib.instance(), b))
}

/// The board top's ports for the build's capacity, once its Verilog is checked to be
/// what this tree generates.
fn board_ports(b: &Build) -> Result<Vec<portshare_tools::verilog::PortSpec>> {
    match b.capacity {
        16 => board_ports_of::<16>(b),
        64 => board_ports_of::<64>(b),
        128 => board_ports_of::<128>(b),
        n => bail!("the board is built for {:?} entries, not {n}", crate::board::CAPACITIES),
    }
}

fn board_ports_of<const N: usize>(b: &Build) -> Result<Vec<portshare_tools::verilog::PortSpec>> {
    b.check_design::<N>()?;
    let mut fresh = CuBoard::<N>::new();
    fresh.connect_all();
    Ok(block_ports(&fresh)?)
}
