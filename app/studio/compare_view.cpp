#include "compare_view.h"

#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QResizeEvent>
#include <QScrollArea>
#include <QSplitter>
#include <QStackedWidget>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>
#include <functional>

#include "hae/widgets/compare_curves.h"
#include "hae/widgets/patch_overlay_view.h"
#include "hae/widgets/policy_form.h"
#include "run_summary.h"

namespace hae::studio {

namespace {

// A word-wrapped label that does not ask for height-for-width: QLabel asks for it again on every
// setText, and then the scroll area sizes the whole view by its preferred height, taller than
// the dock, pushing the curves below the dock's bottom edge.
class WrappedLabel : public QLabel {
 public:
  using QLabel::QLabel;
  bool hasHeightForWidth() const override { return false; }
};

QPlainTextEdit* answerBox(QWidget* parent) {
  auto* box = new QPlainTextEdit(parent);
  box->setReadOnly(true);
  box->setToolTip(QObject::tr("This run's answer"));
  // Three lines under the thumbnail, longer answers scroll: the overlay keeps the column's height.
  box->setFixedHeight(3 * box->fontMetrics().lineSpacing() + 12);
  return box;
}

QWidget* column(const QString& title, widgets::PatchOverlayView* overlay, QPlainTextEdit* answer,
                QWidget* parent) {
  auto* box = new QGroupBox(title, parent);
  auto* layout = new QVBoxLayout(box);
  layout->setContentsMargins(3, 3, 3, 3);  // three columns share a narrow dock
  layout->addWidget(overlay, 1);
  layout->addWidget(answer);
  return box;
}

}  // namespace

CompareView::CompareView(widgets::RunHistory* primary, QWidget* parent)
    : QWidget(parent), primary_(primary), second_(new widgets::RunHistory(this)) {
  auto* layout = new QVBoxLayout(this);

  auto* top = new QHBoxLayout;
  auto* formBox = new QGroupBox(tr("Policy B"), this);
  formBox_ = formBox;
  auto* formLayout = new QVBoxLayout(formBox);
  form_ = new widgets::PolicyForm(formBox);
  // HAE has dozens of knobs: scroll them rather than let the form set the dock's height.
  auto* scroll = new QScrollArea(formBox);
  scroll->setWidget(form_);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  scroll->setMinimumHeight(260);  // a real form, not a box two rows high
  formLayout->addWidget(scroll);
  top->addWidget(formBox, 2);
  auto* side = new QVBoxLayout;
  runButton_ = new QPushButton(tr("Run comparison"), this);
  runButton_->setToolTip(
      tr("Run policy B on the same image and question as the main run (A), "
         "in a second session, and show both side by side."));
  side->addWidget(runButton_);
  status_ =
      new WrappedLabel(tr("A is the main run. Choose policy B and press Run comparison."), this);
  status_->setWordWrap(true);
  status_->setMinimumHeight(2 * status_->fontMetrics().lineSpacing() + 4);
  side->addWidget(status_);
  side->addStretch(1);
  top->addLayout(side, 1);
  layout->addLayout(top);

  overlayA_ = new widgets::PatchOverlayView(primary_, this);
  overlayB_ = new widgets::PatchOverlayView(second_, this);
  diff_ = new widgets::PatchOverlayView(primary_, this);
  diff_->setDiffAgainst(second_);
  // Three overlays share the dock's width: below the overlay's own minimum, so at 1280 px the
  // row fits the dock instead of scrolling sideways.
  for (widgets::PatchOverlayView* o : {overlayA_, overlayB_, diff_}) {
    o->setMinimumSize(140, 140);
    o->setCompactHeader(true);  // the column titles and the main overlay say the rest
  }
  answerA_ = answerBox(this);
  answerB_ = answerBox(this);
  auto* split = new QSplitter(Qt::Horizontal, this);
  split->addWidget(column(tr("A: main run"), overlayA_, answerA_, split));
  split->addWidget(column(tr("B: comparison run"), overlayB_, answerB_, split));
  auto* diffBox = new QGroupBox(tr("A vs B"), split);
  diffBox->setToolTip(tr("Who holds each patch: A only, B only, both or neither"));
  auto* diffLayout = new QVBoxLayout(diffBox);
  diffLayout->setContentsMargins(3, 3, 3, 3);
  diffLayout->addWidget(diff_, 1);
  split->addWidget(diffBox);

  table_ = new QTableWidget(this);
  table_->setColumnCount(2);
  table_->setHorizontalHeaderLabels({tr("A"), tr("B")});
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionMode(QAbstractItemView::NoSelection);
  table_->verticalHeader()->setDefaultSectionSize(22);
  curves_ = new widgets::CompareCurves(primary_, second_, this);
  curves_->setMinimumHeight(150);
  // A wide dock shows the curves beside the table; a narrow one gives each a tab, so the three
  // stacked curves keep a readable height.
  bottom_ = new QSplitter(Qt::Horizontal, this);
  bottom_->addWidget(curves_);
  bottom_->addWidget(table_);
  bottomTabs_ = new QTabWidget(this);
  bottomStack_ = new QStackedWidget(this);
  bottomStack_->addWidget(bottom_);
  bottomStack_->addWidget(bottomTabs_);
  vertical_ = new QSplitter(Qt::Vertical, this);
  vertical_->addWidget(split);
  vertical_->addWidget(bottomStack_);
  layout->addWidget(vertical_, 1);
  for (QSplitter* s : {vertical_, bottom_})
    connect(s, &QSplitter::splitterMoved, this, [this] { splitDragged_ = true; });

  connect(runButton_, &QPushButton::clicked, this, &CompareView::compareRequested);
  for (widgets::RunHistory* h : {primary_, second_}) {
    connect(h, &widgets::RunHistory::runReset, this, &CompareView::markDirty);
    connect(h, &widgets::RunHistory::stepAppended, this, &CompareView::markDirty);
  }
  // The table is cheap but the runs stream at decode speed: rebuild it at a few Hz at most.
  timer_.setInterval(200);
  connect(&timer_, &QTimer::timeout, this, [this] {
    if (dirty_) refresh();
  });
  timer_.start();
  refresh();
}

void CompareView::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  // Beside each other the curves need some 500 px and the table's numbers 300.
  arrangeBottom(event->size().width() < 900);
  // Once the layout has given the splitters their new size, unless the user has dragged them.
  if (!splitDragged_) QTimer::singleShot(0, this, &CompareView::shareSplits);
}

void CompareView::arrangeBottom(bool tabbed) {
  if ((bottomStack_->currentWidget() == bottomTabs_) == tabbed) return;
  if (tabbed) {
    bottomTabs_->addTab(curves_, tr("Curves"));
    bottomTabs_->addTab(table_, tr("Numbers"));
    bottomStack_->setCurrentWidget(bottomTabs_);
  } else {
    bottomTabs_->clear();  // the pages stay alive and move back into the splitter
    bottom_->addWidget(curves_);
    bottom_->addWidget(table_);
    curves_->show();
    table_->show();
    bottomStack_->setCurrentWidget(bottom_);
  }
}

void CompareView::shareSplits() {
  // The overlays are narrow (three share the width) and need little height: the curves take
  // the rest, more of it when the table is in a tab of its own.
  const bool tabbed = bottomStack_->currentWidget() == bottomTabs_;
  const int h = vertical_->height();
  const int top = tabbed ? h * 2 / 5 : h * 3 / 5;
  vertical_->setSizes({top, h - top});
  if (!tabbed) bottom_->setSizes({bottom_->width() * 3 / 5, bottom_->width() * 2 / 5});
}

void CompareView::setImage(const QImage& image) {
  setImages({image});
}

void CompareView::setImages(const std::vector<QImage>& images) {
  overlayA_->setImages(images);
  overlayB_->setImages(images);
  diff_->setImages(images);
}

void CompareView::setFormVisible(bool visible) {
  formBox_->setVisible(visible);
}

bool CompareView::formVisible() const {
  return !formBox_->isHidden();
}

void CompareView::setAnswerA(const QString& answer) {
  answerA_->setPlainText(answer);
}
void CompareView::setAnswerB(const QString& answer) {
  answerB_->setPlainText(answer);
}
void CompareView::setStatus(const QString& text) {
  status_->setText(text);
}

void CompareView::setLayer(int layer) {
  overlayA_->setLayer(layer);
  overlayB_->setLayer(layer);
  diff_->setLayer(layer);
}

void CompareView::refresh() {
  dirty_ = false;
  const RunSummary a = summarizeRun(*primary_), b = summarizeRun(*second_);
  struct Row {
    QString name;
    std::function<QString(const RunSummary&)> text;
  };
  const std::vector<Row> rows = {
      {tr("Policy"), [](const RunSummary& s) { return s.policy; }},
      {tr("Generated tokens"), [](const RunSummary& s) { return QString::number(s.generated); }},
      {tr("Prefill (ms)"),
       [](const RunSummary& s) { return QString::number(s.prefill_ms, 'f', 1); }},
      {tr("Decode per token (ms)"),
       [](const RunSummary& s) { return QString::number(s.decode_ms_mean, 'f', 2); }},
      {tr("Policy overhead per token (ms)"),
       [](const RunSummary& s) { return QString::number(s.policy_ms_mean, 'f', 3); }},
      {tr("Tokens / s"),
       [](const RunSummary& s) { return QString::number(s.tokens_per_s, 'f', 1); }},
      {tr("KV cache now (MiB)"),
       [](const RunSummary& s) { return QString::number(s.cache_mib, 'f', 2); }},
      {tr("KV cache peak (MiB)"),
       [](const RunSummary& s) { return QString::number(s.peak_cache_mib, 'f', 2); }},
      {tr("Visual patches kept"),
       [](const RunSummary& s) { return QString::number(100.0 * s.visual_kept, 'f', 1) + " %"; }},
      // Against each run's own full-cache shadow (View > Full-cache shadow).
      {tr("KL vs full cache (mean / worst)"),
       [](const RunSummary& s) {
         return s.shadow_steps
                    ? QStringLiteral("%1 / %2").arg(s.kl_mean, 0, 'g', 3).arg(s.kl_max, 0, 'g', 3)
                    : QStringLiteral("no shadow");
       }},
      {tr("Top-1 agreement with full cache"),
       [](const RunSummary& s) {
         return s.shadow_steps ? QString::number(100.0 * s.top1_agreement, 'f', 1) + " %"
                               : QStringLiteral("no shadow");
       }},
      {tr("Missed attention (mean per layer)"),
       [](const RunSummary& s) {
         return s.shadow_steps ? QString::number(s.missed_mean, 'g', 3)
                               : QStringLiteral("no shadow");
       }},
  };
  table_->setRowCount(static_cast<int>(rows.size()));
  QStringList names;
  for (int r = 0; r < static_cast<int>(rows.size()); ++r) {
    names << rows[r].name;
    int c = 0;
    for (const RunSummary* s : {&a, &b}) {
      auto* item = new QTableWidgetItem(s->valid ? rows[r].text(*s) : QStringLiteral("–"));
      item->setTextAlignment(Qt::AlignCenter);
      table_->setItem(r, c++, item);
    }
  }
  table_->setVerticalHeaderLabels(names);
  table_->setHorizontalHeaderLabels({a.valid ? tr("A: %1").arg(a.policy) : tr("A"),
                                     b.valid ? tr("B: %1").arg(b.policy) : tr("B")});
  table_->setMinimumHeight(table_->horizontalHeader()->height() + 22 * 4);
}

}  // namespace hae::studio
