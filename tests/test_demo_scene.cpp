// Synthetic demo scenes, questions and vocabulary: determinism, layout rules, and answers checked
// against the object list by code written independently of the generator.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "hae/demo/dataset.h"
#include "hae/demo/questions.h"
#include "hae/demo/samples.h"
#include "hae/demo/scene.h"
#include "hae/demo/vocabulary.h"
#include "hae/tokenizer.h"
#include "hae/error.h"

namespace fs = std::filesystem;
using namespace hae::demo;

namespace {

constexpr int kManySeeds = 2000;

const std::vector<SampleKind> kAllKinds = [] {
  std::vector<SampleKind> kinds;
  for (int k = 0; k < kSampleKindCount; ++k) kinds.push_back(static_cast<SampleKind>(k));
  return kinds;
}();

// Every question of every kind for a seed, made without rendering (fast enough for many seeds).
struct SceneQa {
  Scene scene;
  std::optional<SceneEdit> edit;
  std::vector<QaItem> items;
};

SceneQa questionsFor(std::uint64_t seed) {
  SceneQa out;
  out.scene = generateScene(seed);
  Rng rng(mixSeed(seed, 77));
  for (SampleKind kind : kAllKinds) {
    if (kind == SampleKind::Change) {
      out.edit = editScene(out.scene, rng);
      if (out.edit) out.items.push_back(makeChangeQuestion(out.scene, *out.edit, rng));
    } else if (auto item = makeQuestion(out.scene, kind, rng)) {
      out.items.push_back(*item);
    }
  }
  return out;
}

std::vector<std::string> words(const std::string& text) {
  return demoWords(text);
}

// Object indices named as "<colour> <shape>" in the text, in order of appearance.
std::vector<int> namedObjects(const Scene& scene, const std::string& text) {
  const auto w = words(text);
  std::vector<int> out;
  for (std::size_t i = 0; i + 1 < w.size(); ++i)
    for (std::size_t k = 0; k < scene.objects.size(); ++k)
      if (w[i] == colourName(scene.objects[k].colour) &&
          w[i + 1] == shapeName(scene.objects[k].shape))
        out.push_back(static_cast<int>(k));
  return out;
}

bool hasWord(const std::string& text, std::string_view word) {
  const auto w = words(text);
  return std::find(w.begin(), w.end(), word) != w.end();
}

// The generator's rules restated: 3x3 bands of the image by centre.
int band(float v, int size) {
  return std::min(2, static_cast<int>(v / (size / 3.0f)));
}

std::string expectedPlace(const Scene& s, const SceneObject& o) {
  static const char* kRows[] = {"top", "", "bottom"};
  static const char* kCols[] = {"left", "", "right"};
  const int r = band(o.cy, s.imageSize), c = band(o.cx, s.imageSize);
  if (r == 1 && c == 1) return "centre";
  if (r == 1) return kCols[c];
  if (c == 1) return kRows[r];
  return std::string(kRows[r]) + " " + kCols[c];
}

std::string expectedDescription(const Scene& s) {
  std::vector<const SceneObject*> objs;
  for (const auto& o : s.objects) objs.push_back(&o);
  std::stable_sort(objs.begin(), objs.end(), [&](const SceneObject* a, const SceneObject* b) {
    const int ra = band(a->cy, s.imageSize), rb = band(b->cy, s.imageSize);
    return ra != rb ? ra < rb : a->cx < b->cx;
  });
  std::string out;
  for (const SceneObject* o : objs) {
    const std::string place = expectedPlace(s, *o);
    std::string phrase;
    if (place == "centre")
      phrase = "in the centre";
    else if (place == "left" || place == "right")
      phrase = "on the " + place;
    else
      phrase = "at the " + place;
    out += std::string(out.empty() ? "" : " ") + "a " + (o->extent < 32 ? "small" : "large") + " " +
           std::string(colourName(o->colour)) + " " + std::string(shapeName(o->shape)) + " " +
           phrase + " .";
  }
  return out;
}

std::string countName(std::size_t n) {
  static const char* kNames[] = {"zero", "one", "two", "three", "four", "five", "six", "seven"};
  return kNames[n];
}

// Checks one question against the scene. Returns an empty string when consistent.
std::string inconsistency(const Scene& s, const std::optional<SceneEdit>& edit, const QaItem& q) {
  auto count = [&](auto pred) {
    std::vector<int> idx;
    for (std::size_t i = 0; i < s.objects.size(); ++i)
      if (pred(s.objects[i])) idx.push_back(static_cast<int>(i));
    return idx;
  };
  std::optional<Shape> shape, plural;
  std::optional<Colour> colour;
  for (int k = 0; k < kShapeCount; ++k) {
    if (hasWord(q.question, shapeName(static_cast<Shape>(k)))) shape = static_cast<Shape>(k);
    if (hasWord(q.question, shapePlural(static_cast<Shape>(k)))) plural = static_cast<Shape>(k);
  }
  for (int k = 0; k < kColourCount; ++k)
    if (hasWord(q.question, colourName(static_cast<Colour>(k)))) colour = static_cast<Colour>(k);
  const auto named = namedObjects(s, q.question);

  switch (q.kind) {
    case SampleKind::ColourOfShape: {
      if (!shape) return "no shape in question";
      const auto idx = count([&](const SceneObject& o) { return o.shape == *shape; });
      if (idx.size() != 1) return "shape not unique";
      if (q.objects != idx) return "wrong objects";
      return q.answer == colourName(s.objects[idx[0]].colour) ? "" : "wrong colour";
    }
    case SampleKind::ShapeOfColour: {
      if (!colour) return "no colour in question";
      const auto idx = count([&](const SceneObject& o) { return o.colour == *colour; });
      if (idx.size() != 1) return "colour not unique";
      if (q.objects != idx) return "wrong objects";
      return q.answer == shapeName(s.objects[idx[0]].shape) ? "" : "wrong shape";
    }
    case SampleKind::CountColour: {
      if (!colour) return "no colour in question";
      const auto idx = count([&](const SceneObject& o) { return o.colour == *colour; });
      if (q.objects != idx) return "wrong objects";
      return q.answer == countName(idx.size()) ? "" : "wrong count";
    }
    case SampleKind::CountShape: {
      if (!plural) return "no plural shape in question";
      const auto idx = count([&](const SceneObject& o) { return o.shape == *plural; });
      if (q.objects != idx) return "wrong objects";
      return q.answer == countName(idx.size()) ? "" : "wrong count";
    }
    case SampleKind::Exists: {
      if (!shape || !colour) return "no object in question";
      const auto idx =
          count([&](const SceneObject& o) { return o.shape == *shape && o.colour == *colour; });
      if (q.answer != (idx.empty() ? "no" : "yes")) return "wrong yes/no";
      return q.objects == idx ? "" : "wrong objects";
    }
    case SampleKind::Where:
      if (named.size() != 1 || q.objects != named) return "wrong object";
      return q.answer == expectedPlace(s, s.objects[named[0]]) ? "" : "wrong place";
    case SampleKind::FurtherLeft:
    case SampleKind::FurtherUp: {
      if (named.size() != 2 || q.objects != named) return "wrong objects";
      const SceneObject& a = s.objects[named[0]];
      const SceneObject& b = s.objects[named[1]];
      const bool horizontal = q.kind == SampleKind::FurtherLeft;
      const float da = horizontal ? a.cx : a.cy, db = horizontal ? b.cx : b.cy;
      if (std::abs(da - db) < 10) return "pair too close to call";
      const bool towardsZero = horizontal
                                   ? hasWord(q.question, "left")
                                   : (hasWord(q.question, "up") || hasWord(q.question, "higher") ||
                                      hasWord(q.question, "top"));
      const bool away = horizontal ? hasWord(q.question, "right")
                                   : (hasWord(q.question, "down") || hasWord(q.question, "lower") ||
                                      hasWord(q.question, "bottom"));
      if (towardsZero == away) return "no direction";
      const SceneObject& winner = ((da < db) == towardsZero) ? a : b;
      return q.answer == std::string(colourName(winner.colour)) + " " +
                             std::string(shapeName(winner.shape))
                 ? ""
                 : "wrong winner";
    }
    case SampleKind::SizeOf:
      if (named.size() != 1 || q.objects != named) return "wrong object";
      return q.answer == (s.objects[named[0]].extent < 32 ? "small" : "large") ? "" : "wrong size";
    case SampleKind::Describe:
      return q.answer == expectedDescription(s) ? "" : "wrong description: " + q.answer;
    case SampleKind::Change: {
      if (!edit) return "change without edit";
      const Scene& after = edit->after;
      auto key = [](const SceneObject& o) {
        return std::string(colourName(o.colour)) + " " + std::string(shapeName(o.shape));
      };
      std::set<std::string> before, now;
      for (const auto& o : s.objects) before.insert(key(o));
      for (const auto& o : after.objects) now.insert(key(o));
      std::vector<std::string> gone, added;
      std::set_difference(before.begin(), before.end(), now.begin(), now.end(),
                          std::back_inserter(gone));
      std::set_difference(now.begin(), now.end(), before.begin(), before.end(),
                          std::back_inserter(added));
      const Scene& target = q.objectImage == 0 ? s : after;
      if (q.objects.size() != 1 || q.objects[0] >= static_cast<int>(target.objects.size()))
        return "bad objects";
      const std::string about = key(target.objects[q.objects[0]]);
      if (gone.size() == 1 && added.empty()) {
        return q.answer == "the " + gone[0] + " was removed" && about == gone[0] ? ""
                                                                                 : "wrong removal";
      }
      if (added.size() == 1 && gone.empty()) {
        const std::string art =
            std::string("aeiou").find(added[0][0]) != std::string::npos ? "an " : "a ";
        return q.answer == art + added[0] + " was added" && about == added[0] ? ""
                                                                              : "wrong addition";
      }
      if (added.size() == 1 && gone.size() == 1) {
        const std::string newColour = words(added[0])[0];
        return q.answer == "the " + gone[0] + " turned " + newColour && about == added[0]
                   ? ""
                   : "wrong recolour";
      }
      return "edit is not one change";
    }
  }
  return "unknown kind";
}

}  // namespace

TEST(DemoScene, SameSeedSameSceneAndPixels) {
  for (std::uint64_t seed :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{12345}, kHeldOutSeedBase + 7}) {
    const Scene a = generateScene(seed), b = generateScene(seed);
    ASSERT_EQ(a.objects.size(), b.objects.size());
    for (std::size_t i = 0; i < a.objects.size(); ++i) {
      EXPECT_EQ(a.objects[i].cx, b.objects[i].cx);
      EXPECT_EQ(a.objects[i].cy, b.objects[i].cy);
      EXPECT_EQ(a.objects[i].patches, b.objects[i].patches);
      EXPECT_EQ(a.objects[i].rgb, b.objects[i].rgb);
    }
    EXPECT_EQ(renderScene(a).pixels, renderScene(b).pixels);
  }
  EXPECT_NE(renderScene(generateScene(1)).pixels, renderScene(generateScene(2)).pixels);
}

TEST(DemoScene, SameSeedSameSample) {
  for (SampleKind kind : kAllKinds) {
    const DemoSample a = makeSample(42, kind), b = makeSample(42, kind);
    EXPECT_EQ(a.question, b.question);
    EXPECT_EQ(a.answer, b.answer);
    EXPECT_EQ(a.objects, b.objects);
    ASSERT_EQ(a.images.size(), b.images.size());
    for (std::size_t i = 0; i < a.images.size(); ++i)
      EXPECT_EQ(a.images[i].pixels, b.images[i].pixels);
  }
}

TEST(DemoScene, FixedSeedGivesTheSameSceneOnEveryPlatform) {
  // Pins the layout of one seed: a change here means every seed names a different scene, which
  // silently invalidates a trained demo model's held-out numbers.
  const Scene s = generateScene(2024);
  std::string summary;
  for (const auto& o : s.objects)
    summary += objectName(o) + "@" + std::to_string(std::lround(o.cx)) + "," +
               std::to_string(std::lround(o.cy)) + ";";
  // Recorded from the first run of the grid-aligned generator.
  EXPECT_EQ(summary,
            "yellow triangle@49,77;red star@35,35;white diamond@126,140;orange cross@14,126;");
}

TEST(DemoScene, LayoutRules) {
  std::map<std::size_t, int> counts;
  double coverageSum = 0;
  int maxCoverage = 0;
  for (int seed = 0; seed < kManySeeds; ++seed) {
    const Scene s = generateScene(static_cast<std::uint64_t>(seed));
    ASSERT_GE(s.objects.size(), 2u);
    ASSERT_LE(s.objects.size(), 7u);
    ++counts[s.objects.size()];
    std::set<std::pair<int, int>> pairs;
    for (std::size_t i = 0; i < s.objects.size(); ++i) {
      const SceneObject& a = s.objects[i];
      EXPECT_TRUE(pairs.emplace(static_cast<int>(a.shape), static_cast<int>(a.colour)).second)
          << "seed " << seed;
      EXPECT_FALSE(a.patches.empty()) << "seed " << seed;
      EXPECT_GE(a.cx - a.extent / 2, 0);
      EXPECT_LE(a.cx + a.extent / 2, s.imageSize);
      EXPECT_GE(a.cy - a.extent / 2, 0);
      EXPECT_LE(a.cy + a.extent / 2, s.imageSize);
      // On the patch grid: a small object's box is 2x2 patches, a large one's 3x3.
      const float box = (a.size == Size::Small ? 2 : 3) * s.patchSize;
      EXPECT_LT(a.extent, box);
      EXPECT_EQ(std::fmod(a.cx - box / 2, static_cast<float>(s.patchSize)), 0) << "seed " << seed;
      EXPECT_EQ(std::fmod(a.cy - box / 2, static_cast<float>(s.patchSize)), 0) << "seed " << seed;
      for (std::size_t j = i + 1; j < s.objects.size(); ++j) {
        const SceneObject& b = s.objects[j];
        const float reach = (a.extent + b.extent) / 2;
        EXPECT_TRUE(std::abs(a.cx - b.cx) >= reach || std::abs(a.cy - b.cy) >= reach)
            << "seed " << seed << ": objects " << i << " and " << j << " overlap";
      }
    }
    const int covered = static_cast<int>(coveredPatches(s).size());
    EXPECT_LT(covered, 0.35 * 144) << "seed " << seed;
    coverageSum += covered;
    maxCoverage = std::max(maxCoverage, covered);
  }
  // Every object count occurs: the coverage budget must not starve busy scenes.
  for (std::size_t n = 2; n <= 7; ++n) EXPECT_GT(counts[n], kManySeeds / 20) << n << " objects";
  std::cout << "mean coverage " << coverageSum / kManySeeds << " of 144 cells, max " << maxCoverage
            << "; object counts:";
  for (auto [n, c] : counts) std::cout << " " << n << ":" << c;
  std::cout << "\n";
}

TEST(DemoScene, RenderedObjectsSitWhereTheSceneSays) {
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const Scene s = generateScene(seed);
    const hae::RgbImage img = renderScene(s);
    ASSERT_EQ(img.width, 168);
    ASSERT_EQ(img.height, 168);
    ASSERT_EQ(img.pixels.size(), 168u * 168u * 3u);
    for (const SceneObject& o : s.objects) {
      const int x = static_cast<int>(o.cx), y = static_cast<int>(o.cy);
      for (int c = 0; c < 3; ++c) {
        const int v = img.pixels[(static_cast<std::size_t>(y) * img.width + x) * 3 + c];
        EXPECT_NEAR(v, o.rgb[c], 5) << "seed " << seed << " " << objectName(o);
      }
    }
  }
}

TEST(DemoScene, EveryAnswerMatchesTheObjectList) {
  std::map<SampleKind, int> made;
  for (int seed = 0; seed < kManySeeds; ++seed) {
    const SceneQa qa = questionsFor(static_cast<std::uint64_t>(seed));
    for (const QaItem& q : qa.items) {
      ++made[q.kind];
      EXPECT_EQ(inconsistency(qa.scene, qa.edit, q), "")
          << "seed " << seed << " " << kindName(q.kind) << ": " << q.question << " -> " << q.answer;
    }
  }
  for (SampleKind kind : kAllKinds) EXPECT_GT(made[kind], kManySeeds / 3) << kindName(kind);
}

TEST(DemoScene, MakeSampleGivesEveryKindAndConsistentAnswers) {
  for (std::uint64_t seed = 0; seed < 40; ++seed) {
    for (SampleKind kind : kAllKinds) {
      const DemoSample s = makeSample(seed, kind);
      EXPECT_EQ(s.kind, kind);
      ASSERT_EQ(s.scenes.size(), kind == SampleKind::Change ? 2u : 1u);
      ASSERT_EQ(s.images.size(), s.scenes.size());
      QaItem q{kind, s.question, s.answer, s.objects, s.objectImage};
      std::optional<SceneEdit> edit;
      if (kind == SampleKind::Change) {
        // Rebuild the edit from the two scenes for the checker (only `after` is read).
        SceneEdit e;
        e.after = s.scenes[1];
        edit = e;
      }
      EXPECT_EQ(inconsistency(s.scenes[0], edit, q), "") << s.question << " -> " << s.answer;
      const std::string prompt = chatPrompt(s);
      EXPECT_EQ(prompt.rfind("USER: <image>\n", 0), 0u) << prompt;
      EXPECT_TRUE(prompt.ends_with(" ASSISTANT:")) << prompt;
    }
  }
}

TEST(DemoScene, PhrasingsAndBalance) {
  std::map<SampleKind, std::set<std::string>> phrasings;
  int yes = 0, no = 0, zeroCounts = 0, counts = 0;
  for (int seed = 0; seed < kManySeeds; ++seed) {
    const SceneQa qa = questionsFor(static_cast<std::uint64_t>(seed));
    for (const QaItem& q : qa.items) {
      // The phrasing with object words blanked out.
      std::string shape;
      for (const std::string& w : words(q.question)) {
        bool content = false;
        for (int k = 0; k < kShapeCount; ++k)
          content |=
              w == shapeName(static_cast<Shape>(k)) || w == shapePlural(static_cast<Shape>(k));
        for (int k = 0; k < kColourCount; ++k) content |= w == colourName(static_cast<Colour>(k));
        shape += (content ? "_" : w) + " ";
      }
      phrasings[q.kind].insert(shape);
      if (q.kind == SampleKind::Exists) (q.answer == "yes" ? yes : no)++;
      if (q.kind == SampleKind::CountColour || q.kind == SampleKind::CountShape) {
        ++counts;
        zeroCounts += q.answer == "zero";
      }
    }
  }
  for (SampleKind kind : kAllKinds) EXPECT_GE(phrasings[kind].size(), 3u) << kindName(kind);
  EXPECT_NEAR(static_cast<double>(yes) / (yes + no), 0.5, 0.05);
  EXPECT_GT(zeroCounts, counts / 20);  // "zero" is a real answer, not a never-seen one
}

TEST(DemoVocabulary, CoversEveryGeneratedWord) {
  std::set<std::string> missing;
  auto check = [&](const std::string& text) {
    for (const std::string& w : demoWords(text))
      if (demoTokenId(w) < 0) missing.insert(w);
  };
  for (int seed = 0; seed < kManySeeds; ++seed) {
    for (const QaItem& q : questionsFor(static_cast<std::uint64_t>(seed)).items) {
      check(q.question);
      check(q.answer);
    }
  }
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    std::string prompt = chatPrompt(makeSample(seed, SampleKind::Change));
    // <image> is an added token: the tokenizer takes it out before pre-tokenizing.
    for (std::size_t at = prompt.find("<image>"); at != std::string::npos;
         at = prompt.find("<image>"))
      prompt.replace(at, 7, " ");
    // The tokenizer's Lowercase normalizer runs before the vocabulary lookup ("USER" -> "user").
    std::transform(prompt.begin(), prompt.end(), prompt.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    check(prompt);
  }
  EXPECT_TRUE(missing.empty()) << "first missing word: " << *missing.begin();
}

// The runtime's Tokenizer on the demo tokenizer.json: every training prompt and what a user types
// ("What color is the circle?") encode without <unk>, and ids agree with demoTokenId.
TEST(DemoVocabulary, RuntimeTokenizerEncodesPromptsWithoutUnknowns) {
  const hae::Tokenizer tok = hae::Tokenizer::fromJson(demoTokenizerJson(), "demo tokenizer.json");
  const int unk = demoTokenId("<unk>");
  auto expectKnown = [&](const std::string& text) {
    const std::vector<int> ids = tok.encode(text, true);
    ASSERT_FALSE(ids.empty()) << text;
    EXPECT_EQ(ids.front(), demoTokenId("<s>")) << text;
    EXPECT_EQ(std::count(ids.begin(), ids.end(), unk), 0) << text;
  };
  for (std::uint64_t i = 0; i < 300; ++i) {
    const DemoSample sample = trainingSample(i);
    expectKnown(chatPrompt(sample));
    expectKnown(sample.answer);
    const std::vector<int> ids = tok.encode(chatPrompt(sample), true);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), demoTokenId("<image>")),
              static_cast<long>(sample.images.size()));
  }
  for (const std::string text : {"What color is the circle?", "USER: <image>\nWhat color is the circle? ASSISTANT:",
                                 "Describe the image.", "How many RED objects are there?"})
    expectKnown(text);
  const std::vector<int> ids = tok.encode("USER: <image>\nWhat color is the circle? ASSISTANT:", true);
  const std::vector<int> expected = {demoTokenId("<s>"),   demoTokenId("user"),   demoTokenId(":"),
                                     demoTokenId("<image>"), demoTokenId("what"), demoTokenId("color"),
                                     demoTokenId("is"),    demoTokenId("the"),    demoTokenId("circle"),
                                     demoTokenId("?"),     demoTokenId("assistant"), demoTokenId(":")};
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(tok.decode(tok.encode("a large red circle at the top left .", false), true),
            "a large red circle at the top left .");
}

TEST(DemoVocabulary, StableOrderWithoutDuplicates) {
  const auto& vocab = demoVocabulary();
  ASSERT_GT(vocab.size(), kSpecialTokens.size());
  for (std::size_t i = 0; i < kSpecialTokens.size(); ++i) EXPECT_EQ(vocab[i], kSpecialTokens[i]);
  EXPECT_TRUE(std::is_sorted(vocab.begin() + kSpecialTokens.size(), vocab.end()));
  EXPECT_EQ(std::set<std::string>(vocab.begin(), vocab.end()).size(), vocab.size());
  for (std::string_view w : kChatWords) EXPECT_GE(demoTokenId(w), 0) << w;
  EXPECT_EQ(demoTokenId("<pad>"), 0);
  EXPECT_EQ(demoTokenId("<unk>"), 1);
  EXPECT_EQ(demoTokenId("<s>"), 2);
  EXPECT_EQ(demoTokenId("</s>"), 3);
  EXPECT_EQ(demoTokenId("<image>"), 4);
  EXPECT_EQ(demoTokenId("elephant"), -1);
  std::cout << "vocabulary size " << vocab.size() << "\n";
}

TEST(DemoVocabulary, TokenizerJsonIsAWordLevelTokenizer) {
  const std::string text = demoTokenizerJson();
  EXPECT_EQ(text, demoTokenizerJson());  // stable byte for byte
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j["model"]["type"], "WordLevel");
  EXPECT_EQ(j["model"]["unk_token"], "<unk>");
  EXPECT_EQ(j["pre_tokenizer"]["type"], "Whitespace");
  EXPECT_EQ(j["normalizer"]["type"], "Lowercase");
  EXPECT_TRUE(j["decoder"].is_null());
  EXPECT_EQ(j["post_processor"]["type"], "TemplateProcessing");
  EXPECT_EQ(j["post_processor"]["single"][0]["SpecialToken"]["id"], "<s>");
  EXPECT_EQ(j["post_processor"]["single"][1]["Sequence"]["id"], "A");
  EXPECT_EQ(j["post_processor"]["special_tokens"]["<s>"]["ids"][0], 2);

  const auto& vocab = demoVocabulary();
  const auto& map = j["model"]["vocab"];
  ASSERT_EQ(map.size(), vocab.size());
  std::set<int> ids;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const int id = it.value().get<int>();
    EXPECT_TRUE(ids.insert(id).second) << "duplicate id " << id;
    ASSERT_GE(id, 0);
    ASSERT_LT(id, static_cast<int>(vocab.size()));
    EXPECT_EQ(vocab[id], it.key());
  }
  ASSERT_EQ(j["added_tokens"].size(), kSpecialTokens.size());
  for (const auto& t : j["added_tokens"]) {
    EXPECT_TRUE(t["special"].get<bool>());
    EXPECT_EQ(map[t["content"].get<std::string>()], t["id"]);
  }
}

TEST(DemoVocabulary, WordsSplitLikeTheWhitespacePreTokenizer) {
  const std::regex pattern(R"(\w+|[^\w\s]+)");
  for (const std::string text :
       {"what color is the circle?",
        "USER: x\nwhich is further left, the red circle or the blue square?",
        "a large red circle at the top left . a small blue square in the centre .",
        "  odd?!  spacing__x ", "describe the image.", ""}) {
    std::vector<std::string> expected;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern);
         it != std::sregex_iterator(); ++it)
      expected.push_back(it->str());
    EXPECT_EQ(demoWords(text), expected) << text;
  }
}

TEST(DemoVocabulary, AnswerNormalisation) {
  EXPECT_EQ(normalizeAnswer(" Two.</s>"), "two");
  EXPECT_TRUE(answersMatch("Red Circle", "red circle"));
  EXPECT_TRUE(answersMatch("top  left", "top left"));
  EXPECT_FALSE(answersMatch("top", "top left"));
  EXPECT_EQ(normalizeAnswer("a small red circle at the top . a large blue star on the left ."),
            "a small red circle at the top . a large blue star on the left");
}

TEST(DemoDataset, SeedRangesAreDisjoint) {
  const auto held = heldOutSet(40);
  ASSERT_EQ(held.size(), 40u);
  std::map<SampleKind, int> kinds;
  for (std::size_t j = 0; j < held.size(); ++j) {
    EXPECT_EQ(held[j].seed, kHeldOutSeedBase + j);
    ++kinds[held[j].kind];
  }
  EXPECT_GT(kinds[SampleKind::Describe], 2);
  EXPECT_EQ(trainingSample(5).seed, 5u);
  EXPECT_THROW(trainingSample(kHeldOutSeedBase), hae::Error);

  int describe = 0, change = 0;
  for (std::uint64_t i = 0; i < 4000; ++i) {
    const SampleKind k = pickKind(i);
    describe += k == SampleKind::Describe;
    change += k == SampleKind::Change;
  }
  EXPECT_NEAR(describe / 4000.0, 0.25, 0.03);
  EXPECT_NEAR(change / 4000.0, 0.05, 0.015);
}

TEST(DemoScene, BadConfigIsRefused) {
  SceneConfig c;
  c.patchSize = 0;
  EXPECT_THROW(generateScene(1, c), hae::Error);
  c = {};
  c.minObjects = 5;
  c.maxObjects = 3;
  EXPECT_THROW(generateScene(1, c), hae::Error);
  c = {};
  c.imageSize = 170;
  EXPECT_THROW(generateScene(1, c), hae::Error);
}

// The committed sample scenes. HAE_WRITE_SAMPLES=1 (re)writes them into the source tree; otherwise
// the test checks that the committed questions and answers still match the generator.
TEST(DemoSamples, CommittedSamplesMatchTheGenerator) {
  const fs::path dir = fs::path(HAE_SOURCE_DIR) / "resources" / "demo" / "samples";
  const char* write = std::getenv("HAE_WRITE_SAMPLES");
  if (write && std::string(write) == "1") {
    fs::create_directories(dir);
    writeDemoSamples(dir.string());
  }
  if (!fs::exists(dir / "samples.json")) GTEST_SKIP() << "no committed samples at " << dir;
  std::ifstream in(dir / "samples.json");
  const nlohmann::json committed = nlohmann::json::parse(in);
  const nlohmann::json fresh = nlohmann::json::parse(demoSamplesJson());
  ASSERT_EQ(committed["samples"].size(), fresh["samples"].size());
  for (std::size_t i = 0; i < fresh["samples"].size(); ++i) {
    const auto& c = committed["samples"][i];
    EXPECT_EQ(c["file"], fresh["samples"][i]["file"]);
    EXPECT_EQ(c["seed"], fresh["samples"][i]["seed"]);
    EXPECT_EQ(c["questions"], fresh["samples"][i]["questions"]);
    const cv::Mat png = cv::imread((dir / c["file"].get<std::string>()).string());
    ASSERT_FALSE(png.empty()) << c["file"];
    EXPECT_EQ(png.cols, 168);
    EXPECT_EQ(png.rows, 168);
  }
}
