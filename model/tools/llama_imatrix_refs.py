#!/usr/bin/env python3
"""Independent importance-matrix (imatrix) reference data, collected by llama.cpp itself the way
llama-imatrix collects it (not by vkrwkv code).

The prebuilt llama.cpp library that llama_quant_refs.py loads (node-llama-cpp 3.22.1's
libllama.v0.5.0.so / libggml*.so, CPU backend) evaluates a fixed token list on
tiny-qrwkv6-f16.gguf (rwkv6qwen2) and tiny-rwkv6-f16.gguf (rwkv6) with an eval callback
(llama_context_params.cb_eval) that does what llama-imatrix's IMatrixCollector::collect_imatrix
does; the sums are written in llama-imatrix's GGUF layout and in its legacy .dat layout.

Facts (read from ggml-org/llama.cpp; "master" = tools/imatrix/imatrix.cpp at commit
050fc7f32de16858ac667d775b43a51ed8976e6f, tools/quantize/quantize.cpp at 42ea59bcf104ce81f167a66020a5eeafa428ecb2,
src/llama-quant.cpp at 8784689fee07c6daabf3487d24e1535534ef6e6b, ggml/src/gguf.cpp's writer;
"old" = examples/imatrix/imatrix.cpp at 0589c3ee9ffe936663d4119fd647ba9a785fda9f, before the
GGUF format, PR #9400):

Collection (master collect_imatrix; callback signature bool cb(ggml_tensor * t, bool ask, void *)):
  * ask == true: return true for GGML_OP_MUL_MAT_ID nodes (always); false for any op other than
    GGML_OP_MUL_MAT; for MUL_MAT return false when src1->ne[1] < 16 ("small batches ignored") or
    src1->type != F32, or when the weight name is not "blk.*" (and not "output.weight" with
    --process-output); else true. The weight name is filter_tensor_name(src0->name): the part
    between the first two '#' if there is a '#' (CUDA0#blk.0.attn_k.weight#0), else the name
    as is (so a reshaped view would keep its " (reshaped)" suffix).
  * ask == false, MUL_MAT: src1 is copied to host when its buffer is not host memory; asserts
    src1->nb[0] == 4. n_mat = src0->ne[2] * src0->ne[3]. Entry values (float, K*n_mat, K =
    src1->ne[0]) and counts (int64, ONE count for a dense tensor). For i3 < src1->ne[3], i2 <
    src1->ne[2]: mat_id = (i3 % src0->ne[3]) * src0->ne[2] + (i2 % src0->ne[2]); for every row
    < src1->ne[1]: x = (float *)(data + row*nb[1] + i2*nb[2] + i3*nb[3]);
    values[mat_id*K + j] += x[j]*x[j] (float accumulation, rows in that loop order). So a 3-D
    src1 against a 2-D weight (n_mat 1) folds all ne[2]*ne[3] planes into the one K-vector.
    Then counts[i] += ggml_nrows(src1) / n_mat for every count (a count vector of equal values
    is first collapsed to size 1). Nothing is averaged while collecting.
  * ask == false, MUL_MAT_ID: n_as = src0->ne[2] experts; values K*n_as, counts n_as (one per
    expert); for each expert ex, each ids column idx < ids->ne[0], each token row < src1->ne[2]
    whose id (int32 at ids + row*ids->nb[1] + idx*ids->nb[0]) == ex: x = src1 row
    (idx % src1->ne[1], row); counts[ex]++, values[ex*K + j] += x[j]^2.
  * chunk bookkeeping: chunk_size = n_ctx / n_parallel; m_last_chunk = max over updates of
    counts / chunk_size (it is what imatrix.chunk_count holds); periodic saves every
    --output-frequency (default 10) chunks do not trigger here.
Evaluation (master compute_imatrix / main):
  * -c N is the chunk size; n_seq = max(1, n_batch / N) chunks are evaluated together as n_seq
    sequences of one llama_decode (default -b 2048: n_seq = 2048 / 64 = 32 for N = 64);
    params.n_ctx = n_seq * N, n_parallel = n_seq, n_batch = min(n_batch, n_seq * N); a chunk
    is split into ceil(N / n_batch) batches only when n_batch < N. llama_memory_clear(mem,
    true) before every group of chunks (each chunk is its own sequence, so every chunk starts
    from a fresh state). Positions restart at 0 in every chunk. When llama_vocab_get_add_bos is
    true the FIRST token of each chunk is replaced by BOS (temporarily); it is false for both
    models here, so the tokens are used as they are. Logits are requested for every token
    (so the last layer computes every row). No warm-up decode. At least 2 chunks are needed
    (tokens >= 2*N); n_chunk = tokens / N (the remainder is dropped).
GGUF output (master save_imatrix; written by ggml's gguf_write_to_file):
  * GGUF v3, alignment 32 (no general.alignment key), little-endian.
  * KV, in this order: general.type = "imatrix" (string); imatrix.datasets = array of strings
    (the -f file names, earlier datasets first); imatrix.chunk_count = u32 m_last_chunk;
    imatrix.chunk_size = u32 n_ctx / n_parallel. No general.architecture.
  * Tensors, entries sorted by name (std::sort on the weight name); per entry two tensors, in
    this order: "<name>.in_sum2" F32 ggml ne = [K, n_mat] and "<name>.counts" F32 ne = [1, n_mat]
    (counts stored as float). Every entry is written, even with zero counts. GGUF stores
    ggml_n_dims dims, i.e. trailing 1s dropped: a dense weight's in_sum2 is 1-D [K] and its
    counts 1-D [1]. in_sum2 holds the RAW sums of squares (not averaged), counts the number of
    rows (tokens) accumulated. Data: each tensor padded to 32 bytes with zeros; data section
    starts at the 32-aligned end of the header.
  * An open PR (#14891, "activation-based statistics") also writes "<name>.in_sum" (sum of x);
    master does not, readers (imatrix/quantize) ignore other tensors. Not written here.
Legacy .dat (master save_imatrix_legacy, --output-format dat):
  int32 n_entries; per entry (sorted by name; entries whose counts are all 0 are skipped):
  int32 len, name bytes (no NUL), int32 ncall, int32 nval, float32[nval] values; then int32
  m_last_chunk; then int32 len + dataset file name bytes. ncall = ceil(max(counts) /
  chunk_size); value[i] = (in_sum2[i] / counts[i / (nval / nmat)]) * ncall computed in float
  (a zero count stores 1 * ncall). I.e. the MEAN square times ncall.
  The old writer (0589c3e) had the same byte layout but ncall = the number of callback calls
  for that tensor (one per ubatch), per-value counts, unsorted order, skipped partial entries,
  and handled only src1 rows of ne[1] (contiguous, no ne[2]); m_last_call = max ncall.
Loading for quantization (tools/quantize/quantize.cpp load_imatrix -> per-weight float vector):
  * GGUF (recognised by gguf_init_from_file succeeding; else legacy): requires the three
    imatrix.* keys (else exit); pairs "<name>.in_sum2" with "<name>.counts" (other tensors
    ignored; a missing partner is fatal); for each matrix j < ne1: weight[j*ne0 + i] =
    in_sum2[j*ne0 + i] / counts[j] when counts[j] > 0, else 1.0 for the whole row j.
  * legacy: weight = stored value / ncall (when ncall > 0), i.e. the mean square again.
  * llama-quant.cpp uses imatrix_data[name] for a weight when its size == ne[0] * ne[2] (newer:
    ne[0]*ne[2]*ne[3]); other sizes are an error (except token_embd.weight); matrix i03 gets
    weights + i03 * ne[0]; every row of that matrix uses the same K weights. A missing entry
    just means no imatrix for that tensor (fatal only for IQ1/IQ2 and Q2_K_S types).

What this build does with the two models (observed; see the manifest):
  * GGML_OP_MUL_MAT = 29, GGML_OP_MUL_MAT_ID = 30 (ggml_op_name checked).
  * Collected: every time_mix_receptance/key/value/gate/output, ffn_gate/up/down (rwkv6qwen2),
    channel_mix_key/value/receptance (rwkv6), and the LoRA matrices time_mix_w1,
    time_mix_decay_w1, time_mix_decay_w2. NOT collected: time_mix_w2 (the graph multiplies a
    4-D reshape "blk.N.time_mix_w2.weight (reshaped)" by a permuted src1 with ne[1] = 1 < 16,
    so llama-imatrix declines it in the ask phase), output.weight (needs --process-output),
    token_embd (GET_ROWS, not a matmul).

Token list: the "p150" ids of /work/shared/refmodels/manifest.json for the model's tokenizer
family ("gpt2" for rwkv6qwen2, "rwkv" for rwkv6), followed by the "p16" ids (174 / 167 ids),
cut to whole chunks of 64: 2 chunks = the first 128 ids (3 chunks do not fit).
Evaluation here = llama-imatrix -c 64 with default -b 2048 / -ub 512: one llama_decode with
both chunks as sequences 0 and 1 (n_ctx 2048, n_seq_max 32, n_batch 2048, n_ubatch 512, 2
threads, all logits). As a check the script also evaluates the chunks one llama_decode each
(what -b 64 does) and records the largest relative difference.

Accumulation is done in Python emulating float32: values[k] = f32(values[k] + f32(x*x)), rows
in llama-imatrix's loop order (what llama-imatrix's float code gives without FMA contraction).
The GGUF file is written by a Python GGUF writer and compared byte for byte with what the
library's own gguf_write_to_file makes of the same data (ggml_new_tensor_2d + ggml_format_name +
gguf_add_tensor, as save_imatrix does); the script aborts if they differ.

Rerun (needs only python3; see llama_quant_refs.py for fetching the library):

    python3 model/tools/llama_imatrix_refs.py /tmp/npmtry/x/package/bins/linux-x64 \\
        tests/data/llama_imatrix

Options: --refmodels DIR (default /work/shared/refmodels).
"""

import argparse
import array
import ctypes
import hashlib
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_quant_refs as lq  # noqa: E402  (ctypes layouts of the same build)
from llama_quant_refs import Lib, LlamaBatch, check, file_digest  # noqa: E402

MODELS = [("tiny-qrwkv6-f16", "gpt2"), ("tiny-rwkv6-f16", "rwkv")]
CHUNK = 64            # llama-imatrix -c 64
N_BATCH_DEFAULT = 2048  # common_params.n_batch default
N_UBATCH_DEFAULT = 512  # common_params.n_ubatch default
N_THREADS = 2
MAX_CHUNKS = 3
DATASET = "refmodels-manifest:p150+p16"
GGML_TYPE_F32 = 0
GGUF_ALIGNMENT = 32

# ggml.h: GGML_MAX_DIMS 4, GGML_MAX_OP_PARAMS 64, GGML_MAX_SRC 10, GGML_MAX_NAME 64
GGML_MAX_SRC = 10


class GgmlTensor(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int32),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * 4),
        ("nb", ctypes.c_size_t * 4),
        ("op", ctypes.c_int32),
        ("op_params", ctypes.c_int32 * 16),
        ("flags", ctypes.c_int32),
        ("src", ctypes.c_void_p * GGML_MAX_SRC),
        ("view_src", ctypes.c_void_p),
        ("view_offs", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("name", ctypes.c_char * 64),
        ("extra", ctypes.c_void_p),
        ("padding", ctypes.c_char * 8),
    ]


class GgmlInitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p),
                ("no_alloc", ctypes.c_bool)]


RULES = [
    "cb_eval ask=true: MUL_MAT_ID -> true; not MUL_MAT -> false; MUL_MAT with src1->ne[1] < 16 or "
    "src1 not F32 -> false; weight name (filter_tensor_name(src0->name)) not starting with 'blk.' "
    "-> false (no --process-output, so output.weight is declined); else true",
    "cb_eval ask=false, MUL_MAT: n_mat = src0->ne[2]*src0->ne[3]; for i3, i2, row of src1: x = "
    "src1->data + row*nb[1] + i2*nb[2] + i3*nb[3]; in_sum2[mat_id*K + j] += x[j]^2 with mat_id = "
    "(i3 % src0->ne[3])*src0->ne[2] + (i2 % src0->ne[2]); counts[0] += ggml_nrows(src1)/n_mat",
    "float32 accumulation emulated: in_sum2 = f32(in_sum2 + f32(x*x)), rows in that order",
    "chunk_count = max(counts) / chunk_size (integer division) = m_last_chunk",
    "evaluation like llama-imatrix -c 64 (default -b 2048 -ub 512): n_seq = 32, all chunks of the "
    "group as sequences 0..n-1 of one llama_decode, positions 0..63 per chunk, logits for every "
    "token, llama_memory_clear(mem, true) before each group, no warm-up",
    "BOS replaces the first token of each chunk only when llama_vocab_get_add_bos (false for both)",
    "token list = p150 ids + p16 ids of the model's tokenizer family, cut to whole 64-token chunks",
    "GGUF: general.type, imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size; entries sorted "
    "by name, '<name>.in_sum2' (F32 [K]) then '<name>.counts' (F32 [1]); alignment 32",
    "legacy .dat: entries sorted, ncall = ceil(count / chunk_size), value = f32(f32(in_sum2 / "
    "count) * ncall), trailer = chunk_count + dataset string",
    "dataset string (imatrix.datasets[0] / .dat trailer) = '%s' (llama-imatrix stores the -f "
    "file name)" % "refmodels-manifest:p150+p16",
]

EVAL_CB_T = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_bool, ctypes.c_void_p)


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def setup_protos(lib):
    b, l = lib.base, lib.llama
    vp, cp = ctypes.c_void_p, ctypes.c_char_p
    b.ggml_op_name.restype = cp
    b.ggml_op_name.argtypes = [ctypes.c_int]
    b.ggml_op_desc.restype = cp
    b.ggml_op_desc.argtypes = [vp]
    b.ggml_tensor_overhead.restype = ctypes.c_size_t
    b.ggml_init.restype = vp
    b.ggml_init.argtypes = [GgmlInitParams]
    b.ggml_free.argtypes = [vp]
    b.ggml_new_tensor_2d.restype = vp
    b.ggml_new_tensor_2d.argtypes = [vp, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    b.ggml_new_tensor_3d.restype = vp
    b.ggml_new_tensor_3d.argtypes = [vp, ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64]
    b.ggml_mul_mat.restype = vp
    b.ggml_mul_mat.argtypes = [vp, vp, vp]
    b.ggml_transpose.restype = vp
    b.ggml_transpose.argtypes = [vp, vp]
    b.ggml_set_name.restype = vp
    b.ggml_set_name.argtypes = [vp, cp]
    b.ggml_get_name.restype = vp
    b.ggml_get_name.argtypes = [vp]
    b.ggml_get_data.restype = vp
    b.ggml_get_data.argtypes = [vp]
    b.ggml_nbytes.restype = ctypes.c_size_t
    b.ggml_nbytes.argtypes = [vp]
    b.ggml_nrows.restype = ctypes.c_int64
    b.ggml_nrows.argtypes = [vp]
    b.ggml_n_dims.restype = ctypes.c_int
    b.ggml_n_dims.argtypes = [vp]
    b.ggml_is_contiguous.restype = ctypes.c_bool
    b.ggml_is_contiguous.argtypes = [vp]
    b.ggml_backend_buffer_is_host.restype = ctypes.c_bool
    b.ggml_backend_buffer_is_host.argtypes = [vp]
    b.gguf_init_empty.restype = vp
    b.gguf_free.argtypes = [vp]
    b.gguf_set_val_str.argtypes = [vp, cp, cp]
    b.gguf_set_val_u32.argtypes = [vp, cp, ctypes.c_uint32]
    b.gguf_set_arr_str.argtypes = [vp, cp, ctypes.POINTER(cp), ctypes.c_size_t]
    b.gguf_add_tensor.argtypes = [vp, vp]
    b.gguf_write_to_file.restype = ctypes.c_bool
    b.gguf_write_to_file.argtypes = [vp, cp, ctypes.c_bool]
    l.llama_get_memory.restype = vp
    l.llama_get_memory.argtypes = [vp]
    l.llama_memory_clear.argtypes = [vp, ctypes.c_bool]
    l.llama_vocab_get_add_bos.restype = ctypes.c_bool
    l.llama_vocab_get_add_bos.argtypes = [vp]
    l.llama_vocab_get_add_eos.restype = ctypes.c_bool
    l.llama_vocab_get_add_eos.argtypes = [vp]
    l.llama_vocab_bos.restype = ctypes.c_int32
    l.llama_vocab_bos.argtypes = [vp]


def check_tensor_layout(lib):
    """ggml_tensor layout of this build, checked against the library's own accessors."""
    b = lib.base
    check(ctypes.sizeof(GgmlTensor) == 336, "sizeof(GgmlTensor)")
    check(b.ggml_tensor_overhead() == 32 + ctypes.sizeof(GgmlTensor),
          "ggml_tensor_overhead %d != 32 + %d" % (b.ggml_tensor_overhead(), ctypes.sizeof(GgmlTensor)))
    ops = {}
    for i in range(64):
        n = b.ggml_op_name(i)
        ops[n.decode()] = i
        if n == b"MUL_MAT_ID":
            break
    check(ops.get("MUL_MAT") == 29 and ops.get("MUL_MAT_ID") == 30,
          "GGML_OP_MUL_MAT / MUL_MAT_ID ids: %r / %r" % (ops.get("MUL_MAT"), ops.get("MUL_MAT_ID")))
    ctx = b.ggml_init(GgmlInitParams(1 << 20, None, False))
    check(ctx, "ggml_init")
    a = b.ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 40, 24)
    x = b.ggml_new_tensor_3d(ctx, GGML_TYPE_F32, 40, 7, 3)
    b.ggml_set_name(a, b"blk.9.layout_probe.weight")
    y = b.ggml_mul_mat(ctx, a, x)
    at = GgmlTensor.from_address(a)
    yt = GgmlTensor.from_address(y)
    tt = GgmlTensor.from_address(b.ggml_transpose(ctx, x))
    check(at.type == GGML_TYPE_F32 and list(at.ne) == [40, 24, 1, 1]
          and list(at.nb) == [4, 160, 3840, 3840], "ne/nb of a 2-D tensor: %r %r" % (list(at.ne), list(at.nb)))
    check(at.name == b"blk.9.layout_probe.weight"
          and b.ggml_get_name(a) == a + GgmlTensor.name.offset, "name field offset")
    check(at.data and b.ggml_get_data(a) == at.data and at.data == a + ctypes.sizeof(GgmlTensor),
          "data field offset")
    check(yt.op == 29 and b.ggml_op_desc(y) == b"MUL_MAT" and yt.src[0] == a and yt.src[1] == x
          and all(s is None for s in yt.src[2:]) and list(yt.ne) == [24, 7, 3, 1],
          "op / src[] of a MUL_MAT node")
    check(tt.view_src == x and tt.view_offs == 0 and list(tt.ne) == [7, 40, 3, 1]
          and list(tt.nb) == [160, 4, 1120, 3360] and not b.ggml_is_contiguous(ctypes.addressof(tt)),
          "view_src / nb of a transposed view")
    b.ggml_free(ctx)
    return {"sizeof_ggml_tensor": ctypes.sizeof(GgmlTensor),
            "field_offsets": {f[0]: getattr(GgmlTensor, f[0]).offset for f in GgmlTensor._fields_},
            "GGML_OP_MUL_MAT": 29, "GGML_OP_MUL_MAT_ID": 30, "GGML_MAX_SRC": GGML_MAX_SRC,
            "checked_with": "ggml_tensor_overhead, ggml_get_name, ggml_get_data, ggml_op_name, "
                            "ggml_op_desc, a ggml_mul_mat / ggml_transpose node built by the library"}


def filter_tensor_name(name):
    p = name.find("#")
    if p < 0:
        return name
    q = name.find("#", p + 1)
    return name[p + 1:q] if q >= 0 else name[p + 1:]


class Collector:
    """IMatrixCollector::collect_imatrix (master), in Python."""

    def __init__(self, lib, chunk_size, process_output=False):
        self.b = lib.base
        self.chunk_size = chunk_size
        self.process_output = process_output
        self.stats = {}        # name -> {"values": array('f'), "counts": [int]}
        self.last_chunk = 0
        self.calls = {}        # name -> number of ask=false calls
        self.src_shapes = {}   # name -> set of (src0 ne, src1 ne, src1 contiguous, src0 name)
        self.declined = {}     # (reason, src0 name stripped of layer) -> example
        self.error = None
        self.cb = EVAL_CB_T(self._cb)

    def _cb(self, tp, ask, _ud):
        try:
            return self.collect(tp, ask)
        except Exception as e:  # an exception must not cross the C boundary
            if self.error is None:
                import traceback
                self.error = traceback.format_exc()
            return False

    def collect(self, tp, ask):
        t = GgmlTensor.from_address(tp)
        if ask:
            if t.op == 30:
                return True
            if t.op != 29:
                return False
            src0 = GgmlTensor.from_address(t.src[0])
            src1 = GgmlTensor.from_address(t.src[1])
            wname = filter_tensor_name(src0.name.decode())
            reason = None
            if src1.ne[1] < 16 or src1.type != GGML_TYPE_F32:
                reason = "src1->ne[1] < 16 or src1 not F32"
            elif not (wname.startswith("blk.") or (self.process_output and wname == "output.weight")):
                reason = "weight name not blk.* (output.weight only with --process-output)"
            if reason:
                key = (reason, wname)
                self.declined.setdefault(key, {"reason": reason, "weight": wname,
                                               "src0_ne": list(src0.ne), "src1_ne": list(src1.ne),
                                               "src1_type": src1.type, "n": 0})["n"] += 1
                return False
            return True

        src0 = GgmlTensor.from_address(t.src[0])
        src1 = GgmlTensor.from_address(t.src[1])
        wname = filter_tensor_name(src0.name.decode())
        check(self.b.ggml_backend_buffer_is_host(src1.buffer), "src1 not in host memory")
        check(src1.nb[0] == 4 and src1.type == GGML_TYPE_F32, "src1 nb[0] / type")  # GGML_ASSERT there
        check(src0.ne[0] == src1.ne[0], "src0/src1 ne[0] mismatch for " + wname)
        data = src1.data
        K = src1.ne[0]
        self.calls[wname] = self.calls.get(wname, 0) + 1
        self.src_shapes.setdefault(wname, set()).add(
            (tuple(src0.ne), tuple(src1.ne), bool(self.b.ggml_is_contiguous(t.src[1])), src0.name.decode()))
        if t.op == 30:
            return self._collect_id(t, src0, src1, wname, data, K)
        n_mat = src0.ne[2] * src0.ne[3]
        e = self.stats.setdefault(wname, {"values": array.array("f"), "counts": []})
        if len(e["counts"]) > 1 and all(c == e["counts"][0] for c in e["counts"]):
            e["counts"] = e["counts"][:1]
        if len(e["values"]) == 0:
            e["values"] = array.array("f", bytes(4 * K * n_mat))
            e["counts"] = [0]
            e["f64"] = [0.0] * (K * n_mat)   # double accumulation, for the tolerance note
        else:
            check(len(e["values"]) == K * n_mat, "inconsistent size for " + wname)
        vals = e["values"]
        f64 = e["f64"]
        for i3 in range(src1.ne[3]):
            for i2 in range(src1.ne[2]):
                mat_id = (i3 % src0.ne[3]) * src0.ne[2] + (i2 % src0.ne[2])
                ms = mat_id * K
                for row in range(src1.ne[1]):
                    x = array.array("f", ctypes.string_at(
                        data + row * src1.nb[1] + i2 * src1.nb[2] + i3 * src1.nb[3], 4 * K))
                    sq = array.array("f", [v * v for v in x])  # f32(x*x)
                    for j in range(K):
                        vals[ms + j] += sq[j]               # f32(acc + sq)
                        f64[ms + j] += x[j] * x[j]
        nrows = src1.ne[1] * src1.ne[2] * src1.ne[3]
        for i in range(len(e["counts"])):
            e["counts"][i] += nrows // n_mat
            self.last_chunk = max(self.last_chunk, e["counts"][i] // self.chunk_size)
        return True

    def _collect_id(self, t, src0, src1, wname, data, K):
        ids = GgmlTensor.from_address(t.src[2])
        n_as = src0.ne[2]
        n_ids = ids.ne[0]
        check(ids.ne[1] == src1.ne[2], "ids/src1 shape")
        e = self.stats.setdefault(wname, {"values": array.array("f"), "counts": []})
        if len(e["counts"]) == 1 and n_as > 1:
            e["counts"] = e["counts"] * n_as
        if len(e["values"]) == 0:
            e["values"] = array.array("f", bytes(4 * K * n_as))
            e["counts"] = [0] * n_as
        vals = e["values"]
        for ex in range(n_as):
            for idx in range(n_ids):
                for row in range(src1.ne[2]):
                    cur = ctypes.c_int32.from_address(ids.data + row * ids.nb[1] + idx * ids.nb[0]).value
                    if cur != ex:
                        continue
                    x = array.array("f", ctypes.string_at(
                        data + (idx % src1.ne[1]) * src1.nb[1] + row * src1.nb[2], 4 * K))
                    e["counts"][ex] += 1
                    for j in range(K):
                        vals[ex * K + j] += f32(x[j] * x[j])
            self.last_chunk = max(self.last_chunk, e["counts"][ex] // self.chunk_size)
        return True


# --------------------------------------------------------------------------- evaluation

def evaluate(lib, model, tokens, n_chunk, mode, collector):
    """mode "imatrix-default": llama-imatrix -c CHUNK with default -b/-ub (all chunks as
    sequences of one llama_decode); "per-chunk": one llama_decode per chunk (-b CHUNK)."""
    l = lib.llama
    vocab = l.llama_model_get_vocab(model)
    add_bos = l.llama_vocab_get_add_bos(vocab)
    check(not l.llama_vocab_get_add_eos(vocab), "llama-imatrix asserts !add_eos")
    if mode == "imatrix-default":
        n_seq = max(1, N_BATCH_DEFAULT // CHUNK)
        n_batch = min(N_BATCH_DEFAULT, n_seq * CHUNK)
    else:
        n_seq = 1
        n_batch = CHUNK
    cp = l.llama_context_default_params()
    cp.n_ctx = n_seq * CHUNK
    cp.n_batch = n_batch
    cp.n_ubatch = min(N_UBATCH_DEFAULT, n_batch)
    cp.n_seq_max = n_seq
    cp.n_threads = N_THREADS
    cp.n_threads_batch = N_THREADS
    cp.no_perf = True
    cp.cb_eval = ctypes.cast(collector.cb, ctypes.c_void_p).value
    cp.cb_eval_user_data = None
    ctx = l.llama_init_from_model(model, cp)
    check(ctx, "context")
    check(l.llama_n_seq_max(ctx) == n_seq and l.llama_n_batch(ctx) == n_batch,
          "context params read back: seq %d batch %d" % (l.llama_n_seq_max(ctx), l.llama_n_batch(ctx)))
    num_batches = (CHUNK + n_batch - 1) // n_batch
    batch = l.llama_batch_init(min(n_batch, CHUNK * n_seq), 0, 1)
    n_decode = 0
    for i in range(0, n_chunk, n_seq):
        start = i * CHUNK
        end = start + CHUNK
        n_seq_batch = min(n_seq, n_chunk - i)
        l.llama_memory_clear(l.llama_get_memory(ctx), True)
        for j in range(num_batches):
            batch_start = start + j * n_batch
            batch_size = min(end - batch_start, n_batch)
            n = 0
            for seq in range(n_seq_batch):
                seq_start = batch_start + seq * CHUNK
                for k in range(batch_size):
                    tok = tokens[seq_start + k]
                    if add_bos and j == 0 and k == 0:
                        tok = l.llama_vocab_bos(vocab)
                    batch.token[n] = tok
                    batch.pos[n] = j * n_batch + k
                    batch.n_seq_id[n] = 1
                    batch.seq_id[n][0] = seq
                    batch.logits[n] = 1
                    n += 1
            batch.n_tokens = n
            rc = l.llama_decode(ctx, batch)
            check(rc == 0, "llama_decode rc=%d" % rc)
            n_decode += 1
            if collector.error:
                raise SystemExit("eval callback failed:\n" + collector.error)
    l.llama_batch_free(batch)
    l.llama_free(ctx)
    return {"mode": mode, "n_ctx": n_seq * CHUNK, "n_seq_max": n_seq, "n_batch": n_batch,
            "n_ubatch": min(N_UBATCH_DEFAULT, n_batch), "n_threads": N_THREADS,
            "llama_decode_calls": n_decode, "add_bos": bool(add_bos), "all_logits": True}


# --------------------------------------------------------------------------- writers

def _gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gguf_imatrix_bytes(entries, datasets, chunk_count, chunk_size):
    """entries: sorted list of (name, values array('f'), counts list) -> GGUF v3 bytes in
    llama-imatrix's layout."""
    kv = [
        _gstr("general.type") + struct.pack("<I", 8) + _gstr("imatrix"),
        _gstr("imatrix.datasets") + struct.pack("<IIQ", 9, 8, len(datasets))
        + b"".join(_gstr(d) for d in datasets),
        _gstr("imatrix.chunk_count") + struct.pack("<II", 4, chunk_count),
        _gstr("imatrix.chunk_size") + struct.pack("<II", 4, chunk_size),
    ]
    tensors = []
    for name, values, counts in entries:
        nmat = len(counts)
        nval = len(values)
        tensors.append((name + ".in_sum2", [nval // nmat, nmat], values.tobytes()))
        tensors.append((name + ".counts", [1, nmat], array.array("f", [float(c) for c in counts]).tobytes()))
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv)
    off = 0
    for name, ne, data in tensors:
        while len(ne) > 1 and ne[-1] == 1:  # ggml_n_dims
            ne = ne[:-1]
        head += _gstr(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
        head += struct.pack("<IQ", GGML_TYPE_F32, off)
        off += -(-len(data) // GGUF_ALIGNMENT) * GGUF_ALIGNMENT
    out = head + b"\0" * (-len(head) % GGUF_ALIGNMENT)
    for _, _, data in tensors:
        out += data + b"\0" * (-len(data) % GGUF_ALIGNMENT)
    return out


def gguf_imatrix_via_library(lib, path, entries, datasets, chunk_count, chunk_size):
    """What save_imatrix does, with the library's ggml/gguf functions."""
    b = lib.base
    size = 0
    for _, values, counts in entries:
        for n in (len(values), len(counts)):
            size += -(-(b.ggml_tensor_overhead() + 4 * n) // 16) * 16
    ctx = b.ggml_init(GgmlInitParams(size + 4096, None, False))
    g = b.gguf_init_empty()
    b.gguf_set_val_str(g, b"general.type", b"imatrix")
    arr = (ctypes.c_char_p * len(datasets))(*[d.encode() for d in datasets])
    b.gguf_set_arr_str(g, b"imatrix.datasets", arr, len(datasets))
    b.gguf_set_val_u32(g, b"imatrix.chunk_count", chunk_count)
    b.gguf_set_val_u32(g, b"imatrix.chunk_size", chunk_size)
    for name, values, counts in entries:
        nmat = len(counts)
        s2 = b.ggml_new_tensor_2d(ctx, GGML_TYPE_F32, len(values) // nmat, nmat)
        c = b.ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 1, nmat)
        check(s2 and c, "ggml_new_tensor_2d")
        b.ggml_set_name(s2, (name + ".in_sum2").encode())
        b.ggml_set_name(c, (name + ".counts").encode())
        ctypes.memmove(b.ggml_get_data(s2), values.tobytes(), 4 * len(values))
        ctypes.memmove(b.ggml_get_data(c), array.array("f", [float(x) for x in counts]).tobytes(), 4 * nmat)
        b.gguf_add_tensor(g, s2)
        b.gguf_add_tensor(g, c)
    check(b.gguf_write_to_file(g, path.encode(), False), "gguf_write_to_file")
    b.gguf_free(g)
    b.ggml_free(ctx)


def legacy_dat_bytes(entries, chunk_size, last_chunk, dataset):
    """save_imatrix_legacy (master)."""
    store = [e for e in entries if any(c != 0 for c in e[2])]
    out = struct.pack("<i", len(store))
    for name, values, counts in store:
        nb = name.encode()
        out += struct.pack("<i", len(nb)) + nb
        ncall = (max(counts) + chunk_size - 1) // chunk_size
        nval, nmat = len(values), len(counts)
        out += struct.pack("<ii", ncall, nval)
        tmp = array.array("f", bytes(4 * nval))
        for i in range(nval):
            count = float(counts[i // (nval // nmat)])
            value = values[i]
            if count == 0.0:
                value, count = 1.0, 1.0
            tmp[i] = f32(f32(value / count) * float(ncall))
        out += tmp.tobytes()
    db = dataset.encode()
    out += struct.pack("<i", last_chunk) + struct.pack("<i", len(db)) + db
    return out


def read_dat(data):
    """Parse a legacy .dat (for the self-check)."""
    off = 0

    def rd(fmt):
        nonlocal off
        v = struct.unpack_from("<" + fmt, data, off)
        off += struct.calcsize("<" + fmt)
        return v

    n, = rd("i")
    out = {}
    for _ in range(n):
        ln, = rd("i")
        name = data[off:off + ln].decode()
        off += ln
        ncall, nval = rd("ii")
        out[name] = (ncall, array.array("f", data[off:off + 4 * nval]))
        off += 4 * nval
    last, = rd("i")
    ln, = rd("i")
    ds = data[off:off + ln].decode()
    off += ln
    check(off == len(data), "trailing bytes in .dat")
    return out, last, ds


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bins", help="dir with libllama.v0.5.0.so, libggml*.so, libggml-cpu-*.so")
    ap.add_argument("out", help="output dir (created)")
    ap.add_argument("--refmodels", default="/work/shared/refmodels")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()

    lib = Lib(args.bins)
    setup_protos(lib)
    layout = check_tensor_layout(lib)
    backend = lib.load_cpu_backend()
    build = {}
    try:
        with open(os.path.join(args.bins, "_nlcBuildMetadata.json")) as f:
            build = json.load(f)
    except OSError:
        pass
    with open(os.path.join(args.refmodels, "manifest.json")) as f:
        ref = json.load(f)
    prompts = {p["name"]: p["ids"] for p in ref["prompts"]}

    manifest = {
        "description": __doc__.split("\n")[0] + " " + __doc__.split("\n")[1],
        "library": {"llama_version()": lib.llama.llama_version().decode(),
                    "ggml_version()": lib.base.ggml_version().decode(),
                    "ggml_commit()": lib.base.ggml_commit().decode(),
                    "node_llama_cpp_build_metadata": build,
                    "note": "prebuilt llama.cpp of @node-llama-cpp/linux-x64 3.22.1 (see "
                            "llama_quant_refs.py); CPU backend only"},
        "backend": backend,
        "ggml_tensor_layout": layout,
        "llama_cpp_sources_read": {
            "tools/imatrix/imatrix.cpp": "050fc7f32de16858ac667d775b43a51ed8976e6f (master; in_sum2 + counts)",
            "tools/imatrix/imatrix.cpp (open PR #14891)": "006e7ef9913f4ed2dc7ebc00890f4e287b6cfcea (also writes .in_sum; not used)",
            "examples/imatrix/imatrix.cpp (pre-GGUF)": "0589c3ee9ffe936663d4119fd647ba9a785fda9f",
            "tools/quantize/quantize.cpp": "42ea59bcf104ce81f167a66020a5eeafa428ecb2",
            "src/llama-quant.cpp": "8784689fee07c6daabf3487d24e1535534ef6e6b",
        },
        "rules_applied": RULES,
        "facts": "see the docstring of model/tools/llama_imatrix_refs.py",
        "chunk_size": CHUNK,
        "dataset_string": DATASET,
        "token_list_rule": "ids of prompt p150 then prompt p16 from refmodels/manifest.json for the "
                           "model's tokenizer family (gpt2 for rwkv6qwen2, rwkv for rwkv6), cut to "
                           "min(%d, floor(len/%d)) whole chunks of %d" % (MAX_CHUNKS, CHUNK, CHUNK),
        "accumulation": "float32 emulated: in_sum2[k] = f32(in_sum2[k] + f32(x*x)), rows in "
                        "llama-imatrix loop order (i3, i2, row)",
        "files_layout": {
            "<model>.imatrix.gguf": "GGUF v3, alignment 32; KV general.type='imatrix', "
                                    "imatrix.datasets=[dataset_string], imatrix.chunk_count=u32, "
                                    "imatrix.chunk_size=u32; per entry (sorted by name) "
                                    "'<name>.in_sum2' F32 [K] (raw sum of squares) then "
                                    "'<name>.counts' F32 [1] (rows accumulated)",
            "<model>.imatrix.dat": "legacy: i32 n; per entry (sorted) i32 len, name, i32 ncall, "
                                   "i32 nval, f32[nval] = in_sum2/count*ncall; i32 chunk_count; "
                                   "i32 len, dataset_string",
        },
        "models": [],
    }

    for stem, family in MODELS:
        path = os.path.join(args.refmodels, stem + ".gguf")
        ids = list(prompts["p150"][family]) + list(prompts["p16"][family])
        n_chunk = min(MAX_CHUNKS, len(ids) // CHUNK)
        check(n_chunk >= 2, "llama-imatrix needs at least 2 chunks")
        tokens = ids[:n_chunk * CHUNK]
        _, kv, gtensors = lq.read_gguf_info(path)
        shapes = {t["name"]: t["shape"] for t in gtensors}

        mp = lib.llama.llama_model_default_params()
        mp.n_gpu_layers = 0
        model = lib.llama.llama_model_load_from_file(path.encode(), mp)
        check(model, "load " + path)
        lib.take_log()

        col = Collector(lib, CHUNK)
        run = evaluate(lib, model, tokens, n_chunk, "imatrix-default", col)
        alt = Collector(lib, CHUNK)
        run_alt = evaluate(lib, model, tokens, n_chunk, "per-chunk", alt)
        lib.llama.llama_model_free(model)
        lib.take_log()

        names = sorted(col.stats)
        entries = [(n, col.stats[n]["values"], col.stats[n]["counts"]) for n in names]
        # sanity
        for n, values, counts in entries:
            check(n in shapes, "collected name %r is not a model tensor" % n)
            check(len(values) == shapes[n][0] * (shapes[n][2] if len(shapes[n]) > 2 else 1),
                  "n_values of %s vs shape %r" % (n, shapes[n]))
            check(counts == [len(tokens)], "counts of %s: %r" % (n, counts))
            check(all(v > 0.0 for v in values), "non-positive in_sum2 in " + n)
        check(sorted(alt.stats) == names and col.last_chunk == n_chunk == alt.last_chunk,
              "per-chunk run collected other tensors / chunks")
        alt_diff = 0.0
        for n in names:
            for a, b2 in zip(col.stats[n]["values"], alt.stats[n]["values"]):
                alt_diff = max(alt_diff, abs(a - b2) / max(abs(a), 1e-30))
            check(alt.stats[n]["counts"] == col.stats[n]["counts"], "per-chunk counts of " + n)
        f64_diff = max(abs(a - d) / d for n in names
                       for a, d in zip(col.stats[n]["values"], col.stats[n]["f64"]))

        gg = os.path.join(args.out, stem + ".imatrix.gguf")
        data = gguf_imatrix_bytes(entries, [DATASET], col.last_chunk, CHUNK)
        with open(gg, "wb") as f:
            f.write(data)
        libpath = os.path.join(args.out, ".lib-check.gguf")
        gguf_imatrix_via_library(lib, libpath, entries, [DATASET], col.last_chunk, CHUNK)
        with open(libpath, "rb") as f:
            libdata = f.read()
        os.remove(libpath)
        check(libdata == data, "python GGUF writer differs from gguf_write_to_file for " + stem)
        ver, gkv, gt = lq.read_gguf_info(gg)
        check(ver == 3 and gkv["general.type"] == "imatrix" and len(gt) == 2 * len(entries),
              "GGUF read-back")

        dat = os.path.join(args.out, stem + ".imatrix.dat")
        ddata = legacy_dat_bytes(entries, CHUNK, col.last_chunk, DATASET)
        with open(dat, "wb") as f:
            f.write(ddata)
        dd, dlast, dds = read_dat(ddata)
        check(sorted(dd) == names and dlast == col.last_chunk and dds == DATASET, ".dat read-back")
        for n, values, counts in entries:
            ncall, dv = dd[n]
            check(ncall == n_chunk, "ncall of " + n)
            for a, b2 in zip(dv, values):
                check(abs(a / ncall - b2 / counts[0]) <= 1e-6 * abs(b2 / counts[0]), ".dat value of " + n)

        declined = sorted(col.declined.values(), key=lambda d: d["weight"])
        # blk weights with >= 2 dims; time_mix_first ({head_size, n_head}) is an operand of
        # RWKV_WKV6, not of a matmul, so it never has imatrix data
        quantizable = [t["name"] for t in gtensors if t["name"].startswith("blk.")
                       and len(t["shape"]) >= 2 and t["shape"][1] > 1]
        tensors = []
        for n, values, counts in entries:
            sh = sorted(col.src_shapes[n])
            tensors.append({"name": n, "n_values": len(values), "n_mat": len(counts),
                            "count": counts[0], "sum_in_sum2": sum(float(v) for v in values),
                            "min_in_sum2": min(values), "max_in_sum2": max(values),
                            "weight_shape": shapes[n], "callback_calls": col.calls[n],
                            "src1_ne_seen": [list(s[1]) for s in sh],
                            "src1_contiguous": [s[2] for s in sh],
                            "src0_name_seen": sorted({s[3] for s in sh})})
        ffn_down = "ffn_down" if family == "gpt2" else "channel_mix_value"
        first8 = {}
        for n in ("blk.0.time_mix_key.weight", "blk.1.time_mix_decay_w2.weight",
                  "blk.3.%s.weight" % ffn_down):
            first8[n] = [float(v) for v in col.stats[n]["values"][:8]]
        manifest["models"].append({
            "model": stem + ".gguf", "arch": kv.get("general.architecture"),
            "sha256": file_digest(path), "bytes": os.path.getsize(path),
            "tokenizer_family": family,
            "tokens_available": len(ids), "n_chunks": n_chunk, "n_tokens_used": len(tokens),
            "tokens": tokens,
            "evaluation": run,
            "max_rel_diff_in_sum2_float32_vs_float64_accumulation": f64_diff, "check_per_chunk_decode": dict(run_alt, max_rel_diff_vs_default=alt_diff),
            "imatrix_gguf": {"file": os.path.basename(gg), "bytes": len(data),
                             "sha256": hashlib.sha256(data).hexdigest(),
                             "identical_to_library_gguf_write_to_file": True,
                             "chunk_count": col.last_chunk, "chunk_size": CHUNK,
                             "n_entries": len(entries), "n_tensors": 2 * len(entries)},
            "imatrix_dat": {"file": os.path.basename(dat), "bytes": len(ddata),
                            "sha256": hashlib.sha256(ddata).hexdigest(), "ncall": n_chunk,
                            "last_chunk": col.last_chunk},
            "entries": tensors,
            "first8_in_sum2": first8,
            "declined_mul_mats": declined,
            "blk_matrices_without_entry": [n for n in quantizable if n not in col.stats],
            "blk_matrices_without_entry_note": "time_mix_w2: declined in the ask phase (its "
                "matmul's src1 has ne[1] = 1 < 16); time_mix_first (rwkv6 only): not a matmul "
                "operand (RWKV_WKV6)",
        })
        print("%s: %d entries, %d chunks, per-chunk max rel diff %.3g, not collected: %s" % (
            stem, len(entries), n_chunk, alt_diff,
            sorted({n.split(".", 2)[2] for n in quantizable if n not in col.stats})), flush=True)

    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("done in %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
