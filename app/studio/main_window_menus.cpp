// Menus, the recent-file lists, and the keyboard shortcuts with their Help list.
#include <QAction>
#include <QActionGroup>
#include <QCheckBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDockWidget>
#include <QFileInfo>
#include <QHeaderView>
#include <QLineEdit>
#include <QMenuBar>
#include <QTableWidget>
#include <QVBoxLayout>

#include "hae/widgets/bin_activity_plot.h"
#include "hae/widgets/cache_size_plot.h"
#include "hae/widgets/latency_plot.h"
#include "hae/widgets/occupancy_heatmap.h"
#include "hae/widgets/patch_overlay_view.h"
#include "main_window.h"
#include "studio_settings.h"

namespace hae::studio {

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("Open &image..."), QKeySequence::Open, this, &MainWindow::openImageDialog);
  file->addAction(tr("&Add an image..."), QKeySequence(Qt::CTRL | Qt::Key_I), this,
                  &MainWindow::addImageDialog);
  recentImagesMenu_ = file->addMenu(tr("Recent images"));
  file->addSeparator();
  file->addAction(tr("Open &model folder..."), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O), this,
                  &MainWindow::openModelDialog);
  recentModelsMenu_ = file->addMenu(tr("Recent models"));
  file->addAction(tr("Use the &demo model"), this, [this] { loadModel({}); });
  file->addSeparator();
  file->addAction(tr("Open run &report..."), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_P), this,
                  &MainWindow::openReportDialog);
  recentReportsMenu_ = file->addMenu(tr("Recent run reports"));
  file->addSeparator();
  file->addMenu(samplesMenu_);
  file->addAction(tr("New &random scene"), QKeySequence(Qt::CTRL | Qt::Key_R), this,
                  &MainWindow::newRandomScene);
  file->addAction(tr("&Two images: what changed"), this, &MainWindow::twoImageSample);
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
  rebuildRecentMenus();

  // Samples: every bundled scene with each of its questions (no answers: they would spoil it).
  const auto& list = samples_.samples();
  for (int i = 0; i < static_cast<int>(list.size()); ++i) {
    QMenu* sub = samplesMenu_->addMenu(list[i].title);
    for (int q = 0; q < list[i].questions.size(); ++q)
      sub->addAction(list[i].questions[q], this,
                     [this, i, q] { useSample(samples_.samples()[i], q); });
  }
  if (list.empty()) samplesMenu_->addAction(samples_.loadError())->setEnabled(false);
  samplesMenu_->addSeparator();
  samplesMenu_->addAction(tr("Two images: what changed"), this, &MainWindow::twoImageSample);

  QMenu* runMenu = menuBar()->addMenu(tr("&Run"));
  for (QAction* a :
       {prefillAction_, stepAction_, runAction_, pauseAction_, resetAction_, cancelAction_})
    runMenu->addAction(a);
  runMenu->addSeparator();
  runMenu->addAction(compareAction_);

  QMenu* exportMenu = menuBar()->addMenu(tr("&Export"));
  exportMenu->addAction(tr("Cache size plot..."), this,
                        [this] { exportPlot(cachePlot_, "cache_size"); });
  exportMenu->addAction(tr("Latency plot..."), this,
                        [this] { exportPlot(latencyPlot_, "latency"); });
  exportMenu->addAction(tr("Recycle-bin plot..."), this,
                        [this] { exportPlot(binPlot_, "recycle_bin"); });
  exportMenu->addAction(tr("Occupancy heat map..."), this,
                        [this] { exportPlot(heatmap_, "occupancy"); });
  exportMenu->addAction(tr("Overlay image..."), this, &MainWindow::exportOverlay);
  exportMenu->addSeparator();
  exportMenu->addAction(tr("Profiling report..."), QKeySequence(Qt::CTRL | Qt::Key_E), this,
                        &MainWindow::exportReportDialog);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  for (QDockWidget* d : findChildren<QDockWidget*>()) view->addAction(d->toggleViewAction());
  view->addSeparator();
  // A red object under the red evicted tint is hard to read: hatch or outline instead.
  QMenu* evicted = view->addMenu(tr("&Evicted patches"));
  auto* styles = new QActionGroup(this);
  const QString names[] = {tr("&Tint"), tr("&Hatch"), tr("&Outline")};
  for (int i = 0; i < 3; ++i) {
    QAction* a = evicted->addAction(names[i], this, [this, i] { setEvictedStyle(i); });
    a->setCheckable(true);
    a->setChecked(i == static_cast<int>(widgets::PatchOverlayView::EvictedStyle::Tint));
    styles->addAction(a);
    evictedStyleActions_ << a;
  }
  buildAttentionMenu(view);  // Record attention (the Attention tab)
  buildShadowMenus(view);  // overlay colours, the shadow, probes; the What-if menu after View

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&Keyboard shortcuts"), QKeySequence(Qt::Key_F1), this,
                  &MainWindow::showShortcuts);
  help->addAction(tr("&About HAE Studio"), this, &MainWindow::showAbout);
}

void MainWindow::buildShortcuts() {
  // Window-wide shortcuts with no button of their own: the Layer slider and the Step cursor.
  const auto add = [this](const QString& text, const QKeySequence& key, auto slot) {
    auto* a = new QAction(text, this);
    a->setShortcut(key);
    a->setShortcutContext(Qt::WindowShortcut);
    connect(a, &QAction::triggered, this, slot);
    addAction(a);
    return a;
  };
  QList<QAction*> extra = {
      add(tr("Next layer"), QKeySequence(Qt::ALT | Qt::Key_Up), [this] { stepLayer(+1); }),
      add(tr("Previous layer"), QKeySequence(Qt::ALT | Qt::Key_Down), [this] { stepLayer(-1); }),
      add(tr("All layers on / off"), QKeySequence(Qt::ALT | Qt::Key_L),
          [this] { allLayers_->toggle(); }),
      add(tr("Step cursor back"), QKeySequence(Qt::ALT | Qt::Key_Left), [this] { stepCursor(-1); }),
      add(tr("Step cursor forward"), QKeySequence(Qt::ALT | Qt::Key_Right),
          [this] { stepCursor(+1); }),
      add(tr("Step cursor to the prefill"), QKeySequence(Qt::ALT | Qt::Key_Home),
          [this] { stepCursor(-1 << 20); }),
      add(tr("Step cursor to the latest token"), QKeySequence(Qt::ALT | Qt::Key_End),
          [this] { stepCursor(1 << 20); }),
      add(tr("Focus the question"), QKeySequence(Qt::CTRL | Qt::Key_L),
          [this] { prompt_->setFocus(); }),
  };
  shortcutActions_ = runActions() + extra;
  // Menu actions with shortcuts join the list too, so Help names every key the window knows.
  for (QAction* menu : menuBar()->actions())
    if (menu->menu())
      for (QAction* a : menu->menu()->actions())
        if (!a->shortcut().isEmpty() && !shortcutActions_.contains(a)) shortcutActions_ << a;
}

void MainWindow::showShortcuts() {
  auto* dialog = new QDialog(this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->setWindowTitle(tr("Keyboard shortcuts"));
  auto* layout = new QVBoxLayout(dialog);
  auto* table = new QTableWidget(static_cast<int>(shortcutActions_.size()), 2, dialog);
  table->setObjectName("shortcutTable");
  table->setHorizontalHeaderLabels({tr("Key"), tr("Does")});
  table->verticalHeader()->hide();
  table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table->setSelectionMode(QAbstractItemView::NoSelection);
  for (int i = 0; i < shortcutActions_.size(); ++i) {
    const QAction* a = shortcutActions_[i];
    table->setItem(i, 0, new QTableWidgetItem(a->shortcut().toString(QKeySequence::NativeText)));
    table->setItem(i, 1, new QTableWidgetItem(QString(a->text()).remove('&')));
  }
  table->resizeColumnsToContents();
  table->horizontalHeader()->setStretchLastSection(true);
  layout->addWidget(table);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
  connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
  layout->addWidget(buttons);
  dialog->resize(460, 520);
  dialog->show();
}

void MainWindow::rebuildRecentMenus() {
  const auto fill = [this](QMenu* menu, const char* list, auto open) {
    menu->clear();
    const QStringList items = StudioSettings::recent(list);
    for (const QString& path : items)
      menu->addAction(QFileInfo(path).fileName(), this, [open, path] { open(path); })
          ->setToolTip(path);
    if (items.isEmpty()) menu->addAction(tr("(none yet)"))->setEnabled(false);
    menu->setToolTipsVisible(true);
  };
  fill(recentReportsMenu_, kRecentReports, [this](const QString& p) { openRunReport(p); });
  fill(recentModelsMenu_, kRecentModels, [this](const QString& p) { loadModel(p); });
  fill(recentImagesMenu_, kRecentImages, [this](const QString& p) { setImage(p); });
}

}  // namespace hae::studio
