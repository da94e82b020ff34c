#include "train_data.h"

#include <algorithm>
#include <array>

#include "hae/demo/questions.h"
#include "hae/demo/rng.h"
#include "hae/demo/scene.h"
#include "hae/demo/vocabulary.h"
#include "hae/error.h"

namespace hae::demo {

namespace {

constexpr std::array<SampleKind, 10> kSceneKinds = {
    SampleKind::ColourOfShape, SampleKind::ShapeOfColour, SampleKind::CountColour,
    SampleKind::CountShape,    SampleKind::Exists,        SampleKind::Where,
    SampleKind::FurtherLeft,   SampleKind::FurtherUp,     SampleKind::SizeOf,
    SampleKind::Describe};

// Training scene seeds: seed-major, so different --seed values never share scenes, and far below
// kHeldOutSeedBase.
constexpr int kIndexBits = 36;
constexpr std::uint64_t kTrainQuestionStream = 0x7A1E0000;
constexpr int kQuestionsPerKind = 2;

// The description lists the objects in reading order, one sentence ending in "." each: the
// tokens after a sentence's opening "a" read out that sentence's object (the opening "a" itself
// only says another object follows). Per target token: that object's index, or -1.
std::vector<int> describedObjects(const Scene& scene, const std::vector<int>& target) {
  const int stop = demoTokenId(".");
  const std::vector<int> order = readingOrder(scene);
  std::vector<int> objects(target.size(), -1);
  std::size_t sentence = 0;
  bool opening = true;
  for (std::size_t t = 0; t < target.size() && sentence < order.size(); ++t) {
    if (!opening) objects[t] = order[sentence];
    opening = false;
    if (target[t] == stop) {
      ++sentence;
      opening = true;
    }
  }
  return objects;
}

std::array<std::int64_t, 2> attributesOf(const SceneObject& o) {
  return {static_cast<std::int64_t>(o.colour), static_cast<std::int64_t>(o.shape)};
}

// The cell under an object's centre: one cell per object, which the vision tower learns to mark
// (the probe's anchor head) and count questions retrieve.
int anchorCell(const Scene& scene, const SceneObject& o) {
  const int grid = scene.grid();
  const int row = std::clamp(static_cast<int>(o.cy / scene.patchSize), 0, grid - 1);
  const int col = std::clamp(static_cast<int>(o.cx / scene.patchSize), 0, grid - 1);
  return row * grid + col;
}

// Per answer token, the cells it reads out: a comparison's answer names the winner only (the
// retrieval head picks it by position), a count reads the anchors of the objects counted, the
// other kinds read the objects asked about.
std::vector<int> answerFocus(const Scene& scene, const QaItem& qa) {
  std::vector<int> cells;
  for (int i : qa.objects) {
    const SceneObject& o = scene.objects[static_cast<std::size_t>(i)];
    const bool compare = qa.kind == SampleKind::FurtherLeft || qa.kind == SampleKind::FurtherUp;
    if (compare && objectName(o) != qa.answer) continue;
    if (qa.kind == SampleKind::CountColour || qa.kind == SampleKind::CountShape)
      cells.push_back(anchorCell(scene, o));
    else
      cells.insert(cells.end(), o.patches.begin(), o.patches.end());
  }
  return cells;
}

// The colour and shape of the one object a short answer reads out (a comparison's winner), or
// kNoAttribute when it reads several or none.
std::array<std::int64_t, 2> answerAttributes(const Scene& scene, const QaItem& qa) {
  const bool compare = qa.kind == SampleKind::FurtherLeft || qa.kind == SampleKind::FurtherUp;
  const bool count = qa.kind == SampleKind::CountColour || qa.kind == SampleKind::CountShape;
  for (int i : qa.objects) {
    const SceneObject& o = scene.objects[static_cast<std::size_t>(i)];
    if (count || (!compare && qa.objects.size() != 1)) break;
    if (!compare || objectName(o) == qa.answer) return attributesOf(o);
  }
  return {kNoAttribute, kNoAttribute};
}

}  // namespace

int TrainGroup::tokens() const {
  int n = static_cast<int>(prefix.size());
  for (const auto& b : branches) n += static_cast<int>(b.prompt.size() + b.target.size());
  return n;
}

TrainDataSource::TrainDataSource(Tokenizer tokenizer, ClipPreprocessConfig preprocess,
                                 int image_tokens, std::uint64_t seed)
    : tokenizer_(std::move(tokenizer)),
      preprocess_(preprocess),
      image_tokens_(image_tokens),
      image_id_(demoTokenId("<image>")),
      eos_id_(demoTokenId("</s>")),
      seed_(seed) {
  if (seed_ >= (std::uint64_t{1} << 20)) throw Error("--seed must be below 2^20");
}

std::vector<int> TrainDataSource::promptIds(const DemoSample& sample) const {
  std::vector<int> out;
  for (int id : tokenizer_.encode(chatPrompt(sample), true)) {
    if (id == image_id_)
      out.insert(out.end(), image_tokens_, id);
    else
      out.push_back(id);
  }
  return out;
}

std::vector<int> TrainDataSource::targetIds(const DemoSample& sample) const {
  std::vector<int> out = tokenizer_.encode(sample.answer, false);
  out.push_back(eos_id_);
  return out;
}

std::vector<float> TrainDataSource::pixels(const RgbImage& image) const {
  return clipPreprocess(image, preprocess_).pixel_values;
}

std::vector<std::int64_t> TrainDataSource::patchLabels(const Scene& scene) const {
  const int grid = scene.grid(), cells = grid * grid;
  if (cells != image_tokens_) return {};
  std::vector<std::int64_t> labels(static_cast<std::size_t>(cells) * kPatchLabelHeads, 0);
  auto label = [&](int cell, int head) -> std::int64_t& {
    return labels[static_cast<std::size_t>(cell) * kPatchLabelHeads +
                  static_cast<std::size_t>(head)];
  };
  const std::vector<int> order = readingOrder(scene);
  for (std::size_t rank = 0; rank < order.size(); ++rank) {
    const SceneObject& o = scene.objects[static_cast<std::size_t>(order[rank])];
    const std::array<std::int64_t, kPatchLabelHeads> values = {
        1 + static_cast<int>(o.colour), 1 + static_cast<int>(o.shape),
        1 + static_cast<int>(o.size),   1 + static_cast<int>(placeOf(scene, o)),
        0,                              1 + std::min<std::int64_t>(rank, kMaxRank - 1)};
    for (int c : o.patches)
      for (int h = 0; h < kPatchLabelHeads; ++h) label(c, h) = values[static_cast<std::size_t>(h)];
    label(anchorCell(scene, o), 4) = 1;
  }
  return labels;
}

TrainGroup TrainDataSource::group(std::uint64_t index) const {
  const std::uint64_t sceneSeed = (seed_ << kIndexBits) + index;
  TrainGroup g;
  auto addBranch = [&](const DemoSample& s, std::size_t prefixLen) {
    const auto ids = promptIds(s);
    if (ids.size() <= prefixLen || !std::equal(g.prefix.begin(), g.prefix.end(), ids.begin()))
      throw Error("demo training: prompts of one scene do not share their image prefix");
    g.branches.push_back(
        {s.kind, std::vector<int>(ids.begin() + static_cast<std::ptrdiff_t>(prefixLen), ids.end()),
         targetIds(s)});
  };
  auto setPrefix = [&](const DemoSample& s) {
    const auto ids = promptIds(s);
    const auto lastImage = std::find(ids.rbegin(), ids.rend(), image_id_);
    const auto len = static_cast<std::size_t>(ids.rend() - lastImage);
    g.prefix.assign(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(len));
    for (const RgbImage& image : s.images) g.images.push_back(pixels(image));
    return len;
  };
  if (index % kChangeEvery == kChangeEvery - 1) {
    const DemoSample s = makeSample(sceneSeed, SampleKind::Change);
    addBranch(s, setPrefix(s));
    for (const Scene& scene : s.scenes) g.patch_labels.push_back(patchLabels(scene));
    return g;
  }
  // One scene, rendered once, with kQuestionsPerKind questions of every short kind (drawn from
  // their own streams, duplicates dropped) and its description. The held-out set draws its scenes
  // and phrasings from the same generators (makeSample), one question per scene.
  DemoSample s;
  s.scenes = {generateScene(sceneSeed)};
  s.images = {renderScene(s.scenes.front())};
  std::size_t prefixLen = 0;
  std::vector<std::string> asked;
  for (std::size_t k = 0; k < kSceneKinds.size(); ++k) {
    const SampleKind kind = kSceneKinds[k];
    const int draws = kind == SampleKind::Describe ? 1 : kQuestionsPerKind;
    for (int d = 0; d < draws; ++d) {
      Rng rng(mixSeed(sceneSeed, kTrainQuestionStream + k * 16 + static_cast<std::uint64_t>(d)));
      auto qa = makeQuestion(s.scenes.front(), kind, rng);
      if (!qa || std::find(asked.begin(), asked.end(), qa->question) != asked.end()) continue;
      asked.push_back(qa->question);
      s.kind = kind;
      s.question = qa->question;
      s.answer = qa->answer;
      if (g.prefix.empty()) prefixLen = setPrefix(s);
      addBranch(s, prefixLen);
      const Scene& scene = s.scenes.front();
      if (scene.grid() * scene.grid() != image_tokens_) continue;
      TrainBranch& branch = g.branches.back();
      if (kind == SampleKind::Describe) {
        for (int o : describedObjects(scene, branch.target)) {
          if (o < 0) {
            branch.target_focus.emplace_back();
            branch.target_attributes.push_back({kNoAttribute, kNoAttribute});
          } else {
            branch.target_focus.push_back(scene.objects[static_cast<std::size_t>(o)].patches);
            branch.target_attributes.push_back(attributesOf(scene.objects[static_cast<std::size_t>(o)]));
          }
        }
      } else if (qa->objectImage == 0) {
        for (int o : qa->objects)
          for (int c : scene.objects[static_cast<std::size_t>(o)].patches)
            branch.focus.push_back(c);
        branch.target_focus.assign(branch.target.size(), answerFocus(s.scenes.front(), *qa));
        branch.target_attributes.assign(branch.target.size(), answerAttributes(scene, *qa));
      }
    }
  }
  g.patch_labels.push_back(patchLabels(s.scenes.front()));
  if (g.branches.empty())
    throw Error("demo training: scene " + std::to_string(sceneSeed) + " carries no question");
  return g;
}

}  // namespace hae::demo
