#pragma once
// LLaVA family: CLIP vision tower -> 2-layer MLP projector -> Llama decoder, with HF names.
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <optional>

#include "clip_vision.h"
#include "hae/clip_preprocess.h"
#include "hae/model_config.h"
#include "vlm_model.h"

namespace hae {

struct LlavaProjectorImpl : torch::nn::Module {
  LlavaProjectorImpl(int in_features, int hidden, bool bias, std::string act);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr};
  std::string act;
};
TORCH_MODULE(LlavaProjector);

// The nn::Module tree; parameter names equal the checkpoint's tensor names.
struct LlavaNetImpl : torch::nn::Module {
  explicit LlavaNetImpl(const LlavaConfig& c);
  ClipVisionModel vision_tower{nullptr};
  LlavaProjector multi_modal_projector{nullptr};
  LlamaForCausalLM language_model{nullptr};
};
TORCH_MODULE(LlavaNet);

class LlavaModel final : public VlmModel {
 public:
  LlavaModel(LlavaConfig config, std::optional<Tokenizer> tokenizer, ClipPreprocessConfig preprocess,
             std::string name, const LoadOptions& options);
  LlavaNet& net() { return net_; }
  const LlavaConfig& config() const { return config_; }

  const ModelSpec& spec() const override { return spec_; }
  const Tokenizer* tokenizer() const override { return tokenizer_ ? &*tokenizer_ : nullptr; }
  PromptPlan buildPrompt(const std::string& question,
                         const std::vector<std::string>& image_paths) const override;
  PromptPlan planFromIds(const std::vector<std::int64_t>& ids, const at::Tensor& pixel_values) const override;
  at::Tensor embed(const at::Tensor& ids, const at::Tensor& pixel_values,
                   ImageOutputs* outputs = nullptr) override;
  std::pair<at::Tensor, at::Tensor> rotary(const at::Tensor& positions, int kv_length) override;
  at::Tensor layerForward(int layer, const at::Tensor& h, const at::Tensor& positions,
                          const at::Tensor& cos, const at::Tensor& sin, LayerCache& cache,
                          const std::vector<SlotMeta>& metas, AttentionTap* tap) override;
  at::Tensor finalNorm(const at::Tensor& h) override;
  at::Tensor logits(const at::Tensor& normed) override;
  std::string describe() const override;
  std::int64_t decodeWeightBytes() override { return decodeReadBytes(*net_->language_model->model, net_->language_model->lm_head); }
  at::Tensor towerAttention(const PromptPlan& plan, bool* has_cls, std::string* missing) override;

  // Vision features [n_img, tokens, D*layers] as the projector consumes them.
  at::Tensor visionFeatures(const at::Tensor& pixel_values, std::vector<at::Tensor>* hidden = nullptr);
  int imageTokensPerImage() const;

 private:
  LlavaConfig config_;
  std::optional<Tokenizer> tokenizer_;
  ClipPreprocessConfig preprocess_;
  LlavaNet net_{nullptr};
  ModelSpec spec_;
};

std::unique_ptr<LlavaModel> loadLlava(const std::string& dir, const LoadOptions& options);
std::unique_ptr<LlavaModel> randomLlava(const LlavaConfig& config, const LoadOptions& options,
                                        std::uint64_t seed);

}  // namespace hae
