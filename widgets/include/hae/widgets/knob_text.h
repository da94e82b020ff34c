#pragma once
// What the policy form says about a knob and how it reads one: readable labels and groups for
// the dotted knob names, ranges a person can read ("at least 1", not "1 to 1e+09"), and the exact
// parsing of typed values (scientific notation kept as typed, nothing rounded or clamped).
#include <QString>
#include <optional>

#include "hae/knobs.h"

namespace hae::widgets {

// "dap.r" -> "DAP: dual-attention pruning (prefill)"; "" for a knob outside any group.
QString knobGroup(const std::string& name);
// "dap.r" -> "Threshold r", "ddes.bin" -> "Recycle bin size"; unknown names read from the
// identifier ("dap.scale_by_count" -> "Scale by count").
QString knobLabel(const std::string& name);
// "0 to 1", "at least 1", "-1 to 1", "whole number, at least 0"; empty for bool and choice knobs.
QString readableRange(const KnobSpec& spec);
// A number as a person writes it: 1000000000 -> "1,000,000,000" stays "1e9" only when huge.
QString readableNumber(double v);

struct KnobParse {
  std::string value;  // what the policy gets: the text as typed (trimmed), ints in plain digits
  QString error;      // empty when the value is valid; names the knob otherwise
};
// Checks `text` against `spec` without changing it: "5e-5" stays "5e-5", "-7" for a knob of
// range 0 to 1000 is an error (never 7), "abc" is an error. Bool takes true/false (yes/no, on/off,
// 1/0); a choice must be one of the choices.
KnobParse parseKnobText(const KnobSpec& spec, const QString& text);

}  // namespace hae::widgets
