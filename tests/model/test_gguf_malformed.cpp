// GGUF reader tests on broken input: OS-level failures, every malformed class the reader checks,
// absurd counts (no allocation blow-up) and a truncation sweep that must always throw cleanly.
#include <cstring>
#include <limits>
#include <random>

#include "gguf_test_util.hpp"

namespace vkr::test {
namespace {

using gguf::GgmlType;
using gguf::ValueType;
using Bytes = std::vector<std::byte>;

// Header with the given counts, ready for hand-written entries.
Bytes header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Bytes out;
  put_u32(out, gguf::kMagic);
  put_u32(out, version);
  put_u64(out, n_tensors);
  put_u64(out, n_kv);
  return out;
}

// One key whose value is a raw type id + payload (for values the builder refuses to make).
Bytes with_raw_kv(std::string_view key, uint32_t type, const Bytes& payload) {
  Bytes out = header(0, 1);
  put_string(out, key);
  put_u32(out, type);
  out.insert(out.end(), payload.begin(), payload.end());
  out.resize(out.size() + 64);  // slack so only the claimed size, not the file end, is wrong
  return out;
}

GgufBuilder one_tensor(std::vector<uint64_t> ne, uint32_t type, uint64_t data_bytes = 64) {
  GgufBuilder b;
  b.add_kv("general.architecture", GgufValue::str("rwkv6"));
  b.add_tensor("blk.0.ffn_up.weight", std::move(ne), type, Bytes(data_bytes));
  return b;
}

constexpr uint32_t kF32 = 0;

TEST(GgufOsErrors, MissingDirectoryEmptyShort) {
  TempDir dir;
  expect_open_error(dir.file("missing.gguf"), ErrorCode::Io, {"No such file"});
  std::filesystem::create_directory(dir.file("a_dir.gguf"));
  expect_open_error(dir.file("a_dir.gguf"), ErrorCode::Io, {"directory"});
  expect_bad_file(dir, "empty.gguf", {}, {"empty"});
  expect_bad_file(dir, "short.gguf", {std::byte{'G'}, std::byte{'G'}, std::byte{'U'}},
                  {"too small"});
  Bytes only_magic;
  put_u32(only_magic, gguf::kMagic);
  put_u32(only_magic, 3);
  expect_bad_file(dir, "header.gguf", only_magic, {"tensor count", "offset 8"});
}

TEST(GgufHeader, MagicAndVersion) {
  TempDir dir;
  expect_bad_file(dir, "magic.gguf", GgufBuilder().magic(0x4c4d5a47).serialize(),
                  {"not a GGUF file", "GZML"});
  expect_bad_file(dir, "v1.gguf", GgufBuilder().version(1).serialize(), {"version 1"});
  expect_bad_file(dir, "v4.gguf", GgufBuilder().version(4).serialize(), {"version 4"});
  expect_bad_file(dir, "be.gguf", GgufBuilder().version(0x03000000).serialize(), {"big-endian"});
}

TEST(GgufHeader, HugeCountsAreRejectedBeforeAllocating) {
  TempDir dir;
  expect_bad_file(dir, "kv_count.gguf", GgufBuilder().kv_count(uint64_t{1} << 62).serialize(),
                  {"metadata count 4611686018427387904"});
  expect_bad_file(dir, "tensor_count.gguf",
                  GgufBuilder().tensor_count(uint64_t{1} << 62).serialize(),
                  {"tensor count 4611686018427387904"});
  expect_bad_file(dir, "max_count.gguf",
                  GgufBuilder().tensor_count(std::numeric_limits<uint64_t>::max()).serialize(),
                  {"tensor count"});
  // A count that fits the header check but not after the metadata has been read.
  GgufBuilder b;
  b.add_kv("tokenizer.ggml.tokens", GgufValue::string_array(std::vector<std::string>(40, "abc")));
  expect_bad_file(dir, "tensor_count2.gguf", b.tensor_count(30).serialize(), {"tensor count 30"});
}

TEST(GgufMetadata, HugeLengthsAndCounts) {
  TempDir dir;
  Bytes len63;
  put_u64(len63, uint64_t{1} << 63);
  expect_bad_file(dir, "string_len.gguf", with_raw_kv("general.name", 8, len63),
                  {"general.name", "length 9223372036854775808"});
  Bytes key = header(0, 1);
  put_u64(key, uint64_t{1} << 63);
  key.resize(key.size() + 64);
  expect_bad_file(dir, "key_len.gguf", key, {"metadata entry #0", "key length"});
  Bytes arr;
  put_u32(arr, static_cast<uint32_t>(ValueType::U8));
  put_u64(arr, uint64_t{1} << 60);
  expect_bad_file(dir, "array_count.gguf", with_raw_kv("tokenizer.ggml.scores", 9, arr),
                  {"tokenizer.ggml.scores", "count 1152921504606846976"});
  Bytes str_arr;
  put_u32(str_arr, static_cast<uint32_t>(ValueType::String));
  put_u64(str_arr, uint64_t{1} << 60);
  expect_bad_file(dir, "string_array_count.gguf", with_raw_kv("tokenizer.ggml.tokens", 9, str_arr),
                  {"tokenizer.ggml.tokens", "array<string>"});
  // A string inside an array that claims too much: the message names the element.
  Bytes bad_elem;
  put_u32(bad_elem, static_cast<uint32_t>(ValueType::String));
  put_u64(bad_elem, 2);
  put_string(bad_elem, "ok");
  put_u64(bad_elem, uint64_t{1} << 63);
  expect_bad_file(dir, "array_elem.gguf", with_raw_kv("tokenizer.ggml.merges", 9, bad_elem),
                  {"tokenizer.ggml.merges", "element [1]"});
}

TEST(GgufMetadata, TypesDuplicatesAndNesting) {
  TempDir dir;
  expect_bad_file(dir, "value_type.gguf", with_raw_kv("general.odd", 13, {}),
                  {"general.odd", "unknown value type id 13"});
  Bytes elem;
  put_u32(elem, 77);
  put_u64(elem, 1);
  expect_bad_file(dir, "elem_type.gguf", with_raw_kv("general.list", 9, elem),
                  {"general.list", "element type id 77"});
  expect_bad_file(dir, "bool.gguf", with_raw_kv("general.flag", 7, {std::byte{2}}),
                  {"general.flag", "bool value 2"});
  expect_bad_file(
      dir, "dup.gguf",
      GgufBuilder().add_kv("a.b", GgufValue::u32(1)).add_kv("a.b", GgufValue::u8(2)).serialize(),
      {"a.b", "duplicate key"});
  Bytes empty_key = GgufBuilder().add_kv("", GgufValue::u8(1)).serialize();
  empty_key.resize(empty_key.size() + 8);  // so the entry count itself is plausible
  expect_bad_file(dir, "empty_key.gguf", empty_key, {"metadata entry #0", "empty key"});
  GgufValue deep = GgufValue::i32_array({1});
  for (uint32_t i = 0; i < gguf::kMaxArrayDepth; ++i)
    deep = GgufValue::array(ValueType::Array, {deep});
  expect_bad_file(dir, "deep.gguf", GgufBuilder().add_kv("x.deep", deep).serialize(),
                  {"x.deep", "nested deeper"});
  // One level less is fine.
  GgufValue ok = GgufValue::i32_array({1});
  for (uint32_t i = 0; i + 1 < gguf::kMaxArrayDepth; ++i)
    ok = GgufValue::array(ValueType::Array, {ok});
  write_bytes(dir.file("deep_ok.gguf"), GgufBuilder().add_kv("x.deep", ok).serialize());
  EXPECT_NO_THROW(gguf::File::open(dir.file("deep_ok.gguf")));
}

TEST(GgufMetadata, Alignment) {
  TempDir dir;
  expect_bad_file(dir, "align0.gguf", GgufBuilder().alignment(0).serialize(),
                  {"general.alignment", "power of two"});
  expect_bad_file(dir, "align3.gguf",
                  GgufBuilder().add_kv("general.alignment", GgufValue::u32(3)).serialize(),
                  {"general.alignment", "alignment 3"});
  expect_bad_file(dir, "align_str.gguf",
                  GgufBuilder().add_kv("general.alignment", GgufValue::str("32")).serialize(),
                  {"general.alignment", "positive integer"});
  expect_bad_file(dir, "align_neg.gguf",
                  GgufBuilder().add_kv("general.alignment", GgufValue::i32(-32)).serialize(),
                  {"general.alignment", "i32 -32"});
}

TEST(GgufTensors, NamesAndDims) {
  TempDir dir;
  const std::string long_name(gguf::kMaxTensorName + 1, 'n');
  expect_bad_file(dir, "long_name.gguf",
                  GgufBuilder().add_tensor(long_name, {1}, kF32, Bytes(4)).serialize(),
                  {long_name, "at most 64"});
  expect_bad_file(dir, "empty_name.gguf",
                  GgufBuilder().add_tensor("", {1}, kF32, Bytes(4)).serialize(),
                  {"tensor #0", "empty tensor name"});
  expect_bad_file(dir, "dup_tensor.gguf",
                  GgufBuilder()
                      .add_tensor("w", {8}, GgmlType::F32)
                      .add_tensor("w", {8}, GgmlType::F32)
                      .serialize(),
                  {"tensor 'w'", "duplicate tensor name"});
  expect_bad_file(dir, "dims0.gguf", one_tensor({}, kF32).serialize(),
                  {"blk.0.ffn_up.weight", "n_dims 0"});
  expect_bad_file(dir, "dims5.gguf", one_tensor({1, 1, 1, 1, 1}, kF32).serialize(),
                  {"blk.0.ffn_up.weight", "n_dims 5"});
  expect_bad_file(dir, "ne0.gguf", one_tensor({4, 0}, kF32).serialize(),
                  {"blk.0.ffn_up.weight", "ne[1] is 0"});
  expect_bad_file(dir, "ne_overflow.gguf",
                  one_tensor({uint64_t{1} << 32, uint64_t{1} << 32}, kF32).serialize(),
                  {"blk.0.ffn_up.weight", "element count overflows"});
  expect_bad_file(dir, "ne_huge.gguf", one_tensor({~uint64_t{0}}, kF32).serialize(),
                  {"blk.0.ffn_up.weight", "overflows"});
  expect_bad_file(dir, "bytes_overflow.gguf",
                  one_tensor({uint64_t{1} << 31, uint64_t{1} << 31}, kF32).serialize(),
                  {"blk.0.ffn_up.weight", "byte size overflows"});
}

TEST(Printable, EscapesControlBytesBadUtf8AndCutsLongText) {
  EXPECT_EQ(printable("blk.0.ffn_up.weight"), "blk.0.ffn_up.weight");
  EXPECT_EQ(printable("a\nb\tc\x01\x7f"), "a\\nb\\tc\\x01\\x7f");
  EXPECT_EQ(printable("\xd0\xba\xd0\xbb\xe2\x82\xac"),
            "\xd0\xba\xd0\xbb\xe2\x82\xac");  // UTF-8 kept
  // A lone continuation byte, a truncated sequence, an overlong form and a surrogate.
  EXPECT_EQ(printable("\x80x\xe2\x82"), "\\x80x\\xe2\\x82");
  EXPECT_EQ(printable("\xc0\xaf\xed\xa0\x80"), "\\xc0\\xaf\\xed\\xa0\\x80");
  EXPECT_EQ(printable(std::string(100, 'k'), 10), "kkkkkkkkkk... (90 more bytes)");
  // A character straddling the cut is kept whole, never split into escapes.
  EXPECT_EQ(printable("ab\xe2\x82\xac", 3), "ab\xe2\x82\xac");
}

// Text read from a corrupt file reaches messages quoted printably: no control bytes or invalid
// UTF-8 on the user's terminal, and no megabyte-long key echoed back.
TEST(GgufErrors, FileTextIsQuotedPrintably) {
  TempDir dir;
  const std::string odd_name = "w\x02\xff\n";
  const std::string msg = expect_bad_file(dir, "odd_name.gguf",
                                          GgufBuilder()
                                              .add_tensor(odd_name, {8}, GgmlType::F32)
                                              .add_tensor(odd_name, {8}, GgmlType::F32)
                                              .serialize(),
                                          {"tensor 'w\\x02\\xff\\n'", "duplicate tensor name"});
  EXPECT_EQ(msg.find(odd_name), std::string::npos) << msg;
  const std::string long_key(5000, 'k');
  const std::string long_msg =
      expect_bad_file(dir, "long_key.gguf", with_raw_kv(long_key, 77, {}),
                      {"... (4904 more bytes)", "unknown value type id 77"});
  EXPECT_LT(long_msg.size(), 400u) << long_msg;
}

TEST(GgufTensors, TypesAndBlocks) {
  TempDir dir;
  expect_bad_file(dir, "type99.gguf", one_tensor({32}, 99).serialize(),
                  {"blk.0.ffn_up.weight", "unknown ggml type id 99"});
  expect_bad_file(dir, "type4.gguf", one_tensor({32}, 4).serialize(),
                  {"blk.0.ffn_up.weight", "unknown ggml type id 4"});
  expect_bad_file(dir, "ragged.gguf",
                  one_tensor({100, 2}, static_cast<uint32_t>(GgmlType::Q4_K)).serialize(),
                  {"blk.0.ffn_up.weight", "ne0 = 100", "Q4_K block size 256"});
  // A known type the model loader may not support is still a valid GGUF.
  TempDir ok_dir;
  one_tensor({256}, static_cast<uint32_t>(GgmlType::IQ2_XXS), 66).write(ok_dir.file("iq.gguf"));
  EXPECT_NO_THROW(gguf::File::open(ok_dir.file("iq.gguf")));
}

TEST(GgufTensors, OffsetsAndLayout) {
  TempDir dir;
  GgufBuilder two;
  two.add_tensor("a", {16}, GgmlType::F32).add_tensor("blk.1.b", {16}, GgmlType::F32);
  expect_bad_file(dir, "misaligned.gguf", GgufBuilder(two).tensor_offset(1, 100).serialize(),
                  {"tensor 'blk.1.b'", "offset 100", "alignment 32"});
  expect_bad_file(dir, "overlap.gguf", GgufBuilder(two).tensor_offset(1, 32).serialize(),
                  {"tensor 'blk.1.b'", "overlaps tensor 'a'"});
  Bytes cut = two.serialize();
  cut.pop_back();
  expect_bad_file(dir, "past_end.gguf", cut,
                  {"tensor 'blk.1.b'", "extends past end of file", "64 bytes"});
  // An offset far past the end (the builder would write 2^62 bytes, so patch it in place).
  GgufBytes far = two.build();
  const uint64_t far_offset = uint64_t{1} << 62;
  std::memcpy(far.bytes.data() + far.infos_end - 8, &far_offset, 8);
  expect_bad_file(dir, "far_offset.gguf", far.bytes,
                  {"tensor 'blk.1.b'", "extends past end of file"});
}

// A small valid file touching every section (strings, arrays, nesting, three tensor types).
GgufBuilder truncation_builder() {
  GgufBuilder b;
  b.add_kv("general.architecture", GgufValue::str("rwkv6qwen2"))
      .add_kv("x.count", GgufValue::u32(3))
      .add_kv("x.tokens", GgufValue::string_array({"a", "bc", "def"}))
      .add_kv("x.nested", GgufValue::array(ValueType::Array, {GgufValue::i32_array({1, 2})}))
      .add_kv("x.eps", GgufValue::f32(1e-6f))
      .add_tensor("token_embd.weight", {64, 2}, GgmlType::Q8_0)
      .add_tensor("output_norm.weight", {64}, GgmlType::F32)
      .add_tensor("blk.0.time_mix_key.weight", {256, 1}, GgmlType::Q4_K);
  return b;
}

// Every prefix of a valid file must be rejected with BadModelFile, never crash or read outside the
// mapping (run under ASan/UBSan to prove the latter).
TEST(GgufTruncation, EveryPrefixThrowsCleanly) {
  TempDir dir;
  const GgufBytes full = truncation_builder().build();
  write_bytes(dir.file("full.gguf"), full.bytes);
  ASSERT_NO_THROW(gguf::File::open(dir.file("full.gguf")));
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= full.infos_end + 40 && n < full.bytes.size(); ++n) lengths.push_back(n);
  for (size_t n = full.infos_end + 40; n < full.bytes.size(); n += 7) lengths.push_back(n);
  lengths.push_back(full.bytes.size() - 1);
  for (size_t n : lengths) {
    SCOPED_TRACE(n);
    const Bytes prefix(full.bytes.begin(), full.bytes.begin() + static_cast<std::ptrdiff_t>(n));
    try {
      write_bytes(dir.file("cut.gguf"), prefix);
      gguf::File f = gguf::File::open(dir.file("cut.gguf"));
      ADD_FAILURE() << "a " << n << "-byte prefix opened";
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::BadModelFile) << e.message();
      ASSERT_NE(e.message().find("cut.gguf"), std::string::npos) << e.message();
    }
  }
}

// Seeded byte mutations of the header/metadata/tensor-info region: every outcome must be a clean
// open or a vkr::Error, never a crash, a foreign exception or a huge allocation (std::bad_alloc).
TEST(GgufFuzz, RandomByteMutationsNeverCrash) {
  TempDir dir;
  const GgufBytes full = truncation_builder().build();
  constexpr uint32_t kSeed = 20240611;
  std::mt19937 rng(kSeed);
  SCOPED_TRACE(testing::Message() << "seed " << kSeed);
  std::uniform_int_distribution<size_t> pos(0, full.infos_end - 1);
  std::uniform_int_distribution<int> byte(0, 255), flips(1, 4);
  size_t rejected = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    Bytes bytes = full.bytes;
    for (int k = flips(rng); k > 0; --k) bytes[pos(rng)] = static_cast<std::byte>(byte(rng));
    write_bytes(dir.file("fuzz.gguf"), bytes);
    try {
      const gguf::File f = gguf::File::open(dir.file("fuzz.gguf"));
      for (const auto& t : f.tensors()) ASSERT_EQ(f.tensor_data(t).size(), t.n_bytes);
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::BadModelFile) << "iteration " << iter << ": " << e.message();
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0u);
}

}  // namespace
}  // namespace vkr::test
