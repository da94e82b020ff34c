#pragma once
// Demo training and evaluation examples: a seed names one example forever.
//
// Seed ranges (disjoint, so no held-out scene is ever trained on):
//   training samples  index i -> seed i,                    i in [0, kHeldOutSeedBase)
//   held-out samples  index j -> seed kHeldOutSeedBase + j, j in [0, 2^32)
#include <cstdint>
#include <string>
#include <vector>

#include "hae/demo/questions.h"
#include "hae/demo/scene.h"
#include "hae/image.h"

namespace hae::demo {

inline constexpr std::uint64_t kHeldOutSeedBase = std::uint64_t{1} << 62;

struct DemoSample {
  std::uint64_t seed = 0;
  SampleKind kind = SampleKind::ColourOfShape;
  std::vector<Scene> scenes;     // one, or two (before, after) for Change
  std::vector<RgbImage> images;  // scenes rendered, same order
  std::string question;          // lower case, punctuation attached ("what color is the circle?")
  std::string answer;            // without "</s>"
  std::vector<int> objects;      // indices into scenes[objectImage].objects (see QaItem)
  int objectImage = 0;
};

// Share of the kinds in a random mix; the short kinds share the rest equally.
struct DemoMix {
  double describe = 0.25;
  double change = 0.05;
};

// The example of this kind for this seed. When the seed's scene cannot carry the kind (no unique
// shape for ColourOfShape, ...) a scene from a seed derived from it is used instead, so every
// (seed, kind) gives an example. Throws hae::Error if none is found (not seen in practice).
DemoSample makeSample(std::uint64_t seed, SampleKind kind, const SceneConfig& config = {});
// The kind drawn for a seed under a mix (deterministic).
SampleKind pickKind(std::uint64_t seed, const DemoMix& mix = {});
// Training example number index (seed = index). Throws hae::Error when index reaches the held-out
// range.
DemoSample trainingSample(std::uint64_t index, const DemoMix& mix = {});
// The first n held-out examples (seeds kHeldOutSeedBase + 0 .. n-1), kinds drawn from the mix.
std::vector<DemoSample> heldOutSet(int n, const DemoMix& mix = {});

// The LLaVA-1.5 prompt: "USER: <image>\n[<image>\n]{question} ASSISTANT:". The target the model
// learns to generate after it is " {answer}" followed by "</s>".
std::string chatPrompt(const DemoSample& sample);

}  // namespace hae::demo
