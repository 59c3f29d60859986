#!/usr/bin/env python3
"""Cuts the routing of an output pin in a placed-and-routed .asc: clears one set bit of
each active connection from the routing into the pin's output buffer (io_Z/D_OUT_0
of its IO tile), as icestorm's own tile database names them. tests/build.rs uses it
on the UART's transmit pin to show that the verify step catches a broken bitstream.

Usage: cut_pin_route.py IN.asc PCF PORT OUT.asc"""
import sys

sys.path.insert(0, "/usr/share/fpga-icestorm/python")
import icebox  # noqa: E402  (fpga-icestorm's library and database)

src, pcf, port, dst = sys.argv[1:5]
pins = dict(l.split()[1:3] for l in open(pcf) if l.startswith("set_io"))
ic = icebox.iceconfig()
ic.read_file(src)
(x, y, z), = [loc[1:] for loc in ic.pinloc_db("cb132") if loc[0] == pins[port]]
tile = ic.tile(x, y)


def bit(b):
    row, col = b.lstrip("!")[1:-1].split("[")
    return int(row), int(col)


def is_set(b):
    row, col = bit(b)
    return tile[row][col] == ("0" if b.startswith("!") else "1")


cut = 0
for entry in ic.tile_db(x, y):
    if entry[1] in ("buffer", "routing") and entry[3] == "io_%d/D_OUT_0" % z and all(is_set(b) for b in entry[0]):
        row, col = bit([b for b in entry[0] if not b.startswith("!")][0])
        tile[row] = tile[row][:col] + "0" + tile[row][col + 1:]
        cut += 1
if cut == 0:
    sys.exit("%s (pin %s, io tile %d %d, io_%d): no routing into its output buffer" % (port, pins[port], x, y, z))
ic.write_file(dst)
print("%s (pin %s): cut %d routing bit(s) at io tile %d %d" % (port, pins[port], cut, x, y))
