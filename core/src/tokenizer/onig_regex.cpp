#include "tokenizer/onig_regex.h"

#include <oniguruma.h>

#include <mutex>
#include <stdexcept>

#include "hae/error.h"

namespace hae::tok {

struct OnigRegex::Compiled {
  regex_t* re = nullptr;
  ~Compiled() {
    if (re) onig_free(re);
  }
};

namespace {

void initOnce() {
  static std::once_flag flag;
  std::call_once(flag, [] {
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
  });
}

std::string onigMessage(int code, OnigErrorInfo* info) {
  OnigUChar buf[ONIG_MAX_ERROR_MESSAGE_LEN];
  const int n = info ? onig_error_code_to_str(buf, code, info) : onig_error_code_to_str(buf, code);
  return std::string(reinterpret_cast<const char*>(buf), n > 0 ? static_cast<size_t>(n) : 0);
}

}  // namespace

std::string OnigRegex::shortPattern(std::string_view pattern) {
  constexpr size_t kMax = 60;
  if (pattern.size() <= kMax) return std::string(pattern);
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(pattern[cut]) & 0xC0) == 0x80) --cut;
  return std::string(pattern.substr(0, cut)) + "...";
}

OnigRegex::OnigRegex(std::string_view pattern, std::string where)
    : compiled_(std::make_shared<Compiled>()), pattern_(pattern), where_(std::move(where)) {
  initOnce();
  OnigErrorInfo info{};
  const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
  const int rc = onig_new(&compiled_->re, p, p + pattern.size(), ONIG_OPTION_NONE,
                          ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &info);
  if (rc != ONIG_NORMAL) {
    compiled_->re = nullptr;
    throw std::invalid_argument(onigMessage(rc, &info));
  }
}

std::vector<std::pair<size_t, size_t>> OnigRegex::findAll(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  OnigRegion* region = onig_region_new();
  std::unique_ptr<OnigRegion, void (*)(OnigRegion*)> guard(
      region, [](OnigRegion* r) { onig_region_free(r, 1); });
  const auto* begin = reinterpret_cast<const OnigUChar*>(text.data());
  const auto* end = begin + text.size();
  size_t lastEnd = 0;
  bool haveLastMatch = false;
  size_t lastMatchEnd = 0;
  while (lastEnd <= text.size()) {
    const int r =
        onig_search(compiled_->re, begin, end, begin + lastEnd, end, region, ONIG_OPTION_NONE);
    if (r == ONIG_MISMATCH) break;
    if (r < 0) {
      // Oniguruma's limits (ONIG_DEFAULT_RETRY_LIMIT_IN_MATCH) are kept as HF tokenizers has
      // them, so a pattern that fails here fails there too; the message says which pattern.
      std::string what = "regex";
      if (!where_.empty()) what += " " + where_;
      what += " '" + shortPattern(pattern_) + "' failed: " + onigMessage(r, nullptr);
      if (r == ONIGERR_RETRY_LIMIT_IN_MATCH_OVER || r == ONIGERR_RETRY_LIMIT_IN_SEARCH_OVER)
        what += " (the pattern backtracks catastrophically on this text)";
      throw Error(what);
    }
    const auto s = static_cast<size_t>(region->beg[0]);
    const auto e = static_cast<size_t>(region->end[0]);
    if (s == e && haveLastMatch && lastMatchEnd == e) {
      // Step over one code point so an empty match cannot repeat forever.
      size_t step = 1;
      if (lastEnd < text.size()) {
        const auto b = static_cast<unsigned char>(text[lastEnd]);
        step = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
      }
      lastEnd += step;
      continue;
    }
    lastEnd = e;
    haveLastMatch = true;
    lastMatchEnd = e;
    out.emplace_back(s, e);
    if (s == e && e == text.size()) break;
  }
  return out;
}

}  // namespace hae::tok
