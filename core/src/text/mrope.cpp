#include "mrope.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "hae/error.h"

namespace hae {

MropeLayout mropeLayout(const std::vector<std::int64_t>& ids,
                        const std::vector<std::array<std::int64_t, 3>>& grids, int merge,
                        int image_token_id, int vision_start_token_id, bool temporal_zero) {
  std::size_t images = 0;
  for (std::size_t i = 0; i + 1 < ids.size(); ++i)
    if (ids[i] == vision_start_token_id && ids[i + 1] == image_token_id) ++images;
  if (images > grids.size())
    throw Error(
        fmt::format("input_ids hold {} images (<|vision_start|> then an image token) but "
                    "image_grid_thw has {} grids",
                    images, grids.size()));
  MropeLayout out;
  out.positions.reserve(ids.size());
  int next = 0;
  std::size_t st = 0;
  auto text = [&](std::size_t end) {
    for (; st < end; ++st, ++next) out.positions.push_back({next, next, next});
  };
  for (std::size_t k = 0; k < images; ++k) {
    const auto it = std::find(ids.begin() + static_cast<std::ptrdiff_t>(st), ids.end(),
                              static_cast<std::int64_t>(image_token_id));
    const std::size_t ed = static_cast<std::size_t>(it - ids.begin());
    const auto [t, h, w] = grids[k];
    const std::int64_t gh = h / merge, gw = w / merge, count = t * gh * gw;
    if (ed + count > ids.size())
      throw Error(
          fmt::format("image {} (grid {}x{}x{}) needs {} image tokens from index {}, but "
                      "input_ids end at {}",
                      k, t, h, w, count, ed, ids.size()));
    text(ed);
    const int base = next;
    for (std::int64_t ti = 0; ti < t; ++ti)
      for (std::int64_t hi = 0; hi < gh; ++hi)
        for (std::int64_t wi = 0; wi < gw; ++wi)
          out.positions.push_back({base + static_cast<int>(temporal_zero ? 0 : ti),
                                   base + static_cast<int>(hi), base + static_cast<int>(wi)});
    st = ed + static_cast<std::size_t>(count);
    next = base + static_cast<int>(std::max({temporal_zero ? std::int64_t{1} : t, gh, gw}));
  }
  text(ids.size());
  int largest = -1;
  for (const auto& p : out.positions) largest = std::max({largest, p[0], p[1], p[2]});
  out.rope_delta = largest + 1 - static_cast<int>(ids.size());
  return out;
}

MropeRotary::MropeRotary(int head_dim, double theta, std::array<int, 3> section) {
  if (2 * (section[0] + section[1] + section[2]) != head_dim)
    throw Error(fmt::format("mrope_section [{}, {}, {}] does not cover head_dim {} / 2", section[0],
                            section[1], section[2], head_dim));
  // _compute_default_rope_parameters: 1 / theta^(arange(0, d, 2) / d) in fp32.
  auto exponent = torch::arange(0, head_dim, 2, torch::kInt64).to(torch::kFloat32) / head_dim;
  auto inv = torch::pow(at::Scalar(theta), exponent).reciprocal();
  inv_freq_ = torch::cat({inv, inv});
  // mrope_section * 2 = [s_t, s_h, s_w, s_t, s_h, s_w]: chunk c rotates by axis c mod 3.
  std::vector<std::int64_t> axis;
  for (int half = 0; half < 2; ++half)
    for (int a = 0; a < 3; ++a) axis.insert(axis.end(), section[a], a);
  axis_ = torch::tensor(axis, torch::kInt64);
}

std::pair<at::Tensor, at::Tensor> MropeRotary::cosSin(const at::Tensor& positions,
                                                      at::ScalarType dtype) const {
  auto pos =
      positions.dim() == 1 ? positions.unsqueeze(0).expand({3, positions.size(0)}) : positions;
  // Channel c of token i: position[axis[c]][i] * inv_freq[c], one fp32 product as in the
  // reference's (inv_freq @ position_ids), cos and sin then taken of the same angle.
  auto per_channel = pos.index_select(0, axis_.to(pos.device())).t().to(torch::kFloat32);
  auto emb = per_channel * inv_freq_.to(pos.device());
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

}  // namespace hae
