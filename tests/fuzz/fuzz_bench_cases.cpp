// libFuzzer target for the bench's JSON-lines dataset reader (parseJsonlCases, what
// `hae bench --data FILE.jsonl` reads), then the answer metrics on what it read. The image check
// is a pure function here (a path naming "missing" is absent), so runs do not touch the disk and
// stay reproducible. The reader must return cases or throw hae::Error; each case must have its
// question, answer, images, a kind and a stable id; the metrics must stay in range. A crash, a
// sanitizer report, another exception type or a broken invariant is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "hae/bench.h"
#include "hae/error.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  constexpr int kFirst = 7;
  try {
    const auto cases = hae::bench::parseJsonlCases(
        in, "fuzz.jsonl", "data", kFirst,
        [](const std::string& p) { return p.find("missing") == std::string::npos; });
    require(!cases.empty());
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const hae::bench::BenchCase& c = cases[i];
      require(c.index == kFirst + static_cast<int>(i));
      require(!c.images.empty() && !c.id.empty() && !c.category.empty());
      require(c.id.rfind("data:", 0) == 0 && !c.demo_seed);
      require(c.kind == hae::bench::AnswerKind::Short || c.kind == hae::bench::AnswerKind::Long);
      require(hae::bench::exactMatch(c.answer, c.answer));
      const double self = hae::bench::tokenF1(c.answer, c.answer);
      require(self == 1.0);
      const double f1 = hae::bench::tokenF1(c.question, c.answer);
      require(f1 >= 0.0 && f1 <= 1.0);
      hae::bench::Shard shard{2, 3};
      (void)hae::bench::inShard(c, shard);
    }
  } catch (const hae::Error&) {
  }
  return 0;
}
