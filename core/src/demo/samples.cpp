#include "hae/demo/samples.h"

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <array>
#include <fstream>

#include "hae/demo/dataset.h"
#include "hae/error.h"

namespace hae::demo {

namespace {

// Far above any held-out set the evaluation draws, so the samples are not among the scored scenes.
constexpr std::uint64_t kSampleSeedOffset = 900000;
// One extra question kind per sample, so the four files show different question types.
constexpr std::array<SampleKind, 4> kExtraKinds = {SampleKind::Where, SampleKind::CountColour,
                                                   SampleKind::FurtherLeft, SampleKind::SizeOf};

struct SampleScene {
  std::uint64_t seed = 0;
  Scene scene;
  std::vector<QaItem> questions;
};

std::vector<SampleScene> sampleScenes(int count) {
  std::vector<SampleScene> out;
  for (std::uint64_t seed = kHeldOutSeedBase + kSampleSeedOffset;
       static_cast<int>(out.size()) < count; ++seed) {
    Scene scene = generateScene(seed);
    std::vector<int> circles;
    for (std::size_t i = 0; i < scene.objects.size(); ++i)
      if (scene.objects[i].shape == Shape::Circle) circles.push_back(static_cast<int>(i));
    if (circles.size() != 1 || scene.objects.size() < 3 || scene.objects.size() > 6) continue;

    SampleScene sample{seed, scene, {}};
    QaItem colour;
    colour.kind = SampleKind::ColourOfShape;
    colour.question = "what color is the circle?";  // the README's example question
    colour.answer = colourName(scene.objects[circles[0]].colour);
    colour.objects = circles;
    sample.questions.push_back(colour);

    Rng rng(mixSeed(seed, 0x5A3E));
    const SampleKind extra = kExtraKinds[out.size() % kExtraKinds.size()];
    auto item = makeQuestion(scene, extra, rng);
    if (!item) continue;
    sample.questions.push_back(*item);
    sample.questions.push_back(*makeQuestion(scene, SampleKind::Describe, rng));
    out.push_back(std::move(sample));
  }
  return out;
}

std::string fileName(int index) {
  return "scene_" + std::to_string(index + 1) + ".png";
}

}  // namespace

void savePng(const RgbImage& image, const std::string& path) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3)
    throw Error(path + ": image buffer does not match its size");
  const cv::Mat rgb(image.height, image.width, CV_8UC3,
                    const_cast<std::uint8_t*>(image.pixels.data()));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);  // OpenCV writes BGR
  bool ok = false;
  try {
    ok = cv::imwrite(path, bgr);
  } catch (const cv::Exception& e) {
    throw Error(path + ": cannot write PNG: " + e.what());
  }
  if (!ok) throw Error(path + ": cannot write PNG");
}

std::string demoSamplesJson(int count) {
  using Json = nlohmann::ordered_json;
  Json samples = Json::array();
  const auto scenes = sampleScenes(count);
  for (std::size_t i = 0; i < scenes.size(); ++i) {
    const Scene& scene = scenes[i].scene;
    Json objects = Json::array();
    for (const SceneObject& o : scene.objects) {
      objects.push_back({{"shape", shapeName(o.shape)},
                         {"colour", colourName(o.colour)},
                         {"size", sizeName(o.size)},
                         {"place", placeName(placeOf(scene, o))},
                         {"centre", {std::lround(o.cx), std::lround(o.cy)}},
                         {"patches", o.patches}});
    }
    Json questions = Json::array();
    for (const QaItem& q : scenes[i].questions) {
      questions.push_back({{"kind", kindName(q.kind)},
                           {"question", q.question},
                           {"answer", q.answer},
                           {"objects", q.objects}});
    }
    samples.push_back({{"file", fileName(static_cast<int>(i))},
                       {"seed", scenes[i].seed},
                       {"objects", objects},
                       {"questions", questions}});
  }
  const Json root = {{"generator", "hae::demo::writeDemoSamples"},
                     {"image_size", SceneConfig{}.imageSize},
                     {"patch_size", SceneConfig{}.patchSize},
                     {"samples", samples}};
  return root.dump(2) + "\n";
}

void writeDemoSamples(const std::string& directory, int count) {
  const auto scenes = sampleScenes(count);
  for (std::size_t i = 0; i < scenes.size(); ++i)
    savePng(renderScene(scenes[i].scene), directory + "/" + fileName(static_cast<int>(i)));
  const std::string path = directory + "/samples.json";
  std::ofstream out(path, std::ios::binary);
  out << demoSamplesJson(count);
  if (!out) throw Error(path + ": cannot write");
}

}  // namespace hae::demo
