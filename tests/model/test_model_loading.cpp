// Loading as a user with a broken or mismatched checkpoint meets it: modules built straight in
// the load dtype, non-finite weights warned about by name and non-finite logits stopping the run,
// image-token ids checked against the tokenizer, the preprocessor's crop against the tower, and a
// prompt too long for this machine's memory refused before prefill starts.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

#include "engine/engine.h"
#include "hae/error.h"
#include "models/llava.h"
#include "models/vlm_model.h"
#include "reference.h"

namespace hae::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kDemo = fs::path(HAE_SOURCE_DIR) / "resources/demo/model";

json readJson(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

// A copy of the demo model whose config.json (and preprocessor_config.json) `edit` changes.
std::string editedDemo(const TempDir& dir, const std::function<void(json&, json&)>& edit) {
  for (const auto& entry : fs::directory_iterator(kDemo)) fs::copy(entry.path(), dir.path() / entry.path().filename().string());
  json config = readJson(kDemo / "config.json"), pre = readJson(kDemo / "preprocessor_config.json");
  edit(config, pre);
  std::ofstream(dir.path() / "config.json") << config.dump(2);
  std::ofstream(dir.path() / "preprocessor_config.json") << pre.dump(2);
  return dir.str();
}

std::string loadError(const std::string& dir, LoadOptions options = {}) {
  try {
    loadModel(dir, options);
  } catch (const Error& e) {
    return e.what();
  }
  return "(loaded)";
}

void expectMentions(const std::string& message, const std::vector<std::string>& needles) {
  for (const auto& n : needles)
    EXPECT_NE(message.find(n), std::string::npos) << "'" << message << "' lacks '" << n << "'";
}

// Captures spdlog's warnings for the life of the object.
class WarningLog {
 public:
  WarningLog() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(text_)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~WarningLog() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::string text() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

}  // namespace

// Built in bf16 directly and filled in place: each parameter equals the fp32 checkpoint's value
// rounded to bf16, exactly (copy_ and to() round the same way, to nearest even).
TEST(ModelLoading, Bf16LoadIsTheCheckpointRoundedOnce) {
  LoadOptions bf16;
  bf16.float_dtype = torch::kBFloat16;
  auto model = loadModel(dataPath("models/tiny-llava"), bf16);
  const auto archive = SafetensorsArchive::openFolder(dataPath("models/tiny-llava"));
  auto* llava = dynamic_cast<LlavaModel*>(model.get());
  ASSERT_NE(llava, nullptr);
  int checked = 0;
  for (const auto& item : llava->net()->named_parameters(true)) {
    ASSERT_EQ(item.value().scalar_type(), torch::kBFloat16) << item.key();
    EXPECT_TRUE(torch::equal(item.value(), toTorch(archive.get(item.key())).to(torch::kBFloat16)))
        << item.key();
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(archive.names().size()));
}

TEST(ModelLoading, NonFiniteWeightsAreNamedAndNonFiniteLogitsStopTheRun) {
  TempDir dir;
  for (const auto& entry : fs::directory_iterator(dataPath("models/tiny-llava")))
    fs::copy(entry.path(), dir.path() / entry.path().filename().string());
  const auto archive = SafetensorsArchive::openFolder(dataPath("models/tiny-llava"));
  std::map<std::string, at::Tensor> weights;
  for (const auto& n : archive.names()) weights[n] = toTorch(archive.get(n));
  weights["language_model.model.norm.weight"][3] = std::numeric_limits<float>::quiet_NaN();
  writeTorchSafetensors((dir.path() / "model.safetensors").string(), weights);

  WarningLog log;
  std::shared_ptr<VlmModel> model = loadModel(dir.str(), {});
  expectMentions(log.text(), {"model.safetensors", "language_model.model.norm.weight", "1 NaN or Inf"});
  const Reference ref(dataPath("models/tiny-llava/expected.safetensors"));
  Engine engine(model, makePolicy("full", {}));
  try {
    engine.prefill(model->planFromIds(ref.ids(), ref["pixel_values"]));
    ADD_FAILURE() << "NaN logits were accepted";
  } catch (const Error& e) {
    expectMentions(e.what(), {"prefill", "NaN or Inf logits"});
  }
}

TEST(ModelLoading, TheImageTokenMustBeTheTokenizersImageToken) {
  TempDir ordinary, beyond;
  // Id 5 is an ordinary word of the demo vocabulary; <image> is id 4.
  expectMentions(loadError(editedDemo(ordinary, [](json& c, json&) { c["image_token_index"] = 5; })),
                 {"config.json", "image_token_index 5", "tokenizer.json", "not <image>", "maps <image> to 4"});
  expectMentions(loadError(editedDemo(beyond, [](json& c, json&) { c["image_token_index"] = 500; })),
                 {"config.json", "image_token_index 500", "beyond the vocabulary"});
}

TEST(ModelLoading, ThePreprocessorCropMustFitTheTower) {
  TempDir huge, other;
  expectMentions(loadError(editedDemo(huge, [](json&, json& p) { p["crop_size"] = 65536; })),
                 {"preprocessor", "crop_size", "8192"});
  expectMentions(loadError(editedDemo(other, [](json&, json& p) { p["crop_size"] = 100; })),
                 {"preprocessor_config.json", "crop_size 100x100", "vision_config.image_size"});
}

TEST(ModelLoading, APromptTooLongForThisMachineIsRefusedBeforePrefill) {
  std::shared_ptr<VlmModel> model = loadModel(dataPath("models/tiny-llava"), {});
  const std::vector<std::int64_t> ids(1'000'000, 1);  // 4 x heads x 10^12 bytes of attention
  Engine engine(model, makePolicy("full", {}));
  try {
    engine.prefill(model->planFromIds(ids, {}));
    ADD_FAILURE() << "a 10^6-token prompt was accepted";
  } catch (const Error& e) {
    expectMentions(e.what(), {"prompt of 1000000 tokens", "GB", "available"});
  }
}

}  // namespace hae::test
