#include "hae/widgets/token_stream_view.h"

#include <QScrollBar>
#include <algorithm>
#include <array>
#include <map>

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

const ShadowStep* TokenStreamView::choiceShadow(const RunHistory& history, int index) {
  // ShadowStep at step s compares the distributions produced after step s, from which the token
  // of step s + 1 is picked (core/src/engine/shadow.h): the previous step judged this token.
  if (index <= 0 || index >= history.stepCount()) return nullptr;
  const StepTelemetry& previous = history.step(index - 1);
  if (previous.step != history.step(index).step - 1 || !previous.shadow) return nullptr;
  return &*previous.shadow;
}

TokenStreamView::TokenStreamView(RunHistory* history, QWidget* parent)
    : QTextBrowser(parent), history_(history) {
  setOpenLinks(false);
  // An image chip is a link: a click unfolds it into its grids and separators, or folds it back.
  connect(this, &QTextBrowser::anchorClicked, this, [this](const QUrl& url) {
    if (url.scheme() != QLatin1String("image")) return;
    bool ok = false;
    const int image = url.path().toInt(&ok);
    if (ok) setImageExpanded(image, !isImageExpanded(image));
  });
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

namespace {

// A word-level decoder joins every piece with a space ("circle ?"); punctuation reads better
// attached to the word before it. Only the display changes: the token's text stays as decoded.
QString displayText(const std::string& raw) {
  QString t = QString::fromStdString(raw);
  static const QString punctuation = QStringLiteral(".,:;!?)]}%");
  if (t.size() >= 2 && t[0] == QLatin1Char(' ')) {
    bool allPunct = true;
    for (int i = 1; i < t.size(); ++i) allPunct = allPunct && punctuation.contains(t[i]);
    if (allPunct) t.remove(0, 1);
  }
  return t;
}

bool isUnknown(const std::string& text) {
  const QString t = QString::fromStdString(text).trimmed();
  return t == QLatin1String("<unk>") || t == QLatin1String("[UNK]");
}

const char* kUnknownStyle = "border:1px dashed #c0392b; color:#b02a1a; font-weight:bold;";

// A token chosen where the full-cache shadow's top-1 differed: magenta, underlined, and a "≠"
// after it (a colour alone would be lost on a struck-through or amber chip).
const char* kDisagreeStyle = "color:#c2185b; text-decoration:underline; font-weight:bold;";
const char* kDisagreeMark = "<sup style='color:#c2185b; font-weight:bold;'>≠</sup>";

QString choices(const std::vector<TokenChoice>& top) {
  QStringList out;
  for (const TokenChoice& c : top) {
    // The list ends up in a single-quoted title attribute: no single quotes of its own.
    const QString text =
        c.text.empty()
            ? QStringLiteral("#%1").arg(c.id)
            : QString::fromStdString(c.text).toHtmlEscaped().replace(QLatin1Char('\''),
                                                                     QStringLiteral("&#39;"));
    out << QStringLiteral("%1 <span style=\"color:#666666;\">%2</span>")
               .arg(text.isEmpty() ? QStringLiteral("·") : text)
               .arg(c.prob, 0, 'f', 3);
  }
  return out.isEmpty() ? QStringLiteral("–") : out.join(QStringLiteral(", "));
}

}  // namespace

void TokenStreamView::setImageExpanded(int image, bool expanded) {
  if (expanded == isImageExpanded(image)) return;
  if (expanded)
    expanded_.insert(image);
  else
    expanded_.erase(image);
  markDirty();
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
  int unknown = 0;
  for (const TokenInfo& tok : info.tokens)
    unknown += tok.modality != Modality::Visual && isUnknown(tok.text);
  if (unknown > 0)
    html +=
        tr("<p style='color:#b02a1a;'><b>%1 not in the model's vocabulary</b>: reached it as "
           "&lt;unk&gt; (marked below).</p>")
            .arg(unknown == 1 ? tr("1 prompt word is") : tr("%1 prompt words are").arg(unknown));

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
  auto visualState = [&](int t) {
    const int v = visualOf[t];
    if (v < 0 || cursor < 0) return PatchState::Kept;
    if (layer_ != RunHistory::kAllLayers) return history_->patchState(v, layer_, cursor);
    const StateCounts c = history_->patchCounts(v, cursor);
    return c.total() > 0 && c.evicted == c.total() ? PatchState::Evicted
           : c.kept > 0                            ? PatchState::Kept
                                                   : PatchState::InBin;
  };
  auto textChip = [&](const QString& body, Modality m, bool odd, PatchState state,
                      const QString& title, bool unk) {
    QString chip = tokenSpan(body, modalityBackground(m, odd), state, title);
    if (unk)
      chip = QStringLiteral("<span style='%1' title='%2'>%3</span>")
                 .arg(QString::fromLatin1(kUnknownStyle),
                      tr("not in the model's vocabulary: this word became <unk>").toHtmlEscaped(),
                      chip);
    return chip;
  };
  // The chip's body: the text, or the id when the checkpoint has no tokenizer.
  auto bodyOf = [](const std::string& text, int id) {
    if (text.empty() && id >= 0) return QStringLiteral("<i style='color:#666666;'>#%1</i>").arg(id);
    return escapeToken(displayText(text).toStdString());
  };

  html += QStringLiteral("<p style='white-space:pre-wrap;'>");
  const int n = static_cast<int>(info.tokens.size());
  int promptLen = 0;
  for (const TokenInfo& tok : info.tokens) promptLen = std::max(promptLen, tok.position + 1);
  // Each image's span: from its first visual token to its last, with the separators and layout
  // markers around and between its grids (Phi-3.5-V's row breaks, SmolVLM's tile markers).
  std::vector<int> spanEnd(n, -1);
  int previousEnd = -1;  // spans never overlap: a marker between two images goes to the first
  for (int t = 0; t < n; ++t) {
    if (info.tokens[t].modality != Modality::Visual) continue;
    const int image = info.tokens[t].image;
    int first = t;
    while (first - 1 > previousEnd && info.tokens[first - 1].modality == Modality::Separator &&
           (info.tokens[first - 1].image < 0 || info.tokens[first - 1].image == image))
      --first;
    int last = t;
    for (int u = t + 1; u < n; ++u) {
      const TokenInfo& x = info.tokens[u];
      if (x.modality == Modality::Visual && x.image == image)
        last = u;
      else if (x.modality != Modality::Separator || (x.image >= 0 && x.image != image))
        break;
    }
    while (last + 1 < n && info.tokens[last + 1].modality == Modality::Separator &&
           info.tokens[last + 1].image < 0)
      ++last;
    spanEnd[first] = last;
    previousEnd = last;
    t = last;
  }

  bool odd = false;
  for (int t = 0; t < n; ++t) {
    const TokenInfo& tok = info.tokens[t];
    if (spanEnd[t] < 0) {
      odd = !odd;
      html += textChip(bodyOf(tok.text, tok.id), tok.modality, odd, stateAt(tok.position),
                       tr("token %1 · position %2 · id %3 · %4")
                           .arg(t)
                           .arg(tok.position)
                           .arg(tok.id)
                           .arg(QString::fromLatin1(modalityName(tok.modality))),
                       isUnknown(tok.text));
      continue;
    }
    // One chip per image with its survival count; a click unfolds it into its grids.
    const int end = spanEnd[t];
    int image = -1;
    int counts[3] = {}, visuals = 0, separators = 0;
    std::map<int, std::array<int, 4>> perCrop;  // crop -> tokens, kept, in bin, evicted
    for (int u = t; u <= end; ++u) {
      const TokenInfo& x = info.tokens[u];
      if (x.modality != Modality::Visual) {
        ++separators;
        continue;
      }
      image = x.image;
      const PatchState st = visualState(u);
      ++counts[static_cast<int>(st)];
      ++visuals;
      auto& c = perCrop[x.crop];
      ++c[0];
      ++c[1 + static_cast<int>(st)];
    }
    const bool open = isImageExpanded(image);
    QString chip = tr("[%1 %2 image tokens · image %3: %4 kept")
                       .arg(open ? QStringLiteral("▾") : QStringLiteral("▸"))
                       .arg(visuals)
                       .arg(image)
                       .arg(counts[0]);
    if (counts[1]) chip += tr(", %1 in bin").arg(counts[1]);
    if (counts[2]) chip += tr(", %1 evicted").arg(counts[2]);
    if (separators)
      chip += separators == 1 ? tr(" · 1 separator") : tr(" · %1 separators").arg(separators);
    chip += QStringLiteral("]");
    html += QStringLiteral(
                "<a href='image:%1' style='text-decoration:none;'><span "
                "style='background-color:%2; color:#1a4a8a; font-weight:bold;' "
                "title='%3'>&nbsp;%4&nbsp;</span></a>")
                .arg(image)
                .arg(modalityBackground(Modality::Visual, false),
                     tr("click to %1 this image's grids")
                         .arg(open ? tr("fold") : tr("unfold"))
                         .toHtmlEscaped(),
                     chip.toHtmlEscaped());
    if (open) {
      for (const auto& [crop, c] : perCrop) {
        QString line = tr("grid %1: %2 tokens, %3 kept").arg(crop).arg(c[0]).arg(c[1]);
        if (c[2]) line += tr(", %1 in bin").arg(c[2]);
        if (c[3]) line += tr(", %1 evicted").arg(c[3]);
        html += QStringLiteral(
                    " <span style='background-color:%1; color:#1a4a8a;'>&nbsp;%2&nbsp;"
                    "</span>")
                    .arg(modalityBackground(Modality::Visual, true), line.toHtmlEscaped());
      }
      for (int u = t; u <= end; ++u) {
        const TokenInfo& x = info.tokens[u];
        if (x.modality == Modality::Visual) continue;
        odd = !odd;
        html += textChip(bodyOf(x.text, x.id), x.modality, odd, stateAt(x.position),
                         tr("separator · token %1 · position %2").arg(u).arg(x.position), false);
      }
    }
    t = end;
  }

  bool firstGenerated = true;
  int disagreements = 0;
  for (int i = 0; i <= cursor; ++i) {
    const StepTelemetry& s = history_->step(i);
    if (s.step <= 0 || s.token_id < 0) continue;
    // The answer starts apart from the prompt ("ASSISTANT: white", not "ASSISTANT:white").
    if (firstGenerated && !s.token_text.empty() && !QChar(s.token_text[0]).isSpace())
      html += QStringLiteral(" ");
    firstGenerated = false;
    odd = !odd;
    // The token generated at step s sits right after the prompt and the s-1 tokens before it.
    const int position = promptLen + s.step - 1;
    const ShadowStep* judged = choiceShadow(*history_, i);
    QString title = tr("generated at step %1 · id %2").arg(s.step).arg(s.token_id);
    if (judged) {
      title += tr("<br><b>%1</b> (KL %2, rank %3 under the full model)<br>full cache: %4<br>"
                  "policy: %5")
                   .arg(judged->top1_agree ? tr("top-1 agrees with the full cache")
                                           : tr("top-1 differs from the full cache"))
                   .arg(judged->kl, 0, 'g', 3)
                   .arg(judged->policy_token_rank)
                   .arg(choices(judged->top_full), choices(judged->top_policy));
    }
    QString chip = textChip(bodyOf(s.token_text, s.token_id), Modality::Generated, odd,
                            stateAt(position), title, isUnknown(s.token_text));
    if (judged && !judged->top1_agree) {
      ++disagreements;
      chip = QStringLiteral("<span style='%1' title='%2'>%3</span>%4")
                 .arg(QString::fromLatin1(kDisagreeStyle), title.toHtmlEscaped(), chip,
                      QString::fromUtf8(kDisagreeMark));
    }
    html += chip;
  }
  if (disagreements > 0)
    html += tr("<br><span style='color:#c2185b; font-size:small;'>≠ %1 token(s) where the "
               "full-cache shadow's top-1 choice differs (hover for both top-5)</span>")
                .arg(disagreements);
  html += QStringLiteral("</p></div>");
  return html;
}

}  // namespace hae::widgets
