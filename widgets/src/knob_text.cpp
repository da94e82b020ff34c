#include "hae/widgets/knob_text.h"

#include <QLocale>
#include <QRegularExpression>
#include <cmath>
#include <map>

namespace hae::widgets {

namespace {

// Ranges at or beyond this are the policies' way of saying "no upper bound".
constexpr double kUnbounded = 1e8;

// Labels for the knobs whose identifiers do not read well on their own. Everything else is read
// from its identifier, so a new knob needs no entry here.
const std::map<std::string, QString>& labelTable() {
  static const std::map<std::string, QString> table = {
      {"dap.enabled", QStringLiteral("Prune in prefill (DAP)")},
      {"dap.layer", QStringLiteral("Scoring layer l0")},
      {"dap.mode", QStringLiteral("Pruning rule")},
      {"dap.r", QStringLiteral("Threshold r")},
      {"dap.tau_g", QStringLiteral("Global threshold τg")},
      {"dap.tau_i", QStringLiteral("Peak threshold τi")},
      {"dap.keep", QStringLiteral("Visual tokens kept (keep rule)")},
      {"dap.cap", QStringLiteral("Most evictions (cap rule)")},
      {"dap.query_set", QStringLiteral("Scoring queries")},
      {"dap.indiv_stat", QStringLiteral("Peak statistic")},
      {"dap.scale_by_count", QStringLiteral("Scale τg by token count")},
      {"dap.per_image", QStringLiteral("Score each image apart")},
      {"dap.protect_separators", QStringLiteral("Protect separators")},
      {"broadcast.mode", QStringLiteral("Broadcast to later layers")},
      {"broadcast.groups", QStringLiteral("Layer groups G")},
      {"pos.mode", QStringLiteral("Positions after pruning")},
      {"ddes.enabled", QStringLiteral("Evict while decoding (DDES)")},
      {"ddes.budget", QStringLiteral("Live budget B")},
      {"ddes.bin", QStringLiteral("Recycle bin size d")},
      {"ddes.sink", QStringLiteral("Sink tokens kept")},
      {"ddes.recent", QStringLiteral("Recent tokens kept")},
      {"ddes.gamma", QStringLiteral("Score decay γ")},
      {"ddes.reweight", QStringLiteral("Per-modality re-weighting")},
      {"ddes.theta_vis", QStringLiteral("Demote below θvis")},
      {"ddes.theta_restore", QStringLiteral("Restore at θrestore")},
      {"ddes.purge_to", QStringLiteral("Purge bin down to")},
      {"ddes.bin_attended", QStringLiteral("Bin tokens still attended")},
      {"ddes.score_layer", QStringLiteral("Scoring layer")},
      {"ddes.interval", QStringLiteral("Evict every N steps")},
      {"compaction.free_fraction", QStringLiteral("Compact at free fraction")},
      {"probes", QStringLiteral("Observation probes")},
      {"probes.threshold", QStringLiteral("Sparsity threshold")},
      {"keep_ratio", QStringLiteral("Kept fraction")},
      {"heavy_ratio", QStringLiteral("Heavy hitters (fraction)")},
      {"recent_ratio", QStringLiteral("Recent window (fraction)")},
      {"budget", QStringLiteral("Budget (tokens)")},
      {"window", QStringLiteral("Observation window")},
      {"kernel", QStringLiteral("Pooling kernel")},
      {"heads", QStringLiteral("Heads")},
      {"k", QStringLiteral("First pruned layer K")},
      {"ratio", QStringLiteral("Pruned fraction R")},
      {"floor", QStringLiteral("Head budget floor α")},
      {"beta", QStringLiteral("Pyramid steepness β")},
      {"sink", QStringLiteral("Sink tokens")},
      {"recent", QStringLiteral("Recent tokens")},
      {"r", QStringLiteral("Threshold r")},
  };
  return table;
}

QString fromIdentifier(const std::string& name) {
  QString s = QString::fromStdString(name);
  const int dot = s.lastIndexOf(QLatin1Char('.'));
  if (dot >= 0) s = s.mid(dot + 1);
  s.replace(QLatin1Char('_'), QLatin1Char(' '));
  if (!s.isEmpty()) s[0] = s[0].toUpper();
  return s;
}

}  // namespace

QString knobGroup(const std::string& name) {
  const auto dot = name.find('.');
  const std::string prefix = dot == std::string::npos ? name : name.substr(0, dot);
  if (prefix == "dap") return QStringLiteral("DAP: dual-attention pruning (prefill)");
  if (prefix == "broadcast") return QStringLiteral("Broadcast of the kept set");
  if (prefix == "ddes") return QStringLiteral("DDES: recycle-bin eviction (decode)");
  if (prefix == "pos") return QStringLiteral("Positions");
  if (prefix == "compaction") return QStringLiteral("Compaction");
  if (prefix == "probes") return QStringLiteral("Probes");
  if (dot != std::string::npos) return QString::fromStdString(prefix);
  return {};
}

QString knobLabel(const std::string& name) {
  const auto& table = labelTable();
  const auto it = table.find(name);
  return it != table.end() ? it->second : fromIdentifier(name);
}

QString readableNumber(double v) {
  if (!std::isfinite(v)) return QString::number(v);
  if (v == std::round(v) && std::abs(v) < 1e15) {
    // Whole numbers in digits with thousands separators: 1,000,000 reads at a glance.
    QLocale c = QLocale::c();
    c.setNumberOptions(QLocale::DefaultNumberOptions);
    return c.toString(static_cast<qlonglong>(v));
  }
  return QString::number(v, 'g', 6);
}

QString readableRange(const KnobSpec& spec) {
  if (spec.type != KnobType::Int && spec.type != KnobType::Float) return {};
  if (!(spec.max > spec.min))
    return spec.type == KnobType::Int ? QStringLiteral("whole number")
                                      : QStringLiteral("any number");
  const bool openTop = spec.max >= kUnbounded, openBottom = spec.min <= -kUnbounded;
  QString range;
  if (openTop && openBottom)
    range = QStringLiteral("any value");
  else if (openTop)
    range = QStringLiteral("at least %1").arg(readableNumber(spec.min));
  else if (openBottom)
    range = QStringLiteral("at most %1").arg(readableNumber(spec.max));
  else
    range = QStringLiteral("%1 to %2").arg(readableNumber(spec.min), readableNumber(spec.max));
  return spec.type == KnobType::Int ? QStringLiteral("whole number, ") + range : range;
}

KnobParse parseKnobText(const KnobSpec& spec, const QString& typed) {
  KnobParse out;
  const QString text = typed.trimmed();
  const QString knob = QString::fromStdString(spec.name);
  auto fail = [&](const QString& why) {
    out.error = QStringLiteral("%1: '%2' %3").arg(knob, text, why);
    return out;
  };
  if (text.isEmpty()) return fail(QStringLiteral("is empty; enter a value"));
  switch (spec.type) {
    case KnobType::Int:
    case KnobType::Float: {
      // Plain decimal or scientific notation only: no hex, no group separators, no nan/inf.
      static const QRegularExpression number(
          QStringLiteral("^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?$"));
      if (!number.match(text).hasMatch())
        return fail(spec.type == KnobType::Int ? QStringLiteral("is not a whole number")
                                               : QStringLiteral("is not a number"));
      bool ok = false;
      const double v = QLocale::c().toDouble(text, &ok);
      if (!ok || !std::isfinite(v)) return fail(QStringLiteral("is not a number"));
      if (spec.type == KnobType::Int && v != std::round(v))
        return fail(QStringLiteral("is not a whole number"));
      if (spec.max > spec.min && (v < spec.min || v > spec.max))
        return fail(QStringLiteral("is out of range (%1)").arg(readableRange(spec)));
      if (spec.type == KnobType::Int) {
        if (std::abs(v) > 9e15) return fail(QStringLiteral("is too large"));
        // The policy reads ints as plain digits: "1e3" goes on as "1000", the same value.
        out.value = std::to_string(static_cast<long long>(v));
      } else {
        out.value = text.toStdString();  // exactly as typed: 5e-5 stays 5e-5
      }
      return out;
    }
    case KnobType::Bool: {
      const QString t = text.toLower();
      if (t == QLatin1String("true") || t == QLatin1String("1") || t == QLatin1String("yes") ||
          t == QLatin1String("on"))
        out.value = "true";
      else if (t == QLatin1String("false") || t == QLatin1String("0") || t == QLatin1String("no") ||
               t == QLatin1String("off"))
        out.value = "false";
      else
        return fail(QStringLiteral("is not true or false"));
      return out;
    }
    case KnobType::Choice: {
      for (const auto& c : spec.choices) {
        if (QString::fromStdString(c) == text) {
          out.value = c;
          return out;
        }
      }
      QStringList names;
      for (const auto& c : spec.choices) names << QString::fromStdString(c);
      return fail(QStringLiteral("is not one of %1").arg(names.join(QStringLiteral(", "))));
    }
  }
  return out;
}

}  // namespace hae::widgets
