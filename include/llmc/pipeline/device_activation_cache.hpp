// llmc/pipeline/device_activation_cache.hpp — the hidden states a sequential pipeline on a device
// (a CUDA GPU, or the host for testing) carries from one decoder layer to the next: resident in
// the device's memory up to a budget, in page-locked host memory beyond it.
//
// The device twin of activation_cache (activation_cache.hpp; the reference's IntermediatesCache
// with offloading, [LC] pipelines/cache.py, spec §1.4). push() uploads a calibration batch and
// keeps it on the device while the resident batches' bytes (device_hidden_batch::bytes(): states,
// mask, positions) stay within `device_budget_bytes`; a batch that does not fit stays on the host,
// its states in K::pinned_vector (page-locked for CUDA: copied by DMA) and its mask and positions
// in ordinary host vectors. Each batch is placed on its own: a later, smaller batch may still fit.
// for_each(f, write_back) hands every batch to f, as a device_hidden_batch<K>&, in push order:
// resident ones directly; host ones through one staging device batch that is reused (resized to
// each batch, its capacity kept), uploaded before f and, when write_back, downloaded after it, so
// f may rewrite the states in place whichever kind a batch is. f must not change a batch's shape.
// Invariants: order is push order; a host batch's states read back are the bytes written (plain
// copies), so results do not depend on the budget; the staging batch (the largest host batch)
// lives on the device on top of the budget — a caller sizing the budget from free_device_bytes()
// leaves room for it. Copies are the policy's synchronous upload/download (no overlap with f).
// Errors: under CUDA a device allocation that fails in push() or in staging is cuda_error
// llmc.cuda.105 (k.guard), a failed copy llmc.cuda.101.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "llmc/method/device_policy.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/device_batch.hpp"

namespace llmc {

template <class K>
class device_activation_cache {
 public:
  /// device_budget_bytes: bytes of batches kept resident on the device (0: none, every batch
  /// goes through the staging batch).
  device_activation_cache(const K& k, std::uint64_t device_budget_bytes) : k_(k), budget_(device_budget_bytes) {}

  /// Adds a batch (copied): to the device when it fits the budget, else to pinned host memory.
  void push(const hidden_batch& h) {
    const std::uint64_t b = batch_bytes(h);
    if (b <= budget_ - device_bytes_) {  // device_bytes_ <= budget_ always
      device_.push_back(detail::policy_guard(k_, "device_activation_cache::push",
                                             [&] { return device_hidden_batch<K>::upload(k_, h); }));
      order_.push_back({true, device_.size() - 1});
      device_bytes_ += b;
      return;
    }
    host_batch hb;
    hb.batch = h.batch;
    hb.seq = h.seq;
    hb.hidden = h.states.cols();
    hb.states.resize(h.states.size());
    std::copy_n(h.states.data(), h.states.size(), hb.states.data());
    hb.mask = h.mask;
    hb.positions = h.positions;
    order_.push_back({false, host_.size()});
    host_.push_back(std::move(hb));
    host_bytes_ += b;
  }

  /// Calls f(device_hidden_batch<K>&) — or f(batch, index) when f takes the push index too — for
  /// every batch in push order. write_back: f's changes to the states of host batches are copied
  /// back (resident batches are changed in place either way).
  template <class F>
  void for_each(F&& f, bool write_back) {
    for (std::size_t i = 0; i < order_.size(); ++i) {
      const slot s = order_[i];
      if (s.on_device) {
        call(f, device_[s.index], i);
        continue;
      }
      host_batch& hb = host_[s.index];
      detail::policy_guard(k_, "device_activation_cache: staging a host batch", [&] { stage(hb); });
      call(f, staging_, i);
      if (write_back) {
        k_.download(raw_data(staging_.states), hb.states.size(), hb.states.data());
      }
    }
  }

  /// Bytes of all batches (states, masks, positions), wherever they are.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return device_bytes_ + host_bytes_; }
  /// Bytes of the batches resident on the device (the staging batch not included).
  [[nodiscard]] std::uint64_t device_bytes() const noexcept { return device_bytes_; }
  /// Bytes of the batches kept in host memory.
  [[nodiscard]] std::uint64_t host_bytes() const noexcept { return host_bytes_; }
  [[nodiscard]] std::size_t device_batches() const noexcept { return device_.size(); }
  [[nodiscard]] std::size_t host_batches() const noexcept { return host_.size(); }
  [[nodiscard]] std::size_t size() const noexcept { return order_.size(); }
  [[nodiscard]] bool empty() const noexcept { return order_.empty(); }
  [[nodiscard]] std::uint64_t budget() const noexcept { return budget_; }

  /// Drops every batch and the staging buffers (device and pinned memory are freed).
  void clear() {
    device_.clear();
    device_.shrink_to_fit();
    host_.clear();
    host_.shrink_to_fit();
    order_.clear();
    staging_ = device_hidden_batch<K>{};
    device_bytes_ = host_bytes_ = 0;
  }

 private:
  struct host_batch {
    std::size_t batch = 0, seq = 0, hidden = 0;
    typename K::template pinned_vector<float> states;  ///< [batch * seq, hidden] row-major
    std::vector<std::uint8_t> mask;
    std::vector<std::int64_t> positions;
  };
  struct slot {
    bool on_device;
    std::size_t index;  ///< into device_ or host_
  };

  static std::uint64_t batch_bytes(const hidden_batch& h) noexcept {
    return static_cast<std::uint64_t>(h.states.size()) * sizeof(float) + h.mask.size() +
           static_cast<std::uint64_t>(h.positions.size()) * sizeof(std::int64_t);
  }

  /// Resizes v to n, keeping its allocation when it is large enough.
  template <class V>
  static void fit(V& v, std::size_t n) {
    if (v.size() == n) return;
    if (n > v.capacity()) v = V(n);  // no copy of the old contents
    else v.resize(n);
  }

  void stage(const host_batch& hb) {
    staging_.batch = hb.batch;
    staging_.seq = hb.seq;
    staging_.hidden = hb.hidden;
    fit(staging_.states, hb.states.size());
    fit(staging_.mask, hb.mask.size());
    fit(staging_.positions, hb.positions.size());
    k_.upload(hb.states.data(), hb.states.size(), raw_data(staging_.states));
    if (!hb.mask.empty()) k_.upload(hb.mask.data(), hb.mask.size(), raw_data(staging_.mask));
    if (!hb.positions.empty()) k_.upload(hb.positions.data(), hb.positions.size(), raw_data(staging_.positions));
  }

  template <class F>
  static void call(F& f, device_hidden_batch<K>& b, std::size_t i) {
    if constexpr (std::is_invocable_v<F&, device_hidden_batch<K>&, std::size_t>) f(b, i);
    else f(b);
  }

  K k_;
  std::uint64_t budget_;
  std::vector<device_hidden_batch<K>> device_;
  std::vector<host_batch> host_;
  std::vector<slot> order_;
  device_hidden_batch<K> staging_;
  std::uint64_t device_bytes_ = 0, host_bytes_ = 0;
};

}  // namespace llmc
