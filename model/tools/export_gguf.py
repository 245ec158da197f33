# export_gguf.py: writes a trained QRwkv6 + BPE tokenizer as a GGUF with the keys and tensor names
# llama.cpp writes for arch `rwkv6qwen2` (spec §1, §2.2, §7.1).
import torch

from bpe import SPECIAL_TOKENS
from gguf_out import GgufWriter

ARCH = "rwkv6qwen2"
LLAMA_FTYPE_MOSTLY_F16 = 1


def f16_names(d):
    """Tensors stored F16 (the big matrices; llama.cpp's "Q" class). Norms, lerp/decay vectors and
    the LoRA matrices stay F32 as llama.cpp's converter keeps them."""
    names = {"token_embd.weight", "output.weight"}
    for i in range(d.layers):
        for t in ("time_mix_receptance", "time_mix_key", "time_mix_value", "time_mix_gate",
                  "time_mix_output", "ffn_gate", "ffn_up", "ffn_down"):
            names.add(f"blk.{i}.{t}.weight")
    return names


def gguf_tensors(model):
    """[(gguf name, tensor in math order)] in llama.cpp's tensor order."""
    out = [("token_embd.weight", model.embed.weight)]
    for i, blk in enumerate(model.blocks):
        a, p = blk.att, f"blk.{i}."
        out += [
            (p + "attn_norm.weight", a.attn_norm),
            (p + "time_mix_lerp_x.weight", a.lerp_x),
            (p + "time_mix_lerp_fused.weight", a.lerp_fused.reshape(5, 1, 1, -1)),
            (p + "time_mix_w1.weight", a.mix_w1),
            (p + "time_mix_w2.weight", a.mix_w2),
            (p + "time_mix_decay.weight", a.decay),
            (p + "time_mix_decay_w1.weight", a.decay_w1),
            (p + "time_mix_decay_w2.weight", a.decay_w2),
            (p + "time_mix_key.weight", a.key.weight),
            (p + "time_mix_value.weight", a.value.weight),
            (p + "time_mix_receptance.weight", a.receptance.weight),
            (p + "time_mix_gate.weight", a.gate.weight),
            (p + "time_mix_output.weight", a.output.weight),
            (p + "ffn_norm.weight", blk.ffn_norm),
            (p + "ffn_gate.weight", blk.ffn_gate.weight),
            (p + "ffn_down.weight", blk.ffn_down.weight),
            (p + "ffn_up.weight", blk.ffn_up.weight),
        ]
    out += [("output_norm.weight", model.output_norm), ("output.weight", model.head.weight)]
    return out


def round_to_export(model):
    """Rounds the F16-stored tensors in place, so the trainer evaluates exactly the exported model."""
    half = f16_names(model.d)
    with torch.no_grad():
        for name, t in gguf_tensors(model):
            if name in half:
                t.copy_(t.half().float())


def write_gguf(path, model, tok, name, description):
    d, w = model.d, GgufWriter()
    w.add_string("general.architecture", ARCH)
    w.add_string("general.name", name)
    w.add_string("general.description", description)
    w.add_u32("general.file_type", LLAMA_FTYPE_MOSTLY_F16)
    w.add_u32(f"{ARCH}.context_length", 1048576)
    w.add_u32(f"{ARCH}.embedding_length", d.width)
    w.add_u32(f"{ARCH}.block_count", d.layers)
    w.add_u32(f"{ARCH}.feed_forward_length", d.ffn)
    w.add_u32(f"{ARCH}.wkv.head_size", d.head_size)
    w.add_u32(f"{ARCH}.time_mix_extra_dim", d.mix_rank)
    w.add_u32(f"{ARCH}.time_decay_extra_dim", d.decay_rank)
    w.add_u32(f"{ARCH}.attention.head_count", 0)
    w.add_u32(f"{ARCH}.attention.head_count_kv", d.kv_heads)
    w.add_f32(f"{ARCH}.attention.layer_norm_rms_epsilon", d.rms_eps)
    w.add_u32(f"{ARCH}.token_shift_count", 1)
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "qwen2")
    w.add_strings("tokenizer.ggml.tokens", tok.tokens)
    w.add_i32s("tokenizer.ggml.token_type", tok.token_types())
    w.add_strings("tokenizer.ggml.merges", tok.merges)
    eos = tok.ids[SPECIAL_TOKENS[0]]
    w.add_u32("tokenizer.ggml.bos_token_id", eos)
    w.add_u32("tokenizer.ggml.eos_token_id", eos)
    w.add_u32("tokenizer.ggml.padding_token_id", eos)
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    half = f16_names(d)
    for tname, t in gguf_tensors(model):
        w.add_tensor(tname, t.detach().cpu().numpy(), f16=tname in half)
    w.write(path)
