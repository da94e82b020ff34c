#include "process_setup.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "blas_probe.h"

extern char** environ;

namespace hae::app {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kSetupMarker = "HAE_PROCESS_SETUP";  // set once the environment is chosen
constexpr const char* kProbeVariable = "HAE_BLAS_PROBE";   // a calibration probe run
constexpr int kTrimThreshold = 1 << 30;                    // keep up to 1 GiB of free heap

bool envSet(const char* name) {
  return std::getenv(name) != nullptr;
}

// glibc reads MALLOC_* (and GLIBC_TUNABLES) at start-up; a user who set any of them decides.
bool userTunedMalloc() {
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "MALLOC_", 7) == 0 || std::strncmp(*e, "GLIBC_TUNABLES=", 15) == 0)
      return true;
  return false;
}

void keepFreedMemory() {
  if (userTunedMalloc()) return;
  mallopt(M_MMAP_MAX, 0);  // large blocks from the heap, so freeing them does not unmap them
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
}

// Without AVX-512, decoding's one-row products run on OpenBLAS's threads (text/gemv.h); OpenMP's
// threads must then sleep at once instead of spinning against them (measured: decode 2x slower).
// With it, decoding runs on OpenMP's own threads, and their default brief spinning between the
// products keeps them awake: 93 against 128 ms/token for a 1.1 B bf16 decoder when they slept.
bool decodeRunsOnOpenBlas() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return !(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"));
#else
  return true;
#endif
}

int hardwareThreads() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Core types of OpenBLAS 0.3's DYNAMIC_ARCH build this CPU can execute, newest first; "" is
// OpenBLAS's own detection (which falls back to old kernels on CPUs it does not know).
std::vector<std::string> candidateCoreTypes() {
  std::vector<std::string> types{""};
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bf16")) types.push_back("Cooperlake");
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512cd"))
    types.push_back("SkylakeX");
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    types.push_back("Zen");
    types.push_back("Haswell");
  }
  if (__builtin_cpu_supports("avx")) types.push_back("Sandybridge");
#endif
  return types;
}

std::string selfPath() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/proc/self/exe") : p.string();
}

// Runs this binary as a probe under `core_type` and reads its one result line.
CoreTypeMeasurement runProbe(const std::string& core_type) {
  CoreTypeMeasurement m;
  m.core_type = core_type;
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "OPENBLAS_CORETYPE=", 18) != 0) env_strings.emplace_back(*e);
  env_strings.emplace_back(std::string(kProbeVariable) + "=1");
  if (!core_type.empty()) env_strings.push_back("OPENBLAS_CORETYPE=" + core_type);
  if (!envSet("OMP_WAIT_POLICY")) env_strings.emplace_back("OMP_WAIT_POLICY=PASSIVE");
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  int out[2];
  if (pipe(out) != 0) {
    m.failure = "pipe failed";
    return m;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::string path = selfPath();
  char* argv[] = {path.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    m.failure = "could not start a probe";
    return m;
  }
  std::string text;
  char buf[512];
  pollfd pfd{out[0], POLLIN, 0};
  while (poll(&pfd, 1, 60000) > 0) {  // a probe takes about a second; 60 s means it hangs
    const ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  close(out[0]);
  kill(pid, SIGKILL);  // harmless when it has exited; ends a hung probe
  int status = 0;
  waitpid(pid, &status, 0);
  BlasProbeResult r;
  const auto line = text.substr(0, text.find('\n'));
  if (!parseProbeResult(line, r)) {
    m.failure = WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL ? "the probe crashed"
                                                                   : "the probe gave no result";
    return m;
  }
  m.runs_as = r.core_name;
  m.gemm_gflops = r.gemm_gflops;
  m.gemv_gbps = r.gemv_gbps;
  m.correct = r.correct;
  m.failure = r.failure;
  return m;
}

double score(const CoreTypeMeasurement& m) {
  // Prefill is GEMM-bound and decode bandwidth-bound: weigh both the same.
  return m.correct ? std::sqrt(m.gemm_gflops * m.gemv_gbps) : -1;
}

fs::path cacheDir() {
  if (const char* dir = std::getenv("XDG_CACHE_HOME"); dir && *dir) return fs::path(dir) / "hae";
  if (const char* home = std::getenv("HOME"); home && *home)
    return fs::path(home) / ".cache" / "hae";
  return {};
}

std::string readCpuDescription() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model, flags, numbers;
  while (std::getline(in, line)) {
    auto value = [&] { return line.substr(line.find(':') + 1); };
    if (line.rfind("model name", 0) == 0 && model.empty())
      model = value();
    else if ((line.rfind("cpu family", 0) == 0 || line.rfind("model\t", 0) == 0 ||
              line.rfind("stepping", 0) == 0) &&
             numbers.size() < 64)
      numbers += value();
    else if (line.rfind("flags", 0) == 0 && flags.empty())
      flags = value();
    if (line.empty() && !model.empty()) break;  // the first processor is enough
  }
  std::ostringstream key;
  key << model << " |" << numbers << " | flags " << std::hex << std::hash<std::string>{}(flags);
  return key.str();
}

std::string readBlasDescription() {
  Dl_info info{};
  void* symbol = dlsym(RTLD_DEFAULT, "sgemm_");
  if (!symbol || !dladdr(symbol, &info) || !info.dli_fname) return "no BLAS";
  std::error_code ec;
  const auto path = fs::canonical(info.dli_fname, ec);
  const auto size = ec ? 0 : fs::file_size(path, ec);
  return (ec ? std::string(info.dli_fname) : path.string()) + " (" + std::to_string(size) +
         " bytes)";
}

std::string cacheKey() {
  return readCpuDescription() + " | " + readBlasDescription() + " | " +
         std::to_string(hardwareThreads()) + " threads";
}

json toJson(const std::vector<CoreTypeMeasurement>& table) {
  json rows = json::array();
  for (const auto& m : table)
    rows.push_back({{"core_type", m.core_type},
                    {"runs_as", m.runs_as},
                    {"gemm_gflops", m.gemm_gflops},
                    {"gemv_gbps", m.gemv_gbps},
                    {"correct", m.correct},
                    {"failure", m.failure}});
  return rows;
}

std::string bestOf(const std::vector<CoreTypeMeasurement>& table) {
  const auto best = std::max_element(
      table.begin(), table.end(), [](const auto& a, const auto& b) { return score(a) < score(b); });
  return best == table.end() || !best->correct ? std::string() : best->core_type;
}

struct CachedChoice {
  bool found = false;
  std::string core_type;
  json measured;
};

CachedChoice readCache(const fs::path& file, const std::string& key) {
  CachedChoice c;
  std::ifstream in(file);
  if (!in) return c;
  const json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("key", "") != key || !j.contains("core_type") ||
      !j["core_type"].is_string())
    return c;
  c.found = true;
  c.core_type = j["core_type"].get<std::string>();
  c.measured = j.value("measured", json::array());
  return c;
}

void writeCache(const fs::path& file, const std::string& key, const std::string& choice,
                const std::vector<CoreTypeMeasurement>& table) {
  const json j{{"key", key},
               {"core_type", choice},
               {"measured", toJson(table)},
               {"measured_at", static_cast<long long>(std::time(nullptr))}};
  const fs::path tmp = file.string() + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    out << j.dump(1) << '\n';
    if (!out) return;  // an unwritable cache only costs a calibration next time
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) fs::remove(tmp, ec);
}

// Holds an exclusive lock on the cache while one process measures, so that processes started
// together (ctest -j, bench shards) measure once, and not against each other.
class CacheLock {
 public:
  explicit CacheLock(const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    fd_ = open((dir / "blas-coretype.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) flock(fd_, LOCK_EX);
  }
  ~CacheLock() {
    if (fd_ >= 0) close(fd_);
  }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int fd_ = -1;
};

std::vector<CoreTypeMeasurement> measureAll() {
  std::vector<CoreTypeMeasurement> table;
  for (const auto& type : candidateCoreTypes()) table.push_back(runProbe(type));
  return table;
}

// The cached choice for this CPU and BLAS, measured now when there is none. "" means OpenBLAS's
// own detection; `how` says which happened.
std::string chooseCoreType(std::string& how) {
  const fs::path dir = cacheDir();
  const std::string key = cacheKey();
  if (dir.empty()) {
    how = "OpenBLAS's own detection (no cache folder: HOME is unset)";
    return "";
  }
  CacheLock lock(dir);
  const fs::path file = dir / "blas-coretype.json";
  if (auto cached = readCache(file, key); cached.found) {
    how = "cached";
    return cached.core_type;
  }
  if (isatty(STDERR_FILENO))
    std::fprintf(stderr,
                 "hae: measuring OpenBLAS's kernels on this CPU (once, a few seconds)...\n");
  const auto table = measureAll();
  const std::string choice = bestOf(table);
  writeCache(file, key, choice, table);
  how = "measured now";
  return choice;
}

std::string marker(const std::string& key) {
  const char* m = std::getenv(kSetupMarker);
  if (!m) return "";
  const std::string s = m, k = key + "=";
  const auto at = s.find(k);
  if (at == std::string::npos) return "";
  const auto end = s.find(';', at);
  return s.substr(at + k.size(),
                  end == std::string::npos ? std::string::npos : end - at - k.size());
}

}  // namespace

void prepareProcess(char** argv) {
  if (envSet(kProbeVariable)) {
    std::printf("%s\n", formatProbeResult(probeLoadedBlas(hardwareThreads())).c_str());
    std::fflush(stdout);
    std::_Exit(0);
  }
  if (envSet("HAE_NO_PROCESS_SETUP")) return;
  keepFreedMemory();                 // mallopt acts in this process: every process calls it
  if (envSet(kSetupMarker)) return;  // re-executed already, or a child of a set-up process

  bool changed = false;
  std::string note = std::string("malloc=") + (userTunedMalloc() ? "user" : "hae");
  if (envSet("OMP_WAIT_POLICY")) {
    note += ";omp=user";
  } else if (decodeRunsOnOpenBlas()) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    note += ";omp=hae";
    changed = true;
  } else {
    note += ";omp=default";
  }
  if (envSet("OPENBLAS_CORETYPE")) {
    note += ";blas=user";
  } else {
    std::string how;
    const std::string choice = chooseCoreType(how);
    note += ";blas=" + (choice.empty() ? std::string("auto") : choice) + ";blas_how=" + how;
    if (!choice.empty()) {
      setenv("OPENBLAS_CORETYPE", choice.c_str(), 1);
      changed = true;
    }
  }
  setenv(kSetupMarker, note.c_str(), 1);
  if (changed) execv("/proc/self/exe", argv);  // returns only on failure: carry on as we are
}

std::vector<CoreTypeMeasurement> calibrateBlasCoreType() {
  const fs::path dir = cacheDir();
  std::optional<CacheLock> lock;
  if (!dir.empty()) lock.emplace(dir);
  auto table = measureAll();
  if (!dir.empty()) writeCache(dir / "blas-coretype.json", cacheKey(), bestOf(table), table);
  return table;
}

std::vector<std::string> describeProcessSetup() {
  std::vector<std::string> lines;
  using CoreName = char* (*)();
  auto core_name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const std::string running = core_name ? core_name() : "not OpenBLAS";
  const char* env_core = std::getenv("OPENBLAS_CORETYPE");
  const std::string blas = marker("blas");
  std::string blas_line = "OpenBLAS:  " + running + " kernels; ";
  if (!envSet(kSetupMarker))
    blas_line += "process set-up off (HAE_NO_PROCESS_SETUP)";
  else if (blas == "user")
    blas_line += std::string("OPENBLAS_CORETYPE=") + (env_core ? env_core : "") +
                 " from the environment, kept (unset it to let hae measure the fastest)";
  else if (blas == "auto")
    blas_line += "OpenBLAS's own detection, measured fastest here (" + marker("blas_how") + ")";
  else
    blas_line += "chosen by hae as the fastest correct core type on this CPU (" +
                 marker("blas_how") + "; `hae info --calibrate-blas` measures again)";
  lines.push_back(blas_line);
  const char* omp = std::getenv("OMP_WAIT_POLICY");
  const std::string omp_how = marker("omp");
  if (omp_how == "default")
    lines.push_back(
        "OpenMP:    default waiting (decoding runs on OpenMP's threads with AVX-512 here; "
        "their brief spinning keeps them awake between products)");
  else
    lines.push_back(std::string("OpenMP:    OMP_WAIT_POLICY=") + (omp ? omp : "(unset)") +
                    (omp_how == "hae" ? " (set by hae: decoding runs on OpenBLAS's threads here)"
                                      : " (from the environment)"));
  lines.push_back(marker("malloc") == "hae"
                      ? "malloc:    freed blocks kept (no mmap for large blocks, trim above 1 GiB)"
                      : "malloc:    glibc defaults or the environment's MALLOC_* settings");
  return lines;
}

}  // namespace hae::app
