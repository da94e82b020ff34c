#pragma once
// Qwen2-VL and Qwen2.5-VL (model_type qwen2_vl / qwen2_5_vl): the vision tower and merger
// ("visual."), the Qwen2 decoder ("model.", Llama's layer with q/k/v biases and no o_proj bias)
// and lm_head (absent when tied). Rotary positions are M-RoPE (t, h, w) triples computed once per
// prompt (get_rope_index); the engine carries them per KV slot and continues decoding at the
// sequence index + rope_deltas, whatever the cache holds.
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <optional>

#include "../text/mrope.h"
#include "hae/qwen2vl_config.h"
#include "hae/qwen2vl_preprocess.h"
#include "qwen2vl_vision.h"
#include "vlm_model.h"

namespace hae {

struct Qwen2VLNetImpl : torch::nn::Module {
  explicit Qwen2VLNetImpl(const Qwen2VLConfig& c);
  Qwen2VisionTower visual{nullptr};
  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tie_word_embeddings
};
TORCH_MODULE(Qwen2VLNet);

class Qwen2VLModel final : public VlmModel {
 public:
  Qwen2VLModel(Qwen2VLConfig config, std::optional<Tokenizer> tokenizer,
               Qwen2VLPreprocessConfig preprocess, std::string name, const LoadOptions& options);
  Qwen2VLNet& net() { return net_; }
  const Qwen2VLConfig& config() const { return config_; }
  const Qwen2VLPreprocessConfig& preprocessConfig() const { return preprocess_; }

  const ModelSpec& spec() const override { return spec_; }
  const Tokenizer* tokenizer() const override { return tokenizer_ ? &*tokenizer_ : nullptr; }
  PromptPlan buildPrompt(const std::string& question,
                         const std::vector<std::string>& image_paths) const override;
  // Without image_grid_thw only prompts without images can be planned.
  PromptPlan planFromIds(const std::vector<std::int64_t>& ids,
                         const at::Tensor& pixel_values) const override;
  PromptPlan planFromInputs(const std::vector<std::int64_t>& ids, const at::Tensor& pixel_values,
                            const at::Tensor& image_grid_thw) const override;
  // Needs the grids: embeds through embedPlan; with pixel_values but no grids it throws.
  at::Tensor embed(const at::Tensor& ids, const at::Tensor& pixel_values,
                   ImageOutputs* outputs = nullptr) override;
  at::Tensor embedPlan(const at::Tensor& ids, const PromptPlan& plan,
                       ImageOutputs* outputs = nullptr) override;
  // positions: int64 [3, n] (t, h, w) or [n] (t = h = w).
  std::pair<at::Tensor, at::Tensor> rotary(const at::Tensor& positions, int kv_length) override;
  at::Tensor layerForward(int layer, const at::Tensor& h, const at::Tensor& positions,
                          const at::Tensor& cos, const at::Tensor& sin, LayerCache& cache,
                          const std::vector<SlotMeta>& metas, AttentionTap* tap) override;
  at::Tensor finalNorm(const at::Tensor& h) override;
  at::Tensor logits(const at::Tensor& normed) override;
  std::string describe() const override;
  std::int64_t decodeWeightBytes() override;
  // Mean attention received in the tower's last block (no CLS token), summed over each merged
  // token's 2x2 patches.
  at::Tensor towerAttention(const PromptPlan& plan, bool* has_cls, std::string* missing) override;

  // The merged image tokens [n, hidden] for pixel rows [N, patchRow] and their grids, with the
  // tower's intermediates when `trace` is set.
  at::Tensor imageEmbeds(const at::Tensor& pixel_values, const std::vector<GridThw>& grids,
                         Qwen2VisionTrace* trace = nullptr);
  static std::vector<GridThw> gridsOf(const at::Tensor& image_grid_thw);

 private:
  // Token metadata, M-RoPE positions and rope_deltas for ids whose images have `grids`;
  // `images` (buildPrompt) gives each image's original size for the overlay.
  PromptPlan planTokens(const std::vector<std::int64_t>& ids, const std::vector<GridThw>& grids,
                        std::vector<ImageInfo> images) const;
  std::vector<int> encodeText(const std::string& text) const;

  Qwen2VLConfig config_;
  std::optional<Tokenizer> tokenizer_;
  Qwen2VLPreprocessConfig preprocess_;
  Qwen2VLNet net_{nullptr};
  MropeRotary rope_;
  ModelSpec spec_;
};

std::unique_ptr<Qwen2VLModel> loadQwen2VL(const std::string& dir, const LoadOptions& options);
std::unique_ptr<Qwen2VLModel> randomQwen2VL(const Qwen2VLConfig& config, const LoadOptions& options,
                                            std::uint64_t seed);

}  // namespace hae
