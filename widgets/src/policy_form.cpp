#include "hae/widgets/policy_form.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>
#include <algorithm>
#include <climits>
#include <cmath>
#include <utility>

namespace hae::widgets {

namespace {

double parseNumber(const std::string& text, double fallback) {
  bool ok = false;
  const double v = QString::fromStdString(text).trimmed().toDouble(&ok);
  return ok ? v : fallback;
}

bool parseBool(const std::string& text) {
  const QString t = QString::fromStdString(text).trimmed().toLower();
  return t == QLatin1String("true") || t == QLatin1String("1") || t == QLatin1String("yes") ||
         t == QLatin1String("on");
}

// A spec without a range (min == max) still needs a usable editor.
std::pair<double, double> rangeOf(const KnobSpec& spec) {
  if (spec.max > spec.min) return {spec.min, spec.max};
  return spec.type == KnobType::Int ? std::pair<double, double>{INT_MIN, INT_MAX}
                                    : std::pair<double, double>{-1e12, 1e12};
}

// Decimals needed to show `v` exactly, e.g. 4 for 0.0015 (at most 8).
int neededDecimals(double v) {
  for (int d = 0; d < 8; ++d) {
    const double scaled = v * std::pow(10.0, d);
    if (std::abs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, std::abs(scaled))) return d;
  }
  return 8;
}

int decimalsFor(const KnobSpec& spec) {
  int decimals = std::max({2, neededDecimals(spec.min), neededDecimals(spec.max)});
  return std::max(decimals, neededDecimals(parseNumber(spec.default_value, 0)));
}

}  // namespace

PolicyForm::PolicyForm(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  auto* top = new QFormLayout;
  policyBox_ = new QComboBox(this);
  policyBox_->setToolTip(QStringLiteral("Eviction policy for the next run"));
  top->addRow(QStringLiteral("Policy"), policyBox_);
  layout->addLayout(top);
  formHost_ = new QWidget(this);
  form_ = new QFormLayout(formHost_);
  form_->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(formHost_);
  resetButton_ = new QPushButton(QStringLiteral("Reset to defaults"), this);
  layout->addWidget(resetButton_, 0, Qt::AlignRight);
  layout->addStretch(1);

  connect(policyBox_, &QComboBox::currentIndexChanged, this, [this] {
    if (building_) return;
    buildForm();
    emit policyChanged(QString::fromStdString(policyName()));
  });
  connect(resetButton_, &QPushButton::clicked, this, &PolicyForm::resetToDefaults);
  // Remember edits per policy as they happen, so switching away and back keeps them.
  connect(this, &PolicyForm::valuesChanged, this, [this] {
    if (const PolicyDescription* p = current(); p && !building_) edited_[p->name] = knobValues();
  });
}

void PolicyForm::setPolicies(std::vector<PolicyDescription> policies, const std::string& select) {
  building_ = true;
  policies_ = std::move(policies);
  edited_.clear();
  policyBox_->clear();
  int chosen = 0;
  for (int i = 0; i < static_cast<int>(policies_.size()); ++i) {
    policyBox_->addItem(QString::fromStdString(policies_[i].name));
    if (policies_[i].name == select) chosen = i;
  }
  policyBox_->setCurrentIndex(policies_.empty() ? -1 : chosen);
  building_ = false;
  buildForm();
  emit policyChanged(QString::fromStdString(policyName()));
}

void PolicyForm::selectPolicy(const std::string& name) {
  const int i = policyBox_->findText(QString::fromStdString(name));
  if (i >= 0) policyBox_->setCurrentIndex(i);
}

const PolicyDescription* PolicyForm::current() const {
  const int i = policyBox_->currentIndex();
  return i >= 0 && i < static_cast<int>(policies_.size()) ? &policies_[i] : nullptr;
}

std::string PolicyForm::policyName() const {
  const PolicyDescription* p = current();
  return p ? p->name : std::string();
}

void PolicyForm::buildForm() {
  editors_.clear();
  while (form_->rowCount() > 0) form_->removeRow(0);
  const PolicyDescription* policy = current();
  resetButton_->setEnabled(policy && !policy->knobs.empty());
  if (!policy) return;
  // Filling the editors below must not count as the user editing them.
  const bool wasBuilding = std::exchange(building_, true);
  struct Restore {
    bool& flag;
    bool value;
    ~Restore() { flag = value; }
  } restore{building_, wasBuilding};
  if (policy->knobs.empty()) {
    form_->addRow(new QLabel(QStringLiteral("<i>This policy has no settings.</i>"), formHost_));
    return;
  }
  const auto remembered = edited_[policy->name];
  for (const KnobSpec& spec : policy->knobs) {
    QWidget* editor = nullptr;
    const auto [lo, hi] = rangeOf(spec);
    switch (spec.type) {
      case KnobType::Int: {
        auto* box = new QSpinBox(formHost_);
        box->setRange(static_cast<int>(std::max<double>(lo, INT_MIN)),
                      static_cast<int>(std::min<double>(hi, INT_MAX)));
        connect(box, &QSpinBox::valueChanged, this, [this] { emit valuesChanged(); });
        editor = box;
        break;
      }
      case KnobType::Float: {
        auto* box = new QDoubleSpinBox(formHost_);
        box->setDecimals(decimalsFor(spec));
        box->setRange(lo, hi);
        // A step of about a hundredth of the range, rounded to a power of ten.
        const double span = spec.max > spec.min ? spec.max - spec.min : 1.0;
        box->setSingleStep(std::max(std::pow(10.0, std::floor(std::log10(span / 100.0))),
                                    std::pow(10.0, -box->decimals())));
        connect(box, &QDoubleSpinBox::valueChanged, this, [this] { emit valuesChanged(); });
        editor = box;
        break;
      }
      case KnobType::Bool: {
        auto* box = new QCheckBox(formHost_);
        connect(box, &QCheckBox::toggled, this, [this] { emit valuesChanged(); });
        editor = box;
        break;
      }
      case KnobType::Choice: {
        auto* box = new QComboBox(formHost_);
        for (const auto& c : spec.choices) box->addItem(QString::fromStdString(c));
        connect(box, &QComboBox::currentIndexChanged, this, [this] { emit valuesChanged(); });
        editor = box;
        break;
      }
    }
    QString tip = QString::fromStdString(spec.help);
    if (spec.type == KnobType::Int || spec.type == KnobType::Float) {
      if (spec.max > spec.min)
        tip += QStringLiteral("\nRange %1 to %2, default %3.")
                   .arg(spec.min)
                   .arg(spec.max)
                   .arg(QString::fromStdString(spec.default_value));
    } else {
      tip += QStringLiteral("\nDefault %1.").arg(QString::fromStdString(spec.default_value));
    }
    editor->setToolTip(tip.trimmed());
    editor->setObjectName(QString::fromStdString(spec.name));
    auto* label = new QLabel(QString::fromStdString(spec.name), formHost_);
    label->setToolTip(editor->toolTip());
    form_->addRow(label, editor);
    const auto it = remembered.find(spec.name);
    setEditorValue(spec, editor, it != remembered.end() ? it->second : spec.default_value);
    editors_.emplace_back(&spec, editor);
  }
}

std::string PolicyForm::editorValue(const KnobSpec& spec, const QWidget* editor) {
  switch (spec.type) {
    case KnobType::Int:
      return std::to_string(static_cast<const QSpinBox*>(editor)->value());
    case KnobType::Float:
      return QString::number(static_cast<const QDoubleSpinBox*>(editor)->value(), 'g', 12)
          .toStdString();
    case KnobType::Bool:
      return static_cast<const QCheckBox*>(editor)->isChecked() ? "true" : "false";
    case KnobType::Choice:
      return static_cast<const QComboBox*>(editor)->currentText().toStdString();
  }
  return {};
}

void PolicyForm::setEditorValue(const KnobSpec& spec, QWidget* editor, const std::string& value) {
  switch (spec.type) {
    case KnobType::Int: {
      auto* box = static_cast<QSpinBox*>(editor);
      box->setValue(static_cast<int>(std::llround(parseNumber(value, box->minimum()))));
      break;
    }
    case KnobType::Float: {
      auto* box = static_cast<QDoubleSpinBox*>(editor);
      box->setValue(parseNumber(value, box->minimum()));
      break;
    }
    case KnobType::Bool:
      static_cast<QCheckBox*>(editor)->setChecked(parseBool(value));
      break;
    case KnobType::Choice: {
      auto* box = static_cast<QComboBox*>(editor);
      const int i = box->findText(QString::fromStdString(value));
      box->setCurrentIndex(i >= 0 ? i : 0);
      break;
    }
  }
}

std::map<std::string, std::string> PolicyForm::knobValues() const {
  std::map<std::string, std::string> values;
  for (const auto& [spec, editor] : editors_) values[spec->name] = editorValue(*spec, editor);
  return values;
}

void PolicyForm::setKnobValues(const std::map<std::string, std::string>& values) {
  for (const auto& [spec, editor] : editors_) {
    const auto it = values.find(spec->name);
    if (it != values.end()) setEditorValue(*spec, editor, it->second);
  }
}

void PolicyForm::resetToDefaults() {
  for (const auto& [spec, editor] : editors_) setEditorValue(*spec, editor, spec->default_value);
  if (const PolicyDescription* p = current()) edited_.erase(p->name);
}

QWidget* PolicyForm::editor(const std::string& knob) const {
  for (const auto& [spec, editor] : editors_) {
    if (spec->name == knob) return editor;
  }
  return nullptr;
}

}  // namespace hae::widgets
