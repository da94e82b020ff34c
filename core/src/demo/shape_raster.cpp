#include "shape_raster.h"

#include <opencv2/imgproc.hpp>

#include <array>
#include <cmath>

namespace hae::demo::detail {

namespace {

// Sub-pixel vertices: OpenCV takes fixed-point coordinates with this many fractional bits, so
// shapes keep their float centre instead of snapping to whole pixels.
constexpr int kShift = 4;
constexpr double kScale = 1 << kShift;

cv::Point fixedPoint(double x, double y) {
  return {static_cast<int>(std::lround(x * kScale)), static_cast<int>(std::lround(y * kScale))};
}

void fillPolygon(cv::Mat& canvas, const std::vector<cv::Point>& points, const cv::Scalar& value,
                 int lineType) {
  const cv::Point* data = points.data();
  const int count = static_cast<int>(points.size());
  cv::fillPoly(canvas, &data, &count, 1, value, lineType, kShift);
}

}  // namespace

void drawShape(cv::Mat& canvas, const SceneObject& o, const cv::Scalar& value, bool antiAlias) {
  const int lineType = antiAlias ? cv::LINE_AA : cv::LINE_8;
  const double x = o.cx, y = o.cy, h = o.extent / 2.0;
  switch (o.shape) {
    case Shape::Circle:
      cv::circle(canvas, fixedPoint(x, y), static_cast<int>(std::lround(h * kScale)), value,
                 cv::FILLED, lineType, kShift);
      break;
    case Shape::Square: {
      // A little smaller than the box: a full-box square looks much bigger than the other shapes.
      const double s = h * 0.9;
      fillPolygon(canvas,
                  {fixedPoint(x - s, y - s), fixedPoint(x + s, y - s), fixedPoint(x + s, y + s),
                   fixedPoint(x - s, y + s)},
                  value, lineType);
      break;
    }
    case Shape::Triangle:
      fillPolygon(canvas,
                  {fixedPoint(x, y - h), fixedPoint(x + h, y + h), fixedPoint(x - h, y + h)}, value,
                  lineType);
      break;
    case Shape::Diamond:
      fillPolygon(
          canvas,
          {fixedPoint(x, y - h), fixedPoint(x + h, y), fixedPoint(x, y + h), fixedPoint(x - h, y)},
          value, lineType);
      break;
    case Shape::Cross: {
      const double t = h * 0.36;  // half the arm width
      fillPolygon(canvas,
                  {fixedPoint(x - t, y - h), fixedPoint(x + t, y - h), fixedPoint(x + t, y - t),
                   fixedPoint(x + h, y - t), fixedPoint(x + h, y + t), fixedPoint(x + t, y + t),
                   fixedPoint(x + t, y + h), fixedPoint(x - t, y + h), fixedPoint(x - t, y + t),
                   fixedPoint(x - h, y + t), fixedPoint(x - h, y - t), fixedPoint(x - t, y - t)},
                  value, lineType);
      break;
    }
    case Shape::Star: {
      // Five points; the centre is nudged down so the star fills its box like the other shapes.
      std::vector<cv::Point> points;
      const double outer = h * 1.05, inner = outer * 0.45, cyStar = y + h * 0.1;
      for (int i = 0; i < 10; ++i) {
        const double r = (i % 2 == 0) ? outer : inner;
        const double angle = -CV_PI / 2 + i * CV_PI / 5;
        points.push_back(fixedPoint(x + r * std::cos(angle), cyStar + r * std::sin(angle)));
      }
      fillPolygon(canvas, points, value, lineType);
      break;
    }
  }
}

std::vector<int> footprintOf(const SceneObject& object, int imageSize, int patchSize) {
  cv::Mat mask(imageSize, imageSize, CV_8UC1, cv::Scalar(0));
  drawShape(mask, object, cv::Scalar(255), true);
  const int grid = imageSize / patchSize;
  const double threshold = kFootprintShare * 255.0 * patchSize * patchSize;
  std::vector<int> cells;
  for (int r = 0; r < grid; ++r) {
    for (int c = 0; c < grid; ++c) {
      const cv::Rect cell(c * patchSize, r * patchSize, patchSize, patchSize);
      if (cv::sum(mask(cell))[0] >= threshold) cells.push_back(r * grid + c);
    }
  }
  return cells;
}

}  // namespace hae::demo::detail
