// The Qwen2-VL / Qwen2.5-VL Instruct chat prompt as its chat template renders one user turn with a
// default system turn:
//   <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n
//   <|vision_start|><|image_pad|><|vision_end|>...{question}<|im_end|>\n<|im_start|>assistant\n
// with each <|image_pad|> expanded by the processor to the image's t*h*w/4 merged tokens, and the
// token metadata: M-RoPE positions, and every visual token's image and merged-grid cell.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "hae/error.h"
#include "hae/image.h"
#include "prompt_text.h"
#include "qwen2vl.h"

namespace hae {

namespace {

constexpr const char* kImageMarker = "<image>";
constexpr const char* kVisionBlock = "<|vision_start|><|image_pad|><|vision_end|>";
constexpr const char* kSystem = "You are a helpful assistant.";

std::string chatText(const std::string& question, std::size_t images) {
  std::string body;
  if (question.find(kImageMarker) == std::string::npos) {
    for (std::size_t i = 0; i < images; ++i) body += kVisionBlock;
    body += question;
  } else {
    for (std::size_t pos = 0;;) {
      const auto at = question.find(kImageMarker, pos);
      body += question.substr(pos, at == std::string::npos ? std::string::npos : at - pos);
      if (at == std::string::npos) break;
      body += kVisionBlock;
      pos = at + std::string(kImageMarker).size();
    }
  }
  return std::string("<|im_start|>system\n") + kSystem + "<|im_end|>\n<|im_start|>user\n" + body +
         "<|im_end|>\n<|im_start|>assistant\n";
}

std::size_t countOf(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

}  // namespace

// Without a tokenizer (random-init profiling): the special tokens at their real offsets from
// <|vision_start|> (<|im_start|> = vision_start - 8, as in the real and the tiny vocabularies),
// words hashed to stable ids below <|endoftext|>, so prompts keep the real layout.
std::vector<int> Qwen2VLModel::encodeText(const std::string& text) const {
  if (tokenizer_) return tokenizer_->encode(text, false);
  const int vs = config_.vision_start_token_id;
  const std::vector<std::pair<std::string, int>> specials = {
      {"<|im_start|>", vs - 8},
      {"<|im_end|>", vs - 7},
      {"<|vision_start|>", vs},
      {"<|vision_end|>", config_.vision_end_token_id},
      {"<|image_pad|>", config_.image_token_id}};
  const int words = std::max(1, std::min(vs - 9, spec_.vocab_size));
  std::vector<int> ids;
  std::size_t start = 0;
  while (start < text.size()) {
    bool special = false;
    for (const auto& [s, id] : specials)
      if (text.compare(start, s.size(), s) == 0) {
        ids.push_back(std::clamp(id, 0, spec_.vocab_size - 1));
        start += s.size();
        special = true;
        break;
      }
    if (special) continue;
    auto end = text.find_first_of(" \n<", start + 1);
    if (end == std::string::npos) end = text.size();
    ids.push_back(
        static_cast<int>(std::hash<std::string>{}(text.substr(start, end - start)) % words));
    start = end;
  }
  return ids;
}

PromptPlan Qwen2VLModel::buildPrompt(const std::string& question,
                                     const std::vector<std::string>& image_paths) const {
  const std::string text = chatText(question, image_paths.size());
  const std::size_t blocks = countOf(text, kVisionBlock);
  if (blocks != image_paths.size())
    throw Error(fmt::format("prompt has {} <image> marker(s) but {} image(s) were given", blocks,
                            image_paths.size()));
  std::vector<GridThw> grids;
  std::vector<ImageInfo> images;
  std::vector<at::Tensor> rows;
  for (const auto& path : image_paths) {
    const RgbImage image = loadImage(path);
    Qwen2VLPreprocessed pre;
    try {
      pre = qwen2vlPreprocess(image, preprocess_);
    } catch (const Error& e) {
      throw Error(path + ": " + e.what());
    }
    const std::int64_t n = std::int64_t(pre.grid_t) * pre.grid_h * pre.grid_w;
    rows.push_back(
        torch::from_blob(pre.pixel_values.data(), {n, pre.rowWidth()}, torch::kFloat32).clone());
    grids.push_back({pre.grid_t, pre.grid_h, pre.grid_w});
    images.push_back({path, image.width, image.height, {}});
  }
  std::vector<std::int64_t> ids;
  std::size_t image = 0;
  for (int id : encodeText(text)) {
    if (id == config_.image_token_id && image < grids.size()) {
      const auto [t, h, w] = grids[image++];
      ids.insert(ids.end(), t * h * w / config_.vision.mergeUnit(), id);
    } else {
      ids.push_back(id);
    }
  }
  if (image != grids.size())
    throw Error(fmt::format("the tokenizer gave {} <|image_pad|> tokens for {} images", image,
                            grids.size()));
  PromptPlan plan = planTokens(ids, grids, std::move(images));
  if (!rows.empty()) plan.pixel_values = torch::cat(rows);
  return plan;
}

PromptPlan Qwen2VLModel::planFromIds(const std::vector<std::int64_t>& ids,
                                     const at::Tensor& pixel_values) const {
  return planFromInputs(ids, pixel_values, {});
}

PromptPlan Qwen2VLModel::planFromInputs(const std::vector<std::int64_t>& ids,
                                        const at::Tensor& pixel_values,
                                        const at::Tensor& image_grid_thw) const {
  const std::vector<GridThw> grids = gridsOf(image_grid_thw);
  if (pixel_values.defined() && grids.empty())
    throw Error("pixel_values without image_grid_thw: Qwen2-VL needs each image's (t, h, w) grid");
  std::vector<ImageInfo> images;
  for (const auto& [t, h, w] : grids)  // no original image: the grid's own pixels
    images.push_back({"",
                      static_cast<int>(w * config_.vision.patch_size),
                      static_cast<int>(h * config_.vision.patch_size),
                      {}});
  PromptPlan plan = planTokens(ids, grids, std::move(images));
  plan.pixel_values = pixel_values;
  return plan;
}

PromptPlan Qwen2VLModel::planTokens(const std::vector<std::int64_t>& ids,
                                    const std::vector<GridThw>& grids,
                                    std::vector<ImageInfo> images) const {
  const int merge = config_.vision.spatial_merge_size;
  PromptPlan plan;
  MropeLayout layout = mropeLayout(ids, grids, merge, config_.image_token_id,
                                   config_.vision_start_token_id, config_.qwen25());
  std::int64_t total = 0;
  for (const auto& [t, h, w] : grids) total += t * (h / merge) * (w / merge);
  std::int64_t pads = 0;
  for (auto id : ids) pads += id == config_.image_token_id;
  if (pads != total)
    throw Error(
        fmt::format("input_ids hold {} image tokens (<|image_pad|>, id {}) but "
                    "image_grid_thw gives {}",
                    pads, config_.image_token_id, total));
  if (config_.text.sliding_window && static_cast<int>(ids.size()) > *config_.text.sliding_window)
    spdlog::warn(
        "prompt of {} tokens exceeds sliding_window {}: transformers 4.49 would mask keys "
        "further back than the window (quirk Q14); this runtime attends to all of them",
        ids.size(), *config_.text.sliding_window);
  for (std::size_t k = 0; k < grids.size(); ++k) {
    const auto [t, h, w] = grids[k];
    CropGrid grid;
    grid.image = static_cast<int>(k);
    grid.rows = static_cast<int>(h / merge);  // one visual token per merged 2x2 cell
    grid.cols = static_cast<int>(w / merge);
    // smart_resize stretches the whole image onto the grid: the grid covers all of it.
    grid.region = {0, 0, static_cast<float>(images[k].width), static_cast<float>(images[k].height)};
    images[k].grids.push_back(grid);
  }
  plan.images = std::move(images);
  // Image tokens in order: image k takes the next t*(h/m)*(w/m) of them, row-major over the
  // merged grid (frames after one another).
  std::size_t image = 0;
  std::int64_t in_image = 0;
  bool seen_image = false;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    TokenInfo tok;
    tok.id = static_cast<int>(ids[i]);
    tok.position = static_cast<int>(i);
    if (ids[i] == config_.image_token_id) {
      const auto [t, h, w] = grids[image];
      const std::int64_t cols = w / merge, cells = (h / merge) * cols;
      tok.modality = Modality::Visual;
      tok.image = static_cast<int>(image);
      tok.crop = 0;
      tok.row = static_cast<int>((in_image % cells) / cols);
      tok.col = static_cast<int>(in_image % cols);
      tok.text = "<|image_pad|>";
      seen_image = true;
      if (++in_image == t * cells) ++image, in_image = 0;
    } else {
      const bool marker =
          ids[i] == config_.vision_start_token_id || ids[i] == config_.vision_end_token_id;
      tok.modality = marker ? Modality::Separator : seen_image ? Modality::Text : Modality::Prefix;
      tok.text = tokenizer_ ? tokenizer_->decode({tok.id}, false) : fmt::format("#{}", ids[i]);
    }
    plan.ids.push_back(ids[i]);
    plan.tokens.push_back(std::move(tok));
  }
  if (tokenizer_) spaceTextRuns(plan.tokens, *tokenizer_);
  plan.mrope_positions = std::move(layout.positions);
  plan.rope_delta = layout.rope_delta;
  if (!grids.empty()) {
    std::vector<std::int64_t> flat;
    for (const auto& g : grids) flat.insert(flat.end(), g.begin(), g.end());
    plan.image_grid_thw = torch::tensor(flat, torch::kInt64).view({-1, 3});
  }
  return plan;
}

}  // namespace hae
