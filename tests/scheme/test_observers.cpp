// Observers: memoryless, static (union) and EMA min-max over several observations; the MSE grid
// search lowers the error norm it optimises compared with plain min-max.
#include <doctest/doctest.h>

#include <cmath>

#include "llmc/scheme.hpp"
#include "support/random.hpp"

using namespace llmc;

TEST_CASE("min-max observers over calibration batches") {
  const quant_args a{.num_bits = 8, .type = quant_type::float_, .observer = observer_kind::static_minmax};
  matrix<float> b1(2, 3, 0.0f), b2(2, 3, 0.0f);
  b1(0, 0) = -4.0f;
  b1(1, 2) = 2.0f;
  b2(0, 1) = 3.0f;
  b2(1, 1) = -1.0f;
  observer stat(a);
  stat.observe(b1);
  stat.observe(b2);
  CHECK(stat.min_values()(0, 0) == -4.0f);
  CHECK(stat.max_values()(0, 0) == 3.0f);  // the union of both batches
  CHECK(stat.get_qparams<float>().scale(0, 0) == 4.0f / 448.0f);

  quant_args m = a;
  m.observer = observer_kind::memoryless_minmax;
  observer last(m);
  last.observe(b1);
  last.observe(b2);
  CHECK(last.min_values()(0, 0) == -1.0f);  // only the latest batch
  CHECK(last.max_values()(0, 0) == 3.0f);

  m.observer = observer_kind::minmax;
  observer ema(m);
  ema.observe(b1);  // initialises: (-4, 2)
  ema.observe(b2);  // -4 + 0.01 * (-1 - -4) = -3.97; 2 + 0.01 * (3 - 2) = 2.01
  CHECK(ema.min_values()(0, 0) == doctest::Approx(-3.97f).epsilon(1e-6));
  CHECK(ema.max_values()(0, 0) == doctest::Approx(2.01f).epsilon(1e-6));
  try {
    observer fresh(a);
    (void)fresh.get_qparams<float>();
    FAIL("qparams before any observation must throw");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.scheme.011");
  }
}

TEST_CASE("MSE observer: never worse than min-max on the norm it minimises, better with outliers") {
  const quant_args mm{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 64};
  quant_args mse = mm;
  mse.observer = observer_kind::memoryless_mse;
  const auto w = test_support::random_weights(16, 256, 9, 0.02f, 10.0f);
  auto err = [&](const quant_args& a) {
    const auto q = quantize(a, w, weight_qparams(a, w));
    const auto d = dequantize<float>(q);
    double e = 0.0;
    for (std::size_t i = 0; i < w.size(); ++i) e += std::pow(std::fabs(d.data()[i] - w.data()[i]), 2.4);
    return e;
  };
  const double e_mm = err(mm), e_mse = err(mse);
  MESSAGE("sum |err|^2.4: minmax " << e_mm << ", mse " << e_mse);
  CHECK(e_mse <= e_mm);
  CHECK(e_mse < 0.95 * e_mm);
  // The chosen ranges are shrunk versions of the min-max ones (p in [0.81, 1]).
  matrix<float> mins, maxs, mn0, mx0;
  mse_search(mse, w, mins, maxs);
  slot_minmax(mm, w, mn0, mx0);
  for (std::size_t i = 0; i < mins.size(); ++i) {
    CHECK(maxs.data()[i] <= mx0.data()[i]);
    CHECK(maxs.data()[i] >= 0.80f * mx0.data()[i]);
  }
}
