#include "kv_cache.h"

#include <torch/torch.h>

#include <limits>

namespace hae {

namespace {
// Grow by a quarter (at least 64 slots) so appends are amortised O(1) without holding twice the
// memory the cache needs.
std::int64_t grownCapacity(std::int64_t needed) { return std::max<std::int64_t>(needed + 64, needed * 5 / 4); }
}  // namespace

void LayerCache::reserve(std::int64_t capacity) {
  const std::int64_t n = size();
  auto grow = [&](const at::Tensor& old, at::IntArrayRef shape, const at::TensorOptions& opts) {
    auto fresh = torch::empty(shape, opts);
    if (n > 0) fresh.narrow(old.dim() == 1 ? 0 : 1, 0, n).copy_(old.narrow(old.dim() == 1 ? 0 : 1, 0, n));
    return fresh;
  };
  k_ = grow(k_, {k_.size(0), capacity, k_.size(2)}, k_.options());
  v_ = grow(v_, {v_.size(0), capacity, v_.size(2)}, v_.options());
  pos_ = grow(pos_, {capacity}, pos_.options());
}

void LayerCache::append(const at::Tensor& k, const at::Tensor& v, const std::vector<SlotMeta>& metas) {
  const std::int64_t n = k.size(1), old = size();
  if (!k_.defined()) {
    k_ = torch::empty({k.size(0), grownCapacity(n), k.size(2)}, k.options());
    v_ = torch::empty({v.size(0), grownCapacity(n), v.size(2)}, v.options());
    pos_ = torch::empty({grownCapacity(n)}, torch::TensorOptions().dtype(torch::kInt64).device(k.device()));
  } else if (old + n > k_.size(1)) {
    reserve(grownCapacity(old + n));
  }
  k_.narrow(1, old, n).copy_(k);
  v_.narrow(1, old, n).copy_(v);
  std::vector<std::int64_t> positions;
  positions.reserve(metas.size());
  for (const auto& m : metas) positions.push_back(m.position);
  pos_.narrow(0, old, n).copy_(torch::tensor(positions, torch::kInt64));
  slots_.insert(slots_.end(), metas.begin(), metas.end());
  attended_.insert(attended_.end(), metas.size(), true);
}

at::Tensor LayerCache::keys() const { return k_.narrow(1, 0, size()); }
at::Tensor LayerCache::values() const { return v_.narrow(1, 0, size()); }
at::Tensor LayerCache::positions() const { return pos_.narrow(0, 0, size()); }

at::Tensor LayerCache::attentionMask() const {
  if (masked_ == 0) return {};
  std::vector<float> mask(slots_.size(), 0.0f);
  for (std::size_t i = 0; i < mask.size(); ++i)
    if (!attended_[i]) mask[i] = -std::numeric_limits<float>::infinity();
  return torch::tensor(mask).to(k_.device());
}

void LayerCache::keep(const std::vector<std::int64_t>& slots) {
  if (static_cast<int>(slots.size()) == size()) return;
  auto index = torch::tensor(slots, torch::kInt64).to(k_.device());
  // index_select allocates exactly the kept size: the freed slots' memory is returned now.
  k_ = k_.index_select(1, index);
  v_ = v_.index_select(1, index);
  pos_ = pos_.index_select(0, index);
  std::vector<SlotMeta> kept;
  std::vector<bool> kept_attended;
  kept.reserve(slots.size());
  for (auto s : slots) {
    kept.push_back(slots_[s]);
    kept_attended.push_back(attended_[s]);
  }
  slots_ = std::move(kept);
  attended_ = std::move(kept_attended);
  masked_ = static_cast<int>(std::count(attended_.begin(), attended_.end(), false));
}

void LayerCache::setAttended(int slot, bool attended) {
  if (attended_.at(slot) == attended) return;
  attended_[slot] = attended;
  masked_ += attended ? -1 : 1;
}

bool LayerCache::attended(int slot) const { return attended_.at(slot); }

std::int64_t LayerCache::bytesHeld() const {
  if (!k_.defined()) return 0;
  return k_.numel() * k_.element_size() + v_.numel() * v_.element_size();
}

void LayerCache::clear() { *this = LayerCache(); }

void KvCache::reset(int layers) {
  layers_.clear();
  layers_.resize(layers);
}

std::int64_t KvCache::bytesHeld() const {
  std::int64_t total = 0;
  for (const auto& l : layers_) total += l.bytesHeld();
  return total;
}

}  // namespace hae
