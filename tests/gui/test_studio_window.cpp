// Drives the real studio window with the llava-medium fixture model on the offscreen platform:
// load, prefill, step, check the views against the engine's own telemetry, scrub, export, reopen
// the exported report without a model, measure how long the event loop stalls during a 64-token
// run, watch mode, a synchronised comparison, a two-image prompt, and feed it a bad model folder
// and a bad image. The worker thread does the real LibTorch work, exactly as in the application.
#include <QCheckBox>
#include <QComboBox>
#include <QDropEvent>
#include <QElapsedTimer>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QMimeData>
#include <QRegularExpression>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSlider>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "compare_view.h"
#include "hae/widgets/attention_view.h"
#include "hae/widgets/bin_activity_plot.h"
#include "hae/widgets/cache_size_plot.h"
#include "hae/widgets/compare_curves.h"
#include "hae/widgets/latency_plot.h"
#include "hae/widgets/occupancy_heatmap.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/policy_form.h"
#include "hae/widgets/run_history.h"
#include "hae/widgets/token_stream_view.h"
#include "main_window.h"
#include "session_controller.h"
#include "session_worker.h"

using namespace hae;
using namespace hae::studio;

namespace {

const QString kModel = QStringLiteral(HAE_TEST_DATA "/models/llava-medium");
const QString kImage = QStringLiteral(HAE_TEST_DATA "/preprocess/images/rose.png");
const QString kImage2 = QStringLiteral(HAE_TEST_DATA "/preprocess/images/wizard.png");
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

  QTemporaryDir settingsDir_;

  // The bounding box of every patch of image `image` in the overlay.
  static QRectF gridBounds(const MainWindow& w, int image) {
    QRectF box;
    const RunInfo& info = w.history()->info();
    for (int v = 0; v < static_cast<int>(info.visual_tokens.size()); ++v)
      if (info.tokens[info.visual_tokens[v]].image == image) box |= w.overlay()->patchRect(v);
    return box;
  }

 private slots:
  void initTestCase() {
    // Recent files and dialog folders go to a scratch file, not the user's settings.
    QVERIFY(settingsDir_.isValid());
    QSettings::setDefaultFormat(QSettings::IniFormat);
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settingsDir_.path());
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

  void reportReopensWithoutModel() {
    // The live run (HAE when present: patches in all three states), saved as JSON and reopened
    // in a window that never loads a model: at every step the overlay paints the same pixels and
    // reads the same patch states as the live run's.
    widgets::RunHistory* live = window_->history();
    QVERIFY(live->stepCount() >= 4);
    QTemporaryDir dir;
    const QString path = dir.filePath("run.json");
    QString error;
    QVERIFY2(window_->exportReport(path, &error), qPrintable(error));
    StudioOptions options;
    options.loadDemo = false;
    MainWindow replay(options);
    replay.resize(window_->size());
    replay.show();
    QVERIFY(QTest::qWaitForWindowExposed(&replay));
    QVERIFY(replay.openRunReport(path));
    QVERIFY(replay.replaying());
    QVERIFY(!replay.controller()->modelReady());
    widgets::RunHistory* back = replay.history();
    QCOMPARE(back->stepCount(), live->stepCount());
    QCOMPARE(back->numLayers(), live->numLayers());
    QCOMPARE(replay.answer(), window_->answer());
    QCOMPARE(replay.prompt(), window_->prompt().trimmed());
    QCOMPARE(replay.scrubber()->maximum(), live->stepCount() - 1);
    const int before = live->cursor();
    const QSize size(480, 400);
    for (int k = 0; k < live->stepCount(); ++k) {
      live->setCursor(k);
      replay.scrubber()->setValue(k);  // through the scrubber, as a user would
      QCOMPARE(back->cursor(), k);
      for (int l = 0; l < live->numLayers(); ++l)
        for (int v = 0; v < live->visualCount(); ++v)
          QCOMPARE(back->patchState(v, l, k), live->patchState(v, l, k));
      const QImage a = window_->overlay()->renderImage(size);
      const QImage b = replay.overlay()->renderImage(size);
      QVERIFY2(a == b, qPrintable(QString("overlay differs at step %1").arg(k)));
    }
    live->setCursor(before);
    replay.flushViews();
    QCOMPARE(replay.cachePlot()->visualLine()->dataCount(), live->stepCount());
    // Reset leaves the replay; the question and image stay for a live run.
    replay.resetRun();
    QVERIFY(!replay.replaying());
    QCOMPARE(replay.imagePath(), QFileInfo(kImage).absoluteFilePath());
  }

  void layerShortcuts() {
    window_->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(window_));
    window_->allLayersBox()->setChecked(true);
    QTest::keyClick(window_, Qt::Key_Up, Qt::AltModifier);  // leaves the all-layers summary
    QVERIFY(!window_->allLayersBox()->isChecked());
    window_->layerSlider()->setValue(0);
    QTest::keyClick(window_, Qt::Key_Up, Qt::AltModifier);
    QCOMPARE(window_->overlay()->layer(), 1);
    QTest::keyClick(window_, Qt::Key_Down, Qt::AltModifier);
    QCOMPARE(window_->overlay()->layer(), 0);
    const int cursor = window_->history()->cursor();
    QTest::keyClick(window_, Qt::Key_Left, Qt::AltModifier);
    QCOMPARE(window_->history()->cursor(), cursor - 1);
    QTest::keyClick(window_, Qt::Key_End, Qt::AltModifier);
    QVERIFY(window_->history()->cursorAtLatest());
    QTest::keyClick(window_, Qt::Key_L, Qt::AltModifier);
    QVERIFY(window_->allLayersBox()->isChecked());
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
    // The worst gap is kept apart for the prefill (the new run's first paint: 576 patches, the
    // prompt's tokens) and for the decode (one token at a time).
    QElapsedTimer clock;
    qint64 last = 0;
    qint64 worst[2] = {0, 0};
    int phase = 0;  // 0: reset and prefill, 1: decoding
    QTimer ticker;
    ticker.setInterval(5);
    connect(&ticker, &QTimer::timeout, this, [&] {
      const qint64 now = clock.elapsed();
      worst[phase] = std::max(worst[phase], now - last);
      last = now;
    });
    int tokens = 0;
    int runs = 0;
    clock.start();
    ticker.start();
    // The fixture's random weights may emit </s> early; keep asking until 64 tokens went by.
    while (tokens < 64 && runs < 8) {
      phase = 0;
      window_->resetRun();
      QVERIFY(prefillNow());
      QTest::qWait(20);  // the prefill's first paint lands in the prefill phase
      phase = 1;
      window_->run(64 - tokens);
      QVERIFY(waitForStop());
      tokens += h->stepCount() - 1;
      ++runs;
    }
    ticker.stop();
    const double seconds = clock.elapsed() / 1000.0;
    std::printf(
        "BENCH studio event-loop stall: max %lld ms while decoding %d tokens, %lld ms around the "
        "prefill, %d run(s), %.2f s (%.1f tokens/s incl. prefill)\n",
        static_cast<long long>(worst[1]), tokens, static_cast<long long>(worst[0]), runs, seconds,
        tokens / seconds);
    std::fflush(stdout);
    QVERIFY(tokens >= 64);
    std::printf("BENCH studio replot, mean ms: cache %.1f, latency %.1f, bin %.1f, heat map %.1f\n",
                window_->cachePlot()->replotTime(true), window_->latencyPlot()->replotTime(true),
                window_->binPlot()->replotTime(true), window_->heatmap()->replotTime(true));
    QVERIFY2(std::max(worst[0], worst[1]) < 1000,
             qPrintable(QString("event loop stalled %1 ms").arg(std::max(worst[0], worst[1]))));
    window_->flushViews();
    QCOMPARE(window_->cachePlot()->visualLine()->dataCount(), h->stepCount());
  }

  void aBusyWindowGetsNoPileOfSteps() {
    // While the window is busy (here: asleep for 300 ms, some 40 tokens of this model), the
    // worker waits instead of queueing steps; the window then takes at most kStepsInFlight at
    // once, not a pile that would freeze it while it works through them.
    widgets::RunHistory* h = window_->history();
    window_->resetRun();
    QVERIFY(prefillNow());
    window_->run(64);
    QTRY_VERIFY_WITH_TIMEOUT(h->stepCount() >= 3 || window_->controller()->finished(),
                             kRunTimeoutMs);
    if (window_->controller()->finished()) QSKIP("the fixture ended its answer too early");
    QThread::msleep(300);
    const int before = h->stepCount();
    QCoreApplication::sendPostedEvents();  // what the event loop would deliver in one go
    const int taken = h->stepCount() - before;
    std::printf("steps taken at once after 300 ms busy: %d\n", taken);
    QVERIFY2(taken <= SessionWorker::kStepsInFlight, qPrintable(QString::number(taken)));
    window_->cancel();
    QVERIFY(waitForStop());
  }

  void watchModeLimitDelayAndSteadyLayout() {
    // Max tokens ends the answer there; the delay lets a Pause land after the first token; and
    // nothing above the plots moves while the answer grows.
    window_->setMaxNewTokens(5);
    window_->resetRun();
    QVERIFY(prefillNow());
    const QRect slider(window_->layerSlider()->mapTo(window_, QPoint()),
                       window_->layerSlider()->size());
    const QRect overlay(window_->overlay()->mapTo(window_, QPoint()), window_->overlay()->size());
    window_->run();
    QVERIFY(waitForStop());
    QVERIFY(window_->history()->stepCount() - 1 <= 5);
    QVERIFY(window_->controller()->finished());
    QApplication::processEvents();
    QCOMPARE(
        QRect(window_->layerSlider()->mapTo(window_, QPoint()), window_->layerSlider()->size()),
        slider);
    QCOMPARE(QRect(window_->overlay()->mapTo(window_, QPoint()), window_->overlay()->size()),
             overlay);

    window_->setMaxNewTokens(SessionController::kMaxNewTokens);
    window_->setTokenDelayMs(400);
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
    std::printf("watch mode, 400 ms/token: paused after %d token(s)\n",
                window_->history()->stepCount() - 1);
    window_->setTokenDelayMs(0);
    QCOMPARE(window_->tokenDelayMs(), 0);
  }

  void twoImagePromptDrawsTwoGrids() {
    QVERIFY(window_->setImages({kImage, kImage2}));
    window_->setPrompt(QStringLiteral("<image> then <image>: what changed?"));
    QVERIFY(prefillNow());
    const RunInfo& info = window_->history()->info();
    QCOMPARE(static_cast<int>(info.images.size()), 2);
    QCOMPARE(static_cast<int>(info.visual_tokens.size()), 2 * 576);
    window_->flushViews();
    QApplication::processEvents();
    // Side by side the two images are wide: the tokens take the height they leave, no blank band.
    widgets::PatchOverlayView* overlay = window_->overlay();
    QVERIFY2(overlay->height() - overlay->neededHeight(overlay->size()) < 40,
             qPrintable(QStringLiteral("%1 px blank under the legend")
                            .arg(overlay->height() - overlay->neededHeight(overlay->size()))));
    const QRectF first = gridBounds(*window_, 0), second = gridBounds(*window_, 1);
    QVERIFY(!first.isEmpty());
    QVERIFY(!second.isEmpty());
    QVERIFY2(!first.intersects(second), "the two images' grids overlap");
    const QRectF area = window_->overlay()->rect();
    QVERIFY(area.contains(first) && area.contains(second));
    // Reordered, the first grid is the other picture's.
    window_->moveImage(1, 0);
    QCOMPARE(QFileInfo(window_->imagePath()).fileName(), QStringLiteral("wizard.png"));
    QVERIFY(window_->setImage(kImage));
    window_->setPrompt(QStringLiteral("what is in the picture?"));
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
    window_->policyFormB()->selectPolicy("full");
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

  void compareFollowsCursor() {
    // One Step cursor and one Layer for both sides: B shows the step and layer A shows.
    CompareView* cv = window_->compareView();
    widgets::RunHistory* b = cv->history();
    QVERIFY(b->stepCount() > 2);
    const int last = std::min(window_->history()->stepCount(), b->stepCount()) - 1;
    for (int k : {0, last / 2, last}) {
      window_->scrubber()->setValue(k);
      QCOMPARE(window_->history()->cursor(), k);
      QCOMPARE(b->cursor(), k);
    }
    window_->allLayersBox()->setChecked(false);
    window_->layerSlider()->setValue(2);
    QCOMPARE(cv->overlayA()->layer(), 2);
    QCOMPARE(cv->overlayB()->layer(), 2);
    window_->allLayersBox()->setChecked(true);
    QCOMPARE(cv->overlayB()->layer(), int(widgets::PatchOverlayView::kAllLayers));
    // Past B's last step (B ended first), B stays on its last.
    window_->scrubber()->setValue(window_->scrubber()->maximum());
    QCOMPARE(b->cursor(), std::min(window_->history()->cursor(), b->stepCount() - 1));
  }

  void attentionTabFollowsCursorAndLayer() {
    // The fixture model is small, so attention is recorded by default; the Attention tab shows
    // the Step cursor's token at the Layer slider's layer, as the engine recorded it.
    QVERIFY(window_->recordAttentionAction()->isChecked());
    window_->attentionDock()->show();
    window_->attentionDock()->raise();
    QApplication::processEvents();
    widgets::AttentionView* view = window_->attentionView();
    const widgets::RunHistory* h = window_->history();
    QVERIFY(h->stepCount() > 3);
    const int visuals = h->visualCount();
    window_->allLayersBox()->setChecked(false);
    std::vector<float> layer1;
    for (int layer : {1, 2}) {
      window_->layerSlider()->setValue(layer);
      for (int k : {1, h->stepCount() - 1}) {
        window_->scrubber()->setValue(k);
        QApplication::processEvents();
        const widgets::VisualAttention& shown = view->attention();
        QCOMPARE(shown.step, h->step(k).step);
        QCOMPARE(shown.layer, layer);
        const StepAttention& recorded = h->step(k).attention.at(layer);
        QVERIFY(recorded.heads > 0);
        QCOMPARE(shown.weights.size(), size_t(recorded.heads) * visuals);
        // Softmax rows: each head's weight on the visual patches is a share of at most 1.
        for (int head = 0; head < recorded.heads; ++head) {
          double sum = 0;
          for (int v = 0; v < visuals; ++v) sum += recorded.weights[head * visuals + v];
          QVERIFY2(sum > 0 && sum <= 1 + 1e-4, qPrintable(QString::number(sum)));
        }
        // The map (mean over heads) is what was recorded, patch by patch.
        const std::vector<float> mean = view->shownValues();
        QCOMPARE(mean.size(), size_t(visuals));
        for (int v = 0; v < visuals; v += 37) {
          double expected = 0;
          for (int head = 0; head < recorded.heads; ++head)
            expected += recorded.weights[head * visuals + v];
          QVERIFY(std::abs(mean[v] - expected / recorded.heads) < 1e-6);
        }
        QCOMPARE(view->overlay()->patchValues().size(), size_t(visuals));
        if (layer == 1 && k == 1) layer1 = mean;
        if (layer == 2 && k == 1) QVERIFY(mean != layer1);  // another layer, another map
      }
    }
    window_->allLayersBox()->setChecked(true);
    window_->plotDock()->raise();
  }

  void compareTabFitsAfterARun() {
    // With both runs' answers and long headers in place, the Compare tab still fits a 1280x720
    // window: no scroll bar either way, and the curves and the table are on screen.
    const QSize before = window_->size();
    window_->compareDock()->show();
    window_->compareDock()->raise();
    window_->resize(1280, 720);
    QApplication::processEvents();
    QTest::qWait(50);
    window_->flushViews();
    auto* scroll = qobject_cast<QScrollArea*>(window_->compareDock()->widget());
    QVERIFY(scroll);
    CompareView* cv = window_->compareView();
    std::printf("compare view %dx%d (minimum %dx%d) in a %dx%d dock\n", cv->width(), cv->height(),
                cv->minimumSizeHint().width(), cv->minimumSizeHint().height(),
                scroll->viewport()->width(), scroll->viewport()->height());
    QVERIFY2(
        !scroll->verticalScrollBar()->isVisible() && !scroll->horizontalScrollBar()->isVisible(),
        "the Compare tab scrolls at 1280x720");
    for (QWidget* w : {static_cast<QWidget*>(cv->curves()), static_cast<QWidget*>(cv->table())}) {
      cv->bottomTabs()->setCurrentWidget(w);  // a dock this narrow has them in tabs
      const QRect at(w->mapTo(scroll->viewport(), QPoint(0, 0)), w->size());
      QVERIFY2(w->isVisible() && scroll->viewport()->rect().contains(at) && w->height() >= 120,
               qPrintable(QStringLiteral("%1 at %2,%3 %4x%5 is not whole on screen")
                              .arg(w->metaObject()->className())
                              .arg(at.x())
                              .arg(at.y())
                              .arg(at.width())
                              .arg(at.height())));
    }
    cv->bottomTabs()->setCurrentWidget(cv->curves());
    window_->plotDock()->raise();
    window_->resize(before);
    QApplication::processEvents();
  }

  void overlayFillsTallWindows() {
    // On a tall screen a wide image fills the overlay's width and the tokens take the height it
    // does not need: no blank band opens under the legend, and the patches stay on screen.
    const QSize before = window_->size();
    for (QSize size : {QSize(2560, 1440), QSize(1920, 1200), QSize(1280, 720)}) {
      window_->resize(size);
      QApplication::processEvents();
      QTest::qWait(50);  // the docks and the splitter settle after the resize
      const QString at = QStringLiteral("%1x%2").arg(size.width()).arg(size.height());
      widgets::PatchOverlayView* overlay = window_->overlay();
      const QRectF grid = gridBounds(*window_, 0);
      QVERIFY2(!grid.isEmpty() && overlay->rect().contains(grid.toAlignedRect()),
               qPrintable(at + ": the patches are not all drawn inside the overlay"));
      const int need = overlay->neededHeight(overlay->size());
      std::printf("%s: overlay %dx%d, its images need %d px of height\n", qPrintable(at),
                  overlay->width(), overlay->height(), need);
      QVERIFY2(overlay->height() - need < 40,
               qPrintable(at + QStringLiteral(": a %1 px blank band under the legend")
                                   .arg(overlay->height() - need)));
    }
    window_->resize(before);
    QApplication::processEvents();
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
    // A run with a few tokens, then a folder that is no model: the dialog names the folder, the
    // label names the model still in use (not "Loading ..."), and the run is still there and
    // continues.
    window_->resetRun();
    QVERIFY(prefillNow());
    window_->step();
    QVERIFY(waitForStop());
    const int steps = window_->history()->stepCount();
    const QString label = window_->modelText();
    QVERIFY(label.contains("llava-medium"));
    QTemporaryDir empty;
    QSignalSpy errors(window_, &MainWindow::errorShown);
    QSignalSpy failed(window_->controller(), &SessionController::modelFailed);
    window_->loadModel(empty.path());
    QVERIFY(window_->modelText().contains("Loading"));
    QCOMPARE(window_->history()->stepCount(), steps);  // not thrown away before the load fails
    QVERIFY(failed.wait(kLoadTimeoutMs));
    QCOMPARE(errors.count(), 1);
    QVERIFY(errors.at(0).at(1).toString().contains(empty.path()));
    QVERIFY(errors.at(0).at(1).toString().contains("still loaded"));
    QVERIFY(closeMessageBoxes(window_) >= 1);
    QCOMPARE(window_->modelText(), label);
    QCOMPARE(window_->history()->stepCount(), steps);
    QVERIFY(window_->controller()->hasRun());
    window_->step();  // the same run goes on
    QVERIFY(waitForStop());
    QCOMPARE(window_->history()->stepCount(), steps + 1);
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

  void knobTypedExactlyAndBadKnobRefused() {
    // dap.r = 5e-5 typed as a user types it reaches the policy as 5e-5 (a spin box rounded it
    // to 0, "evict nothing"); "-7" shows an error naming the knob and starts nothing.
    widgets::PolicyForm* form = window_->policyForm();
    if (form->policyBox()->findText("hae") < 0) QSKIP("this build has no HAE policy");
    form->selectPolicy("hae");
    auto* edit = qobject_cast<QLineEdit*>(form->editor("dap.r"));
    QVERIFY(edit);
    edit->setFocus();
    edit->selectAll();
    QTest::keyClicks(edit, "5e-5");
    QTest::keyClick(edit, Qt::Key_Return);  // the edit is over
    QVERIFY2(!form->hasErrors(), qPrintable(form->errors().join("; ")));
    QVERIFY(prefillNow());
    const auto& knobs = window_->history()->info().knobs;
    QVERIFY(knobs.count("dap.r"));
    const double r = std::stod(knobs.at("dap.r"));
    QVERIFY2(std::abs(r - 5e-5) <= 1e-12, knobs.at("dap.r").c_str());

    const RunId before = window_->controller()->currentRun();
    const int steps = window_->history()->stepCount();
    edit->selectAll();
    QTest::keyClicks(edit, "-7");
    QVERIFY(form->hasErrors());
    QVERIFY(form->errorFor("dap.r").contains("dap.r"));
    // The run buttons are off while a field is wrong ...
    QTRY_VERIFY(!window_->runActions()[2]->isEnabled());  // Run
    QVERIFY(!window_->runActions()[0]->isEnabled());      // Prefill
    // ... and calling them anyway (Enter in the question) shows why and changes nothing.
    for (auto call : {&MainWindow::prefill, &MainWindow::step, &MainWindow::compare}) {
      QSignalSpy errors(window_, &MainWindow::errorShown);
      (window_->*call)();
      QCOMPARE(errors.count(), 1);
      QVERIFY(errors.at(0).at(1).toString().contains("dap.r"));
    }
    QSignalSpy errors(window_, &MainWindow::errorShown);
    window_->run();
    QCOMPARE(errors.count(), 1);
    QCOMPARE(window_->controller()->currentRun(), before);
    QCOMPARE(window_->history()->stepCount(), steps);
    QCOMPARE(std::stod(form->knobValues().at("dap.r")), r);  // the last valid value, untouched
    QVERIFY(closeMessageBoxes(window_) >= 1);
    edit->selectAll();
    QTest::keyClicks(edit, "5e-5");
    QVERIFY(!form->hasErrors());
    QTRY_VERIFY(window_->runActions()[2]->isEnabled());
  }

  void budgetAbovePromptWarns() {
    // SnapKV's default budget (2048 tokens) is above the fixture's ~600-token prompt: after the
    // prefill the form says the policy evicts nothing.
    widgets::PolicyForm* form = window_->policyForm();
    if (form->policyBox()->findText("snapkv") < 0) QSKIP("this build has no SnapKV policy");
    form->selectPolicy("snapkv");
    form->resetToDefaults();
    QVERIFY(prefillNow());
    const int prompt = static_cast<int>(window_->history()->info().tokens.size());
    QVERIFY(prompt < 2048);
    QVERIFY2(!form->warnings().isEmpty(), "no warning for a budget above the prompt");
    QVERIFY(form->warnings().join(" ").contains(QString::number(prompt)));
    QVERIFY(!form->warningLabel()->isHidden());
    // A budget below the prompt: no warning.
    QVERIFY(form->setKnobText("budget", "128").isEmpty());
    QVERIFY(form->warnings().isEmpty());
    form->resetToDefaults();
    form->selectPolicy("full");
  }

  void memoryBoundReadout() {
    // After a run on the loaded model the status bar compares decode time with the memory bound
    // (weights + live cache over the bandwidth the worker measured after the load).
    window_->policyForm()->selectPolicy("full");
    window_->resetRun();
    QSignalSpy stopped(window_->controller(), &SessionController::runStopped);
    window_->run(8);
    QVERIFY(stopped.wait(kRunTimeoutMs));
    QVERIFY(window_->controller()->readBandwidthGBs() > 0);
    QVERIFY(window_->controller()->decodeWeightBytes() > 0);
    window_->flushViews();
    const QString text = window_->memoryBoundLabel()->text();
    std::printf("status bar: %s (decode weights %lld bytes)\n", qPrintable(text),
                static_cast<long long>(window_->controller()->decodeWeightBytes()));
    const QRegularExpression pattern(QStringLiteral(
        R"(decode ([0-9.]+) ms/token, ([0-9.]+)x the memory bound \(([0-9]+) GB/s)"));
    const QRegularExpressionMatch m = pattern.match(text);
    QVERIFY2(m.hasMatch(), qPrintable(text));
    QVERIFY(m.captured(1).toDouble() > 0);
    QVERIFY(m.captured(2).toDouble() > 0);
    QVERIFY(window_->memoryBoundLabel()->isVisible());
  }

  void evictedStyleAndHeadView() {
    // View > Evicted patches reaches the main and both comparison overlays.
    const QList<QAction*> styles = window_->evictedStyleActions();
    QCOMPARE(styles.size(), 3);
    using Style = widgets::PatchOverlayView::EvictedStyle;
    styles[1]->trigger();
    QCOMPARE(window_->overlay()->evictedStyle(), Style::Hatch);
    QCOMPARE(window_->compareView()->overlayA()->evictedStyle(), Style::Hatch);
    QCOMPARE(window_->compareView()->overlayB()->evictedStyle(), Style::Hatch);
    styles[2]->trigger();
    QCOMPARE(window_->overlay()->evictedStyle(), Style::Outline);
    QVERIFY(styles[2]->isChecked() && !styles[1]->isChecked());
    styles[0]->trigger();
    QCOMPARE(window_->compareView()->overlayB()->evictedStyle(), Style::Tint);
    // The per-head view follows the Layer slider.
    window_->allLayersBox()->setChecked(false);
    window_->layerSlider()->setValue(3);
    QCOMPARE(window_->headKeepView()->layer(), 3);
    window_->layerSlider()->setValue(1);
    QCOMPARE(window_->headKeepView()->layer(), 1);
    window_->allLayersBox()->setChecked(true);
    // The comparison shows no second policy form of its own (Setup has B's).
    QVERIFY(!window_->compareView()->formVisible());
  }

  void unknownWordsAreNamed() {
    // The demo model has a 121-word vocabulary and an <unk> token: a word outside it is named
    // beside the question before any run.
    const QString demo = QStringLiteral(HAE_TEST_DATA "/../../resources/demo/model");
    if (!QFileInfo::exists(demo + "/tokenizer.json")) QSKIP("no demo model in this checkout");
    StudioOptions options;
    options.loadDemo = false;
    MainWindow fresh(options);
    fresh.show();
    QSignalSpy loaded(fresh.controller(), &SessionController::modelLoaded);
    fresh.loadModel(demo);
    QVERIFY(loaded.wait(kLoadTimeoutMs));
    QTest::keyClicks(fresh.promptEdit(), "what colour is the zzyzx circle?");
    QTRY_VERIFY(fresh.unknownWordsLabel()->isVisible());
    QCOMPARE(fresh.unknownWords(), QStringList{"zzyzx"});
    QVERIFY(fresh.unknownWordsLabel()->text().contains("1 word"));
    QVERIFY(fresh.unknownWordsLabel()->text().contains("zzyzx"));
    fresh.setPrompt("what colour is the circle?");
    QTRY_VERIFY(!fresh.unknownWordsLabel()->isVisible());
    // The fixture checkpoint has no tokenizer: no warning whatever the words.
    window_->setPrompt("zzyzx qqq?");
    QVERIFY(window_->unknownWords().isEmpty());
    window_->setPrompt(QStringLiteral("what is in the picture?"));
  }
};

QTEST_MAIN(StudioWindowTest)
#include "test_studio_window.moc"
