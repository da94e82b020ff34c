// Phi-3 / Phi-3.5-V prompts: the chat template "<|user|>\n{content}<|end|>\n<|assistant|>\n" with
// "<|image_k|>\n" per image before the question, tokenized the way Phi3VProcessor does it (the
// text is split at the image tags and every chunk is tokenized with special tokens, so a <s>
// follows each image block), and each token's metadata for the cache and the views.
#include <fmt/format.h>
#include <torch/torch.h>

#include <cctype>
#include <set>

#include "prompt_text.h"
#include "hae/error.h"
#include "hae/image.h"
#include "phi3v.h"

namespace hae {

namespace {

constexpr const char* kImageMarker = "<image>";  // the project's generic marker (VlmModel)

// Finds "<|image_<digits>|>" at or after `from`; returns its position and length (npos if none).
std::pair<std::size_t, std::size_t> findImageTag(const std::string& text, std::size_t from,
                                                 int* number) {
  for (auto pos = text.find("<|image_", from); pos != std::string::npos;
       pos = text.find("<|image_", pos + 1)) {
    std::size_t end = pos + 8;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    if (end > pos + 8 && text.compare(end, 2, "|>") == 0) {
      *number = std::stoi(text.substr(pos + 8, end - pos - 8));
      return {pos, end + 2 - pos};
    }
  }
  return {std::string::npos, 0};
}

std::string chatText(const std::string& question, std::size_t images) {
  std::string body;
  int n = 0;
  int number = 0;
  const bool tagged = findImageTag(question, 0, &number).first != std::string::npos;
  if (question.find(kImageMarker) != std::string::npos) {
    for (std::size_t start = 0;;) {  // "<image>" -> "<|image_1|>", "<|image_2|>", ... in order
      const auto pos = question.find(kImageMarker, start);
      body += question.substr(start, pos - start);
      if (pos == std::string::npos) break;
      body += fmt::format("<|image_{}|>", ++n);
      start = pos + 7;
    }
  } else if (!tagged) {
    for (std::size_t k = 1; k <= images; ++k) body += fmt::format("<|image_{}|>\n", k);
    body += question;
  } else {
    body = question;
  }
  return "<|user|>\n" + body + "<|end|>\n<|assistant|>\n";
}

// Without a tokenizer (random-init profiling models) each chunk gets a BOS and words map to stable
// ids, so prompts keep a realistic shape.
std::vector<int> syntheticIds(const std::string& text, int vocab, int bos) {
  std::vector<int> ids = {bos};
  for (std::size_t start = 0; start < text.size();) {
    auto end = text.find_first_of(" \n<", start + 1);
    if (end == std::string::npos) end = text.size();
    ids.push_back(3 + static_cast<int>(std::hash<std::string>{}(text.substr(start, end - start)) %
                                       (vocab - 3)));
    start = end;
  }
  return ids;
}

}  // namespace

PromptPlan Phi3VModel::buildPrompt(const std::string& question,
                                   const std::vector<std::string>& image_paths) const {
  if (!config_.has_vision && !image_paths.empty())
    throw Error(fmt::format("{} is a text-only Phi-3 model; it takes no images", spec_.name));
  const std::string text = config_.has_vision
                               ? chatText(question, image_paths.size())
                               : "<|user|>\n" + question + "<|end|>\n<|assistant|>\n";

  // Split at the image tags, as the processor does.
  std::vector<std::string> chunks;
  std::vector<int> order;  // image number (1-based) after chunk i
  int number = 0;
  std::size_t start = 0;
  for (auto [pos, len] = findImageTag(text, 0, &number);
       config_.has_vision && pos != std::string::npos;
       std::tie(pos, len) = findImageTag(text, start, &number)) {
    chunks.push_back(text.substr(start, pos - start));
    order.push_back(number);
    start = pos + len;
  }
  chunks.push_back(text.substr(start));
  std::set<int> seen(order.begin(), order.end());
  if (seen.size() != order.size() || order.size() != image_paths.size() ||
      (!seen.empty() && (*seen.begin() != 1 || *seen.rbegin() != static_cast<int>(seen.size()))))
    throw Error(fmt::format(
        "the prompt must name each of the {} image(s) once (<image> or <|image_1|> ...), "
        "it has {} image tag(s)",
        image_paths.size(), order.size()));

  PromptPlan plan;
  std::vector<Phi3vHdImage> hds;
  int slots = 1;
  for (const auto& path : image_paths) {
    const RgbImage image = loadImage(path);
    hds.push_back(phi3vHdTransform(image, preprocess_));
    const Phi3vLayout& l = hds.back().layout;
    slots = std::max(slots, l.rows * l.cols + 1);
    // Grids for the views: crop 0 is the global view, crops 1.. the sub-crops row-major.
    ImageInfo info{path, image.width, image.height, {}};
    const int m = mergedSide(), k = static_cast<int>(plan.images.size());
    info.grids.push_back(
        {k, 0, m, m,
         phi3vOriginalRect(l, image.width, image.height, 0, 0, l.hdWidth(), l.hdHeight()), true});
    for (int r = 0; r < l.rows; ++r)
      for (int c = 0; c < l.cols; ++c)
        info.grids.push_back({k, 1 + r * l.cols + c, m, m,
                              phi3vOriginalRect(l, image.width, image.height, c * kPhi3vCropSize,
                                                r * kPhi3vCropSize, kPhi3vCropSize, kPhi3vCropSize),
                              false});
    plan.images.push_back(std::move(info));
  }
  // Padded to the largest image's slot count (the processor pads to num_crops + 1; padding
  // slots are skipped by the model either way).
  std::vector<at::Tensor> pixels;
  for (const auto& hd : hds) pixels.push_back(phi3vPixelSlots(hd, slots));
  if (!pixels.empty()) plan.pixel_values = torch::stack(pixels);

  std::vector<std::int64_t> ids;
  const int bos = config_.text.bos_token_id.value_or(1);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const auto piece = tokenizer_ ? tokenizer_->encode(chunks[i], true)
                                  : syntheticIds(chunks[i], spec_.vocab_size, bos);
    ids.insert(ids.end(), piece.begin(), piece.end());
    if (i < order.size()) ids.insert(ids.end(), hds[order[i] - 1].num_img_tokens, -order[i]);
  }
  PromptPlan tokens = planFromIds(ids, plan.pixel_values);
  plan.ids = std::move(tokens.ids);
  plan.tokens = std::move(tokens.tokens);
  return plan;
}

PromptPlan Phi3VModel::planFromIds(const std::vector<std::int64_t>& ids,
                                   const at::Tensor& pixel_values) const {
  PromptPlan plan;
  plan.pixel_values = pixel_values;
  const auto grids = imageGrids(torch::tensor(ids, torch::kInt64), pixel_values);
  const int m = mergedSide();
  std::vector<int> seen(grids.size(), 0);  // tokens of each image met so far
  bool after_image = false;
  for (std::int64_t id : ids) {
    TokenInfo t;
    t.id = static_cast<int>(id);
    t.position = static_cast<int>(plan.tokens.size());
    if (id >= 0) {
      t.modality = after_image ? Modality::Text : Modality::Prefix;
      t.text = tokenizer_ ? tokenizer_->decode({t.id}, false) : fmt::format("#{}", id);
    } else {
      // The HD sequence: rows*m lines of cols*m tokens + sub_GN, one glb_GN, m lines of m + sub_GN.
      after_image = true;
      const int k = static_cast<int>(-id - 1);
      const Phi3vGrid& g = grids.at(k);
      const int idx = seen[k]++, width = g.cols * m + 1, sub = g.rows * m * width;
      t.image = k;
      t.modality = Modality::Visual;
      if (idx < sub) {
        const int r = idx / width, c = idx % width;
        if (c == g.cols * m) {
          t.modality = Modality::Separator;  // sub_GN newline
          t.crop = 1 + (r / m) * g.cols + (g.cols - 1);
          t.row = r % m;
        } else {
          t.crop = 1 + (r / m) * g.cols + c / m;
          t.row = r % m;
          t.col = c % m;
        }
      } else if (idx == sub) {
        t.modality = Modality::Separator;  // glb_GN
      } else {
        const int r = (idx - sub - 1) / (m + 1), c = (idx - sub - 1) % (m + 1);
        t.crop = 0;
        t.row = r;
        if (c == m)
          t.modality = Modality::Separator;  // sub_GN after a global row
        else
          t.col = c;
      }
    }
    plan.ids.push_back(id);
    plan.tokens.push_back(std::move(t));
  }
  if (tokenizer_) spaceTextRuns(plan.tokens, *tokenizer_);
  return plan;
}

}  // namespace hae
