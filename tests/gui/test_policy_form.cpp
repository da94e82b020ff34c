// The policy form on knob specs shaped like the real ones (torch-free): typed values reach
// knobValues() exactly as typed (5e-5 stays 5e-5), bad values show an error naming the knob and
// change nothing, knobs are grouped under readable labels with readable ranges, reset restores
// the defaults, and a budget the prompt does not exceed is called out.
#include <QCheckBox>
#include <QComboBox>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QtTest>

#include "hae/widgets/knob_text.h"
#include "hae/widgets/policy_form.h"

using namespace hae;
using namespace hae::widgets;

namespace {

std::vector<PolicyDescription> policies() {
  return {
      {"full", {}},
      {"hae",
       {{"dap.r", KnobType::Float, 0, 1, "0.0015", {}, "Threshold r (0: evict nothing)"},
        {"dap.mode",
         KnobType::Choice,
         0,
         0,
         "threshold",
         {"threshold", "keep", "cap"},
         "Pruning rule"},
        {"dap.keep", KnobType::Int, 1, 1e9, "192", {}, "keep mode: retained visual tokens"},
        {"broadcast.groups", KnobType::Int, 1, 1000, "1", {}, "Layer groups"},
        {"pos.mode", KnobType::Choice, 0, 0, "original", {"original", "renumber"}, "Positions"},
        {"ddes.budget", KnobType::Float, 0.001, 1e9, "0.59", {}, "Active budget B"},
        {"ddes.bin", KnobType::Int, 0, 1e9, "64", {}, "Recycle-bin capacity d"},
        {"ddes.bin_attended", KnobType::Bool, 0, 0, "true", {}, "Bin tokens attended"},
        {"compaction.free_fraction", KnobType::Float, 0, 1, "0.25", {}, "Compaction"}}},
      {"snapkv",
       {{"budget", KnobType::Int, 1, 1e9, "2048", {}, "Kept tokens per layer"},
        {"keep_ratio", KnobType::Float, 0, 1, "0", {}, "Kept fraction"},
        {"window", KnobType::Int, 1, 1e9, "32", {}, "Observation window"}}},
  };
}

QLineEdit* lineEdit(PolicyForm& form, const std::string& knob) {
  return qobject_cast<QLineEdit*>(form.editor(knob));
}

// Replaces the field's text by typing, as a user does.
void typeInto(QLineEdit* edit, const QString& text) {
  edit->selectAll();
  QTest::keyClick(edit, Qt::Key_Backspace);
  QTest::keyClicks(edit, text);
}

}  // namespace

class PolicyFormTest : public QObject {
  Q_OBJECT
 private slots:
  void typedScientificNotationReachesTheValuesExactly() {
    PolicyForm form;
    form.setPolicies(policies(), "hae");
    QLineEdit* r = lineEdit(form, "dap.r");
    QVERIFY(r);
    QCOMPARE(r->text(), QStringLiteral("0.0015"));
    QSignalSpy changed(&form, &PolicyForm::valuesChanged);
    typeInto(r, QStringLiteral("5e-5"));
    QVERIFY2(!form.hasErrors(), qPrintable(form.errors().join("; ")));
    QCOMPARE(form.knobValues().at("dap.r"), std::string("5e-5"));
    QCOMPARE(std::stod(form.knobValues().at("dap.r")), 5e-5);  // not rounded to 0
    QCOMPARE(r->text(), QStringLiteral("5e-5"));               // the field shows what was typed
    QVERIFY(changed.count() >= 1);
    // A tiny value that a spin box with 4 decimals would have shown as 0.
    typeInto(r, QStringLiteral("0.00005"));
    QCOMPARE(form.knobValues().at("dap.r"), std::string("0.00005"));
    // Ints are passed on in plain digits, the same value.
    typeInto(lineEdit(form, "ddes.bin"), QStringLiteral("1e3"));
    QCOMPARE(form.knobValues().at("ddes.bin"), std::string("1000"));
  }

  void badKnobShowsAnErrorAndChangesNothing() {
    PolicyForm form;
    form.setPolicies(policies(), "hae");
    form.show();
    const auto before = form.knobValues();
    QSignalSpy changed(&form, &PolicyForm::valuesChanged);
    QSignalSpy validity(&form, &PolicyForm::validityChanged);
    QLineEdit* bin = lineEdit(form, "ddes.bin");
    typeInto(bin, QStringLiteral("-7"));
    QVERIFY(form.hasErrors());
    QCOMPARE(form.knobValues(), before);  // -7 is not 7, and not 0: nothing changed
    QCOMPARE(changed.count(), 0);
    QCOMPARE(validity.count(), 1);
    QCOMPARE(validity.first().first().toBool(), false);
    const QString error = form.errorFor("ddes.bin");
    QVERIFY2(error.contains(QStringLiteral("ddes.bin")) && error.contains(QStringLiteral("-7")) &&
                 error.contains(QStringLiteral("out of range")),
             qPrintable(error));
    QVERIFY(form.errorLabel("ddes.bin")->isVisible());
    QCOMPARE(form.errorLabel("ddes.bin")->text(), error);
    QCOMPARE(bin->text(), QStringLiteral("-7"));  // still there to be corrected, not replaced

    typeInto(lineEdit(form, "dap.r"), QStringLiteral("abc"));
    QVERIFY(form.errorFor("dap.r").contains(QStringLiteral("not a number")));
    typeInto(lineEdit(form, "broadcast.groups"), QStringLiteral("2.5"));
    QVERIFY(form.errorFor("broadcast.groups").contains(QStringLiteral("whole number")));
    typeInto(lineEdit(form, "compaction.free_fraction"), QStringLiteral("1.5"));
    QVERIFY(form.errorFor("compaction.free_fraction").contains(QStringLiteral("0 to 1")));
    for (const char* bad : {"nan", "inf", "0x10", "1,5", ""}) {
      typeInto(lineEdit(form, "ddes.budget"), QString::fromLatin1(bad));
      QVERIFY2(!form.errorFor("ddes.budget").isEmpty(), bad);
    }
    QCOMPARE(form.errors().size(), 5);
    // "1,5" passed through a valid "1" while being typed: the error falls back to the value from
    // before the edit, not to the half-typed one.
    QCOMPARE(form.knobValues(), before);

    // Code setting values goes through the same checks.
    const QStringList refused = form.setKnobValues({{"dap.keep", "0"}, {"dap.mode", "bogus"}});
    QCOMPARE(refused.size(), 2);
    QCOMPARE(form.knobValues(), before);

    // Correcting a field clears its error and uses the value.
    typeInto(bin, QStringLiteral("32"));
    QVERIFY(form.errorFor("ddes.bin").isEmpty());
    QVERIFY(!form.errorLabel("ddes.bin")->isVisible());
    QCOMPARE(form.knobValues().at("ddes.bin"), std::string("32"));
    QVERIFY(changed.count() >= 1);
  }

  void knobsAreGroupedWithReadableLabelsAndRanges() {
    PolicyForm form;
    form.setPolicies(policies(), "hae");
    QStringList titles;
    for (QGroupBox* box : form.findChildren<QGroupBox*>()) titles << box->title();
    for (const char* group : {"DAP", "Broadcast", "DDES", "Positions", "Compaction"}) {
      bool found = false;
      for (const QString& t : titles) found = found || t.contains(QLatin1String(group));
      QVERIFY2(found, qPrintable(group + QStringLiteral(" not in ") + titles.join(", ")));
    }
    QCOMPARE(titles.size(), 5);
    // The label reads as words; the identifier is in the tooltip.
    QStringList labels;
    for (QLabel* l : form.findChildren<QLabel*>()) labels << l->text();
    QVERIFY(labels.contains(QStringLiteral("Threshold r")));
    QVERIFY(labels.contains(QStringLiteral("Recycle bin size d")));
    QVERIFY(!labels.contains(QStringLiteral("dap.r")));
    QVERIFY(form.editor("dap.r")->toolTip().contains(QStringLiteral("dap.r")));
    const QString binTip = form.editor("ddes.bin")->toolTip();
    QVERIFY2(binTip.contains(QStringLiteral("at least 0")) && !binTip.contains("e+09"),
             qPrintable(binTip));
    QCOMPARE(readableRange({"x", KnobType::Int, 1, 1e9, "1", {}, ""}),
             QStringLiteral("whole number, at least 1"));
    QCOMPARE(readableRange({"x", KnobType::Float, 0, 1, "0", {}, ""}), QStringLiteral("0 to 1"));
    QCOMPARE(readableRange({"x", KnobType::Float, -1e6, 1e6, "0", {}, ""}),
             QStringLiteral("-1,000,000 to 1,000,000"));
    QCOMPARE(readableRange({"x", KnobType::Int, 1, 1000, "1", {}, ""}),
             QStringLiteral("whole number, 1 to 1,000"));
  }

  void resetRestoresDefaultsAndClearsErrors() {
    PolicyForm form;
    form.setPolicies(policies(), "hae");
    const auto defaults = form.knobValues();
    typeInto(lineEdit(form, "dap.r"), QStringLiteral("0.01"));
    typeInto(lineEdit(form, "ddes.bin"), QStringLiteral("-1"));
    qobject_cast<QCheckBox*>(form.editor("ddes.bin_attended"))->setChecked(false);
    qobject_cast<QComboBox*>(form.editor("pos.mode"))->setCurrentIndex(1);
    QCOMPARE(form.knobValues().at("dap.r"), std::string("0.01"));
    QCOMPARE(form.knobValues().at("ddes.bin_attended"), std::string("false"));
    QCOMPARE(form.knobValues().at("pos.mode"), std::string("renumber"));
    // Edits survive switching policies and back.
    form.selectPolicy("full");
    QCOMPARE(form.editorCount(), 0);
    QVERIFY(!form.hasErrors());
    form.selectPolicy("hae");
    QCOMPARE(form.knobValues().at("dap.r"), std::string("0.01"));
    typeInto(lineEdit(form, "ddes.bin"), QStringLiteral("-1"));
    QVERIFY(form.hasErrors());
    QTest::mouseClick(form.resetButton(), Qt::LeftButton);
    QCOMPARE(form.knobValues(), defaults);
    QVERIFY(!form.hasErrors());
    QCOMPARE(lineEdit(form, "ddes.bin")->text(), QStringLiteral("64"));
    QVERIFY(qobject_cast<QCheckBox*>(form.editor("ddes.bin_attended"))->isChecked());
  }

  void budgetAbovePromptIsCalledOut() {
    PolicyForm form;
    form.setPolicies(policies(), "snapkv");
    form.show();
    QVERIFY(form.warnings().isEmpty());  // prompt length unknown yet
    form.setPromptLength(155, 144);
    QCOMPARE(form.warnings().size(), 1);
    QVERIFY(form.warnings().first().contains(QStringLiteral("evicts nothing")));
    QVERIFY(form.warnings().first().contains(QStringLiteral("2,048")));
    QVERIFY(form.warningLabel()->isVisible());
    typeInto(lineEdit(form, "budget"), QStringLiteral("100"));
    QVERIFY(form.warnings().isEmpty());
    QVERIFY(!form.warningLabel()->isVisible());
    typeInto(lineEdit(form, "budget"), QStringLiteral("4096"));
    QCOMPARE(form.warnings().size(), 1);
    typeInto(lineEdit(form, "keep_ratio"), QStringLiteral("0.5"));  // overrides the budget
    QVERIFY(form.warnings().isEmpty());

    form.selectPolicy("hae");
    QVERIFY(form.warnings().isEmpty());
    typeInto(lineEdit(form, "ddes.budget"), QStringLiteral("400"));
    QCOMPARE(form.warnings().size(), 1);
    qobject_cast<QComboBox*>(form.editor("dap.mode"))->setCurrentText(QStringLiteral("keep"));
    typeInto(lineEdit(form, "dap.keep"), QStringLiteral("200"));
    QCOMPARE(form.warnings().size(), 2);  // 200 >= 144 visual tokens: DAP keeps them all
  }
};

QTEST_MAIN(PolicyFormTest)
#include "test_policy_form.moc"
