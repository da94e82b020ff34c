// Drives the real studio window with the llava-medium fixture model on the offscreen platform:
// load, prefill, step, check the views against the engine's own telemetry, scrub, export, measure
// how long the event loop stalls during a 64-token run, and feed it a bad model folder and a bad
// image. The worker thread does the real LibTorch work, exactly as in the application.
#include <QCheckBox>
#include <QComboBox>
#include <QDropEvent>
#include <QElapsedTimer>
#include <QFile>
#include <QMessageBox>
#include <QMimeData>
#include <QSlider>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <cstdio>

#include "compare_view.h"
#include "hae/widgets/bin_activity_plot.h"
#include "hae/widgets/cache_size_plot.h"
#include "hae/widgets/latency_plot.h"
#include "hae/widgets/occupancy_heatmap.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/policy_form.h"
#include "hae/widgets/run_history.h"
#include "hae/widgets/token_stream_view.h"
#include "main_window.h"
#include "session_controller.h"

using namespace hae;
using namespace hae::studio;

namespace {

const QString kModel = QStringLiteral(HAE_TEST_DATA "/models/llava-medium");
const QString kImage = QStringLiteral(HAE_TEST_DATA "/preprocess/images/rose.png");
constexpr int kLoadTimeoutMs = 120000;
constexpr int kRunTimeoutMs = 300000;

bool isPng(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) && f.read(8) == QByteArray("\x89PNG\r\n\x1a\n", 8);
}

// Closes the message boxes the window opened, as a user would.
int closeMessageBoxes(QWidget* window) {
  int n = 0;
  for (QMessageBox* box : window->findChildren<QMessageBox*>()) {
    box->close();
    ++n;
  }
  return n;
}

}  // namespace

class StudioWindowTest : public QObject {
  Q_OBJECT
 private:
  MainWindow* window_ = nullptr;

  bool waitForStop(int timeoutMs = kRunTimeoutMs) {
    QSignalSpy stopped(window_->controller(), &SessionController::runStopped);
    QSignalSpy failed(window_->controller(), &SessionController::runFailed);
    return stopped.wait(timeoutMs) && failed.isEmpty();
  }

  bool prefillNow() {
    QSignalSpy started(window_->controller(), &SessionController::runStarted);
    window_->prefill();
    return started.wait(kRunTimeoutMs);
  }

 private slots:
  void initTestCase() {
    StudioOptions options;
    options.loadDemo = false;  // the fixture model, not the (maybe not yet trained) demo model
    window_ = new MainWindow(options);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_));
    QSignalSpy loaded(window_->controller(), &SessionController::modelLoaded);
    window_->loadModel(kModel);
    QVERIFY(loaded.wait(kLoadTimeoutMs));
    QVERIFY(window_->controller()->modelReady());
    QVERIFY(window_->setImage(kImage));
    window_->setPrompt(QStringLiteral("what is in the picture?"));
    QCOMPARE(window_->policyForm()->policyName(), std::string("full"));  // preselected
  }

  void cleanupTestCase() {
    delete window_;
    window_ = nullptr;
  }

  void prefillAndStepMatchEngine() {
    // HAE (when this build has it) evicts and bins patches, so the states compared are not all
    // "kept".
    if (window_->policyForm()->policyBox()->findText("hae") >= 0)
      window_->policyForm()->selectPolicy("hae");
    QVERIFY(prefillNow());
    widgets::RunHistory* h = window_->history();
    QCOMPARE(h->stepCount(), 1);
    QCOMPARE(static_cast<int>(h->info().visual_tokens.size()), 576);
    QCOMPARE(h->numLayers(), 4);

    for (int i = 0; i < 3; ++i) {
      window_->step();
      QVERIFY(waitForStop());
    }
    QCOMPARE(h->stepCount(), 4);
    QCOMPARE(h->cursor(), 3);

    // The engine's own record, fetched from the session on the worker thread.
    QSignalSpy ready(window_->controller(), &SessionController::historyReady);
    window_->controller()->fetchHistory();
    QVERIFY(ready.wait(10000));
    const StepList engine = ready.takeFirst().at(0).value<StepList>();
    QVERIFY(engine);
    QCOMPARE(static_cast<int>(engine->size()), h->stepCount());
    for (int i = 0; i < h->stepCount(); ++i) {
      const StepTelemetry& shown = h->step(i);
      const StepTelemetry& truth = (*engine)[i];
      QCOMPARE(shown.step, truth.step);
      QCOMPARE(shown.token_id, truth.token_id);
      QCOMPARE(shown.totalBytes(), truth.totalBytes());
      QVERIFY(shown.patch_states == truth.patch_states);
    }
    // What the overlay paints comes from the history's cursor step: every patch in every layer.
    const StepTelemetry& last = engine->back();
    QCOMPARE(static_cast<int>(last.patch_states.size()), 4);
    for (int l = 0; l < 4; ++l)
      for (int v = 0; v < 576; ++v)
        QCOMPARE(h->patchState(v, l, h->cursor()), last.patch_states[l][v]);
    int dropped = 0;
    for (const auto& layer : last.patch_states)
      dropped += static_cast<int>(std::count_if(
          layer.begin(), layer.end(), [](PatchState s) { return s != PatchState::Kept; }));
    std::printf("policy %s: %d of %d (patch, layer) pairs not kept after %d steps\n",
                h->info().policy_name.c_str(), dropped, 4 * 576, h->stepCount() - 1);
    QVERIFY(!window_->overlay()->patchRect(0).isEmpty());
    QVERIFY(!window_->overlay()->patchRect(575).isEmpty());
    QVERIFY(window_->overlay()->patchRect(0).intersects(window_->overlay()->rect()));
    QVERIFY(!window_->answer().isEmpty());
  }

  void plotsHaveOnePointPerStep() {
    window_->flushViews();
    const int n = window_->history()->stepCount();
    QCOMPARE(window_->cachePlot()->visualLine()->dataCount(), n);
    QCOMPARE(window_->cachePlot()->bytesLine()->dataCount(), n);
    QCOMPARE(window_->cachePlot()->visualBars()->dataCount(), 4);
    QCOMPARE(window_->latencyPlot()->modelGraph()->dataCount(), n - 1);
    QCOMPARE(window_->latencyPlot()->policyGraph()->dataCount(), n - 1);
    QCOMPARE(window_->binPlot()->occupancyGraph()->dataCount(), n);
    QCOMPARE(window_->heatmap()->columnCount(), n);
    QVERIFY(window_->statusText().contains("KV cache"));
    QVERIFY(window_->statusText().contains("tokens/s"));
  }

  void scrubBackAndExport() {
    widgets::RunHistory* h = window_->history();
    QVERIFY(window_->scrubber()->isEnabled());
    QCOMPARE(window_->scrubber()->maximum(), h->stepCount() - 1);
    window_->scrubber()->setValue(0);
    QCOMPARE(h->cursor(), 0);
    window_->flushViews();
    QCOMPARE(window_->cachePlot()->cursorKey(), 0.0);
    QCOMPARE(window_->cachePlot()->visualLine()->dataCount(), h->stepCount());  // history stays
    window_->scrubber()->setValue(2);
    QCOMPARE(h->cursor(), 2);

    window_->allLayersBox()->setChecked(false);
    window_->layerSlider()->setValue(3);
    QCOMPARE(window_->overlay()->layer(), 3);
    QCOMPARE(window_->tokenStream()->layer(), 3);
    window_->allLayersBox()->setChecked(true);
    QCOMPARE(window_->overlay()->layer(), int(widgets::PatchOverlayView::kAllLayers));

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QString error;
    QVERIFY2(window_->cachePlot()->exportTo(dir.filePath("cache.png"), &error), qPrintable(error));
    QVERIFY(isPng(dir.filePath("cache.png")));
    QVERIFY2(window_->latencyPlot()->exportTo(dir.filePath("latency.svg"), &error),
             qPrintable(error));
    QVERIFY(QFileInfo(dir.filePath("latency.svg")).size() > 0);
    for (const char* name :
         {"report.html", "report.json", "report.csv", "report.trace.json", "report.pdf"}) {
      QVERIFY2(window_->exportReport(dir.filePath(name), &error), qPrintable(error));
      QVERIFY2(QFileInfo(dir.filePath(name)).size() > 100, name);
    }
    QVERIFY(!window_->exportReport(dir.filePath("report.docx"), &error));
    QVERIFY(error.contains("report.docx"));
    window_->scrubber()->setValue(window_->scrubber()->maximum());
    QVERIFY(h->cursorAtLatest());
  }

  void runStallBenchmark() {
    // A 5 ms ticker records the longest gap between ticks while 64 tokens stream in: that gap is
    // the worst the user would feel (the window is frozen for that long).
    widgets::RunHistory* h = window_->history();
    QElapsedTimer clock;
    qint64 last = 0, worst = 0;
    QTimer ticker;
    ticker.setInterval(5);
    connect(&ticker, &QTimer::timeout, this, [&] {
      const qint64 now = clock.elapsed();
      worst = std::max(worst, now - last);
      last = now;
    });
    int tokens = 0;
    int runs = 0;
    clock.start();
    ticker.start();
    // The fixture's random weights may emit </s> early; keep asking until 64 tokens went by.
    while (tokens < 64 && runs < 8) {
      window_->resetRun();
      QVERIFY(prefillNow());
      window_->run(64 - tokens);
      QVERIFY(waitForStop());
      tokens += h->stepCount() - 1;
      ++runs;
    }
    ticker.stop();
    const double seconds = clock.elapsed() / 1000.0;
    std::printf(
        "BENCH studio event-loop stall: max %lld ms over %d tokens in %d run(s), %.2f s "
        "(%.1f tokens/s incl. prefill)\n",
        static_cast<long long>(worst), tokens, runs, seconds, tokens / seconds);
    std::fflush(stdout);
    QVERIFY(tokens >= 64);
    std::printf("BENCH studio replot, mean ms: cache %.1f, latency %.1f, bin %.1f, heat map %.1f\n",
                window_->cachePlot()->replotTime(true), window_->latencyPlot()->replotTime(true),
                window_->binPlot()->replotTime(true), window_->heatmap()->replotTime(true));
    QVERIFY2(worst < 1000, qPrintable(QString("event loop stalled %1 ms").arg(worst)));
    window_->flushViews();
    QCOMPARE(window_->cachePlot()->visualLine()->dataCount(), h->stepCount());
  }

  void pauseStopsBetweenTokens() {
    window_->resetRun();
    QVERIFY(prefillNow());
    QSignalSpy stopped(window_->controller(), &SessionController::runStopped);
    QSignalSpy stepped(window_->controller(), &SessionController::stepArrived);
    window_->run(0);
    QVERIFY(stepped.wait(kRunTimeoutMs));
    window_->pause();
    QVERIFY(stopped.wait(kRunTimeoutMs));
    const auto reason = stopped.takeFirst().at(0).value<StopReason>();
    QVERIFY(reason == StopReason::Paused || reason == StopReason::Finished);
    QVERIFY(!window_->controller()->running());
  }

  void staleResultsAreDropped() {
    // A new prefill replaces a run in progress: nothing of the old run may reach the views.
    window_->resetRun();
    QVERIFY(prefillNow());
    window_->run(0);
    window_->setPrompt(QStringLiteral("what colour is it?"));
    QVERIFY(prefillNow());
    QTest::qWait(200);
    QCOMPARE(window_->history()->stepCount(), 1);
    QCOMPARE(window_->history()->info().prompt, std::string("what colour is it?"));
  }

  void compareRunsSecondPolicy() {
    CompareView* cv = window_->compareView();
    cv->policyForm()->selectPolicy("full");
    window_->compare();
    QVERIFY(window_->compareController());
    // Both runs go to their end: A continues the current run, B runs in the second session.
    QTRY_VERIFY_WITH_TIMEOUT(
        window_->compareController()->finished() && window_->controller()->finished(),
        kRunTimeoutMs);
    QVERIFY(cv->history()->stepCount() > 1);
    cv->refresh();
    QCOMPARE(cv->table()->columnCount(), 2);
    QVERIFY(cv->table()->rowCount() >= 5);
    QVERIFY(cv->table()->item(0, 1)->text().contains("full"));
    window_->flushViews();
    QVERIFY(window_->grab().save(QStringLiteral(HAE_TEST_OUTPUT "/studio_compare.png"), "PNG"));
  }

  void firstRunNeedsNoChoices() {
    // A fresh window, as a first-time user sees it: the demo model (here the fixture, standing in
    // through HAE_DEMO_MODEL), a sample scene and its question; pressing Run gives an answer.
    qputenv("HAE_DEMO_MODEL", kModel.toUtf8());
    MainWindow fresh;
    fresh.show();
    QVERIFY(QTest::qWaitForWindowExposed(&fresh));
    QVERIFY(!fresh.imagePath().isEmpty());
    QVERIFY(!fresh.prompt().isEmpty());
    QCOMPARE(fresh.policyForm()->policyName(), std::string("full"));
    QSignalSpy stopped(fresh.controller(), &SessionController::runStopped);
    fresh.run();  // queued behind the model load on the worker thread
    QVERIFY(stopped.wait(kRunTimeoutMs));
    QVERIFY(fresh.history()->stepCount() > 1);
    QVERIFY(!fresh.answer().isEmpty());
    QCOMPARE(static_cast<int>(fresh.history()->info().visual_tokens.size()), 576);
    qunsetenv("HAE_DEMO_MODEL");

    // The other ways to pick an image: a bundled sample, a fresh random scene, drag and drop.
    QVERIFY(fresh.samples().samples().size() >= 2);
    fresh.selectSample(1);
    QCOMPARE(fresh.imagePath(), QFileInfo(fresh.samples().samples()[1].path).absoluteFilePath());
    QCOMPARE(fresh.prompt(), fresh.samples().samples()[1].questions.value(0));
    QVERIFY(fresh.history()->empty());  // a new image drops the old run
    fresh.newRandomScene();
    QVERIFY(QFileInfo::exists(fresh.imagePath()));
    QVERIFY(!fresh.prompt().isEmpty());
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(kImage)});
    // Qt delivers a drop only to the target of an accepted drag-enter, as in a real drag.
    QDragEnterEvent enter(QPoint(100, 100), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&fresh, &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(100, 100), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&fresh, &drop);
    QCOMPARE(fresh.imagePath(), QFileInfo(kImage).absoluteFilePath());
  }

  void badModelFolderShowsErrorAndKeepsWorking() {
    QTemporaryDir empty;
    QSignalSpy errors(window_, &MainWindow::errorShown);
    QSignalSpy failed(window_->controller(), &SessionController::modelFailed);
    window_->loadModel(empty.path());
    QVERIFY(failed.wait(kLoadTimeoutMs));
    QCOMPARE(errors.count(), 1);
    QVERIFY(errors.at(0).at(1).toString().contains(empty.path()));
    QVERIFY(closeMessageBoxes(window_) >= 1);
    // The previous model is still loaded and answers.
    QVERIFY(window_->controller()->modelReady());
    QVERIFY(prefillNow());
    window_->step();
    QVERIFY(waitForStop());
    QCOMPARE(window_->history()->stepCount(), 2);
  }

  void badImageShowsErrorAndKeepsWorking() {
    QTemporaryDir dir;
    const QString bad = dir.filePath("not_an_image.png");
    {
      QFile f(bad);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write("this is not a PNG");
    }
    const QString before = window_->imagePath();
    QSignalSpy errors(window_, &MainWindow::errorShown);
    QVERIFY(!window_->setImage(bad));
    QCOMPARE(errors.count(), 1);
    QVERIFY(closeMessageBoxes(window_) >= 1);
    QCOMPARE(window_->imagePath(), before);
    // An image file that vanishes after it was chosen fails in the engine, on the worker thread.
    const QString copy = dir.filePath("rose.png");
    QVERIFY(QFile::copy(kImage, copy));
    QVERIFY(window_->setImage(copy));
    QVERIFY(QFile::remove(copy));
    QSignalSpy runFailed(window_->controller(), &SessionController::runFailed);
    window_->prefill();
    QVERIFY(runFailed.wait(kRunTimeoutMs));
    QVERIFY(errors.count() >= 2);
    QVERIFY(closeMessageBoxes(window_) >= 1);
    QVERIFY(window_->setImage(kImage));
    QVERIFY(prefillNow());
  }
};

QTEST_MAIN(StudioWindowTest)
#include "test_studio_window.moc"
