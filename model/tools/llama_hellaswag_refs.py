#!/usr/bin/env python3
"""Independent reference data for llama-perplexity's --hellaswag mode, with every logit computed
by llama.cpp itself (not by vkrwkv code) and every token id made by llama.cpp's own tokenizer.

The prebuilt llama.cpp library that llama_quant_refs.py loads (node-llama-cpp 3.22.1's
libllama.v0.5.0.so / libggml*.so, CPU backend, 2 threads) tokenizes and evaluates a small
made-up HellaSwag-format file (12 tasks, tests/data/llama_hellaswag/tasks.txt) on
model/default/kjv-qrwkv6.gguf and /work/shared/refmodels/tiny-qrwkv6-f16.gguf. Everything
after the logits (task selection, log-probs, scores, the printed lines) is llama-perplexity's
code ported to Python with its float32 / double types emulated (expf / logf taken from the C
library, as the C code calls them). Each model uses its OWN vocab (llama-perplexity tokenizes
with the model it evaluates): kjv-qrwkv6 has a 4096-token byte-level BPE (gpt2 / qwen2 pre),
tiny-qrwkv6 a 1024-token one; both tokenize free ASCII text.

Facts (read from ggml-org/llama.cpp tools/perplexity/perplexity.cpp at commit
050fc7f32de16858ac667d775b43a51ed8976e6f: hellaswag_score(), decode_helper(),
compute_logprobs(), softmax(), main()):

main() for --hellaswag:
  * n_ctx = -c (perplexity's main sets the default to 512 before parsing); NOT multiplied.
  * params.n_batch = min(-b (default 2048), n_ctx) -> 512; n_ubatch default 512.
  * params.n_parallel = max(4, -np (default 1)) = 4 -> the context has n_seq_max = 4.
  * The text of -f is the prompt (params.prompt); --hellaswag-tasks N (default 400).

Input file (hellaswag_score):
  * params.prompt split with std::getline(stream, line, '\\n') -- only '\\n' separates; a '\\r'
    stays part of the line; a final '\\n' does not create an extra empty line, but an empty line
    in the middle does count. If the number of lines % 6 != 0: LOG_ERR "number of lines in
    prompt not a multiple of 6." and return (nothing scored).
  * 6 lines per task: [0] context ("activity_label: ctx" in the real data), [1] gold ending
    index (std::stoi: leading whitespace skipped, parses a leading integer; not range-checked),
    [2..5] the 4 endings. Nothing else is validated.
  * hs_task_count = lines/6; if --hellaswag-tasks < hs_task_count: hs_task_count = N.
  * randomize_tasks = true always. std::mt19937 rng(1) (fixed seed). For i = 0 .. hs_task_count-1:
    std::uniform_int_distribution<size_t> dist(0, remaining_tasks - 1); idx = dist(rng); take
    task idx of the REMAINING lines, then erase its 6 lines (selection without replacement, order =
    selection order). So with N < total the tasks are the first N of the same random order.
    libstdc++ (GCC >= 11) dist: Lemire: product = (uint64)rng() * range (range = hi-lo+1);
    low = (uint32)product; if low < range: threshold = (2^32 - range) % range; while low <
    threshold: redraw; result = product >> 32. (Checked against g++ 12: for a 12-task file the
    file task order is 5 11 8 10 0 1 3 9 2 4 6 7; for 10042 tasks it starts 4187 10013 7233
    9363 1 1286 ...). Other C++ libraries (libc++, MSVC, GCC <= 10) would pick other tasks.

Tokenization:
  * seq_tokens[j] = common_tokenize(ctx, context + " " + ending[j], add_special = true,
    parse_special = false) for j = 0..3 (one space joins them; nothing else is stripped).
    add_special adds BOS only where the vocab says add_bos (false for both models here: no BOS;
    the manifest records it), EOS only where add_eos.
  * common_prefix = number of leading positions k < len(seq_tokens[0]) where all four sequences
    have the same token (stops at the first difference). It may extend past the context into
    shared leading words of the endings (and may stop inside the context when BPE merges across
    the join). required_tokens = common_prefix + sum_s (len_s - common_prefix).

Batching and evaluation (per decode):
  * n_ctx = llama_n_ctx(ctx); max_seq = min(4*32, llama_n_seq_max(ctx)) = 4 by default, so
    EXACTLY ONE task per decode (the second task would need seq ids 4..7). Tasks are packed while
    n_cur + required_tokens <= n_ctx; a task that alone needs more than n_ctx tokens is NOT
    skipped: LOG_ERR "task %zu does not fit in the context window (requires %lu tokens)" and
    hellaswag_score returns (the run ends there, nothing more printed).
  * Batch (task with seq ids s0..s0+3, s0 = 0): common-prefix tokens i = 0..cp-1 at pos i with
    seq ids {s0,s0+1,s0+2,s0+3}, logits only for the LAST common token (i = cp-1); then for
    s = 0..3 the ending tokens i = cp .. len_s-1 at pos i with seq id {s0+s}, logits for all but
    the last token of each sequence (i < len_s - 1). The common prefix is evaluated once and
    shared by the 4 sequences.
  * llama_memory_clear(mem, true) before each decode (fresh state for every task group), then
    decode_helper splits the batch into views of n_batch tokens (one here), copying
    llama_get_logits() rows (batch order of the tokens with logits) into batch_logits.
    Output row 0 of a task = last common-prefix token; then rows in batch order: ending 0's
    positions cp..len_0-2, ending 1's, ...

Scoring (per task, per ending s):
  * First ending token seq_tokens[s][cp], from the common-prefix row: softmax(tok_logits):
      float max_logit = logits[0]; max over all (std::max);
      double sum_exp = 0; for i: float e = expf(logits[i] - max_logit) (float subtract);
        sum_exp += e; probs[i] = e;
      probs[i] = (float)(probs[i] / sum_exp)   (float / double -> double, stored as float)
    logprob0 = std::log(first_probs[tok]) -- std::log(float) = logf (float result).
    ending_logprob[s] = (double)logprob0; ending_logprob_count[s] = 1.
  * Following tokens: for j = cp .. len_s-2, row of position j scored against
    seq_tokens[s][j+1] by compute_logprobs:
      float max_logit = logits[0]; max (std::max);
      float sum_p = 0.f; for j: sum_p += expf(logits[j] - max_logit)   (FLOAT accumulation,
        vocab order);
      lp = (float)((float)(logits[tok] - max_logit) - logf(sum_p))      (float)
    ending_logprob[s] += (double)lp; count++ (sum in double, in token order).
    (compute_logprobs is multi-threaded in chunks of 4 pairs but each value is computed alone
    and stored by index: results do not depend on the thread count.)
  * Scored tokens of ending s: positions cp .. len_s-1 (every token of the full sequence after
    the common prefix, i.e. len_s - cp tokens); the shared leading words of the endings that are
    in the common prefix are NOT scored; the context is never scored.
  * score[s] = ending_logprob[s] / ending_logprob_count[s] (the MEAN log-prob per token, double;
    acc_norm-like, per token not per character).
  * Answer: the first s with the maximum score (start with s = 0, replace only on a strictly
    greater score -> ties go to the lowest index). Correct iff answer == gold (size_t compare
    with the std::stoi value).

Printed output (LOG = stdout):
  * Before the loop: LOG("\\ntask\\tacc_norm\\t95%% confidence interval\\n") (a blank line, then
    "task<TAB>acc_norm<TAB>95% confidence interval").
  * After each task i (0-based selection index): acc += 1.0 if correct; freq = acc/(i+1);
    za = 1.95996398454; z = za*za/(i+1); cnf = z*sqrt((i+1)*(4*freq*(1-freq) + z))/(za+za);
    a = (freq + z*0.5 - cnf)/(1+z); b = (freq + z*0.5 + cnf)/(1+z)   (Wilson score interval,
    all double);
    LOG("%zu\\t%3.8lf%%\\t[%3.4lf%%, %3.4lf%%]\\n", i+1, freq*100.0, a*100.0, b*100.0)
    e.g. "1\\t100.00000000%\\t[20.6549%, 100.0000%]".
  * After all tasks: LOG("\\n") -- there is no separate final-score line; the last task line
    is the final accuracy. (main then prints a further "\\n" and the perf / memory breakdown to
    the log.)
  * LOG_INF lines on stderr: "hellaswag_score : loaded %zu tasks from prompt.", "... is_spm = %d",
    "hellaswag_score : selecting %zu randomized tasks.", "hellaswag_score : calculating hellaswag
    score over selected tasks."

IMPORTANT -- recurrent models (RWKV-6 / rwkv6qwen2): the coupled batch above (common-prefix
tokens carrying 4 seq ids) is REFUSED by llama.cpp: llama_memory_recurrent::init_batch always
uses balloc.split_equal(n_ubatch, sequential = true) (src/llama-memory-recurrent.cpp, checked at
ggml-org/llama.cpp 76d94392 / 0054ee8c), and split_equal logs "split_equal: sequential split is
not supported when there are coupled sequences in the input batch (you may need to use the -kvu
flag)" and llama_decode returns 1 -- with or without kv_unified (-kvu), verified with this
library for every task here. So the real llama-perplexity --hellaswag on these models prints the
blank line + header, then "failed to decode the batch, n_batch = 512, ret = 1" and
"hellaswag_score: llama_decode() failed" (LOG_ERR) and stops: no task line at all. The data here
is therefore what the tool computes when the decode works (transformer models do), with the
logits of a recurrent model taken as their mathematical meaning: each of the 4 sequences
evaluated from a fresh state.

Reference run made here (per model):
  * Task selection, tokenization, common prefix, scored rows, scores and printed lines exactly as
    above, --hellaswag-tasks 12 (all tasks; and 5 on the bundled model, checked to be the first 5
    lines of the 12-task run).
  * The coupled batch is built exactly as hellaswag_score builds it and sent to llama_decode
    (n_ctx 512, n_batch 512, n_ubatch 512, n_seq_max 4, kv_unified false, 2 threads); the
    manifest records its return code and log (refused, see above).
  * Reference logits: each full sequence context + " " + ending alone, llama_memory_clear, seq 0,
    one llama_decode of the whole sequence (n_seq_max 1), logits for positions cp-1 .. len-2. The
    common-prefix row (position cp-1) is taken from ending 0's run; the 4 runs give bit-identical
    rows there (recorded). Rows are then arranged in hellaswag_score's order.
  * Check (not used for the scores): prefix decoded once in seq 0, llama_memory_seq_cp(0 -> 1..3),
    then each ending decoded alone as seq s; the largest logit difference to the reference is
    recorded (about 2e-4 for kjv, 8e-4 for tiny: the prefix is evaluated in a different
    ubatch split; differences of this size come from the split, not from the state copy).
  * Float emulation: float32 operations done in double and rounded to float32 (exact for a single
    +, -, /), expf / logf from libm via ctypes, no FMA contraction (x86-64 default).
  * The selection order was checked against g++ 12 (libstdc++) std::mt19937(1) +
    uniform_int_distribution<size_t>.

Rerun (needs only python3; see llama_quant_refs.py for fetching the library):

    python3 model/tools/llama_hellaswag_refs.py /tmp/npmtry/x/package/bins/linux-x64 \\
        tests/data/llama_hellaswag

Options: --refmodels DIR (default /work/shared/refmodels), --kjv PATH (default
model/default/kjv-qrwkv6.gguf).
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

LLAMA_CPP_COMMIT = "050fc7f32de16858ac667d775b43a51ed8976e6f"
N_CTX = 512          # llama-perplexity default -c
N_BATCH = 512        # min(2048, n_ctx)
N_UBATCH = 512
N_SEQ_MAX = 4        # n_parallel = max(4, 1)
N_THREADS = 2
MAX_TASKS_PER_BATCH = 32
KV_UNIFIED = False    # common_params default (-kvu made no difference here: the recurrent memory always splits sequentially)

# 12 made-up tasks: (context, gold, [4 endings]). Plain English, HellaSwag style
# ("activity: context"); some endings share leading words so the common prefix goes past the
# context.
TASKS = [
    ("Cooking: A man fills a large pot with cold water and sets it on the stove. He", 1,
     ["puts the pot on his head and walks outside.",
      "turns on the burner and waits for the water to boil.",
      "turns on the radio and starts to dance.",
      "throws the pot out of the open window."]),
    ("Gardening: A woman kneels beside a row of young plants holding a small shovel. She", 2,
     ["then eats the shovel for lunch.",
      "then paints the fence bright blue.",
      "then digs a hole and sets a new plant in it.",
      "then climbs onto the roof of the house."]),
    ("Washing the dog: A boy leads a muddy dog into the bathtub and grabs the soap. The boy", 0,
     ["scrubs the dog until the water turns brown.",
      "scrubs the ceiling with a toothbrush.",
      "reads a book about old ships.",
      "sells the dog to a passing stranger."]),
    ("Shepherd: The shepherd counts his sheep at the end of the day and finds that one is missing. He", 3,
     ["goes to sleep and forgets about it.",
      "sells the rest of the flock at once.",
      "builds a tall tower of stones.",
      "leaves the others and goes out to search for the lost one."]),
    ("Baking bread: The baker mixes flour, water and salt in a wide bowl. Next the baker", 1,
     ["pours the dough into the river.",
      "kneads the dough and leaves it to rise.",
      "kneads the cat and leaves it to sleep.",
      "paints the bowl with red ink."]),
    ("Fishing: Two men sit in a small boat on the lake and cast their nets into the water. After a while they", 0,
     ["draw the nets up full of fish.",
      "draw pictures of the clouds.",
      "draw the boat up a high mountain.",
      "draw lots for the last apple."]),
    ("Writing a letter: A girl sits at her desk with a pen and a sheet of paper. She", 2,
     ["writes on the wall with a stick.",
      "writes a song for the moon.",
      "writes the date at the top of the page.",
      "writes her name on the dog."]),
    ("Building: The workers lay the stones of the wall one upon another and spread mortar between them. Then they", 3,
     ["set the wall on fire.",
      "set the stones in the sea.",
      "set a cake on every stone.",
      "set the next row of stones on top."]),
    ("Harvest: In the autumn the farmers go out into the fields with sharp sickles. They", 1,
     ["sing to the birds all day long.",
      "cut the ripe grain and bind it into sheaves.",
      "cut the trees and build a ship.",
      "bury the sickles under the barn."]),
    ("Lighting a lamp: At evening the old man takes the lamp down from the shelf. He", 0,
     ["fills it with oil and lights the wick.",
      "fills it with sand and throws it away.",
      "fills his boots with cold water.",
      "fills the shelf with small stones."]),
    ("Travel: The family loads the donkey with bags of food and water for the long journey. Then they", 2,
     ["go to bed for the rest of the year.",
      "go back inside and unpack everything.",
      "go out through the gate and take the road to the city.",
      "go swimming in the well."]),
    ("Music: A young man picks up a harp and sits down before the king. He", 3,
     ["breaks the harp over his knee.",
      "eats the strings one by one.",
      "hides the harp under the throne.",
      "plays a sweet song and the king listens."]),
]


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


_libm = ctypes.CDLL(ctypes.util.find_library("m"))
_libm.expf.restype = ctypes.c_float
_libm.expf.argtypes = [ctypes.c_float]
_libm.logf.restype = ctypes.c_float
_libm.logf.argtypes = [ctypes.c_float]


def expf(v):
    return _libm.expf(v)


def logf(v):
    return _libm.logf(v)


# --------------------------------------------------------------------------- std::mt19937 + libstdc++ dist

class MT19937:
    def __init__(self, seed):
        self.mt = [0] * 624
        self.mt[0] = seed & 0xffffffff
        for i in range(1, 624):
            self.mt[i] = (1812433253 * (self.mt[i - 1] ^ (self.mt[i - 1] >> 30)) + i) & 0xffffffff
        self.idx = 624

    def __call__(self):
        if self.idx >= 624:
            mt = self.mt
            for i in range(624):
                y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff)
                mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ (0x9908b0df if y & 1 else 0)
            self.idx = 0
        y = self.mt[self.idx]
        self.idx += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c5680
        y ^= (y << 15) & 0xefc60000
        y ^= y >> 18
        return y & 0xffffffff


def uniform_int(rng, lo, hi):
    """libstdc++ (GCC >= 11) std::uniform_int_distribution<size_t>(lo, hi)(mt19937)."""
    urange = hi - lo
    if urange == 0xffffffff:
        return lo + rng()
    rng_range = urange + 1  # < 2^32 here
    product = rng() * rng_range
    low = product & 0xffffffff
    if low < rng_range:
        threshold = ((1 << 32) - rng_range) % rng_range
        while low < threshold:
            product = rng() * rng_range
            low = product & 0xffffffff
    return lo + (product >> 32)


def select_tasks(n_file_tasks, n_tasks):
    """File task indices in the order hellaswag_score uses them."""
    rng = MT19937(1)
    remaining = list(range(n_file_tasks))
    order = []
    for _ in range(min(n_tasks, n_file_tasks)):
        idx = uniform_int(rng, 0, len(remaining) - 1)
        order.append(remaining.pop(idx))
    return order


# --------------------------------------------------------------------------- llama-perplexity math

def softmax_logprob(row, tok):
    """std::log(softmax(row)[tok]) as hellaswag_score computes it (float result)."""
    mx = row[0]
    for v in row:
        mx = max(mx, v)
    sum_exp = 0.0
    e_tok = None
    for i, v in enumerate(row):
        e = expf(f32(v - mx))
        sum_exp += e
        if i == tok:
            e_tok = e
    p = f32(e_tok / sum_exp)
    return logf(p)


def compute_logprob(row, tok):
    """compute_logprobs() for one (row, token) pair (float result)."""
    mx = row[0]
    for v in row[1:]:
        mx = max(mx, v)
    s = 0.0
    for v in row:
        s = f32(s + expf(f32(v - mx)))
    return f32(f32(row[tok] - mx) - logf(s))


def wilson_line(i, acc):
    freq = acc / float(i + 1)
    za = 1.95996398454
    z = za * za / float(i + 1)
    cnf = z * math.sqrt(float(i + 1) * (4.0 * freq * (1 - freq) + z)) / (za + za)
    a = (freq + z * 0.5 - cnf) / (1.0 + z)
    b = (freq + z * 0.5 + cnf) / (1.0 + z)
    return "%d\t%3.8f%%\t[%3.4f%%, %3.4f%%]\n" % (i + 1, freq * 100.0, a * 100.0, b * 100.0)


# --------------------------------------------------------------------------- library glue

def setup_extra(lib):
    l = lib.llama
    l.llama_get_logits.restype = ctypes.POINTER(ctypes.c_float)
    l.llama_get_logits.argtypes = [ctypes.c_void_p]
    l.llama_tokenize.restype = ctypes.c_int32
    l.llama_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32,
                                 ctypes.POINTER(ctypes.c_int32), ctypes.c_int32,
                                 ctypes.c_bool, ctypes.c_bool]
    l.llama_memory_seq_cp.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32,
                                      ctypes.c_int32, ctypes.c_int32]
    l.llama_vocab_type.restype = ctypes.c_int32
    l.llama_vocab_type.argtypes = [ctypes.c_void_p]
    l.llama_token_to_piece.restype = ctypes.c_int32
    l.llama_token_to_piece.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p,
                                       ctypes.c_int32, ctypes.c_int32, ctypes.c_bool]


def common_tokenize(l, vocab, text, add_special=True, parse_special=False):
    raw = text.encode("utf-8")
    n_max = len(raw) + 2 * int(add_special)
    buf = (ctypes.c_int32 * max(n_max, 1))()
    n = l.llama_tokenize(vocab, raw, len(raw), buf, n_max, add_special, parse_special)
    if n < 0:
        buf = (ctypes.c_int32 * (-n))()
        n2 = l.llama_tokenize(vocab, raw, len(raw), buf, -n, add_special, parse_special)
        check(n2 == -n, "tokenize retry")
        n = n2
    return [buf[i] for i in range(n)]


def detok(l, vocab, ids):
    out = b""
    buf = ctypes.create_string_buffer(256)
    for t in ids:
        n = l.llama_token_to_piece(vocab, t, buf, 256, 0, False)
        check(n >= 0, "token_to_piece")
        out += buf.raw[:n]
    return out.decode("utf-8", "replace")


def make_ctx(l, model, n_seq):
    cp = l.llama_context_default_params()
    cp.n_ctx = N_CTX
    cp.n_batch = N_BATCH
    cp.n_ubatch = N_UBATCH
    cp.n_seq_max = n_seq
    cp.n_threads = N_THREADS
    cp.n_threads_batch = N_THREADS
    cp.no_perf = True
    cp.kv_unified = KV_UNIFIED
    ctx = l.llama_init_from_model(model, cp)
    check(ctx, "context")
    check(l.llama_n_batch(ctx) == N_BATCH and l.llama_n_ubatch(ctx) == N_UBATCH
          and l.llama_n_seq_max(ctx) == n_seq and l.llama_n_ctx(ctx) >= N_CTX,
          "context params read back: ctx %d batch %d ubatch %d seq %d" % (
              l.llama_n_ctx(ctx), l.llama_n_batch(ctx), l.llama_n_ubatch(ctx), l.llama_n_seq_max(ctx)))
    return ctx


def read_rows(l, ctx, idxs, n_vocab):
    rows = []
    for i in idxs:
        p = l.llama_get_logits_ith(ctx, i)
        check(bool(p), "logits of batch index %d" % i)
        rows.append(list(array.array("f", ctypes.string_at(p, 4 * n_vocab))))
    return rows


def run_model(lib, path, n_tasks):
    l = lib.llama
    mp = l.llama_model_default_params()
    mp.n_gpu_layers = 0
    model = l.llama_model_load_from_file(path.encode(), mp)
    check(model, "load " + path)
    lib.take_log()
    vocab = l.llama_model_get_vocab(model)
    n_vocab = l.llama_vocab_n_tokens(vocab)
    add_bos = bool(l.llama_vocab_get_add_bos(vocab))
    add_eos = bool(l.llama_vocab_get_add_eos(vocab))

    order = select_tasks(len(TASKS), n_tasks)
    ctx = make_ctx(l, model, N_SEQ_MAX)
    n_ctx = l.llama_n_ctx(ctx)
    max_seq = min(4 * MAX_TASKS_PER_BATCH, l.llama_n_seq_max(ctx))
    check(max_seq == 4, "one task per decode")
    ctx1 = make_ctx(l, model, 1)  # for the per-sequence check
    batch = l.llama_batch_init(N_CTX, 0, 4)
    batch1 = l.llama_batch_init(N_CTX, 0, 1)

    out_text = "\ntask\tacc_norm\t95% confidence interval\n"
    lines = []
    acc = 0.0
    results = []
    max_check_diff = 0.0
    max_coupled_diff = 0.0
    prefix_row_diff = 0.0
    coupled_rc = []
    coupled_log = []
    for i, fidx in enumerate(order):
        context, gold, endings = TASKS[fidx]
        seqs = [common_tokenize(l, vocab, context + " " + e, True) for e in endings]
        cp = 0
        for k in range(len(seqs[0])):
            if any(k >= len(s) or s[k] != seqs[0][k] for s in seqs[1:]):
                break
            cp += 1
        check(0 < cp and all(len(s) > cp for s in seqs), "common prefix inside every sequence")
        required = cp + sum(len(s) - cp for s in seqs)
        check(required <= n_ctx, "task fits")
        # batch exactly as hellaswag_score builds it (s0 = 0)
        n = 0
        logit_idx = []
        for k in range(cp):
            batch.token[n] = seqs[0][k]
            batch.pos[n] = k
            batch.n_seq_id[n] = 4
            for s in range(4):
                batch.seq_id[n][s] = s
            batch.logits[n] = 0
            n += 1
        batch.logits[n - 1] = 1
        logit_idx.append(n - 1)
        for s in range(4):
            for k in range(cp, len(seqs[s])):
                need = k < len(seqs[s]) - 1
                batch.token[n] = seqs[s][k]
                batch.pos[n] = k
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = s
                batch.logits[n] = 1 if need else 0
                if need:
                    logit_idx.append(n)
                n += 1
        check(n == required, "batch size == required_tokens")
        batch.n_tokens = n
        # 1) the batch exactly as hellaswag_score sends it (coupled common prefix): record what
        #    llama.cpp does with it (recurrent memory: sequential split -> refused)
        lib.take_log()
        l.llama_memory_clear(l.llama_get_memory(ctx), True)
        rc = l.llama_decode(ctx, batch)
        coupled_rc.append(rc)
        coupled_log.append(lib.take_log().strip())
        if rc == 0:
            coupled_rows = read_rows(l, ctx, logit_idx, n_vocab)
        else:
            coupled_rows = None

        # 2) reference logits: each full sequence alone from a fresh state (seq 0, one decode,
        #    logits for positions cp-1 .. len-2), arranged in hellaswag_score's row order
        single = []
        for s in range(4):
            for k, t in enumerate(seqs[s]):
                batch1.token[k] = t
                batch1.pos[k] = k
                batch1.n_seq_id[k] = 1
                batch1.seq_id[k][0] = 0
                batch1.logits[k] = 1 if cp - 1 <= k < len(seqs[s]) - 1 else 0
            batch1.n_tokens = len(seqs[s])
            l.llama_memory_clear(l.llama_get_memory(ctx1), True)
            check(l.llama_decode(ctx1, batch1) == 0, "decode single")
            single.append(read_rows(l, ctx1, range(cp - 1, len(seqs[s]) - 1), n_vocab))
        rows = [single[0][0]]
        for s in range(4):
            prefix_row_diff = max(prefix_row_diff, max(abs(x - y) for x, y in zip(single[s][0], rows[0])))
            rows += single[s][1:]
        check(len(rows) == len(logit_idx), "row count")

        # 3) check: prefix once in seq 0, llama_memory_seq_cp to 1..3, then each ending alone
        #    batch with seq ids 0..3 (no coupled tokens)
        mem = l.llama_get_memory(ctx)
        l.llama_memory_clear(mem, True)
        n = 0
        for k in range(cp):
            batch.token[n] = seqs[0][k]
            batch.pos[n] = k
            batch.n_seq_id[n] = 1
            batch.seq_id[n][0] = 0
            batch.logits[n] = 1 if k == cp - 1 else 0
            n += 1
        batch.n_tokens = n
        check(l.llama_decode(ctx, batch) == 0, "decode prefix")
        alt = read_rows(l, ctx, [cp - 1], n_vocab)
        for s in range(1, 4):
            l.llama_memory_seq_cp(mem, 0, s, -1, -1)
        for s in range(4):  # one decode per ending (seq id s)
            n = 0
            for k in range(cp, len(seqs[s])):
                batch.token[n] = seqs[s][k]
                batch.pos[n] = k
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = s
                batch.logits[n] = 1 if k < len(seqs[s]) - 1 else 0
                n += 1
            batch.n_tokens = n
            rc2 = l.llama_decode(ctx, batch)
            check(rc2 == 0, "decode ending after seq_cp rc=%d" % rc2)
            alt += read_rows(l, ctx, [i for i in range(n) if batch.logits[i]], n_vocab)
        for a, b in zip(alt, rows):
            max_check_diff = max(max_check_diff, max(abs(x - y) for x, y in zip(a, b)))
        if coupled_rows is not None:
            for a, b in zip(coupled_rows, rows):
                max_coupled_diff = max(max_coupled_diff, max(abs(x - y) for x, y in zip(a, b)))

        # scoring
        ends = []
        li_ = 1
        for s in range(4):
            toks = []
            lp0 = softmax_logprob(rows[0], seqs[s][cp])
            total = float(lp0)
            count = 1
            toks.append({"pos": cp, "token": seqs[s][cp], "row": 0, "logprob": lp0})
            for j in range(cp, len(seqs[s]) - 1):
                lp = compute_logprob(rows[li_], seqs[s][j + 1])
                toks.append({"pos": j + 1, "token": seqs[s][j + 1], "row": li_, "logprob": lp})
                li_ += 1
                total += lp
                count += 1
            ends.append({"ending": endings[s], "n_tokens": len(seqs[s]),
                         "scored_text": detok(l, vocab, seqs[s][cp:]),
                         "logprob_sum": total, "logprob_count": count,
                         "score_mean": total / count, "scored_tokens": toks})
        check(li_ == len(rows), "all rows used")
        best, bestv = 0, ends[0]["score_mean"]
        for s in range(1, 4):
            if ends[s]["score_mean"] > bestv:
                best, bestv = s, ends[s]["score_mean"]
        correct = best == gold
        if correct:
            acc += 1.0
        line = wilson_line(i, acc)
        lines.append(line.rstrip("\n"))
        out_text += line
        results.append({"selection_index": i, "file_task_index": fidx, "context": context,
                        "gold": gold, "seq_tokens": seqs, "common_prefix": cp,
                        "common_prefix_text": detok(l, vocab, seqs[0][:cp]),
                        "required_tokens": required, "n_logit_rows": len(rows),
                        "endings": ends, "chosen": best, "correct": correct, "line": lines[-1]})
    out_text += "\n"
    l.llama_batch_free(batch)
    l.llama_batch_free(batch1)
    l.llama_free(ctx)
    l.llama_free(ctx1)
    vtype = l.llama_vocab_type(vocab)
    l.llama_model_free(model)
    lib.take_log()
    return {"model": os.path.basename(path), "model_path": path, "model_sha256": file_digest(path),
            "n_vocab": n_vocab, "vocab_type": vtype, "is_spm": vtype == 1, "add_bos": add_bos,
            "add_eos": add_eos, "hellaswag_tasks": n_tasks,
            "context": {"n_ctx_requested": N_CTX, "llama_n_ctx": n_ctx, "n_batch": N_BATCH,
                        "n_ubatch": N_UBATCH, "n_seq_max": N_SEQ_MAX, "n_threads": N_THREADS,
                        "decodes": len(order), "tasks_per_decode": 1},
            "selection_order_file_task_indices": order,
            "coupled_batch_llama_decode_rc": coupled_rc,
            "coupled_batch_log": sorted(set(coupled_log)),
            "coupled_batch_max_abs_logit_diff_vs_reference": max_coupled_diff if all(r == 0 for r in coupled_rc) else None,
            "reference_logits": "each full sequence alone from a fresh state (seq 0, one llama_decode, n_ctx 512, n_batch/n_ubatch 512), rows cp-1..len-2; common-prefix row taken from ending 0's run",
            "check_common_prefix_row_max_abs_diff_across_4_runs": prefix_row_diff,
            "check_seq_cp_max_abs_logit_diff_vs_reference": max_check_diff,
            "final_accuracy_percent": 100.0 * acc / len(order), "n_correct": int(acc),
            "stdout": out_text, "lines": lines, "tasks": results}


def tasks_text():
    out = []
    for context, gold, endings in TASKS:
        check(len(endings) == 4, "4 endings")
        out += [context, str(gold)] + endings
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bins", help="dir with libllama.v0.5.0.so, libggml*.so, libggml-cpu-*.so")
    ap.add_argument("out", help="output dir (created)")
    ap.add_argument("--refmodels", default="/work/shared/refmodels")
    ap.add_argument("--kjv", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                  "default", "kjv-qrwkv6.gguf"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()

    text = tasks_text()
    with open(os.path.join(args.out, "tasks.txt"), "w", newline="\n") as f:
        f.write(text)
    # parse back the way hellaswag_score does
    lines = text.split("\n")[:-1]
    check(len(lines) % 6 == 0 and len(lines) // 6 == len(TASKS), "6 lines per task")
    for t in range(len(TASKS)):
        check(lines[6 * t] == TASKS[t][0] and int(lines[6 * t + 1]) == TASKS[t][1]
              and lines[6 * t + 2:6 * t + 6] == TASKS[t][2], "round trip")

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

    runs = []
    kjv = os.path.normpath(args.kjv)
    tiny = os.path.join(args.refmodels, "tiny-qrwkv6-f16.gguf")
    for path in (kjv, tiny):
        runs.append(run_model(lib, path, len(TASKS)))
    # --hellaswag-tasks 5 on the bundled model: the first 5 of the same selection
    r5 = run_model(lib, kjv, 5)
    check(r5["lines"] == runs[0]["lines"][:5], "N=5 run is a prefix of the N=12 run")

    manifest = {
        "description": "llama-perplexity --hellaswag reference data; logits and token ids by "
                       "llama.cpp (see model/tools/llama_hellaswag_refs.py docstring for the facts)",
        "llama_cpp_source": {"repo": "ggml-org/llama.cpp", "commit": LLAMA_CPP_COMMIT,
                             "file": "tools/perplexity/perplexity.cpp",
                             "functions": ["hellaswag_score", "decode_helper", "compute_logprobs",
                                           "softmax", "main"]},
        "library": {"package": "@node-llama-cpp/linux-x64 3.22.1", "build": build,
                    "llama_version_hint": "libllama.v0.5.0.so", "ggml_version":
                        lib.base.ggml_version().decode(), "ggml_commit": lib.base.ggml_commit().decode(),
                    "backend": backend},
        "tasks_file": {"file": "tasks.txt", "sha256": hashlib.sha256(text.encode()).hexdigest(),
                       "n_tasks": len(TASKS), "n_lines": len(lines)},
        "command_equivalent": "llama-perplexity -m MODEL -f tasks.txt --hellaswag "
                              "--hellaswag-tasks 12 (default -c 512 -b 2048 -> n_batch 512, np 4)",
        "runs": runs,
        "run_hellaswag_tasks_5": {"model": r5["model"], "selection_order_file_task_indices":
                                  r5["selection_order_file_task_indices"], "stdout": r5["stdout"],
                                  "lines": r5["lines"]},
        "seconds": round(time.time() - t0, 1),
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    for r in runs:
        print("== %s (tasks %d, order %s, coupled rc %s, seq_cp diff %.3g, prefix diff %.3g)" % (
            r["model"], r["hellaswag_tasks"], r["selection_order_file_task_indices"],
            r["coupled_batch_llama_decode_rc"], r["check_seq_cp_max_abs_logit_diff_vs_reference"],
            r["check_common_prefix_row_max_abs_diff_across_4_runs"]))
        for t in r["tasks"]:
            print("  file task %2d gold %d chosen %d %s cp %d scores %s" % (
                t["file_task_index"], t["gold"], t["chosen"], "ok " if t["correct"] else "BAD",
                t["common_prefix"], " ".join("%.4f" % e["score_mean"] for e in t["endings"])))
        sys.stdout.write(r["stdout"])
    print("seconds %.1f" % (time.time() - t0))


if __name__ == "__main__":
    main()
