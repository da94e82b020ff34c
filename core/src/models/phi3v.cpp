#include "phi3v.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>

#include "hae/error.h"
#include "tower_attention.h"
#include "weights.h"

namespace hae {

namespace nn = torch::nn;
namespace fs = std::filesystem;

Phi3ImageEmbeddingImpl::Phi3ImageEmbeddingImpl(const Phi3Config& c) {
  const int wide = 4 * c.image_dim_out;  // 2x2 merged patches side by side in the channels
  const int hidden = c.text.hidden_size;
  img_processor = register_module("img_processor", ClipVisionModel(c.vision));
  glb_GN = register_parameter("glb_GN", torch::zeros({1, 1, wide}));
  sub_GN = register_parameter("sub_GN", torch::zeros({1, 1, 1, wide}));
  img_projection = register_module(
      "img_projection",
      nn::Sequential(nn::Linear(wide, hidden), nn::GELU(), nn::Linear(hidden, hidden)));
}

Phi3VModel::Phi3VModel(Phi3Config config, std::optional<Tokenizer> tokenizer,
                       Phi3vPreprocessConfig preprocess, std::string name,
                       const LoadOptions& options)
    : config_(std::move(config)),
      tokenizer_(std::move(tokenizer)),
      preprocess_(preprocess),
      rope_(config_.text) {
  const auto& t = config_.text;
  if (options.image_num_crops != 0) {
    if (options.image_num_crops < 1 || options.image_num_crops > 256)
      throw Error(fmt::format("num_crops {} must lie in [1, 256]", options.image_num_crops));
    preprocess_.num_crops = options.image_num_crops;
  }
  if (config_.has_vision && config_.vision.image_size != kPhi3vCropSize)
    throw Error(fmt::format(
        "config.json: img_processor.vision_config.image_size {} must be {} (the processor's crop)",
        config_.vision.image_size, kPhi3vCropSize));
  if (t.sliding_window && *t.sliding_window < t.max_position_embeddings)
    spdlog::warn("config.json: sliding_window {} is not applied; attention spans the whole cache",
                 *t.sliding_window);
  {
    ConstructInDtype in_load_dtype(options.float_dtype);
    lm_ = LlamaForCausalLM(t);
    if (config_.has_vision) vision_ = Phi3ImageEmbedding(config_);
  }
  lm_->eval();
  if (vision_) vision_->eval();
  spec_ = decoderSpec(config_.has_vision ? "phi3_v" : "phi3", std::move(name), t, options);
  spec_.parameters = countParameters(*lm_) + (vision_ ? countParameters(*vision_) : 0);
  lm_->to(options.device, options.float_dtype);
  if (vision_) vision_->to(options.device, options.float_dtype);
}

std::vector<Phi3vGrid> Phi3VModel::imageGrids(const at::Tensor& ids,
                                              const at::Tensor& pixel_values) const {
  const int m = mergedSide();
  const auto counts = ids.to(torch::kCPU);
  const int64_t images = counts.numel() ? -counts.min().item<int64_t>() : 0;
  if (images <= 0) return {};
  if (!pixel_values.defined() || pixel_values.dim() != 5 || pixel_values.size(0) != images)
    throw Error(
        fmt::format("input_ids hold {} image(s) but pixel_values is not [{}, slots, 3, {}, {}]",
                    images, images, kPhi3vCropSize, kPhi3vCropSize));
  std::vector<Phi3vGrid> grids;
  for (int64_t k = 0; k < images; ++k) {
    const int64_t tokens = (counts == -(k + 1)).sum().item<int64_t>();
    // Padding slots are all zero (a real slot never is: no pixel normalises to 0 in all channels).
    const auto used_flags = pixel_values[k].flatten(1).abs().amax(1).gt(0).to(torch::kCPU);
    int64_t used = 0;
    while (used < used_flags.size(0) && used_flags[used].item<bool>()) ++used;
    const int64_t crops = used - 1;
    // tokens = (crops + 1) * m^2 + 1 + (rows + 1) * m, so the rows follow from the count.
    const int64_t rest = tokens - (crops + 1) * m * m - 1 - m;
    Phi3vGrid g;
    if (crops > 0 && rest > 0 && rest % m == 0 && crops % (rest / m) == 0) {
      g.rows = static_cast<int>(rest / m);
      g.cols = static_cast<int>(crops / g.rows);
    }
    if (g.rows == 0 || phi3vImageTokens(g.rows, g.cols, m) != tokens)
      throw Error(fmt::format("image {} has {} tokens and {} pixel slot(s); no crop grid fits",
                              k + 1, tokens, used));
    grids.push_back(g);
  }
  return grids;
}

at::Tensor Phi3VModel::visionFeatures(const at::Tensor& slots) {
  const int n = config_.vision.num_hidden_layers;
  const int index = config_.layer_idx < 0 ? n + 1 + config_.layer_idx : config_.layer_idx;
  auto states = vision_->img_processor->vision_model->hiddenStates(
      slots.to(spec_.device, spec_.dtype), index);
  auto h = states[index];
  return h.narrow(1, 1, h.size(1) - 1);  // type_feature "patch": drop CLS
}

at::Tensor Phi3VModel::hdFeatures(const at::Tensor& features, const Phi3vGrid& grid) {
  const int64_t m = mergedSide(), c = features.size(2), wide = 4 * c;
  // Patch (2i+dy, 2j+dx) of a crop goes to merged token (i, j), channels (dy*2 + dx)*C .. +C;
  // crops are laid row-major into one (rows*m) x (cols*m) grid.
  auto merge = [&](const at::Tensor& f, int64_t rows, int64_t cols) {
    return f.reshape({rows * cols, m, 2, m, 2, c})
        .permute({0, 1, 3, 2, 4, 5})
        .reshape({rows, cols, m, m, wide})
        .permute({0, 2, 1, 3, 4})
        .reshape({rows * m, cols * m, wide});
  };
  auto newline = [&](const at::Tensor& g) {
    auto sep = vision_->sub_GN.view({1, 1, wide}).expand({g.size(0), 1, wide}).to(g.dtype());
    return torch::cat({g, sep}, 1).reshape({-1, wide});
  };
  auto sub = newline(merge(features.narrow(0, 1, grid.rows * grid.cols), grid.rows, grid.cols));
  auto global = newline(merge(features.narrow(0, 0, 1), 1, 1));
  return torch::cat({sub, vision_->glb_GN.view({1, wide}).to(sub.dtype()), global}, 0);
}

// The CLS row of the feature layer's attention for every crop and global view, each merged token
// summing its 2x2 patches (the HD merge's grouping), placed by the token's (image, crop, row, col).
at::Tensor Phi3VModel::towerAttention(const PromptPlan& plan, bool* has_cls, std::string* missing) {
  torch::NoGradGuard no_grad;
  if (has_cls) *has_cls = true;
  auto out = torch::zeros({static_cast<int64_t>(plan.tokens.size())}, torch::kFloat32);
  if (!vision_ || !plan.pixel_values.defined()) return out;
  const auto grids = imageGrids(torch::tensor(plan.ids, torch::kInt64), plan.pixel_values);
  const int n = config_.vision.num_hidden_layers;
  const int index = config_.layer_idx < 0 ? n + 1 + config_.layer_idx : config_.layer_idx;
  if (index < 1) {
    if (missing) *missing = "the feature layer is the tower's embeddings, which have no attention";
    return {};
  }
  auto& tower = *vision_->img_processor->vision_model;
  const int64_t m = mergedSide();
  std::vector<at::Tensor> per_image;  // [slots, m, m]
  for (std::size_t k = 0; k < grids.size(); ++k) {
    auto slots = plan.pixel_values[k].narrow(0, 0, grids[k].slots()).to(spec_.device, spec_.dtype);
    auto states = tower.hiddenStates(slots, index - 1);
    auto cls = encoderLayerAttention(tower.encoder->layers->at<ClipEncoderLayerImpl>(index - 1),
                                     states.back(), 0)
                   .cpu();
    per_image.push_back(cls.narrow(1, 1, cls.size(1) - 1)
                            .reshape({cls.size(0), m, 2, m, 2})
                            .sum({2, 4})
                            .contiguous());
  }
  auto acc = out.accessor<float, 1>();
  for (std::size_t i = 0; i < plan.tokens.size(); ++i) {
    const TokenInfo& t = plan.tokens[i];
    if (t.modality != Modality::Visual || t.image < 0 || t.image >= static_cast<int>(per_image.size()))
      continue;
    acc[static_cast<int64_t>(i)] = per_image[t.image][t.crop][t.row][t.col].item<float>();
  }
  return out;
}

at::Tensor Phi3VModel::embed(const at::Tensor& ids, const at::Tensor& pixel_values,
                             ImageOutputs* outputs) {
  auto ids_dev = ids.to(spec_.device);
  const bool any = ids_dev.numel() > 0;
  if (any && ids_dev.max().item<int64_t>() >= spec_.vocab_size)
    throw Error(
        fmt::format("input_ids: ids must lie below the vocabulary size {}", spec_.vocab_size));
  auto image_mask = ids_dev < 0;
  const int64_t image_tokens = any ? image_mask.sum().item<int64_t>() : 0;
  // Image positions hold -k (image k); the hub code clamps them to 0 for the lookup, then
  // overwrites those rows with the image features.
  auto embeds = lm_->model->embed_tokens(ids_dev.clamp_min(0));
  if (image_tokens == 0) return embeds;
  if (!vision_)
    throw Error(
        "input_ids hold image positions (negative ids) but this Phi-3 model has no vision tower");

  const auto grids = imageGrids(ids, pixel_values);
  const int64_t max_slots = pixel_values.size(1);
  std::vector<at::Tensor> sequence, per_image_features;
  for (std::size_t k = 0; k < grids.size(); ++k) {
    auto features = visionFeatures(pixel_values[k].narrow(0, 0, grids[k].slots()));
    sequence.push_back(hdFeatures(features, grids[k]));
    if (outputs) {  // [max_slots, P, D]; padding slots were not run and stay zero
      auto padded =
          torch::zeros({max_slots, features.size(1), features.size(2)}, features.options());
      padded.narrow(0, 0, features.size(0)).copy_(features);
      per_image_features.push_back(padded);
    }
  }
  auto hd = torch::cat(sequence, 0);
  auto image_embeds = vision_->img_projection->forward(hd);
  if (outputs) *outputs = {torch::stack(per_image_features), image_embeds, {}};
  if (image_embeds.size(0) != image_tokens)
    throw Error(fmt::format("input_ids hold {} image positions but the images give {} features",
                            image_tokens, image_embeds.size(0)));
  // Image k's rows go to the positions holding -(k+1). The hub code fills all image positions in
  // sequence order instead; the two agree whenever the images appear in order, as the processor
  // and buildPrompt put them.
  int64_t offset = 0;
  for (std::size_t k = 0; k < sequence.size(); ++k) {
    const int64_t n = sequence[k].size(0);
    embeds.index_put_({ids_dev == -static_cast<int64_t>(k + 1)},
                      image_embeds.narrow(0, offset, n).to(embeds.dtype()));
    offset += n;
  }
  return embeds;
}

std::pair<at::Tensor, at::Tensor> Phi3VModel::rotary(const at::Tensor& positions, int kv_length) {
  const auto factors = rope_.factorsFor(kv_length);
  if (factors != active_ && rope_.scaled())
    spdlog::info(
        "LongRoPE: {} factors from a cache of {} tokens (original_max_position_embeddings {})",
        factorsName(factors), kv_length, rope_.originalMaxPositions());
  active_ = factors;
  return rope_.cosSin(positions.to(spec_.device), factors, spec_.dtype);
}

at::Tensor Phi3VModel::layerForward(int layer, const at::Tensor& h, const at::Tensor& positions,
                                    const at::Tensor& cos, const at::Tensor& sin, LayerCache& cache,
                                    const std::vector<SlotMeta>& metas, AttentionTap* tap) {
  return lm_->model->layer(layer).forward(h, positions.to(spec_.device), cos, sin, cache, metas,
                                          tap);
}

at::Tensor Phi3VModel::finalNorm(const at::Tensor& h) {
  return lm_->model->norm(h);
}

at::Tensor Phi3VModel::logits(const at::Tensor& normed) {
  return lm_->logits(normed);
}

std::string Phi3VModel::describe() const {
  const auto& t = config_.text;
  std::string vision = "vision: none (text-only Phi-3)\n";
  if (config_.has_vision) {
    const auto& v = config_.vision;
    vision = fmt::format(
        "vision: CLIP, {} layers, hidden {}, {} heads, {} px crops, patch {}, hidden state {}; HD "
        "transform "
        "up to {} crops ({} tokens for a square image), 2x2 merge -> {}x{} per crop, sub_GN/glb_GN "
        "separators\n"
        "projector: {} -> {} -> {} (gelu)\n",
        v.num_hidden_layers, v.hidden_size, v.num_attention_heads, v.image_size, v.patch_size,
        config_.layer_idx, preprocess_.num_crops,
        phi3vImageTokens(phi3vLayout(1, 1, preprocess_.num_crops).rows,
                         phi3vLayout(1, 1, preprocess_.num_crops).cols, mergedSide()),
        mergedSide(), mergedSide(), 4 * config_.image_dim_out, t.hidden_size, t.hidden_size);
  }
  const std::string rope = rope_.scaled() ? fmt::format(
                                                "LongRoPE: short factors while the cache holds <= "
                                                "{} tokens, long beyond; attention "
                                                "factor {:.6f}; in use: {}",
                                                rope_.originalMaxPositions(),
                                                rope_.attentionFactor(), factorsName(active_))
                                          : std::string("RoPE: plain (no rope_scaling)");
  return fmt::format(
      "family: {} ({})\n{}"
      "language: Phi-3 (fused qkv/gate_up split on load), {} layers, hidden {}, {} heads, {} KV "
      "heads, head dim {}, "
      "MLP {}, vocab {}, rope theta {}\n{}\n"
      "parameters: {}\ndtype: {}, device: {}",
      spec_.family, spec_.name, vision, t.num_hidden_layers, t.hidden_size, t.num_attention_heads,
      t.num_key_value_heads, t.head_dim, t.intermediate_size, t.vocab_size, t.rope_theta, rope,
      spec_.parameters, c10::toString(spec_.dtype), spec_.device.str());
}

std::unique_ptr<Phi3VModel> loadPhi3(const std::string& dir, const LoadOptions& options) {
  const fs::path folder(dir);
  Phi3Config config = loadPhi3Config(dir);
  const auto archive = openCheckpointFor(dir, phi3Manifest(config), options);
  std::optional<Tokenizer> tokenizer;
  if (fs::exists(folder / "tokenizer.json"))
    tokenizer = Tokenizer::fromFile((folder / "tokenizer.json").string());
  Phi3vPreprocessConfig preprocess;
  if (fs::exists(folder / "preprocessor_config.json"))
    preprocess = loadPhi3vPreprocessConfig((folder / "preprocessor_config.json").string());
  // generation_config.json's eos wins over config.json's, as in transformers' generate().
  if (auto generation = loadGenerationConfig(dir); generation && !generation->eos_token_ids.empty())
    config.text.eos_token_ids = generation->eos_token_ids;
  auto model = std::make_unique<Phi3VModel>(config, std::move(tokenizer), preprocess,
                                            folder.filename().string(), options);
  loadPhi3DecoderWeights(*model->decoder(), archive, "", options);
  if (config.has_vision)
    loadModuleWeights(*model->imageEmbedding(), archive, "model.vision_embed_tokens.", options);
  return model;
}

std::unique_ptr<Phi3VModel> randomPhi3(const Phi3Config& config, const LoadOptions& options,
                                       std::uint64_t seed) {
  auto model = std::make_unique<Phi3VModel>(config, std::nullopt, Phi3vPreprocessConfig{},
                                            "random-init", options);
  randomizeModuleWeights(*model->decoder(), seed, options);
  if (config.has_vision) randomizeModuleWeights(*model->imageEmbedding(), seed + 1, options);
  return model;
}

}  // namespace hae
