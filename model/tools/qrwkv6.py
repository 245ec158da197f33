# qrwkv6.py: the QRWKV6 (rwkv6qwen2) model of ../shared/spec/model.md §3.3 in PyTorch, with the GLA
# recurrence in chunked-parallel (matmul) form so training does not loop over tokens in Python.
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

GROUPS = 5  # ddlerp groups in GGUF order w, k, v, r, g


@dataclass
class Dims:
    vocab: int = 4096
    width: int = 256        # C
    layers: int = 6         # L
    ffn: int = 768          # F
    head_size: int = 64     # S
    kv_heads: int = 2       # Hkv
    mix_rank: int = 32      # Dm (time_mix_extra_dim)
    decay_rank: int = 64    # Dd (time_decay_extra_dim)
    rms_eps: float = 1e-6

    @property
    def heads(self):
        return self.width // self.head_size


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


# Lowest per-token log-decay the chunked form uses (w >= e^-15 = 3e-7). It bounds every factor of
# the factorized intra-chunk products by e^60 in f32. A smaller w changes nothing measurable: such a
# channel forgets its state within one token either way (the difference is below 1e-6).
LOGW_MIN = -15.0


def _intra_chunk(r, k, b, chunk):
    """Causal scores A[t][tau] = sum_i r_t[i] k_tau[i] exp(b_t[i] - b_tau[i]) for (.., chunk, S)
    inputs. Each half of the chunk is factorized around its own middle position (exponents
    <= 4 * |LOGW_MIN|); the second half's queries against the first half's keys are factorized at
    the boundary, where both exponents are <= 0. Entries above the diagonal are zeroed."""
    half = chunk // 2
    shape = r.shape[:-2] + (2, half, r.shape[-1])
    rs, ks, bs = (t.reshape(shape) for t in (r, k, b))
    mid = bs[..., half // 2 - 1:half // 2, :]
    diag = (rs * (bs - mid).exp()) @ (ks * (mid - bs).exp()).transpose(-1, -2)
    tri = torch.ones(half, half, dtype=torch.bool, device=r.device).tril()
    diag = diag.masked_fill(~tri, 0.0)   # replaces (never multiplies) possibly infinite entries
    edge = bs[..., 0, -1:, :]
    (r0, r1), (k0, k1), (b0, b1) = (t.unbind(-3) for t in (rs, ks, bs))
    off = (r1 * (b1 - edge).exp()) @ (k0 * (edge - b0).exp()).transpose(-1, -2)
    d0, d1 = diag.unbind(-3)
    top = torch.cat([d0, torch.zeros_like(off)], -1)
    bottom = torch.cat([off, d1], -1)
    return torch.cat([top, bottom], -2)


def gla_chunked(r, k, v, logw, state, chunk=16):
    """GLA of spec §3.4.2/§5.1 for r, k, v, logw of shape (B, H, T, S) (k already (1-w)-scaled,
    r already scaled by S^-1/2) from `state` (B, H, S, S); returns y (B, H, T, S) and the state after
    token T-1: intra-chunk scores as matmuls (_intra_chunk), the state handed from chunk to chunk
    with exponents <= 0."""
    B, H, T, S = r.shape
    pad = (-T) % chunk
    if pad:  # zero k/r and log-decay 0 leave the state untouched on padded positions
        r, k, v, logw = (F.pad(t, (0, 0, 0, pad)) for t in (r, k, v, logw))
    n = r.shape[2] // chunk
    r, k, v, logw = (t.reshape(B, H, n, chunk, S) for t in (r, k, v, logw))
    b = logw.clamp(min=LOGW_MIN).cumsum(3)               # inclusive cumulative log-decay
    y = _intra_chunk(r, k, b, chunk) @ v                 # intra-chunk part
    last = b[:, :, :, -1:, :]                            # (B,H,n,1,S)
    contrib = (k * (last - b).exp()).transpose(3, 4) @ v  # (B,H,n,S,S)
    carry = last.squeeze(3).exp()                        # (B,H,n,S)
    states = []
    # unbind, not per-chunk slicing: each slice's backward would write a whole zero-filled tensor.
    for cy, ct in zip(carry.unbind(2), contrib.unbind(2)):  # sequential state hand-off
        states.append(state)
        state = cy.unsqueeze(-1) * state + ct
    m_in = torch.stack(states, 2)                        # state entering each chunk
    y = y + (r * b.exp()) @ m_in
    y = y.reshape(B, H, n * chunk, S)[:, :, :T]
    return y, state


def gla_reference(r, k, v, logw, state):
    """Token-by-token GLA (spec §3.4.2), for testing gla_chunked."""
    ys = []
    for t in range(r.shape[2]):
        state = logw[:, :, t, :, None].exp() * state + k[:, :, t, :, None] * v[:, :, t, None, :]
        ys.append((r[:, :, t, None, :] @ state).squeeze(2))
    return torch.stack(ys, 2), state


class TimeMix(nn.Module):
    def __init__(self, d: Dims, layer: int):
        super().__init__()
        C, KV = d.width, d.kv_heads * d.head_size
        self.d = d
        ratio = layer / max(d.layers - 1, 1)
        ramp = torch.arange(C, dtype=torch.float32) / C
        self.attn_norm = nn.Parameter(torch.ones(C))
        self.lerp_x = nn.Parameter(1.0 - ramp.pow(1.0 - 0.5 * ratio))
        self.lerp_fused = nn.Parameter(torch.stack([1.0 - ramp.pow(0.7 + 0.3 * g / 4 - 0.4 * ratio)
                                                    for g in range(GROUPS)]))
        self.mix_w1 = nn.Parameter(torch.empty(GROUPS * d.mix_rank, C).uniform_(-1e-2, 1e-2))
        self.mix_w2 = nn.Parameter(torch.zeros(GROUPS, C, d.mix_rank))
        # Per-channel base decays from fast (w ~ 0.69) to slow (w ~ 0.9975), as RWKV-6 initialises.
        self.decay = nn.Parameter(-6.0 + 5.0 * ramp.pow(0.7 + 1.3 * ratio))
        self.decay_w1 = nn.Parameter(torch.empty(d.decay_rank, C).uniform_(-1e-2, 1e-2))
        self.decay_w2 = nn.Parameter(torch.zeros(C, d.decay_rank))
        self.receptance = nn.Linear(C, C, bias=False)
        self.key = nn.Linear(C, KV, bias=False)
        self.value = nn.Linear(C, KV, bias=False)
        self.gate = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)
        nn.init.normal_(self.output.weight, std=0.02 / math.sqrt(2 * d.layers))

    def forward(self, x, shift, wkv):
        """x (B,T,C); shift (B,C) = last normalized input of the previous call; wkv (B,H,S,S)."""
        d = self.d
        B, T, C = x.shape
        H, S, Hkv = d.heads, d.head_size, d.kv_heads
        a = rms_norm(x, self.attn_norm, d.rms_eps)
        prev = torch.cat([shift.unsqueeze(1), a[:, :-1]], 1)
        sx = prev - a
        xi = a + sx * self.lerp_x
        h = torch.tanh(xi @ self.mix_w1.t()).view(B, T, GROUPS, d.mix_rank)
        m = torch.einsum("btgd,gcd->btgc", h, self.mix_w2)
        xs = a.unsqueeze(2) + sx.unsqueeze(2) * (self.lerp_fused + m)   # (B,T,5,C)
        # unbind, not xs[:, :, g]: each indexing backward would zero-fill a whole (B,T,5,C) tensor.
        xw, xk, xv, xr, xg = xs.unbind(2)
        r, k, v = self.receptance(xr), self.key(xk), self.value(xv)
        g = torch.sigmoid(self.gate(xg))
        delta = self.decay + torch.tanh(xw @ self.decay_w1.t()) @ self.decay_w2.t()
        logw = -delta.exp()
        rep = H // Hkv   # head h reads kv head h // rep (llama.cpp's ggml_repeat order)
        heads = lambda t, n: t.view(B, T, n, S).transpose(1, 2)  # noqa: E731
        k = heads(k, Hkv).repeat_interleave(rep, 1)
        v = heads(v, Hkv).repeat_interleave(rep, 1)
        lw = heads(logw, H)
        k = k * -torch.expm1(lw)                 # state balancing: k (1 - w)
        y, wkv = gla_chunked(heads(r, H) * S ** -0.5, k, v, lw, wkv)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.output(y * g), a[:, -1], wkv


class Block(nn.Module):
    def __init__(self, d: Dims, layer: int):
        super().__init__()
        self.d = d
        self.att = TimeMix(d, layer)
        self.ffn_norm = nn.Parameter(torch.ones(d.width))
        self.ffn_gate = nn.Linear(d.width, d.ffn, bias=False)
        self.ffn_up = nn.Linear(d.width, d.ffn, bias=False)
        self.ffn_down = nn.Linear(d.ffn, d.width, bias=False)
        nn.init.normal_(self.ffn_down.weight, std=0.02 / math.sqrt(2 * d.layers))

    def forward(self, x, shift, wkv):
        tm, shift, wkv = self.att(x, shift, wkv)
        x = x + tm
        f = rms_norm(x, self.ffn_norm, self.d.rms_eps)
        x = x + self.ffn_down(F.silu(self.ffn_gate(f)) * self.ffn_up(f))
        return x, shift, wkv


class QRwkv6(nn.Module):
    def __init__(self, d: Dims):
        super().__init__()
        self.d = d
        self.embed = nn.Embedding(d.vocab, d.width)
        nn.init.normal_(self.embed.weight, std=0.5)
        self.blocks = nn.ModuleList(Block(d, i) for i in range(d.layers))
        self.output_norm = nn.Parameter(torch.ones(d.width))
        self.head = nn.Linear(d.width, d.vocab, bias=False)
        nn.init.normal_(self.head.weight, std=0.5 / math.sqrt(d.width))

    def zero_state(self, batch):
        d = self.d
        return [(torch.zeros(batch, d.width), torch.zeros(batch, d.heads, d.head_size, d.head_size))
                for _ in range(d.layers)]

    def forward(self, ids, state=None):
        """ids (B,T) -> logits (B,T,V) and the state after the last token (zero start if None)."""
        state = state if state is not None else self.zero_state(ids.shape[0])
        x = self.embed(ids)
        new_state = []
        for block, (shift, wkv) in zip(self.blocks, state):
            x, shift, wkv = block(x, shift, wkv)
            new_state.append((shift, wkv))
        return self.head(rms_norm(x, self.output_norm, self.d.rms_eps)), new_state
