// The LLaVA runtime against Hugging Face transformers' outputs on the fixture checkpoints: prefill
// logits and every hidden state within 1e-4, and the 16-token greedy decode through the KV cache.
#include "engine/engine.h"
#include "models/vlm_model.h"
#include "reference.h"

namespace hae::test {
namespace {

constexpr double kTolerance = 1e-4;

struct Case {
  std::string model, file;
};

class LlavaParity : public ::testing::TestWithParam<Case> {};

TEST_P(LlavaParity, PrefillAndGreedyDecodeMatchReference) {
  const Case c = GetParam();
  std::shared_ptr<VlmModel> model = loadModel(dataPath("models/" + c.model), {});
  const Reference ref(dataPath("models/" + c.model + "/" + c.file));
  const PromptPlan plan = model->planFromIds(ref.ids(), ref["pixel_values"]);

  Engine engine(model, makePolicy("full", {}));
  ForwardCapture cap;
  cap.enabled = true;
  auto last = engine.prefill(plan, &cap);

  EXPECT_LT(maxAbsDiff(cap.image.vision_features, ref["vision_features"]), kTolerance);
  EXPECT_LT(maxAbsDiff(cap.image.image_embeds, ref["image_embeds"]), kTolerance);
  EXPECT_LT(maxAbsDiff(cap.inputs_embeds, ref["inputs_embeds"]), kTolerance);
  ASSERT_EQ(cap.hidden_states.size(), static_cast<std::size_t>(model->spec().num_layers));
  for (std::size_t i = 0; i < cap.hidden_states.size(); ++i) {
    const std::string name = "hidden_states." + std::to_string(i + 1);
    EXPECT_LT(maxAbsDiff(cap.hidden_states[i], ref[name]), kTolerance) << name;
  }
  EXPECT_LT(maxAbsDiff(cap.last_layer_output_prenorm, ref["last_layer_output_prenorm"]), kTolerance);
  const double logits_diff = maxAbsDiff(cap.logits, ref["logits"]);
  EXPECT_LT(logits_diff, kTolerance);
  RecordProperty("prefill_logits_max_abs_diff", std::to_string(logits_diff));

  auto gen_ids = ref["gen_ids"][0];
  auto gen_logits = ref["gen_logits"][0];
  double worst = 0;
  for (int s = 0; s < gen_ids.size(0); ++s) {
    worst = std::max(worst, maxAbsDiff(last, gen_logits[s]));
    const auto token = last.argmax().item<std::int64_t>();
    ASSERT_EQ(token, gen_ids[s].item<std::int64_t>()) << "greedy step " << s;
    if (s + 1 < gen_ids.size(0)) last = engine.decode(token);
  }
  EXPECT_LT(worst, kTolerance);
  RecordProperty("decode_logits_max_abs_diff", std::to_string(worst));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LlavaParity,
                         ::testing::Values(Case{"tiny-llava", "expected.safetensors"},
                                           Case{"tiny-llava", "expected_two_images.safetensors"},
                                           Case{"llava-medium", "expected.safetensors"}));

TEST(LlavaPrompt, PlanMarksEveryVisualTokenWithItsPatch) {
  std::shared_ptr<VlmModel> model = loadModel(dataPath("models/llava-medium"), {});
  const Reference ref(dataPath("models/llava-medium/expected.safetensors"));
  const PromptPlan plan = model->planFromIds(ref.ids(), ref["pixel_values"]);
  int visual = 0;
  for (const auto& t : plan.tokens) {
    if (t.modality != Modality::Visual) continue;
    const int k = t.position - 3;  // fixtures README: image token k sits at position 3 + k
    EXPECT_EQ(t.row, k / 24);
    EXPECT_EQ(t.col, k % 24);
    ++visual;
  }
  EXPECT_EQ(visual, 576);
  EXPECT_EQ(plan.tokens[0].modality, Modality::Prefix);
  EXPECT_EQ(plan.tokens.back().modality, Modality::Text);
}

}  // namespace
}  // namespace hae::test
