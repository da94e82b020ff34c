#pragma once
// The Phi-3 family: Phi-3.5-vision ("phi3_v": CLIP ViT-L/14-336 -> HD transform with learned
// separators -> 2-layer GELU MLP -> Phi-3 decoder with LongRoPE) and text-only Phi-3 ("phi3").
// Checkpoint names are the HF ones: model.*, lm_head.*, model.vision_embed_tokens.*.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

#include <optional>

#include "../text/phi3.h"
#include "clip_vision.h"
#include "hae/phi3_config.h"
#include "hae/phi3v_preprocess.h"
#include "vlm_model.h"

namespace hae {

// Phi3ImageEmbedding of the hub code (parameters only; the forward lives in Phi3VModel).
struct Phi3ImageEmbeddingImpl : torch::nn::Module {
  explicit Phi3ImageEmbeddingImpl(const Phi3Config& c);
  ClipVisionModel img_processor{nullptr};
  torch::Tensor glb_GN;  // [1, 1, 4D]: between the sub-crop grid and the global view
  torch::Tensor sub_GN;  // [1, 1, 1, 4D]: ends every row of merged tokens ("newline")
  torch::nn::Sequential img_projection{nullptr};  // Linear(4D, H), GELU (erf), Linear(H, H)
};
TORCH_MODULE(Phi3ImageEmbedding);

// One image's crop grid, as the model recovers it from the prompt (token count + used slots).
struct Phi3vGrid {
  int rows = 0, cols = 0;
  int slots() const { return rows * cols + 1; }  // global view + crops
};

class Phi3VModel final : public VlmModel {
 public:
  Phi3VModel(Phi3Config config, std::optional<Tokenizer> tokenizer,
             Phi3vPreprocessConfig preprocess, std::string name, const LoadOptions& options);
  LlamaForCausalLM& decoder() { return lm_; }
  Phi3ImageEmbedding& imageEmbedding() { return vision_; }
  const Phi3Config& config() const { return config_; }
  const Phi3vPreprocessConfig& preprocessConfig() const { return preprocess_; }
  const LongRope& rope() const { return rope_; }
  LongRope::Factors activeFactors() const { return active_; }  // the set the last forward used

  const ModelSpec& spec() const override { return spec_; }
  const Tokenizer* tokenizer() const override { return tokenizer_ ? &*tokenizer_ : nullptr; }
  PromptPlan buildPrompt(const std::string& question,
                         const std::vector<std::string>& image_paths) const override;
  PromptPlan planFromIds(const std::vector<std::int64_t>& ids,
                         const at::Tensor& pixel_values) const override;
  at::Tensor embed(const at::Tensor& ids, const at::Tensor& pixel_values,
                   ImageOutputs* outputs = nullptr) override;
  std::pair<at::Tensor, at::Tensor> rotary(const at::Tensor& positions, int kv_length) override;
  int rotaryRegime(int kv_length) const override {
    return static_cast<int>(rope_.factorsFor(kv_length));
  }
  at::Tensor layerForward(int layer, const at::Tensor& h, const at::Tensor& positions,
                          const at::Tensor& cos, const at::Tensor& sin, LayerCache& cache,
                          const std::vector<SlotMeta>& metas, AttentionTap* tap) override;
  at::Tensor finalNorm(const at::Tensor& h) override;
  at::Tensor logits(const at::Tensor& normed) override;
  std::string describe() const override;
  at::Tensor towerAttention(const PromptPlan& plan, bool* has_cls, std::string* missing) override;
  std::int64_t decodeWeightBytes() override { return decodeReadBytes(*lm_->model, lm_->lm_head); }

  // The pieces of embed(), public for the parity tests.
  // Crop grids of the images in `ids` (image k holds id -(k+1)) with pixel_values
  // [n_img, slots, 3, 336, 336]; all-zero slots are the processor's padding.
  std::vector<Phi3vGrid> imageGrids(const at::Tensor& ids, const at::Tensor& pixel_values) const;
  // CLIP features [slots, P, D] (hidden state layer_idx without CLS) of one image's used slots.
  at::Tensor visionFeatures(const at::Tensor& slots);
  // The HD sequence of one image [tokens, 4D]: sub-crop rows + sub_GN, glb_GN, global rows +
  // sub_GN.
  at::Tensor hdFeatures(const at::Tensor& features, const Phi3vGrid& grid);
  int mergedSide() const { return config_.vision.image_size / config_.vision.patch_size / 2; }

 private:
  Phi3Config config_;
  std::optional<Tokenizer> tokenizer_;
  Phi3vPreprocessConfig preprocess_;
  LlamaForCausalLM lm_{nullptr};
  Phi3ImageEmbedding vision_{nullptr};  // null for text-only phi3
  LongRope rope_;
  LongRope::Factors active_ = LongRope::Factors::Short;
  ModelSpec spec_;
};

// The processor's pixel slots of one image [slots, 3, 336, 336]: the global view (torch bicubic
// of the normalised HD image, as the reference), the crops row-major, then zero padding.
at::Tensor phi3vPixelSlots(const Phi3vHdImage& hd, int slots);

std::unique_ptr<Phi3VModel> loadPhi3(const std::string& dir, const LoadOptions& options);
std::unique_ptr<Phi3VModel> randomPhi3(const Phi3Config& config, const LoadOptions& options,
                                       std::uint64_t seed);

}  // namespace hae
