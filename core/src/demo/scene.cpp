#include "hae/demo/scene.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "hae/error.h"
#include "shape_raster.h"

namespace hae::demo {

namespace {

// Layout rules that keep every question about a scene unambiguous to the eye.
constexpr float kGap = 4.0f;         // pixels between bounding boxes: objects never touch
constexpr float kBandMargin = 6.0f;  // centres stay this far from the 3x3 band borders
constexpr float kSameBandDx =
    10.0f;  // same row band: centres this far apart, so reading order is clear
constexpr int kPlaceTries = 200;

// Flat, saturated and far apart in hue or brightness; the background is muted, so each stands out.
constexpr std::array<std::array<int, 3>, kColourCount> kPalette = {{
    {220, 40, 40},    // red
    {40, 180, 60},    // green
    {40, 90, 235},    // blue
    {240, 220, 40},   // yellow
    {150, 60, 200},   // purple
    {250, 140, 20},   // orange
    {240, 240, 240},  // white
    {40, 215, 225},   // cyan
}};

// Objects sit on the patch grid: a small one fills a box of 2x2 patches, a large one 3x3, drawn a
// few pixels inside it. A from-scratch tower then sees every shape cut the same way into patches,
// which is what lets it learn shapes within an hour on two CPU cores; positions still vary over
// the whole grid.
int boxCells(Size size) { return size == Size::Small ? 2 : 3; }

float extentFor(Size size, int patchSize, Rng& rng) {
  return static_cast<float>(boxCells(size) * patchSize * rng.uniform(0.82, 0.93));
}

std::array<std::uint8_t, 3> jitteredColour(Colour colour, Rng& rng) {
  std::array<std::uint8_t, 3> rgb{};
  for (int c = 0; c < 3; ++c) {
    const int v = kPalette[static_cast<int>(colour)][c] + rng.intIn(-10, 10);
    rgb[c] = static_cast<std::uint8_t>(std::clamp(v, 0, 255));
  }
  return rgb;
}

int bandOf(float v, int imageSize) {
  return std::clamp(static_cast<int>(v * 3.0f / static_cast<float>(imageSize)), 0, 2);
}

bool fits(const Scene& scene, const SceneObject& o) {
  const float size = static_cast<float>(scene.imageSize);
  for (const float border : {size / 3.0f, size * 2.0f / 3.0f}) {
    if (std::abs(o.cx - border) < kBandMargin || std::abs(o.cy - border) < kBandMargin)
      return false;
  }
  for (const SceneObject& other : scene.objects) {
    const float reach = (o.extent + other.extent) / 2.0f + kGap;
    if (std::abs(o.cx - other.cx) < reach && std::abs(o.cy - other.cy) < reach) return false;
    if (bandOf(o.cy, scene.imageSize) == bandOf(other.cy, scene.imageSize) &&
        std::abs(o.cx - other.cx) < kSameBandDx) {
      return false;
    }
  }
  return true;
}

bool tryPlace(const Scene& scene, SceneObject& o, Rng& rng) {
  const int box = boxCells(o.size), grid = scene.grid();
  if (box > grid) return false;
  for (int t = 0; t < kPlaceTries; ++t) {
    o.cx = static_cast<float>((rng.intIn(0, grid - box) + box / 2.0) * scene.patchSize);
    o.cy = static_cast<float>((rng.intIn(0, grid - box) + box / 2.0) * scene.patchSize);
    if (fits(scene, o)) return true;
  }
  return false;
}

int coverageWith(const Scene& scene, const std::vector<int>& extra) {
  std::vector<bool> cells(static_cast<std::size_t>(scene.grid() * scene.grid()), false);
  for (const SceneObject& o : scene.objects)
    for (int p : o.patches) cells[p] = true;
  for (int p : extra) cells[p] = true;
  return static_cast<int>(std::count(cells.begin(), cells.end(), true));
}

int coverageBudget(const Scene& scene, const SceneConfig& config) {
  return static_cast<int>(config.maxCoverage * scene.grid() * scene.grid());
}

// Places one object of the given kind, trying a small one when a large one does not fit.
bool addObject(Scene& scene, Shape shape, Colour colour, Size size, Rng& rng,
               const SceneConfig& config) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    SceneObject o;
    o.shape = shape;
    o.colour = colour;
    o.size = attempt == 0 ? size : Size::Small;
    o.extent = extentFor(o.size, config.patchSize, rng);
    if (!tryPlace(scene, o, rng)) continue;
    o.patches = detail::footprintOf(o, scene.imageSize, scene.patchSize);
    if (coverageWith(scene, o.patches) > coverageBudget(scene, config)) continue;
    o.rgb = jitteredColour(colour, rng);
    scene.objects.push_back(std::move(o));
    return true;
  }
  return false;
}

void validate(const SceneConfig& c) {
  if (c.patchSize <= 0 || c.imageSize < 3 * c.patchSize || c.imageSize % c.patchSize != 0)
    throw Error("scene config: imageSize " + std::to_string(c.imageSize) +
                " must be a multiple (at least 3x) of patchSize " + std::to_string(c.patchSize));
  if (c.minObjects < 1 || c.maxObjects < c.minObjects || c.maxObjects > kShapeCount * kColourCount)
    throw Error("scene config: object count range " + std::to_string(c.minObjects) + ".." +
                std::to_string(c.maxObjects) + " is not possible");
  if (!(c.maxCoverage > 0.0 && c.maxCoverage <= 1.0))
    throw Error("scene config: maxCoverage must lie in (0, 1]");
}

bool hasPair(const Scene& scene, Shape shape, Colour colour) {
  return std::any_of(scene.objects.begin(), scene.objects.end(),
                     [&](const SceneObject& o) { return o.shape == shape && o.colour == colour; });
}

}  // namespace

std::string_view shapeName(Shape shape) {
  static constexpr std::array<std::string_view, kShapeCount> kNames = {
      "circle", "square", "triangle", "diamond", "cross", "star"};
  return kNames[static_cast<int>(shape)];
}

std::string_view shapePlural(Shape shape) {
  static constexpr std::array<std::string_view, kShapeCount> kNames = {
      "circles", "squares", "triangles", "diamonds", "crosses", "stars"};
  return kNames[static_cast<int>(shape)];
}

std::string_view colourName(Colour colour) {
  static constexpr std::array<std::string_view, kColourCount> kNames = {
      "red", "green", "blue", "yellow", "purple", "orange", "white", "cyan"};
  return kNames[static_cast<int>(colour)];
}

std::string_view sizeName(Size size) {
  return size == Size::Small ? "small" : "large";
}

std::string_view placeName(Place place) {
  static constexpr std::array<std::string_view, kPlaceCount> kNames = {
      "top left", "top",         "top right", "left",        "centre",
      "right",    "bottom left", "bottom",    "bottom right"};
  return kNames[static_cast<int>(place)];
}

int rowBand(const Scene& scene, const SceneObject& object) {
  return bandOf(object.cy, scene.imageSize);
}

Place placeOf(const Scene& scene, const SceneObject& object) {
  return static_cast<Place>(rowBand(scene, object) * 3 + bandOf(object.cx, scene.imageSize));
}

std::vector<int> readingOrder(const Scene& scene) {
  std::vector<int> order(scene.objects.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const SceneObject& oa = scene.objects[a];
    const SceneObject& ob = scene.objects[b];
    const int ra = rowBand(scene, oa), rb = rowBand(scene, ob);
    if (ra != rb) return ra < rb;
    if (oa.cx != ob.cx) return oa.cx < ob.cx;
    return a < b;
  });
  return order;
}

std::vector<int> coveredPatches(const Scene& scene) {
  std::vector<int> cells;
  for (const SceneObject& o : scene.objects)
    cells.insert(cells.end(), o.patches.begin(), o.patches.end());
  std::sort(cells.begin(), cells.end());
  cells.erase(std::unique(cells.begin(), cells.end()), cells.end());
  return cells;
}

Scene generateScene(std::uint64_t seed, const SceneConfig& config) {
  validate(config);
  Rng rng(mixSeed(seed, 0x5CE7E));
  for (int attempt = 0; attempt < 1000; ++attempt) {
    Scene scene;
    scene.seed = seed;
    scene.backgroundSeed = mixSeed(seed, 0xBAC6);
    scene.imageSize = config.imageSize;
    scene.patchSize = config.patchSize;

    const int n = rng.intIn(config.minObjects, config.maxObjects);
    // Distinct (shape, colour) pairs: every object can be named by colour and shape alone.
    std::vector<int> pairs(kShapeCount * kColourCount);
    for (std::size_t i = 0; i < pairs.size(); ++i) pairs[i] = static_cast<int>(i);
    rng.shuffle(pairs);
    // Busy scenes get fewer large objects, or they would not fit the coverage budget.
    const double pLarge = n <= 3 ? 0.5 : (n <= 5 ? 0.35 : 0.2);
    bool complete = true;
    for (int i = 0; i < n && complete; ++i) {
      const Size size = rng.chance(pLarge) ? Size::Large : Size::Small;
      complete = addObject(scene, static_cast<Shape>(pairs[i] % kShapeCount),
                           static_cast<Colour>(pairs[i] / kShapeCount), size, rng, config);
    }
    if (complete) return scene;
  }
  throw Error("scene seed " + std::to_string(seed) + ": could not lay out the objects");
}

std::optional<SceneEdit> editScene(const Scene& before, Rng& rng, const SceneConfig& config) {
  SceneEdit edit;
  edit.type = static_cast<ChangeType>(rng.intIn(0, 2));
  edit.after = before;
  const int n = static_cast<int>(before.objects.size());
  switch (edit.type) {
    case ChangeType::Added: {
      if (n >= config.maxObjects) return std::nullopt;
      std::vector<int> absent;
      for (int p = 0; p < kShapeCount * kColourCount; ++p)
        if (!hasPair(before, static_cast<Shape>(p % kShapeCount),
                     static_cast<Colour>(p / kShapeCount)))
          absent.push_back(p);
      const int p = rng.pick(absent);
      const Size size = rng.chance(0.35) ? Size::Large : Size::Small;
      if (!addObject(edit.after, static_cast<Shape>(p % kShapeCount),
                     static_cast<Colour>(p / kShapeCount), size, rng, config)) {
        return std::nullopt;
      }
      edit.object = n;
      break;
    }
    case ChangeType::Removed:
      if (n <= config.minObjects) return std::nullopt;
      edit.object = rng.intIn(0, n - 1);
      edit.after.objects.erase(edit.after.objects.begin() + edit.object);
      break;
    case ChangeType::Recoloured: {
      if (n == 0) return std::nullopt;
      edit.object = rng.intIn(0, n - 1);
      SceneObject& o = edit.after.objects[edit.object];
      std::vector<Colour> free;
      for (int c = 0; c < kColourCount; ++c)
        if (!hasPair(before, o.shape, static_cast<Colour>(c)))
          free.push_back(static_cast<Colour>(c));
      if (free.empty()) return std::nullopt;
      edit.oldColour = o.colour;
      o.colour = rng.pick(free);
      o.rgb = jitteredColour(o.colour, rng);
      break;
    }
  }
  return edit;
}

}  // namespace hae::demo
