#!/usr/bin/env python3
"""Which tensor types llama-quantize picks, and which bytes it writes, with and without an imatrix.

Reference data for `vkrwkv quantize`'s per-tensor plan on presets whose choices depend on an
importance matrix, made by llama.cpp itself (not by vkrwkv code), on a 16-layer model so that
llama's "first n_layer/8 ffn_down layers" rules pick 2 layers.

What it does:

* Source model: `vkrwkv make-model --arch qrwkv6 --layers 16 --width 256 --ffn 512 --head-size 64
  --vocab 512 --seed 7 --dtype f16` (deterministic; its sha256 is recorded and, with --model-sha256,
  checked). The C++ side regenerates it from the same RandomModelSpec.
* Runs llama_model_quantize (nthread 2, defaults otherwise) from that f16 model:
    without imatrix: Q2_K_S (expected to fail: Q2_K_S needs an imatrix), IQ4_XS, Q4_0, Q4_K_S,
                     and Q2_K, IQ4_NL, Q5_0 (contrast only: tensors not listed);
    with the synthetic imatrix: Q2_K_S, IQ4_XS, IQ4_NL, Q4_0, Q5_0, Q4_K_S, Q2_K;
    the codebook i-quant mixtures: IQ2_XXS, IQ2_S, IQ3_XXS, IQ3_XS, IQ3_S, IQ3_M, IQ1_S, IQ1_M
    without imatrix (refused where llama-quantize refuses: IQ2_*, IQ3_XXS, IQ1_*), and IQ2_XXS,
    IQ2_XS, IQ2_S, IQ2_M, IQ3_XXS, IQ3_XS, IQ3_S, IQ3_M, IQ1_S, IQ1_M with it (see RUNS).
  Per successful run it records general.file_type read back, the output file's size / sha256, per
  quantized tensor {name, type, ne, sha256 of the tensor's data bytes} (in output-file order), the
  type counts over all tensors, the llama log lines about imatrix / fallback, and the run's time.
  Tensors the quantizer copies (norms, RWKV LoRA / lerp / decay tensors: F32 / F16) are listed once
  in the manifest's model section; the script checks that every run copies them byte for byte.
* The synthetic imatrix covers exactly the tensors llama quantizes (the tensors whose type a
  no-imatrix run changes, checked to be the same set in every run), with
  value(t, j) = 0.25 + ((j * 7 + t * 3) % 11) / 4.0 for column j (0 <= j < ne[0]) of the t-th such
  tensor in source-GGUF order, keyed by the tensor's full GGUF name ("blk.0.ffn_down.weight").
* Two probes show how the lookup names tensors: the same imatrix keyed without the ".weight"
  suffix (Q2_K_S: fails as with no imatrix), and the full imatrix minus blk.0.ffn_down.weight (Q4_0:
  the tensor is quantized without weights, its type still follows the has-imatrix rule).

How the imatrix is passed (checked on this build, not assumed): in this library (llama.cpp
"0.5.0-dev", node-llama-cpp 3.22.1) llama_model_quantize_params.imatrix (offset 24) is
`const struct llama_model_imatrix_data *`, an array of {const char * name; const float * data;
size_t size /* floats */} ended by name == NULL; llama_model_quantize_impl copies it into its own
std::unordered_map<std::string, std::vector<float>> (disassembly: loop stride 0x18, stop when
(*p).name == 0, memcpy of size * 4 bytes, then "have importance matrix data with %d entries").
The older API (llama-quantize handing over a pointer to its unordered_map) is gone, so no C++
object has to be built: ctypes passes the array. The script checks the log's entry count and that
every imatrix run really used the weights (same-type tensors get other bytes than without one).

Rerun (python3 only; library as in llama_quant_refs.py):

    python3 model/tools/llama_quant_plan_refs.py /tmp/npmtry/x/package/bins/linux-x64 \\
        tests/data/llama_quant_plan --vkrwkv build/bin/vkrwkv
"""

import argparse
import ctypes
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time

from llama_quant_refs import FTYPE_NAMES, Lib, check, file_digest, read_gguf_info

MODEL_ARGS = ["make-model", "--arch", "qrwkv6", "--layers", "16", "--width", "256", "--ffn", "512",
              "--head-size", "64", "--vocab", "512", "--seed", "7", "--dtype", "f16"]
MODEL_SPEC = {"arch": "QRwkv6", "n_layer": 16, "C": 256, "F": 512, "S": 64, "V": 512, "seed": 7,
              "dtype": "f16",
              "other_fields": "RandomModelSpec defaults (make-model printed: H=4, Hkv=1 (H/4), "
                              "Dm=32, Dd=64, no r/k/v bias, tokenizer keys written)"}
N_THREADS = 2
IMATRIX_FORMULA = "value(t, j) = 0.25 + ((j * 7 + t * 3) % 11) / 4.0"

FTYPE_IDS = {"Q4_0": 2, "Q5_0": 8, "Q2_K": 10, "Q4_K_S": 14, "Q2_K_S": 21, "IQ4_NL": 25,
             "IQ4_XS": 30, "IQ2_XXS": 19, "IQ2_XS": 20, "IQ3_XS": 22, "IQ3_XXS": 23, "IQ3_S": 26,
             "IQ3_M": 27, "IQ2_S": 28, "IQ2_M": 29, "IQ1_S": 24, "IQ1_M": 31}
FTYPE_NAME = dict(FTYPE_NAMES)
FTYPE_NAME[21] = "MOSTLY_Q2_K_S"
FTYPE_NAME.update({19: "MOSTLY_IQ2_XXS", 20: "MOSTLY_IQ2_XS", 22: "MOSTLY_IQ3_XS", 23: "MOSTLY_IQ3_XXS",
                   26: "MOSTLY_IQ3_S", 27: "MOSTLY_IQ3_M", 28: "MOSTLY_IQ2_S", 29: "MOSTLY_IQ2_M",
                   24: "MOSTLY_IQ1_S", 31: "MOSTLY_IQ1_M"})

# (preset, with imatrix, listed in the manifest's runs); no-imatrix runs first: they define the
# set of quantized tensors the imatrix is made for.
RUNS = [("Q2_K_S", False, True), ("IQ4_XS", False, True), ("Q4_0", False, True),
        ("Q4_K_S", False, True), ("Q2_K", False, False), ("IQ4_NL", False, False),
        ("Q5_0", False, False),
        ("Q2_K_S", True, True), ("IQ4_XS", True, True), ("IQ4_NL", True, True),
        ("Q4_0", True, True), ("Q5_0", True, True), ("Q4_K_S", True, True), ("Q2_K", True, True),
        # the codebook i-quant mixtures: without an imatrix (refused where llama-quantize
        # refuses; types only otherwise) and with one (types and bytes)
        ("IQ2_XXS", False, True), ("IQ2_S", False, True), ("IQ3_XXS", False, True),
        ("IQ3_XS", False, True), ("IQ3_S", False, True), ("IQ3_M", False, True),
        ("IQ2_XXS", True, True), ("IQ2_XS", True, True), ("IQ2_S", True, True),
        ("IQ2_M", True, True), ("IQ3_XXS", True, True), ("IQ3_XS", True, True),
        ("IQ3_S", True, True), ("IQ3_M", True, True),
        ("IQ1_S", False, True), ("IQ1_M", False, True), ("IQ1_S", True, True),
        ("IQ1_M", True, True)]

NOTE_RE = re.compile(r"imatrix|importance|fallback|falling back|not divisible|did not find|"
                     r"requires|offending|target type|bailing", re.I)


class ImatrixData(ctypes.Structure):
    """struct llama_model_imatrix_data (include/llama.h of this build)."""
    _fields_ = [("name", ctypes.c_char_p),
                ("data", ctypes.POINTER(ctypes.c_float)),
                ("size", ctypes.c_size_t)]


class GgufInitParams(ctypes.Structure):
    _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.c_void_p)]


class PlanLib(Lib):
    """Lib that also keeps each log message's level (4 = GGML_LOG_LEVEL_ERROR, 5 = CONT)."""

    def __init__(self, bins):
        self.leveled = []
        super().__init__(bins)
        b = self.base
        b.gguf_init_from_file.restype = ctypes.c_void_p
        b.gguf_init_from_file.argtypes = [ctypes.c_char_p, GgufInitParams]
        b.gguf_free.argtypes = [ctypes.c_void_p]
        b.gguf_get_n_tensors.restype = ctypes.c_int64
        b.gguf_get_n_tensors.argtypes = [ctypes.c_void_p]
        b.gguf_get_data_offset.restype = ctypes.c_size_t
        b.gguf_get_data_offset.argtypes = [ctypes.c_void_p]
        b.gguf_get_tensor_name.restype = ctypes.c_char_p
        b.gguf_get_tensor_name.argtypes = [ctypes.c_void_p, ctypes.c_int64]
        b.gguf_get_tensor_offset.restype = ctypes.c_size_t
        b.gguf_get_tensor_offset.argtypes = [ctypes.c_void_p, ctypes.c_int64]
        b.gguf_get_tensor_size.restype = ctypes.c_size_t
        b.gguf_get_tensor_size.argtypes = [ctypes.c_void_p, ctypes.c_int64]
        b.gguf_get_tensor_type.restype = ctypes.c_int
        b.gguf_get_tensor_type.argtypes = [ctypes.c_void_p, ctypes.c_int64]

    def _on_log(self, level, text, _ud):
        self.leveled.append((level, text.decode("utf-8", "replace") if text else ""))
        Lib._on_log(self, level, text, _ud)

    def take_leveled(self):
        out, self.leveled = self.leveled, []
        self.take_log()
        return out

    def tensor_data(self, path):
        """[(name, type name, ne, sha256 of the data bytes)] in file order, read via ggml's gguf."""
        _, kv, infos = read_gguf_info(path)
        ctx = self.base.gguf_init_from_file(path.encode(), GgufInitParams(True, None))
        check(ctx, "gguf_init_from_file " + path)
        b = self.base
        with open(path, "rb") as f:
            data = f.read()
        base = b.gguf_get_data_offset(ctx)
        n = b.gguf_get_n_tensors(ctx)
        check(n == len(infos), "tensor count of " + path)
        out = []
        for i in range(n):
            name = b.gguf_get_tensor_name(ctx, i).decode()
            off = base + b.gguf_get_tensor_offset(ctx, i)
            size = b.gguf_get_tensor_size(ctx, i)
            check(name == infos[i]["name"] and off + size <= len(data), "tensor %d of %s" % (i, path))
            tname = self.base.ggml_type_name(b.gguf_get_tensor_type(ctx, i)).decode().upper()
            check(tname == infos[i]["type"], "type of %s in %s" % (name, path))
            out.append((name, tname, infos[i]["shape"],
                        hashlib.sha256(data[off:off + size]).hexdigest()))
        b.gguf_free(ctx)
        return kv, out


def make_imatrix(names_shapes):
    """names_shapes: [(name, ne0)] in source-GGUF order -> {name: [floats]}"""
    out = {}
    for t, (name, ne0) in enumerate(names_shapes):
        out[name] = [0.25 + ((j * 7 + t * 3) % 11) / 4.0 for j in range(ne0)]
    return out


def quantize(lib, src, dst, ftype, imatrix):
    qp = lib.llama.llama_model_quantize_default_params()
    qp.nthread = N_THREADS
    qp.ftype = ftype
    keep = []
    if imatrix is not None:
        arr = (ImatrixData * (len(imatrix) + 1))()
        for i, (name, vals) in enumerate(imatrix.items()):
            fa = (ctypes.c_float * len(vals))(*vals)
            nb = name.encode()
            keep += [fa, nb]
            arr[i].name = nb
            arr[i].data = fa
            arr[i].size = len(vals)
        arr[len(imatrix)].name = None
        keep.append(arr)
        qp.imatrix = ctypes.cast(arr, ctypes.c_void_p)
    lib.take_leveled()
    t0 = time.time()
    rc = lib.llama.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(qp))
    secs = time.time() - t0
    return rc, secs, lib.take_leveled()


def log_lines(leveled, errors_only=False):
    """Joins the messages (continuations included) and returns the non-empty lines."""
    text = "".join(s for lv, s in leveled if not errors_only or lv in (4, 5))
    return [ln.rstrip() for ln in text.splitlines() if ln.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bins", help="dir with libllama.v0.5.0.so, libggml*.so, libggml-cpu-*.so")
    ap.add_argument("out", help="output dir (manifest.json is written there)")
    ap.add_argument("--vkrwkv", default="build/bin/vkrwkv", help="vkrwkv binary (make-model)")
    ap.add_argument("--model-sha256", default=None, help="abort unless the model has this sha256")
    ap.add_argument("--keep", default=None, help="keep the quantized .gguf files in this dir")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t_all = time.time()

    lib = PlanLib(args.bins)
    backend = lib.load_cpu_backend()
    build = {}
    try:
        with open(os.path.join(args.bins, "_nlcBuildMetadata.json")) as f:
            build = json.load(f)
    except OSError:
        pass
    info = {"llama_version()": lib.llama.llama_version().decode(),
            "ggml_version()": lib.base.ggml_version().decode(),
            "ggml_commit()": lib.base.ggml_commit().decode(),
            "node_llama_cpp_build_metadata": build,
            "cpu_variant_loaded": backend["cpu_variant_loaded"],
            "note": "the library llama_quant_refs.py drives (see tests/data/llama_quant); "
                    "llama_model_quantize_params.imatrix is a NULL-name-terminated array of "
                    "llama_model_imatrix_data {name, data, size}"}

    tmp = tempfile.mkdtemp(prefix="llama_quant_plan_")
    work = args.keep or tmp
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, "plan16-f16.gguf")
    cmd = [args.vkrwkv] + MODEL_ARGS + ["-o", src]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    model_sha = file_digest(src)
    if args.model_sha256:
        check(model_sha == args.model_sha256, "model sha256 %s != %s" % (model_sha, args.model_sha256))
    _, src_tensors = lib.tensor_data(src)
    src_by_name = {t[0]: t for t in src_tensors}
    print("model %s: %d tensors, sha256 %s" % (src, len(src_tensors), model_sha), flush=True)

    runs = []
    quantized_set = None   # names whose type a run changes
    imatrix = None
    no_imatrix_sha = {}    # preset -> {name: (type, sha)}
    for preset, use_im, listed in RUNS:
        ft = FTYPE_IDS[preset]
        if use_im and imatrix is None:
            order = [(t[0], t[2][0]) for t in src_tensors if t[0] in quantized_set]
            imatrix = make_imatrix(order)
        dst = os.path.join(work, "plan16-%s%s.gguf" % (preset, "-imatrix" if use_im else ""))
        rc, secs, leveled = quantize(lib, src, dst, ft, imatrix if use_im else None)
        lines = log_lines(leveled)
        notes = [ln.strip() for ln in lines if NOTE_RE.search(ln)]
        run = {"preset": preset, "ftype": ft, "imatrix": use_im, "ok": rc == 0,
               "seconds": round(secs, 3)}
        print("%-7s imatrix=%d rc=%d %.2f s" % (preset, use_im, rc, secs), flush=True)
        if rc != 0:
            run["error_log"] = log_lines(leveled, errors_only=True)
            run["log_notes"] = notes
            runs.append(run)
            continue
        kv, tensors = lib.tensor_data(dst)
        changed = {t[0] for t in tensors if t[1] != src_by_name[t[0]][1]}
        if quantized_set is None:
            quantized_set = changed
        check(changed == quantized_set, "%s: other set of quantized tensors" % preset)
        check({t[0] for t in tensors} == set(src_by_name), "%s: tensor names" % preset)
        for t in tensors:
            if t[0] not in quantized_set:
                check(t[1:] == src_by_name[t[0]][1:], "%s: copied tensor %s differs" % (preset, t[0]))
        if use_im:
            m = [ln for ln in lines if "have importance matrix data with" in ln]
            check(len(m) == 1 and ("with %d entries" % len(imatrix)) in m[0],
                  "%s: imatrix entry count in the log: %r" % (preset, m))
            check(not any("did not find weights" in ln for ln in lines), preset + ": missing weights")
        by_type = {t[0]: t[1] for t in tensors}
        ffn_down_names = ["blk.%d.ffn_down.weight" % i for i in range(MODEL_SPEC["n_layer"])]
        counts = {}
        for t in tensors:
            counts[t[1]] = counts.get(t[1], 0) + 1
        run.update({"file_type": kv.get("general.file_type"),
                    "file_type_name": FTYPE_NAME.get(kv.get("general.file_type")),
                    "output_bytes": os.path.getsize(dst), "output_sha256": file_digest(dst),
                    "log_notes": notes, "type_counts": counts,
                    "ffn_down_types": [by_type[n] for n in ffn_down_names],
                    "copied_tensors_identical": len(tensors) - len(quantized_set)})
        check(run["file_type"] == ft, "%s: general.file_type %r" % (preset, run["file_type"]))
        by_name = {t[0]: (t[1], t[3]) for t in tensors}
        if not use_im:
            no_imatrix_sha[preset] = by_name
        else:
            ref = no_imatrix_sha.get(preset)
            if ref is not None:
                same_type = [n for n in quantized_set if ref[n][0] == by_name[n][0]]
                diff = [n for n in same_type if ref[n][1] != by_name[n][1]]
                run["vs_no_imatrix"] = {"same_type": len(same_type), "same_type_other_bytes": len(diff),
                                        "other_type": sorted(n for n in quantized_set
                                                             if ref[n][0] != by_name[n][0])}
                check(len(diff) == len(same_type), "%s: imatrix left some bytes unchanged" % preset)
        if listed:
            run["tensors"] = [{"name": t[0], "type": t[1], "ne": t[2], "sha256": t[3]}
                              for t in tensors if t[0] in quantized_set]
            runs.append(run)
        else:
            run["note"] = "contrast run (no imatrix): tensors not listed, only counts / ffn_down types"
            runs.append(run)
        if not args.keep:
            os.remove(dst)

    # probes of the imatrix lookup's naming
    probes = []
    stripped = {n[:-len(".weight")]: v for n, v in imatrix.items()}
    dst = os.path.join(work, "probe.gguf")
    rc, secs, leveled = quantize(lib, src, dst, FTYPE_IDS["Q2_K_S"], stripped)
    probes.append({"what": "Q2_K_S, imatrix keyed by the names without '.weight'", "ok": rc == 0,
                   "error_log": log_lines(leveled, errors_only=True),
                   "log_notes": [ln.strip() for ln in log_lines(leveled) if NOTE_RE.search(ln)][:6]})
    partial = {n: v for n, v in imatrix.items() if n != "blk.0.ffn_down.weight"}
    rc, secs, leveled = quantize(lib, src, dst, FTYPE_IDS["Q4_0"], partial)
    pr = {"what": "Q4_0, imatrix without blk.0.ffn_down.weight", "ok": rc == 0,
          "log_notes": [ln.strip() for ln in log_lines(leveled) if NOTE_RE.search(ln)]}
    if rc == 0:
        _, tensors = lib.tensor_data(dst)
        full = next(r for r in runs if r["preset"] == "Q4_0" and r["imatrix"])
        full_sha = {t["name"]: (t["type"], t["sha256"]) for t in full["tensors"]}
        t0 = next(t for t in tensors if t[0] == "blk.0.ffn_down.weight")
        pr["blk.0.ffn_down.weight"] = {"type": t0[1], "sha256": t0[3],
                                       "same_bytes_as_full_imatrix_run": full_sha[t0[0]][1] == t0[3]}
        pr["other_tensors_same_as_full_imatrix_run"] = all(
            full_sha[t[0]] == (t[1], t[3]) for t in tensors
            if t[0] in quantized_set and t[0] != "blk.0.ffn_down.weight")
        os.remove(dst)
    probes.append(pr)

    copied = [t[0] for t in src_tensors if t[0] not in quantized_set]
    check(all(src_by_name[n][1] == "F32" for n in copied), "copied tensors are all F32")
    manifest = {
        "description": __doc__.split("\n")[0],
        "library": info,
        "model": {"command": "vkrwkv " + " ".join(MODEL_ARGS) + " -o plan16-f16.gguf",
                  "spec": MODEL_SPEC, "sha256": model_sha, "bytes": os.path.getsize(src),
                  "n_tensors": len(src_tensors), "n_quantized": len(quantized_set),
                  "copied_tensors": copied,
                  "copied_tensors_note": "names of the tensors llama_model_quantize copies unchanged "
                                         "(all F32 here; source order)"},
        "imatrix": {"formula": IMATRIX_FORMULA,
                    "t": "index of the tensor among the quantized tensors in source-GGUF order "
                         "(= order of 'names'); j = column, 0 <= j < ne[0] (entry size ne[0])",
                    "n_entries": len(imatrix), "names": list(imatrix),
                    "lookup": "exact full GGUF tensor name (blk.N.<tensor>.weight); the library "
                              "renames only when layers are pruned (prune_layers)",
                    "probes": probes},
        "quantize_params": {"nthread": N_THREADS, "other": "llama_model_quantize_default_params()"},
        "runs_note": "runs[].tensors: the quantized tensors in output-file order (llama writes "
                     "tensors sorted by layer, then name); every other tensor is copied from "
                     "the source unchanged (model.copied_tensors; checked per run). sha256 is of "
                     "the tensor's data bytes (no padding). type_counts cover all tensors; "
                     "ffn_down_types lists blk.0..15.ffn_down.weight's types.",
        "runs": runs,
        "total_seconds": round(time.time() - t_all, 1),
    }
    path = os.path.join(args.out, "manifest.json")
    with open(path, "w") as f:
        f.write(dump(manifest))
    if not args.keep:
        os.remove(src)
        os.rmdir(tmp)
    print("wrote %s (%d bytes) in %.1f s" % (path, os.path.getsize(path), time.time() - t_all))


def dump(obj, ind=0):
    """JSON with one line per tensor entry (keeps the file small and diffable)."""
    pad = " " * ind
    if isinstance(obj, dict) and "ne" in obj:  # a tensor entry: one compact line
        return json.dumps(obj, separators=(",", ":"))
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [pad + " " + json.dumps(k) + ": " + dump(v, ind + 1) for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        items = [("" if isinstance(v, dict) and "ne" in v else pad + " ") + dump(v, ind + 1)
                 for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, separators=(", ", ": "))


if __name__ == "__main__":
    main()
