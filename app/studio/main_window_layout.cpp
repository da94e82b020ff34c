// The window's widgets. Sized so that everything fits a 1280x720 screen (and 1000x660 at the
// least) with no control in an overflow menu and no plot clipped, and so that nothing moves
// while an answer streams in: the answer box, the step and layer labels have fixed sizes.
#include <QAction>
#include <QCheckBox>
#include <QDockWidget>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPushButton>
#include <QResizeEvent>
#include <QScrollArea>
#include <QShowEvent>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTextEdit>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <cstdlib>

#include "compare_view.h"
#include "hae/build_info.h"
#include "hae/widgets/attention_view.h"
#include "hae/widgets/bin_activity_plot.h"
#include "hae/widgets/cache_size_plot.h"
#include "hae/widgets/latency_plot.h"
#include "hae/widgets/occupancy_heatmap.h"
#include "hae/widgets/patch_history_panel.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/policy_form.h"
#include "hae/widgets/run_history.h"
#include "hae/widgets/token_stream_view.h"
#include "image_set_panel.h"
#include "main_window.h"
#include "session_controller.h"

namespace hae::studio {

namespace {

// Every plot keeps at least this much, so at the minimum window size none is cut off.
constexpr int kPlotMinWidth = 210;
constexpr int kPlotMinHeight = 120;
constexpr int kSetupMinWidth = 270;

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

QLabel* boldLabel(const QString& text, QWidget* parent) {
  auto* label = new QLabel(text, parent);
  QFont f = label->font();
  f.setBold(true);
  label->setFont(f);
  return label;
}

// A label as wide as its longest text, so a changing value never shifts what sits beside it.
QLabel* fixedLabel(const QString& widest, QWidget* parent) {
  auto* label = new QLabel(parent);
  label->setFixedWidth(label->fontMetrics().horizontalAdvance(widest) + 8);
  return label;
}

}  // namespace

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

  // The question lives here, not in the toolbar, so its width never pushes the run buttons into
  // the toolbar's overflow menu.
  auto* questionRow = new QHBoxLayout;
  auto* questionTitle = boldLabel(tr("Question"), central);
  questionRow->addWidget(questionTitle);
  prompt_ = new QLineEdit(central);
  prompt_->setPlaceholderText(tr("Ask something about the image, e.g. what color is the circle?"));
  prompt_->setClearButtonEnabled(true);
  prompt_->setToolTip(
      tr("The question. With several images, <image> marks where each goes (in order); "
         "without markers the images come first."));
  connect(prompt_, &QLineEdit::returnPressed, this, [this] { run(); });
  connect(prompt_, &QLineEdit::textChanged, this, [this] {
    checkImageMarkers();
    updateControls();
    vocabularyTimer_.start();  // restarted by each key: checks once typing pauses
  });
  questionRow->addWidget(prompt_, 1);
  auto* marker = new QToolButton(central);
  marker->setText(tr("+ <image>"));
  marker->setToolTip(tr("Insert an <image> marker at the cursor: the next image goes there"));
  connect(marker, &QToolButton::clicked, this, &MainWindow::insertImageMarker);
  questionRow->addWidget(marker);
  markerLabel_ = new QLabel(central);
  markerLabel_->setStyleSheet("QLabel { color: #b71c1c; }");
  markerLabel_->setVisible(false);
  questionRow->addWidget(markerLabel_);
  // Narrow and elided by width: the whole list is in its tooltip, and the question keeps its room.
  unknownLabel_ = new QLabel(central);
  unknownLabel_->setObjectName("unknownWordsLabel");
  unknownLabel_->setStyleSheet("QLabel { color: #b71c1c; }");
  unknownLabel_->setMaximumWidth(320);
  unknownLabel_->setVisible(false);
  questionRow->addWidget(unknownLabel_);
  vocabularyTimer_.setSingleShot(true);
  vocabularyTimer_.setInterval(300);
  connect(&vocabularyTimer_, &QTimer::timeout, this, &MainWindow::checkVocabulary);
  layout->addLayout(questionRow);

  auto* answerRow = new QHBoxLayout;
  auto* answerTitle = boldLabel(tr("Answer"), central);
  answerTitle->setFixedWidth(questionTitle->sizeHint().width());
  answerTitle->setAlignment(Qt::AlignLeft | Qt::AlignTop);
  answerRow->addWidget(answerTitle);
  // Two lines high whatever the answer's length (longer answers scroll inside), so the overlay
  // and the sliders below stay where they are while tokens arrive.
  answerView_ = new QTextEdit(central);
  answerView_->setReadOnly(true);
  answerView_->setFrameShape(QFrame::StyledPanel);
  answerView_->document()->setDocumentMargin(3);
  QFont answerFont = answerView_->font();
  answerFont.setPointSizeF(answerFont.pointSizeF() * 1.1);
  answerView_->setFont(answerFont);
  answerView_->setFixedHeight(QFontMetrics(answerFont).lineSpacing() * 2 + 14);
  answerView_->setVerticalScrollBarPolicy(Qt::ScrollBarAsNeeded);
  answerRow->addWidget(answerView_, 1);
  layout->addLayout(answerRow);

  auto* vsplit = new QSplitter(Qt::Vertical, central);
  vsplit->setChildrenCollapsible(false);
  centerSplit_ = vsplit;
  connect(vsplit, &QSplitter::splitterMoved, this, [this] { centerSplitDragged_ = true; });

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
  layerSlider_->setToolTip(
      tr("The decoder layer whose cache the overlay shows (Alt+Up / Alt+Down)"));
  controls->addWidget(layerSlider_, 0, 1);
  layerLabel_ = fixedLabel(tr("layer 99 / 99"), overlayPanel);
  controls->addWidget(layerLabel_, 0, 2);
  allLayers_ = new QCheckBox(tr("All layers"), overlayPanel);
  allLayers_->setToolTip(
      tr("Summarise every layer: clear where all layers keep a patch, darker the "
         "more layers dropped it (Alt+L)"));
  allLayers_->setChecked(true);
  controls->addWidget(allLayers_, 0, 3);
  controls->addWidget(new QLabel(tr("Step"), overlayPanel), 1, 0);
  scrubber_ = new QSlider(Qt::Horizontal, overlayPanel);
  scrubber_->setRange(0, 0);
  scrubber_->setToolTip(
      tr("Go back to any past step: overlay, tokens and plots show it as it was "
         "(Alt+Left / Alt+Right)"));
  controls->addWidget(scrubber_, 1, 1);
  stepLabel_ = fixedLabel(tr("token 1024 of 1024"), overlayPanel);
  controls->addWidget(stepLabel_, 1, 2, 1, 2);
  ol->addLayout(controls);
  vsplit->addWidget(overlayPanel);

  auto* hsplit = new QSplitter(Qt::Horizontal, vsplit);
  auto* tokBox = group(tr("Tokens"), hsplit);
  tokBox->setToolTip(tr("The prompt, then the answer as it arrives"));
  auto* tl = new QVBoxLayout(tokBox);
  tl->setContentsMargins(4, 4, 4, 4);
  tokens_ = new widgets::TokenStreamView(history_, tokBox);
  plainFont(tokens_);
  tl->addWidget(tokens_);
  auto* pinBox = group(tr("Pinned patch"), hsplit);
  pinBox->setToolTip(tr("Click a patch in the overlay to follow its history"));
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
  vsplit->setSizes({420, 150});
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
    fitOverlayHeight();
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

  auto* imageBox = group(tr("Images"), setup);
  auto* il = new QVBoxLayout(imageBox);
  imageSet_ = new ImageSetPanel(imageBox);
  plainFont(imageSet_);
  connect(imageSet_, &ImageSetPanel::addRequested, this, &MainWindow::addImageDialog);
  connect(imageSet_, &ImageSetPanel::imagesChanged, this, &MainWindow::imagesChanged);
  il->addWidget(imageSet_);
  auto* imageButtons = new QGridLayout;
  auto* openImage = new QPushButton(tr("Open image..."), imageBox);
  openImage->setToolTip(tr("Replace the prompt's images by one image"));
  connect(openImage, &QPushButton::clicked, this, &MainWindow::openImageDialog);
  auto* samplesButton = new QToolButton(imageBox);
  samplesButton->setText(tr("Samples"));
  samplesButton->setPopupMode(QToolButton::InstantPopup);
  samplesButton->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
  samplesMenu_ = new QMenu(tr("&Samples"), this);
  samplesButton->setMenu(samplesMenu_);
  auto* randomButton = new QPushButton(tr("Random scene"), imageBox);
  randomButton->setToolTip(
      tr("Draw a scene the demo model has never seen, with a matching question"));
  connect(randomButton, &QPushButton::clicked, this, &MainWindow::newRandomScene);
  auto* changeButton = new QPushButton(tr("Two images"), imageBox);
  changeButton->setToolTip(
      tr("The two-image demo prompt: a scene before and after one change, asking what changed"));
  connect(changeButton, &QPushButton::clicked, this, &MainWindow::twoImageSample);
  for (QWidget* w :
       std::initializer_list<QWidget*>{openImage, samplesButton, randomButton, changeButton})
    plainFont(w);
  imageButtons->addWidget(openImage, 0, 0);
  imageButtons->addWidget(samplesButton, 0, 1);
  imageButtons->addWidget(randomButton, 1, 0);
  imageButtons->addWidget(changeButton, 1, 1);
  il->addLayout(imageButtons);
  sl->addWidget(imageBox);

  // A and B side by side as tabs, each form at full size (the comparison's form used to be a
  // box two rows high inside the Compare tab).
  auto* policyBox = group(tr("Eviction policy"), setup);
  auto* pl = new QVBoxLayout(policyBox);
  pl->setContentsMargins(2, 4, 2, 2);
  policyTabs_ = new QTabWidget(policyBox);
  plainFont(policyTabs_);
  policy_ = new widgets::PolicyForm(policyTabs_);
  policyB_ = new widgets::PolicyForm(policyTabs_);
  policyTabs_->addTab(policy_, tr("A: main run"));
  policyTabs_->addTab(policyB_, tr("B: compare"));
  policyTabs_->setTabToolTip(1, tr("The policy that Compare runs beside A"));
  pl->addWidget(policyTabs_);
  sl->addWidget(policyBox);
  sl->addStretch(1);

  auto* scroll = new QScrollArea(this);
  scroll->setWidget(setup);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  // A long knob form never clips: at worst it scrolls sideways (fitDocks avoids even that).
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAsNeeded);
  setupDock_ = new QDockWidget(tr("Setup"), this);
  setupDock_->setObjectName("setupDock");
  setupDock_->setWidget(scroll);
  setupDock_->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
  setupDock_->setMinimumWidth(kSetupMinWidth);
  addDockWidget(Qt::LeftDockWidgetArea, setupDock_);

  // Right: the live plots, all on the shared step cursor; the comparison as a second tab.
  auto* plotHost = new QWidget(this);
  auto* grid = new QGridLayout(plotHost);
  grid->setContentsMargins(2, 2, 2, 2);
  grid->setSpacing(4);
  cachePlot_ = new widgets::CacheSizePlot(history_, plotHost);
  latencyPlot_ = new widgets::LatencyPlot(history_, plotHost);
  binPlot_ = new widgets::BinActivityPlot(history_, plotHost);
  heatmap_ = new widgets::OccupancyHeatmap(history_, plotHost);
  for (widgets::LivePlot* p : plots()) p->setMinimumSize(kPlotMinWidth, kPlotMinHeight);
  grid->addWidget(cachePlot_, 0, 0, 1, 2);
  grid->addWidget(latencyPlot_, 1, 0);
  grid->addWidget(binPlot_, 1, 1);
  grid->addWidget(heatmap_, 2, 0, 1, 2);
  grid->setRowStretch(0, 5);
  grid->setRowStretch(1, 4);
  grid->setRowStretch(2, 3);
  plotDock_ = new QDockWidget(tr("Live plots"), this);
  plotDock_->setObjectName("plotDock");
  plotDock_->setWidget(plotHost);
  addDockWidget(Qt::RightDockWidgetArea, plotDock_);

  compareView_ = new CompareView(history_, this);
  connect(compareView_, &CompareView::compareRequested, this, &MainWindow::compare);
  // Policy B is chosen in the Setup dock's "B: compare" tab; the Compare tab's own small form
  // would be a second, disagreeing copy.
  compareView_->setFormVisible(false);
  connect(compareView_->history(), &widgets::RunHistory::stepAppended, this,
          &MainWindow::syncCompareCursor);
  connect(history_, &widgets::RunHistory::cursorChanged, this, &MainWindow::syncCompareCursor);
  compareDock_ = new QDockWidget(tr("Compare"), this);
  compareDock_->setObjectName("compareDock");
  // In a scroll area: the comparison's own minimum width must not widen the dock area it
  // shares (as a tab) with the plots.
  auto* compareScroll = new QScrollArea(this);
  compareScroll->setWidget(compareView_);
  compareScroll->setWidgetResizable(true);
  compareScroll->setFrameShape(QFrame::NoFrame);
  compareDock_->setWidget(compareScroll);
  addDockWidget(Qt::RightDockWidgetArea, compareDock_);
  tabifyDockWidget(plotDock_, compareDock_);

  // Per-head policies keep a different set in each KV head: one map per head at the Layer
  // slider's layer (the layer the slider last named while "All layers" is on).
  headKeep_ = new widgets::HeadKeepView(history_, this);
  headDock_ = new QDockWidget(tr("Per head"), this);
  headDock_->setObjectName("headDock");
  headDock_->setToolTip(tr("What each KV head keeps at the layer (per-head policies)"));
  auto* headScroll = new QScrollArea(this);
  headScroll->setWidget(headKeep_);
  headScroll->setWidgetResizable(true);
  headScroll->setFrameShape(QFrame::NoFrame);
  headDock_->setWidget(headScroll);
  addDockWidget(Qt::RightDockWidgetArea, headDock_);
  tabifyDockWidget(compareDock_, headDock_);
  buildAttentionTab();
  plotDock_->raise();
  fitDocks();
}

void MainWindow::fitDocks() {
  // The side docks take a share of the width, so on a large screen the plots grow with the
  // window instead of leaving all the room to the overlay.
  const int w = std::max(width(), kMinimumWidth);
  // A quarter: at 1280 px the widest knob form (HAE's) fits without a side scroll bar.
  const int setupW = std::clamp(w * 25 / 100, kSetupMinWidth, 460);
  const int plotW = std::clamp(w * 41 / 100, 2 * kPlotMinWidth + 16, 1200);
  resizeDocks({setupDock_, plotDock_}, {setupW, plotW}, Qt::Horizontal);
}

void MainWindow::resizeEvent(QResizeEvent* event) {
  QMainWindow::resizeEvent(event);
  if (event->oldSize().width() != event->size().width()) fitDocks();
  // Once the docks and the splitter have their new sizes.
  QTimer::singleShot(0, this, &MainWindow::fitOverlayHeight);
}

void MainWindow::fitOverlayHeight() {
  if (centerSplitDragged_) return;
  const QList<int> sizes = centerSplit_->sizes();
  const int total = sizes.value(0) + sizes.value(1);
  if (total <= 0) return;  // not laid out yet
  // A wide image in a tall window would leave a blank band under its legend: the tokens take
  // that room. A tall one takes up to three quarters; the tokens keep at least a quarter.
  const int sliders = sizes.value(0) - overlay_->height();
  const int most = total * 3 / 4;
  const int need = overlay_->neededHeight(QSize(overlay_->width(), most - sliders));
  if (need <= 0) return;  // no prefill yet: the images' sizes are not known
  const int top = std::clamp(need + sliders, total * 45 / 100, most);
  if (std::abs(top - sizes.value(0)) > 2) centerSplit_->setSizes({top, total - top});
}

void MainWindow::showEvent(QShowEvent* event) {
  QMainWindow::showEvent(event);
  // Docks resized before the first show keep their size hints instead: share the width now.
  if (!event->spontaneous()) fitDocks();
}

void MainWindow::buildToolbar() {
  toolBar_ = addToolBar(tr("Run"));
  QToolBar* bar = toolBar_;
  bar->setObjectName("runToolbar");
  bar->setMovable(false);
  bar->setToolButtonStyle(Qt::ToolButtonTextOnly);

  prefillAction_ = bar->addAction(tr("Prefill"), this, &MainWindow::prefill);
  prefillAction_->setShortcut(Qt::Key_F9);
  prefillAction_->setToolTip(tr("Run the prompt through the model (step 0), then wait (F9)"));
  stepAction_ = bar->addAction(tr("Step"), this, &MainWindow::step);
  stepAction_->setShortcut(Qt::Key_F10);
  stepAction_->setToolTip(tr("One more token (F10); prefills first when needed"));
  runAction_ = bar->addAction(tr("Run"), this, [this] { run(); });
  runAction_->setShortcut(Qt::Key_F5);
  runAction_->setToolTip(tr("Generate the answer token by token (F5, or Enter in the question)"));
  pauseAction_ = bar->addAction(tr("Pause"), this, &MainWindow::pause);
  pauseAction_->setShortcut(Qt::Key_F6);
  pauseAction_->setToolTip(tr("Stop after the current token; Run or Step continues (F6)"));
  resetAction_ = bar->addAction(tr("Reset"), this, &MainWindow::resetRun);
  resetAction_->setShortcut(Qt::Key_F8);
  resetAction_->setToolTip(tr("Forget the run; the model stays loaded (F8)"));
  cancelAction_ = bar->addAction(tr("Cancel"), this, &MainWindow::cancel);
  cancelAction_->setShortcut(Qt::Key_Escape);
  cancelAction_->setToolTip(tr("Stop now, at the next layer boundary (Esc)"));
  bar->addSeparator();
  compareAction_ = bar->addAction(tr("Compare"), this, [this] {
    compareDock_->show();
    compareDock_->raise();
    compare();
  });
  compareAction_->setShortcut(Qt::Key_F7);
  compareAction_->setToolTip(
      tr("Run policy B (Setup > B: compare) on the same images and question (F7)"));
  bar->addSeparator();

  // Watch mode.
  bar->addWidget(new QLabel(tr(" Max tokens "), bar));
  maxTokens_ = new QSpinBox(bar);
  maxTokens_->setRange(1, SessionController::kMaxNewTokensLimit);
  maxTokens_->setValue(SessionController::kMaxNewTokens);
  maxTokens_->setToolTip(tr("The longest answer a run may generate (applies to the next run)"));
  bar->addWidget(maxTokens_);
  bar->addWidget(new QLabel(tr("  Delay "), bar));
  delay_ = new QSpinBox(bar);
  delay_->setRange(0, 1000);
  delay_->setSingleStep(50);
  delay_->setSuffix(tr(" ms/token"));
  delay_->setToolTip(
      tr("Watch mode: wait this long after each token, so a fast model can be followed "
         "(and paused) as it answers; applies at once"));
  connect(delay_, &QSpinBox::valueChanged, this, [this](int ms) {
    main_->setTokenDelay(ms);
    if (second_) second_->setTokenDelay(ms);
  });
  bar->addWidget(delay_);

  // The main action stands out so a first-time user knows where to click.
  if (QWidget* w = bar->widgetForAction(runAction_))
    w->setStyleSheet(
        "QToolButton { font-weight: bold; background: #2e7d32; color: white;"
        " border-radius: 4px; padding: 3px 14px; }"
        "QToolButton:disabled { background: #9e9e9e; }");
}

void MainWindow::buildStatusBar() {
  stateLabel_ = new QLabel(this);
  deviceLabel_ = new QLabel(this);
  threadsLabel_ = new QLabel(this);
  cacheLabel_ = fixedLabel(tr("KV cache: 9999.99 MiB"), this);
  speedLabel_ = fixedLabel(tr("99999.9 tokens/s"), this);
  // The state text can be long: it gives way (elided by the status bar) rather than widening
  // the window.
  stateLabel_->setMinimumWidth(120);
  stateLabel_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  statusBar()->addWidget(stateLabel_, 1);
  // Decode speed against the memory bound; may be narrowed (its tooltip has the whole text) so
  // it never widens the window or pushes the fields beside it.
  boundLabel_ = new QLabel(this);
  boundLabel_->setObjectName("memoryBoundLabel");
  boundLabel_->setMinimumWidth(40);
  for (QLabel* l : {boundLabel_, deviceLabel_, threadsLabel_, cacheLabel_, speedLabel_}) {
    l->setContentsMargins(6, 0, 6, 0);
    statusBar()->addPermanentWidget(l);
  }
  deviceLabel_->setToolTip(QString::fromStdString(describeRuntime()));
}

}  // namespace hae::studio
