#include "hae/widgets/run_caption.h"

#include <QStringList>
#include <mutex>

namespace hae::widgets {

namespace {

std::mutex& defaultsMutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::map<std::string, std::string>>& defaultsTable() {
  static std::map<std::string, std::map<std::string, std::string>> table;
  return table;
}

}  // namespace

void rememberKnobDefaults(const std::string& policy, const std::vector<KnobSpec>& knobs) {
  std::map<std::string, std::string> defaults;
  for (const KnobSpec& k : knobs) defaults[k.name] = k.default_value;
  const std::lock_guard lock(defaultsMutex());
  defaultsTable()[policy] = std::move(defaults);
}

std::map<std::string, std::string> changedKnobs(const RunInfo& info) {
  std::map<std::string, std::string> defaults;
  {
    const std::lock_guard lock(defaultsMutex());
    const auto it = defaultsTable().find(info.policy_name);
    if (it != defaultsTable().end()) defaults = it->second;
  }
  if (defaults.empty()) return info.knobs;
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : info.knobs) {
    const auto d = defaults.find(k);
    if (d == defaults.end()) {
      out[k] = v;
      continue;
    }
    // "0.50" and "0.5" are the same setting: compare numbers as numbers.
    bool okV = false, okD = false;
    const double nv = QString::fromStdString(v).toDouble(&okV);
    const double nd = QString::fromStdString(d->second).toDouble(&okD);
    if (okV && okD ? nv != nd : v != d->second) out[k] = v;
  }
  return out;
}

QString runCaption(const RunInfo& info) {
  QStringList parts;
  if (!info.model_name.empty())
    parts << QStringLiteral("model %1").arg(QString::fromStdString(info.model_name));
  if (!info.policy_name.empty())
    parts << QStringLiteral("policy %1").arg(QString::fromStdString(info.policy_name));
  QStringList knobs;
  for (const auto& [k, v] : changedKnobs(info))
    knobs << QStringLiteral("%1=%2").arg(QString::fromStdString(k), QString::fromStdString(v));
  if (!knobs.isEmpty())
    parts << knobs.join(QStringLiteral(", "));
  else if (!info.knobs.empty())
    parts << QStringLiteral("default knobs");
  return parts.join(QStringLiteral(" · "));
}

}  // namespace hae::widgets
