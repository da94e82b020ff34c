#include "llama.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

#include "../models/activations.h"
#include "decode_rows.h"
#include "gemv.h"
#include "hae/error.h"

namespace hae {

namespace nn = torch::nn;

torch::Tensor linearRows(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (x.dim() == 2 && x.size(0) == 1 && rowProductSupported(weight, x))
    return rowProduct(weight, bias, x);
  // Without AVX-512, one fp32 row still reads faster through OpenBLAS's sgemv than through GEMM.
  if (x.dim() == 2 && x.size(0) == 1 && x.scalar_type() == torch::kFloat32 && x.device().is_cpu()) {
    auto y = torch::mv(weight, x[0]);
    if (bias.defined()) y = y + bias;
    return y.unsqueeze(0);
  }
  return torch::nn::functional::linear(x, weight, bias);
}

namespace {

torch::Tensor project(torch::nn::Linear& layer, const torch::Tensor& x) {
  return linearRows(x, layer->weight, layer->bias);
}

// Stacking happens once per layer at the first inference forward; the lock keeps two engines
// sharing one model (the studio's compare) from stacking the same layer at once.
std::mutex& stackMutex() {
  static std::mutex m;
  return m;
}

}  // namespace

bool StackedRows::current(const std::vector<torch::nn::Linear*>& parts) const {
  if (!weight_.defined()) return false;
  for (auto* p : parts)
    if (!(*p)->weight.is_alias_of(weight_) || (*p)->bias.defined() != bias_.defined() ||
        ((*p)->bias.defined() && !(*p)->bias.is_alias_of(bias_)))
      return false;
  return true;
}

void StackedRows::stack(const std::vector<torch::nn::Linear*>& parts) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> weights, biases;
  for (auto* p : parts) {
    weights.push_back((*p)->weight);
    if ((*p)->bias.defined()) biases.push_back((*p)->bias);
  }
  weight_ = torch::cat(weights, 0);
  bias_ = biases.size() == parts.size() ? torch::cat(biases, 0) : torch::Tensor();
  std::int64_t row = 0;
  for (auto* p : parts) {
    const std::int64_t n = (*p)->weight.size(0);
    (*p)->weight.set_(weight_.narrow(0, row, n));
    if (bias_.defined()) (*p)->bias.set_(bias_.narrow(0, row, n));
    row += n;
  }
}

torch::Tensor StackedRows::forward(const std::vector<torch::nn::Linear*>& parts, const torch::Tensor& x) {
  bool biases_alike = true;
  for (auto* p : parts) biases_alike = biases_alike && (*p)->bias.defined() == (*parts[0])->bias.defined();
  if (torch::GradMode::is_enabled() || !biases_alike) {  // training: each projection on its own
    std::vector<torch::Tensor> outs;
    for (auto* p : parts) outs.push_back(project(*p, x));
    return torch::cat(outs, -1);
  }
  {
    std::lock_guard<std::mutex> lock(stackMutex());
    if (!current(parts)) stack(parts);
  }
  return linearRows(x, weight_, bias_);
}

std::int64_t decodeReadBytes(LlamaModelImpl& model, const torch::nn::Linear& lm_head) {
  std::int64_t bytes = 0;
  auto add = [&](const torch::nn::Module& m) {
    for (const auto& p : m.parameters()) bytes += p.numel() * static_cast<std::int64_t>(p.element_size());
  };
  add(*model.layers);
  add(*model.norm);
  const auto& out = lm_head ? lm_head->weight : model.embed_tokens->weight;
  return bytes + out.numel() * static_cast<std::int64_t>(out.element_size());
}

RmsNormImpl::RmsNormImpl(int dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

namespace {

// One token at inference: the hand-written steps (decode_rows.h), which LibTorch cannot
// differentiate, and which take the same dtype throughout.
bool decodeRow(const torch::Tensor& x) {
  return !torch::GradMode::is_enabled() && decodeRowSupported(x);
}

}  // namespace

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  if (decodeRow(x) && weight.scalar_type() == x.scalar_type()) return rmsNormRow(x, weight, eps);
  // As transformers: normalise in fp32, cast back, then scale (the order matters in bf16).
  auto h = x.to(torch::kFloat32);
  h = h * torch::rsqrt(h.pow(2).mean(-1, true) + eps);
  return weight * h.to(x.scalar_type());
}

LlamaAttentionImpl::LlamaAttentionImpl(const TextConfig& c)
    : heads(c.num_attention_heads), kv_heads(c.num_key_value_heads), head_dim(c.head_dim) {
  const bool bias = c.attention_bias;
  q_proj = register_module("q_proj", nn::Linear(nn::LinearOptions(c.hidden_size, heads * head_dim).bias(bias)));
  k_proj = register_module("k_proj", nn::Linear(nn::LinearOptions(c.hidden_size, kv_heads * head_dim).bias(bias)));
  v_proj = register_module("v_proj", nn::Linear(nn::LinearOptions(c.hidden_size, kv_heads * head_dim).bias(bias)));
  o_proj = register_module("o_proj", nn::Linear(nn::LinearOptions(heads * head_dim, c.hidden_size).bias(bias)));
  qkv_rows.stack({&q_proj, &k_proj, &v_proj});
}

LlamaMlpImpl::LlamaMlpImpl(const TextConfig& c) : act(c.hidden_act) {
  checkActivation(act, "text_config.hidden_act");
  const bool bias = c.mlp_bias;
  gate_proj = register_module("gate_proj", nn::Linear(nn::LinearOptions(c.hidden_size, c.intermediate_size).bias(bias)));
  up_proj = register_module("up_proj", nn::Linear(nn::LinearOptions(c.hidden_size, c.intermediate_size).bias(bias)));
  down_proj = register_module("down_proj", nn::Linear(nn::LinearOptions(c.intermediate_size, c.hidden_size).bias(bias)));
  gate_up_rows.stack({&gate_proj, &up_proj});
}

torch::Tensor LlamaMlpImpl::forward(const torch::Tensor& x) {
  const auto gate_up = gate_up_rows.forward({&gate_proj, &up_proj}, x);
  const std::int64_t width = gate_proj->weight.size(0);
  if ((act == "silu" || act == "swish") && decodeRow(gate_up))
    return project(down_proj, siluGateTimesUp(gate_up));
  return project(down_proj, activate(gate_up.narrow(-1, 0, width), act) * gate_up.narrow(-1, width, width));
}

torch::Tensor LlamaAttentionImpl::qkv(const torch::Tensor& x) {
  return qkv_rows.forward({&q_proj, &k_proj, &v_proj}, x);
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const TextConfig& c) {
  self_attn = register_module("self_attn", LlamaAttention(c));
  mlp = register_module("mlp", LlamaMlp(c));
  input_layernorm = register_module("input_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
}

namespace {

void fillTap(AttentionTap& tap, const torch::Tensor& probs, int kv_heads) {
  // probs: [heads, n, slots] in fp32
  if (tap.keep_last_row) tap.last_row = probs.select(1, probs.size(1) - 1).contiguous();
  auto sel = tap.query_rows.empty()
                 ? probs
                 : probs.index_select(1, torch::tensor(tap.query_rows, torch::kInt64).to(probs.device()));
  if (tap.col_sum_only) {
    tap.col_sum = sel.sum(at::IntArrayRef{0, 1}).div_(sel.size(0));  // = head mean, summed over Q
    if (tap.keep_probs) tap.probs = sel;
    return;
  }
  auto head_mean = sel.mean(0);  // [|Q|, slots]
  tap.col_sum = head_mean.sum(0);
  tap.col_max = std::get<0>(head_mean.max(0));
  tap.head_col_sum = sel.view({kv_heads, -1, sel.size(2)}).sum(1);
  if (tap.keep_probs) tap.probs = sel;
}

// Attention over a per-KV-head cache (Ada-KV): each KV group attends over its own slots, one
// matmul pair per KV head. A tap gets each head's column sums (the heads have no common slot axis).
torch::Tensor raggedHeadAttention(const torch::Tensor& q, const torch::Tensor& positions, const LayerCache& cache,
                                  int64_t g, int64_t n, int64_t d, AttentionTap* tap) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const int64_t kv_heads = cache.numHeads();
  auto qg = q.reshape({kv_heads, g * n, d});
  std::vector<torch::Tensor> outs;
  outs.reserve(kv_heads);
  for (int64_t h = 0; h < kv_heads; ++h) {
    auto kh = cache.headKeys(static_cast<int>(h)), vh = cache.headValues(static_cast<int>(h));
    const int64_t m = kh.size(0);
    auto scores = (torch::matmul(qg[h], kh.t()) * scale).view({g, n, m});
    if (n > 1) {
      auto future = cache.headPositions(static_cast<int>(h)).view({1, m}) > positions.view({n, 1});
      scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
    }
    auto probs = torch::softmax(scores, -1, torch::kFloat32);
    if (tap) {
      auto sel = tap->query_rows.empty()
                     ? probs
                     : probs.index_select(1, torch::tensor(tap->query_rows, torch::kInt64).to(probs.device()));
      tap->ragged_head_col_sum.push_back(sel.sum(at::IntArrayRef{0, 1}));
      if (tap->keep_last_row) tap->ragged_last_row.push_back(probs.select(1, n - 1).contiguous());
    }
    outs.push_back(torch::matmul(probs.to(vh.scalar_type()).view({g * n, m}), vh).view({g, n, d}));
  }
  return torch::cat(outs, 0);  // [heads, n, d]
}

}  // namespace

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& h, const torch::Tensor& positions,
                                             const torch::Tensor& cos, const torch::Tensor& sin,
                                             LayerCache& cache, const std::vector<SlotMeta>& metas,
                                             AttentionTap* tap) {
  auto& a = *self_attn;
  const int64_t n = h.size(0), d = a.head_dim, g = a.heads / a.kv_heads;
  auto x = input_layernorm(h);
  auto qkv = a.qkv(x);
  const std::int64_t q_width = a.heads * d, kv_width = a.kv_heads * d;
  // One token: rotate q and k where the product left them (qkv is its fresh output).
  const bool rotate_in_place = decodeRow(qkv) && cos.dim() == 2 && cos.size(0) == 1 &&
                               cos.size(1) == d && cos.scalar_type() == qkv.scalar_type() &&
                               sin.sizes() == cos.sizes() && sin.scalar_type() == cos.scalar_type();
  if (rotate_in_place) {
    rotateHeadsInPlace(qkv, 0, a.heads, cos, sin);
    rotateHeadsInPlace(qkv, q_width, a.kv_heads, cos, sin);
  }
  auto q = qkv.narrow(1, 0, q_width).view({n, a.heads, d}).transpose(0, 1);
  auto k = qkv.narrow(1, q_width, kv_width).view({n, a.kv_heads, d}).transpose(0, 1);
  auto v = qkv.narrow(1, q_width + kv_width, kv_width).view({n, a.kv_heads, d}).transpose(0, 1);
  if (!rotate_in_place) {
    q = applyRotary(q, cos, sin);
    k = applyRotary(k, cos, sin);
  }
  cache.append(k, v, metas);
  if (cache.perHead()) {
    auto out = raggedHeadAttention(q, positions, cache, g, n, d, tap);
    out = out.transpose(0, 1).reshape({n, a.heads * d});
    auto hidden = h + project(a.o_proj, out);
    return hidden + mlp(post_attention_layernorm(hidden));
  }

  // GQA without repeating K/V: query heads of one KV group are stacked along the row axis.
  auto keys = cache.keys(), values = cache.values();
  const int64_t m = keys.size(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const bool one_query = n == 1 && oneQueryAttentionSupported(q.reshape({a.heads, d}), keys, values);
  auto scores = one_query ? oneQueryScores(q.reshape({a.heads, d}), keys, scale).view({a.heads, 1, m})
                          : torch::bmm(q.reshape({a.kv_heads, g * n, d}), keys.transpose(1, 2)) * scale;
  scores = scores.view({a.heads, n, m});
  if (n > 1) {
    auto future = cache.positions().view({1, m}) > positions.view({n, 1});
    scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
  }
  auto mask = cache.attentionMask();
  at::Tensor unmasked = tap && tap->peek_masked && mask.defined() ? scores : at::Tensor();
  if (mask.defined()) scores = scores + mask.to(scores.dtype());
  // One query: a fresh fp32 row per head, normalised in place (ATen's softmax splits even these
  // few thousand scores across threads, and waking them cost more than the arithmetic).
  if (one_query) softmaxRowsInPlace(scores);
  auto probs = one_query ? scores : torch::softmax(scores, -1, torch::kFloat32);
  if (tap) {
    fillTap(*tap, probs, a.kv_heads);
    if (unmasked.defined()) {
      auto peek = torch::softmax(unmasked, -1, torch::kFloat32);
      if (!tap->query_rows.empty())
        peek = peek.index_select(1, torch::tensor(tap->query_rows, torch::kInt64).to(peek.device()));
      tap->col_sum_peek = peek.mean(0).sum(0);
    }
  }
  auto out = one_query
                 ? mixValues(probs.view({a.heads, m}), values).view({n, a.heads * d})
                 : torch::bmm(probs.to(values.scalar_type()).view({a.kv_heads, g * n, m}), values)
                       .view({a.heads, n, d})
                       .transpose(0, 1)
                       .reshape({n, a.heads * d});
  auto hidden = h + project(a.o_proj, out);
  return hidden + mlp(post_attention_layernorm(hidden));
}

LlamaModelImpl::LlamaModelImpl(const TextConfig& c) {
  embed_tokens = register_module("embed_tokens", nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", nn::ModuleList());
  for (int i = 0; i < c.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(c));
  norm = register_module("norm", RmsNorm(c.hidden_size, c.rms_norm_eps));
}

namespace {

// Each helper follows the transformers 4.49 expression named in its comment, operation by
// operation (Python's `x / tensor` is reciprocal() * x, `base ** tensor` with a float base is
// pow(Scalar, Tensor) in fp32), so the fp32 tables round as transformers' do.

// torch.arange(0, dim, 2, dtype=torch.int64).float() / dim
at::Tensor evenOverDim(int dim) {
  return torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) / dim;
}

// _compute_default_rope_parameters: 1.0 / (base ** (arange(0, dim, 2) / dim))
at::Tensor defaultInvFreq(double base, int dim) {
  return torch::pow(at::Scalar(base), evenOverDim(dim)).reciprocal();
}

// _compute_yarn_parameters
at::Tensor yarnInvFreq(double base, int dim, int max_positions, double factor, double beta_fast,
                       double beta_slow) {
  auto correctionDim = [&](double rotations) {
    return (dim * std::log(max_positions / (rotations * 2 * M_PI))) / (2 * std::log(base));
  };
  const double low = std::max(std::floor(correctionDim(beta_fast)), 0.0);
  double high = std::min(std::ceil(correctionDim(beta_slow)), static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // linear_ramp_factor: "Prevent singularity"
  auto pos_freqs = torch::pow(at::Scalar(base), evenOverDim(dim));
  auto extrapolation = pos_freqs.reciprocal();
  auto interpolation = (pos_freqs * factor).reciprocal();
  auto ramp = ((torch::arange(dim / 2, torch::kFloat32) - low) / (high - low)).clamp(0, 1);
  auto extrapolation_factor = 1 - ramp;
  return interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor;
}

// _compute_longrope_parameters: 1.0 / (ext_factors * base ** (arange(0, dim, 2) / dim))
at::Tensor longRopeInvFreq(double base, int dim, const std::vector<double>& factors) {
  auto ext = torch::tensor(std::vector<float>(factors.begin(), factors.end()), torch::kFloat32);
  return (ext * torch::pow(at::Scalar(base), evenOverDim(dim))).reciprocal();
}

// _compute_llama3_parameters
at::Tensor llama3InvFreq(double base, int dim, const RopeScaling& r) {
  auto inv_freq = defaultInvFreq(base, dim);
  const double factor = r.factor, low_freq_factor = *r.low_freq_factor,
               high_freq_factor = *r.high_freq_factor;
  const double old_context_len = *r.original_max_position_embeddings;
  const double low_freq_wavelen = old_context_len / low_freq_factor;
  const double high_freq_wavelen = old_context_len / high_freq_factor;
  auto wavelen = inv_freq.reciprocal() * (2 * M_PI);
  auto inv_freq_llama = torch::where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq);
  auto smooth_factor = (wavelen.reciprocal() * old_context_len - low_freq_factor) /
                       (high_freq_factor - low_freq_factor);
  auto smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama;
  auto is_medium_freq = (~(wavelen < high_freq_wavelen)).mul(~(wavelen > low_freq_wavelen));
  return torch::where(is_medium_freq, smoothed, inv_freq_llama);
}

}  // namespace

LlamaRotaryEmbedding::LlamaRotaryEmbedding(const TextConfig& c)
    : theta_(c.rope_theta), dim_(c.head_dim), max_positions_(c.max_position_embeddings) {
  torch::NoGradGuard no_grad;
  const RopeScaling none;
  const RopeScaling& r = c.rope_scaling ? *c.rope_scaling : none;
  type_ = r.rope_type;
  factor_ = r.factor;
  if (type_ == "default") {
    inv_freq_ = defaultInvFreq(theta_, dim_);
  } else if (type_ == "linear") {
    inv_freq_ = defaultInvFreq(theta_, dim_).div_(factor_);  // inv_freq /= factor
  } else if (type_ == "dynamic") {
    // _compute_dynamic_ntk_parameters without seq_len (at init): seq_len = max_position_embeddings,
    // in Python floats.
    const double seq_len = max_positions_;
    const double base = theta_ * std::pow((factor_ * seq_len / max_positions_) - (factor_ - 1),
                                          static_cast<double>(dim_) / (dim_ - 2));
    inv_freq_ = defaultInvFreq(base, dim_);
  } else if (type_ == "yarn") {
    // beta_fast / beta_slow: `get(...) or 32` / `or 1`, so 0 also means the default.
    const double beta_fast = r.beta_fast && *r.beta_fast != 0 ? *r.beta_fast : 32;
    const double beta_slow = r.beta_slow && *r.beta_slow != 0 ? *r.beta_slow : 1;
    inv_freq_ = yarnInvFreq(theta_, dim_, max_positions_, factor_, beta_fast, beta_slow);
    attention_factor_ = r.attention_factor ? *r.attention_factor : 0.1 * std::log(factor_) + 1.0;
  } else if (type_ == "longrope") {
    if (static_cast<int>(r.short_factor.size()) != dim_ / 2)
      throw Error("rope_scaling: short_factor has " + std::to_string(r.short_factor.size()) +
                  " values, head_dim / 2 is " + std::to_string(dim_ / 2));
    inv_freq_ = longRopeInvFreq(theta_, dim_, r.short_factor);
    double factor = factor_;
    int original = max_positions_;
    if (c.original_max_position_embeddings) {
      original = *c.original_max_position_embeddings;
      factor = static_cast<double>(max_positions_) / original;
    }
    if (r.attention_factor)
      attention_factor_ = *r.attention_factor;
    else
      attention_factor_ = factor <= 1.0 ? 1.0
                                        : std::sqrt(1 + std::log(factor) /
                                                            std::log(static_cast<double>(original)));
  } else if (type_ == "llama3") {
    inv_freq_ = llama3InvFreq(theta_, dim_, r);
  } else {
    throw Error("rope_scaling: rope_type '" + type_ + "' is not supported for the Llama decoder");
  }
}

at::Tensor LlamaRotaryEmbedding::invFreq(std::int64_t seq_len) const {
  if (type_ != "dynamic" || seq_len <= max_positions_) return inv_freq_;
  // _compute_dynamic_ntk_parameters with seq_len = torch.max(position_ids) + 1, a 0-dim int64
  // tensor: the base is computed in fp32 tensor arithmetic, as there.
  torch::NoGradGuard no_grad;
  auto scaled =
      torch::scalar_tensor(seq_len, torch::kInt64) * factor_ / max_positions_ - (factor_ - 1);
  auto base = scaled.pow(static_cast<double>(dim_) / (dim_ - 2)) * theta_;
  return torch::pow(base, evenOverDim(dim_)).reciprocal();
}

std::pair<at::Tensor, at::Tensor> LlamaRotaryEmbedding::cosSin(const at::Tensor& positions,
                                                                at::ScalarType dtype) const {
  at::Tensor inv = inv_freq_;
  if (type_ == "dynamic" && positions.numel() > 0)
    inv = invFreq(positions.max().item<std::int64_t>() + 1);
  auto freqs = torch::outer(positions.to(torch::kFloat32), inv.to(positions.device()));
  auto emb = torch::cat({freqs, freqs}, -1);
  auto cos = emb.cos(), sin = emb.sin();
  if (attention_factor_ != 1.0) {  // transformers multiplies always; by 1 that changes nothing
    cos = cos * attention_factor_;
    sin = sin * attention_factor_;
  }
  return {cos.to(dtype), sin.to(dtype)};
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const TextConfig& c) : rope(c) {
  model = register_module("model", LlamaModel(c));
  if (!c.tie_word_embeddings)
    lm_head = register_module("lm_head", nn::Linear(nn::LinearOptions(c.hidden_size, c.vocab_size).bias(false)));
}

torch::Tensor LlamaForCausalLMImpl::logits(const torch::Tensor& normed) {
  const auto& weight = lm_head ? lm_head->weight : model->embed_tokens->weight;
  return linearRows(normed, weight, {});
}

}  // namespace hae
