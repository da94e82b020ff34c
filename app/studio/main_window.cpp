#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QCloseEvent>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QImageReader>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPushButton>
#include <QRandomGenerator>
#include <QScrollArea>
#include <QSlider>
#include <QSplitter>
#include <QStatusBar>
#include <QThread>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>

#include "compare_view.h"
#include "hae/build_info.h"
#include "hae/policy_catalog.h"
#include "hae/report.h"
#include "hae/widgets/bin_activity_plot.h"
#include "hae/widgets/cache_size_plot.h"
#include "hae/widgets/latency_plot.h"
#include "hae/widgets/occupancy_heatmap.h"
#include "hae/widgets/patch_history_panel.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/policy_form.h"
#include "hae/widgets/report_pdf.h"
#include "hae/widgets/run_history.h"
#include "hae/widgets/token_stream_view.h"
#include "session_controller.h"

namespace hae::studio {

namespace {

std::vector<widgets::PolicyDescription> formPolicies() {
  std::vector<widgets::PolicyDescription> out;
  for (const PolicyDescription& p : availablePolicies()) out.push_back({p.name, p.knobs});
  return out;
}

QString formatBytes(std::int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024.0) return QObject::tr("%1 MiB").arg(b / (1024.0 * 1024.0), 0, 'f', 2);
  if (b >= 1024.0) return QObject::tr("%1 KiB").arg(b / 1024.0, 0, 'f', 1);
  return QObject::tr("%1 B").arg(bytes);
}

QGroupBox* group(const QString& title, QWidget* parent) {
  auto* box = new QGroupBox(title, parent);
  QFont f = box->font();
  f.setBold(true);
  box->setFont(f);
  return box;
}

// Group boxes make their title bold; their children should not inherit it.
void plainFont(QWidget* w) {
  QFont f = w->font();
  f.setBold(false);
  w->setFont(f);
}

}  // namespace

MainWindow::MainWindow(const StudioOptions& options, QWidget* parent)
    : QMainWindow(parent), options_(options) {
  registerStudioMetaTypes();
  setWindowTitle(tr("HAE Studio"));
  resize(1600, 960);
  setAcceptDrops(true);
  setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowTabbedDocks);

  // The PDF report paints with the studio's own widgets, so core leaves PDF to the Qt side. It is
  // only ever called from this (the GUI) thread.
  if (!hasPdfReportWriter())
    setPdfReportWriter(
        [](const std::string& path, const RunInfo& info, const std::vector<StepTelemetry>& steps,
           const std::string& answer) { widgets::writePdfReport(path, info, steps, answer); });

  history_ = new widgets::RunHistory(this);
  main_ = new SessionController(options_.threads, this);

  buildCentral();
  buildDocks();
  buildToolbar();
  buildMenus();
  buildStatusBar();
  connectController();

  policy_->setPolicies(formPolicies(), "full");
  // B defaults to the first policy that evicts something, so Compare shows a difference at once.
  std::string other = "full";
  for (const PolicyDescription& p : availablePolicies())
    if (p.name != "full") {
      other = p.name;
      if (p.name == "hae") break;
    }
  compareView_->policyForm()->setPolicies(formPolicies(), other);

  statusTimer_.setInterval(250);
  connect(&statusTimer_, &QTimer::timeout, this, &MainWindow::updateStatus);
  statusTimer_.start();

  if (options_.loadDemo) {
    loadModel({});
    if (!samples_.samples().empty())
      selectSample(0);
    else
      newRandomScene();
  } else {
    showPreview();
  }
  updateControls();
  updateStatus();
}

MainWindow::~MainWindow() {
  // Join the worker threads while every view they feed still exists.
  delete second_;
  second_ = nullptr;
  delete main_;
  main_ = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Layout

void MainWindow::buildCentral() {
  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(6, 4, 6, 4);
  layout->setSpacing(4);

  banner_ = new QLabel(central);
  banner_->setWordWrap(true);
  banner_->setTextFormat(Qt::RichText);
  banner_->setStyleSheet(
      "QLabel { background: #fff4ce; color: #4a3b00; border: 1px solid #e0c060; border-radius: 4px;"
      " padding: 8px; }");
  banner_->setVisible(false);
  connect(banner_, &QLabel::linkActivated, this, [this](const QString&) { openModelDialog(); });
  layout->addWidget(banner_);

  auto* answerRow = new QHBoxLayout;
  auto* answerTitle = new QLabel(tr("Answer"), central);
  QFont titleFont = answerTitle->font();
  titleFont.setBold(true);
  titleFont.setPointSizeF(titleFont.pointSizeF() * 1.15);
  answerTitle->setFont(titleFont);
  answerRow->addWidget(answerTitle);
  answerLabel_ = new QLabel(central);
  answerLabel_->setWordWrap(true);
  answerLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  QFont answerFont = answerLabel_->font();
  answerFont.setPointSizeF(answerFont.pointSizeF() * 1.15);
  answerLabel_->setFont(answerFont);
  answerLabel_->setMinimumHeight(28);
  answerLabel_->setStyleSheet(
      "QLabel { background: palette(base); border: 1px solid palette(mid); border-radius: 4px;"
      " padding: 4px 8px; }");
  answerRow->addWidget(answerLabel_, 1);
  layout->addLayout(answerRow);

  auto* vsplit = new QSplitter(Qt::Vertical, central);

  auto* overlayPanel = new QWidget(vsplit);
  auto* ol = new QVBoxLayout(overlayPanel);
  ol->setContentsMargins(0, 0, 0, 0);
  overlay_ = new widgets::PatchOverlayView(history_, overlayPanel);
  overlay_->setToolTip(QString());
  ol->addWidget(overlay_, 1);

  auto* controls = new QGridLayout;
  controls->setColumnStretch(1, 1);
  controls->addWidget(new QLabel(tr("Layer"), overlayPanel), 0, 0);
  layerSlider_ = new QSlider(Qt::Horizontal, overlayPanel);
  layerSlider_->setRange(0, 0);
  layerSlider_->setToolTip(tr("The decoder layer whose cache the overlay shows"));
  controls->addWidget(layerSlider_, 0, 1);
  layerLabel_ = new QLabel(overlayPanel);
  layerLabel_->setMinimumWidth(90);
  controls->addWidget(layerLabel_, 0, 2);
  allLayers_ = new QCheckBox(tr("All layers"), overlayPanel);
  allLayers_->setToolTip(
      tr("Summarise every layer: clear where all layers keep a patch, darker the "
         "more layers dropped it"));
  allLayers_->setChecked(true);
  controls->addWidget(allLayers_, 0, 3);
  controls->addWidget(new QLabel(tr("Step"), overlayPanel), 1, 0);
  scrubber_ = new QSlider(Qt::Horizontal, overlayPanel);
  scrubber_->setRange(0, 0);
  scrubber_->setToolTip(
      tr("Go back to any past step: overlay, tokens and plots show it as it was"));
  controls->addWidget(scrubber_, 1, 1);
  stepLabel_ = new QLabel(overlayPanel);
  stepLabel_->setMinimumWidth(90);
  controls->addWidget(stepLabel_, 1, 2, 1, 2);
  ol->addLayout(controls);
  vsplit->addWidget(overlayPanel);

  auto* hsplit = new QSplitter(Qt::Horizontal, vsplit);
  auto* tokBox = group(tr("Tokens (prompt, then the answer as it arrives)"), hsplit);
  auto* tl = new QVBoxLayout(tokBox);
  tl->setContentsMargins(4, 4, 4, 4);
  tokens_ = new widgets::TokenStreamView(history_, tokBox);
  plainFont(tokens_);
  tl->addWidget(tokens_);
  auto* pinBox = group(tr("Pinned patch (click a patch)"), hsplit);
  auto* pl = new QVBoxLayout(pinBox);
  pl->setContentsMargins(4, 4, 4, 4);
  patchPanel_ = new widgets::PatchHistoryPanel(history_, pinBox);
  plainFont(patchPanel_);
  pl->addWidget(patchPanel_);
  hsplit->addWidget(tokBox);
  hsplit->addWidget(pinBox);
  hsplit->setStretchFactor(0, 3);
  hsplit->setStretchFactor(1, 2);
  vsplit->addWidget(hsplit);
  vsplit->setStretchFactor(0, 3);
  vsplit->setStretchFactor(1, 1);
  vsplit->setSizes({640, 220});
  layout->addWidget(vsplit, 1);
  setCentralWidget(central);

  connect(layerSlider_, &QSlider::valueChanged, this, &MainWindow::applyLayer);
  connect(allLayers_, &QCheckBox::toggled, this, &MainWindow::applyLayer);
  connect(scrubber_, &QSlider::valueChanged, history_, &widgets::RunHistory::setCursor);
  connect(overlay_, &widgets::PatchOverlayView::patchClicked, patchPanel_,
          &widgets::PatchHistoryPanel::setVisual);
  connect(history_, &widgets::RunHistory::runReset, this, [this] {
    updateLayerRange();
    updateScrubber();
  });
  connect(history_, &widgets::RunHistory::stepAppended, this, &MainWindow::updateScrubber);
  connect(history_, &widgets::RunHistory::cursorChanged, this, &MainWindow::updateScrubber);
}

void MainWindow::buildDocks() {
  // Left: what to run.
  auto* setup = new QWidget(this);
  auto* sl = new QVBoxLayout(setup);
  sl->setContentsMargins(6, 6, 6, 6);

  auto* modelBox = group(tr("Model"), setup);
  auto* ml = new QVBoxLayout(modelBox);
  modelLabel_ = new QLabel(tr("(none)"), modelBox);
  modelLabel_->setWordWrap(true);
  plainFont(modelLabel_);
  ml->addWidget(modelLabel_);
  auto* openModel = new QPushButton(tr("Open model folder..."), modelBox);
  plainFont(openModel);
  connect(openModel, &QPushButton::clicked, this, &MainWindow::openModelDialog);
  ml->addWidget(openModel);
  sl->addWidget(modelBox);

  auto* imageBox = group(tr("Image"), setup);
  auto* il = new QVBoxLayout(imageBox);
  imageLabel_ = new QLabel(tr("(none) - drop an image on the window"), imageBox);
  imageLabel_->setWordWrap(true);
  imageLabel_->setAlignment(Qt::AlignCenter);
  imageLabel_->setMinimumHeight(120);
  plainFont(imageLabel_);
  il->addWidget(imageLabel_);
  auto* imageButtons = new QGridLayout;
  auto* openImage = new QPushButton(tr("Open image..."), imageBox);
  connect(openImage, &QPushButton::clicked, this, &MainWindow::openImageDialog);
  auto* samplesButton = new QToolButton(imageBox);
  samplesButton->setText(tr("Samples"));
  samplesButton->setPopupMode(QToolButton::InstantPopup);
  samplesButton->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
  samplesMenu_ = new QMenu(tr("&Samples"), this);
  samplesButton->setMenu(samplesMenu_);
  auto* randomButton = new QPushButton(tr("New random scene"), imageBox);
  randomButton->setToolTip(
      tr("Draw a scene the demo model has never seen, with a matching question"));
  connect(randomButton, &QPushButton::clicked, this, &MainWindow::newRandomScene);
  for (QWidget* w : std::initializer_list<QWidget*>{openImage, samplesButton, randomButton})
    plainFont(w);
  imageButtons->addWidget(openImage, 0, 0);
  imageButtons->addWidget(samplesButton, 0, 1);
  imageButtons->addWidget(randomButton, 1, 0, 1, 2);
  il->addLayout(imageButtons);
  sl->addWidget(imageBox);

  auto* policyBox = group(tr("Eviction policy"), setup);
  auto* pl = new QVBoxLayout(policyBox);
  policy_ = new widgets::PolicyForm(policyBox);
  plainFont(policy_);
  pl->addWidget(policy_);
  sl->addWidget(policyBox);
  sl->addStretch(1);

  auto* scroll = new QScrollArea(this);
  scroll->setWidget(setup);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  auto* setupDock = new QDockWidget(tr("Setup"), this);
  setupDock->setObjectName("setupDock");
  setupDock->setWidget(scroll);
  setupDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
  setupDock->setMinimumWidth(350);
  addDockWidget(Qt::LeftDockWidgetArea, setupDock);

  // Right: the live plots, all on the shared step cursor; the comparison as a second tab.
  auto* plots = new QWidget(this);
  auto* grid = new QGridLayout(plots);
  grid->setContentsMargins(2, 2, 2, 2);
  grid->setSpacing(4);
  cachePlot_ = new widgets::CacheSizePlot(history_, plots);
  latencyPlot_ = new widgets::LatencyPlot(history_, plots);
  binPlot_ = new widgets::BinActivityPlot(history_, plots);
  heatmap_ = new widgets::OccupancyHeatmap(history_, plots);
  for (widgets::LivePlot* p :
       std::initializer_list<widgets::LivePlot*>{cachePlot_, latencyPlot_, binPlot_, heatmap_})
    p->setMinimumSize(300, 220);
  grid->addWidget(cachePlot_, 0, 0, 1, 2);
  grid->addWidget(latencyPlot_, 1, 0);
  grid->addWidget(binPlot_, 1, 1);
  grid->addWidget(heatmap_, 2, 0, 1, 2);
  grid->setRowStretch(0, 5);
  grid->setRowStretch(1, 4);
  grid->setRowStretch(2, 3);
  plotDock_ = new QDockWidget(tr("Live plots"), this);
  plotDock_->setObjectName("plotDock");
  plotDock_->setWidget(plots);
  addDockWidget(Qt::RightDockWidgetArea, plotDock_);

  compareView_ = new CompareView(history_, this);
  connect(compareView_, &CompareView::compareRequested, this, &MainWindow::compare);
  compareDock_ = new QDockWidget(tr("Compare"), this);
  compareDock_->setObjectName("compareDock");
  compareDock_->setWidget(compareView_);
  addDockWidget(Qt::RightDockWidgetArea, compareDock_);
  tabifyDockWidget(plotDock_, compareDock_);
  plotDock_->raise();
  resizeDocks({setupDock, plotDock_}, {350, 560}, Qt::Horizontal);
}

void MainWindow::buildToolbar() {
  QToolBar* bar = addToolBar(tr("Run"));
  bar->setObjectName("runToolbar");
  bar->setMovable(false);
  bar->setToolButtonStyle(Qt::ToolButtonTextOnly);
  auto* questionLabel = new QLabel(tr("  Question "), bar);
  QFont bold = questionLabel->font();
  bold.setBold(true);
  questionLabel->setFont(bold);
  bar->addWidget(questionLabel);
  prompt_ = new QLineEdit(bar);
  prompt_->setPlaceholderText(tr("Ask something about the image, e.g. what color is the circle?"));
  prompt_->setMinimumWidth(420);
  prompt_->setClearButtonEnabled(true);
  connect(prompt_, &QLineEdit::returnPressed, this, [this] { run(); });
  connect(prompt_, &QLineEdit::textChanged, this, [this] { updateControls(); });
  bar->addWidget(prompt_);
  hintLabel_ = new QLabel(bar);
  hintLabel_->setStyleSheet("QLabel { color: palette(mid); padding: 0 8px; }");
  bar->addWidget(hintLabel_);
  bar->addSeparator();

  prefillAction_ = bar->addAction(tr("Prefill"), this, &MainWindow::prefill);
  prefillAction_->setToolTip(tr("Run the prompt through the model (step 0), then wait"));
  stepAction_ = bar->addAction(tr("Step"), this, &MainWindow::step);
  stepAction_->setShortcut(Qt::Key_F10);
  stepAction_->setToolTip(tr("One more token (F10); prefills first when needed"));
  runAction_ = bar->addAction(tr("Run"), this, [this] { run(); });
  runAction_->setShortcut(Qt::Key_F5);
  runAction_->setToolTip(tr("Generate the whole answer token by token (F5 or Enter)"));
  pauseAction_ = bar->addAction(tr("Pause"), this, &MainWindow::pause);
  pauseAction_->setToolTip(tr("Stop after the current token; Run or Step continues"));
  resetAction_ = bar->addAction(tr("Reset"), this, &MainWindow::resetRun);
  resetAction_->setToolTip(tr("Forget the run; the model stays loaded"));
  cancelAction_ = new QAction(tr("Cancel"), this);
  cancelAction_->setShortcut(Qt::Key_Escape);
  cancelAction_->setToolTip(tr("Stop now, at the next layer boundary (Esc)"));
  connect(cancelAction_, &QAction::triggered, this, &MainWindow::cancel);
  bar->addAction(cancelAction_);
  bar->addSeparator();
  compareAction_ = bar->addAction(tr("Compare..."), this, [this] {
    compareDock_->show();
    compareDock_->raise();
    compare();
  });
  compareAction_->setToolTip(tr("Run policy B (Compare tab) on the same image and question"));
  // The main action stands out so a first-time user knows where to click.
  if (QWidget* w = bar->widgetForAction(runAction_))
    w->setStyleSheet(
        "QToolButton { font-weight: bold; background: #2e7d32; color: white;"
        " border-radius: 4px; padding: 3px 14px; }"
        "QToolButton:disabled { background: #9e9e9e; }");
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("Open &image..."), QKeySequence::Open, this, &MainWindow::openImageDialog);
  file->addAction(tr("Open &model folder..."), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O), this,
                  &MainWindow::openModelDialog);
  file->addAction(tr("Use the &demo model"), this, [this] { loadModel({}); });
  file->addMenu(samplesMenu_);
  file->addAction(tr("New &random scene"), QKeySequence(Qt::CTRL | Qt::Key_R), this,
                  &MainWindow::newRandomScene);
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  // Samples: every bundled scene with each of its questions.
  const auto& list = samples_.samples();
  for (int i = 0; i < static_cast<int>(list.size()); ++i) {
    QMenu* sub = samplesMenu_->addMenu(list[i].title);
    for (int q = 0; q < list[i].questions.size(); ++q) {
      sub->addAction(list[i].questions[q], this, [this, i, q] {
        selectSample(i);
        setPrompt(samples_.samples()[i].questions[q]);
        hint_ = samples_.samples()[i].answers[q];
        hintLabel_->setText(tr("demo answer: %1").arg(hint_));
      });
    }
  }
  if (list.empty()) samplesMenu_->addAction(samples_.loadError())->setEnabled(false);

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

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About HAE Studio"), this, &MainWindow::showAbout);
}

void MainWindow::buildStatusBar() {
  stateLabel_ = new QLabel(this);
  deviceLabel_ = new QLabel(this);
  threadsLabel_ = new QLabel(this);
  cacheLabel_ = new QLabel(this);
  speedLabel_ = new QLabel(this);
  statusBar()->addWidget(stateLabel_, 1);
  for (QLabel* l : {deviceLabel_, threadsLabel_, cacheLabel_, speedLabel_}) {
    l->setContentsMargins(8, 0, 8, 0);
    statusBar()->addPermanentWidget(l);
  }
  deviceLabel_->setToolTip(QString::fromStdString(describeRuntime()));
}

// ---------------------------------------------------------------------------------------------
// Worker results

void MainWindow::connectController() {
  connect(main_, &SessionController::modelLoaded, this, [this](const QString& dir) {
    modelLabel_->setText(demoRequested_
                             ? tr("Embedded demo model (%1)").arg(QFileInfo(dir).fileName())
                             : QFileInfo(dir).fileName());
    modelLabel_->setToolTip(dir);
    banner_->setVisible(false);
    statusBar()->showMessage(tr("Model loaded from %1").arg(dir), 4000);
  });
  connect(main_, &SessionController::modelFailed, this,
          [this](const QString& dir, const QString& message) {
            const bool demo = demoRequested_;
            if (!main_->modelReady()) {
              modelLabel_->setText(tr("(none)"));
              banner_->setText(
                  (demo ? tr("<b>The embedded demo model is not available</b> (%1).<br>"
                             "<a href=\"open\">Open a model folder...</a> (a Hugging Face LLaVA "
                             "checkpoint) to start.")
                        : tr("<b>No model is loaded.</b> %1<br><a href=\"open\">Open a model "
                             "folder...</a>"))
                      // The core's message ends with advice for the CLI, which is no use here.
                      .arg(QString(message)
                               .remove(QStringLiteral("; pass --model DIR"))
                               .toHtmlEscaped()));
              banner_->setVisible(true);
              if (history_->empty()) showPreview();
            }
            if (!demo)
              showError(tr("Cannot load the model"),
                        dir.isEmpty() ? message : tr("%1\n\n%2").arg(dir, message));
          });
  connect(main_, &SessionController::runStarted, this, [this](RunInfoPtr info, StepPtr first) {
    history_->reset(*info);
    overlay_->setImages({image_});
    compareView_->setImage(image_);
    history_->appendStep(std::move(first));
    answer_.clear();
    answerLabel_->setText(
        tr("<i>prefilled, %1 prompt tokens - press Step or Run</i>").arg(info->tokens.size()));
    compareView_->setAnswerA({});
    if (pendingTokens_ >= 0) {
      main_->generate(pendingTokens_);
      pendingTokens_ = -1;
    }
    updateStatus();
  });
  connect(main_, &SessionController::stepArrived, this,
          [this](StepPtr step, const QString& answer) {
            history_->appendStep(std::move(step));
            answer_ = answer;
            answerLabel_->setText(answer_.toHtmlEscaped() +
                                  "<span style='color:#2e7d32'>&#9612;</span>");
            compareView_->setAnswerA(answer_);
          });
  connect(main_, &SessionController::runStopped, this,
          [this](StopReason reason, const QString& answer) {
            pendingTokens_ = -1;
            if (main_->hasRun()) {
              answer_ = answer;
              answerLabel_->setText(answer_.isEmpty() ? tr("<i>(no tokens yet)</i>")
                                                      : answer_.toHtmlEscaped());
              compareView_->setAnswerA(answer_);
            }
            switch (reason) {
              case StopReason::Finished:
                statusBar()->showMessage(
                    tr("Answer complete: %1 tokens").arg(std::max(0, history_->stepCount() - 1)),
                    5000);
                break;
              case StopReason::Paused:
                statusBar()->showMessage(tr("Paused - Run or Step continues"), 5000);
                break;
              case StopReason::Cancelled:
                statusBar()->showMessage(tr("Cancelled"), 5000);
                break;
              case StopReason::StepDone:
                break;
            }
            updateStatus();
          });
  connect(main_, &SessionController::runFailed, this, [this](const QString& message) {
    pendingTokens_ = -1;
    showError(tr("The run failed"), message);
  });
  connect(main_, &SessionController::stateChanged, this, &MainWindow::updateControls);
}

// ---------------------------------------------------------------------------------------------
// Commands

void MainWindow::loadModel(const QString& dir) {
  demoRequested_ = dir.isEmpty();
  modelLabel_->setText(dir.isEmpty() ? tr("Loading the demo model...")
                                     : tr("Loading %1...").arg(dir));
  main_->loadModel(dir);
  if (history_->stepCount() > 0) showPreview();  // the old run belongs to the old model
}

bool MainWindow::setImage(const QString& path) {
  QImageReader reader(path);
  QImage image = reader.read();
  if (image.isNull()) {
    showError(
        tr("Cannot open the image"),
        tr("%1\n\n%2")
            .arg(path, reader.errorString().isEmpty() ? tr("not an image") : reader.errorString()));
    return false;
  }
  imagePath_ = QFileInfo(path).absoluteFilePath();
  image_ = image.convertToFormat(QImage::Format_RGB32);
  imageLabel_->setPixmap(
      QPixmap::fromImage(image_.scaled(240, 160, Qt::KeepAspectRatio, Qt::SmoothTransformation)));
  imageLabel_->setToolTip(imagePath_);
  hint_.clear();
  hintLabel_->clear();
  if (main_->hasRun() || main_->busy()) main_->reset();
  showPreview();
  updateControls();
  return true;
}

void MainWindow::setPrompt(const QString& prompt) {
  prompt_->setText(prompt);
  hint_.clear();
  hintLabel_->clear();
}

QString MainWindow::prompt() const {
  return prompt_->text();
}

void MainWindow::selectSample(int index) {
  const auto& list = samples_.samples();
  if (index < 0 || index >= static_cast<int>(list.size())) return;
  if (!setImage(list[index].path)) return;
  if (!list[index].questions.isEmpty()) {
    setPrompt(list[index].questions.front());
    hint_ = list[index].answers.front();
    hintLabel_->setText(tr("demo answer: %1").arg(hint_));
  }
}

void MainWindow::newRandomScene() {
  try {
    const SampleImage scene = samples_.randomScene(QRandomGenerator::global()->generate64());
    if (!setImage(scene.path)) return;
    setPrompt(scene.questions.value(0));
    hint_ = scene.answers.value(0);
    hintLabel_->setText(tr("demo answer: %1").arg(hint_));
  } catch (const std::exception& e) {
    showError(tr("Cannot make a random scene"), QString::fromUtf8(e.what()));
  }
}

RunRequest MainWindow::currentRequest() const {
  RunRequest r;
  r.prompt = prompt_->text().trimmed();
  r.images = QStringList{imagePath_};
  r.policy = policy_->policyName();
  r.knobs = policy_->knobValues();
  r.max_new_tokens = SessionController::kMaxNewTokens;
  return r;
}

bool MainWindow::currentRunMatches() const {
  if (!main_->hasRun()) return false;
  const RunRequest now = currentRequest();
  return now.prompt == runRequest_.prompt && now.images == runRequest_.images &&
         now.policy == runRequest_.policy && now.knobs == runRequest_.knobs;
}

void MainWindow::startRun(bool thenGenerate, int maxTokens) {
  if (imagePath_.isEmpty()) {
    showError(tr("No image"),
              tr("Open an image first (File > Open image, a sample, or drop one on the window)."));
    return;
  }
  if (prompt_->text().trimmed().isEmpty()) {
    showError(tr("No question"), tr("Type a question about the image first."));
    return;
  }
  if (!main_->modelReady() && !main_->loading()) {
    showError(tr("No model"), tr("Load a model first: File > Open model folder."));
    return;
  }
  runRequest_ = currentRequest();
  pendingTokens_ = thenGenerate ? std::max(0, maxTokens) : -1;
  answerLabel_->setText(tr("<i>prefilling...</i>"));
  main_->prefill(runRequest_);
}

void MainWindow::prefill() {
  startRun(false, 0);
}

void MainWindow::step() {
  if (currentRunMatches() && !main_->finished())
    main_->step();
  else
    startRun(false, 0);  // the prefill is step 0
}

void MainWindow::run(int maxTokens) {
  if (main_->running()) return;
  if (currentRunMatches() && !main_->finished())
    main_->generate(maxTokens);
  else
    startRun(true, maxTokens);
}

void MainWindow::pause() {
  main_->pause();
}

void MainWindow::cancel() {
  pendingTokens_ = -1;
  main_->cancel();
  if (second_) second_->cancel();
}

void MainWindow::resetRun() {
  pendingTokens_ = -1;
  main_->reset();
  showPreview();
}

void MainWindow::compare() {
  if (imagePath_.isEmpty() || prompt_->text().trimmed().isEmpty()) {
    showError(tr("Nothing to compare"), tr("Choose an image and a question first."));
    return;
  }
  if (!main_->modelReady()) {
    showError(tr("No model"), tr("Wait for the model to load (or open one) before comparing."));
    return;
  }
  if (!second_) {
    second_ = new SessionController(options_.threads, this);
    connect(second_, &SessionController::modelFailed, this,
            [this](const QString&, const QString& message) {
              showError(tr("Cannot load the model for the comparison"), message);
            });
    connect(second_, &SessionController::runStarted, this, [this](RunInfoPtr info, StepPtr first) {
      compareView_->history()->reset(*info);
      compareView_->setImage(image_);
      compareView_->history()->appendStep(std::move(first));
      compareView_->setStatus(tr("B: generating..."));
      second_->generate(0);
    });
    connect(second_, &SessionController::stepArrived, this,
            [this](StepPtr step, const QString& answer) {
              compareView_->history()->appendStep(std::move(step));
              compareView_->setAnswerB(answer);
            });
    connect(second_, &SessionController::runStopped, this,
            [this](StopReason reason, const QString& answer) {
              compareView_->setAnswerB(answer);
              compareView_->setStatus(reason == StopReason::Finished ? tr("B: done.")
                                                                     : tr("B: stopped."));
              compareView_->refresh();
            });
    connect(second_, &SessionController::runFailed, this, [this](const QString& message) {
      // A model that failed to load has already said so.
      if (second_->modelReady()) showError(tr("The comparison run failed"), message);
      compareView_->setStatus(tr("B failed."));
    });
  }
  // A: the main run on the inputs shown now, to its end.
  if (!currentRunMatches())
    startRun(true, 0);
  else if (!main_->finished() && !main_->running())
    main_->generate(0);

  RunRequest b = currentRequest();
  b.policy = compareView_->policyForm()->policyName();
  b.knobs = compareView_->policyForm()->knobValues();
  compareView_->history()->reset(RunInfo{});
  compareView_->setAnswerB({});
  // Queued behind the load on the worker's thread, so no need to wait for it here.
  if (!second_->modelReady() || second_->modelDir() != main_->modelDir()) {
    compareView_->setStatus(tr("B: loading the model..."));
    second_->loadModel(main_->modelDir());
  } else {
    compareView_->setStatus(tr("B: prefilling..."));
  }
  second_->prefill(b);
  compareDock_->show();
  compareDock_->raise();
}

void MainWindow::flushViews() {
  for (widgets::LivePlot* p :
       std::initializer_list<widgets::LivePlot*>{cachePlot_, latencyPlot_, binPlot_, heatmap_})
    p->flush();
  tokens_->flush();
  compareView_->refresh();
  updateStatus();
}

void MainWindow::showPreview() {
  RunInfo info;
  if (!image_.isNull())
    info.images.push_back({imagePath_.toStdString(), image_.width(), image_.height(), {}});
  history_->reset(info);
  overlay_->setImages({image_});
  compareView_->setImage(image_);
  answer_.clear();
  if (!main_->modelReady() && !main_->loading())
    answerLabel_->setText(tr("<i>No model is loaded: open a model folder to start.</i>"));
  else if (image_.isNull())
    answerLabel_->setText(tr("<i>Open an image and ask a question.</i>"));
  else
    answerLabel_->setText(tr("<i>Press <b>Run</b> to ask the question.</i>"));
  compareView_->setAnswerA({});
}

// ---------------------------------------------------------------------------------------------
// View state

void MainWindow::updateControls() {
  const bool running = main_->running();
  const bool busy = main_->busy();
  const bool canAsk = !running && !imagePath_.isEmpty() && !prompt_->text().trimmed().isEmpty() &&
                      (main_->modelReady() || main_->loading());
  prefillAction_->setEnabled(canAsk);
  stepAction_->setEnabled(canAsk);
  runAction_->setEnabled(canAsk);
  pauseAction_->setEnabled(running);
  resetAction_->setEnabled(main_->hasRun() || busy);
  cancelAction_->setEnabled(busy || running);
  compareAction_->setEnabled(main_->modelReady() && !imagePath_.isEmpty());
  compareView_->runButton()->setEnabled(compareAction_->isEnabled());

  QString state;
  if (main_->loading())
    state = tr("Loading the model...");
  else if (running)
    state = tr("Generating...");
  else if (busy)
    state = tr("Prefilling...");
  else if (main_->finished())
    state = tr("Answer complete");
  else if (main_->hasRun())
    state = tr("Ready: Step or Run continues");
  else if (main_->modelReady())
    state = tr("Ready");
  else
    state = tr("No model");
  stateLabel_->setText(state);
}

void MainWindow::updateStatus() {
  const widgets::RunHistory& h = *history_;
  const QString device =
      h.info().device.empty() ? QStringLiteral("cpu") : QString::fromStdString(h.info().device);
  deviceLabel_->setText(tr("Device: %1").arg(device));
  const int threads = options_.threads > 0 ? options_.threads : QThread::idealThreadCount();
  threadsLabel_->setText(tr("Threads: %1").arg(threads));
  const StepTelemetry* at = h.cursorStep();
  cacheLabel_->setText(
      tr("KV cache: %1").arg(at ? formatBytes(at->totalBytes()) : QStringLiteral("-")));
  // From the engine's own timings over the last few tokens, so the figure means compute speed,
  // not how fast the window happened to receive the steps.
  double ms = 0;
  int n = 0;
  const int end = std::max(0, h.cursor());
  for (int i = end; i >= 1 && n < 16; --i, ++n) ms += h.step(i).model_ms + h.step(i).policy_ms;
  speedLabel_->setText(n > 0 && ms > 0 ? tr("%1 tokens/s").arg(1000.0 * n / ms, 0, 'f', 1)
                                       : tr("- tokens/s"));
}

QString MainWindow::statusText() const {
  return QStringList{deviceLabel_->text(), threadsLabel_->text(), cacheLabel_->text(),
                     speedLabel_->text()}
      .join(QStringLiteral(" | "));
}

void MainWindow::updateScrubber() {
  const int n = history_->stepCount();
  const QSignalBlocker block(scrubber_);
  scrubber_->setRange(0, std::max(0, n - 1));
  scrubber_->setValue(std::max(0, history_->cursor()));
  scrubber_->setEnabled(n > 1);
  if (n == 0) {
    stepLabel_->setText(tr("no steps"));
  } else {
    const StepTelemetry* s = history_->cursorStep();
    const int stepNo = s ? s->step : 0;
    stepLabel_->setText(stepNo == 0 ? tr("prefill (of %1)").arg(n - 1)
                                    : tr("token %1 of %2").arg(stepNo).arg(n - 1));
  }
}

void MainWindow::updateLayerRange() {
  const int layers = history_->numLayers();
  const QSignalBlocker block(layerSlider_);
  layerSlider_->setRange(0, std::max(0, layers - 1));
  layerSlider_->setEnabled(layers > 0 && !allLayers_->isChecked());
  applyLayer();
}

void MainWindow::applyLayer() {
  const int layers = history_->numLayers();
  const bool all = allLayers_->isChecked();
  layerSlider_->setEnabled(layers > 0 && !all);
  const int layer = all ? widgets::PatchOverlayView::kAllLayers : layerSlider_->value();
  overlay_->setLayer(layer);
  tokens_->setLayer(layer);
  compareView_->setLayer(layer);
  if (layers == 0)
    layerLabel_->setText(all ? tr("all layers") : tr("layer -"));
  else
    layerLabel_->setText(all ? tr("all %1 layers").arg(layers)
                             : tr("layer %1 / %2").arg(layer).arg(layers - 1));
}

// ---------------------------------------------------------------------------------------------
// Dialogs, files, drag and drop

void MainWindow::showError(const QString& title, const QString& message) {
  // Non-blocking: the window (and any run) keeps going while the message is up.
  auto* box = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, this);
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->setModal(false);
  box->show();
  statusBar()->showMessage(title, 6000);
  emit errorShown(title, message);
}

void MainWindow::openModelDialog() {
  const QString dir = QFileDialog::getExistingDirectory(
      this, tr("Open a model folder (config.json, *.safetensors, tokenizer.json)"));
  if (!dir.isEmpty()) loadModel(dir);
}

void MainWindow::openImageDialog() {
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Open an image"), QFileInfo(imagePath_).path(),
      tr("Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff *.ppm)"));
  if (!path.isEmpty()) setImage(path);
}

void MainWindow::exportPlot(widgets::LivePlot* plot, const QString& name) {
  QString filter;
  QString path = QFileDialog::getSaveFileName(
      this, tr("Export plot"), name + ".png",
      tr("PNG image (*.png);;SVG vector image (*.svg);;PDF document (*.pdf)"), &filter);
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty())
    path += filter.contains("svg") ? ".svg" : filter.contains("pdf") ? ".pdf" : ".png";
  QString error;
  if (!plot->exportTo(path, &error))
    showError(tr("Export failed"), error);
  else
    statusBar()->showMessage(tr("Saved %1").arg(path), 4000);
}

void MainWindow::exportOverlay() {
  QString filter;
  QString path = QFileDialog::getSaveFileName(
      this, tr("Export overlay"), "overlay.png",
      tr("PNG image (*.png);;SVG vector image (*.svg);;PDF document (*.pdf)"), &filter);
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty())
    path += filter.contains("svg") ? ".svg" : filter.contains("pdf") ? ".pdf" : ".png";
  QString error;
  if (!overlay_->exportTo(path, &error, overlay_->size() * 2))
    showError(tr("Export failed"), error);
  else
    statusBar()->showMessage(tr("Saved %1").arg(path), 4000);
}

void MainWindow::exportReportDialog() {
  QStringList filters = {tr("HTML report (*.html)"), tr("JSON report (*.json)"),
                         tr("CSV table (*.csv)"), tr("Chrome / Perfetto trace (*.trace.json)")};
  // The PDF writer lives on the Qt side and is installed only when the build has it.
  if (hasPdfReportWriter()) filters << tr("PDF report (*.pdf)");
  QString filter;
  QString path = QFileDialog::getSaveFileName(this, tr("Export the profiling report"),
                                              "report.html", filters.join(";;"), &filter);
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) {
    const int open = filter.indexOf("(*"), close = filter.indexOf(')', open);
    if (open >= 0 && close > open) path += filter.mid(open + 2, close - open - 2);
  }
  QString error;
  if (!exportReport(path, &error))
    showError(tr("Export failed"), error);
  else
    statusBar()->showMessage(tr("Saved %1").arg(path), 4000);
}

bool MainWindow::exportReport(const QString& path, QString* error) {
  if (history_->empty()) {
    if (error) *error = tr("There is no run to report yet: press Run first.");
    return false;
  }
  std::vector<StepTelemetry> steps;
  steps.reserve(history_->stepCount());
  for (int i = 0; i < history_->stepCount(); ++i) steps.push_back(history_->step(i));
  try {
    writeReport(path.toStdString(), history_->info(), steps, answer_.toStdString());
    return true;
  } catch (const std::exception& e) {
    if (error) *error = QString::fromUtf8(e.what());
    return false;
  }
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  const QMimeData* mime = event->mimeData();
  if (mime->hasUrls() && !mime->urls().isEmpty() && mime->urls().front().isLocalFile())
    event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  const QString path = event->mimeData()->urls().front().toLocalFile();
  // A folder is a model checkpoint; a file is an image.
  if (QFileInfo(path).isDir())
    loadModel(path);
  else
    setImage(path);
  event->acceptProposedAction();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  // Stop at the next layer boundary; the controllers join their threads when they are destroyed.
  main_->cancel();
  if (second_) second_->cancel();
  QMainWindow::closeEvent(event);
}

void MainWindow::showAbout() {
  const BuildInfo info = buildInfo();
  QMessageBox::about(
      this, tr("About HAE Studio"),
      tr("HAE Studio %1\nKV-cache eviction visualizer and profiler.\n%2")
          .arg(QString::fromStdString(info.version), QString::fromStdString(describeRuntime())));
}

}  // namespace hae::studio
