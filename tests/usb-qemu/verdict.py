#!/usr/bin/env python3
"""The host's verdict on the QEMU USB run (tests/usb-qemu/run calls it).

Reads the guest's console, where tests/usb-qemu/guest-init framed each check's output
between `@@ BEGIN name` and `@@ END name rc=N ms=T`, and judges every check against
what the host knows independently: the table file (read with tomllib), the reference
model's output pcap and counts (`portshare sim --engine model --json`), the serials
and faults it gave the simulated boards. Prints one PASS/FAIL line per check and
`N passed, M failed` last; exits 1 on any failure.
"""

import argparse
import base64
import binascii
import ipaddress
import json
import re
import struct
import sys
import tomllib

END = re.compile(r"^@@ END (\S+) rc=(\d+) ms=(\d+)$")
# `timeout` in the guest exits 143 when it had to kill a command: a hang.
KILLED = 143


def sections(console):
    """name -> (output lines, rc, ms) for every check the guest finished."""
    found, name, lines = {}, None, []
    for raw in console.splitlines():
        line = raw.rstrip("\r")
        if line.startswith("@@ BEGIN "):
            name, lines = line[len("@@ BEGIN "):], []
        elif (m := END.match(line)) and m.group(1) == name:
            found[name] = (lines, int(m.group(2)), int(m.group(3)))
            name = None
        elif name is not None:
            lines.append(line)
    return found


def pcap_frames(data):
    """(seconds, fraction, frame bytes) per record of a classic pcap."""
    if len(data) < 24:
        raise ValueError(f"{len(data)} bytes: no pcap global header")
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
              b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if endian is None:
        raise ValueError(f"not a classic pcap (magic {magic.hex()})")
    frames, at = [], 24
    while at < len(data):
        if at + 16 > len(data):
            raise ValueError(f"record header cut off at byte {at}")
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[at:at + 16])
        at += 16
        if at + incl > len(data):
            raise ValueError(f"record {len(frames) + 1} cut off")
        frames.append((sec, frac, data[at:at + incl]))
        at += incl
    return frames


def json_in(lines):
    """The JSON object in a command's output (stderr lines may surround it)."""
    text = "\n".join(lines)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the output")
    return json.loads(text[start:end + 1])


class Verdict:
    def __init__(self, found):
        self.found = found
        self.passed = self.failed = 0

    def record(self, ok, name, detail):
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    def check(self, name, section, judge, show_output=True):
        """judge(lines, rc, ms) returns (ok, detail); a missing section fails. A failure
        shows the end of the command's output unless show_output is off."""
        if section not in self.found:
            self.record(False, name, f"the guest never finished `{section}` (see the console log)")
            return
        lines, rc, ms = self.found[section]
        try:
            ok, detail = judge(lines, rc, ms)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            ok, detail = False, f"{type(e).__name__}: {e}"
        if not ok:
            detail += f" [rc={rc}" + (f"; output: {' | '.join(lines[-8:])}]" if show_output else "]")
        self.record(ok, name, detail)


def bound_count(lines):
    return sum(1 for l in lines for w in l.split() if re.fullmatch(r"\d+-[\d.]+:\d+\.\d+", w))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--console", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--expected-pcap", required=True)
    ap.add_argument("--model-json", required=True)
    ap.add_argument("--chips", type=int, required=True)
    ap.add_argument("--good", required=True)
    ap.add_argument("--silent", required=True)
    ap.add_argument("--bad-crc", required=True)
    ap.add_argument("--version-serial", required=True)
    ap.add_argument("--tool-version", type=int, required=True)
    ap.add_argument("--fault-version", type=int, required=True)
    ap.add_argument("--silent-limit-ms", type=int, default=10_000)
    ap.add_argument("--serve", action="append", default=[], help="NAME=EXIT_STATUS of a serve process")
    a = ap.parse_args()

    console = open(a.console, encoding="utf-8", errors="replace").read()
    entries = tomllib.load(open(a.table, "rb")).get("entry", [])
    expected = pcap_frames(open(a.expected_pcap, "rb").read())
    model = json.load(open(a.model_json))
    found = sections(console)
    v = Verdict(found)

    v.record("@@ DONE" in console and "@@ insmod" not in console, "guest ran",
             "booted, loaded the USB modules and finished every check" if "@@ DONE" in console
             else "the guest did not reach its end (see the console log)")
    v.record(len(entries) == 64, "table", f"{len(entries)} entries in the table file (64 wanted)")

    v.check("ftdi_sio bound first", "bound-before", lambda l, rc, ms: (
        bound_count(l) == a.chips, f"ftdi_sio held {bound_count(l)} of {a.chips} chips before portshare ran"))

    def devices(lines, rc, ms):
        usable = [s for s in (a.good, a.silent, a.bad_crc, a.version_serial)
                  if any(s in l and " yes:" in l for l in lines)]
        return rc == 0 and len(usable) == 4, f"rc {rc}; listed as usable boards: {usable}"
    v.check("devices", "devices", devices)

    def load(lines, rc, ms):
        j = json_in(lines)
        ok = rc == 0 and j["entries_written"] == len(entries) and j["slots_cleared"] == 0 and j["capacity"] == 64
        return ok, (f"{j['entries_written']} entries written and read back in {j['elapsed_ms']:.0f} ms "
                    f"({j['requests']} requests, {j['retries']} retries, {j['bytes_sent']}+{j['bytes_received']} bytes)")
    v.check("load (ftdi_sio detached)", "load", load)

    v.check("ftdi_sio given back", "bound-after", lambda l, rc, ms: (
        bound_count(l) == a.chips, f"ftdi_sio holds {bound_count(l)} of {a.chips} chips after load"))

    def listing(lines, rc, ms):
        rows = [l.split() for l in lines if re.match(r"^\s*\d+\s", l)]
        want = [(i, ipaddress.ip_address(e["address"]), e.get("protocol", "both"), e["shared_port"], e["assigned_port"])
                for i, e in enumerate(entries)]
        got = [(int(r[0]), ipaddress.ip_address(r[1]), r[2], int(r[3]), int(r[4])) for r in rows]
        if got == want:
            return rc == 0, f"{len(got)} entries read back, equal to the file's"
        diff = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        return False, f"{len(got)} rows vs {len(want)} entries; first difference at row {diff}"
    v.check("list", "list", listing)

    v.check("inject", "inject", lambda l, rc, ms: (rc == 0, f"rc {rc} in {ms} ms: {' '.join(l[:1])}"))

    def out_pcap(lines, rc, ms):
        got = pcap_frames(base64.b64decode("".join(lines), validate=True))
        if len(got) != len(expected):
            return False, f"{len(got)} frames back, the model gives {len(expected)}"
        bad = [i + 1 for i, (g, w) in enumerate(zip(got, expected)) if g != w]
        changed = int(model["rewritten"])
        return not bad and rc == 0, (f"{len(got)} frames equal the reference model's frame for frame "
                                     f"({changed} rewritten)" if not bad else f"frames {bad[:10]} differ")
    v.check("inject output = model", "out-pcap", out_pcap, show_output=False)

    def stats(lines, rc, ms):
        j = json_in(lines)
        reasons = {k: j["reasons"][k] for k in ("rewritten", "no_match", "fragment", "unparsed", "udp_zero_checksum")}
        want_reasons = {k: model[k] for k in reasons}
        hits = {e["slot"]: e["hits"] for e in j["entries"]}
        want_hits = {i: h for i, h in enumerate(model["hits"])}
        got_hits = {i: hits.get(i, 0) for i in want_hits}
        ok = rc == 0 and reasons == want_reasons and got_hits == want_hits and sum(want_hits.values()) > 0
        detail = (f"counters {reasons}, {sum(got_hits.values())} hits over "
                  f"{sum(1 for h in got_hits.values() if h)} entries")
        if not ok:
            detail += f"; the model says {want_reasons}, hits {[h for h in want_hits.values()]}"
        return ok, detail
    v.check("stats", "stats", stats)

    def refused(what, needles, limit_ms=None):
        def judge(lines, rc, ms):
            text = "\n".join(lines)
            missing = [n for n in needles if n not in text]
            ok = rc not in (0, KILLED) and not missing and (limit_ms is None or ms < limit_ms)
            first = next((l for l in lines if l.startswith("error:")), lines[-1] if lines else "")
            return ok, (f"refused in {ms} ms: {first}" if ok else
                        f"{what}: rc {rc} in {ms} ms, missing {missing}")
        return judge
    v.check("bare usb among several", "bare-usb", refused(
        "refusal listing the boards", ["several boards", a.good, a.silent, a.bad_crc, a.version_serial]))
    v.check("4 Mbaud on an FT232", "default-baud", refused(
        "refusal of the rate", ["cannot run at 4000000 baud", a.good]))
    v.check("silent far end", "silent", refused(
        "a timeout error naming the device", ["no reply", a.silent], a.silent_limit_ms))
    v.check("bad CRC", "bad-crc", refused(
        "retries, then an error", ["attempt(s) failed", "CRC", a.bad_crc]))
    v.check("other protocol version", "version", refused(
        "refusal naming both versions",
        [f"version {a.fault_version}", f"this tool version {a.tool_version}", a.version_serial]))

    for s in a.serve:
        name, _, status = s.partition("=")
        v.record(status == "0", f"serve {name}", "exited cleanly when QEMU closed the socket" if status == "0"
                 else f"exit status {status} (see its log)")

    print(f"{v.passed} passed, {v.failed} failed")
    return 1 if v.failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError, binascii.Error, tomllib.TOMLDecodeError) as e:
        print(f"FAIL verdict: {e}")
        print("0 passed, 1 failed")
        sys.exit(1)
