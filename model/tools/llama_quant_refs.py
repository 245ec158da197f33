#!/usr/bin/env python3
"""Independent reference data for the GGUF quant types Q4_1, Q2_K, Q3_K, IQ4_NL, IQ4_XS,
produced by llama.cpp / ggml themselves (not by vkrwkv code).

What it makes (all in OUT_DIR):

* Quantized models: tiny-qrwkv6-<Q>.gguf and tiny-rwkv6-<Q>.gguf for <Q> in
  Q4_1, Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, IQ4_NL, IQ4_XS, made with llama.cpp's
  llama_model_quantize (nthread 2, default params, no imatrix) from
  /work/shared/refmodels/tiny-{qrwkv6,rwkv6}-f16.gguf.
* Logits: <model>.<prompt>.logits.f32 for every produced model and for the two f16 source
  models (harness check), prompts p16 / p150 of /work/shared/refmodels/manifest.json (token ids
  of the model's tokenizer family: "gpt2" for rwkv6qwen2, "rwkv" for rwkv6). Raw little-endian
  float32 [n_tokens][n_vocab]; row t = logits after tokens 0..t from a fresh state. Computed by
  llama.cpp's CPU backend: one llama_decode with the whole prompt (n_ctx = n_batch = n_ubatch =
  1024, n_seq_max 1, 2 threads), logits requested for every position.
  The f16 logits are compared with /work/shared/refmodels/tiny-*-f16.*.logits.f32 (made by
  another llama.cpp build); the script aborts if they differ by more than --max-f16-diff.
* Dequant goldens: dequant_<T>.bin (64 raw blocks of random bytes whose fp16 fields -- d, and
  m / dmin where the block has one -- are replaced by random finite halves, |h| in [1e-3, 1],
  both signs) and dequant_<T>.f32 (what ggml's type_traits(T)->to_float makes of them),
  for T in Q4_1, Q2_K, Q3_K, IQ4_NL, IQ4_XS.
* Quantize goldens: quant_input.f32 (8 rows x 512 float32, fixed seed: gaussian, uniform,
  gaussian with outliers, zeros, tiny ~1e-6, constant positive, small gaussian ~0.02,
  uniform positive [0, 3)) and quant_<T>.bin = type_traits(T)->from_float_ref applied row by
  row, rows concatenated. ggml_quantize_chunk (imatrix NULL; what llama_model_quantize uses) is
  also run; where its bytes differ from the _ref ones they are written as quant_<T>.chunk.bin
  and the manifest says so. (IQ4_NL: ggml's _ref leaves the qs bytes of all-zero blocks
  uninitialized -- d = 0 there -- so the script zeroes those bytes; listed in the manifest.)
* manifest.json: library versions, every model file (size, sha256, ftype, per-tensor
  name/type/shape, type counts, quantizer fallback notes), every logits file (n_tokens, n_vocab,
  diff vs the f16 model / vs the shared reference), every golden (type, block elems / bytes,
  counts, sha256).

Library: a prebuilt llama.cpp (node-llama-cpp's @node-llama-cpp/linux-x64 3.22.1 bins:
libllama.v0.5.0.so, libggml.v0.5.0.so, libggml-base.so, libggml-cpu-*.so). The ctypes struct
layouts below were taken from that build (disassembly of the *_default_params functions,
checked against the matching include/llama.h revision: llama_model_params with load_mode /
lazy_mode, llama_context_params with n_outputs_max_per_seq and ctx_other,
llama_model_quantize_params with max_buf_size). The script checks the default values on
load and refuses to run if they do not look as expected.

Rerun (needs only python3; nothing is installed):

    mkdir -p /tmp/npmtry && cd /tmp/npmtry && npm pack @node-llama-cpp/linux-x64@3.22.1 \
        && mkdir x && tar xzf *.tgz -C x
    python3 model/tools/llama_quant_refs.py /tmp/npmtry/x/package/bins/linux-x64 \
        tests/data/llama_quant

Options: --refmodels DIR (default /work/shared/refmodels), --skip-models (only goldens).
"""

import argparse
import array
import ctypes
import hashlib
import json
import math
import os
import random
import re
import struct
import sys
import time

if sys.byteorder != "little":
    raise SystemExit("little-endian host required")

# --------------------------------------------------------------------------- constants

# llama_ftype values (include/llama.h)
FTYPES = [
    ("Q4_1", 3),
    ("Q2_K", 10),
    ("Q3_K_S", 11),
    ("Q3_K_M", 12),
    ("Q3_K_L", 13),
    ("IQ4_NL", 25),
    ("IQ4_XS", 30),
]
FTYPE_NAMES = {0: "ALL_F32", 1: "MOSTLY_F16", 2: "MOSTLY_Q4_0", 3: "MOSTLY_Q4_1", 7: "MOSTLY_Q8_0",
               8: "MOSTLY_Q5_0", 9: "MOSTLY_Q5_1", 10: "MOSTLY_Q2_K", 11: "MOSTLY_Q3_K_S",
               12: "MOSTLY_Q3_K_M", 13: "MOSTLY_Q3_K_L", 14: "MOSTLY_Q4_K_S", 15: "MOSTLY_Q4_K_M",
               16: "MOSTLY_Q5_K_S", 17: "MOSTLY_Q5_K_M", 18: "MOSTLY_Q6_K", 25: "MOSTLY_IQ4_NL",
               30: "MOSTLY_IQ4_XS"}

# ggml_type ids (ggml/include/ggml.h); checked at run time against ggml_type_name()
GGML_TYPES = [("Q4_1", 3), ("Q2_K", 10), ("Q3_K", 11), ("IQ4_NL", 20), ("IQ4_XS", 23)]

# byte offsets of the fp16 fields in each block (ggml/src/ggml-common.h)
#   block_q4_1   {half d; half m; u8 qs[16]}                                     20 B / 32
#   block_q2_K   {u8 scales[16]; u8 qs[64]; half d; half dmin}                    84 B / 256
#   block_q3_K   {u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d}                110 B / 256
#   block_iq4_nl {half d; u8 qs[16]}                                              18 B / 32
#   block_iq4_xs {half d; u16 scales_h; u8 scales_l[4]; u8 qs[128]}              136 B / 256
BLOCK_LAYOUT = {
    "Q4_1": (32, 20, [0, 2]),
    "Q2_K": (256, 84, [80, 82]),
    "Q3_K": (256, 110, [108]),
    "IQ4_NL": (32, 18, [0]),
    "IQ4_XS": (256, 136, [0]),
}

MODELS = [("tiny-qrwkv6", "gpt2"), ("tiny-rwkv6", "rwkv")]
N_CTX = 1024
N_THREADS = 2

GGUF_TYPE_NAMES = {}  # filled from ggml_type_name


# --------------------------------------------------------------------------- ctypes structs

class LlamaModelParams(ctypes.Structure):
    _fields_ = [
        ("devices", ctypes.c_void_p),
        ("tensor_buft_overrides", ctypes.c_void_p),
        ("n_gpu_layers", ctypes.c_int32),
        ("split_mode", ctypes.c_int32),
        ("load_mode", ctypes.c_int32),
        ("lazy_mode", ctypes.c_int32),
        ("main_gpu", ctypes.c_int32),
        ("tensor_split", ctypes.c_void_p),
        ("progress_callback", ctypes.c_void_p),
        ("progress_callback_user_data", ctypes.c_void_p),
        ("kv_overrides", ctypes.c_void_p),
        ("vocab_only", ctypes.c_bool),
        ("check_tensors", ctypes.c_bool),
        ("use_extra_bufts", ctypes.c_bool),
        ("no_host", ctypes.c_bool),
        ("no_alloc", ctypes.c_bool),
        ("load_mtp", ctypes.c_bool),
    ]


class LlamaContextParams(ctypes.Structure):
    _fields_ = [
        ("n_ctx", ctypes.c_uint32),
        ("n_batch", ctypes.c_uint32),
        ("n_ubatch", ctypes.c_uint32),
        ("n_seq_max", ctypes.c_uint32),
        ("n_rs_seq", ctypes.c_uint32),
        ("n_outputs_max", ctypes.c_uint32),
        ("n_outputs_max_per_seq", ctypes.c_uint32),
        ("n_threads", ctypes.c_int32),
        ("n_threads_batch", ctypes.c_int32),
        ("ctx_type", ctypes.c_int32),
        ("rope_scaling_type", ctypes.c_int32),
        ("pooling_type", ctypes.c_int32),
        ("attention_type", ctypes.c_int32),
        ("flash_attn_type", ctypes.c_int32),
        ("rope_freq_base", ctypes.c_float),
        ("rope_freq_scale", ctypes.c_float),
        ("yarn_ext_factor", ctypes.c_float),
        ("yarn_attn_factor", ctypes.c_float),
        ("yarn_beta_fast", ctypes.c_float),
        ("yarn_beta_slow", ctypes.c_float),
        ("yarn_orig_ctx", ctypes.c_uint32),
        ("defrag_thold", ctypes.c_float),
        ("cb_eval", ctypes.c_void_p),
        ("cb_eval_user_data", ctypes.c_void_p),
        ("type_k", ctypes.c_int32),
        ("type_v", ctypes.c_int32),
        ("abort_callback", ctypes.c_void_p),
        ("abort_callback_data", ctypes.c_void_p),
        ("embeddings", ctypes.c_bool),
        ("offload_kqv", ctypes.c_bool),
        ("no_perf", ctypes.c_bool),
        ("op_offload", ctypes.c_bool),
        ("swa_full", ctypes.c_bool),
        ("kv_unified", ctypes.c_bool),
        ("samplers", ctypes.c_void_p),
        ("n_samplers", ctypes.c_size_t),
        ("ctx_other", ctypes.c_void_p),
    ]


class LlamaQuantizeParams(ctypes.Structure):
    _fields_ = [
        ("nthread", ctypes.c_int32),
        ("ftype", ctypes.c_int32),
        ("output_tensor_type", ctypes.c_int32),
        ("token_embedding_type", ctypes.c_int32),
        ("allow_requantize", ctypes.c_bool),
        ("quantize_output_tensor", ctypes.c_bool),
        ("only_copy", ctypes.c_bool),
        ("pure", ctypes.c_bool),
        ("keep_split", ctypes.c_bool),
        ("dry_run", ctypes.c_bool),
        ("imatrix", ctypes.c_void_p),
        ("kv_overrides", ctypes.c_void_p),
        ("tt_overrides", ctypes.c_void_p),
        ("prune_layers", ctypes.c_void_p),
        ("max_buf_size", ctypes.c_size_t),
    ]


class LlamaBatch(ctypes.Structure):
    _fields_ = [
        ("n_tokens", ctypes.c_int32),
        ("token", ctypes.POINTER(ctypes.c_int32)),
        ("embd", ctypes.POINTER(ctypes.c_float)),
        ("pos", ctypes.POINTER(ctypes.c_int32)),
        ("n_seq_id", ctypes.POINTER(ctypes.c_int32)),
        ("seq_id", ctypes.POINTER(ctypes.POINTER(ctypes.c_int32))),
        ("logits", ctypes.POINTER(ctypes.c_int8)),
    ]


TO_FLOAT_T = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
FROM_FLOAT_T = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


class GgmlTypeTraits(ctypes.Structure):
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


LOG_CB_T = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


def build_metadata(bins):
    """node-llama-cpp's _nlcBuildMetadata.json beside the libraries ({} when absent)."""
    try:
        with open(os.path.join(bins, "_nlcBuildMetadata.json")) as f:
            return json.load(f)
    except OSError:
        return {}


def check(cond, msg):
    if not cond:
        raise SystemExit("layout/behaviour check failed: " + msg)


class Lib:
    def __init__(self, bins):
        self.bins = os.path.abspath(bins)
        mode = ctypes.RTLD_GLOBAL
        self.base = ctypes.CDLL(os.path.join(self.bins, "libggml-base.so"), mode=mode)
        self.ggml = ctypes.CDLL(os.path.join(self.bins, "libggml.v0.5.0.so"), mode=mode)
        self.llama = ctypes.CDLL(os.path.join(self.bins, "libllama.v0.5.0.so"), mode=mode)
        b, g, l = self.base, self.ggml, self.llama
        self.log_lines = []
        self._log_cb = LOG_CB_T(self._on_log)  # keep a reference
        self.verbose = False

        b.ggml_version.restype = ctypes.c_char_p
        b.ggml_commit.restype = ctypes.c_char_p
        b.ggml_type_name.restype = ctypes.c_char_p
        b.ggml_type_name.argtypes = [ctypes.c_int]
        b.ggml_type_size.restype = ctypes.c_size_t
        b.ggml_type_size.argtypes = [ctypes.c_int]
        b.ggml_blck_size.restype = ctypes.c_int64
        b.ggml_blck_size.argtypes = [ctypes.c_int]
        b.ggml_get_type_traits.restype = ctypes.POINTER(GgmlTypeTraits)
        b.ggml_get_type_traits.argtypes = [ctypes.c_int]
        b.ggml_quantize_chunk.restype = ctypes.c_size_t
        b.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                          ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                          ctypes.c_void_p]
        b.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
        b.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
        b.ggml_quantize_init.argtypes = [ctypes.c_int]
        g.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
        g.ggml_backend_reg_count.restype = ctypes.c_size_t
        g.ggml_backend_reg_get.restype = ctypes.c_void_p
        g.ggml_backend_reg_get.argtypes = [ctypes.c_size_t]
        g.ggml_backend_reg_name.restype = ctypes.c_char_p
        g.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
        g.ggml_backend_dev_count.restype = ctypes.c_size_t
        g.ggml_backend_dev_get.restype = ctypes.c_void_p
        g.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
        g.ggml_backend_dev_name.restype = ctypes.c_char_p
        g.ggml_backend_dev_name.argtypes = [ctypes.c_void_p]
        g.ggml_backend_dev_description.restype = ctypes.c_char_p
        g.ggml_backend_dev_description.argtypes = [ctypes.c_void_p]

        l.llama_version.restype = ctypes.c_char_p
        l.llama_print_system_info.restype = ctypes.c_char_p
        l.llama_log_set.argtypes = [LOG_CB_T, ctypes.c_void_p]
        l.llama_model_default_params.restype = LlamaModelParams
        l.llama_context_default_params.restype = LlamaContextParams
        l.llama_model_quantize_default_params.restype = LlamaQuantizeParams
        l.llama_model_quantize.restype = ctypes.c_uint32
        l.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                           ctypes.POINTER(LlamaQuantizeParams)]
        l.llama_model_load_from_file.restype = ctypes.c_void_p
        l.llama_model_load_from_file.argtypes = [ctypes.c_char_p, LlamaModelParams]
        l.llama_model_free.argtypes = [ctypes.c_void_p]
        l.llama_init_from_model.restype = ctypes.c_void_p
        l.llama_init_from_model.argtypes = [ctypes.c_void_p, LlamaContextParams]
        l.llama_free.argtypes = [ctypes.c_void_p]
        l.llama_model_get_vocab.restype = ctypes.c_void_p
        l.llama_model_get_vocab.argtypes = [ctypes.c_void_p]
        l.llama_vocab_n_tokens.restype = ctypes.c_int32
        l.llama_vocab_n_tokens.argtypes = [ctypes.c_void_p]
        l.llama_batch_init.restype = LlamaBatch
        l.llama_batch_init.argtypes = [ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]
        l.llama_batch_free.argtypes = [LlamaBatch]
        l.llama_decode.restype = ctypes.c_int32
        l.llama_decode.argtypes = [ctypes.c_void_p, LlamaBatch]
        l.llama_get_logits_ith.restype = ctypes.POINTER(ctypes.c_float)
        l.llama_get_logits_ith.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        for fn in ("llama_n_ctx", "llama_n_batch", "llama_n_ubatch", "llama_n_seq_max"):
            getattr(l, fn).restype = ctypes.c_uint32
            getattr(l, fn).argtypes = [ctypes.c_void_p]
        for fn in ("llama_n_threads", "llama_n_threads_batch"):
            getattr(l, fn).restype = ctypes.c_int32
            getattr(l, fn).argtypes = [ctypes.c_void_p]
        l.llama_model_is_recurrent.restype = ctypes.c_bool
        l.llama_model_is_recurrent.argtypes = [ctypes.c_void_p]
        l.llama_model_meta_val_str.restype = ctypes.c_int32
        l.llama_model_meta_val_str.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                               ctypes.c_char_p, ctypes.c_size_t]

        l.llama_log_set(self._log_cb, None)

        for i in range(43):  # GGML_TYPE_COUNT; ggml_type_name() does not bounds-check
            n = b.ggml_type_name(i)
            if n:
                GGUF_TYPE_NAMES[i] = n.decode().upper()
        self.check_layouts()

    def _on_log(self, level, text, _ud):
        s = text.decode("utf-8", "replace") if text else ""
        self.log_lines.append(s)
        if level == 4 or self.verbose:  # GGML_LOG_LEVEL_ERROR = 4: always shown
            sys.stderr.write(s)

    def take_log(self):
        s = "".join(self.log_lines)
        self.log_lines = []
        return s

    def check_layouts(self):
        l, b = self.llama, self.base
        mp = l.llama_model_default_params()
        check(ctypes.sizeof(mp) == 80, "sizeof llama_model_params")
        check(mp.devices is None and mp.n_gpu_layers == -1 and mp.split_mode == 1
              and mp.main_gpu == 0 and mp.use_extra_bufts and not mp.vocab_only
              and not mp.check_tensors and not mp.no_alloc,
              "llama_model_default_params values: n_gpu_layers=%d split=%d load=%d lazy=%d main=%d"
              % (mp.n_gpu_layers, mp.split_mode, mp.load_mode, mp.lazy_mode, mp.main_gpu))
        cp = l.llama_context_default_params()
        check(ctypes.sizeof(cp) == 160, "sizeof llama_context_params")
        check(cp.n_ctx == 512 and cp.n_batch == 2048 and cp.n_ubatch == 512 and cp.n_seq_max == 1
              and cp.n_threads == 4 and cp.n_threads_batch == 4 and cp.rope_scaling_type == -1
              and cp.flash_attn_type == -1 and cp.yarn_ext_factor == -1.0
              and cp.defrag_thold == -1.0 and cp.type_k == 1 and cp.type_v == 1
              and cp.offload_kqv and not cp.embeddings and cp.n_samplers == 0,
              "llama_context_default_params values")
        qp = l.llama_model_quantize_default_params()
        check(ctypes.sizeof(qp) == 64, "sizeof llama_model_quantize_params")
        check(qp.ftype == 7 and qp.output_tensor_type == 43 and qp.token_embedding_type == 43
              and qp.quantize_output_tensor and not qp.pure and not qp.only_copy
              and qp.max_buf_size == 8 << 30 and not qp.imatrix,
              "llama_model_quantize_default_params values")
        check(GGUF_TYPE_NAMES.get(42) == "Q2_0" and GGUF_TYPE_NAMES.get(1) == "F16",
              "GGML_TYPE_COUNT == 43 (last type Q2_0 = 42): got %r" % GGUF_TYPE_NAMES.get(42))
        for name, t in GGML_TYPES:
            check(GGUF_TYPE_NAMES.get(t) == name, "ggml type id %d is %s, expected %s"
                  % (t, GGUF_TYPE_NAMES.get(t), name))
            tr = b.ggml_get_type_traits(t).contents
            bs, bb, _ = BLOCK_LAYOUT[name]
            check(tr.type_name.decode().upper() == name and tr.blck_size == bs
                  and tr.type_size == bb and tr.is_quantized and tr.to_float
                  and b.ggml_blck_size(t) == bs and b.ggml_type_size(t) == bb,
                  "ggml_type_traits of %s" % name)
            deq = ctypes.cast(getattr(b, "dequantize_row_" + name.lower().replace("_k", "_K")), ctypes.c_void_p).value
            check(tr.to_float == deq, "traits(%s)->to_float is dequantize_row_%s" % (name, name.lower()))
            if tr.from_float_ref:
                ref = ctypes.cast(getattr(b, "quantize_row_%s_ref" % name.lower().replace("_k", "_K")), ctypes.c_void_p).value
                check(tr.from_float_ref == ref, "traits(%s)->from_float_ref" % name)

    def load_cpu_backend(self):
        self.ggml.ggml_backend_load_all_from_path(self.bins.encode())
        regs = [self.ggml.ggml_backend_reg_name(self.ggml.ggml_backend_reg_get(i)).decode()
                for i in range(self.ggml.ggml_backend_reg_count())]
        devs = []
        for i in range(self.ggml.ggml_backend_dev_count()):
            d = self.ggml.ggml_backend_dev_get(i)
            devs.append("%s (%s)" % (self.ggml.ggml_backend_dev_name(d).decode(),
                                     self.ggml.ggml_backend_dev_description(d).decode()))
        cpu_libs = sorted({line.split()[-1] for line in open("/proc/self/maps")
                           if "libggml-cpu" in line})
        check(regs == ["CPU"], "backends registered: %r (want only CPU)" % regs)
        self.llama.llama_backend_init()
        return {"registries": regs, "devices": devs,
                "cpu_variant_loaded": [os.path.basename(p) for p in cpu_libs],
                "system_info": self.llama.llama_print_system_info().decode().strip()}


# --------------------------------------------------------------------------- GGUF reader

def read_gguf_info(path):
    with open(path, "rb") as f:
        data = f.read()
    off = 0

    def rd(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, data, off)
        off += struct.calcsize("<" + fmt)
        return v[0]

    def rstr():
        nonlocal off
        n = rd("Q")
        s = data[off:off + n].decode("utf-8", "replace")
        off += n
        return s

    scal = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def rval(t):
        if t in scal:
            return rd(scal[t])
        if t == 8:
            return rstr()
        if t == 9:
            at = rd("I")
            n = rd("Q")
            vals = [rval(at) for _ in range(n)]
            return {"array_of": at, "len": n} if n > 16 else vals
        raise ValueError("bad gguf kv type %d" % t)

    check(data[:4] == b"GGUF", "GGUF magic in " + path)
    off = 4
    version = rd("I")
    n_t = rd("Q")
    n_kv = rd("Q")
    kv = {}
    for _ in range(n_kv):
        k = rstr()
        t = rd("I")
        kv[k] = rval(t)
    tensors = []
    for _ in range(n_t):
        name = rstr()
        nd = rd("I")
        shape = [rd("Q") for _ in range(nd)]
        t = rd("I")
        rd("Q")
        tensors.append({"name": name, "type": GGUF_TYPE_NAMES.get(t, str(t)), "shape": shape})
    return version, kv, tensors


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_entry(path, source=None, ftype=None, notes=None):
    version, kv, tensors = read_gguf_info(path)
    counts = {}
    for t in tensors:
        counts[t["type"]] = counts.get(t["type"], 0) + 1
    ft = kv.get("general.file_type")
    e = {"file": os.path.basename(path), "bytes": os.path.getsize(path), "sha256": file_digest(path),
         "gguf_version": version, "arch": kv.get("general.architecture"),
         "general.file_type": ft, "ftype_name": FTYPE_NAMES.get(ft, str(ft)),
         "tensor_type_counts": counts, "tensors": tensors}
    if source:
        e["quantized_from"] = source
        e["requested_ftype"] = ftype
    if notes:
        e["quantizer_notes"] = notes
    return e


# --------------------------------------------------------------------------- logits

def run_logits(lib, model_path, prompts):
    """Returns {prompt_name: (n_tokens, n_vocab, array('f'))}."""
    l = lib.llama
    mp = l.llama_model_default_params()
    mp.n_gpu_layers = 0
    model = l.llama_model_load_from_file(model_path.encode(), mp)
    check(model, "load " + model_path)
    n_vocab = l.llama_vocab_n_tokens(l.llama_model_get_vocab(model))
    out = {}
    for pname, ids in prompts:
        cp = l.llama_context_default_params()
        cp.n_ctx = N_CTX
        cp.n_batch = N_CTX
        cp.n_ubatch = N_CTX
        cp.n_seq_max = 1
        cp.n_threads = N_THREADS
        cp.n_threads_batch = N_THREADS
        cp.no_perf = True
        ctx = l.llama_init_from_model(model, cp)
        check(ctx, "context for " + model_path)
        check(l.llama_n_batch(ctx) >= len(ids) and l.llama_n_ubatch(ctx) >= len(ids)
              and l.llama_n_seq_max(ctx) == 1 and l.llama_n_threads(ctx) == N_THREADS
              and l.llama_n_threads_batch(ctx) == N_THREADS,
              "context params read back: n_ctx=%d n_batch=%d n_ubatch=%d seq=%d thr=%d/%d" % (
                  l.llama_n_ctx(ctx), l.llama_n_batch(ctx), l.llama_n_ubatch(ctx),
                  l.llama_n_seq_max(ctx), l.llama_n_threads(ctx), l.llama_n_threads_batch(ctx)))
        n = len(ids)
        batch = l.llama_batch_init(n, 0, 1)
        for i, tok in enumerate(ids):
            batch.token[i] = tok
            batch.pos[i] = i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = 1
        batch.n_tokens = n
        rc = l.llama_decode(ctx, batch)
        check(rc == 0, "llama_decode rc=%d for %s" % (rc, model_path))
        buf = array.array("f")
        for i in range(n):
            p = l.llama_get_logits_ith(ctx, i)
            check(bool(p), "logits of position %d" % i)
            buf.frombytes(ctypes.string_at(p, 4 * n_vocab))
        l.llama_batch_free(batch)
        l.llama_free(ctx)
        out[pname] = (n, n_vocab, buf)
    l.llama_model_free(model)
    return out


def diff_stats(a, b, n_vocab):
    check(len(a) == len(b), "length mismatch %d vs %d" % (len(a), len(b)))
    mx = 0.0
    s = 0.0
    agree = 0
    rows = len(a) // n_vocab
    for r in range(rows):
        ra = a[r * n_vocab:(r + 1) * n_vocab]
        rb = b[r * n_vocab:(r + 1) * n_vocab]
        for x, y in zip(ra, rb):
            d = abs(x - y)
            s += d
            if d > mx:
                mx = d
        if max(range(n_vocab), key=ra.__getitem__) == max(range(n_vocab), key=rb.__getitem__):
            agree += 1
    return {"max_abs": mx, "mean_abs": s / len(a), "argmax_agree": "%d/%d" % (agree, rows)}


# --------------------------------------------------------------------------- goldens

def random_half(rng):
    while True:
        mag = 10.0 ** rng.uniform(-3.0, 0.0)
        v = -mag if rng.random() < 0.5 else mag
        h = struct.pack("<e", v)
        back = struct.unpack("<e", h)[0]
        if math.isfinite(back) and 1e-3 <= abs(back) <= 1.0:
            return h


def make_quant_input(rng):
    n = 512
    rows = []
    rows.append([rng.gauss(0.0, 1.0) for _ in range(n)])                          # gaussian
    rows.append([rng.uniform(-1.0, 1.0) for _ in range(n)])                       # uniform
    r = [rng.gauss(0.0, 0.5) for _ in range(n)]                                    # outliers
    for i in rng.sample(range(n), 12):
        r[i] = rng.choice((-1.0, 1.0)) * rng.uniform(8.0, 40.0)
    rows.append(r)
    rows.append([0.0] * n)                                                         # zeros
    rows.append([rng.gauss(0.0, 1e-6) for _ in range(n)])                         # tiny
    rows.append([0.37] * n)                                                        # constant +
    rows.append([rng.gauss(0.0, 0.02) for _ in range(n)])                         # weight-like
    rows.append([rng.uniform(0.0, 3.0) for _ in range(n)])                        # positive
    flat = array.array("f")
    for r in rows:
        flat.extend(r)
    return flat, len(rows), n, ["gaussian(0,1)", "uniform(-1,1)",
                                "gaussian(0,0.5) + 12 outliers |8..40|", "zeros",
                                "gaussian(0,1e-6)", "constant 0.37", "gaussian(0,0.02)",
                                "uniform(0,3)"]


def make_goldens(lib, out_dir, seed=20240611):
    b = lib.base
    rng = random.Random(seed)
    entries = []
    n_blocks = 64
    for name, t in GGML_TYPES:
        bs, bb, half_offs = BLOCK_LAYOUT[name]
        raw = bytearray(rng.getrandbits(8) for _ in range(n_blocks * bb))
        for k in range(n_blocks):
            for o in half_offs:
                raw[k * bb + o:k * bb + o + 2] = random_half(rng)
        src = (ctypes.c_uint8 * len(raw)).from_buffer_copy(raw)
        dst = (ctypes.c_float * (n_blocks * bs))()
        tr = b.ggml_get_type_traits(t).contents
        TO_FLOAT_T(tr.to_float)(ctypes.addressof(src), ctypes.addressof(dst), n_blocks * bs)
        vals = array.array("f", bytes(dst))
        check(all(math.isfinite(v) for v in vals), "non-finite dequant for " + name)
        fb = "dequant_%s.bin" % name
        ff = "dequant_%s.f32" % name
        with open(os.path.join(out_dir, fb), "wb") as f:
            f.write(bytes(raw))
        with open(os.path.join(out_dir, ff), "wb") as f:
            f.write(vals.tobytes())
        entries.append({"kind": "dequant", "type": name, "ggml_type": t, "block_elems": bs,
                        "block_bytes": bb, "fp16_field_offsets": half_offs, "n_blocks": n_blocks,
                        "n_floats": n_blocks * bs, "blocks_file": fb, "floats_file": ff,
                        "sha256_blocks": hashlib.sha256(bytes(raw)).hexdigest(),
                        "sha256_floats": hashlib.sha256(vals.tobytes()).hexdigest(),
                        "max_abs_value": max(abs(v) for v in vals),
                        "via": "ggml_get_type_traits(%d)->to_float" % t})

    flat, nrows, ncols, descr = make_quant_input(rng)
    with open(os.path.join(out_dir, "quant_input.f32"), "wb") as f:
        f.write(flat.tobytes())
    entries.append({"kind": "quant_input", "file": "quant_input.f32", "rows": nrows,
                    "cols": ncols, "row_contents": descr,
                    "sha256": hashlib.sha256(flat.tobytes()).hexdigest()})
    src = (ctypes.c_float * len(flat)).from_buffer_copy(flat.tobytes())
    for name, t in GGML_TYPES:
        bs, bb, _ = BLOCK_LAYOUT[name]
        row_bytes = ncols // bs * bb
        tr = b.ggml_get_type_traits(t).contents
        chunk = (ctypes.c_uint8 * (nrows * row_bytes))()
        b.ggml_quantize_init(t)
        got = b.ggml_quantize_chunk(t, ctypes.addressof(src), ctypes.addressof(chunk), 0,
                                    nrows, ncols, None)
        check(got == nrows * row_bytes, "ggml_quantize_chunk size for " + name)
        if tr.from_float_ref:
            dst = (ctypes.c_uint8 * (nrows * row_bytes))()
            fq = FROM_FLOAT_T(tr.from_float_ref)
            for r in range(nrows):
                fq(ctypes.addressof(src) + 4 * r * ncols, ctypes.addressof(dst) + r * row_bytes, ncols)
            data = bytearray(dst)
            via = "ggml_get_type_traits(%d)->from_float_ref, row by row" % t
            masked = []
            if name == "IQ4_NL":
                # quantize_row_iq4_nl_ref calls quantize_row_iq4_nl_impl with ntry = -1; for a
                # block whose max |x| < GROUP_MAX_EPS it sets d = 0 but never writes L[], so the
                # 16 qs bytes are the ref function's uninitialized stack (they differ from run
                # to run). They carry no value (d = 0); zero them so the file is reproducible.
                for blk in range(nrows * ncols // bs):
                    xs = flat[blk * bs:(blk + 1) * bs]
                    o = blk * bb
                    if max(abs(v) for v in xs) < 1e-15 and data[o:o + 2] == b"\0\0":
                        data[o + 2:o + bb] = bytes(bb - 2)
                        masked.append(blk)
            data = bytes(data)
        else:
            data = bytes(chunk)
            via = "ggml_quantize_chunk(imatrix=NULL)"
            masked = []
        fn = "quant_%s.bin" % name
        with open(os.path.join(out_dir, fn), "wb") as f:
            f.write(data)
        # the dequantized quant output, for a round-trip sanity number
        deq = (ctypes.c_float * (nrows * ncols))()
        cbuf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        TO_FLOAT_T(tr.to_float)(ctypes.addressof(cbuf), ctypes.addressof(deq), nrows * ncols)
        rt = [max(abs(deq[r * ncols + i] - flat[r * ncols + i]) for i in range(ncols))
              for r in range(nrows)]
        same = bytes(chunk) == data
        chunk_file = None
        if not same:  # the model quantizer's path (quantize_chunk) differs from the _ref one
            chunk_file = "quant_%s.chunk.bin" % name
            with open(os.path.join(out_dir, chunk_file), "wb") as f:
                f.write(bytes(chunk))
        entries.append({"kind": "quant", "type": name, "ggml_type": t, "block_elems": bs,
                        "block_bytes": bb, "rows": nrows, "cols": ncols,
                        "blocks_per_row": ncols // bs, "row_bytes": row_bytes, "file": fn,
                        "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "via": via,
                        "ref_undefined_bytes_zeroed_in_blocks": masked if tr.from_float_ref else [],
                        "quantize_chunk_identical": same,
                        "quantize_chunk_file": chunk_file,
                        "roundtrip_max_abs_err_per_row": rt})
    return entries


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bins", help="dir with libllama.v0.5.0.so, libggml*.so, libggml-cpu-*.so")
    ap.add_argument("out", help="output dir (created)")
    ap.add_argument("--refmodels", default="/work/shared/refmodels")
    ap.add_argument("--skip-models", action="store_true", help="only the dequant/quant goldens")
    ap.add_argument("--max-f16-diff", type=float, default=1e-3,
                    help="abort if the f16 harness check differs more than this (max abs)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()

    lib = Lib(args.bins)
    build = {}
    try:
        with open(os.path.join(args.bins, "_nlcBuildMetadata.json")) as f:
            build = json.load(f)
    except OSError:
        pass
    info = {
        "llama_version()": lib.llama.llama_version().decode(),
        "ggml_version()": lib.base.ggml_version().decode(),
        "ggml_commit()": lib.base.ggml_commit().decode(),
        "node_llama_cpp_build_metadata": build,
        "note": ("prebuilt llama.cpp from the npm package @node-llama-cpp/linux-x64 3.22.1; "
                 "node-llama-cpp's build metadata names llama.cpp release 'v0.5.0' and "
                 "llama_version() says '0.5.0-dev'. The embedded commit string (ggml_commit / "
                 "llama_commit = 0ad4a86, build number 1) is the HEAD of the node-llama-cpp "
                 "repository the library was built in (withcatai/node-llama-cpp 0ad4a867b05f), "
                 "not a llama.cpp commit. API: llama_model_params with load_mode/lazy_mode, "
                 "llama_context_params with n_outputs_max_per_seq/ctx_other, "
                 "llama_model_quantize_params with max_buf_size, GGML_TYPE_COUNT 43."),
    }
    manifest = {"description": __doc__.split("\n")[0], "library": info,
                "logits_layout": "raw little-endian float32, row-major [n_tokens][n_vocab], "
                                 "logits of every position, fresh state, no header",
                "models": [], "logits": [], "goldens": []}

    print("goldens ...", flush=True)
    manifest["goldens"] = make_goldens(lib, args.out)

    if not args.skip_models:
        manifest["backend"] = lib.load_cpu_backend()
        manifest["backend"]["decode"] = {"n_ctx": N_CTX, "n_batch": N_CTX, "n_ubatch": N_CTX,
                                         "n_seq_max": 1, "n_threads": N_THREADS,
                                         "llama_decode_calls_per_prompt": 1}
        print("backend:", manifest["backend"]["cpu_variant_loaded"], flush=True)
        with open(os.path.join(args.refmodels, "manifest.json")) as f:
            ref = json.load(f)
        for stem, family in MODELS:
            prompts = [(p["name"], p["ids"][family]) for p in ref["prompts"]]
            src = os.path.join(args.refmodels, stem + "-f16.gguf")
            # harness check on the f16 model
            lg = run_logits(lib, src, prompts)
            lib.take_log()
            f16_logits = {}
            manifest["models"].append(dict(model_entry(src), location=src, role="source/harness check"))
            for pname, (n, nv, buf) in lg.items():
                refbuf = array.array("f")
                with open(os.path.join(args.refmodels, "%s-f16.%s.logits.f32" % (stem, pname)), "rb") as f:
                    refbuf.frombytes(f.read())
                st = diff_stats(buf, refbuf, nv)
                print("  %s-f16 %s vs shared reference: %s" % (stem, pname, st), flush=True)
                check(st["max_abs"] <= args.max_f16_diff,
                      "harness does not reproduce %s-f16 %s (max abs %g)" % (stem, pname, st["max_abs"]))
                fn = "%s-f16.%s.logits.f32" % (stem, pname)
                with open(os.path.join(args.out, fn), "wb") as f:
                    f.write(buf.tobytes())
                f16_logits[pname] = buf
                manifest["logits"].append({"file": fn, "model": stem + "-f16.gguf", "prompt": pname,
                                           "n_tokens": n, "n_vocab": nv, "shape": [n, nv],
                                           "vs_shared_reference_f16": st})
            for qname, ft in FTYPES:
                dst = os.path.join(args.out, "%s-%s.gguf" % (stem, qname))
                qp = lib.llama.llama_model_quantize_default_params()
                qp.nthread = 2
                qp.ftype = ft
                rc = lib.llama.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(qp))
                qlog = lib.take_log()
                check(rc == 0, "llama_model_quantize %s -> %s rc=%d\n%s" % (src, qname, rc, qlog[-3000:]))
                notes = sorted({ln.strip() for ln in qlog.splitlines()
                                if re.search(r"fallback|not divisible|incompatible|falling back|"
                                             r"warning|convert_incompatible", ln, re.I)})
                manifest["models"].append(model_entry(dst, os.path.basename(src),
                                                      {"id": ft, "name": qname}, notes))
                lg = run_logits(lib, dst, prompts)
                lib.take_log()
                for pname, (n, nv, buf) in lg.items():
                    fn = "%s-%s.%s.logits.f32" % (stem, qname, pname)
                    with open(os.path.join(args.out, fn), "wb") as f:
                        f.write(buf.tobytes())
                    st = diff_stats(buf, f16_logits[pname], nv)
                    manifest["logits"].append({"file": fn, "model": os.path.basename(dst),
                                               "prompt": pname, "n_tokens": n, "n_vocab": nv,
                                               "shape": [n, nv], "vs_f16_same_harness": st})
                print("  %s-%s done (%s)" % (stem, qname, manifest["models"][-1]["tensor_type_counts"]),
                      flush=True)

    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("done in %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
