// M-RoPE positions under eviction, for both families. Positions are metadata: every KV slot keeps
// the (t, h, w) it was rotated with, and decoding continues at sequence index + rope_deltas from
// the engine's own count of tokens fed, whatever the cache holds.
//  - A no-cache forward (every step recomputed from the kept tokens at their original 3-D
//    positions) first reproduces the fixture's gen_logits_nocache, then serves as the reference for
//    a vision-side pruner that drops image tokens in the middle of the prompt: the cached decode
//    equals it within 1e-4.
//  - An end-of-prefill eviction of image tokens keeps the slots' positions and the decode
//  positions.
//  - pos.mode=renumber is refused with a message.
#include <iostream>

#include "engine/engine.h"
#include "hae/error.h"
#include "models/qwen2vl.h"
#include "policies/catalog.h"
#include "policies/policy.h"
#include "reference.h"

namespace hae::test {
namespace {

constexpr double kTolerance = 1e-4;

struct Row {
  std::int64_t id;
  int index;                 // place in the sequence (causal order)
  std::array<int, 3> mrope;  // rotary (t, h, w)
  at::Tensor embed;          // [hidden]
};

// A full causal forward over `rows` with a fresh cache; the last row's logits.
at::Tensor noCacheLogits(Qwen2VLModel& model, const std::vector<Row>& rows) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> embeds;
  std::vector<SlotMeta> metas;
  std::vector<std::int64_t> index, rope(3 * rows.size());
  const auto n = static_cast<std::int64_t>(rows.size());
  for (std::int64_t i = 0; i < n; ++i) {
    embeds.push_back(rows[i].embed);
    SlotMeta m{rows[i].index, Modality::Text, static_cast<int>(i)};
    m.mrope = rows[i].mrope;
    metas.push_back(m);
    index.push_back(rows[i].index);
    for (int a = 0; a < 3; ++a) rope[a * n + i] = rows[i].mrope[a];
  }
  auto h = torch::stack(embeds);
  auto positions = torch::tensor(index, torch::kInt64);
  auto [cos, sin] =
      model.rotary(torch::tensor(rope, torch::kInt64).view({3, n}), static_cast<int>(n));
  KvCache cache;
  cache.reset(model.spec().num_layers);
  for (int l = 0; l < model.spec().num_layers; ++l)
    h = model.layerForward(l, h, positions, cos, sin, cache.layer(l), metas, nullptr);
  return model.logits(model.finalNorm(h.narrow(0, n - 1, 1)))[0].to(torch::kFloat32);
}

struct Loaded {
  std::shared_ptr<VlmModel> model;
  Qwen2VLModel* qwen = nullptr;
  PromptPlan plan;
  at::Tensor embeds;  // inputs_embeds of the whole prompt
};

Loaded load(const std::string& name, const std::string& file) {
  const std::string dir = dataPath("qwen2vl/" + name);
  Loaded out;
  auto model = loadQwen2VL(dir, {});
  out.qwen = model.get();
  out.model = std::move(model);
  const Reference ref(dir + "/" + file);
  out.plan = out.model->planFromInputs(ref.ids(), ref["pixel_values"], ref["image_grid_thw"]);
  torch::NoGradGuard no_grad;
  out.embeds = out.model->embedPlan(torch::tensor(out.plan.ids, torch::kInt64), out.plan);
  return out;
}

// Rows of the prompt tokens listed, then the generated ones at index S + k, rotated at
// S + k + rope_deltas.
std::vector<Row> rowsFor(Loaded& m, const std::vector<int>& prompt_tokens,
                         const std::vector<std::int64_t>& generated) {
  std::vector<Row> rows;
  for (int t : prompt_tokens)
    rows.push_back({m.plan.ids[t], t, m.plan.mrope_positions[t], m.embeds[t]});
  const int s = static_cast<int>(m.plan.ids.size());
  for (std::size_t k = 0; k < generated.size(); ++k) {
    const int index = s + static_cast<int>(k), p = index + m.plan.rope_delta;
    auto e = m.qwen->embed(torch::tensor({generated[k]}, torch::kInt64), {})[0];
    rows.push_back({generated[k], index, {p, p, p}, e});
  }
  return rows;
}

class Qwen2VLEviction : public ::testing::TestWithParam<std::string> {};

TEST_P(Qwen2VLEviction, NoCacheLoopReproducesReference) {
  Loaded m = load(GetParam(), "expected_long_text.safetensors");
  const Reference ref(dataPath("qwen2vl/" + GetParam() + "/expected_long_text.safetensors"));
  std::vector<int> all(m.plan.ids.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  auto ids = ref["gen_ids_nocache"][0];
  auto want = ref["gen_logits_nocache"][0];
  std::vector<std::int64_t> generated;
  double worst = 0;
  for (int s = 0; s < 6; ++s) {
    auto logits = noCacheLogits(*m.qwen, rowsFor(m, all, generated));
    worst = std::max(worst, maxAbsDiff(logits, want[s]));
    ASSERT_EQ(logits.argmax().item<std::int64_t>(), ids[s].item<std::int64_t>()) << "step " << s;
    generated.push_back(ids[s].item<std::int64_t>());
  }
  EXPECT_LT(worst, kTolerance);
}

// A vision-side pruner drops half of each image's tokens before the decoder: in the two-image
// case both images sit in the middle of the prompt, text on both sides.
TEST_P(Qwen2VLEviction, CachedDecodeAfterDroppingImageTokensEqualsNoCacheForwardOverKeptTokens) {
  Loaded m = load(GetParam(), "expected_two_images.safetensors");
  Engine engine(m.model, makePolicy("uniform", {{"ratio", "0.5"}}));
  auto last = engine.prefill(m.plan);
  const auto slots = engine.cache().layer(0).slots();  // prompt slots after the V hook
  std::vector<int> kept;
  int visual_kept = 0, visual_total = 0;
  for (const auto& t : m.plan.tokens) visual_total += t.modality == Modality::Visual;
  for (const auto& s : slots) {
    kept.push_back(s.token);
    // Kept slots keep the 3-D position get_rope_index gave them.
    EXPECT_EQ(s.mrope, m.plan.mrope_positions[s.token]) << "token " << s.token;
    EXPECT_EQ(s.position, s.token);
    visual_kept += s.modality == Modality::Visual;
  }
  ASSERT_GT(visual_kept, 0);
  ASSERT_LT(visual_kept, visual_total) << "the pruner dropped no image token";
  EXPECT_EQ(static_cast<int>(kept.size()),
            static_cast<int>(m.plan.ids.size()) - (visual_total - visual_kept));
  std::vector<std::int64_t> generated;
  double worst = 0;
  for (int s = 0; s < 8; ++s) {
    auto reference = noCacheLogits(*m.qwen, rowsFor(m, kept, generated));
    worst = std::max(worst, maxAbsDiff(last, reference));
    const auto token = last.argmax().item<std::int64_t>();
    ASSERT_EQ(token, reference.argmax().item<std::int64_t>()) << "step " << s;
    generated.push_back(token);
    last = engine.decode(token);
  }
  std::cout << "  " << GetParam() << ": kept " << visual_kept << " of " << visual_total
            << " image tokens, cached vs no-cache max |diff| = " << worst << "\n";
  EXPECT_LT(worst, kTolerance);
  // The decode rotated token i at i + rope_deltas although the cache holds fewer tokens.
  const auto& after = engine.cache().layer(0).slots();
  const int s0 = static_cast<int>(m.plan.ids.size());
  for (std::size_t k = 0; k < generated.size(); ++k) {
    const SlotMeta& g = after[kept.size() + k];
    EXPECT_EQ(g.position, s0 + static_cast<int>(k));
    EXPECT_EQ(g.mrope, (std::array<int, 3>{s0 + static_cast<int>(k) + m.plan.rope_delta,
                                           s0 + static_cast<int>(k) + m.plan.rope_delta,
                                           s0 + static_cast<int>(k) + m.plan.rope_delta}));
  }
}

// Eviction inside the cache (end of prefill, every layer): the surviving slots keep their 3-D
// positions and decoding continues at S + k + rope_deltas, not at the cache length.
TEST_P(Qwen2VLEviction, EndOfPrefillEvictionKeepsPositions) {
  Loaded m = load(GetParam(), "expected_long_text.safetensors");
  Engine engine(m.model, makePolicy("random", {{"keep_ratio", "0.3"}, {"scope", "visual"}}));
  auto last = engine.prefill(m.plan);
  const int s0 = static_cast<int>(m.plan.ids.size());
  ASSERT_LT(engine.cache().layer(0).size(), s0);
  for (int k = 0; k < 4; ++k) last = engine.decode(last.argmax().item<std::int64_t>());
  for (int l = 0; l < engine.cache().numLayers(); ++l) {
    const auto& slots = engine.cache().layer(l).slots();
    for (const auto& s : slots) {
      if (s.token < s0) {
        EXPECT_EQ(s.mrope, m.plan.mrope_positions[s.token]);
      } else {
        const int p = s.token + m.plan.rope_delta;
        EXPECT_EQ(s.mrope, (std::array<int, 3>{p, p, p})) << "generated token " << s.token;
      }
    }
  }
  EXPECT_EQ(engine.nextPosition(), s0 + 4);
}

TEST_P(Qwen2VLEviction, RenumberingPoliciesAreRefused) {
  Loaded m = load(GetParam(), "expected.safetensors");
  for (const auto& [policy, knobs] :
       std::vector<std::pair<std::string, std::map<std::string, std::string>>>{
           {"uniform", {{"pos.mode", "renumber"}}}, {"hae", {{"pos.mode", "renumber"}}}}) {
    Engine engine(m.model, makePolicy(policy, knobs));
    try {
      engine.prefill(m.plan);
      ADD_FAILURE() << policy << ": pos.mode=renumber ran on an M-RoPE model";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("pos.mode=renumber is not defined for M-RoPE"),
                std::string::npos)
          << e.what();
    }
  }
}

// Every policy of the catalog at its defaults, on a two-image prompt: it runs (or refuses in one
// line: FasterVLM, which needs a CLS token the tower does not have, and default
// layer knobs deeper than the 2-layer tiny decoder), the
// logits stay finite and the telemetry has a state for every image token in every layer.
TEST_P(Qwen2VLEviction, EveryPolicyRunsOrRefusesWithAMessage) {
  Loaded m = load(GetParam(), "expected_two_images.safetensors");
  int visual = 0;
  for (const auto& t : m.plan.tokens) visual += t.modality == Modality::Visual;
  int ran = 0;
  for (const auto& info : policyCatalog()) {
    Engine engine(m.model, makePolicy(info.name, {}));
    at::Tensor last;
    try {
      last = engine.prefill(m.plan);
    } catch (const Error& e) {
      std::cout << "  " << info.name << " refused: " << e.what() << "\n";
      const std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << info.name;
      // The known refusals: no tower attention (no CLS token), or a default layer knob past this
      // tiny decoder's depth.
      EXPECT_TRUE(what.find("has no CLS token") != std::string::npos ||
                  what.find("is not a layer of this model") != std::string::npos)
          << what;
      continue;
    }
    ++ran;
    for (int k = 0; k < 3; ++k) last = engine.decode(last.argmax().item<std::int64_t>());
    EXPECT_TRUE(torch::isfinite(last).all().item<bool>()) << info.name;
    const auto& states = engine.lastTelemetry().patch_states;
    ASSERT_EQ(states.size(), static_cast<std::size_t>(m.model->spec().num_layers)) << info.name;
    for (const auto& layer : states) EXPECT_EQ(static_cast<int>(layer.size()), visual) << info.name;
    // The decode still continues at the sequence index, whatever was evicted.
    EXPECT_EQ(engine.nextPosition(), static_cast<int>(m.plan.ids.size()) + 3) << info.name;
  }
  EXPECT_GE(ran, 10);
}

// The V hook's tower tap: the last block attends within each image (both fixtures' last blocks
// are full-attention blocks), so the attention an image's patches receive, averaged over the
// query rows, sums to 1 per image; text rows get 0.
TEST_P(Qwen2VLEviction, TowerAttentionSumsToOnePerImage) {
  Loaded m = load(GetParam(), "expected_two_images.safetensors");
  bool has_cls = true;
  std::string missing;
  const auto att = m.model->towerAttention(m.plan, &has_cls, &missing);
  ASSERT_TRUE(att.defined()) << missing;
  EXPECT_FALSE(has_cls);
  ASSERT_EQ(att.size(0), static_cast<std::int64_t>(m.plan.ids.size()));
  std::vector<double> per_image(m.plan.images.size(), 0.0);
  for (std::size_t i = 0; i < m.plan.tokens.size(); ++i) {
    const double a = att[static_cast<std::int64_t>(i)].item<double>();
    if (m.plan.tokens[i].modality == Modality::Visual) {
      EXPECT_GT(a, 0.0);
      per_image[m.plan.tokens[i].image] += a;
    } else {
      EXPECT_EQ(a, 0.0) << "row " << i;
    }
  }
  for (double sum : per_image) EXPECT_NEAR(sum, 1.0, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Families, Qwen2VLEviction,
                         ::testing::Values("tiny-qwen2vl", "tiny-qwen25vl"), [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace hae::test
