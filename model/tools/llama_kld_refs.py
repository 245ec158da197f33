#!/usr/bin/env python3
"""Independent chunked-perplexity and KL-divergence reference data, with every logit computed by
llama.cpp itself (not by vkrwkv code), for llama-perplexity's chunked mode, its
--kl-divergence-base file and its --kl-divergence statistics.

The prebuilt llama.cpp library that llama_quant_refs.py loads (node-llama-cpp 3.22.1's
libllama.v0.5.0.so / libggml*.so, CPU backend, 2 threads) evaluates a fixed token list on
tiny-qrwkv6-f16.gguf and tiny-qrwkv6-Q4_K_M.gguf chunk by chunk. Everything after the logits
(the uint16 log-prob file, PPL, KLD, Δp, percentiles) is llama-perplexity's code ported to
Python with its float32 / double types emulated, expf taken from the C library (libm) as the C
code does.

Facts (read from ggml-org/llama.cpp tools/perplexity/perplexity.cpp at commit
050fc7f32de16858ac667d775b43a51ed8976e6f; common defaults: n_batch 2048, n_ubatch 512,
n_ctx 512 set by perplexity's main, ppl_stride 0, ppl_output_type 0, n_chunks -1):

main():
  * n_ctx = -c (captured BEFORE the adjustments below; this is the chunk length everywhere).
  * Perplexity mode (no --hellaswag/--winogrande/--multiple-choice/--kl-divergence):
    n_seq = max(1, n_batch / n_ctx); params.n_parallel = n_seq; params.n_ctx = n_seq * n_ctx;
    params.n_batch = min(n_batch, n_seq * n_ctx). (-c 64, default -b 2048: n_seq = 32, context
    2048, n_batch 2048, n_ubatch 512.) --kl-divergence-base FILE is the perplexity mode plus
    the file (params.logits_file).
  * --kl-divergence mode: params.n_batch = min(n_batch, params.n_ctx); n_parallel = 1.
  * ppl_stride > 0 selects perplexity_v2 (strided; not covered here).

Chunked perplexity, perplexity():
  * tokens = common_tokenize(ctx, text, add_special=true) (a BOS is prepended by the tokenizer
    only when the vocab says add_bos). Needs tokens >= 2*n_ctx, else error, no result.
  * n_chunk_max = tokens / n_ctx (integer division; the remainder is dropped);
    n_chunk = --chunks < 0 ? n_chunk_max : min(--chunks, n_chunk_max).
    Chunk i covers tokens [i*n_ctx, (i+1)*n_ctx).
  * num_batches = ceil(n_ctx / n_batch); asserts n_batch < n_ctx || n_batch % n_ctx == 0 and
    params.n_ctx == n_seq*n_ctx. Chunks are processed in groups of n_seq:
    for (i = 0; i < n_chunk; i += n_seq): llama_memory_clear(mem, true) (fresh state for the
    group; each chunk of the group is its own sequence seq = 0..n_seq_batch-1, so every chunk
    starts from an empty state), n_seq_batch = min(n_seq, n_chunk - i).
    Batch entries: token = tokens[start + seq*n_ctx + k], pos = j*n_batch + k (positions
    restart at 0 in each chunk), seq_id = seq, logits = (pos >= first) with first = n_ctx/2.
  * add_bos (llama_vocab_get_add_bos): for the first batch (j == 0) of each chunk the FIRST
    token of the chunk is temporarily replaced by BOS for the decode and restored afterwards
    (the file keeps the original token). false for tiny-qrwkv6 (checked in the manifest).
    Asserts !add_eos.
  * Scored positions: first = n_ctx/2 (integer). For each chunk, logits rows at positions
    first .. n_ctx-2 (n_ctx - 1 - first rows) predict tokens first+1 .. n_ctx-1:
    row r (position first+r) is scored against tokens[start + first + r + 1].
    count += n_ctx - first - 1 per chunk. (n_ctx 64: rows at 32..62, targets 33..63, 31 per chunk.)
  * Without a logits file, per row (results_log_softmax log_softmax(n_vocab, logits, tok)):
    float max_logit = max over row (std::max, first element start);
    double sum_exp = sum_i (double) expf(logits[i] - max_logit)   (float subtract, i = 0..V-1);
    log_softmax = (double)(float)(logits[tok] - max_logit) - log(sum_exp)   (double);
    v = -log_softmax; nll += v; nll2 += v*v   (double).
  * With --kl-divergence-base, per row: log_softmax(n_vocab, logits, uint16 *, tok) (see file
    layout) returns (double)(float)((float)(max_logit + log_sum_exp) - logits[tok]) with
    log_sum_exp = (float)log(sum_exp); v = that; nll += v; nll2 += v*v (double).
    (The two paths differ only by float rounding of the nll.)
  * Rows are spread over hardware_concurrency threads; each thread sums into its own double
    local_nll/local_nll2 and adds them to nll/nll2 at the end -> the summation ORDER (not the
    per-row values) depends on scheduling; last-bit differences in double only.
  * After each chunk (ppl_output_type 0): LOG("[%d]%.4lf,", i + seq + 1, exp(nll / count))
    with the running nll and count (e.g. "[1]1059.1234,[2]1034.5678,"), then LOG("\\n") after
    the loop. (ppl_output_type 1: "%8d  %.4lf  %4lf  %4lf\\n" i*n_ctx, exp(nll/count), av, av2.)
  * Final: nll2 /= count; nll /= count; ppl = exp(nll); nll2 -= nll*nll;
    if nll2 > 0: nll2 = sqrt(nll2/(count-1)); LOG_INF("Final estimate: PPL = %.4lf +/- %.5lf\\n",
    ppl, nll2*ppl); else LOG_ERR("Unexpected negative standard deviation of log(prob)").
    I.e. error = ppl * sqrt((E[v^2] - E[v]^2)/(count-1)).

--kl-divergence-base FILE layout (little-endian, no padding between fields):
  offset 0   char[8]  "_logits_" (no NUL)
  offset 8   int32    n_ctx  (the -c value, chunk length; read back as uint32)
  offset 12  int32    n_vocab (llama_vocab_n_tokens)
  offset 16  int32    n_chunk
  offset 20  int32    tokens[n_chunk * n_ctx]  (the first n_chunk*n_ctx tokens, originals, no BOS
                      substitution)
  then for each chunk in order, for each of its n_ctx - 1 - n_ctx/2 scored rows (positions
  first..n_ctx-2, in order), one record of nv = 2*((n_vocab + 1)/2) + 4 uint16 (2*nv bytes):
     uint16[0..1] = float32 scale, uint16[2..3] = float32 min_log_prob (the float d[0], d[1]),
     uint16[4 .. 4+n_vocab-1] = q[i] for token i, then one zero uint16 of padding when n_vocab is
     odd (the buffer is a zero-initialised std::vector reused for every chunk; the padding is
     never written).
  File size = 20 + 4*n_chunk*n_ctx + n_chunk*(n_ctx-1-n_ctx/2)*nv*2 bytes.
  Encoding of one row (static double log_softmax(int n_vocab, const float *logits,
  uint16_t *log_prob, int tok)), all float32 unless said:
     max_logit = min_logit = logits[0]; for i = 1..V-1: max_logit = std::max(max_logit,
       logits[i]); min_logit = std::min(min_logit, logits[i]);
     min_logit = std::max(min_logit, max_logit - 16)        (log-probs below max-16 are clipped)
     double sum_exp = sum_{i=0..V-1} expf(logits[i] - max_logit)   (in index order)
     log_sum_exp  = (float) log(sum_exp)
     min_log_prob = (min_logit - max_logit) - log_sum_exp
     scale        = (max_logit - min_logit) / 65535.f
     if scale != 0: inv_scale = 1/scale; q[i] = logits[i] > min_logit ?
         nearest_int(inv_scale * (logits[i] - min_logit)) : 0   (stored as uint16_t)
     else: q[i] = 0 for all i (memset).
     nearest_int(f): float val = f + 12582912.f (1.5*2^23); int i = bit pattern of val;
         return (i & 0x007fffff) - 0x00400000   -> round to nearest, ties to even.
     returns nll = (max_logit + log_sum_exp) - logits[tok]   (float, then double).
  Decoding: log p_base[i] = scale*q[i] + min_log_prob (float). q = 0 decodes to min_log_prob,
  which is the true minimum when max-min <= 16, else -16 - log_sum_exp (< -16: "ignored").

--kl-divergence (kl_divergence(); reads FILE, evaluates with the current model):
  * Checks magic (error+return if not "_logits_"), reads uint32 n_ctx (only logs an error if it
    exceeds llama_n_ctx, continues), int32 n_vocab (logs an error if it differs from the model's,
    continues), int32 n_chunk, the n_ctx*n_chunk tokens; the text file is not used.
  * n_batch = min(-b, -c); num_batches = ceil(n_ctx_file / n_batch); per chunk: read its
    (n_ctx-1-n_ctx/2)*nv uint16, llama_memory_clear(mem, true), decode the chunk (seq 0,
    pos = j*n_batch + k, logits for EVERY position; BOS replaces the first token of the first
    batch when add_bos), then rows first..n_ctx-2 are scored against tokens[start+first+r+1].
  * Per row (std::pair<double,float> log_softmax(V, logits, base_log_prob, tok, kld)),
    float unless said:
     max_logit = logits[0], imax = 0; for i = 1..V-1: if logits[i] > max_logit {max_logit =
       logits[i]; imax = i}                                  (first maximum wins ties)
     double sum_exp = sum expf(logits[i] - max_logit); log_sum_exp = (float)log(sum_exp)
     scale = d[0], min_log_prob = d[1] of the stored record, q = record + 4
     nll = max_logit + log_sum_exp - logits[tok]        sum_nll += nll; sum_nll2 += nll*nll
                                                         (nll*nll is a FLOAT product)
     nll_base = -(scale*q[tok] + min_log_prob)           sum_nll_base += nll_base;
                                                         sum_nll_base2 += nll_base*nll_base (float)
     sum_nll_nll_base += nll*nll_base (float product)
     max_logit += log_sum_exp                            (float; now the log-normaliser)
     double sum = 0; imax_base = -1; p_log_base_max = 0;
     for i = 0..V-1: p_log_base = scale*q[i] + min_log_prob;
         if (i == 0 || p_log_base > p_log_base_max) {p_log_base_max = p_log_base; imax_base = i}
         if (p_log_base > -16.f) { p_base = expf(p_log_base);
             sum += p_base * (p_log_base - logits[i] + max_logit) }   (float product, double sum)
       -> sum = KL(base || new) = sum_i p_base_i * (log p_base_i - log p_new_i), base terms with
          log p_base <= -16 skipped (no renormalisation of p_base).
     sum_kld += sum; sum_kld2 += sum*sum (double); ++count; if imax == imax_base: ++n_same_top
       ("Same top p" = argmax of the new logits == argmax (first max) of the DECODED base
       log-probs; quantised codes can tie at 65535).
     p_base = expf(-nll_base); p = expf(-nll); p_diff = p - p_base (float, probability of the
       TARGET token); sum_p_diff += p_diff; double p_diff2 = p_diff*p_diff (float product);
       sum_p_diff2 += p_diff2; sum_p_diff4 += p_diff2*p_diff2 (double);
       max_p_diff = max(max_p_diff, fabs(p_diff)).
     kld_values[k] = (float)sum; p_diff_values[k] = p_diff (k = running row index).
    (threads: per-thread kl_divergence_result partial sums merged at the end -> double
    summation order is scheduling dependent; per-row values are not.)
  * mean_and_uncertainty(sum, sum2, count): count < 1 -> (0,0); f = sum/count;
    df = sum2/count - f*f; df = (df > 0 && count > 10) ? sqrt(df/(count-1)) : 0.
    covariance(a, b, ab, count): count < 10 -> 0; (ab/count - (a/count)*(b/count)) / (count-1).
  * After EVERY chunk one line of running values (cumulative over the chunks so far); header
    printed before each chunk line (after a blank line):
    "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS            Same top p"
    line = "%4d" (i+1)
         + "    %9.4lf ± %9.4lf"  ppl = exp(mean nll), ppl*unc(nll)
         + "    %10.5lf ± %10.5lf" mean nll - mean nll_base, sqrt(unc^2 + unc_base^2 - 2 cov)
         + "    %10.5lf ± %10.5lf" mean KLD, unc(KLD)
         + "    %6.3lf ± %6.3lf %%" 100*sqrt(mse), 100*0.5/sqrt(mse)*unc(mse) with
                                    (mse, unc) = mean_and_uncertainty(sum_p_diff2, sum_p_diff4)
         + "    %6.3lf ± %6.3lf %%" 100*n_same_top/count, 100*sqrt(p(1-p)/(count-1))
         + "\\n"
  * if count < 100: return -- NOTHING below is printed. (Here: 2 chunks x 31 = 62 < 100, so
    the real tool prints only the two chunk lines; the manifest still has every final value,
    computed by the same code, under "final_statistics", marked as not printed.)
  * Final block (kld_values and p_diff_values are std::sort-ed ascending first):
    "====== Perplexity statistics ======"
    Mean PPL(Q)                   : %10.6lf ± %10.6lf   exp(mean nll), exp(..)*unc(nll)
    Mean PPL(base)                : %10.6lf ± %10.6lf   same for nll_base
    Cor(ln(PPL(Q)), ln(PPL(base))): %6.2lf%%            100*cov/(unc(nll)*unc(nll_base))
    Mean ln(PPL(Q)/PPL(base))     : %10.6lf ± %10.6lf   d = mean nll - mean nll_base,
                                                        sqrt(unc^2 + unc_base^2 - 2*cov)
    Mean PPL(Q)/PPL(base)         : %10.6lf ± %10.6lf   exp(d), exp(d)*unc(d)
    Mean PPL(Q)-PPL(base)         : %10.6lf ± %10.6lf   ppl - ppl_base,
                                     sqrt(ppl_unc^2 + ppl_base_unc^2 - 2*ppl*ppl_base*cov)
    "====== KL divergence statistics ======"
    Mean    KLD: %10.6lf ± %10.6lf
    Maximum KLD / 99.9% / 99.0% / 95.0% / 90.0% KLD / Median KLD / 10.0% / 5.0% / 1.0% /
    0.1% KLD / Minimum KLD: "%10.6f" each (labels "Maximum KLD: ", "99.9%   KLD: ", "99.0%   KLD: ",
    "95.0%   KLD: ", "90.0%   KLD: ", "Median  KLD: ", "10.0%   KLD: ", " 5.0%   KLD: ",
    " 1.0%   KLD: ", " 0.1%   KLD: ", "Minimum KLD: ")
    "====== Token probability statistics ======"
    Mean    Δp: %6.3lf ± %5.3lf %%   100*mean(p_diff), 100*unc(p_diff) (sum_p_diff, sum_p_diff2)
    Maximum Δp / 99.9 / 99.0 / 95.0 / 90.0 / 75.0 / Median / 25.0 / 10.0 / 5.0 / 1.0 / 0.1 /
    Minimum Δp: "%6.3lf%%" of 100*value (signed p_diff, sorted)
    RMS Δp    : %6.3lf ± %5.3lf %%   100*sqrt(mse), 100*0.5/sqrt(mse)*unc(mse)
    Same top p: %6.3lf ± %5.3lf %%   100*p, 100*sqrt(p(1-p)/(count-1))
    (max_p_diff is accumulated but never printed.)
  * median (KLD and Δp): n even: 0.5f*(v[n/2] + v[n/2-1]) (float); n odd: v[n/2].
    percentile(values, float fraction): fraction <= 0 -> front; >= 1 -> back;
    float p = fraction*(float)(n-1); size_t ip = (size_t)p (truncation); p -= ip (float);
    return (1-p)*v[ip] + p*v[min(ip+1, n-1)] (all float). fraction constants are float
    literals (0.999f, 0.990f, 0.950f, 0.900f, 0.750f, 0.250f, 0.100f, 0.050f, 0.010f, 0.001f).

Reference run made here:
  * Tokens: the "p150" ids of /work/shared/refmodels/manifest.json for the gpt2 family (158 ids)
    followed by its "p16" ids (16) = 174 tokens (as llama_imatrix_refs.py); n_ctx = 64 ->
    n_chunk = 174 / 64 = 2, the file holds tokens[0:128]. No tokenizer is involved: the ids are
    used as they are (what common_tokenize would have produced; add_bos is false).
  * Logits used for the file and all statistics: "kl mode" evaluation = what
    llama-perplexity --kl-divergence -c 64 does: context n_ctx 64, n_batch 64, n_ubatch 64,
    n_seq_max 1, 2 threads, per chunk llama_memory_clear + one llama_decode of the 64 tokens with
    logits for every position. The same for both models (the base run too). As checks the f16
    model is also evaluated exactly as llama-perplexity -c 64 --kl-divergence-base does with the
    default -b 2048 (both chunks as sequences 0 and 1 of one decode, n_ctx 2048, n_seq_max 32,
    n_ubatch 512, logits only for pos >= 32) and as with -b 64 (one decode per chunk, logits for
    pos >= 32); the manifest records the largest logit difference and whether the .kld bytes
    would be identical.
  * Float emulation: every float32 operation is done in double and rounded to float32 (exact for
    single +,-,*,/), expf is libm's expf via ctypes, log is libm's log (math.log); no FMA
    contraction is assumed (x86-64 default build of the tools). Sums are accumulated in row
    order (one thread); the C tool's multi-threaded merge order may change the last bits of
    the double sums only.

Verification done when the data was made: the perplexity.cpp functions above (both
log_softmax overloads, mean_and_uncertainty, covariance, percentile, the printf lines), copied
into a single-threaded C++ file and built with g++ 12 -O2 (x86-64, no -march), fed the same
logits, wrote a byte-identical .kld file, identical printed text and bit-identical double sums.

Rerun (needs only python3; see llama_quant_refs.py for fetching the library):

    python3 model/tools/llama_kld_refs.py /tmp/npmtry/x/package/bins/linux-x64 tests/data/llama_kld

Options: --refmodels DIR (default /work/shared/refmodels).
"""

import argparse
import array
import ctypes
import ctypes.util
import hashlib
import json
import math
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_imatrix_refs as li  # noqa: E402  (protos for llama_memory_clear etc.)
from llama_quant_refs import Lib, check, file_digest  # noqa: E402

BASE_MODEL = "tiny-qrwkv6-f16"
QUANT_MODELS = ["tiny-qrwkv6-Q4_K_M"]
FAMILY = "gpt2"
N_CTX = 64
N_THREADS = 2
N_BATCH_DEFAULT = 2048
N_UBATCH_DEFAULT = 512
MAGIC = b"_logits_"

_F = struct.Struct("<f")
_I = struct.Struct("<i")
_libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_libm.expf.restype = ctypes.c_float
_libm.expf.argtypes = [ctypes.c_float]
_expf = _libm.expf


def f32(v):
    return _F.unpack(_F.pack(v))[0]


def expf(v):
    return _expf(v)


def nearest_int(fval):
    val = f32(fval + 12582912.0)
    i = _I.unpack(_F.pack(val))[0]
    return (i & 0x007FFFFF) - 0x00400000


def nv_of(n_vocab):
    return 2 * ((n_vocab + 1) // 2) + 4


def csqrt(v):
    """C sqrt: a negative argument gives NaN (printed "-nan" by glibc: x86 default NaN)."""
    return math.sqrt(v) if v >= 0 else float("nan")


def cdiv(a, b):
    """C double division (IEEE: x/0 = +-inf, 0/0 = nan)."""
    if b == 0:
        if a == 0 or a != a:
            return float("nan")
        return math.copysign(float("inf"), a) * math.copysign(1.0, b)
    return a / b


def cmul(a, b):
    if (math.isinf(a) and b == 0) or (math.isinf(b) and a == 0):
        return float("nan")
    return a * b


def cfmt(spec, v):
    """printf of one double; NaN as glibc prints the x86 default NaN ("-nan")."""
    if v != v:
        w = spec[1:].split(".")[0]
        return ("%" + (w if w else "") + "s") % "-nan"
    if math.isinf(v):
        w = spec[1:].split(".")[0]
        return ("%" + (w if w else "") + "s") % ("inf" if v > 0 else "-inf")
    return spec % v


# --------------------------------------------------------------------------- perplexity.cpp ports

def row_max_min(row):
    mx = row[0]
    mn = row[0]
    for v in row[1:]:
        if mx < v:       # std::max(a, b) = a < b ? b : a
            mx = v
        if v < mn:       # std::min(a, b) = b < a ? b : a
            mn = v
    return mx, mn


def sum_exp_of(row, mx):
    s = 0.0
    for v in row:
        s += expf(f32(v - mx))
    return s


def encode_row(row, tok, n_vocab):
    """static double log_softmax(int n_vocab, const float *logits, uint16_t *log_prob, int tok).
    Returns (record as array('H') of nv entries, returned nll (double), info)."""
    mx, mn = row_max_min(row)
    mn = max(mn, f32(mx - 16.0))  # std::max(min_logit, max_logit - 16)
    s = sum_exp_of(row, mx)
    lse = f32(math.log(s))
    min_log_prob = f32(f32(mn - mx) - lse)
    scale = f32(f32(mx - mn) / 65535.0)
    nv = nv_of(n_vocab)
    rec = array.array("H", bytes(2 * nv))
    hdr = array.array("H", _F.pack(scale) + _F.pack(min_log_prob))
    rec[0:4] = hdr
    overflow = 0
    if scale != 0.0:
        inv_scale = f32(1.0 / scale)
        for i in range(n_vocab):
            if row[i] > mn:
                q = nearest_int(f32(inv_scale * f32(row[i] - mn)))
                if q < 0 or q > 65535:
                    overflow += 1
                rec[4 + i] = q & 0xFFFF
    nll = f32(f32(mx + lse) - row[tok])
    return rec, nll, {"scale": scale, "min_log_prob": min_log_prob, "overflow": overflow}


def plain_nll(row, tok):
    """results_log_softmax log_softmax(n_vocab, logits, tok) -> -log_softmax (double)."""
    mx, _ = row_max_min(row)
    s = sum_exp_of(row, mx)
    return -(f32(row[tok] - mx) - math.log(s))


class KldResult:
    def __init__(self):
        self.sum_nll = self.sum_nll2 = 0.0
        self.sum_nll_base = self.sum_nll_base2 = self.sum_nll_nll_base = 0.0
        self.sum_kld = self.sum_kld2 = 0.0
        self.sum_p_diff = self.sum_p_diff2 = self.sum_p_diff4 = 0.0
        self.max_p_diff = 0.0
        self.n_same_top = 0
        self.count = 0


def kld_row(row, rec, tok, n_vocab, kld):
    """std::pair<double, float> log_softmax(V, logits, base_log_prob, tok, kld)."""
    mx = row[0]
    imax = 0
    for i in range(1, n_vocab):
        if row[i] > mx:
            mx = row[i]
            imax = i
    s = sum_exp_of(row, mx)
    lse = f32(math.log(s))
    hdr = rec[0:4].tobytes()
    scale = _F.unpack(hdr[0:4])[0]
    min_log_prob = _F.unpack(hdr[4:8])[0]
    q = rec[4:4 + n_vocab]

    nll = f32(f32(mx + lse) - row[tok])
    kld.sum_nll += nll
    kld.sum_nll2 += f32(nll * nll)
    nll_base = -f32(f32(scale * q[tok]) + min_log_prob)
    kld.sum_nll_base += nll_base
    kld.sum_nll_base2 += f32(nll_base * nll_base)
    kld.sum_nll_nll_base += f32(nll * nll_base)

    mx = f32(mx + lse)
    ssum = 0.0
    imax_base = -1
    p_log_base_max = 0.0
    for i in range(n_vocab):
        p_log_base = f32(f32(scale * q[i]) + min_log_prob)
        if i == 0 or p_log_base > p_log_base_max:
            p_log_base_max = p_log_base
            imax_base = i
        if p_log_base > -16.0:
            p_base = expf(p_log_base)
            ssum += f32(p_base * f32(f32(p_log_base - row[i]) + mx))
    kld.sum_kld += ssum
    kld.sum_kld2 += ssum * ssum
    kld.count += 1
    if imax == imax_base:
        kld.n_same_top += 1
    p_base = expf(-nll_base)
    p = expf(-nll)
    p_diff = f32(p - p_base)
    kld.sum_p_diff += p_diff
    p_diff2 = f32(p_diff * p_diff)
    kld.sum_p_diff2 += p_diff2
    kld.sum_p_diff4 += p_diff2 * p_diff2
    kld.max_p_diff = max(kld.max_p_diff, abs(p_diff))
    return ssum, p_diff, {"imax": imax, "imax_base": imax_base, "nll": nll, "nll_base": nll_base}


def mean_and_uncertainty(s, s2, count):
    if count < 1:
        return 0.0, 0.0
    f = s / count
    df = s2 / count - f * f
    df = math.sqrt(df / (count - 1)) if (df > 0 and count > 10) else 0.0
    return f, df


def covariance(a, b, ab, count):
    if count < 10:
        return 0.0
    var = ab / count - (a / count) * (b / count)
    return var / (count - 1)


def percentile(values, fraction):
    """values sorted, float32; fraction a float literal (already f32)."""
    if fraction <= 0:
        return values[0]
    if fraction >= 1:
        return values[-1]
    p = f32(fraction * float(len(values) - 1))
    ip = int(p)
    p = f32(p - ip)
    a = f32(f32(1.0 - p) * values[ip])
    b = f32(p * values[min(ip + 1, len(values) - 1)])
    return f32(a + b)


def median(values):
    n = len(values)
    if n % 2 == 0:
        return f32(0.5 * f32(values[n // 2] + values[n // 2 - 1]))
    return values[n // 2]


CHUNK_HEADER = ("chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence"
                "              \u0394p RMS            Same top p")


def chunk_line(i, kld):
    log_ppl = mean_and_uncertainty(kld.sum_nll, kld.sum_nll2, kld.count)
    ppl_val = math.exp(log_ppl[0])
    ppl_unc = ppl_val * log_ppl[1]
    log_ppl_base = mean_and_uncertainty(kld.sum_nll_base, kld.sum_nll_base2, kld.count)
    cov = covariance(kld.sum_nll, kld.sum_nll_base, kld.sum_nll_nll_base, kld.count)
    r_val = log_ppl[0] - log_ppl_base[0]
    r_unc = csqrt(log_ppl[1] * log_ppl[1] + log_ppl_base[1] * log_ppl_base[1] - 2.0 * cov)
    kl = mean_and_uncertainty(kld.sum_kld, kld.sum_kld2, kld.count)
    mse = mean_and_uncertainty(kld.sum_p_diff2, kld.sum_p_diff4, kld.count)
    rms = math.sqrt(mse[0])
    rms_unc = cmul(cdiv(0.5, rms), mse[1])
    top = 1.0 * kld.n_same_top / kld.count
    top_unc = csqrt(top * (1 - top) / (kld.count - 1))
    text = "%4d" % (i + 1)
    text += "    %s \u00b1 %s" % (cfmt("%9.4f", ppl_val), cfmt("%9.4f", ppl_unc))
    text += "    %s \u00b1 %s" % (cfmt("%10.5f", r_val), cfmt("%10.5f", r_unc))
    text += "    %s \u00b1 %s" % (cfmt("%10.5f", kl[0]), cfmt("%10.5f", kl[1]))
    text += "    %s \u00b1 %s %%" % (cfmt("%6.3f", 100.0 * rms), cfmt("%6.3f", 100.0 * rms_unc))
    text += "    %s \u00b1 %s %%" % (cfmt("%6.3f", 100.0 * top), cfmt("%6.3f", 100.0 * top_unc))
    values = {"chunk": i + 1, "count": kld.count, "ppl": ppl_val, "ppl_unc": ppl_unc,
              "ln_ppl_ratio": r_val, "ln_ppl_ratio_unc": jnum(r_unc), "kld": kl[0], "kld_unc": kl[1],
              "rms_dp": rms, "rms_dp_unc": jnum(rms_unc), "same_top": top, "same_top_unc": top_unc}
    return text, values


def jnum(v):
    """JSON-safe number: NaN / inf as strings (what printf shows)."""
    if v != v:
        return "nan (C prints -nan)"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


F999, F990, F950, F900, F750 = f32(0.999), f32(0.990), f32(0.950), f32(0.900), f32(0.750)
F250, F100, F050, F010, F001 = f32(0.250), f32(0.100), f32(0.050), f32(0.010), f32(0.001)


def final_block(kld, kld_values, p_diff_values):
    kv = sorted(kld_values)
    pv = sorted(p_diff_values)
    out = {}
    lines = ["====== Perplexity statistics ======"]
    log_ppl = mean_and_uncertainty(kld.sum_nll, kld.sum_nll2, kld.count)
    ppl_val = math.exp(log_ppl[0])
    ppl_unc = ppl_val * log_ppl[1]
    lines.append("Mean PPL(Q)                   : %10.6f \u00b1 %10.6f" % (ppl_val, ppl_unc))
    log_ppl_base = mean_and_uncertainty(kld.sum_nll_base, kld.sum_nll_base2, kld.count)
    ppl_base_val = math.exp(log_ppl_base[0])
    ppl_base_unc = ppl_base_val * log_ppl_base[1]
    lines.append("Mean PPL(base)                : %10.6f \u00b1 %10.6f" % (ppl_base_val, ppl_base_unc))
    cov = covariance(kld.sum_nll, kld.sum_nll_base, kld.sum_nll_nll_base, kld.count)
    cor = cdiv(cov, log_ppl[1] * log_ppl_base[1])
    lines.append("Cor(ln(PPL(Q)), ln(PPL(base))): %s%%" % cfmt("%6.2f", 100.0 * cor))
    r_val = log_ppl[0] - log_ppl_base[0]
    r_unc = csqrt(log_ppl[1] * log_ppl[1] + log_ppl_base[1] * log_ppl_base[1] - 2.0 * cov)
    lines.append("Mean ln(PPL(Q)/PPL(base))     : %s \u00b1 %s" % (cfmt("%10.6f", r_val), cfmt("%10.6f", r_unc)))
    ratio = math.exp(r_val)
    ratio_unc = ratio * r_unc
    lines.append("Mean PPL(Q)/PPL(base)         : %s \u00b1 %s" % (cfmt("%10.6f", ratio), cfmt("%10.6f", ratio_unc)))
    ppl_cov = ppl_val * ppl_base_val * cov
    d_val = ppl_val - ppl_base_val
    d_unc = csqrt(ppl_unc * ppl_unc + ppl_base_unc * ppl_base_unc - 2.0 * ppl_cov)
    lines.append("Mean PPL(Q)-PPL(base)         : %s \u00b1 %s" % (cfmt("%10.6f", d_val), cfmt("%10.6f", d_unc)))
    lines.append("")
    out.update({"mean_ppl_q": ppl_val, "mean_ppl_q_unc": ppl_unc,
                "mean_ppl_base": ppl_base_val, "mean_ppl_base_unc": ppl_base_unc,
                "cov_ln_ppl": cov, "cor_ln_ppl": jnum(cor),
                "mean_ln_ppl_ratio": r_val, "mean_ln_ppl_ratio_unc": jnum(r_unc),
                "mean_ppl_ratio": ratio, "mean_ppl_ratio_unc": jnum(ratio_unc),
                "mean_ppl_diff": d_val, "mean_ppl_diff_unc": jnum(d_unc)})

    lines.append("====== KL divergence statistics ======")
    kl = mean_and_uncertainty(kld.sum_kld, kld.sum_kld2, kld.count)
    lines.append("Mean    KLD: %10.6f \u00b1 %10.6f" % kl)
    kstats = [("Maximum KLD: ", "max", kv[-1]),
              ("99.9%   KLD: ", "p99.9", percentile(kv, F999)),
              ("99.0%   KLD: ", "p99.0", percentile(kv, F990)),
              ("95.0%   KLD: ", "p95.0", percentile(kv, F950)),
              ("90.0%   KLD: ", "p90.0", percentile(kv, F900)),
              ("Median  KLD: ", "median", median(kv)),
              ("10.0%   KLD: ", "p10.0", percentile(kv, F100)),
              (" 5.0%   KLD: ", "p5.0", percentile(kv, F050)),
              (" 1.0%   KLD: ", "p1.0", percentile(kv, F010)),
              (" 0.1%   KLD: ", "p0.1", percentile(kv, F001)),
              ("Minimum KLD: ", "min", kv[0])]
    for label, _, v in kstats:
        lines.append("%s%10.6f" % (label, v))
    lines.append("")
    out["kld"] = {"mean": kl[0], "mean_unc": kl[1]}
    out["kld"].update({k: v for _, k, v in kstats})

    lines.append("====== Token probability statistics ======")
    pd = mean_and_uncertainty(kld.sum_p_diff, kld.sum_p_diff2, kld.count)
    lines.append("Mean    \u0394p: %6.3f \u00b1 %5.3f %%" % (100.0 * pd[0], 100.0 * pd[1]))
    pstats = [("Maximum \u0394p: ", "max", pv[-1]),
              ("99.9%   \u0394p: ", "p99.9", percentile(pv, F999)),
              ("99.0%   \u0394p: ", "p99.0", percentile(pv, F990)),
              ("95.0%   \u0394p: ", "p95.0", percentile(pv, F950)),
              ("90.0%   \u0394p: ", "p90.0", percentile(pv, F900)),
              ("75.0%   \u0394p: ", "p75.0", percentile(pv, F750)),
              ("Median  \u0394p: ", "median", median(pv)),
              ("25.0%   \u0394p: ", "p25.0", percentile(pv, F250)),
              ("10.0%   \u0394p: ", "p10.0", percentile(pv, F100)),
              (" 5.0%   \u0394p: ", "p5.0", percentile(pv, F050)),
              (" 1.0%   \u0394p: ", "p1.0", percentile(pv, F010)),
              (" 0.1%   \u0394p: ", "p0.1", percentile(pv, F001)),
              ("Minimum \u0394p: ", "min", pv[0])]
    for label, _, v in pstats:
        lines.append("%s%6.3f%%" % (label, 100.0 * v))
    mse = mean_and_uncertainty(kld.sum_p_diff2, kld.sum_p_diff4, kld.count)
    rms = math.sqrt(mse[0])
    rms_unc = cmul(cdiv(0.5, rms), mse[1])
    lines.append("RMS \u0394p    : %s \u00b1 %s %%" % (cfmt("%6.3f", 100.0 * rms), cfmt("%5.3f", 100.0 * rms_unc)))
    top = 1.0 * kld.n_same_top / kld.count
    top_unc = csqrt(top * (1.0 - top) / (kld.count - 1))
    lines.append("Same top p: %6.3f \u00b1 %5.3f %%" % (100.0 * top, 100.0 * top_unc))
    out["delta_p"] = {"mean": pd[0], "mean_unc": pd[1]}
    out["delta_p"].update({k: v for _, k, v in pstats})
    out["delta_p"].update({"rms": rms, "rms_unc": jnum(rms_unc), "max_abs_p_diff (not printed)": kld.max_p_diff})
    out["same_top_p"] = top
    out["same_top_p_unc"] = top_unc
    out["n_same_top"] = kld.n_same_top
    out["count"] = kld.count
    out["raw_sums"] = {k: getattr(kld, k) for k in (
        "sum_nll", "sum_nll2", "sum_nll_base", "sum_nll_base2", "sum_nll_nll_base", "sum_kld",
        "sum_kld2", "sum_p_diff", "sum_p_diff2", "sum_p_diff4")}
    return lines, out


# --------------------------------------------------------------------------- evaluation

def setup_extra(lib):
    l = lib.llama
    l.llama_get_logits.restype = ctypes.POINTER(ctypes.c_float)
    l.llama_get_logits.argtypes = [ctypes.c_void_p]


def evaluate(lib, model, tokens, n_chunk, mode):
    """Returns (rows, info): rows[c][r] = array('f') logits at position first + r of chunk c
    (r = 0 .. N_CTX-2-first); all positions' rows too when every logit was requested.
      mode "kl":       llama-perplexity --kl-divergence -c 64 (n_batch 64, n_seq 1, all logits)
      mode "ppl":      llama-perplexity -c 64 (default -b 2048: n_seq 32, logits pos >= first)
      mode "ppl-b64":  llama-perplexity -c 64 -b 64 (n_seq 1, logits pos >= first)"""
    l = lib.llama
    vocab = l.llama_model_get_vocab(model)
    n_vocab = l.llama_vocab_n_tokens(vocab)
    add_bos = bool(l.llama_vocab_get_add_bos(vocab))
    check(not l.llama_vocab_get_add_eos(vocab), "llama-perplexity asserts !add_eos")
    first = N_CTX // 2
    if mode == "kl":
        n_seq, n_batch, all_logits = 1, min(N_BATCH_DEFAULT, N_CTX), True
    elif mode == "ppl":
        n_seq = max(1, N_BATCH_DEFAULT // N_CTX)
        n_batch, all_logits = min(N_BATCH_DEFAULT, n_seq * N_CTX), False
    elif mode == "ppl-b64":
        n_seq, n_batch, all_logits = 1, N_CTX, False
    else:
        raise ValueError(mode)
    cp = l.llama_context_default_params()
    cp.n_ctx = n_seq * N_CTX
    cp.n_batch = n_batch
    cp.n_ubatch = min(N_UBATCH_DEFAULT, n_batch)
    cp.n_seq_max = n_seq
    cp.n_threads = N_THREADS
    cp.n_threads_batch = N_THREADS
    cp.no_perf = True
    ctx = l.llama_init_from_model(model, cp)
    check(ctx, "context")
    n_ctx_real = l.llama_n_ctx(ctx)  # the library pads n_ctx up to a multiple of 256
    check(n_ctx_real >= n_seq * N_CTX and l.llama_n_batch(ctx) == n_batch
          and l.llama_n_seq_max(ctx) == n_seq and l.llama_n_ubatch(ctx) == min(N_UBATCH_DEFAULT, n_batch),
          "context params read back: ctx %d batch %d ubatch %d seq %d" % (
              l.llama_n_ctx(ctx), l.llama_n_batch(ctx), l.llama_n_ubatch(ctx), l.llama_n_seq_max(ctx)))
    num_batches = (N_CTX + n_batch - 1) // n_batch
    check(num_batches == 1, "one batch per chunk expected")
    batch = l.llama_batch_init(min(n_batch, N_CTX * n_seq), 0, 1)
    rows = []
    full = []
    n_decode = 0
    for i in range(0, n_chunk, n_seq):
        start = i * N_CTX
        n_seq_batch = min(n_seq, n_chunk - i)
        l.llama_memory_clear(l.llama_get_memory(ctx), True)
        n = 0
        for seq in range(n_seq_batch):
            seq_start = start + seq * N_CTX
            for k in range(N_CTX):
                tok = tokens[seq_start + k]
                if add_bos and k == 0:
                    tok = l.llama_vocab_bos(vocab)
                batch.token[n] = tok
                batch.pos[n] = k
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = seq
                batch.logits[n] = 1 if (all_logits or k >= first) else 0
                n += 1
        batch.n_tokens = n
        rc = l.llama_decode(ctx, batch)
        check(rc == 0, "llama_decode rc=%d" % rc)
        n_decode += 1
        for seq in range(n_seq_batch):
            crow = []
            for r in range(N_CTX - 1 - first):
                p = l.llama_get_logits_ith(ctx, seq * N_CTX + first + r)
                check(bool(p), "logits of batch index %d" % (seq * N_CTX + first + r))
                crow.append(array.array("f", ctypes.string_at(p, 4 * n_vocab)))
            rows.append(crow)
            if all_logits:
                base = l.llama_get_logits(ctx)
                allrows = array.array("f", ctypes.string_at(base, 4 * n_vocab * N_CTX))
                # llama_get_logits(ctx) + first*n_vocab is what kl_divergence() reads
                for r in range(N_CTX - 1 - first):
                    check(allrows[(first + r) * n_vocab:(first + r + 1) * n_vocab] == crow[r],
                          "llama_get_logits row layout")
                full.append(allrows)
    l.llama_batch_free(batch)
    l.llama_free(ctx)
    info = {"mode": mode, "n_ctx_requested": n_seq * N_CTX, "llama_n_ctx": n_ctx_real, "n_batch": n_batch,
            "n_ubatch": min(N_UBATCH_DEFAULT, n_batch), "n_seq_max": n_seq, "n_threads": N_THREADS,
            "llama_decode_calls": n_decode, "logits_requested": "all positions" if all_logits
            else "positions >= %d" % first, "add_bos": add_bos, "n_vocab": n_vocab}
    return rows, full, info


# --------------------------------------------------------------------------- file

def kld_base_bytes(tokens, n_chunk, n_vocab, rows):
    """Returns (bytes, per-row nll list, overflow count) in --kl-divergence-base layout."""
    first = N_CTX // 2
    out = bytearray(MAGIC)
    out += struct.pack("<iii", N_CTX, n_vocab, n_chunk)
    out += array.array("i", tokens[:n_chunk * N_CTX]).tobytes()
    nlls = []
    overflow = 0
    for c in range(n_chunk):
        start = c * N_CTX
        for r in range(N_CTX - 1 - first):
            rec, nll, inf = encode_row(rows[c][r], tokens[start + first + r + 1], n_vocab)
            out += rec.tobytes()
            nlls.append(nll)
            overflow += inf["overflow"]
    return bytes(out), nlls, overflow


def read_kld_base(data):
    check(data[:8] == MAGIC, "magic")
    n_ctx, n_vocab, n_chunk = struct.unpack_from("<Iii", data, 8)
    off = 20
    tokens = list(array.array("i", data[off:off + 4 * n_ctx * n_chunk]))
    off += 4 * n_ctx * n_chunk
    nv = nv_of(n_vocab)
    per_chunk = n_ctx - 1 - n_ctx // 2
    recs = []
    for c in range(n_chunk):
        cr = []
        for r in range(per_chunk):
            cr.append(array.array("H", data[off:off + 2 * nv]))
            off += 2 * nv
        recs.append(cr)
    check(off == len(data), "trailing bytes in the .kld file")
    return n_ctx, n_vocab, n_chunk, tokens, recs


def ppl_report(nlls_per_chunk):
    """Running '[i]ppl,' values and the final estimate, as perplexity() computes them."""
    nll = nll2 = 0.0
    count = 0
    running = []
    for chunk in nlls_per_chunk:
        for v in chunk:
            nll += v
            nll2 += v * v
        count += len(chunk)
        running.append(math.exp(nll / count))
    nll2 /= count
    nll /= count
    ppl = math.exp(nll)
    nll2 -= nll * nll
    err = math.sqrt(nll2 / (count - 1)) * ppl if nll2 > 0 else None
    text = "".join("[%d]%.4f," % (i + 1, v) for i, v in enumerate(running))
    final = "Final estimate: PPL = %.4f +/- %.5f" % (ppl, err) if err is not None else \
        "Unexpected negative standard deviation of log(prob)"
    return {"running": running, "running_printed": text, "ppl": ppl, "ppl_err": err,
            "final_printed": final, "count": count, "mean_nll": nll}


def kl_divergence(tokens, n_ctx, n_chunk, n_vocab, recs, rows):
    first = n_ctx // 2
    kld = KldResult()
    kv, pv = [], []
    chunk_lines, chunk_values = [], []
    per_row = []
    for c in range(n_chunk):
        start = c * n_ctx
        for r in range(n_ctx - 1 - first):
            s, pd, inf = kld_row(rows[c][r], recs[c][r], tokens[start + first + r + 1], n_vocab, kld)
            kv.append(f32(s))
            pv.append(pd)
            per_row.append({"chunk": c, "pos": first + r, "target": tokens[start + first + r + 1],
                            "kld": f32(s), "p_diff": pd, "imax": inf["imax"],
                            "imax_base": inf["imax_base"]})
        line, vals = chunk_line(c, kld)
        chunk_lines.append(line)
        chunk_values.append(vals)
    final_lines, final = final_block(kld, kv, pv)
    printed = []  # lines; the C output is "\n".join(printed) + "\n" (minus the chunk-1 ETA line)
    for line in chunk_lines:
        printed += ["", CHUNK_HEADER, line]
    printed.append("")
    return {"count": kld.count, "final_block_printed_by_llama_perplexity": kld.count >= 100,
            "printed_output": printed,
            "final_block_text_if_count_ge_100": final_lines,
            "chunk_lines": chunk_values, "final_statistics": final,
            "per_row": per_row}


def compare_refmodels_logits(refdir, stem, full_chunk0):
    """Chunk 0 = the first 64 p150 ids from a fresh state, so its rows must match the shared
    reference logits of p150 (made by another llama.cpp build) at the same positions."""
    path = os.path.join(refdir, stem + ".p150.logits.f32")
    if not os.path.exists(path):
        return None
    ref = array.array("f")
    with open(path, "rb") as f:
        ref.frombytes(f.read())
    n = len(full_chunk0)
    mad = max(abs(a - b) for a, b in zip(full_chunk0, ref[:n]))
    return {"file": os.path.basename(path), "rows_compared": "positions 0..63 of chunk 0",
            "max_abs_diff": mad}


def log_softmax_top(row, k=5):
    mx = max(row)
    lse = math.log(sum(math.exp(v - mx) for v in row))
    order = sorted(range(len(row)), key=lambda i: (-row[i], i))[:k]
    return [{"id": i, "logit": row[i], "log_softmax": row[i] - mx - lse} for i in order], mx + lse


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
    li.setup_protos(lib)
    setup_extra(lib)
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
    ids = list(prompts["p150"][FAMILY]) + list(prompts["p16"][FAMILY])
    n_chunk = len(ids) // N_CTX
    check(len(ids) >= 2 * N_CTX and n_chunk == 2, "token count")
    tokens = ids[:n_chunk * N_CTX]
    first = N_CTX // 2
    per_chunk = N_CTX - 1 - first

    def load(stem):
        path = os.path.join(args.refmodels, stem + ".gguf")
        mp = lib.llama.llama_model_default_params()
        mp.n_gpu_layers = 0
        m = lib.llama.llama_model_load_from_file(path.encode(), mp)
        check(m, "load " + path)
        lib.take_log()
        return path, m

    # ---- base model
    bpath, bmodel = load(BASE_MODEL)
    brows, bfull, binfo = evaluate(lib, bmodel, tokens, n_chunk, "kl")
    n_vocab = binfo["n_vocab"]
    checks = []
    data, nlls_file, overflow = kld_base_bytes(tokens, n_chunk, n_vocab, brows)
    for mode in ("ppl", "ppl-b64"):
        rows2, _, info2 = evaluate(lib, bmodel, tokens, n_chunk, mode)
        mad = 0.0
        for c in range(n_chunk):
            for r in range(per_chunk):
                mad = max(mad, max(abs(a - b) for a, b in zip(brows[c][r], rows2[c][r])))
        data2, _, _ = kld_base_bytes(tokens, n_chunk, n_vocab, rows2)
        checks.append(dict(info2, max_abs_logit_diff_vs_kl_mode=mad, kld_file_identical=(data2 == data)))
    lib.llama.llama_model_free(bmodel)
    lib.take_log()

    nv = nv_of(n_vocab)
    expect = 20 + 4 * n_chunk * N_CTX + n_chunk * per_chunk * nv * 2
    check(len(data) == expect, "file size %d != %d" % (len(data), expect))
    kpath = os.path.join(args.out, BASE_MODEL + ".kld")
    with open(kpath, "wb") as f:
        f.write(data)
    with open(kpath, "rb") as f:
        fdata = f.read()
    r_ctx, r_vocab, r_chunk, r_tokens, recs = read_kld_base(fdata)
    check(r_ctx == N_CTX and r_vocab == n_vocab and r_chunk == n_chunk and r_tokens == tokens, "read-back")

    plain = [[plain_nll(brows[c][r], tokens[c * N_CTX + first + r + 1]) for r in range(per_chunk)]
             for c in range(n_chunk)]
    filed = [nlls_file[c * per_chunk:(c + 1) * per_chunk] for c in range(n_chunk)]
    base_ppl = {"perplexity_without_file": ppl_report(plain),
                "perplexity_with_kl_divergence_base": ppl_report(filed)}

    # debug: first 3 scored positions of chunk 0
    debug = []
    for r in range(3):
        row = brows[0][r]
        top, lognorm = log_softmax_top(row)
        rec = recs[0][r]
        hdr = rec[0:4].tobytes()
        tgt = tokens[first + r + 1]
        for t in top:
            t["q_uint16"] = rec[4 + t["id"]]
        debug.append({"chunk": 0, "position": first + r, "input_token": tokens[first + r],
                      "target_token": tgt, "max_logit": max(row), "log_normaliser(max+lse)": lognorm,
                      "top5_log_softmax (double, from f32 logits)": top,
                      "target_log_softmax": row[tgt] - lognorm, "target_q_uint16": rec[4 + tgt],
                      "record_scale": _F.unpack(hdr[0:4])[0],
                      "record_min_log_prob": _F.unpack(hdr[4:8])[0],
                      "record_byte_offset": 20 + 4 * n_chunk * N_CTX + r * nv * 2})

    # ---- KL divergence: base vs itself, and quantised models vs base
    kl_results = {}
    self_res = kl_divergence(r_tokens, r_ctx, r_chunk, r_vocab, recs, brows)
    kl_results[BASE_MODEL] = self_res
    model_entries = [{"model": BASE_MODEL + ".gguf", "sha256": file_digest(bpath),
                      "bytes": os.path.getsize(bpath), "evaluation": binfo,
                      "chunk0_vs_refmodels_p150_logits": compare_refmodels_logits(
                          args.refmodels, BASE_MODEL, bfull[0])}]
    for stem in QUANT_MODELS:
        qpath, qmodel = load(stem)
        qrows, qfull, qinfo = evaluate(lib, qmodel, tokens, n_chunk, "kl")
        check(qinfo["n_vocab"] == n_vocab, "vocab of " + stem)
        lib.llama.llama_model_free(qmodel)
        lib.take_log()
        res = kl_divergence(r_tokens, r_ctx, r_chunk, r_vocab, recs, qrows)
        qplain = [[plain_nll(qrows[c][r], tokens[c * N_CTX + first + r + 1]) for r in range(per_chunk)]
                  for c in range(n_chunk)]
        res["chunked_perplexity_of_this_model"] = ppl_report(qplain)
        kl_results[stem] = res
        model_entries.append({"model": stem + ".gguf", "sha256": file_digest(qpath),
                              "bytes": os.path.getsize(qpath), "evaluation": qinfo,
                              "chunk0_vs_refmodels_p150_logits": compare_refmodels_logits(
                                  args.refmodels, stem, qfull[0])})

    manifest = {
        "description": __doc__.split("\n")[0] + " " + __doc__.split("\n")[1],
        "library": {"llama_version()": lib.llama.llama_version().decode(),
                    "ggml_version()": lib.base.ggml_version().decode(),
                    "ggml_commit()": lib.base.ggml_commit().decode(),
                    "node_llama_cpp_build_metadata": build,
                    "note": "prebuilt llama.cpp of @node-llama-cpp/linux-x64 3.22.1; CPU backend only"},
        "backend": backend,
        "llama_cpp_source_read": {"tools/perplexity/perplexity.cpp": "050fc7f32de16858ac667d775b43a51ed8976e6f"},
        "facts": "see the docstring of model/tools/llama_kld_refs.py",
        "tokens": {
            "rule": "ids of prompt p150 then prompt p16 (gpt2 tokenizer family) from "
                    "/work/shared/refmodels/manifest.json; n_ctx 64 -> n_chunk = len // 64 = 2; "
                    "the first 128 ids are used (and stored in the .kld file)",
            "available": len(ids), "n_ctx": N_CTX, "n_chunk": n_chunk, "first": first,
            "scored_per_chunk": per_chunk, "scored_total": per_chunk * n_chunk,
            "scored_positions": "logits at positions 32..62 of each chunk predict tokens 33..63",
            "ids": tokens},
        "models": model_entries,
        "evaluation_checks_f16": checks,
        "kld_file": {"file": os.path.basename(kpath), "bytes": len(data),
                     "sha256": hashlib.sha256(data).hexdigest(),
                     "size_formula": "20 + 4*n_chunk*n_ctx + n_chunk*(n_ctx-1-n_ctx/2)*nv*2 = 20 + "
                                     "4*2*64 + 2*31*%d*2" % nv,
                     "n_ctx": N_CTX, "n_vocab": n_vocab, "n_chunk": n_chunk, "nv": nv,
                     "records": n_chunk * per_chunk, "header_bytes": 20 + 4 * n_chunk * N_CTX,
                     "record_bytes": 2 * nv, "uint16_overflow_count": overflow,
                     "made_from": "tiny-qrwkv6-f16 logits, kl-mode evaluation (identical bytes "
                                  "from the exact llama-perplexity -c 64 [--kl-divergence-base] "
                                  "evaluations: see evaluation_checks_f16)"},
        "chunked_perplexity": {BASE_MODEL: base_ppl},
        "kl_divergence": {},
        "debug_f16_log_softmax_chunk0_first3": debug,
    }
    for stem, res in kl_results.items():
        per_row = res.pop("per_row")
        res["per_row_kld"] = [x["kld"] for x in per_row]
        res["per_row_p_diff"] = [x["p_diff"] for x in per_row]
        res["per_row_top1_new_vs_base"] = [[x["imax"], x["imax_base"]] for x in per_row]
        cp = res.pop("chunked_perplexity_of_this_model", None)
        if cp is not None:
            manifest["chunked_perplexity"][stem] = {"perplexity_without_file": cp}
        manifest["kl_divergence"][stem + " vs " + BASE_MODEL + ".kld"] = res
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")
    bp = base_ppl["perplexity_with_kl_divergence_base"]
    print("f16: %s  %s  (file %d bytes)" % (bp["running_printed"], bp["final_printed"], len(data)))
    for stem, res in kl_results.items():
        print("%s: KLD %.6f, same top %.4f, checks %r" % (
            stem, res["final_statistics"]["kld"]["mean"], res["final_statistics"]["same_top_p"],
            [(c["mode"], c["max_abs_logit_diff_vs_kl_mode"], c["kld_file_identical"]) for c in checks]))
    print("done in %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
