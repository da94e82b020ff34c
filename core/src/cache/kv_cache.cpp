#include "kv_cache.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "hae/error.h"

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
  if (perHead()) return appendPerHead(k, v, metas);
  const std::int64_t n = k.size(1), old = size();
  if (!k_.defined()) {
    k_ = torch::empty({k.size(0), grownCapacity(n), k.size(2)}, k.options());
    v_ = torch::empty({v.size(0), grownCapacity(n), v.size(2)}, v.options());
    pos_ = torch::empty({grownCapacity(n)}, torch::TensorOptions().dtype(torch::kInt64).device(k.device()));
  } else if (old + n > k_.size(1)) {
    reserve(grownCapacity(old + n));
    mask_ = at::Tensor();  // rebuilt at the new capacity when next asked for
    mask_dirty_.clear();
  }
  if (mask_.defined()) mask_.narrow(0, old, n).zero_();
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
void LayerCache::rewriteKeys(const at::Tensor& keys, const std::vector<int>& positions) {
  TORCH_CHECK(!perHead() && keys.sizes() == this->keys().sizes() &&
                  static_cast<int>(positions.size()) == size(),
              "LayerCache::rewriteKeys: shapes differ from the cache's");
  k_.narrow(1, 0, size()).copy_(keys);
  for (int i = 0; i < size(); ++i) slots_[i].position = positions[i];
  std::vector<std::int64_t> wide(positions.begin(), positions.end());
  pos_.narrow(0, 0, size()).copy_(torch::tensor(wide, torch::kInt64));
}

at::Tensor LayerCache::positions() const { return pos_.narrow(0, 0, size()); }

at::Tensor LayerCache::attentionMask() const {
  if (masked_ == 0) return {};
  constexpr float kMasked = -std::numeric_limits<float>::infinity();
  if (!mask_.defined()) {
    std::vector<float> mask(k_.size(1), 0.0f);
    for (std::size_t i = 0; i < slots_.size(); ++i)
      if (!attended_[i]) mask[i] = kMasked;
    mask_ = torch::tensor(mask).to(k_.device());
    mask_dirty_.clear();
  } else if (!mask_dirty_.empty()) {
    std::vector<float> values;
    values.reserve(mask_dirty_.size());
    for (auto s : mask_dirty_) values.push_back(attended_[s] ? 0.0f : kMasked);
    mask_.index_copy_(0, torch::tensor(mask_dirty_, torch::kInt64).to(k_.device()),
                      torch::tensor(values).to(k_.device()));
    mask_dirty_.clear();
  }
  return mask_.narrow(0, 0, size());
}

std::vector<std::int64_t> LayerCache::withPinned(const std::vector<std::int64_t>& slots,
                                                 int head) const {
  const std::vector<SlotMeta>& metas = head < 0 ? slots_ : heads_.at(head).slots;
  std::vector<std::int64_t> out;
  out.reserve(slots.size());
  std::size_t k = 0;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(metas.size()); ++i) {
    const bool listed = k < slots.size() && slots[k] == i;
    if (listed) ++k;
    if (listed || metas[i].pinned) out.push_back(i);
  }
  for (; k < slots.size(); ++k) out.push_back(slots[k]);  // out of range: index_select reports it
  return out;
}

void LayerCache::keep(const std::vector<std::int64_t>& requested) {
  if (perHead()) throw Error("LayerCache::keep on a per-head cache: the heads hold different slots");
  const std::vector<std::int64_t> slots = withPinned(requested);
  if (static_cast<int>(slots.size()) == size()) return;
  auto index = torch::tensor(slots, torch::kInt64).to(k_.device());
  const auto m = static_cast<std::int64_t>(slots.size());
  auto k = k_.index_select(1, index), v = v_.index_select(1, index), pos = pos_.index_select(0, index);
  if (k_.size(1) <= grownCapacity(m)) {
    // Little to free (a slot or a few per step): compact in place, so the next appends reuse
    // this storage instead of reallocating and copying the whole cache again.
    k_.narrow(1, 0, m).copy_(k);
    v_.narrow(1, 0, m).copy_(v);
    pos_.narrow(0, 0, m).copy_(pos);
  } else {
    // Much to free: new storage sized for the kept slots plus the usual growth room; the old
    // storage (and with it the freed slots' memory) is returned now.
    const std::int64_t cap = grownCapacity(m);
    k_ = torch::empty({k.size(0), cap, k.size(2)}, k.options());
    v_ = torch::empty({v.size(0), cap, v.size(2)}, v.options());
    pos_ = torch::empty({cap}, pos.options());
    k_.narrow(1, 0, m).copy_(k);
    v_.narrow(1, 0, m).copy_(v);
    pos_.narrow(0, 0, m).copy_(pos);
  }
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
  mask_ = at::Tensor();  // slots moved: rebuilt when next asked for
  mask_dirty_.clear();
}

void LayerCache::setAttended(int slot, bool attended) {
  if (attended_.at(slot) == attended || (!attended && slots_.at(slot).pinned)) return;
  attended_[slot] = attended;
  masked_ += attended ? -1 : 1;
  if (masked_ == 0) {
    mask_ = at::Tensor();
    mask_dirty_.clear();
  } else if (mask_.defined()) {
    mask_dirty_.push_back(slot);
  }
}

bool LayerCache::attended(int slot) const { return attended_.at(slot); }

std::int64_t LayerCache::bytesHeld() const {
  if (perHead()) {
    std::int64_t total = 0;
    for (const auto& h : heads_) total += h.k.numel() * h.k.element_size() + h.v.numel() * h.v.element_size();
    return total;
  }
  if (!k_.defined()) return 0;
  return k_.numel() * k_.element_size() + v_.numel() * v_.element_size();
}

void LayerCache::clear() { *this = LayerCache(); }

void LayerCache::splitHeads(const std::vector<std::vector<std::int64_t>>& requested) {
  if (perHead()) throw Error("LayerCache::splitHeads: the cache is already per head");
  if (!k_.defined() || static_cast<std::int64_t>(requested.size()) != k_.size(0))
    throw Error("LayerCache::splitHeads: one keep list per KV head expected");
  std::vector<std::vector<std::int64_t>> keep_per_head;
  for (const auto& slots : requested) keep_per_head.push_back(withPinned(slots));
  std::vector<bool> any(slots_.size(), false);
  std::vector<HeadStore> heads(keep_per_head.size());
  for (std::size_t h = 0; h < heads.size(); ++h) {
    auto index = torch::tensor(keep_per_head[h], torch::kInt64).to(k_.device());
    // index_select allocates each head's storage at its exact size: the rest is freed below.
    heads[h].k = k_[static_cast<std::int64_t>(h)].index_select(0, index);
    heads[h].v = v_[static_cast<std::int64_t>(h)].index_select(0, index);
    heads[h].pos = pos_.index_select(0, index);
    for (auto s : keep_per_head[h]) heads[h].slots.push_back(slots_.at(s)), any[s] = true;
  }
  std::vector<SlotMeta> present;
  for (std::size_t i = 0; i < slots_.size(); ++i)
    if (any[i]) present.push_back(slots_[i]);
  heads_ = std::move(heads);
  slots_ = std::move(present);
  attended_.assign(slots_.size(), true);
  masked_ = 0;
  mask_ = at::Tensor();
  mask_dirty_.clear();
  k_ = at::Tensor();
  v_ = at::Tensor();
  pos_ = at::Tensor();
}

void LayerCache::appendPerHead(const at::Tensor& k, const at::Tensor& v, const std::vector<SlotMeta>& metas) {
  const std::int64_t n = k.size(1);
  std::vector<std::int64_t> positions;
  for (const auto& m : metas) positions.push_back(m.position);
  auto pos = torch::tensor(positions, torch::kInt64).to(k.device());
  for (std::size_t h = 0; h < heads_.size(); ++h) {
    HeadStore& st = heads_[h];
    const auto old = static_cast<std::int64_t>(st.slots.size());
    if (old + n > st.k.size(0)) {
      const std::int64_t cap = grownCapacity(old + n);
      auto grow = [&](const at::Tensor& t, at::IntArrayRef shape) {
        auto fresh = torch::empty(shape, t.options());
        if (old > 0) fresh.narrow(0, 0, old).copy_(t.narrow(0, 0, old));
        return fresh;
      };
      st.k = grow(st.k, {cap, st.k.size(1)});
      st.v = grow(st.v, {cap, st.v.size(1)});
      st.pos = grow(st.pos, {cap});
    }
    st.k.narrow(0, old, n).copy_(k[static_cast<std::int64_t>(h)]);
    st.v.narrow(0, old, n).copy_(v[static_cast<std::int64_t>(h)]);
    st.pos.narrow(0, old, n).copy_(pos);
    st.slots.insert(st.slots.end(), metas.begin(), metas.end());
  }
  slots_.insert(slots_.end(), metas.begin(), metas.end());
  attended_.insert(attended_.end(), metas.size(), true);
}

void LayerCache::keepHead(int h, const std::vector<std::int64_t>& requested) {
  const std::vector<std::int64_t> slots = withPinned(requested, h);
  HeadStore& st = heads_.at(h);
  if (slots.size() == st.slots.size()) return;
  auto index = torch::tensor(slots, torch::kInt64).to(st.k.device());
  const auto m = static_cast<std::int64_t>(slots.size());
  // index_select copies first, so compacting into the same storage is safe.
  st.k.narrow(0, 0, m).copy_(st.k.index_select(0, index));
  st.v.narrow(0, 0, m).copy_(st.v.index_select(0, index));
  st.pos.narrow(0, 0, m).copy_(st.pos.index_select(0, index));
  std::vector<SlotMeta> kept;
  for (auto s : slots) kept.push_back(st.slots.at(static_cast<std::size_t>(s)));
  st.slots = std::move(kept);
  // The union over heads, in token order (each head's slots are in token order).
  std::vector<SlotMeta> all;
  for (const auto& head : heads_) all.insert(all.end(), head.slots.begin(), head.slots.end());
  std::stable_sort(all.begin(), all.end(),
                   [](const SlotMeta& a, const SlotMeta& b) { return a.token < b.token; });
  all.erase(std::unique(all.begin(), all.end(),
                        [](const SlotMeta& a, const SlotMeta& b) { return a.token == b.token; }),
            all.end());
  slots_ = std::move(all);
  attended_.assign(slots_.size(), true);
}

at::Tensor LayerCache::headKeys(int h) const { return heads_.at(h).k.narrow(0, 0, headSize(h)); }
at::Tensor LayerCache::headValues(int h) const { return heads_.at(h).v.narrow(0, 0, headSize(h)); }
at::Tensor LayerCache::headPositions(int h) const { return heads_.at(h).pos.narrow(0, 0, headSize(h)); }

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
