// llmc/model/device_batch.hpp — a batch of hidden states in a dense policy's memory (a CUDA
// device, or the host for testing), and the Linear-input hook of the device forward.
//
// The device twin of hidden_batch (decoder_layer.hpp): states [batch * seq, hidden] row-major
// fp32, row b * seq + t is token t of sequence b; mask (1 = token, 0 = padding) and positions
// are empty or hold batch * seq entries. K is a dense policy (method/device_policy.hpp); with
// host_dense_policy every buffer is host memory, which is how the device pipeline is tested here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "llmc/method/device_policy.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

template <class K>
struct device_hidden_batch {
  std::size_t batch = 0, seq = 0, hidden = 0;
  typename K::template vector<float> states;           ///< [batch * seq, hidden]
  typename K::template vector<std::uint8_t> mask;      ///< empty = every row is a token
  typename K::template vector<std::int64_t> positions; ///< empty = 0..seq-1 per sequence

  [[nodiscard]] std::size_t tokens() const noexcept { return batch * seq; }
  [[nodiscard]] std::uint64_t bytes() const noexcept {
    return states.size() * sizeof(float) + mask.size() + positions.size() * sizeof(std::int64_t);
  }
  [[nodiscard]] matrix_view<float, typename K::backend> view() noexcept { return {raw_data(states), tokens(), hidden}; }
  [[nodiscard]] matrix_view<const float, typename K::backend> view() const noexcept {
    return {raw_data(const_cast<typename K::template vector<float>&>(states)), tokens(), hidden};
  }
  /// Device pointer to the mask, or null when every row is a token.
  [[nodiscard]] const std::uint8_t* mask_data() const noexcept {
    return mask.empty() ? nullptr : raw_data(const_cast<typename K::template vector<std::uint8_t>&>(mask));
  }

  /// Uploads a host batch (states, mask, positions).
  static device_hidden_batch upload(const K& k, const hidden_batch& h) {
    device_hidden_batch d;
    d.batch = h.batch;
    d.seq = h.seq;
    d.hidden = h.states.cols();
    d.states = typename K::template vector<float>(h.states.rows() * h.states.cols());
    k.upload(h.states.data(), d.states.size(), raw_data(d.states));
    if (!h.mask.empty()) {
      d.mask = typename K::template vector<std::uint8_t>(h.mask.size());
      k.upload(h.mask.data(), h.mask.size(), raw_data(d.mask));
    }
    if (!h.positions.empty()) {
      d.positions = typename K::template vector<std::int64_t>(h.positions.size());
      k.upload(h.positions.data(), h.positions.size(), raw_data(d.positions));
    }
    return d;
  }
  /// Copies the states back into a host batch of the same shape (mask and positions do not change).
  void download_states(const K& k, hidden_batch& h) const {
    k.download(raw_data(const_cast<typename K::template vector<float>&>(states)), states.size(), h.states.data());
  }
};

/// What the device forward's Linear-input hook sees: the exact matrix Linear `linear` consumes.
template <class Backend>
struct device_linear_input {
  std::size_t linear = 0;                   ///< 0..6: q, k, v, o, gate, up, down
  std::size_t layer = 0;
  matrix_view<const float, Backend> x;      ///< [batch * seq, in_features], in the policy's memory
  const std::uint8_t* mask = nullptr;       ///< per row in the policy's memory, 0 = padding; null = all tokens
  std::size_t batch = 0, seq = 0;
};

template <class K>
using device_input_hook = std::function<void(const device_linear_input<typename K::backend>&)>;

}  // namespace llmc
