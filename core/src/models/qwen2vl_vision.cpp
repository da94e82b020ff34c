#include "qwen2vl_vision.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "../text/rope.h"
#include "activations.h"
#include "hae/error.h"

namespace hae {

namespace nn = torch::nn;

namespace {

constexpr double kVisionEps = 1e-6;  // both towers' norms hard-code it

// rot_pos_emb: patch (r, c) in the processor's order (merge groups row-major, then the group's
// 2x2 cells) gets cat(r * inv_freq, c * inv_freq), inv_freq = 1 / 10000^(arange(0, d, 2) / d)
// with d = head_dim / 2, computed as VisionRotaryEmbedding does (fp32).
at::Tensor rotaryFreqs(const std::vector<GridThw>& grids, int head_dim, int merge) {
  const int dim = head_dim / 2;
  auto inv_freq =
      torch::pow(at::Scalar(10000.0), torch::arange(0, dim, 2, torch::kFloat32) / dim).reciprocal();
  std::int64_t max_side = 0;
  for (const auto& g : grids) max_side = std::max({max_side, g[1], g[2]});
  auto table = torch::outer(torch::arange(max_side, torch::kFloat32), inv_freq);
  std::vector<at::Tensor> ids;
  for (const auto& [t, h, w] : grids) {
    auto hpos = torch::arange(h).unsqueeze(1).expand({h, w});
    hpos = hpos.reshape({h / merge, merge, w / merge, merge}).permute({0, 2, 1, 3}).flatten();
    auto wpos = torch::arange(w).unsqueeze(0).expand({h, w});
    wpos = wpos.reshape({h / merge, merge, w / merge, merge}).permute({0, 2, 1, 3}).flatten();
    ids.push_back(torch::stack({hpos, wpos}, -1).repeat({t, 1}));
  }
  return table.index({torch::cat(ids)}).flatten(1);
}

// cu_seqlens: one attention block per frame of every image.
std::vector<std::int64_t> frameBoundaries(const std::vector<GridThw>& grids) {
  std::vector<std::int64_t> cu = {0};
  for (const auto& [t, h, w] : grids)
    for (std::int64_t f = 0; f < t; ++f) cu.push_back(cu.back() + h * w);
  return cu;
}

}  // namespace

void qwen25WindowIndex(const std::vector<GridThw>& grids, const Qwen2VLVisionConfig& v,
                       std::vector<std::int64_t>& window_index,
                       std::vector<std::int64_t>& cu_window_seqlens) {
  const std::int64_t ws = v.windowTokens(), m = v.spatial_merge_size, unit = v.mergeUnit();
  window_index.clear();
  cu_window_seqlens = {0};
  std::int64_t offset = 0;
  for (const auto& [t, h, w] : grids) {
    const std::int64_t gh = h / m, gw = w / m;
    // As get_window_index: the grid is padded by ws - side % ws (a whole empty window when the
    // side divides, Q18) and cut into windows row-major; empty windows add no boundary here.
    const std::int64_t nh = (gh + ws - gh % ws) / ws, nw = (gw + ws - gw % ws) / ws;
    for (std::int64_t f = 0; f < t; ++f)
      for (std::int64_t wy = 0; wy < nh; ++wy)
        for (std::int64_t wx = 0; wx < nw; ++wx) {
          std::int64_t count = 0;
          for (std::int64_t y = wy * ws; y < std::min(gh, (wy + 1) * ws); ++y)
            for (std::int64_t x = wx * ws; x < std::min(gw, (wx + 1) * ws); ++x, ++count)
              window_index.push_back(offset + (f * gh + y) * gw + x);
          if (count > 0) cu_window_seqlens.push_back(cu_window_seqlens.back() + count * unit);
        }
    offset += t * gh * gw;
  }
}

Qwen2PatchEmbedImpl::Qwen2PatchEmbedImpl(const Qwen2VLVisionConfig& v) {
  const std::int64_t tp = v.temporal_patch_size, p = v.patch_size;
  proj = register_module(
      "proj",
      nn::Conv3d(
          nn::Conv3dOptions(v.in_channels, v.width, {tp, p, p}).stride({tp, p, p}).bias(false)));
}

torch::Tensor Qwen2PatchEmbedImpl::forward(const torch::Tensor& rows) {
  // A Conv3d whose kernel is the whole input is one matmul with the flattened kernel.
  const auto& w = proj->weight;
  return torch::matmul(rows.to(w.scalar_type()), w.view({w.size(0), -1}).t());
}

Qwen2VisionAttentionImpl::Qwen2VisionAttentionImpl(const Qwen2VLVisionConfig& v)
    : heads(v.num_heads), head_dim(v.headDim()) {
  qkv = register_module("qkv", nn::Linear(nn::LinearOptions(v.width, 3 * v.width).bias(true)));
  proj = register_module("proj", nn::Linear(nn::LinearOptions(v.width, v.width).bias(true)));
}

torch::Tensor Qwen2VisionAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                                const torch::Tensor& sin,
                                                const std::vector<std::int64_t>& cu,
                                                at::Tensor* received) {
  const std::int64_t n = x.size(0);
  // Rows of qkv are q, k, v, each with its heads contiguous: [3, heads, n, head_dim].
  auto parts = qkv(x).view({n, 3, heads, head_dim}).permute({1, 2, 0, 3});
  // The reference rotates q and k in fp32 and casts back.
  auto q = applyRotary(parts[0].to(torch::kFloat32), cos, sin).to(x.scalar_type());
  auto k = applyRotary(parts[1].to(torch::kFloat32), cos, sin).to(x.scalar_type());
  auto v = parts[2];
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  std::vector<at::Tensor> outs, per_block;
  // The reference masks everything outside the blocks with finfo.min, which the softmax turns
  // into exact zeros: attending block by block is the same and costs sum(len^2) instead of n^2.
  for (std::size_t i = 0; i + 1 < cu.size(); ++i) {
    const std::int64_t s = cu[i], len = cu[i + 1] - cu[i];
    if (len == 0) continue;
    auto qs = q.narrow(1, s, len), ks = k.narrow(1, s, len), vs = v.narrow(1, s, len);
    auto probs = torch::softmax(torch::matmul(qs, ks.transpose(1, 2)) * scale, -1, torch::kFloat32);
    outs.push_back(torch::matmul(probs.to(vs.scalar_type()), vs));
    if (received) per_block.push_back(probs.mean(0).mean(0));
  }
  if (received) *received = torch::cat(per_block);
  auto out = torch::cat(outs, 1).transpose(0, 1).reshape({n, heads * head_dim});
  return proj(out);
}

Qwen2VisionMlpImpl::Qwen2VisionMlpImpl(const Qwen2VLVisionConfig& v) : act(v.hidden_act) {
  checkActivation(act, "vision_config.hidden_act");
  const int d = v.width, i = v.intermediate_size;
  if (v.qwen25) {
    gate_proj = register_module("gate_proj", nn::Linear(nn::LinearOptions(d, i).bias(true)));
    up_proj = register_module("up_proj", nn::Linear(nn::LinearOptions(d, i).bias(true)));
    down_proj = register_module("down_proj", nn::Linear(nn::LinearOptions(i, d).bias(true)));
  } else {
    fc1 = register_module("fc1", nn::Linear(nn::LinearOptions(d, i).bias(true)));
    fc2 = register_module("fc2", nn::Linear(nn::LinearOptions(i, d).bias(true)));
  }
}

torch::Tensor Qwen2VisionMlpImpl::forward(const torch::Tensor& x) {
  if (gate_proj) return down_proj(activate(gate_proj(x), act) * up_proj(x));
  return fc2(activate(fc1(x), act));
}

Qwen2VisionNormImpl::Qwen2VisionNormImpl(int dim, bool rms_) : rms(rms_) {
  weight = register_parameter("weight", torch::ones({dim}));
  if (!rms) bias = register_parameter("bias", torch::zeros({dim}));
}

torch::Tensor Qwen2VisionNormImpl::forward(const torch::Tensor& x) {
  if (!rms) return torch::layer_norm(x, {x.size(-1)}, weight, bias, kVisionEps);
  // Qwen2RMSNorm: normalise in fp32, cast back, then scale.
  auto h = x.to(torch::kFloat32);
  h = h * torch::rsqrt(h.pow(2).mean(-1, true) + kVisionEps);
  return weight * h.to(x.scalar_type());
}

Qwen2VisionBlockImpl::Qwen2VisionBlockImpl(const Qwen2VLVisionConfig& v) {
  norm1 = register_module("norm1", Qwen2VisionNorm(v.width, v.qwen25));
  norm2 = register_module("norm2", Qwen2VisionNorm(v.width, v.qwen25));
  attn = register_module("attn", Qwen2VisionAttention(v));
  mlp = register_module("mlp", Qwen2VisionMlp(v));
}

torch::Tensor Qwen2VisionBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                            const torch::Tensor& sin,
                                            const std::vector<std::int64_t>& cu) {
  auto h = x + attn->forward(norm1(x), cos, sin, cu);
  return h + mlp(norm2(h));
}

Qwen2PatchMergerImpl::Qwen2PatchMergerImpl(const Qwen2VLVisionConfig& v)
    : merged_width(v.width * v.mergeUnit()) {
  ln_q = register_module("ln_q", Qwen2VisionNorm(v.width, v.qwen25));
  mlp = register_module("mlp", nn::Sequential(nn::Linear(merged_width, merged_width), nn::GELU(),
                                              nn::Linear(merged_width, v.out_hidden_size)));
}

torch::Tensor Qwen2PatchMergerImpl::forward(const torch::Tensor& x) {
  // Four consecutive rows are one merge group (the processor's order).
  return mlp->forward(ln_q(x).view({-1, merged_width}));
}

Qwen2VisionTowerImpl::Qwen2VisionTowerImpl(const Qwen2VLVisionConfig& v) : config(v) {
  patch_embed = register_module("patch_embed", Qwen2PatchEmbed(v));
  blocks = register_module("blocks", nn::ModuleList());
  for (int i = 0; i < v.depth; ++i) blocks->push_back(Qwen2VisionBlock(v));
  merger = register_module("merger", Qwen2PatchMerger(v));
}

torch::Tensor Qwen2VisionTowerImpl::forward(const torch::Tensor& pixel_values,
                                            const std::vector<GridThw>& grids,
                                            Qwen2VisionTrace* trace) {
  const Qwen2VLVisionConfig& v = config;
  std::int64_t patches = 0;
  for (const auto& [t, h, w] : grids) {
    if (t < 1 || h < 1 || w < 1 || h % v.spatial_merge_size || w % v.spatial_merge_size)
      throw Error(
          fmt::format("image_grid_thw ({}, {}, {}): t, h and w must be positive and h, w "
                      "multiples of spatial_merge_size {}",
                      t, h, w, v.spatial_merge_size));
    patches += t * h * w;
  }
  if (pixel_values.dim() != 2 || pixel_values.size(0) != patches ||
      pixel_values.size(1) != v.patchRow())
    throw Error(fmt::format("pixel_values has shape [{}]; image_grid_thw implies [{}, {}]",
                            fmt::join(pixel_values.sizes(), ", "), patches, v.patchRow()));
  auto h = patch_embed(pixel_values);
  auto freqs = rotaryFreqs(grids, v.headDim(), v.spatial_merge_size).to(h.device());
  const std::vector<std::int64_t> cu = frameBoundaries(grids);
  std::vector<std::int64_t> window_index, cu_window;
  at::Tensor order, inverse;  // Qwen2.5-VL: patch rows into window order and back
  const std::int64_t unit = v.mergeUnit();
  if (v.qwen25) {
    qwen25WindowIndex(grids, v, window_index, cu_window);
    auto groups = torch::tensor(window_index, torch::kInt64);
    order =
        (groups.unsqueeze(1) * unit + torch::arange(unit).unsqueeze(0)).flatten().to(h.device());
    inverse = torch::argsort(order);
    h = h.index_select(0, order);
    freqs = freqs.index_select(0, order);
  }
  if (trace) {
    trace->hidden_states = {h.index_select(
        0, inverse.defined() ? inverse : torch::arange(patches, torch::kInt64).to(h.device()))};
    trace->rotary_freqs = v.qwen25 ? freqs.index_select(0, inverse) : freqs;
    trace->cu_seqlens = cu;
    trace->window_index = window_index;
    trace->cu_window_seqlens = cu_window;
  }
  auto emb = torch::cat({freqs, freqs}, -1);
  auto cos = emb.cos(), sin = emb.sin();
  for (int i = 0; i < v.depth; ++i) {
    const bool full =
        !v.qwen25 || std::find(v.fullatt_block_indexes.begin(), v.fullatt_block_indexes.end(), i) !=
                         v.fullatt_block_indexes.end();
    // Full-attention blocks attend per frame; in window order the frames stay contiguous.
    h = blocks->at<Qwen2VisionBlockImpl>(i).forward(h, cos, sin, full ? cu : cu_window);
    if (trace) trace->hidden_states.push_back(inverse.defined() ? h.index_select(0, inverse) : h);
  }
  auto merged = merger(h);
  if (v.qwen25)
    merged = merged.index_select(
        0, torch::argsort(torch::tensor(window_index, torch::kInt64)).to(merged.device()));
  return merged;
}

torch::Tensor Qwen2VisionTowerImpl::attentionReceived(const torch::Tensor& pixel_values,
                                                      const std::vector<GridThw>& grids) {
  // The last block's input, in the order the blocks run (window order for Qwen2.5-VL).
  Qwen2VisionTrace trace;
  forward(pixel_values, grids, &trace);
  const Qwen2VLVisionConfig& v = config;
  const auto patches = trace.hidden_states.front().size(0);
  at::Tensor order = torch::arange(patches, torch::kInt64);
  if (v.qwen25) {
    auto groups = torch::tensor(trace.window_index, torch::kInt64);
    order =
        (groups.unsqueeze(1) * v.mergeUnit() + torch::arange(v.mergeUnit()).unsqueeze(0)).flatten();
  }
  const auto device = trace.hidden_states.front().device();
  order = order.to(device);
  auto h = trace.hidden_states[v.depth - 1].index_select(0, order);
  auto freqs = trace.rotary_freqs.index_select(0, order);
  auto emb = torch::cat({freqs, freqs}, -1);
  const bool full =
      !v.qwen25 || std::find(v.fullatt_block_indexes.begin(), v.fullatt_block_indexes.end(),
                             v.depth - 1) != v.fullatt_block_indexes.end();
  auto& block = blocks->at<Qwen2VisionBlockImpl>(v.depth - 1);
  at::Tensor received;
  block.attn->forward(block.norm1(h), emb.cos(), emb.sin(),
                      full ? trace.cu_seqlens : trace.cu_window_seqlens, &received);
  return received.index_select(0, torch::argsort(order)).to(torch::kFloat32);
}

}  // namespace hae
