// The bench's datasets (demo held-out questions and descriptions, JSON-lines files of images with
// questions and answers) and the shard partition over them.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <istream>
#include <nlohmann/json.hpp>

#include "hae/bench.h"
#include "hae/demo/dataset.h"
#include "hae/demo/samples.h"
#include "hae/error.h"

namespace hae::bench {

namespace fs = std::filesystem;

namespace {

// Descriptions come from a seed range of their own, so their scenes differ from the questions'.
constexpr std::uint64_t kDescribeSeedOffset = std::uint64_t{1} << 32;
// Answers with more words than this are scored as long answers unless the line says otherwise.
constexpr int kShortAnswerWords = 3;

}  // namespace

std::vector<BenchCase> demoCases(int short_questions, int descriptions) {
  if (short_questions < 0)
    throw Error(fmt::format("--demo {}: must be 0 or more", short_questions));
  if (descriptions < 0) throw Error(fmt::format("--describe {}: must be 0 or more", descriptions));
  std::vector<BenchCase> out;
  const demo::DemoMix short_only{0.0, 0.0};
  for (int j = 0; j < short_questions; ++j) {
    const std::uint64_t seed = demo::kHeldOutSeedBase + static_cast<std::uint64_t>(j);
    const demo::DemoSample s = demo::makeSample(seed, demo::pickKind(seed, short_only));
    BenchCase c;
    c.index = static_cast<int>(out.size());
    c.id = fmt::format("demo:{}", j);
    c.kind = AnswerKind::Short;
    c.category = std::string(demo::kindName(s.kind));
    c.question = s.question;
    c.answer = s.answer;
    c.demo_seed = seed;
    c.demo_kind = static_cast<int>(s.kind);
    out.push_back(std::move(c));
  }
  for (int j = 0; j < descriptions; ++j) {
    const std::uint64_t seed =
        demo::kHeldOutSeedBase + kDescribeSeedOffset + static_cast<std::uint64_t>(j);
    const demo::DemoSample s = demo::makeSample(seed, demo::SampleKind::Describe);
    BenchCase c;
    c.index = static_cast<int>(out.size());
    c.id = fmt::format("describe:{}", j);
    c.kind = AnswerKind::Long;
    c.category = "describe";
    c.question = s.question;
    c.answer = s.answer;
    c.demo_seed = seed;
    c.demo_kind = static_cast<int>(s.kind);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<BenchCase> loadJsonlCases(const std::string& path, int first_index) {
  std::ifstream in(path);
  if (!fs::is_regular_file(path) || !in) throw Error(fmt::format("--data {}: no such file", path));
  return parseJsonlCases(in, path, fs::path(path).parent_path().string(), first_index);
}

std::vector<BenchCase> parseJsonlCases(
    std::istream& in, const std::string& path, const std::string& folder_text, int first_index,
    const std::function<bool(const std::string&)>& image_exists) {
  const fs::path folder(folder_text);
  std::vector<BenchCase> out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = fmt::format("{}:{}", path, number);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: malformed JSON line ({})", where, e.what()));
    }
    if (!j.is_object()) throw Error(where + ": expected a JSON object");
    auto text = [&](const char* field, bool required) -> std::string {
      if (!j.contains(field)) {
        if (required) throw Error(fmt::format("{}: missing \"{}\"", where, field));
        return "";
      }
      if (!j[field].is_string())
        throw Error(fmt::format("{}: \"{}\" must be a string", where, field));
      return j[field].get<std::string>();
    };
    BenchCase c;
    c.index = first_index + static_cast<int>(out.size());
    c.question = text("question", true);
    c.answer = text("answer", true);
    c.category = text("category", false);
    const std::string id = text("id", false);
    c.id = id.empty() ? fmt::format("data:{}:{}", fs::path(path).filename().string(), number)
                      : "data:" + id;
    if (!j.contains("image")) throw Error(where + ": missing \"image\"");
    std::vector<std::string> images;
    if (j["image"].is_string())
      images.push_back(j["image"].get<std::string>());
    else if (j["image"].is_array() && !j["image"].empty()) {
      for (const auto& v : j["image"]) {
        if (!v.is_string()) throw Error(where + ": \"image\" must be a path or a list of paths");
        images.push_back(v.get<std::string>());
      }
    } else {
      throw Error(where + ": \"image\" must be a path or a list of paths");
    }
    for (const auto& image : images) {
      const fs::path p = fs::path(image).is_absolute() ? fs::path(image) : folder / image;
      if (image_exists ? !image_exists(p.string()) : !fs::is_regular_file(p))
        throw Error(fmt::format("{}: image {} not found", where, p.string()));
      c.images.push_back(p.string());
    }
    const std::string kind = text("kind", false);
    if (kind == "short")
      c.kind = AnswerKind::Short;
    else if (kind == "long")
      c.kind = AnswerKind::Long;
    else if (kind.empty())
      c.kind = static_cast<int>(answerTokens(c.answer).size()) > kShortAnswerWords
                   ? AnswerKind::Long
                   : AnswerKind::Short;
    else
      throw Error(fmt::format("{}: \"kind\" must be short or long, got '{}'", where, kind));
    if (c.category.empty()) c.category = c.kind == AnswerKind::Short ? "short" : "long";
    out.push_back(std::move(c));
  }
  if (out.empty()) throw Error(fmt::format("--data {}: no cases in the file", path));
  return out;
}

namespace {

// The file ending the image loader expects for encoded bytes (it decodes by content, the ending
// only keeps the folder readable).
std::string imageExtension(const std::string& bytes) {
  if (bytes.rfind("\x89PNG", 0) == 0) return ".png";
  if (bytes.rfind("\xff\xd8", 0) == 0) return ".jpg";
  if (bytes.rfind("BM", 0) == 0) return ".bmp";
  if (bytes.rfind("RIFF", 0) == 0) return ".webp";
  if (bytes.rfind("GIF8", 0) == 0) return ".gif";
  return ".img";
}

std::string fileStem(const std::string& id) {
  std::string name = id;
  for (char& ch : name)
    if (ch == ':' || ch == '/' || ch == '\\' || ch == ' ') ch = '_';
  return name;
}

}  // namespace

void materializeImages(BenchCase& c, const std::string& dir) {
  if (c.images.empty() && !c.image_data.empty()) {
    fs::create_directories(dir);
    for (std::size_t i = 0; i < c.image_data.size(); ++i) {
      const std::string ext = imageExtension(c.image_data[i]);
      const std::string stem = fmt::format("{}_{}", fileStem(c.id), i);
      const std::string path = (fs::path(dir) / (stem + ext)).string();
      if (!fs::exists(path)) {
        const std::string tmp = (fs::path(dir) / (stem + ".part" + ext)).string();
        {
          std::ofstream out(tmp, std::ios::binary);
          out.write(c.image_data[i].data(), static_cast<std::streamsize>(c.image_data[i].size()));
          if (!out) throw Error(fmt::format("{}: cannot write", tmp));
        }
        fs::rename(tmp, path);
      }
      c.images.push_back(path);
    }
    return;
  }
  if (!c.images.empty() || !c.demo_seed) return;
  const demo::DemoSample s =
      demo::makeSample(*c.demo_seed, static_cast<demo::SampleKind>(c.demo_kind));
  fs::create_directories(dir);
  for (std::size_t i = 0; i < s.images.size(); ++i) {
    std::string name = c.id;
    for (char& ch : name)
      if (ch == ':') ch = '_';
    const std::string path = (fs::path(dir) / fmt::format("{}_{}.png", name, i)).string();
    // Written once and reused by every cell and by a resumed run: the scene is fixed by the seed.
    if (!fs::exists(path)) {
      // The temporary keeps the .png ending: OpenCV picks the encoder by it.
      const std::string tmp = (fs::path(dir) / fmt::format("{}_{}.part.png", name, i)).string();
      demo::savePng(s.images[i], tmp);
      fs::rename(tmp, path);
    }
    c.images.push_back(path);
  }
}

Shard parseShard(const std::string& text) {
  const auto slash = text.find('/');
  Shard s;
  try {
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    std::size_t used = 0;
    s.index = std::stoi(text.substr(0, slash), &used);
    if (used != slash) throw std::invalid_argument("index");
    const std::string n = text.substr(slash + 1);
    s.count = std::stoi(n, &used);
    if (used != n.size()) throw std::invalid_argument("count");
  } catch (const std::exception&) {
    throw Error(fmt::format("--shard '{}': expected i/N, e.g. 1/4", text));
  }
  if (s.count < 1 || s.index < 1 || s.index > s.count)
    throw Error(fmt::format("--shard {}: need 1 <= i <= N", text));
  return s;
}

bool inShard(const BenchCase& c, const Shard& shard) {
  // Round robin interleaves the dataset's kinds, so every shard gets a similar mix and run time.
  return c.index % shard.count == shard.index - 1;
}

}  // namespace hae::bench
