// LLaVA-family checkpoints other than the fixtures: GQA and MQA, sharded safetensors, bf16
// weights, other vision_feature_layer values, the "full" strategy and images inside the text.
// Where transformers' outputs are not at hand, the checks are exact equivalences: a GQA model
// equals the MHA model whose K/V heads are repeated, a cached decode equals a fresh forward over
// the same prefix, and the vision features equal the fixture's stored CLIP hidden states.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "engine/engine.h"
#include "hae/error.h"
#include "models/clip_vision.h"
#include "models/llava.h"
#include "models/vlm_model.h"
#include "reference.h"

namespace hae::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json readJson(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

void writeJson(const fs::path& p, const json& j) { std::ofstream(p) << j.dump(2); }

std::map<std::string, at::Tensor> fixtureWeights() {
  auto archive = SafetensorsArchive::openFolder(dataPath("models/tiny-llava"));
  std::map<std::string, at::Tensor> w;
  for (const auto& n : archive.names()) w[n] = toTorch(archive.get(n));
  return w;
}

// A model folder from a (modified) tiny-llava config and a set of weights.
std::string writeModel(const TempDir& dir, const json& config, const std::map<std::string, at::Tensor>& weights) {
  writeJson(dir.path() / "config.json", config);
  writeTorchSafetensors((dir.path() / "model.safetensors").string(), weights);
  return dir.str();
}

at::Tensor prefillLogits(const std::shared_ptr<VlmModel>& model, const std::vector<std::int64_t>& ids,
                         const at::Tensor& pixels) {
  Engine engine(model, makePolicy("full", {}));
  return engine.prefill(model->planFromIds(ids, pixels));
}

// Greedy decode with the cache, checking each step's logits against a fresh no-cache forward
// over the same prefix.
void expectCachedDecodeMatchesRecompute(const std::shared_ptr<VlmModel>& model,
                                        std::vector<std::int64_t> ids, const at::Tensor& pixels, int steps) {
  Engine engine(model, makePolicy("full", {}));
  auto logits = engine.prefill(model->planFromIds(ids, pixels));
  for (int s = 0; s < steps; ++s) {
    const auto token = logits.argmax().item<std::int64_t>();
    ids.push_back(token);
    logits = engine.decode(token);
    EXPECT_LT(maxAbsDiff(logits, prefillLogits(model, ids, pixels)), 1e-4) << "step " << s;
  }
}

TEST(LlavaVariants, GroupedQueryAndMultiQueryEqualRepeatedHeads) {
  const Reference ref(dataPath("models/tiny-llava/expected.safetensors"));
  for (int kv_heads : {2, 1}) {
    json config = readJson(dataPath("models/tiny-llava/config.json"));
    config["text_config"]["num_key_value_heads"] = kv_heads;
    auto weights = fixtureWeights();
    // Keep the first kv_heads heads of K and V (head_dim 16), then build the MHA twin by
    // repeating each KV head for its query group, as transformers' repeat_kv does.
    const int64_t d = 16, group = 4 / kv_heads;
    std::map<std::string, at::Tensor> mha = weights;
    for (int l = 0; l < 2; ++l) {
      for (const char* proj : {"k_proj", "v_proj"}) {
        const std::string name = "language_model.model.layers." + std::to_string(l) + ".self_attn." + proj + ".weight";
        auto reduced = weights[name].narrow(0, 0, kv_heads * d).contiguous();
        weights[name] = reduced;
        mha[name] = reduced.view({kv_heads, 1, d, -1}).expand({kv_heads, group, d, reduced.size(1)}).reshape({4 * d, -1}).contiguous();
      }
    }
    TempDir gqa_dir, mha_dir;
    std::shared_ptr<VlmModel> gqa = loadModel(writeModel(gqa_dir, config, weights), {});
    std::shared_ptr<VlmModel> twin = loadModel(writeModel(mha_dir, readJson(dataPath("models/tiny-llava/config.json")), mha), {});
    EXPECT_EQ(gqa->spec().num_kv_heads, kv_heads);
    EXPECT_EQ(gqa->spec().kvBytesPerToken() * 4 / kv_heads, twin->spec().kvBytesPerToken());
    const auto a = prefillLogits(gqa, ref.ids(), ref["pixel_values"]);
    const auto b = prefillLogits(twin, ref.ids(), ref["pixel_values"]);
    EXPECT_LT(maxAbsDiff(a, b), 1e-5) << kv_heads << " KV heads";
    expectCachedDecodeMatchesRecompute(gqa, ref.ids(), ref["pixel_values"], 6);
  }
}

TEST(LlavaVariants, ShardedCheckpointLoadsLikeTheSingleFile) {
  const Reference ref(dataPath("models/tiny-llava/expected.safetensors"));
  TempDir dir;
  fs::copy_file(dataPath("models/tiny-llava/config.json"), dir.path() / "config.json");
  std::map<std::string, at::Tensor> shard[2];
  json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
  int i = 0;
  for (auto& [name, tensor] : fixtureWeights()) {
    const int s = i++ % 2;
    shard[s][name] = tensor;
    index["weight_map"][name] = "model-0000" + std::to_string(s + 1) + "-of-00002.safetensors";
  }
  for (int s = 0; s < 2; ++s)
    writeTorchSafetensors((dir.path() / ("model-0000" + std::to_string(s + 1) + "-of-00002.safetensors")).string(), shard[s]);
  writeJson(dir.path() / "model.safetensors.index.json", index);
  std::shared_ptr<VlmModel> sharded = loadModel(dir.str(), {});
  std::shared_ptr<VlmModel> single = loadModel(dataPath("models/tiny-llava"), {});
  // Bit for bit: the same weights through the same kernels on the same shapes; only the file
  // layout differs.
  EXPECT_TRUE(torch::equal(prefillLogits(sharded, ref.ids(), ref["pixel_values"]),
                           prefillLogits(single, ref.ids(), ref["pixel_values"])));
}

TEST(LlavaVariants, Bf16WeightsLoadExactlyAsRoundedFp32) {
  const Reference ref(dataPath("models/tiny-llava/expected.safetensors"));
  auto weights = fixtureWeights();
  std::map<std::string, at::Tensor> bf16, rounded;
  for (auto& [name, t] : weights) {
    bf16[name] = t.to(torch::kBFloat16);
    rounded[name] = bf16[name].to(torch::kFloat32);
  }
  TempDir bf16_dir, rounded_dir;
  const json config = readJson(dataPath("models/tiny-llava/config.json"));
  std::shared_ptr<VlmModel> a = loadModel(writeModel(bf16_dir, config, bf16), {});
  std::shared_ptr<VlmModel> b = loadModel(writeModel(rounded_dir, config, rounded), {});
  // Bit for bit: bf16 -> fp32 is exact, so both models hold identical fp32 weights and run the
  // same kernels on the same shapes.
  EXPECT_TRUE(torch::equal(prefillLogits(a, ref.ids(), ref["pixel_values"]),
                           prefillLogits(b, ref.ids(), ref["pixel_values"])));
  // And bf16 compute on CPU runs and stays near the fp32 reference.
  LoadOptions bf16_compute;
  bf16_compute.float_dtype = torch::kBFloat16;
  std::shared_ptr<VlmModel> c = loadModel(bf16_dir.str(), bf16_compute);
  EXPECT_LT(maxAbsDiff(prefillLogits(c, ref.ids(), ref["pixel_values"]), ref["logits"][0][-1]), 0.5);
}

// vision_features for other feature layers and strategies equal the fixture's CLIP hidden states.
TEST(LlavaVariants, FeatureLayerAndStrategyComeFromConfig) {
  const Reference ref(dataPath("models/tiny-llava/expected.safetensors"));
  struct Variant {
    json layer;
    std::string strategy;
    std::vector<int> hidden;  // vision_hidden_states.i concatenated
  };
  for (const Variant& v : {Variant{-1, "default", {3}}, Variant{1, "default", {1}}, Variant{-2, "full", {2}},
                           Variant{json::array({-3, -1}), "default", {1, 3}}}) {
    json config = readJson(dataPath("models/tiny-llava/config.json"));
    config["vision_feature_layer"] = v.layer;
    config["vision_feature_select_strategy"] = v.strategy;
    auto weights = fixtureWeights();
    if (v.hidden.size() > 1) {  // the projector takes the concatenation: give it a fitting input layer
      torch::manual_seed(0);
      weights["multi_modal_projector.linear_1.weight"] = torch::randn({64, 32 * static_cast<int64_t>(v.hidden.size())}) * 0.1;
    }
    TempDir dir;
    auto model = loadLlava(writeModel(dir, config, weights), {});
    std::vector<at::Tensor> parts;
    for (int i : v.hidden) {
      auto h = ref["vision_hidden_states." + std::to_string(i)];
      parts.push_back(v.strategy == "full" ? h : h.narrow(1, 1, h.size(1) - 1));
    }
    EXPECT_LT(maxAbsDiff(model->visionFeatures(ref["pixel_values"]), torch::cat(parts, -1)), 1e-4)
        << v.layer.dump() << " " << v.strategy;
    if (v.strategy == "full") {
      // 17 features per image: the prompt needs 17 image tokens, the first one marked as CLS.
      std::vector<std::int64_t> ids = {1, 20, 21};
      ids.insert(ids.end(), 17, 150);
      ids.insert(ids.end(), {13, 22, 21});
      const PromptPlan plan = model->planFromIds(ids, ref["pixel_values"]);
      EXPECT_EQ(plan.tokens[3].modality, Modality::Separator);
      EXPECT_EQ(plan.tokens[4].row, 0);
      EXPECT_EQ(plan.tokens[19].row, 3);
      std::shared_ptr<VlmModel> shared = std::move(model);
      expectCachedDecodeMatchesRecompute(shared, ids, ref["pixel_values"], 4);
    }
  }
}

TEST(LlavaVariants, ImagesInsideTheTextKeepTheirSpans) {
  const Reference ref(dataPath("models/tiny-llava/expected_two_images.safetensors"));
  std::shared_ptr<VlmModel> model = loadModel(dataPath("models/tiny-llava"), {});
  // text, image, text, image, text: both spans are found and numbered in order.
  std::vector<std::int64_t> ids = {1, 20, 21, 40, 41};
  ids.insert(ids.end(), 16, 150);
  ids.insert(ids.end(), {42, 43, 44});
  ids.insert(ids.end(), 16, 150);
  ids.insert(ids.end(), {45, 22, 21});
  const PromptPlan plan = model->planFromIds(ids, ref["pixel_values"]);
  EXPECT_EQ(plan.tokens[5].image, 0);
  EXPECT_EQ(plan.tokens[5 + 16 + 3].image, 1);
  EXPECT_EQ(plan.tokens[5 + 16 + 3 + 15].row, 3);
  EXPECT_EQ(plan.tokens[5 + 16].modality, Modality::Text);
  expectCachedDecodeMatchesRecompute(model, ids, ref["pixel_values"], 6);
}

// Many images' attention runs in slices of the batch (so the scores stay small); the result is
// that of all of them at once, within fp32 rounding (the products' shapes differ).
TEST(ClipAttention, SlicedBatchEqualsTheWholeBatch) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(6);
  VisionConfig c;
  c.hidden_size = 64;
  c.num_attention_heads = 8;  // 8 heads x 2048^2 fp32 scores: over the slice size, so 1 per slice
  ClipAttention attn(c);
  const auto x = torch::randn({2, 2048, 64});
  const auto got = attn->forward(x);
  auto split = [&](const torch::Tensor& t) { return t.view({2, 2048, 8, 8}).transpose(1, 2); };
  const auto q = split(attn->q_proj(x)) / std::sqrt(8.0), k = split(attn->k_proj(x)),
             v = split(attn->v_proj(x));
  const auto mixed = torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-1, -2)), -1), v);
  const auto want = attn->out_proj(mixed.transpose(1, 2).reshape({2, 2048, 64}));
  EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-5))
      << "max difference " << (got - want).abs().max().item<float>();
}

TEST(LlavaVariants, BadCheckpointsGiveErrorsNamingTheTensor) {
  TempDir dir;
  json config = readJson(dataPath("models/tiny-llava/config.json"));
  auto weights = fixtureWeights();
  weights.erase("multi_modal_projector.linear_2.bias");
  writeModel(dir, config, weights);
  try {
    loadModel(dir.str(), {});
    FAIL() << "missing tensor accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multi_modal_projector.linear_2.bias"), std::string::npos) << e.what();
  }
  config["text_config"]["hidden_size"] = 32;
  config["text_config"]["head_dim"] = 8;
  writeModel(dir, config, fixtureWeights());
  try {
    loadModel(dir.str(), {});
    FAIL() << "mis-shaped tensor accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has shape"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hae::test
