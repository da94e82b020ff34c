// Qwen2-VL and Qwen2.5-VL against transformers 4.49 on the tiny-qwen2vl / tiny-qwen25vl fixtures
// (three cases each: one image; two images of different sizes; a wide image then a long text):
// every vision block, the 2-D rotary angles, Qwen2.5-VL's window partition, the merged image
// embeddings, every decoder hidden state and the prefill logits within 1e-4; position_ids and
// rope_deltas identical; the 16-token greedy decode identical with the KV cache, each cached step
// rotated at the position transformers fed it (gen_position_ids).
#include <filesystem>
#include <iostream>

#include "engine/engine.h"
#include "models/qwen2vl.h"
#include "models/vlm_model.h"
#include "policies/policy.h"
#include "reference.h"

namespace hae::test {
namespace {

constexpr double kTolerance = 1e-4;

struct Case {
  std::string model, file;
};

std::vector<std::int64_t> toVector(const at::Tensor& t) {
  auto c = t.to(torch::kInt64).contiguous().flatten();
  return {c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel()};
}

class Qwen2VLParity : public ::testing::TestWithParam<Case> {};

TEST_P(Qwen2VLParity, TowerDecoderPositionsAndGreedyDecodeMatchReference) {
  const Case& c = GetParam();
  const std::string dir = dataPath("qwen2vl/" + c.model);
  auto loaded = loadQwen2VL(dir, {});
  Qwen2VLModel& qwen = *loaded;
  std::shared_ptr<VlmModel> model = std::move(loaded);
  const Reference ref(dir + "/" + c.file);
  const PromptPlan plan =
      model->planFromInputs(ref.ids(), ref["pixel_values"], ref["image_grid_thw"]);

  // Positions: get_rope_index, exactly.
  const auto want_pos = ref["position_ids"];  // [3, 1, S]
  ASSERT_EQ(plan.mrope_positions.size(), static_cast<std::size_t>(want_pos.size(2)));
  for (std::size_t i = 0; i < plan.mrope_positions.size(); ++i)
    for (int a = 0; a < 3; ++a)
      ASSERT_EQ(plan.mrope_positions[i][a], want_pos[a][0][i].item<std::int64_t>())
          << "token " << i << " axis " << a;
  EXPECT_EQ(plan.rope_delta, ref["rope_deltas"].item<std::int64_t>());

  std::map<std::string, double> diffs;
  // The tower alone, with its intermediates.
  Qwen2VisionTrace trace;
  auto embeds =
      qwen.imageEmbeds(ref["pixel_values"], Qwen2VLModel::gridsOf(ref["image_grid_thw"]), &trace);
  diffs["image_embeds(tower)"] = maxAbsDiff(embeds, ref["image_embeds"]);
  diffs["vision_rotary_freqs"] = maxAbsDiff(trace.rotary_freqs, ref["vision_rotary_freqs"]);
  EXPECT_EQ(trace.cu_seqlens, toVector(ref["vision_cu_seqlens"]));
  if (ref.has("vision_window_index")) {
    EXPECT_EQ(trace.window_index, toVector(ref["vision_window_index"]));
    EXPECT_EQ(trace.cu_window_seqlens, toVector(ref["vision_cu_window_seqlens"]));
  }
  ASSERT_EQ(trace.hidden_states.size(), static_cast<std::size_t>(qwen.config().vision.depth + 1));
  for (std::size_t i = 0; i < trace.hidden_states.size(); ++i) {
    const std::string name = "vision_hidden_states." + std::to_string(i);
    diffs[name] = maxAbsDiff(trace.hidden_states[i], ref[name]);
  }

  Engine engine(model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  auto last = engine.prefill(plan, &cap);
  EXPECT_EQ(engine.ropeDelta(), plan.rope_delta);
  diffs["image_embeds"] = maxAbsDiff(cap.image.image_embeds, ref["image_embeds"]);
  diffs["inputs_embeds"] = maxAbsDiff(cap.inputs_embeds, ref["inputs_embeds"]);
  const int layers = qwen.config().text.num_hidden_layers;
  ASSERT_EQ(cap.hidden_states.size(), static_cast<std::size_t>(layers));
  for (int i = 0; i < layers; ++i) {
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
  // The generated tokens' slots carry the positions transformers fed (S + k + rope_deltas).
  const auto gen_pos = ref["gen_position_ids"];  // [3, 1, 15]
  const auto& slots = engine.cache().layer(0).slots();
  const std::size_t prompt = plan.ids.size();
  ASSERT_EQ(slots.size(), prompt + gen_pos.size(2));
  for (std::int64_t k = 0; k < gen_pos.size(2); ++k)
    for (int a = 0; a < 3; ++a)
      EXPECT_EQ(slots[prompt + k].mrope[a], gen_pos[a][0][k].item<std::int64_t>())
          << "step " << k + 1;
  for (const auto& [name, d] : diffs) {
    EXPECT_LT(d, kTolerance) << name;
    std::cout << "  " << c.model << "/" << c.file << " " << name << " max |diff| = " << d << "\n";
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Qwen2VLParity,
                         ::testing::Values(Case{"tiny-qwen2vl", "expected.safetensors"},
                                           Case{"tiny-qwen2vl", "expected_two_images.safetensors"},
                                           Case{"tiny-qwen2vl", "expected_long_text.safetensors"},
                                           Case{"tiny-qwen25vl", "expected.safetensors"},
                                           Case{"tiny-qwen25vl", "expected_two_images.safetensors"},
                                           Case{"tiny-qwen25vl", "expected_long_text.safetensors"}),
                         [](const auto& info) {
                           std::string name = info.param.model + "_" +
                                              info.param.file.substr(0, info.param.file.find('.'));
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace hae::test
