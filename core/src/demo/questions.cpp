#include "hae/demo/questions.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace hae::demo {

namespace {

using Templates = std::vector<std::string_view>;

// Placeholders: {shape} {shapes} {colour} {obj} ("red circle"), {a_obj} ("an orange circle"),
// {obj2}. Punctuation is written attached; the word splitter separates it.
const Templates kColourOfShape = {"what color is the {shape}?", "what is the color of the {shape}?",
                                  "what colour is the {shape}?",
                                  "which color does the {shape} have?",
                                  "tell me the color of the {shape}."};
const Templates kShapeOfColour = {"what shape is the {colour} object?",
                                  "what is the shape of the {colour} object?",
                                  "which shape is {colour}?", "the {colour} object is what shape?",
                                  "what kind of shape is the {colour} one?"};
const Templates kCountColour = {
    "how many {colour} objects are there?", "how many {colour} things are in the image?",
    "count the {colour} objects.", "what is the number of {colour} objects?"};
const Templates kCountShape = {"how many {shapes} are there?",
                               "how many {shapes} are in the picture?", "count the {shapes}.",
                               "what is the number of {shapes} in the image?"};
const Templates kExists = {"is there {a_obj}?", "is there {a_obj} in the image?",
                           "does the picture contain {a_obj}?", "can you see {a_obj}?"};
const Templates kWhere = {"where is the {obj}?", "where is the {obj} located?",
                          "in which part of the image is the {obj}?",
                          "where can you see the {obj}?"};
const Templates kFurtherLeft = {"which is further left, the {obj} or the {obj2}?",
                                "which object is more to the left, the {obj} or the {obj2}?",
                                "of the {obj} and the {obj2}, which is further left?",
                                "which one is closer to the left edge, the {obj} or the {obj2}?"};
const Templates kFurtherRight = {"which is further right, the {obj} or the {obj2}?",
                                 "which object is more to the right, the {obj} or the {obj2}?",
                                 "of the {obj} and the {obj2}, which is further right?",
                                 "which one is closer to the right edge, the {obj} or the {obj2}?"};
const Templates kFurtherUp = {"which is further up, the {obj} or the {obj2}?",
                              "which object is higher, the {obj} or the {obj2}?",
                              "of the {obj} and the {obj2}, which is closer to the top?",
                              "which one is nearer the top edge, the {obj} or the {obj2}?"};
const Templates kFurtherDown = {"which is further down, the {obj} or the {obj2}?",
                                "which object is lower, the {obj} or the {obj2}?",
                                "of the {obj} and the {obj2}, which is closer to the bottom?",
                                "which one is nearer the bottom edge, the {obj} or the {obj2}?"};
const Templates kSizeOf = {"is the {obj} small or large?", "is the {obj} large or small?",
                           "what size is the {obj}?", "how big is the {obj}?"};
const Templates kDescribe = {"describe the image.", "describe the picture in detail.",
                             "what objects are in the image?", "list every object in the picture.",
                             "what do you see in this image?"};
const Templates kChange = {"what changed between the two pictures?",
                           "what is different in the second image?",
                           "what is the difference between the two images?",
                           "how does the second picture differ from the first?"};
// Answers of the change question.
constexpr std::string_view kAdded = "{a_obj} was added";
constexpr std::string_view kRemoved = "the {obj} was removed";
constexpr std::string_view kRecoloured = "the {obj} turned {colour}";

constexpr std::array<std::string_view, 11> kCountWords = {
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"};

// Pairs closer than this (in pixels, centre to centre) are never compared: too close to call.
constexpr float kCompareMargin = 12.0f;

using Fill = std::vector<std::pair<std::string_view, std::string>>;

std::string fill(std::string_view text, const Fill& values) {
  std::string out(text);
  for (const auto& [key, value] : values) {
    for (std::size_t at = out.find(key); at != std::string::npos;
         at = out.find(key, at + value.size()))
      out.replace(at, key.size(), value);
  }
  return out;
}

std::string withArticle(const SceneObject& o) {
  const std::string name = objectName(o);
  const bool vowel = std::string_view("aeiou").find(name.front()) != std::string_view::npos;
  return (vowel ? "an " : "a ") + name;
}

std::string withArticle(Shape shape, Colour colour) {
  SceneObject o;
  o.shape = shape;
  o.colour = colour;
  return withArticle(o);
}

template <class Key, class Get>
std::vector<int> matching(const Scene& scene, Key key, Get get) {
  std::vector<int> out;
  for (std::size_t i = 0; i < scene.objects.size(); ++i)
    if (get(scene.objects[i]) == key) out.push_back(static_cast<int>(i));
  return out;
}

template <class Key, class Get>
std::vector<Key> uniqueKeys(const Scene& scene, int keyCount, Get get) {
  std::vector<Key> out;
  for (int k = 0; k < keyCount; ++k)
    if (matching(scene, static_cast<Key>(k), get).size() == 1) out.push_back(static_cast<Key>(k));
  return out;
}

template <class Key, class Get>
Key presentOrAny(const Scene& scene, int keyCount, Get get, Rng& rng) {
  // Mostly ask about something in the picture; sometimes about anything, so "zero" is an answer.
  if (rng.chance(0.3)) return static_cast<Key>(rng.intIn(0, keyCount - 1));
  return get(scene.objects[rng.intIn(0, static_cast<int>(scene.objects.size()) - 1)]);
}

std::optional<QaItem> compare(const Scene& scene, SampleKind kind, Rng& rng) {
  const bool horizontal = kind == SampleKind::FurtherLeft;
  auto coord = [&](int i) { return horizontal ? scene.objects[i].cx : scene.objects[i].cy; };
  std::vector<std::pair<int, int>> pairs;
  const int n = static_cast<int>(scene.objects.size());
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      if (std::abs(coord(i) - coord(j)) >= kCompareMargin) pairs.emplace_back(i, j);
  if (pairs.empty()) return std::nullopt;
  auto [a, b] = rng.pick(pairs);
  if (rng.chance(0.5)) std::swap(a, b);
  const bool towardsZero = rng.chance(0.5);  // left / up rather than right / down
  const Templates& templates = horizontal ? (towardsZero ? kFurtherLeft : kFurtherRight)
                                          : (towardsZero ? kFurtherUp : kFurtherDown);
  const int winner = (coord(a) < coord(b)) == towardsZero ? a : b;
  QaItem item;
  item.kind = kind;
  item.question = fill(rng.pick(templates), {{"{obj2}", objectName(scene.objects[b])},
                                             {"{obj}", objectName(scene.objects[a])}});
  item.answer = objectName(scene.objects[winner]);
  item.objects = {a, b};
  return item;
}

}  // namespace

std::string_view kindName(SampleKind kind) {
  static constexpr std::array<std::string_view, kSampleKindCount> kNames = {
      "colour_of_shape", "shape_of_colour", "count_colour", "count_shape", "exists", "where",
      "further_left",    "further_up",      "size_of",      "describe",    "change"};
  return kNames[static_cast<int>(kind)];
}

bool isShortKind(SampleKind kind) {
  return kind != SampleKind::Describe && kind != SampleKind::Change;
}

std::string objectName(const SceneObject& o) {
  return std::string(colourName(o.colour)) + " " + std::string(shapeName(o.shape));
}

std::string_view countWord(int count) {
  return kCountWords.at(static_cast<std::size_t>(std::clamp(count, 0, 10)));
}

std::string_view placePhrase(Place place) {
  static constexpr std::array<std::string_view, kPlaceCount> kPhrases = {
      "at the top left",    "at the top",    "at the top right",
      "on the left",        "in the centre", "on the right",
      "at the bottom left", "at the bottom", "at the bottom right"};
  return kPhrases[static_cast<int>(place)];
}

std::string describeScene(const Scene& scene) {
  std::string out;
  for (int i : readingOrder(scene)) {
    const SceneObject& o = scene.objects[i];
    if (!out.empty()) out += ' ';
    out += "a ";
    out += sizeName(o.size);
    out += ' ' + objectName(o) + ' ';
    out += placePhrase(placeOf(scene, o));
    out += " .";
  }
  return out;
}

std::optional<QaItem> makeQuestion(const Scene& scene, SampleKind kind, Rng& rng) {
  if (scene.objects.empty()) return std::nullopt;
  const auto shapeOf = [](const SceneObject& o) { return o.shape; };
  const auto colourOf = [](const SceneObject& o) { return o.colour; };
  const int n = static_cast<int>(scene.objects.size());
  QaItem item;
  item.kind = kind;
  switch (kind) {
    case SampleKind::ColourOfShape: {
      const auto shapes = uniqueKeys<Shape>(scene, kShapeCount, shapeOf);
      if (shapes.empty()) return std::nullopt;
      const Shape shape = rng.pick(shapes);
      item.objects = matching(scene, shape, shapeOf);
      item.question = fill(rng.pick(kColourOfShape), {{"{shape}", std::string(shapeName(shape))}});
      item.answer = colourName(scene.objects[item.objects[0]].colour);
      return item;
    }
    case SampleKind::ShapeOfColour: {
      const auto colours = uniqueKeys<Colour>(scene, kColourCount, colourOf);
      if (colours.empty()) return std::nullopt;
      const Colour colour = rng.pick(colours);
      item.objects = matching(scene, colour, colourOf);
      item.question =
          fill(rng.pick(kShapeOfColour), {{"{colour}", std::string(colourName(colour))}});
      item.answer = shapeName(scene.objects[item.objects[0]].shape);
      return item;
    }
    case SampleKind::CountColour: {
      const Colour colour = presentOrAny<Colour>(scene, kColourCount, colourOf, rng);
      item.objects = matching(scene, colour, colourOf);
      item.question = fill(rng.pick(kCountColour), {{"{colour}", std::string(colourName(colour))}});
      item.answer = countWord(static_cast<int>(item.objects.size()));
      return item;
    }
    case SampleKind::CountShape: {
      const Shape shape = presentOrAny<Shape>(scene, kShapeCount, shapeOf, rng);
      item.objects = matching(scene, shape, shapeOf);
      item.question = fill(rng.pick(kCountShape), {{"{shapes}", std::string(shapePlural(shape))}});
      item.answer = countWord(static_cast<int>(item.objects.size()));
      return item;
    }
    case SampleKind::Exists: {
      std::string named;
      if (rng.chance(0.5)) {
        const int i = rng.intIn(0, n - 1);
        named = withArticle(scene.objects[i]);
        item.objects = {i};
        item.answer = "yes";
      } else {
        // Mostly a "hard no": the shape and the colour are both in the picture, but not together,
        // so the model has to bind colour to shape rather than spot either one.
        std::vector<std::pair<Shape, Colour>> easy, hard;
        for (int s = 0; s < kShapeCount; ++s) {
          for (int c = 0; c < kColourCount; ++c) {
            const auto shape = static_cast<Shape>(s);
            const auto colour = static_cast<Colour>(c);
            const bool shapeThere = !matching(scene, shape, shapeOf).empty();
            const bool colourThere = !matching(scene, colour, colourOf).empty();
            bool pairThere = false;
            for (const SceneObject& o : scene.objects)
              pairThere |= o.shape == shape && o.colour == colour;
            if (pairThere) continue;
            (shapeThere && colourThere ? hard : easy).emplace_back(shape, colour);
          }
        }
        const auto& pool = (!hard.empty() && rng.chance(0.6)) || easy.empty() ? hard : easy;
        const auto [shape, colour] = rng.pick(pool);
        named = withArticle(shape, colour);
        item.answer = "no";
      }
      item.question = fill(rng.pick(kExists), {{"{a_obj}", named}});
      return item;
    }
    case SampleKind::Where: {
      const int i = rng.intIn(0, n - 1);
      item.objects = {i};
      item.question = fill(rng.pick(kWhere), {{"{obj}", objectName(scene.objects[i])}});
      item.answer = placeName(placeOf(scene, scene.objects[i]));
      return item;
    }
    case SampleKind::FurtherLeft:
    case SampleKind::FurtherUp:
      return compare(scene, kind, rng);
    case SampleKind::SizeOf: {
      const int i = rng.intIn(0, n - 1);
      item.objects = {i};
      item.question = fill(rng.pick(kSizeOf), {{"{obj}", objectName(scene.objects[i])}});
      item.answer = sizeName(scene.objects[i].size);
      return item;
    }
    case SampleKind::Describe:
      item.objects = readingOrder(scene);
      item.question = rng.pick(kDescribe);
      item.answer = describeScene(scene);
      return item;
    case SampleKind::Change:
      return std::nullopt;  // needs two scenes: makeChangeQuestion
  }
  return std::nullopt;
}

QaItem makeChangeQuestion(const Scene& before, const SceneEdit& edit, Rng& rng) {
  QaItem item;
  item.kind = SampleKind::Change;
  item.question = rng.pick(kChange);
  item.objects = {edit.object};
  switch (edit.type) {
    case ChangeType::Added:
      item.objectImage = 1;
      item.answer = fill(kAdded, {{"{a_obj}", withArticle(edit.after.objects[edit.object])}});
      break;
    case ChangeType::Removed:
      item.objectImage = 0;
      item.answer = fill(kRemoved, {{"{obj}", objectName(before.objects[edit.object])}});
      break;
    case ChangeType::Recoloured:
      item.objectImage = 1;
      item.answer =
          fill(kRecoloured,
               {{"{obj}", objectName(before.objects[edit.object])},
                {"{colour}", std::string(colourName(edit.after.objects[edit.object].colour))}});
      break;
  }
  return item;
}

std::vector<std::string> phraseTexts() {
  std::vector<std::string> out;
  for (const Templates* list :
       {&kColourOfShape, &kShapeOfColour, &kCountColour, &kCountShape, &kExists, &kWhere,
        &kFurtherLeft, &kFurtherRight, &kFurtherUp, &kFurtherDown, &kSizeOf, &kDescribe, &kChange})
    for (std::string_view t : *list) out.emplace_back(t);
  for (std::string_view t : {kAdded, kRemoved, kRecoloured}) out.emplace_back(t);
  for (std::string_view t : kCountWords) out.emplace_back(t);
  for (std::string_view t : {"yes", "no", "a", "an"}) out.emplace_back(t);
  for (int p = 0; p < kPlaceCount; ++p) {
    out.emplace_back(placeName(static_cast<Place>(p)));
    out.emplace_back(placePhrase(static_cast<Place>(p)));
  }
  for (int s = 0; s < kShapeCount; ++s) {
    out.emplace_back(shapeName(static_cast<Shape>(s)));
    out.emplace_back(shapePlural(static_cast<Shape>(s)));
  }
  for (int c = 0; c < kColourCount; ++c) out.emplace_back(colourName(static_cast<Colour>(c)));
  for (Size s : {Size::Small, Size::Large}) out.emplace_back(sizeName(s));
  out.emplace_back(" . ");  // the description's separator
  return out;
}

}  // namespace hae::demo
