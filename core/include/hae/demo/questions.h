#pragma once
// Questions about a scene and their exact answers. Short answers are one or two words; the
// description is a long answer that lists every object, for the long-generation case.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hae/demo/rng.h"
#include "hae/demo/scene.h"

namespace hae::demo {

enum class SampleKind : std::uint8_t {
  ColourOfShape,  // "what color is the circle?" -> "red" (shape unique in the scene)
  ShapeOfColour,  // "what shape is the red object?" -> "circle" (colour unique)
  CountColour,    // "how many red objects are there?" -> "two"
  CountShape,     // "how many circles are there?" -> "zero"
  Exists,         // "is there a blue triangle?" -> "yes" / "no", balanced
  Where,          // "where is the red circle?" -> "top left"
  FurtherLeft,    // "which is further left, the red circle or the blue square?" -> "red circle"
  FurtherUp,      // the same, vertically
  SizeOf,         // "is the green cross small or large?" -> "large"
  Describe,       // "describe the image." -> "a large red circle at the top left . ..."
  Change,  // two images: "what changed between the two pictures?" -> "the red circle was removed"
};
inline constexpr int kSampleKindCount = 11;

// Stable snake_case names for reports and the evaluation card ("colour_of_shape", ...).
std::string_view kindName(SampleKind kind);
// Everything except Describe (long answer) and Change (two images).
bool isShortKind(SampleKind kind);

struct QaItem {
  SampleKind kind = SampleKind::ColourOfShape;
  std::string question;
  std::string answer;
  // The objects the question is about (indices into the objects of image `objectImage`): where the
  // evaluation measures attention. Empty when nothing in the picture answers it ("no", "zero").
  std::vector<int> objects;
  int objectImage = 0;
};

// One question of the given kind (not Change), with its phrasing drawn from rng. nullopt when the
// scene cannot carry the kind: no unique shape, no pair far enough apart, ...
std::optional<QaItem> makeQuestion(const Scene& scene, SampleKind kind, Rng& rng);
// The two-image question about an edit made by editScene.
QaItem makeChangeQuestion(const Scene& before, const SceneEdit& edit, Rng& rng);

// The description answer: every object as "a <size> <colour> <shape> <place phrase> ." in reading
// order (row band, then left to right), joined by spaces.
std::string describeScene(const Scene& scene);
// "red circle": how questions and answers name an object (unique within a scene).
std::string objectName(const SceneObject& object);
// "zero" ... "ten".
std::string_view countWord(int count);
// "at the top left", "in the centre", "on the right", ...
std::string_view placePhrase(Place place);

// Every phrasing template and fixed answer text, placeholders ("{shape}") included: the source of
// the closed vocabulary.
std::vector<std::string> phraseTexts();

}  // namespace hae::demo
