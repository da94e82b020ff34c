// The Attention tab: for the token at the Step cursor, the Layer slider's layer's attention over
// the visual patches (StepTelemetry::attention, recorded when the Session was built with
// record_attention), beside the kept / bin / evicted overlay. A replayed report shows it when
// the report carries it.
#include <QAction>
#include <QDockWidget>
#include <QMenu>
#include <QStatusBar>

#include "hae/widgets/attention_view.h"
#include "hae/widgets/run_history.h"
#include "image_set_panel.h"
#include "main_window.h"
#include "session_controller.h"
#include "session_worker.h"

namespace hae::studio {

void MainWindow::buildAttentionTab() {
  attention_ = new widgets::AttentionView(history_, this);
  attention_->setFollowHistory(true);
  attentionDock_ = new QDockWidget(tr("Attention"), this);
  attentionDock_->setObjectName("attentionDock");
  attentionDock_->setToolTip(
      tr("The step cursor's token: the layer's attention over the image patches"));
  attentionDock_->setWidget(attention_);
  addDockWidget(Qt::RightDockWidgetArea, attentionDock_);
  tabifyDockWidget(headDock_, attentionDock_);
  connect(history_, &widgets::RunHistory::runReset, this, &MainWindow::updateAttentionNote);
  connect(main_, &SessionController::modelLoaded, this, &MainWindow::updateAttentionNote);
  connect(history_, &widgets::RunHistory::runReset, this,
          [this] { attention_->setImages(imageSet_->images()); });
  updateAttentionNote();
}

void MainWindow::buildAttentionMenu(QMenu* view) {
  recordAttentionAction_ = view->addAction(tr("Record &attention"));
  recordAttentionAction_->setCheckable(true);
  recordAttentionAction_->setToolTip(
      tr("Record each step's attention on the image patches for the Attention tab (on by "
         "default for models under 1 GiB of weights; changing it reloads the model)"));
  connect(main_, &SessionController::modelLoaded, this, [this] {
    const QSignalBlocker block(recordAttentionAction_);
    recordAttentionAction_->setChecked(main_->recordsAttention());
  });
  connect(recordAttentionAction_, &QAction::toggled, this, &MainWindow::setRecordAttention);
}

void MainWindow::setRecordAttention(bool on) {
  main_->setAttentionMode(on ? kAttentionOn : kAttentionOff);
  {
    const QSignalBlocker block(recordAttentionAction_);
    recordAttentionAction_->setChecked(on);
  }
  if (main_->modelReady() && on != main_->recordsAttention()) {
    statusBar()->showMessage(on ? tr("Reloading the model to record attention...")
                                : tr("Reloading the model without attention recording..."),
                             4000);
    loadModel(demoRequested_ ? QString() : main_->modelDir());
  }
  updateAttentionNote();
}

void MainWindow::updateAttentionNote() {
  QString text;
  if (replaying())
    text = tr("This report carries no attention for this step (record it with a live run in "
              "the studio, View > Record attention).");
  else if (main_->modelReady() && !main_->recordsAttention())
    text = tr("Attention recording is off for this model (View > Record attention turns it on; "
              "it is on by default for models under 1 GiB of weights).");
  else
    text = tr("No attention recorded for this step yet: run a prompt.");
  attention_->setEmptyText(text);
}

}  // namespace hae::studio
