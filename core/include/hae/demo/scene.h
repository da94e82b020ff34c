#pragma once
// Synthetic scenes for the embedded demo model: a muted, low-contrast textured background and a few
// flat-coloured shapes. Objects cover a minority of the patch grid, so, as in real photos, most
// visual tokens carry little and an eviction policy has something to find.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "hae/demo/rng.h"
#include "hae/image.h"

namespace hae::demo {

enum class Shape : std::uint8_t { Circle, Square, Triangle, Diamond, Cross, Star };
enum class Colour : std::uint8_t { Red, Green, Blue, Yellow, Purple, Orange, White, Cyan };
enum class Size : std::uint8_t { Small, Large };
// The 3x3 division of the image, in reading order.
enum class Place : std::uint8_t {
  TopLeft,
  Top,
  TopRight,
  Left,
  Centre,
  Right,
  BottomLeft,
  Bottom,
  BottomRight
};
inline constexpr int kShapeCount = 6;
inline constexpr int kColourCount = 8;
inline constexpr int kPlaceCount = 9;

// The words the questions and answers use ("circle", "circles", "red", "large", "top left").
std::string_view shapeName(Shape shape);
std::string_view shapePlural(Shape shape);
std::string_view colourName(Colour colour);
std::string_view sizeName(Size size);
std::string_view placeName(Place place);

struct SceneObject {
  Shape shape = Shape::Circle;
  Colour colour = Colour::Red;
  Size size = Size::Small;
  float cx = 0, cy = 0;               // centre, in pixels
  float extent = 0;                   // side of the square bounding box, in pixels
  std::array<std::uint8_t, 3> rgb{};  // the (slightly jittered) RGB colour actually drawn
  // Patch cells (row * grid + col) where the shape covers at least kFootprintShare of the cell:
  // the tokens whose attention counts as "on the object".
  std::vector<int> patches;
};

// A cell belongs to an object's footprint when the object covers at least this share of it: a
// one-pixel anti-aliased sliver does not make a patch "about" the object.
inline constexpr double kFootprintShare = 0.15;

struct SceneConfig {
  int imageSize = 168;  // square images
  int patchSize = 14;   // 168 / 14 = a 12 x 12 grid, as the demo model's vision tower sees it
  int minObjects = 2;
  int maxObjects = 7;
  double maxCoverage = 0.33;  // most of the grid's cells that the objects' footprints may take
};

struct Scene {
  std::uint64_t seed = 0;            // the seed generateScene was called with
  std::uint64_t backgroundSeed = 0;  // renderScene draws the background from this alone
  int imageSize = 168;
  int patchSize = 14;
  std::vector<SceneObject> objects;  // no two share both shape and colour

  int grid() const { return imageSize / patchSize; }
};

// Deterministic: the same seed and config give the same scene on every platform. Throws hae::Error
// on a config that cannot hold its objects.
Scene generateScene(std::uint64_t seed, const SceneConfig& config = {});

// Which ninth of the image the object's centre lies in. Layout keeps centres a few pixels away from
// the band borders, so the answer is never a coin toss.
Place placeOf(const Scene& scene, const SceneObject& object);
int rowBand(const Scene& scene, const SceneObject& object);  // 0 top, 1 middle, 2 bottom
// Object indices in reading order: by row band, then left to right.
std::vector<int> readingOrder(const Scene& scene);
// Union of all footprints, sorted.
std::vector<int> coveredPatches(const Scene& scene);

// RGB, HWC, imageSize x imageSize. A pure function of the scene.
RgbImage renderScene(const Scene& scene);

// One object added, removed or recoloured: the second picture of a "what changed" prompt.
enum class ChangeType : std::uint8_t { Added, Removed, Recoloured };
struct SceneEdit {
  ChangeType type = ChangeType::Added;
  Scene after;      // same background as the scene it was made from
  int object = -1;  // index in `after` (Added, Recoloured) or in the original scene (Removed)
  Colour oldColour = Colour::Red;  // Recoloured: the colour before
};
// nullopt when the drawn edit cannot be made (a full scene cannot gain an object, etc.).
std::optional<SceneEdit> editScene(const Scene& before, Rng& rng, const SceneConfig& config = {});

}  // namespace hae::demo
