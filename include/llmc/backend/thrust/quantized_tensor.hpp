// llmc/backend/thrust/quantized_tensor.hpp — a quantized tensor whose codes and qparams live on the device.
//
// device_quantized_tensor is scheme/quantized_tensor.hpp's quantized_tensor with every array in
// Thrust device vectors: codes [rows, cols] (one code per element, same encoding), scale and
// zero_point [slot_rows * slot_cols] row-major in the layout of scheme/qparams.hpp, g_idx, and the
// fp32 global scale (a host value: it is one number). to_host() / from_host() convert to and from
// the host type without changing a bit, which is how the device kernels are compared with the CPU
// backend (tests/thrust). Invariants: those of quantized_tensor (zero_point empty when symmetric,
// global_scale > 0 exactly for tensor_group).
#pragma once

#include <cstdint>
#include <vector>

#include <thrust/copy.h>
#include <thrust/device_vector.h>

#include "llmc/numeric/scalar_type.hpp"
#include "llmc/scheme/qparams.hpp"
#include "llmc/scheme/quant_args.hpp"
#include "llmc/scheme/quantized_tensor.hpp"
#include "llmc/tensor/adapt_thrust.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

namespace detail {
template <class T>
std::vector<T> download(const thrust::device_vector<T>& d) {
  std::vector<T> h(d.size());
  thrust::copy(d.begin(), d.end(), h.begin());
  return h;
}
template <class T>
thrust::device_vector<T> upload(const T* data, std::size_t n) {
  return thrust::device_vector<T>(data, data + n);
}
}  // namespace detail

/// Scales, zero points and the global scale of one tensor, on the device.
struct device_qparams {
  qparam_layout layout;
  thrust::device_vector<float> scale;             ///< [slot_rows * slot_cols], row-major
  thrust::device_vector<std::int8_t> zero_point;  ///< same shape; empty when symmetric
  float global_scale = 0.0f;                      ///< tensor_group only (fp32), else 0

  [[nodiscard]] qparams to_host() const {
    qparams p;
    p.layout = layout;
    p.scale = matrix<float>(layout.slot_rows, layout.slot_cols, detail::download(scale));
    if (!zero_point.empty()) p.zero_point = matrix<std::int8_t>(layout.slot_rows, layout.slot_cols, detail::download(zero_point));
    p.global_scale = global_scale;
    return p;
  }
  static device_qparams from_host(const qparams& p) {
    device_qparams d;
    d.layout = p.layout;
    d.scale = detail::upload(p.scale.data(), p.scale.size());
    if (!p.zero_point.empty()) d.zero_point = detail::upload(p.zero_point.data(), p.zero_point.size());
    d.global_scale = p.global_scale;
    return d;
  }
};

struct device_quantized_tensor {
  quant_args args;
  scalar_type model_dtype = scalar_type::float32;  ///< dtype of the source tensor
  device_qparams params;
  thrust_matrix<std::uint8_t> codes;           ///< one code per element (see quantized_tensor)
  thrust::device_vector<std::int32_t> g_idx;   ///< actorder=group: the qparam column of each input column

  [[nodiscard]] std::size_t rows() const noexcept { return codes.rows(); }
  [[nodiscard]] std::size_t cols() const noexcept { return codes.cols(); }
  /// dtypes on disk: those of the host quantized_tensor with the same args (one rule, one place).
  [[nodiscard]] scalar_type code_type() const noexcept { return host_shell().code_type(); }
  [[nodiscard]] scalar_type scale_type() const noexcept { return host_shell().scale_type(); }

  /// The same tensor in host memory, bit for bit.
  [[nodiscard]] quantized_tensor to_host() const {
    quantized_tensor q;
    q.args = args;
    q.model_dtype = model_dtype;
    q.params = params.to_host();
    q.codes = codes.to_host();
    q.g_idx = detail::download(g_idx);
    return q;
  }
  static device_quantized_tensor from_host(const quantized_tensor& q) {
    device_quantized_tensor d;
    d.args = q.args;
    d.model_dtype = q.model_dtype;
    d.params = device_qparams::from_host(q.params);
    d.codes = thrust_matrix<std::uint8_t>::from_host(q.codes);
    d.g_idx = detail::upload(q.g_idx.data(), q.g_idx.size());
    return d;
  }

 private:
  [[nodiscard]] quantized_tensor host_shell() const noexcept {
    quantized_tensor q;
    q.args = args;
    q.model_dtype = model_dtype;
    return q;
  }
};

inline quantized_tensor to_host(const device_quantized_tensor& q) { return q.to_host(); }
inline device_quantized_tensor to_device(const quantized_tensor& q) { return device_quantized_tensor::from_host(q); }

}  // namespace llmc
