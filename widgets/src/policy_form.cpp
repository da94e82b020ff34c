#include "hae/widgets/policy_form.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>
#include <utility>

#include "hae/widgets/knob_text.h"
#include "hae/widgets/run_caption.h"

namespace hae::widgets {

namespace {

const char* kErrorStyle = "QLineEdit { border: 1px solid #c0392b; background: #fdecea; }";

QString tooltipFor(const KnobSpec& spec) {
  QString tip = QStringLiteral("<b>%1</b> (<code>%2</code>)")
                    .arg(knobLabel(spec.name).toHtmlEscaped(),
                         QString::fromStdString(spec.name).toHtmlEscaped());
  if (!spec.help.empty())
    tip += QStringLiteral("<br>") + QString::fromStdString(spec.help).toHtmlEscaped();
  const QString range = readableRange(spec);
  if (!range.isEmpty()) tip += QStringLiteral("<br>Range: %1.").arg(range.toHtmlEscaped());
  if (spec.type == KnobType::Choice) {
    QStringList names;
    for (const auto& c : spec.choices) names << QString::fromStdString(c);
    tip += QStringLiteral("<br>One of: %1.").arg(names.join(QStringLiteral(", ")).toHtmlEscaped());
  }
  tip += QStringLiteral("<br>Default: %1.")
             .arg(QString::fromStdString(spec.default_value).toHtmlEscaped());
  return tip;
}

double numberOr(const std::map<std::string, std::string>& values, const char* knob,
                double fallback) {
  const auto it = values.find(knob);
  if (it == values.end()) return fallback;
  bool ok = false;
  const double v = QString::fromStdString(it->second).toDouble(&ok);
  return ok ? v : fallback;
}

std::string textOr(const std::map<std::string, std::string>& values, const char* knob) {
  const auto it = values.find(knob);
  return it == values.end() ? std::string() : it->second;
}

}  // namespace

PolicyForm::PolicyForm(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  auto* top = new QFormLayout;
  policyBox_ = new QComboBox(this);
  policyBox_->setToolTip(QStringLiteral("Eviction policy for the next run"));
  top->addRow(QStringLiteral("Policy"), policyBox_);
  layout->addLayout(top);
  warning_ = new QLabel(this);
  warning_->setWordWrap(true);
  warning_->setObjectName(QStringLiteral("policyWarning"));
  warning_->setStyleSheet(
      QStringLiteral("QLabel { background: #fff3cd; color: #664d03; border: 1px solid #e0c060; "
                     "padding: 3px; }"));
  warning_->hide();
  layout->addWidget(warning_);
  formHost_ = new QWidget(this);
  formLayout_ = new QVBoxLayout(formHost_);
  formLayout_->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(formHost_);
  resetButton_ = new QPushButton(QStringLiteral("Reset to defaults"), this);
  resetButton_->setToolTip(QStringLiteral("Every knob of this policy back to its default"));
  layout->addWidget(resetButton_, 0, Qt::AlignRight);
  layout->addStretch(1);

  connect(policyBox_, &QComboBox::currentIndexChanged, this, [this] {
    if (building_) return;
    buildForm();
    emit policyChanged(QString::fromStdString(policyName()));
  });
  connect(resetButton_, &QPushButton::clicked, this, &PolicyForm::resetToDefaults);
}

void PolicyForm::setPolicies(std::vector<PolicyDescription> policies, const std::string& select) {
  building_ = true;
  policies_ = std::move(policies);
  for (const PolicyDescription& p : policies_) rememberKnobDefaults(p.name, p.knobs);
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

const PolicyForm::Field* PolicyForm::field(const std::string& knob) const {
  for (const Field& f : editors_)
    if (f.spec->name == knob) return &f;
  return nullptr;
}

void PolicyForm::buildForm() {
  const bool hadErrors = hasErrors();
  editors_.clear();
  values_.clear();
  base_.clear();
  errors_.clear();
  while (QLayoutItem* item = formLayout_->takeAt(0)) {
    delete item->widget();  // never called from one of these widgets' own signals
    delete item;
  }
  const PolicyDescription* policy = current();
  resetButton_->setEnabled(policy && !policy->knobs.empty());
  if (hadErrors) emit validityChanged(true);
  if (!policy) {
    updateWarnings();
    return;
  }
  // Filling the editors below must not count as the user editing them.
  const bool wasBuilding = std::exchange(building_, true);
  struct Restore {
    bool& flag;
    bool value;
    ~Restore() { flag = value; }
  } restore{building_, wasBuilding};
  if (policy->knobs.empty()) {
    formLayout_->addWidget(
        new QLabel(QStringLiteral("<i>This policy has no settings.</i>"), formHost_));
    updateWarnings();
    return;
  }
  // One box per group, in the order the policy lists its knobs; ungrouped knobs share a plain
  // form at the top.
  std::vector<std::pair<QString, QFormLayout*>> groups;
  auto formFor = [&](const QString& group) -> QFormLayout* {
    for (auto& [name, form] : groups)
      if (name == group) return form;
    QFormLayout* form = nullptr;
    if (group.isEmpty()) {
      auto* host = new QWidget(formHost_);
      form = new QFormLayout(host);
      form->setContentsMargins(0, 0, 0, 0);
      formLayout_->addWidget(host);
    } else {
      auto* box = new QGroupBox(group, formHost_);
      form = new QFormLayout(box);
      form->setContentsMargins(6, 4, 6, 4);
      formLayout_->addWidget(box);
    }
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    // A narrow Setup panel (1280 px screens) puts a field under its label rather than scroll.
    form->setRowWrapPolicy(QFormLayout::WrapLongRows);
    groups.emplace_back(group, form);
    return form;
  };
  const auto remembered = edited_[policy->name];
  for (const KnobSpec& spec : policy->knobs) {
    QFormLayout* form = formFor(knobGroup(spec.name));
    QWidget* parent = form->parentWidget();
    QWidget* editor = nullptr;
    Field f;
    f.spec = &spec;
    switch (spec.type) {
      case KnobType::Int:
      case KnobType::Float: {
        auto* edit = new QLineEdit(parent);
        edit->setPlaceholderText(readableRange(spec));
        editor = edit;
        break;
      }
      case KnobType::Bool:
        editor = new QCheckBox(parent);
        break;
      case KnobType::Choice: {
        auto* box = new QComboBox(parent);
        // Not as wide as the longest choice ("text-after-image"): the popup shows them whole.
        box->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        box->setMinimumContentsLength(8);
        for (const auto& c : spec.choices) box->addItem(QString::fromStdString(c));
        editor = box;
        break;
      }
    }
    editor->setToolTip(tooltipFor(spec));
    editor->setObjectName(QString::fromStdString(spec.name));
    auto* label = new QLabel(knobLabel(spec.name), parent);
    label->setToolTip(editor->toolTip());
    label->setBuddy(editor);
    f.editor = editor;
    f.error = new QLabel(parent);
    f.error->setWordWrap(true);
    f.error->setStyleSheet(QStringLiteral("QLabel { color: #b02a1a; }"));
    f.error->hide();
    auto* cell = new QWidget(parent);
    auto* cellLayout = new QVBoxLayout(cell);
    cellLayout->setContentsMargins(0, 0, 0, 0);
    cellLayout->setSpacing(1);
    editor->setParent(cell);
    f.error->setParent(cell);
    cellLayout->addWidget(editor);
    cellLayout->addWidget(f.error);
    form->addRow(label, cell);
    editors_.push_back(f);
  }
  // Values after every field exists (the editors_ vector no longer moves).
  for (const Field& f : editors_) {
    const auto it = remembered.find(f.spec->name);
    const std::string value = it != remembered.end() ? it->second : f.spec->default_value;
    values_[f.spec->name] = value;
    base_[f.spec->name] = value;
    showValue(f, value);
    const std::string name = f.spec->name;
    if (auto* edit = qobject_cast<QLineEdit*>(f.editor)) {
      // Checked as the user types: an error shows at once, a valid value is used at once.
      connect(edit, &QLineEdit::textEdited, this, [this, name](const QString& text) {
        if (const Field* g = field(name)) apply(*g, text, true);
      });
      // The edit is over: what it holds now (when valid) is what a later bad edit falls back to.
      connect(edit, &QLineEdit::editingFinished, this, [this, name] {
        if (!errors_.count(name)) base_[name] = values_[name];
      });
    } else if (auto* check = qobject_cast<QCheckBox*>(f.editor)) {
      connect(check, &QCheckBox::toggled, this, [this, name](bool on) {
        if (const Field* g = field(name)) apply(*g, on ? "true" : "false", true);
      });
    } else if (auto* box = qobject_cast<QComboBox*>(f.editor)) {
      connect(box, &QComboBox::currentTextChanged, this, [this, name](const QString& text) {
        if (const Field* g = field(name)) apply(*g, text, true);
      });
    }
  }
  updateWarnings();
}

void PolicyForm::showValue(const Field& f, const std::string& value) {
  const bool wasBuilding = std::exchange(building_, true);
  const QString text = QString::fromStdString(value);
  if (auto* edit = qobject_cast<QLineEdit*>(f.editor)) {
    edit->setText(text);
    edit->setCursorPosition(0);
  } else if (auto* check = qobject_cast<QCheckBox*>(f.editor)) {
    check->setChecked(value == "true");
  } else if (auto* box = qobject_cast<QComboBox*>(f.editor)) {
    box->setCurrentIndex(std::max(0, box->findText(text)));
  }
  building_ = wasBuilding;
}

void PolicyForm::setError(const Field& f, const QString& error) {
  const bool before = hasErrors();
  if (error.isEmpty())
    errors_.erase(f.spec->name);
  else
    errors_[f.spec->name] = error;
  f.error->setText(error);
  f.error->setVisible(!error.isEmpty());
  if (auto* edit = qobject_cast<QLineEdit*>(f.editor))
    edit->setStyleSheet(error.isEmpty() ? QString() : QString::fromLatin1(kErrorStyle));
  if (before != hasErrors()) emit validityChanged(!hasErrors());
}

QString PolicyForm::apply(const Field& f, const QString& text, bool fromUser) {
  if (building_) return {};
  const std::string& name = f.spec->name;
  const KnobParse parsed = parseKnobText(*f.spec, text);
  setError(f, parsed.error);
  const bool typing = fromUser && qobject_cast<QLineEdit*>(f.editor);
  // A text being typed passes through other valid numbers ("1" on the way to "1,5"): a bad text
  // falls back to the value from before this edit, so an error never leaves a half-typed value.
  const std::string value = parsed.error.isEmpty() ? parsed.value : base_[name];
  if (parsed.error.isEmpty() && !typing) {
    showValue(f, value);  // a bool or choice set from code shows it; typed text stays as typed
    base_[name] = value;
  }
  if (values_[name] != value) {
    values_[name] = value;
    if (const PolicyDescription* p = current()) edited_[p->name] = values_;
    updateWarnings();
    emit valuesChanged();
  }
  return parsed.error;
}

QString PolicyForm::setKnobText(const std::string& knob, const QString& text) {
  const Field* f = field(knob);
  if (!f)
    return QStringLiteral("%1: policy '%2' has no such knob")
        .arg(QString::fromStdString(knob), QString::fromStdString(policyName()));
  if (auto* edit = qobject_cast<QLineEdit*>(f->editor)) {
    const bool wasBuilding = std::exchange(building_, true);
    edit->setText(text);  // a refused text stays in the field, next to its error
    building_ = wasBuilding;
  }
  return apply(*f, text, false);
}

QStringList PolicyForm::setKnobValues(const std::map<std::string, std::string>& values) {
  QStringList problems;
  for (const auto& [knob, value] : values) {
    const QString error = setKnobText(knob, QString::fromStdString(value));
    if (!error.isEmpty()) problems << error;
  }
  return problems;
}

void PolicyForm::resetToDefaults() {
  for (const Field& f : editors_) {
    setError(f, {});
    showValue(f, f.spec->default_value);
    values_[f.spec->name] = base_[f.spec->name] = f.spec->default_value;
  }
  if (const PolicyDescription* p = current()) edited_.erase(p->name);
  updateWarnings();
  emit valuesChanged();
}

std::map<std::string, std::string> PolicyForm::knobValues() const {
  return values_;
}

QStringList PolicyForm::errors() const {
  QStringList out;
  for (const Field& f : editors_) {
    const auto it = errors_.find(f.spec->name);
    if (it != errors_.end()) out << it->second;
  }
  return out;
}

QString PolicyForm::errorFor(const std::string& knob) const {
  const auto it = errors_.find(knob);
  return it == errors_.end() ? QString() : it->second;
}

void PolicyForm::setPromptLength(int tokens, int visualTokens) {
  promptTokens_ = tokens;
  visualTokens_ = visualTokens;
  updateWarnings();
}

QStringList PolicyForm::warnings() const {
  QStringList out;
  const PolicyDescription* p = current();
  if (!p) return out;
  const std::string& name = p->name;
  const auto& v = values_;
  const QString policy = QString::fromStdString(name);
  auto has = [&](const char* knob) { return v.count(knob) > 0; };
  const int prompt = promptTokens_;
  if (prompt > 0) {
    // SnapKV, PyramidKV, Ada-KV: a prompt no longer than the budget is not compressed.
    if (has("budget") && has("window")) {
      const double budget = numberOr(v, "budget", 0), ratio = numberOr(v, "keep_ratio", 0);
      if (ratio <= 0 && budget >= prompt)
        out << QStringLiteral(
                   "%1 evicts nothing: its budget (%2 tokens) is not below the prompt length "
                   "(%3 tokens), and shorter prompts are not compressed. Lower the budget or set "
                   "a kept fraction (keep_ratio).")
                   .arg(policy, readableNumber(budget), readableNumber(prompt));
    } else if (has("budget")) {  // TOVA: keeps `budget` tokens per layer
      const double budget = numberOr(v, "budget", 0);
      if (budget >= prompt)
        out << QStringLiteral(
                   "%1 evicts nothing until the context passes its budget (%2 tokens); the prompt "
                   "has %3.")
                   .arg(policy, readableNumber(budget), readableNumber(prompt));
    }
    if (has("sink") && has("recent")) {
      const double kept = numberOr(v, "sink", 0) + numberOr(v, "recent", 0);
      if (kept >= prompt)
        out << QStringLiteral(
                   "%1 evicts nothing until the context passes sink + recent (%2 tokens); the "
                   "prompt has %3.")
                   .arg(policy, readableNumber(kept), readableNumber(prompt));
    }
    if (has("ddes.budget") && textOr(v, "ddes.enabled") != "false") {
      const double budget = numberOr(v, "ddes.budget", 0);
      if (budget > 1 && budget >= prompt)
        out << QStringLiteral(
                   "DDES evicts nothing until the context passes its live budget (%1 tokens); the "
                   "prompt has %2.")
                   .arg(readableNumber(budget), readableNumber(prompt));
    }
  }
  if (visualTokens_ > 0) {
    if (textOr(v, "dap.mode") == "keep" && textOr(v, "dap.enabled") != "false" &&
        numberOr(v, "dap.keep", 0) >= visualTokens_)
      out << QStringLiteral(
                 "DAP keeps every visual token: dap.keep (%1) is not below the %2 "
                 "visual tokens.")
                 .arg(readableNumber(numberOr(v, "dap.keep", 0)), readableNumber(visualTokens_));
    if (name == "fastv" && numberOr(v, "keep", 0) >= visualTokens_)
      out << QStringLiteral("fastv prunes nothing: keep (%1) is not below the %2 visual tokens.")
                 .arg(readableNumber(numberOr(v, "keep", 0)), readableNumber(visualTokens_));
  }
  if (has("heavy_ratio") && has("recent_ratio") &&
      numberOr(v, "heavy_ratio", 0) + numberOr(v, "recent_ratio", 0) >= 1)
    out << QStringLiteral("%1 keeps the whole prompt: heavy + recent fractions reach 1.")
               .arg(policy);
  return out;
}

void PolicyForm::updateWarnings() {
  const QStringList list = warnings();
  warning_->setText(list.join(QStringLiteral("\n")));
  warning_->setVisible(!list.isEmpty());
}

QWidget* PolicyForm::editor(const std::string& knob) const {
  const Field* f = field(knob);
  return f ? f->editor : nullptr;
}

QLabel* PolicyForm::errorLabel(const std::string& knob) const {
  const Field* f = field(knob);
  return f ? f->error : nullptr;
}

}  // namespace hae::widgets
