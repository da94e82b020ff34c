// The JSON run report read back: the inverse of report_json.cpp, field by field against
// resources/schemas/run-report.schema.json. A file that reads is one the writer could have written
// (the derived numbers are recomputed and compared), so what the studio reopens behaves exactly as
// the live run did, and hostile files fail with the JSON path of the first bad field.
#include "hae/report_read.h"

#include <cfloat>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hae/error.h"

namespace hae {

namespace {

using nlohmann::json;

// Beyond anything a real run holds; they keep every sum and product summarizeRun and the writers
// form within 64 bits (and byte counts exact in a double).
constexpr std::int64_t kMaxBytes = std::int64_t{1} << 53;
constexpr std::int64_t kMaxSlots = std::int64_t{1} << 28;
constexpr std::int64_t kMaxKvBytesPerToken = std::int64_t{1} << 40;
constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{1} << 30;

std::string describe(const json& v) {
  if (v.is_number()) return "number " + v.dump();
  if (v.is_string()) return "string " + v.dump().substr(0, 40);
  return v.type_name();
}

// Doubles in messages as JSON writes them (shortest text that reads back to the same value).
std::string text(double d) {
  return std::isfinite(d) ? json(d).dump() : "null";
}

// A value in the document and its JSON path ("steps[3].layers[1].bin"), for messages.
class Node {
 public:
  Node(const json& value, const std::string& file, std::string path)
      : v_(value), file_(file), path_(std::move(path)) {}

  const json& value() const { return v_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(file_ + ": " + (path_.empty() ? std::string("top level") : path_) + ": " + what);
  }
  [[noreturn]] void failType(const char* expected) const {
    fail(std::string("expected ") + expected + ", got " + describe(v_));
  }

  Node member(const std::string& key) const {
    return Node(v_.at(key), file_, path_.empty() ? key : path_ + "." + key);
  }
  Node element(std::size_t i) const {
    return Node(v_[i], file_, path_ + "[" + std::to_string(i) + "]");
  }
  // A key that is absent, for "missing" and "unknown field" messages.
  Node absent(const std::string& key) const {
    return Node(v_, file_, path_.empty() ? key : path_ + "." + key);
  }

  std::int64_t int64(std::int64_t lo, std::int64_t hi) const {
    if (!v_.is_number_integer()) failType("an integer");
    if (v_.is_number_unsigned()) {
      const auto u = v_.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(hi)) outOfRange(lo, hi);
      return static_cast<std::int64_t>(u);
    }
    const auto s = v_.get<std::int64_t>();
    if (s < lo || s > hi) outOfRange(lo, hi);
    return s;
  }
  int integer(std::int64_t lo = std::numeric_limits<int>::min(), std::int64_t hi = kIntMax) const {
    return static_cast<int>(int64(lo, hi));
  }

  // A number, or null for a value the writer found not finite (read back as NaN).
  double number(bool nullable, bool non_negative) const {
    if (nullable && v_.is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (!v_.is_number()) failType(nullable ? "a number or null" : "a number");
    const double d = v_.get<double>();
    if (!std::isfinite(d)) fail("is not finite");
    if (non_negative && d < 0) fail("must not be negative, got " + v_.dump());
    return d;
  }
  double ms() const { return number(true, true); }
  float single(bool nullable, bool non_negative) const {
    const double d = number(nullable, non_negative);
    // Out of float range, the conversion would be undefined behaviour.
    if (std::isfinite(d) && std::fabs(d) > FLT_MAX)
      fail(v_.dump() + " is outside the range of a float");
    return static_cast<float>(d);
  }

  std::string string() const {
    if (!v_.is_string()) failType("a string");
    return v_.get<std::string>();
  }
  bool boolean() const {
    if (!v_.is_boolean()) failType("a boolean");
    return v_.get<bool>();
  }
  std::size_t array() const {
    if (!v_.is_array()) failType("an array");
    return v_.size();
  }

 private:
  [[noreturn]] void outOfRange(std::int64_t lo, std::int64_t hi) const {
    fail(v_.dump() + " is out of range (" + std::to_string(lo) + " to " + std::to_string(hi) + ")");
  }

  const json& v_;
  const std::string& file_;
  std::string path_;
};

// An object whose keys are exactly `required` plus any of `optional`: the writer writes nothing
// else, so an unknown key is a file from elsewhere (or a typo) and is refused.
class Object {
 public:
  Object(const Node& node, std::initializer_list<const char*> required,
         std::initializer_list<const char*> optional = {})
      : node_(node) {
    if (!node.value().is_object()) node.failType("an object");
    for (const char* key : required)
      if (!node.value().contains(key)) node.absent(key).fail("missing");
    for (const auto& item : node.value().items()) {
      bool known = false;
      for (const char* key : required) known = known || item.key() == key;
      for (const char* key : optional) known = known || item.key() == key;
      if (!known) node.absent(item.key()).fail("unknown field");
    }
  }
  Node operator[](const char* key) const { return node_.member(key); }
  bool has(const char* key) const { return node_.value().contains(key); }

 private:
  Node node_;
};

Modality modality(const Node& n) {
  const std::string name = n.string();
  for (int m = 0; m < kModalityCount; ++m)
    if (name == modalityName(static_cast<Modality>(m))) return static_cast<Modality>(m);
  n.fail("'" + name + "' is not a modality (prefix, visual, separator, text, generated)");
}

EventKind eventKind(const Node& n) {
  const std::string name = n.string();
  for (EventKind k : {EventKind::Evict, EventKind::Demote, EventKind::Restore, EventKind::Purge})
    if (name == eventKindName(k)) return k;
  n.fail("'" + name + "' is not an event kind (evict, demote, restore, purge)");
}

// {"prefix": .., "visual": .., ...}, one value per modality.
template <typename T, typename Read>
void perModality(const Node& n, T (&out)[kModalityCount], Read read) {
  const Object o(n, {"prefix", "visual", "separator", "text", "generated"});
  for (int m = 0; m < kModalityCount; ++m) out[m] = read(o[modalityName(static_cast<Modality>(m))]);
}

void readModel(const Node& n, RunInfo& info) {
  const Object m(n, {"name", "path", "num_layers", "kv_bytes_per_token", "device", "threads"});
  info.model_name = m["name"].string();
  info.model_path = m["path"].string();
  info.num_layers = m["num_layers"].integer(0);
  info.kv_bytes_per_token = m["kv_bytes_per_token"].int64(0, kMaxKvBytesPerToken);
  info.device = m["device"].string();
  info.threads = m["threads"].integer(0);
}

void readPolicy(const Node& n, RunInfo& info) {
  const Object p(n, {"name", "knobs"});
  info.policy_name = p["name"].string();
  const Node knobs = p["knobs"];
  if (!knobs.value().is_object()) knobs.failType("an object");
  for (const auto& item : knobs.value().items())
    info.knobs[item.key()] = knobs.member(item.key()).string();
}

PatchRect region(const Node& n) {
  const Object r(n, {"x", "y", "w", "h"});
  return {r["x"].single(false, false), r["y"].single(false, false), r["w"].single(false, true),
          r["h"].single(false, true)};
}

void readInputs(const Node& n, RunInfo& info) {
  const Object in(n, {"prompt", "images"});
  info.prompt = in["prompt"].string();
  const Node images = in["images"];
  for (std::size_t i = 0, count = images.array(); i < count; ++i) {
    const Node im = images.element(i);
    const Object o(im, {"path", "width", "height", "grids"});
    ImageInfo image;
    image.path = o["path"].string();
    image.width = o["width"].integer(0);
    image.height = o["height"].integer(0);
    const Node grids = o["grids"];
    for (std::size_t g = 0, gc = grids.array(); g < gc; ++g) {
      const Object go(grids.element(g), {"image", "crop", "rows", "cols", "region", "global"});
      CropGrid grid;
      grid.image = go["image"].integer(0);
      grid.crop = go["crop"].integer(0);
      // rows x cols must stay an int wherever a view counts the grid's cells.
      grid.rows = go["rows"].integer(0, 1 << 15);
      grid.cols = go["cols"].integer(0, 1 << 15);
      grid.region = region(go["region"]);
      grid.global = go["global"].boolean();
      image.grids.push_back(grid);
    }
    info.images.push_back(std::move(image));
  }
}

void readTokens(const Node& n, RunInfo& info) {
  for (std::size_t i = 0, count = n.array(); i < count; ++i) {
    const Node tn = n.element(i);
    const Object o(tn, {"position", "id", "modality", "text"}, {"image", "crop", "row", "col"});
    TokenInfo t;
    t.position = o["position"].integer(0);
    t.id = o["id"].integer();
    t.modality = modality(o["modality"]);
    t.text = o["text"].string();
    for (const char* key : {"image", "crop", "row", "col"}) {
      if (t.modality != Modality::Visual) {
        // The writer stores where a token sits on the image for visual tokens only.
        if (o.has(key)) tn.absent(key).fail("only visual tokens have one");
        continue;
      }
      if (!o.has(key)) tn.absent(key).fail("missing (a visual token has image, crop, row and col)");
    }
    if (t.modality == Modality::Visual) {
      t.image = o["image"].integer(0);
      t.crop = o["crop"].integer(0);
      t.row = o["row"].integer(0);
      t.col = o["col"].integer(0);
    }
    info.tokens.push_back(std::move(t));
  }
}

// The writer lists exactly the visual tokens' indices, in order (Session builds it that way), and
// the patch states depend on it: one character per entry.
void readVisualTokens(const Node& n, RunInfo& info) {
  std::vector<int> expected;
  for (std::size_t i = 0; i < info.tokens.size(); ++i)
    if (info.tokens[i].modality == Modality::Visual) expected.push_back(static_cast<int>(i));
  const std::size_t count = n.array();
  for (std::size_t i = 0; i < count; ++i) {
    const Node e = n.element(i);
    const int index = e.integer(0);
    if (i >= expected.size() || index != expected[i])
      e.fail("token " + std::to_string(index) + " is not the " + std::to_string(i + 1) +
             "th visual token of tokens (" +
             (i < expected.size() ? "that is token " + std::to_string(expected[i])
                                  : "tokens holds " + std::to_string(expected.size())) +
             ")");
  }
  if (count != expected.size())
    n.fail("lists " + std::to_string(count) + " tokens, but tokens holds " +
           std::to_string(expected.size()) + " visual ones");
  info.visual_tokens = std::move(expected);
}

std::vector<TokenChoice> readChoices(const Node& n) {
  std::vector<TokenChoice> out;
  for (std::size_t i = 0, count = n.array(); i < count; ++i) {
    const Object o(n.element(i), {"id", "prob", "text"});
    TokenChoice c;
    c.id = o["id"].integer(0);
    c.prob = o["prob"].single(true, true);
    c.text = o["text"].string();
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<float> readFloats(const Node& n, std::size_t expected, const char* what) {
  const std::size_t count = n.array();
  if (count != expected)
    n.fail("has " + std::to_string(count) + " values, expected " + std::to_string(expected) + " (" +
           what + ")");
  std::vector<float> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = n.element(i).single(true, true);
  return out;
}

// Issue 16's shadow of one step (core/src/engine/shadow.h); layers and visual_attention rows are
// the step's layers, a row one value per visual token.
ShadowStep readShadow(const Node& n, std::size_t layer_count, std::size_t visual_count) {
  const Object o(n, {"kl", "total_variation", "top1_agree", "policy_token_rank", "full_token_id",
                     "top_full", "top_policy", "layers", "visual_attention", "ms"});
  ShadowStep s;
  s.kl = o["kl"].number(true, true);
  s.total_variation = o["total_variation"].number(true, true);
  s.top1_agree = o["top1_agree"].boolean();
  s.policy_token_rank = o["policy_token_rank"].integer(-1);
  s.full_token_id = o["full_token_id"].integer(-1);
  s.top_full = readChoices(o["top_full"]);
  s.top_policy = readChoices(o["top_policy"]);
  const Node layers = o["layers"];
  const std::size_t count = layers.array();
  if (count != layer_count && count != 0)
    layers.fail("has " + std::to_string(count) + " entries, expected one per layer (" +
                std::to_string(layer_count) + ")");
  for (std::size_t l = 0; l < count; ++l) {
    const Object lo(layers.element(l), {"missed_evicted", "missed_binned"});
    ShadowLayer sl;
    auto value = [](const Node& v) { return v.single(true, true); };
    perModality(lo["missed_evicted"], sl.missed_evicted, value);
    perModality(lo["missed_binned"], sl.missed_binned, value);
    s.layers.push_back(sl);
  }
  const Node visual = o["visual_attention"];
  const std::size_t rows = visual.array();
  if (rows != layer_count && rows != 0)
    visual.fail("has " + std::to_string(rows) + " rows, expected one per layer (" +
                std::to_string(layer_count) + ")");
  for (std::size_t l = 0; l < rows; ++l)
    s.visual_attention.push_back(readFloats(visual.element(l), visual_count, "one per visual token"));
  s.ms = o["ms"].ms();
  return s;
}

RegretKind regretKind(const Node& n) {
  const std::string name = n.string();
  for (RegretKind k : {RegretKind::RegrettedPurge, RegretKind::TimelyRestore})
    if (name == regretKindName(k)) return k;
  n.fail("'" + name + "' is not a regret kind (regretted_purge, timely_restore)");
}

StepTelemetry readStep(const Node& n, std::size_t visual_count) {
  const Object o(n,
                 {"step", "token_id", "token_text", "context_length", "model_ms", "policy_ms",
                  "cache_bytes", "layers", "events", "patch_states"},
                 {"probes", "merged", "shadow", "regrets", "attention"});
  StepTelemetry t;
  // Bounded so the writers' step arithmetic (tokens + step) stays an int.
  t.step = o["step"].integer(0, kMaxSlots);
  t.token_id = o["token_id"].integer(-1);
  t.token_text = o["token_text"].string();
  t.context_length = o["context_length"].integer(0, kMaxSlots);
  t.model_ms = o["model_ms"].ms();
  t.policy_ms = o["policy_ms"].ms();

  const Node layers = o["layers"];
  std::int64_t total = 0;
  for (std::size_t l = 0, count = layers.array(); l < count; ++l) {
    const Node ln = layers.element(l);
    const Object lo(ln, {"layer", "live", "bin", "bytes", "ms"});
    const Node index = lo["layer"];
    if (index.integer(0) != static_cast<std::int64_t>(l))
      index.fail("is " + index.value().dump() + ", expected " + std::to_string(l) +
                 " (layers are listed in order)");
    LayerStats s;
    perModality(lo["live"], s.live, [](const Node& v) { return v.integer(0, kMaxSlots); });
    s.bin = lo["bin"].integer(0, kMaxSlots);
    s.bytes = lo["bytes"].int64(0, kMaxBytes);
    s.ms = lo["ms"].ms();
    if (s.bytes > kMaxBytes - total)
      ln.fail("the layers of this step hold more than 2^53 bytes together");
    total += s.bytes;
    t.layers.push_back(s);
  }
  const Node cache = o["cache_bytes"];
  if (cache.int64(0, kMaxBytes) != total)
    cache.fail(cache.value().dump() + " is not the sum of the layers' bytes (" +
               std::to_string(total) + ")");

  const Node events = o["events"];
  for (std::size_t e = 0, count = events.array(); e < count; ++e) {
    const Object eo(events.element(e), {"kind", "layer", "head", "position", "modality", "score"});
    PolicyEvent ev;
    ev.kind = eventKind(eo["kind"]);
    ev.step = t.step;  // not stored: an event is listed under its step
    ev.layer = eo["layer"].integer(-1);
    ev.head = eo["head"].integer(-1);
    ev.position = eo["position"].integer(0);
    ev.modality = modality(eo["modality"]);
    ev.score = eo["score"].single(true, false);
    t.events.push_back(ev);
  }

  const Node patches = o["patch_states"];
  const std::size_t patch_count = patches.array();
  if (patch_count != t.layers.size())
    patches.fail("has " + std::to_string(patch_count) + " strings, expected one per layer (" +
                 std::to_string(t.layers.size()) + ")");
  for (std::size_t l = 0; l < patch_count; ++l) {
    const Node pn = patches.element(l);
    const std::string s = pn.string();
    if (s.size() != visual_count)
      pn.fail("has " + std::to_string(s.size()) + " characters, expected one per visual token (" +
              std::to_string(visual_count) + ")");
    std::vector<PatchState> states(s.size());
    for (std::size_t v = 0; v < s.size(); ++v) {
      if (s[v] == 'k')
        states[v] = PatchState::Kept;
      else if (s[v] == 'b')
        states[v] = PatchState::InBin;
      else if (s[v] == 'e')
        states[v] = PatchState::Evicted;
      else
        pn.fail("character " + std::to_string(v) + " is " +
                json(std::string(1, s[v])).dump(-1, ' ', false, json::error_handler_t::replace) +
                ", expected k (kept), b (recycle bin) or e (evicted)");
    }
    t.patch_states.push_back(std::move(states));
  }

  if (o.has("probes")) {
    const Node probes = o["probes"];
    for (std::size_t p = 0, count = probes.array(); p < count; ++p) {
      const Object po(probes.element(p), {"attn_variance", "sparsity", "overlap_with_first"});
      LayerProbe probe;
      auto value = [](const Node& v) { return v.number(true, false); };
      perModality(po["attn_variance"], probe.attn_variance, value);
      perModality(po["sparsity"], probe.sparsity, value);
      probe.overlap_with_first = po["overlap_with_first"].number(true, false);
      t.probes.push_back(probe);
    }
  }
  if (o.has("merged")) {
    const Node merged = o["merged"];
    for (std::size_t i = 0, count = merged.array(); i < count; ++i) {
      const Object mo(merged.element(i), {"position", "members"});
      MergedToken m;
      m.position = mo["position"].integer(0, kMaxSlots);
      const Node members = mo["members"];
      for (std::size_t k = 0, n = members.array(); k < n; ++k)
        m.members.push_back(members.element(k).integer(0, kMaxSlots));
      t.merged.push_back(std::move(m));
    }
  }
  if (o.has("shadow")) t.shadow = readShadow(o["shadow"], t.layers.size(), visual_count);
  if (o.has("regrets")) {
    const Node regrets = o["regrets"];
    for (std::size_t i = 0, count = regrets.array(); i < count; ++i) {
      const Object ro(regrets.element(i),
                      {"kind", "position", "layer", "event_step", "wanted_step", "attention"});
      RegretEvent r;
      r.kind = regretKind(ro["kind"]);
      r.position = ro["position"].integer(0);
      r.layer = ro["layer"].integer(-1);
      r.event_step = ro["event_step"].integer(0, kMaxSlots);
      r.wanted_step = ro["wanted_step"].integer(0, kMaxSlots);
      r.attention = ro["attention"].single(true, true);
      t.regrets.push_back(r);
    }
  }
  if (o.has("attention")) {
    const Node attention = o["attention"];
    const std::size_t count = attention.array();
    if (count != t.layers.size())
      attention.fail("has " + std::to_string(count) + " entries, expected one per layer (" +
                     std::to_string(t.layers.size()) + ")");
    for (std::size_t l = 0; l < count; ++l) {
      const Object ao(attention.element(l), {"heads", "weights"});
      StepAttention a;
      a.heads = ao["heads"].integer(0, 1 << 16);
      a.weights = readFloats(ao["weights"], static_cast<std::size_t>(a.heads) * visual_count,
                             "heads x visual tokens");
      t.attention.push_back(std::move(a));
    }
  }
  return t;
}

// The writer's derived numbers. A double matches when the file holds the same value, or null for
// one that is not finite; the writer prints doubles so they read back exactly (see the tests).
void expectSame(const Node& n, double got, double want) {
  const bool same = std::isfinite(want) ? got == want : std::isnan(got);
  if (!same) n.fail(text(got) + " does not match the steps (they give " + text(want) + ")");
}

void expectSame(const Node& n, std::int64_t got, std::int64_t want) {
  if (got != want)
    n.fail(std::to_string(got) + " does not match the steps (they give " + std::to_string(want) +
           ")");
}

std::optional<std::int64_t> optionalBytes(const Node& n) {
  if (n.value().is_null()) return std::nullopt;
  if (!n.value().is_number_integer()) n.failType("an integer or null");
  return n.int64(0, std::numeric_limits<std::int64_t>::max());
}

// summarizeRun multiplies token and slot counts by kv_bytes_per_token: refuse what would overflow.
void checkSummaryFits(const Node& model, const RunInfo& info,
                      const std::vector<StepTelemetry>& steps) {
  if (info.kv_bytes_per_token == 0) return;
  std::int64_t tokens = static_cast<std::int64_t>(info.tokens.size());
  for (const auto& t : steps) tokens += t.step != 0;
  std::int64_t product = 0;
  if (__builtin_mul_overflow(tokens, info.kv_bytes_per_token, &product))
    model.member("kv_bytes_per_token")
        .fail("times the run's " + std::to_string(tokens) + " tokens overflows 64 bits");
  if (steps.empty()) return;
  std::int64_t slots = 0;
  for (std::size_t l = 0; l < steps.back().layers.size(); ++l)
    slots += steps.back().liveSlots(static_cast<int>(l)) + steps.back().layers[l].bin;
  if (__builtin_mul_overflow(slots, info.kv_bytes_per_token, &product))
    model.member("kv_bytes_per_token")
        .fail("times the " + std::to_string(slots) + " slots of the last step overflows 64 bits");
}

ReportSummary readSummary(const Object& top, const RunInfo& info,
                          const std::vector<StepTelemetry>& steps) {
  const Object t(top["timings"],
                 {"prefill_ms", "prefill_model_ms", "prefill_policy_ms", "decode_ms",
                  "decode_model_ms", "decode_policy_ms", "decode_ms_per_token", "total_ms"});
  const Object s(top["summary"], {"prompt_tokens", "visual_tokens", "generated_tokens",
                                  "prefill_ms", "decode_ms_per_token", "policy_share",
                                  "peak_cache_bytes", "mean_cache_bytes", "final_cache_bytes",
                                  "full_cache_bytes", "held_cache_bytes", "reduction_vs_full"});
  // Types first, so a malformed value is reported as such rather than as a mismatch.
  double timing[8];
  const char* timing_keys[8] = {"prefill_ms",          "prefill_model_ms", "prefill_policy_ms",
                                "decode_ms",           "decode_model_ms",  "decode_policy_ms",
                                "decode_ms_per_token", "total_ms"};
  for (int i = 0; i < 8; ++i) timing[i] = t[timing_keys[i]].ms();
  const int prompt_tokens = s["prompt_tokens"].integer(0);
  const int visual_tokens = s["visual_tokens"].integer(0);
  const int generated_tokens = s["generated_tokens"].integer(0);
  const double prefill_ms = s["prefill_ms"].ms();
  const double per_token = s["decode_ms_per_token"].ms();
  const double policy_share = s["policy_share"].number(true, true);
  const std::int64_t peak = s["peak_cache_bytes"].int64(0, kMaxBytes);
  const std::int64_t mean = s["mean_cache_bytes"].int64(0, kMaxBytes);
  const std::int64_t final_bytes = s["final_cache_bytes"].int64(0, kMaxBytes);
  const auto full = optionalBytes(s["full_cache_bytes"]);
  const auto held = optionalBytes(s["held_cache_bytes"]);
  const double reduction = s["reduction_vs_full"].number(true, false);

  checkSummaryFits(top["model"], info, steps);
  const ReportSummary want = summarizeRun(info, steps);
  // A time the writer found not finite is null in the file and NaN here, so sums over it cannot be
  // recomputed (infinity became NaN): a null derived time is taken as written then.
  bool unknown_times = false;
  for (const auto& step : steps)
    unknown_times = unknown_times || std::isnan(step.model_ms) || std::isnan(step.policy_ms);
  auto sameTime = [&](const Node& n, double got, double wanted) {
    if (unknown_times && (std::isnan(got) || !std::isfinite(wanted))) return;
    expectSame(n, got, wanted);
  };
  const double want_timing[8] = {want.prefill_ms,          want.prefill_model_ms,
                                 want.prefill_policy_ms,   want.decode_ms,
                                 want.decode_model_ms,     want.decode_policy_ms,
                                 want.decode_ms_per_token, want.prefill_ms + want.decode_ms};
  for (int i = 0; i < 8; ++i) sameTime(t[timing_keys[i]], timing[i], want_timing[i]);
  expectSame(s["prompt_tokens"], std::int64_t{prompt_tokens}, std::int64_t{want.prompt_tokens});
  expectSame(s["visual_tokens"], std::int64_t{visual_tokens}, std::int64_t{want.visual_tokens});
  expectSame(s["generated_tokens"], std::int64_t{generated_tokens},
             std::int64_t{want.generated_tokens});
  sameTime(s["prefill_ms"], prefill_ms, want.prefill_ms);
  sameTime(s["decode_ms_per_token"], per_token, want.decode_ms_per_token);
  sameTime(s["policy_share"], policy_share, want.policy_share);
  expectSame(s["peak_cache_bytes"], peak, want.peak_cache_bytes);
  expectSame(s["mean_cache_bytes"], mean, want.mean_cache_bytes);
  expectSame(s["final_cache_bytes"], final_bytes, want.final_cache_bytes);
  auto sameOptional = [](const Node& n, const auto& got, const auto& wanted) {
    if (got.has_value() != wanted.has_value())
      n.fail(std::string(got ? "is set" : "is null") + " but the steps give " +
             (wanted ? "a value" : "null") + " (null when kv_bytes_per_token is 0)");
    if (got) expectSame(n, *got, *wanted);
  };
  sameOptional(s["full_cache_bytes"], full, want.full_cache_bytes);
  sameOptional(s["held_cache_bytes"], held, want.held_cache_bytes);
  const std::optional<double> reduction_read =
      s["reduction_vs_full"].value().is_null() ? std::nullopt : std::optional<double>(reduction);
  // The writer's optional() stores a non-finite reduction as null too.
  const std::optional<double> reduction_want =
      want.reduction_vs_full && std::isfinite(*want.reduction_vs_full) ? want.reduction_vs_full
                                                                       : std::nullopt;
  sameOptional(s["reduction_vs_full"], reduction_read, reduction_want);
  // The times as the file states them (equal to want's wherever they could be checked).
  ReportSummary out = want;
  double* const out_timing[7] = {
      &out.prefill_ms,      &out.prefill_model_ms, &out.prefill_policy_ms,  &out.decode_ms,
      &out.decode_model_ms, &out.decode_policy_ms, &out.decode_ms_per_token};
  for (int i = 0; i < 7; ++i) *out_timing[i] = timing[i];
  out.policy_share = policy_share;
  return out;
}

// On a parse error, where in the document it happened, so a truncated file names the field it
// stopped in ("steps[3].token_text") or the last one it read whole ("steps[3] (after model_ms)").
class PathTracker : public nlohmann::json_sax<json> {
 public:
  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t) override { return scalar(); }
  bool number_unsigned(number_unsigned_t) override { return scalar(); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool string(string_t&) override { return scalar(); }
  bool binary(binary_t&) override { return scalar(); }
  bool start_object(std::size_t) override { return open(false); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    frames_.back().key = k;
    frames_.back().done = false;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    for (std::size_t i = 0; i < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      const bool innermost = i + 1 == frames_.size();
      if (f.array) {
        // Between elements the error is where the next one starts.
        const std::size_t at = innermost ? f.count : f.count - 1;
        where_ += "[" + std::to_string(at) + "]";
      } else if (!f.key.empty()) {
        if (innermost && f.done)
          after_ = f.key;
        else
          where_ += (where_.empty() ? "" : ".") + f.key;
      }
    }
    return false;
  }
  std::string where() const {
    std::string w = where_.empty() ? "top level" : where_;
    return after_.empty() ? w : w + " (after " + after_ + ")";
  }

 private:
  struct Frame {
    bool array;
    std::size_t count = 0;  // elements started so far (arrays)
    std::string key;        // the last key read (objects)
    bool done = false;      // that key's value was read whole
  };
  void started() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().count;
  }
  void finished() {
    if (!frames_.empty() && !frames_.back().array) frames_.back().done = true;
  }
  bool scalar() {
    started();
    finished();
    return true;
  }
  bool open(bool array) {
    started();
    frames_.push_back({array});
    return true;
  }
  bool close() {
    frames_.pop_back();
    finished();
    return true;
  }
  std::vector<Frame> frames_;
  std::string where_, after_;
};

json parseDocument(const std::string& text, const std::string& path) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    PathTracker tracker;
    json::sax_parse(text, &tracker);
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 1: ..." -> from "parse".
    if (const auto bracket = what.find("] ");
        what.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos)
      what = what.substr(bracket + 2);
    throw Error(path + ": " + tracker.where() +
                ": invalid JSON (truncated or corrupt file?): " + what);
  }
}

}  // namespace

RunReport readRunReportJson(const std::string& text, const std::string& path) {
  const json doc = parseDocument(text, path);
  const Node root(doc, path, "");
  if (!doc.is_object()) root.failType("an object (a run report)");
  // Identity first: another file's fields, or a newer version's, must not read as damage.
  if (!doc.contains("schema")) root.absent("schema").fail("missing (not an HAE Studio run report)");
  const Node schema = root.member("schema");
  if (!schema.value().is_string() || schema.value().get<std::string>() != kRunReportSchema)
    schema.fail(std::string("expected \"") + kRunReportSchema + "\", got " +
                describe(schema.value()) + " (not an HAE Studio run report)");
  if (!doc.contains("schema_version")) root.absent("schema_version").fail("missing");
  const Node version = root.member("schema_version");
  if (!version.value().is_number_integer()) version.failType("an integer");
  // Version 2 only added optional fields: a version 1 file reads as a run without a shadow.
  if (version.value() < kOldestRunReportSchemaVersion || version.value() > kRunReportSchemaVersion)
    version.fail("version " + version.value().dump() + " is not supported (this build reads " +
                 "versions " + std::to_string(kOldestRunReportSchemaVersion) + " to " +
                 std::to_string(kRunReportSchemaVersion) +
                 (version.value() > kRunReportSchemaVersion ? "; a newer HAE Studio wrote it)" : ")"));

  const Object top(root, {"schema", "schema_version", "model", "policy", "inputs", "tokens",
                          "visual_tokens", "steps", "answer", "timings", "summary"});
  RunReport r;
  readModel(top["model"], r.info);
  readPolicy(top["policy"], r.info);
  readInputs(top["inputs"], r.info);
  readTokens(top["tokens"], r.info);
  readVisualTokens(top["visual_tokens"], r.info);
  const Node steps = top["steps"];
  for (std::size_t i = 0, count = steps.array(); i < count; ++i)
    r.steps.push_back(readStep(steps.element(i), r.info.visual_tokens.size()));
  r.answer = top["answer"].string();
  r.summary = readSummary(top, r.info, r.steps);
  return r;
}

RunReport readRunReportFile(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error(path + ": is a folder, not a run report");
  const auto size = fs::file_size(path, ec);
  if (ec) throw Error(path + ": cannot read (" + ec.message() + ")");
  if (size > kMaxFileBytes)
    throw Error(path + ": " + std::to_string(size) +
                " bytes is too large for a run report (limit " + std::to_string(kMaxFileBytes) +
                ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(path + ": read failed");
  return readRunReportJson(buffer.str(), path);
}

}  // namespace hae
