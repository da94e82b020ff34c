#pragma once
// Training examples for the demo model, grouped by image: one scene's prefix ("<s> USER: <image>")
// is shared by several question/answer branches, each of which sees the prefix and itself only.
// Every branch is exactly the sequence inference runs (same ids, same positions), so the prefix
// costs one vision pass and one decoder pass for about twenty supervised answers.
#include <array>
#include <cstdint>
#include <vector>

#include "hae/clip_preprocess.h"
#include "hae/demo/dataset.h"
#include "hae/demo/scene.h"
#include "hae/tokenizer.h"

namespace hae::demo {

struct TrainBranch {
  SampleKind kind = SampleKind::Describe;
  std::vector<int> prompt;  // the question and "ASSISTANT:" after the shared prefix
  std::vector<int> target;  // the answer ids and "</s>": the only supervised tokens
  // Patch cells (of the group's only image) of the objects the question is about; empty when
  // none. The trainer may pull layer-0 attention of the question words onto them (see trainLoss).
  std::vector<int> focus;
  // Per target token: the patch cells of the object the answer is reading out at that token (empty
  // when none), where the trainer pulls the deeper layers' retrieval attention (see trainLoss).
  std::vector<std::vector<int>> target_focus;
  // Per target token: the colour and shape of the one object it reads out, or kNoAttribute (the
  // trainer's readout loss teaches the retrieval heads to carry them; see trainLoss).
  std::vector<std::array<std::int64_t, 2>> target_attributes;
};

inline constexpr std::int64_t kNoAttribute = -100;  // cross-entropy's ignore index

struct TrainGroup {
  std::vector<int> prefix;                 // "<s> user :" and the expanded image tokens
  std::vector<std::vector<float>> images;  // preprocessed CHW pixels, one per image
  // Per image, per patch (row-major): what the scene puts there, as kPatchLabelHeads classes
  // (0 = background): colour + 1, shape + 1, size + 1, place + 1, whether the patch is its
  // object's anchor (the cell under its centre) and the object's rank in reading order + 1.
  // Training-only supervision of the vision tower (see trainLoss); empty when the model's patch
  // grid is not the scene's.
  std::vector<std::vector<std::int64_t>> patch_labels;
  std::vector<TrainBranch> branches;
  int tokens() const;  // prefix + all branches
};

inline constexpr int kPatchLabelHeads = 6;
// Classes per head: background + colours, shapes, sizes, places; anchor or not; background +
// reading-order ranks. The anchor and rank heads give the decoder one cell per object to count
// and an order to describe in.
inline constexpr int kMaxRank = 8;
inline constexpr std::array<int, kPatchLabelHeads> kPatchLabelClasses = {
    1 + kColourCount, 1 + kShapeCount, 3, 1 + kPlaceCount, 2, 1 + kMaxRank};
inline constexpr std::array<const char*, kPatchLabelHeads> kPatchLabelNames = {
    "colour", "shape", "size", "place", "anchor", "rank"};

class TrainDataSource {
 public:
  // image_tokens: tokens per image after the projector (144 for a 12 x 12 grid).
  TrainDataSource(Tokenizer tokenizer, ClipPreprocessConfig preprocess, int image_tokens,
                  std::uint64_t seed);
  // Group number `index` (deterministic in seed and index, so a resumed run sees the same data).
  // Most groups are one scene with two questions of each short kind and its description; every
  // kChangeEvery-th group is a two-image "what changed" prompt.
  TrainGroup group(std::uint64_t index) const;
  // The ids inference builds for a sample's prompt (image tokens expanded) and its target.
  std::vector<int> promptIds(const DemoSample& sample) const;
  std::vector<int> targetIds(const DemoSample& sample) const;
  std::vector<float> pixels(const RgbImage& image) const;
  std::vector<std::int64_t> patchLabels(const Scene& scene) const;

  static constexpr std::uint64_t kChangeEvery = 12;

 private:
  Tokenizer tokenizer_;
  ClipPreprocessConfig preprocess_;
  int image_tokens_;
  int image_id_, eos_id_;
  std::uint64_t seed_;
};

}  // namespace hae::demo
