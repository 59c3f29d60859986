//! Co-simulation of a rust-hdl block's generated Verilog in Icarus Verilog, so the
//! Verilog that becomes the bitstream is checked against the Rust simulation that the
//! tests ran (RUST-HDL.md §5 lists where the two disagree).
//!
//! Use: drive the block in rust-hdl's direct loop and let a [`Recorder`] sample every
//! top-level port once per clock; then [`Recorder::run_icarus`] replays the recorded
//! inputs in a generated testbench (`iverilog -g2005`, one `$readmemh` vector file per
//! input, one line per clock), dumps every output every clock, and compares with what
//! the Rust simulation produced. The first disagreement comes back as
//! [`ToolError::Mismatch`] with the clock, the port and both values.
//!
//! ```ignore
//! let mut uut = Pipeline::<64>::default();
//! uut.connect_all();
//! let mut rec = Recorder::new(&uut)?;
//! for beat in stimulus {
//!     uut.in_data.next = beat.into();              // set inputs as usual, then
//!     rec.step(&mut uut, |u| &mut u.clock)?;        // settle, sample, one clock
//!     let out = uut.out_data.val();                 // outputs after the edge
//! }
//! // A runner that clocks the block itself calls `rec.sample(&mut uut)?` instead of
//! // `step`, once per clock, just before setting the clock high.
//! rec.run_icarus(&generate_verilog(&uut), work_dir)?;
//! ```
//!
//! Sampling point: inputs are applied, the logic settles, then inputs and outputs are
//! recorded, then the rising edge. The testbench does the same: inputs at the falling
//! edge, outputs `$fwrite`n 1 ns later, rising edge 4 ns after that. So combinational
//! outputs and registered state are both compared, on every clock.

use rust_hdl::prelude::*;
use std::fmt::Write as _;
use std::fs;
use crate::clocking::settles;
use crate::runner::{run, ToolError, IVERILOG, VVP};
pub use crate::verilog::{PortDir, PortSpec};
use crate::verilog::{block_ports, check_ports, for_each_top_port};
use std::path::Path;
use std::time::Instant;

/// The first clock on which Icarus and rust-hdl disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// 0-based clock (sample) number.
    pub clock: usize,
    pub port: String,
    /// Hex, most significant digit first, zero-padded to the port's width.
    pub rust: String,
    /// As Icarus printed it (may contain `x`/`z`).
    pub verilog: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Icarus and rust-hdl disagree at clock {} on output `{}`: rust-hdl 0x{}, Icarus 0x{}",
            self.clock, self.port, self.rust, self.verilog
        )
    }
}

#[derive(Clone, Debug)]
pub struct CosimReport {
    pub clocks: usize,
    pub inputs: usize,
    pub outputs: usize,
    pub iverilog_seconds: f64,
    pub vvp_seconds: f64,
}

/// Records a rust-hdl block's top-level ports on every clock.
pub struct Recorder {
    ports: Vec<PortSpec>,
    /// Per port: `words(width)` u64 words per sample, least significant word first.
    samples: Vec<Vec<u64>>,
    clocks: usize,
    /// First input seen as x/z: (port, clock, value).
    undriven: Option<(String, usize, String)>,
}

fn words(width: usize) -> usize {
    width.div_ceil(64)
}

/// The atom's current value as bits, least significant first; `Err` names a non-0/1 bit.
fn atom_bits(atom: &dyn Atom, out: &mut [u64]) -> Result<(), String> {
    out.iter_mut().for_each(|w| *w = 0);
    let mut set = |i: usize, v: &dyn std::fmt::Display| -> Result<(), String> {
        match v.to_string().as_str() {
            "0" => Ok(()),
            "1" => {
                out[i / 64] |= 1 << (i % 64);
                Ok(())
            }
            other => Err(other.to_string()),
        }
    };
    match atom.vcd() {
        VCDValue::Single(v) => set(0, &v),
        // VCD vectors are most significant bit first.
        VCDValue::Vector(vs) => {
            let n = vs.len();
            for (k, v) in vs.iter().enumerate() {
                set(n - 1 - k, v)?;
            }
            Ok(())
        }
        other => Err(format!("{other:?}")),
    }
}

fn to_hex(ws: &[u64], width: usize) -> String {
    let digits = width.div_ceil(4);
    let mut s = String::with_capacity(digits);
    for d in (0..digits).rev() {
        let bit = d * 4;
        let nib = (ws[bit / 64] >> (bit % 64)) & 0xF;
        s.push(char::from_digit(nib as u32, 16).unwrap());
    }
    s
}

impl Recorder {
    /// Reads the block's top-level ports (call `connect_all` first, as for simulation).
    pub fn new<B: Block>(uut: &B) -> Result<Self, ToolError> {
        let ports = block_ports(uut)?;
        if !ports.iter().any(|p| p.dir == PortDir::Output) {
            return Err(ToolError::Empty("the block has no outputs"));
        }
        let samples = ports.iter().map(|_| Vec::new()).collect();
        Ok(Recorder {
            ports,
            samples,
            clocks: 0,
            undriven: None,
        })
    }

    pub fn ports(&self) -> &[PortSpec] {
        &self.ports
    }

    pub fn clocks(&self) -> usize {
        self.clocks
    }

    /// Records every port as one clock: settles the logic first (inputs set with
    /// `.next` are only visible after `simulate`, RUST-HDL.md §5e), then reads. Call it
    /// once per clock, before the rising edge, if you clock the block yourself;
    /// [`Recorder::step`] does the whole clock.
    pub fn sample<B: Block>(&mut self, uut: &mut B) -> Result<(), ToolError> {
        if !settles(uut) {
            return Err(ToolError::NotSettled { clock: self.clocks });
        }
        self.record(uut);
        Ok(())
    }

    fn record<B: Block>(&mut self, uut: &B) {
        let clock = self.clocks;
        let mut i = 0;
        let (ports, samples, undriven) = (&self.ports, &mut self.samples, &mut self.undriven);
        for_each_top_port(uut, |name, atom| {
            // Ports come in the same order as in `new`; skip to the one with this name.
            while i < ports.len() && ports[i].name != name {
                i += 1;
            }
            let Some(p) = ports.get(i) else { return };
            if p.is_clock {
                return;
            }
            let buf = &mut samples[i];
            let start = buf.len();
            buf.resize(start + words(p.width), 0);
            if let Err(v) = atom_bits(atom, &mut buf[start..]) {
                if p.dir == PortDir::Input && undriven.is_none() {
                    *undriven = Some((name, clock, v));
                }
            }
        });
        self.clocks += 1;
    }

    /// One clock of the direct loop: settle the inputs already set, sample, rising
    /// edge, falling edge. Read outputs after it; set the next inputs before the next.
    pub fn step<B: Block>(
        &mut self,
        uut: &mut B,
        clock: impl Fn(&mut B) -> &mut Signal<In, Clock>,
    ) -> Result<(), ToolError> {
        let at = self.clocks;
        let settle = |u: &mut B| {
            if settles(u) {
                Ok(())
            } else {
                Err(ToolError::NotSettled { clock: at })
            }
        };
        self.sample(uut)?;
        clock(uut).next = true.into();
        settle(uut)?;
        clock(uut).next = false.into();
        settle(uut)
    }

    /// Replays the recorded inputs on a Verilator `model` of the same ports (e.g. the
    /// block's yosys netlist, `crate::gates`) and compares every output on every
    /// clock with what rust-hdl produced: inputs set, settled, outputs read, then the
    /// clock edge, as [`Recorder::step`] sampled them. Returns the clocks compared.
    pub fn replay(&self, model: &mut crate::verilator::Model, level: &str) -> Result<usize, ToolError> {
        if self.clocks == 0 {
            return Err(ToolError::Empty("no clocks were recorded"));
        }
        let index: Vec<Option<usize>> = self.ports.iter().map(|p| model.port(&p.name)).collect();
        if let Some(p) = self.ports.iter().zip(&index).find(|(p, i)| i.is_none() && !p.is_clock) {
            return Err(ToolError::PortsDiffer(format!("`{}` is not a port of the {level} model", p.0.name)));
        }
        let mut buf = vec![0u32; 64];
        for c in 0..self.clocks {
            for (k, p) in self.ports.iter().enumerate().filter(|(_, p)| p.dir == PortDir::Input && !p.is_clock) {
                let w = words(p.width);
                for (i, v) in self.samples[k][c * w..(c + 1) * w].iter().enumerate() {
                    buf[2 * i] = *v as u32;
                    buf[2 * i + 1] = (*v >> 32) as u32;
                }
                model.set(index[k].unwrap(), &buf);
            }
            model.eval();
            for (k, p) in self.ports.iter().enumerate().filter(|(_, p)| p.dir == PortDir::Output) {
                let w = words(p.width);
                buf.iter_mut().for_each(|x| *x = 0);
                model.get(index[k].unwrap(), &mut buf);
                let got: Vec<u64> = (0..w).map(|i| buf[2 * i] as u64 | (buf[2 * i + 1] as u64) << 32).collect();
                let want = &self.samples[k][c * w..(c + 1) * w];
                if got != want {
                    return Err(ToolError::Replay(format!(
                        "the {level} and rust-hdl disagree at clock {c} on output `{}`: rust-hdl 0x{}, {level} 0x{}",
                        p.name,
                        to_hex(want, p.width),
                        to_hex(&got, p.width)
                    )));
                }
            }
            model.tick(1);
        }
        Ok(self.clocks)
    }

    /// Replays the recorded inputs against `verilog` (rust-hdl's `generate_verilog`
    /// text, top module `top`) in Icarus and compares every output on every clock.
    /// Files and logs stay in `work_dir`.
    pub fn run_icarus(&self, verilog: &str, work_dir: &Path) -> Result<CosimReport, ToolError> {
        if let Some((port, clock, value)) = &self.undriven {
            return Err(ToolError::UndrivenInput {
                port: port.clone(),
                clock: *clock,
                value: value.clone(),
            });
        }
        if self.clocks == 0 {
            return Err(ToolError::Empty("no clocks were recorded"));
        }
        self.check_against_verilog(verilog)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ToolError::Io { path, source }
        };
        fs::create_dir_all(work_dir).map_err(io(work_dir))?;
        let dut = work_dir.join("dut.v");
        fs::write(&dut, verilog).map_err(io(&dut))?;
        for (k, p) in self.ports.iter().enumerate() {
            if p.dir == PortDir::Input && !p.is_clock {
                let path = work_dir.join(format!("in_{k}.hex"));
                let w = words(p.width);
                let mut text = String::with_capacity(self.clocks * (p.width.div_ceil(4) + 1));
                for c in 0..self.clocks {
                    text += &to_hex(&self.samples[k][c * w..(c + 1) * w], p.width);
                    text.push('\n');
                }
                fs::write(&path, text).map_err(io(&path))?;
            }
        }
        let tb = work_dir.join("tb.v");
        fs::write(&tb, self.testbench()).map_err(io(&tb))?;

        let t = Instant::now();
        run(IVERILOG, &["-g2005", "-o", "cosim.vvp", "tb.v", "dut.v"], work_dir)?;
        let iverilog_seconds = t.elapsed().as_secs_f64();
        let t = Instant::now();
        run(VVP, &["-n", "cosim.vvp"], work_dir)?;
        let vvp_seconds = t.elapsed().as_secs_f64();

        let out_path = work_dir.join("outputs.txt");
        let text = fs::read_to_string(&out_path).map_err(io(&out_path))?;
        self.compare(&text, &out_path)?;
        Ok(CosimReport {
            clocks: self.clocks,
            inputs: self
                .ports
                .iter()
                .filter(|p| p.dir == PortDir::Input)
                .count(),
            outputs: self
                .ports
                .iter()
                .filter(|p| p.dir == PortDir::Output)
                .count(),
            iverilog_seconds,
            vvp_seconds,
        })
    }

    fn check_against_verilog(&self, verilog: &str) -> Result<(), ToolError> {
        check_ports(&self.ports, verilog)
    }

    fn testbench(&self) -> String {
        let n = self.clocks;
        let decl = |w: usize| {
            if w == 1 {
                String::new()
            } else {
                format!("[{}:0] ", w - 1)
            }
        };
        let mut s = String::new();
        s += "// Generated by portshare-sim's Icarus co-simulation: replays rust-hdl inputs.\n// Own names start with cosim_ so they cannot clash with a port.\n";
        s += "`timescale 1ns/1ps\nmodule portshare_cosim_tb;\n";
        s += "  integer cosim_i, cosim_fd;\n";
        for (k, p) in self.ports.iter().enumerate() {
            match (p.dir, p.is_clock) {
                (PortDir::Input, true) => writeln!(s, "  reg {} = 1'b0;", p.name).unwrap(),
                (PortDir::Input, false) => {
                    writeln!(s, "  reg {}{};", decl(p.width), p.name).unwrap();
                    writeln!(s, "  reg {}cosim_vec_{k} [0:{}];", decl(p.width), n - 1).unwrap();
                }
                (PortDir::Output, _) => writeln!(s, "  wire {}{};", decl(p.width), p.name).unwrap(),
            }
        }
        let conns: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!(".{0}({0})", p.name))
            .collect();
        writeln!(s, "  top cosim_dut({});", conns.join(", ")).unwrap();
        s += "  initial begin\n";
        for (k, p) in self.ports.iter().enumerate() {
            if p.dir == PortDir::Input && !p.is_clock {
                writeln!(s, "    $readmemh(\"in_{k}.hex\", cosim_vec_{k});").unwrap();
            }
        }
        s += "    cosim_fd = $fopen(\"outputs.txt\", \"w\");\n";
        writeln!(s, "    for (cosim_i = 0; cosim_i < {n}; cosim_i = cosim_i + 1) begin").unwrap();
        for (k, p) in self.ports.iter().enumerate() {
            if p.dir == PortDir::Input && !p.is_clock {
                writeln!(s, "      {} = cosim_vec_{k}[cosim_i];", p.name).unwrap();
            }
        }
        let outs: Vec<&PortSpec> = self
            .ports
            .iter()
            .filter(|p| p.dir == PortDir::Output)
            .collect();
        let fmt = vec!["%h"; outs.len()].join(" ");
        let args: Vec<&str> = outs.iter().map(|p| p.name.as_str()).collect();
        s += "      #1;\n";
        writeln!(s, "      $fwrite(cosim_fd, \"{fmt}\\n\", {});", args.join(", ")).unwrap();
        let clocks: Vec<&PortSpec> = self.ports.iter().filter(|p| p.is_clock).collect();
        s += "      #4;\n";
        for c in &clocks {
            writeln!(s, "      {} = 1'b1;", c.name).unwrap();
        }
        s += "      #5;\n";
        for c in &clocks {
            writeln!(s, "      {} = 1'b0;", c.name).unwrap();
        }
        s += "    end\n    $fclose(cosim_fd);\n    $finish;\n  end\nendmodule\n";
        s
    }

    fn compare(&self, text: &str, path: &Path) -> Result<(), ToolError> {
        let outs: Vec<(usize, &PortSpec)> = self
            .ports
            .iter()
            .enumerate()
            .filter(|(_, p)| p.dir == PortDir::Output)
            .collect();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() != self.clocks {
            return Err(ToolError::BadOutput {
                path: path.to_path_buf(),
                detail: format!("{} lines for {} clocks", lines.len(), self.clocks),
            });
        }
        for (clock, line) in lines.iter().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() != outs.len() {
                return Err(ToolError::BadOutput {
                    path: path.to_path_buf(),
                    detail: format!(
                        "line {}: {} fields for {} outputs",
                        clock + 1,
                        fields.len(),
                        outs.len()
                    ),
                });
            }
            for ((k, p), got) in outs.iter().zip(fields) {
                let w = words(p.width);
                let want = to_hex(&self.samples[*k][clock * w..(clock + 1) * w], p.width);
                if !got.eq_ignore_ascii_case(&want) {
                    return Err(ToolError::Mismatch(Mismatch {
                        clock,
                        port: p.name.clone(),
                        rust: want,
                        verilog: got.to_string(),
                    }));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verilog::parse_top_ports;
    use rand::{Rng, SeedableRng};

    /// Exercises narrow, combinational, registered and wide (168-bit, like the
    /// management port) paths.
    #[derive(LogicBlock, Default)]
    struct Mixer {
        clock: Signal<In, Clock>,
        add: Signal<In, Bits<8>>,
        enable: Signal<In, Bit>,
        wide_in: Signal<In, Bits<168>>,
        sum: Signal<Out, Bits<16>>,
        sum_is_odd: Signal<Out, Bit>,
        wide_out: Signal<Out, Bits<168>>,
        wide_echo: Signal<Out, Bits<168>>,
        acc: DFF<Bits<16>>,
        wide_acc: DFF<Bits<168>>,
    }

    impl Logic for Mixer {
        #[hdl_gen]
        fn update(&mut self) {
            dff_setup!(self, clock, acc, wide_acc);
            if self.enable.val() {
                self.acc.d.next = self.acc.q.val() + bit_cast::<16, 8>(self.add.val());
                self.wide_acc.d.next = self.wide_acc.q.val() + self.wide_in.val();
            }
            self.sum.next = self.acc.q.val();
            self.sum_is_odd.next = self.acc.q.val().get_bit(0);
            self.wide_out.next = self.wide_acc.q.val();
            self.wide_echo.next = self.wide_in.val() ^ (self.wide_acc.q.val() >> 3);
        }
    }

    fn wide(rng: &mut impl Rng) -> Bits<168> {
        let mut b: Bits<168> = 0.into();
        for i in 0..168 {
            if rng.gen::<bool>() {
                b = b.replace_bit(i, true);
            }
        }
        b
    }

    #[test]
    fn parses_rust_hdl_top_ports() {
        let mut uut = Mixer::default();
        uut.connect_all();
        let ports = parse_top_ports(&generate_verilog(&uut)).unwrap();
        let got: Vec<(&str, PortDir, usize)> = ports
            .iter()
            .map(|p| (p.name.as_str(), p.dir, p.width))
            .collect();
        assert_eq!(
            got,
            vec![
                ("clock", PortDir::Input, 1),
                ("add", PortDir::Input, 8),
                ("enable", PortDir::Input, 1),
                ("wide_in", PortDir::Input, 168),
                ("sum", PortDir::Output, 16),
                ("sum_is_odd", PortDir::Output, 1),
                ("wide_out", PortDir::Output, 168),
                ("wide_echo", PortDir::Output, 168),
            ]
        );
        let rec = Recorder::new(&uut).unwrap();
        assert!(rec.ports()[0].is_clock && rec.ports().iter().skip(1).all(|p| !p.is_clock));
    }

    #[test]
    fn hex_is_msb_first_and_padded() {
        assert_eq!(to_hex(&[0x1f], 5), "1f");
        assert_eq!(
            to_hex(&[0x1, 0x2, 0x3], 168),
            format!("{:010x}{:016x}{:016x}", 3, 2, 1)
        );
        assert_eq!(to_hex(&[u64::MAX, 0x8], 68), "8ffffffffffffffff");
    }

    #[test]
    fn rust_and_icarus_agree_on_mixer() {
        let mut uut = Mixer::default();
        uut.connect_all();
        let mut rec = Recorder::new(&uut).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut model_sum: u16 = 0;
        for _ in 0..3000 {
            let add: u8 = rng.gen();
            let en = rng.gen_bool(0.7);
            uut.add.next = (add as u64).into();
            uut.enable.next = en;
            uut.wide_in.next = wide(&mut rng);
            rec.step(&mut uut, |u| &mut u.clock).unwrap();
            if en {
                model_sum = model_sum.wrapping_add(add as u16);
            }
            // Sanity: the Rust side is the design we think it is.
            assert_eq!(u64::from(uut.sum.val()), model_sum as u64);
        }
        let dir = tempfile::tempdir().unwrap();
        let r = rec
            .run_icarus(&generate_verilog(&uut), dir.path())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.clocks, r.inputs, r.outputs), (3000, 4, 4));
        // The testbench really ran every clock.
        let out = fs::read_to_string(dir.path().join("outputs.txt")).unwrap();
        assert_eq!(out.lines().count(), 3000);
        assert_eq!(
            out.lines()
                .next()
                .unwrap()
                .split_whitespace()
                .nth(2)
                .unwrap()
                .len(),
            42
        );
    }

    /// The lead's runner clocks the block itself and calls `sample` before each edge.
    #[test]
    fn manual_clocking_with_sample_agrees() {
        let mut uut = Mixer::default();
        uut.connect_all();
        let mut rec = Recorder::new(&uut).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for _ in 0..400 {
            uut.add.next = (rng.gen::<u8>() as u64).into();
            uut.enable.next = rng.gen();
            uut.wide_in.next = wide(&mut rng);
            rec.sample(&mut uut).unwrap();
            crate::clocking::cycle(&mut uut, |u| &mut u.clock);
        }
        let dir = tempfile::tempdir().unwrap();
        let r = rec
            .run_icarus(&generate_verilog(&uut), dir.path())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.clocks, 400);
    }

    /// A difference only in the top word of a 168-bit output is still found.
    #[test]
    fn wide_output_difference_in_top_bits_is_found() {
        let mut uut = Mixer::default();
        uut.connect_all();
        let mut rec = Recorder::new(&uut).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..50 {
            uut.add.next = 1.into();
            uut.enable.next = true;
            uut.wide_in.next = wide(&mut rng);
            rec.step(&mut uut, |u| &mut u.clock).unwrap();
        }
        // Flip bit 167 of `wide_out` as recorded at clock 37.
        let k = rec
            .ports()
            .iter()
            .position(|p| p.name == "wide_out")
            .unwrap();
        rec.samples[k][37 * 3 + 2] ^= 1 << 39;
        let dir = tempfile::tempdir().unwrap();
        match rec.run_icarus(&generate_verilog(&uut), dir.path()) {
            Err(ToolError::Mismatch(m)) => {
                assert_eq!((m.clock, m.port.as_str()), (37, "wide_out"));
                assert_eq!(m.rust.len(), 42);
                let (r, v) = (
                    u8::from_str_radix(&m.rust[..1], 16).unwrap(),
                    u8::from_str_radix(&m.verilog[..1], 16).unwrap(),
                );
                assert_eq!(r ^ v, 0x8, "only the top bit differs: {m:?}");
                assert_eq!(m.rust[1..], m.verilog[1..]);
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    /// RUST-HDL.md pitfall (a): `a & b == 0` is `(a & b) == 0` in Rust but
    /// `a & (b == 0)` in the emitted Verilog.
    #[derive(LogicBlock, Default)]
    struct Precedence {
        clock: Signal<In, Clock>,
        a: Signal<In, Bits<8>>,
        b: Signal<In, Bits<8>>,
        y: Signal<Out, Bit>,
        seen: Signal<Out, Bits<8>>,
        reg_a: DFF<Bits<8>>,
    }

    impl Logic for Precedence {
        #[hdl_gen]
        fn update(&mut self) {
            dff_setup!(self, clock, reg_a);
            self.reg_a.d.next = self.a.val();
            self.seen.next = self.reg_a.q.val();
            self.y.next = self.a.val() & self.b.val() == 0;
        }
    }

    #[test]
    fn precedence_pitfall_is_reported_at_the_first_differing_clock() {
        let mut uut = Precedence::default();
        uut.connect_all();
        let mut rec = Recorder::new(&uut).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut first_diff = None;
        for clock in 0..500 {
            // First 200 clocks: b == a, odd, where both readings give 0; then random.
            let (a, b): (u8, u8) = if clock < 200 {
                let a = rng.gen::<u8>() | 1;
                (a, a)
            } else {
                (rng.gen(), rng.gen())
            };
            uut.a.next = (a as u64).into();
            uut.b.next = (b as u64).into();
            rec.step(&mut uut, |u| &mut u.clock).unwrap();
            let rust_reading = (a & b) == 0;
            let verilog_reading = (a & (b == 0) as u8) & 1 == 1;
            if rust_reading != verilog_reading && first_diff.is_none() {
                first_diff = Some((clock, rust_reading, verilog_reading));
            }
        }
        let (clock, r, v) = first_diff.expect("stimulus exposes the difference");
        assert!(clock >= 200);
        let dir = tempfile::tempdir().unwrap();
        match rec.run_icarus(&generate_verilog(&uut), dir.path()) {
            Err(ToolError::Mismatch(m)) => {
                assert_eq!(
                    m,
                    Mismatch {
                        clock,
                        port: "y".into(),
                        rust: (r as u8).to_string(),
                        verilog: (v as u8).to_string()
                    }
                );
                assert!(ToolError::Mismatch(m)
                    .to_string()
                    .contains(&format!("clock {clock}")));
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn broken_verilog_fails_with_iverilogs_message() {
        let mut uut = Precedence::default();
        uut.connect_all();
        let mut rec = Recorder::new(&uut).unwrap();
        rec.step(&mut uut, |u| &mut u.clock).unwrap();
        let v = generate_verilog(&uut)
            .replace("endmodule // top\n", "endmodule // top\nwire broken = ;\n");
        let dir = tempfile::tempdir().unwrap();
        match rec.run_icarus(&v, dir.path()) {
            Err(ToolError::Failed {
                tool: "iverilog",
                tail,
                ..
            }) => assert!(tail.contains("syntax error"), "{tail}"),
            other => panic!("expected an iverilog failure, got {other:?}"),
        }
    }

    #[test]
    fn verilog_of_another_block_is_refused() {
        let mut a = Precedence::default();
        a.connect_all();
        let mut m = Mixer::default();
        m.connect_all();
        let mut rec = Recorder::new(&a).unwrap();
        rec.step(&mut a, |u| &mut u.clock).unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            rec.run_icarus(&generate_verilog(&m), dir.path()),
            Err(ToolError::PortsDiffer(_))
        ));
    }
}
