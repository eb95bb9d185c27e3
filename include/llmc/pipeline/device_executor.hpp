// llmc/pipeline/device_executor.hpp — the pipeline's executor (executor.hpp) on a dense policy:
// the calibration work of `llmc oneshot --device cuda` (issue 7).
//
// The sequential pipeline of oneshot.hpp (same checks, plan, writer, recipe.yaml, progress and
// errors) runs with this executor through oneshot_on (oneshot_device.hpp) or, type-erased, through
// oneshot(args, recipe, executor_factory): the embedded calibration batches are uploaded once into a
// device_activation_cache (device memory while they fit in the budget, pinned host memory past
// it); per decoder layer the layer's weights are uploaded (fp32), the statistics pass runs the
// device forward (model/decoder_layer_device.hpp) with hooks that feed device Hessians
// (hessian_device.hpp, fp32 or bf16 inputs) and device per-channel statistics, GPTQ runs on the
// device from those Hessians (gptq_device.hpp gptq_device_apply), and the propagation pass runs
// the layer as written, in place on the cached batches. When the recipe needs samples (AWQ), each
// Linear input's rows (padding dropped) are also kept on the device (awq_device.hpp
// device_samples) and AWQ's grid loss — the parent block's forward per grid point — runs there
// through layer_context::make_parent_block (device_gated_mlp_block, device_linear_group_block).
// What stays on the host: the tokenizer and embedding lookup, the layer's fp32 working copy the
// methods edit, the smoothing transforms (SmoothQuant and AWQ's scale choice and clip search, on
// downloaded statistics and samples; their rescale of a device Hessian or device samples follows
// through input_statistics::on_rescale), RTN (the fused host quantizer is bound by memory
// bandwidth) and the writer.
// K is a dense policy (method/device_policy.hpp): cuda_dense_policy on a GPU, host_dense_policy to
// run this exact code on the host (tests/pipeline/test_oneshot_device.cpp compares it with the
// host pipeline). This header does not include oneshot.hpp (no I/O, text or YAML), so an nvcc
// unit can build the CUDA executor alone (examples/llmc/oneshot_cuda.cu). Invariant: the device holds at most one layer, its Hessians and the cached
// batches within the budget; the results do not depend on where a batch is cached.
// Precision: the forward is fp32 (tf32_forward trades ~1e-3 relative error for tensor-core
// speed on a GPU); Hessians accumulate in fp32 from fp32 or bf16 inputs (bf16 moved the fixture's
// GPTQ output error by +0.09 %, README).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "llmc/backend/thrust/channel_stats.hpp"
#include "llmc/method/awq_device.hpp"
#include "llmc/method/gptq_device.hpp"
#include "llmc/method/hessian_device.hpp"
#include "llmc/model/decoder_layer_device.hpp"
#include "llmc/model/device_batch.hpp"
#include "llmc/pipeline/device_activation_cache.hpp"
#include "llmc/pipeline/executor.hpp"

namespace llmc {

namespace detail {

/// Device memory one layer's work needs besides the cached batches: fp32 weights twice (the
/// layer and an upload in flight), the Hessians, the GPTQ factor and sweep buffers of the widest
/// input, the forward's activations of the largest batch (x, q/k/v, attention, gate/up), with
/// 25 % slack for the allocator.
inline std::uint64_t device_layer_reserve(const decoder_spec& s, std::size_t max_tokens) {
  const std::uint64_t h = s.hidden_size, in = s.intermediate_size, q = s.q_dim(), kv = s.kv_dim();
  const std::uint64_t params = h * (q + 2 * kv) + q * h + 3 * h * in;
  const std::uint64_t widest = std::max<std::uint64_t>(h, in);
  const std::uint64_t hessians = 3 * h * h + in * in;
  const std::uint64_t gptq = 3 * widest * widest + 4 * widest * std::max<std::uint64_t>(h, in);
  const std::uint64_t acts = static_cast<std::uint64_t>(max_tokens) * (4 * h + q + 2 * kv + q + 2 * in);
  return (2 * params + hessians + gptq + acts) * sizeof(float) * 5 / 4 + (std::uint64_t{256} << 20);
}

template <class K>
class device_layer_executor {
  static constexpr bool on_host = std::is_same_v<typename K::backend, host_backend>;
  using backend = typename K::backend;

 public:
  device_layer_executor(const K& k, const decoder_spec& spec, const device_oneshot_options& o, std::string name)
      : k_(k), spec_(spec), opt_(o), name_(std::move(name)), forward_(k, spec, device_forward_options{o.tf32_forward}) {}

  void push(hidden_batch hb) {
    if (!cache_) {
      // The budget is fixed at the first batch (the calibration set's batches share their width;
      // the largest may come later, so size the reserve for a whole max-length batch).
      const std::uint64_t reserve = device_layer_reserve(spec_, hb.tokens());
      std::uint64_t budget = opt_.device_cache_limit;
      if (budget == 0) {
        const std::uint64_t free = k_.free_device_bytes();
        budget = free > reserve ? free - reserve : 0;
      }
      cache_.emplace(k_, budget);
    }
    host_masks_.push_back(hb.mask);
    real_tokens_ += hb.real_tokens();
    cache_->push(hb);
  }

  void collect(const decoder_spec& spec, const decoder_layer_weights& w, statistic_set need, layer_context& ctx) {
    layer_.emplace(device_decoder_layer<K>::upload(k_, w));
    const std::array<const linear_weights*, 7> ls{&w.q_proj, &w.k_proj, &w.v_proj, &w.o_proj, &w.gate_proj, &w.up_proj, &w.down_proj};
    const bool awq_device = need.contains(statistic::samples) && opt_.awq_on_device && awq_samples_fit(spec);
    if (need.contains(statistic::samples)) reserve_samples(w, ctx, real_tokens_);  // the host copies (fed below)
    for (std::size_t li = 0; li < 7; ++li) {
      if (!owns_input_statistics(li)) continue;
      const std::string in = oneshot_inputs[li];
      input_statistics& st = ctx.inputs[in];
      device_hessian_accumulator<K>* h_raw = nullptr;
      device_samples<K>* s_raw = nullptr;
      if (need.contains(statistic::hessian)) {
        auto h = std::make_unique<device_hessian_accumulator<K>>(
            k_, ls[li]->in_features, opt_.bf16_hessian ? hessian_precision::bf16 : hessian_precision::fp32);
        h_raw = h.get();
        hessians_[in] = std::move(h);
      }
      if (awq_device) {  // AWQ's grid loss runs on them (awq_device.hpp)
        auto smp = std::make_unique<device_samples<K>>(k_, ls[li]->in_features);
        smp->reserve(real_tokens_);  // every calibration token comes once: no growth copies
        s_raw = smp.get();
        samples_[in] = std::move(smp);
      }
      if (h_raw != nullptr || s_raw != nullptr)
        st.on_rescale = [h_raw, s_raw](std::span<const float> s) {
          if (h_raw != nullptr) h_raw->rescale(s);
          if (s_raw != nullptr) s_raw->rescale(s);
        };
    }
    if (!samples_.empty())
      ctx.make_parent_block = [this](const awq_mapping& m, std::string_view input, std::span<const matrix_view<const float>> balance,
                                     const linear_weight* down) -> std::unique_ptr<any_parent_block> {
        auto it = samples_.find(input);
        if (it == samples_.end()) return nullptr;
        return make_device_parent_block(k_, it->second->view(), m, balance, down);
      };
    if (!cache_) return;
    if constexpr (!on_host) {  // the device collectors, one per owned input (looked up per batch without allocating)
      for (std::size_t li = 0; li < 7; ++li) {
        if (!owns_input_statistics(li)) continue;
        if (need.contains(statistic::channel_minmax)) minmax_[oneshot_inputs[li]];
        if (need.contains(statistic::channel_absmean)) absmean_[oneshot_inputs[li]];
      }
    }
    const statistic_set host_side = host_statistics(need);
    std::size_t b = 0;
    cache_->for_each(
        [&](device_hidden_batch<K>& hb) {
          copy_batch(hb, scratch_);
          const std::span<const std::uint8_t> host_mask(host_masks_[b]);
          forward_.run(*layer_, scratch_, [&](const device_linear_input<backend>& x) {
            if (!owns_input_statistics(x.linear)) return;
            const std::string_view in = oneshot_inputs[x.linear];
            if (auto it = hessians_.find(in); it != hessians_.end()) it->second->add(x.x, x.mask, x.batch);
            if (auto it = samples_.find(in); it != samples_.end()) it->second->add(x.x, x.mask);
            feed_host_side(in, ctx.inputs.find(in)->second, host_side, x, host_mask);
          }, /*inputs_only=*/true);
          ++b;
        },
        false);
    k_.synchronize();  // the pass's device work is the statistics phase's (oneshot_layer_report)
    // Device statistics come back to the host collectors the methods read.
    if constexpr (!on_host) {
      for (auto& [in, mm] : minmax_) ctx.inputs[in].minmax = channel_minmax::from_values(mm.min(), mm.max(), mm.tokens());
      for (auto& [in, am] : absmean_) ctx.inputs[in].absmean = channel_absmean::from_values(am.sum(), am.tokens());
      minmax_.clear();
      absmean_.clear();
    }
  }

  [[nodiscard]] runtime_gptq_fn gptq_runner() {
    return [this](const gptq<runtime_scheme>& g, layer_context& ctx) {
      gptq_device_apply(k_, g, ctx, [this](std::string_view in) -> const device_hessian_accumulator<K>* {
        auto it = hessians_.find(in);
        return it == hessians_.end() ? nullptr : it->second.get();
      });
    };
  }

  void propagate(const decoder_spec&, const decoder_layer_weights& w) {
    hessians_.clear();  // every GPTQ has run: free their memory before the upload
    samples_.clear();   // and AWQ
    layer_.reset();
    layer_.emplace(device_decoder_layer<K>::upload(k_, w));
    if (cache_) cache_->for_each([&](device_hidden_batch<K>& hb) { forward_.run(*layer_, hb); }, true);
    k_.synchronize();
  }

  void end_layer() {
    hessians_.clear();
    samples_.clear();
    layer_.reset();
  }
  void clear() {
    if (cache_) {
      device_cache_bytes_ = cache_->device_bytes();
      pinned_cache_bytes_ = cache_->host_bytes();
      cache_->clear();
    }
    scratch_ = device_hidden_batch<K>{};
  }
  [[nodiscard]] executor_summary summary() const {
    executor_summary s;
    s.name = name_;
    s.device_cache_bytes = std::max(device_cache_bytes_, cache_ ? cache_->device_bytes() : 0);
    s.pinned_cache_bytes = std::max(pinned_cache_bytes_, cache_ ? cache_->host_bytes() : 0);
    return s;
  }

 private:
  /// Whether the device samples of every input (reserved exactly: one row per calibration token)
  /// and the largest AWQ block (the gated MLP's fp output and scratch, its weights) fit in the
  /// free device memory with 25 % slack; else AWQ's grid loss stays on the host copies.
  bool awq_samples_fit(const decoder_spec& s) const {
    const std::uint64_t t = real_tokens_, h = s.hidden_size, in = s.intermediate_size;
    const std::uint64_t chunk = std::min<std::uint64_t>(t, awq_device_chunk_tokens);
    const std::uint64_t samples = t * (h + s.q_dim() + h + in);
    const std::uint64_t block = t * h + chunk * (2 * in + h) + 3 * h * in;
    return (samples + block) * sizeof(float) * 5 / 4 <= k_.free_device_bytes();
  }

  /// The statistics fed on the host side: on a host policy everything but the Hessian; on a
  /// device only the samples (min/max and mean |x| have device collectors).
  static statistic_set host_statistics(statistic_set need) {
    statistic_set s;
    if constexpr (on_host) {
      if (need.contains(statistic::channel_minmax)) s = s | statistic::channel_minmax;
      if (need.contains(statistic::channel_absmean)) s = s | statistic::channel_absmean;
    }
    if (need.contains(statistic::samples)) s = s | statistic::samples;
    return s;
  }

  void feed_host_side(std::string_view in, input_statistics& st, statistic_set host_side, const device_linear_input<backend>& x,
                      std::span<const std::uint8_t> host_mask) {
    if constexpr (!on_host) {
      if (auto it = minmax_.find(in); it != minmax_.end()) it->second.add(x.x, host_mask);
      if (auto it = absmean_.find(in); it != absmean_.end()) it->second.add(x.x, host_mask);
    }
    if (host_side.empty()) return;
    if constexpr (on_host) {
      feed_statistics(st, host_side, x.x, host_mask, x.batch);
    } else {
      matrix<float> rows(x.x.rows(), x.x.cols());
      download_view(x.x, rows);
      feed_statistics(st, host_side, cview(rows), host_mask, x.batch);
    }
  }

  /// A strided policy view copied into a host matrix (row by row: the forward's views are row-major).
  void download_view(matrix_view<const float, backend> v, matrix<float>& out) const {
    if (v.stride(1) == 1 && v.stride(0) == static_cast<std::ptrdiff_t>(v.cols())) {
      k_.download(v.data_handle(), v.rows() * v.cols(), out.data());
      return;
    }
    for (std::size_t r = 0; r < v.rows(); ++r) k_.download(v.data_handle() + r * v.stride(0), v.cols(), &out(r, 0));
  }

  /// dst = src (shape, states, mask, positions) without reallocating dst when it is large enough.
  void copy_batch(const device_hidden_batch<K>& src, device_hidden_batch<K>& dst) const {
    dst.batch = src.batch;
    dst.seq = src.seq;
    dst.hidden = src.hidden;
    dst.states.resize(src.states.size());  // keeps the allocation when it shrinks
    thrust::copy(k_.exec(), src.states.begin(), src.states.end(), dst.states.begin());
    dst.mask = src.mask;
    dst.positions = src.positions;
  }

  K k_;
  decoder_spec spec_;
  device_oneshot_options opt_;
  std::string name_;
  device_decoder_forward<K> forward_;
  std::optional<device_activation_cache<K>> cache_;
  std::vector<std::vector<std::uint8_t>> host_masks_;
  std::optional<device_decoder_layer<K>> layer_;
  std::map<std::string, std::unique_ptr<device_hessian_accumulator<K>>, std::less<>> hessians_;
  std::map<std::string, std::unique_ptr<device_samples<K>>, std::less<>> samples_;  ///< AWQ's inputs, padding dropped
  std::map<std::string, device_channel_minmax, std::less<>> minmax_;
  std::map<std::string, device_channel_absmean, std::less<>> absmean_;
  device_hidden_batch<K> scratch_;
  std::uint64_t device_cache_bytes_ = 0, pinned_cache_bytes_ = 0;  ///< as they were before clear()
  std::uint64_t real_tokens_ = 0;  ///< calibration tokens pushed (padding excluded)
};

}  // namespace detail

}  // namespace llmc
