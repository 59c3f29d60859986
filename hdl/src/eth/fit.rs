//! Each Ethernet block alone through yosys `synth_ice40` and nextpnr-ice40 (HX8K CB132,
//! its ports placed wherever nextpnr likes, every clock constrained to 100 MHz): logic
//! cells, block RAMs and Fmax per clock, the figures of the README's "Ethernet blocks"
//! section. Each clock must reach its domain's frequency — 100 MHz for the core, 50 MHz
//! for a port's REF_CLK — or the test fails here rather than in the board build.

use super::cdc_rx::RxCdc;
use super::cdc_tx::TxCdc;
use super::mdio::MdioMaster;
use super::rmii_rx::RmiiRx;
use super::rmii_tx::RmiiTx;
use crate::prim::crc::Crc;
use rust_hdl::prelude::*;
use portshare_tools::runner::{self, Tool, NEXTPNR, YOSYS};
use std::path::Path;

struct Fit {
    lcs: u64,
    brams: u64,
    /// (clock net, achieved MHz)
    fmax: Vec<(String, f64)>,
}

/// Through the tools crate's one runner: a missing tool is named with its Debian
/// package, a failing one carries its exit status and the tail of its output.
fn run(dir: &Path, tool: Tool, args: &[&str]) {
    runner::run(tool, args, dir).unwrap_or_else(|e| panic!("{e} (in {})", dir.display()));
}

fn fit<B: Block>(name: &str, mut block: B) -> Fit {
    block.connect_all();
    let dir = std::env::temp_dir().join(format!("portshare-eth-fit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("top.v"), generate_verilog(&block)).unwrap();
    run(&dir, YOSYS, &["-q", "-p", "read_verilog top.v; synth_ice40 -top top -json top.json"]);
    run(&dir, NEXTPNR, &["--hx8k", "--package", "cb132", "--freq", "100", "--json", "top.json", "--pcf-allow-unconstrained", "--report", "report.json", "--timing-allow-fail", "-q"]);
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let used = |r: &str| report["utilization"][r]["used"].as_u64().unwrap_or_else(|| panic!("{name}: no {r} in the report"));
    let fmax = report["fmax"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v["achieved"].as_f64().unwrap())).collect()).unwrap_or_default();
    let fit = Fit { lcs: used("ICESTORM_LC"), brams: used("ICESTORM_RAM"), fmax };
    std::fs::remove_dir_all(&dir).ok();
    fit
}

#[test]
fn each_ethernet_block_synthesizes_fits_and_meets_its_clocks_on_the_ice40() {
    const CORE: f64 = 100.0;
    const REF_CLK: f64 = 50.0;
    // (block, its fit, (clock port, MHz it must reach)); the CRC is held to the core's
    // clock, where any other user of it would run.
    let rows = [
        ("crc32 (FCS, byte per clock)", fit("crc", Crc::fcs()), vec![("clock", CORE)]),
        ("crc32 (FCS, dibit per clock: the MACs')", fit("crc_dibit", Crc::fcs_dibit()), vec![("clock", CORE)]),
        ("rmii_rx", fit("rmii_rx", RmiiRx::default()), vec![("clock", REF_CLK)]),
        ("rmii_tx", fit("rmii_tx", RmiiTx::default()), vec![("clock", REF_CLK)]),
        ("mdio", fit("mdio", MdioMaster::default()), vec![("clock", CORE)]),
        ("cdc_rx", fit("cdc_rx", RxCdc::default()), vec![("clock", CORE), ("rx_clock", REF_CLK)]),
        ("cdc_tx", fit("cdc_tx", TxCdc::default()), vec![("clock", CORE), ("tx_clock", REF_CLK)]),
    ];
    for (name, f, _) in &rows {
        let clocks: Vec<String> = f.fmax.iter().map(|(c, m)| format!("{c} {m:.1} MHz")).collect();
        eprintln!("{name}: {} LCs, {} block RAMs, {}", f.lcs, f.brams, clocks.join(", "));
    }
    for (name, f, need) in &rows {
        assert!(f.lcs > 0 && f.lcs < 1000, "{name}: {} LCs", f.lcs);
        assert_eq!(f.fmax.len(), need.len(), "{name}: clocks {:?}", f.fmax);
        for (net, mhz) in &f.fmax {
            // nextpnr names a clock after its port: `rx_clock$SB_IO_IN_$glb_clk`.
            let port = net.split('$').next().unwrap();
            let (_, required) = need.iter().find(|(p, _)| *p == port).unwrap_or_else(|| panic!("{name}: unexpected clock {net}"));
            assert!(mhz >= required, "{name}: {port} reaches {mhz:.1} MHz, needs {required}");
        }
    }
    // The crossings hold their words in flip-flops: no block needs a block RAM.
    let brams: Vec<u64> = rows.iter().map(|(_, f, _)| f.brams).collect();
    assert_eq!(brams, [0; 7]);
}
