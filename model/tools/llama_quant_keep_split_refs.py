#!/usr/bin/env python3
"""What llama-quantize --keep-split writes: reference data made by llama.cpp's own quantizer
(llama_model_quantize with keep_split = true), not by vkrwkv code.

The library is the prebuilt llama.cpp of llama_quant_refs.py (node-llama-cpp 3.22.1:
libllama.v0.5.0.so, libggml-base.so, ggml_commit() "0ad4a86", CPU backend, nthread 2). The split
inputs are made with llama_gguf_split_refs.py's port of llama-gguf-split (ggml's gguf_* functions),
and their part sha256 are checked against tests/data/llama_gguf_split/manifest.json (runs a, c).

Facts (read from ggml-org/llama.cpp; file @ commit of the stored version that was read):
src/llama-quant.cpp @ 007dbbf3fd17eefe9b47fee45f48f7ba5e62b714 (llama_model_quantize_impl,
llama_model_quantize_default_params), tools/quantize/quantize.cpp @
03161a4eb9a2ec66ef97789f347c5a28279f06ea (main / llama_quantize), src/llama.cpp (llama_split_path)
@ 01649e61c782d88825d9f5affb6acbad0f57fb9b (see llama_gguf_split_refs.py):

  * Input: llama_model_loader(fname_inp) loads the whole split set from the FIRST part (the usual
    split loader: names PREFIX-00001-of-NNNNN.gguf, see llama_gguf_split_refs.py). Every weight
    knows its part index `idx` and its offset `offs` in that part.
  * Tensor order: without keep_split the tensors go out in ml.weights_map order (a std::map keyed
    by name: observed "sorted by layer, then name", see tests/data/llama_quant_plan); with
    keep_split they are std::sort-ed by (idx, offs), i.e. the input's part / file order.
  * n_split = 1; with keep_split n_split = max(idx + 1) over all tensors ("Assume split index is
    continuous"). ctx_outs has n_split gguf contexts; ctx_outs[0] is the one with the metadata,
    every other part's context is gguf_init_empty() created when its first tensor is added (a
    tensor-less part other than the first is not handled: its context stays NULL, used by the
    split-key loop and by GGML_ASSERT "Find uninitialized gguf_context"; a metadata-only FIRST
    part is fine: ctx_outs[0] always exists).
  * KVs of ctx_outs[0]: gguf_set_kv(ALL KVs of the first input part, in order), then
    gguf_set_val_u32(general.quantization_version, GGML_QNT_VERSION = 2), then
    gguf_set_val_u32(general.file_type, ftype); gguf_set_val_* removes an existing key and
    appends it, so both end up after the input KVs in that order (general.file_type MOVES from
    its input position). Then gguf_remove_key of split.no, split.count, split.tensors.count (the
    input part's split keys are dropped). Then kv_overrides (params->kv_overrides; the
    llama-quantize TOOL puts quantize.imatrix.file / .dataset / .entries_count / .chunks_count
    there when given --imatrix: they come after general.file_type; none here, no imatrix).
  * If n_split > 1, for EVERY part i: gguf_set_val_u16(split.no, i), gguf_set_val_u16(split.count,
    n_split), gguf_set_val_i32(split.tensors.count, number of tensors written) -- in THAT order:
    split.no, split.count, split.tensors.count (llama-gguf-split writes split.no,
    split.tensors.count, split.count). Parts > 0 hold only these 3 KVs. With n_split == 1 no split
    key is written (also with keep_split).
  * Output names: with keep_split the file of part i is llama_split_path(fname_out, i, n_split) =
    "%s-%05d-of-%05d.gguf" % (fname_out, i + 1, n_split): fname_out is a PREFIX. Without
    keep_split fname_out is the file name. So keep_split on a NON-split input writes one file
    FNAME_OUT-00001-of-00001.gguf without split keys.
  * Writing: new_ofstream(0) first (zeros as a placeholder for the header), then per tensor in
    the sorted order; when weight.idx != cur_split the current part is closed (header written at
    offset 0 = gguf_get_meta_data of its context) and part idx opened. Data of each tensor padded
    to GGUF_DEFAULT_ALIGNMENT = 32. A metadata-only first part (gguf-split
    --no-tensor-first-split) therefore becomes a header-only output part.
  * Quantization itself (types, bytes) does not depend on keep_split.
  * llama-quantize tool: `--keep-split` sets params.keep_split. With an explicit output name
    (`llama-quantize [--keep-split] IN OUT TYPE`): if keep_split and OUT contains ".gguf"
    ANYWHERE (fname_out.find(".gguf") != npos) the LAST 5 characters are cut
    (fname_out.substr(0, len - 5)): "out.gguf" -> prefix "out" (-> out-00001-of-00004.gguf), but
    "out.gguf.tmp" -> "out.gguf" (not a suffix check). Without an output name
    (`IN TYPE`), the name is DIR_OF_IN/ggml-model-<TYPE>, plus ".gguf" only without keep_split.
  * llama_model_quantize_params (include/llama.h): {int32 nthread; llama_ftype ftype; ggml_type
    output_tensor_type; ggml_type token_embedding_type; bool allow_requantize;
    quantize_output_tensor; only_copy; pure; keep_split; dry_run; ...}: keep_split is byte 20.
    Checked on this build: llama_model_quantize_default_params() stores dword 0x100 at 0x10
    (allow_requantize 0, quantize_output_tensor 1, only_copy 0, pure 0), word 0 at 0x14
    (keep_split, dry_run), 4 NULL pointers at 0x18..0x37, 8 GiB at 0x38 (max_buf_size; sizeof 64)
    (objdump of the function); and at run time: byte 20 = 1 gives n_split output files (byte 21
    would be dry_run: no files at all).

What it makes (tests/data/llama_quant_keep_split/manifest.json; no GGUF files are stored):
  * Input /work/shared/refmodels/tiny-qrwkv6-f16.gguf (71 tensors, 23 KVs) split with the port:
      a  --split-max-tensors 20                          -> 4 parts (20/20/20/11 tensors)
      c  --split-max-tensors 20 --no-tensor-first-split  -> 5 parts (0/20/20/20/11)
  * Runs (each in an empty directory; OUTPUT is what llama_model_quantize gets as fname_out):
      set a, c x Q8_0 (7), Q4_K_M (15): keep_split = true, OUTPUT "tiny-qrwkv6-f16-<T>"
      set a, Q4_K_M, keep_split = false, OUTPUT "tiny-qrwkv6-f16-Q4_K_M.gguf"
      unsplit input, Q8_0, keep_split = true, OUTPUT "tiny-qrwkv6-f16-Q8_0"
      unsplit input, Q8_0 / Q4_K_M, keep_split = false (the single-file references)
      set a, Q8_0, keep_split = true, OUTPUT "tiny-qrwkv6-f16-Q8_0.gguf" (what the library does
        with a ".gguf" it is given: the tool strips it first)
    Per run: every file the call created (names relative), bytes, sha256, KVs in order (key, gguf
    type, value for scalars / element type + count for arrays), tensors in order (name, ggml
    type, offset in the data section, nbytes), header bytes, the library's WARN / ERROR log
    lines and its split-related INFO lines; the tensors' data bytes compared with the single-file
    reference of the same type; the set loaded with llama_model_load_from_file(first part) and
    its logits (token ids 1..8 and the p16 prompt, all positions) compared with the reference.

Observed with this library (all in the manifest):
  * keep_split on set a / c gives 4 / 5 files named tiny-qrwkv6-f16-<T>-0000i-of-0000n.gguf with
    the input's tensors per part (20/20/20/11, 0/20/20/20/11) in input order; part 0 has 27 KVs
    (22 input KVs, general.quantization_version, general.file_type, split.no, split.count,
    split.tensors.count), the others 3. Set c's first output part is header-only: 26432 B on
    disk (padded to 32), gguf_get_data_offset 26404.
  * No WARN / ERROR log line in any run. Tensor types / bytes equal the single-file quantization
    of the unsplit model; every set loads from its first part and its logits are bit-identical
    to the single-file model's.
  * set a, Q4_K_M, keep_split = false: one file, byte-identical to quantizing the unsplit input
    (the input's split keys are removed; tensors in weights_map order).
  * keep_split on the unsplit input: one file tiny-qrwkv6-f16-Q8_0-00001-of-00001.gguf, no split
    keys, same size as the single-file output but other bytes: tensors in input order instead of
    weights_map order (output.weight, output_norm.weight, token_embd.weight, blk.0.* by name, ...).
  * fname_out "x.gguf" with keep_split -> files "x.gguf-00001-of-00004.gguf" ... (same bytes).

Rerun (python3 only; library as in llama_quant_refs.py; deterministic: a rerun gives the same
manifest byte for byte; only library.cpu_variant_loaded depends on the host's CPU):

    python3 model/tools/llama_quant_keep_split_refs.py /tmp/npmtry/x/package/bins/linux-x64 \\
        tests/data/llama_quant_keep_split

Options: --refmodels DIR (default /work/shared/refmodels), --split-manifest (default
tests/data/llama_gguf_split/manifest.json next to this script's repo), --keep DIR (keep all
files there).
"""

import argparse
import ctypes
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_gguf_split_refs as gs  # noqa: E402  (gguf-split port, GGUF description, loading)
import llama_quant_plan_refs as qp  # noqa: E402  (quantize(), PlanLib with log levels)
from llama_quant_refs import FTYPE_NAMES, check  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SOURCES = {"repo": "ggml-org/llama.cpp", "files": {
    "src/llama-quant.cpp": "007dbbf3fd17eefe9b47fee45f48f7ba5e62b714",
    "tools/quantize/quantize.cpp": "03161a4eb9a2ec66ef97789f347c5a28279f06ea",
    "src/llama.cpp (llama_split_path)": "01649e61c782d88825d9f5affb6acbad0f57fb9b",
    "tools/gguf-split/gguf-split.cpp": "3e00f05f2f854195b1a271f935e5b8925b52ab0b"}}
SETS = ["a", "c"]
FTYPES = [("Q8_0", 7), ("Q4_K_M", 15)]
KEEP_SPLIT_OFFSET = 20
GGML_LOG_LEVEL_WARN, GGML_LOG_LEVEL_ERROR, GGML_LOG_LEVEL_CONT = 3, 4, 5
SPLIT_INFO_RE = re.compile(r"split|GGUFs|additional", re.I)


def quantize_keep_split(lib, src, dst, ftype, keep_split):
    """llama_quant_plan_refs.quantize (nthread 2, no imatrix) with params.keep_split set: the
    defaults function is wrapped for the one call. Returns rc, the leveled log, the params bytes."""
    orig = lib.llama.llama_model_quantize_default_params
    seen = {}

    def defaults():
        p = orig()
        p.keep_split = keep_split
        seen["bytes"] = ctypes.string_at(ctypes.addressof(p), ctypes.sizeof(p))
        return p

    lib.llama.llama_model_quantize_default_params = defaults
    try:
        rc, _secs, leveled = qp.quantize(lib, src, dst, ftype, None)
    finally:
        lib.llama.llama_model_quantize_default_params = orig
    raw = seen["bytes"]
    check(raw[KEEP_SPLIT_OFFSET] == (1 if keep_split else 0) and raw[KEEP_SPLIT_OFFSET + 1] == 0,
          "keep_split byte %d / dry_run byte %d" % (KEEP_SPLIT_OFFSET, KEEP_SPLIT_OFFSET + 1))
    return rc, leveled


def level_lines(leveled, dirs):
    """(warn/error lines, split INFO lines); GGML_LOG_LEVEL_CONT continues the previous level."""
    per = []
    last = None
    for lv, s in leveled:
        if lv == GGML_LOG_LEVEL_CONT and per:
            per[-1][1] += s
            continue
        last = lv
        per.append([last, s])
    we, info = [], []
    for lv, s in per:
        for ln in gs.norm(s, dirs).splitlines():
            if not ln.strip():
                continue
            if lv in (GGML_LOG_LEVEL_WARN, GGML_LOG_LEVEL_ERROR):
                we.append(("ERROR: " if lv == GGML_LOG_LEVEL_ERROR else "WARN: ") + ln.rstrip())
            elif SPLIT_INFO_RE.search(ln):
                info.append(ln.strip())
    return we, info


def tensor_bytes(lib, path):
    """{name: data bytes} of a GGUF file (read via ggml's gguf)."""
    b = lib.base
    g, m = gs.gguf_open(lib, path)
    check(g, "gguf_init_from_file " + path)
    out = {}
    with open(path, "rb") as f:
        data = f.read()
    base = b.gguf_get_data_offset(g)
    for k in range(b.gguf_get_n_tensors(g)):
        off = base + b.gguf_get_tensor_offset(g, k)
        out[b.gguf_get_tensor_name(g, k).decode()] = data[off:off + b.gguf_get_tensor_size(g, k)]
    b.gguf_free(g)
    b.ggml_free(m)
    return out


def describe(lib, path):
    d = gs.describe_gguf(lib, path)
    d["header_bytes"] = d["bytes"] - d["data_section_bytes"]
    check(d["bytes"] % 32 == 0 and d["header_bytes"] % 32 == 0, "32-byte alignment of " + path)
    for k in ("meta_size_reencoded", "data_section_bytes", "tensors_columns"):
        d.pop(k)
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bins", help="dir with libllama.v0.5.0.so, libggml*.so, libggml-cpu-*.so")
    ap.add_argument("out", help="output dir (manifest.json is written there)")
    ap.add_argument("--refmodels", default="/work/shared/refmodels")
    ap.add_argument("--split-manifest",
                    default=os.path.join(REPO, "tests/data/llama_gguf_split/manifest.json"))
    ap.add_argument("--keep", default=None, help="keep all files in this (empty) dir")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    lib = qp.PlanLib(args.bins)
    gs.setup_protos(lib)  # after PlanLib: the port's gguf_init_from_file prototype
    backend = lib.load_cpu_backend()
    build = gs.lq.build_metadata(args.bins)
    check(gs.lq.LlamaQuantizeParams.keep_split.offset == KEEP_SPLIT_OFFSET
          and gs.lq.LlamaQuantizeParams.dry_run.offset == KEEP_SPLIT_OFFSET + 1,
          "ctypes layout of keep_split / dry_run")
    defaults = lib.llama.llama_model_quantize_default_params()
    raw_defaults = bytearray(ctypes.string_at(ctypes.addressof(defaults), ctypes.sizeof(defaults)))
    raw_defaults[22:24] = b"\0\0"  # struct padding before the imatrix pointer: not written

    src = os.path.join(args.refmodels, gs.INPUT_NAME)
    if args.keep:
        work = os.path.abspath(args.keep)
        os.makedirs(work, exist_ok=True)
        check(not os.listdir(work), "--keep dir must be empty")
    else:
        work = tempfile.mkdtemp(prefix="quant_keep_split_")
    dirs = [(work + "/", "<dir>/"), (work, "<dir>"), (args.refmodels, "<refmodels>")]
    with open(args.split_manifest) as f:
        split_ref = {r["name"]: r for r in json.load(f)["runs"]}
    with open(os.path.join(args.refmodels, "manifest.json")) as f:
        refm = json.load(f)
    p16 = [p["ids"]["gpt2"] for p in refm["prompts"] if p["name"] == "p16"][0]
    prompts = [("ids_1_8", gs.IDS_1_8), ("p16", p16)]

    inp = describe(lib, src)
    input_entry = {"file": gs.INPUT_NAME, "bytes": inp["bytes"], "sha256": inp["sha256"],
                   "n_kv": inp["n_kv"], "n_tensors": inp["n_tensors"],
                   "kv_keys": [k["key"] for k in inp["kv"]],
                   "tensor_names_in_order": [t[0] for t in inp["tensors"]]}

    # ---- the split inputs (gguf-split port), checked against the llama_gguf_split manifest
    split_sets, first_parts = {}, {}
    for name, opts, mode, n_t, size_s, ntfs in gs.RUNS:
        if name not in SETS:
            continue
        d = os.path.join(work, "in_" + name)
        os.makedirs(d)
        res = gs.gguf_split(lib, src, os.path.join(d, gs.PREFIX), mode, n_t, 0, ntfs)
        check("error" not in res, "split %s: %s" % (name, res.get("error")))
        parts = []
        for p, ref in zip(res["paths"], split_ref[name]["shards"]):
            e = {"file": os.path.basename(p), "bytes": os.path.getsize(p),
                 "sha256": gs.file_digest(p), "n_tensors": len(tensor_bytes(lib, p))}
            check(e["file"] == ref["file"] and e["sha256"] == ref["sha256"],
                  "split set %s part %s differs from llama_gguf_split manifest" % (name, e["file"]))
            parts.append(e)
        check(len(parts) == len(split_ref[name]["shards"]), "split set %s part count" % name)
        split_sets[name] = {"command": "llama-gguf-split %s %s %s" % (" ".join(opts), gs.INPUT_NAME,
                                                                       gs.PREFIX),
                            "parts": parts, "sha256_equal_llama_gguf_split_manifest": True}
        first_parts[name] = res["paths"][0]
        print("split set %s: %d parts, sha256 as in the llama_gguf_split manifest" % (name, len(parts)),
              flush=True)

    # ---- runs
    plan = []  # (id, set, ftype name, ftype, keep_split, output arg)
    for ftn, ft in FTYPES:
        plan.append(("unsplit-%s-single" % ftn, None, ftn, ft, False, "tiny-qrwkv6-f16-%s.gguf" % ftn))
    for s in SETS:
        for ftn, ft in FTYPES:
            plan.append(("%s-%s-keep_split" % (s, ftn), s, ftn, ft, True, "tiny-qrwkv6-f16-%s" % ftn))
    plan.append(("a-Q4_K_M-no_keep_split", "a", "Q4_K_M", 15, False, "tiny-qrwkv6-f16-Q4_K_M.gguf"))
    plan.append(("unsplit-Q8_0-keep_split", None, "Q8_0", 7, True, "tiny-qrwkv6-f16-Q8_0"))
    # the library takes fname_out as it is: a ".gguf" in it stays (the TOOL strips it)
    plan.append(("a-Q8_0-keep_split-gguf_name", "a", "Q8_0", 7, True, "tiny-qrwkv6-f16-Q8_0.gguf"))

    ref_tensors, ref_logits = {}, {}
    runs = []
    for rid, s, ftn, ft, keep, out_arg in plan:
        d = os.path.join(work, "run_" + rid)
        os.makedirs(d)
        inp_path = first_parts[s] if s else src
        rc, leveled = quantize_keep_split(lib, inp_path, os.path.join(d, out_arg), ft, keep)
        we, info = level_lines(leveled, dirs)
        files = sorted(os.listdir(d))
        run = {"id": rid, "input_set": s or "unsplit",
               "input_file": os.path.basename(inp_path), "ftype": ft,
               "ftype_name": FTYPE_NAMES.get(ft), "keep_split": keep,
               "fname_out": out_arg, "rc": rc, "files_created": files,
               "log_warn_error": we, "log_split_info": info}
        check(rc == 0, "%s: rc %d: %s" % (rid, rc, we))
        outs = [describe(lib, os.path.join(d, f)) for f in files]
        run["n_files"] = len(outs)
        run["tensors_per_file"] = [o["n_tensors"] for o in outs]
        run["file_bytes"] = [o["bytes"] for o in outs]
        names = sum(([t[0] for t in o["tensors"]] for o in outs), [])
        run["tensor_order_equals_input_order"] = names == input_entry["tensor_names_in_order"]
        check(sorted(names) == sorted(input_entry["tensor_names_in_order"]), rid + ": tensor set")
        data = {}
        for f in files:
            data.update(tensor_bytes(lib, os.path.join(d, f)))
        types = {t[0]: t[1] for o in outs for t in o["tensors"]}
        counts = {}
        for t in types.values():
            counts[t] = counts.get(t, 0) + 1
        run["type_counts"] = dict(sorted(counts.items()))
        if s is None and not keep:
            ref_tensors[ftn] = (types, data)
        else:
            rt, rd = ref_tensors[ftn]
            run["tensors_identical_to_single_file_%s" % ftn] = (types == rt and data == rd)
            check(types == rt and data == rd, rid + ": tensors differ from the single-file run")
        # load through the first file, logits vs the single-file reference
        model, rec = gs.try_load(lib, [os.path.join(d, files[0])], dirs)
        check(model, "%s: load failed: %s" % (rid, rec.get("log")))
        lg, _ = gs.eval_model(lib, model, prompts)
        lib.llama.llama_model_free(model)
        load = {"call": rec["call"], "log_split_lines": [ln for ln in rec.get("log_lines", [])
                                                          if SPLIT_INFO_RE.search(ln)]}
        if s is None and not keep:
            ref_logits[ftn] = lg
        else:
            load["logits_vs_single_file"] = {p: gs.compare(lg[p], ref_logits[ftn][p])
                                             for p, _ in prompts}
            check(all(v["bit_identical"] for v in load["logits_vs_single_file"].values()),
                  rid + ": logits differ")
        run["load_first_file"] = load
        by_id = {r["id"]: r for r in runs}
        if rid.endswith("-gguf_name"):  # same bytes as the run with the plain prefix
            same = by_id[rid[:-len("-gguf_name")]]
            run["sha256_equal_to_run"] = {"run": same["id"], "equal": [o["sha256"] for o in outs]
                                          == [o["sha256"] for o in same["files"]]}
            check(run["sha256_equal_to_run"]["equal"], rid + ": bytes differ")
        run["files"] = outs
        runs.append(run)
        print("%-26s rc=%d files=%s tensors=%s bytes=%s warn/err=%d" % (
            rid, rc, files, run["tensors_per_file"], run["file_bytes"], len(we)), flush=True)

    manifest = {
        "description": __doc__.split("\n")[0],
        "llama_cpp_source": SOURCES,
        "library": {"package": "@node-llama-cpp/linux-x64 3.22.1", "build": build,
                    "llama_version()": lib.llama.llama_version().decode(),
                    "ggml_version()": lib.base.ggml_version().decode(),
                    "ggml_commit()": lib.base.ggml_commit().decode(),
                    "cpu_variant_loaded": backend["cpu_variant_loaded"]},
        "quantize_params": {
            "nthread": qp.N_THREADS, "other": "llama_model_quantize_default_params()",
            "sizeof": len(raw_defaults), "keep_split_byte_offset": KEEP_SPLIT_OFFSET,
            "default_bytes_hex": raw_defaults.hex(),
            "default_bytes_note": "bytes 22..23 are padding (garbage in the returned struct), "
                                  "shown as 00",
            "layout_evidence": "objdump of llama_model_quantize_default_params: dword 0x100 at "
                               "0x10 (allow_requantize, quantize_output_tensor = 1, only_copy, pure), "
                               "word 0 at 0x14 (keep_split, dry_run), 8 GiB at 0x38 (max_buf_size); "
                               "runs with byte 20 = 1 write n_split files (byte 21, dry_run, would "
                               "write none)"},
        "input": input_entry,
        "split_inputs": split_sets,
        "keys": {"part 0": "input KVs of the first input part in input order minus general.file_type "
                           "and split.*, then general.quantization_version (u32 2), general.file_type "
                           "(u32 ftype), then (n_split > 1) split.no (u16), split.count (u16), "
                           "split.tensors.count (i32)",
                 "other parts": "split.no, split.count, split.tensors.count only",
                 "vs llama-gguf-split": "gguf-split writes split.no, split.tensors.count, split.count"},
        "runs_note": "files[].tensors rows: [name, ggml type, offset in the data section, nbytes]; "
                     "files[].kv: key, gguf type, value (scalars) or array_type + n; header_bytes = "
                     "file bytes - padded tensor data; log_warn_error: the quantize call's WARN / "
                     "ERROR lines; log_split_info: its INFO lines about splits (the loader reading "
                     "the INPUT); load_first_file: loading the output; paths in logs as "
                     "<dir>/run_<id>/..., <dir>/in_<set>/...",
        "runs": runs,
    }
    path = os.path.join(args.out, "manifest.json")
    with open(path, "w") as f:
        f.write(dump(manifest))
        f.write("\n")
    if not args.keep:
        shutil.rmtree(work)
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


def dump(obj, ind=0):
    """JSON; lists of scalars and KV entries on one line (small, diffable)."""
    pad = " " * ind
    if isinstance(obj, dict) and ("key" in obj or not any(isinstance(v, (dict, list))
                                                          for v in obj.values())) and obj:
        return json.dumps(obj, separators=(", ", ": "))
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [pad + " " + json.dumps(k) + ": " + dump(v, ind + 1) for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        items = [pad + " " + dump(v, ind + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, separators=(", ", ": "))


if __name__ == "__main__":
    main()
