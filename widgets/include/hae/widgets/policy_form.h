#pragma once
// A policy chooser and a settings form built from the policies' own knob descriptions, so a new
// policy or knob needs no GUI code. Numbers are typed as text and checked exactly: a value is
// used as typed (5e-5 stays 5e-5) or refused with an inline error that names the knob; nothing is
// ever rounded, clamped or dropped without a word. Knobs are grouped by their prefix (DAP,
// broadcast, DDES, positions, compaction) under readable labels, the identifier in the tooltip.
#include <QWidget>
#include <map>
#include <string>
#include <vector>

#include "hae/knobs.h"

class QComboBox;
class QLabel;
class QPushButton;
class QVBoxLayout;

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
  // Every knob of the chosen policy as the policy will get it: the last valid value of each
  // ("64", "5e-5", "true", "text-after-image"). A field showing an error keeps its last valid
  // value here, so check hasErrors() before starting a run.
  std::map<std::string, std::string> knobValues() const;
  // Sets the knobs named in `values` (others keep theirs) through the same checks as typing: an
  // invalid value changes nothing, shows its error at the field and is returned here.
  QStringList setKnobValues(const std::map<std::string, std::string>& values);
  // Types `text` into the knob's field, as the user would (tests, scripted runs).
  QString setKnobText(const std::string& knob, const QString& text);
  void resetToDefaults();

  // Fields showing an error ("dap.r: '-7' is out of range (0 to 1)"), in form order.
  bool hasErrors() const { return !errors_.empty(); }
  QStringList errors() const;
  QString errorFor(const std::string& knob) const;

  // The prompt the next run will have (tokens, of which visual), or -1 when unknown: a budget
  // that the prompt does not exceed means the policy evicts nothing, and the form says so.
  void setPromptLength(int tokens, int visualTokens = -1);
  QStringList warnings() const;  // what the warning line shows, one entry per problem

  // The editor built for `knob` of the chosen policy (QLineEdit for numbers, QCheckBox or
  // QComboBox), nullptr when there is none.
  QWidget* editor(const std::string& knob) const;
  QLabel* errorLabel(const std::string& knob) const;
  QLabel* warningLabel() const { return warning_; }
  int editorCount() const { return static_cast<int>(editors_.size()); }
  QComboBox* policyBox() const { return policyBox_; }
  QPushButton* resetButton() const { return resetButton_; }

 signals:
  void policyChanged(const QString& name);
  void valuesChanged();
  void validityChanged(bool valid);  // hasErrors() flipped

 private:
  struct Field {
    const KnobSpec* spec = nullptr;
    QWidget* editor = nullptr;
    QLabel* error = nullptr;
  };
  void buildForm();
  const PolicyDescription* current() const;
  const Field* field(const std::string& knob) const;
  // Checks `text` for the field; a valid value is committed, an invalid one shown. Returns the
  // error ("" when valid).
  QString apply(const Field& f, const QString& text, bool fromUser);
  void showValue(const Field& f, const std::string& value);
  void setError(const Field& f, const QString& error);
  void updateWarnings();

  std::vector<PolicyDescription> policies_;
  // Values edited per policy, so switching away and back keeps what the user typed.
  std::map<std::string, std::map<std::string, std::string>> edited_;
  std::map<std::string, std::string> values_;  // the chosen policy's valid values
  std::map<std::string, std::string> base_;    // per knob: the value before the current edit
  std::map<std::string, QString> errors_;      // knob -> error shown at its field
  std::vector<Field> editors_;
  QComboBox* policyBox_ = nullptr;
  QWidget* formHost_ = nullptr;
  QVBoxLayout* formLayout_ = nullptr;
  QLabel* warning_ = nullptr;
  QPushButton* resetButton_ = nullptr;
  int promptTokens_ = -1, visualTokens_ = -1;
  bool building_ = false;
};

}  // namespace hae::widgets
