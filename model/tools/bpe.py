# bpe.py: byte-level BPE (GPT-2 byte->unicode mapping, Qwen2 pre-tokenizer regex) — training over
# word frequencies and an encoder that gives the same ids as vkrwkv's C++ tokenizer.
import collections

import regex

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3

# The exact pattern of model/tokenizer_bpe.cpp (llama.cpp's case-insensitive rewrite of Qwen2's
# tokenizer.json pattern with White_Space spelled out); a different split would change the ids.
_WS = r"\t\n\x0B\f\r\x85\p{Z}"  # \x85 = U+0085
QWEN2_PATTERN = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
                 r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^" + _WS + r"\p{L}\p{N}]+[\r\n]*"
                 r"|[" + _WS + r"]*[\r\n]+"
                 r"|[" + _WS + r"]+(?![^" + _WS + r"])"
                 r"|[" + _WS + r"]+")
_PRE = regex.compile(QWEN2_PATTERN)


def byte_to_unicode():
    """GPT-2 table: printable Latin-1 bytes keep their code point, the other 68 go to U+0100.."""
    keep = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    table, nxt = {}, 0x100
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(nxt)
            nxt += 1
    return table


def pretokenize(text):
    return _PRE.findall(text)


def _word_counts(text):
    b2u = byte_to_unicode()
    counts = collections.Counter(pretokenize(text))
    return {tuple(b2u[b] for b in w.encode("utf-8")): n for w, n in counts.items()}


def train_bpe(text, vocab_size):
    """Returns (tokens, merges): tokens = 256 byte symbols, merged symbols in merge order, then the
    special tokens; merges = ["A B", ...] in rank order. Ties between equally frequent pairs go to
    the lexicographically smallest pair so the result does not depend on dict order."""
    n_symbols = vocab_size - len(SPECIAL_TOKENS)
    counted = _word_counts(text)
    words, freqs = [list(w) for w in counted], list(counted.values())
    pair_count = collections.Counter()
    where = collections.defaultdict(set)  # pair -> indices of words containing it
    for i, w in enumerate(words):
        for p in zip(w, w[1:]):
            pair_count[p] += freqs[i]
            where[p].add(i)
    b2u = byte_to_unicode()
    tokens, merges = [b2u[b] for b in range(256)], []
    known = set(tokens)
    while len(tokens) < n_symbols and pair_count:
        best = min(pair_count.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        if best[0] + best[1] not in known:  # two merge paths can spell the same token
            known.add(best[0] + best[1])
            tokens.append(best[0] + best[1])
        for i in sorted(where.pop(best, ())):
            _merge_word(words, i, best, freqs[i], pair_count, where)
        pair_count.pop(best, None)
    return tokens + SPECIAL_TOKENS, [f"{a} {b}" for a, b in merges]


def _merge_word(words, i, pair, freq, pair_count, where):
    w = words[i]
    for p in zip(w, w[1:]):  # remove this word's old pairs ...
        pair_count[p] -= freq
        if pair_count[p] <= 0:
            del pair_count[p]
    out, j = [], 0
    while j < len(w):
        if j + 1 < len(w) and (w[j], w[j + 1]) == pair:
            out.append(w[j] + w[j + 1])
            j += 2
        else:
            out.append(w[j])
            j += 1
    words[i] = out
    for p in zip(out, out[1:]):  # ... and add its new ones
        pair_count[p] += freq
        where[p].add(i)


class Tokenizer:
    """Encoder for a trained vocab: lowest-rank pair first, leftmost on ties (as the C++ one)."""

    def __init__(self, tokens, merges):
        self.tokens, self.merges = tokens, merges
        self.ids = {t: i for i, t in enumerate(tokens)}
        self.ranks = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
        self.b2u = byte_to_unicode()
        self.u2b = {u: b for b, u in self.b2u.items()}
        self.cache = {}
        self.eos_id = self.ids["<|endoftext|>"]

    def _encode_word(self, word):
        syms = [self.b2u[b] for b in word.encode("utf-8")]
        while len(syms) > 1:
            ranked = [(self.ranks.get(p, 1 << 30), j) for j, p in enumerate(zip(syms, syms[1:]))]
            rank, j = min(ranked)
            if rank == 1 << 30:
                break
            syms[j:j + 2] = [syms[j] + syms[j + 1]]
        return [self.ids[s] for s in syms]

    def encode(self, text):
        """Plain text only: special-token strings in `text` are not parsed (parse_special=false)."""
        out = []
        for word in pretokenize(text):
            ids = self.cache.get(word)
            if ids is None:
                ids = self.cache[word] = self._encode_word(word)
            out.extend(ids)
        return out

    def decode(self, ids):
        data = bytearray()
        for i in ids:
            t = self.tokens[i]
            if t in SPECIAL_TOKENS:
                data += t.encode("utf-8")
            else:
                data += bytes(self.u2b[c] for c in t)
        return data.decode("utf-8", errors="replace")

    def token_types(self):
        return [TOKEN_CONTROL if t in SPECIAL_TOKENS else TOKEN_NORMAL for t in self.tokens]
