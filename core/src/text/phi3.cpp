#include "phi3.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>

#include "../io/torch_tensors.h"
#include "../models/weights.h"
#include "hae/error.h"

namespace hae {

namespace {

// The same expression as transformers (_compute_longrope_parameters) and the hub code, in fp32:
// 1 / (ext * theta ** (arange(0, d, 2) / d)).
at::Tensor longRopeInvFreq(int head_dim, double theta, const std::vector<double>& factors) {
  auto exponent = torch::arange(0, head_dim, 2, torch::kInt64).to(torch::kFloat32) / head_dim;
  auto ext = torch::tensor(std::vector<float>(factors.begin(), factors.end()), torch::kFloat32);
  return 1.0 / (ext * torch::pow(torch::tensor(theta, torch::kFloat32), exponent));
}

}  // namespace

LongRope::LongRope(const TextConfig& c) {
  original_max_ = c.original_max_position_embeddings.value_or(c.max_position_embeddings);
  std::vector<double> ones(c.head_dim / 2, 1.0);
  const RopeScaling* r = c.rope_scaling ? &*c.rope_scaling : nullptr;
  scaled_ = r != nullptr;
  short_inv_ = longRopeInvFreq(c.head_dim, c.rope_theta, r ? r->short_factor : ones);
  long_inv_ = longRopeInvFreq(c.head_dim, c.rope_theta, r ? r->long_factor : ones);
  if (r && r->attention_factor) {
    attention_factor_ = *r->attention_factor;
  } else if (r) {
    const double scale = static_cast<double>(c.max_position_embeddings) / original_max_;
    attention_factor_ =
        scale <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(scale) / std::log(original_max_));
  }
}

std::pair<at::Tensor, at::Tensor> LongRope::cosSin(const at::Tensor& positions, Factors factors,
                                                   at::ScalarType dtype) const {
  auto inv = invFreq(factors).to(positions.device());
  auto freqs = torch::outer(positions.to(torch::kFloat32), inv);
  auto emb = torch::cat({freqs, freqs}, -1);
  return {(emb.cos() * attention_factor_).to(dtype), (emb.sin() * attention_factor_).to(dtype)};
}

const char* factorsName(LongRope::Factors f) {
  return f == LongRope::Factors::Long ? "long" : "short";
}

void loadPhi3DecoderWeights(LlamaForCausalLMImpl& lm, const SafetensorsArchive& archive,
                            const std::string& prefix, const LoadOptions&) {
  torch::NoGradGuard no_grad;
  auto& layer0 = lm.model->layer(0);
  const int64_t q_rows = layer0.self_attn->heads * layer0.self_attn->head_dim;
  const int64_t kv_rows = layer0.self_attn->kv_heads * layer0.self_attn->head_dim;
  const int64_t mlp_rows = layer0.mlp->gate_proj->weight.size(0);
  // Module parameter suffix -> (fused checkpoint tensor, first row, rows).
  struct Part {
    const char* suffix;
    const char* fused;
    int64_t start, rows;
  };
  const Part parts[] = {
      {"self_attn.q_proj.weight", "self_attn.qkv_proj.weight", 0, q_rows},
      {"self_attn.k_proj.weight", "self_attn.qkv_proj.weight", q_rows, kv_rows},
      {"self_attn.v_proj.weight", "self_attn.qkv_proj.weight", q_rows + kv_rows, kv_rows},
      {"mlp.gate_proj.weight", "mlp.gate_up_proj.weight", 0, mlp_rows},
      {"mlp.up_proj.weight", "mlp.gate_up_proj.weight", mlp_rows, mlp_rows}};
  const int64_t fused_rows[] = {q_rows + 2 * kv_rows, q_rows + 2 * kv_rows, q_rows + 2 * kv_rows,
                                2 * mlp_rows, 2 * mlp_rows};

  for (auto& item : lm.named_parameters(/*recurse=*/true)) {
    const std::string& key = item.key();
    at::Tensor& param = item.value();
    std::string name = prefix + key;
    const Part* part = nullptr;
    int64_t expect_rows = 0;
    for (std::size_t i = 0; i < std::size(parts); ++i) {
      const std::string suffix = parts[i].suffix;
      if (key.size() > suffix.size() &&
          key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) {
        part = &parts[i];
        expect_rows = fused_rows[i];
        name = prefix + key.substr(0, key.size() - suffix.size()) + parts[i].fused;
        break;
      }
    }
    std::vector<int64_t> expect(param.sizes().begin(), param.sizes().end());
    if (part) expect[0] = expect_rows;
    const TensorView* view = archive.find(name);
    if (!view)
      throw Error(fmt::format("{}: missing tensor '{}' (expected shape [{}])", archive.source(),
                              name, fmt::join(expect, ", ")));
    if (view->shape != expect)
      throw Error(fmt::format("{}: tensor '{}' has shape [{}], config.json implies [{}]",
                              view->file, name, fmt::join(view->shape, ", "),
                              fmt::join(expect, ", ")));
    if (!c10::isFloatingType(toScalarType(view->dtype)))
      throw Error(fmt::format("{}: tensor '{}' has dtype {}, expected a float type", view->file,
                              name, dtypeName(view->dtype)));
    // fp16 checkpoints become the load dtype here (LibTorch has no fp16 GEMM on CPU), in place.
    copyCheckpointTensor(param, *view, part ? part->start : 0, part ? part->rows : -1);
  }
}

}  // namespace hae
