#pragma once
// Idefics3 family (SmolVLM): SigLIP tower per 512x512 tile -> pixel shuffle -> Linear connector ->
// Llama decoder, with HF parameter names (model.vision_model, model.connector, model.text_model,
// lm_head).
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <optional>

#include "hae/idefics3_config.h"
#include "hae/idefics3_preprocess.h"
#include "siglip_vision.h"
#include "vlm_model.h"

namespace hae {

// Space-to-depth as Idefics3Connector.pixel_shuffle: [B, S*S, D] -> [B, S*S/r^2, D*r^2]. Output
// token (I, J) of the (S/r)^2 grid holds patches (I*r+dh, J*r+dw) at channels (dh*r + dw)*D.
at::Tensor idefics3PixelShuffle(const at::Tensor& x, int scale_factor);

struct Idefics3ProjectionImpl : torch::nn::Module {  // Idefics3SimpleMLP
  Idefics3ProjectionImpl(int in_features, int out_features);
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(Idefics3Projection);

struct Idefics3ConnectorImpl : torch::nn::Module {
  explicit Idefics3ConnectorImpl(const Idefics3Config& c);
  torch::Tensor forward(const torch::Tensor& vision_features);  // [tiles, P, Dv] -> [tiles, T, H]
  Idefics3Projection modality_projection{nullptr};
  int scale_factor;
};
TORCH_MODULE(Idefics3Connector);

struct Idefics3InnerImpl : torch::nn::Module {  // "model."
  explicit Idefics3InnerImpl(const Idefics3Config& c);
  SiglipVisionTransformer vision_model{nullptr};
  Idefics3Connector connector{nullptr};
  LlamaModel text_model{nullptr};
};
TORCH_MODULE(Idefics3Inner);

struct Idefics3NetImpl : torch::nn::Module {
  explicit Idefics3NetImpl(const Idefics3Config& c);
  Idefics3Inner model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tied to embed_tokens
};
TORCH_MODULE(Idefics3Net);

class Idefics3Model final : public VlmModel {
 public:
  Idefics3Model(Idefics3Config config, std::optional<Tokenizer> tokenizer,
                Idefics3PreprocessConfig preprocess, std::string name, const LoadOptions& options);
  Idefics3Net& net() { return net_; }
  const Idefics3Config& config() const { return config_; }
  const Idefics3PreprocessConfig& preprocessConfig() const { return preprocess_; }

  const ModelSpec& spec() const override { return spec_; }
  const Tokenizer* tokenizer() const override { return tokenizer_ ? &*tokenizer_ : nullptr; }
  PromptPlan buildPrompt(const std::string& question,
                         const std::vector<std::string>& image_paths) const override;
  PromptPlan planFromIds(const std::vector<std::int64_t>& ids,
                         const at::Tensor& pixel_values) const override;
  at::Tensor embed(const at::Tensor& ids, const at::Tensor& pixel_values,
                   ImageOutputs* outputs = nullptr) override;
  std::pair<at::Tensor, at::Tensor> rotary(const at::Tensor& positions, int kv_length) override;
  at::Tensor layerForward(int layer, const at::Tensor& h, const at::Tensor& positions,
                          const at::Tensor& cos, const at::Tensor& sin, LayerCache& cache,
                          const std::vector<SlotMeta>& metas, AttentionTap* tap) override;
  at::Tensor finalNorm(const at::Tensor& h) override;
  at::Tensor logits(const at::Tensor& normed) override;
  std::string describe() const override;
  at::Tensor towerAttention(const PromptPlan& plan, bool* has_cls, std::string* missing) override;
  std::int64_t decodeWeightBytes() override { return decodeReadBytes(*net_->model->text_model, net_->lm_head); }

  // SigLIP last_hidden_state [tiles, P, Dv] for tiles [tiles, 3, S, S] (or HF's [1, tiles, 3, S, S]
  // with all-zero padding tiles, which are dropped as the reference drops them).
  at::Tensor visionFeatures(const at::Tensor& pixel_values);

 private:
  // The prompt's token metadata. tiles_per_image: known tile counts (buildPrompt); empty: infer
  // the image boundaries from the <global-img> marker (planFromIds).
  PromptPlan planTokens(const std::vector<std::int64_t>& ids,
                        const std::vector<int>& tiles_per_image) const;
  std::vector<int> encodeText(const std::string& text) const;
  int markerId(const std::string& marker) const;

  Idefics3Config config_;
  std::optional<Tokenizer> tokenizer_;
  Idefics3PreprocessConfig preprocess_;
  Idefics3Net net_{nullptr};
  LlamaRotaryEmbedding rope_;  // SmolVLM's text model is LlamaModel, rope_scaling included
  ModelSpec spec_;
};

std::unique_ptr<Idefics3Model> loadIdefics3(const std::string& dir, const LoadOptions& options);
std::unique_ptr<Idefics3Model> randomIdefics3(const Idefics3Config& config,
                                              const LoadOptions& options, std::uint64_t seed);

}  // namespace hae
