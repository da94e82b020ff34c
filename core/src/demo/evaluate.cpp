#include "evaluate.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "../engine/engine.h"
#include "../models/vlm_model.h"
#include "eval_card.h"
#include "hae/clip_preprocess.h"
#include "hae/demo/dataset.h"
#include "hae/demo/vocabulary.h"
#include "hae/error.h"
#include "hae/model_config.h"
#include "hae/session.h"

namespace hae::demo {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxFailuresKept = 12;
constexpr int kAttentionExamplesKept = 8;

struct Prepared {
  std::vector<std::int64_t> ids;
  at::Tensor pixels;
  std::int64_t image_end = 0;  // index after the last image token
};

Prepared prepare(const VlmModel& model, const DemoSample& sample, const ClipPreprocessConfig& pre,
                 int image_tokens, int image_id) {
  Prepared p;
  for (int id : model.tokenizer()->encode(chatPrompt(sample), true)) {
    const int copies = id == image_id ? image_tokens : 1;
    p.ids.insert(p.ids.end(), copies, id);
    if (id == image_id) p.image_end = static_cast<std::int64_t>(p.ids.size());
  }
  std::vector<at::Tensor> pixels;
  for (const RgbImage& image : sample.images) {
    const PreprocessedImage out = clipPreprocess(image, pre);
    pixels.push_back(torch::from_blob(const_cast<float*>(out.pixel_values.data()),
                                      {3, out.height, out.width}, torch::kFloat32)
                         .clone());
  }
  p.pixels = torch::stack(pixels);
  return p;
}

std::string greedyAnswer(Engine& engine, const PromptPlan& plan, int max_new_tokens) {
  const auto& spec = engine.model().spec();
  auto logits = engine.prefill(plan);
  std::vector<int> generated;
  for (int i = 0; i < max_new_tokens; ++i) {
    const auto token = logits.argmax().item<std::int64_t>();
    if (std::find(spec.eos_ids.begin(), spec.eos_ids.end(), token) != spec.eos_ids.end()) break;
    generated.push_back(static_cast<int>(token));
    logits = engine.decode(token);
  }
  return engine.model().tokenizer()->decode(generated, true);
}

// Layer-0 attention of the question tokens (everything after the image) over the image's patches,
// heads averaged: the share that falls on the object's patches, and those patches' share of the
// image. Runs the embedding and layer 0 on a cache of its own, as the engine's prefill does.
AttentionExample objectAttention(VlmModel& model, const Prepared& p, const DemoSample& sample,
                                 int image_tokens) {
  torch::NoGradGuard no_grad;
  const auto n = static_cast<std::int64_t>(p.ids.size());
  auto ids = torch::tensor(p.ids, torch::kInt64);
  auto h = model.embed(ids, p.pixels);
  auto positions = torch::arange(n, torch::kInt64);
  auto [cos, sin] = model.rotary(positions, static_cast<int>(n));
  std::vector<SlotMeta> metas(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    metas[static_cast<std::size_t>(i)] = {static_cast<int>(i), Modality::Text, static_cast<int>(i),
                                          false};
  AttentionTap tap;
  for (std::int64_t r = p.image_end; r < n; ++r) tap.query_rows.push_back(r);
  LayerCache cache;
  model.layerForward(0, h, positions, cos, sin, cache, metas, &tap);
  const std::int64_t first = p.image_end - image_tokens;
  auto visual = tap.col_sum.narrow(0, first, image_tokens).to(torch::kFloat64);
  const double total = visual.sum().item<double>();
  std::set<int> cells;
  for (int o : sample.objects)
    for (int c : sample.scenes[static_cast<std::size_t>(sample.objectImage)]
                     .objects[static_cast<std::size_t>(o)]
                     .patches)
      cells.insert(c);
  double on = 0;
  for (int c : cells) on += visual[c].item<double>();
  AttentionExample ex;
  ex.question = sample.question;
  ex.object_share = total > 0 ? on / total : 0;
  ex.area_share = static_cast<double>(cells.size()) / image_tokens;
  return ex;
}

}  // namespace

EvalResult evaluateDemoModel(const EvalOptions& o) {
  if (o.samples < 1) throw Error(fmt::format("--samples must be at least 1 (got {})", o.samples));
  torch::NoGradGuard no_grad;
  EvalResult r;
  r.model_dir = o.model_dir.empty() ? demoModelDir() : o.model_dir;
  std::shared_ptr<VlmModel> model = loadModel(r.model_dir, LoadOptions{});
  if (!model->tokenizer()) throw Error(r.model_dir + ": the demo model needs its tokenizer.json");
  const int image_id = model->tokenizer()->tokenToId("<image>");
  if (image_id < 0)
    throw Error(r.model_dir + "/tokenizer.json: no <image> token; not a demo model");
  const ClipPreprocessConfig pre =
      loadClipPreprocessConfig((fs::path(r.model_dir) / "preprocessor_config.json").string());
  // The demo model is a LLaVA: one <image> expands to the tower's patch grid (CLS dropped).
  const LlavaConfig config = loadLlavaConfig(r.model_dir);
  const int image_tokens =
      config.vision.numPatches() + (config.vision_feature_select_strategy == "full" ? 1 : 0);
  Engine engine(model, makePolicy("full", {}));
  const auto start = std::chrono::steady_clock::now();
  double sum_obj = 0, sum_area = 0, sum_ratio = 0;
  for (int j = 0; j < o.samples; ++j) {
    const std::uint64_t seed = kHeldOutSeedBase + static_cast<std::uint64_t>(j);
    const DemoSample sample = makeSample(seed, pickKind(seed));
    const Prepared p = prepare(*model, sample, pre, image_tokens, image_id);
    const PromptPlan plan = model->planFromIds(p.ids, p.pixels);
    const std::string got = greedyAnswer(engine, plan, o.max_new_tokens);
    const bool ok = answersMatch(got, sample.answer);
    KindScore& k = r.kinds[std::string(kindName(sample.kind))];
    ++k.total;
    k.correct += ok;
    if (isShortKind(sample.kind)) {
      ++r.short_questions.total;
      r.short_questions.correct += ok;
    }
    if (sample.kind == SampleKind::Describe) {
      ++r.describe.total;
      r.describe.correct += ok;
    }
    if (!ok && static_cast<int>(r.failures.size()) < kMaxFailuresKept)
      r.failures.push_back(fmt::format("[{}] {} | expected: {} | got: {}", kindName(sample.kind),
                                       sample.question, sample.answer, got));
    if (o.attention && isShortKind(sample.kind) && !sample.objects.empty() &&
        sample.images.size() == 1 && sample.objects.size() == 1) {
      AttentionExample ex = objectAttention(*model, p, sample, image_tokens);
      ++r.attention_questions;
      sum_obj += ex.object_share;
      sum_area += ex.area_share;
      sum_ratio += ex.area_share > 0 ? ex.object_share / ex.area_share : 0;
      if (static_cast<int>(r.attention_examples.size()) < kAttentionExamplesKept)
        r.attention_examples.push_back(std::move(ex));
    }
    if ((j + 1) % 100 == 0) spdlog::info("evaluated {}/{}", j + 1, o.samples);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (r.attention_questions > 0) {
    r.mean_object_share = sum_obj / r.attention_questions;
    r.mean_area_share = sum_area / r.attention_questions;
    r.mean_ratio = sum_ratio / r.attention_questions;
  }
  if (o.write_card) writeEvalCard(r, o);
  return r;
}

void printEvaluation(const EvalResult& r) {
  fmt::print("model: {}\n", r.model_dir);
  for (const auto& [kind, s] : r.kinds)
    fmt::print("  {:<16} {:4}/{:<4} {:6.1f}%\n", kind, s.correct, s.total, 100 * s.rate());
  fmt::print("short questions: {}/{} = {:.1f}%\n", r.short_questions.correct,
             r.short_questions.total, 100 * r.short_questions.rate());
  fmt::print("description exact match: {}/{} = {:.1f}%\n", r.describe.correct, r.describe.total,
             100 * r.describe.rate());
  fmt::print("({:.1f} s)\n", r.seconds);
  if (!r.failures.empty()) {
    fmt::print("some failures:\n");
    for (const auto& f : r.failures) fmt::print("  {}\n", f);
  }
  if (r.attention_questions > 0) {
    fmt::print(
        "layer-0 text-to-visual attention on the object asked about ({} questions): {:.1f}% of the "
        "visual attention on {:.1f}% of the patches (mean ratio {:.2f}x)\n",
        r.attention_questions, 100 * r.mean_object_share, 100 * r.mean_area_share, r.mean_ratio);
    for (const auto& ex : r.attention_examples)
      fmt::print("  {:<60} object {:5.1f}% of attention, {:5.1f}% of patches ({:.1f}x)\n",
                 ex.question, 100 * ex.object_share, 100 * ex.area_share,
                 ex.area_share > 0 ? ex.object_share / ex.area_share : 0.0);
  }
}

}  // namespace hae::demo
