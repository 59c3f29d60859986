//! The ports of a rust-hdl block's top module, read from the block itself (its top
//! scope's parameters) and from its generated Verilog, and checked against each other:
//! what the Icarus testbench and the Verilator shim are generated from.

use crate::runner::ToolError;
use rust_hdl::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortDir {
    Input,
    Output,
}

/// A top-level port, named as in the generated Verilog (`ns$name` inside an interface).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub name: String,
    pub dir: PortDir,
    pub width: usize,
    /// A `Clock` input: driven by the testbench, not recorded.
    pub is_clock: bool,
}

/// Visits the top scope's parameters (what becomes `module top`'s ports), in order.
struct TopPorts<'a> {
    depth: usize,
    namespace: Vec<String>,
    visit: &'a mut dyn FnMut(String, &dyn Atom),
}

impl Probe for TopPorts<'_> {
    fn visit_start_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth += 1;
    }
    fn visit_start_namespace(&mut self, name: &str, _node: &dyn Block) {
        if self.depth == 1 {
            self.namespace.push(name.to_string());
        }
    }
    fn visit_atom(&mut self, name: &str, signal: &dyn Atom) {
        if self.depth == 1 && signal.kind().is_parameter() {
            // rust-hdl flattens interface members as `ns$name` (same rule as its PCF writer).
            let mut full = self.namespace.join("$");
            if !full.is_empty() {
                full.push('$');
            }
            full.push_str(name);
            (self.visit)(full, signal);
        }
    }
    fn visit_end_namespace(&mut self, _name: &str, _node: &dyn Block) {
        if self.depth == 1 {
            self.namespace.pop();
        }
    }
    fn visit_end_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth -= 1;
    }
}

pub(crate) fn for_each_top_port<B: Block>(uut: &B, mut f: impl FnMut(String, &dyn Atom)) {
    let mut probe = TopPorts {
        depth: 0,
        namespace: vec![],
        visit: &mut f,
    };
    uut.accept("top", &mut probe);
}

/// The block's top-level ports in declaration order (call `connect_all` first). Only
/// plain bit vectors can be driven from outside.
pub fn block_ports<B: Block>(uut: &B) -> Result<Vec<PortSpec>, ToolError> {
    let mut ports = Vec::new();
    let mut bad = None;
    for_each_top_port(uut, |name, atom| {
        let d = atom.descriptor();
        let dir = match atom.kind() {
            AtomKind::InputParameter => PortDir::Input,
            AtomKind::OutputParameter | AtomKind::OutputPassthrough => PortDir::Output,
            _ => {
                bad.get_or_insert(ToolError::UnsupportedPort {
                    port: name.clone(),
                    why: "inout".into(),
                });
                return;
            }
        };
        if !matches!(d.kind, TypeKind::Bits(_)) {
            bad.get_or_insert(ToolError::UnsupportedPort {
                port: name.clone(),
                why: format!("type {} is not a plain bit vector", d.name),
            });
            return;
        }
        let is_clock = d.name == "clock";
        ports.push(PortSpec {
            name,
            dir,
            width: atom.bits(),
            is_clock,
        });
    });
    if let Some(e) = bad {
        return Err(e);
    }
    Ok(ports)
}

/// The Verilog's `module top` must declare exactly our ports, with our widths.
pub fn check_ports(ports: &[PortSpec], verilog: &str) -> Result<(), ToolError> {
    let declared = parse_top_ports(verilog).map_err(ToolError::PortsDiffer)?;
    for p in ports {
        match declared.iter().find(|d| d.name == p.name) {
            None => {
                return Err(ToolError::PortsDiffer(format!(
                    "`{}` is not a port of module top",
                    p.name
                )))
            }
            Some(d) if d.dir != p.dir || d.width != p.width => {
                return Err(ToolError::PortsDiffer(format!(
                    "`{}`: Rust {:?} {} bits, Verilog {:?} {} bits",
                    p.name, p.dir, p.width, d.dir, d.width
                )))
            }
            Some(_) => {}
        }
    }
    if let Some(d) = declared
        .iter()
        .find(|d| !ports.iter().any(|p| p.name == d.name))
    {
        return Err(ToolError::PortsDiffer(format!(
            "Verilog port `{}` is not in the Rust block",
            d.name
        )));
    }
    Ok(())
}

/// The ports of `module top(...)` as declared in rust-hdl's Verilog:
/// `input wire [7:0] a;`, `output reg b;`, `output wire [167:0] c;`.
pub fn parse_top_ports(verilog: &str) -> Result<Vec<PortSpec>, String> {
    let start = verilog
        .find("module top(")
        .ok_or("no `module top(` in the Verilog")?;
    let body = &verilog[start..];
    let end = body
        .find("endmodule")
        .ok_or("`module top` has no endmodule")?;
    let body = &body[..end];
    let header_end = body
        .find(';')
        .ok_or("`module top(` header is not terminated")?;
    let listed: Vec<&str> = body["module top(".len()..header_end]
        .trim_end()
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut ports = Vec::new();
    for line in body[header_end + 1..].lines() {
        let mut toks = line
            .trim()
            .trim_end_matches(';')
            .split_whitespace()
            .peekable();
        let dir = match toks.peek() {
            Some(&"input") => PortDir::Input,
            Some(&"output") => PortDir::Output,
            Some(&"inout") => return Err(format!("inout port in `{}`", line.trim())),
            _ => continue,
        };
        toks.next();
        let mut width = 1;
        let mut name = None;
        for t in toks {
            match t {
                "wire" | "reg" | "signed" => {}
                r if r.starts_with('[') => {
                    let inner = r.trim_start_matches('[').trim_end_matches(']');
                    let (hi, lo) = inner.split_once(':').ok_or_else(|| format!("range {r}"))?;
                    let hi: usize = hi.parse().map_err(|_| format!("range {r}"))?;
                    let lo: usize = lo.parse().map_err(|_| format!("range {r}"))?;
                    width = hi.abs_diff(lo) + 1;
                }
                n => name = Some(n.to_string()),
            }
        }
        let name = name.ok_or_else(|| format!("no name in `{}`", line.trim()))?;
        ports.push(PortSpec {
            name,
            dir,
            width,
            is_clock: false,
        });
    }
    if ports.len() != listed.len() || !ports.iter().all(|p| listed.contains(&p.name.as_str())) {
        return Err(format!(
            "port list {listed:?} does not match the declarations"
        ));
    }
    Ok(ports)
}


/// The span of rust-hdl's `module top` in `verilog`: (just after its port list's `);`,
/// the start of its `endmodule // top`).
fn top_span(verilog: &str) -> Result<(usize, usize), String> {
    let start = verilog.find("module top(").ok_or("no `module top(` in the Verilog")?;
    let header = verilog[start..].find(");\n").ok_or("`module top(` header is not terminated")? + start;
    let end = verilog[start..].find("endmodule // top\n").ok_or("`module top` has no `endmodule // top`")? + start;
    Ok((header, end))
}

/// Replaces the one `from` between `lo` and `hi` (all of them with `all`: at least one).
fn replace_in(text: &mut String, lo: usize, hi: usize, from: &str, to: &str, all: bool) -> Result<(), String> {
    let n = text[lo..hi].matches(from).count();
    if n == 0 || (n > 1 && !all) {
        return Err(format!("`module top` has {n} `{}`, not {}", from.trim(), if all { "one or more" } else { "one" }));
    }
    let edited = text[lo..hi].replace(from, to);
    text.replace_range(lo..hi, &edited);
    Ok(())
}

/// `module top` with more output ports, `(name, width, expression)` each: for a
/// simulator to watch internal signals (rust-hdl's `block$signal` names) as pins.
pub fn add_outputs(verilog: &str, outputs: &[(String, usize, String)]) -> Result<String, String> {
    let (header, end) = top_span(verilog)?;
    let names: String = outputs.iter().map(|o| format!(",{}", o.0)).collect();
    let mut decls = String::new();
    let mut assigns = String::new();
    for (name, width, from) in outputs {
        let range = if *width > 1 { format!("[{}:0] ", width - 1) } else { String::new() };
        decls += &format!("    output wire  {range}{name};\n");
        assigns += &format!("    assign {name} = {from};\n");
    }
    let body = &verilog[header + 3..end];
    Ok(format!("{}{names});\n{decls}{body}{assigns}{}", &verilog[..header], &verilog[end..]))
}

/// `module top`'s three-state pin `pin`, driven through the `TristateBuffer` `buffer`,
/// made an input: Verilator takes no top-level inout. The pin is the line as the other
/// side leaves it; what the design reads is its own drive while it drives (`buffer`'s
/// `write_enable`/`write_data`, which `add_outputs` can bring out), the line otherwise —
/// what `TristateBuffer` reads in rust-hdl.
pub fn inout_as_input(verilog: &str, pin: &str, buffer: &str) -> Result<String, String> {
    let mut text = verilog.to_string();
    let edits = [
        (format!("    inout wire  {pin};\n"), format!("    input wire  {pin};\n    wire  {pin}_pad;\n"), false),
        (format!(".bus({pin})"), format!(".bus({pin}_pad)"), false),
        (format!(" = {buffer}$read_data;"), format!(" = {buffer}$write_enable ? {buffer}$write_data : {pin};"), true),
    ];
    for (from, to, all) in edits {
        let (header, end) = top_span(&text)?;
        replace_in(&mut text, header, end, &from, &to, all)?;
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{run, IVERILOG, VVP};

    /// A pin behind a `TristateBuffer`, as the Ethernet board's MDIO pins are.
    #[derive(LogicBlock, Default)]
    struct Pad {
        pub pin: Signal<InOut, Bit>,
        pub drive: Signal<In, Bit>,
        pub level: Signal<In, Bit>,
        pub seen: Signal<Out, Bit>,
        pad_buf: TristateBuffer<Bit>,
        seen_i: Signal<Local, Bit>,
    }

    impl Logic for Pad {
        #[hdl_gen]
        fn update(&mut self) {
            Signal::<InOut, Bit>::link(&mut self.pin, &mut self.pad_buf.bus);
            self.pad_buf.write_enable.next = self.drive.val();
            self.pad_buf.write_data.next = self.level.val();
            self.seen_i.next = self.pad_buf.read_data.val();
            self.seen.next = self.seen_i.val();
        }
    }

    fn pad_verilog() -> String {
        crate::flow::top_verilog(&mut Pad::default(), "top").unwrap()
    }

    fn outputs() -> Vec<(String, usize, String)> {
        vec![
            ("pin_o".into(), 1, "pad_buf$write_data".into()),
            ("pin_oe".into(), 1, "pad_buf$write_enable".into()),
            ("both".into(), 2, "{pad_buf$write_enable, pad_buf$write_data}".into()),
        ]
    }

    #[test]
    fn the_edited_top_has_the_pin_as_an_input_and_the_added_outputs() {
        let v = pad_verilog();
        assert!(parse_top_ports(&v).unwrap_err().contains("inout"), "rust-hdl's top has the inout");
        let v = add_outputs(&inout_as_input(&v, "pin", "pad_buf").unwrap(), &outputs()).unwrap();
        let ports = parse_top_ports(&v).unwrap();
        let find = |n: &str| ports.iter().find(|p| p.name == n).unwrap_or_else(|| panic!("no port {n} in {ports:?}"));
        assert_eq!((find("pin").dir, find("pin").width), (PortDir::Input, 1));
        assert_eq!((find("both").dir, find("both").width), (PortDir::Output, 2));
        assert_eq!(find("pin_oe").dir, PortDir::Output);
        assert_eq!(ports.len(), 7);
    }

    /// Icarus runs the edited top: the design reads its own drive while it drives and
    /// the line otherwise, and the added outputs show the drive.
    #[test]
    fn the_edited_top_reads_its_own_drive_or_the_line_in_icarus() {
        let v = add_outputs(&inout_as_input(&pad_verilog(), "pin", "pad_buf").unwrap(), &outputs()).unwrap();
        let tb = r#"
module tb;
    reg pin, drive, level;
    wire seen, pin_o, pin_oe;
    wire [1:0] both;
    integer i;
    top dut(.pin(pin), .drive(drive), .level(level), .seen(seen), .pin_o(pin_o), .pin_oe(pin_oe), .both(both));
    initial begin
        for (i = 0; i < 8; i = i + 1) begin
            {drive, level, pin} = i;
            #1 $display("%0d %0d %0d %0d %0d", i, seen, pin_o, pin_oe, both);
        end
    end
endmodule
"#;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dut.v"), &v).unwrap();
        std::fs::write(dir.path().join("tb.v"), tb).unwrap();
        run(IVERILOG, &["-g2005", "-o", "t.vvp", "tb.v", "dut.v"], dir.path()).unwrap_or_else(|e| panic!("{e}\n{v}"));
        let out = run(VVP, &["t.vvp"], dir.path()).unwrap();
        let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 8, "{out}");
        for (i, line) in lines.iter().enumerate() {
            let (drive, level, pin) = (i >> 2 & 1, i >> 1 & 1, i & 1);
            let seen = if drive == 1 { level } else { pin };
            assert_eq!(*line, format!("{i} {seen} {level} {drive} {}", drive << 1 | level), "drive {drive} level {level} pin {pin}");
        }
    }

    #[test]
    fn an_edit_that_finds_nothing_to_change_says_what_it_looked_for() {
        let v = pad_verilog();
        let e = inout_as_input(&v, "nosuchpin", "buf").unwrap_err();
        assert!(e.contains("inout wire  nosuchpin;") && e.contains("has 0"), "{e}");
        let e = inout_as_input(&v, "pin", "nosuchbuf").unwrap_err();
        assert!(e.contains("nosuchbuf$read_data"), "{e}");
        assert!(add_outputs("module other(a);\nendmodule\n", &outputs()).unwrap_err().contains("module top("));
    }
}
