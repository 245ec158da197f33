#!/usr/bin/env python3
"""Importance-matrix (imatrix) quantization goldens made by ggml itself (not by vkrwkv code).

What llama-quantize runs per tensor row when given an imatrix is
ggml_quantize_chunk(type, row, dst, 0, nrows, n_per_row, imatrix) with one importance weight per
column; for most types that takes a different code path from the reference quantizer
(quantize_row_<t>_impl with weights qw[j] * sqrt(sigma2 + x[j]^2) instead of the _ref search).
This script records those bytes so the C++ weighted encoder can be checked byte for byte.

What it makes (in OUT_DIR, normally tests/data/llama_quant, next to llama_quant_refs.py's files):

* quant_imatrix.f32: 8 rows x 512 float32 importance weights, fixed seed, one row per row of the
  existing quant_input.f32 (which is read, not regenerated; its sha256 must equal the manifest's):
    0 (gaussian input)  10^U(-3,3): positive, spread over six decades
    1 (uniform)         10^U(-2,2) with ~30% exact zeros
    2 (outliers)        all ones
    3 (zeros input)     10^U(-1,1)
    4 (tiny ~1e-6)      squared gaussians times 10^U(-1,1) (what activation statistics look like)
    5 (constant 0.37)   per 32-column block one decade 10^U(-3,3); blocks 3, 7, 11, 15 all zero and
                        the first 16 columns of blocks 1, 9 zero
    6 (gaussian 0.02)   all zeros
    7 (uniform [0,3))   exponential(1) with 8 columns x 1e4
* quant_<T>.imatrix.bin for T in Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS:
  row r = ggml_quantize_chunk(T, quant_input row r, dst, 0, nrows=1, n_per_row=512,
  imatrix=quant_imatrix row r), rows concatenated. The script also checks that one
  ggml_quantize_chunk call over all 8 rows with a single imatrix row gives, for each row, the same
  bytes as that row quantized alone with the same weights (the quantizers work row by row), and
  that Q8_0 ignores the imatrix (its bytes equal the imatrix == NULL ones).
* quant_<T>.imatrix.bin for the codebook i-quants T in IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S IQ1_S
  IQ1_M (kind "quant_iq_grid"), made the same way; for the four that do not require an imatrix
  also quant_<T>.null.bin = ggml_quantize_chunk(T, all 8 rows, imatrix=NULL) (IQ2_XXS / IQ2_XS /
  IQ1_S: ggml asserts without one). ggml's IQ3_S writes a block wrongly when one of its 32-value sub-blocks is
  all zeros (see model/quantize_iq_grid.cpp); the input has no such block (checked here).
* manifest.json: the existing file is read and kept; entries of kind "quant_imatrix_weights" /
  "quant_imatrix" / "quant_iq_grid" (this script's) are replaced, every other entry is left as
  it is.

Library: the prebuilt llama.cpp that llama_quant_refs.py loads (node-llama-cpp's
@node-llama-cpp/linux-x64 3.22.1 bins; see that script's docstring for how to fetch them); only
libggml-base's ggml_quantize_chunk / type traits are called.

Rerun (needs only python3):

    python3 model/tools/llama_quant_imatrix_refs.py /tmp/npmtry/x/package/bins/linux-x64 \\
        tests/data/llama_quant
"""

import argparse
import array
import ctypes
import hashlib
import json
import os
import random
import sys

from llama_quant_refs import Lib, check

# (name, ggml_type id, block elems, block bytes); ids and sizes are checked against the library.
TYPES = [
    ("Q4_0", 2, 32, 18),
    ("Q4_1", 3, 32, 20),
    ("Q5_0", 6, 32, 22),
    ("Q5_1", 7, 32, 24),
    ("Q2_K", 10, 256, 84),
    ("Q3_K", 11, 256, 110),
    ("Q4_K", 12, 256, 144),
    ("Q5_K", 13, 256, 176),
    ("Q6_K", 14, 256, 210),
    ("IQ4_NL", 20, 32, 18),
    ("IQ4_XS", 23, 256, 136),
]
# The codebook i-quants: (name, id, block elems, block bytes, requires an imatrix).
IQ_TYPES = [
    ("IQ2_XXS", 16, 256, 66, True),
    ("IQ2_XS", 17, 256, 74, True),
    ("IQ2_S", 22, 256, 82, False),
    ("IQ3_XXS", 18, 256, 98, False),
    ("IQ3_S", 21, 256, 110, False),
    ("IQ1_S", 19, 256, 50, True),
    ("IQ1_M", 29, 256, 56, False),
]
Q8_0 = 8
KINDS = ("quant_imatrix_weights", "quant_imatrix", "quant_iq_grid")


def make_imatrix(rng, n):
    rows = []
    rows.append([10.0 ** rng.uniform(-3.0, 3.0) for _ in range(n)])
    rows.append([0.0 if rng.random() < 0.3 else 10.0 ** rng.uniform(-2.0, 2.0) for _ in range(n)])
    rows.append([1.0] * n)
    rows.append([10.0 ** rng.uniform(-1.0, 1.0) for _ in range(n)])
    rows.append([rng.gauss(0.0, 1.0) ** 2 * 10.0 ** rng.uniform(-1.0, 1.0) for _ in range(n)])
    r = []
    for b in range(n // 32):
        scale = 0.0 if b % 4 == 3 else 10.0 ** rng.uniform(-3.0, 3.0)
        blk = [scale * rng.uniform(0.5, 2.0) for _ in range(32)]
        if b in (1, 9):
            blk[:16] = [0.0] * 16
        r.extend(blk)
    rows.append(r)
    rows.append([0.0] * n)
    r = [rng.expovariate(1.0) for _ in range(n)]
    for i in rng.sample(range(n), 8):
        r[i] *= 1e4
    rows.append(r)
    descr = ["10^U(-3,3)", "10^U(-2,2), ~30% zeros", "ones", "10^U(-1,1)",
             "gaussian^2 * 10^U(-1,1)",
             "per-32-block decade 10^U(-3,3); blocks 3,7,11,15 zero; first 16 of blocks 1,9 zero",
             "zeros", "exponential(1), 8 columns x 1e4"]
    flat = array.array("f")
    for r in rows:
        flat.extend(r)
    return flat, descr


def chunk(b, t, src_addr, nrows, ncols, row_bytes, imatrix_addr):
    dst = (ctypes.c_uint8 * (nrows * row_bytes))()
    got = b.ggml_quantize_chunk(t, src_addr, ctypes.addressof(dst), 0, nrows, ncols, imatrix_addr)
    check(got == nrows * row_bytes, "ggml_quantize_chunk size for type %d" % t)
    return bytes(dst)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bins", help="dir with libggml-base.so (and the libs llama_quant_refs loads)")
    ap.add_argument("out", help="tests/data/llama_quant (quant_input.f32 and manifest.json there)")
    ap.add_argument("--seed", type=int, default=20250301)
    args = ap.parse_args()
    lib = Lib(args.bins)
    b = lib.base
    for name, t, bs, bb in TYPES:
        check(b.ggml_type_name(t).decode().upper() == name and b.ggml_blck_size(t) == bs
              and b.ggml_type_size(t) == bb, "ggml type %d is %s %d/%d" % (t, name, bs, bb))
        check(not b.ggml_quantize_requires_imatrix(t), name + " requires an imatrix?")

    man_path = os.path.join(args.out, "manifest.json")
    with open(man_path) as f:
        manifest = json.load(f)
    inp = [g for g in manifest["goldens"] if g["kind"] == "quant_input"]
    check(len(inp) == 1, "one quant_input entry in the manifest")
    with open(os.path.join(args.out, inp[0]["file"]), "rb") as f:
        raw = f.read()
    check(hashlib.sha256(raw).hexdigest() == inp[0]["sha256"], "quant_input.f32 sha256")
    nrows, ncols = inp[0]["rows"], inp[0]["cols"]
    src = (ctypes.c_float * (nrows * ncols)).from_buffer_copy(raw)

    imat, descr = make_imatrix(random.Random(args.seed), ncols)
    check(len(imat) == nrows * ncols, "imatrix shape")
    w = (ctypes.c_float * len(imat)).from_buffer_copy(imat.tobytes())
    entries = [{"kind": "quant_imatrix_weights", "file": "quant_imatrix.f32", "rows": nrows,
                "cols": ncols, "seed": args.seed, "row_contents": descr,
                "pairs_with": inp[0]["file"] + " row r",
                "sha256": hashlib.sha256(imat.tobytes()).hexdigest()}]
    with open(os.path.join(args.out, "quant_imatrix.f32"), "wb") as f:
        f.write(imat.tobytes())

    def row_addr(buf, r):
        return ctypes.addressof(buf) + 4 * r * ncols

    for name, t, bs, bb in TYPES:
        row_bytes = ncols // bs * bb
        b.ggml_quantize_init(t)
        rows = [chunk(b, t, row_addr(src, r), 1, ncols, row_bytes, row_addr(w, r))
                for r in range(nrows)]
        data = b"".join(rows)
        plain = chunk(b, t, ctypes.addressof(src), nrows, ncols, row_bytes, None)
        differ = [r for r in range(nrows)
                  if rows[r] != plain[r * row_bytes:(r + 1) * row_bytes]]
        # one call over every row with one shared imatrix row: each row as if quantized alone
        for r in range(nrows):
            many = chunk(b, t, ctypes.addressof(src), nrows, ncols, row_bytes, row_addr(w, r))
            check(many[r * row_bytes:(r + 1) * row_bytes] == rows[r],
                  "%s: row %d quantized with 7 others differs from alone" % (name, r))
        fn = "quant_%s.imatrix.bin" % name
        with open(os.path.join(args.out, fn), "wb") as f:
            f.write(data)
        entries.append({"kind": "quant_imatrix", "type": name, "ggml_type": t, "block_elems": bs,
                        "block_bytes": bb, "rows": nrows, "cols": ncols, "row_bytes": row_bytes,
                        "file": fn, "bytes": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "input": inp[0]["file"], "imatrix": "quant_imatrix.f32",
                        "via": "ggml_quantize_chunk(%d, input row r, dst, 0, 1, %d, imatrix row r)"
                               % (t, ncols),
                        "rows_differing_from_imatrix_null": differ})
        print("%-6s rows differing from imatrix=NULL: %s" % (name, differ))

    # IQ3_S's partial-zero-block case (see the docstring) must not occur in the input
    for r in range(nrows):
        for blk in range(ncols // 256):
            subs = [src[r * ncols + blk * 256 + 32 * i: r * ncols + blk * 256 + 32 * i + 32]
                    for i in range(8)]
            zero = [all(v == 0.0 for v in sb) for sb in subs]
            check(all(zero) or not any(zero), "row %d block %d has an all-zero sub-block" % (r, blk))
    for name, t, bs, bb, needs in IQ_TYPES:
        check(b.ggml_type_name(t).decode().upper() == name and b.ggml_blck_size(t) == bs
              and b.ggml_type_size(t) == bb, "ggml type %d is %s %d/%d" % (t, name, bs, bb))
        check(bool(b.ggml_quantize_requires_imatrix(t)) == needs, name + " requires_imatrix")
        row_bytes = ncols // bs * bb
        b.ggml_quantize_init(t)
        data = b"".join(chunk(b, t, row_addr(src, r), 1, ncols, row_bytes, row_addr(w, r))
                        for r in range(nrows))
        fn = "quant_%s.imatrix.bin" % name
        with open(os.path.join(args.out, fn), "wb") as f:
            f.write(data)
        e = {"kind": "quant_iq_grid", "type": name, "ggml_type": t, "block_elems": bs,
             "block_bytes": bb, "rows": nrows, "cols": ncols, "row_bytes": row_bytes,
             "file": fn, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
             "input": inp[0]["file"], "imatrix": "quant_imatrix.f32",
             "requires_imatrix": needs,
             "via": "ggml_quantize_chunk(%d, input row r, dst, 0, 1, %d, imatrix row r)"
                    % (t, ncols)}
        if not needs:
            plain = chunk(b, t, ctypes.addressof(src), nrows, ncols, row_bytes, None)
            fn0 = "quant_%s.null.bin" % name
            with open(os.path.join(args.out, fn0), "wb") as f:
                f.write(plain)
            e["null_file"] = fn0
            e["null_sha256"] = hashlib.sha256(plain).hexdigest()
            e["null_via"] = "ggml_quantize_chunk(%d, all rows, dst, 0, %d, %d, NULL)" % (
                t, nrows, ncols)
        entries.append(e)
        print("%-7s imatrix goldens written%s" % (name, "" if needs else " (and imatrix=NULL)"))

    row_bytes = ncols // 32 * 34
    for r in range(nrows):
        check(chunk(b, Q8_0, row_addr(src, r), 1, ncols, row_bytes, row_addr(w, r))
              == chunk(b, Q8_0, row_addr(src, r), 1, ncols, row_bytes, None),
              "Q8_0 ignores the imatrix")

    manifest["goldens"] = [g for g in manifest["goldens"] if g["kind"] not in KINDS] + entries
    with open(man_path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("wrote %d imatrix goldens into %s" % (len(entries) - 1, args.out))


if __name__ == "__main__":
    sys.exit(main())
