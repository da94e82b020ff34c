#pragma once
// One drawing routine for both the rendered pixels and the patch footprints, so the footprint is
// exactly the shape the model sees.
#include <opencv2/core.hpp>

#include <vector>

#include "hae/demo/scene.h"

namespace hae::demo::detail {

// Fills the object's shape on canvas (any depth and channel count) with value.
void drawShape(cv::Mat& canvas, const SceneObject& object, const cv::Scalar& value, bool antiAlias);

// Cells (row * grid + col) the object covers by at least kFootprintShare, sorted.
std::vector<int> footprintOf(const SceneObject& object, int imageSize, int patchSize);

}  // namespace hae::demo::detail
