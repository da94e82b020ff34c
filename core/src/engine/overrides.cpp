#include "overrides.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "../policies/policy_util.h"
#include "hae/error.h"

namespace hae {

namespace {

bool contains(const std::vector<int>& list, int position) {
  return std::find(list.begin(), list.end(), position) != list.end();
}

std::string joined(const std::vector<int>& list) {
  std::vector<int> sorted = list;
  std::sort(sorted.begin(), sorted.end());
  return fmt::format("{}", fmt::join(sorted, ","));
}

}  // namespace

void checkOverrides(const KeepOverrides& o, const std::vector<TokenInfo>& prompt) {
  std::set<int> positions;
  for (const TokenInfo& t : prompt) positions.insert(t.position);
  auto check = [&](const std::vector<int>& list, const char* what) {
    for (int p : list)
      if (!positions.count(p))
        throw Error(fmt::format("what-if edit: {} position {} is not a token of the prompt "
                                "(positions 0..{})",
                                what, p, prompt.empty() ? 0 : prompt.back().position));
  };
  check(o.force_keep, "force-keep");
  check(o.force_evict, "force-evict");
  for (int p : o.force_keep)
    if (contains(o.force_evict, p))
      throw Error(fmt::format("what-if edit: position {} is both force-kept and force-evicted", p));
}

std::map<std::string, std::string> overrideSettings(const KeepOverrides& o) {
  std::map<std::string, std::string> out;
  if (!o.force_keep.empty()) out["override.keep"] = joined(o.force_keep);
  if (!o.force_evict.empty()) out["override.evict"] = joined(o.force_evict);
  return out;
}

bool isForceKept(const KeepOverrides& o, int position) { return contains(o.force_keep, position); }

std::vector<std::int64_t> withPinnedRows(const std::vector<std::int64_t>& rows,
                                         const std::vector<SlotMeta>& metas) {
  std::vector<std::int64_t> out = rows;
  for (std::size_t i = 0; i < metas.size(); ++i)
    if (metas[i].pinned) out.push_back(static_cast<std::int64_t>(i));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void applyForceEvict(const KeepOverrides& o, PolicyContext& ctx) {
  if (o.force_evict.empty()) return;
  // The original position (a renumbering policy may have moved the slot's rotary one).
  auto evicted = [&](const SlotMeta& s) { return contains(o.force_evict, ctx.tokens[s.token].position); };
  for (int l = 0; l < ctx.cache.numLayers(); ++l) {
    LayerCache& lc = ctx.cache.layer(l);
    const int event_layer = l == 0 ? -1 : -2;  // one event per token, for all layers
    if (!lc.perHead()) {
      Indices keep;
      for (int i = 0; i < lc.size(); ++i)
        if (!evicted(lc.slots()[i])) keep.push_back(i);
      keepSlots(ctx, l, keep, {}, event_layer);
      continue;
    }
    if (event_layer == -1)
      for (const SlotMeta& s : lc.slots())
        if (evicted(s)) recordEvent(ctx, EventKind::Evict, -1, s, 0);
    for (int h = 0; h < lc.numHeads(); ++h) {
      Indices keep;
      for (int i = 0; i < lc.headSize(h); ++i)
        if (!evicted(lc.headSlots(h)[i])) keep.push_back(i);
      lc.keepHead(h, keep);
    }
  }
}

}  // namespace hae
