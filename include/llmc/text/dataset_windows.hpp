// llmc/text/dataset_windows.hpp — fixed-length token windows over one long text (evaluation).
//
// The perplexity protocol of ../shared/fixtures/models/stories260k/reference_outputs.json: encode
// the whole file once with the tokenizer's special tokens (one leading BOS for Llama), cut the
// token stream into non-overlapping windows of N tokens (no extra BOS per window, a fresh KV cache
// each), and score the N-1 next-token predictions inside every window; a last partial window is
// dropped. With a stride smaller than N the windows follow Hugging Face's sliding-window
// perplexity loop (transformers docs, "Perplexity of fixed-length models"): windows start every
// `stride` tokens, end at min(begin + N, total), and only tokens not scored by an earlier window
// are targets; the loop stops at the window that reaches the end of the text (which may be short).
// Invariant: every token of the stream after the first is a target of exactly one window, up to the
// end of the last window.
// Errors: llmc.data.140 bad window/stride (config_error), llmc.data.141 text shorter than one window
// (config_error), llmc.data.101 file missing (io_error).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/text/dataset_source.hpp"
#include "llmc/text/tokenizer.hpp"

namespace llmc {

/// How a token stream is cut into windows.
struct window_options {
  std::int64_t window = 512;       ///< tokens per window (N)
  std::int64_t stride = 0;         ///< 0 or == window: non-overlapping; < window: sliding
  std::size_t max_windows = 0;     ///< 0: as many as the text gives
  bool add_special_tokens = true;  ///< encode the text with the tokenizer's BOS/EOS (once, not per window)
};

/// One window of the token stream.
struct token_window {
  std::size_t begin = 0;          ///< offset of ids[0] in the stream
  std::vector<token_id> ids;
  std::size_t first_target = 1;   ///< ids[t] for t >= first_target are scored, each predicted at t-1
  [[nodiscard]] std::size_t num_targets() const noexcept {
    return ids.size() > first_target ? ids.size() - first_target : 0;
  }
};

/// A text's token stream and its windows.
struct token_windows {
  std::vector<token_id> tokens;   ///< the whole encoded text
  std::vector<token_window> windows;
  /// Next-token predictions scored over all windows (16,352 for the fixture protocol).
  [[nodiscard]] std::size_t predicted_tokens() const noexcept {
    std::size_t n = 0;
    for (const auto& w : windows) n += w.num_targets();
    return n;
  }
};

/// Cuts `tokens` into windows.
/// @param origin names the text in error messages.
/// @throws llmc::config_error llmc.data.140 (window <= 0, stride < 0 or > window),
///         llmc.data.141 (fewer tokens than one non-overlapping window).
[[nodiscard]] inline token_windows make_token_windows(std::vector<token_id> tokens, const window_options& o,
                                                      const std::string& origin = "text") {
  if (o.window <= 0) {
    LLMC_THROW(config_error, "llmc.data.140",
               origin + ": window length must be positive, got " + std::to_string(o.window));
  }
  if (o.stride < 0 || o.stride > o.window) {
    LLMC_THROW(config_error, "llmc.data.140",
               origin + ": stride must be in [0, window] (0 = window), got " + std::to_string(o.stride) +
                   " with window " + std::to_string(o.window));
  }
  const auto n = tokens.size();
  const auto w = static_cast<std::size_t>(o.window);
  const auto stride = o.stride == 0 ? w : static_cast<std::size_t>(o.stride);
  const std::size_t cap = o.max_windows == 0 ? SIZE_MAX : o.max_windows;
  token_windows out;
  if (stride == w) {
    if (n < w) {
      LLMC_THROW(config_error, "llmc.data.141",
                 origin + ": " + std::to_string(n) + " tokens are fewer than one window of " + std::to_string(w) +
                     "; use a longer text or a shorter window");
    }
    for (std::size_t b = 0; b + w <= n && out.windows.size() < cap; b += w) {
      out.windows.push_back({b, std::vector<token_id>(tokens.begin() + static_cast<std::ptrdiff_t>(b),
                                                      tokens.begin() + static_cast<std::ptrdiff_t>(b + w)),
                             1});
    }
  } else {
    if (n < 2) {
      LLMC_THROW(config_error, "llmc.data.141", origin + ": " + std::to_string(n) + " tokens leave nothing to predict");
    }
    std::size_t prev_end = 0;
    for (std::size_t b = 0; b < n && out.windows.size() < cap; b += stride) {
      const std::size_t e = std::min(b + w, n);
      const std::size_t len = e - b, targets = e - prev_end;
      out.windows.push_back({b, std::vector<token_id>(tokens.begin() + static_cast<std::ptrdiff_t>(b),
                                                      tokens.begin() + static_cast<std::ptrdiff_t>(e)),
                             std::max<std::size_t>(1, len - std::min(len, targets))});
      prev_end = e;
      if (e == n) break;
    }
  }
  out.tokens = std::move(tokens);
  return out;
}

/// Encodes `text` once (special tokens per options) and cuts it into windows.
/// @throws as make_token_windows.
[[nodiscard]] inline token_windows evaluation_windows(const tokenizer& tok, std::string_view text,
                                                      const window_options& o, const std::string& origin = "text") {
  return make_token_windows(tok.encode(text, o.add_special_tokens), o, origin);
}

/// Reads and encodes a whole text file and cuts it into windows (the fixture's perplexity protocol
/// with window 512, max_windows 32 on heldout.txt).
/// @throws llmc::io_error llmc.data.101 when the file is missing; as make_token_windows.
[[nodiscard]] inline token_windows evaluation_windows_from_file(const tokenizer& tok, const std::filesystem::path& file,
                                                                const window_options& o) {
  return evaluation_windows(tok, detail::read_dataset_file(file), o, file.string());
}

}  // namespace llmc
