#!/usr/bin/env python3
# train_default.py: trains vkrwkv's bundled default model end to end — King James Bible text from
# Debian's bible-kjv package, a byte-level BPE tokenizer, a small QRWKV6 — and writes the GGUF, the
# held-out text and the trainer's measured numbers into model/default/. Deterministic for a seed,
# resumable (--resume), CPU only (Debian's python3-torch).
import argparse
import json
import math
import os
import sys
import time

# Debian's torch calls the system BLAS; keep OpenBLAS to the threads torch is given (default 2).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe import Tokenizer, train_bpe  # noqa: E402
from export_gguf import round_to_export, write_gguf  # noqa: E402
from kjv_data import HELDOUT_EVERY, read_chapters, split_chapters  # noqa: E402
from qrwkv6 import LOGW_MIN, Dims, QRwkv6, gla_chunked, gla_reference  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELDOUT_NAME = "kjv-heldout.txt"
SAMPLE_PROMPT = "In the beginning"
# The held-out text's first tokens, scored alone too: a quick check for tests on slow devices.
PREFIX_TOKENS = 2048


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=os.path.join(REPO, "model", "default"))
    p.add_argument("--work", default=os.path.join(REPO, "build", "train-default"),
                   help="checkpoints and token caches (not committed)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=8, help="parallel text streams")
    p.add_argument("--ctx", type=int, default=256, help="tokens per stream per step")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--ffn", type=int, default=768)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--threads", type=int, default=1,
                   help="1 by default: on a shared 2-core machine two threads slowed steps 5-10x")
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--resume", action="store_true", help="continue from the work dir's checkpoint")
    p.add_argument("--name", default="vkrwkv-kjv-qrwkv6")
    p.add_argument("--self-test", action="store_true", help="check GLA chunking + tokenizer, exit")
    return p.parse_args(argv)


def fnv1a_ids(ids):
    """FNV-1a 32 over the ids as little-endian u32 (the C++ test recomputes it)."""
    h = 0x811C9DC5
    for i in ids:
        for shift in (0, 8, 16, 24):
            h = ((h ^ ((i >> shift) & 0xFF)) * 0x01000193) & 0xFFFFFFFF
    return h


def prepare_data(args):
    """Writes the held-out text; returns (tokenizer, train ids, held-out ids, chapter counts)."""
    chapters = read_chapters()
    train_text, held_text, held_refs = split_chapters(chapters)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, HELDOUT_NAME), "w", encoding="utf-8") as f:
        f.write(held_text)
    cache = os.path.join(args.work, f"tokens-v{args.vocab}.pt")
    if os.path.exists(cache):
        c = torch.load(cache)
        tok = Tokenizer(c["tokens"], c["merges"])
        train_ids, held_ids = c["train"], c["held"]
    else:
        t0 = time.time()
        tokens, merges = train_bpe(train_text, args.vocab)
        tok = Tokenizer(tokens, merges)
        train_ids = torch.tensor(tok.encode(train_text), dtype=torch.long)
        held_ids = tok.encode(held_text)
        torch.save({"tokens": tokens, "merges": merges, "train": train_ids, "held": held_ids}, cache)
        print(f"tokenizer: {len(tokens)} tokens, {len(merges)} merges in {time.time() - t0:.0f} s; "
              f"train {len(train_ids)} tokens, held-out {len(held_ids)}", flush=True)
    info = {"chapters": len(chapters), "heldout_chapters": len(held_refs),
            "heldout_refs": held_refs, "train_chars": len(train_text), "heldout_chars": len(held_text)}
    return tok, train_ids, held_ids, info


def batch_at(step, ids, B, T):
    """B contiguous streams over the training tokens, T tokens each per step, state carried between
    steps; each epoch starts the streams at a different offset. Returns (x+y ids, new_epoch)."""
    per_stream = (len(ids) - 1) // B
    per_epoch = (per_stream - T - 1) // T
    epoch, i = divmod(step, per_epoch)
    start = torch.arange(B) * per_stream + (epoch * 61) % T + i * T
    return ids[start[:, None] + torch.arange(T + 1)], i == 0


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(args.steps - args.warmup, 1)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model, args):
    decay, rest = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() == 2 and "w1" not in name and "w2" not in name else rest).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                              {"params": rest, "weight_decay": 0.0}],
                             lr=args.lr, betas=(0.9, 0.95), eps=1e-8)


def detach_state(state):
    return [(s.detach(), w.detach()) for s, w in state]


def save_checkpoint(path, model, opt, step, state, elapsed, losses):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "state": state, "elapsed": elapsed, "losses": losses}, tmp)
    os.replace(tmp, path)  # a kill mid-save never leaves a broken checkpoint


def train(args, dims, train_ids):
    torch.manual_seed(args.seed)
    model = QRwkv6(dims)
    opt = make_optimizer(model, args)
    ckpt = os.path.join(args.work, "checkpoint.pt")
    step, elapsed, losses, state = 0, 0.0, [], None
    if args.resume and os.path.exists(ckpt):
        c = torch.load(ckpt)
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["opt"])
        step, state, elapsed, losses = c["step"], c["state"], c["elapsed"], c["losses"]
        print(f"resumed at step {step} ({elapsed:.0f} s trained)", flush=True)
    t_start, t_ckpt = time.time() - elapsed, time.time()
    while step < args.steps:
        xy, new_epoch = batch_at(step, train_ids, args.batch, args.ctx)
        if new_epoch or state is None:
            state = model.zero_state(args.batch)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        logits, state = model(xy[:, :-1], state)
        loss = F.cross_entropy(logits.reshape(-1, dims.vocab), xy[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state = detach_state(state)
        losses.append(loss.item())
        step += 1
        if step % 10 == 0 or step == args.steps or step <= 3:
            el = time.time() - t_start
            print(f"step {step}/{args.steps} loss {sum(losses[-10:]) / len(losses[-10:]):.4f} "
                  f"lr {lr_at(step - 1, args):.2e} {step * args.batch * args.ctx / el:.0f} tok/s "
                  f"{el:.0f} s", flush=True)
        if time.time() - t_ckpt > args.checkpoint_minutes * 60 or step == args.steps:
            save_checkpoint(ckpt, model, opt, step, state, time.time() - t_start, losses)
            t_ckpt = time.time()
    return model, time.time() - t_start, losses


@torch.no_grad()
def heldout_nll(model, ids, seg=512):
    """Mean NLL as `vkrwkv perplexity` computes it: one sequence from a zero state, state carried
    across segments, row t scored against ids[t + 1]."""
    state, total = None, 0.0
    inputs, targets = torch.tensor(ids[:-1]), torch.tensor(ids[1:])
    for s in range(0, len(inputs), seg):
        logits, state = model(inputs[None, s:s + seg], state)
        nll = F.cross_entropy(logits[0].double(), targets[s:s + seg], reduction="sum")
        total += nll.item()
    return total / len(inputs)


@torch.no_grad()
def greedy(model, tok, prompt, n):
    ids = tok.encode(prompt)
    logits, state = model(torch.tensor([ids]))
    out = []
    for _ in range(n):
        nxt = int(logits[0, -1].argmax())
        out.append(nxt)
        logits, state = model(torch.tensor([[nxt]]), state)
    return prompt + tok.decode(out)


def self_test():
    torch.manual_seed(0)
    B, H, T, S = 2, 3, 37, 8
    r, k, v = (torch.randn(B, H, T, S, dtype=torch.float64) for _ in range(3))
    m0 = torch.randn(B, H, S, S, dtype=torch.float64)
    # Decays over the whole range the chunked form treats exactly, then far below it (f32).
    for scale, dtype, tol in ((1.5, torch.float64, 1e-10), (4.0, torch.float32, 1e-4)):
        logw = -torch.exp(torch.randn(B, H, T, S, dtype=torch.float64) * scale)
        if dtype == torch.float64:
            logw = logw.clamp(min=LOGW_MIN)
        args = [t.to(dtype) for t in (r, k, v, logw, m0)]
        y1, s1 = gla_chunked(*args)
        y2, s2 = gla_reference(*args)
        dy, ds = float((y1 - y2).abs().max()), float((s1 - s2).abs().max())
        print(f"gla chunked vs token-by-token (min log-decay {float(logw.min()):.1f}, {dtype}): "
              f"max|dy| {dy:.2e} max|dS| {ds:.2e}")
        assert dy < tol and ds < tol
    text = "And God said, Let there be light: and there was light.\n\n  12 tribes' 1611 x\n"
    tokens, merges = train_bpe(text * 3, 256 + 3 + 40)
    tok = Tokenizer(tokens, merges)
    assert tok.decode(tok.encode(text)) == text
    print("self-test passed")


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.self_test:
        return self_test()
    os.makedirs(args.work, exist_ok=True)
    tok, train_ids, held_ids, info = prepare_data(args)
    dims = Dims(vocab=len(tok.tokens), width=args.width, layers=args.layers, ffn=args.ffn,
                kv_heads=args.kv_heads)
    model, seconds, losses = train(args, dims, train_ids)
    model.eval()
    round_to_export(model)
    nll = heldout_nll(model, held_ids)
    nll_prefix = heldout_nll(model, held_ids[:PREFIX_TOKENS])
    sample = greedy(model, tok, SAMPLE_PROMPT, 60)
    print(f"held-out: {len(held_ids)} tokens, perplexity {math.exp(nll):.4f} (mean NLL {nll:.5f})")
    print(f"sample (greedy): {sample!r}", flush=True)
    desc = (f"QRWKV6 trained by vkrwkv's model/tools/train_default.py on the King James Bible "
            f"(Debian bible-kjv-text), every {HELDOUT_EVERY}th chapter held out")
    write_gguf(os.path.join(args.out, "kjv-qrwkv6.gguf"), model, tok, args.name, desc)
    metrics = {
        "gguf": "kjv-qrwkv6.gguf", "heldout_file": HELDOUT_NAME,
        "heldout_tokens": len(held_ids), "heldout_ids_fnv1a": fnv1a_ids(held_ids),
        "heldout_mean_nll": nll, "heldout_perplexity": math.exp(nll),
        "heldout_prefix_tokens": PREFIX_TOKENS,
        "heldout_prefix_perplexity": math.exp(nll_prefix),
        "train_text_tokens": len(train_ids), "steps": args.steps,
        "train_tokens_seen": args.steps * args.batch * args.ctx,
        "final_train_loss": sum(losses[-20:]) / len(losses[-20:]),
        "train_seconds": round(seconds, 1), "threads": args.threads,
        "params": sum(p.numel() for p in model.parameters()),
        "dims": vars(dims) | {"heads": dims.heads}, "seed": args.seed, "lr": args.lr,
        "batch": args.batch, "ctx": args.ctx, "sample_prompt": SAMPLE_PROMPT,
        "sample_greedy_60": sample, **info}
    with open(os.path.join(args.out, "train_metrics.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
