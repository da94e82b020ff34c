// Renders a scene: muted background texture, anti-aliased shapes, then a faint grain over all of it
// so that no patch is perfectly flat (flat patches give the vision tower identical tokens).
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "hae/demo/scene.h"
#include "shape_raster.h"

namespace hae::demo {

namespace {

cv::Vec3f hsvToRgb(double h, double s, double v) {
  h = std::fmod(h, 360.0);
  if (h < 0) h += 360.0;
  const double c = v * s, x = c * (1 - std::abs(std::fmod(h / 60.0, 2.0) - 1)), m = v - c;
  double r = 0, g = 0, b = 0;
  switch (static_cast<int>(h / 60.0)) {
    case 0:
      r = c, g = x;
      break;
    case 1:
      r = x, g = c;
      break;
    case 2:
      g = c, b = x;
      break;
    case 3:
      g = x, b = c;
      break;
    case 4:
      r = x, b = c;
      break;
    default:
      r = c, b = x;
      break;
  }
  return {static_cast<float>((r + m) * 255), static_cast<float>((g + m) * 255),
          static_cast<float>((b + m) * 255)};
}

// Low saturation, mid-dark value: every palette colour (white and yellow included) stands out.
cv::Mat background(int size, Rng& rng) {
  const double hue = rng.uniform(0, 360), sat = rng.uniform(0.04, 0.22),
               val = rng.uniform(0.28, 0.5);
  const cv::Vec3f from = hsvToRgb(hue, sat, val);
  const cv::Vec3f to =
      hsvToRgb(hue + rng.uniform(-40, 40), std::clamp(sat + rng.uniform(-0.05, 0.05), 0.0, 0.3),
               std::clamp(val + rng.uniform(-0.1, 0.1), 0.22, 0.56));
  const double angle = rng.uniform(0, 2 * CV_PI);
  const double gx = std::cos(angle), gy = std::sin(angle), half = size / 2.0;

  cv::Mat texture(size, size, CV_32FC1, cv::Scalar(0));
  switch (rng.intIn(0, 2)) {
    case 0: {  // soft stripes at any angle
      const double period = rng.uniform(10, 32), amplitude = rng.uniform(4, 9);
      const double a = rng.uniform(0, CV_PI), sx = std::cos(a), sy = std::sin(a);
      const double phase = rng.uniform(0, 2 * CV_PI);
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x)
          texture.at<float>(y, x) = static_cast<float>(
              amplitude * std::sin(2 * CV_PI * (x * sx + y * sy) / period + phase));
      break;
    }
    case 1: {  // blotches: a coarse random grid, smoothly enlarged
      const int cells = rng.intIn(4, 8);
      const double amplitude = rng.uniform(8, 14);
      cv::Mat coarse(cells, cells, CV_32FC1);
      for (int y = 0; y < cells; ++y)
        for (int x = 0; x < cells; ++x)
          coarse.at<float>(y, x) = static_cast<float>(amplitude * rng.noise());
      cv::resize(coarse, texture, cv::Size(size, size), 0, 0, cv::INTER_CUBIC);
      break;
    }
    default: {  // fine mottled noise
      const double amplitude = rng.uniform(8, 14);
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x)
          texture.at<float>(y, x) = static_cast<float>(amplitude * rng.noise());
      cv::GaussianBlur(texture, texture, cv::Size(3, 3), 0.8);
      break;
    }
  }

  cv::Mat image(size, size, CV_8UC3);
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const double t = std::clamp(((x - half) * gx + (y - half) * gy) / size + 0.5, 0.0, 1.0);
      const float tex = texture.at<float>(y, x);
      cv::Vec3b& px = image.at<cv::Vec3b>(y, x);
      for (int c = 0; c < 3; ++c)
        px[c] = cv::saturate_cast<std::uint8_t>(from[c] + (to[c] - from[c]) * t + tex);
    }
  }
  return image;
}

}  // namespace

RgbImage renderScene(const Scene& scene) {
  Rng rng(scene.backgroundSeed);
  cv::Mat image = background(scene.imageSize, rng);  // channels in RGB order throughout
  for (const SceneObject& o : scene.objects)
    detail::drawShape(image, o, cv::Scalar(o.rgb[0], o.rgb[1], o.rgb[2]), true);

  Rng grain(mixSeed(scene.backgroundSeed, 2));
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      cv::Vec3b& px = image.at<cv::Vec3b>(y, x);
      for (int c = 0; c < 3; ++c)
        px[c] = cv::saturate_cast<std::uint8_t>(px[c] + 4.0 * grain.noise());
    }
  }

  RgbImage out;
  out.width = image.cols;
  out.height = image.rows;
  out.pixels.resize(static_cast<std::size_t>(image.total()) * 3);
  std::memcpy(out.pixels.data(), image.data, out.pixels.size());  // fresh Mat: continuous
  return out;
}

}  // namespace hae::demo
