// Phi-3 (tiny-phi3, native transformers Phi3ForCausalLM with LongRoPE) and Phi-3.5-vision
// (tiny-phi3v, hub remote code) against the Hugging Face reference fixtures: configs, LongRoPE
// tables, prefill logits and every hidden state within 1e-4, the 16-token greedy decode, the
// image processor at num_crops 4 and 16 (uint8 and float32 stages by checksum), other crop grids,
// prompt metadata, and whole runs under eviction policies.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "engine/engine.h"
#include "hae/error.h"
#include "hae/image.h"
#include "hae/phi3_config.h"
#include "hae/phi3v_preprocess.h"
#include "hae/session.h"
#include "model/reference.h"
#include "models/phi3v.h"
#include "sha256.h"

namespace hae::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kTolerance = 1e-4;

json readJson(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// A fixture name under tests/data/models, or an absolute folder.
std::shared_ptr<Phi3VModel> loadPhi3Model(const std::string& name, LoadOptions options = {}) {
  std::shared_ptr<VlmModel> model =
      loadModel(name.front() == '/' ? name : dataPath("models/" + name), options);
  auto phi = std::dynamic_pointer_cast<Phi3VModel>(model);
  EXPECT_TRUE(phi) << name << " did not load as a Phi-3 model";
  return phi;
}

void expectError(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no hae::Error (expected one mentioning '" << needle << "')";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// ---- configs ------------------------------------------------------------------------------

TEST(Phi3Config, FixturesAndTheRealPhi35VisionConfig) {
  const Phi3Config text = loadPhi3Config(dataPath("models/tiny-phi3"));
  EXPECT_FALSE(text.has_vision);
  EXPECT_EQ(text.text.model_type, "phi3");
  EXPECT_EQ(text.text.head_dim, 16);
  EXPECT_EQ(text.originalMaxPositions(), 32);
  ASSERT_TRUE(text.text.rope_scaling);
  EXPECT_EQ(text.text.rope_scaling->rope_type, "longrope");

  const Phi3Config tiny = loadPhi3Config(dataPath("models/tiny-phi3v"));
  EXPECT_TRUE(tiny.has_vision);
  EXPECT_EQ(tiny.vision.hidden_size, 16);  // img_processor.vision_config (the HAE extension)
  EXPECT_EQ(tiny.vision.num_attention_heads, 2);
  EXPECT_EQ(tiny.vision.num_hidden_layers, 3);
  EXPECT_EQ(tiny.image_dim_out, 16);
  EXPECT_EQ(tiny.text.rope_scaling->rope_type, "longrope");  // "su" in the file

  // The real config sets no tower keys: the hub's hard-coded CLIP ViT-L/14-336 applies.
  const Phi3Config real = loadPhi3Config(dataPath("configs/Phi-3.5-vision-instruct"));
  EXPECT_TRUE(real.has_vision);
  EXPECT_EQ(real.text.hidden_size, 3072);
  EXPECT_EQ(real.text.num_hidden_layers, 32);
  EXPECT_EQ(real.text.num_key_value_heads, 32);
  EXPECT_EQ(real.text.head_dim, 96);
  EXPECT_EQ(real.text.vocab_size, 32064);
  EXPECT_EQ(real.text.rope_scaling->short_factor.size(), 48u);
  EXPECT_EQ(real.originalMaxPositions(), 4096);
  EXPECT_EQ(real.vision.hidden_size, 1024);
  EXPECT_EQ(real.vision.num_hidden_layers, 24);
  EXPECT_EQ(real.vision.num_attention_heads, 16);
  EXPECT_EQ(real.vision.image_size, 336);
  EXPECT_EQ(real.num_img_tokens, 144);

  // Phi3Config's defaults for absent keys.
  const Phi3Config bare = parsePhi3Config(R"({"model_type": "phi3"})", "config.json");
  EXPECT_EQ(bare.text.hidden_size, 3072);
  EXPECT_EQ(bare.text.intermediate_size, 8192);
  EXPECT_EQ(bare.text.eos_token_ids, std::vector<int>{32000});
  EXPECT_EQ(bare.originalMaxPositions(), 4096);
  EXPECT_FALSE(parsePhi3Config(R"({"model_type": "phi3_v"})", "config.json")
                   .has_vision);  // embd_layer "default"

  expectError(
      [] {
        parsePhi3Config(R"({"model_type": "phi3", "hidden_size": 64, "num_attention_heads": 4,
      "rope_scaling": {"type": "yarn", "short_factor": [1,1,1,1,1,1,1,1], "long_factor": [1,1,1,1,1,1,1,1]}})",
                        "config.json");
      },
      "rope_scaling.type: 'yarn' is not supported");
  expectError(
      [] {
        parsePhi3Config(R"({"model_type": "phi3", "hidden_size": 64, "num_attention_heads": 4,
      "rope_scaling": {"type": "su", "short_factor": [1,1], "long_factor": [1,1]}})",
                        "config.json");
      },
      "rope_scaling.short_factor: has 2 values, head_dim / 2 is 8");
  expectError(
      [] {
        parsePhi3Config(R"({"model_type": "phi3_v", "embd_layer": {"embedding_cls": "image",
      "use_hd_transform": true, "with_learnable_separator": true, "hd_transform_order": "sub_glb",
      "projection_cls": "linear"}})",
                        "config.json");
      },
      "embd_layer.projection_cls");
  expectError(
      [] {
        parsePhi3Config(R"({"model_type": "phi3_v", "embd_layer": {"embedding_cls": "image",
      "use_hd_transform": true, "with_learnable_separator": true, "hd_transform_order": "sub_glb",
      "projection_cls": "mlp"}})",
                        "config.json");
      },
      "img_processor: missing");

  const auto pre = loadPhi3vPreprocessConfig(
      dataPath("configs/Phi-3.5-vision-instruct/preprocessor_config.phi-3-vision-128k.json"));
  EXPECT_EQ(pre.num_crops, 16);
  EXPECT_FLOAT_EQ(pre.std[2], 0.27577711f);
}

// ---- LongRoPE -----------------------------------------------------------------------------

TEST(Phi3Rope, TablesAndSwitchRule) {
  const Reference ref(dataPath("models/tiny-phi3/expected_long.safetensors"));
  const LongRope rope(loadPhi3Config(dataPath("models/tiny-phi3")).text);
  EXPECT_EQ(maxAbsDiff(rope.invFreq(LongRope::Factors::Short), ref["rope_inv_freq_short"]), 0.0);
  EXPECT_EQ(maxAbsDiff(rope.invFreq(LongRope::Factors::Long), ref["rope_inv_freq_long"]), 0.0);
  EXPECT_NEAR(rope.attentionFactor(), ref["rope_attention_factor"].item<float>(), 1e-7);
  // original_max_position_embeddings 32: a cache of 32 tokens is short, 33 long.
  EXPECT_EQ(rope.factorsFor(32), LongRope::Factors::Short);
  EXPECT_EQ(rope.factorsFor(33), LongRope::Factors::Long);
}

// ---- Phi-3 parity -------------------------------------------------------------------------

struct TextCase {
  std::string file, meta_case;
  bool crosses;  // compare decode with the step-wise no-cache reference (quirk Q7)
};

class Phi3Parity : public ::testing::TestWithParam<TextCase> {};

TEST_P(Phi3Parity, PrefillAndGreedyDecode) {
  const TextCase c = GetParam();
  auto model = loadPhi3Model("tiny-phi3");
  const Reference ref(dataPath("models/tiny-phi3/" + c.file));
  Engine engine(model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  auto last = engine.prefill(model->planFromIds(ref.ids(), {}), &cap);

  double hidden = maxAbsDiff(cap.inputs_embeds, ref["inputs_embeds"]);
  ASSERT_EQ(cap.hidden_states.size(), 3u);
  for (std::size_t i = 0; i < cap.hidden_states.size(); ++i)
    hidden = std::max(
        hidden, maxAbsDiff(cap.hidden_states[i], ref["hidden_states." + std::to_string(i + 1)]));
  hidden =
      std::max(hidden, maxAbsDiff(cap.last_layer_output_prenorm, ref["last_layer_output_prenorm"]));
  const double logits = maxAbsDiff(cap.logits, ref["logits"]);
  EXPECT_LT(hidden, kTolerance);
  EXPECT_LT(logits, kTolerance);

  // The cross case: transformers' own cached decode is wrong after the crossing (fixtures README,
  // quirk Q7), so the reference is the step-wise causal forward and its argmax. That forward ran
  // on transformers' generated prefix, so the decode is fed gen_ids (which are also our own greedy
  // picks up to step 11, where the two references part).
  const json meta =
      readJson(dataPath("models/tiny-phi3/meta.json"))["cases"][c.meta_case]["report"];
  const auto want_ids =
      meta[c.crosses ? "greedy_ids_from_stepwise_nocache" : "gen_ids"].get<std::vector<int64_t>>();
  const auto fed_ids = meta["gen_ids"].get<std::vector<int64_t>>();
  auto want_logits = ref[c.crosses ? "gen_logits_nocache" : "gen_logits"][0];
  auto hf_cached = ref["gen_logits"][0];
  double decode = 0, before_cross = 0, after_cross_vs_hf = 0;
  for (int s = 0; s < 16; ++s) {
    decode = std::max(decode, maxAbsDiff(last, want_logits[s]));
    const double vs_hf = maxAbsDiff(last, hf_cached[s]);
    (s < 9 ? before_cross : after_cross_vs_hf) =
        std::max(s < 9 ? before_cross : after_cross_vs_hf, vs_hf);
    ASSERT_EQ(last.argmax().item<int64_t>(), want_ids[s]) << "greedy step " << s;
    if (s + 1 < 16) last = engine.decode(fed_ids[s]);
  }
  EXPECT_LT(decode, kTolerance);
  if (c.crosses) {
    EXPECT_LT(before_cross, kTolerance);  // the two references agree before step 9 ...
    EXPECT_GT(after_cross_vs_hf, 0.1);    // ... and we follow the causal one after it
    EXPECT_EQ(model->activeFactors(), LongRope::Factors::Long);
  }
  std::cout << "[phi3 " << c.meta_case << "] max-abs: hidden states " << hidden
            << ", prefill logits " << logits << ", decode logits " << decode
            << (c.crosses ? " (vs step-wise no-cache)" : "") << "\n";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Phi3Parity,
                         ::testing::Values(TextCase{"expected.safetensors", "short", false},
                                           TextCase{"expected_long.safetensors", "long", false},
                                           TextCase{"expected_cross.safetensors", "cross", true}),
                         [](const auto& info) { return info.param.meta_case; });

// After an eviction the engine cannot recompute the cache at the crossing; the run goes on with
// the old keys (documented in text/phi3.h) instead of failing, and switches once the kept cache
// itself exceeds original_max_position_embeddings.
TEST(Phi3Cross, EvictingPolicyRunsThroughTheCrossing) {
  auto model = loadPhi3Model("tiny-phi3");
  const Reference ref(dataPath("models/tiny-phi3/expected_cross.safetensors"));
  Engine engine(model, makePolicy("random", {{"keep_ratio", "0.8"}}));
  auto last = engine.prefill(model->planFromIds(ref.ids(), {}));
  const int kept = engine.cache().layer(0).size();
  ASSERT_LT(kept, 24);
  for (int s = 0; s < 16; ++s) {
    ASSERT_TRUE(torch::isfinite(last).all().item<bool>());
    last = engine.decode(last.argmax().item<int64_t>());
  }
  EXPECT_EQ(engine.cache().layer(0).size(), kept + 16);
  EXPECT_EQ(model->activeFactors(),
            kept + 16 > 32 ? LongRope::Factors::Long : LongRope::Factors::Short);
}

// fp16 checkpoints are converted on load (LibTorch 1.13 has no fp16 GEMM on CPU); bf16 runs.
TEST(Phi3Dtypes, Fp16CheckpointAndBf16Compute) {
  const fs::path dir = fs::temp_directory_path() / ("hae_phi3_fp16_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* f : {"config.json", "generation_config.json"})
    fs::copy_file(dataPath(std::string("models/tiny-phi3/") + f), dir / f,
                  fs::copy_options::overwrite_existing);
  const auto archive = SafetensorsArchive::openFile(dataPath("models/tiny-phi3/model.safetensors"));
  std::map<std::string, at::Tensor> half;
  for (const auto& name : archive.names()) half[name] = toTorch(archive.get(name)).to(torch::kHalf);
  writeTorchSafetensors((dir / "model.safetensors").string(), half);

  const Reference ref(dataPath("models/tiny-phi3/expected.safetensors"));
  for (auto [folder, dtype, tol] :
       {std::tuple{dir.string(), torch::kFloat32, 0.05},
        std::tuple{dataPath("models/tiny-phi3"), torch::kBFloat16, 0.5}}) {
    LoadOptions options;
    options.float_dtype = dtype;
    std::shared_ptr<VlmModel> model = loadModel(folder, options);
    Engine engine(model, makePolicy("full", {}));
    ForwardCapture cap;
    cap.enabled = true;
    engine.prefill(model->planFromIds(ref.ids(), {}), &cap);
    const double diff = maxAbsDiff(cap.logits, ref["logits"]);
    EXPECT_LT(diff, tol) << folder << " " << c10::toString(dtype);
    std::cout << "[phi3 " << (dtype == torch::kFloat32 ? "fp16 checkpoint -> fp32" : "bf16 compute")
              << "] prefill logits max-abs vs fp32 reference: " << diff << "\n";
  }
  fs::remove_all(dir);
}

// ---- Phi-3.5-V parity ---------------------------------------------------------------------

class Phi3vParity : public ::testing::TestWithParam<std::string> {};

TEST_P(Phi3vParity, VisionPrefillAndGreedyDecode) {
  auto model = loadPhi3Model("tiny-phi3v");
  const Reference ref(dataPath("models/tiny-phi3v/" + GetParam()));
  const auto pixels = ref["pixel_values"];
  const PromptPlan plan = model->planFromIds(ref.ids(), pixels);

  // The crop grids recovered from the prompt are the processor's image_sizes / 336.
  const auto grids = model->imageGrids(ref["input_ids"][0], pixels);
  const auto sizes = ref["image_sizes"];
  ASSERT_EQ(grids.size(), static_cast<std::size_t>(sizes.size(0)));
  for (std::size_t k = 0; k < grids.size(); ++k) {
    EXPECT_EQ(grids[k].rows * 336, sizes[k][0].item<int64_t>());
    EXPECT_EQ(grids[k].cols * 336, sizes[k][1].item<int64_t>());
  }

  Engine engine(model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  auto last = engine.prefill(plan, &cap);

  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> hd;
  for (std::size_t k = 0; k < grids.size(); ++k)
    hd.push_back(model->hdFeatures(model->visionFeatures(pixels[k].narrow(0, 0, grids[k].slots())),
                                   grids[k]));
  const double vision = maxAbsDiff(cap.image.vision_features, ref["vision_features"]);
  const double hd_diff = maxAbsDiff(torch::cat(hd, 0), ref["hd_features"]);
  const double embeds = maxAbsDiff(cap.image.image_embeds, ref["image_embeds"]);
  double hidden = maxAbsDiff(cap.inputs_embeds, ref["inputs_embeds"]);
  ASSERT_EQ(cap.hidden_states.size(), 2u);
  for (std::size_t i = 0; i < cap.hidden_states.size(); ++i)
    hidden = std::max(
        hidden, maxAbsDiff(cap.hidden_states[i], ref["hidden_states." + std::to_string(i + 1)]));
  hidden =
      std::max(hidden, maxAbsDiff(cap.last_layer_output_prenorm, ref["last_layer_output_prenorm"]));
  const double logits = maxAbsDiff(cap.logits, ref["logits"]);
  EXPECT_LT(vision, kTolerance);
  EXPECT_LT(hd_diff, kTolerance);
  EXPECT_LT(embeds, kTolerance);
  EXPECT_LT(hidden, kTolerance);
  EXPECT_LT(logits, kTolerance);

  auto gen_ids = ref["gen_ids"][0];
  auto gen_logits = ref["gen_logits"][0];
  double decode = 0;
  for (int s = 0; s < 16; ++s) {
    decode = std::max(decode, maxAbsDiff(last, gen_logits[s]));
    const auto token = last.argmax().item<int64_t>();
    ASSERT_EQ(token, gen_ids[s].item<int64_t>()) << "greedy step " << s;
    if (s + 1 < 16) last = engine.decode(token);
  }
  EXPECT_LT(decode, kTolerance);
  std::cout << "[phi3v " << GetParam() << "] max-abs: vision features " << vision
            << ", hd features " << hd_diff << ", image embeds " << embeds << ", hidden states "
            << hidden << ", prefill logits " << logits << ", decode logits " << decode << "\n";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Phi3vParity,
                         ::testing::Values("expected.safetensors",
                                           "expected_two_images.safetensors"));

// Every visual token's (image, crop, row, col) names the patches the HD assembly put in its row:
// features that encode their own slot and patch coordinates come out where the metadata says.
TEST(Phi3vPlan, TokenMetadataAgreesWithTheHdAssembly) {
  auto model = loadPhi3Model("tiny-phi3v");
  const Reference ref(dataPath("models/tiny-phi3v/expected_two_images.safetensors"));
  const auto pixels = ref["pixel_values"];
  const PromptPlan plan = model->planFromIds(ref.ids(), pixels);
  const auto grids = model->imageGrids(ref["input_ids"][0], pixels);
  ASSERT_EQ(grids.size(), 2u);
  EXPECT_EQ(grids[0].rows, 1);
  EXPECT_EQ(grids[0].cols, 2);
  EXPECT_EQ(grids[1].rows, 2);
  EXPECT_EQ(grids[1].cols, 1);

  EXPECT_EQ(plan.tokens[0].modality, Modality::Prefix);
  EXPECT_EQ(plan.tokens[461].id, 1);  // the <s> the processor puts after each image block
  EXPECT_EQ(plan.tokens[461].modality, Modality::Text);
  EXPECT_EQ(plan.tokens[933].id, 1);

  torch::NoGradGuard no_grad;
  const int side = 24, m = 12;
  for (int k = 0; k < 2; ++k) {
    const auto& g = grids[k];
    // Channel 0: slot, 1: patch row, 2: patch column (D = 16, the rest zero).
    auto features = torch::zeros({g.slots(), side * side, 16});
    auto patch = torch::arange(side * side, torch::kInt64);
    features.select(2, 0).copy_(
        torch::arange(g.slots()).view({-1, 1}).expand({g.slots(), side * side}));
    features.select(2, 1).copy_(torch::div(patch, side, "floor").expand({g.slots(), side * side}));
    features.select(2, 2).copy_(torch::remainder(patch, side).expand({g.slots(), side * side}));
    const auto hd = model->hdFeatures(features, g);
    const auto& emb = *model->imageEmbedding();
    int idx = 0, visual = 0, separators = 0;
    for (const auto& t : plan.tokens) {
      if (t.id != -(k + 1)) continue;
      const auto row = hd[idx++];
      ASSERT_EQ(t.image, k);
      if (t.modality == Modality::Separator) {
        ++separators;
        const bool newline = torch::equal(row, emb.sub_GN.view({-1})),
                   global_sep = torch::equal(row, emb.glb_GN.view({-1}));
        EXPECT_TRUE(newline || global_sep) << "separator at span index " << idx - 1;
        continue;
      }
      ++visual;
      ASSERT_EQ(t.modality, Modality::Visual);
      ASSERT_TRUE(t.crop >= 0 && t.crop < g.slots() && t.row >= 0 && t.row < m && t.col >= 0 &&
                  t.col < m);
      for (int dy = 0; dy < 2; ++dy)
        for (int dx = 0; dx < 2; ++dx) {
          const auto block = row.narrow(0, (dy * 2 + dx) * 16, 3);
          ASSERT_EQ(block[0].item<float>(), t.crop);
          ASSERT_EQ(block[1].item<float>(), 2 * t.row + dy);
          ASSERT_EQ(block[2].item<float>(), 2 * t.col + dx);
        }
    }
    EXPECT_EQ(visual, g.slots() * m * m);
    EXPECT_EQ(separators, g.rows * m + m + 1);
    EXPECT_EQ(idx, hd.size(0));
  }
}

// The processor's tokenization with a real SentencePiece-style tokenizer (the lenml-llama2 fixture,
// whose post-processor adds <s>): the chat text is split at the image tags and every chunk gets
// its own <s>, so one follows the image block.
TEST(Phi3vPlan, ChunksAreTokenizedWithTheirOwnBos) {
  const fs::path dir = fs::temp_directory_path() / ("hae_phi3v_tok_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* f : {"config.json", "generation_config.json", "model.safetensors"})
    fs::copy_file(dataPath(std::string("models/tiny-phi3v/") + f), dir / f,
                  fs::copy_options::overwrite_existing);
  fs::copy_file(dataPath("tokenizers/lenml-llama2/tokenizer.json"), dir / "tokenizer.json",
                fs::copy_options::overwrite_existing);
  auto model = loadPhi3Model(dir.string());
  const Tokenizer& tok = *model->tokenizer();
  const std::string image = dataPath("preprocess/images/logo.png");
  const PromptPlan plan = model->buildPrompt("What is this?", {image});

  std::vector<std::int64_t> want;
  for (int id : tok.encode("<|user|>\n", true)) want.push_back(id);
  want.insert(want.end(), 757, -1);  // logo.png (640x480) at num_crops 4: a 2x2 grid
  for (int id : tok.encode("\nWhat is this?<|end|>\n<|assistant|>\n", true)) want.push_back(id);
  EXPECT_EQ(plan.ids, want);
  EXPECT_EQ(plan.ids.front(), 1);
  EXPECT_EQ(
      plan.ids[want.size() - tok.encode("\nWhat is this?<|end|>\n<|assistant|>\n", true).size()],
      1);
  // "<image>" in the question places the image there instead.
  const PromptPlan inline_plan = model->buildPrompt("Look: <image> now", {image});
  std::vector<std::int64_t> want_inline;
  for (int id : tok.encode("<|user|>\nLook: ", true)) want_inline.push_back(id);
  want_inline.insert(want_inline.end(), 757, -1);
  for (int id : tok.encode(" now<|end|>\n<|assistant|>\n", true)) want_inline.push_back(id);
  EXPECT_EQ(inline_plan.ids, want_inline);
  expectError([&] { model->buildPrompt("<|image_2|> only", {image}); }, "must name each");
  fs::remove_all(dir);
}

// Explicit tags may name the images out of order: image k's features go where -(k+1) stands, so
// "<|image_2|> <|image_1|>" over (b, a) embeds exactly like "<|image_1|> <|image_2|>" over (a, b).
TEST(Phi3vPlan, ImagesTaggedOutOfOrderLandWhereTheirTagsAre) {
  auto model = loadPhi3Model("tiny-phi3v");
  const std::string a = dataPath("preprocess/images/rose.png"),
                    b = dataPath("preprocess/images/logo.png");
  const PromptPlan in_order = model->buildPrompt("<|image_1|>\n<|image_2|>\nsame?", {a, b});
  const PromptPlan swapped = model->buildPrompt("<|image_2|>\n<|image_1|>\nsame?", {b, a});
  torch::NoGradGuard no_grad;
  const auto x = model->embed(torch::tensor(in_order.ids, torch::kInt64), in_order.pixel_values);
  const auto y = model->embed(torch::tensor(swapped.ids, torch::kInt64), swapped.pixel_values);
  // The tower sees the crops in another order: the same GEMMs with rows permuted, which some
  // BLAS kernels (OpenBLAS Haswell at 1 thread) sum differently at block edges.
  expectCloseRelative(x, y, 1e-5, "embeddings of the swapped tags");
}

// ---- preprocessing ------------------------------------------------------------------------

struct PreCase {
  int num_crops;
  std::string input, file;
};

class Phi3vPreprocess : public ::testing::TestWithParam<PreCase> {};

TEST_P(Phi3vPreprocess, MatchesTheReferenceProcessor) {
  const PreCase c = GetParam();
  const json all = readJson(dataPath("preprocess/preprocess.json"));
  const json& want = all[fmt::format("phi3v_nc{}", c.num_crops)][c.input];
  const RgbImage image = loadImage(dataPath("preprocess/images/" + c.file));
  ASSERT_EQ(sha256Hex(image.pixels.data(), image.pixels.size()),
            all["inputs"][c.input]["decoded_rgb_sha256"].get<std::string>());

  Phi3vPreprocessConfig config;
  config.num_crops = c.num_crops;
  const Phi3vHdImage hd = phi3vHdTransform(image, config);
  const Phi3vLayout& l = hd.layout;
  EXPECT_EQ(l.hdHeight(), want["image_sizes"][0].get<int>());
  EXPECT_EQ(l.hdWidth(), want["image_sizes"][1].get<int>());
  EXPECT_EQ(l.rows, want["crop_grid_hw"][0].get<int>());
  EXPECT_EQ(l.cols, want["crop_grid_hw"][1].get<int>());
  EXPECT_EQ(l.transposed, want["transposed"].get<bool>());
  EXPECT_EQ(hd.num_img_tokens, want["num_img_tokens"].get<int>());
  EXPECT_EQ(sha256Hex(hd.hd_u8.pixels.data(), hd.hd_u8.pixels.size()),
            want["hd_image_u8_sha256"].get<std::string>());

  const auto slots = phi3vPixelSlots(hd, c.num_crops + 1);
  const auto& slot_want = want["slots"];
  ASSERT_EQ(slots.size(0), static_cast<int64_t>(slot_want.size()));
  EXPECT_EQ(l.rows * l.cols + 1, want["slots_used"].get<int>());
  const Reference ref(
      dataPath(fmt::format("preprocess/phi3v_nc{}/{}.safetensors", c.num_crops, c.input)));
  const auto stats = ref["slot_stats"];
  for (int64_t s = 0; s < slots.size(0); ++s) {
    const auto slot = slots[s].contiguous();
    // Bit-exact on every x86-64 CPU: the float stage is one scalar IEEE operation after another in a
    // fixed order (no BLAS, no vector reduction; CMakeLists.txt turns FMA contraction off).
    EXPECT_EQ(sha256Hex(slot.data_ptr<float>(), slot.numel() * sizeof(float)),
              slot_want[s]["sha256_f32"].get<std::string>())
        << "slot " << s;
    const auto d = slot.to(torch::kFloat64);
    EXPECT_NEAR(d.sum().item<double>(), stats[s][0].item<double>(),
                1e-6 * (1 + std::abs(stats[s][0].item<double>())));
    EXPECT_NEAR(d.pow(2).sum().item<double>(), stats[s][1].item<double>(),
                1e-6 * (1 + stats[s][1].item<double>()));
    EXPECT_EQ(d.min().item<double>(), stats[s][2].item<double>());
    EXPECT_EQ(d.max().item<double>(), stats[s][3].item<double>());
  }
  const int64_t used = l.rows * l.cols + 1;
  using torch::indexing::None;
  using torch::indexing::Slice;
  EXPECT_EQ(maxAbsDiff(slots.narrow(0, 0, used)
                           .index({Slice(), Slice(), Slice(6, None, 12), Slice(6, None, 12)}),
                       ref["pixel_values_sub"]),
            0.0);
  EXPECT_EQ(
      maxAbsDiff(slots[0].index({Slice(), Slice(152, 184), Slice(152, 184)}), ref["global_window"]),
      0.0);
  EXPECT_EQ(maxAbsDiff(slots[1].index({Slice(), Slice(0, 32), Slice(0, 32)}), ref["crop1_window"]),
            0.0);
  EXPECT_EQ(ref["num_img_tokens"][0].item<int64_t>(), hd.num_img_tokens);
}

std::vector<PreCase> preCases() {
  std::vector<PreCase> out;
  for (int nc : {4, 16})
    for (auto [input, file] : {std::pair{"wizard", "wizard.png"},
                               {"rose", "rose.png"},
                               {"rose_jpg", "rose.jpg"},
                               {"logo", "logo.png"}})
      out.push_back({nc, input, file});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Phi3vPreprocess, ::testing::ValuesIn(preCases()),
                         [](const auto& info) {
                           return info.param.input + "_nc" + std::to_string(info.param.num_crops);
                         });

// Grids the fixtures do not cover: phi3vLayout against a literal transcription of HD_transform +
// padding_336, and the token count against the processor's own expression on the HD size
// (Python precedence: h//336*w//336 is ((h//336)*w)//336).
TEST(Phi3vPreprocessRule, OtherNumCropsAndShapes) {
  const std::pair<int, int> sizes[] = {{336, 336},  {640, 480},   {480, 640},   {1000, 100},
                                       {100, 1000}, {1920, 1080}, {1080, 1920}, {337, 335},
                                       {2000, 30},  {500, 499},   {700, 2100}};
  int checked = 0;
  for (int nc = 1; nc <= 32; ++nc)
    for (auto [w0, h0] : sizes) {
      int w = w0, h = h0;
      const bool trans = w < h;
      if (trans) std::swap(w, h);
      const double ratio = static_cast<double>(w) / h;
      int scale = 1;
      while (scale * std::ceil(scale / ratio) <= nc) scale++;
      scale -= 1;
      const int new_w = scale * 336, new_h = static_cast<int>(new_w / ratio);
      const int tar = static_cast<int>(std::ceil(new_h / 336.0) * 336);
      const int H = trans ? new_w : tar, W = trans ? tar : new_w;
      const int tokens = (H / 336 * W / 336 + 1) * 144 + 1 + (H / 336 + 1) * 12;

      const Phi3vLayout l = phi3vLayout(w0, h0, nc);
      ASSERT_EQ(l.hdHeight(), H) << w0 << "x" << h0 << " nc " << nc;
      ASSERT_EQ(l.hdWidth(), W) << w0 << "x" << h0 << " nc " << nc;
      ASSERT_EQ(phi3vImageTokens(l.rows, l.cols), tokens);
      ASSERT_LE(l.rows * l.cols, nc);
      ASSERT_LE(l.offset_x + l.resized_w, W);
      ASSERT_LE(l.offset_y + l.resized_h, H);
      ++checked;
    }
  EXPECT_EQ(checked, 32 * 11);
}

// A grid no fixture has (num_crops 9: a 3:1 image gets 2x4 crops, its portrait twin 4x2), end to
// end through the tiny model: prompt, pixel slots, metadata and the feature count embed() checks.
TEST(Phi3vPreprocessRule, NonFixtureGridRunsThroughTheModel) {
  const fs::path dir = fs::temp_directory_path() / ("hae_phi3v_grid_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  cv::Mat wide(300, 900, CV_8UC3), tall(900, 300, CV_8UC3);
  cv::randu(wide, 0, 255);
  cv::randu(tall, 0, 255);
  cv::imwrite((dir / "wide.png").string(), wide);
  cv::imwrite((dir / "tall.png").string(), tall);

  LoadOptions options;
  options.image_num_crops = 9;
  auto model = loadPhi3Model("tiny-phi3v", options);
  const PromptPlan plan =
      model->buildPrompt("<image> and <image>: what differs?",
                         {(dir / "wide.png").string(), (dir / "tall.png").string()});
  const int tokens_wide = phi3vImageTokens(2, 4), tokens_tall = phi3vImageTokens(4, 2);
  EXPECT_EQ(std::count(plan.ids.begin(), plan.ids.end(), -1), tokens_wide);
  EXPECT_EQ(std::count(plan.ids.begin(), plan.ids.end(), -2), tokens_tall);
  EXPECT_EQ(plan.pixel_values.sizes().vec(), (std::vector<int64_t>{2, 9, 3, 336, 336}));
  ASSERT_EQ(plan.images.size(), 2u);
  EXPECT_EQ(plan.images[0].grids.size(), 9u);
  EXPECT_TRUE(plan.images[0].grids[0].global);
  // Crop (row 1, col 3) of the wide image covers its bottom-right corner: x from 3/4 of the width.
  const auto& corner = plan.images[0].grids[1 + 1 * 4 + 3];
  EXPECT_NEAR(corner.region.x, 900 * 3 / 4.0, 1e-3);
  EXPECT_NEAR(corner.region.x + corner.region.w, 900, 1e-3);
  int visual = 0;
  for (const auto& t : plan.tokens) visual += t.modality == Modality::Visual;
  EXPECT_EQ(visual, 2 * 9 * 144);
  // The BOS the processor adds to every text chunk: one before and one after each image.
  EXPECT_EQ(std::count(plan.ids.begin(), plan.ids.end(), 1), 3);

  Engine engine(model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  engine.prefill(plan, &cap);  // embed() throws unless the features fill every image position
  EXPECT_EQ(cap.image.image_embeds.size(0), tokens_wide + tokens_tall);
  fs::remove_all(dir);
}

// ---- whole runs ----------------------------------------------------------------------------

TEST(Phi3Session, RunsUnderEvictionPolicies) {
  for (const std::string policy : {"hae", "h2o"}) {
    SessionOptions options;
    options.model_dir = dataPath("models/tiny-phi3v");
    options.policy = policy;
    options.max_new_tokens = 8;
    Session session(options);
    session.prefill("What is in the picture?", {dataPath("preprocess/images/rose.png")});
    while (session.step()) {
    }
    const RunInfo& run = session.runInfo();
    // rose.png (640x427) at num_crops 4: a 2x2 grid, 757 image tokens.
    EXPECT_EQ(run.visual_tokens.size(), 5u * 144) << policy;
    int separators = 0;
    for (const auto& t : run.tokens)
      if (t.modality == Modality::Separator) {
        ++separators;
        EXPECT_EQ(t.image, 0);
      }
    EXPECT_EQ(separators, 2 * 12 + 12 + 1) << policy;
    ASSERT_EQ(run.images.size(), 1u);
    EXPECT_EQ(run.images[0].grids.size(), 5u);
    const StepTelemetry& last = session.history().back();
    int live = 0;
    for (int m = 0; m < kModalityCount; ++m) live += last.layers[0].live[m];
    EXPECT_LT(live, last.context_length) << policy << " evicted nothing";
    EXPECT_GT(session.history().size(), 1u);
  }
  // Text-only Phi-3 answers text prompts and refuses images.
  SessionOptions text;
  text.model_dir = dataPath("models/tiny-phi3");
  text.max_new_tokens = 4;
  Session session(text);
  session.prefill("hello", {});
  EXPECT_TRUE(session.step().has_value());
  expectError([&] { session.prefill("hello", {dataPath("preprocess/images/rose.png")}); },
              "text-only");
}

}  // namespace
}  // namespace hae::test
