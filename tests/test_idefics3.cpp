// The Idefics3 (SmolVLM) runtime against transformers on the tiny-idefics3 fixture: SigLIP
// features, pixel shuffle, connector, every hidden state and the prefill logits within 1e-4, the
// 16-token greedy decode identical. Then what the fixture cannot show, as checkable equivalences:
// prompt building (with and without a tokenizer) reproduces the reference ids, other scale factors
// shuffle as the index formula says, bf16 and fp16 checkpoints load, and the model runs under
// eviction policies with each visual token placed on its tile.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "engine/engine.h"
#include "hae/error.h"
#include "hae/session.h"
#include "models/idefics3.h"
#include "models/vlm_model.h"
#include "reference.h"

namespace hae::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kTolerance = 1e-4;
const std::string kTiny = "models/tiny-idefics3";

// A copy of the tiny fixture folder (config, generation config, weights) to add files to.
TempDir tinyCopy() {
  TempDir dir;
  for (const char* f : {"config.json", "generation_config.json", "model.safetensors"})
    fs::copy_file(dataPath(kTiny + "/" + f), dir.path() / f);
  return dir;
}

LoadOptions withLongestEdge(int edge) {
  LoadOptions o;
  o.image_longest_edge = edge;
  return o;
}

TEST(Idefics3Parity, PrefillAndGreedyDecodeMatchReference) {
  std::shared_ptr<VlmModel> model = loadModel(dataPath(kTiny), {});
  const Reference ref(dataPath(kTiny + "/expected.safetensors"));
  const PromptPlan plan = model->planFromIds(ref.ids(), ref["pixel_values"]);

  Engine engine(model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  auto last = engine.prefill(plan, &cap);

  std::map<std::string, double> diffs;
  diffs["vision_features"] = maxAbsDiff(cap.image.vision_features, ref["vision_features"]);
  diffs["pixel_shuffle_out"] =
      maxAbsDiff(idefics3PixelShuffle(cap.image.vision_features, 4), ref["pixel_shuffle_out"]);
  diffs["image_embeds"] = maxAbsDiff(cap.image.image_embeds, ref["image_embeds"]);
  diffs["inputs_embeds"] = maxAbsDiff(cap.inputs_embeds, ref["inputs_embeds"]);
  ASSERT_EQ(cap.hidden_states.size(), 3u);
  for (std::size_t i = 0; i < cap.hidden_states.size(); ++i) {
    const std::string name = "hidden_states." + std::to_string(i + 1);
    diffs[name] = maxAbsDiff(cap.hidden_states[i], ref[name]);
  }
  diffs["last_layer_output_prenorm"] =
      maxAbsDiff(cap.last_layer_output_prenorm, ref["last_layer_output_prenorm"]);
  diffs["logits"] = maxAbsDiff(cap.logits, ref["logits"]);

  auto gen_ids = ref["gen_ids"][0];
  auto gen_logits = ref["gen_logits"][0];
  double worst = 0;
  for (int s = 0; s < gen_ids.size(0); ++s) {
    worst = std::max(worst, maxAbsDiff(last, gen_logits[s]));
    const auto token = last.argmax().item<std::int64_t>();
    ASSERT_EQ(token, gen_ids[s].item<std::int64_t>()) << "greedy step " << s;
    if (s + 1 < gen_ids.size(0)) last = engine.decode(token);
  }
  diffs["gen_logits"] = worst;
  for (const auto& [name, d] : diffs) {
    EXPECT_LT(d, kTolerance) << name;
    RecordProperty(name + "_max_abs_diff", std::to_string(d));
    std::cout << "  " << name << " max |diff| = " << d << "\n";
  }
}

// meta.json's segments: tiles r1c1, r1c2, r2c1, r2c2 at 5, 23, 42, 60, the global image at 80,
// 16 tokens each; everything else inside the image block is a layout marker.
TEST(Idefics3Prompt, PlanFromIdsPlacesEveryTokenOfTheFixture) {
  std::shared_ptr<VlmModel> model = loadModel(dataPath(kTiny), {});
  const Reference ref(dataPath(kTiny + "/expected.safetensors"));
  const PromptPlan plan = model->planFromIds(ref.ids(), ref["pixel_values"]);
  ASSERT_EQ(plan.tokens.size(), 108u);
  const int starts[] = {5, 23, 42, 60, 80};
  std::vector<bool> visual(108, false);
  for (int crop = 0; crop < 5; ++crop)
    for (int k = 0; k < 16; ++k) {
      const TokenInfo& t = plan.tokens[starts[crop] + k];
      visual[starts[crop] + k] = true;
      EXPECT_EQ(t.modality, Modality::Visual);
      EXPECT_EQ(t.image, 0);
      EXPECT_EQ(t.crop, crop);
      EXPECT_EQ(t.row, k / 4);
      EXPECT_EQ(t.col, k % 4);
    }
  for (int p = 0; p < 108; ++p) {
    if (visual[p]) continue;
    const Modality want = p < 3 ? Modality::Prefix : p <= 96 ? Modality::Separator : Modality::Text;
    EXPECT_EQ(plan.tokens[p].modality, want) << "position " << p;
  }
}

// With a tokenizer the prompt is the processor's text, tokenized whole. A word-level tokenizer
// over the fixture's token table must then rebuild the reference input_ids exactly from a
// question and an image: wizard.png (480x640) at longest edge 128 is 96x128, stretched to 128x128,
// so 2x2 tiles of 64 plus the global image, as in the fixture.
TEST(Idefics3Prompt, BuildPromptWithTokenizerReproducesReferenceIds) {
  TempDir dir = tinyCopy();
  json vocab = {{"<|endoftext|>", 0},
                {"<|im_start|>", 1},
                {"<|im_end|>", 2},
                {"\n", 10},
                {"User", 20},
                {":", 21},
                {"Assistant", 22},
                {"<global-img>", 160},
                {"<fake_token_around_image>", 180},
                {"<image>", 181},
                {"<end_of_utterance>", 191}};
  const std::vector<std::pair<std::string, int>> words = {
      {"alpha", 122},  {"beta", 133}, {"gamma", 85}, {"delta", 43},
      {"epsilon", 30}, {"zeta", 141}, {"eta", 49}};
  for (const auto& [w, id] : words) vocab[w] = id;
  for (int r = 1; r <= 2; ++r)
    for (int c = 1; c <= 2; ++c)
      vocab["<row_" + std::to_string(r) + "_col_" + std::to_string(c) + ">"] =
          160 + (r - 1) * 2 + c;
  json added = json::array();
  for (const auto& [content, id] : vocab.items())
    if (content.front() == '<')
      added.push_back({{"id", id},
                       {"content", content},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", true}});
  const json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"String", " "}}},
           {"behavior", "Removed"},
           {"invert", false}},
          {{"type", "Split"},
           {"pattern", {{"Regex", "\\n|:"}}},
           {"behavior", "Isolated"},
           {"invert", false}}}}}},
      {"post_processor", nullptr},
      {"decoder", nullptr},
      {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "<|endoftext|>"}}}};
  std::ofstream(dir.path() / "tokenizer.json") << tokenizer.dump();

  std::shared_ptr<VlmModel> model = loadModel(dir.str(), withLongestEdge(128));
  const PromptPlan plan = model->buildPrompt("alpha beta gamma delta epsilon zeta eta",
                                             {dataPath("preprocess/images/wizard.png")});
  const Reference ref(dataPath(kTiny + "/expected.safetensors"));
  EXPECT_EQ(plan.ids, ref.ids());
  ASSERT_EQ(plan.pixel_values.sizes(), (std::vector<std::int64_t>{5, 3, 64, 64}));
  ASSERT_EQ(plan.images.size(), 1u);
  const auto& grids = plan.images[0].grids;
  ASSERT_EQ(grids.size(), 5u);
  for (int k = 0; k < 4; ++k) {  // quadrants of the 480x640 original
    EXPECT_FALSE(grids[k].global);
    EXPECT_EQ(grids[k].rows, 4);
    EXPECT_FLOAT_EQ(grids[k].region.x, (k % 2) * 240.0f);
    EXPECT_FLOAT_EQ(grids[k].region.y, (k / 2) * 320.0f);
    EXPECT_FLOAT_EQ(grids[k].region.w, 240.0f);
    EXPECT_FLOAT_EQ(grids[k].region.h, 320.0f);
  }
  EXPECT_TRUE(grids[4].global);
  EXPECT_FLOAT_EQ(grids[4].region.w, 480.0f);
  EXPECT_EQ(plan.tokens[3].text, "<fake_token_around_image>");
  EXPECT_EQ(plan.tokens[3].modality, Modality::Separator);
}

// Without a tokenizer: SmolVLM's default tiling of a portrait photo (here tiles of 64, longest
// edge 4 x 64 = 256): 192x256 -> 4 rows x 3 columns + global = 13 tiles; longest edge 64 -> one
// tile that is not a thumbnail.
TEST(Idefics3Prompt, SyntheticIdsKeepTheTileLayout) {
  std::shared_ptr<VlmModel> model = loadModel(dataPath(kTiny), {});
  const PromptPlan plan =
      model->buildPrompt("what is this?", {dataPath("preprocess/images/wizard.png")});
  ASSERT_EQ(plan.images.size(), 1u);
  ASSERT_EQ(plan.images[0].grids.size(), 13u);
  EXPECT_TRUE(plan.images[0].grids.back().global);
  EXPECT_EQ(plan.pixel_values.size(0), 13);
  int visual = 0, separators = 0;
  std::vector<int> per_crop(13, 0);
  for (const auto& t : plan.tokens) {
    if (t.modality == Modality::Visual) {
      ++visual;
      ++per_crop.at(t.crop);
    }
    if (t.modality == Modality::Separator) ++separators;
  }
  EXPECT_EQ(visual, 13 * 16);
  for (int n : per_crop) EXPECT_EQ(n, 16);
  // 12 tile headers of 2, 4 row newlines, "\n<fake><global-img>" and the closing fake.
  EXPECT_EQ(separators, 12 * 2 + 4 + 3 + 1);
  EXPECT_EQ(plan.ids[3], 180);  // <fake_token_around_image> = <image> - 1, as in SmolVLM

  std::shared_ptr<VlmModel> one = loadModel(dataPath(kTiny), withLongestEdge(64));
  const PromptPlan single =
      one->buildPrompt("<image>what is this?", {dataPath("preprocess/images/rose.png")});
  ASSERT_EQ(single.images[0].grids.size(), 1u);
  EXPECT_FALSE(single.images[0].grids[0].global);
  EXPECT_EQ(single.pixel_values.size(0), 1);
  EXPECT_EQ(std::count_if(single.tokens.begin(), single.tokens.end(),
                          [](const TokenInfo& t) { return t.modality == Modality::Visual; }),
            16);
  Engine engine(one, makePolicy("full", {}));
  EXPECT_EQ(engine.prefill(single).size(0), 192);
}

// transformers' pixel_shuffle as an index formula: output token (I, J) holds patch
// (I*r + dh, J*r + dw) at channels (dh*r + dw)*D .. +D.
TEST(Idefics3Connector, PixelShuffleIsSpaceToDepth) {
  for (int r : {2, 4}) {
    const int side = 8, d = 3;
    auto x = torch::randn({2, side * side, d});
    auto y = idefics3PixelShuffle(x, r);
    ASSERT_EQ(y.sizes(), (std::vector<std::int64_t>{2, side * side / (r * r), d * r * r}));
    const int out_side = side / r;
    for (int b = 0; b < 2; ++b)
      for (int i = 0; i < out_side; ++i)
        for (int j = 0; j < out_side; ++j)
          for (int dh = 0; dh < r; ++dh)
            for (int dw = 0; dw < r; ++dw)
              EXPECT_TRUE(torch::equal(y[b][i * out_side + j].narrow(0, (dh * r + dw) * d, d),
                                       x[b][(i * r + dh) * side + j * r + dw]))
                  << "r " << r;
  }
}

// A scale factor of 2 on the tiny tower gives (16/2)^2 = 64 tokens per tile; the whole path runs.
TEST(Idefics3Connector, OtherScaleFactorRuns) {
  TempDir dir;
  json config;
  std::ifstream(dataPath(kTiny + "/config.json")) >> config;
  config["scale_factor"] = 2;
  std::ofstream(dir.path() / "config.json") << config.dump();
  std::shared_ptr<VlmModel> model =
      randomModel((dir.path() / "config.json").string(), withLongestEdge(64), 7);
  const PromptPlan plan = model->buildPrompt("describe", {dataPath("preprocess/images/logo.png")});
  EXPECT_EQ(std::count_if(plan.tokens.begin(), plan.tokens.end(),
                          [](const TokenInfo& t) {
                            return t.modality == Modality::Visual && t.row == 7 && t.col == 7;
                          }),
            1);
  Engine engine(model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  engine.prefill(plan, &cap);
  EXPECT_EQ(cap.image.image_embeds.sizes(), (std::vector<std::int64_t>{1, 64, 64}));
}

// bf16 on CPU, and an fp16 checkpoint converted to fp32 on load.
TEST(Idefics3Dtypes, Bf16AndFp16CheckpointsRun) {
  const Reference ref(dataPath(kTiny + "/expected.safetensors"));
  LoadOptions bf16;
  bf16.float_dtype = torch::kBFloat16;
  std::shared_ptr<VlmModel> model = loadModel(dataPath(kTiny), bf16);
  Engine engine(model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  engine.prefill(model->planFromIds(ref.ids(), ref["pixel_values"]), &cap);
  const double bf16_diff = maxAbsDiff(cap.logits.to(torch::kFloat32), ref["logits"]);
  std::cout << "  bf16 logits max |diff| = " << bf16_diff << "\n";
  RecordProperty("bf16_logits_max_abs_diff", std::to_string(bf16_diff));
  EXPECT_LT(bf16_diff, 0.5);  // bf16 keeps 8 bits of mantissa; logits reach about 5

  TempDir dir = tinyCopy();
  auto archive = SafetensorsArchive::openFolder(dataPath(kTiny));
  std::map<std::string, at::Tensor> half;
  for (const auto& n : archive.names()) half[n] = toTorch(archive.get(n)).to(torch::kHalf);
  writeTorchSafetensors((dir.path() / "model.safetensors").string(), half);
  std::shared_ptr<VlmModel> fp16 = loadModel(dir.str(), {});
  Engine e16(fp16, makePolicy("full", {}));
  ForwardCapture c16;
  c16.enabled = true;
  e16.prefill(fp16->planFromIds(ref.ids(), ref["pixel_values"]), &c16);
  const double fp16_diff = maxAbsDiff(c16.logits, ref["logits"]);
  std::cout << "  fp16-checkpoint logits max |diff| = " << fp16_diff << "\n";
  EXPECT_LT(fp16_diff, 0.05);
}

// The Session end to end under eviction policies: visual spans are image modality, the policies
// see them, and patch states cover every visual token.
TEST(Idefics3Session, RunsUnderEvictionPolicies) {
  for (const char* policy : {"hae", "snapkv"}) {
    SCOPED_TRACE(policy);
    SessionOptions o;
    o.model_dir = dataPath(kTiny);
    o.policy = policy;
    o.max_new_tokens = 8;
    Session session(o);
    const StepTelemetry& pre =
        session.prefill("What is in the picture?", {dataPath("preprocess/images/wizard.png")});
    const RunInfo& run = session.runInfo();
    EXPECT_EQ(run.visual_tokens.size(), 13u * 16u);
    EXPECT_EQ(pre.patch_states.size(), 3u);
    int steps = 0;
    while (auto t = session.step()) {
      ++steps;
      ASSERT_EQ(t->patch_states.size(), 3u);
      EXPECT_EQ(t->patch_states[0].size(), run.visual_tokens.size());
    }
    EXPECT_GT(steps, 0);
  }
}

}  // namespace
}  // namespace hae::test
