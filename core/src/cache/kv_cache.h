#pragma once
// The KV cache, built for eviction: every slot carries its original position and modality, slots
// are freed for real (storage is gathered into a smaller tensor), and bytes are the storage the
// tensors actually hold, not a count of unmasked entries.
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <vector>

#include "hae/telemetry.h"

namespace hae {

struct SlotMeta {
  int position = 0;  // rotary position (the original one unless a policy renumbered the cache)
  Modality modality = Modality::Text;
  int token = 0;     // index into the run's token list (prompt, then generated)
  bool binned = false;  // demoted to a policy's recycle bin: stored, not yet freed
  // What-if force-keep (SessionOptions::overrides): keep(), keepHead() and splitHeads() retain it
  // whatever they are given, and it is never binned or masked, so no policy can evict it.
  bool pinned = false;
  // M-RoPE families (Qwen2-VL): the (t, h, w) rotary position the key was rotated with. It is
  // metadata, not an index: `position` stays the token's place in the sequence (the causal mask).
  std::array<int, 3> mrope = {0, 0, 0};
};

class LayerCache {
 public:
  // k, v: [kv_heads, n, head_dim], already rotated. Grows storage geometrically.
  void append(const at::Tensor& k, const at::Tensor& v, const std::vector<SlotMeta>& metas);
  at::Tensor keys() const;    // [kv_heads, size, head_dim] view of live storage
  at::Tensor values() const;
  at::Tensor positions() const;  // int64 [size] original positions (for causal masks)
  // Additive mask [size] (0 or -inf) for slots that are stored but must not be attended, or an
  // undefined tensor when every slot is attended.
  at::Tensor attentionMask() const;
  int size() const { return static_cast<int>(slots_.size()); }
  const std::vector<SlotMeta>& slots() const { return slots_; }
  // Keeps the listed slots (ascending indices), and every pinned one, with one gather into
  // right-sized storage.
  void keep(const std::vector<std::int64_t>& slots);
  // `slots` (ascending indices into slots(), or into headSlots(head)) plus the pinned slots.
  std::vector<std::int64_t> withPinned(const std::vector<std::int64_t>& slots, int head = -1) const;
  // Replaces the live keys ([kv_heads, size, head_dim]) and the slots' positions: keys re-rotated
  // to new positions (HAE's pos.mode = renumber). Not for per-head storage.
  void rewriteKeys(const at::Tensor& keys, const std::vector<int>& positions);
  // Excludes a slot from attention without freeing it (a recycle bin that is not attended).
  void setAttended(int slot, bool attended);
  void setBinned(int slot, bool binned) {
    if (!slots_.at(slot).pinned) slots_[slot].binned = binned;
  }
  bool attended(int slot) const;
  int maskedCount() const { return masked_; }  // stored slots excluded from attention
  std::int64_t bytesHeld() const;  // allocated K+V storage
  void clear();

  // Per-KV-head storage (Ada-KV): every KV head keeps its own slots, so heads hold different
  // counts and memory is freed per head. Entered once with splitHeads (keep_per_head[h]: ascending
  // slot indices); later appends go to every head. slots() is then the union over heads, and
  // keys() / values() / keep() are not available (attention reads the heads one by one).
  bool perHead() const { return !heads_.empty(); }
  void splitHeads(const std::vector<std::vector<std::int64_t>>& keep_per_head);
  int numHeads() const { return static_cast<int>(heads_.size()); }
  int headSize(int h) const { return static_cast<int>(heads_.at(h).slots.size()); }
  at::Tensor headKeys(int h) const;       // [size_h, head_dim]
  at::Tensor headValues(int h) const;
  at::Tensor headPositions(int h) const;  // int64 [size_h]
  const std::vector<SlotMeta>& headSlots(int h) const { return heads_.at(h).slots; }
  // Keeps the listed slots (ascending indices into headSlots(h)) of head h, compacting its
  // storage in place; slots() becomes the union over heads again.
  void keepHead(int h, const std::vector<std::int64_t>& slots);

 private:
  struct HeadStore {
    at::Tensor k, v, pos;  // [capacity, head_dim], [capacity]
    std::vector<SlotMeta> slots;
  };
  void reserve(std::int64_t capacity);
  void appendPerHead(const at::Tensor& k, const at::Tensor& v, const std::vector<SlotMeta>& metas);
  std::vector<HeadStore> heads_;
  at::Tensor k_, v_, pos_;  // storage with capacity >= size
  std::vector<SlotMeta> slots_;
  std::vector<bool> attended_;
  int masked_ = 0;
  // The additive mask over the storage's capacity, kept while some slot is masked so a decode
  // step updates it in place (new slots, changed flags) instead of rebuilding it in every layer.
  mutable at::Tensor mask_;
  mutable std::vector<std::int64_t> mask_dirty_;  // slots whose flag changed since the last sync
};

class KvCache {
 public:
  void reset(int layers);
  int numLayers() const { return static_cast<int>(layers_.size()); }
  LayerCache& layer(int i) { return layers_.at(i); }
  const LayerCache& layer(int i) const { return layers_.at(i); }
  std::int64_t bytesHeld() const;

 private:
  std::vector<LayerCache> layers_;
};

}  // namespace hae
