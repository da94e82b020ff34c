// rope_scaling of the Llama decoder (llava, idefics3) against transformers 4.49.
//
// tests/data/rope_scaling/reference.json holds, for every rope type and a few configurations, the
// inv_freq, attention factor and cos/sin that transformers 4.49 computes, transcribed in float64 by
// make_reference.py (no torch on this machine). The C++ tables are fp32, as transformers' are, so
// they are compared within what fp32 rounding explains:
//   * inv_freq: 1e-6 relative. It comes out of one fp32 pow (Sleef, <= 1 ulp), a reciprocal and, by
//     type, a handful of fp32 multiplies, divides and blends, each <= 0.5 ulp (2^-24 = 6e-8): a few
//     ulp in all, under 1e-6 with room; a wrong formula is off by percents.
//   * cos/sin: |error| <= A * 1e-6 * (1 + |p * inv_freq|). The fp32 angle p * inv_freq inherits
//     inv_freq's relative error plus one rounding, so its absolute error grows with the angle; the
//     1e-6 term covers cos/sin's own fp32 evaluation and the attention factor A's rounding. Each
//     case also checks that plain RoPE would break this bound, so the bound can tell types apart.
// Then the config errors, and whole-model checks on the tiny fixtures: linear factor 2 equals the
// unscaled model at positions / 2, and dynamic switches at the decode step whose position passes
// max_position_embeddings, with or without eviction.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "engine/engine.h"
#include "hae/error.h"
#include "hae/idefics3_config.h"
#include "hae/model_config.h"
#include "models/vlm_model.h"
#include "reference.h"
#include "text/llama.h"

namespace hae::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string sci(double v) {
  std::ostringstream out;
  out << std::scientific << std::setprecision(3) << v;
  return out.str();
}

json readJson(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

TextConfig textConfigOf(const json& text_config) {
  const json config = {{"model_type", "llava"}, {"text_config", text_config}};
  return parseLlavaConfig(config.dump(), "config.json").text;
}

at::Tensor toTensor(const json& values) {  // a list or a list of lists of numbers, as float64
  if (values.empty() || !values[0].is_array())
    return torch::tensor(values.get<std::vector<double>>(), torch::kFloat64);
  std::vector<at::Tensor> rows;
  for (const auto& row : values) rows.push_back(toTensor(row));
  return torch::stack(rows);
}

// Largest |got - want| / tol over both halves of cos or sin (the second half repeats the first).
double worstRatio(const at::Tensor& got, const at::Tensor& want_half, const at::Tensor& tol) {
  const int64_t half = want_half.size(1);
  auto g = got.to(torch::kFloat64);
  auto first = (g.narrow(1, 0, half) - want_half).abs() / tol;
  auto second = (g.narrow(1, half, half) - want_half).abs() / tol;
  return std::max(first.max().item<double>(), second.max().item<double>());
}

double worstAbs(const at::Tensor& got, const at::Tensor& want_half) {
  const int64_t half = want_half.size(1);
  auto g = got.to(torch::kFloat64);
  return std::max((g.narrow(1, 0, half) - want_half).abs().max().item<double>(),
                  (g.narrow(1, half, half) - want_half).abs().max().item<double>());
}

TEST(RopeScaling, TablesMatchTransformersReference) {
  const json ref = readJson(dataPath("rope_scaling/reference.json"));
  ASSERT_EQ(ref["cases"].size(), 14u);
  double worst_inv_rel = 0, worst_trig_ratio = 0, worst_trig_abs = 0;
  for (const auto& c : ref["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const TextConfig text = textConfigOf(c["text_config"]);
    const LlamaRotaryEmbedding rope(text);
    EXPECT_EQ(rope.type(), c["rope_type"].get<std::string>());
    TextConfig plain_text = text;
    plain_text.rope_scaling.reset();
    const LlamaRotaryEmbedding plain(plain_text);
    double plain_ratio = 0;  // how far plain RoPE is from this reference, in tolerance units
    for (const auto& call : c["calls"]) {
      const auto positions = torch::tensor(call["positions"].get<std::vector<std::int64_t>>());
      const auto seq_len = call["seq_len"].get<std::int64_t>();
      SCOPED_TRACE("seq_len " + std::to_string(seq_len));
      const double attention = call["attention_factor"];
      // Both sides are float64; the JSON keeps 12 significant digits.
      EXPECT_NEAR(rope.attentionFactor(), attention, 1e-11 * attention);

      const auto inv_ref = toTensor(call["inv_freq"]);
      const auto inv = rope.invFreq(seq_len);
      ASSERT_EQ(inv.scalar_type(), torch::kFloat32);
      ASSERT_EQ(inv.sizes(), inv_ref.sizes());
      const double inv_rel =
          ((inv.to(torch::kFloat64) - inv_ref).abs() / inv_ref).max().item<double>();
      EXPECT_LE(inv_rel, 1e-6);
      worst_inv_rel = std::max(worst_inv_rel, inv_rel);

      const auto cos_ref = toTensor(call["cos"]), sin_ref = toTensor(call["sin"]);
      const auto angle = torch::outer(positions.to(torch::kFloat64), inv_ref).abs();
      const auto tol = attention * 1e-6 * (1 + angle);
      const auto [cos, sin] = rope.cosSin(positions, torch::kFloat32);
      ASSERT_EQ(cos.sizes(), (std::vector<int64_t>{positions.size(0), text.head_dim}));
      const double ratio = std::max(worstRatio(cos, cos_ref, tol), worstRatio(sin, sin_ref, tol));
      EXPECT_LE(ratio, 1.0);
      worst_trig_ratio = std::max(worst_trig_ratio, ratio);
      worst_trig_abs = std::max({worst_trig_abs, worstAbs(cos, cos_ref), worstAbs(sin, sin_ref)});

      // A cached decode step passes only the new token's position: same table, same row (up to
      // cos/sin evaluated in another vector lane; another table would be off by far more).
      const auto last = positions.argmax().item<int64_t>();
      const auto [cos1, sin1] = rope.cosSin(positions.narrow(0, last, 1), torch::kFloat32);
      EXPECT_LE(maxAbsDiff(cos1, cos.narrow(0, last, 1)), 1e-6 * attention);
      EXPECT_LE(maxAbsDiff(sin1, sin.narrow(0, last, 1)), 1e-6 * attention);

      const auto [pcos, psin] = plain.cosSin(positions, torch::kFloat32);
      plain_ratio =
          std::max({plain_ratio, worstRatio(pcos, cos_ref, tol), worstRatio(psin, sin_ref, tol)});
    }
    if (c["rope_type"] != "default")
      EXPECT_GT(plain_ratio, 10.0) << "the bound cannot see the scaling";
  }
  std::cout << "inv_freq max relative diff " << worst_inv_rel << "; cos/sin max abs diff "
            << worst_trig_abs << ", max diff / tolerance " << worst_trig_ratio << "\n";
  RecordProperty("inv_freq_max_rel_diff", sci(worst_inv_rel));
  RecordProperty("cos_sin_max_abs_diff", sci(worst_trig_abs));
  RecordProperty("cos_sin_max_diff_over_tolerance", sci(worst_trig_ratio));
}

TEST(RopeScaling, DynamicTableFollowsTheLargestPositionNotTheCall) {
  const TextConfig text = textConfigOf({{"head_dim", 16},
                                        {"hidden_size", 64},
                                        {"num_attention_heads", 4},
                                        {"max_position_embeddings", 32},
                                        {"rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}}}});
  const LlamaRotaryEmbedding rope(text);
  TextConfig plain_text = text;
  plain_text.rope_scaling.reset();
  const LlamaRotaryEmbedding plain(plain_text);
  // Up to max_position_embeddings the original table (here bit-equal to plain RoPE), past it a
  // table for the length, and back to the original for a short sequence after a long one.
  EXPECT_EQ(maxAbsDiff(rope.invFreq(32), plain.invFreq(32)), 0.0);
  EXPECT_GT(maxAbsDiff(rope.invFreq(33), plain.invFreq(33)), 0.0);
  EXPECT_GT(maxAbsDiff(rope.invFreq(64), rope.invFreq(33)), 0.0);
  const auto pos = [](std::vector<std::int64_t> p) { return torch::tensor(p); };
  const auto long_cos = rope.cosSin(pos({0, 5, 63}), torch::kFloat32).first;
  const auto short_cos = rope.cosSin(pos({0, 5, 20}), torch::kFloat32).first;
  EXPECT_EQ(maxAbsDiff(short_cos, plain.cosSin(pos({0, 5, 20}), torch::kFloat32).first), 0.0);
  EXPECT_GT(maxAbsDiff(long_cos[1], short_cos[1]), 1e-6);  // position 5 under two tables
  // Eviction's relative rotations (engine renumbering) pass offsets <= 0: the original table.
  EXPECT_EQ(maxAbsDiff(rope.cosSin(pos({-40, -3, 0}), torch::kFloat32).first,
                       plain.cosSin(pos({-40, -3, 0}), torch::kFloat32).first),
            0.0);
}

void expectLlavaRopeError(const json& rope_scaling, const std::vector<std::string>& needles,
                          const json& extra = json::object()) {
  json text = {{"rope_scaling", rope_scaling}};
  text.update(extra);
  const json config = {{"model_type", "llava"}, {"text_config", text}};
  try {
    parseLlavaConfig(config.dump(), "config.json");
    ADD_FAILURE() << "accepted " << config.dump();
  } catch (const Error& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

TEST(RopeScaling, ConfigRefusesUnknownTypesAndMissingKeys) {
  const std::string supported = "(supported: default, linear, dynamic, yarn, longrope, llama3)";
  expectLlavaRopeError(
      {{"rope_type", "ntk"}, {"factor", 2}},
      {"config.json: text_config.rope_scaling.rope_type: 'ntk' is not supported", supported});
  expectLlavaRopeError(
      {{"type", "mrope"}, {"mrope_section", {16, 24, 24}}},
      {"config.json: text_config.rope_scaling.type: 'mrope' is not supported", supported});
  // Phi-3's old name is no Llama type (transformers' Llama has no "su" either).
  expectLlavaRopeError({{"type", "su"}, {"short_factor", {1}}, {"long_factor", {1}}},
                       {"text_config.rope_scaling.type: 'su' is not supported", supported});
  // LlamaConfig copies "type" over "rope_type".
  expectLlavaRopeError({{"rope_type", "linear"}, {"type", "bogus"}, {"factor", 2}},
                       {"text_config.rope_scaling.type: 'bogus'"});
  for (const char* type : {"linear", "dynamic", "yarn"})
    expectLlavaRopeError(
        {{"type", type}},
        {"text_config.rope_scaling.factor: missing (rope_type '" + std::string(type)});
  expectLlavaRopeError(
      {{"rope_type", "llama3"}, {"factor", 8}, {"low_freq_factor", 1}, {"high_freq_factor", 4}},
      {"text_config.rope_scaling.original_max_position_embeddings: missing"});
  expectLlavaRopeError({{"rope_type", "llama3"},
                        {"factor", 8},
                        {"original_max_position_embeddings", 8192},
                        {"high_freq_factor", 4}},
                       {"text_config.rope_scaling.low_freq_factor: missing"});
  const std::vector<double> eight(8, 1.0);  // head_dim 16 (hidden 64, 4 heads)
  const json small = {{"hidden_size", 64}, {"num_attention_heads", 4}};
  expectLlavaRopeError({{"rope_type", "longrope"}, {"short_factor", eight}, {"factor", 2}},
                       {"text_config.rope_scaling.long_factor: missing (rope_type 'longrope'"},
                       small);
  expectLlavaRopeError(
      {{"rope_type", "longrope"}, {"short_factor", {1, 1}}, {"long_factor", {1, 1}}, {"factor", 2}},
      {"text_config.rope_scaling.short_factor: has 2 values, head_dim / 2 is 8"}, small);
  expectLlavaRopeError({{"rope_type", "longrope"}, {"short_factor", eight}, {"long_factor", eight}},
                       {"text_config.rope_scaling.factor: missing"}, small);
  // ... which attention_factor or the text config's original_max_position_embeddings replace.
  for (const json& ok : {json{{"attention_factor", 1.2}}, json{{"factor", 2.0}}}) {
    json rope = {{"rope_type", "longrope"}, {"short_factor", eight}, {"long_factor", eight}};
    rope.update(ok);
    json text = small;
    text["rope_scaling"] = rope;
    EXPECT_NO_THROW(textConfigOf(text));
  }
  json text = small;
  text["rope_scaling"] = {
      {"rope_type", "longrope"}, {"short_factor", eight}, {"long_factor", eight}};
  text["original_max_position_embeddings"] = 1024;
  EXPECT_NO_THROW(textConfigOf(text));
  // Types and keys every Llama type accepts.
  EXPECT_NO_THROW(textConfigOf({{"rope_scaling", {{"rope_type", "default"}}}}));
  EXPECT_NO_THROW(
      textConfigOf({{"rope_scaling", {{"type", "yarn"}, {"factor", 4}, {"mscale", 1}}}}));

  // idefics3 (SmolVLM): the same Llama decoder, so the same types and the same errors.
  json idefics = readJson(dataPath("models/tiny-idefics3/config.json"));
  idefics["text_config"]["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  const auto parsed = parseIdefics3Config(idefics.dump(), "config.json");
  ASSERT_TRUE(parsed.text.rope_scaling);
  EXPECT_EQ(parsed.text.rope_scaling->rope_type, "linear");
  idefics["text_config"]["rope_scaling"] = {{"rope_type", "wavy"}, {"factor", 2.0}};
  try {
    parseIdefics3Config(idefics.dump(), "config.json");
    ADD_FAILURE() << "accepted rope_type wavy";
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("config.json: text_config.rope_scaling.rope_type: 'wavy' is "
                                   "not supported"),
        std::string::npos)
        << e.what();
  }
}

// A copy of a fixture folder whose config.json gets `edit` applied to text_config.
class ModelCopy {
 public:
  ModelCopy(const std::string& fixture, const json& text_edit)
      : path_(fs::temp_directory_path() /
              ("hae-rope-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))) {
    fs::create_directories(path_);
    for (const char* f : {"generation_config.json", "model.safetensors"})
      fs::copy_file(dataPath("models/" + fixture + "/" + f), path_ / f);
    json config = readJson(dataPath("models/" + fixture + "/config.json"));
    config["text_config"].update(text_edit);
    std::ofstream(path_ / "config.json") << config.dump(2);
  }
  ~ModelCopy() { fs::remove_all(path_); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
  static inline int counter_ = 0;
};

// All logits [n, vocab] of a no-cache forward whose RoPE is taken at `rotary_positions` (any
// dtype); the causal mask uses the token order.
at::Tensor forwardAt(VlmModel& model, const PromptPlan& plan, const at::Tensor& rotary_positions) {
  torch::NoGradGuard no_grad;
  const auto n = static_cast<std::int64_t>(plan.ids.size());
  auto h = model.embed(torch::tensor(plan.ids, torch::kInt64), plan.pixel_values);
  auto positions = torch::arange(n, torch::kInt64);
  auto [cos, sin] = model.rotary(rotary_positions, static_cast<int>(n));
  std::vector<SlotMeta> metas;
  for (std::int64_t i = 0; i < n; ++i)
    metas.push_back({static_cast<int>(i), plan.tokens[i].modality, static_cast<int>(i), false});
  for (int l = 0; l < model.spec().num_layers; ++l) {
    LayerCache cache;
    h = model.layerForward(l, h, positions, cos, sin, cache, metas, nullptr);
  }
  return model.logits(model.finalNorm(h)).to(torch::kFloat32).cpu();
}

class LinearScaling : public ::testing::TestWithParam<std::string> {};

// Linear scaling divides inv_freq by the factor, which is the unscaled model at positions /
// factor; with factor 2 both sides round identically in fp32, so the logits are equal bit for bit.
TEST_P(LinearScaling, EqualsTheUnscaledModelAtHalfThePositions) {
  const std::string fixture = GetParam();
  const Reference ref(dataPath("models/" + fixture + "/expected.safetensors"));
  const ModelCopy scaled_dir(fixture, {{"rope_scaling", {{"type", "linear"}, {"factor", 2}}}});
  std::shared_ptr<VlmModel> scaled = loadModel(scaled_dir.str(), {});
  std::shared_ptr<VlmModel> plain = loadModel(dataPath("models/" + fixture), {});
  const PromptPlan plan = plain->planFromIds(ref.ids(), ref["pixel_values"]);
  const auto n = static_cast<std::int64_t>(plan.ids.size());
  const auto positions = torch::arange(n, torch::kInt64);

  const auto scaled_logits = forwardAt(*scaled, plan, positions);
  const auto plain_logits = forwardAt(*plain, plan, positions);
  const auto halved_logits = forwardAt(*plain, plan, torch::arange(n, torch::kFloat64) / 2);
  const double vs_plain = maxAbsDiff(scaled_logits, plain_logits);
  const double vs_halved = maxAbsDiff(scaled_logits, halved_logits);
  EXPECT_GT(vs_plain, 1e-3);
  EXPECT_EQ(vs_halved, 0.0);
  RecordProperty("linear_vs_unscaled_max_abs_diff", sci(vs_plain));
  RecordProperty("linear_vs_half_positions_max_abs_diff", sci(vs_halved));

  // The engine's prefill runs the scaled rotary too.
  Engine engine(scaled, makePolicy("full", {}));
  const auto last = engine.prefill(scaled->planFromIds(ref.ids(), ref["pixel_values"]));
  EXPECT_LT(maxAbsDiff(last, scaled_logits[n - 1]), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LinearScaling, ::testing::Values("tiny-llava", "tiny-idefics3"));

// Dynamic NTK with max_position_embeddings = prompt length + 2: prefill and the first two decode
// steps stay within it (the original table, bit-equal to the unscaled model), the third step's
// position passes it and its logits change. Under StreamingLLM the cache holds only 10 tokens, but
// the switch comes at the same step: it follows the position, as transformers' does, not the
// cache length.
TEST(RopeScaling, DynamicSwitchesAtTheDecodeStepThatPassesTheLimit) {
  const Reference ref(dataPath("models/tiny-llava/expected.safetensors"));
  const auto ids = ref.ids();
  const int L = static_cast<int>(ids.size());
  const ModelCopy dynamic_dir("tiny-llava",
                              {{"max_position_embeddings", L + 2},
                               {"rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}}}});
  std::shared_ptr<VlmModel> dynamic = loadModel(dynamic_dir.str(), {});
  std::shared_ptr<VlmModel> plain = loadModel(dataPath("models/tiny-llava"), {});
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>> policies = {
      {"full", {}}, {"streaming", {{"sink", "2"}, {"recent", "8"}}}};
  for (const auto& [policy, knobs] : policies) {
    SCOPED_TRACE(policy);
    Engine a(dynamic, makePolicy(policy, knobs)), b(plain, makePolicy(policy, knobs));
    auto la = a.prefill(dynamic->planFromIds(ids, ref["pixel_values"]));
    auto lb = b.prefill(plain->planFromIds(ids, ref["pixel_values"]));
    EXPECT_EQ(maxAbsDiff(la, lb), 0.0) << "prefill, " << L << " tokens";
    for (int step = 1; step <= 4; ++step) {
      const auto token = lb.argmax().item<std::int64_t>();
      la = a.decode(token);
      lb = b.decode(token);
      const int seq_len = L + step;  // the new token's position + 1
      if (seq_len <= L + 2)
        EXPECT_EQ(maxAbsDiff(la, lb), 0.0) << "step " << step;
      else
        EXPECT_GT(maxAbsDiff(la, lb), 1e-6) << "step " << step;
    }
    if (policy == "streaming") EXPECT_LE(a.cache().layer(0).size(), 10);
  }
}

}  // namespace
}  // namespace hae::test
