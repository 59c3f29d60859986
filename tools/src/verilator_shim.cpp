// portshare's C ABI over a Verilator 5.006 model of a rust-hdl block.
//
// Generic over the block: `ps_ports.inc` (generated per design by verilator.rs) maps
// port indices to the model's members and, for a block with a valid/ready/last byte
// stream, names the stream's ports. Values cross the ABI as 32-bit words, least
// significant first (Verilator's own `VlWide` layout), whatever the port's width.
//
// The model is the block inside `ps_wrap` (verilator.rs), which holds every input but
// the clocks in a register loaded on each edge of `ps_load`: Verilator 5.006 runs the
// logic that reads a top-level input on every `eval()`, so with the block's inputs at
// the top each clock cost three passes over its combinational logic (two evals, the
// input region each time, and the logic after the edge); behind the registers the
// input region is empty, and a clock whose next inputs are loaded at its own edge
// costs one.
//
// One clock, everywhere: inputs set and loaded (`ps_eval`: clock low, outputs are read
// here), `clock = 1; eval()` (the rising edge). rust-hdl's direct loop does the same,
// so both simulators see the same values at the same points. `ps_stream` loads the next
// clock's inputs at the edge itself (the registers and the block's flip-flops take
// their values at the same edge, from values computed before it) — the same values at
// the same points, one evaluation instead of two.
//
// `ps_stream` runs many clocks of a stream per call (frames in with a gap pattern,
// frames out with a back-pressure pattern, one management command at a given clock):
// the per-clock work stays in C++, and Rust pays one call per chunk, not per clock.

#include "Vtop.h"
#include "verilated.h"

#include <cstdint>
#include <cstring>

#define PS_EXPORT extern "C" __attribute__((visibility("default")))

static inline void ps_put(CData& m, const uint32_t* w) { m = (CData)w[0]; }
static inline void ps_put(SData& m, const uint32_t* w) { m = (SData)w[0]; }
static inline void ps_put(IData& m, const uint32_t* w) { m = w[0]; }
static inline void ps_put(QData& m, const uint32_t* w) { m = (QData)w[0] | ((QData)w[1] << 32); }
template <std::size_t N>
static inline void ps_put(VlWide<N>& m, const uint32_t* w) {
    for (std::size_t i = 0; i < N; i++) m.at(i) = w[i];
}
static inline void ps_take(const CData& m, uint32_t* w) { w[0] = m; }
static inline void ps_take(const SData& m, uint32_t* w) { w[0] = m; }
static inline void ps_take(const IData& m, uint32_t* w) { w[0] = m; }
static inline void ps_take(const QData& m, uint32_t* w) {
    w[0] = (uint32_t)m;
    w[1] = (uint32_t)(m >> 32);
}
template <std::size_t N>
static inline void ps_take(const VlWide<N>& m, uint32_t* w) {
    for (std::size_t i = 0; i < N; i++) w[i] = m.at(i);
}

#include "ps_ports.inc"

// Bytes in flight between the stream's input and output (their entry clocks): far
// more than any block holds (the pipeline's queue is 32 deep).
static const uint64_t PS_RING = 4096;

struct PsModel {
    VerilatedContext ctx;
    Vtop top;
    // Inputs set since they were last loaded into the block.
    bool dirty = false;
    uint64_t ring[PS_RING];
    uint64_t ring_head = 0, ring_tail = 0;
    PsModel() : top(&ctx, "top") {}
};

// The inputs as set now, into the block (an edge of `ps_load`), and evaluated.
static inline void ps_load(PsModel* m) {
    m->top.ps_load = !m->top.ps_load;
    m->top.eval();
    m->dirty = false;
}

// The clock low (a falling edge evaluates nothing: the blocks are rising-edge only).
static inline void ps_clock_low(Vtop& t) {
    if (t.PS_CLOCK) {
        t.PS_CLOCK = 0;
        t.eval();
    }
}

// One rising edge from clock low, back to low (the falling edge evaluates nothing).
static inline void ps_clock(Vtop& t) {
    t.PS_CLOCK = 1;
    t.eval();
    t.PS_CLOCK = 0;
    t.eval();
}

PS_EXPORT void* ps_new() {
    PsModel* m = new PsModel();
    m->top.PS_CLOCK = 0;
    m->top.ps_load = 0;
    m->top.eval();
    return m;
}

PS_EXPORT void ps_delete(void* h) { delete static_cast<PsModel*>(h); }

PS_EXPORT void ps_set(void* h, uint32_t port, const uint32_t* words) {
    PsModel* m = static_cast<PsModel*>(h);
    ps_set_port(&m->top, port, words);
    m->dirty = true;
}

PS_EXPORT void ps_get(void* h, uint32_t port, uint32_t* words) {
    ps_get_port(&static_cast<PsModel*>(h)->top, port, words);
}

// Settles the inputs set since the last clock (clock low); outputs reflect them.
PS_EXPORT void ps_eval(void* h) {
    PsModel* m = static_cast<PsModel*>(h);
    m->top.PS_CLOCK = 0;
    ps_load(m);
}

// Settles every input as set, clocks included: a design with several clocks is
// driven edge by edge from Rust (inputs set with a rising edge are taken after it).
PS_EXPORT void ps_settle(void* h) { ps_load(static_cast<PsModel*>(h)); }

// `n` clocks with the inputs as they are: Verilator's own loop, for a C++-only
// reference figure and for idle time.
PS_EXPORT void ps_tick(void* h, uint64_t n) {
    PsModel* m = static_cast<PsModel*>(h);
    Vtop& t = m->top;
    ps_clock_low(t);
    if (m->dirty) ps_load(m);
    for (uint64_t i = 0; i < n; i++) ps_clock(t);
}

// The per-clock C ABI loop of `portshare bench` (set two inputs, one clock, read two
// outputs) done here in C++: Verilator's own loop over the same work, the baseline the
// ABI's cost is measured against. Returns a sum of the outputs (so none is optimized out).
PS_EXPORT uint64_t ps_own_loop(void* h, uint64_t n, uint32_t data, uint32_t valid, uint32_t out_valid, uint32_t out_data) {
    PsModel* m = static_cast<PsModel*>(h);
    uint32_t w[2] = {0, 0}, r[2] = {0, 0};
    uint64_t sink = 0;
    for (uint64_t i = 0; i < n; i++) {
        w[0] = (uint32_t)(i & 0xff);
        ps_set(m, data, w);
        w[0] = i % 64 != 63;
        ps_set(m, valid, w);
        ps_tick(m, 1);
        ps_get_port(&m->top, out_valid, r);
        sink += r[0];
        ps_get_port(&m->top, out_data, r);
        sink += r[0];
    }
    return sink;
}

// Largest command payload and reply, in words (Rust's RawStream has the same).
#define PS_MAX_WORDS 16
static_assert(PS_CMD_WORDS <= PS_MAX_WORDS && PS_REPLY_WORDS <= PS_MAX_WORDS, "command too wide");

// A stream in progress. Rust owns every buffer; the counters carry the state from
// one call to the next. Layout shared with `RawStream` in verilator.rs.
struct PsStream {
    // Frames in: every byte, concatenated; cumulative end offsets; side input per frame.
    const uint8_t* in_bytes;
    const uint64_t* frame_end;
    const uint8_t* frame_side;
    uint64_t frames;
    // Per clock from `clock`: bit 0 = the source idles, bit 1 = the sink refuses.
    // Null: never either. The call returns when it is used up.
    const uint8_t* pattern;
    uint64_t pattern_len;
    // Frames out (capacity: as many bytes and frames as in).
    uint8_t* out_bytes;
    uint64_t* out_frame_end;
    // Optional (null): each byte's entry and exit clock, in byte order.
    uint64_t* in_clock;
    uint64_t* out_clock;
    // State.
    uint64_t clock, in_pos, in_frame, out_pos, out_frames;
    uint64_t lat_min, lat_max, stalled_for;
    // Command: 0 none, 1 waiting for clock `cmd_at`, 2 accepted (busy), 3 done.
    uint32_t cmd_state;
    uint32_t cmd_words[PS_MAX_WORDS];
    uint32_t reply[PS_MAX_WORDS];
    uint64_t cmd_at;
    uint64_t stall_limit;
};

enum { PS_FINISHED = 0, PS_PATTERN_USED = 1, PS_CMD_DONE = 2, PS_STALLED = 3, PS_NO_STREAM = 4, PS_RING_FULL = 5 };

#ifdef PS_STREAM
// The inputs of clock `c` from the stream's state (not yet loaded): the next beat when
// the pattern lets the source offer one, the sink's readiness, the command's start.
// True when a beat is offered.
static inline bool ps_drive(Vtop& t, PsStream* s, uint8_t pat, uint64_t c) {
    const bool offer = s->in_frame < s->frames && !(pat & 1);
    t.PS_IN_VALID = offer;
    if (offer) {
        t.PS_IN_DATA = s->in_bytes[s->in_pos];
        t.PS_IN_LAST = s->in_pos + 1 == s->frame_end[s->in_frame];
#ifdef PS_IN_SIDE
        t.PS_IN_SIDE = s->frame_side[s->in_frame];
#endif
    }
    t.PS_OUT_READY = !(pat & 2);
#ifdef PS_CMD
    t.PS_CMD_START = 0;
    if (s->cmd_state == 1 && s->cmd_at <= c) {
        ps_cmd_apply(&t, s->cmd_words);
        t.PS_CMD_START = 1;
    }
#else
    (void)c;
#endif
    return offer;
}
#endif

PS_EXPORT uint32_t ps_stream(void* h, PsStream* s) {
#ifndef PS_STREAM
    (void)h;
    (void)s;
    return PS_NO_STREAM;
#else
    PsModel* m = static_cast<PsModel*>(h);
    Vtop& t = m->top;
    if (s->clock == 0) m->ring_head = m->ring_tail = 0;
    const uint64_t start = s->clock;
    auto pattern_at = [&](uint64_t c) -> uint8_t { return s->pattern ? s->pattern[c - start] : 0; };
    if (s->pattern && s->pattern_len == 0) return PS_PATTERN_USED;
    ps_clock_low(t);
    // This clock's inputs (a previous call may have loaded others).
    bool offer = ps_drive(t, s, pattern_at(start), start);
    bool ready = t.PS_OUT_READY;
    ps_load(m);
    for (;;) {
        // Here the outputs are those of clock `s->clock`, its inputs loaded.
#ifdef PS_CMD
        if (t.PS_CMD_START && !t.PS_CMD_BUSY) s->cmd_state = 2;
        bool cmd_done = false;
        if (s->cmd_state == 2 && t.PS_CMD_DONE) {
            ps_take(t.PS_CMD_REPLY, s->reply);
            s->cmd_state = 3;
            cmd_done = true;
        }
#endif
        bool moved = false;
        if (offer && t.PS_IN_READY) {
            if (m->ring_head - m->ring_tail == PS_RING) return PS_RING_FULL;
            m->ring[m->ring_head++ % PS_RING] = s->clock;
            if (s->in_clock) s->in_clock[s->in_pos] = s->clock;
            s->in_pos++;
            if (s->in_pos == s->frame_end[s->in_frame]) s->in_frame++;
            moved = true;
        }
        if (ready && t.PS_OUT_VALID) {
            if (m->ring_head == m->ring_tail) return PS_STALLED;  // a byte left that never entered
            const uint64_t entered = m->ring[m->ring_tail++ % PS_RING];
            const uint64_t lat = s->clock - entered;
            if (lat < s->lat_min) s->lat_min = lat;
            if (lat > s->lat_max) s->lat_max = lat;
            if (s->out_clock) s->out_clock[s->out_pos] = s->clock;
            s->out_bytes[s->out_pos++] = (uint8_t)t.PS_OUT_DATA;
            if (t.PS_OUT_LAST) s->out_frame_end[s->out_frames++] = s->out_pos;
            moved = true;
        }
        // The next clock's inputs, loaded at this clock's edge: the block's flip-flops
        // take what it computed from this clock's inputs, the registers the next ones.
        const uint64_t next = s->clock + 1;
        const bool more = !s->pattern || next - start < s->pattern_len;
        bool next_offer = false, next_ready = true;
        if (more) {
            next_offer = ps_drive(t, s, pattern_at(next), next);
            next_ready = t.PS_OUT_READY;
            t.ps_load = !t.ps_load;
        }
        ps_clock(t);
        s->clock = next;
        const bool cmd_busy = s->cmd_state == 1 || s->cmd_state == 2;
        if (s->out_frames == s->frames && s->in_frame >= s->frames && !cmd_busy) return PS_FINISHED;
        s->stalled_for = (moved || s->cmd_state == 2) ? 0 : s->stalled_for + 1;
        if (s->stalled_for >= s->stall_limit) return PS_STALLED;
#ifdef PS_CMD
        if (cmd_done) return PS_CMD_DONE;
#endif
        if (!more) return PS_PATTERN_USED;
        offer = next_offer;
        ready = next_ready;
    }
#endif
}
