//! The design below its RTL, as Verilog that Verilator runs (`verilator::Design::cells`):
//!
//! * the **netlist**: yosys `synth_ice40` of a block's Verilog, written back with
//!   `write_verilog -noattr` — SB_LUT4, SB_CARRY, SB_DFF*, SB_RAM40_4K with the
//!   contents yosys inferred (the `no_rw_check` RAMs included);
//! * the **bitstream**: the placed-and-routed `.asc` that icepack packs into the
//!   flashed `.bin`, decoded back to Verilog by icestorm's `icebox_vlog` with the
//!   build's pcf (every LUT an `assign`, carries as logic, flip-flops as `always`
//!   blocks, each block RAM an `SB_RAM40_4K` with its `INIT_*` from the `.asc`).
//!
//! Both instantiate iCE40 cells, simulated with yosys' own models (`cells_sim.v`,
//! zero-delay, flip-flops starting at 0). Synthesis and decoding are cached beside the
//! Verilator libraries (`cache_dir()/gates/`), keyed by a hash of their inputs, under
//! the same `flock` discipline, so a second run starts no tool.

use crate::flow::{check_yosys_log, PACKAGE};
use crate::runner::{run, run_logged, run_to_file, ToolError, ICEBOX_VLOG, ICEUNPACK, YOSYS};
use crate::verilator::{cache_dir, cached_in, hash_key, Design};
use std::hash::Hash;
use crate::verilog::{check_ports, PortSpec};
use std::fs;
use std::io;
use std::path::Path;

/// yosys' simulation models of the iCE40 cells, where Debian's `yosys` puts them.
pub const CELLS_SIM: &str = "/usr/share/yosys/ice40/cells_sim.v";
/// The synthesis script of the netlist level (the flow's `synth_ice40`, written back
/// as Verilog without attributes).
const SYNTH: &str = "read_verilog top.v\nsynth_ice40 -top top\nwrite_verilog -noattr netlist.v\n";

/// The text of `cells_sim.v`.
pub fn cells_sim() -> Result<String, ToolError> {
    fs::read_to_string(CELLS_SIM).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ToolError::Missing { tool: "yosys' iCE40 cell models (cells_sim.v)", package: "yosys" },
        _ => ToolError::Io { path: CELLS_SIM.into(), source: e },
    })
}

/// Verilog produced by `make` in a scratch folder, cached as `gates/KIND-KEY/result.v`
/// by the Verilator cache's one build-once mechanism (lock, scratch folder, rename);
/// returns it and the seconds `make` took (`None`: from the cache).
fn cached(kind: &str, key: &[&[u8]], make: impl FnOnce(&Path) -> Result<String, ToolError>) -> Result<(String, Option<f64>), ToolError> {
    let name = format!(
        "{kind}-{}",
        hash_key(|h| {
            key.iter().for_each(|p| p.hash(h));
            Ok(())
        })?
    );
    let (dir, seconds) = cached_in(&cache_dir().join("gates"), &name, "result.v", |work| {
        let text = make(work)?;
        let p = work.join("result.v");
        fs::write(&p, text).map_err(ToolError::io(&p))
    })?;
    let p = dir.join("result.v");
    Ok((fs::read_to_string(&p).map_err(ToolError::io(&p))?, seconds))
}

/// yosys' iCE40 netlist of `verilog` (top module `top`), as Verilog; and the seconds
/// synthesis took (`None`: cached). yosys' design-problem checks apply as in the flow.
pub fn netlist(verilog: &str) -> Result<(String, Option<f64>), ToolError> {
    let version = run(YOSYS, &["-V"], Path::new("."))?;
    cached("netlist", &[verilog.as_bytes(), SYNTH.as_bytes(), version.as_bytes()], |work| {
        let w = |name: &str, text: &str| {
            let p = work.join(name);
            fs::write(&p, text).map_err(ToolError::io(&p))
        };
        w("top.v", verilog)?;
        w("synth.ys", SYNTH)?;
        run_logged(YOSYS, &["-s".into(), "synth.ys".into()], work, "yosys.log")?;
        check_yosys_log(&work.join("yosys.log"))?;
        let p = work.join("netlist.v");
        fs::read_to_string(&p).map_err(ToolError::io(&p))
    })
}

/// `design` one level down: its yosys netlist, simulated with the cell models (its
/// ports and stream are the block's, checked against the netlist's).
pub fn netlist_design(design: Design) -> Result<Design, ToolError> {
    let (verilog, _) = netlist(&design.verilog)?;
    check_ports(&design.ports, &verilog)?;
    Ok(Design { verilog, cells: Some(cells_sim()?), ..design })
}

/// The bitstream `asc` (with pin names from `pcf`) as a design whose ports are
/// `ports` (the board top's, checked against the decoded module), clocked by `clock`.
pub fn bitstream_design(asc: &Path, pcf: &Path, ports: Vec<PortSpec>, clock: &str) -> Result<Design, ToolError> {
    let (verilog, _) = decode_bitstream(asc, pcf)?;
    check_ports(&ports, &verilog)?;
    Ok(Design { verilog, ports, clock: clock.to_string(), stream: None, cells: Some(cells_sim()?) })
}

/// The bitstream `asc` decoded by `icebox_vlog` with the pin names of `pcf`, fixed up
/// for Verilator ([`fix_icebox_ports`]), top module `top`; and the seconds it took
/// (`None`: cached).
pub fn decode_bitstream(asc: &Path, pcf: &Path) -> Result<(String, Option<f64>), ToolError> {
    let read = |p: &Path| fs::read(p).map_err(ToolError::io(p));
    let (asc_bytes, pcf_bytes) = (read(asc)?, read(pcf)?);
    let args = ["-s", "-d", PACKAGE, "-n", "top"];
    cached("bitstream", &[&asc_bytes, &pcf_bytes, args.join(" ").as_bytes()], |work| {
        let (a, p) = (work.join("top.asc"), work.join("top.pcf"));
        fs::write(&a, &asc_bytes).map_err(ToolError::io(&a))?;
        fs::write(&p, &pcf_bytes).map_err(ToolError::io(&p))?;
        let out = work.join("decoded.v");
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-p", "top.pcf", "top.asc"]);
        run_to_file(ICEBOX_VLOG, &all, work, &out)?;
        let text = fs::read_to_string(&out).map_err(ToolError::io(&out))?;
        fix_icebox_ports(&text).map_err(|detail| ToolError::Parse { path: out.clone(), detail })
    })
}

/// `icebox_vlog` declares the module's ports in its ANSI header and then again in its
/// `wire`/`reg` lists (an output driven by a flip-flop comes out as `reg NAME = 0`),
/// which Verilator refuses as duplicates. This drops the port names from those lists
/// and writes the header non-ANSI (`module top(a, b); input a; output reg b;`, the
/// form `verilog::parse_top_ports` reads), keeping a register's initial value.
pub fn fix_icebox_ports(text: &str) -> Result<String, String> {
    let start = text.find("module top (").ok_or("no `module top (` in icebox_vlog's output")?;
    let open = start + "module top (".len();
    let close = open + text[open..].find(");").ok_or("`module top (` header is not terminated")?;
    let mut ports: Vec<(String, String)> = vec![]; // (direction, name)
    for decl in text[open..close].split(',') {
        let toks: Vec<&str> = decl.split_whitespace().collect();
        match toks.as_slice() {
            [dir @ ("input" | "output"), name] => ports.push((dir.to_string(), name.to_string())),
            _ => return Err(format!("port declaration `{}` is not `input|output NAME`", decl.trim())),
        }
    }
    let is_port = |n: &str| ports.iter().any(|(_, p)| p == n);
    let mut regs: Vec<(String, Option<String>)> = vec![]; // port registers and their initial values
    let mut body = String::with_capacity(text.len());
    for line in text[close + 2..].lines() {
        let decl = ["wire ", "reg "].iter().find(|k| line.starts_with(**k) && line.ends_with(';'));
        let Some(kind) = decl else {
            body += line;
            body.push('\n');
            continue;
        };
        let items: Vec<&str> = line[kind.len()..line.len() - 1].split(',').map(str::trim).collect();
        let mut keep = vec![];
        for item in items {
            let (name, init) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().to_string())),
                None => (item, None),
            };
            if !is_port(name) {
                keep.push(item);
            } else if *kind == "reg " {
                regs.push((name.to_string(), init));
            }
        }
        if !keep.is_empty() {
            body += &format!("{kind}{};\n", keep.join(", "));
        }
    }
    let names: Vec<&str> = ports.iter().map(|(_, n)| n.as_str()).collect();
    let mut out = format!("{}module top({});\n", &text[..start], names.join(", "));
    for (dir, name) in &ports {
        let reg = regs.iter().any(|(r, _)| r == name);
        out += &format!("{dir}{} {name};\n", if reg { " reg" } else { "" });
    }
    for (name, init) in &regs {
        if let Some(v) = init {
            out += &format!("initial {name} = {v};\n");
        }
    }
    out += &body;
    Ok(out)
}

/// The bitstream's tiles, RAM contents and settings, without comments and symbols, in
/// order: what two `.asc` texts of the same bitstream share (nextpnr writes `.sym`
/// lines and only the used RAMs' `.ram_data`; `iceunpack` writes every RAM's).
fn asc_sections(text: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = vec![];
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with('.') {
            sections.push((line.to_string(), vec![]));
        } else if let Some(s) = sections.last_mut() {
            s.1.push(line.to_string());
        }
    }
    sections.retain(|(head, lines)| {
        let blank_ram = head.starts_with(".ram_data") && lines.iter().all(|l| l.bytes().all(|b| b == b'0'));
        !(head.starts_with(".comment") || head.starts_with(".sym") || blank_ram)
    });
    sections.sort();
    sections
}

/// The first difference between two `.asc` texts as bitstreams, if any.
pub fn asc_difference(a: &str, b: &str) -> Option<String> {
    let (a, b) = (asc_sections(a), asc_sections(b));
    for (x, y) in a.iter().zip(&b) {
        if x.0 != y.0 {
            return Some(format!("`{}` in one, `{}` in the other", x.0, y.0));
        }
        if let Some(i) = (0..x.1.len().max(y.1.len())).find(|&i| x.1.get(i) != y.1.get(i)) {
            return Some(format!("`{}` differs in its row {i}", x.0));
        }
    }
    (a.len() != b.len()).then(|| format!("{} sections in one, {} in the other", a.len(), b.len()))
}

/// Whether `bin` (what is flashed) is the bitstream `asc`: `iceunpack` of it compared
/// with the `.asc` section by section; `Some(difference)` when it is not.
pub fn bin_differs_from_asc(bin: &Path, asc: &Path) -> Result<Option<String>, ToolError> {
    let work = tempdir_in_cache("unpack")?;
    let unpacked = work.join("unpacked.asc");
    let bin_abs = fs::canonicalize(bin).map_err(ToolError::io(bin))?;
    let r = run(ICEUNPACK, &[&bin_abs.to_string_lossy(), "unpacked.asc"], &work).map(|_| ());
    let result = r.and_then(|()| {
        let read = |p: &Path| fs::read_to_string(p).map_err(ToolError::io(p));
        Ok(asc_difference(&read(&unpacked)?, &read(asc)?))
    });
    let _ = fs::remove_dir_all(&work);
    result
}

fn tempdir_in_cache(what: &str) -> Result<std::path::PathBuf, ToolError> {
    let d = cache_dir().join("gates").join(format!("{what}.tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).map_err(ToolError::io(&d))?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icebox_ports_are_declared_once_and_a_register_port_keeps_its_value() {
        let raw = "\nmodule top (input clock, output led, output tx, input rx);\n\nwire n1, clock, n3;\nwire rx;\nreg n4 = 0, led = 1, n5 = 0;\nassign tx = n1;\nendmodule\n";
        let fixed = fix_icebox_ports(raw).unwrap();
        assert_eq!(
            fixed,
            "\nmodule top(clock, led, tx, rx);\ninput clock;\noutput reg led;\noutput tx;\ninput rx;\ninitial led = 1;\n\n\nwire n1, n3;\nreg n4 = 0, n5 = 0;\nassign tx = n1;\nendmodule\n"
        );
        let ports = crate::verilog::parse_top_ports(&fixed).unwrap();
        assert_eq!(ports.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["clock", "led", "tx", "rx"]);
        assert!(fix_icebox_ports("module top (inout x);\nendmodule").is_err());
    }

    #[test]
    fn asc_texts_compare_as_bitstreams() {
        let nextpnr = ".comment from next-pnr\n.device 8k\n\n.logic_tile 1 1\n0101\n1100\n\n.ram_data 2 3\n00ff\n.sym 7 n7\n";
        let unpacked = ".comment\n.device 8k\n.logic_tile 1 1\n0101\n1100\n.ram_data 2 3\n00ff\n.ram_data 4 5\n0000\n";
        assert_eq!(asc_difference(nextpnr, unpacked), None);
        let flipped = unpacked.replace("1100", "1110");
        assert_eq!(asc_difference(nextpnr, &flipped).as_deref(), Some("`.logic_tile 1 1` differs in its row 1"));
        let ram = unpacked.replace("00ff", "00fe");
        assert!(asc_difference(nextpnr, &ram).unwrap().contains(".ram_data 2 3"));
        assert!(asc_difference(nextpnr, &unpacked.replace(".ram_data 2 3\n00ff\n", "")).is_some());
    }
}
