#include "hae/demo/dataset.h"

#include <algorithm>
#include <array>

#include "hae/error.h"

namespace hae::demo {

namespace {

constexpr int kMaxSceneAttempts = 64;
constexpr std::uint64_t kQuestionStream = 0x0A5C;
constexpr std::uint64_t kEditStream = 0xED17;
constexpr std::uint64_t kKindStream = 0x4B1D;

constexpr std::array<SampleKind, 9> kShortKinds = {
    SampleKind::ColourOfShape, SampleKind::ShapeOfColour, SampleKind::CountColour,
    SampleKind::CountShape,    SampleKind::Exists,        SampleKind::Where,
    SampleKind::FurtherLeft,   SampleKind::FurtherUp,     SampleKind::SizeOf};

}  // namespace

DemoSample makeSample(std::uint64_t seed, SampleKind kind, const SceneConfig& config) {
  for (int attempt = 0; attempt < kMaxSceneAttempts; ++attempt) {
    const std::uint64_t sceneSeed = attempt == 0 ? seed : mixSeed(seed, 0x5EED0000u + attempt);
    Scene scene = generateScene(sceneSeed, config);
    Rng rng(mixSeed(sceneSeed, kQuestionStream));
    DemoSample sample;
    sample.seed = seed;
    sample.kind = kind;
    QaItem qa;
    if (kind == SampleKind::Change) {
      Rng editRng(mixSeed(sceneSeed, kEditStream));
      auto edit = editScene(scene, editRng, config);
      if (!edit) continue;
      qa = makeChangeQuestion(scene, *edit, rng);
      sample.scenes = {std::move(scene), std::move(edit->after)};
    } else {
      auto item = makeQuestion(scene, kind, rng);
      if (!item) continue;
      qa = std::move(*item);
      sample.scenes = {std::move(scene)};
    }
    for (const Scene& s : sample.scenes) sample.images.push_back(renderScene(s));
    sample.question = std::move(qa.question);
    sample.answer = std::move(qa.answer);
    sample.objects = std::move(qa.objects);
    sample.objectImage = qa.objectImage;
    return sample;
  }
  throw Error("demo sample seed " + std::to_string(seed) + ": no scene carries a " +
              std::string(kindName(kind)) + " question");
}

SampleKind pickKind(std::uint64_t seed, const DemoMix& mix) {
  Rng rng(mixSeed(seed, kKindStream));
  const double u = rng.uniform();
  if (u < mix.describe) return SampleKind::Describe;
  if (u < mix.describe + mix.change) return SampleKind::Change;
  return kShortKinds[static_cast<std::size_t>(
      rng.intIn(0, static_cast<int>(kShortKinds.size()) - 1))];
}

DemoSample trainingSample(std::uint64_t index, const DemoMix& mix) {
  if (index >= kHeldOutSeedBase)
    throw Error("demo training sample " + std::to_string(index) +
                " lies in the held-out seed range");
  return makeSample(index, pickKind(index, mix));
}

std::vector<DemoSample> heldOutSet(int n, const DemoMix& mix) {
  std::vector<DemoSample> out;
  out.reserve(static_cast<std::size_t>(std::max(n, 0)));
  for (int j = 0; j < n; ++j) {
    const std::uint64_t seed = kHeldOutSeedBase + static_cast<std::uint64_t>(j);
    out.push_back(makeSample(seed, pickKind(seed, mix)));
  }
  return out;
}

std::string chatPrompt(const DemoSample& sample) {
  std::string prompt = "USER: ";
  for (std::size_t i = 0; i < sample.images.size(); ++i) prompt += "<image>\n";
  return prompt + sample.question + " ASSISTANT:";
}

}  // namespace hae::demo
