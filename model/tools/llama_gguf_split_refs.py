#!/usr/bin/env python3
"""Independent reference data for llama.cpp's split GGUF files (llama-gguf-split output, the
"model-00001-of-00003.gguf" sets of Hugging Face repos), made with llama.cpp / ggml's own code
(not with vkrwkv code).

The prebuilt llama.cpp library that llama_quant_refs.py loads (node-llama-cpp 3.22.1's
libllama.v0.5.0.so / libggml-base.so / libggml-cpu-*.so, CPU backend, 2 threads) does all the
GGUF work here: this script is a line-by-line Python port of tools/gguf-split/gguf-split.cpp
(split_strategy + gguf_split + gguf_merge) that drives the library's C functions
(gguf_init_from_file, gguf_init_empty, gguf_set_kv, gguf_set_val_u16 / _i32, gguf_add_tensor,
gguf_get_meta_size / gguf_get_meta_data, ggml_get_tensor, ggml_nbytes, llama_split_path,
llama_split_prefix). So every header byte is ggml's; the tensor bytes are copied from the input
file and zero-padded exactly as gguf-split's write() does. The shards are then loaded with
llama_model_load_from_file / llama_model_load_from_splits and evaluated.

Facts (read from ggml-org/llama.cpp; file @ commit of the stored version that was read:
tools/gguf-split/gguf-split.cpp @ 3e00f05f2f854195b1a271f935e5b8925b52ab0b,
src/llama-model-loader.cpp @ 00347649deb8a4cb47fa2a22007704174f9994e1,
src/llama-model-loader.h @ 01b75d6a104417dc995d8beb6761254624e7f478,
src/llama.cpp (llama_split_path / llama_split_prefix, llama_model_load_from_splits)
@ 01649e61c782d88825d9f5affb6acbad0f57fb9b, ggml/src/gguf.cpp @
067d44f6c48459f7a82dbafc6fbd0bae97755a4e; key names in common/common.h (namespace { ... }) and
src/llama-arch.cpp: "split.no", "split.count", "split.tensors.count"):

Command line (split_params_parse_ex):
  * llama-gguf-split [options] GGUF_IN GGUF_OUT. Options must come before the 2 paths (parsing
    stops at the first argument not starting with "--"); '_' in an option is read as '-'.
    --split (default operation) | --merge; --split-max-tensors N (default 128, atoi) |
    --split-max-size N(M|G) (only one of the two; default mode = by tensors);
    --no-tensor-first-split; --dry-run (print the plan only); --delete-splits (merge only).
  * --split-max-size: the LAST character must be 'M' or 'G', the number is sscanf("%d") of the
    string: M = n * 1000 * 1000 bytes, G = n * 1000^3 (decimal, not MiB/GiB); n <= 0 ->
    "error: size must be a positive value"; another suffix -> "error: supported units are M
    (megabytes) or G (gigabytes), but got: X". So "4M" = 4000000 bytes, "1.5G" = 1 G.
  * GGUF_OUT is a PREFIX: shard i (0-based) of n is llama_split_path(prefix, i, n) =
    snprintf("%s-%05d-of-%05d.gguf", prefix, i + 1, n) (a ".gguf" prefix gives
    "x.gguf-00001-of-00003.gguf"). Numbers are 1-based in the name, 0-based in split.no.
Split plan (split_strategy constructor):
  * Input read with gguf_init_from_file(no_alloc = true, ctx = &ctx_meta). n_tensors = all tensors.
  * new_ctx_out(allow_no_tensors): i_split++; the previous ctx_out (if any) is pushed, but if it
    has 0 tensors and !allow_no_tensors -> "error: one of splits have 0 tensors. Maybe size or
    tensors limit is too small" and exit(1). The new ctx = gguf_init_empty(); ONLY for i_split
    == 0: gguf_set_kv(ctx_out, input) (ALL input KV pairs, in input order, shard 1 only); then
    for every shard gguf_set_val_u16("split.no", i_split), gguf_set_val_u16("split.count", 0)
    (placeholder), gguf_set_val_i32("split.tensors.count", n_tensors) (the TOTAL over all shards).
  * new_ctx_out(false) for shard 0; with --no-tensor-first-split a second new_ctx_out(true)
    right away, so shard 0 holds metadata only (0 tensors) and the tensors start in shard 1.
  * Tensors in INPUT order (gguf_get_tensor_name(input, i)); for each: n_bytes =
    GGML_PAD(ggml_nbytes(t), 32) (GGUF_DEFAULT_ALIGNMENT, whatever general.alignment says);
    next = curr + n_bytes; if should_split(i, next): new_ctx_out(false), curr = n_bytes; else
    curr = next; then gguf_add_tensor(ctx_out, t).
    - by tensors: should_split = i > 0 && i < n_tensors && i % N == 0 -> every shard that has
      tensors holds exactly N, the last the rest (n_tensors = 71, N = 20: 20 20 20 11).
    - by size: should_split = next > S, where the sum counts only padded TENSOR bytes of the
      current shard (metadata / header size is not counted, so a shard file can be larger than
      S: the first shard carries the whole KV section). A tensor larger than S on its own: at
      i = 0 (or right after the metadata-only shard) the current shard is still empty ->
      "one of splits have 0 tensors" and exit; anywhere else it starts a new shard, gets it
      alone (curr = its size > S, so the next tensor splits again) and that file exceeds S.
  * Then split.count of every shard = number of shards (gguf_set_val_u16 again).
  * gguf.cpp's gguf_set_val_* REMOVES an existing key and APPENDS it (gguf_remove_key +
    emplace_back), so the final KV order of every shard is: [input KVs (shard 0 only)],
    split.no (u16), split.tensors.count (i32), split.count (u16) -- split.count LAST.
    (Observed with this library too: see kv lists in the manifest.)
Writing (split_strategy::write): per shard, header = gguf_get_meta_data(ctx_out) (GGUF v3:
  magic, version, n_tensors i64, n_kv i64, KVs, tensor infos with offsets relative to the data
  section, each offset = previous + GGML_PAD(nbytes, 32), then zero padding to a multiple of
  ctx->alignment = 32 -- also for a shard with no tensors), then for each tensor its bytes
  (read at input data_offset + tensor offset) + zeros up to GGML_PAD(nbytes, 32). So every
  shard file size is a multiple of 32 and data offsets are 32-aligned. No general.alignment key
  is written (shard 0 copies it if the input has one; gguf_set_kv does NOT change ctx->alignment,
  so an input with general.alignment != 32 would give inconsistent shards -- not the case here).
  Before writing, print_info prints "n_split: %zu" and per shard "split %05d: n_tensors = %d,
  total_size = %zuM" with total = (meta size + sum of UNPADDED nbytes) / 1000 / 1000 (integer);
  --dry-run stops there. write() prints "Writing file %s ... done" per shard; the end prints
  (stderr) "gguf_split: %d gguf split written with a total of %d tensors.".
Merge (gguf_merge, --merge FIRST_SHARD OUT): refuses an existing OUT ("output file %s already
  exists"). First shard: needs split.count ("input file does not contain split.count metadata"),
  n_split = u16 value (< 1 -> "input file does not contain a valid split count %d"), the file
  name must end in -00001-of-NNNNN.gguf (llama_split_prefix; else "unexpected input file name:
  %s i_split=%d n_split=%d"); then it SETS split.count = 0 in the first shard's context
  (remove + append: it stays last) and copies ALL its KVs to the output -- so the merged file
  keeps split.no = 0, split.tensors.count and split.count = 0 (u16) after the original KVs and
  is NOT byte-identical to the unsplit input (the tensor data section is). The other shards'
  KVs are ignored (their split.no is not checked); tensors are appended shard by shard in
  shard order; data padded to 32 like the split. A split.count of 0 makes the loader treat the
  merged file as a single file.
Loader (llama_model_loader constructor, path given):
  * Main file via gguf_init_from_file; failure -> "llama_model_loader: failed to load model
    from %s". Its tensors go into weights_map (duplicate name -> "invalid model: tensor '%s'
    is duplicated"; each tensor must lie within its file: "tensor '%s' data is not within the
    file bounds, model is corrupted or incomplete").
  * n_split = split.count read as u16 (optional key; a present key of another type throws "key
    split.count has wrong type %s but expected type u16"). Only if n_split > 1:
    - split.no of the main file (REQUIRED, u16) must be 0, else "illegal split file idx: %d
      (file: %s), model must be loaded with the first split". llama.cpp does NOT find the first
      shard when given another one: loading shard 2 fails.
    - paths: the list given to llama_model_load_from_splits, else llama_get_list_splits: prefix
      = llama_split_prefix(path, 0, n_split) (the path must END with "-00001-of-NNNNN.gguf"
      with NNNNN = split.count, else "invalid split file name: %s"), shard i =
      llama_split_path(prefix, i, n_split) in the same directory. A given list must have
      n_split entries: "invalid split count, given: %zu splits, but expected %d".
    - shards 1..n-1 in order: gguf_init_from_file (a missing file -> ggml logs
      "gguf_init_from_file: failed to open GGUF file '%s' (No such file or directory)" and the
      loader throws "llama_model_loader: failed to load GGUF split from %s"); split.no must
      exist ("missing key split.no in GGUF split %s") and equal i ("invalid split file idx: %d
      (file: %s), expected %d"); the shards' split.count / split.tensors.count / KVs are NOT
      read (all hparams and vocab come from the first file only); duplicate tensor names across
      shards -> "invalid model: tensor '%s' is duplicated".
    - split.tensors.count of the FIRST file (REQUIRED, read as int = i32) must equal the number
      of distinct tensors loaded: "corrupted model: %d tensors expected but %d found".
    - success logs "llama_model_loader: additional %d GGUFs metadata loaded.".
  * Every error is a std::runtime_error caught in llama_model_load: LLAMA_LOG_ERROR
    "llama_model_load: error loading model: <text>" then "llama_model_load_from_file_impl:
    failed to load model"; llama_model_load_from_file returns NULL.
  * split.count == 1 (one shard) or 0 / absent: loaded as a plain single file (split.no is then
    not checked at all).
  * Tensor data of shard i is read at that shard's gguf data offset + tensor offset (mmap per
    file); nothing else depends on the split.

What this script makes (tests/data/llama_gguf_split, no shard files -- they are as large as the
model; the C++ test regenerates them with vkrwkv's writer and compares sha256):
  * Input: /work/shared/refmodels/tiny-qrwkv6-f16.gguf (rwkv6qwen2, 71 tensors, 23 KVs, GGUF v3,
    no general.alignment; its sha256 is in the manifest).
  * Runs (output prefix "tiny-qrwkv6-f16" in an empty directory each):
      a  --split-max-tensors 20                          -> 4 shards (20/20/20/11 tensors)
      b  --split-max-size 4M  (4000000 bytes)            -> 3 shards (33/33/5)
      c  --split-max-tensors 20 --no-tensor-first-split  -> 5 shards (0/20/20/20/11)
      d  --split-max-tensors 128 (the default)           -> 1 shard "-00001-of-00001.gguf"
    Per shard: file name, size, sha256, every KV (key, gguf type name, value for scalars,
    element type / count for arrays), tensor infos in order (name, ggml type, offset relative to
    the data section, nbytes), header size written (gguf_get_meta_size), gguf_get_data_offset /
    gguf_get_alignment of the file read back by the library, and the print_info lines.
  * Plan-only cases (no files; the port's plan with byte limits the CLI cannot express, to pin
    the size rule): S = 1M, 530000 B, 300000 B (first tensor 524288 B > S -> exit), and 300000 B
    with --no-tensor-first-split.
  * Loading: each set through llama_model_load_from_file(first shard); logits for token ids
    1..8 and for the "p16" prompt (gpt2 ids of /work/shared/refmodels/manifest.json), all
    positions, compared with the unsplit file (max abs diff; expected 0, bit-identical).
    The unsplit p16 logits are also checked against /work/shared/refmodels/
    tiny-qrwkv6-f16.p16.logits.f32 (harness check). Same for llama_model_load_from_splits
    with renamed files, and for the merged file of run a.
  * Failure cases on run a (NULL model + the library's log, temp paths replaced by <dir>):
    shard 2 given directly, shard 3 missing, first shard renamed, load_from_splits with shards
    2/3 swapped, with 3 of 4 paths, and the last shard truncated by 32 bytes.
  * llama_split_path / llama_split_prefix results of the library for a few inputs.

Observed with this library (all in the manifest; two runs give identical manifests apart from
"seconds"):
  * KV order in every shard ends split.no, split.tensors.count, split.count (the placeholder is
    removed and re-appended by gguf_set_val_u16), shard 0 has 26 KVs (23 input + 3), the others 3.
  * Sizes: run a 2660352 / 2440608 / 2239904 / 2165536 B; run b (4M) 3979136 / 3821792 /
    1705376 B (the first shard's 3979136 B includes its 28544 B header; tensor bytes alone stay
    <= 4000000); run c first shard 26368 B (header only); run d 9506048 B (96 B more than the
    input: the 3 split keys).
  * gguf_init_from_file of the metadata-only shard gives gguf_get_data_offset 26360 = end of the
    tensor-info section WITHOUT the padding (gguf.cpp only seeks to the aligned offset when
    n_tensors > 0), although the file is 26368 B (padding written). Readers must not treat the
    trailing zeros as an error.
  * Logits of every split set (first shard, llama_model_load_from_splits with renamed files,
    merged file) are bit-identical to the unsplit model (max abs diff 0).
  * Errors: shard 2 given directly -> "illegal split file idx: 1 (file: ...), model must be
    loaded with the first split"; shard 3 missing -> "gguf_init_from_file: failed to open GGUF
    file '...-00003-of-00004.gguf' (No such file or directory)" then "llama_model_loader:
    failed to load GGUF split from ..."; each followed by "llama_model_load_from_file_impl:
    failed to load model" and a NULL model.
  * Merged file: 9506048 B, data section identical to the input, header not (extra split.* KVs).

Rerun (needs only python3; see llama_quant_refs.py for fetching the library):

    python3 model/tools/llama_gguf_split_refs.py /tmp/npmtry/x/package/bins/linux-x64 \\
        tests/data/llama_gguf_split

Options: --refmodels DIR (default /work/shared/refmodels), --keep-shards DIR (write the shard
sets there instead of a temporary directory that is deleted at the end).
"""

import argparse
import array
import ctypes
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_quant_refs as lq  # noqa: E402  (ctypes layouts of the same build)
from llama_quant_refs import Lib, check, file_digest  # noqa: E402

INPUT_NAME = "tiny-qrwkv6-f16.gguf"
PREFIX = "tiny-qrwkv6-f16"
GGUF_DEFAULT_ALIGNMENT = 32
LLM_KV_SPLIT_NO = b"split.no"
LLM_KV_SPLIT_COUNT = b"split.count"
LLM_KV_SPLIT_TENSORS_COUNT = b"split.tensors.count"
N_CTX = 1024
N_THREADS = lq.N_THREADS
IDS_1_8 = [1, 2, 3, 4, 5, 6, 7, 8]

# gguf_type (ggml/include/gguf.h)
GGUF_TYPE_UINT8, GGUF_TYPE_INT8, GGUF_TYPE_UINT16, GGUF_TYPE_INT16 = 0, 1, 2, 3
GGUF_TYPE_UINT32, GGUF_TYPE_INT32, GGUF_TYPE_FLOAT32, GGUF_TYPE_BOOL = 4, 5, 6, 7
GGUF_TYPE_STRING, GGUF_TYPE_ARRAY, GGUF_TYPE_UINT64, GGUF_TYPE_INT64, GGUF_TYPE_FLOAT64 = 8, 9, 10, 11, 12

RUNS = [
    # name, argv options, mode, max tensors, max size string, no_tensor_first_split
    ("a", ["--split-max-tensors", "20"], "tensor", 20, None, False),
    ("b", ["--split-max-size", "4M"], "size", 128, "4M", False),
    ("c", ["--split-max-tensors", "20", "--no-tensor-first-split"], "tensor", 20, None, True),
    ("d", ["--split-max-tensors", "128"], "tensor", 128, None, False),
]


class GgufInitParams(ctypes.Structure):
    _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.POINTER(ctypes.c_void_p))]


class SplitError(Exception):
    pass


def pad(x, n=GGUF_DEFAULT_ALIGNMENT):
    return (x + n - 1) // n * n


def setup_protos(lib):
    b, l = lib.base, lib.llama
    vp, cp, i64, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_size_t
    b.gguf_init_from_file.restype = vp
    b.gguf_init_from_file.argtypes = [cp, GgufInitParams]
    b.gguf_init_empty.restype = vp
    b.gguf_free.argtypes = [vp]
    b.ggml_free.argtypes = [vp]
    for fn in ("gguf_get_n_tensors", "gguf_get_n_kv"):
        getattr(b, fn).restype = i64
        getattr(b, fn).argtypes = [vp]
    b.gguf_get_version.restype = ctypes.c_uint32
    b.gguf_get_version.argtypes = [vp]
    for fn in ("gguf_get_data_offset", "gguf_get_alignment", "gguf_get_meta_size"):
        getattr(b, fn).restype = sz
        getattr(b, fn).argtypes = [vp]
    b.gguf_get_meta_data.argtypes = [vp, vp]
    b.gguf_find_key.restype = i64
    b.gguf_find_key.argtypes = [vp, cp]
    b.gguf_find_tensor.restype = i64
    b.gguf_find_tensor.argtypes = [vp, cp]
    b.gguf_get_key.restype = cp
    b.gguf_get_key.argtypes = [vp, i64]
    b.gguf_get_kv_type.restype = ctypes.c_int
    b.gguf_get_kv_type.argtypes = [vp, i64]
    b.gguf_get_arr_type.restype = ctypes.c_int
    b.gguf_get_arr_type.argtypes = [vp, i64]
    b.gguf_get_arr_n.restype = sz
    b.gguf_get_arr_n.argtypes = [vp, i64]
    b.gguf_type_name.restype = cp
    b.gguf_type_name.argtypes = [ctypes.c_int]
    for fn, rt in (("u8", ctypes.c_uint8), ("i8", ctypes.c_int8), ("u16", ctypes.c_uint16),
                   ("i16", ctypes.c_int16), ("u32", ctypes.c_uint32), ("i32", ctypes.c_int32),
                   ("f32", ctypes.c_float), ("bool", ctypes.c_bool), ("u64", ctypes.c_uint64),
                   ("i64", ctypes.c_int64), ("f64", ctypes.c_double), ("str", cp)):
        f = getattr(b, "gguf_get_val_" + fn)
        f.restype = rt
        f.argtypes = [vp, i64]
    b.gguf_get_tensor_name.restype = cp
    b.gguf_get_tensor_name.argtypes = [vp, i64]
    b.gguf_get_tensor_offset.restype = sz
    b.gguf_get_tensor_offset.argtypes = [vp, i64]
    b.gguf_get_tensor_size.restype = sz
    b.gguf_get_tensor_size.argtypes = [vp, i64]
    b.gguf_get_tensor_type.restype = ctypes.c_int
    b.gguf_get_tensor_type.argtypes = [vp, i64]
    b.gguf_set_kv.argtypes = [vp, vp]
    b.gguf_set_val_u16.argtypes = [vp, cp, ctypes.c_uint16]
    b.gguf_set_val_i32.argtypes = [vp, cp, ctypes.c_int32]
    b.gguf_add_tensor.argtypes = [vp, vp]
    b.ggml_get_tensor.restype = vp
    b.ggml_get_tensor.argtypes = [vp, cp]
    b.ggml_nbytes.restype = sz
    b.ggml_nbytes.argtypes = [vp]
    for fn in ("llama_split_path", "llama_split_prefix"):
        getattr(l, fn).restype = ctypes.c_int
        getattr(l, fn).argtypes = [ctypes.c_char_p, sz, cp, ctypes.c_int, ctypes.c_int]
    l.llama_model_load_from_splits.restype = vp
    l.llama_model_load_from_splits.argtypes = [ctypes.POINTER(cp), sz, lq.LlamaModelParams]


def gguf_open(lib, path):
    """gguf_init_from_file(no_alloc = true, ctx = &ctx_meta) -> (gguf ctx, ggml ctx) or (None, None)."""
    ctx_meta = ctypes.c_void_p()
    g = lib.base.gguf_init_from_file(path.encode(), GgufInitParams(True, ctypes.pointer(ctx_meta)))
    return g, ctx_meta.value


def split_path(lib, prefix, i, n):
    buf = ctypes.create_string_buffer(4096)
    ret = lib.llama.llama_split_path(buf, len(buf), prefix.encode(), i, n)
    check(ret == len(buf.value), "llama_split_path return value")
    return buf.value.decode()


def split_prefix(lib, path, i, n):
    buf = ctypes.create_string_buffer(4096)
    ret = lib.llama.llama_split_prefix(buf, len(buf), path.encode(), i, n)
    return ret, (buf.value.decode() if ret else None)


def size_str_to_n_bytes(s):
    """split_str_to_n_bytes: last char M or G, sscanf %d of the string, decimal units."""
    m = re.match(r"\s*[+-]?\d+", s)
    n = int(m.group(0)) if m else 0
    if s[-1] == "M":
        nb = n * 1000 * 1000
    elif s[-1] == "G":
        nb = n * 1000 * 1000 * 1000
    else:
        raise SplitError("error: supported units are M (megabytes) or G (gigabytes), but got: " + s[-1])
    if n <= 0:
        raise SplitError("error: size must be a positive value")
    return nb


# --------------------------------------------------------------------------- gguf-split port

class SplitStrategy:
    """split_strategy of tools/gguf-split/gguf-split.cpp, on the library's gguf/ggml calls."""

    def __init__(self, lib, ctx_gguf, ctx_meta, mode, n_split_tensors, n_bytes_split,
                 no_tensor_first_split):
        b = lib.base
        self.lib, self.ctx_gguf, self.ctx_meta = lib, ctx_gguf, ctx_meta
        self.mode, self.n_split_tensors, self.n_bytes_split = mode, n_split_tensors, n_bytes_split
        self.n_tensors = b.gguf_get_n_tensors(ctx_gguf)
        self.ctx_outs = []
        self.i_split = -1
        self.ctx_out = None
        try:
            self.new_ctx_out(False)
            if no_tensor_first_split:
                self.new_ctx_out(True)
            curr = 0
            for i in range(self.n_tensors):
                t = b.ggml_get_tensor(ctx_meta, b.gguf_get_tensor_name(ctx_gguf, i))
                n_bytes = pad(b.ggml_nbytes(t))
                nxt = curr + n_bytes
                if self.should_split(i, nxt):
                    self.new_ctx_out(False)
                    curr = n_bytes
                else:
                    curr = nxt
                b.gguf_add_tensor(self.ctx_out, t)
            self.ctx_outs.append(self.ctx_out)
            self.ctx_out = None
        except SplitError:
            self.free()
            raise
        for c in self.ctx_outs:
            b.gguf_set_val_u16(c, LLM_KV_SPLIT_COUNT, len(self.ctx_outs))

    def new_ctx_out(self, allow_no_tensors):
        b = self.lib.base
        self.i_split += 1
        if self.ctx_out is not None:
            if b.gguf_get_n_tensors(self.ctx_out) == 0 and not allow_no_tensors:
                b.gguf_free(self.ctx_out)
                self.ctx_out = None
                raise SplitError("error: one of splits have 0 tensors. Maybe size or tensors "
                                 "limit is too small")
            self.ctx_outs.append(self.ctx_out)
        self.ctx_out = b.gguf_init_empty()
        if self.i_split == 0:  # all metadata in the first split only
            b.gguf_set_kv(self.ctx_out, self.ctx_gguf)
        b.gguf_set_val_u16(self.ctx_out, LLM_KV_SPLIT_NO, self.i_split)
        b.gguf_set_val_u16(self.ctx_out, LLM_KV_SPLIT_COUNT, 0)  # placeholder
        b.gguf_set_val_i32(self.ctx_out, LLM_KV_SPLIT_TENSORS_COUNT, self.n_tensors)

    def should_split(self, i_tensor, next_size):
        if self.mode == "size":
            return next_size > self.n_bytes_split
        if self.mode == "tensor":
            return 0 < i_tensor < self.n_tensors and i_tensor % self.n_split_tensors == 0
        raise AssertionError("invalid mode")

    def print_info(self):
        b = self.lib.base
        lines = ["n_split: %d" % len(self.ctx_outs)]
        for i, c in enumerate(self.ctx_outs):
            total = b.gguf_get_meta_size(c)
            for k in range(b.gguf_get_n_tensors(c)):
                total += b.ggml_nbytes(b.ggml_get_tensor(self.ctx_meta, b.gguf_get_tensor_name(c, k)))
            lines.append("split %05d: n_tensors = %d, total_size = %dM" % (
                i + 1, b.gguf_get_n_tensors(c), total // 1000 // 1000))
        return lines

    def plan(self):
        b = self.lib.base
        return [[b.gguf_get_tensor_name(c, k).decode() for k in range(b.gguf_get_n_tensors(c))]
                for c in self.ctx_outs]

    def write(self, input_path, out_prefix):
        b = self.lib.base
        n_split = len(self.ctx_outs)
        paths, stdout = [], []
        with open(input_path, "rb") as fin:
            for i_split, c in enumerate(self.ctx_outs):
                path = split_path(self.lib, out_prefix, i_split, n_split)
                stdout.append("Writing file %s ... done" % os.path.basename(path))
                meta = ctypes.create_string_buffer(b.gguf_get_meta_size(c))
                b.gguf_get_meta_data(c, meta)
                with open(path, "wb") as fout:
                    fout.write(meta.raw)
                    for k in range(b.gguf_get_n_tensors(c)):
                        name = b.gguf_get_tensor_name(c, k)
                        t = b.ggml_get_tensor(self.ctx_meta, name)
                        n_bytes = b.ggml_nbytes(t)
                        i_in = b.gguf_find_tensor(self.ctx_gguf, name)
                        off = b.gguf_get_data_offset(self.ctx_gguf) + b.gguf_get_tensor_offset(self.ctx_gguf, i_in)
                        fin.seek(off)
                        data = fin.read(n_bytes)
                        check(len(data) == n_bytes, "short read of " + name.decode())
                        fout.write(data)
                        fout.write(b"\0" * (pad(n_bytes) - n_bytes))
                paths.append(path)
        return paths, stdout

    def free(self):
        for c in self.ctx_outs + ([self.ctx_out] if self.ctx_out else []):
            self.lib.base.gguf_free(c)
        self.ctx_outs, self.ctx_out = [], None


def gguf_split(lib, input_path, out_prefix, mode, n_split_tensors, n_bytes_split,
               no_tensor_first_split, dry_run=False):
    b = lib.base
    ctx_gguf, ctx_meta = gguf_open(lib, input_path)
    check(ctx_gguf, "gguf_init_from_file " + input_path)
    try:
        st = SplitStrategy(lib, ctx_gguf, ctx_meta, mode, n_split_tensors, n_bytes_split,
                           no_tensor_first_split)
    except SplitError as e:
        b.gguf_free(ctx_gguf)
        b.ggml_free(ctx_meta)
        return {"error": str(e), "exit_code": 1}
    res = {"print_info": st.print_info(), "plan": st.plan()}
    if not dry_run:
        res["paths"], res["stdout_write"] = st.write(input_path, out_prefix)
    res["stderr_end"] = "gguf_split: %d gguf split written with a total of %d tensors." % (
        len(st.ctx_outs), st.n_tensors)
    st.free()
    b.gguf_free(ctx_gguf)
    b.ggml_free(ctx_meta)
    return res


def gguf_merge(lib, first_path, out_path):
    """gguf_merge of tools/gguf-split/gguf-split.cpp (no --dry-run / --delete-splits)."""
    b = lib.base
    check(not os.path.exists(out_path), "gguf_merge: output file %s already exists" % out_path)
    ctx_out = b.gguf_init_empty()
    ctx_ggufs, ctx_metas, paths = [], [], []
    n_split = 1
    prefix = None
    total_tensors = 0
    i_split = 0
    while i_split < n_split:
        path = first_path if i_split == 0 else split_path(lib, prefix, i_split, n_split)
        g, m = gguf_open(lib, path)
        check(g, "gguf_merge: failed to load input GGUF from " + path)
        ctx_ggufs.append(g)
        ctx_metas.append(m)
        paths.append(path)
        if i_split == 0:
            kid = b.gguf_find_key(g, LLM_KV_SPLIT_COUNT)
            check(kid >= 0, "input file does not contain split.count metadata")
            n_split = b.gguf_get_val_u16(g, kid)
            check(n_split >= 1, "input file does not contain a valid split count %d" % n_split)
            ret, prefix = split_prefix(lib, path, i_split, n_split)
            check(ret, "unexpected input file name: %s i_split=%d n_split=%d" % (path, i_split, n_split))
            b.gguf_set_val_u16(g, LLM_KV_SPLIT_COUNT, 0)  # do not trigger merge again
            b.gguf_set_kv(ctx_out, g)
        for k in range(b.gguf_get_n_tensors(g)):
            b.gguf_add_tensor(ctx_out, b.ggml_get_tensor(m, b.gguf_get_tensor_name(g, k)))
        total_tensors += b.gguf_get_n_tensors(g)
        i_split += 1
    meta_size = b.gguf_get_meta_size(ctx_out)
    with open(out_path, "wb") as fout:
        fout.write(b"\0" * meta_size)
        for i_split in range(n_split):
            g, m = ctx_ggufs[i_split], ctx_metas[i_split]
            with open(split_path(lib, prefix, i_split, n_split), "rb") as fin:
                for k in range(b.gguf_get_n_tensors(g)):
                    t = b.ggml_get_tensor(m, b.gguf_get_tensor_name(g, k))
                    n_bytes = b.ggml_nbytes(t)
                    fin.seek(b.gguf_get_data_offset(g) + b.gguf_get_tensor_offset(g, k))
                    data = fin.read(n_bytes)
                    check(len(data) == n_bytes, "short read in merge")
                    fout.write(data)
                    fout.write(b"\0" * (pad(n_bytes) - n_bytes))
            b.gguf_free(g)
            b.ggml_free(m)
        fout.seek(0)
        meta = ctypes.create_string_buffer(b.gguf_get_meta_size(ctx_out))
        b.gguf_get_meta_data(ctx_out, meta)
        check(len(meta.raw) == meta_size, "merge meta size changed")
        fout.write(meta.raw)
    b.gguf_free(ctx_out)
    return {"n_split": n_split, "total_tensors": total_tensors,
            "stderr_end": "gguf_merge: %s merged from %d split with %d tensors." % (
                os.path.basename(out_path), n_split, total_tensors)}


# --------------------------------------------------------------------------- inspection

def kv_value(lib, g, i):
    b = lib.base
    t = b.gguf_get_kv_type(g, i)
    e = {"key": b.gguf_get_key(g, i).decode(), "type": b.gguf_type_name(t).decode()}
    if t == GGUF_TYPE_ARRAY:
        at = b.gguf_get_arr_type(g, i)
        e["array_type"] = b.gguf_type_name(at).decode()
        e["n"] = b.gguf_get_arr_n(g, i)
        return e
    getter = {GGUF_TYPE_UINT8: "u8", GGUF_TYPE_INT8: "i8", GGUF_TYPE_UINT16: "u16",
              GGUF_TYPE_INT16: "i16", GGUF_TYPE_UINT32: "u32", GGUF_TYPE_INT32: "i32",
              GGUF_TYPE_FLOAT32: "f32", GGUF_TYPE_BOOL: "bool", GGUF_TYPE_UINT64: "u64",
              GGUF_TYPE_INT64: "i64", GGUF_TYPE_FLOAT64: "f64", GGUF_TYPE_STRING: "str"}[t]
    v = getattr(b, "gguf_get_val_" + getter)(g, i)
    e["value"] = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
    return e


def describe_gguf(lib, path):
    """What the library reads back from a (shard) file."""
    b = lib.base
    g, m = gguf_open(lib, path)
    check(g, "gguf_init_from_file " + path)
    n_t = b.gguf_get_n_tensors(g)
    tensors = []
    end = 0
    for k in range(n_t):
        name = b.gguf_get_tensor_name(g, k).decode()
        off = b.gguf_get_tensor_offset(g, k)
        nb = b.gguf_get_tensor_size(g, k)
        tensors.append([name, lq.GGUF_TYPE_NAMES.get(b.gguf_get_tensor_type(g, k)), off, nb])
        end = off + pad(nb)
    d = {"file": os.path.basename(path), "bytes": os.path.getsize(path), "sha256": file_digest(path),
         "gguf_version": b.gguf_get_version(g), "n_kv": b.gguf_get_n_kv(g), "n_tensors": n_t,
         "kv": [kv_value(lib, g, i) for i in range(b.gguf_get_n_kv(g))],
         "gguf_get_alignment": b.gguf_get_alignment(g),
         "gguf_get_data_offset": b.gguf_get_data_offset(g),
         "meta_size_reencoded": b.gguf_get_meta_size(g),
         "data_section_bytes": end,
         "tensors_columns": ["name", "type", "offset_in_data_section", "nbytes"],
         "tensors": tensors}
    b.gguf_free(g)
    b.ggml_free(m)
    return d


# --------------------------------------------------------------------------- loading / logits

def model_params(lib):
    mp = lib.llama.llama_model_default_params()
    mp.n_gpu_layers = 0
    return mp


def eval_model(lib, model, prompts):
    """Same context setup as llama_quant_refs.run_logits: one llama_decode per prompt, fresh
    context, all positions' logits. Returns {name: array('f')}, n_vocab."""
    l = lib.llama
    n_vocab = l.llama_vocab_n_tokens(l.llama_model_get_vocab(model))
    out = {}
    for pname, ids in prompts:
        cp = l.llama_context_default_params()
        cp.n_ctx = cp.n_batch = cp.n_ubatch = N_CTX
        cp.n_seq_max = 1
        cp.n_threads = cp.n_threads_batch = N_THREADS
        cp.no_perf = True
        ctx = l.llama_init_from_model(model, cp)
        check(ctx, "llama_init_from_model")
        n = len(ids)
        batch = l.llama_batch_init(n, 0, 1)
        for i, tok in enumerate(ids):
            batch.token[i] = tok
            batch.pos[i] = i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = 1
        batch.n_tokens = n
        check(l.llama_decode(ctx, batch) == 0, "llama_decode")
        buf = array.array("f")
        for i in range(n):
            p = l.llama_get_logits_ith(ctx, i)
            check(bool(p), "logits row %d" % i)
            buf.frombytes(ctypes.string_at(p, 4 * n_vocab))
        l.llama_batch_free(batch)
        l.llama_free(ctx)
        out[pname] = buf
    return out, n_vocab


def norm(text, dirs):
    for d, name in dirs:
        text = text.replace(d, name)
    return text


def interesting(log):
    keep = []
    for ln in log.splitlines():
        if re.search(r"split|GGUFs|loaded meta data|error|failed|illegal|invalid|corrupted|"
                     r"duplicated|not within", ln, re.I):
            keep.append(ln)
    return keep


def try_load(lib, paths, dirs, use_splits_api=False):
    """Load (path or explicit list); returns (model or None, record)."""
    l = lib.llama
    lib.take_log()
    if use_splits_api:
        arr = (ctypes.c_char_p * len(paths))(*[p.encode() for p in paths])
        model = l.llama_model_load_from_splits(arr, len(paths), model_params(lib))
        call = "llama_model_load_from_splits([%s])" % ", ".join(norm(p, dirs) for p in paths)
    else:
        model = l.llama_model_load_from_file(paths[0].encode(), model_params(lib))
        call = "llama_model_load_from_file(%s)" % norm(paths[0], dirs)
    log = norm(lib.take_log(), dirs)
    rec = {"call": call, "returned": "model" if model else "NULL"}
    if model:
        rec["log_lines"] = interesting(log)
    else:
        rec["log"] = log.splitlines()
    return model, rec


def compare(a, b_):
    check(len(a) == len(b_), "logit length mismatch")
    mx = max(abs(x - y) for x, y in zip(a, b_))
    return {"max_abs_diff": mx, "bit_identical": a.tobytes() == b_.tobytes()}


def load_and_compare(lib, paths, dirs, prompts, ref, use_splits_api=False):
    model, rec = try_load(lib, paths, dirs, use_splits_api)
    check(model, "load failed: %s\n%s" % (rec["call"], "\n".join(rec.get("log", []))))
    lg, _ = eval_model(lib, model, prompts)
    lib.llama.llama_model_free(model)
    rec["logits_vs_unsplit"] = {p: compare(lg[p], ref[p]) for p, _ in prompts}
    return rec


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bins", help="dir with libllama.v0.5.0.so, libggml*.so, libggml-cpu-*.so")
    ap.add_argument("out", help="output dir (created)")
    ap.add_argument("--refmodels", default="/work/shared/refmodels")
    ap.add_argument("--keep-shards", default=None, help="write the shard sets here (kept)")
    ap.add_argument("--max-f16-diff", type=float, default=1e-3)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()

    lib = Lib(args.bins)
    setup_protos(lib)
    backend = lib.load_cpu_backend()
    build = {}
    try:
        with open(os.path.join(args.bins, "_nlcBuildMetadata.json")) as f:
            build = json.load(f)
    except OSError:
        pass

    src = os.path.join(args.refmodels, INPUT_NAME)
    if args.keep_shards:
        work = os.path.abspath(args.keep_shards)
        os.makedirs(work, exist_ok=True)
        check(not os.listdir(work), "--keep-shards dir must be empty")
    else:
        work = tempfile.mkdtemp(prefix="gguf_split_refs_")
    dirs = [(work, "<dir>")]

    with open(os.path.join(args.refmodels, "manifest.json")) as f:
        refm = json.load(f)
    p16 = [p["ids"]["gpt2"] for p in refm["prompts"] if p["name"] == "p16"][0]
    prompts = [("ids_1_8", IDS_1_8), ("p16", p16)]

    # ---- the unsplit model: input description and reference logits
    inp = describe_gguf(lib, src)
    inp_entry = {"file": INPUT_NAME, "location": src, "bytes": inp["bytes"], "sha256": inp["sha256"],
                 "gguf_version": inp["gguf_version"], "n_kv": inp["n_kv"], "n_tensors": inp["n_tensors"],
                 "gguf_get_alignment": inp["gguf_get_alignment"],
                 "gguf_get_data_offset": inp["gguf_get_data_offset"],
                 "kv_keys": [k["key"] for k in inp["kv"]],
                 "tensor_names_in_order": [t[0] for t in inp["tensors"]],
                 "padded_tensor_bytes_total": inp["data_section_bytes"]}
    model, rec_unsplit = try_load(lib, [src], [(os.path.dirname(src), "<refmodels>")])
    check(model, "load unsplit model")
    ref, n_vocab = eval_model(lib, model, prompts)
    lib.llama.llama_model_free(model)
    shared = array.array("f")
    with open(os.path.join(args.refmodels, "tiny-qrwkv6-f16.p16.logits.f32"), "rb") as f:
        shared.frombytes(f.read())
    harness = compare(ref["p16"], shared)
    check(harness["max_abs_diff"] <= args.max_f16_diff, "harness check vs shared p16 logits: %r" % harness)
    print("unsplit: p16 vs shared reference max abs %g" % harness["max_abs_diff"], flush=True)

    # ---- naming helpers of the library
    naming = {"format": "%s-%05d-of-%05d.gguf (split_no + 1, split_count)",
              "llama_split_path": [], "llama_split_prefix": []}
    for pre, i, n in (("/models/m", 0, 3), ("/models/m", 2, 3), ("m.gguf", 0, 1), ("m", 99999, 100000)):
        naming["llama_split_path"].append({"prefix": pre, "split_no": i, "split_count": n,
                                           "result": split_path(lib, pre, i, n)})
    for pth, i, n in (("/models/m-00001-of-00003.gguf", 0, 3), ("/models/m-00002-of-00003.gguf", 1, 3),
                      ("/models/m-00002-of-00003.gguf", 0, 3), ("/models/m-00001-of-00004.gguf", 0, 3),
                      ("-00001-of-00003.gguf", 0, 3), ("m.gguf", 0, 1)):
        ret, pre = split_prefix(lib, pth, i, n)
        naming["llama_split_prefix"].append({"path": pth, "split_no": i, "split_count": n,
                                             "return": ret, "prefix": pre})

    # ---- the split runs
    runs = []
    sets = {}
    for name, opts, mode, n_t, size_s, ntfs in RUNS:
        d = os.path.join(work, "run_" + name)
        os.makedirs(d)
        n_bytes = size_str_to_n_bytes(size_s) if size_s else 0
        res = gguf_split(lib, src, os.path.join(d, PREFIX), mode, n_t, n_bytes, ntfs)
        check("error" not in res, "split run %s: %s" % (name, res.get("error")))
        shards = []
        for k, p in enumerate(res["paths"]):
            sh = describe_gguf(lib, p)
            sh["header_bytes_written"] = sh["bytes"] - sh["data_section_bytes"]
            check(sh["header_bytes_written"] % GGUF_DEFAULT_ALIGNMENT == 0
                  and sh["bytes"] % GGUF_DEFAULT_ALIGNMENT == 0, "32-byte alignment")
            check([t[0] for t in sh["tensors"]] == res["plan"][k], "tensor order of shard %d" % k)
            shards.append(sh)
        sets[name] = res["paths"]
        run = {"name": name,
               "command": "llama-gguf-split %s %s %s" % (" ".join(opts), INPUT_NAME, PREFIX),
               "options": opts, "mode": mode,
               "split_max_tensors": n_t if mode == "tensor" else None,
               "split_max_size": size_s, "split_max_size_bytes": n_bytes if mode == "size" else None,
               "no_tensor_first_split": ntfs, "output_prefix": PREFIX,
               "n_split": len(shards),
               "tensors_per_shard": [s["n_tensors"] for s in shards],
               "shard_bytes": [s["bytes"] for s in shards],
               "print_info_stdout": res["print_info"],
               "write_stdout": res["stdout_write"], "stderr_end": res["stderr_end"],
               "shards": shards}
        # the concatenated tensor order equals the input order
        check(sum(([t[0] for t in s["tensors"]] for s in shards), []) == inp_entry["tensor_names_in_order"],
              "run %s: tensor order" % name)
        # load through the first shard and compare logits
        run["load_first_shard"] = load_and_compare(lib, [res["paths"][0]], dirs, prompts, ref)
        runs.append(run)
        print("run %s: %d shards, tensors %s, bytes %s, logits %s" % (
            name, len(shards), run["tensors_per_shard"], run["shard_bytes"],
            {p: v["max_abs_diff"] for p, v in run["load_first_shard"]["logits_vs_unsplit"].items()}),
            flush=True)

    # ---- plan-only cases (sizes the CLI cannot express, for the size rule)
    plan_only = []
    for label, mode, n_t, nb, ntfs in (("--split-max-size 1M", "size", 128, 1000000, False),
                                       ("n_bytes_split = 530000 (not a CLI value)", "size", 128, 530000, False),
                                       ("n_bytes_split = 300000 (not a CLI value)", "size", 128, 300000, False),
                                       ("n_bytes_split = 300000 + --no-tensor-first-split", "size", 128, 300000, True),
                                       ("--split-max-tensors 1", "tensor", 1, 0, False),
                                       ("--split-max-tensors 71", "tensor", 71, 0, False),
                                       ("--split-max-tensors 70", "tensor", 70, 0, False)):
        res = gguf_split(lib, src, None, mode, n_t, nb, ntfs, dry_run=True)
        e = {"case": label, "mode": mode, "n_split_tensors": n_t if mode == "tensor" else None,
             "n_bytes_split": nb if mode == "size" else None, "no_tensor_first_split": ntfs}
        if "error" in res:
            e.update(error=res["error"], exit_code=res["exit_code"])
        else:
            e.update(tensors_per_shard=[len(x) for x in res["plan"]],
                     first_tensor_per_shard=[x[0] if x else None for x in res["plan"]])
            if len(res["plan"]) <= 12:
                e["print_info_stdout"] = res["print_info"]
        plan_only.append(e)

    # ---- other ways of loading run a, and failure cases
    a = sets["a"]
    extra = []
    # explicit list with arbitrary names (llama_model_load_from_splits)
    rd = os.path.join(work, "renamed")
    os.makedirs(rd)
    ren = []
    for k, p in enumerate(a):
        q = os.path.join(rd, "part%d.bin" % k)
        shutil.copyfile(p, q)
        ren.append(q)
    r = load_and_compare(lib, ren, dirs, prompts, ref, use_splits_api=True)
    r["case"] = "llama_model_load_from_splits with the 4 shards renamed part0.bin..part3.bin, in order"
    extra.append(r)
    failures = []

    def fail_case(label, paths, api=False):
        model, rec = try_load(lib, paths, dirs, api)
        if model:
            lib.llama.llama_model_free(model)
        check(not model, "expected failure: " + label)
        rec["case"] = label
        failures.append(rec)

    fail_case("shard 2 of 4 given directly", [a[1]])
    md = os.path.join(work, "missing")
    os.makedirs(md)
    for p in a:
        shutil.copyfile(p, os.path.join(md, os.path.basename(p)))
    os.remove(os.path.join(md, os.path.basename(a[2])))
    fail_case("shard 3 of 4 missing (copied set without -00003-of-00004)",
              [os.path.join(md, os.path.basename(a[0]))])
    fail_case("first shard renamed to part0.bin (name does not end in -00001-of-00004.gguf)", [ren[0]])
    fail_case("llama_model_load_from_splits with shards 2 and 3 swapped", [a[0], a[2], a[1], a[3]], True)
    fail_case("llama_model_load_from_splits with 3 of 4 paths", a[:3], True)
    td = os.path.join(work, "truncated")
    os.makedirs(td)
    for p in a:
        shutil.copyfile(p, os.path.join(td, os.path.basename(p)))
    last = os.path.join(td, os.path.basename(a[3]))
    with open(last, "r+b") as f:
        f.truncate(os.path.getsize(last) - 32)
    fail_case("last shard truncated by 32 bytes (removes the padding and 32 B of the last tensor)",
              [os.path.join(td, os.path.basename(a[0]))])
    for r in failures:
        print("fail case: %s -> %s" % (r["case"], [ln for ln in r["log"] if "error" in ln.lower()
                                                  or "failed" in ln.lower()]), flush=True)

    # ---- merge of run a
    merged = os.path.join(work, "merged.gguf")
    mres = gguf_merge(lib, a[0], merged)
    md_ = describe_gguf(lib, merged)
    with open(merged, "rb") as f:
        mdata = f.read()
    with open(src, "rb") as f:
        sdata = f.read()
    merge = {"command": "llama-gguf-split --merge %s merged.gguf" % os.path.basename(a[0]),
             "result": mres, "file": "merged.gguf", "bytes": md_["bytes"], "sha256": md_["sha256"],
             "identical_to_input": mdata == sdata,
             "data_section_identical_to_input":
                 mdata[md_["gguf_get_data_offset"]:] == sdata[inp["gguf_get_data_offset"]:],
             "kv": md_["kv"][-4:], "n_kv": md_["n_kv"], "n_tensors": md_["n_tensors"],
             "gguf_get_data_offset": md_["gguf_get_data_offset"],
             "tensor_order_equals_input": [t[0] for t in md_["tensors"]] == inp_entry["tensor_names_in_order"]}
    merge["load"] = load_and_compare(lib, [merged], dirs, prompts, ref)
    print("merge: identical %s, data identical %s, bytes %d" % (
        merge["identical_to_input"], merge["data_section_identical_to_input"], merge["bytes"]), flush=True)

    manifest = {
        "description": "llama-gguf-split reference data: shard layouts written with ggml's gguf "
                       "functions (Python port of tools/gguf-split/gguf-split.cpp), loaded by "
                       "llama.cpp; see model/tools/llama_gguf_split_refs.py docstring for the facts",
        "llama_cpp_source": {"repo": "ggml-org/llama.cpp", "files": {
            "tools/gguf-split/gguf-split.cpp": "3e00f05f2f854195b1a271f935e5b8925b52ab0b",
            "src/llama-model-loader.cpp": "00347649deb8a4cb47fa2a22007704174f9994e1",
            "src/llama-model-loader.h": "01b75d6a104417dc995d8beb6761254624e7f478",
            "src/llama.cpp": "01649e61c782d88825d9f5affb6acbad0f57fb9b",
            "ggml/src/gguf.cpp": "067d44f6c48459f7a82dbafc6fbd0bae97755a4e"}},
        "library": {"package": "@node-llama-cpp/linux-x64 3.22.1", "build": build,
                    "llama_version()": lib.llama.llama_version().decode(),
                    "ggml_version()": lib.base.ggml_version().decode(),
                    "ggml_commit()": lib.base.ggml_commit().decode(), "backend": backend},
        "input": inp_entry,
        "keys": {"split.no": "u16, 0-based index of the shard, in every shard",
                 "split.count": "u16, number of shards, in every shard (written last)",
                 "split.tensors.count": "i32, total tensors of the whole set, in every shard",
                 "order": "shard 0: input KVs in input order, then split.no, split.tensors.count, "
                          "split.count; other shards: only those 3, same order"},
        "naming": naming,
        "alignment": {"GGUF_DEFAULT_ALIGNMENT": GGUF_DEFAULT_ALIGNMENT,
                      "rule": "header zero-padded to a multiple of 32 (also with 0 tensors); each "
                              "tensor's data zero-padded to 32; offsets relative to the data section"},
        "prompts": {"ids_1_8": IDS_1_8, "p16": p16, "p16_source": "refmodels manifest.json, gpt2 ids"},
        "unsplit_load": rec_unsplit,
        "unsplit_p16_vs_shared_reference": harness,
        "n_vocab": n_vocab,
        "runs": runs,
        "plan_only": plan_only,
        "other_loads": extra,
        "load_failures": failures,
        "merge": merge,
        "seconds": round(time.time() - t0, 1),
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    if not args.keep_shards:
        shutil.rmtree(work)
    print("done in %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
