#!/usr/bin/env python3
"""Independent reference data for llama-perplexity's --winogrande mode (--winogrande-tasks N),
with every logit computed by llama.cpp itself (not by vkrwkv code) and every token id made by
llama.cpp's own tokenizer.

Same approach and library as llama_hellaswag_refs.py (whose bindings and float helpers are
imported, not copied): the prebuilt node-llama-cpp 3.22.1 libllama.v0.5.0.so / libggml*.so,
CPU backend, 2 threads, tokenizes and evaluates a small made-up Winogrande CSV (10 tasks,
tests/data/llama_winogrande/tasks.csv) on model/default/kjv-qrwkv6.gguf and
/work/shared/refmodels/tiny-qrwkv6-f16.gguf (each with its own vocab). Everything after the
logits (CSV parsing, task selection, log-probs, scores, printed lines) is llama-perplexity's code
ported to Python with its float32 / double types emulated (expf / logf from the C library).

Facts (read from ggml-org/llama.cpp tools/perplexity/perplexity.cpp at commit
050fc7f32de16858ac667d775b43a51ed8976e6f: winogrande_score(), load_winogrande_from_csv(),
struct winogrande_entry, decode_helper(), compute_logprobs(), main(); common/common.h and
common/arg.cpp for the option):

main() / options:
  * --winogrande; -f FILE is the prompt text; --winogrande-tasks N (size_t, parsed as int;
    default 0 = all tasks). n_ctx = -c (default 512, not multiplied); n_batch = min(-b, n_ctx) =
    512; n_parallel = max(4, -np) = 4 -> n_seq_max 4.

CSV (load_winogrande_from_csv):
  * Lines read with std::getline(in, line) (separator '\\n' only; a '\\r' stays in the line);
    the loop stops when in.fail() || in.eof() after the getline, so a LAST LINE WITHOUT A
    TRAILING '\\n' IS DROPPED (getline hits EOF while reading it). Empty lines are bad lines.
  * There is NO header handling: every line is parsed. Fields = index, sentence, option1,
    option2, answer. The first 4 commas outside double quotes are found (a '"' toggles
    "quoted"; scanning stops at the 4th comma, so the answer field may contain anything).
    Fewer than 4 -> LOG_ERR "load_winogrande_from_csv: failed to find comma separators in
    <line>" and the line is skipped.
  * sentence = field 1; if its first char is '"' the quotes are stripped as
    substr(c0+2, c1-c0-3) (i.e. assumes the closing quote sits just before the comma; a doubled
    "" inside is NOT unescaped). option1 / option2 are taken raw (no unquoting, no trimming);
    answer = everything after the 4th comma (incl. a '\\r'). index is read and never used.
  * where = first '_' in sentence; none -> LOG_ERR "...: no _ in <sentence>", skipped (this is
    what happens to a header line "index,sentence,option1,option2,answer").
  * answer parsed with std::istringstream >> int (leading whitespace skipped, trailing junk
    ignored: "2\\r" and "2x" give 2); fail or not 1/2 -> LOG_ERR "...: failed to parse answer
    <answer>", skipped.
  * first = sentence[:where] (keeps its trailing space), second = sentence[where+1:] (keeps its
    leading space). Nothing is trimmed.
  * No task at all -> LOG_ERR "winogrande_score: no tasks" and return.
  * The real data (https://huggingface.co/datasets/ikawrakow/winogrande-eval-for-llama.cpp)
    documented first row: "0,Sarah was a much better surgeon than Maria so _ always got the
    easier cases.,Sarah,Maria,2" (tasks.csv here uses that layout, no header, quoted sentences
    where they contain commas).

Task selection:
  * Only if N > 0 && N < n_loaded: LOG_INF "winogrande_score : selecting %zu random tasks";
    std::mt19937 rng(1); aux = [0..n-1]; float scale = 1/(1.f + (float)rng.max()) = 2^-32;
    for i in 0..N-1: j = int(scale*rng()*aux.size()) -- FLOAT math: (float)rng() (rounded to
    nearest), times scale (exact), times (float)aux.size() rounded to float, truncated;
    selected[i] = data[aux[j]]; aux[j] = aux.back(); aux.pop_back() (swap-remove, NOT the
    erase-shift of hellaswag, NOT uniform_int_distribution). Independent of the C++ library's
    distribution code (only mt19937, which is fully specified). (If (float)rng() rounds up to
    2^32, j == aux.size(): out of bounds -- probability ~ 128/2^32 per draw.)
  * N == 0 or N >= n_loaded: all tasks in file order (no shuffle).
  * Task order = selection order; the printed task number is the selection index + 1 (the CSV
    index field is not printed).

Tokenization (per task):
  * seq_tokens[s] = common_tokenize(ctx, first + option_s + second, add_special = true,
    parse_special = false) (BOS only where the vocab says add_bos -- false for both models here).
  * common_prefix = leading positions k < len(seq0) with seq0[k] == seq1[k] (stops at the
    first difference; no bound check on seq1).
  * required_tokens = cp + (len0 - cp) + (len1 - cp).
  * n_base1 = len(common_tokenize(first + option1, true)), n_base2 likewise for option2 (a
    separate tokenization of the sentence up to and incl. the option; never compared with
    seq_tokens).

Batching / evaluation:
  * max_tasks_per_batch = 128, max_seq = min(2*128, n_seq_max) = 4 -> TWO tasks per decode by
    default (seq ids s0 = 2*(i1-i0): 0,1 and 2,3), packed while n_cur + required_tokens <= n_ctx
    and s0 + 2 <= max_seq; a task alone over n_ctx: LOG_ERR "winogrande_score : task %zu does
    not fit in the context window (requires %lu tokens)" and return.
  * Batch per task: common-prefix tokens i < cp at pos i with seq ids {s0, s0+1}, logits only
    for i = cp-1; then for s = 0, 1: tokens i = cp .. len_s-1 at pos i, seq id {s0+s}, logits
    for ALL of them (the last token too). Rows of a task (i_logits = its first row): row 0 =
    position cp-1; rows 1 .. len0-cp = seq0 positions cp .. len0-1; then seq1 positions
    cp .. len1-1.
  * llama_memory_clear(mem, true) before each decode; decode_helper (views of n_batch tokens);
    on failure LOG_ERR "failed to decode the batch, n_batch = %d, ret = %d" then
    "winogrande_score: llama_decode() failed" and return.

Scoring (per task; k_min_trailing_ctx = 3):
  * skip_choice = (len0 - cp > 3) && (len1 - cp > 3)   (size_t).
  * For choice 1: nb = skip_choice ? n_base1 : cp; last = (len0 - nb > 1) ? 1 : 0;
    pairs (row i_logits + li, seq0[j+1]) for j = nb-1 .. len0-2-last with li starting at
    nb - cp -- i.e. the scored tokens are positions nb .. len0-1-last of seq0: the part AFTER
    the option (only when skip_choice; else the option too), WITHOUT the last token when more
    than one token remains. Row li = j - cp + 1 (correct).
  * For choice 2: nb2 = skip_choice ? n_base2 : cp; last2 likewise; li starts at
    (len0 - cp) + (nb2 - cp) and increments; positions nb2 .. len1-1-last2 of seq1. When
    nb2 > cp this is the correct row. When skip_choice is false (nb2 == cp) the FIRST pair
    uses row len0 - cp = the row of seq0's LAST position (len0-1), not the common-prefix row
    (the source says "FIXME: this uses the wrong first logits when not skipping the choice
    word"); the following pairs are correct. (This is why all tokens of both sequences
    request logits.) nb < cp would underflow (size_t): not handled in the source.
  * Every log-prob comes from compute_logprobs (no softmax route here):
      float max = logits[0]; max over all; float sum_p = 0; sum_p += expf(l - max) (float,
      vocab order); lp = logits[tok] - max - logf(sum_p) (float).
  * score_s = float sum of its log-probs (FLOAT accumulation, in token order) / (float)count,
    count = len - nb - last (float division; count 0 would give NaN).
  * result = score_1st > score_2nd ? 1 : 2 (ties and NaN -> 2); correct iff result == answer.

Printed output:
  * No header line. After each task (i = selection index): n_correct/n_done updated, then
    LOG("%zu\\t%.4lf\\t%10.6f  %10.6f  %d  %d\\n", i+1, 100.0*n_correct/n_done, score_1st,
    score_2nd, result, answer) (floats promoted to double), e.g.
    "3\\t66.6667\\t -3.123456   -4.567890  1  1".
  * After all tasks: LOG("\\n"). If n_done < 100: return (NO final line). Else
    float p = 1.f*n_correct/n_done; float sigma = 100.f*sqrt(p*(1-p)/(n_done-1)) (argument in
    float; unqualified sqrt of a float: sqrtf if the float overload is visible, else double);
    LOG_INF("Final Winogrande score(%d tasks): %.4lf +/- %.4lf\\n", n_done, 100*p, sigma)
    (100*p in float). LOG_INF goes to stderr, LOG to stdout. main then prints "\\n" and perf.
  * LOG_INF (stderr) before: "winogrande_score : loaded %zu tasks from prompt.",
    ["winogrande_score : selecting %zu random tasks",] "winogrande_score : tokenizing selected
    tasks", "winogrande_score : calculating winogrande score over selected tasks."

IMPORTANT -- recurrent models (RWKV-6 / rwkv6qwen2): as with --hellaswag, the batch above
(common-prefix tokens carrying 2 seq ids) is refused by llama.cpp's recurrent memory
(split_equal with sequential = true: "split_equal: sequential split is not supported when there
are coupled sequences in the input batch", llama_decode returns 1). This script sends every
decode group exactly as winogrande_score builds it and records rc and log in the manifest. So the
real llama-perplexity --winogrande on these models prints "failed to decode the batch, n_batch =
512, ret = 1" / "winogrande_score: llama_decode() failed" before the first task line. The
reference logits are therefore each sequence evaluated ALONE from a cleared state (seq 0, one
llama_decode of the whole sequence, n_seq_max 1), rows arranged in winogrande_score's order (the
common-prefix row from seq0's run; checked bit-identical in seq1's run). Check (not used for
scores): prefix decoded once in seq 0, llama_memory_seq_cp 0 -> 1, each remainder decoded as its
own seq; max logit difference recorded.

Rerun (python3 only; see llama_quant_refs.py for fetching the library):

    python3 model/tools/llama_winogrande_refs.py /tmp/npmtry/x/package/bins/linux-x64 \\
        tests/data/llama_winogrande

Options: --refmodels DIR (default /work/shared/refmodels), --kjv PATH.
"""

import argparse
import ctypes
import hashlib
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_imatrix_refs as li  # noqa: E402
import llama_hellaswag_refs as hs  # noqa: E402  (bindings, float emulation, mt19937)
from llama_hellaswag_refs import f32, compute_logprob, common_tokenize, detok  # noqa: E402
from llama_quant_refs import Lib, check, file_digest  # noqa: E402

LLAMA_CPP_COMMIT = "050fc7f32de16858ac667d775b43a51ed8976e6f"
N_CTX = 512
N_BATCH = 512
N_SEQ_MAX = 4
MAX_TASKS_PER_BATCH = 128
K_MIN_TRAILING_CTX = 3

# 10 made-up tasks: index, sentence, option1, option2, answer. Sentences containing a comma are
# quoted (as in a pandas/HF CSV export). Task 4 has a short tail (only "." after the option) so
# skip_choice is false there; task 7 uses "_'s".
TASKS = [
    (0, "The trophy doesn't fit into the brown suitcase because the _ is too large.", "trophy", "suitcase", 1),
    (1, "The shepherd gave the lamb some warm milk because the _ was hungry.", "shepherd", "lamb", 2),
    (2, "When the glass fell on the rug, the _ did not break because the rug was soft.", "glass", "rug", 1),
    (3, "Sarah lent her coat to Mary because _ was cold and had nothing warm to wear.", "Sarah", "Mary", 2),
    (4, "The lion was much faster than the goat, so the race was won by the _.", "lion", "goat", 1),
    (5, "Paul could not lift the stone with the rope because the _ was too heavy for it.", "stone", "rope", 1),
    (6, "The field was dry while the river was full, so the _ needed water for the crops.", "field", "river", 1),
    (7, "Anna's letter came a week after Ruth's letter, so _'s letter arrived first.", "Anna", "Ruth", 2),
    (8, "The small lamp went dark before the big lamp because the _ had less oil in it.", "small lamp", "big lamp", 1),
    (9, "The bird flew over the wall, but the dog could not, because the _ has no wings.", "bird", "dog", 2),
]


def csv_text():
    out = []
    for idx, sent, o1, o2, ans in TASKS:
        check('"' not in sent and "," not in o1 + o2, "simple fields")
        s = '"%s"' % sent if "," in sent else sent
        out.append("%d,%s,%s,%s,%d" % (idx, s, o1, o2, ans))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- llama-perplexity port

def parse_int_istream(s):
    m = re.match(r"[ \t\n\v\f\r]*([+-]?[0-9]+)", s)
    if not m:
        return None
    v = int(m.group(1))
    return v if -2**31 <= v < 2**31 else None


def load_winogrande_from_csv(text):
    """Port of load_winogrande_from_csv: returns (entries, error lines)."""
    result, errors = [], []
    pieces = text.split("\n")
    for line in pieces[:-1]:  # the last piece has no '\n' after it: getline hits EOF -> dropped
        comma = []
        quote_open = False
        for i, c in enumerate(line):
            if not quote_open:
                if c == ",":
                    comma.append(i)
                    if len(comma) == 4:
                        break
                elif c == '"':
                    quote_open = True
            elif c == '"':
                quote_open = False
        if len(comma) != 4:
            errors.append("load_winogrande_from_csv: failed to find comma separators in <%s>" % line)
            continue
        c0, c1, c2, c3 = comma
        if line[c0 + 1] == '"':
            sentence = line[c0 + 2:c0 + 2 + (c1 - c0 - 3)]
        else:
            sentence = line[c0 + 1:c1]
        choice1 = line[c1 + 1:c2]
        choice2 = line[c2 + 1:c3]
        answer = line[c3 + 1:]
        where = sentence.find("_")
        if where < 0:
            errors.append("load_winogrande_from_csv: no _ in <%s>" % sentence)
            continue
        a = parse_int_istream(answer)
        if a is None or a < 1 or a > 2:
            errors.append("load_winogrande_from_csv: failed to parse answer <%s>" % answer)
            continue
        result.append({"index_field": line[:c0], "first": sentence[:where],
                       "second": sentence[where + 1:], "choices": [choice1, choice2],
                       "answer": a})
    return result, errors


def select_tasks(n_loaded, n_tasks):
    """Indices (into the loaded list) in winogrande_score's order."""
    if not (n_tasks > 0 and n_tasks < n_loaded):
        return list(range(n_loaded))
    rng = hs.MT19937(1)
    aux = list(range(n_loaded))
    scale = f32(1.0 / f32(1.0 + f32(4294967295.0)))
    check(scale == 2.0 ** -32, "scale")
    order = []
    for _ in range(n_tasks):
        r = f32(float(rng()))
        j = int(f32(f32(scale * r) * f32(float(len(aux)))))
        check(j < len(aux), "j in range")
        order.append(aux[j])
        aux[j] = aux[-1]
        aux.pop()
    return order


def task_line(i, n_correct, n_done, s1, s2, result, answer):
    return "%d\t%.4f\t%10.6f  %10.6f  %d  %d" % (i + 1, 100.0 * n_correct / n_done, s1, s2,
                                                result, answer)


def final_line(n_done, n_correct):
    """The LOG_INF final line (only printed when n_done >= 100); both sqrt variants."""
    p = f32(f32(float(n_correct)) / f32(float(n_done)))
    x = f32(f32(p * f32(1 - p)) / f32(float(n_done - 1)))
    sig_f = f32(100.0 * f32(x ** 0.5))
    sig_d = 100.0 * (x ** 0.5)
    fmt = "Final Winogrande score(%d tasks): %.4f +/- %.4f"
    return fmt % (n_done, f32(100 * p), sig_f), fmt % (n_done, f32(100 * p), sig_d)


# --------------------------------------------------------------------------- run

def run_model(lib, path, entries, n_tasks):
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

    order = select_tasks(len(entries), n_tasks)
    data = []
    for k in order:
        e = entries[k]
        seqs = [common_tokenize(l, vocab, e["first"] + c + e["second"], True) for c in e["choices"]]
        cp = 0
        for q in range(len(seqs[0])):
            if q >= len(seqs[1]) or seqs[0][q] != seqs[1][q]:
                break
            cp += 1
        check(0 < cp < min(len(seqs[0]), len(seqs[1])), "common prefix inside both sequences")
        nbase = [len(common_tokenize(l, vocab, e["first"] + c, True)) for c in e["choices"]]
        data.append({"entry": e, "loaded_index": k, "seqs": seqs, "cp": cp, "n_base": nbase,
                     "required": cp + (len(seqs[0]) - cp) + (len(seqs[1]) - cp)})

    ctx = hs.make_ctx(l, model, N_SEQ_MAX)
    n_ctx = l.llama_n_ctx(ctx)
    max_seq = min(2 * MAX_TASKS_PER_BATCH, l.llama_n_seq_max(ctx))
    check(max_seq == 4, "two tasks per decode")
    ctx1 = hs.make_ctx(l, model, 1)
    batch = l.llama_batch_init(N_CTX, 0, 2)
    batch1 = l.llama_batch_init(N_CTX, 0, 1)
    mem = l.llama_get_memory(ctx)

    # reference rows of every task: each sequence alone from a cleared state
    max_check_diff = 0.0
    prefix_row_diff = 0.0
    for t in data:
        seqs, cp = t["seqs"], t["cp"]
        single = []
        for s in range(2):
            for k, tok in enumerate(seqs[s]):
                batch1.token[k] = tok
                batch1.pos[k] = k
                batch1.n_seq_id[k] = 1
                batch1.seq_id[k][0] = 0
                batch1.logits[k] = 1 if k >= cp - 1 else 0
            batch1.n_tokens = len(seqs[s])
            l.llama_memory_clear(l.llama_get_memory(ctx1), True)
            check(l.llama_decode(ctx1, batch1) == 0, "decode single")
            single.append(hs.read_rows(l, ctx1, range(cp - 1, len(seqs[s])), n_vocab))
        prefix_row_diff = max(prefix_row_diff, max(abs(x - y) for x, y in zip(single[0][0], single[1][0])))
        t["rows"] = [single[0][0]] + single[0][1:] + single[1][1:]
        t["row_meaning"] = (["prefix pos %d" % (cp - 1)]
                            + ["seq0 pos %d" % p for p in range(cp, len(seqs[0]))]
                            + ["seq1 pos %d" % p for p in range(cp, len(seqs[1]))])
        # check: prefix once, seq_cp, remainders as seq 0 / seq 1
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
        l.llama_memory_seq_cp(mem, 0, 1, -1, -1)
        for s in range(2):
            n = 0
            for k in range(cp, len(seqs[s])):
                batch.token[n] = seqs[s][k]
                batch.pos[n] = k
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = s
                batch.logits[n] = 1
                n += 1
            batch.n_tokens = n
            check(l.llama_decode(ctx, batch) == 0, "decode remainder")
            alt += hs.read_rows(l, ctx, range(n), n_vocab)
        for a, b in zip(alt, t["rows"]):
            max_check_diff = max(max_check_diff, max(abs(x - y) for x, y in zip(a, b)))

    # decode groups exactly as winogrande_score builds them
    groups, coupled_rc, coupled_log = [], [], []
    i0 = 0
    while i0 < len(data):
        n_cur, i1, i_logits, n = 0, i0, 0, 0
        while n_cur + data[i1]["required"] <= n_ctx:
            s0 = 2 * (i1 - i0)
            if s0 + 2 > max_seq:
                break
            t = data[i1]
            seqs, cp = t["seqs"], t["cp"]
            for k in range(cp):
                batch.token[n] = seqs[0][k]
                batch.pos[n] = k
                batch.n_seq_id[n] = 2
                batch.seq_id[n][0] = s0
                batch.seq_id[n][1] = s0 + 1
                batch.logits[n] = 0
                n += 1
            batch.logits[n - 1] = 1
            n_logits = 1
            for s in range(2):
                for k in range(cp, len(seqs[s])):
                    batch.token[n] = seqs[s][k]
                    batch.pos[n] = k
                    batch.n_seq_id[n] = 1
                    batch.seq_id[n][0] = s0 + s
                    batch.logits[n] = 1
                    n += 1
                    n_logits += 1
            t["i_logits"] = i_logits
            t["seq_ids"] = [s0, s0 + 1]
            check(n_logits == len(t["rows"]), "row count")
            i_logits += n_logits
            n_cur += t["required"]
            i1 += 1
            if i1 == len(data):
                break
        check(i1 > i0, "task fits")
        batch.n_tokens = n
        lib.take_log()
        l.llama_memory_clear(mem, True)
        rc = l.llama_decode(ctx, batch)
        coupled_rc.append(rc)
        coupled_log.append(lib.take_log().strip())
        groups.append({"tasks": list(range(i0, i1)), "n_tokens": n, "llama_decode_rc": rc})
        i0 = i1

    # scoring
    lines, results = [], []
    n_correct = n_done = 0
    for i, t in enumerate(data):
        seqs, cp, e = t["seqs"], t["cp"], t["entry"]
        len0, len1 = len(seqs[0]), len(seqs[1])
        skip = (len0 - cp > K_MIN_TRAILING_CTX) and (len1 - cp > K_MIN_TRAILING_CTX)
        choices = []
        for s in range(2):
            nb = t["n_base"][s] if skip else cp
            ln = len(seqs[s])
            last = 1 if ln - nb > 1 else 0
            li_ = (nb - cp) if s == 0 else (len0 - cp) + (nb - cp)
            check(li_ >= 0 and nb >= 1, "no size_t underflow")
            toks = []
            score = 0.0
            for j in range(nb - 1, ln - 1 - last):
                row = t["rows"][li_]
                lp = compute_logprob(row, seqs[s][j + 1])
                correct_row = (j - cp + 1) if s == 0 else (0 if j == cp - 1 else len0 - cp + j - cp + 1)
                toks.append({"pos": j + 1, "token": seqs[s][j + 1], "row": li_,
                             "row_is": t["row_meaning"][li_],
                             "row_is_the_right_one": li_ == correct_row, "logprob": lp})
                score = f32(score + lp)
                li_ += 1
            count = ln - nb - last
            check(count > 0, "count > 0")
            mean = f32(score / f32(float(count)))
            choices.append({"option": e["choices"][s], "n_tokens": ln, "n_base": t["n_base"][s],
                            "n_base_used": nb, "skip_last": last,
                            "scored_positions": [nb, ln - 1 - last],
                            "scored_text": detok(l, vocab, seqs[s][nb:ln - last]),
                            "logprob_sum_f32": score, "logprob_count": count, "score": mean,
                            "scored_tokens": toks})
        result = 1 if choices[0]["score"] > choices[1]["score"] else 2
        n_correct += result == e["answer"]
        n_done += 1
        line = task_line(i, n_correct, n_done, choices[0]["score"], choices[1]["score"], result,
                         e["answer"])
        lines.append(line)
        results.append({"selection_index": i, "loaded_index": t["loaded_index"],
                        "csv_index_field": e["index_field"], "first": e["first"],
                        "second": e["second"], "answer": e["answer"], "seq_tokens": seqs,
                        "seq_text": [detok(l, vocab, s) for s in seqs],
                        "common_prefix": cp, "common_prefix_text": detok(l, vocab, seqs[0][:cp]),
                        "required_tokens": t["required"], "skip_choice": skip,
                        "decode_seq_ids": t["seq_ids"], "i_logits_in_decode": t["i_logits"],
                        "n_logit_rows": len(t["rows"]), "choices": choices, "chosen": result,
                        "correct": result == e["answer"], "line": line})
    stdout = "".join(x + "\n" for x in lines) + "\n"
    l.llama_batch_free(batch)
    l.llama_batch_free(batch1)
    l.llama_free(ctx)
    l.llama_free(ctx1)
    l.llama_model_free(model)
    lib.take_log()
    return {"model": os.path.basename(path), "model_path": path, "model_sha256": file_digest(path),
            "n_vocab": n_vocab, "add_bos": add_bos, "add_eos": add_eos,
            "winogrande_tasks": n_tasks,
            "context": {"n_ctx_requested": N_CTX, "llama_n_ctx": n_ctx, "n_batch": N_BATCH,
                        "n_ubatch": 512, "n_seq_max": N_SEQ_MAX, "n_threads": hs.N_THREADS,
                        "max_seq": max_seq, "tasks_per_decode": 2},
            "selection_order_loaded_indices": order,
            "decode_groups": groups,
            "coupled_batch_llama_decode_rc": coupled_rc,
            "coupled_batch_log": sorted(set(coupled_log)),
            "reference_logits": "each sequence alone from a cleared state (seq 0, one llama_decode, "
                                "n_ctx 512), rows cp-1..len-1; prefix row from seq0's run",
            "check_prefix_row_max_abs_diff_seq0_vs_seq1_run": prefix_row_diff,
            "check_seq_cp_max_abs_logit_diff_vs_reference": max_check_diff,
            "n_correct": n_correct, "n_done": n_done,
            "final_line_printed": n_done >= 100,
            "stdout": stdout, "lines": lines, "tasks": results}


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

    text = csv_text()
    with open(os.path.join(args.out, "tasks.csv"), "w", newline="\n") as f:
        f.write(text)
    entries, errs = load_winogrande_from_csv(text)
    check(not errs and len(entries) == len(TASKS), "all tasks load")
    for e, (idx, sent, o1, o2, ans) in zip(entries, TASKS):
        check(e["first"] + "_" + e["second"] == sent and e["choices"] == [o1, o2]
              and e["answer"] == ans, "round trip")

    # parser behaviour on bad lines (port only, documents the rules above)
    demo = ('index,sentence,option1,option2,answer\n\n0,no blank here.,a,b,1\n'
            '1,The _ ran.,cat,dog,3\n2,The _ ran.,cat,dog, 2\r\n3,"A, _ b.",x,y,1\n'
            '4,The _ sat.,cat,dog,1')
    d_entries, d_errs = load_winogrande_from_csv(demo)

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
    runs = [run_model(lib, kjv, entries, 0), run_model(lib, tiny, entries, 0)]
    r4 = run_model(lib, kjv, entries, 4)
    r10 = run_model(lib, kjv, entries, 10)
    check(r10["lines"] == runs[0]["lines"], "N=10 (>= tasks) == all tasks in file order")

    manifest = {
        "description": "llama-perplexity --winogrande reference data; logits and token ids by "
                       "llama.cpp (see model/tools/llama_winogrande_refs.py docstring for the facts)",
        "llama_cpp_source": {"repo": "ggml-org/llama.cpp", "commit": LLAMA_CPP_COMMIT,
                             "file": "tools/perplexity/perplexity.cpp",
                             "functions": ["winogrande_score", "load_winogrande_from_csv",
                                           "decode_helper", "compute_logprobs", "main"]},
        "library": {"package": "@node-llama-cpp/linux-x64 3.22.1", "build": build,
                    "llama_version_hint": "libllama.v0.5.0.so",
                    "ggml_version": lib.base.ggml_version().decode(),
                    "ggml_commit": lib.base.ggml_commit().decode(), "backend": backend},
        "tasks_file": {"file": "tasks.csv", "sha256": hashlib.sha256(text.encode()).hexdigest(),
                       "n_tasks": len(TASKS)},
        "command_equivalent": "llama-perplexity -m MODEL -f tasks.csv --winogrande "
                              "[--winogrande-tasks N] (default -c 512 -> n_batch 512, np 4)",
        "runs": runs,
        "run_winogrande_tasks_4": {k: r4[k] for k in ("model", "winogrande_tasks",
                                                      "selection_order_loaded_indices",
                                                      "decode_groups", "stdout", "lines",
                                                      "tasks")},
        "run_winogrande_tasks_10_equals_all": True,
        "final_line_examples_n_ge_100": {
            "note": "not printed for < 100 tasks; [sqrtf variant, double sqrt variant]",
            "120 tasks, 77 correct": final_line(120, 77),
            "1267 tasks, 900 correct": final_line(1267, 900)},
        "parser_demo (Python port, not llama.cpp output)": {
            "input": demo, "loaded": d_entries, "log_err": d_errs},
        "seconds": round(time.time() - t0, 1),
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    for r in runs + [r4]:
        print("== %s (tasks %d, order %s, coupled rc %s, seq_cp diff %.3g, prefix diff %.3g)" % (
            r["model"], r["winogrande_tasks"], r["selection_order_loaded_indices"],
            r["coupled_batch_llama_decode_rc"], r["check_seq_cp_max_abs_logit_diff_vs_reference"],
            r["check_prefix_row_max_abs_diff_seq0_vs_seq1_run"]))
        for t in r["tasks"]:
            print("  task %d cp %d len %d/%d nbase %s skip %d: %s" % (
                t["loaded_index"], t["common_prefix"], len(t["seq_tokens"][0]),
                len(t["seq_tokens"][1]), [c["n_base"] for c in t["choices"]], t["skip_choice"],
                " | ".join("%r n=%d" % (c["scored_text"], c["logprob_count"]) for c in t["choices"])))
        sys.stdout.write(r["stdout"])
        print(r["coupled_batch_log"])
    print(manifest["final_line_examples_n_ge_100"])
    print(d_errs, [(e["first"], e["second"], e["answer"]) for e in d_entries])
    print("seconds %.1f" % (time.time() - t0))


if __name__ == "__main__":
    main()
