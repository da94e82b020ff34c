#include "tokenizer/bpe_model.h"

#include <cstdio>
#include <queue>

#include "hae/error.h"

namespace hae::tok {

BpeModel::BpeModel(std::unordered_map<std::string, int> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options, const JsonReader& reader, const std::string& mergesPath)
    : vocab_(std::move(vocab)), reverse_(reverseVocab(vocab_)), options_(std::move(options)) {
  const size_t prefixLen =
      options_.continuingSubwordPrefix ? options_.continuingSubwordPrefix->size() : 0;
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const auto ia = vocab_.find(a);
    if (ia == vocab_.end())
      reader.fail(indexPath(mergesPath, rank), "token '" + a + "' is not in the vocab");
    const auto ib = vocab_.find(b);
    if (ib == vocab_.end())
      reader.fail(indexPath(mergesPath, rank), "token '" + b + "' is not in the vocab");
    // The right half of a merge carries the continuing-subword prefix, the merged token only once.
    const bool strip =
        prefixLen > 0 && b.compare(0, prefixLen, *options_.continuingSubwordPrefix) == 0;
    const std::string merged = a + (strip ? b.substr(prefixLen) : b);
    const auto im = vocab_.find(merged);
    if (im == vocab_.end())
      reader.fail(indexPath(mergesPath, rank), "merged token '" + merged + "' is not in the vocab");
    merges_[pairKey(ia->second, ib->second)] = Merge{static_cast<int>(rank), im->second};
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    const auto it = vocab_.find(name);
    byteIds_[b] = it == vocab_.end() ? -1 : it->second;
  }
}

int BpeModel::unkId() const {
  const auto it = vocab_.find(*options_.unkToken);
  if (it == vocab_.end())
    throw Error("tokenizer: BPE unk_token '" + *options_.unkToken + "' is not in the vocab");
  return it->second;
}

std::vector<int> BpeModel::mergeWord(std::string_view word) const {
  struct Symbol {
    int id;
    int prev;
    int next;
    size_t len;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](int id, size_t len) {
    const int n = static_cast<int>(symbols.size());
    if (n > 0) symbols.back().next = n;
    symbols.push_back({id, n - 1, -1, len});
  };

  bool haveUnk = false;
  int unk = -1;
  size_t unkLen = 0;
  std::string symbol;
  for (size_t pos = 0; pos < word.size();) {
    const size_t start = pos;
    const auto lead = static_cast<unsigned char>(word[pos]);
    pos += lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (pos > word.size()) pos = word.size();
    const size_t byteLen = pos - start;
    symbol.assign(word.substr(start, byteLen));
    if (start > 0 && options_.continuingSubwordPrefix)
      symbol.insert(0, *options_.continuingSubwordPrefix);
    if (pos == word.size() && options_.endOfWordSuffix) symbol += *options_.endOfWordSuffix;

    if (const auto it = vocab_.find(symbol); it != vocab_.end()) {
      if (haveUnk) {
        add(unk, unkLen);
        haveUnk = false;
      }
      add(it->second, byteLen);
      continue;
    }
    if (options_.byteFallback) {
      bool all = true;
      for (unsigned char c : symbol) all = all && byteIds_[c] >= 0;
      if (all) {
        // As in HF, a pending unknown is not flushed here; it lands after these bytes.
        for (unsigned char c : symbol) add(byteIds_[c], 1);
        continue;
      }
    }
    if (options_.unkToken) {
      if (haveUnk && options_.fuseUnk) {
        unkLen += byteLen;
      } else {
        if (haveUnk) add(unk, unkLen);
        unk = unkId();
        unkLen = byteLen;
        haveUnk = true;
      }
    }
    // Without an unk_token, HF silently drops the character.
  }
  if (haveUnk) add(unk, unkLen);

  struct Candidate {
    int rank;
    int pos;
    int newId;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  for (size_t i = 0; i + 1 < symbols.size(); ++i) {
    const auto it = merges_.find(pairKey(symbols[i].id, symbols[i + 1].id));
    if (it != merges_.end()) queue.push({it->second.rank, static_cast<int>(i), it->second.newId});
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& cur = symbols[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    const int nextPos = cur.next;
    const Symbol right = symbols[nextPos];
    // Entries become stale when a neighbour merged first.
    const auto check = merges_.find(pairKey(cur.id, right.id));
    if (check == merges_.end() || check->second.newId != top.newId) continue;

    cur.id = top.newId;
    cur.len += right.len;
    cur.next = right.next;
    symbols[nextPos].len = 0;
    if (right.next > -1 && right.next < static_cast<int>(symbols.size()))
      symbols[right.next].prev = top.pos;

    if (cur.prev >= 0) {
      const auto it = merges_.find(pairKey(symbols[cur.prev].id, cur.id));
      if (it != merges_.end()) queue.push({it->second.rank, cur.prev, it->second.newId});
    }
    if (cur.next >= 0 && cur.next < static_cast<int>(symbols.size())) {
      const auto it = merges_.find(pairKey(cur.id, symbols[cur.next].id));
      if (it != merges_.end()) queue.push({it->second.rank, top.pos, it->second.newId});
    }
  }
  std::vector<int> ids;
  for (const auto& s : symbols)
    if (s.len != 0) ids.push_back(s.id);
  return ids;
}

void BpeModel::tokenize(std::string_view word, std::vector<int>& ids) const {
  if (word.empty()) return;
  if (options_.ignoreMerges) {
    if (const auto it = vocab_.find(std::string(word)); it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() < kCacheMaxWordBytes;
  if (cacheable) {
    std::lock_guard lock(cacheMutex_);
    if (const auto it = cache_.find(std::string(word)); it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int> merged = mergeWord(word);
  ids.insert(ids.end(), merged.begin(), merged.end());
  if (cacheable) {
    std::lock_guard lock(cacheMutex_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(word), std::move(merged));
  }
}

std::optional<int> BpeModel::tokenToId(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::idToToken(int id) const {
  const auto it = reverse_.find(id);
  return it == reverse_.end() ? nullptr : &it->second;
}

std::unique_ptr<Model> loadBpeModel(const Json& json, const JsonReader& reader,
                                    const std::string& path) {
  auto vocab = loadVocab(reader.required(json, "vocab", path), reader, childPath(path, "vocab"));
  const std::string mergesPath = childPath(path, "merges");
  std::vector<std::pair<std::string, std::string>> merges;
  if (const Json* list = reader.optional(json, "merges")) {
    reader.expectArray(*list, mergesPath);
    merges.reserve(list->size());
    for (size_t i = 0; i < list->size(); ++i) {
      const Json& m = (*list)[i];
      if (m.is_string()) {
        // Legacy "a b" form; tokens cannot contain spaces in it.
        const auto& s = m.get_ref<const std::string&>();
        const size_t space = s.find(' ');
        if (space == std::string::npos)
          reader.fail(indexPath(mergesPath, i), "expected \"left right\"");
        merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        reader.fail(indexPath(mergesPath, i), "expected a string or a pair");
      }
    }
  }
  BpeOptions options;
  options.unkToken = reader.optString(json, "unk_token", path);
  options.continuingSubwordPrefix = reader.optString(json, "continuing_subword_prefix", path);
  options.endOfWordSuffix = reader.optString(json, "end_of_word_suffix", path);
  options.fuseUnk = reader.optBool(json, "fuse_unk", path, false);
  options.byteFallback = reader.optBool(json, "byte_fallback", path, false);
  options.ignoreMerges = reader.optBool(json, "ignore_merges", path, false);
  if (const Json* dropout = reader.optional(json, "dropout")) {
    if (!dropout->is_number()) reader.fail(childPath(path, "dropout"), "expected a number or null");
    // Dropout randomises merges for training-time augmentation; inference wants it off.
  }
  return std::make_unique<BpeModel>(std::move(vocab), merges, std::move(options), reader,
                                    mergesPath);
}

}  // namespace hae::tok
