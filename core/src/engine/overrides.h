#pragma once
// What-if edits over any policy (issue 16): force-kept tokens are pinned in every layer's cache
// (LayerCache retains pinned slots whatever a policy keeps, and never bins or masks them), and
// force-evicted tokens leave every layer, and every KV head, at the end of prefill.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "../cache/kv_cache.h"
#include "../policies/policy.h"
#include "hae/session.h"

namespace hae {

// Throws hae::Error naming the position when an override names no token of the prompt, or both
// keeps and evicts one.
void checkOverrides(const KeepOverrides& o, const std::vector<TokenInfo>& prompt);
// The run report's record of the edits: "override.keep" / "override.evict", comma-separated.
std::map<std::string, std::string> overrideSettings(const KeepOverrides& o);
bool isForceKept(const KeepOverrides& o, int position);
// `rows` (ascending indices into `metas`) plus every pinned row: what a stage-V or stage-P drop
// must still pass to the decoder.
std::vector<std::int64_t> withPinnedRows(const std::vector<std::int64_t>& rows,
                                         const std::vector<SlotMeta>& metas);
// Drops the force-evicted tokens from every layer (and head), recording one Evict event each.
void applyForceEvict(const KeepOverrides& o, PolicyContext& ctx);

}  // namespace hae
