// imatrix.cpp: reading and writing llama.cpp's importance-matrix files (GGUF and legacy .dat).
#include "imatrix.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

#include "byte_cursor.hpp"
#include "gguf.hpp"
#include "gguf_writer.hpp"
#include "vkr/error.hpp"

namespace vkr {

namespace {

constexpr std::string_view kSums = ".in_sum2";
constexpr std::string_view kCounts = ".counts";

[[noreturn]] void bad(const std::filesystem::path& path, const std::string& what) {
  throw Error(ErrorCode::BadModelFile, fmt::format("imatrix {}: {}", path.string(), what));
}

void check_values(const std::filesystem::path& path, const std::string& name,
                  std::span<const float> v, std::string_view what) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i]) || v[i] < 0.0f)
      bad(path, fmt::format("{} of '{}' has {} at index {} (sums of squares are finite and >= 0)",
                            what, name, v[i], i));
  }
}

std::vector<float> f32_data(const gguf::File& f, const gguf::TensorInfo& t) {
  if (t.ggml_type() != gguf::GgmlType::F32)
    bad(f.path(), fmt::format("tensor '{}' is {}, expected F32", t.name, gguf::type_name(t.type)));
  const auto bytes = f.tensor_data(t);
  std::vector<float> v(t.n_elements);
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

Imatrix read_gguf(const std::filesystem::path& path) {
  const gguf::File f = gguf::File::open(path);
  if (auto type = f.get_string("general.type"); type && *type != "imatrix")
    bad(path, fmt::format("general.type is '{}', not 'imatrix' (is this a model?)", *type));
  Imatrix m;
  if (auto ds = f.get_string_array("imatrix.datasets")) m.datasets.assign(ds->begin(), ds->end());
  m.chunk_count = static_cast<uint32_t>(f.get_uint("imatrix.chunk_count").value_or(0));
  m.chunk_size = static_cast<uint32_t>(f.get_uint("imatrix.chunk_size").value_or(0));
  for (const gguf::TensorInfo& t : f.tensors()) {
    // Other tensors (".counts", or ".in_sum" of newer tools) are not needed: skipped, as
    // llama-quantize skips them.
    if (!t.name.ends_with(kSums)) continue;
    const std::string name = t.name.substr(0, t.name.size() - kSums.size());
    const gguf::TensorInfo* c = f.tensor(name + std::string(kCounts));
    if (!c) bad(path, fmt::format("'{}' has no '{}{}'", t.name, name, kCounts));
    ImatrixEntry e;
    e.K = t.ne[0];
    const uint64_t n_mat = t.n_elements / std::max<uint64_t>(e.K, 1);
    if (e.K == 0 || c->n_elements != n_mat)
      bad(path, fmt::format("'{}' has {} values for {} matrices of {} columns", name, t.n_elements,
                            c->n_elements, e.K));
    e.sums = f32_data(f, t);
    check_values(path, name, e.sums, "in_sum2");
    const std::vector<float> counts = f32_data(f, *c);
    check_values(path, name, counts, "counts");
    e.counts.assign(counts.begin(), counts.end());
    m.entries.emplace_back(name, std::move(e));
  }
  if (m.entries.empty()) bad(path, "no <name>.in_sum2 tensors: not an importance matrix");
  return m;
}

Imatrix read_dat(const std::filesystem::path& path, const std::vector<char>& data) {
  ByteCursor c({data.data(), data.size()}, [&](size_t at, size_t, size_t, std::string_view what) {
    bad(path, fmt::format("truncated at byte {} reading {}", at, what));
  });
  auto str = [&](int32_t n, std::string_view what) {
    if (n < 0 || n > (1 << 20)) bad(path, fmt::format("bad {} length {}", what, n));
    return std::string(c.take(static_cast<size_t>(n), what));
  };
  const auto n = c.read<int32_t>("the entry count");
  if (n <= 0) bad(path, fmt::format("entry count {} (not an imatrix file?)", n));
  Imatrix m;
  for (int32_t i = 0; i < n; ++i) {
    std::string name = str(c.read<int32_t>("a name length"), "a name");
    const auto ncall = c.read<int32_t>("ncall");
    const auto nval = c.read<int32_t>("a value count");
    if (nval <= 0 || ncall < 0)
      bad(path, fmt::format("entry '{}': {} values, ncall {}", name, nval, ncall));
    const std::string_view values =
        c.take(size_t(nval) * 4, fmt::format("the values of '{}'", name));
    ImatrixEntry e;
    e.K = static_cast<uint64_t>(nval);
    e.sums.resize(e.K);
    std::memcpy(e.sums.data(), values.data(), e.K * 4);
    check_values(path, name, e.sums, "values");
    // The file holds mean squares x ncall; sums / counts must give the mean back.
    e.counts = {static_cast<double>(ncall)};
    m.entries.emplace_back(std::move(name), std::move(e));
  }
  if (c.left() > 0) {  // optional trailer: chunk count and the dataset's name
    m.chunk_count = static_cast<uint32_t>(std::max(0, c.read<int32_t>("the chunk count")));
    if (c.left() > 0) m.datasets.push_back(str(c.read<int32_t>("the dataset length"), "dataset"));
  }
  return m;
}

}  // namespace

const ImatrixEntry* Imatrix::find(std::string_view name) const {
  for (const auto& [n, e] : entries) {
    if (n == name) return &e;
  }
  return nullptr;
}

void Imatrix::merge(const Imatrix& other) {
  // Legacy statistics (chunk_size 0) count chunks: scale them to rows where this one has rows.
  double scale = 1.0;
  if (other.chunk_size == 0 && chunk_size > 0) scale = chunk_size;
  if (chunk_size == 0 && other.chunk_size > 0 && !entries.empty()) {
    for (auto& [name, e] : entries) {
      for (float& v : e.sums) v = static_cast<float>(v * double(other.chunk_size));
      for (double& c : e.counts) c *= other.chunk_size;
    }
  }
  if (chunk_size == 0) chunk_size = other.chunk_size;
  for (const auto& [name, o] : other.entries) {
    auto it = std::ranges::find_if(entries, [&](const auto& e) { return e.first == name; });
    if (it == entries.end()) {
      ImatrixEntry e = o;
      for (float& v : e.sums) v = static_cast<float>(v * scale);
      for (double& c : e.counts) c *= scale;
      entries.emplace_back(name, std::move(e));
      continue;
    }
    ImatrixEntry& e = it->second;
    // A legacy entry holds stacked matrices as one run with one count: it matches any layout of
    // the same number of values (the count then applies to each matrix).
    require(e.sums.size() == o.sums.size() && (e.counts.size() == o.counts.size() ||
                                               e.counts.size() == 1 || o.counts.size() == 1),
            ErrorCode::BadModelFile,
            "imatrix: cannot merge '{}': {} x {} values here, {} x {} in the other file", name,
            e.counts.size(), e.K, o.counts.size(), o.K);
    if (e.counts.size() < o.counts.size()) {  // take the other's matrix layout
      e.K = o.K;
      e.counts.assign(o.counts.size(), e.counts.front());
    }
    for (size_t j = 0; j < e.sums.size(); ++j)
      e.sums[j] = static_cast<float>(e.sums[j] + o.sums[j] * scale);
    for (size_t m = 0; m < e.counts.size(); ++m)
      e.counts[m] += o.counts[o.counts.size() == 1 ? 0 : m] * scale;
  }
  chunk_count += other.chunk_count;
  datasets.insert(datasets.end(), other.datasets.begin(), other.datasets.end());
}

std::optional<std::vector<float>> Imatrix::weights(std::string_view name, uint64_t K) const {
  const ImatrixEntry* e = find(name);
  if (!e) return std::nullopt;
  // A legacy file stores stacked matrices as one run of values with one count: K comes from the
  // tensor then.
  const uint64_t n_mat = K ? e->sums.size() / K : 0;
  require(K > 0 && n_mat > 0 && n_mat * K == e->sums.size() &&
              (e->counts.size() == 1 || e->counts.size() == n_mat),
          ErrorCode::BadModelFile, "imatrix entry '{}' has {} columns, the tensor's rows have {}",
          name, e->counts.size() == 1 ? e->sums.size() : e->K, K);
  std::vector<float> w(e->sums.size());
  for (uint64_t m = 0; m < n_mat; ++m) {
    const double count = e->counts[e->counts.size() == 1 ? 0 : m];
    // A matrix no activation reached (an expert never routed to) gets uniform weights, as
    // llama-quantize gives it.
    for (uint64_t j = 0; j < K; ++j)
      w[m * K + j] = count > 0 ? static_cast<float>(e->sums[m * K + j] / count) : 1.0f;
  }
  return w;
}

Imatrix read_imatrix(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  require(bool(in), ErrorCode::Io, "imatrix {}: cannot open", path.string());
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() >= 4 && std::memcmp(data.data(), "GGUF", 4) == 0) return read_gguf(path);
  return read_dat(path, data);
}

void write_imatrix(const Imatrix& m, const std::filesystem::path& path, ImatrixFormat format) {
  std::vector<const std::pair<std::string, ImatrixEntry>*> sorted;
  for (const auto& e : m.entries) sorted.push_back(&e);
  std::ranges::sort(sorted, {}, [](const auto* e) { return e->first; });
  if (format == ImatrixFormat::Gguf) {
    gguf::GgufWriter w;
    w.add_kv("general.type", gguf::KvValue::str("imatrix"));
    w.add_kv("imatrix.datasets", gguf::KvValue::string_array(m.datasets));
    w.add_kv("imatrix.chunk_count", gguf::KvValue::u32(m.chunk_count));
    w.add_kv("imatrix.chunk_size", gguf::KvValue::u32(m.chunk_size));
    auto bytes = [](std::span<const float> v) {
      std::vector<std::byte> b(v.size_bytes());
      std::memcpy(b.data(), v.data(), b.size());
      return b;
    };
    for (const auto* p : sorted) {
      const ImatrixEntry& e = p->second;
      const std::vector<float> counts(e.counts.begin(), e.counts.end());
      // ggml writes a tensor's dimensions up to the last one above 1: [K] and [1] for one matrix.
      const bool one = e.n_mat() == 1;
      w.add_tensor(p->first + std::string(kSums),
                   one ? std::vector<uint64_t>{e.K} : std::vector<uint64_t>{e.K, e.n_mat()},
                   gguf::GgmlType::F32, bytes(e.sums));
      w.add_tensor(p->first + std::string(kCounts),
                   one ? std::vector<uint64_t>{1} : std::vector<uint64_t>{1, e.n_mat()},
                   gguf::GgmlType::F32, bytes(counts));
    }
    w.write(path);
    return;
  }
  // Legacy, as llama-imatrix writes it: entries that saw nothing are left out; ncall = the
  // chunks the most-used matrix saw (rows / chunk size, rounded up); values = mean square x
  // ncall, in f32 (readers divide by ncall again).
  std::erase_if(sorted, [](const auto* p) {
    return std::ranges::all_of(p->second.counts, [](double c) { return c <= 0; });
  });
  std::vector<char> out;
  auto put_i32 = [&](int32_t v) { append_bytes(out, v); };
  put_i32(static_cast<int32_t>(sorted.size()));
  for (const auto* p : sorted) {
    const ImatrixEntry& e = p->second;
    const double max_count = *std::ranges::max_element(e.counts);
    const double ncall_d = m.chunk_size ? std::ceil(max_count / m.chunk_size) : max_count;
    const auto ncall = static_cast<int32_t>(std::max(1.0, ncall_d));
    put_i32(static_cast<int32_t>(p->first.size()));
    out.insert(out.end(), p->first.begin(), p->first.end());
    put_i32(ncall);
    put_i32(static_cast<int32_t>(e.sums.size()));
    for (uint64_t mat = 0; mat < e.n_mat(); ++mat) {
      for (uint64_t j = 0; j < e.K; ++j) {
        const float c = static_cast<float>(e.counts[mat]);
        const float v = c > 0 ? e.sums[mat * e.K + j] / c * static_cast<float>(ncall)
                              : static_cast<float>(ncall);
        append_bytes(out, v);
      }
    }
  }
  put_i32(static_cast<int32_t>(m.chunk_count));
  const std::string ds = m.datasets.empty() ? std::string() : m.datasets.front();
  put_i32(static_cast<int32_t>(ds.size()));
  out.insert(out.end(), ds.begin(), ds.end());
  const std::filesystem::path part = path.string() + ".part";
  {
    std::ofstream f(part, std::ios::binary | std::ios::trunc);
    require(bool(f), ErrorCode::Io, "imatrix {}: cannot create", part.string());
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
    require(bool(f), ErrorCode::Io, "imatrix {}: write failed", part.string());
  }
  std::error_code ec;
  std::filesystem::rename(part, path, ec);
  require(!ec, ErrorCode::Io, "imatrix {}: cannot rename from {}: {}", path.string(), part.string(),
          ec.message());
}

}  // namespace vkr
