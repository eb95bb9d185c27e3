// llmc/pipeline/executor.hpp — the seam between the sequential pipeline and where its batches
// live and its layers run (the host, or a device through a dense policy).
//
// run_oneshot (oneshot.hpp) drives the layers: checks, plan, the methods on a layer_context, the
// writer. An executor owns the calibration batches and the forward passes; its contract:
//   push(hidden_batch)                 one embedded calibration batch, in order
//   collect(spec, w, need, ctx)        runs the unmodified layer on every batch, filling ctx.inputs
//                                      with the statistics in `need` (host collectors the methods read)
//   gptq_runner()                      how GPTQ runs (runtime_gptq_fn; empty = on the host)
//   propagate(spec, w)                 runs the layer as written on every batch, in place
//   end_layer(), clear(), summary()    (summary: cache placement and spill figures for the report)
// host_layer_executor (oneshot.hpp) is the CPU one; device_layer_executor<K> (device_executor.hpp)
// runs on a dense policy. any_layer_executor erases the type, so a translation unit compiled by
// nvcc can hand a CUDA executor to a pipeline compiled by the host compiler (the llmc CLI).
// Linear order everywhere: q, k, v, o, gate, up, down; their distinct inputs attn_in (q/k/v),
// o_in, mlp_in (gate/up), down_in.
// This header needs no Thrust or CUDA header.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "llmc/method/concepts.hpp"
#include "llmc/method/gptq.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/decoder_spec.hpp"
#include "llmc/model/weights.hpp"
#include "llmc/scheme/scheme.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

/// How a device executor runs (oneshot_on, `llmc oneshot --device cuda`).
struct device_oneshot_options {
  bool bf16_hessian = false;  ///< bf16 inputs to the Hessian GEMMs (fp32 accumulation); else fp32
  bool tf32_forward = false;  ///< TF32 tensor cores for the forward's GEMMs (~1e-3 relative)
  /// Bytes of calibration batches kept in device memory (the rest in pinned host memory);
  /// 0: the device's free memory minus what one layer's work needs.
  std::uint64_t device_cache_limit = 0;
  int device = 0;  ///< CUDA device ordinal
  /// AWQ's grid loss on the Linear inputs kept in device memory (method/awq_device.hpp); false:
  /// on the host copies of the samples (awq.hpp's host blocks), as the CPU pipeline does.
  bool awq_on_device = true;
};

/// Where an executor kept the batches, for oneshot_report.
struct executor_summary {
  std::string name = "cpu";               ///< "cpu", or the device ("cuda:0 NVIDIA H100 80GB HBM3")
  std::uint64_t device_cache_bytes = 0;   ///< batches in device memory
  std::uint64_t pinned_cache_bytes = 0;   ///< batches in pinned host memory
  std::uint64_t spilled_bytes = 0;        ///< batches in the spill file (host executor)
  std::size_t spilled_batches = 0;
};

namespace detail {

inline constexpr std::array<const char*, 7> oneshot_linears{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                            "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                            "mlp.down_proj"};
/// The distinct input of each Linear: q/k/v read the same normed states, gate/up too.
inline constexpr std::array<const char*, 7> oneshot_inputs{"attn_in", "attn_in", "attn_in", "o_in",
                                                           "mlp_in",  "mlp_in",  "down_in"};

/// Index of Linear `local` in oneshot_linears (7 when it is none of them).
inline std::size_t linear_index(std::string_view local) {
  std::size_t k = 0;
  while (k < 7 && local != oneshot_linears[k]) ++k;
  return k;
}


/// How an executor runs GPTQ on a layer (empty: gptq<runtime_scheme>::apply on the host with the
/// host Hessians of ctx.inputs).
using runtime_gptq_fn = std::function<void(const gptq<runtime_scheme>&, layer_context&)>;

/// Feeds one Linear input batch into the statistics the recipe needs (host memory).
inline void feed_statistics(input_statistics& st, statistic_set need, matrix_view<const float> x, std::span<const std::uint8_t> mask,
                            std::size_t sequences) {
  if (need.contains(statistic::channel_minmax)) st.minmax.add(x, mask);
  if (need.contains(statistic::channel_absmean)) st.absmean.add(x, mask);
  if (need.contains(statistic::hessian)) st.hessian.add(x, mask, sequences);
  if (need.contains(statistic::samples)) {
    // Appended in place (amortized; an executor that knows the token count reserves it first):
    // re-allocating the whole cache per batch made caching quadratic in the batches.
    if (st.samples.empty() && st.samples.cols() != x.cols()) st.samples = matrix<float>(0, x.cols());
    for (std::size_t row = 0; row < x.rows(); ++row)
      if (mask.empty() || mask[row]) st.samples.append_row(std::span<const float>(x.row(row), x.cols()));
  }
}

/// Linears 1, 2 (k, v) and 5 (up) read the input of 0 (q) and 4 (gate): one statistic each.
inline constexpr bool owns_input_statistics(std::size_t k) noexcept { return k == 0 || k == 3 || k == 4 || k == 6; }

/// Sizes each owned input's host sample cache for `tokens` rows before a statistics pass (every
/// calibration token reaches every input once), so feed_statistics appends without reallocating.
inline void reserve_samples(const decoder_layer_weights& w, layer_context& ctx, std::uint64_t tokens) {
  const auto ls = w.linears();
  for (std::size_t k = 0; k < 7; ++k) {
    if (!owns_input_statistics(k)) continue;
    input_statistics& st = ctx.inputs[oneshot_inputs[k]];
    st.samples = matrix<float>(0, ls[k]->in_features);
    st.samples.reserve_rows(static_cast<std::size_t>(tokens));
  }
}


/// A type-erased executor (the contract above).
class any_layer_executor {
 public:
  virtual ~any_layer_executor() = default;
  virtual void push(hidden_batch hb) = 0;
  virtual void collect(const decoder_spec& spec, const decoder_layer_weights& w, statistic_set need, layer_context& ctx) = 0;
  virtual runtime_gptq_fn gptq_runner() = 0;
  virtual void propagate(const decoder_spec& spec, const decoder_layer_weights& w) = 0;
  virtual void end_layer() = 0;
  virtual void clear() = 0;
  [[nodiscard]] virtual executor_summary summary() const = 0;
};

template <class E>
class erased_executor final : public any_layer_executor {
 public:
  template <class... A>
  explicit erased_executor(A&&... a) : e_(std::forward<A>(a)...) {}
  void push(hidden_batch hb) override { e_.push(std::move(hb)); }
  void collect(const decoder_spec& spec, const decoder_layer_weights& w, statistic_set need, layer_context& ctx) override {
    e_.collect(spec, w, need, ctx);
  }
  runtime_gptq_fn gptq_runner() override { return e_.gptq_runner(); }
  void propagate(const decoder_spec& spec, const decoder_layer_weights& w) override { e_.propagate(spec, w); }
  void end_layer() override { e_.end_layer(); }
  void clear() override { e_.clear(); }
  [[nodiscard]] executor_summary summary() const override { return e_.summary(); }
  E& get() noexcept { return e_; }

 private:
  E e_;
};

/// The erased executor as an executor (what run_oneshot takes).
class executor_handle {
 public:
  explicit executor_handle(std::unique_ptr<any_layer_executor> e) : e_(std::move(e)) {}
  void push(hidden_batch hb) { e_->push(std::move(hb)); }
  void collect(const decoder_spec& spec, const decoder_layer_weights& w, statistic_set need, layer_context& ctx) {
    e_->collect(spec, w, need, ctx);
  }
  runtime_gptq_fn gptq_runner() { return e_->gptq_runner(); }
  void propagate(const decoder_spec& spec, const decoder_layer_weights& w) { e_->propagate(spec, w); }
  void end_layer() { e_->end_layer(); }
  void clear() { e_->clear(); }
  [[nodiscard]] executor_summary summary() const { return e_->summary(); }

 private:
  std::unique_ptr<any_layer_executor> e_;
};

}  // namespace detail

/// Makes an executor for a model once the pipeline's cheap checks have passed.
using executor_factory = std::function<std::unique_ptr<detail::any_layer_executor>(const decoder_spec&)>;

}  // namespace llmc
