#include "train_forward.h"

#include <torch/torch.h>

#include <algorithm>

#include "../models/activations.h"
#include "../text/rope.h"

namespace hae::demo {

namespace F = torch::nn::functional;

TrainBatch makeTrainBatch(const std::vector<TrainGroup>& groups, int image_size, int pad_id) {
  const auto b = static_cast<std::int64_t>(groups.size());
  std::int64_t s = 0;
  for (const auto& g : groups) s = std::max<std::int64_t>(s, g.tokens());
  auto ids = torch::full({b, s}, pad_id, torch::kInt64);
  auto positions = torch::zeros({b, s}, torch::kInt64);
  // segment 0: prefix, k > 0: branch k, -1: padding
  auto segment = torch::full({b, s}, -1, torch::kInt64);
  std::vector<std::int64_t> rows, labels;
  std::vector<torch::Tensor> pixels;
  std::vector<torch::Tensor> patch_labels;
  bool have_labels = true;
  std::vector<std::int64_t> focus_group;
  std::vector<torch::Tensor> focus_rows, focus_cols;
  std::vector<std::int64_t> retrieval_rows, retrieval_attributes;
  std::vector<torch::Tensor> retrieval_cols;
  auto ia = ids.accessor<std::int64_t, 2>();
  auto pa = positions.accessor<std::int64_t, 2>();
  auto sa = segment.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < b; ++i) {
    const TrainGroup& g = groups[static_cast<std::size_t>(i)];
    std::int64_t at = 0;
    for (int id : g.prefix) {
      ia[i][at] = id;
      pa[i][at] = at;
      sa[i][at] = 0;
      ++at;
    }
    const auto prefix = static_cast<std::int64_t>(g.prefix.size());
    // The prefix ends with the image's tokens (focus is only set for one-image groups).
    const std::int64_t image_start =
        prefix - std::count(g.prefix.begin(), g.prefix.end(), g.prefix.back());
    auto patchColumns = [&](const std::vector<int>& cells) {
      auto mask = torch::zeros({s}, torch::kFloat32);
      float* m = mask.data_ptr<float>();
      for (int c : cells) m[image_start + c] = 1;
      return mask;
    };
    std::int64_t k = 0;
    for (const auto& br : g.branches) {
      ++k;
      std::int64_t pos = prefix;
      auto put = [&](int id) {
        ia[i][at] = id;
        pa[i][at] = pos++;
        sa[i][at] = k;
        ++at;
      };
      const std::int64_t question_start = at;
      for (int id : br.prompt) put(id);
      // The question's words: the branch prompt without its closing "ASSISTANT:".
      if (!br.focus.empty() && br.prompt.size() > 2 && g.images.size() == 1) {
        auto rows_mask = torch::zeros({s}, torch::kFloat32);
        rows_mask.narrow(0, question_start, static_cast<std::int64_t>(br.prompt.size()) - 2)
            .fill_(1);
        focus_group.push_back(i);
        focus_rows.push_back(rows_mask);
        focus_cols.push_back(patchColumns(br.focus));
      }
      // The logits at the token before each target token predict it.
      for (std::size_t t = 0; t < br.target.size(); ++t) {
        rows.push_back(i * s + at - 1);
        labels.push_back(br.target[t]);
        if (t < br.target_focus.size() && !br.target_focus[t].empty() && g.images.size() == 1) {
          retrieval_rows.push_back(i * s + at - 1);
          retrieval_cols.push_back(patchColumns(br.target_focus[t]));
          const auto attributes = t < br.target_attributes.size()
                                      ? br.target_attributes[t]
                                      : std::array<std::int64_t, 2>{kNoAttribute, kNoAttribute};
          retrieval_attributes.insert(retrieval_attributes.end(), attributes.begin(),
                                      attributes.end());
        }
        put(br.target[t]);
      }
    }
    if (g.patch_labels.size() != g.images.size()) have_labels = false;
    for (const auto& l : g.patch_labels) {
      if (l.empty())
        have_labels = false;
      else
        patch_labels.push_back(torch::tensor(l, torch::kInt64).view({-1, kPatchLabelHeads}));
    }
    for (const auto& img : g.images)
      pixels.push_back(torch::from_blob(const_cast<float*>(img.data()), {3, image_size, image_size},
                                        torch::kFloat32)
                           .clone());
  }
  TrainBatch out;
  out.ids = ids;
  out.positions = positions;
  auto sq = segment.unsqueeze(2), sk = segment.unsqueeze(1);
  auto causal = torch::ones({s, s}, torch::kBool).tril().unsqueeze(0);
  out.allowed = ((sk == 0) | (sk == sq)) & (sk >= 0) & causal;
  // Padding rows attend to themselves so their softmax stays finite; their outputs are unused.
  out.allowed = out.allowed | torch::eye(s, torch::kBool).unsqueeze(0);
  out.pixels = torch::stack(pixels);
  out.label_rows = torch::tensor(rows, torch::kInt64);
  out.labels = torch::tensor(labels, torch::kInt64);
  if (have_labels && !patch_labels.empty()) out.patch_labels = torch::stack(patch_labels);
  if (!focus_group.empty()) {
    out.focus_group = torch::tensor(focus_group, torch::kInt64);
    out.focus_rows = torch::stack(focus_rows);
    out.focus_cols = torch::stack(focus_cols);
  }
  if (!retrieval_rows.empty()) {
    out.retrieval_rows = torch::tensor(retrieval_rows, torch::kInt64);
    out.retrieval_cols = torch::stack(retrieval_cols);
    out.retrieval_attributes = torch::tensor(retrieval_attributes, torch::kInt64).view({-1, 2});
  }
  return out;
}

PatchProbeImpl::PatchProbeImpl(int in_features) {
  int classes = 0;
  for (int n : kPatchLabelClasses) classes += n;
  head = register_module("head", torch::nn::Linear(in_features, classes));
}

RetrievalReadoutImpl::RetrievalReadoutImpl(int layers, int head_dim) {
  for (int i = 0; i < layers; ++i)
    heads.push_back(register_module("layer" + std::to_string(i + 1),
                                    torch::nn::Linear(head_dim, kColourCount + kShapeCount)));
}

namespace {

torch::Tensor visionFeatures(LlavaNet& net, const LlavaConfig& c, const torch::Tensor& pixels) {
  const int n = c.vision.num_hidden_layers;
  std::vector<int> indices;
  int upto = 0;
  for (int layer : c.vision_feature_layers) {
    indices.push_back(layer < 0 ? n + 1 + layer : layer);
    upto = std::max(upto, indices.back());
  }
  auto states = net->vision_tower->vision_model->hiddenStates(pixels, upto);
  std::vector<torch::Tensor> picked;
  for (int i : indices) {
    auto st = states[static_cast<std::size_t>(i)];
    if (c.vision_feature_select_strategy == "default") st = st.narrow(1, 1, st.size(1) - 1);
    picked.push_back(st);
  }
  return torch::cat(picked, -1);
}

torch::Tensor layerForward(LlamaDecoderLayerImpl& layer, const torch::Tensor& h,
                           const torch::Tensor& cos, const torch::Tensor& sin,
                           const torch::Tensor& bias, torch::Tensor* probs_out,
                           torch::Tensor* head0_out = nullptr) {
  auto& a = *layer.self_attn;
  const int64_t b = h.size(0), n = h.size(1), d = a.head_dim, g = a.heads / a.kv_heads;
  auto x = layer.input_layernorm(h);
  auto q = a.q_proj(x).view({b, n, a.heads, d}).transpose(1, 2);
  auto k = a.k_proj(x).view({b, n, a.kv_heads, d}).transpose(1, 2);
  auto v = a.v_proj(x).view({b, n, a.kv_heads, d}).transpose(1, 2);
  q = applyRotary(q, cos, sin);
  k = applyRotary(k, cos, sin);
  // Query heads of one KV group stacked along rows, as the inference path does.
  auto scores = torch::matmul(q.reshape({b, a.kv_heads, g * n, d}), k.transpose(-1, -2)) *
                (1.0 / std::sqrt(static_cast<double>(d)));
  scores = scores.view({b, a.heads, n, n}) + bias;
  auto probs = torch::softmax(scores, -1, torch::kFloat32);
  if (probs_out) *probs_out = probs;
  auto out = torch::matmul(probs.to(v.scalar_type()).view({b, a.kv_heads, g * n, n}), v);
  out = out.view({b, a.heads, n, d});
  if (head0_out) *head0_out = out.select(1, 0).reshape({b * n, d});
  out = out.transpose(1, 2).reshape({b, n, a.heads * d});
  auto hidden = h + a.o_proj(out);
  return hidden + layer.mlp(layer.post_attention_layernorm(hidden));
}

torch::Tensor probeLoss(const torch::Tensor& features, const TrainBatch& batch, PatchProbe& probe,
                        LossParts* parts) {
  auto out = probe->head(features).reshape({-1, probe->head->weight.size(0)});
  auto labels = batch.patch_labels.reshape({-1, kPatchLabelHeads});
  // Accuracy counts the patches of objects only: background is most of the grid and easy.
  auto on_object = labels.select(1, 0) > 0;
  torch::Tensor probe_loss;
  int64_t offset = 0;
  for (int h = 0; h < kPatchLabelHeads; ++h) {
    const int n = kPatchLabelClasses[static_cast<std::size_t>(h)];
    auto logits = out.narrow(1, offset, n);
    auto ce = F::cross_entropy(logits, labels.select(1, h));
    probe_loss = probe_loss.defined() ? probe_loss + ce : ce;
    offset += n;
    if (parts) {
      torch::NoGradGuard no_grad;
      auto right = (logits.argmax(1) == labels.select(1, h)).masked_select(on_object);
      parts->probe_accuracy[static_cast<std::size_t>(h)] =
          right.numel() > 0 ? right.to(torch::kFloat32).mean().item<double>() : 1.0;
    }
  }
  probe_loss = probe_loss / kPatchLabelHeads;
  if (parts) parts->probe = probe_loss.item<double>();
  return probe_loss;
}

}  // namespace

torch::Tensor visionLoss(LlavaNet& net, const LlavaConfig& config, const TrainBatch& batch,
                         PatchProbe& probe, LossParts* parts) {
  return probeLoss(visionFeatures(net, config, batch.pixels), batch, probe, parts);
}

torch::Tensor trainLoss(LlavaNet& net, const LlavaConfig& config, const TrainBatch& batch,
                        PatchProbe* probe, AuxWeights weights, LossParts* parts,
                        RetrievalReadout* readouts) {
  auto& lm = net->language_model;
  const int64_t b = batch.ids.size(0), s = batch.ids.size(1);
  auto h = lm->model->embed_tokens(batch.ids);
  auto image_mask = batch.ids == config.image_token_index;
  auto features = visionFeatures(net, config, batch.pixels);
  auto embeds = net->multi_modal_projector(features);
  h = h.masked_scatter(image_mask.unsqueeze(-1), embeds.reshape({-1, h.size(-1)}).to(h.dtype()));

  auto [cos, sin] = lm->rope.cosSin(batch.positions.reshape({-1}), h.scalar_type());
  cos = cos.view({b, 1, s, -1});
  sin = sin.view({b, 1, s, -1});
  auto bias = torch::zeros({b, 1, s, s}, h.options())
                  .masked_fill(batch.allowed.logical_not().unsqueeze(1),
                               -std::numeric_limits<float>::infinity());
  const bool focus = weights.focus > 0 && batch.focus_group.defined();
  const bool retrieval = weights.retrieval > 0 && batch.retrieval_rows.defined();
  torch::Tensor layer0_probs;
  std::vector<torch::Tensor> retrieval_shares;
  const bool readout = weights.readout > 0 && readouts && batch.retrieval_rows.defined() &&
                       (batch.retrieval_attributes != kNoAttribute).any().item<bool>();
  torch::Tensor readout_loss;
  for (std::size_t i = 0; i < lm->model->layers->size(); ++i) {
    torch::Tensor probs, head0;
    const bool want = (i == 0 && focus) || (i > 0 && retrieval);
    h = layerForward(lm->model->layer(static_cast<int>(i)), h, cos, sin, bias,
                     want ? &probs : nullptr, i > 0 && readout ? &head0 : nullptr);
    if (i > 0 && readout) {
      auto logits = (*readouts)->heads[i - 1](head0.index_select(0, batch.retrieval_rows));
      auto ce = F::cross_entropy(logits.narrow(1, 0, kColourCount),
                                 batch.retrieval_attributes.select(1, 0)) +
                F::cross_entropy(logits.narrow(1, kColourCount, kShapeCount),
                                 batch.retrieval_attributes.select(1, 1));
      readout_loss = readout_loss.defined() ? readout_loss + ce : ce;
    }
    if (i == 0 && focus) layer0_probs = probs;
    if (i > 0 && retrieval) {
      auto head0 = probs.select(1, 0).reshape({b * s, s}).index_select(0, batch.retrieval_rows);
      retrieval_shares.push_back((head0 * batch.retrieval_cols).sum(1));
    }
  }
  auto rows = h.reshape({b * s, -1}).index_select(0, batch.label_rows);
  auto logits = lm->logits(lm->model->norm(rows));
  auto loss = F::cross_entropy(logits.to(torch::kFloat32), batch.labels);
  if (parts) parts->answer = loss.item<double>();
  if (focus) {
    auto mean = layer0_probs.mean(1).index_select(0, batch.focus_group);     // [F, S, S]
    auto mass = torch::bmm(mean, batch.focus_cols.unsqueeze(2)).squeeze(2);  // [F, S] per row
    auto share = (mass * batch.focus_rows).sum(1) / batch.focus_rows.sum(1);
    auto focus_loss = -(share + 1e-6).log().mean();
    if (parts) parts->focus = focus_loss.item<double>();
    loss = loss + weights.focus * focus_loss;
  }
  if (retrieval && !retrieval_shares.empty()) {
    auto retrieval_loss = -(torch::stack(retrieval_shares) + 1e-6).log().mean();
    if (parts) parts->retrieval = retrieval_loss.item<double>();
    loss = loss + weights.retrieval * retrieval_loss;
  }
  if (readout_loss.defined()) {
    readout_loss = readout_loss / (2.0 * static_cast<double>(lm->model->layers->size() - 1));
    if (parts) parts->readout = readout_loss.item<double>();
    loss = loss + weights.readout * readout_loss;
  }
  if (probe && weights.probe > 0 && batch.patch_labels.defined()) {
    auto probe_loss = probeLoss(features, batch, *probe, parts);
    loss = loss + weights.probe * probe_loss;
  }
  return loss;
}

}  // namespace hae::demo
