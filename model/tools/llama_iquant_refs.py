#!/usr/bin/env python3
"""Independent reference data for the GGUF i-quant types IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S,
IQ1_S, IQ1_M, produced by llama.cpp / ggml themselves (not by vkrwkv code).

What it makes (all in OUT_DIR, normally tests/data/llama_iquant):

* Dequant goldens: dequant_<T>.bin = 64 blocks (256 weights each) of random bytes (fixed seed)
  whose fp16 scale is replaced by a random finite half, |h| in [1e-3, 1], both signs, and
  dequant_<T>.f32 = what ggml's type_traits(T)->to_float (checked to be the exported
  dequantize_row_<t>) makes of them. IQ1_M has no d field: its half is split into the top
  nibbles of the four little-endian u16 words of scales[8] (word k >> 12 = bits 4k..4k+3 of the
  half); only those nibbles are set, every other bit stays random.
* Codebooks: iq_grids.bin, little-endian uint32[8448], extracted by dequantizing crafted blocks
  with ggml's exported dequantize_row_<t> (d = 1.0, scale fields 0, sign fields 0, one grid index
  per group of weights) and dividing the outputs back to integers:
      word    0: IQ2_XXS grid  256 x 8 bytes  (values 8, 25, 43)
      word  512: IQ2_XS  grid  512 x 8 bytes  (values 8, 25, 43)
      word 1536: IQ2_S   grid 1024 x 8 bytes  (values 8, 25, 43)
      word 3584: IQ3_XXS grid  256 x 4 bytes  (values 4, 12, 20, 28, 36, 44, 52, 62)
      word 3840: IQ3_S   grid  512 x 4 bytes  (values 1, 3, 5, ..., 15)
      word 4352: IQ1_S   grid 2048 x 8 bytes  (int8 -1 / 0 / 1)
  Byte j of an entry is the value of weight j of its group (the uint64 / uint32 ggml stores,
  read little-endian). The 7-bit sign-index table (ksigns) is probed through IQ2_XXS, IQ2_XS
  and IQ3_XXS and checked to be i | (parity(i) << 7) (bit j set = weight j negative).
  A pure-Python decoder of all 7 block layouts that uses only the extracted tables then has to
  reproduce ggml's output bit for bit (checks tables and layouts) on the dequant goldens, on 64
  random blocks with d = 1 and on random blocks whose indices run through every table entry.
* Quantized models, made with llama_model_quantize (nthread 2, defaults otherwise) WITH the real
  imatrix of tests/data/llama_imatrix (<model>-f16.imatrix.gguf; per entry in_sum2 / counts,
  passed as a NULL-terminated llama_model_imatrix_data array, see llama_quant_plan_refs.py)
  from /work/shared/refmodels/tiny-{qrwkv6,rwkv6}-f16.gguf, the files of CHECKED_IN below:
      tiny-qrwkv6-IQ2_XXS.gguf      IQ2_XXS
      tiny-qrwkv6-IQ2_M.gguf        IQ2_S, IQ3_S (token_embd)
      tiny-qrwkv6-IQ3_XS.gguf       IQ3_S, IQ3_XXS
      tiny-qrwkv6-IQ1_M-mix.gguf    ftype IQ1_M plus tensor-type overrides (llama-quantize
                                    --tensor-type, tt_overrides): blk.1.* -> IQ1_S,
                                    blk.2.* -> IQ2_XS; blk.0 / blk.3 stay IQ1_M
      tiny-rwkv6-IQ3_XXS.gguf       IQ3_XXS, IQ3_S (token_embd), IQ4_NL (896-wide fallback)
  (IQ2_XS and IQ1_S need an imatrix, token_embd / output have none, so no ftype puts them
  beside another i-quant; the override file saves two more ~3.5 MB files.) The ftype numbers are
  checked with llama_ftype_name() of the library; llama's log lines about fallbacks, overrides
  and missing imatrix entries are recorded. In addition every i-quant ftype (IQ2_XXS, IQ2_XS,
  IQ2_S, IQ2_M, IQ3_XXS, IQ3_XS, IQ3_S, IQ3_M, IQ1_S, IQ1_M) is quantized for both models into a
  scratch dir and its per-tensor type plan recorded in the manifest ("plans"; files not kept).
* Logits: <model>.<prompt>.logits.f32 for every produced model, exactly as llama_quant_refs.py
  makes them (CPU backend, one llama_decode with the whole prompt, logits of every position, raw
  float32 [n_tokens][n_vocab]); harness check: the f16 models' logits must equal
  /work/shared/refmodels' files (not written again).
* manifest.json: versions, sha256 of every file, per-tensor name/type/shape of every model, type
  counts, coverage (which file holds which type), goldens, grids, ksigns check, plans.

Library: the prebuilt llama.cpp of llama_quant_refs.py (node-llama-cpp's
@node-llama-cpp/linux-x64 3.22.1 bins; see that script's docstring for how to fetch them).

Rerun (needs only python3; nothing is installed):

    python3 model/tools/llama_iquant_refs.py /tmp/npmtry/x/package/bins/linux-x64 \\
        tests/data/llama_iquant

Options: --refmodels DIR (default /work/shared/refmodels), --imatrix-dir DIR (default
tests/data/llama_imatrix next to this script's repository), --skip-models (only goldens and
grids), --max-f16-diff X (harness check tolerance, default 0: bit-identical).
"""

import argparse
import array
import ctypes
import hashlib
import json
import os
import random
import re
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from llama_quant_refs import (TO_FLOAT_T, build_metadata, check, diff_stats, file_digest,  # noqa: E402
                              model_entry, random_half, read_gguf_info, run_logits)
from llama_quant_plan_refs import NOTE_RE, PlanLib, log_lines  # noqa: E402

# (name, ggml_type id, block bytes); ids and sizes are checked against the library's traits
IQ_TYPES = [("IQ2_XXS", 16, 66), ("IQ2_XS", 17, 74), ("IQ3_XXS", 18, 98), ("IQ1_S", 19, 50),
            ("IQ3_S", 21, 110), ("IQ2_S", 22, 82), ("IQ1_M", 29, 56)]
QK = 256
N_GOLDEN_BLOCKS = 64
SEED = 20250317

# llama_ftype ids (include/llama.h), checked against llama_ftype_name()
FTYPE_IDS = {"IQ2_XXS": 19, "IQ2_XS": 20, "IQ3_XS": 22, "IQ3_XXS": 23, "IQ1_S": 24, "IQ3_S": 26,
             "IQ3_M": 27, "IQ2_S": 28, "IQ2_M": 29, "IQ1_M": 31}
FTYPE_NAME_PREFIX = {"IQ2_XXS": "IQ2_XXS", "IQ2_XS": "IQ2_XS", "IQ3_XS": "IQ3_XS",
                     "IQ3_XXS": "IQ3_XXS", "IQ1_S": "IQ1_S", "IQ3_S": "IQ3_S ",
                     "IQ3_M": "IQ3_S mix", "IQ2_S": "IQ2_S", "IQ2_M": "IQ2_M", "IQ1_M": "IQ1_M"}
# Checked-in models: (stem, tokenizer family, ftype, tensor-type overrides). The overrides are
# llama_model_quantize_params.tt_overrides (llama-quantize --tensor-type): a regex searched in the
# tensor name -> ggml type, array ended by {NULL, GGML_TYPE_COUNT}. The qrwkv6 files together
# hold all 7 types: IQ2_XXS; IQ2_M = IQ2_S + IQ3_S (token_embd); IQ3_XS = IQ3_S + IQ3_XXS; and
# IQ1_M with layer 1 forced to IQ1_S and layer 2 to IQ2_XS (those two need an imatrix, which
# token_embd / output have none of, so they can only be had on the blocks' tensors).
CHECKED_IN = [
    ("tiny-qrwkv6", "gpt2", "IQ2_XXS", []),
    ("tiny-qrwkv6", "gpt2", "IQ2_M", []),
    ("tiny-qrwkv6", "gpt2", "IQ3_XS", []),
    ("tiny-qrwkv6", "gpt2", "IQ1_M", [("^blk\\.1\\.", "IQ1_S"), ("^blk\\.2\\.", "IQ2_XS")]),
    ("tiny-rwkv6", "rwkv", "IQ3_XXS", []),
]
# Plans only (quantized into a scratch dir, per-tensor types recorded, files not kept): every
# i-quant ftype for both models, with the imatrix, no overrides.
PLAN_FTYPES = ["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
               "IQ1_S", "IQ1_M"]
GGML_TYPE_COUNT = 43


class TensorTypeOverride(ctypes.Structure):
    """struct llama_model_tensor_override {const char * pattern; enum ggml_type type;}"""
    _fields_ = [("pattern", ctypes.c_char_p), ("type", ctypes.c_int)]


# iq_grids.bin: (type, entries, bytes per entry, word offset)
GRIDS = [("IQ2_XXS", 256, 8, 0), ("IQ2_XS", 512, 8, 512), ("IQ2_S", 1024, 8, 1536),
         ("IQ3_XXS", 256, 4, 3584), ("IQ3_S", 512, 4, 3840), ("IQ1_S", 2048, 8, 4352)]
GRID_WORDS = 8448

HALF_ONE = struct.pack("<e", 1.0)


def f32(x):
    """round a Python float to float32 (what one C float operation does)"""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def half(b, off=0):
    return struct.unpack_from("<e", b, off)[0]


def parity(i):
    return bin(i).count("1") & 1


def ksign_rule(i):
    return i | (parity(i) << 7)


# --------------------------------------------------------------------------- library

class IqLib(PlanLib):
    def __init__(self, bins):
        super().__init__(bins)
        b, l = self.base, self.llama
        l.llama_ftype_name.restype = ctypes.c_char_p
        l.llama_ftype_name.argtypes = [ctypes.c_int]
        l.llama_model_desc.restype = ctypes.c_int32
        l.llama_model_desc.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        self.to_float = {}
        for name, t, bb in IQ_TYPES:
            check(b.ggml_type_name(t).decode().upper() == name, "ggml type %d is %s, expected %s"
                  % (t, b.ggml_type_name(t).decode(), name))
            tr = b.ggml_get_type_traits(t).contents
            check(tr.blck_size == QK and tr.type_size == bb and tr.is_quantized and tr.to_float
                  and b.ggml_blck_size(t) == QK and b.ggml_type_size(t) == bb,
                  "ggml_type_traits of %s: blck_size %d type_size %d (expected %d / %d)"
                  % (name, tr.blck_size, tr.type_size, QK, bb))
            deq = ctypes.cast(getattr(b, "dequantize_row_" + name.lower()), ctypes.c_void_p).value
            check(tr.to_float == deq, "traits(%s)->to_float is dequantize_row_%s" % (name, name.lower()))
            self.to_float[name] = TO_FLOAT_T(tr.to_float)
        for fname, fid in FTYPE_IDS.items():
            got = l.llama_ftype_name(fid).decode()
            check(got.startswith(FTYPE_NAME_PREFIX[fname]),
                  "llama_ftype_name(%d) = %r, expected %s" % (fid, got, fname))

    def dequant(self, name, raw):
        n = len(raw) // dict((a, c) for a, _, c in IQ_TYPES)[name] * QK
        src = (ctypes.c_uint8 * len(raw)).from_buffer_copy(bytes(raw))
        dst = (ctypes.c_float * n)()
        self.to_float[name](ctypes.addressof(src), ctypes.addressof(dst), n)
        return array.array("f", bytes(dst))

    def model_desc(self, path):
        l = self.llama
        mp = l.llama_model_default_params()
        mp.n_gpu_layers = 0
        m = l.llama_model_load_from_file(path.encode(), mp)
        check(m, "load " + path)
        buf = ctypes.create_string_buffer(256)
        check(l.llama_model_desc(m, buf, 256) > 0, "llama_model_desc of " + path)
        l.llama_model_free(m)
        self.take_leveled()
        return buf.value.decode()


# --------------------------------------------------------------------------- codebook probing

def probe_ints(vals, scale, offset=0.0):
    """(v - offset) / scale for each output, checked to be an exact integer"""
    out = []
    for v in vals:
        q = (v - offset) / scale
        check(q == int(q), "probe output %r / %r is not an integer" % (v, scale))
        out.append(int(q))
    return out


def probe_grids(lib):
    """Returns {type: [[byte values per weight] per entry]}, and the ksigns probes."""
    grids = {}
    # IQ2_XXS: per 32-weight sub-block 8 bytes: 4 grid indices, u32 (ls << 28 | signs); d=1, ls=0
    raw = bytearray()
    for b in range(256 // 32):
        raw += HALF_ONE
        for ib in range(8):
            raw += bytes(32 * b + 4 * ib + l for l in range(4)) + struct.pack("<I", 0)
    v = probe_ints(lib.dequant("IQ2_XXS", raw), 0.125)  # d * (0.5 + 0) * 0.25
    grids["IQ2_XXS"] = [v[8 * i:8 * i + 8] for i in range(256)]
    # IQ2_XS: u16 qs[32] = index | (sign index << 9); scales 0 -> 0.125
    raw = bytearray()
    for b in range(512 // 32):
        raw += HALF_ONE + struct.pack("<32H", *range(32 * b, 32 * b + 32)) + bytes(8)
    v = probe_ints(lib.dequant("IQ2_XS", raw), 0.125)
    grids["IQ2_XS"] = [v[8 * i:8 * i + 8] for i in range(512)]
    # IQ2_S: qs[0..31] low 8 bits, qh[ib] 2 bits per group (bits 2l..2l+1), signs qs[32..63] = 0
    raw = bytearray()
    for b in range(1024 // 32):
        qs = bytearray(64)
        qh = bytearray(8)
        for ib in range(8):
            for l in range(4):
                i = 32 * b + 4 * ib + l
                qs[4 * ib + l] = i & 255
                qh[ib] |= (i >> 8) << (2 * l)
        raw += HALF_ONE + qs + qh + bytes(8)
    v = probe_ints(lib.dequant("IQ2_S", raw), 0.125)
    grids["IQ2_S"] = [v[8 * i:8 * i + 8] for i in range(1024)]
    # IQ3_XXS: qs[0..63] one index per 4 weights, then u32 per sub-block (ls << 28 | signs) = 0
    raw = bytearray()
    for b in range(256 // 64):
        raw += HALF_ONE + bytes(range(64 * b, 64 * b + 64)) + bytes(32)
    v = probe_ints(lib.dequant("IQ3_XXS", raw), 0.25)  # d * (0.5 + 0) * 0.5
    grids["IQ3_XXS"] = [v[4 * i:4 * i + 4] for i in range(256)]
    # IQ3_S: qs[8 ib + k] low 8 bits, bit k of qh[ib] = bit 8; signs 0; scales 0 -> d * 1
    raw = bytearray()
    for b in range(512 // 64):
        qs = bytearray(64)
        qh = bytearray(8)
        for ib in range(8):
            for k in range(8):
                i = 64 * b + 8 * ib + k
                qs[8 * ib + k] = i & 255
                qh[ib] |= (i >> 8) << k
        raw += HALF_ONE + qs + qh + bytes(32) + bytes(4)
    v = probe_ints(lib.dequant("IQ3_S", raw), 1.0)
    grids["IQ3_S"] = [v[4 * i:4 * i + 4] for i in range(512)]
    # IQ1_S: qs[4 ib + l] low 8 bits, u16 qh[ib]: 3 bits per group at 3l, scale bits 12..14 = 0,
    # bit 15 = 0 -> y = 1 * (grid + 0.125)
    raw = bytearray()
    for b in range(2048 // 32):
        qs = bytearray(32)
        qh = [0] * 8
        for ib in range(8):
            for l in range(4):
                i = 32 * b + 4 * ib + l
                qs[4 * ib + l] = i & 255
                qh[ib] |= (i >> 8) << (3 * l)
        raw += HALF_ONE + qs + struct.pack("<8H", *qh)
    v = probe_ints(lib.dequant("IQ1_S", raw), 1.0, 0.125)
    grids["IQ1_S"] = [v[8 * i:8 * i + 8] for i in range(2048)]
    return grids


def probe_ksigns(lib):
    """The sign byte of each 7-bit sign index, read off the outputs' signs (grid index 0)."""
    res = {}

    def signs_of(vals, n_per_group, groups):
        out = []
        for g in groups:
            byte = 0
            for j in range(n_per_group):
                x = vals[g * n_per_group + j]
                check(x != 0, "ksigns probe hit a zero grid value")
                if x < 0:
                    byte |= 1 << j
            out.append(byte)
        return out

    # IQ2_XXS: sign index s in the 7-bit field l of the sub-block's u32
    raw = bytearray()
    for b in range(128 // 32):
        raw += HALF_ONE
        for ib in range(8):
            aux = 0
            for l in range(4):
                aux |= (32 * b + 4 * ib + l) << (7 * l)
            raw += bytes(4) + struct.pack("<I", aux)
    res["IQ2_XXS"] = signs_of(lib.dequant("IQ2_XXS", raw), 8, range(128))
    # IQ2_XS: top 7 bits of each u16, grid index 0
    raw = bytearray()
    for b in range(128 // 32):
        raw += HALF_ONE + struct.pack("<32H", *[(32 * b + k) << 9 for k in range(32)]) + bytes(8)
    res["IQ2_XS"] = signs_of(lib.dequant("IQ2_XS", raw), 8, range(128))
    # IQ3_XXS: 7-bit field l of the sub-block's u32 covers 8 weights (two grid entries)
    raw = bytearray()
    for b in range(128 // 32):
        words = []
        for ib in range(8):
            aux = 0
            for l in range(4):
                aux |= (32 * b + 4 * ib + l) << (7 * l)
            words.append(aux)
        raw += HALF_ONE + bytes(64) + struct.pack("<8I", *words)
    res["IQ3_XXS"] = signs_of(lib.dequant("IQ3_XXS", raw), 8, range(128))
    return res


# --------------------------------------------------------------------------- pure-Python decoders

def decode_blocks(name, raw, G, ks):
    """Dequantizes raw blocks of type `name` with the extracted grids G and sign table ks,
    emulating float32 arithmetic; returns array('f')."""
    bb = dict((a, c) for a, _, c in IQ_TYPES)[name]
    out = array.array("f")
    for o in range(0, len(raw), bb):
        blk = raw[o:o + bb]
        y = []
        if name == "IQ2_XXS":
            d = half(blk)
            for ib in range(8):
                idx = blk[2 + 8 * ib:6 + 8 * ib]
                aux = struct.unpack_from("<I", blk, 6 + 8 * ib)[0]
                db = f32(f32(d * (0.5 + (aux >> 28))) * 0.25)
                for l in range(4):
                    s = ks[(aux >> (7 * l)) & 127]
                    y += [f32(f32(db * g) * (-1.0 if s >> j & 1 else 1.0))
                          for j, g in enumerate(G["IQ2_XXS"][idx[l]])]
        elif name == "IQ2_XS":
            d = half(blk)
            qs = struct.unpack_from("<32H", blk, 2)
            sc = blk[66:74]
            for ib in range(8):
                db = [f32(f32(d * (0.5 + (sc[ib] & 15))) * 0.25), f32(f32(d * (0.5 + (sc[ib] >> 4))) * 0.25)]
                for l in range(4):
                    q = qs[4 * ib + l]
                    s = ks[q >> 9]
                    y += [f32(f32(db[l // 2] * g) * (-1.0 if s >> j & 1 else 1.0))
                          for j, g in enumerate(G["IQ2_XS"][q & 511])]
        elif name == "IQ2_S":
            d = half(blk)
            qs, signs, qh, sc = blk[2:34], blk[34:66], blk[66:74], blk[74:82]
            for ib in range(8):
                db = [f32(f32(d * (0.5 + (sc[ib] & 15))) * 0.25), f32(f32(d * (0.5 + (sc[ib] >> 4))) * 0.25)]
                for l in range(4):
                    i = qs[4 * ib + l] | (((qh[ib] >> (2 * l)) & 3) << 8)
                    s = signs[4 * ib + l]
                    y += [f32(f32(db[l // 2] * g) * (-1.0 if s >> j & 1 else 1.0))
                          for j, g in enumerate(G["IQ2_S"][i])]
        elif name == "IQ3_XXS":
            d = half(blk)
            qs = blk[2:66]
            for ib in range(8):
                aux = struct.unpack_from("<I", blk, 66 + 4 * ib)[0]
                db = f32(f32(d * (0.5 + (aux >> 28))) * 0.5)
                for l in range(4):
                    s = ks[(aux >> (7 * l)) & 127]
                    g8 = G["IQ3_XXS"][qs[8 * ib + 2 * l]] + G["IQ3_XXS"][qs[8 * ib + 2 * l + 1]]
                    y += [f32(f32(db * g) * (-1.0 if s >> j & 1 else 1.0)) for j, g in enumerate(g8)]
        elif name == "IQ3_S":
            d = half(blk)
            qs, qh, signs, sc = blk[2:66], blk[66:74], blk[74:106], blk[106:110]
            for ib in range(8):
                db = f32(d * (1 + 2 * ((sc[ib // 2] >> (4 * (ib % 2))) & 15)))
                for l in range(4):
                    i0 = qs[8 * ib + 2 * l] | (((qh[ib] >> (2 * l)) & 1) << 8)
                    i1 = qs[8 * ib + 2 * l + 1] | (((qh[ib] >> (2 * l + 1)) & 1) << 8)
                    s = signs[4 * ib + l]
                    g8 = G["IQ3_S"][i0] + G["IQ3_S"][i1]
                    y += [f32(f32(db * g) * (-1.0 if s >> j & 1 else 1.0)) for j, g in enumerate(g8)]
        elif name == "IQ1_S":
            d = half(blk)
            qs = blk[2:34]
            qh = struct.unpack_from("<8H", blk, 34)
            for ib in range(8):
                dl = f32(d * (2 * ((qh[ib] >> 12) & 7) + 1))
                delta = -0.125 if qh[ib] & 0x8000 else 0.125
                for l in range(4):
                    i = qs[4 * ib + l] | (((qh[ib] >> (3 * l)) & 7) << 8)
                    y += [f32(dl * f32(g + delta)) for g in G["IQ1_S"][i]]
        elif name == "IQ1_M":
            qs, qh = blk[0:32], blk[32:48]
            sc = struct.unpack_from("<4H", blk, 48)
            hb = (sc[0] >> 12) | ((sc[1] >> 12) << 4) | ((sc[2] >> 12) << 8) | ((sc[3] >> 12) << 12)
            d = half(struct.pack("<H", hb))
            for ib in range(8):
                w = sc[ib // 2] >> (6 * (ib % 2))
                dls = [f32(d * (2 * (w & 7) + 1)), f32(d * (2 * ((w >> 3) & 7) + 1))]
                for l in range(4):
                    h = qh[2 * ib + l // 2] >> (4 * (l % 2))
                    i = qs[4 * ib + l] | ((h & 7) << 8)
                    delta = -0.125 if h & 8 else 0.125
                    y += [f32(dls[l // 2] * f32(g + delta)) for g in G["IQ1_S"][i]]
        check(len(y) == QK, "decoder length for " + name)
        out.extend(y)
    return out


def set_indices(name, blk, idx):
    """Writes the grid indices idx (one per group, weight order) into block blk (bytearray),
    leaving every other bit (d, scales, signs, deltas) as it is."""
    for g, i in enumerate(idx):
        ib, l = divmod(g, 4) if name not in ("IQ3_XXS", "IQ3_S") else divmod(g, 8)
        if name == "IQ2_XXS":
            blk[2 + 8 * ib + l] = i
        elif name == "IQ2_XS":
            w = struct.unpack_from("<H", blk, 2 + 2 * g)[0]
            struct.pack_into("<H", blk, 2 + 2 * g, (w & ~511) | i)
        elif name == "IQ2_S":
            blk[2 + g] = i & 255
            blk[66 + ib] = (blk[66 + ib] & ~(3 << (2 * l))) | ((i >> 8) << (2 * l))
        elif name == "IQ3_XXS":
            blk[2 + g] = i
        elif name == "IQ3_S":
            blk[2 + g] = i & 255
            blk[66 + ib] = (blk[66 + ib] & ~(1 << l)) | ((i >> 8) << l)
        elif name == "IQ1_S":
            blk[2 + g] = i & 255
            w = struct.unpack_from("<H", blk, 34 + 2 * ib)[0]
            struct.pack_into("<H", blk, 34 + 2 * ib, (w & ~(7 << (3 * l))) | ((i >> 8) << (3 * l)))
        elif name == "IQ1_M":
            blk[g] = i & 255
            sh = 4 * (l % 2)
            o = 32 + 2 * ib + l // 2
            blk[o] = (blk[o] & ~(7 << sh)) | ((i >> 8) << sh)


# --------------------------------------------------------------------------- goldens

def make_goldens(lib, out_dir, rng):
    entries = []
    blocks = {}
    for name, t, bb in IQ_TYPES:
        raw = bytearray(rng.getrandbits(8) for _ in range(N_GOLDEN_BLOCKS * bb))
        for k in range(N_GOLDEN_BLOCKS):
            h = random_half(rng)
            o = k * bb
            if name == "IQ1_M":
                hv = struct.unpack("<H", h)[0]
                for w in range(4):
                    word = struct.unpack_from("<H", raw, o + 48 + 2 * w)[0]
                    word = (word & 0x0FFF) | (((hv >> (4 * w)) & 15) << 12)
                    struct.pack_into("<H", raw, o + 48 + 2 * w, word)
            else:
                raw[o:o + 2] = h
        vals = lib.dequant(name, raw)
        check(all(v == v and abs(v) != float("inf") for v in vals), "non-finite dequant for " + name)
        fb, ff = "dequant_%s.bin" % name, "dequant_%s.f32" % name
        with open(os.path.join(out_dir, fb), "wb") as f:
            f.write(bytes(raw))
        with open(os.path.join(out_dir, ff), "wb") as f:
            f.write(vals.tobytes())
        blocks[name] = (bytes(raw), vals)
        entries.append({"kind": "dequant", "type": name, "ggml_type": t, "block_elems": QK,
                        "block_bytes": bb,
                        "fp16_scale": ("top nibbles of the 4 u16 words of scales[8] at byte 48 "
                                       "(word k >> 12 = half bits 4k..4k+3)" if name == "IQ1_M"
                                       else "byte offset 0"),
                        "n_blocks": N_GOLDEN_BLOCKS, "n_floats": N_GOLDEN_BLOCKS * QK,
                        "blocks_file": fb, "floats_file": ff,
                        "sha256_blocks": hashlib.sha256(bytes(raw)).hexdigest(),
                        "sha256_floats": hashlib.sha256(vals.tobytes()).hexdigest(),
                        "max_abs_value": max(abs(v) for v in vals),
                        "via": "ggml_get_type_traits(%d)->to_float == dequantize_row_%s"
                               % (t, name.lower())})
    return entries, blocks


def make_grids(lib, out_dir, blocks):
    grids = probe_grids(lib)
    expected = {"IQ2_XXS": {8, 25, 43}, "IQ2_XS": {8, 25, 43}, "IQ2_S": {8, 25, 43},
                "IQ1_S": {-1, 0, 1}}
    info = {"file": "iq_grids.bin", "words": GRID_WORDS, "layout": [], "value_sets": {}}
    words = array.array("I", [0] * GRID_WORDS)
    for name, n, nb, woff in GRIDS:
        g = grids[name]
        check(len(g) == n and all(len(e) == nb for e in g), "grid shape " + name)
        vs = sorted({x for e in g for x in e})
        if name in expected:
            check(set(vs) <= expected[name], "%s grid values %r" % (name, vs))
        else:  # IQ3: small positive integers (the probe already checked they are integers)
            check(all(0 < x < 64 for x in vs), "%s grid values %r" % (name, vs))
        distinct = len({tuple(e) for e in g})
        check(distinct == n, "%s grid has %d distinct entries of %d" % (name, distinct, n))
        packed = b"".join(bytes(x & 255 for x in e) for e in g)
        words[woff:woff + n * nb // 4] = array.array("I", packed)
        info["value_sets"][name] = vs
        info["layout"].append({"type": name, "entries": n, "bytes_per_entry": nb,
                               "word_offset": woff, "n_words": n * nb // 4,
                               "sha256": hashlib.sha256(packed).hexdigest(),
                               "first_entries_hex": ["%0*x" % (2 * nb, int.from_bytes(bytes(x & 255 for x in e), "little"))
                                                     for e in g[:4]]})
    check(sum(e["n_words"] for e in info["layout"]) == GRID_WORDS, "grid words")
    data = words.tobytes()
    with open(os.path.join(out_dir, "iq_grids.bin"), "wb") as f:
        f.write(data)
    info["bytes"] = len(data)
    info["sha256"] = hashlib.sha256(data).hexdigest()

    ks = probe_ksigns(lib)
    rule = [ksign_rule(i) for i in range(128)]
    for name, got in ks.items():
        bad = [i for i in range(128) if got[i] != rule[i]]
        check(not bad, "ksigns via %s differ from i | parity(i) << 7 at %r" % (name, bad[:8]))
    info["ksigns"] = {"rule": "sign byte of 7-bit index i = i | (parity(i) << 7); bit j set = "
                              "weight j of the group of 8 negative",
                      "probed_via": sorted(ks), "all_128_match": True}

    # pure-Python decoder with the extracted tables vs ggml on the dequant goldens
    G = {name: grids[name] for name, _, _, _ in GRIDS}
    # re-read the tables from the file, so the file itself is what is checked
    with open(os.path.join(out_dir, "iq_grids.bin"), "rb") as f:
        fw = f.read()
    for name, n, nb, woff in GRIDS:
        sgn = name == "IQ1_S"
        G[name] = [[(b - 256 if sgn and b > 127 else b) for b in fw[4 * woff + nb * i:4 * woff + nb * (i + 1)]]
                   for i in range(n)]
        check(G[name] == grids[name], "iq_grids.bin round trip " + name)
    rng = random.Random(SEED + 1)
    info["python_decoder_check"] = {}
    for name, _, bb in IQ_TYPES:
        raw, vals = blocks[name]
        mine = decode_blocks(name, raw, G, rule)
        check(mine.tobytes() == vals.tobytes(), "python decoder differs from ggml on dequant_%s" % name)
        # plus 64 blocks with d = 1.0 (IQ1_M: scale half 1.0) and random everything else
        raw2 = bytearray(rng.getrandbits(8) for _ in range(64 * bb))
        for k in range(64):
            o = k * bb
            if name == "IQ1_M":
                for w in range(4):
                    word = struct.unpack_from("<H", raw2, o + 48 + 2 * w)[0]
                    struct.pack_into("<H", raw2, o + 48 + 2 * w,
                                     (word & 0x0FFF) | (((0x3C00 >> (4 * w)) & 15) << 12))
            else:
                raw2[o:o + 2] = HALF_ONE
        v2 = lib.dequant(name, raw2)
        check(decode_blocks(name, bytes(raw2), G, rule).tobytes() == v2.tobytes(),
              "python decoder differs from ggml on random d=1 blocks of " + name)
        # plus blocks of random bytes (random finite d) whose grid indices run through the
        # whole table, so that every extracted entry is used with random signs / scales
        gname = "IQ1_S" if name == "IQ1_M" else name
        n_ent = len(G[gname])
        per = 64 if name in ("IQ3_XXS", "IQ3_S") else 32
        raw3 = bytearray()
        for k in range(n_ent // per):
            blk = bytearray(rng.getrandbits(8) for _ in range(bb))
            h = struct.unpack("<H", random_half(rng))[0]
            if name == "IQ1_M":
                for w in range(4):
                    word = struct.unpack_from("<H", blk, 48 + 2 * w)[0]
                    struct.pack_into("<H", blk, 48 + 2 * w, (word & 0x0FFF) | (((h >> (4 * w)) & 15) << 12))
            else:
                struct.pack_into("<H", blk, 0, h)
            set_indices(name, blk, range(per * k, per * k + per))
            raw3 += blk
        v3 = lib.dequant(name, raw3)
        check(decode_blocks(name, bytes(raw3), G, rule).tobytes() == v3.tobytes(),
              "python decoder differs from ggml on the table-covering blocks of " + name)
        info["python_decoder_check"][name] = (
            "bit-identical on the 64 golden blocks, 64 random d=1 blocks and %d random blocks "
            "whose indices cover all %d grid entries" % (n_ent // per, n_ent))
    return info


# --------------------------------------------------------------------------- imatrix / models

def load_imatrix(lib, path):
    """{tensor name: [in_sum2[j] / counts]} from a llama-imatrix GGUF (what llama-quantize passes)"""
    from llama_quant_plan_refs import GgufInitParams
    b = lib.base
    ctx = b.gguf_init_from_file(path.encode(), GgufInitParams(True, None))
    check(ctx, "gguf_init_from_file " + path)
    with open(path, "rb") as f:
        data = f.read()
    base = b.gguf_get_data_offset(ctx)
    raw = {}
    for i in range(b.gguf_get_n_tensors(ctx)):
        name = b.gguf_get_tensor_name(ctx, i).decode()
        check(b.gguf_get_tensor_type(ctx, i) == 0, "imatrix tensor %s is not F32" % name)
        off = base + b.gguf_get_tensor_offset(ctx, i)
        raw[name] = array.array("f", data[off:off + b.gguf_get_tensor_size(ctx, i)])
    b.gguf_free(ctx)
    out = {}
    for name in sorted(raw):
        if not name.endswith(".in_sum2"):
            continue
        w = name[:-len(".in_sum2")]
        cnt = raw[w + ".counts"]
        check(len(cnt) == 1, "one count per entry: " + w)
        c = cnt[0]
        out[w] = [f32(s / c) if c > 0 else 1.0 for s in raw[name]]
    check(len(out) * 2 == len(raw), "imatrix entries of " + path)
    return out


def quantize_model(lib, src, dst, ft, imatrix, overrides=()):
    """llama_model_quantize(src -> dst, ftype ft, nthread 2, imatrix, tensor-type overrides);
    returns (rc, seconds, notable log lines, error log lines)."""
    from llama_quant_plan_refs import ImatrixData
    qp = lib.llama.llama_model_quantize_default_params()
    qp.nthread = 2
    qp.ftype = FTYPE_IDS[ft]
    keep = []
    arr = (ImatrixData * (len(imatrix) + 1))()
    for i, (name, vals) in enumerate(imatrix.items()):
        fa = (ctypes.c_float * len(vals))(*vals)
        nb = name.encode()
        keep += [fa, nb]
        arr[i].name, arr[i].data, arr[i].size = nb, fa, len(vals)
    arr[len(imatrix)].name = None
    qp.imatrix = ctypes.cast(arr, ctypes.c_void_p)
    if overrides:
        tto = (TensorTypeOverride * (len(overrides) + 1))()
        tid = dict((n, t) for n, t, _ in IQ_TYPES)
        for i, (pat, tname) in enumerate(overrides):
            tto[i].pattern = pat.encode()
            tto[i].type = tid[tname]
        tto[len(overrides)].pattern = None
        tto[len(overrides)].type = GGML_TYPE_COUNT
        qp.tt_overrides = ctypes.cast(tto, ctypes.c_void_p)
    lib.take_leveled()
    t0 = time.time()
    rc = lib.llama.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(qp))
    secs = time.time() - t0
    leveled = lib.take_leveled()
    lines = log_lines(leveled)
    notes = [ln.strip() for ln in lines
             if (NOTE_RE.search(ln) or re.search(r"warning|manual override", ln, re.I))
             and "Dumping metadata" not in ln]
    if rc != 0:
        return rc, secs, notes, log_lines(leveled, errors_only=True)
    m = [ln for ln in lines if "have importance matrix data with" in ln]
    check(len(m) == 1 and ("with %d entries" % len(imatrix)) in m[0],
          "%s: imatrix entry count in the log: %r" % (dst, m))
    return rc, secs, notes, []


def dump(obj, ind=0):
    """JSON with one line per tensor entry / short list"""
    pad = " " * ind
    if isinstance(obj, dict) and "shape" in obj and "name" in obj:
        return json.dumps(obj, separators=(", ", ": "))
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [pad + " " + json.dumps(k) + ": " + dump(v, ind + 1) for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        items = [pad + " " + dump(v, ind + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, separators=(", ", ": "))


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bins", help="dir with libllama.v0.5.0.so, libggml*.so, libggml-cpu-*.so")
    ap.add_argument("out", help="output dir (created)")
    ap.add_argument("--refmodels", default="/work/shared/refmodels")
    ap.add_argument("--imatrix-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                          "..", "..", "tests", "data", "llama_imatrix"))
    ap.add_argument("--skip-models", action="store_true", help="only goldens and grids")
    ap.add_argument("--max-f16-diff", type=float, default=0.0,
                    help="abort if the f16 harness check differs more than this (max abs)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()

    lib = IqLib(args.bins)
    info = {"llama_version()": lib.llama.llama_version().decode(),
            "ggml_version()": lib.base.ggml_version().decode(),
            "ggml_commit()": lib.base.ggml_commit().decode(),
            "node_llama_cpp_build_metadata": build_metadata(args.bins),
            "note": "the library llama_quant_refs.py drives (see tests/data/llama_quant/manifest.json "
                    "for what the version strings mean)",
            "llama_ftype_name()": {k: lib.llama.llama_ftype_name(v).decode()
                                   for k, v in FTYPE_IDS.items()}}
    manifest = {"description": "Independent reference data for the GGUF i-quant types IQ2_XXS, "
                               "IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M, made by llama.cpp / ggml",
                "library": info,
                "logits_layout": "raw little-endian float32, row-major [n_tokens][n_vocab], "
                                 "logits of every position, fresh state, no header"}

    rng = random.Random(SEED)
    print("goldens ...", flush=True)
    manifest["goldens"], blocks = make_goldens(lib, args.out, rng)
    print("grids ...", flush=True)
    manifest["grids"] = make_grids(lib, args.out, blocks)
    print("  value sets:", manifest["grids"]["value_sets"], flush=True)

    if not args.skip_models:
        manifest["backend"] = lib.load_cpu_backend()
        manifest["backend"]["decode"] = {"n_ctx": 1024, "n_batch": 1024, "n_ubatch": 1024,
                                         "n_seq_max": 1, "n_threads": 2,
                                         "llama_decode_calls_per_prompt": 1}
        manifest["quantize_params"] = {
            "nthread": 2, "other": "llama_model_quantize_default_params()",
            "imatrix": "tests/data/llama_imatrix/<model>-f16.imatrix.gguf: per entry in_sum2 / counts "
                       "(float32), as llama-quantize loads it, passed as llama_model_quantize_params."
                       "imatrix (NULL-terminated llama_model_imatrix_data array); no quantize.imatrix.* "
                       "KV metadata is added (llama-quantize would add those keys)",
            "tt_overrides": "llama_model_quantize_params.tt_overrides: array of {const char * pattern "
                            "(regex, searched in the tensor name); enum ggml_type type} ended by "
                            "{NULL, GGML_TYPE_COUNT} (= llama-quantize --tensor-type); used only where a "
                            "model lists overrides, and checked by reading the types back"}
        print("backend:", manifest["backend"]["cpu_variant_loaded"], flush=True)
        with open(os.path.join(args.refmodels, "manifest.json")) as f:
            ref = json.load(f)
        manifest["models"], manifest["logits"], manifest["harness_check"] = [], [], []
        imatrices, f16 = {}, {}
        for stem, family, ft, overrides in CHECKED_IN:
            prompts = [(p["name"], p["ids"][family]) for p in ref["prompts"]]
            src = os.path.join(args.refmodels, stem + "-f16.gguf")
            imp = os.path.join(args.imatrix_dir, stem + "-f16.imatrix.gguf")
            if stem not in imatrices:
                imatrices[stem] = load_imatrix(lib, imp)
                # harness check: the f16 model's logits must equal the shared reference files
                lg = run_logits(lib, src, prompts)
                lib.take_leveled()
                f16[stem] = {}
                for pname, (n, nv, buf) in lg.items():
                    refbuf = array.array("f")
                    rf = os.path.join(args.refmodels, "%s-f16.%s.logits.f32" % (stem, pname))
                    with open(rf, "rb") as f:
                        refbuf.frombytes(f.read())
                    st = diff_stats(buf, refbuf, nv)
                    print("  %s-f16 %s vs shared reference: %s" % (stem, pname, st), flush=True)
                    check(st["max_abs"] <= args.max_f16_diff,
                          "harness does not reproduce %s (max abs %g)" % (rf, st["max_abs"]))
                    f16[stem][pname] = buf
                    manifest["harness_check"].append({
                        "model": src, "prompt": pname, "reference": rf,
                        "sha256_reference": file_digest(rf),
                        "identical_bytes": buf.tobytes() == refbuf.tobytes(), "diff": st})
            im = imatrices[stem]
            tag = ft + ("-mix" if overrides else "")
            dst = os.path.join(args.out, "%s-%s.gguf" % (stem, tag))
            rc, secs, notes, err = quantize_model(lib, src, dst, ft, im, overrides)
            check(rc == 0, "llama_model_quantize %s -> %s rc=%d\n%s" % (src, ft, rc, "\n".join(err)))
            e = model_entry(dst, os.path.basename(src), {"id": FTYPE_IDS[ft], "name": ft}, notes)
            e["ftype_name"] = lib.llama.llama_ftype_name(e["general.file_type"]).decode()
            e["llama_model_desc"] = lib.model_desc(dst)
            e["imatrix"] = {"file": "tests/data/llama_imatrix/" + os.path.basename(imp),
                            "sha256": file_digest(imp), "entries": len(im)}
            if overrides:
                e["tt_overrides"] = [{"pattern": pat, "type": t} for pat, t in overrides]
                for t in e["tensors"]:
                    for pat, want in overrides:
                        if re.search(pat, t["name"]) and t["type"] not in ("F32", "F16"):
                            check(t["type"] == want, "override %s -> %s not applied to %s (%s)"
                                  % (pat, want, t["name"], t["type"]))
            manifest["models"].append(e)
            lg = run_logits(lib, dst, prompts)
            lib.take_leveled()
            for pname, (n, nv, buf) in lg.items():
                fn = "%s-%s.%s.logits.f32" % (stem, tag, pname)
                with open(os.path.join(args.out, fn), "wb") as f:
                    f.write(buf.tobytes())
                manifest["logits"].append({"file": fn, "model": os.path.basename(dst), "prompt": pname,
                                           "n_tokens": n, "n_vocab": nv, "shape": [n, nv],
                                           "bytes": 4 * len(buf),
                                           "sha256": hashlib.sha256(buf.tobytes()).hexdigest(),
                                           "vs_f16_same_harness": diff_stats(buf, f16[stem][pname], nv)})
            print("  %s: %s" % (e["file"], e["tensor_type_counts"]), flush=True)
        cov = {}
        for name, _, _ in IQ_TYPES:
            cov[name] = ["%s: %d tensors" % (m["file"], m["tensor_type_counts"][name])
                         for m in manifest["models"] if name in m["tensor_type_counts"]]
            check(any(m["file"].startswith("tiny-qrwkv6") for m in manifest["models"]
                      if name in m["tensor_type_counts"]), "no qrwkv6 model holds a tensor of type " + name)
        manifest["coverage"] = cov

        # plans: what llama picks per tensor for every i-quant ftype (files not kept)
        plans = []
        tmp = tempfile.mkdtemp(prefix="llama_iquant_")
        for stem in ("tiny-qrwkv6", "tiny-rwkv6"):
            src = os.path.join(args.refmodels, stem + "-f16.gguf")
            im = imatrices.get(stem) or load_imatrix(
                lib, os.path.join(args.imatrix_dir, stem + "-f16.imatrix.gguf"))
            _, _, src_tensors = read_gguf_info(src)
            src_types = {t["name"]: t["type"] for t in src_tensors}
            for ft in PLAN_FTYPES:
                dst = os.path.join(tmp, "%s-%s.gguf" % (stem, ft))
                rc, secs, notes, err = quantize_model(lib, src, dst, ft, im)
                pl = {"model": stem + "-f16.gguf", "ftype": {"id": FTYPE_IDS[ft], "name": ft}, "ok": rc == 0}
                if rc == 0:
                    _, kv, tensors = read_gguf_info(dst)
                    counts = {}
                    for t in tensors:
                        counts[t["type"]] = counts.get(t["type"], 0) + 1
                    pl.update({"general.file_type": kv.get("general.file_type"), "bytes": os.path.getsize(dst),
                               "sha256": file_digest(dst), "tensor_type_counts": counts,
                               "quantized_tensors": {t["name"]: t["type"] for t in tensors
                                                     if t["type"] != src_types[t["name"]]},
                               "log_notes": notes})
                    os.remove(dst)
                else:
                    pl.update({"error_log": err, "log_notes": notes})
                plans.append(pl)
                print("  plan %s %s: %s" % (stem, ft, pl.get("tensor_type_counts", "FAILED")), flush=True)
        os.rmdir(tmp)
        manifest["plans"] = plans

    files = {}
    for fn in sorted(os.listdir(args.out)):
        if fn in ("manifest.json", "README.md"):
            continue
        p = os.path.join(args.out, fn)
        files[fn] = {"bytes": os.path.getsize(p), "sha256": file_digest(p)}
    manifest["files"] = files
    manifest["total_bytes"] = sum(v["bytes"] for v in files.values())
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        f.write(dump(manifest) + "\n")
    print("done in %.1f s; %d files, %d bytes" % (time.time() - t0, len(files), manifest["total_bytes"]))


if __name__ == "__main__":
    main()
