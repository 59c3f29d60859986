//! The Verilator backend: a rust-hdl block's generated Verilog compiled by Verilator
//! 5.006 (`--cc`) and g++ into a shared library with a small C ABI of our own
//! (`verilator_shim.cpp`), loaded with `dlopen` and driven from Rust.
//!
//! Built at first use, not in `build.rs`: the Verilog depends on run-time choices (the
//! table capacity, which block), a missing Verilator must not stop the crate from
//! building (the rtl engine needs no tools), and the same cache serves every crate
//! and command. The cache (`$PORTSHARE_VERILATOR_CACHE`, else
//! `$XDG_CACHE_HOME/portshare/verilator`, else `~/.cache/portshare/verilator`) holds
//! one folder per key, a hash of the Verilog, the flags, the shim source, the
//! generated port map and `verilator --version`; a second run finds it and builds
//! nothing. A build runs in a temporary folder beside it under an exclusive `flock`
//! on `KEY.lock` and is renamed into place when complete, so two runs at once never
//! see half a library, and the second waits for the first instead of building twice.
//!
//! Verilator's flags: Verilog-2005 (rust-hdl names a
//! signal `class`), `-Wno-fatal -Wno-WIDTH -Wno-UNOPTFLAT` (lint warnings rust-hdl's
//! Verilog always has), `-O3`, and X values as 0 (`--x-assign 0 --x-initial 0`), which
//! is what rust-hdl's simulator starts from. Verilog it rejects fails with its own
//! message.

use crate::runner::{run, ToolError, Tool, CXX, VERILATOR};
use crate::verilog::{block_ports, check_ports, PortDir, PortSpec};
use rust_hdl::prelude::Block;
use std::collections::hash_map::DefaultHasher;
use std::ffi::{c_void, CString};
use std::fmt::Write as _;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

const SHIM: &str = include_str!("verilator_shim.cpp");
/// Verilator 5.006's runtime as Debian installs it.
const RUNTIME: &str = "/usr/share/verilator/include";
pub const VERILATOR_FLAGS: [&str; 12] = [
    "--cc",
    "--default-language",
    "1364-2005",
    "-Wno-fatal",
    "-Wno-WIDTH",
    "-Wno-UNOPTFLAT",
    "-O3",
    "--x-assign",
    "0",
    "--x-initial",
    "0",
    "--no-timing",
];
const CXX_FLAGS: [&str; 5] = ["-O2", "-fPIC", "-fvisibility=hidden", "-std=c++17", "-w"];
/// A gate-level design's C++ is megabytes of straight-line code: one `g++ -O2` over
/// it took minutes. Like Verilator's own makefiles, its files are compiled one by one
/// (two at a time) — the run-once `__Slow` files without optimization, the rest
/// `-Os` — and then linked.
const GATE_CXX_FLAGS: [&str; 4] = ["-fPIC", "-fvisibility=hidden", "-std=c++17", "-w"];
const GATE_OPT_FAST: &str = "-Os";
const GATE_OPT_SLOW: &str = "-O0";
const LIB_NAME: &str = "libportshare_vl.so";
/// Added for a netlist of iCE40 cells (`Design::cells`): `cells_sim.v` gives inputs
/// default values plain Verilog rejects unless told not to, and its models trip lint
/// warnings that are not errors (multiple drivers of a RAM's output word, a timescale
/// our Verilog lacks).
pub const CELL_FLAGS: [&str; 5] =
    ["-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN", "-Wno-TIMESCALEMOD"];

/// The valid/ready/last byte stream of a block, by port name, that [`Model::stream`]
/// drives in C++.
#[derive(Clone, Debug, Hash)]
pub struct StreamPorts {
    pub in_data: String,
    pub in_valid: String,
    pub in_last: String,
    pub in_ready: String,
    /// An input held for every beat of a frame (the pipeline's direction), if any.
    pub in_side: Option<String>,
    pub out_data: String,
    pub out_valid: String,
    pub out_last: String,
    pub out_ready: String,
    /// A start/busy/done command port served during the stream, if any.
    pub command: Option<CommandPorts>,
}

/// A command port: `payload` inputs set and `start` raised until accepted
/// (`start && !busy`), then `reply` read in the clock `done` pulses.
#[derive(Clone, Debug, Hash)]
pub struct CommandPorts {
    pub start: String,
    pub busy: String,
    pub done: String,
    pub reply: String,
    pub payload: Vec<String>,
}

/// What to compile: the Verilog (top module `top`), its ports as the block declares
/// them, the clock input, and optionally the stream.
#[derive(Clone, Debug)]
pub struct Design {
    pub verilog: String,
    pub ports: Vec<PortSpec>,
    pub clock: String,
    pub stream: Option<StreamPorts>,
    /// The cell models the Verilog instantiates (yosys' `cells_sim.v` for a netlist
    /// or a decoded bitstream: `crate::gates`), compiled beside it with [`CELL_FLAGS`].
    pub cells: Option<String>,
}

/// 32-bit words of a port of `width` bits.
pub fn words(width: usize) -> usize {
    width.div_ceil(32)
}

/// The C++ member Verilator gives a port: characters other than letters, digits and
/// `_` become `__0HH` (rust-hdl's `block$signal` is `block__024signal`).
pub fn member(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            s.push(c);
        } else {
            write!(s, "__0{:02x}", c as u32).unwrap();
        }
    }
    s
}

impl Design {
    /// The design of a *fresh* block (rust-hdl writes a `RAM`'s current simulated
    /// contents as its Verilog `initial` values, so never a simulated one).
    pub fn of<B: Block>(fresh: &mut B, stream: Option<StreamPorts>) -> Result<Design, ToolError> {
        let verilog = crate::flow::top_verilog(fresh, "top")?;
        let ports = block_ports(fresh)?;
        check_ports(&ports, &verilog)?;
        let clock = ports
            .iter()
            .find(|p| p.is_clock)
            .ok_or_else(|| ToolError::UnsupportedPort { port: "clock".into(), why: "the block has no clock input".into() })?
            .name
            .clone();
        Ok(Design { verilog, ports, clock, stream, cells: None })
    }

    fn index(&self, name: &str) -> Result<usize, ToolError> {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| ToolError::PortsDiffer(format!("the stream names `{name}`, which is not a port")))
    }

    /// `ps_ports.inc`: the port map and stream macros the shim is compiled with.
    fn ports_source(&self) -> Result<String, ToolError> {
        let mut s = String::from("// Generated by portshare-tools (verilator.rs) for this design.\n");
        let clock = self.index(&self.clock)?;
        writeln!(s, "#define PS_CLOCK {}", member(&self.ports[clock].name)).unwrap();
        s += "static void ps_set_port(Vtop* t, uint32_t i, const uint32_t* w) {\n  switch (i) {\n";
        for (i, p) in self.ports.iter().enumerate().filter(|(_, p)| p.dir == PortDir::Input) {
            writeln!(s, "    case {i}: ps_put(t->{}, w); break;", member(&p.name)).unwrap();
        }
        s += "    default: break;\n  }\n}\n";
        s += "static void ps_get_port(Vtop* t, uint32_t i, uint32_t* w) {\n  switch (i) {\n";
        for (i, p) in self.ports.iter().enumerate() {
            writeln!(s, "    case {i}: ps_take(t->{}, w); break;", member(&p.name)).unwrap();
        }
        s += "    default: break;\n  }\n}\n";
        let (mut cmd_words, mut reply_words) = (1, 1);
        if let Some(st) = &self.stream {
            s += "#define PS_STREAM 1\n";
            for (mac, name) in [
                ("PS_IN_DATA", &st.in_data),
                ("PS_IN_VALID", &st.in_valid),
                ("PS_IN_LAST", &st.in_last),
                ("PS_IN_READY", &st.in_ready),
                ("PS_OUT_DATA", &st.out_data),
                ("PS_OUT_VALID", &st.out_valid),
                ("PS_OUT_LAST", &st.out_last),
                ("PS_OUT_READY", &st.out_ready),
            ] {
                self.index(name)?;
                writeln!(s, "#define {mac} {}", member(name)).unwrap();
            }
            if let Some(side) = &st.in_side {
                self.index(side)?;
                writeln!(s, "#define PS_IN_SIDE {}", member(side)).unwrap();
            }
            if let Some(c) = &st.command {
                s += "#define PS_CMD 1\n";
                for (mac, name) in [("PS_CMD_START", &c.start), ("PS_CMD_BUSY", &c.busy), ("PS_CMD_DONE", &c.done), ("PS_CMD_REPLY", &c.reply)] {
                    self.index(name)?;
                    writeln!(s, "#define {mac} {}", member(name)).unwrap();
                }
                reply_words = words(self.ports[self.index(&c.reply)?].width);
                s += "static void ps_cmd_apply(Vtop* t, const uint32_t* w) {\n";
                let mut off = 0;
                for name in &c.payload {
                    let p = &self.ports[self.index(name)?];
                    writeln!(s, "  ps_put(t->{}, w + {off});", member(name)).unwrap();
                    off += words(p.width);
                }
                s += "}\n";
                cmd_words = off.max(1);
            }
        }
        writeln!(s, "#define PS_CMD_WORDS {cmd_words}\n#define PS_REPLY_WORDS {reply_words}").unwrap();
        Ok(s)
    }

    /// `wrap.v`: the block inside `ps_wrap`, every input but the clocks through a
    /// register loaded on each edge of `ps_load` (why: the shim's header comment). The
    /// block's Verilog itself is untouched.
    fn wrapper_source(&self) -> String {
        let range = |w: usize| if w > 1 { format!("[{}:0] ", w - 1) } else { String::new() };
        let held = |p: &&PortSpec| p.dir == PortDir::Input && !p.is_clock && p.name != self.clock;
        let mut s = String::from("// Generated by portshare-tools (verilator.rs): the simulation harness around `top`.\n");
        s += "module ps_wrap(\n  input wire ps_load";
        for p in &self.ports {
            let dir = if p.dir == PortDir::Input { "input" } else { "output" };
            write!(s, ",\n  {dir} wire {}{}", range(p.width), p.name).unwrap();
        }
        s += "\n);\n";
        for p in self.ports.iter().filter(held) {
            writeln!(s, "  reg {}{}__ps_q;", range(p.width), p.name).unwrap();
        }
        s += "  always @(posedge ps_load or negedge ps_load) begin\n";
        for p in self.ports.iter().filter(held) {
            writeln!(s, "    {0}__ps_q <= {0};", p.name).unwrap();
        }
        s += "  end\n  top dut(";
        let conns: Vec<String> = self
            .ports
            .iter()
            .map(|p| if held(&p) { format!(".{0}({0}__ps_q)", p.name) } else { format!(".{0}({0})", p.name) })
            .collect();
        s += &conns.join(", ");
        s += ");\nendmodule\n";
        s
    }

    fn command_layout(&self) -> (usize, usize, Vec<usize>) {
        let Some(c) = self.stream.as_ref().and_then(|s| s.command.as_ref()) else { return (1, 1, vec![]) };
        let w = |n: &String| words(self.ports.iter().find(|p| &p.name == n).map_or(1, |p| p.width));
        let payload: Vec<usize> = c.payload.iter().map(w).collect();
        (payload.iter().sum::<usize>().max(1), w(&c.reply), payload)
    }
}

/// Where the libraries are cached.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PORTSHARE_VERILATOR_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("portshare").join("verilator")
}

type NewFn = unsafe extern "C" fn() -> *mut c_void;
type DeleteFn = unsafe extern "C" fn(*mut c_void);
type PortFn = unsafe extern "C" fn(*mut c_void, u32, *mut u32);
type EvalFn = unsafe extern "C" fn(*mut c_void);
type TickFn = unsafe extern "C" fn(*mut c_void, u64);
type StreamFn = unsafe extern "C" fn(*mut c_void, *mut RawStream) -> u32;
type OwnLoopFn = unsafe extern "C" fn(*mut c_void, u64, u32, u32, u32, u32) -> u64;

/// A loaded library: one compiled design. Models are instances of it.
pub struct Library {
    path: PathBuf,
    ports: Vec<PortSpec>,
    reply_words: usize,
    payload_words: Vec<usize>,
    /// Seconds Verilator and g++ took in this process; `None`: it came from the cache.
    pub build_seconds: Option<f64>,
    handle: *mut c_void,
    new: NewFn,
    delete: DeleteFn,
    set: PortFn,
    get: PortFn,
    eval: EvalFn,
    settle: EvalFn,
    tick: TickFn,
    stream: StreamFn,
    own_loop: OwnLoopFn,
}

// The handle and function pointers are process-wide and immutable once loaded.
unsafe impl Send for Library {}
unsafe impl Sync for Library {}

impl Drop for Library {
    fn drop(&mut self) {
        // SAFETY: every Model holds an Arc<Library>, so none is alive any more.
        unsafe { libc::dlclose(self.handle) };
    }
}

fn key(design: &Design, ports_src: &str, version: &str) -> String {
    let k: Result<String, ToolError> = hash_key(|h| {
        design.verilog.hash(h);
        if let Some(cells) = &design.cells {
            // (Only then: an RTL design's key is what it was before gate-level designs.)
            cells.hash(h);
            CELL_FLAGS.hash(h);
            GATE_CXX_FLAGS.hash(h);
        }
        VERILATOR_FLAGS.hash(h);
        CXX_FLAGS.hash(h);
        SHIM.hash(h);
        ports_src.hash(h);
        design.wrapper_source().hash(h);
        version.hash(h);
        Ok(())
    });
    k.expect("hashing the design cannot fail")
}

/// A 128-bit hex key of what `feed` hashes (two seeded 64-bit hashes).
pub(crate) fn hash_key(mut feed: impl FnMut(&mut DefaultHasher) -> Result<(), ToolError>) -> Result<String, ToolError> {
    let mut parts = [DefaultHasher::new(), DefaultHasher::new()];
    for (i, h) in parts.iter_mut().enumerate() {
        i.hash(h);
        feed(h)?;
    }
    Ok(format!("{:016x}{:016x}", parts[0].finish(), parts[1].finish()))
}

/// Holds an exclusive `flock` on a file until dropped.
struct Lock(fs::File);

impl Lock {
    pub(crate) fn take(path: &Path) -> Result<Lock, ToolError> {
        let f = fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(ToolError::io(path))?;
        use std::os::unix::io::AsRawFd;
        // SAFETY: a valid descriptor owned by `f`.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(ToolError::Io { path: path.to_path_buf(), source: std::io::Error::last_os_error() });
        }
        Ok(Lock(f))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        use std::os::unix::io::AsRawFd;
        // SAFETY: as in `take`.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn verilator_version() -> Result<String, ToolError> {
    static VERSION: OnceLock<String> = OnceLock::new();
    if let Some(v) = VERSION.get() {
        return Ok(v.clone());
    }
    let v = run(VERILATOR, &["--version"], Path::new("."))?.trim().to_string();
    Ok(VERSION.get_or_init(|| v).clone())
}

/// Libraries loaded in this process, by key (a design is compiled and loaded once).
fn loaded() -> &'static Mutex<Vec<(String, Arc<Library>)>> {
    static LOADED: OnceLock<Mutex<Vec<(String, Arc<Library>)>>> = OnceLock::new();
    LOADED.get_or_init(|| Mutex::new(Vec::new()))
}

impl Library {
    /// The library for `design`: loaded already, found in the cache, or built now.
    pub fn get(design: &Design) -> Result<Arc<Library>, ToolError> {
        let ports_src = design.ports_source()?;
        let key = key(design, &ports_src, &verilator_version()?);
        let mut loaded = loaded().lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, lib)) = loaded.iter().find(|(k, _)| *k == key) {
            return Ok(lib.clone());
        }
        let (dir, build_seconds) = cached(&key, LIB_NAME, |tmp| compile(design, &ports_src, tmp))?;
        let lib_path = dir.join(LIB_NAME);
        let lib = Arc::new(Library::load(design, &lib_path, build_seconds)?);
        loaded.push((key, lib.clone()));
        Ok(lib)
    }

    fn load(design: &Design, path: &Path, build_seconds: Option<f64>) -> Result<Library, ToolError> {
        let c = CString::new(path.as_os_str().to_string_lossy().as_bytes()).expect("no NUL in a path");
        let err = || {
            // SAFETY: dlerror returns a thread-local C string or null.
            let e = unsafe { libc::dlerror() };
            if e.is_null() {
                "unknown dlopen error".to_string()
            } else {
                unsafe { std::ffi::CStr::from_ptr(e) }.to_string_lossy().into_owned()
            }
        };
        // SAFETY: loading our own library, whose constructors are Verilator's statics.
        let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(ToolError::Load { path: path.to_path_buf(), detail: err() });
        }
        let sym = |name: &str| -> Result<*mut c_void, ToolError> {
            let n = CString::new(name).unwrap();
            // SAFETY: a valid handle and symbol name.
            let p = unsafe { libc::dlsym(handle, n.as_ptr()) };
            if p.is_null() {
                Err(ToolError::Load { path: path.to_path_buf(), detail: format!("no symbol {name}: {}", err()) })
            } else {
                Ok(p)
            }
        };
        let (cmd_words, reply_words, payload_words) = design.command_layout();
        if cmd_words > MAX_WORDS || reply_words > MAX_WORDS {
            return Err(ToolError::UnsupportedPort { port: "command".into(), why: format!("wider than {MAX_WORDS} words") });
        }
        // SAFETY: the symbols are the shim's, with exactly these signatures.
        unsafe {
            Ok(Library {
                path: path.to_path_buf(),
                ports: design.ports.clone(),
                reply_words,
                payload_words,
                build_seconds,
                handle,
                new: std::mem::transmute::<*mut c_void, NewFn>(sym("ps_new")?),
                delete: std::mem::transmute::<*mut c_void, DeleteFn>(sym("ps_delete")?),
                set: std::mem::transmute::<*mut c_void, PortFn>(sym("ps_set")?),
                get: std::mem::transmute::<*mut c_void, PortFn>(sym("ps_get")?),
                eval: std::mem::transmute::<*mut c_void, EvalFn>(sym("ps_eval")?),
                settle: std::mem::transmute::<*mut c_void, EvalFn>(sym("ps_settle")?),
                tick: std::mem::transmute::<*mut c_void, TickFn>(sym("ps_tick")?),
                stream: std::mem::transmute::<*mut c_void, StreamFn>(sym("ps_stream")?),
                own_loop: std::mem::transmute::<*mut c_void, OwnLoopFn>(sym("ps_own_loop")?),
            })
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn ports(&self) -> &[PortSpec] {
        &self.ports
    }

    /// A fresh model (every flip-flop and RAM at its initial value).
    pub fn instance(self: &Arc<Self>) -> Model {
        // SAFETY: ps_new allocates a model and returns it.
        let handle = unsafe { (self.new)() };
        Model { lib: self.clone(), handle, buf: vec![0; 64] }
    }
}

/// Verilator, then g++, in `dir`. The generated sources and the shim are compiled as
/// one translation unit (Verilator's headers are most of each file's compile time, so
/// parsing them once is about three times faster than file by file); Verilator's
/// runtime comes precompiled from [`runtime_objects`], built beside it on the other core
/// the first time.
fn compile(design: &Design, ports_src: &str, dir: &Path) -> Result<(), ToolError> {
    let w = |name: &str, text: &str| {
        let p = dir.join(name);
        fs::write(&p, text).map_err(ToolError::io(&p))
    };
    w("top.v", &design.verilog)?;
    w("wrap.v", &design.wrapper_source())?;
    w("ps_ports.inc", ports_src)?;
    w("shim.cpp", SHIM)?;
    std::thread::scope(|scope| {
        let runtime = scope.spawn(runtime_objects);
        let design_objs = (|| {
            let mut args: Vec<&str> = VERILATOR_FLAGS.to_vec();
            args.extend(["--top-module", "ps_wrap", "--prefix", "Vtop", "-Mdir", "obj", "wrap.v", "top.v"]);
            if let Some(cells) = &design.cells {
                w("cells.v", cells)?;
                args.extend(CELL_FLAGS);
                args.push("cells.v");
            }
            let log = run(VERILATOR, &args, dir)?;
            fs::write(dir.join("verilator.log"), &log).map_err(ToolError::io(&dir.join("verilator.log")))?;
            let obj = dir.join("obj");
            let mut sources: Vec<String> = fs::read_dir(&obj)
                .map_err(ToolError::io(&obj))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".cpp"))
                .map(|n| format!("obj/{n}"))
                .collect();
            sources.sort();
            if design.cells.is_some() {
                let mut all: Vec<String> = vec!["shim.cpp".into()];
                all.extend(sources);
                return compile_separately(&all, dir);
            }
            let mut unity: String = sources.iter().map(|n| format!("#include \"{n}\"\n")).collect();
            unity += "#include \"shim.cpp\"\n";
            w("design.cpp", &unity)?;
            cxx_object(dir, "design.cpp", "design.o")?;
            Ok(vec!["design.o".to_string()])
        })();
        let runtime = runtime.join().expect("the runtime build does not panic")?;
        let objects = design_objs?;
        let mut args: Vec<&str> = vec!["-shared", "-fPIC", "-o", LIB_NAME];
        args.extend(objects.iter().map(String::as_str));
        let runtime: Vec<String> = runtime.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        args.extend(runtime.iter().map(String::as_str));
        args.push("-pthread");
        run(CXX, &args, dir)?;
        Ok(())
    })
}

/// The include path every C++ compile of a design needs.
fn includes() -> [String; 4] {
    ["-I.".into(), "-Iobj".into(), format!("-I{RUNTIME}"), format!("-I{RUNTIME}/vltstd")]
}

/// `g++ -c` of `source` in `dir` with the backend's flags.
fn cxx_object(dir: &Path, source: &str, object: &str) -> Result<(), ToolError> {
    let inc = includes();
    let mut args: Vec<&str> = CXX_FLAGS.to_vec();
    args.push("-c");
    args.extend(inc.iter().map(String::as_str));
    args.extend([source, "-o", object]);
    run(CXX, &args, dir).map(|_| ())
}

/// Verilator's runtime (`verilated.cpp`, `verilated_threads.cpp`) compiled once per
/// Verilator version and flags, cached like a design: it is the largest compile in a
/// library (about a minute), the same for every design.
fn runtime_objects() -> Result<Vec<PathBuf>, ToolError> {
    const PARTS: [&str; 2] = ["verilated", "verilated_threads"];
    let key = hash_key(|h| {
        "runtime".hash(h);
        CXX_FLAGS.hash(h);
        verilator_version().map(|v| v.hash(h))
    })?;
    let dir = cached(&format!("runtime-{key}"), "verilated_threads.o", |tmp| {
        for p in PARTS {
            cxx_object(tmp, &format!("{RUNTIME}/{p}.cpp"), &format!("{p}.o"))?;
        }
        Ok(())
    })?
    .0;
    Ok(PARTS.iter().map(|p| dir.join(format!("{p}.o"))).collect())
}

/// `cache_dir()/NAME`, built by `build` in a temporary folder beside it (under an
/// exclusive `flock` on `NAME.lock`, renamed into place when complete) unless it holds
/// `witness` already. The seconds the build took, if it ran here.
fn cached(name: &str, witness: &str, build: impl FnOnce(&Path) -> Result<(), ToolError>) -> Result<(PathBuf, Option<f64>), ToolError> {
    cached_in(&cache_dir(), name, witness, build)
}

pub(crate) fn cached_in(
    cache: &Path,
    name: &str,
    witness: &str,
    build: impl FnOnce(&Path) -> Result<(), ToolError>,
) -> Result<(PathBuf, Option<f64>), ToolError> {
    fs::create_dir_all(cache).map_err(ToolError::io(cache))?;
    let dir = cache.join(name);
    let done = |d: &Path| d.join(witness).exists();
    if done(&dir) {
        return Ok((dir, None));
    }
    let _lock = Lock::take(&cache.join(format!("{name}.lock")))?;
    // Someone else may have built it while we waited for the lock.
    if done(&dir) {
        return Ok((dir, None));
    }
    let t = Instant::now();
    let tmp = cache.join(format!("{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(ToolError::io(&tmp))?;
    if let Err(e) = build(&tmp) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir).map_err(ToolError::io(&dir))?;
    Ok((dir, Some(t.elapsed().as_secs_f64())))
}

/// [`GATE_CXX_FLAGS`]: each source to an object, two compilers at a time (linked by `compile`).
fn compile_separately(sources: &[String], dir: &Path) -> Result<Vec<String>, ToolError> {
    let inc = includes();
    let objects: Vec<String> = (0..sources.len()).map(|i| format!("o{i}.o")).collect();
    let next = Mutex::new(0usize);
    let failed: Mutex<Option<ToolError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    let i = *n;
                    *n += 1;
                    i
                };
                if i >= sources.len() || failed.lock().unwrap().is_some() {
                    return;
                }
                let opt = if sources[i].contains("__Slow") { GATE_OPT_SLOW } else { GATE_OPT_FAST };
                let mut args: Vec<&str> = GATE_CXX_FLAGS.to_vec();
                args.push(opt);
                args.extend(inc.iter().map(String::as_str));
                args.extend(["-c", &sources[i], "-o", &objects[i]]);
                if let Err(e) = run(CXX, &args, dir) {
                    failed.lock().unwrap().get_or_insert(e);
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap() {
        return Err(e);
    }
    Ok(objects)
}

/// True when `verilator` and the C++ compiler can be started.
pub fn available() -> Option<Tool> {
    [VERILATOR, CXX].into_iter().find(|t| !crate::runner::available(*t))
}

/// One instance of a compiled design.
pub struct Model {
    lib: Arc<Library>,
    handle: *mut c_void,
    buf: Vec<u32>,
}

// A model is used by one thread at a time (`&mut self`); Verilator's model has no
// thread affinity when each has its own context, as here.
unsafe impl Send for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: created by ps_new, deleted once.
        unsafe { (self.lib.delete)(self.handle) };
    }
}

impl Model {
    pub fn library(&self) -> &Arc<Library> {
        &self.lib
    }

    /// Index of the port called `name`.
    pub fn port(&self, name: &str) -> Option<usize> {
        self.lib.ports.iter().position(|p| p.name == name)
    }

    /// Sets input `port` from 32-bit words, least significant first (bits above the
    /// port's width must be 0).
    pub fn set(&mut self, port: usize, words: &[u32]) {
        let p = &self.lib.ports[port];
        assert!(p.dir == PortDir::Input && words.len() >= self::words(p.width), "set {}: input of {} bits", p.name, p.width);
        // SAFETY: the shim reads words(width) words.
        unsafe { (self.lib.set)(self.handle, port as u32, words.as_ptr() as *mut u32) }
    }

    /// Sets an input of at most 64 bits.
    pub fn set_u64(&mut self, port: usize, v: u64) {
        self.set(port, &[v as u32, (v >> 32) as u32]);
    }

    /// Reads `port` into 32-bit words, least significant first.
    pub fn get(&mut self, port: usize, words: &mut [u32]) {
        assert!(words.len() >= self::words(self.lib.ports[port].width));
        // SAFETY: the shim writes words(width) words.
        unsafe { (self.lib.get)(self.handle, port as u32, words.as_mut_ptr()) }
    }

    /// Reads a port of at most 64 bits.
    pub fn get_u64(&mut self, port: usize) -> u64 {
        let mut w = std::mem::take(&mut self.buf);
        w[0] = 0;
        w[1] = 0;
        self.get(port, &mut w);
        let v = w[0] as u64 | (w[1] as u64) << 32;
        self.buf = w;
        v
    }

    /// Settles inputs set since the last clock (clock low).
    pub fn eval(&mut self) {
        // SAFETY: a live model.
        unsafe { (self.lib.eval)(self.handle) }
    }

    /// Settles every input as set, clock ports included (the design's clock is not
    /// forced low): a design with several clocks is driven edge by edge this way, each
    /// clock a plain input. Inputs set together with a rising edge are taken after it.
    pub fn settle(&mut self) {
        // SAFETY: a live model.
        unsafe { (self.lib.settle)(self.handle) }
    }

    /// `n` clocks with the inputs as they are (all in C++).
    pub fn tick(&mut self, n: u64) {
        // SAFETY: a live model.
        unsafe { (self.lib.tick)(self.handle, n) }
    }

    /// `n` clocks of the per-clock loop (set `data` and `valid`, one clock, read
    /// `out_valid` and `out_data`) run inside the library: Verilator's own loop over the
    /// work a caller crossing the ABI every clock does. Returns the outputs' sum.
    pub fn own_loop(&mut self, n: u64, [data, valid, out_valid, out_data]: [usize; 4]) -> u64 {
        // SAFETY: a live model; the indices are ports of it (checked by the caller's `port`).
        unsafe { (self.lib.own_loop)(self.handle, n, data as u32, valid as u32, out_valid as u32, out_data as u32) }
    }

    /// Runs `stream` on until it finishes, its pattern chunk is used, its command
    /// completes, or it stalls.
    pub fn stream(&mut self, stream: &mut Stream, pattern: Option<&[u8]>) -> StreamStatus {
        let raw = &mut stream.raw;
        raw.in_bytes = stream.bytes.as_ptr();
        raw.frame_end = stream.frame_end.as_ptr();
        raw.frame_side = stream.side.as_ptr();
        raw.frames = stream.frame_end.len() as u64;
        raw.pattern = pattern.map_or(std::ptr::null(), |p| p.as_ptr());
        raw.pattern_len = pattern.map_or(0, |p| p.len() as u64);
        raw.out_bytes = stream.out.as_mut_ptr();
        raw.out_frame_end = stream.out_end.as_mut_ptr();
        raw.in_clock = stream.in_clock.as_mut().map_or(std::ptr::null_mut(), |v| v.as_mut_ptr());
        raw.out_clock = stream.out_clock.as_mut().map_or(std::ptr::null_mut(), |v| v.as_mut_ptr());
        // SAFETY: every pointer is into a buffer `stream` owns, sized as the shim expects
        // (out: as many bytes/frames as in; timing: one per byte).
        let status = unsafe { (self.lib.stream)(self.handle, raw as *mut RawStream) };
        match status {
            0 => StreamStatus::Finished,
            1 => StreamStatus::PatternUsed,
            2 => StreamStatus::CommandDone,
            3 => StreamStatus::Stalled,
            4 => StreamStatus::NoStream,
            _ => StreamStatus::TooManyInFlight,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamStatus {
    Finished,
    PatternUsed,
    CommandDone,
    /// Nothing moved for `stall_limit` clocks, or a byte left that never entered.
    Stalled,
    /// The design was compiled without a stream.
    NoStream,
    TooManyInFlight,
}

/// Largest command payload and reply, in words (`PS_MAX_WORDS` in the shim).
const MAX_WORDS: usize = 16;

/// `PsStream` in verilator_shim.cpp, field for field.
#[repr(C)]
struct RawStream {
    in_bytes: *const u8,
    frame_end: *const u64,
    frame_side: *const u8,
    frames: u64,
    pattern: *const u8,
    pattern_len: u64,
    out_bytes: *mut u8,
    out_frame_end: *mut u64,
    in_clock: *mut u64,
    out_clock: *mut u64,
    clock: u64,
    in_pos: u64,
    in_frame: u64,
    out_pos: u64,
    out_frames: u64,
    lat_min: u64,
    lat_max: u64,
    stalled_for: u64,
    cmd_state: u32,
    cmd_words: [u32; MAX_WORDS],
    reply: [u32; MAX_WORDS],
    cmd_at: u64,
    stall_limit: u64,
}

const CMD_NONE: u32 = 0;
const CMD_WAITING: u32 = 1;
const CMD_DONE: u32 = 3;

/// A stream of frames for [`Model::stream`], with its state between calls: frames
/// (bytes and a side value each) in, frames out, per-byte clocks if asked for, and at
/// most one command at a time.
pub struct Stream {
    bytes: Vec<u8>,
    frame_end: Vec<u64>,
    side: Vec<u8>,
    out: Vec<u8>,
    out_end: Vec<u64>,
    in_clock: Option<Vec<u64>>,
    out_clock: Option<Vec<u64>>,
    raw: RawStream,
}

impl Stream {
    /// `frames` must not be empty (a beat needs a byte). `timing`: record each byte's
    /// entry and exit clock. `stall_limit`: clocks without movement that end the stream.
    pub fn new<'a>(frames: impl Iterator<Item = (&'a [u8], u8)>, timing: bool, stall_limit: u64) -> Stream {
        let (mut bytes, mut frame_end, mut side) = (Vec::new(), Vec::new(), Vec::new());
        for (f, s) in frames {
            assert!(!f.is_empty(), "an empty frame cannot be streamed");
            bytes.extend_from_slice(f);
            frame_end.push(bytes.len() as u64);
            side.push(s);
        }
        let n = bytes.len();
        Stream {
            out: vec![0; n],
            out_end: vec![0; frame_end.len()],
            in_clock: timing.then(|| vec![0; n]),
            out_clock: timing.then(|| vec![0; n]),
            bytes,
            frame_end,
            side,
            raw: RawStream {
                in_bytes: std::ptr::null(),
                frame_end: std::ptr::null(),
                frame_side: std::ptr::null(),
                frames: 0,
                pattern: std::ptr::null(),
                pattern_len: 0,
                out_bytes: std::ptr::null_mut(),
                out_frame_end: std::ptr::null_mut(),
                in_clock: std::ptr::null_mut(),
                out_clock: std::ptr::null_mut(),
                clock: 0,
                in_pos: 0,
                in_frame: 0,
                out_pos: 0,
                out_frames: 0,
                lat_min: u64::MAX,
                lat_max: 0,
                stalled_for: 0,
                cmd_state: CMD_NONE,
                cmd_words: [0; MAX_WORDS],
                reply: [0; MAX_WORDS],
                cmd_at: 0,
                stall_limit,
            },
        }
    }

    /// Queues a command: `payload` (one value per payload port, as 32-bit words
    /// each) applied and started once the stream reaches clock `at`. One at a time.
    pub fn command(&mut self, lib: &Library, at: u64, payload: &[&[u32]]) {
        assert!(!self.command_pending(), "one command at a time");
        assert_eq!(payload.len(), lib.payload_words.len(), "one value per payload port");
        let mut off = 0;
        for (v, &n) in payload.iter().zip(&lib.payload_words) {
            for i in 0..n {
                self.raw.cmd_words[off + i] = v.get(i).copied().unwrap_or(0);
            }
            off += n;
        }
        self.raw.cmd_at = at;
        self.raw.cmd_state = CMD_WAITING;
    }

    /// True while a command is waiting or running.
    pub fn command_pending(&self) -> bool {
        self.raw.cmd_state != CMD_NONE && self.raw.cmd_state != CMD_DONE
    }

    /// The reply of a completed command (then the stream takes the next one).
    pub fn take_reply(&mut self, lib: &Library) -> Option<Vec<u32>> {
        if self.raw.cmd_state != CMD_DONE {
            return None;
        }
        self.raw.cmd_state = CMD_NONE;
        Some(self.raw.reply[..lib.reply_words].to_vec())
    }

    /// Clocks since the stream started.
    pub fn clocks(&self) -> u64 {
        self.raw.clock
    }
    pub fn bytes_in(&self) -> u64 {
        self.raw.in_pos
    }
    pub fn frames_in(&self) -> usize {
        self.raw.in_frame as usize
    }
    pub fn frames_out(&self) -> usize {
        self.raw.out_frames as usize
    }
    /// (min, max) clocks from a byte entering to it leaving; (0, 0) if none left.
    pub fn latency(&self) -> (u64, u64) {
        if self.raw.lat_min == u64::MAX {
            (0, 0)
        } else {
            (self.raw.lat_min, self.raw.lat_max)
        }
    }
    /// The frames out so far.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        let mut start = 0;
        self.out_end[..self.raw.out_frames as usize]
            .iter()
            .map(|&e| {
                let f = self.out[start..e as usize].to_vec();
                start = e as usize;
                f
            })
            .collect()
    }
    /// Entry and exit clock of every byte that has left, in order (with `timing`).
    pub fn byte_clocks(&self) -> Option<Vec<(u64, u64)>> {
        let (i, o) = (self.in_clock.as_ref()?, self.out_clock.as_ref()?);
        let n = self.raw.out_pos as usize;
        Some(i[..n].iter().copied().zip(o[..n].iter().copied()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Several builders of one entry at once: exactly one build runs, every caller
    /// gets the complete folder, and a later call builds nothing.
    #[test]
    fn one_build_for_callers_at_once_and_none_after() {
        let cache = tempfile::tempdir().unwrap();
        let builds = AtomicUsize::new(0);
        let build = |tmp: &Path| -> Result<(), ToolError> {
            builds.fetch_add(1, Ordering::SeqCst);
            fs::write(tmp.join("half"), "a build in progress").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            fs::write(tmp.join("lib.so"), "done").unwrap();
            Ok(())
        };
        let results: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4).map(|_| s.spawn(|| cached_in(cache.path(), "k", "lib.so", build).unwrap())).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1, "one build for four callers");
        assert_eq!(results.iter().filter(|(_, secs)| secs.is_some()).count(), 1);
        for (dir, _) in &results {
            assert_eq!(fs::read_to_string(dir.join("lib.so")).unwrap(), "done");
        }
        let (_, again) = cached_in(cache.path(), "k", "lib.so", build).unwrap();
        assert!(again.is_none() && builds.load(Ordering::SeqCst) == 1, "a second run rebuilt");
    }

    /// A failed build leaves nothing behind that a later call could mistake for a
    /// library, and the next call builds again.
    #[test]
    fn a_failed_build_leaves_nothing() {
        let cache = tempfile::tempdir().unwrap();
        let failed = cached_in(cache.path(), "k", "lib.so", |tmp| {
            fs::write(tmp.join("lib.so"), "half").unwrap();
            Err(ToolError::UnsupportedPort { port: "p".into(), why: "test".into() })
        });
        assert!(failed.is_err());
        let left: Vec<_> = fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.iter().all(|n| n.to_string_lossy().ends_with(".lock")), "{left:?}");
        let (_, secs) = cached_in(cache.path(), "k", "lib.so", |tmp| {
            fs::write(tmp.join("lib.so"), "done").map_err(ToolError::io(tmp))
        })
        .unwrap();
        assert!(secs.is_some());
    }
}
