#!/usr/bin/env python3
"""Independent reference data for the token samplers, made by llama.cpp's OWN samplers
(llama_sampler_init_* / llama_sampler_chain_* / llama_sampler_apply / llama_sampler_accept)
through ctypes, not by vkrwkv code.

Library: the prebuilt llama.cpp of llama_quant_refs.py (@node-llama-cpp/linux-x64 3.22.1,
libllama.v0.5.0.so, CPU); vocab-only loads of model/default/kjv-qrwkv6.gguf (4096-token BPE) and
/work/shared/refmodels/micro-rwkv6-f32.gguf (1024-token RWKV World) for DRY. Rerun (python3 only):
    python3 model/tools/llama_sampling_refs.py /tmp/npmtry/x/package/bins/linux-x64 \\
        tests/data/llama_sampling/cases.json
Output, one JSON document: "library"; "vocabs"; "chains": {name, seed (logit row seed), logits
(V float32; rows are round(random.Random(seed).gauss(0, sd), 3), distinct, so no ties), history
(ids accepted with llama_sampler_accept(chain, id) before the apply), samplers (chain order),
llama_names (llama_sampler_name; "?x" = llama's no-op sampler), out: the array after ONE
llama_sampler_apply(chain) on {data[i] = {i, logit_i, p 0}, size V, selected -1, sorted false}:
ids / logits / p of the entries in array order EXCLUDING -INFINITY logits (counted in n_neg_inf),
p as llama left it (0 = never written), sorted, selected, size (incl. -inf), data_offset (entries
the data pointer moved: XTC)}; DRY cases (logits all 0) have text and changed_only: true (out
lists only entries whose logit changed). "mirostat": common_sampler_init's chain [temp(T),
mirostat(n_vocab, seed, tau, eta, m 100)] or [temp(T), mirostat_v2(seed, tau, eta)]; per step a
fresh row, apply, kept (ids in array order) + p, selected id (+ selected_index), mu_before /
mu_after (read from the sampler's ctx), then llama_sampler_accept(chain, selected).
Numbers: each float32 is written as the shortest decimal that gives it back both via double and
via correctly rounded decimal->float (checked); +0.0 is written as 0. Read them as float32.

ABI of THIS build (disassembly; differs from include/llama.h at 00efb3e and older docs):
llama_sampler_init_penalties(int32 n_vocab, int32 last_n, float repeat, float freq, float present)
(n_vocab first: llama.cpp PR #26520); llama_sampler_init_dry(vocab, float multiplier, float base,
int32 allowed_length, int32 last_n, const char ** breakers, size_t n) -- NO n_ctx_train (PR
#26524); a last_n <= 0 gives the no-op "?penalties" / "?dry" (-1 no longer means context size).
llama_sampler_chain_params = {bool no_perf}, passed / returned by value (default no_perf true).
mirostat ctx: {i32 n_vocab, u32 seed, u32 seed_cur, f tau, f eta, i32 m, f mu @24}; v2: mu @16.
Semantics (src/llama-sampler.cpp at 00efb3e184262872916bf136b3df63c1822a19bd, common/sampling.cpp;
every output here was also compared with a Python reading of that file: all agree except
top-n-sigma): no-op samplers when top_k k <= 0, top_p / typical p >= 1, min_p p <= 0, temp t == 1,
temp_ext t == 1 && delta <= 0, xtc p <= 0 || t > 0.5, top_n_sigma n <= 0, empty logit bias.
top_k: sort desc (partial), truncate to min(k, size). top_p: softmax of the unsorted array, sort,
keep the first i+1 with cum >= p && i+1 >= min_keep (p = full-array softmax, not renormalized).
min_p (unsorted input): keep, in array order, logit >= max + logf(p); if fewer than min_keep (or
none) fall back to: sort desc, keep i < min_keep or logit >= top + logf(p). typical: sorted
softmax, H = -sum p ln p, order by |-ln p - H| ascending, cut at cum > p (and i >= min_keep-1),
array left in that order, sorted = false. temp: logit / t; t <= 0: every entry but the first max
becomes -INFINITY. temp_ext (delta > 0, size > 1): sorted softmax, lo = max(0, t - delta), dyn_t =
lo + (t + delta - lo) (H / ln size)^exponent, logit /= dyn_t, p = softmax in double; else temp.
xtc: when it fires (p = 1 always does), sorted softmax, pos_last = last index with p >= t; if
pos_last > 0 && size - pos_last >= min_keep the DATA POINTER advances by pos_last. top_n_sigma
(THIS build): mean / population sd over finite logits, logit < max - n sd -> -INFINITY, NO sort,
NO softmax (00efb3e sorts and softmaxes). penalties: ids among the last last_n accepted, count
c: logit <= 0 ? logit * repeat : logit / repeat, then -= c freq + present. logit_bias: each pair
adds to the entry with that id (duplicates add twice, absent ids ignored; "-inf" masks).
DRY (Koboldcpp port): breakers via get_overlapping_token_sequences (token text, special = true);
suffix repeats in the last last_n tokens (Z-algorithm) limited by the nearest breaker; penalty
multiplier * base^(len - allowed_length), exponent clamped to int(88.7228391 / ln base); all
16 cases matched a Python version of that code. mirostat: v1 s_hat from the top m, k = ((s_hat-1)
2^mu / (1 - n_vocab^-(s_hat-1)))^(1/s_hat), top-k, renormalized; v2 keeps the sorted prefix with
-log2 p <= mu (at least 1); selection = std::discrete_distribution(mt19937(seed)); mu starts at
2 tau, mu -= eta (-log2 p_selected - tau). Chain defaults (common): top_k 40, top_p 0.95, min_p
0.05, min_keep 0, temperature = temp_ext(0.8, 0, 1).
"""

import argparse
import ctypes
import json
import math
import os
import random
import struct
import sys
import time
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_imatrix_refs as li  # noqa: E402  (protos)
import llama_hellaswag_refs as hs  # noqa: E402  (setup_extra, common_tokenize, detok)
from llama_grammar_refs import TokenData, TokenDataArray, Vocab, setup_grammar  # noqa: E402
from llama_quant_refs import Lib, check, build_metadata  # noqa: E402

KJV = "model/default/kjv-qrwkv6.gguf"
MICRO = "refmodels/micro-rwkv6-f32.gguf"
NEG_INF = float("-inf")


class LogitBias(ctypes.Structure):
    _fields_ = [("token", ctypes.c_int32), ("bias", ctypes.c_float)]


class ChainParams(ctypes.Structure):  # llama_sampler_chain_params {bool no_perf}, by value
    _fields_ = [("no_perf", ctypes.c_bool)]


# --------------------------------------------------------------------------- floats

def f32(x): return ctypes.c_float(x).value  # noqa: E704


_JF = {}


def jf(x):
    """float32 x -> the double of the shortest decimal that gives x back both ways (decimal ->
    double -> float32, and decimal -> float32 correctly rounded: strictly inside x's interval).
    +0.0 is written as the integer 0 (saves room; -0.0 stays -0.0)."""
    x = f32(x)
    if x == 0.0:
        return x if math.copysign(1.0, x) < 0 else 0
    if x not in _JF:
        check(math.isfinite(x), "finite float expected, got %r" % x)
        bits = struct.unpack("<I", struct.pack("<f", x))[0]
        nb = [Fraction(struct.unpack("<f", struct.pack("<I", bits + d))[0]) for d in (-1, 1)]
        lo, hi = sorted(((nb[0] + Fraction(x)) / 2, (nb[1] + Fraction(x)) / 2))
        _JF[x] = next(float(s) for s in ("%.*g" % (n, x) for n in range(1, 18))
                      if f32(float(s)) == x and lo < Fraction(s) < hi)
    return _JF[x]


def rand_row(seed, n, sd=3.0, peaks=0):
    """n distinct float32 logits: round(gauss(0, sd), 3); `peaks` of them lifted to ~6 (XTC)."""
    rng = random.Random(seed)
    seen, row = set(), []
    while len(row) < n:
        v = f32(round(rng.gauss(0.0, sd), 3))
        if v not in seen:
            seen.add(v)
            row.append(v)
    for i in rng.sample(range(n), peaks):
        v = f32(round(6.0 + rng.gauss(0.0, 0.7), 3))
        while v in seen:
            v = f32(v + 0.001)
        seen.discard(row[i])
        seen.add(v)
        row[i] = v
    return row


# --------------------------------------------------------------------------- library glue

def setup_samplers(lib):
    l = lib.llama
    vp, i32, u32, f, sz = (ctypes.c_void_p, ctypes.c_int32, ctypes.c_uint32, ctypes.c_float,
                           ctypes.c_size_t)
    protos = {
        "llama_sampler_chain_init": [ChainParams], "llama_sampler_chain_add": [vp, vp],
        "llama_sampler_chain_get": [vp, i32], "llama_sampler_chain_n": [vp],
        "llama_sampler_init_top_k": [i32], "llama_sampler_init_top_p": [f, sz],
        "llama_sampler_init_min_p": [f, sz], "llama_sampler_init_typical": [f, sz],
        "llama_sampler_init_temp": [f], "llama_sampler_init_temp_ext": [f, f, f],
        "llama_sampler_init_xtc": [f, f, sz, u32], "llama_sampler_init_top_n_sigma": [f],
        "llama_sampler_init_mirostat": [i32, u32, f, f, i32],
        "llama_sampler_init_mirostat_v2": [u32, f, f],
        "llama_sampler_init_penalties": [i32, i32, f, f, f],
        "llama_sampler_init_dry": [vp, f, f, i32, i32, ctypes.POINTER(ctypes.c_char_p), sz],
        "llama_sampler_init_logit_bias": [i32, i32, ctypes.POINTER(LogitBias)],
    }
    for name, args in protos.items():
        getattr(l, name).argtypes, getattr(l, name).restype = args, vp
    l.llama_sampler_chain_add.restype = None
    l.llama_sampler_chain_n.restype = ctypes.c_int
    dp = l.llama_sampler_chain_default_params
    dp.restype, dp.argtypes = ChainParams, []
    check(l.llama_sampler_chain_default_params().no_perf is True, "chain default params no_perf")


LLAMA_NAMES = {"top_k": "top-k", "top_p": "top-p", "min_p": "min-p", "typical": "typical",
               "temp": "temp", "temp_ext": "temp-ext", "xtc": "xtc", "top_n_sigma": "top-n-sigma",
               "penalties": "penalties", "logit_bias": "logit-bias", "dry": "dry"}
F = f32
EMPTY = {  # when llama_sampler_init_* returns the no-op "?name" sampler (llama-sampler.cpp)
    "top_k": lambda s: s["k"] <= 0, "top_p": lambda s: F(s["p"]) >= 1.0,
    "typical": lambda s: F(s["p"]) >= 1.0, "min_p": lambda s: F(s["p"]) <= 0.0,
    "temp": lambda s: F(s["t"]) == 1.0, "top_n_sigma": lambda s: F(s["n"]) <= 0.0,
    "temp_ext": lambda s: F(s["t"]) == 1.0 and F(s["delta"]) <= 0.0,
    "xtc": lambda s: F(s["p"]) <= 0.0 or F(s["t"]) > 0.5,
    "penalties": lambda s: s["last_n"] <= 0 or (F(s["repeat"]) == 1.0 and F(s["freq"]) == 0.0
                                                and F(s["present"]) == 0.0),
    "logit_bias": lambda s: not s["bias"],
    "dry": lambda s: F(s["multiplier"]) == 0.0 or F(s["base"]) < 1.0 or s["last_n"] <= 0}


def make_sampler(l, s, n_vocab, vocabs):
    t, g = s["type"], s.get
    if t == "logit_bias":
        n = len(s["bias"])
        arr = (LogitBias * max(n, 1))(*[LogitBias(i, NEG_INF if b == "-inf" else b)
                                         for i, b in s["bias"]])
        return l.llama_sampler_init_logit_bias(n_vocab, n, arr)
    if t == "dry":
        br = (ctypes.c_char_p * max(len(s["breakers"]), 1))(*[b.encode() for b in s["breakers"]])
        return l.llama_sampler_init_dry(vocabs[s["vocab"]].vocab, s["multiplier"], s["base"],
                                        s["allowed_length"], s["last_n"], br, len(s["breakers"]))
    args = {"top_k": ("k",), "top_p": ("p", "min_keep"), "min_p": ("p", "min_keep"),
            "typical": ("p", "min_keep"), "temp": ("t",), "temp_ext": ("t", "delta", "exponent"),
            "xtc": ("p", "t", "min_keep", "seed"), "top_n_sigma": ("n",),
            "penalties": ("n_vocab", "last_n", "repeat", "freq", "present")}[t]
    return getattr(l, "llama_sampler_init_" + t)(*[g(k, n_vocab) for k in args])


def new_chain(l): return l.llama_sampler_chain_init(ChainParams(True))  # noqa: E704
def sampler_name(l, smpl): return l.llama_sampler_name(smpl).decode()  # noqa: E704


def new_array(logits):
    n = len(logits)
    buf = (TokenData * n)()
    for i, x in enumerate(logits):
        buf[i].id, buf[i].logit, buf[i].p = i, x, 0.0
    arr = TokenDataArray(ctypes.cast(buf, ctypes.POINTER(TokenData)), n, -1, False)
    return buf, arr


def read_array(buf, arr):
    """Entries the array holds after apply, read through arr.data (XTC advances that pointer)."""
    off = ctypes.cast(arr.data, ctypes.c_void_p).value - ctypes.addressof(buf)
    check(off % ctypes.sizeof(TokenData) == 0, "data pointer alignment")
    off //= ctypes.sizeof(TokenData)
    check(0 <= off and off + arr.size <= len(buf), "data pointer inside the buffer")
    ents = [(arr.data[i].id, arr.data[i].logit, arr.data[i].p) for i in range(arr.size)]
    ids = {e[0] for e in ents}
    check(len(ids) == len(ents) and ids <= set(range(len(buf))), "ids unique, in range")
    return off, ents


def run_chain(l, case, vocabs):
    logits = case["logits"]
    chain = new_chain(l)
    names = []
    for s in case["samplers"]:
        sm = make_sampler(l, s, len(logits), vocabs)
        check(sm, "init " + s["type"])
        names.append(sampler_name(l, sm))
        want = ("?" if EMPTY[s["type"]](s) else "") + LLAMA_NAMES[s["type"]]
        check(names[-1] == want, "%s: llama name %r, expected %r" % (case["name"], names[-1], want))
        l.llama_sampler_chain_add(chain, sm)
    check(l.llama_sampler_chain_n(chain) == len(case["samplers"]), "chain_n")
    for t in case["history"]:
        l.llama_sampler_accept(chain, t)
    buf, arr = new_array(logits)
    l.llama_sampler_apply(chain, ctypes.byref(arr))
    off, ents = read_array(buf, arr)
    l.llama_sampler_free(chain)
    if case.get("changed_only"):
        ents = [e for e in ents if e[1] != logits[e[0]]]
    fin = [e for e in ents if e[1] != NEG_INF]
    check(all(math.isfinite(e[1]) and math.isfinite(e[2]) for e in fin), "finite " + case["name"])
    case["llama_names"] = names
    case["out"] = {"ids": [e[0] for e in fin], "logits": [jf(e[1]) for e in fin],
                   "p": [jf(e[2]) for e in fin], "sorted": bool(arr.sorted),
                   "selected": arr.selected, "n_neg_inf": len(ents) - len(fin),
                   "size": arr.size, "data_offset": off}
    return case


# --------------------------------------------------------------------------- cases

SEQ = [1000]  # row seeds: 1001, 1002, ... in case order


def case(cases, name, n, samplers, history=(), sd=3.0, peaks=0):
    SEQ[0] += 1
    cases.append({"name": name, "seed": SEQ[0], "logits": rand_row(SEQ[0], n, sd, peaks),
                  "history": list(history), "samplers": samplers})


def tk(k): return {"type": "top_k", "k": k}  # noqa: E704
def tp(p, mk=0): return {"type": "top_p", "p": p, "min_keep": mk}  # noqa: E704
def mp(p, mk=0): return {"type": "min_p", "p": p, "min_keep": mk}  # noqa: E704
def ty(p, mk=0): return {"type": "typical", "p": p, "min_keep": mk}  # noqa: E704
def ns(n): return {"type": "top_n_sigma", "n": n}  # noqa: E704
def xtc(t, mk=0, p=1.0, seed=1234): return {"type": "xtc", "p": p, "t": t, "min_keep": mk, "seed": seed}  # noqa: E501,E704
def temp(t): return {"type": "temp", "t": t}  # noqa: E704
def tex(t, d=0.0, e=1.0): return {"type": "temp_ext", "t": t, "delta": d, "exponent": e}  # noqa: E704
def pen(n, r, f=0.0, p=0.0): return {"type": "penalties", "last_n": n, "repeat": r, "freq": f, "present": p}  # noqa: E501,E704


def history(seed, n_vocab, n_ids=30, length=80):
    rng = random.Random(seed)
    ids = rng.sample(range(n_vocab), n_ids)
    return [rng.choice(ids) for _ in range(length)]


def single_cases():
    c = []
    [case(c, "top_k-%d-V256" % k, 256, [tk(k)]) for k in (1, 5, 40, 300, 0)]
    case(c, "top_k-200-V1000", 1000, [tk(200)])
    [case(c, "top_k-5-V%d" % V, V, [tk(5)]) for V in (7, 2, 1)]
    [case(c, "top_p-%g-mk%d-V256" % (p, mk), 256, [tp(p, mk)]) for p in (0.5, 0.9, 0.99)
     for mk in (0, 20)]
    case(c, "top_p-0.9-V1000", 1000, [tp(0.9)])
    case(c, "top_p-0.9-V1500", 1500, [tp(0.9)])          # size > 1024: partial-sort path
    case(c, "top_p-0.999-V1500-sd1", 1500, [tp(0.999)], sd=1.0)  # needs > 256 -> full sort
    [case(c, "top_p-0.6-V%d" % V, V, [tp(0.6)]) for V in (7, 2, 1)]
    [case(c, "min_p-%g-mk%d-V256" % (p, mk), 256, [mp(p, mk)]) for p in (0.05, 0.2, 0.9)
     for mk in (0, 10)]
    case(c, "min_p-0.05-V1000", 1000, [mp(0.05)])
    case(c, "min_p-0.3-V7", 7, [mp(0.3)])
    [case(c, "typical-%g-mk%d-V256" % (p, mk), 256, [ty(p, mk)]) for p in (0.2, 0.5, 0.95)
     for mk in (0, 5)]
    case(c, "typical-0.5-V1000-sd1", 1000, [ty(0.5)], sd=1.0)
    [case(c, "typical-0.5-V%d" % V, V, [ty(0.5)]) for V in (7, 2, 1)]
    [case(c, "top_n_sigma-%g-V256" % n, 256, [ns(n)]) for n in (0.5, 1.0, 2.5)]
    case(c, "top_n_sigma-1-V1000", 1000, [ns(1.0)])
    [case(c, "top_n_sigma-1-V%d" % V, V, [ns(1.0)]) for V in (7, 2, 1)]
    [case(c, "xtc-%g-mk%d-V256" % (t, mk), 256, [xtc(t, mk)], sd=1.5, peaks=5)
     for t in (0.05, 0.1, 0.3) for mk in (0, 2)]
    case(c, "xtc-0.1-mk255-V256", 256, [xtc(0.1, 255)], sd=1.5, peaks=5)  # min_keep blocks it
    case(c, "xtc-0.1-V256-nopeak", 256, [xtc(0.1)])
    case(c, "xtc-0.1-V7", 7, [xtc(0.1)], sd=1.0)
    case(c, "xtc-0.1-V1", 1, [xtc(0.1)])
    [case(c, "temp-%g-V256" % t, 256, [temp(t)]) for t in (0.5, 1.7, 0.0)]
    case(c, "temp-0.5-V1", 1, [temp(0.5)])
    [case(c, "temp_ext-%g-%g-%g-V256" % (t, d, e), 256, [tex(t, d, e)])
     for t, d, e in ((0.8, 0.5, 1.0), (1.0, 1.0, 2.0), (0.3, 0.5, 0.5), (0.8, 0.0, 1.0))]
    [case(c, "temp_ext-0.8-0.5-1-V%d" % V, V, [tex(0.8, 0.5, 1.0)]) for V in (2, 1)]
    h = history(77, 256)
    for last_n, rep, fr, pr in ((16, 1.3, 0.2, 0.5), (64, 1.3, 0.2, 0.5), (64, 0.8, 0.0, 0.0),
                                (64, 1.3, 0.0, 0.0), (16, 1.0, 0.2, 0.0), (-1, 1.3, 0.0, 0.0)):
        case(c, "penalties-%d-%g-%g-%g-V256" % (last_n, rep, fr, pr), 256,
             [pen(last_n, rep, fr, pr)], history=h)
    bias = [[3, 2.5], [17, -4.0], [42, "-inf"], [99, 1.25], [17, 0.75], [255, 10.0], [0, -0.5]]
    case(c, "logit_bias-V256", 256, [{"type": "logit_bias", "bias": bias}])
    case(c, "logit_bias-after-top_k-V256", 256,   # shuffled array: searched by id; id 300 absent
         [tk(50), {"type": "logit_bias", "bias": bias + [[300, 5.0]]}])
    return c


def chain_cases():
    c = []
    dflt = [tk(40), tp(0.95), mp(0.05), tex(0.8)]
    lb = {"type": "logit_bias", "bias": [[5, 3.0], [6, "-inf"], [900, -2.0], [17, 1.5], [5, 0.5]]}
    h = history(99, 1000, 40, 120)
    case(c, "chain-default", 1000, dflt)
    case(c, "chain-default-V256", 256, dflt)
    case(c, "chain-default-sd1", 1000, dflt, sd=1.0)
    case(c, "chain-penalties-default", 1000, [pen(64, 1.1)] + dflt, history=h)
    case(c, "chain-penalties-all", 1000, [pen(64, 1.3, 0.2, 0.5)] + dflt, history=h)
    case(c, "chain-typical", 1000, [tk(40), ty(0.7), tp(0.95), mp(0.05), tex(0.8)], sd=1.5)
    case(c, "chain-top_n_sigma", 1000, [ns(1.5), tk(40), tp(0.95), mp(0.05), tex(0.8)])
    case(c, "chain-xtc", 1000, [tk(40), tp(0.95), mp(0.05), xtc(0.1), tex(0.8)], sd=1.5, peaks=5)
    case(c, "chain-temp-first", 1000, [tk(40), tex(0.8), tp(0.95), mp(0.05)])
    case(c, "chain-logit_bias-first", 1000, [lb] + dflt)
    case(c, "chain-dynatemp", 1000, [tk(40), tp(0.95), mp(0.05), tex(0.8, 0.5, 1.0)])
    case(c, "chain-noop-params", 1000, [pen(64, 1.0), ns(-1.0), tk(40), ty(1.0), tp(1.0), mp(0.0),
                                         xtc(0.1, p=0.0), tex(1.0)])
    case(c, "chain-greedy-temp0", 1000, [tk(40), tp(0.95), mp(0.05), tex(0.0)])
    case(c, "chain-min_keep5", 1000, [tk(40), tp(0.5, 5), mp(0.3, 5), xtc(0.05, 5), tex(0.8)],
         sd=2.0, peaks=3)
    case(c, "chain-min_p-before-top_k", 1000, [mp(0.02), tk(40), temp(0.7)], sd=1.0)
    case(c, "chain-sigma-after-temp", 1000, [temp(1.5), ns(1.0), tk(20), tp(0.9)])
    case(c, "chain-everything", 1000, [lb, pen(32, 1.3, 0.2, 0.5), ns(2.0), tk(40), ty(0.9),
                                       tp(0.95), mp(0.05), xtc(0.1, 1), tex(0.8, 0.3, 1.5)],
         history=h, sd=2.0, peaks=4)
    return c


VERSES = ['1:1 In the beginning God created the heaven and the earth.\n'
          '1:2 And the earth was without form, and void; and darkness was upon the face of the deep.\n',
          '1:3 And God said, "Let there be light": and there was light.\n'
          '* 1:4 And God saw the light, that it was good: and God divided the light from the darkness.\n',
          '2:7 And the Lord God formed man of the dust of the ground, and the Lord God breathed into '
          'his nostrils the breath of life; and man became a living soul.\n',
          'And God called the light Day, and the darkness he called Night. And God called the '
          'firmament Heaven. And God called the dry land Earth; and the gathering together of the '
          'waters called he Seas. And God called the']
DRY_BREAKERS = ["\n", ":", "\"", "*"]


def dry_cases(l, vocabs):
    texts = {  # each ends a few tokens after its last breaker, inside a repeat
        "gen-x3": VERSES[0] * 2 + VERSES[0][:36],
        "gen-x6": VERSES[0] * 5 + VERSES[0][:36],
        "light-x3": VERSES[1] * 2 + VERSES[1][:53],
        "lordgod": VERSES[2] + VERSES[2][:93],
        "lordgod-end": VERSES[2] + VERSES[2][:75],
        "called": VERSES[3],
        "mixed": VERSES[0] + VERSES[1] + VERSES[0] + VERSES[1][:28],
    }
    specs = [  # (name, vocab, text, allowed_length, last_n, breakers)
        ("kjv-gen-a2-all", "kjv", "gen-x3", 2, 4096, DRY_BREAKERS),
        ("kjv-gen-a4-all", "kjv", "gen-x3", 4, 4096, DRY_BREAKERS),
        ("kjv-gen-a2-last32", "kjv", "gen-x3", 2, 32, DRY_BREAKERS),
        ("kjv-light-a2-all", "kjv", "light-x3", 2, 4096, DRY_BREAKERS),
        ("kjv-light-a2-nobreakers", "kjv", "light-x3", 2, 4096, []),
        ("kjv-gen-x6-nobreakers-clamp", "kjv", "gen-x6", 2, 4096, []),
        ("kjv-lordgod-end-breaker-LordGod", "kjv", "lordgod-end", 2, 4096, ["Lord God"]),
        ("kjv-gen-a2-lastn-neg1-noop", "kjv", "gen-x3", 2, -1, DRY_BREAKERS),
        ("kjv-lordgod-a2-breaker-LordGod", "kjv", "lordgod", 2, 4096, ["Lord God", "\n"]),
        ("kjv-lordgod-a2-breaker-and-the", "kjv", "lordgod", 2, 4096, [" and the", ":"]),
        ("kjv-mixed-a3-last128", "kjv", "mixed", 3, 128, DRY_BREAKERS),
        ("kjv-called-a2-all", "kjv", "called", 2, 4096, DRY_BREAKERS),
        ("kjv-called-a3-last30", "kjv", "called", 3, 30, DRY_BREAKERS),
        ("micro-called-a2-all", "micro", "called", 2, 4096, DRY_BREAKERS),
        ("micro-gen-a2-all", "micro", "gen-x3", 2, 4096, DRY_BREAKERS),
        ("micro-light-a2-last128-and-the", "micro", "light-x3", 2, 128, [" and the", "\n"]),
    ]
    out = []
    for name, vk, tkey, allowed, last_n, breakers in specs:
        v = vocabs[vk]
        ids = hs.common_tokenize(l, v.vocab, texts[tkey], add_special=False, parse_special=False)
        check(hs.detok(l, v.vocab, ids) == texts[tkey], "detok " + name)
        s = {"type": "dry", "vocab": vk, "multiplier": 0.8, "base": 1.75,
             "allowed_length": allowed, "last_n": last_n, "breakers": breakers}
        out.append({"name": "dry-" + name, "text": texts[tkey], "logits": [0.0] * v.n,
                    "history": ids, "samplers": [s], "changed_only": True})
    return out


# --------------------------------------------------------------------------- mirostat

def mirostat_seqs(l):
    specs = [(1, 5.0, 0.1, 1.0), (1, 3.0, 0.3, 0.7), (2, 5.0, 0.1, 1.0), (2, 2.0, 0.5, 0.7)]
    V, M, STEPS = 1000, 100, 20
    out = []
    for si, (ver, tau, eta, T) in enumerate(specs):
        seed = 4242 + si
        chain = new_chain(l)
        l.llama_sampler_chain_add(chain, l.llama_sampler_init_temp(T))
        if ver == 1:
            l.llama_sampler_chain_add(chain, l.llama_sampler_init_mirostat(V, seed, tau, eta, M))
        else:
            l.llama_sampler_chain_add(chain, l.llama_sampler_init_mirostat_v2(seed, tau, eta))
        ms = l.llama_sampler_chain_get(chain, 1)
        check(sampler_name(l, ms) == ("mirostat" if ver == 1 else "mirostat-v2"), "mirostat name")
        t_name = sampler_name(l, l.llama_sampler_chain_get(chain, 0))
        check(t_name == ("?temp" if T == 1.0 else "temp"), "temp name")
        # struct llama_sampler {iface, ctx}; ctx = llama_sampler_mirostat{,_v2} (llama-sampler.cpp)
        ctx = ctypes.c_void_p.from_address(ms + 8).value
        o_tau, o_eta, o_mu = (12, 16, 24) if ver == 1 else (8, 12, 16)
        rd = lambda o: ctypes.c_float.from_address(ctx + o).value  # noqa: E731
        check(rd(o_tau) == f32(tau) and rd(o_eta) == f32(eta) and rd(o_mu) == f32(2 * tau),
              "mirostat ctx layout")
        if ver == 1:
            check(ctypes.c_int32.from_address(ctx).value == V and
                  ctypes.c_int32.from_address(ctx + 20).value == M, "mirostat v1 ctx layout")
        rng = random.Random(seed)
        steps = []
        for _ in range(STEPS):
            lg = rand_row(rng.getrandbits(32), V)
            mu = rd(o_mu)
            buf, arr = new_array(lg)
            l.llama_sampler_apply(chain, ctypes.byref(arr))
            off, ents = read_array(buf, arr)
            check(off == 0 and 0 <= arr.selected < arr.size, "mirostat selected")
            sel = ents[arr.selected]
            mu_new = rd(o_mu)
            want = mu - eta * (-math.log2(sel[2]) - tau)
            check(abs(mu_new - want) < 1e-4 * max(1.0, abs(want)), "mirostat mu update")
            steps.append({"logits": lg, "kept": [e[0] for e in ents],
                          "p": [jf(e[2]) for e in ents], "selected": sel[0],
                          "selected_index": arr.selected, "sorted": bool(arr.sorted),
                          "mu_before": jf(mu), "mu_after": jf(mu_new)})
            l.llama_sampler_accept(chain, sel[0])
        l.llama_sampler_free(chain)
        out.append({"name": "mirostat-v%d-tau%g-eta%g-T%g" % (ver, tau, eta, T), "version": ver,
                    "tau": tau, "eta": eta, "m": M, "n_vocab": V, "temp": T, "seed": seed,
                    "steps": steps})
    return out


# --------------------------------------------------------------------------- output

def dump(doc):
    def one(x):
        return json.dumps(x, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def conv(c):
        return dict(c, logits=[jf(x) for x in c["logits"]])

    lines = ["{"]
    for k in ("description", "library", "vocabs"):
        lines.append(" %s: %s," % (json.dumps(k), json.dumps(doc[k], ensure_ascii=False)))
    lines.append(' "chains": [')
    for i, c in enumerate(doc["chains"]):
        lines.append("  " + one(conv(c)) + ("," if i + 1 < len(doc["chains"]) else ""))
    lines += [' ],', ' "mirostat": [']
    for i, m in enumerate(doc["mirostat"]):
        head = {k: v for k, v in m.items() if k != "steps"}
        lines.append("  " + one(head)[:-1] + ',"steps":[')
        for j, s in enumerate(m["steps"]):
            lines.append("   " + one(conv(s)) + ("," if j + 1 < len(m["steps"]) else ""))
        lines.append("  ]}" + ("," if i + 1 < len(doc["mirostat"]) else ""))
    lines += [" ]", "}"]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bins", help="dir with libllama.v0.5.0.so, libggml*.so")
    ap.add_argument("out", help="output JSON file (tests/data/llama_sampling/cases.json)")
    ap.add_argument("--refmodels", default="/work/shared/refmodels")
    ap.add_argument("--kjv", default=os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "default", "kjv-qrwkv6.gguf")))
    args = ap.parse_args()
    t0, lib = time.time(), Lib(args.bins)
    li.setup_protos(lib), hs.setup_extra(lib), setup_grammar(lib), setup_samplers(lib)
    backend, l = lib.load_cpu_backend(), lib.llama
    vocabs = {"kjv": Vocab(lib, args.kjv, KJV),
              "micro": Vocab(lib, os.path.join(args.refmodels, "micro-rwkv6-f32.gguf"), MICRO)}
    check(vocabs["kjv"].n == 4096 and vocabs["micro"].n == 1024, "vocab sizes")

    chains = single_cases() + chain_cases() + dry_cases(l, vocabs)
    check(len({c["name"] for c in chains}) == len(chains), "unique names")
    for c in chains:
        run_chain(l, c, vocabs)
    miro = mirostat_seqs(l)
    doc = {
        "description": __doc__.split("\n")[0] + " " + __doc__.split("\n")[1].strip(),
        "library": {"package": "@node-llama-cpp/linux-x64 3.22.1",
                    "llama_version()": l.llama_version().decode(),
                    "ggml_version()": lib.base.ggml_version().decode(),
                    "ggml_commit()": lib.base.ggml_commit().decode(),
                    "node_llama_cpp_build_metadata": build_metadata(args.bins),
                    "backend": backend["registries"],
                    "note": "prebuilt llama.cpp of @node-llama-cpp/linux-x64 3.22.1 (see "
                            "llama_quant_refs.py); samplers run on the CPU side only"},
        "vocabs": {"kjv": {"path": KJV, "n_tokens": vocabs["kjv"].n},
                   "micro": {"path": "/work/shared/" + MICRO, "n_tokens": vocabs["micro"].n}},
        "chains": chains,
        "mirostat": miro,
    }
    text_ = dump(doc)
    back = json.loads(text_)
    check(len(back["chains"]) == len(chains) and len(back["mirostat"]) == len(miro), "reload")
    for c, b in zip(chains, back["chains"]):  # float32 round trip of the input rows
        check([f32(x) for x in b["logits"]] == c["logits"], "logits round trip " + c["name"])
    for m, b in zip(miro, back["mirostat"]):
        check([[f32(x) for x in s["logits"]] for s in b["steps"]] ==
              [s["logits"] for s in m["steps"]], "mirostat logits round trip")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text_)
    kinds = {}
    for c in chains:
        k = c["name"].split("-")[0]
        kinds[k] = kinds.get(k, 0) + 1
        o = c["out"]
        print("%-34s V %4d  kept %4d  -inf %4d  off %d  sorted %d  %s" % (
            c["name"], len(c["logits"]), len(o["ids"]), o["n_neg_inf"], o["data_offset"],
            o["sorted"], " ".join(c["llama_names"])))
    for m in miro:
        print("%-30s kept/step %s" % (m["name"], [len(s["kept"]) for s in m["steps"]]))
    print("cases by name prefix: %s" % json.dumps(kinds, sort_keys=True))
    print("chains %d, mirostat sequences %d (%d steps), %s: %d bytes, %.1f s" % (
        len(chains), len(miro), sum(len(m["steps"]) for m in miro), args.out,
        len(text_.encode("utf-8")), time.time() - t0))
    [v.free() for v in vocabs.values()]


if __name__ == "__main__":
    main()
