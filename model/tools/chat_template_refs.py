#!/usr/bin/env python3
"""Independent reference prompts for apps/chat_template.cpp: Qwen2.5-Instruct's own chat template
(the Jinja text stored as tokenizer.chat_template in /work/shared/refmodels/tokenizer/
vocab-qwen2.gguf) rendered by Jinja2, the way Hugging Face transformers' apply_chat_template runs
it: an ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, `tojson` as
json.dumps(x, ensure_ascii=False) (transformers replaces Jinja's HTML-escaping, key-sorting one),
add_generation_prompt=True, messages and tools as plain dicts (arguments as objects).

Rerun (python3 with jinja2; Debian's python3-jinja2):
    python3 model/tools/chat_template_refs.py /work/shared/refmodels/tokenizer/vocab-qwen2.gguf \\
        tests/data/chat_template/qwen25_cases.json
Output, one JSON document: {"template_sha256", "cases": [{name, messages, tools (null: none
passed), expected (the rendered prompt)}]}. Keys keep their order (the template dumps them so).
"""
import hashlib
import json
import struct
import sys

import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


def read_chat_template(path):
    """The tokenizer.chat_template string of a GGUF file (header walk, no gguf package)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"GGUF", path
    pos = 8
    _, n_kv = struct.unpack_from("<QQ", data, pos)
    pos += 16
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def string():
        nonlocal pos
        (n,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        s = data[pos:pos + n]
        pos += n
        return s

    def skip(t):
        nonlocal pos
        if t == 8:
            string()
        elif t == 9:
            et, n = struct.unpack_from("<IQ", data, pos)
            pos += 12
            for _ in range(n):
                skip(et)
        else:
            pos += sizes[t]

    for _ in range(n_kv):
        key = string().decode()
        (t,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if key == "tokenizer.chat_template":
            assert t == 8
            return string().decode()
        skip(t)
    raise SystemExit(f"{path}: no tokenizer.chat_template")


WEATHER = {"type": "function", "function": {
    "name": "get_weather",
    "description": "Current weather at a place.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. \"Zürich\""},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"]}}}
SEARCH = {"type": "function", "function": {
    "name": "search-docs",
    "parameters": {"type": "object", "properties": {
        "query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1},
        "score": {"type": "number", "default": 0.25},
        "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["query"], "additionalProperties": False}}}
NOARGS = {"type": "function", "function": {"name": "now", "description": "The time.\nTab:\t."}}


def call(name, args):
    return {"type": "function", "function": {"name": name, "arguments": args}}


CASES = [
    ("user_only", [{"role": "user", "content": "Hello"}], None),
    ("system_user_turns", [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye\n"}], None),
    ("system_later", [
        {"role": "user", "content": "a"},
        {"role": "system", "content": "b"},
        {"role": "user", "content": "c"}], None),
    ("tools_default_system", [{"role": "user", "content": "Weather in Bern?"}], [WEATHER]),
    ("tools_own_system", [
        {"role": "system", "content": "You answer weather questions."},
        {"role": "user", "content": "Weather in Bern?"}], [WEATHER, SEARCH, NOARGS]),
    ("tools_conversation", [
        {"role": "user", "content": "Weather in Bern and Zürich, and docs on föhn?"},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            call("get_weather", {"city": "Bern"}),
            call("get_weather", {"unit": "celsius", "city": "Zürich"})]},
        {"role": "tool", "content": "{\"temp\": 21.5}"},
        {"role": "tool", "content": "18 °C, \"windy\""},
        {"role": "assistant", "content": "", "tool_calls": [
            call("search-docs", {"query": "föhn \"wind\"\n", "limit": 3, "score": 0.5,
                                 "tags": [], "extra": {}, "ok": True, "none": None,
                                 "big": 1e-05, "neg": -2})]},
        {"role": "tool", "content": "Föhn is a warm wind."},
        {"role": "assistant", "content": "Bern 21.5, Zürich 18."},
        {"role": "user", "content": "Thanks"}], [WEATHER, SEARCH]),
    ("calls_without_tools", [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "", "tool_calls": [call("now", {})]},
        {"role": "tool", "content": "12:00"},
        {"role": "user", "content": "y"},
        {"role": "tool", "content": "lone"}], None),
    ("tool_first", [{"role": "tool", "content": "r"}, {"role": "user", "content": "q"}],
     [NOARGS]),
]


def main():
    src, out = sys.argv[1], sys.argv[2]
    template = read_chat_template(src)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env.filters["tojson"] = tojson
    compiled = env.from_string(template)
    cases = []
    for name, messages, tools in CASES:
        expected = compiled.render(messages=messages, tools=tools, add_generation_prompt=True,
                                   bos_token="", eos_token="<|im_end|>")
        cases.append({"name": name, "messages": messages, "tools": tools,
                      "expected": expected})
    doc = {"template_sha256": hashlib.sha256(template.encode()).hexdigest(), "cases": cases}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
