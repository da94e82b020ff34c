// safetensors reader/writer: the real tiny-llava checkpoint, round trips of every dtype, a
// sharded folder, and one corrupted file per validation rule (each must be an hae::Error naming
// the file and the field, never a crash).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>

#include "hae/error.h"
#include "hae/safetensors.h"

namespace fs = std::filesystem;

namespace {

const std::string kTinyLlava = std::string(HAE_TEST_DATA) + "/models/tiny-llava";

// A fresh folder per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hae_st_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string lengthPrefix(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A file with the given header text followed by `dataBytes` zero bytes.
std::string fileWithHeader(const std::string& header, std::size_t dataBytes) {
  return lengthPrefix(header.size()) + header + std::string(dataBytes, '\0');
}

// Runs `fn` and checks it throws hae::Error whose message contains every needle.
void expectError(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
  } catch (const hae::Error& e) {
    std::string msg = e.what();
    for (const auto& n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "message '" << msg << "' lacks '" << n << "'";
    return;
  }
  ADD_FAILURE() << "no hae::Error thrown";
}

// Writes `bytes` under `name` in a temp folder and expects opening it to fail naming the file.
void expectCorrupt(const std::string& name, const std::string& bytes,
                   const std::vector<std::string>& needles) {
  TempDir dir;
  const auto path = dir.file(name);
  writeBytes(path, bytes);
  auto all = needles;
  all.push_back(name);
  expectError([&] { hae::SafetensorsArchive::openFile(path); }, all);
}

}  // namespace

TEST(Safetensors, DTypeTable) {
  using hae::DType;
  for (auto d : {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I64, DType::I32,
                 DType::I16, DType::I8, DType::U8, DType::BOOL}) {
    auto back = hae::dtypeFromName(hae::dtypeName(d));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, d);
  }
  EXPECT_EQ(hae::dtypeSize(DType::BF16), 2u);
  EXPECT_EQ(hae::dtypeSize(DType::F64), 8u);
  EXPECT_EQ(hae::dtypeSize(DType::BOOL), 1u);
  EXPECT_FALSE(hae::dtypeFromName("F8_E4M3").has_value());
}

TEST(Safetensors, ReadsTinyLlava) {
  auto archive = hae::SafetensorsArchive::openFolder(kTinyLlava);
  EXPECT_EQ(archive.size(), 80u);
  EXPECT_EQ(archive.metadata().at("format"), "pt");

  const auto& lmHead = archive.get("language_model.lm_head.weight");
  EXPECT_EQ(lmHead.dtype, hae::DType::F32);
  EXPECT_EQ(lmHead.shape, (std::vector<std::int64_t>{160, 64}));
  EXPECT_EQ(lmHead.nbytes, 160u * 64u * 4u);
  EXPECT_EQ(archive.get("vision_tower.vision_model.embeddings.patch_embedding.weight").shape,
            (std::vector<std::int64_t>{32, 3, 14, 14}));
  EXPECT_EQ(archive.get("vision_tower.vision_model.embeddings.position_embedding.weight").shape,
            (std::vector<std::int64_t>{17, 32}));
  EXPECT_EQ(archive.get("vision_tower.vision_model.embeddings.class_embedding").shape,
            (std::vector<std::int64_t>{32}));
  EXPECT_EQ(archive.get("multi_modal_projector.linear_1.weight").shape,
            (std::vector<std::int64_t>{64, 32}));
  EXPECT_EQ(archive.get("language_model.model.layers.1.mlp.down_proj.weight").shape,
            (std::vector<std::int64_t>{64, 128}));
  EXPECT_TRUE(archive.contains("vision_tower.vision_model.post_layernorm.bias"));
  EXPECT_FALSE(archive.contains("language_model.model.layers.2.mlp.up_proj.weight"));

  // RMSNorm weights are initialised to ones, which pins down the data offsets.
  const auto& norm = archive.get("language_model.model.norm.weight");
  ASSERT_EQ(norm.numel(), 64);
  for (std::int64_t i = 0; i < norm.numel(); ++i) {
    float v;
    std::memcpy(&v, norm.data + i * 4, 4);
    ASSERT_EQ(v, 1.0f) << i;
  }
  auto names = archive.names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_NE(norm.file.find("model.safetensors"), std::string::npos);
}

TEST(Safetensors, MissingTensorNamesTensorAndFolder) {
  auto archive = hae::SafetensorsArchive::openFolder(kTinyLlava);
  expectError([&] { archive.get("no.such.weight"); }, {"no.such.weight", "tiny-llava"});
  EXPECT_EQ(archive.find("no.such.weight"), nullptr);
}

TEST(Safetensors, FolderWithoutWeights) {
  TempDir dir;
  expectError([&] { hae::SafetensorsArchive::openFolder(dir.path().string()); },
              {dir.path().string(), "model.safetensors"});
  expectError([&] { hae::SafetensorsArchive::openFile(dir.file("absent.safetensors")); },
              {"absent.safetensors", "cannot open"});
}

TEST(Safetensors, RoundTripsEveryDType) {
  TempDir dir;
  using hae::DType;
  struct Case {
    DType dtype;
    std::vector<std::int64_t> shape;
  };
  const std::vector<Case> cases = {
      {DType::F32, {2, 3}},   {DType::F16, {5}},    {DType::BF16, {3, 1}}, {DType::F64, {2}},
      {DType::I64, {4}},      {DType::I32, {2, 2}}, {DType::I16, {3}},     {DType::I8, {7}},
      {DType::U8, {1, 1, 3}}, {DType::BOOL, {6}},
  };
  std::vector<std::vector<std::uint8_t>> buffers;
  std::vector<hae::TensorToWrite> tensors;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::int64_t n = 1;
    for (auto d : cases[i].shape) n *= d;
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(n) * hae::dtypeSize(cases[i].dtype));
    for (std::size_t b = 0; b < bytes.size(); ++b)
      bytes[b] = static_cast<std::uint8_t>(cases[i].dtype == DType::BOOL ? (b % 2) : b * 7 + i);
    buffers.push_back(std::move(bytes));
  }
  // Reverse-named so the writer has to sort them.
  for (std::size_t i = 0; i < cases.size(); ++i)
    tensors.push_back(
        {"t" + std::to_string(cases.size() - i) + "." + hae::dtypeName(cases[i].dtype),
         cases[i].dtype, cases[i].shape, buffers[i].data(), buffers[i].size()});
  tensors.push_back({"scalar", DType::F32, {}, buffers[0].data(), 4});
  tensors.push_back({"empty", DType::F32, {0, 3}, nullptr, 0});

  const auto path = dir.file("all.safetensors");
  hae::writeSafetensors(path, tensors, {{"format", "pt"}, {"note", "round trip"}});

  // Header padded to a multiple of 8, so every tensor starts aligned.
  std::ifstream in(path, std::ios::binary);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  std::uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | len[i];
  EXPECT_EQ(headerLen % 8, 0u);

  auto archive = hae::SafetensorsArchive::openFile(path);
  EXPECT_EQ(archive.size(), tensors.size());
  EXPECT_EQ(archive.metadata().at("note"), "round trip");
  // Tensors are packed in name order right after the header, so the first one starts aligned.
  const std::byte* previous = nullptr;
  for (const auto& name : archive.names()) {
    const auto& v = archive.get(name);
    if (v.nbytes == 0) continue;
    if (previous) {
      EXPECT_LT(previous, v.data) << name;
    } else {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.data) % 8, 0u) << name;
    }
    previous = v.data;
  }
  for (const auto& t : tensors) {
    const auto& v = archive.get(t.name);
    EXPECT_EQ(v.dtype, t.dtype) << t.name;
    EXPECT_EQ(v.shape, t.shape) << t.name;
    ASSERT_EQ(v.nbytes, t.nbytes) << t.name;
    if (t.nbytes) {
      EXPECT_EQ(std::memcmp(v.data, t.data, t.nbytes), 0) << t.name;
    }
  }
  EXPECT_EQ(archive.get("scalar").numel(), 1);
  EXPECT_EQ(archive.get("empty").numel(), 0);
}

TEST(Safetensors, WriterRejectsBadInputAndLeavesNoFile) {
  TempDir dir;
  const auto path = dir.file("bad.safetensors");
  float data[4] = {1, 2, 3, 4};
  expectError(
      [&] {
        hae::writeSafetensors(path, {{"w", hae::DType::F32, {3}, data, 16}});
      },
      {"bad.safetensors", "'w'", "nbytes"});
  expectError(
      [&] {
        hae::writeSafetensors(
            path, {{"w", hae::DType::F32, {4}, data, 16}, {"w", hae::DType::F32, {4}, data, 16}});
      },
      {"'w'", "twice"});
  expectError(
      [&] {
        hae::writeSafetensors(path, {{"w", hae::DType::F32, {-4}, data, 16}});
      },
      {"'w'", "negative"});
  EXPECT_TRUE(fs::is_empty(dir.path()));
  expectError([&] { hae::writeSafetensors(dir.file("no/such/dir/x.safetensors"), {}); },
              {"x.safetensors"});
}

TEST(Safetensors, WriterReplacesAtomicallyAndLeavesNoTemporary) {
  TempDir dir;
  const auto path = dir.file("w.safetensors");
  std::int64_t a[2] = {1, 2}, b[3] = {3, 4, 5};
  hae::writeSafetensors(path, {{"x", hae::DType::I64, {2}, a, sizeof a}});
  hae::writeSafetensors(path, {{"x", hae::DType::I64, {3}, b, sizeof b}});
  auto archive = hae::SafetensorsArchive::openFile(path);
  EXPECT_EQ(archive.get("x").shape, (std::vector<std::int64_t>{3}));
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);
}

namespace {

// Writes two shards and an index as save_pretrained does for big checkpoints.
void writeShardedFolder(const TempDir& dir, const std::string& indexText) {
  static const float w1[4] = {1, 2, 3, 4};
  static const float w2[2] = {5, 6};
  static const std::int32_t w3[3] = {7, 8, 9};
  hae::writeSafetensors(dir.file("model-00001-of-00002.safetensors"),
                        {{"layer.0.weight", hae::DType::F32, {2, 2}, w1, sizeof w1},
                         {"layer.0.bias", hae::DType::F32, {2}, w2, sizeof w2}},
                        {{"format", "pt"}});
  hae::writeSafetensors(dir.file("model-00002-of-00002.safetensors"),
                        {{"layer.1.ids", hae::DType::I32, {3}, w3, sizeof w3}}, {{"format", "pt"}});
  writeBytes(dir.file("model.safetensors.index.json"), indexText);
}

const char* kGoodIndex = R"({"metadata": {"total_size": 36}, "weight_map": {
  "layer.0.weight": "model-00001-of-00002.safetensors",
  "layer.0.bias": "model-00001-of-00002.safetensors",
  "layer.1.ids": "model-00002-of-00002.safetensors"}})";

}  // namespace

TEST(Safetensors, ReadsShardedFolder) {
  TempDir dir;
  writeShardedFolder(dir, kGoodIndex);
  auto archive = hae::SafetensorsArchive::openFolder(dir.path().string());
  EXPECT_EQ(archive.names(),
            (std::vector<std::string>{"layer.0.bias", "layer.0.weight", "layer.1.ids"}));
  EXPECT_EQ(archive.metadata().at("total_size"), "36");
  EXPECT_EQ(archive.metadata().at("format"), "pt");
  const auto& ids = archive.get("layer.1.ids");
  EXPECT_EQ(ids.dtype, hae::DType::I32);
  EXPECT_NE(ids.file.find("model-00002-of-00002"), std::string::npos);
  std::int32_t v[3];
  std::memcpy(v, ids.data, sizeof v);
  EXPECT_EQ(v[2], 9);
  float bias[2];
  std::memcpy(bias, archive.get("layer.0.bias").data, sizeof bias);
  EXPECT_EQ(bias[1], 6.0f);

  // Copies share the mapped shards; the views outlive the original archive.
  auto copy = std::make_unique<hae::SafetensorsArchive>(archive);
  archive = hae::SafetensorsArchive::openFolder(kTinyLlava);
  std::memcpy(v, copy->get("layer.1.ids").data, sizeof v);
  EXPECT_EQ(v[0], 7);
}

TEST(Safetensors, IndexNamingMissingShard) {
  TempDir dir;
  writeShardedFolder(dir, R"({"weight_map": {"layer.0.weight": "model-00001-of-00002.safetensors",
                              "layer.2.weight": "model-00003-of-00003.safetensors"}})");
  expectError([&] { hae::SafetensorsArchive::openFolder(dir.path().string()); },
              {"model.safetensors.index.json", "layer.2.weight", "model-00003-of-00003"});
}

TEST(Safetensors, IndexNamingTensorAbsentFromShard) {
  TempDir dir;
  writeShardedFolder(dir,
                     R"({"weight_map": {"layer.0.weight": "model-00002-of-00002.safetensors"}})");
  expectError([&] { hae::SafetensorsArchive::openFolder(dir.path().string()); },
              {"model.safetensors.index.json", "layer.0.weight", "absent"});
}

TEST(Safetensors, IndexMalformed) {
  TempDir dir;
  writeShardedFolder(dir, R"({"weight_map": [1, 2]})");
  expectError([&] { hae::SafetensorsArchive::openFolder(dir.path().string()); },
              {"model.safetensors.index.json", "weight_map"});
  writeBytes(dir.file("model.safetensors.index.json"), "{not json");
  expectError([&] { hae::SafetensorsArchive::openFolder(dir.path().string()); },
              {"model.safetensors.index.json", "invalid JSON"});
  writeBytes(dir.file("model.safetensors.index.json"),
             R"({"weight_map": {"a": "../model-00001-of-00002.safetensors"}})");
  expectError([&] { hae::SafetensorsArchive::openFolder(dir.path().string()); },
              {"weight_map.a", "not a file name"});
}

// ---- one test per corruption ------------------------------------------------------------------

TEST(SafetensorsCorrupt, ShorterThanEightBytes) {
  expectCorrupt("short.safetensors", "abcde", {"shorter than the 8-byte"});
  expectCorrupt("empty.safetensors", "", {"0 bytes"});
}

TEST(SafetensorsCorrupt, HeaderLengthBeyondFile) {
  expectCorrupt("beyond.safetensors", lengthPrefix(1000) + "{}", {"header length 1000", "beyond"});
}

TEST(SafetensorsCorrupt, HeaderLongerThan100MB) {
  expectCorrupt("huge.safetensors", lengthPrefix(200'000'000) + "{}", {"100 MB"});
}

TEST(SafetensorsCorrupt, InvalidJson) {
  expectCorrupt("json.safetensors", fileWithHeader(R"({"a": {"dtype": )", 0),
                {"header", "invalid JSON"});
}

TEST(SafetensorsCorrupt, HeaderNotAnObject) {
  expectCorrupt("array.safetensors", fileWithHeader("[1, 2]", 0), {"expected a JSON object"});
}

TEST(SafetensorsCorrupt, DeeplyNestedJson) {
  expectCorrupt("deep.safetensors", fileWithHeader(std::string(5000, '['), 0), {"nested"});
}

TEST(SafetensorsCorrupt, EntryNotAnObject) {
  expectCorrupt("entry.safetensors", fileWithHeader(R"({"w": [1, 2]})", 0),
                {"tensor 'w'", "expected an object"});
}

TEST(SafetensorsCorrupt, MissingField) {
  expectCorrupt("nodtype.safetensors",
                fileWithHeader(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4),
                {"tensor 'w'", "dtype: missing"});
  expectCorrupt("noshape.safetensors",
                fileWithHeader(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4),
                {"tensor 'w'", "shape: missing"});
  expectCorrupt("nooffsets.safetensors",
                fileWithHeader(R"({"w": {"dtype": "F32", "shape": [1]}})", 4),
                {"tensor 'w'", "data_offsets: missing"});
}

TEST(SafetensorsCorrupt, UnknownDType) {
  expectCorrupt(
      "dtype.safetensors",
      fileWithHeader(R"({"w": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}})", 4),
      {"tensor 'w'", "dtype", "F8_E4M3"});
  expectCorrupt("dtype2.safetensors",
                fileWithHeader(R"({"w": {"dtype": 7, "shape": [4], "data_offsets": [0, 4]}})", 4),
                {"tensor 'w'", "dtype: expected a string"});
}

TEST(SafetensorsCorrupt, NegativeShapeEntry) {
  expectCorrupt(
      "neg.safetensors",
      fileWithHeader(R"({"w": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 8]}})", 8),
      {"tensor 'w'", "shape[1]", "-1"});
}

TEST(SafetensorsCorrupt, NonIntegerShapeEntry) {
  expectCorrupt(
      "float.safetensors",
      fileWithHeader(R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", 8),
      {"tensor 'w'", "shape[0]", "2.5"});
  expectCorrupt(
      "string.safetensors",
      fileWithHeader(R"({"w": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}})", 8),
      {"tensor 'w'", "shape[0]", "string"});
  expectCorrupt("shape.safetensors",
                fileWithHeader(R"({"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})", 8),
                {"tensor 'w'", "shape: expected an array"});
}

TEST(SafetensorsCorrupt, ShapeProductOverflow) {
  expectCorrupt(
      "overflow.safetensors",
      fileWithHeader(
          R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})",
          0),
      {"tensor 'w'", "shape", "overflows"});
  // Fits int64 elements but not bytes.
  expectCorrupt(
      "overflow2.safetensors",
      fileWithHeader(
          R"({"w": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})", 0),
      {"tensor 'w'", "overflows"});
  expectCorrupt(
      "overflow3.safetensors",
      fileWithHeader(
          R"({"w": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 0]}})", 0),
      {"tensor 'w'", "shape[0]"});
}

TEST(SafetensorsCorrupt, DataOffsetsNotTwoOrderedIntegers) {
  expectCorrupt("one.safetensors",
                fileWithHeader(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4),
                {"tensor 'w'", "data_offsets"});
  expectCorrupt(
      "three.safetensors",
      fileWithHeader(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", 8),
      {"tensor 'w'", "data_offsets"});
  expectCorrupt(
      "str.safetensors",
      fileWithHeader(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": ["0", 4]}})", 4),
      {"tensor 'w'", "data_offsets"});
  expectCorrupt(
      "negoff.safetensors",
      fileWithHeader(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4),
      {"tensor 'w'", "data_offsets"});
  expectCorrupt(
      "order.safetensors",
      fileWithHeader(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8),
      {"tensor 'w'", "data_offsets: begin 8 is after end 4"});
}

TEST(SafetensorsCorrupt, OffsetsOutOfRange) {
  expectCorrupt(
      "range.safetensors",
      fileWithHeader(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 12),
      {"tensor 'w'", "data_offsets: end 16", "beyond"});
  expectCorrupt(
      "range2.safetensors",
      fileWithHeader(
          R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [18446744073709551615, 18446744073709551615]}})",
          4),
      {"tensor 'w'", "data_offsets"});
}

TEST(SafetensorsCorrupt, OverlappingTensors) {
  expectCorrupt("overlap.safetensors",
                fileWithHeader(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                   "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                               12),
                {"tensor 'b'", "overlaps tensor 'a'"});
}

TEST(SafetensorsCorrupt, ByteCountDisagreesWithShape) {
  expectCorrupt(
      "count.safetensors",
      fileWithHeader(R"({"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 4]}})", 4),
      {"tensor 'w'", "4 bytes", "needs 6"});
}

TEST(SafetensorsCorrupt, MetadataNotStrings) {
  expectCorrupt("meta.safetensors", fileWithHeader(R"({"__metadata__": {"total": 5}})", 0),
                {"__metadata__.total", "expected a string"});
  expectCorrupt("meta2.safetensors", fileWithHeader(R"({"__metadata__": [1]})", 0),
                {"__metadata__", "expected an object"});
}

TEST(SafetensorsCorrupt, ParserNeverReadsPastItsBuffer) {
  // Every prefix of a valid file is either accepted or rejected with hae::Error.
  TempDir dir;
  float data[3] = {1, 2, 3};
  const auto path = dir.file("ok.safetensors");
  hae::writeSafetensors(path, {{"w", hae::DType::F32, {3}, data, sizeof data}});
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    std::vector<std::byte> copy(n);
    if (n) std::memcpy(copy.data(), bytes.data(), n);
    EXPECT_THROW(hae::parseSafetensorsHeader(copy.data(), n, "prefix"), hae::Error) << n;
  }
  auto views = hae::parseSafetensorsHeader(reinterpret_cast<const std::byte*>(bytes.data()),
                                           bytes.size(), "whole");
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].file, "whole");
}
