#include "hae/widgets/patch_history_panel.h"

#include "hae/widgets/state_colors.h"

namespace hae::widgets {

namespace {

const char* stateWord(PatchState s) {
  switch (s) {
    case PatchState::Kept:
      return "kept";
    case PatchState::InBin:
      return "bin";
    case PatchState::Evicted:
      return "evicted";
  }
  return "?";
}

}  // namespace

PatchHistoryPanel::PatchHistoryPanel(RunHistory* history, QWidget* parent)
    : QTextBrowser(parent), history_(history) {
  setOpenLinks(false);
  connect(history_, &RunHistory::runReset, this, [this] { setVisual(-1); });
  connect(history_, &RunHistory::cursorChanged, this, &PatchHistoryPanel::refresh);
  refresh();
}

void PatchHistoryPanel::setVisual(int visual) {
  visual_ = visual >= 0 && visual < history_->visualCount() ? visual : -1;
  refresh();
}

void PatchHistoryPanel::refresh() {
  setHtml(htmlText());
}

QString PatchHistoryPanel::htmlText() const {
  if (visual_ < 0) return tr("<i>Click a patch on the image to pin its history here.</i>");
  const RunInfo& info = history_->info();
  const TokenInfo& tok = info.tokens.at(info.visual_tokens[visual_]);
  QString html = tr("<b>Visual token %1</b> · position %2 · image %3, crop %4, row %5, col %6")
                     .arg(visual_)
                     .arg(tok.position)
                     .arg(tok.image)
                     .arg(tok.crop)
                     .arg(tok.row)
                     .arg(tok.col);
  const int cursor = history_->cursor();
  if (cursor < 0) return html;
  const int layers = history_->numLayers();
  if (cursor + 1 <= kMaxGridSteps) {
    // A small layer x step grid of coloured cells, like the heat map but for one patch.
    html += QStringLiteral(
        "<table cellspacing='1' cellpadding='1' style='margin-top:4px'><tr><td></td>");
    for (int i = 0; i <= cursor; ++i)
      html +=
          QStringLiteral("<td align='center'><small>%1</small></td>").arg(history_->step(i).step);
    html += QStringLiteral("</tr>");
    for (int l = 0; l < layers; ++l) {
      html += QStringLiteral("<tr><td><small>L%1</small></td>").arg(l);
      for (int i = 0; i <= cursor; ++i) {
        const PatchState s = history_->patchState(visual_, l, i);
        html += QStringLiteral("<td bgcolor='%1' title='%2'>&nbsp;&nbsp;</td>")
                    .arg(stateSolid(s).name(), QString::fromLatin1(stateWord(s)));
      }
      html += QStringLiteral("</tr>");
    }
    html += QStringLiteral(
        "</table><small>columns: steps · green kept, amber in bin, red evicted</small>");
  } else {
    html += QStringLiteral("<br>");
    for (int l = 0; l < layers; ++l) {
      html += QStringLiteral("L%1: kept").arg(l);
      for (const PatchChange& ch : history_->patchChanges(visual_, l, cursor))
        html += QStringLiteral(" → %1 @%2").arg(QString::fromLatin1(stateWord(ch.to))).arg(ch.step);
      html += QStringLiteral("<br>");
    }
  }
  const std::vector<PolicyEvent> events = history_->eventsFor(tok.position, cursor);
  if (!events.empty()) {
    html += tr("<br><b>Events</b>");
    const int first = std::max(0, static_cast<int>(events.size()) - 20);  // the latest 20
    for (int i = first; i < static_cast<int>(events.size()); ++i) {
      const PolicyEvent& e = events[i];
      html += tr("<br>step %1: %2 in %3, score %4")
                  .arg(e.step)
                  .arg(QString::fromLatin1(eventKindName(e.kind)))
                  .arg(e.layer < 0 ? tr("all layers") : tr("layer %1").arg(e.layer))
                  .arg(e.score, 0, 'g', 4);
    }
  }
  return html;
}

}  // namespace hae::widgets
