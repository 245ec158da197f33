#!/usr/bin/env python3
"""Independent reference data for llama-perplexity's --multiple-choice mode
(--multiple-choice-tasks N), with every logit computed by llama.cpp itself (not by vkrwkv code)
and every token id made by llama.cpp's own tokenizer.

Same approach and library as llama_hellaswag_refs.py and llama_winogrande_refs.py (whose
bindings, float helpers and task draw are imported, not copied): the prebuilt node-llama-cpp
3.22.1 libllama.v0.5.0.so / libggml*.so, CPU backend, 2 threads, tokenizes and evaluates a small
made-up multiple-choice task file (10 tasks in ARC / MMLU / TruthfulQA style,
tests/data/llama_multiple_choice/tasks.bin) on model/default/kjv-qrwkv6.gguf and
/work/shared/refmodels/tiny-qrwkv6-f16.gguf (each with its own vocab). Everything after the
logits (reading the binary file, task selection, log-probs, scores, printed lines) is
llama-perplexity's code ported to Python with its float32 / double types emulated (expf / logf
from the C library).

Facts (read from ggml-org/llama.cpp tools/perplexity/perplexity.cpp at commit
050fc7f32de16858ac667d775b43a51ed8976e6f: multiple_choice_score(), deserialize_string(),
struct multiple_choice_answers, struct multiple_choice_task, multiple_choice_prepare_one_task(),
decode_helper(), compute_logprobs(), softmax(), main(); common/log.cpp for where LOG / LOG_INF
go; common/arg.cpp for -f / -bf, read at a later stored version since that file is not stored at
this commit):

main() / options:
  * --multiple-choice; the task file is the prompt: -bf FILE (std::ios::binary, read as is) or
    -f FILE (read with istreambuf_iterator; a LAST BYTE 0x0A IS POPPED -- harmless for valid
    files, which end with the high byte of an int32 label or count, 0x00).
  * --multiple-choice-tasks N (size_t, parsed as int; default 0 = all). n_ctx = -c (default 512,
    not multiplied); n_batch = min(-b, n_ctx) = 512; n_parallel = max(4, -np) -> n_seq_max.

Binary file (all little-endian, read with istream::read into native ints):
  * uint32 n_task (0 or a short read: LOG_ERR "multiple_choice_score: no tasks", return);
    uint32 task_pos[n_task] (short read: LOG_ERR "...: failed to read task positions from
    prompt"). task_pos = byte offset of each task from the START of the file.
  * task = string question; mc1; mc2. string = uint32 size + size bytes (no terminator).
    answers block = uint32 n (fails if n > 100), n strings, then n int32 labels (one read of
    n*4 bytes). mc2 has the same layout; it is read (and must be readable) but never used.
    n = 0 is accepted by the reader (mc1 with no answers is then rejected later).
  * N == 0 or N >= n_task ("Use all tasks"): the tasks are read SEQUENTIALLY right after the
    task_pos table, in file order; task_pos is IGNORED (not even range-checked). Failure:
    LOG_ERR "multiple_choice_score: failed to read task %d of %u" (1-based), return.
  * 0 < N < n_task: std::mt19937 rng(1); aux = [0..n_task-1] (std::vector<int>);
    float scale = 1.f/(1.f + (float)mt19937::max()) = 2^-32; for each of the N tasks:
    j = (int)(scale * rng() * aux.size()) -- FLOAT math, the same expression and draw as
    winogrande_score's: (float)rng() rounded to nearest, times scale (exact), times
    (float)aux.size(), truncated; idx = aux[j]; aux[j] = aux.back(); aux.pop_back()
    (swap-remove); strstream.seekg(task_pos[idx]) and deserialize there (failure: LOG_ERR
    "...: failed to read task %d at position %u" with idx). Then n_task = N (the variable is
    reused). Checked against g++ 12 (libstdc++) with a small program running exactly that code:
    n_task 10 -> N=4: 4 8 5 6; N=9: 4 8 5 6 0 7 1 2 9; n_task 1000, N=12: 417 996 718 929 0 127
    300 992 145 233 91 392; n_task 14042, N=8: 5855 14001 10113 13092 1 1798 4243 14021.
    (Only mt19937 is involved, which is fully specified: any C++ library gives the same.)

Preparing (multiple_choice_prepare_one_task, per selected task, in selection order):
  * question empty or mc1 empty: LOG_ERR "multiple_choice_prepare_one_task: found bad task with
    empty question and/or answers", return; an empty mc1 answer: LOG_ERR "...: found empty
    answer", return (for n_task > 500 the errors are counted instead: "found %d malformed
    tasks").
  * seq_tokens[s] = common_tokenize(ctx, question + " " + answer_s, add_special = true,
    parse_special = false) (one space joins them; BOS only where the vocab says add_bos --
    false for both models here; the manifest records it).
  * common_prefix = leading positions k < min_len (the SHORTEST sequence) where every sequence
    has seq_tokens[0][k]. It may go past the question into shared leading words of the answers.
    required_tokens = cp + sum_s (len_s - cp).
  * NOT checked: that every sequence has a token after the common prefix. If one answer's token
    sequence is a prefix of another's (or two answers tokenize the same), cp == len_s for that
    answer and the scoring reads seq_tokens[s][cp] OUT OF BOUNDS (and first_probs[] with that
    garbage id). The file here avoids that (checked for both vocabularies). If cp == 0 (first
    tokens differ), batch.logits[batch.n_tokens - 1] is written before any token of the task
    was added (index -1 for the first task of a decode).

Batching / evaluation:
  * max_tasks_per_batch = 32, max_seq = min(4*32, n_seq_max). Tasks are packed while
    n_cur + required_tokens <= n_ctx (llama_n_ctx(ctx): this library reports 2048 for -c 512
    with n_seq_max 8, so here the seq-id limit is what splits the groups) and
    s0 + num_answers <= max_seq (s0 = seq ids used so far in this decode). A task with more
    answers than max_seq at s0 == 0: LOG_ERR "multiple_choice_score : task %zu requires a
    higher -np|--parallel value (at least %d)" (0-based selection index, number of answers)
    and return -- so with the DEFAULT -np (n_seq_max 4) the run stops at the first task with
    5+ answers (after printing the lines of the tasks before it); this file needs -np 8
    (default_np_4 in each run of the manifest shows the default). A task alone over n_ctx: LOG_ERR
    "multiple_choice_score : task %zu does not fit in the context window (requires %lu
    tokens)", return.
  * Batch per task: common-prefix tokens i < cp at pos i with seq ids s0..s0+n-1, logits only
    for i = cp-1; then for s = 0..n-1: tokens i = cp .. len_s-1 at pos i with seq id s0+s,
    logits for i < len_s-1. Rows of a task (i_logits = its first row in the decode): row 0 =
    position cp-1; then in batch order answer 0's positions cp .. len_0-2, answer 1's, ...
  * llama_memory_clear(mem, true) before each decode; decode_helper (views of n_batch tokens,
    logits copied in batch order); failure: LOG_ERR "failed to decode the batch, n_batch = %d,
    ret = %d" then "multiple_choice_score: llama_decode() failed", return.

Scoring (per task, per answer s):
  * first_probs = softmax(row 0): float max; double sum_exp += (float)expf(l - max); probs[i]
    = (float)(e_i / sum_exp). float log_prob = std::log(first_probs[seq[s][cp]]) (logf).
  * then for j = cp .. len_s-2: log_prob += compute_logprobs value of (row, seq[s][j+1])
    (float max; FLOAT sum_p += expf(l - max) in vocab order; lp = (float)(l[tok] - max) -
    logf(sum_p), all float) -- FLOAT accumulation (hellaswag accumulates in double), count++.
    (compute_logprobs runs on threads in chunks of 4 pairs; each value is computed alone and
    stored by index: the thread count does not matter.)
  * Scored tokens of answer s: positions cp .. len_s-1 (len_s - cp tokens; an answer with a
    single token after the prefix is scored by the softmax term alone).
  * log_probs[s] = log_prob / count (float / size_t -> float division): the MEAN log-prob per
    token (float).
  * Chosen = the first maximum (start with 0, replace only on a strictly greater score: ties go
    to the lowest index). Correct iff mc1.labels[chosen] == 1 (exactly 1; mc2 never used).
    n_tot_answers += number of mc1 answers.

Printed output (LOG -> stdout, LOG_INF -> stderr; no prefixes by default):
  * Reading (all-tasks branch only): LOG_INF "multiple_choice_score: reading tasks" (no
    newline), then LOG(".") after every n_dot-th task (n_dot = max(n_task/100, 1)) and
    LOG("done\\n"). The random branch instead LOG_INFs "multiple_choice_score: selecting %zu
    random tasks from %u tasks available\\n" and prints nothing on stdout.
  * Preparing: LOG_INF "multiple_choice_score: preparing task data" (no newline); n_task (the
    selected count) > 500: LOG("...") .. LOG("done\\n"); else LOG(".") every n_dot-th task
    (n_dot = max(n_task/100, 1)) and LOG("done\\n").
  * LOG_INF "multiple_choice_score : calculating TruthfulQA score over %zu tasks.\\n", then
    LOG("\\ntask\\tacc_norm\\n") (a blank line, then "task<TAB>acc_norm").
  * After each task: LOG("%d\\t%.8lf\\n", n_done, 100.*n_correct/n_done) (double), e.g.
    "3\\t66.66666667".
  * After all tasks: `if (n_done < 100 && (N != 0 && N < (size_t)n_task)) return;` -- but n_task
    was overwritten with N in the random branch, so N < n_task is always false there and the
    condition is NEVER true: the final lines are ALWAYS printed (also for 4 tasks):
      float p = 1.f*n_correct/n_done; float sigma = sqrt(p*(1-p)/(n_done-1)) (float argument;
      sqrt in float or double gives the same float after the assignment);
      LOG("\\n"); LOG_INF("Final result: %.4f +/- %.4f\\n", 100.f*p, 100.f*sigma);
      p = 1.f*n_done/n_tot_answers; sigma likewise;
      LOG_INF("Random chance: %.4f +/- %.4f\\n", 100.f*p, 100.f*sigma); LOG_INF("\\n").
    (n_done == 1 divides by 0: "Final result: 100.0000 +/- -nan" / "0.0000 +/- -nan" and
    "Random chance: 12.5000 +/- inf" for 8 answers -- checked with g++ 12.) main then prints
    LOG("\\n") and the perf / memory breakdown.

IMPORTANT -- recurrent models (RWKV-6 / rwkv6qwen2): as with --hellaswag / --winogrande, the
batch above (common-prefix tokens carrying all the task's seq ids) is refused by llama.cpp's
recurrent memory (split_equal with sequential = true: "split_equal: sequential split is not
supported when there are coupled sequences in the input batch", llama_decode returns 1). This
script sends every decode group exactly as multiple_choice_score builds it (n_seq_max 8) and
records rc and log in the manifest. So the real llama-perplexity --multiple-choice on these
models prints the reading / preparing progress and the "task<TAB>acc_norm" header, then "failed
to decode the batch, n_batch = 512, ret = 1" / "multiple_choice_score: llama_decode() failed"
(stderr) and stops before the first task line. The data here is therefore what the tool computes
when the decode works, with the logits of a recurrent model taken as their mathematical meaning:
each full sequence question + " " + answer evaluated ALONE from a cleared state (seq 0, one
llama_decode of the whole sequence, n_seq_max 1), rows cp-1 .. len-2, the common-prefix row from
answer 0's run, arranged in multiple_choice_score's row order. (That row differs by up to ~3e-6
in the other answers' runs: a different sequence length changes the CPU matmul blocking.)
Check (not used for scores): prefix decoded once in seq 0, llama_memory_seq_cp 0 -> 1..n-1,
each remainder decoded as its own seq; the largest logit difference is recorded.

Reference runs made here: all tasks (--multiple-choice-tasks 0) on both models with -np 8, and
--multiple-choice-tasks 4 on the bundled model (checked: its per-task scores equal the full run's
for the same file tasks). Float emulation: float32 operations done in double and rounded to
float32 (exact for a single +, -, /), expf / logf from libm via ctypes, no FMA contraction.

Rerun (python3 only; see llama_quant_refs.py for fetching the library):

    python3 model/tools/llama_multiple_choice_refs.py /tmp/npmtry/x/package/bins/linux-x64 \\
        tests/data/llama_multiple_choice

Options: --refmodels DIR (default /work/shared/refmodels), --kjv PATH.
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_imatrix_refs as li  # noqa: E402
import llama_hellaswag_refs as hs  # noqa: E402  (bindings, float emulation)
import llama_winogrande_refs as wg  # noqa: E402  (the float mt19937 task draw)
from llama_hellaswag_refs import f32, compute_logprob, softmax_logprob, common_tokenize, detok  # noqa: E402
from llama_quant_refs import Lib, check, file_digest  # noqa: E402

LLAMA_CPP_COMMIT = "050fc7f32de16858ac667d775b43a51ed8976e6f"
N_CTX = 512
N_BATCH = 512
N_PARALLEL = 8          # -np 8: the 8-answer task needs n_seq_max >= 8
DEFAULT_N_PARALLEL = 4  # max(4, default -np 1)
MAX_TASKS_PER_BATCH = 32
MAX_ANSWERS = 100
FN = "multiple_choice_score"

# 10 made-up tasks: (question, mc1 answers, index of the one mc1 label 1, mc2 answers, mc2
# labels). mc1 answer counts 4 2 4 5 8 3 3 2 5 4; mc2 differs from mc1 (other answers, other
# counts, several labels 1; task 6 has an empty mc2). Tasks 4, 5, 7 have answers sharing leading
# words (common prefix past the question); no answer's tokens are a prefix of another's. The
# --multiple-choice-tasks 4 draw takes file tasks 4 8 5 6.
TASKS = [
    ("Question: Who built the ark before the flood came upon the earth?\nAnswer:",
     ["Moses", "Noah", "Abraham", "Pharaoh"], 1,
     ["Noah", "Noah and his sons", "Moses"], [1, 1, 0]),
    ("Q: Does the sun rise in the west?\nA:",
     ["No, the sun rises in the east.", "Yes, the sun rises in the west."], 0,
     ["No, it rises in the east.", "No.", "Yes, it does.", "Only in the summer."], [1, 1, 0, 0]),
    ("Question: What did the shepherds keep in the field by night?\nAnswer:",
     ["a great ship", "their flocks", "the king's gold", "a fishing net"], 1,
     ["their flocks", "watch over their flock", "sheep", "gold"], [1, 1, 1, 0]),
    ("The following are multiple choice questions about numbers.\n\n"
     "Question: How many days are there in one week?\nAnswer:",
     ["three", "five", "seven", "twelve", "forty"], 2,
     ["seven", "7"], [1, 1]),
    ("Question: Which of these is a beast of the field?\nAnswer:",
     ["the ship", "the lion", "the stone", "the cloud", "the river", "the sword", "the cup",
      "the door"], 1,
     ["the lion", "the ox", "the sheep", "the ship", "the stone"], [1, 1, 1, 0, 0]),
    ("Question: Out of which land did Moses lead the children of Israel?\nAnswer:",
     ["out of the land of Babylon", "out of the land of Egypt", "out of the land of Greece"], 1,
     ["Egypt", "the land of Egypt", "out of Egypt", "Babylon", "Rome"], [1, 1, 1, 0, 0]),
    ("Question: What is the opposite of light?\nAnswer:",
     ["bread", "salt", "darkness"], 2,
     [], []),
    ("Q: Is bread made from grain or from stone?\nA:",
     ["from stone", "from grain"], 1,
     ["from grain", "from wheat and barley", "from stone"], [1, 1, 0]),
    ("Question: What does a man use to cut down a tree?\nAnswer:",
     ["a feather", "a cup of water", "a song", "an axe", "a candle"], 3,
     ["an axe", "a saw", "a feather"], [1, 1, 0]),
    ("Question: In the beginning, what did God create?\nAnswer:",
     ["the heaven and the earth", "a golden calf", "the tower of Babel", "a great fish"], 0,
     ["the heaven and the earth", "the heavens and the earth", "all things", "a golden calf",
      "nothing"], [1, 1, 1, 0, 0]),
]


# --------------------------------------------------------------------------- the task file

def ser_string(s):
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def ser_answers(answers, labels):
    check(len(answers) == len(labels) and len(answers) <= MAX_ANSWERS, "answers/labels")
    return (struct.pack("<I", len(answers)) + b"".join(ser_string(a) for a in answers)
            + struct.pack("<%di" % len(labels), *labels))


def task_file():
    """(bytes, task_pos): uint32 n_task, uint32 task_pos[n_task], then the tasks in order."""
    blobs = []
    for q, a1, gold, a2, l2 in TASKS:
        l1 = [1 if k == gold else 0 for k in range(len(a1))]
        blobs.append(ser_string(q) + ser_answers(a1, l1) + ser_answers(a2, l2))
    pos, off = [], 4 + 4 * len(TASKS)
    for b in blobs:
        pos.append(off)
        off += len(b)
    data = struct.pack("<I", len(TASKS)) + struct.pack("<%dI" % len(pos), *pos) + b"".join(blobs)
    return data, pos


class Stream:
    """std::istringstream reads as multiple_choice_score does them (fail on a short read)."""
    def __init__(self, data):
        self.data, self.p = data, 0

    def read(self, n):
        if self.p + n > len(self.data):
            self.p = len(self.data)
            return None
        b = self.data[self.p:self.p + n]
        self.p += n
        return b


def deserialize_string(st):
    b = st.read(4)
    if b is None:
        return None
    s = st.read(struct.unpack("<I", b)[0])
    return None if s is None else s.decode("utf-8")


def deserialize_answers(st):
    b = st.read(4)
    if b is None:
        return None
    n = struct.unpack("<I", b)[0]
    if n > MAX_ANSWERS:
        return None
    answers = []
    for _ in range(n):
        a = deserialize_string(st)
        if a is None:
            return None
        answers.append(a)
    lb = st.read(4 * n)
    if lb is None:
        return None
    return {"answers": answers, "labels": list(struct.unpack("<%di" % n, lb))}


def deserialize_task(st):
    q = deserialize_string(st)
    if q is None:
        return None
    mc1 = deserialize_answers(st)
    mc2 = deserialize_answers(st) if mc1 is not None else None
    if mc2 is None:
        return None
    return {"question": q, "mc1": mc1, "mc2": mc2}


def read_tasks(data, n_sel):
    """Port of the reading part: (file task indices in order, tasks, n_task after the reuse)."""
    st = Stream(data)
    b = st.read(4)
    n_task = struct.unpack("<I", b)[0] if b else 0
    check(n_task > 0, "no tasks")
    pb = st.read(4 * n_task)
    check(pb is not None, "task positions")
    task_pos = list(struct.unpack("<%dI" % n_task, pb))
    if n_sel == 0 or n_sel >= n_task:
        order = list(range(n_task))
        tasks = []
        for i in order:
            t = deserialize_task(st)
            check(t is not None, "failed to read task %d of %d" % (i + 1, n_task))
            tasks.append(t)
        return order, tasks, n_task
    order = wg.select_tasks(n_task, n_sel)
    tasks = []
    for idx in order:
        st.p = task_pos[idx]  # seekg(task_pos[idx])
        t = deserialize_task(st)
        check(t is not None, "failed to read task %d at position %d" % (idx, task_pos[idx]))
        tasks.append(t)
    return order, tasks, n_sel


def plan_groups(req, n_answers, n_ctx, max_seq):
    """The packing loop: list of (i0, i1) decode groups, or (groups, error) on the -np error."""
    groups = []
    i0 = 0
    while i0 < len(req):
        n_cur, s0, i1 = 0, 0, i0
        while n_cur + req[i1] <= n_ctx:
            if s0 + n_answers[i1] > max_seq:
                if s0 == 0:
                    return groups, ("%s : task %d requires a higher -np|--parallel value (at least %d)"
                                    % (FN, i0, n_answers[i1]))
                break
            s0 += n_answers[i1]
            n_cur += req[i1]
            i1 += 1
            if i1 == len(req):
                break
        if i1 == i0:
            return groups, ("%s : task %d does not fit in the context window (requires %d tokens)"
                            % (FN, i0, req[i0]))
        groups.append((i0, i1))
        i0 = i1
    return groups, None


# --------------------------------------------------------------------------- printed text

def progress_stdout(n_file, n_sel):
    """What multiple_choice_score prints on stdout before the header (reading + preparing)."""
    out = ""
    if n_sel == 0 or n_sel >= n_file:
        n_task = n_file
        n_dot = max(n_task // 100, 1)
        out += "".join("." for i in range(1, n_task + 1) if i % n_dot == 0) + "done\n"
    else:
        n_task = n_sel
    if n_task > 500:
        out += "...done\n"
    else:
        n_dot = max(n_task // 100, 1)
        out += "".join("." for i in range(1, n_task + 1) if i % n_dot == 0) + "done\n"
    return out


def stderr_info(n_file, n_sel, n_tasks):
    s = "%s: there are %d tasks in prompt\n" % (FN, n_file)
    if n_sel == 0 or n_sel >= n_file:
        s += "%s: reading tasks" % FN
    else:
        s += "%s: selecting %d random tasks from %d tasks available\n" % (FN, n_sel, n_file)
    s += "%s: preparing task data" % FN
    s += "%s : calculating TruthfulQA score over %d tasks.\n" % (FN, n_tasks)
    return s


def f32_div(a, b):
    """float a / float b with the IEEE results for b == 0 (x86: 0/0 = the negative default NaN)."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return -math.nan
        return math.copysign(math.inf, a)
    return f32(a / b)


def fmt4(v):
    if math.isnan(v):
        return "-nan" if math.copysign(1.0, v) < 0 else "nan"
    return "%.4f" % v


def final_lines(n_correct, n_done, n_tot_answers):
    """The LOG_INF lines after the LOG("\\n") that follows the last task line (always printed)."""
    out = []
    for name, num, den in (("Final result", n_correct, n_done), ("Random chance", n_done, n_tot_answers)):
        p = f32(f32(float(num)) / f32(float(den)))
        x = f32_div(f32(p * f32(1 - p)), f32(float(n_done - 1)))
        sigma = x if math.isnan(x) or math.isinf(x) else f32(math.sqrt(x))
        sigma100 = sigma if math.isnan(sigma) else f32(100 * sigma)
        out.append("%s: %s +/- %s" % (name, fmt4(f32(100 * p)), fmt4(sigma100)))
    return out


# --------------------------------------------------------------------------- run

def run_model(lib, path, data, n_sel, n_parallel=N_PARALLEL):
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

    order, tasks, n_task_after = read_tasks(data, n_sel)
    n_file = struct.unpack("<I", data[:4])[0]
    task_pos = list(struct.unpack("<%dI" % n_file, data[4:4 + 4 * n_file]))
    prep = []
    for fidx, t in zip(order, tasks):
        check(t["question"] and t["mc1"]["answers"] and all(t["mc1"]["answers"]), "well-formed task")
        seqs = [common_tokenize(l, vocab, t["question"] + " " + a, True) for a in t["mc1"]["answers"]]
        min_len = min(len(s) for s in seqs)
        cp = 0
        for k in range(min_len):
            if any(s[k] != seqs[0][k] for s in seqs[1:]):
                break
            cp += 1
        check(0 < cp and all(len(s) > cp for s in seqs),
              "every sequence has a token after the common prefix (file task %d)" % fidx)
        qtok = common_tokenize(l, vocab, t["question"], True)
        prep.append({"fidx": fidx, "task": t, "seqs": seqs, "cp": cp, "qtok": qtok,
                     "required": cp + sum(len(s) - cp for s in seqs)})

    ctx = hs.make_ctx(l, model, n_parallel)
    n_ctx = l.llama_n_ctx(ctx)
    max_seq = min(4 * MAX_TASKS_PER_BATCH, l.llama_n_seq_max(ctx))
    check(max_seq == n_parallel, "max_seq")
    ctx1 = hs.make_ctx(l, model, 1)
    batch = l.llama_batch_init(N_CTX, 0, max_seq)
    batch1 = l.llama_batch_init(N_CTX, 0, 1)
    mem = l.llama_get_memory(ctx)

    # reference rows of every task: each full sequence alone from a cleared state
    max_check_diff = 0.0
    prefix_row_diff = 0.0
    for t in prep:
        seqs, cp = t["seqs"], t["cp"]
        single = []
        for s in seqs:
            for k, tok in enumerate(s):
                batch1.token[k] = tok
                batch1.pos[k] = k
                batch1.n_seq_id[k] = 1
                batch1.seq_id[k][0] = 0
                batch1.logits[k] = 1 if cp - 1 <= k < len(s) - 1 else 0
            batch1.n_tokens = len(s)
            l.llama_memory_clear(l.llama_get_memory(ctx1), True)
            check(l.llama_decode(ctx1, batch1) == 0, "decode single")
            single.append(hs.read_rows(l, ctx1, range(cp - 1, len(s) - 1), n_vocab))
        t["rows"] = [single[0][0]]
        t["row_meaning"] = ["prefix pos %d" % (cp - 1)]
        for si, s in enumerate(seqs):
            prefix_row_diff = max(prefix_row_diff,
                                  max(abs(x - y) for x, y in zip(single[si][0], single[0][0])))
            t["rows"] += single[si][1:]
            t["row_meaning"] += ["answer %d pos %d" % (si, p) for p in range(cp, len(s) - 1)]
        # check: prefix once in seq 0, seq_cp 0 -> 1..n-1, each remainder as its own seq
        l.llama_memory_clear(mem, True)
        for k in range(cp):
            batch.token[k] = seqs[0][k]
            batch.pos[k] = k
            batch.n_seq_id[k] = 1
            batch.seq_id[k][0] = 0
            batch.logits[k] = 1 if k == cp - 1 else 0
        batch.n_tokens = cp
        check(l.llama_decode(ctx, batch) == 0, "decode prefix")
        alt = hs.read_rows(l, ctx, [cp - 1], n_vocab)
        for si in range(1, len(seqs)):
            l.llama_memory_seq_cp(mem, 0, si, -1, -1)
        for si, s in enumerate(seqs):
            if len(s) - cp < 2:
                continue  # one token after the prefix: no row needed
            n = 0
            for k in range(cp, len(s)):
                batch.token[n] = s[k]
                batch.pos[n] = k
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = si
                batch.logits[n] = 1 if k < len(s) - 1 else 0
                n += 1
            batch.n_tokens = n
            check(l.llama_decode(ctx, batch) == 0, "decode remainder")
            alt += hs.read_rows(l, ctx, range(n - 1), n_vocab)
        check(len(alt) == len(t["rows"]), "check row count")
        for a, b in zip(alt, t["rows"]):
            max_check_diff = max(max_check_diff, max(abs(x - y) for x, y in zip(a, b)))

    # decode groups exactly as multiple_choice_score builds them
    plan, err = plan_groups([t["required"] for t in prep], [len(t["seqs"]) for t in prep],
                            n_ctx, max_seq)
    check(err is None, "plan: %s" % err)
    groups, coupled_rc, coupled_log = [], [], []
    for i0, i1 in plan:
        n, s0, i_logits = 0, 0, 0
        for i in range(i0, i1):
            t = prep[i]
            seqs, cp = t["seqs"], t["cp"]
            for k in range(cp):
                batch.token[n] = seqs[0][k]
                batch.pos[n] = k
                batch.n_seq_id[n] = len(seqs)
                for si in range(len(seqs)):
                    batch.seq_id[n][si] = s0 + si
                batch.logits[n] = 0
                n += 1
            batch.logits[n - 1] = 1
            n_logits = 1
            for si, s in enumerate(seqs):
                for k in range(cp, len(s)):
                    need = k < len(s) - 1
                    batch.token[n] = s[k]
                    batch.pos[n] = k
                    batch.n_seq_id[n] = 1
                    batch.seq_id[n][0] = s0 + si
                    batch.logits[n] = 1 if need else 0
                    n_logits += need
                    n += 1
            check(n_logits == len(t["rows"]), "row count")
            t["seq_ids"] = list(range(s0, s0 + len(seqs)))
            t["i_logits"] = i_logits
            t["group"] = len(groups)
            i_logits += n_logits
            s0 += len(seqs)
        batch.n_tokens = n
        lib.take_log()
        l.llama_memory_clear(mem, True)
        rc = l.llama_decode(ctx, batch)
        coupled_rc.append(rc)
        coupled_log.append(lib.take_log().strip())
        groups.append({"selection_indices": list(range(i0, i1)), "n_tokens": n,
                       "n_logit_rows": i_logits, "seq_ids_used": s0, "llama_decode_rc": rc})

    # scoring
    lines, results = [], []
    n_correct = n_done = n_tot = 0
    for i, t in enumerate(prep):
        seqs, cp, task = t["seqs"], t["cp"], t["task"]
        li_ = 1
        answers = []
        for si, s in enumerate(seqs):
            lp0 = softmax_logprob(t["rows"][0], s[cp])
            toks = [{"pos": cp, "token": s[cp], "row": 0, "via": "softmax", "logprob": lp0}]
            log_prob = lp0
            count = 1
            for j in range(cp, len(s) - 1):
                lp = compute_logprob(t["rows"][li_], s[j + 1])
                check(t["row_meaning"][li_] == "answer %d pos %d" % (si, j), "row order")
                toks.append({"pos": j + 1, "token": s[j + 1], "row": li_,
                             "via": "compute_logprobs", "logprob": lp})
                log_prob = f32(log_prob + lp)
                count += 1
                li_ += 1
            score = f32(log_prob / f32(float(count)))
            answers.append({"answer": task["mc1"]["answers"][si], "label": task["mc1"]["labels"][si],
                            "n_tokens": len(s), "scored_text": detok(l, vocab, s[cp:]),
                            "logprob_sum_f32": log_prob, "logprob_count": count, "score": score,
                            "scored_tokens": toks})
        check(li_ == len(t["rows"]), "all rows used")
        best, bestv = 0, answers[0]["score"]
        for si in range(1, len(answers)):
            if answers[si]["score"] > bestv:
                best, bestv = si, answers[si]["score"]
        correct = task["mc1"]["labels"][best] == 1
        margin = bestv - max(a["score"] for k, a in enumerate(answers) if k != best)
        n_tot += len(answers)
        n_correct += correct
        n_done += 1
        line = "%d\t%.8f" % (n_done, 100.0 * n_correct / n_done)
        lines.append(line)
        q = t["qtok"]
        results.append({"selection_index": i, "file_task_index": t["fidx"],
                        "file_offset": task_pos[t["fidx"]], "question": task["question"],
                        "answers": task["mc1"]["answers"], "labels": task["mc1"]["labels"],
                        "seq_tokens": seqs, "seq_text": [detok(l, vocab, s) for s in seqs],
                        "n_tokens": [len(s) for s in seqs],
                        "question_n_tokens": len(q), "common_prefix": cp,
                        "common_prefix_text": detok(l, vocab, seqs[0][:cp]),
                        "common_prefix_past_question": cp > len(q) and seqs[0][:len(q)] == q,
                        "required_tokens": t["required"], "decode_group": t["group"],
                        "seq_ids": t["seq_ids"], "i_logits_in_decode": t["i_logits"],
                        "n_logit_rows": len(t["rows"]),
                        "scores": [a["score"] for a in answers], "answer_results": answers,
                        "chosen": best, "score_margin_to_next": margin, "correct": correct,
                        "line": line})
    stdout = progress_stdout(n_file, n_sel) + "\ntask\tacc_norm\n" + "".join(x + "\n" for x in lines) + "\n"
    fin = final_lines(n_correct, n_done, n_tot)
    l.llama_batch_free(batch)
    l.llama_batch_free(batch1)
    l.llama_free(ctx)
    l.llama_free(ctx1)
    l.llama_model_free(model)
    lib.take_log()
    # what the default -np (n_seq_max 4) does with the same tasks
    plan4, err4 = plan_groups([t["required"] for t in prep], [len(t["seqs"]) for t in prep],
                              n_ctx, min(4 * MAX_TASKS_PER_BATCH, DEFAULT_N_PARALLEL))
    done4 = plan4[-1][1] if plan4 else 0
    np4 = {"n_parallel": DEFAULT_N_PARALLEL, "decode_groups": [list(range(a, b)) for a, b in plan4],
           "stdout": (progress_stdout(n_file, n_sel) + "\ntask\tacc_norm\n"
                      + "".join(x + "\n" for x in lines[:done4])),
           "log_err": err4}
    return {"model": os.path.basename(path), "model_path": path, "model_sha256": file_digest(path),
            "n_vocab": n_vocab, "add_bos": add_bos, "add_eos": add_eos,
            "multiple_choice_tasks": n_sel, "n_task_after_selection": n_task_after,
            "context": {"n_ctx_requested": N_CTX, "llama_n_ctx": n_ctx, "n_batch": N_BATCH,
                        "n_ubatch": hs.N_UBATCH, "n_seq_max": n_parallel, "n_threads": hs.N_THREADS,
                        "max_seq": max_seq, "kv_unified": hs.KV_UNIFIED},
            "selection_order_file_task_indices": order,
            "decode_groups": groups,
            "coupled_batch_llama_decode_rc": coupled_rc,
            "coupled_batch_log": sorted(set(coupled_log)),
            "reference_logits": "each full sequence alone from a cleared state (seq 0, one llama_decode, "
                                "n_ctx 512, n_seq_max 1), rows cp-1..len-2; prefix row from answer 0's run",
            "check_prefix_row_max_abs_diff_across_answer_runs": prefix_row_diff,
            "check_seq_cp_max_abs_logit_diff_vs_reference": max_check_diff,
            "n_correct": n_correct, "n_done": n_done, "n_tot_answers": n_tot,
            "stdout": stdout, "lines": lines, "final_lines_stderr": fin,
            "stderr_info": stderr_info(n_file, n_sel, len(prep)) + "".join(x + "\n" for x in fin) + "\n",
            "default_np_4": np4, "tasks": results}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bins")
    ap.add_argument("out")
    ap.add_argument("--refmodels", default="/work/shared/refmodels")
    ap.add_argument("--kjv", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                  "default", "kjv-qrwkv6.gguf"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()

    data, task_pos = task_file()
    check(data[-1:] != b"\n", "last byte is not '\\n' (-f would pop it)")
    with open(os.path.join(args.out, "tasks.bin"), "wb") as f:
        f.write(data)
    order, tasks, _ = read_tasks(data, 0)
    check(order == list(range(len(TASKS))), "file order")
    for t, (q, a1, gold, a2, l2) in zip(tasks, TASKS):
        check(t["question"] == q and t["mc1"]["answers"] == a1
              and t["mc1"]["labels"] == [1 if k == gold else 0 for k in range(len(a1))]
              and t["mc2"]["answers"] == a2 and t["mc2"]["labels"] == l2, "round trip")
    st = Stream(data)
    for k, p in enumerate(task_pos):  # the seek path reads the same tasks
        st.p = p
        check(deserialize_task(st) == tasks[k], "task_pos %d" % k)

    lib = Lib(args.bins)
    li.setup_protos(lib)
    hs.setup_extra(lib)
    backend = lib.load_cpu_backend()
    build = {}
    try:
        with open(os.path.join(args.bins, "_nlcBuildMetadata.json")) as f:
            build = json.load(f)
    except OSError:
        pass

    kjv = os.path.normpath(args.kjv)
    tiny = os.path.join(args.refmodels, "tiny-qrwkv6-f16.gguf")
    runs = [run_model(lib, kjv, data, 0), run_model(lib, tiny, data, 0)]
    r4 = run_model(lib, kjv, data, 4)
    full = {t["file_task_index"]: t for t in runs[0]["tasks"]}
    for t in r4["tasks"]:
        check(t["scores"] == full[t["file_task_index"]]["scores"], "N=4 scores == full run's")

    manifest = {
        "description": "llama-perplexity --multiple-choice reference data; logits and token ids by "
                       "llama.cpp (see model/tools/llama_multiple_choice_refs.py docstring for the facts)",
        "llama_cpp_source": {"repo": "ggml-org/llama.cpp", "commit": LLAMA_CPP_COMMIT,
                             "file": "tools/perplexity/perplexity.cpp",
                             "functions": ["multiple_choice_score", "deserialize_string",
                                           "multiple_choice_answers", "multiple_choice_task",
                                           "multiple_choice_prepare_one_task", "decode_helper",
                                           "compute_logprobs", "softmax", "main"]},
        "library": {"package": "@node-llama-cpp/linux-x64 3.22.1", "build": build,
                    "llama_version_hint": "libllama.v0.5.0.so",
                    "ggml_version": lib.base.ggml_version().decode(),
                    "ggml_commit": lib.base.ggml_commit().decode(), "backend": backend},
        "tasks_file": {"file": "tasks.bin", "sha256": hashlib.sha256(data).hexdigest(),
                       "size": len(data), "layout": "uint32 n_task; uint32 task_pos[n_task]; tasks "
                       "(string question; mc1; mc2), string = uint32 len + bytes, mc = uint32 n + n "
                       "strings + n int32 labels; little-endian",
                       "tasks": [{"file_task_index": k, "offset": task_pos[k],
                                  "question": t["question"], "mc1": t["mc1"], "mc2": t["mc2"]}
                                 for k, t in enumerate(tasks)]},
        "n_task": len(TASKS),
        "task_pos": task_pos,
        "sha256": hashlib.sha256(data).hexdigest(),
        "command_equivalent": "llama-perplexity -m MODEL -bf tasks.bin --multiple-choice -np 8 "
                              "[--multiple-choice-tasks N] (default -c 512 -> n_batch 512; -f works "
                              "too; the default -np stops at the first task with 5+ answers)",
        "runs": runs,
        "run_multiple_choice_tasks_4": {k: r4[k] for k in (
            "model", "multiple_choice_tasks", "n_task_after_selection",
            "selection_order_file_task_indices", "decode_groups", "coupled_batch_llama_decode_rc",
            "n_correct", "n_done", "n_tot_answers", "stdout", "lines", "final_lines_stderr",
            "stderr_info", "tasks")},
        "seconds": round(time.time() - t0, 1),
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    for r in runs + [r4]:
        print("== %s (tasks %d, order %s, coupled rc %s, seq_cp diff %.3g, prefix diff %.3g)" % (
            r["model"], r["multiple_choice_tasks"], r["selection_order_file_task_indices"],
            r["coupled_batch_llama_decode_rc"], r["check_seq_cp_max_abs_logit_diff_vs_reference"],
            r["check_prefix_row_max_abs_diff_across_answer_runs"]))
        for t in r["tasks"]:
            print("  file task %d cp %d (q %d, past %d) lens %s group %d chosen %d %s scores %s" % (
                t["file_task_index"], t["common_prefix"], t["question_n_tokens"],
                t["common_prefix_past_question"], t["n_tokens"], t["decode_group"], t["chosen"],
                "ok " if t["correct"] else "BAD", " ".join("%.4f" % v for v in t["scores"])))
        sys.stdout.write(r["stdout"])
        print("\n".join(r["final_lines_stderr"]))
        print(r["coupled_batch_log"])
        print("np 4:", r["default_np_4"]["log_err"])
    print("seconds %.1f" % (time.time() - t0))


if __name__ == "__main__":
    main()
