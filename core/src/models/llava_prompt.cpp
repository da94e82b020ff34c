// LLaVA-1.5's chat prompt: "USER: <image>\n{question} ASSISTANT:" (images first, as the llava-hf
// chat template renders them), each <image> expanded to the tower's token count, with metadata
// that lets the cache and the GUI know what every token is and where a patch sits.
#include <fmt/format.h>
#include <torch/torch.h>

#include "prompt_text.h"
#include "hae/error.h"
#include "hae/image.h"
#include "llava.h"

namespace hae {

namespace {

constexpr const char* kImageMarker = "<image>";

std::string chatText(const std::string& question, std::size_t images) {
  std::string body = question;
  if (question.find(kImageMarker) == std::string::npos) {
    std::string prefix;
    for (std::size_t i = 0; i < images; ++i) prefix += std::string(kImageMarker) + "\n";
    body = prefix + question;
  }
  return "USER: " + body + " ASSISTANT:";
}

std::size_t countMarkers(const std::string& text) {
  std::size_t n = 0;
  for (auto pos = text.find(kImageMarker); pos != std::string::npos; pos = text.find(kImageMarker, pos + 1)) ++n;
  return n;
}

// Without a tokenizer (random-init profiling models) words map to stable ids, so prompts still
// have a realistic shape.
std::vector<int> syntheticIds(const std::string& text, int vocab, int image_id) {
  std::vector<int> ids = {1};
  std::size_t start = 0;
  while (start < text.size()) {
    if (text.compare(start, 7, kImageMarker) == 0) {
      ids.push_back(image_id);
      start += 7;
      continue;
    }
    auto end = text.find_first_of(" \n<", start + 1);
    if (end == std::string::npos) end = text.size();
    ids.push_back(3 + static_cast<int>(std::hash<std::string>{}(text.substr(start, end - start)) % (vocab - 3)));
    start = end;
  }
  return ids;
}

}  // namespace

PromptPlan LlavaModel::buildPrompt(const std::string& question,
                                   const std::vector<std::string>& image_paths) const {
  const std::string text = chatText(question, image_paths.size());
  const std::size_t markers = countMarkers(text);
  if (markers != image_paths.size())
    throw Error(fmt::format("prompt has {} <image> marker(s) but {} image(s) were given", markers,
                            image_paths.size()));
  const std::vector<int> ids = tokenizer_ ? tokenizer_->encode(text, true)
                                          : syntheticIds(text, spec_.vocab_size, config_.image_token_index);

  PromptPlan plan;
  std::vector<at::Tensor> pixels;
  const int side = config_.vision.image_size / config_.vision.patch_size;
  for (std::size_t k = 0; k < image_paths.size(); ++k) {
    const RgbImage image = loadImage(image_paths[k]);
    const PreprocessedImage pre = clipPreprocess(image, preprocess_);
    if (pre.height != config_.vision.image_size || pre.width != config_.vision.image_size)
      throw Error(fmt::format("preprocessor_config.json gives {}x{} images but the vision tower takes {}x{}",
                              pre.width, pre.height, config_.vision.image_size, config_.vision.image_size));
    pixels.push_back(torch::from_blob(const_cast<float*>(pre.pixel_values.data()),
                                      {3, pre.height, pre.width}, torch::kFloat32)
                         .clone());
    ImageInfo info{image_paths[k], image.width, image.height, {}};
    info.grids.push_back({static_cast<int>(k), 0, side, side,
                          {pre.region_x, pre.region_y, pre.region_w, pre.region_h}, false});
    plan.images.push_back(std::move(info));
  }
  if (!pixels.empty()) plan.pixel_values = torch::stack(pixels);

  // The processor expands each <image> to the tower's token count.
  std::vector<std::int64_t> expanded;
  for (int id : ids) {
    const int copies = id == config_.image_token_index ? imageTokensPerImage() : 1;
    expanded.insert(expanded.end(), copies, id);
  }
  PromptPlan tokens = planFromIds(expanded, plan.pixel_values);
  plan.ids = std::move(tokens.ids);
  plan.tokens = std::move(tokens.tokens);
  return plan;
}

PromptPlan LlavaModel::planFromIds(const std::vector<std::int64_t>& ids, const at::Tensor& pixel_values) const {
  PromptPlan plan;
  plan.pixel_values = pixel_values;
  const int side = config_.vision.image_size / config_.vision.patch_size;
  const int per_image = imageTokensPerImage();
  const bool has_cls = config_.vision_feature_select_strategy == "full";
  int image = -1;
  int span_pos = 0;  // index within the current image span; consecutive spans split every per_image
  for (std::int64_t id : ids) {
    TokenInfo t;
    t.id = static_cast<int>(id);
    t.position = static_cast<int>(plan.tokens.size());
    if (id != config_.image_token_index) {
      span_pos = 0;
      t.modality = image < 0 ? Modality::Prefix : Modality::Text;
      t.text = tokenizer_ ? tokenizer_->decode({t.id}, false) : fmt::format("#{}", id);
    } else {
      if (span_pos == 0 || span_pos == per_image) {
        ++image;
        span_pos = 0;
      }
      const int patch = has_cls ? span_pos - 1 : span_pos;
      ++span_pos;
      t.image = image;
      t.crop = 0;
      if (patch < 0) {
        t.modality = Modality::Separator;  // CLS feature under the "full" strategy: no patch
      } else {
        t.modality = Modality::Visual;
        t.row = patch / side;
        t.col = patch % side;
      }
    }
    plan.ids.push_back(id);
    plan.tokens.push_back(std::move(t));
  }
  if (tokenizer_) spaceTextRuns(plan.tokens, *tokenizer_);
  return plan;
}

}  // namespace hae
