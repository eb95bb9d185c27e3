// Tests of method/channel_stats.hpp: per-channel min/max and mean |x| fed batch by batch.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "llmc/core/parallel.hpp"
#include "llmc/method/channel_stats.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "test_awq_support.hpp"

using llmc::matrix;

TEST_CASE("channel_minmax: hand-computed values, batches, mask") {
  const matrix<float> a(3, 2, std::vector<float>{1, -2, 3, 4, -5, 0});
  const matrix<float> b(2, 2, std::vector<float>{100, -7, 0.5f, 9});
  llmc::channel_minmax s;
  CHECK(s.channels() == 0);
  s.add(a);
  CHECK(s.channels() == 2);
  CHECK(s.tokens() == 3);
  CHECK(s.min()[0] == -5.0f);
  CHECK(s.max()[0] == 3.0f);
  CHECK(s.min()[1] == -2.0f);
  CHECK(s.max()[1] == 4.0f);
  // The first row of b is padding: masked out, its 100 and -7 must not count.
  const std::vector<std::uint8_t> mask{0, 1};
  s.add(b, mask);
  CHECK(s.tokens() == 4);
  CHECK(s.max()[0] == 3.0f);
  CHECK(s.min()[1] == -2.0f);
  CHECK(s.max()[1] == 9.0f);
  CHECK(s.range() == std::vector<float>{8.0f, 11.0f});
  CHECK(s.absmax() == std::vector<float>{5.0f, 9.0f});
  // rescale: the statistic of x / s.
  const std::vector<float> sc{2.0f, 0.5f};
  s.rescale(sc);
  CHECK(s.min()[0] == -2.5f);
  CHECK(s.max()[0] == 1.5f);
  CHECK(s.min()[1] == -4.0f);
  CHECK(s.max()[1] == 18.0f);
}

TEST_CASE("channel_absmean: hand-computed values, mask, merge, rescale") {
  const matrix<float> a(3, 2, std::vector<float>{1, -2, 3, 4, -5, 0});
  llmc::channel_absmean s;
  s.add(a);
  CHECK(s.tokens() == 3);
  CHECK(s.mean() == std::vector<float>{3.0f, 2.0f});
  llmc::channel_absmean m;
  const std::vector<std::uint8_t> mask{1, 0, 1};
  m.add(a, mask);
  CHECK(m.tokens() == 2);
  CHECK(m.mean() == std::vector<float>{3.0f, 1.0f});
  // Merging two collectors equals feeding both batches to one.
  llmc::channel_absmean both;
  both.add(a);
  both.add(a, mask);
  s.merge(m);
  CHECK(s.tokens() == 5);
  CHECK(s.mean() == both.mean());
  CHECK(s.sum()[0] == 15.0);
  CHECK(s.sum()[1] == 8.0);
  const std::vector<float> sc{3.0f, 4.0f};
  s.rescale(sc);
  CHECK(s.sum()[0] == 5.0);
  CHECK(s.sum()[1] == 2.0);
}

TEST_CASE("channel statistics accept bfloat16 batches and strided views") {
  matrix<llmc::bfloat16> x(2, 3);
  const float vals[] = {0.5f, -1.25f, 3.0f, -2.0f, 0.75f, -0.125f};
  for (std::size_t i = 0; i < 6; ++i) x.data()[i] = llmc::bfloat16(vals[i]);
  llmc::channel_minmax mm;
  llmc::channel_absmean am;
  mm.add(x);
  am.add(x);
  CHECK(mm.min()[1] == -1.25f);
  CHECK(mm.max()[2] == 3.0f);
  CHECK(am.mean() == std::vector<float>{1.25f, 1.0f, 1.5625f});
  // The transpose (column-major view) of a 3x2 float matrix: channels are its columns.
  const matrix<float> t(3, 2, std::vector<float>{1, 2, -3, 4, 5, -6});
  llmc::channel_minmax tm;
  tm.add(t.view().transposed());  // 2 tokens x 3 channels: rows (1,-3,5) and (2,4,-6)
  CHECK(tm.channels() == 3);
  CHECK(tm.min()[0] == 1.0f);
  CHECK(tm.max()[2] == 5.0f);
  CHECK(tm.min()[2] == -6.0f);
}

TEST_CASE("channel statistics: errors carry stable ids") {
  llmc::channel_minmax mm;
  mm.add(matrix<float>(4, 8, 1.0f));
  method_test::check_error_id([&] { mm.add(matrix<float>(4, 7, 1.0f)); }, "llmc.method.001");
  const std::vector<std::uint8_t> short_mask{1, 1};
  method_test::check_error_id([&] { mm.add(matrix<float>(4, 8, 1.0f), short_mask); }, "llmc.method.002");
  llmc::channel_absmean am;
  const std::vector<std::uint8_t> none(3, 0);
  am.add(matrix<float>(3, 8, 1.0f), none);
  CHECK(am.tokens() == 0);
  method_test::check_error_id([&] { (void)am.mean(); }, "llmc.method.003");
}

TEST_CASE("channel statistics do not depend on the thread count or the batch split") {
  const matrix<float> x = method_test::random_matrix(4096, 2048, 7, 1.0f);
  auto run = [&](unsigned threads, std::size_t batch) {
    llmc::set_max_threads(threads);
    llmc::channel_minmax mm;
    llmc::channel_absmean am;
    for (std::size_t t0 = 0; t0 < x.rows(); t0 += batch) {
      const auto v = x.view().block(t0, 0, std::min(batch, x.rows() - t0), x.cols());
      mm.add(v);
      am.add(v);
    }
    llmc::set_max_threads(0);
    return std::make_pair(mm, am);
  };
  const auto [mm1, am1] = run(1, 4096);
  const auto [mm2, am2] = run(2, 4096);
  const auto [mm3, am3] = run(2, 1000);
  CHECK(std::memcmp(am1.sum().data(), am2.sum().data(), am1.sum().size() * sizeof(double)) == 0);
  CHECK(std::vector<float>(mm1.min().begin(), mm1.min().end()) == std::vector<float>(mm2.min().begin(), mm2.min().end()));
  CHECK(std::vector<float>(mm1.max().begin(), mm1.max().end()) == std::vector<float>(mm3.max().begin(), mm3.max().end()));
  // Another batch split changes the order of additions only: the fp32 means agree to the last bit
  // or within a rounding of it.
  const auto m1 = am1.mean(), m3 = am3.mean();
  double worst = 0.0;
  for (std::size_t c = 0; c < m1.size(); ++c) worst = std::max(worst, std::abs(double(m1[c]) - m3[c]) / m1[c]);
  CHECK(worst < 1e-6);
  // Mean |N(0,1)| = sqrt(2/pi) = 0.7979: the statistic is the real one.
  double avg = 0.0;
  for (float v : m1) avg += v;
  CHECK(avg / m1.size() == doctest::Approx(0.7979).epsilon(0.01));
}
