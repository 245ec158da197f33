# gguf_out.py: a minimal GGUF v3 writer (scalars, strings, arrays, F32/F16 tensors) — Debian ships
# no gguf-py, and the format is small enough to write directly (spec: ggml's docs/gguf.md).
import struct

import numpy as np

ALIGNMENT = 32
T_U32, T_I32, T_F32, T_BOOL, T_STRING, T_ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32, GGML_F16 = 0, 1


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


class GgufWriter:
    def __init__(self):
        self.kv = []        # (key, encoded type + value)
        self.tensors = []   # (name, numpy array in row-major math order, ggml type)

    def add_u32(self, key, v):
        self.kv.append((key, struct.pack("<II", T_U32, v)))

    def add_f32(self, key, v):
        self.kv.append((key, struct.pack("<If", T_F32, v)))

    def add_bool(self, key, v):
        self.kv.append((key, struct.pack("<IB", T_BOOL, 1 if v else 0)))

    def add_string(self, key, v):
        self.kv.append((key, struct.pack("<I", T_STRING) + _str(v)))

    def add_strings(self, key, values):
        body = b"".join(_str(v) for v in values)
        self.kv.append((key, struct.pack("<IIQ", T_ARRAY, T_STRING, len(values)) + body))

    def add_i32s(self, key, values):
        body = np.asarray(values, dtype="<i4").tobytes()
        self.kv.append((key, struct.pack("<IIQ", T_ARRAY, T_I32, len(values)) + body))

    def add_tensor(self, name, array, f16=False):
        """`array` in math (row-major) order; GGUF ne is its shape reversed (ne0 fastest)."""
        a = np.ascontiguousarray(array, dtype=np.float16 if f16 else np.float32)
        self.tensors.append((name, a, GGML_F16 if f16 else GGML_F32))

    def write(self, path):
        head = b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        head += b"".join(_str(k) + v for k, v in self.kv)
        offset, infos = 0, []
        for name, a, ggml_type in self.tensors:
            ne = list(reversed(a.shape))
            infos.append(_str(name) + struct.pack("<I", len(ne)) +
                         struct.pack(f"<{len(ne)}Q", *ne) + struct.pack("<IQ", ggml_type, offset))
            offset += -(-a.nbytes // ALIGNMENT) * ALIGNMENT
        head += b"".join(infos)
        with open(path, "wb") as f:
            f.write(head + b"\0" * ((-len(head)) % ALIGNMENT))
            for _, a, _ in self.tensors:
                data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
                f.write(data + b"\0" * ((-len(data)) % ALIGNMENT))
