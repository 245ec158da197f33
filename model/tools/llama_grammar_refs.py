#!/usr/bin/env python3
"""Independent reference data for GBNF grammar-constrained sampling, made by llama.cpp's own
grammar sampler (llama_sampler_init_grammar / llama_sampler_apply / llama_sampler_accept), not
by vkrwkv code, with every token id made by llama.cpp's own tokenizer.

Same library and bindings as llama_hellaswag_refs.py / llama_multiple_choice_refs.py (imported,
not copied): the prebuilt node-llama-cpp 3.22.1 libllama.v0.5.0.so / libggml*.so. Only the
vocabularies are loaded (llama_model_params.vocab_only = true): model/default/kjv-qrwkv6.gguf
(4096-token byte-level BPE, gpt2/qwen2 pre; EOG 4093 <|endoftext|> and 4095 <|im_end|>; control
4093 4094 4095) and /work/shared/refmodels/micro-rwkv6-f32.gguf (1024-token RWKV World
tokenizer; EOG and control: 0 <s>).

Output (tests/data/llama_grammar/cases.json, one JSON document):
  * "cases": one entry per (grammar, model, text or random walk):
      name, model (path relative to the repo / to /work/shared), grammar (GBNF text, root rule
      "root"), text (the text whose tokens were accepted; null for a random walk), seed (random
      walks only), tokens (ids accepted in order), steps (len(tokens)+1 entries; step i = the state
      before accepting tokens[i], the last one after all of them):
        allowed: sorted ids whose logit stayed finite, EXCLUDING every EOG and every control token;
        eog: whether llama let the EOG tokens through (all EOG ids always agree; checked);
        control_allowed (only where non-empty): non-EOG control ids llama let through (kjv's
          4094 <|im_start|>: llama matches its TEXT "<|im_start|>" against the grammar, see below).
  * "token_syntax_cases": same shape, grammars using llama's token-level syntax (<[id]>,
    <|token text|>, !<[id]>) -- kept apart because they are a llama.cpp extension of GBNF.
  * "invalid": grammars for which llama_sampler_init_grammar returns NULL (checked on each run),
    with a short reason and llama's own message (stderr of the parser / its log).
  * "models": per vocabulary: n_tokens, EOG ids, control ids, ids whose piece is empty or starts
    with a NUL byte (always rejected by the grammar).

How each step is computed: a llama_token_data_array over ALL ids (data[i] = {id i, logit 0, p 0},
size n_vocab, selected -1, sorted false), llama_sampler_apply(grammar sampler), ids whose logit is
still finite are allowed (the grammar sampler only ever writes -INFINITY; the rest stay 0 and
the array is neither resized nor reordered -- checked). A fresh sampler per case; tokens are
accepted with llama_sampler_accept only after checking they were allowed (accepting a rejected
token throws a C++ exception through the C API and aborts the process). Text cases: tokens =
llama_tokenize(text, add_special = false, parse_special = false) (no BOS), the pieces checked to
give back the text, every token checked to be allowed, and the final step checked to allow EOG.
Random walks: random.Random(seed).choice over the step's "allowed" list (never EOG or control),
at most WALK_STEPS tokens, stopping early when nothing but EOG is allowed.

Facts (ggml-org/llama.cpp; src/llama-grammar.cpp at 04332939dd7adc7edbff9dbb4e25efdfae1c7668,
src/llama-sampler.cpp at 00efb3e184262872916bf136b3df63c1822a19bd, src/llama-vocab.cpp,
include/llama.h; the library is a 2025/2026 build: it exports llama_sampler_init_grammar_lazy_
patterns and its llama-grammar.cpp strings include the token-level <[id]> syntax errors):
  * include/llama.h: llama_token_data {int32 id; float logit; float p} (12 bytes);
    llama_token_data_array {llama_token_data *data; size_t size; int64_t selected; bool sorted}
    (32 bytes); struct llama_sampler * llama_sampler_init_grammar(const struct llama_vocab *,
    const char * grammar_str, const char * grammar_root); llama_sampler_apply(smpl, cur_p);
    llama_sampler_accept(smpl, token); llama_sampler_free(smpl).
  * llama-sampler.cpp llama_sampler_init_grammar_impl: grammar_str NULL or "" -> a sampler WITH
    NO grammar (apply / accept do nothing; NOT NULL); otherwise llama_grammar_init_impl, and NULL
    when that fails.
  * llama-grammar.cpp llama_grammar_init_impl (string form): NULL when llama_grammar_parser::parse
    fails or yields no rules ("failed to parse grammar"), when the root name is not a symbol
    ("grammar does not contain a 'root' symbol"), or on left recursion
    (llama_grammar_detect_left_recursion: "unsupported grammar, left recursion detected for
    nonterminal at index N"). parse() also rejects any rule referenced but never defined
    ("Undefined rule identifier 'x'"), in reachable or unreachable rules alike.
  * Parser (parse_space / parse_name / parse_char / parse_sequence / parse_rule):
    - rule names: [a-zA-Z0-9-]+ (digits may come first; '_' is not allowed); a later definition
      of the same name replaces the earlier one.
    - '#' comments run to '\\r' or '\\n'; blanks are ' ' and '\\t'; '\\r\\n' line ends work.
    - newlines may appear after '::=', after '|', and anywhere inside '(' ... ')'; at the top
      level of a rule a newline ends the rule, so a continuation line starting with '|' is an
      error ("expecting name at |...").
    - escapes in literals and classes: \\x hh, \\u hhhh, \\U hhhhhhhh (exact digit counts),
      \\t \\r \\n \\\\ \\" \\[ \\] \\- ; anything else "unknown escape".
    - classes: [..] / [^..]; a-b ranges; '-' right before ']' is literal; a reversed range
      ([z-a]) is accepted and matches nothing.
    - repetition: * + ? {m} {m,} {m,n}; "{,n}" is an error ("expecting an int"); m > 2000 is an
      error; n > 2000 silently becomes "no maximum"; n < m is NOT checked: (n - m) wraps as
      uint64 and the parser generates rules until memory runs out (under an address-space limit
      parse() catches the std::bad_alloc and the init returns NULL, or the process aborts; with
      no limit it eats all memory); a repetition with nothing before it is an error.
    - token syntax (this version): <[123]> (token id, not range-checked), <text> (tokenized with
      parse_special = true, must give exactly one token, else "invalid token"), and !<...> (any
      single token except that one).
    - left recursion: detected through prefixes whose rule has a syntactically EMPTY alternative
      (b ::= "z" |), but NOT through a rule that is only nullable via another rule (b ::= "z"?
      compiles to b ::= b_1, b_1 ::= "z" |, and b itself is not marked may-be-empty): such a
      grammar is accepted and llama_grammar_advance_stack then loops until memory runs out.
  * Matching (llama_grammar_apply_impl, llama_grammar_reject_candidates_for_stack_impl,
    llama_grammar_match_char / match_partial_char, decode_utf8, llama_grammar_accept_impl):
    - the piece of each token is llama_vocab::token_to_piece(id) = the cached piece made with
      special = true, so CONTROL tokens are matched by their TEXT (kjv 4094 "<|im_start|>" is
      allowed wherever the grammar allows those 12 characters); EOG tokens are not matched at all:
      they are allowed iff some parse stack is empty (the grammar can end here), else -INF.
    - a token whose piece is empty or starts with byte 0 is always rejected.
    - pieces are decoded as UTF-8 continuing the grammar's pending partial sequence; a piece
      ending inside a multi-byte character is allowed iff some completion of it could match the
      char element at that position (code point range [low, high] of the completions against the
      class); for a NEGATED class a partial is rejected as soon as ANY completion would be
      excluded (e.g. byte C3 under [^a-z\\u00e0-\\u00ff] is rejected although C3 89 = U+00C9
      would be allowed); lone continuation bytes and C0/C1 leads are rejected.
    - '.' (CHAR_ANY) matches any code point, newline included.
    - EOG: allowed iff some parse stack is empty (the grammar may end here), whatever else is
      allowed too (case words-continue). llama_grammar_accept_token DROPS empty stacks, so after
      a token that is only a UTF-8 lead byte EOG is no longer allowed (case optional-e-partial-eog:
      after "a" EOG and byte C3 are allowed, after C3 only A9). (A piece with whole characters
      followed by a partial one could leave EOG allowed with a partial pending; neither
      vocabulary has such a token: all their non-ASCII pieces are single bytes.)
    - a token survives if ANY stack accepts all of its code points; extra code points after the
      grammar is complete reject the token.
    - token elements: in apply, once a token's characters have been matched by char elements and
      the next element is a token element, the REST of the token is not matched at all: the
      token is kept iff its id matches (llama_grammar_reject_candidates_for_stack_impl), but
      llama_grammar_accept_token drops such stacks (llama_grammar_accept_chr ignores token
      elements), so accepting it throws "Unexpected empty grammar stack after accepting piece"
      (abort through the C API). E.g. root ::= "Amen" !<[13]> "." allows "ment" after "A".
      The token-syntax cases here avoid char elements followed by a token element; their random
      walks choose from allowed + control_allowed (two of those grammars start with the control
      token <|im_start|>, which "allowed" leaves out).

Rerun (python3 only; see llama_quant_refs.py for fetching the library):

    python3 model/tools/llama_grammar_refs.py /tmp/npmtry/x/package/bins/linux-x64 \\
        tests/data/llama_grammar

Options: --refmodels DIR (default /work/shared/refmodels), --kjv PATH, --probes (also run, each
in a subprocess with a 2 GiB address-space limit, the grammars one might expect llama to refuse
but that it accepts or crashes on; printed, not written). GRAMMAR_REFS_TRACE=1 in the environment
prints every case name and accepted token on stderr.
"""

import argparse
import ctypes
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_imatrix_refs as li  # noqa: E402  (protos)
import llama_hellaswag_refs as hs  # noqa: E402  (setup_extra, common_tokenize)
from llama_hellaswag_refs import common_tokenize  # noqa: E402
from llama_quant_refs import Lib, check  # noqa: E402

WALK_STEPS = 25
KJV = "model/default/kjv-qrwkv6.gguf"
MICRO = "refmodels/micro-rwkv6-f32.gguf"


class TokenData(ctypes.Structure):
    _fields_ = [("id", ctypes.c_int32), ("logit", ctypes.c_float), ("p", ctypes.c_float)]


class TokenDataArray(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(TokenData)), ("size", ctypes.c_size_t),
                ("selected", ctypes.c_int64), ("sorted", ctypes.c_bool)]


# --------------------------------------------------------------------------- grammars
# (name, model, grammar, texts, walk seeds). Every grammar is written for this file.

G_ESCAPES = r'''# literals with escapes
root ::= "He said, \"Let there be light\"\n" "path\\to " "\x41\x4d\x45\x4E" " caf\u00e9"
'''

G_VERSE_REF = r'''# a verse reference such as "Genesis 1:31"
root ::= book " " [1-9] [0-9]? ":" [1-9] [0-9]{0,2} "\n"
book ::= [A-Z] [a-z]+   # capitalised word
'''

G_QUOTED = r'''root ::= "\"" [^\n"]* "\"" "\n"
'''

G_DOT = r'''# '.' is any code point, newline included
root ::= "[" . . . "]" " " .{2,4} "!"
'''

G_VERSE = r'''# a tiny verse generator
root ::= (
    # opening word
    ("And" | "But"
     | "For") " "
    subj-1 " "      # who
    verb-2x
  ) "." ( " " root )?
subj-1 ::= "God" | "the LORD" |
           "Moses" | "the people" | 3rd-person
3rd-person ::= "he" | "they"
verb-2x ::= ("said" | "spake" | "saw") (" unto " subj-1)?
'''

G_REPEAT = r'''root ::= "a"{3} "-" [0-9]{2,} "-" [xyz]{1,3} "-" ("ab"){2} "q"? "!"+ "."*
'''

G_BRACKETS = r'''root ::= item+
# balanced brackets of three kinds
item ::= "(" item* ")" | "[" item* "]" | "{" item* "}"
'''

G_ARITH = r'''root   ::= expr
expr   ::= term (ws [-+] ws term)*
term   ::= factor (ws [*/] ws factor)*
factor ::= number | "(" ws expr ws ")" | "-" factor
number ::= [0-9]+ ("." [0-9]+)?
ws     ::= " "?
'''

G_NULLABLE = 'root ::= "a"*\n'

G_NONASCII = r'''root ::= word (" " word)*
word ::= "日本" | "caf\u00e9" | "🙂" | "\U0001F64F" | "naïve"
'''

G_WORDS = r'''# complete after any word, but may always go on
root ::= [a-z]+ ("," [a-z]+)*
'''

G_JSON = ('# a small JSON-like object; this grammar has CRLF line ends\r\n'
          'root  ::= "{" ws pair ("," ws pair)* ws "}"\r\n'
          'pair  ::= str ws ":" ws value\r\n'
          'value ::= str | num | list | "true" | "false" | "null"\r\n'
          'list  ::= "[" ws (value (ws "," ws value)*)? ws "]"\r\n'
          'str   ::= "\\"" [^"\\\\\\n]* "\\""\r\n'
          'num   ::= "-"? [0-9]+ ("." [0-9]+)?\r\n'
          'ws    ::= [ \\t\\n]?\r\n')

G_CLASS_ESC = r'''root ::= [\]\[\-\t a-c]+ "\\" [\x30-\x39\u0041]{2}
'''

G_OPT_E = r'''root ::= "a" "é"?
'''

G_NEG_NONASCII = r'''root ::= [^a-z\u00e0-\u00ff\n]+ "\n"
'''

G_LONG = r'''root ::= "In the beginning God created the heaven and the earth."
'''

G_JA = r'''root ::= "日本語" ("、" | "。")+
'''

G_ACCENTS = r'''root ::= w (" " w)* "."
w ::= [a-zà-ÿ]+
'''

G_EMOJI_DOT = r'''root ::= "🙂"{1,3} " " . "\n"?
'''

GRAMMARS = [
    ("escapes", KJV, G_ESCAPES, ['He said, "Let there be light"\npath\\to AMEN café'], [1]),
    ("verse-ref", KJV, G_VERSE_REF, ["Genesis 1:31\n", "Ruth 4:22\n"], [2]),
    ("quoted", KJV, G_QUOTED, ['"Amen."\n'], []),
    ("dot", KJV, G_DOT, ["[a\nb] xyz!"], [4]),
    ("verse", KJV, G_VERSE, ["And God said. But the LORD spake unto Moses. For they saw."], [5, 55]),
    ("repeat", KJV, G_REPEAT, ["aaa-2024-zx-ababq!!.."], [6]),
    ("brackets", KJV, G_BRACKETS, ["([]{()})[()]"], [7]),
    ("arith", KJV, G_ARITH, ["12 * (3.5 + 40) - -6/2"], [8]),
    ("nullable-root", KJV, G_NULLABLE, ["aaaaa", ""], [9]),
    ("non-ascii", KJV, G_NONASCII, ["café 日本 🙂 🙏 naïve"], [10]),
    ("words-continue", KJV, G_WORDS, ["and,the,lord"], [11]),
    ("json-crlf", KJV, G_JSON,
     ['{"n": 930, "s": ["Cain", -1.5, null], "ok": false}'], []),
    ("class-escapes", KJV, G_CLASS_ESC, ["a-[b]\tc\\9A"], [13]),
    ("optional-e-partial-eog", KJV, G_OPT_E, ["aé", "a"], []),
    ("negated-non-ascii", KJV, G_NEG_NONASCII, ["日本 12 AMEN!\n"], [15]),
    ("long-literal", KJV, G_LONG, ["In the beginning God created the heaven and the earth."], [16]),
    ("micro-japanese", MICRO, G_JA, ["日本語、。"], [17]),
    ("micro-accents", MICRO, G_ACCENTS, ["où est la forêt."], [18]),
    ("micro-emoji-dot", MICRO, G_EMOJI_DOT, ["🙂🙂 é\n"], [19]),
    ("micro-arith", MICRO, G_ARITH, ["(1+2)*3 - 4.5"], [20]),
    ("micro-quoted", MICRO, G_QUOTED, ['"Grüße, 世界"\n'], [23]),
]

# token-level syntax (llama.cpp extension); ids are those of the kjv vocab (4094 <|im_start|>)
TOKEN_GRAMMARS = [
    ("tok-id-control", KJV, 'root ::= <[4094]> ("user" | "assistant") "\\n" ("Amen" | "Selah") "."\n',
     [("<|im_start|>", "user\nSelah.")], [21]),
    ("tok-text-control", KJV, 'root ::= <|im_start|> "system" "\\n" [a-z]{1,8}\n',
     [("<|im_start|>", "system\nhello")], []),
    ("tok-not", KJV, 'root ::= !<[4094]> "."\n', [(None, " God.")], [22]),
]

INVALID = [
    ('root ::= "a" missing-rule\n', "undefined rule"),
    ('root ::= "a"\nunused ::= "b" nowhere\n', "undefined rule in an unreachable rule"),
    ('item ::= "a"\n', "no root rule"),
    ('root ::= "abc\n', "unterminated string"),
    ('root ::= [a-z\n', "unterminated character class"),
    ('root ::= "\\q"\n', "unknown escape \\q"),
    ('root ::= "\\x4"\n', "\\x needs exactly 2 hex digits"),
    ('root ::= "\\u00e"\n', "\\u needs exactly 4 hex digits"),
    ('root ::= a\na ::= a "x" | "y"\n', "left recursion"),
    ('root ::= b root "x" | "y"\nb ::= "z" |\n', "left recursion through a nullable prefix"),
    ('root ::= "a"{,2}\n', "{,n}: the minimum is required"),
    ('root ::= "a"{3\n', "unclosed {"),
    ('root ::= "a"{2001}\n', "repetition count over 2000"),
    ('root ::= * "a"\n', "repetition operator with nothing before it"),
    ('# only a comment\n', "no rules at all"),
    ('root ::= "a" )\n', "stray )"),
    ('root ::= ( "a" | "b"\n', "unclosed ("),
    ('root ::= "a"\n  | "b"\n', "top-level newline before | ends the rule"),
    ('my_rule ::= "a"\nroot ::= my_rule\n', "'_' in a rule name"),
    ('root = "a"\n', "missing ::="),
    ('root ::= <hello world> "a"\n', "token text that is not exactly one token"),
]

# one might expect llama to refuse these; it does not (or it crashes); run with --probes
PROBES = [
    ("", "empty grammar string"),
    ('root ::= "a"\nroot ::= "b"\n', "rule defined twice"),
    ('root ::= [z-a]\n', "reversed range"),
    ('root ::= "a"{1,2001}\n', "max over 2000"),
    ('root ::= "a"{0}\n', "{0}"),
    ('root ::= [a-]\n', "'-' before ]"),
    ('root ::= "a"{3,1}\n', "{m,n} with n < m"),
    ('root ::= b root "x" | "y"\nb ::= "z"?\n', "left recursion through b ::= \"z\"?"),
]


# --------------------------------------------------------------------------- library glue

def setup_grammar(lib):
    l = lib.llama
    vp = ctypes.c_void_p
    l.llama_sampler_init_grammar.restype = vp
    l.llama_sampler_init_grammar.argtypes = [vp, ctypes.c_char_p, ctypes.c_char_p]
    l.llama_sampler_apply.restype = None
    l.llama_sampler_apply.argtypes = [vp, ctypes.POINTER(TokenDataArray)]
    l.llama_sampler_accept.restype = None
    l.llama_sampler_accept.argtypes = [vp, ctypes.c_int32]
    l.llama_sampler_free.restype = None
    l.llama_sampler_free.argtypes = [vp]
    l.llama_sampler_name.restype = ctypes.c_char_p
    l.llama_sampler_name.argtypes = [vp]
    l.llama_vocab_is_eog.restype = ctypes.c_bool
    l.llama_vocab_is_eog.argtypes = [vp, ctypes.c_int32]
    l.llama_vocab_is_control.restype = ctypes.c_bool
    l.llama_vocab_is_control.argtypes = [vp, ctypes.c_int32]
    check(ctypes.sizeof(TokenData) == 12 and ctypes.sizeof(TokenDataArray) == 32,
          "llama_token_data / llama_token_data_array layout")


class Vocab:
    def __init__(self, lib, path, label):
        l = lib.llama
        mp = l.llama_model_default_params()
        mp.vocab_only = True
        mp.n_gpu_layers = 0
        self.model = l.llama_model_load_from_file(path.encode(), mp)
        check(self.model, "load " + path)
        lib.take_log()
        self.lib, self.l, self.label = lib, l, label
        self.vocab = l.llama_model_get_vocab(self.model)
        self.n = l.llama_vocab_n_tokens(self.vocab)
        self.eog = [i for i in range(self.n) if l.llama_vocab_is_eog(self.vocab, i)]
        self.control = [i for i in range(self.n) if l.llama_vocab_is_control(self.vocab, i)]
        self.excluded = set(self.eog) | set(self.control)
        self.pieces = [self.piece(i, True) for i in range(self.n)]
        self.dead = [i for i, p in enumerate(self.pieces) if not p or p[0] == 0]

    def piece(self, tok, special=False):
        buf = ctypes.create_string_buffer(256)
        k = self.l.llama_token_to_piece(self.vocab, tok, buf, 256, 0, special)
        check(0 <= k <= 256, "token_to_piece")
        return buf.raw[:k]

    def info(self):
        return {"n_tokens": self.n, "eog": self.eog, "control": self.control,
                "control_pieces": {str(i): self.pieces[i].decode("utf-8", "replace")
                                   for i in self.control},
                "empty_or_nul_piece": self.dead}

    def free(self):
        self.l.llama_model_free(self.model)


class StderrCapture:
    """Captures what the C side writes on fd 2 (the grammar parser uses fprintf(stderr))."""
    def __enter__(self):
        sys.stderr.flush()
        self.tmp = tempfile.TemporaryFile()
        self.saved = os.dup(2)
        os.dup2(self.tmp.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.tmp.seek(0)
        self.text = self.tmp.read().decode("utf-8", "replace")
        self.tmp.close()


def init_grammar(v, grammar):
    return v.l.llama_sampler_init_grammar(v.vocab, grammar.encode("utf-8"), b"root")


def step_of(v, smpl, has_grammar=True):
    """Allowed set now: {allowed (no EOG, no control), eog, control_allowed}."""
    n = v.n
    arr = (TokenData * n)()
    for i in range(n):
        arr[i].id = i
        arr[i].logit = 0.0
        arr[i].p = 0.0
    cur = TokenDataArray(ctypes.cast(arr, ctypes.POINTER(TokenData)), n, -1, False)
    v.l.llama_sampler_apply(smpl, ctypes.byref(cur))
    check(cur.size == n and ctypes.addressof(cur.data.contents) == ctypes.addressof(arr)
          and cur.selected == -1 and not cur.sorted, "apply left the array shape alone")
    ok = []
    for i in range(n):
        check(arr[i].id == i, "order kept")
        lg = arr[i].logit
        if math.isfinite(lg):
            check(lg == 0.0, "finite logits untouched")
            ok.append(i)
        else:
            check(lg == -math.inf, "rejected = -inf")
    oks = set(ok)
    eog_flags = {t in oks for t in v.eog}
    check(len(eog_flags) == 1, "all EOG ids agree")
    step = {"allowed": [i for i in ok if i not in v.excluded], "eog": eog_flags.pop()}
    ctl = [i for i in ok if i in v.control and i not in v.eog]
    if ctl:
        step["control_allowed"] = ctl
    check(not has_grammar or not (set(v.dead) & oks), "empty / NUL pieces never allowed")
    return step


def run_case(v, name, grammar, tokens=None, text=None, seed=None, walk_control=False):
    smpl = init_grammar(v, grammar)
    check(smpl, "grammar of %s accepted" % name)
    if os.environ.get("GRAMMAR_REFS_TRACE"):
        sys.stderr.write("case %s\n" % name)
    check(v.l.llama_sampler_name(smpl) == b"grammar", "sampler name")
    steps, acc = [], []
    rng = random.Random(seed) if seed is not None else None
    while True:
        st = step_of(v, smpl)
        steps.append(st)
        if tokens is not None:
            if len(acc) == len(tokens):
                break
            t = tokens[len(acc)]
            allowed_all = set(st["allowed"]) | set(st.get("control_allowed", []))
            check(t in allowed_all, "%s: token %d (%r) of the text allowed at step %d"
                  % (name, t, v.pieces[t], len(acc)))
        else:
            pool = st["allowed"] + (st.get("control_allowed", []) if walk_control else [])
            if len(acc) == WALK_STEPS or not pool:
                break
            t = rng.choice(sorted(pool))
        if os.environ.get("GRAMMAR_REFS_TRACE"):
            sys.stderr.write("  accept %d %r\n" % (t, v.pieces[t]))
        v.l.llama_sampler_accept(smpl, t)
        acc.append(t)
    v.l.llama_sampler_free(smpl)
    if tokens is not None:
        check(steps[-1]["eog"], "%s: EOG allowed after the whole text" % name)
    case = {"name": name, "model": v.label, "grammar": grammar, "text": text}
    if seed is not None:
        case["seed"] = seed
        case["walk_text"] = b"".join(v.pieces[t] for t in acc).decode("utf-8", "replace")
    case["tokens"] = acc
    case["steps"] = steps
    return case


def text_tokens(v, text):
    toks = common_tokenize(v.l, v.vocab, text, add_special=False, parse_special=False)
    check(b"".join(v.pieces[t] for t in toks) == text.encode("utf-8"), "pieces give back the text")
    return toks


def make_cases(vocabs, grammars, token_syntax=False):
    out = []
    for name, model, grammar, texts, seeds in grammars:
        v = vocabs[model]
        for k, text in enumerate(texts):
            nm = "%s-text%s" % (name, "" if len(texts) == 1 else str(k + 1))
            if token_syntax:
                special, rest = text
                pre = [] if special is None else common_tokenize(
                    v.l, v.vocab, special, add_special=False, parse_special=True)
                check(special is None or len(pre) == 1, "special token text is one token")
                toks = pre + text_tokens(v, rest)
                text = (special or "") + rest
            else:
                toks = text_tokens(v, text)
            out.append(run_case(v, nm, grammar, tokens=toks, text=text))
        for seed in seeds:
            out.append(run_case(v, "%s-walk%d" % (name, seed), grammar, seed=seed,
                                walk_control=token_syntax))
    return out


def check_invalid(v):
    out = []
    for grammar, why in INVALID:
        v.lib.take_log()
        with StderrCapture() as cap:
            smpl = init_grammar(v, grammar)
        if smpl:
            v.l.llama_sampler_free(smpl)
        check(not smpl, "llama refuses %r (%s)" % (grammar, why))
        msgs = []
        first = cap.text.strip().split("\n")[0] if cap.text.strip() else ""
        if first.startswith("parse: "):
            msgs.append(first)  # llama_grammar_parser::parse's fprintf(stderr)
        for line in v.lib.take_log().strip().split("\n"):  # LLAMA_LOG_ERROR lines
            if line and line not in msgs:
                msgs.append(line)
        out.append({"grammar": grammar, "why": why, "llama_message": " | ".join(msgs)})
    return out


# --------------------------------------------------------------------------- probes

def probe_one(bins, kjv, idx):
    lib = Lib(bins)
    setup_grammar(lib)
    hs.setup_extra(lib)
    v = Vocab(lib, kjv, KJV)
    grammar = PROBES[idx][0]
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    smpl = init_grammar(v, grammar)
    print("init:", "NULL" if not smpl else "sampler", flush=True)
    if smpl:
        st = step_of(v, smpl, has_grammar=bool(grammar))
        print("step0: eog=%s allowed=%d %s" % (st["eog"], len(st["allowed"]),
                                                [v.pieces[t] for t in st["allowed"][:8]]), flush=True)


def run_probes(bins, kjv):
    for i, (grammar, why) in enumerate(PROBES):
        try:
            r = subprocess.run([sys.executable, os.path.abspath(__file__), bins, "-", "--kjv", kjv,
                                "--probe-one", str(i)], capture_output=True, timeout=120)
            out = "; ".join(x for x in r.stdout.decode("utf-8", "replace").split("\n")
                            if x.startswith(("init:", "step0:")))
            err = r.stderr.decode("utf-8", "replace").strip().split("\n")
            err = [e.strip() for e in err if e.startswith(("terminate", "parse:", "  what()"))
                   or "cannot allocate" in e]
            res = "rc %d: %s %s" % (r.returncode, out, " ".join(err[:3]))
        except subprocess.TimeoutExpired:
            res = "timeout (120 s)"
        print("probe %-40s %r -> %s" % (why, grammar, res))


# --------------------------------------------------------------------------- output

def dump(doc):
    """One JSON document; one line per step (indent 1 elsewhere)."""
    lines = ["{"]
    lines.append(' "generator": %s,' % json.dumps(doc["generator"]))
    lines.append(' "models": %s,' % json.dumps(doc["models"], ensure_ascii=False))

    def cases(key, items, last=False):
        lines.append(' "%s": [' % key)
        for ci, c in enumerate(items):
            lines.append("  {")
            for k in c:
                if k == "steps":
                    continue
                lines.append("   %s: %s," % (json.dumps(k), json.dumps(c[k], ensure_ascii=False)))
            lines.append('   "steps": [')
            for si, s in enumerate(c["steps"]):
                lines.append("    " + json.dumps(s, separators=(",", ":"))
                             + ("," if si + 1 < len(c["steps"]) else ""))
            lines.append("   ]")
            lines.append("  }" + ("," if ci + 1 < len(items) else ""))
        lines.append(" ]" + ("" if last else ","))

    cases("cases", doc["cases"])
    cases("token_syntax_cases", doc["token_syntax_cases"])
    lines.append(' "invalid": [')
    for i, e in enumerate(doc["invalid"]):
        lines.append("  " + json.dumps(e, ensure_ascii=False) + ("," if i + 1 < len(doc["invalid"]) else ""))
    lines.append(" ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bins", help="dir with libllama.v0.5.0.so, libggml*.so")
    ap.add_argument("out", help="output dir (created); cases.json is written there")
    ap.add_argument("--refmodels", default="/work/shared/refmodels")
    ap.add_argument("--kjv", default=os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "default", "kjv-qrwkv6.gguf")))
    ap.add_argument("--probes", action="store_true")
    ap.add_argument("--probe-one", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe_one is not None:
        probe_one(args.bins, args.kjv, args.probe_one)
        return
    t0 = time.time()
    lib = Lib(args.bins)
    li.setup_protos(lib)
    hs.setup_extra(lib)
    setup_grammar(lib)
    lib.load_cpu_backend()

    vocabs = {KJV: Vocab(lib, args.kjv, KJV),
              MICRO: Vocab(lib, os.path.join(args.refmodels, "micro-rwkv6-f32.gguf"), MICRO)}
    check(vocabs[KJV].n == 4096 and vocabs[MICRO].n == 1024, "vocab sizes")

    # an empty grammar string gives a sampler without grammar (nothing rejected, not NULL)
    v = vocabs[KJV]
    smpl = init_grammar(v, "")
    check(smpl, "empty grammar -> a sampler")
    st = step_of(v, smpl, has_grammar=False)
    check(st["eog"] and len(st["allowed"]) + len(v.excluded) == v.n, "empty grammar is a no-op")
    v.l.llama_sampler_free(smpl)

    doc = {
        "generator": "model/tools/llama_grammar_refs.py (llama.cpp from node-llama-cpp 3.22.1)",
        "models": {k: vv.info() for k, vv in vocabs.items()},
        "cases": make_cases(vocabs, GRAMMARS),
        "token_syntax_cases": make_cases(vocabs, TOKEN_GRAMMARS, token_syntax=True),
        "invalid": check_invalid(vocabs[KJV]),
    }
    text = dump(doc)
    check(json.loads(text) == json.loads(json.dumps(doc)), "dump round trip")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "cases.json")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    n_steps = sum(len(c["steps"]) for c in doc["cases"] + doc["token_syntax_cases"])
    for c in doc["cases"] + doc["token_syntax_cases"]:
        print("%-34s %-32s tokens %3d  allowed/step max %4d  eog@end %s%s" % (
            c["name"], c["model"], len(c["tokens"]), max(len(s["allowed"]) for s in c["steps"]),
            c["steps"][-1]["eog"],
            "  control_allowed" if any("control_allowed" in s for s in c["steps"]) else ""))
    print("cases %d + %d token-syntax, steps %d, invalid %d, %s: %d bytes, %.1f s" % (
        len(doc["cases"]), len(doc["token_syntax_cases"]), n_steps, len(doc["invalid"]), path,
        len(text.encode("utf-8")), time.time() - t0))
    if args.probes:
        run_probes(args.bins, args.kjv)
    for vv in vocabs.values():
        vv.free()


if __name__ == "__main__":
    main()
