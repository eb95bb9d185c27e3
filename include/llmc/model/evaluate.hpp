// llmc/model/evaluate.hpp — what compression costs: perplexity, KL divergence, greedy text.
//
// perplexity(): the protocol of shared/fixtures/models/stories260k/reference_outputs.json —
// non-overlapping windows ids[i*W, (i+1)*W), each a fresh forward (no KV carried over, no BOS
// added per window), every position t < W-1 predicting token t+1; mean NLL over all predictions
// (exp of it is the perplexity). perplexity_sliding(): the strided variant of the transformers
// guide "Perplexity of fixed-length models": windows of W tokens starting every `stride` tokens,
// each scoring only the tokens not scored by the previous window (the rest is context).
// kl_divergence(): mean over positions of KL(P_ref || P_cand) of the next-token distributions of
// two models on the same windows (the second metric of the issue), plus top-1 agreement.
// generate_greedy(): argmax decoding (first maximum, as torch.argmax) with a KV cache.
// NLL and KL are accumulated in double from fp32 logits (log-sum-exp in double).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/model/causal_lm.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/errors.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

/// Non-overlapping-window perplexity settings.
struct perplexity_options {
  std::size_t window = 512;
  std::size_t max_windows = 0;  ///< 0: every full window the ids hold
  std::size_t batch = 4;        ///< windows per forward call (same result, better GEMM shapes)
  forward_hooks hooks;          ///< e.g. activation fake-quantization
};

struct perplexity_result {
  double mean_nll = 0.0;
  double perplexity = 0.0;
  std::size_t predicted_tokens = 0;
  std::size_t windows = 0;
  std::vector<double> window_mean_nll;  ///< one per window
};

namespace detail {

/// log(sum(exp(row))) in double.
inline double log_sum_exp(const float* row, std::size_t n) {
  float mx = row[0];
  for (std::size_t j = 1; j < n; ++j) mx = std::max(mx, row[j]);
  double s = 0.0;
  for (std::size_t j = 0; j < n; ++j) s += std::exp(static_cast<double>(row[j]) - mx);
  return static_cast<double>(mx) + std::log(s);
}

inline void check_window(std::size_t window, std::size_t available, const char* what) {
  if (window < 2) {
    LLMC_THROW(config_error, model_errc::eval_args, std::string(what) + ": the window must hold at least 2 tokens");
  }
  if (available < window) {
    LLMC_THROW(config_error, model_errc::eval_args,
               std::string(what) + ": " + std::to_string(available) + " tokens do not fill one window of " +
                   std::to_string(window) + "; use more text or a shorter window");
  }
}

/// Calls f(first_window, count, logits[count * window, vocab]) for the windows in batches.
template <class F>
void for_window_batches(const causal_lm& m, std::span<const std::int32_t> ids, std::size_t window, std::size_t windows,
                        std::size_t batch, const forward_hooks& hooks, F&& f) {
  batch = std::max<std::size_t>(1, batch);
  for (std::size_t w0 = 0; w0 < windows; w0 += batch) {
    const std::size_t n = std::min(batch, windows - w0);
    const matrix<float> logits = m.forward(ids.subspan(w0 * window, n * window), n, window, {}, hooks);
    f(w0, n, logits);
  }
}

}  // namespace detail

/// Mean next-token NLL and perplexity over non-overlapping windows.
/// @throws config_error llmc.model.130 when the ids do not fill one window (or window < 2)
inline perplexity_result perplexity(const causal_lm& m, std::span<const std::int32_t> ids, const perplexity_options& o = {}) {
  detail::check_window(o.window, ids.size(), "perplexity");
  std::size_t windows = ids.size() / o.window;
  if (o.max_windows > 0) windows = std::min(windows, o.max_windows);
  perplexity_result r;
  r.windows = windows;
  const std::size_t V = m.spec().vocab_size, W = o.window;
  double total = 0.0;
  detail::for_window_batches(m, ids, W, windows, o.batch, o.hooks, [&](std::size_t w0, std::size_t n, const matrix<float>& logits) {
    for (std::size_t w = 0; w < n; ++w) {
      double sum = 0.0;
      for (std::size_t t = 0; t + 1 < W; ++t) {
        const std::size_t row = w * W + t;
        const auto target = static_cast<std::size_t>(ids[(w0 + w) * W + t + 1]);
        sum += detail::log_sum_exp(&logits(row, 0), V) - static_cast<double>(logits(row, target));
      }
      r.window_mean_nll.push_back(sum / static_cast<double>(W - 1));
      total += sum;
    }
  });
  r.predicted_tokens = windows * (W - 1);
  r.mean_nll = total / static_cast<double>(r.predicted_tokens);
  r.perplexity = std::exp(r.mean_nll);
  return r;
}

/// Strided ("sliding window") perplexity settings.
struct sliding_perplexity_options {
  std::size_t window = 512;  ///< tokens per forward (max_length)
  std::size_t stride = 256;  ///< start of each window after the previous one's
  std::size_t max_tokens = 0;  ///< 0: all ids; else only the first max_tokens
  forward_hooks hooks;
};

/// Perplexity with overlapping context: window k covers [k*stride, k*stride + window) and scores
/// the tokens after the previous window's end; the first token is never scored.
/// @throws config_error llmc.model.130 (window < 2, stride 0 or > window, too few ids)
inline perplexity_result perplexity_sliding(const causal_lm& m, std::span<const std::int32_t> ids,
                                            const sliding_perplexity_options& o = {}) {
  if (o.max_tokens > 0 && ids.size() > o.max_tokens) ids = ids.first(o.max_tokens);
  detail::check_window(o.window, ids.size(), "perplexity_sliding");
  if (o.stride == 0 || o.stride > o.window) {
    LLMC_THROW(config_error, model_errc::eval_args, "perplexity_sliding: the stride must be in [1, window]");
  }
  const std::size_t V = m.spec().vocab_size, n = ids.size();
  perplexity_result r;
  double total = 0.0;
  std::size_t prev_end = 0;
  for (std::size_t begin = 0; begin < n; begin += o.stride) {
    const std::size_t end = std::min(begin + o.window, n);
    const std::size_t len = end - begin;
    // Targets: positions [max(begin + 1, prev_end), end) of the ids, each predicted from the one before.
    const std::size_t first_target = std::max(begin + 1, prev_end);
    if (len >= 2 && first_target < end) {
      const matrix<float> logits = m.forward(ids.subspan(begin, len), 1, len, {}, o.hooks);
      double sum = 0.0;
      for (std::size_t t = first_target; t < end; ++t) {
        const std::size_t row = t - 1 - begin;
        sum += detail::log_sum_exp(&logits(row, 0), V) - static_cast<double>(logits(row, static_cast<std::size_t>(ids[t])));
      }
      const std::size_t count = end - first_target;
      r.window_mean_nll.push_back(sum / static_cast<double>(count));
      r.predicted_tokens += count;
      total += sum;
      ++r.windows;
    }
    prev_end = end;
    if (end == n) break;
  }
  r.mean_nll = total / static_cast<double>(r.predicted_tokens);
  r.perplexity = std::exp(r.mean_nll);
  return r;
}

/// KL comparison settings (windows as in perplexity()).
struct kl_options {
  std::size_t window = 512;
  std::size_t max_windows = 0;
  std::size_t batch = 4;
  forward_hooks reference_hooks, candidate_hooks;
};

struct kl_result {
  double mean_kl = 0.0;          ///< nats, mean over positions of KL(P_ref || P_cand)
  double max_kl = 0.0;           ///< largest single-position KL
  double top1_agreement = 0.0;   ///< fraction of positions whose argmax agrees
  std::size_t positions = 0;
};

/// KL(P || Q) of two logit rows (softmax of each), in double.
inline double kl_divergence_row(const float* p_logits, const float* q_logits, std::size_t n) {
  const double lp = detail::log_sum_exp(p_logits, n), lq = detail::log_sum_exp(q_logits, n);
  double kl = 0.0;
  for (std::size_t j = 0; j < n; ++j) {
    const double a = static_cast<double>(p_logits[j]) - lp;  // log p
    const double b = static_cast<double>(q_logits[j]) - lq;  // log q
    kl += std::exp(a) * (a - b);
  }
  return std::max(0.0, kl);
}

/// Next-token KL divergence of `candidate` against `reference` on the same windows of `ids`.
/// @throws config_error llmc.model.131 (vocabularies differ), 130 (windows)
inline kl_result kl_divergence(const causal_lm& reference, const causal_lm& candidate, std::span<const std::int32_t> ids,
                               const kl_options& o = {}) {
  if (reference.spec().vocab_size != candidate.spec().vocab_size) {
    LLMC_THROW(config_error, model_errc::vocab_mismatch,
               "kl_divergence: the models have vocabularies of " + std::to_string(reference.spec().vocab_size) + " and " +
                   std::to_string(candidate.spec().vocab_size) + " tokens; compare variants of one model");
  }
  detail::check_window(o.window, ids.size(), "kl_divergence");
  std::size_t windows = ids.size() / o.window;
  if (o.max_windows > 0) windows = std::min(windows, o.max_windows);
  const std::size_t V = reference.spec().vocab_size, W = o.window, batch = std::max<std::size_t>(1, o.batch);
  kl_result r;
  double total = 0.0;
  std::size_t agree = 0;
  for (std::size_t w0 = 0; w0 < windows; w0 += batch) {
    const std::size_t n = std::min(batch, windows - w0);
    const auto part = ids.subspan(w0 * W, n * W);
    const matrix<float> p = reference.forward(part, n, W, {}, o.reference_hooks);
    const matrix<float> q = candidate.forward(part, n, W, {}, o.candidate_hooks);
    for (std::size_t row = 0; row < n * W; ++row) {
      const double kl = kl_divergence_row(&p(row, 0), &q(row, 0), V);
      total += kl;
      r.max_kl = std::max(r.max_kl, kl);
      const float* pr = &p(row, 0);
      const float* qr = &q(row, 0);
      agree += std::max_element(pr, pr + V) - pr == std::max_element(qr, qr + V) - qr;
    }
    r.positions += n * W;
  }
  r.mean_kl = total / static_cast<double>(r.positions);
  r.top1_agreement = static_cast<double>(agree) / static_cast<double>(r.positions);
  return r;
}

/// Greedy decoding settings.
struct generation_options {
  std::size_t max_new_tokens = 256;
  std::vector<std::int32_t> stop_ids;  ///< decoding stops after emitting one of these
  forward_hooks hooks;
};

/// The prompt followed by up to max_new_tokens argmax tokens (a stop id is kept, then decoding ends).
/// The prompt runs as one forward; each new token then runs alone against the KV cache.
/// @throws config_error llmc.model.130 for an empty prompt
inline std::vector<std::int32_t> generate_greedy(const causal_lm& m, std::span<const std::int32_t> prompt,
                                                 const generation_options& o = {}) {
  if (prompt.empty()) LLMC_THROW(config_error, model_errc::eval_args, "generate_greedy: the prompt is empty (pass at least BOS)");
  std::vector<std::int32_t> out(prompt.begin(), prompt.end());
  if (o.max_new_tokens == 0) return out;
  kv_cache cache(m.spec(), 1, prompt.size() + o.max_new_tokens);
  hidden_batch hb = m.embed(prompt, 1, prompt.size());
  const std::size_t V = m.spec().vocab_size;
  for (std::size_t step = 0; step < o.max_new_tokens; ++step) {
    m.run_layers(hb, o.hooks, &cache);
    const std::size_t last = hb.tokens() - 1;
    const matrix<float> logits = m.logits(hb, std::span<const std::size_t>(&last, 1));
    const float* row = &logits(0, 0);
    const auto next = static_cast<std::int32_t>(std::max_element(row, row + V) - row);
    out.push_back(next);
    if (std::find(o.stop_ids.begin(), o.stop_ids.end(), next) != o.stop_ids.end()) break;
    if (step + 1 < o.max_new_tokens) hb = m.embed(std::span<const std::int32_t>(&out.back(), 1), 1, 1);
  }
  return out;
}

}  // namespace llmc
