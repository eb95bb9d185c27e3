// A minimal stand-in with std::mdspan's rank-2 interface (rank, extent, stride, data_handle), so
// the mdspan adapter is exercised on a compiler without <mdspan> (g++ 12).
#pragma once

#include <cstddef>

namespace test_support {
template <class T>
class mdspan_like {
 public:
  mdspan_like(T* p, std::size_t r, std::size_t c, std::size_t rs, std::size_t cs) : p_(p), e_{r, c}, s_{rs, cs} {}
  static constexpr std::size_t rank() { return 2; }
  std::size_t extent(std::size_t i) const { return e_[i]; }
  std::size_t stride(std::size_t i) const { return s_[i]; }
  T* data_handle() const { return p_; }

 private:
  T* p_;
  std::size_t e_[2];
  std::size_t s_[2];
};
}  // namespace test_support
