#!/usr/bin/env python3
"""Random-read latency through NBD, as a libnbd client sees it (bench/serve.ts).

usage: nbd-latency.py URI LENGTH < offsets   (one byte offset per line)
prints a JSON list of per-read latencies in milliseconds, one synchronous pread at a time.
"""
import json
import sys
import time

import nbd

uri, length = sys.argv[1], int(sys.argv[2])
offsets = [int(line) for line in sys.stdin if line.strip()]
h = nbd.NBD()
h.connect_uri(uri)
lat = []
for off in offsets:
    t = time.perf_counter()
    h.pread(length, off)
    lat.append((time.perf_counter() - t) * 1000)
h.shutdown()
print(json.dumps(lat))
