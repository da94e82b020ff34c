// The float half of Phi3VImageProcessor: the global view and the crop slots. The global view is
// torch's bicubic (A = -0.75, align_corners False, no antialias) on the *normalised* HD image;
// calling the same ATen kernel as the reference reproduces it bit for bit.
#include <ATen/ATen.h>

#include "hae/error.h"
#include "phi3v.h"

namespace hae {

at::Tensor phi3vPixelSlots(const Phi3vHdImage& hd, int slots) {
  const Phi3vLayout& l = hd.layout;
  const int crops = l.rows * l.cols;
  if (slots < crops + 1)
    throw Error("Phi-3.5-V preprocessing: " + std::to_string(slots) + " slots cannot hold " +
                std::to_string(crops) + " crops and the global view");
  const int64_t s = kPhi3vCropSize;
  auto image = at::from_blob(const_cast<float*>(hd.normalized.data()),
                             {1, 3, l.hdHeight(), l.hdWidth()}, at::kFloat);
  auto global = at::upsample_bicubic2d(image, {s, s}, /*align_corners=*/false);
  // hd.reshape(3, rows, 336, cols, 336).permute(1, 3, 0, 2, 4): crops row-major.
  auto tiles = image[0]
                   .reshape({3, l.rows, s, l.cols, s})
                   .permute({1, 3, 0, 2, 4})
                   .reshape({crops, 3, s, s});
  auto out = at::zeros({slots, 3, s, s}, at::kFloat);
  out.narrow(0, 0, 1).copy_(global);
  out.narrow(0, 1, crops).copy_(tiles);
  return out;
}

}  // namespace hae
