#include "hae/widgets/token_stream_view.h"

#include <QScrollBar>
#include <algorithm>

#include "hae/widgets/state_colors.h"

namespace hae::widgets {

namespace {

// Light backgrounds (two shades each, alternating, so token boundaries stay visible).
QString modalityBackground(Modality m, bool odd) {
  switch (m) {
    case Modality::Prefix:
      return odd ? QStringLiteral("#e4e4e4") : QStringLiteral("#d6d6d6");
    case Modality::Visual:
      return QStringLiteral("#cfe0f7");
    case Modality::Separator:
      return odd ? QStringLiteral("#eadcf5") : QStringLiteral("#dcc8ee");
    case Modality::Text:
      return odd ? QStringLiteral("#fff4cf") : QStringLiteral("#fbe7a8");
    case Modality::Generated:
      return odd ? QStringLiteral("#d9f2d9") : QStringLiteral("#bfe8bf");
  }
  return QStringLiteral("#ffffff");
}

QString escapeToken(const std::string& text) {
  if (text.empty()) return QStringLiteral("·");
  QString t = QString::fromStdString(text).toHtmlEscaped();
  t.replace(QLatin1Char('\n'), QStringLiteral("↵<br>"));
  t.replace(QLatin1Char('\t'), QStringLiteral("→"));
  return t;
}

QString tokenSpan(const QString& body, const QString& background, PatchState state,
                  const QString& title) {
  QString style = QStringLiteral("background-color:%1;").arg(background);
  QString inner = body;
  if (state == PatchState::Evicted) {
    style += QStringLiteral("color:%1;").arg(stateSolid(PatchState::Evicted).name());
    inner = QStringLiteral("<s>%1</s>").arg(body);
  } else if (state == PatchState::InBin) {
    style = QStringLiteral("background-color:#ffd27a;");  // amber: in the recycle bin
  }
  return QStringLiteral("<span style='%1' title='%2'>%3</span>")
      .arg(style, title.toHtmlEscaped(), inner);
}

}  // namespace

TokenStreamView::TokenStreamView(RunHistory* history, QWidget* parent)
    : QTextBrowser(parent), history_(history) {
  setOpenLinks(false);
  timer_.setInterval(33);
  connect(&timer_, &QTimer::timeout, this, [this] {
    if (dirty_)
      flush();
    else
      timer_.stop();
  });
  connect(history_, &RunHistory::runReset, this, &TokenStreamView::markDirty);
  connect(history_, &RunHistory::stepAppended, this, &TokenStreamView::markDirty);
  connect(history_, &RunHistory::cursorChanged, this, &TokenStreamView::markDirty);
  flush();
}

void TokenStreamView::setLayer(int layer) {
  layer = layer < 0 ? RunHistory::kAllLayers : layer;
  if (layer == layer_) return;
  layer_ = layer;
  markDirty();
}

void TokenStreamView::markDirty() {
  dirty_ = true;
  if (!timer_.isActive()) timer_.start();
}

void TokenStreamView::flush() {
  if (!dirty_) return;
  dirty_ = false;
  const bool atBottom = verticalScrollBar()->value() >= verticalScrollBar()->maximum() - 4;
  setHtml(htmlText());
  // Keep following new tokens unless the user scrolled up to read.
  if (atBottom) verticalScrollBar()->setValue(verticalScrollBar()->maximum());
}

QString TokenStreamView::htmlText() const {
  const RunInfo& info = history_->info();
  const int cursor = history_->cursor();
  QString html = QStringLiteral("<div style='line-height:140%;'>");
  // A legend first: a reader should not have to guess what the colours mean.
  html += QStringLiteral("<p style='color:#555555; font-size:small;'>");
  for (auto m : {Modality::Prefix, Modality::Visual, Modality::Separator, Modality::Text,
                 Modality::Generated})
    html += QStringLiteral("<span style='background-color:%1;'>&nbsp;%2&nbsp;</span> ")
                .arg(modalityBackground(m, false), QString::fromLatin1(modalityName(m)));
  html +=
      tr("· <s>struck</s> = evicted at %1 · <span style='background-color:#ffd27a;'>amber</span> = "
         "in bin</p>")
          .arg(layer_ == RunHistory::kAllLayers ? tr("every layer") : tr("layer %1").arg(layer_));

  if (info.tokens.empty()) return html + tr("<i>No prompt yet.</i></div>");
  const std::vector<PatchState> states =
      cursor >= 0 ? history_->tokenStates(layer_, cursor) : std::vector<PatchState>();
  auto stateAt = [&](int position) {
    return position >= 0 && position < static_cast<int>(states.size()) ? states[position]
                                                                       : PatchState::Kept;
  };
  std::vector<int> visualOf(info.tokens.size(), -1);
  for (int v = 0; v < static_cast<int>(info.visual_tokens.size()); ++v) {
    const int t = info.visual_tokens[v];
    if (t >= 0 && t < static_cast<int>(visualOf.size())) visualOf[t] = v;
  }

  html += QStringLiteral("<p style='white-space:pre-wrap;'>");
  int promptLen = 0;
  bool odd = false;
  for (int t = 0; t < static_cast<int>(info.tokens.size()); ++t) {
    const TokenInfo& tok = info.tokens[t];
    promptLen = std::max(promptLen, tok.position + 1);
    if (tok.modality != Modality::Visual) {
      odd = !odd;
      html += tokenSpan(escapeToken(tok.text), modalityBackground(tok.modality, odd),
                        stateAt(tok.position),
                        tr("token %1 · position %2 · id %3 · %4")
                            .arg(t)
                            .arg(tok.position)
                            .arg(tok.id)
                            .arg(QString::fromLatin1(modalityName(tok.modality))));
      continue;
    }
    // Fold the run of visual tokens of one image into a single chip with its survival count.
    int end = t;
    while (end + 1 < static_cast<int>(info.tokens.size()) &&
           info.tokens[end + 1].modality == Modality::Visual &&
           info.tokens[end + 1].image == tok.image)
      ++end;
    int counts[3] = {};
    for (int u = t; u <= end; ++u) {
      const int v = visualOf[u];
      PatchState s = PatchState::Kept;
      if (v >= 0 && cursor >= 0) {
        if (layer_ != RunHistory::kAllLayers) {
          s = history_->patchState(v, layer_, cursor);
        } else {
          const StateCounts c = history_->patchCounts(v, cursor);
          s = c.total() > 0 && c.evicted == c.total() ? PatchState::Evicted
              : c.kept > 0                            ? PatchState::Kept
                                                      : PatchState::InBin;
        }
      }
      ++counts[static_cast<int>(s)];
    }
    const int n = end - t + 1;
    QString chip = tr("[%1 image tokens · image %2: %3 kept").arg(n).arg(tok.image).arg(counts[0]);
    if (counts[1]) chip += tr(", %1 in bin").arg(counts[1]);
    if (counts[2]) chip += tr(", %1 evicted").arg(counts[2]);
    chip += QStringLiteral("]");
    html += QStringLiteral(
                "<span style='background-color:%1; color:#1a4a8a; "
                "font-weight:bold;'>&nbsp;%2&nbsp;</span>")
                .arg(modalityBackground(Modality::Visual, false), chip.toHtmlEscaped());
    t = end;
  }

  for (int i = 0; i <= cursor; ++i) {
    const StepTelemetry& s = history_->step(i);
    if (s.step <= 0 || s.token_id < 0) continue;
    odd = !odd;
    // The token generated at step s sits right after the prompt and the s-1 tokens before it.
    const int position = promptLen + s.step - 1;
    html += tokenSpan(escapeToken(s.token_text), modalityBackground(Modality::Generated, odd),
                      stateAt(position),
                      tr("generated at step %1 · id %2").arg(s.step).arg(s.token_id));
  }
  html += QStringLiteral("</p></div>");
  return html;
}

}  // namespace hae::widgets
