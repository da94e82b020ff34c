#pragma once
// A policy chooser and a settings form built from the policies' own knob descriptions, so a new
// policy or knob needs no GUI code.
#include <QWidget>
#include <map>
#include <string>
#include <vector>

#include "hae/knobs.h"

class QComboBox;
class QFormLayout;
class QPushButton;

namespace hae::widgets {

struct PolicyDescription {
  std::string name;
  std::vector<KnobSpec> knobs;
};

class PolicyForm : public QWidget {
  Q_OBJECT
 public:
  explicit PolicyForm(QWidget* parent = nullptr);

  // Replaces the list; the first policy (or the one named `select`, when present) is chosen.
  void setPolicies(std::vector<PolicyDescription> policies, const std::string& select = {});
  void selectPolicy(const std::string& name);  // ignored when unknown
  std::string policyName() const;
  // Every knob of the chosen policy as text ("64", "0.0015", "true", "text-after-image").
  std::map<std::string, std::string> knobValues() const;
  // Sets the knobs named in `values` (others keep theirs); values outside the range are clamped.
  void setKnobValues(const std::map<std::string, std::string>& values);
  void resetToDefaults();

  // The editor built for `knob` of the chosen policy (QSpinBox, QDoubleSpinBox, QCheckBox or
  // QComboBox), nullptr when there is none.
  QWidget* editor(const std::string& knob) const;
  int editorCount() const { return static_cast<int>(editors_.size()); }
  QComboBox* policyBox() const { return policyBox_; }
  QPushButton* resetButton() const { return resetButton_; }

 signals:
  void policyChanged(const QString& name);
  void valuesChanged();

 private:
  void buildForm();
  const PolicyDescription* current() const;
  static std::string editorValue(const KnobSpec& spec, const QWidget* editor);
  static void setEditorValue(const KnobSpec& spec, QWidget* editor, const std::string& value);

  std::vector<PolicyDescription> policies_;
  // Values edited per policy, so switching away and back keeps what the user typed.
  std::map<std::string, std::map<std::string, std::string>> edited_;
  std::vector<std::pair<const KnobSpec*, QWidget*>> editors_;
  QComboBox* policyBox_ = nullptr;
  QWidget* formHost_ = nullptr;
  QFormLayout* form_ = nullptr;
  QPushButton* resetButton_ = nullptr;
  bool building_ = false;
};

}  // namespace hae::widgets
