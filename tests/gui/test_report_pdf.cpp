// The PDF run report, offscreen: a whole file with the expected pages, written atomically, and
// reachable through core's writeReport once the Qt writer is installed.
#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QtTest>

#include "../report_fixture.h"
#include "hae/error.h"
#include "hae/report.h"
#include "hae/widgets/report_pdf.h"

class TestReportPdf : public QObject {
  Q_OBJECT

 private:
  static int countPages(const QByteArray& pdf) {
    // Page objects, not the /Type /Pages tree node.
    return static_cast<int>(
        pdf.count(QByteArray("/Type /Page\n")) + pdf.count(QByteArray("/Type /Page ")) +
        pdf.count(QByteArray("/Type /Page/")) + pdf.count(QByteArray("/Type /Page>")));
  }

 private slots:
  void writesAWholePdfWithItsPages() {
    const auto run = hae::test::syntheticRun(
        QStringLiteral(HAE_TEST_DATA "/preprocess/images/rose.png").toStdString());
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("run.pdf"));
    const int pages =
        hae::widgets::writePdfReport(path.toStdString(), run.info, run.steps, run.answer);
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray pdf = f.readAll();
    QVERIFY(pdf.startsWith("%PDF-"));
    QVERIFY(pdf.trimmed().endsWith("%%EOF"));
    // Summary and overlay, then the plots, then the text, settings and step table.
    QCOMPARE(pages, 3);
    QCOMPARE(countPages(pdf), pages);
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden),
             QStringList{QStringLiteral("run.pdf")});
    // A copy for eyes (pdftoppm it to PNG).
    QFile::remove(QStringLiteral(HAE_TEST_OUTPUT "/report.pdf"));
    QFile::copy(path, QStringLiteral(HAE_TEST_OUTPUT "/report.pdf"));
  }

  void longAnswersFlowOntoMorePages() {
    auto run = hae::test::syntheticRun(
        QStringLiteral(HAE_TEST_DATA "/preprocess/images/rose.png").toStdString());
    for (int i = 0; i < 400; ++i) run.answer += "A line of generated text that goes on. ";
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("long.pdf"));
    const int pages =
        hae::widgets::writePdfReport(path.toStdString(), run.info, run.steps, run.answer);
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    QVERIFY(pages > 3);
    QCOMPARE(countPages(f.readAll()), pages);
  }

  void writeReportDelegatesPdfAndReportsUnwritablePaths() {
    const auto run = hae::test::syntheticRun("missing.png");
    hae::setPdfReportWriter([](const std::string& p, const hae::RunInfo& i,
                               const std::vector<hae::StepTelemetry>& s,
                               const std::string& a) { hae::widgets::writePdfReport(p, i, s, a); });
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("via-core.pdf"));
    hae::writeReport(path.toStdString(), run.info, run.steps, run.answer);
    QVERIFY(QFileInfo(path).size() > 1000);
    const std::string bad = dir.filePath(QStringLiteral("no-such-dir/r.pdf")).toStdString();
    try {
      hae::writeReport(bad, run.info, run.steps, run.answer);
      QFAIL("an unwritable PDF path did not throw");
    } catch (const hae::Error& e) {
      QVERIFY2(std::string(e.what()).find(bad) != std::string::npos, e.what());
    }
    hae::setPdfReportWriter({});
  }
};

QTEST_MAIN(TestReportPdf)
#include "test_report_pdf.moc"
