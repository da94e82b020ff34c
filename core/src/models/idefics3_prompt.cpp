// SmolVLM's chat prompt, "<|im_start|>User:<image>{question}<end_of_utterance>\nAssistant:", with
// each <image> expanded to the processor's tile layout, and the metadata that tells the cache and
// the GUI what every token is: a visual token's image, tile (crop) and place in the tile's token
// grid; the layout markers (<fake_token_around_image>, <row_r_col_c>, <global-img>, and the
// newlines between tile rows) as separators.
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdio>
#include <numeric>

#include "prompt_text.h"
#include "hae/error.h"
#include "hae/image.h"
#include "idefics3.h"

namespace hae {

namespace {

constexpr const char* kImageMarker = "<image>";
constexpr const char* kFake = "<fake_token_around_image>";
constexpr const char* kGlobal = "<global-img>";

std::size_t countMarkers(const std::string& text) {
  std::size_t n = 0;
  for (auto pos = text.find(kImageMarker); pos != std::string::npos;
       pos = text.find(kImageMarker, pos + 1))
    ++n;
  return n;
}

// The SmolVLM chat template for one user turn: "User:" directly before a leading image, "User: "
// before text; images come first unless the question places them.
std::string chatText(const std::string& question, std::size_t images) {
  std::string body;
  if (question.find(kImageMarker) != std::string::npos) {
    body = (question.rfind(kImageMarker, 0) == 0 ? ":" : ": ") + question;
  } else if (images > 0) {
    body = ":";
    for (std::size_t i = 0; i < images; ++i) body += kImageMarker;
    body += question;
  } else {
    body = ": " + question;
  }
  return "<|im_start|>User" + body + "<end_of_utterance>\nAssistant:";
}

// "<row_r_col_c>" -> (r, c), or (0, 0) when `s` is not one.
std::pair<int, int> rowColMarker(const std::string& s) {
  int r = 0, c = 0;
  char tail = 0;
  if (std::sscanf(s.c_str(), "<row_%d_col_%d%c", &r, &c, &tail) == 3 && tail == '>' &&
      s == fmt::format("<row_{}_col_{}>", r, c))
    return {r, c};
  return {0, 0};
}

}  // namespace

// With tokenizer.json the markers are its added tokens. Without one (random-init profiling, tiny
// test checkpoints) they take SmolVLM's added-token ids, which sit at fixed offsets from <image>
// (49190): <global-img> 49152, <row_r_col_c> 49153 + (r-1)*6 + (c-1), <fake_token_around_image>
// 49189, <end_of_utterance> 49279. -1 when the marker has no id in this vocabulary.
int Idefics3Model::markerId(const std::string& marker) const {
  if (tokenizer_) return tokenizer_->tokenToId(marker);
  const int image = config_.image_token_id;
  int id = -1;
  if (marker == kImageMarker)
    id = image;
  else if (marker == kFake)
    id = image - 1;
  else if (marker == kGlobal)
    id = image - 38;
  else if (marker == "<end_of_utterance>")
    id = image + 89;
  else if (marker == "<|im_start|>")
    id = 1;
  else if (auto [r, c] = rowColMarker(marker); r >= 1 && r <= 6 && c >= 1 && c <= 6)
    id = image - 37 + (r - 1) * 6 + (c - 1);
  return id >= 0 && id < spec_.vocab_size ? id : -1;
}

std::vector<int> Idefics3Model::encodeText(const std::string& text) const {
  // SmolVLM's tokenizer adds nothing around the text (no post-processor); the template starts
  // with <|im_start|> itself.
  if (tokenizer_) return tokenizer_->encode(text, true);
  // Without a tokenizer words map to stable ids so prompts keep a realistic shape; they never
  // collide with the image or frame markers, which would break the layout.
  const int vocab = spec_.vocab_size;
  const int image = config_.image_token_id, fake = markerId(kFake);
  std::vector<int> ids;
  std::size_t start = 0;
  while (start < text.size()) {
    if (text[start] == '<') {
      const auto close = text.find('>', start);
      if (close != std::string::npos) {
        const int id = markerId(text.substr(start, close + 1 - start));
        if (id >= 0) {
          ids.push_back(id);
          start = close + 1;
          continue;
        }
      }
    }
    auto end = text.find_first_of(" \n<:", start + 1);
    if (text[start] == '\n' || text[start] == ':') end = start + 1;
    if (end == std::string::npos) end = text.size();
    int id = 3 + static_cast<int>(std::hash<std::string>{}(text.substr(start, end - start)) %
                                  (vocab - 3));
    while (id == image || id == fake) id = 3 + (id - 2) % (vocab - 3);
    ids.push_back(id);
    start = end;
  }
  return ids;
}

PromptPlan Idefics3Model::buildPrompt(const std::string& question,
                                      const std::vector<std::string>& image_paths) const {
  const std::string text = chatText(question, image_paths.size());
  const std::size_t markers = countMarkers(text);
  if (markers != image_paths.size())
    throw Error(fmt::format("prompt has {} <image> marker(s) but {} image(s) were given", markers,
                            image_paths.size()));

  PromptPlan plan;
  const int side = config_.tokensPerSide();
  const int tile = preprocess_.tile_size;
  std::vector<float> pixels;
  std::vector<int> tiles_per_image;
  std::vector<std::string> image_texts;
  for (std::size_t k = 0; k < image_paths.size(); ++k) {
    const RgbImage image = loadImage(image_paths[k]);
    const Idefics3Preprocessed pre = idefics3Preprocess(image, preprocess_);
    ImageInfo info{image_paths[k], image.width, image.height, {}};
    for (std::size_t j = 0; j < pre.tiles.size(); ++j)
      info.grids.push_back({static_cast<int>(k), static_cast<int>(j), side, side,
                            pre.tiles[j].region, pre.tiles[j].global});
    plan.images.push_back(std::move(info));
    tiles_per_image.push_back(static_cast<int>(pre.tiles.size()));
    image_texts.push_back(idefics3ImageText(pre.rows, pre.cols, config_.tokensPerTile()));
    pixels.insert(pixels.end(), pre.pixel_values.begin(), pre.pixel_values.end());
  }
  if (!pixels.empty()) {
    const auto n =
        static_cast<int64_t>(pixels.size() / (3 * static_cast<std::size_t>(tile) * tile));
    plan.pixel_values =
        torch::from_blob(pixels.data(), {n, 3, tile, tile}, torch::kFloat32).clone();
  }

  // The processor substitutes each <image> by its layout text before tokenizing the whole string.
  std::string expanded;
  std::size_t from = 0;
  for (const auto& image_text : image_texts) {
    const auto at = text.find(kImageMarker, from);
    expanded += text.substr(from, at - from) + image_text;
    from = at + std::string(kImageMarker).size();
  }
  expanded += text.substr(from);

  const std::vector<int> ids = encodeText(expanded);
  PromptPlan tokens =
      planTokens(std::vector<std::int64_t>(ids.begin(), ids.end()), tiles_per_image);
  plan.ids = std::move(tokens.ids);
  plan.tokens = std::move(tokens.tokens);
  return plan;
}

PromptPlan Idefics3Model::planFromIds(const std::vector<std::int64_t>& ids,
                                      const at::Tensor& pixel_values) const {
  PromptPlan plan = planTokens(ids, {});
  plan.pixel_values = pixel_values;
  return plan;
}

PromptPlan Idefics3Model::planTokens(const std::vector<std::int64_t>& ids,
                                     const std::vector<int>& tiles_per_image) const {
  const int per_tile = config_.tokensPerTile();
  const int side = config_.tokensPerSide();
  const std::int64_t image_id = config_.image_token_id;
  const auto n = static_cast<std::int64_t>(ids.size());

  // Every run of <image> tokens is a whole number of tiles, in pixel_values order.
  std::vector<std::int64_t> tile_start;
  for (std::int64_t i = 0; i < n;) {
    if (ids[i] != image_id) {
      ++i;
      continue;
    }
    std::int64_t end = i;
    while (end < n && ids[end] == image_id) ++end;
    if ((end - i) % per_tile != 0)
      throw Error(fmt::format(
          "input_ids: the {} <image> tokens at position {} are not whole {}-token tiles", end - i,
          i, per_tile));
    for (std::int64_t s = i; s < end; s += per_tile) tile_start.push_back(s);
    i = end;
  }

  // Which image each tile belongs to: known counts, or else an image ends with the tile after
  // <global-img> (the global view, or the only tile of an unsplit image).
  std::vector<int> tile_image(tile_start.size()), tile_crop(tile_start.size());
  if (!tiles_per_image.empty()) {
    const int total = std::accumulate(tiles_per_image.begin(), tiles_per_image.end(), 0);
    if (total != static_cast<int>(tile_start.size()))
      throw Error(fmt::format("the prompt holds {} image tiles but the images give {}",
                              tile_start.size(), total));
    std::size_t t = 0;
    for (std::size_t k = 0; k < tiles_per_image.size(); ++k)
      for (int j = 0; j < tiles_per_image[k]; ++j, ++t) {
        tile_image[t] = static_cast<int>(k);
        tile_crop[t] = j;
      }
  } else if (!tile_start.empty()) {
    // Without a tokenizer the last tile of the prompt is always a global view, so the token
    // before it is <global-img>.
    std::int64_t global = markerId(kGlobal);
    if (global < 0 && tile_start.back() > 0) global = ids[tile_start.back() - 1];
    int image = 0, crop = 0;
    for (std::size_t t = 0; t < tile_start.size(); ++t) {
      tile_image[t] = image;
      tile_crop[t] = crop++;
      if (tile_start[t] > 0 && ids[tile_start[t] - 1] == global) {
        ++image;
        crop = 0;
      }
    }
  }

  PromptPlan plan;
  plan.ids = ids;
  plan.tokens.resize(ids.size());
  const std::int64_t first_image = tile_start.empty() ? n : tile_start.front();
  for (std::int64_t i = 0; i < n; ++i) {
    TokenInfo& t = plan.tokens[i];
    t.id = static_cast<int>(ids[i]);
    t.position = static_cast<int>(i);
    t.modality = i < first_image ? Modality::Prefix : Modality::Text;
  }
  for (std::size_t k = 0; k < tile_start.size(); ++k)
    for (int j = 0; j < per_tile; ++j) {
      TokenInfo& t = plan.tokens[tile_start[k] + j];
      t.modality = Modality::Visual;
      t.image = tile_image[k];
      t.crop = tile_crop[k];
      t.row = j / side;  // pixel shuffle emits the tile's token grid row-major
      t.col = j % side;
    }

  // Layout markers: everything between an image's first and last tile, the header in front of the
  // first tile (back to its <fake_token_around_image>) and the closing fake token.
  const std::int64_t fake = markerId(kFake);
  for (std::size_t k = 0; k < tile_start.size();) {
    std::size_t last = k;
    while (last + 1 < tile_start.size() && tile_image[last + 1] == tile_image[k]) ++last;
    const std::int64_t first = tile_start[k], end = tile_start[last] + per_tile;
    for (std::int64_t i = first; i < end; ++i)
      if (plan.tokens[i].modality != Modality::Visual)
        plan.tokens[i].modality = Modality::Separator;
    for (std::int64_t back = 1; back <= 3 && first - back >= 0; ++back)
      if (ids[first - back] == fake) {
        for (std::int64_t i = first - back; i < first; ++i)
          plan.tokens[i].modality = Modality::Separator;
        break;
      }
    if (end < n && ids[end] == fake) plan.tokens[end].modality = Modality::Separator;
    k = last + 1;
  }
  for (auto& t : plan.tokens)
    if (t.modality != Modality::Visual)
      t.text = tokenizer_ ? tokenizer_->decode({t.id}, false) : fmt::format("#{}", t.id);
  if (tokenizer_) spaceTextRuns(plan.tokens, *tokenizer_);
  return plan;
}

}  // namespace hae
