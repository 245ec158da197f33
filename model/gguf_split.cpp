// gguf_split.cpp: a split model's parts opened as one gguf::File (gguf.hpp). Facts (llama.cpp's
// gguf-split and model loader; model/tools/llama_gguf_split_refs.py): every part holds split.no
// (u16, 0-based), split.count (u16) and split.tensors.count (i32, the model's tensor count); the
// first part holds the model's metadata; the parts are named PREFIX-%05d-of-%05d.gguf (1-based).
#include <fmt/format.h>

#include <regex>

#include "gguf.hpp"
#include "vkr/error.hpp"

namespace vkr::gguf {

namespace {

// NAME-00001-of-00003.gguf -> {NAME, 1, 3}; nullopt for names without the pattern.
struct SplitName {
  std::string prefix;
  uint64_t no = 0, count = 0;
};

std::optional<SplitName> parse_split_name(const std::filesystem::path& path) {
  static const std::regex pattern(R"(^(.*)-([0-9]{5})-of-([0-9]{5})\.gguf$)");
  const std::string name = path.filename().string();
  std::smatch m;
  if (!std::regex_match(name, m, pattern)) return std::nullopt;
  return SplitName{m[1].str(), std::stoull(m[2].str()), std::stoull(m[3].str())};
}

std::filesystem::path split_path(const std::filesystem::path& first, const std::string& prefix,
                                 uint64_t no, uint64_t count) {
  return first.parent_path() / fmt::format("{}-{:05d}-of-{:05d}.gguf", prefix, no, count);
}

}  // namespace

void File::attach_shards() {
  const uint64_t count = get_uint("split.count").value_or(1);
  if (count <= 1) return;
  const std::string me = path_.string();
  const uint64_t no = get_uint("split.no").value_or(0);
  const auto name = parse_split_name(path_);
  require(no == 0, ErrorCode::BadModelFile,
          "{}: part {} of a model split in {} files; open its first part{}", me, no + 1, count,
          name ? fmt::format(" ({})", split_path(path_, name->prefix, 1, count).string()) : "");
  require(name && name->no == 1 && name->count == count, ErrorCode::BadModelFile,
          "{}: the first of {} parts of a split model, but its name does not end in "
          "-00001-of-{:05d}.gguf, so the other parts cannot be found (keep llama-gguf-split's "
          "names)",
          me, count, count);
  for (uint64_t i = 1; i < count; ++i) {
    const auto part_path = split_path(path_, name->prefix, i + 1, count);
    std::error_code ec;
    require(std::filesystem::exists(part_path, ec), ErrorCode::Io,
            "{}: part {} of this split model, {}, is missing", me, i + 1, part_path.string());
    File part = open_one(part_path);
    const std::string pn = part_path.string();
    require(part.get_uint("split.no") == i && part.get_uint("split.count") == count,
            ErrorCode::BadModelFile,
            "{}: says it is part {} of {} (split.no / split.count), expected part {} of {}", pn,
            part.get_uint("split.no").value_or(0) + 1, part.get_uint("split.count").value_or(0),
            i + 1, count);
    shards_.push_back(std::move(part));
  }
  // Merge the parts' tensors; index keys view the parts' mappings, which stay put.
  tensors_.reserve(tensors_.size() + [&] {
    size_t n = 0;
    for (const File& s : shards_) n += s.tensors_.size();
    return n;
  }());
  for (size_t s = 0; s < shards_.size(); ++s) {
    const File& part = shards_[s];
    for (const TensorInfo& t : part.tensors_) {
      const auto key = part.tensor_index_.find(t.name)->first;
      if (const TensorInfo* dup = tensor(key)) {
        throw Error(ErrorCode::BadModelFile,
                    fmt::format("{}: tensor '{}' is in both {} and {}", me, printable(t.name),
                                shard_path(dup->shard).string(), part.path_.string()));
      }
      tensors_.push_back(t);
      tensors_.back().shard = static_cast<uint32_t>(s + 1);
      tensor_index_.emplace(key, tensors_.size() - 1);
    }
  }
  if (const auto want = get_uint("split.tensors.count")) {
    require(*want == tensors_.size(), ErrorCode::BadModelFile,
            "{}: split.tensors.count says the model has {} tensors, its {} parts hold {}", me,
            *want, count, tensors_.size());
  }
}

}  // namespace vkr::gguf
