// PIL's Image.resize for 8-bit RGB, ported from the behaviour of Pillow 9.4's libImaging
// (Resample.c for the convolution filters, Geometry.c's affine scaling for NEAREST). The reference
// pixels the models were trained and tested with come from PIL, and OpenCV's resizers differ from
// it by a few grey levels, so the arithmetic here mirrors PIL step for step: double-precision
// weights, 22-bit fixed point, a uint8 intermediate after the horizontal pass.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "hae/error.h"
#include "hae/image.h"

// A fused multiply-add would change the double weights in the last bit and could flip a fixed-point
// rounding; PIL is built without FMA contraction.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace hae {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kPi = 3.14159265358979323846;

struct Filter {
  double (*weight)(double);
  double support;
};

double boxWeight(double x) {
  return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
}

double bilinearWeight(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hammingWeight(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * kPi;
  return std::sin(x) / x * (0.54 + 0.46 * std::cos(x));
}

double bicubicWeight(double x) {
  constexpr double a = -0.5;  // PIL's choice; torch and OpenCV use -0.75
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * kPi;
  return std::sin(x) / x;
}

double lanczosWeight(double x) {
  if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
  return 0.0;
}

Filter filterFor(PilFilter f) {
  switch (f) {
    case PilFilter::box:
      return {boxWeight, 0.5};
    case PilFilter::bilinear:
      return {bilinearWeight, 1.0};
    case PilFilter::hamming:
      return {hammingWeight, 1.0};
    case PilFilter::bicubic:
      return {bicubicWeight, 2.0};
    case PilFilter::lanczos:
      return {lanczosWeight, 3.0};
    case PilFilter::nearest:
      break;
  }
  throw Error("resizePil: no convolution filter for this resampling mode");
}

// Per output pixel: the first input index, the number of taps, and ksize fixed-point weights.
struct Coefficients {
  int ksize = 0;
  std::vector<int> bounds;  // (first, count) pairs
  std::vector<std::int32_t> weights;
};

// in0/in1 are PIL's float box edges; the whole image here, but kept so the arithmetic matches.
Coefficients precomputeCoefficients(int inSize, float in0, float in1, int outSize,
                                    const Filter& filter) {
  double scale = static_cast<double>(in1 - in0) / outSize;
  double filterScale = scale < 1.0 ? 1.0 : scale;  // antialias only when reducing
  double support = filter.support * filterScale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<size_t>(outSize) * 2);
  std::vector<double> kk(static_cast<size_t>(outSize) * c.ksize, 0.0);
  for (int xx = 0; xx < outSize; ++xx) {
    double center = in0 + (xx + 0.5) * scale;
    double ss = 1.0 / filterScale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    double* k = &kk[static_cast<size_t>(xx) * c.ksize];
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      double w = filter.weight((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
    }
    c.bounds[xx * 2 + 0] = xmin;
    c.bounds[xx * 2 + 1] = xmax;
  }
  // PIL's normalize_coeffs_8bpc: round half away from zero, then truncate toward zero.
  c.weights.resize(kk.size());
  for (size_t i = 0; i < kk.size(); ++i) {
    double scaled = kk[i] * (1 << kPrecisionBits);
    c.weights[i] = static_cast<std::int32_t>(kk[i] < 0 ? -0.5 + scaled : 0.5 + scaled);
  }
  return c;
}

inline std::uint8_t clip8(std::int32_t v) {
  std::int32_t shifted = v >> kPrecisionBits;  // arithmetic shift, as in PIL
  return static_cast<std::uint8_t>(shifted < 0 ? 0 : (shifted > 255 ? 255 : shifted));
}

// Output row yy reads input row yy + rowOffset.
RgbImage resampleHorizontal(const RgbImage& in, int outWidth, int outHeight, int rowOffset,
                            const Coefficients& c) {
  RgbImage out{outWidth, outHeight, std::vector<std::uint8_t>(size_t(outWidth) * outHeight * 3)};
  for (int yy = 0; yy < outHeight; ++yy) {
    const std::uint8_t* src = &in.pixels[size_t(yy + rowOffset) * in.width * 3];
    std::uint8_t* dst = &out.pixels[size_t(yy) * outWidth * 3];
    for (int xx = 0; xx < outWidth; ++xx) {
      int xmin = c.bounds[xx * 2 + 0];
      int xmax = c.bounds[xx * 2 + 1];
      const std::int32_t* k = &c.weights[size_t(xx) * c.ksize];
      std::int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < xmax; ++x) {
        const std::uint8_t* p = src + size_t(x + xmin) * 3;
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      dst[xx * 3 + 0] = clip8(s0);
      dst[xx * 3 + 1] = clip8(s1);
      dst[xx * 3 + 2] = clip8(s2);
    }
  }
  return out;
}

RgbImage resampleVertical(const RgbImage& in, int outHeight, const Coefficients& c,
                          int boundShift) {
  const int width = in.width;
  RgbImage out{width, outHeight, std::vector<std::uint8_t>(size_t(width) * outHeight * 3)};
  for (int yy = 0; yy < outHeight; ++yy) {
    int ymin = c.bounds[yy * 2 + 0] - boundShift;
    int ymax = c.bounds[yy * 2 + 1];
    const std::int32_t* k = &c.weights[size_t(yy) * c.ksize];
    std::uint8_t* dst = &out.pixels[size_t(yy) * width * 3];
    for (int xx = 0; xx < width; ++xx) {
      std::int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int y = 0; y < ymax; ++y) {
        const std::uint8_t* p = &in.pixels[(size_t(y + ymin) * width + xx) * 3];
        s0 += p[0] * k[y];
        s1 += p[1] * k[y];
        s2 += p[2] * k[y];
      }
      dst[xx * 3 + 0] = clip8(s0);
      dst[xx * 3 + 1] = clip8(s1);
      dst[xx * 3 + 2] = clip8(s2);
    }
  }
  return out;
}

// PIL's ImagingResampleInner: a pass is skipped when its dimension is unchanged, and the horizontal
// pass only covers the rows the vertical pass will read.
RgbImage resampleConvolution(const RgbImage& in, int width, int height, const Filter& filter) {
  const float box[4] = {0.0f, 0.0f, float(in.width), float(in.height)};
  const bool needHorizontal = width != in.width || box[0] != 0.0f || box[2] != float(width);
  const bool needVertical = height != in.height || box[1] != 0.0f || box[3] != float(height);
  Coefficients horiz = precomputeCoefficients(in.width, box[0], box[2], width, filter);
  Coefficients vert = precomputeCoefficients(in.height, box[1], box[3], height, filter);
  const int yboxFirst = vert.bounds[0];
  const int yboxLast = vert.bounds[height * 2 - 2] + vert.bounds[height * 2 - 1];

  if (needHorizontal) {
    RgbImage temp = resampleHorizontal(in, width, yboxLast - yboxFirst, yboxFirst, horiz);
    if (!needVertical) return temp;
    return resampleVertical(temp, height, vert, yboxFirst);
  }
  if (needVertical) return resampleVertical(in, height, vert, 0);
  return in;
}

// PIL's NEAREST goes through ImagingScaleAffine: source coordinates accumulate in double, starting
// at half a step, and out-of-range samples stay black.
RgbImage resampleNearest(const RgbImage& in, int width, int height) {
  const double ax = double(in.width) / width;
  const double ay = double(in.height) / height;
  auto coord = [](double v) { return v < 0.0 ? -1 : static_cast<int>(v); };
  std::vector<int> xin(size_t(width), -1);
  double xo = ax * 0.5;
  for (int x = 0; x < width; ++x) {
    int xi = coord(xo);
    if (xi >= 0 && xi < in.width) xin[x] = xi;
    xo += ax;
  }
  RgbImage out{width, height, std::vector<std::uint8_t>(size_t(width) * height * 3, 0)};
  double yo = ay * 0.5;
  for (int y = 0; y < height; ++y) {
    int yi = coord(yo);
    if (yi >= 0 && yi < in.height) {
      const std::uint8_t* src = &in.pixels[size_t(yi) * in.width * 3];
      std::uint8_t* dst = &out.pixels[size_t(y) * width * 3];
      for (int x = 0; x < width; ++x) {
        if (xin[x] < 0) continue;
        dst[x * 3 + 0] = src[xin[x] * 3 + 0];
        dst[x * 3 + 1] = src[xin[x] * 3 + 1];
        dst[x * 3 + 2] = src[xin[x] * 3 + 2];
      }
    }
    yo += ay;
  }
  return out;
}

}  // namespace

PilFilter pilFilterFromInt(int value) {
  if (value < 0 || value > 5) {
    throw Error("unknown PIL resampling filter " + std::to_string(value) + " (expected 0..5)");
  }
  return static_cast<PilFilter>(value);
}

RgbImage resizePil(const RgbImage& image, int width, int height, PilFilter filter) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != size_t(image.width) * size_t(image.height) * 3) {
    throw Error("resizePil: empty or inconsistent input image (" + std::to_string(image.width) +
                "x" + std::to_string(image.height) + ", " + std::to_string(image.pixels.size()) +
                " bytes)");
  }
  if (width <= 0 || height <= 0 || std::int64_t(width) * height > kMaxImagePixels) {
    throw Error("resizePil: invalid target size " + std::to_string(width) + "x" +
                std::to_string(height));
  }
  if (width == image.width && height == image.height) return image;  // PIL returns a copy
  if (filter == PilFilter::nearest) return resampleNearest(image, width, height);
  return resampleConvolution(image, width, height, filterFor(filter));
}

}  // namespace hae
