// The studio window on the offscreen platform, with no model: it fits the common screen sizes
// (every run control on the toolbar itself, none in its overflow menu; every plot whole), grows
// its plots on a large screen, lists its shortcuts, edits the prompt's image set, and remembers
// recent files and dialog folders.
#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDockWidget>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSlider>
#include <QSpinBox>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QToolBar>
#include <QToolButton>
#include <QtTest>
#include <algorithm>
#include <cstdio>

#include "compare_view.h"
#include "hae/widgets/bin_activity_plot.h"
#include "hae/widgets/cache_size_plot.h"
#include "hae/widgets/compare_curves.h"
#include "hae/widgets/latency_plot.h"
#include "hae/widgets/live_plot.h"
#include "hae/widgets/occupancy_heatmap.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/policy_form.h"
#include "image_set_panel.h"
#include "main_window.h"
#include "studio_settings.h"

using namespace hae;
using namespace hae::studio;

namespace {

const QString kRose = QStringLiteral(HAE_TEST_DATA "/preprocess/images/rose.png");
const QString kLogo = QStringLiteral(HAE_TEST_DATA "/preprocess/images/logo.png");
const QString kWizard = QStringLiteral(HAE_TEST_DATA "/preprocess/images/wizard.png");

// `w`'s rectangle in the window's coordinates.
QRect inWindow(const QWidget* w, const QWidget* window) {
  return QRect(w->mapTo(window, QPoint(0, 0)), w->size());
}

}  // namespace

class StudioLayoutTest : public QObject {
  Q_OBJECT
 private:
  QTemporaryDir settingsDir_;
  MainWindow* window_ = nullptr;

  void showAt(QSize size) {
    window_->resize(size);
    QApplication::processEvents();
    QTest::qWait(50);  // the docks settle after the resize
    window_->flushViews();
  }

  // Every run control is a visible toolbar button inside the toolbar, the overflow button is
  // hidden, every plot and the sliders are shown whole inside the window, and the status bar
  // covers none of them.
  void checkFits(QSize size) {
    showAt(size);
    const QString at = QStringLiteral("%1x%2").arg(size.width()).arg(size.height());
    QCOMPARE(window_->size(), size);
    QToolBar* bar = window_->runToolBar();
    for (QToolButton* b : bar->findChildren<QToolButton*>(QStringLiteral("qt_toolbar_ext_button")))
      QVERIFY2(!b->isVisible(), qPrintable(at + ": the toolbar has an overflow menu"));
    const QRect barRect = inWindow(bar, window_);
    for (QAction* a : window_->runActions()) {
      QWidget* w = bar->widgetForAction(a);
      QVERIFY2(w, qPrintable(a->text()));
      QVERIFY2(w->isVisible(), qPrintable(at + ": " + a->text() + " is hidden"));
      QVERIFY2(barRect.contains(inWindow(w, window_)),
               qPrintable(at + ": " + a->text() + " is outside the toolbar"));
    }
    const QRect statusRect = inWindow(window_->statusBar(), window_);
    std::vector<std::pair<QString, QWidget*>> shown = {
        {"question", window_->promptEdit()},    {"layer slider", window_->layerSlider()},
        {"step scrubber", window_->scrubber()}, {"max tokens", window_->maxTokensBox()},
        {"delay", window_->delayBox()},         {"all layers", window_->allLayersBox()}};
    int n = 0;
    for (hae::widgets::LivePlot* p : window_->plots())
      shown.emplace_back(QStringLiteral("plot %1").arg(++n), p);
    for (const auto& [name, w] : shown) {
      QVERIFY2(w->isVisible(), qPrintable(at + ": " + name + " is hidden"));
      const QRect r = inWindow(w, window_);
      QVERIFY2(window_->rect().contains(r), qPrintable(at + ": " + name + " leaves the window"));
      QVERIFY2(!r.intersects(statusRect), qPrintable(at + ": the status bar covers " + name));
      // Nothing clips it: the part of it that can be painted is all of it.
      QVERIFY2(w->visibleRegion().boundingRect() == w->rect(),
               qPrintable(at + ": " + name + " is clipped"));
      QVERIFY2(w->width() >= w->minimumWidth() && w->height() >= w->minimumHeight(),
               qPrintable(at + ": " + name + " is below its minimum size"));
    }
    for (hae::widgets::LivePlot* p : window_->plots())
      QVERIFY2(p->width() >= 200 && p->height() >= 110,
               qPrintable(
                   at + QStringLiteral(": a plot is only %1x%2").arg(p->width()).arg(p->height())));
  }

 private slots:
  void initTestCase() {
    QVERIFY(settingsDir_.isValid());
    // Recent files and dialog folders go to a scratch file, not the user's settings.
    QSettings::setDefaultFormat(QSettings::IniFormat);
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settingsDir_.path());
    QCoreApplication::setOrganizationName("hae-test");
    QCoreApplication::setApplicationName("studio-layout");
    StudioOptions options;
    options.loadDemo = false;
    window_ = new MainWindow(options);
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_));
    QVERIFY(window_->setImage(kRose));
    window_->setPrompt(QStringLiteral("what is in the picture?"));
  }

  void cleanupTestCase() {
    delete window_;
    window_ = nullptr;
  }

  void minimumSizeFitsSmallScreens() {
    // Smaller than a 1280x720 (and a 1024x700) screen, window frame and task bar included.
    QVERIFY(window_->minimumSize().width() <= 1024);
    QVERIFY(window_->minimumSize().height() <= 680);
    std::printf("window minimum size %dx%d (layout's hint %dx%d)\n", window_->minimumWidth(),
                window_->minimumHeight(), window_->minimumSizeHint().width(),
                window_->minimumSizeHint().height());
    for (QWidget* w :
         {window_->centralWidget(), static_cast<QWidget*>(window_->setupDock()),
          static_cast<QWidget*>(window_->plotDock()), static_cast<QWidget*>(window_->runToolBar())})
      std::printf("  %s: minimum %dx%d\n", w->metaObject()->className(),
                  w->minimumSizeHint().width(), w->minimumSizeHint().height());
  }

  void fits1280x720() { checkFits(QSize(1280, 720)); }
  void fits1366x768() { checkFits(QSize(1366, 768)); }
  void fits1024x700() { checkFits(QSize(1024, 700)); }

  void setupPanelNeedsNoSideScroll() {
    // At 1280x720 every policy's form fits the Setup panel's width: no horizontal scroll bar
    // (a knob's field half off-screen is as good as hidden).
    showAt(QSize(1280, 720));
    auto* scroll = qobject_cast<QScrollArea*>(window_->setupDock()->widget());
    QVERIFY(scroll);
    hae::widgets::PolicyForm* form = window_->policyForm();
    QStringList wide;
    for (int i = 0; i < form->policyBox()->count(); ++i) {
      form->selectPolicy(form->policyBox()->itemText(i).toStdString());
      QApplication::processEvents();
      QTest::qWait(20);
      if (scroll->horizontalScrollBar()->isVisible())
        for (QWidget* w : scroll->widget()->findChildren<QWidget*>())  // which part is too wide
          if (w->isVisible() && w->minimumSizeHint().width() > scroll->viewport()->width() - 60)
            std::printf("  %s %s '%s': minimum width %d (viewport %d)\n",
                        w->metaObject()->className(), qPrintable(w->objectName()),
                        qPrintable(w->property("text").toString().left(40)),
                        w->minimumSizeHint().width(), scroll->viewport()->width());
      if (scroll->horizontalScrollBar()->isVisible())
        wide << QStringLiteral("%1 (%2 px wider)")
                    .arg(form->policyBox()->itemText(i))
                    .arg(scroll->widget()->width() - scroll->viewport()->width());
    }
    form->selectPolicy("full");
    QVERIFY2(wide.isEmpty(), qPrintable("side scroll in the Setup panel for " + wide.join(", ")));
  }

  void windowOpensWithoutSideScroll() {
    // The docks' shares are set when the window first shows, not only on a later resize.
    StudioOptions options;
    options.loadDemo = false;
    MainWindow fresh(options);
    fresh.resize(1280, 720);
    fresh.show();
    QVERIFY(QTest::qWaitForWindowExposed(&fresh));
    QApplication::processEvents();
    fresh.policyForm()->selectPolicy("hae");
    QApplication::processEvents();
    auto* scroll = qobject_cast<QScrollArea*>(fresh.setupDock()->widget());
    QVERIFY(scroll);
    QVERIFY2(!scroll->horizontalScrollBar()->isVisible(),
             qPrintable(QStringLiteral("setup dock %1 px wide").arg(fresh.setupDock()->width())));
  }

  void binLegendIsWhole() {
    // At 1280x720 the recycle-bin plot is half the plot dock: its legend wraps into fewer
    // columns instead of cutting its entries ("evictio", "restor").
    showAt(QSize(1280, 720));
    hae::widgets::BinActivityPlot* plot = window_->binPlot();
    plot->replot();
    QCPLegend* legend = plot->legend;
    QVERIFY(legend->itemCount() >= 5);
    for (int i = 0; i < legend->itemCount(); ++i) {
      QCPAbstractLegendItem* item = legend->item(i);
      if (!item) continue;  // an empty cell of the legend's grid
      QVERIFY2(item->outerRect().width() >= item->minimumOuterSizeHint().width(),
               qPrintable(QStringLiteral("legend entry %1: %2 px of %3 (plot %4 px wide)")
                              .arg(i)
                              .arg(item->outerRect().width())
                              .arg(item->minimumOuterSizeHint().width())
                              .arg(plot->width())));
      QVERIFY(plot->rect().contains(item->outerRect()));
    }
  }

  void headViewIsATab() {
    QVERIFY(window_->headDock());
    QVERIFY(window_->headKeepView());
    // Tabbed with the plots, not a fourth column.
    QVERIFY(window_->tabifiedDockWidgets(window_->plotDock()).contains(window_->headDock()));
  }

  void plotsGrowOnLargeScreens() {
    showAt(QSize(1280, 720));
    const int small = window_->plotDock()->width();
    checkFits(QSize(2560, 1440));
    const int large = window_->plotDock()->width();
    std::printf("plot dock width: %d at 1280x720, %d at 2560x1440\n", small, large);
    QVERIFY2(large >= small * 3 / 2, qPrintable(QStringLiteral("%1 -> %2").arg(small).arg(large)));
    QVERIFY(large >= 2560 * 30 / 100);
    showAt(QSize(1280, 720));
  }

  void valueAxisLabelsKeepApart() {
    // At 1280x720 the plots are short: each value axis (and colour scale) has so few ticks that
    // its labels sit at least a line apart instead of on each other.
    showAt(QSize(1280, 720));
    std::vector<QCustomPlot*> plots = {window_->cachePlot(), window_->latencyPlot(),
                                       window_->binPlot(), window_->heatmap()};
    for (QCustomPlot* plot : plots) {
      plot->replot();
      std::vector<QCPAxis*> axes;
      for (QCPAxisRect* rect : plot->axisRects())
        for (QCPAxis* axis : rect->axes(QCPAxis::atLeft | QCPAxis::atRight)) axes.push_back(axis);
      for (QCPLayoutElement* e : plot->plotLayout()->elements(true))
        if (auto* scale = dynamic_cast<QCPColorScale*>(e)) axes.push_back(scale->axis());
      for (QCPAxis* axis : axes) {
        if (!axis->visible() || !axis->tickLabels()) continue;
        const QVector<double> ticks = axis->tickVector();
        const int line = QFontMetrics(axis->tickLabelFont()).height();
        for (int i = 1; i < ticks.size(); ++i) {
          const double apart =
              std::abs(axis->coordToPixel(ticks[i]) - axis->coordToPixel(ticks[i - 1]));
          QVERIFY2(apart >= line,
                   qPrintable(QStringLiteral("%1, axis \"%2\": labels %3 px apart, a line is %4")
                                  .arg(plot->metaObject()->className(), axis->label())
                                  .arg(apart)
                                  .arg(line)));
        }
      }
    }
  }

  void compareTabFits() {
    // The Compare tab's three overlays, its curves and table fit the dock: no side scroll, each
    // overlay whole, at the common screen sizes.
    for (QSize size : {QSize(1600, 900), QSize(1366, 768), QSize(1280, 720)}) {
      window_->compareDock()->show();
      window_->compareDock()->raise();
      showAt(size);
      const QString at = QStringLiteral("%1x%2").arg(size.width()).arg(size.height());
      auto* scroll = qobject_cast<QScrollArea*>(window_->compareDock()->widget());
      QVERIFY(scroll);
      QVERIFY2(!scroll->horizontalScrollBar()->isVisible(),
               qPrintable(at + QStringLiteral(": compare is %1 px wide in a %2 px dock")
                                   .arg(scroll->widget()->width())
                                   .arg(scroll->viewport()->width())));
      CompareView* view = window_->compareView();
      std::printf("%s: compare view %dx%d (minimum %dx%d) in a %dx%d dock\n", qPrintable(at),
                  view->width(), view->height(), view->minimumSizeHint().width(),
                  view->minimumSizeHint().height(), scroll->viewport()->width(),
                  scroll->viewport()->height());
      const QRect port = inWindow(scroll->viewport(), window_);
      auto whole = [&](const QString& name, QWidget* w, int minHeight) {
        QVERIFY2(w->isVisible(), qPrintable(at + ": " + name + " is hidden"));
        QVERIFY2(port.contains(inWindow(w, window_)),
                 qPrintable(at + ": " + name + " leaves the dock"));
        QVERIFY2(
            w->width() >= 150 && w->height() >= minHeight,
            qPrintable(
                at +
                QStringLiteral(": %1 is only %2x%3").arg(name).arg(w->width()).arg(w->height())));
      };
      whole("overlay A", view->overlayA(), 120);
      whole("overlay B", view->overlayB(), 120);
      whole("diff", view->diffView(), 120);
      // In a dock this narrow the table has a tab of its own, and the three stacked curves keep
      // a readable height.
      QTabWidget* tabs = view->bottomTabs();
      QVERIFY2(tabs->isVisible(), qPrintable(at + ": the curves and the table are not tabbed"));
      tabs->setCurrentWidget(view->curves());
      whole("curves", view->curves(), 240);
      tabs->setCurrentWidget(view->table());
      whole("table", view->table(), 120);
      tabs->setCurrentWidget(view->curves());
    }
    // Widened past 900 px (a floating dock, a large screen), the table comes back beside them.
    window_->compareDock()->setFloating(true);
    window_->compareDock()->resize(1100, 800);
    QApplication::processEvents();
    CompareView* view = window_->compareView();
    QVERIFY(!view->bottomTabs()->isVisible());
    QVERIFY(view->curves()->isVisible() && view->table()->isVisible());
    QVERIFY(view->table()->mapTo(view, QPoint(0, 0)).x() >
            view->curves()->mapTo(view, QPoint(0, 0)).x());
    window_->compareDock()->setFloating(false);
    window_->plotDock()->raise();
    showAt(QSize(1280, 720));
  }

  void noSpoilerInTheToolbar() {
    // The old "demo answer: ..." hint gave the answer away; nothing on the toolbar says it now.
    window_->selectSample(0);
    for (QLabel* l : window_->runToolBar()->findChildren<QLabel*>())
      QVERIFY2(!l->text().contains("answer", Qt::CaseInsensitive), qPrintable(l->text()));
  }

  void shortcutsAreListed() {
    const QStringList keys = {"F9", "F10", "F5", "F6", "F8", "Esc", "F7"};
    const QList<QAction*> actions = window_->runActions();
    QCOMPARE(actions.size(), keys.size());
    for (int i = 0; i < keys.size(); ++i) QCOMPARE(actions[i]->shortcut().toString(), keys[i]);
    window_->showShortcuts();
    auto* table = window_->findChild<QTableWidget*>("shortcutTable");
    QVERIFY(table);
    QStringList listed;
    for (int r = 0; r < table->rowCount(); ++r) listed << table->item(r, 0)->text();
    for (const QString& k : keys) QVERIFY2(listed.contains(k), qPrintable(k));
    QVERIFY(listed.contains("Alt+Up"));    // the Layer slider
    QVERIFY(listed.contains("Alt+Left"));  // the Step cursor
    table->window()->close();
  }

  void imageSetEdits() {
    QVERIFY(window_->setImage(kRose));
    QVERIFY(window_->addImage(kLogo));
    QVERIFY(window_->addImage(kWizard));
    QCOMPARE(window_->imagePaths().size(), 3);
    QCOMPARE(window_->imageSet()->list()->count(), 3);
    window_->moveImage(2, 0);
    QCOMPARE(QFileInfo(window_->imagePaths()[0]).fileName(), QStringLiteral("wizard.png"));
    QCOMPARE(QFileInfo(window_->imagePaths()[1]).fileName(), QStringLiteral("rose.png"));
    window_->removeImage(1);
    QCOMPARE(window_->imagePaths().size(), 2);
    QCOMPARE(QFileInfo(window_->imagePaths()[1]).fileName(), QStringLiteral("logo.png"));
    // A file that is not an image is refused with a message, and the set stays.
    QSignalSpy errors(window_, &MainWindow::errorShown);
    QVERIFY(!window_->addImage(QStringLiteral(HAE_TEST_DATA "/does-not-exist.png")));
    QCOMPARE(errors.count(), 1);
    QCOMPARE(window_->imagePaths().size(), 2);
    // Markers: "<image>" inserted at the cursor; a count that disagrees with the images is said.
    window_->setPrompt(QStringLiteral("compare  and "));
    window_->promptEdit()->setCursorPosition(8);
    window_->insertImageMarker();
    QCOMPARE(window_->prompt(), QStringLiteral("compare <image> and "));
    const auto markerWarning = [this] {
      const QList<QLabel*> labels = window_->findChildren<QLabel*>();
      return std::any_of(labels.begin(), labels.end(), [](QLabel* l) {
        return l->isVisible() && l->text().contains("1 <image> marker(s), 2 image(s)");
      });
    };
    QVERIFY(markerWarning());
    window_->promptEdit()->end(false);
    window_->insertImageMarker();
    QVERIFY(!markerWarning());
    for (QWidget* w : QApplication::topLevelWidgets())
      if (w != window_ && w->isVisible()) w->close();
    QVERIFY(window_->setImage(kRose));
    window_->setPrompt(QStringLiteral("what is in the picture?"));
  }

  void twoImageSampleHasTwoImages() {
    window_->twoImageSample();
    QCOMPARE(window_->imagePaths().size(), 2);
    std::printf("two-image sample: %s\n", qPrintable(window_->prompt()));
    QVERIFY(window_->prompt().contains("different") || window_->prompt().contains("change"));
    QVERIFY(QFileInfo::exists(window_->imagePaths()[1]));
  }

  void recentFilesAndFolders() {
    StudioSettings::clearRecent(kRecentImages);
    QVERIFY(window_->setImage(kLogo));
    QVERIFY(window_->setImage(kRose));
    const QStringList recent = StudioSettings::recent(kRecentImages);
    QVERIFY(recent.size() >= 2);
    QCOMPARE(recent[0], QFileInfo(kRose).absoluteFilePath());
    QCOMPARE(recent[1], QFileInfo(kLogo).absoluteFilePath());
    StudioSettings::rememberFolder(kReportDialog, kRose);
    QCOMPARE(StudioSettings::lastFolder(kReportDialog), QFileInfo(kRose).absolutePath());
    // A folder that has gone is not offered.
    QTemporaryDir gone;
    StudioSettings::rememberFolder(kExportDialog, gone.path());
    const QString goneDir = gone.path();
    gone.remove();
    QCOMPARE(StudioSettings::lastFolder(kExportDialog, "fallback"), QStringLiteral("fallback"));
    Q_UNUSED(goneDir);
    // Bad reports are refused with a dialog, and the window keeps what it showed.
    QSignalSpy errors(window_, &MainWindow::errorShown);
    QVERIFY(!window_->openRunReport(kRose));
    QCOMPARE(errors.count(), 1);
    QVERIFY(errors.at(0).at(1).toString().contains("rose.png"));
    QVERIFY(!window_->replaying());
    for (QWidget* w : QApplication::topLevelWidgets())
      if (w != window_ && w->isVisible()) w->close();
  }
};

QTEST_MAIN(StudioLayoutTest)
#include "test_studio_layout.moc"
