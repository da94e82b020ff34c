#pragma once
// The sample scenes shipped in resources/demo/samples: PNG files plus samples.json with a few
// questions and their answers, so a user (and the README) has images the demo model knows.
#include <string>

#include "hae/image.h"

namespace hae::demo {

// Writes an RGB image as PNG. Throws hae::Error naming the path when it cannot.
void savePng(const RgbImage& image, const std::string& path);

// Writes scene_1.png .. scene_<count>.png and samples.json into directory (which must exist).
// Deterministic: the scenes are the first held-out-range seeds from a fixed offset whose scene has
// a unique circle, so "what color is the circle?" always has an answer.
void writeDemoSamples(const std::string& directory, int count = 4);

// The samples.json text writeDemoSamples writes (no images), for tests that check the committed
// file.
std::string demoSamplesJson(int count = 4);

}  // namespace hae::demo
