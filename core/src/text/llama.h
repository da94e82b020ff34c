#pragma once
// Llama decoder (RMSNorm, RoPE, GQA, SwiGLU) as torch::nn modules with HF parameter names, and
// a layer forward that runs on a chunk of new tokens against an evictable KV cache.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <optional>

#include "../cache/kv_cache.h"
#include "attention_tap.h"
#include "hae/model_config.h"
#include "rope.h"

namespace hae {

struct RmsNormImpl : torch::nn::Module {
  RmsNormImpl(int dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RmsNorm);

struct LlamaAttentionImpl : torch::nn::Module {
  explicit LlamaAttentionImpl(const TextConfig& c);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  int heads, kv_heads, head_dim;
};
TORCH_MODULE(LlamaAttention);

struct LlamaMlpImpl : torch::nn::Module {
  explicit LlamaMlpImpl(const TextConfig& c);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  std::string act;
};
TORCH_MODULE(LlamaMlp);

struct LlamaDecoderLayerImpl : torch::nn::Module {
  explicit LlamaDecoderLayerImpl(const TextConfig& c);
  // h: [n, hidden] new tokens; cos/sin for their positions. Appends their K/V (with `metas`) to
  // `cache`, attends over everything the cache holds, returns the layer output [n, hidden].
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& positions,
                        const torch::Tensor& cos, const torch::Tensor& sin, LayerCache& cache,
                        const std::vector<SlotMeta>& metas, AttentionTap* tap);
  LlamaAttention self_attn{nullptr};
  LlamaMlp mlp{nullptr};
  RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

struct LlamaModelImpl : torch::nn::Module {
  explicit LlamaModelImpl(const TextConfig& c);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm{nullptr};
  LlamaDecoderLayerImpl& layer(int i) { return layers->at<LlamaDecoderLayerImpl>(i); }
};
TORCH_MODULE(LlamaModel);

struct LlamaForCausalLMImpl : torch::nn::Module {
  explicit LlamaForCausalLMImpl(const TextConfig& c);
  torch::Tensor logits(const torch::Tensor& normed);  // uses embed_tokens when tied
  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tie_word_embeddings
  RotaryEmbedding rope;
};
TORCH_MODULE(LlamaForCausalLM);

}  // namespace hae
