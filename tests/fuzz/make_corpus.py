#!/usr/bin/env python3
"""Write the seed corpus of fuzz_heap (tests/fuzz/corpus/): one input per theme, encoded the way
fuzz_heap.cpp decodes them. Rerun after changing the decoder: python3 make_corpus.py corpus"""
import os
import random
import sys

# op numbers (op % 14 in Model::step)
MALLOC, CALLOC, REALLOC, ALIGNED, HCREATE, HDESTROY, HALLOC, HREALLOC, FREE, INSPECT, TRIM, CHECK = 0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13


def size(kind, v=0):
    """Bytes of decode_size: kind tiny/lfh/core/direct/edge/absurd."""
    if kind == 'tiny':
        return bytes([0, v & 0xff])
    if kind == 'lfh':
        return bytes([6, v & 0xff, (v >> 8) & 0xff])
    if kind == 'core':
        return bytes([10, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff])
    if kind == 'direct':
        return bytes([12, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff])
    if kind == 'edge':
        return bytes([13, v & 0xff])
    return bytes([15, v & 0xff])  # absurd


def op(code, slot, *args):
    return bytes([code, slot]) + b''.join(args)


def rand_size(r):
    k = r.choice(['tiny', 'lfh', 'lfh', 'core', 'direct', 'edge', 'absurd'])
    return size(k, r.randrange(1 << 24))


seeds = {}
seeds['tiers'] = b''.join(op(MALLOC, i, size(k, v)) for i, (k, v) in enumerate(
    [('tiny', 0), ('tiny', 1), ('lfh', 100), ('lfh', 16384), ('core', 1000), ('core', 900000), ('direct', 5), ('direct', 3 << 20)]))
seeds['edges'] = b''.join(op(MALLOC, i, size('edge', i)) for i in range(32)) + b''.join(op(FREE, i) for i in range(32))
seeds['absurd'] = b''.join(op(MALLOC, i, size('absurd', i)) + op(CALLOC, i + 8, size('absurd', i), bytes([0])) for i in range(5))
seeds['realloc_chain'] = op(MALLOC, 0, size('tiny', 5)) + b''.join(
    op(REALLOC, 0, size(k, v)) for k, v in [('lfh', 300), ('lfh', 9000), ('core', 50000), ('direct', 100), ('core', 10), ('tiny', 3), ('edge', 20), ('tiny', 0)])
seeds['calloc'] = b''.join(op(CALLOC, i, size('lfh', 37 * i + 1), bytes([1, i])) for i in range(8)) + op(CALLOC, 9, size('core', 7), bytes([4]), size('lfh', 3))
seeds['aligned'] = b''.join(op(ALIGNED, i, bytes([a]), size('lfh', 1000 + i)) for i, a in enumerate([4, 6, 12, 16, 20, 0x44, 0x4c, 0x84, 0x63, 0x6c, 0xc4, 0x40 | 21]))
seeds['heaps'] = (op(HCREATE, 0, bytes([0])) + op(HCREATE, 0, bytes([2])) + op(HCREATE, 0, bytes([0x18 | 1])) +
                  b''.join(op(HALLOC, i, bytes([i % 3]), bytes([i & 1]), size('lfh', 500 * i + 1)) for i in range(12)) +
                  b''.join(op(HREALLOC, i, bytes([0x18 if i & 1 else 0]), size('core', 20000 * i)) for i in range(12)) +
                  op(INSPECT, 3) + op(HDESTROY, 0, bytes([1])) + op(TRIM, 0) + op(HDESTROY, 0, bytes([0])))
seeds['fixed_heap_full'] = op(HCREATE, 0, bytes([0x08])) + b''.join(op(HALLOC, i, bytes([0]), bytes([0]), size('core', 200000)) for i in range(10))
seeds['secure_zero'] = op(HCREATE, 0, bytes([2 | 4])) + b''.join(op(HALLOC, i, bytes([0]), bytes([0]), size('lfh', 64 * i)) + op(FREE, i) for i in range(10))
r = random.Random(42)
for n in range(4):
    out = b''
    for _ in range(120):
        c = r.choice([MALLOC, 1, CALLOC, REALLOC, 4, ALIGNED, HCREATE, HDESTROY, HALLOC, HREALLOC, FREE, INSPECT, TRIM, CHECK])
        out += op(c, r.randrange(32), rand_size(r), bytes([r.randrange(256)]), rand_size(r))
    seeds['random%d' % n] = out

outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus')
os.makedirs(outdir, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(outdir, name), 'wb') as f:
        f.write(data)
print('%d seeds written to %s' % (len(seeds), outdir))
