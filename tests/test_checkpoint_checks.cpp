// What the loader checks before it builds a single module: the tensors a config implies against
// the checkpoint's headers, the model's size against the machine's memory, duplicate tensor names,
// and input paths that are not regular files (a FIFO would block the read forever).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <set>

#include "hae/error.h"
#include "hae/file_check.h"
#include "hae/idefics3_config.h"
#include "hae/image.h"
#include "hae/model_config.h"
#include "hae/phi3_config.h"
#include "hae/safetensors.h"
#include "hae/tokenizer.h"
#include "hae/weight_manifest.h"

namespace fs = std::filesystem;

namespace {

const std::string kData = HAE_TEST_DATA;
const std::string kDemo = std::string(HAE_SOURCE_DIR) + "/resources/demo/model";

std::string errorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const hae::Error& e) {
    return e.what();
  }
  return "(no hae::Error)";
}

void expectMentions(const std::string& message, const std::vector<std::string>& needles) {
  for (const auto& n : needles)
    EXPECT_NE(message.find(n), std::string::npos) << "'" << message << "' lacks '" << n << "'";
  EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hae_chk_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// The manifest must name exactly the tensors each reference checkpoint holds, shape for shape:
// it mirrors the module constructors, and this is what keeps the two in step.
void expectManifestMatchesCheckpoint(const std::vector<hae::ExpectedTensor>& manifest,
                                     const std::string& dir) {
  SCOPED_TRACE(dir);
  const auto archive = hae::SafetensorsArchive::openFolder(dir);
  std::set<std::string> expected;
  for (const auto& e : manifest) {
    expected.insert(e.name);
    const auto* view = archive.find(e.name);
    ASSERT_NE(view, nullptr) << e.name;
    EXPECT_EQ(view->shape, e.shape) << e.name;
  }
  for (const auto& name : archive.names()) EXPECT_TRUE(expected.count(name)) << "unexpected " << name;
  EXPECT_EQ(manifest.size(), expected.size()) << "a tensor listed twice";
  EXPECT_NO_THROW(hae::checkCheckpointAgainstConfig(manifest, archive, dir + "/config.json"));
}

}  // namespace

TEST(WeightManifest, MatchesEveryReferenceCheckpoint) {
  for (const char* m : {"tiny-llava", "llava-medium"})
    expectManifestMatchesCheckpoint(hae::llavaManifest(hae::loadLlavaConfig(kData + "/models/" + m)),
                                    kData + "/models/" + m);
  expectManifestMatchesCheckpoint(hae::llavaManifest(hae::loadLlavaConfig(kDemo)), kDemo);
  for (const char* m : {"tiny-phi3", "tiny-phi3v"})
    expectManifestMatchesCheckpoint(hae::phi3Manifest(hae::loadPhi3Config(kData + "/models/" + m)),
                                    kData + "/models/" + m);
  expectManifestMatchesCheckpoint(
      hae::idefics3Manifest(hae::loadIdefics3Config(kData + "/models/tiny-idefics3")),
      kData + "/models/tiny-idefics3");
}

TEST(WeightManifest, RealConfigsGiveTheirPublishedParameterCounts) {
  auto count = [](const std::vector<hae::ExpectedTensor>& m) {
    double n = 0;
    for (const auto& e : m) {
      double k = 1;
      for (auto d : e.shape) k *= double(d);
      n += k;
    }
    return n;
  };
  // llava-1.5-7b: 7.06 B; Phi-3.5-vision: 4.15 B; SmolVLM-256M: 0.256 B (model cards).
  EXPECT_NEAR(count(hae::llavaManifest(hae::loadLlavaConfig(kData + "/configs/llava-1.5-7b-hf"))),
              7.06e9, 0.01e9);
  EXPECT_NEAR(
      count(hae::phi3Manifest(hae::loadPhi3Config(kData + "/configs/Phi-3.5-vision-instruct"))),
      4.15e9, 0.01e9);
  EXPECT_NEAR(count(hae::idefics3Manifest(
                  hae::loadIdefics3Config(kData + "/configs/SmolVLM-256M-Instruct"))),
              0.256e9, 0.003e9);
}

// The 7B defaults of a config that says only "llava" do not fit the demo checkpoint: the first
// mismatch is named with its config keys, in one line, before anything is allocated.
TEST(WeightManifest, DefaultsAgainstASmallCheckpointNameTheKeys) {
  const auto config = hae::parseLlavaConfig(R"({"model_type": "llava"})", "config.json");
  const auto archive = hae::SafetensorsArchive::openFolder(kDemo);
  const auto message = errorOf(
      [&] { hae::checkCheckpointAgainstConfig(hae::llavaManifest(config), archive, "config.json"); });
  expectMentions(message, {"config.json implies", "vision_config.", "more tensors", "defaults"});
}

TEST(WeightManifest, AHugeConfigIsRefusedByItsSizeNamingTheKeys) {
  const auto config = hae::parseLlavaConfig(
      R"({"model_type": "llava", "text_config": {"hidden_size": 1000000000}})", "config.json");
  const auto start = std::chrono::steady_clock::now();
  const auto message =
      errorOf([&] { hae::checkModelFitsMemory(hae::llavaManifest(config), 2, "BFloat16", "config.json"); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  expectMentions(message, {"config.json", "BFloat16", "available", "text_config.hidden_size"});

  const auto vocab = hae::parseLlavaConfig(
      R"({"model_type": "llava", "text_config": {"vocab_size": 2000000000}})", "config.json");
  expectMentions(
      errorOf([&] { hae::checkModelFitsMemory(hae::llavaManifest(vocab), 4, "Float", "config.json"); }),
      {"embed_tokens", "text_config.vocab_size"});
  // The real 7B shapes are not refused by arithmetic alone: only by this machine's memory.
  const auto real = hae::loadLlavaConfig(kData + "/configs/llava-1.5-7b-hf");
  const auto available = hae::availableMemoryBytes();
  ASSERT_TRUE(available.has_value());
  if (*available > 20e9)
    EXPECT_NO_THROW(hae::checkModelFitsMemory(hae::llavaManifest(real), 2, "BFloat16", "config.json"));
}

TEST(CheckpointChecks, ADuplicateTensorNameIsAnError) {
  // Two entries named "w" with valid, separate byte ranges.
  const std::string header =
      R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  file += header + std::string(8, '\0');
  const auto message = errorOf([&] {
    hae::parseSafetensorsHeader(reinterpret_cast<const std::byte*>(file.data()), file.size(),
                                "model.safetensors", nullptr);
  });
  expectMentions(message, {"model.safetensors", "'w'", "listed twice"});
}

// Each reader refuses a FIFO at once instead of blocking in open() or read(); a folder where a
// file should be is named as such.
TEST(CheckpointChecks, NonRegularFilesAreRefusedWithoutBlocking) {
  TempDir dir;
  const std::string fifo = (dir / "config.json").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto refusedInTime = [&](const std::function<void()>& read, const std::vector<std::string>& needles) {
    auto pending = std::async(std::launch::async, [&] { return errorOf(read); });
    if (pending.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      ADD_FAILURE() << "blocked on a FIFO";
      std::ofstream(fifo) << "x";  // give the blocked reader a writer and an end, so the test ends
    }
    expectMentions(pending.get(), needles);
  };
  refusedInTime([&] { hae::detectModelType(dir.str()); }, {"config.json", "not a regular file"});
  refusedInTime([&] { hae::SafetensorsFile::open(fifo); }, {"config.json", "not a regular file"});
  refusedInTime([&] { hae::Tokenizer::fromFile(fifo); }, {"tokenizer file", "not a regular file"});
  refusedInTime([&] { hae::loadImage(fifo); }, {"config.json", "not a regular file"});

  TempDir folder;
  fs::create_directory(folder / "config.json");
  expectMentions(errorOf([&] { hae::detectModelType(folder.str()); }),
                 {"config.json", "is a folder, not a file"});
}
