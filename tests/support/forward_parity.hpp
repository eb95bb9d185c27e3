// The device-forward parity harness of tests/cuda, one template for every dense policy: the host
// policy in test_cuda_host.cpp (g++), cuda_dense_policy in test_cuda.cu (nvcc). Runs layers in
// order with run_decoder_layer and with device_decoder_forward<K> (each side on its own states)
// and checks, after every layer, what each Linear's hook saw (index, layer, batch, seq, mask,
// shape), and that each side's inputs_only run (the statistics pass) shows its hooks exactly the
// inputs of its full run; returns the largest relative errors of the outputs and of the hook inputs.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/decoder_layer_device.hpp"
#include "llmc/model/device_batch.hpp"
#include "llmc/tensor/matrix.hpp"
#include "random_decoder_layer.hpp"

namespace test_support {

/// One Linear input as a hook saw it (downloaded to the host).
struct seen_input {
  std::size_t linear = 0, layer = 0, batch = 0, seq = 0;
  llmc::matrix<float> x;
  std::vector<std::uint8_t> mask;
};

struct forward_parity {
  double out = 0.0;   ///< max over layers of max |y_dev - y_host| / max |y_host|
  double hook = 0.0;  ///< the same over every Linear input the hooks saw
};

/// `reuse`: a forward object kept across calls (its scratch buffers then already exist).
template <class K>
forward_parity compare_forward(const K& k, const llmc::decoder_spec& s, const std::vector<llmc::decoder_layer_weights>& layers,
                               llmc::hidden_batch h, llmc::device_forward_options opt = {},
                               llmc::device_decoder_forward<K>* reuse = nullptr) {
  using namespace llmc;
  device_decoder_forward<K> own(k, s, opt);
  device_decoder_forward<K>& fwd = reuse != nullptr ? *reuse : own;
  auto d = device_hidden_batch<K>::upload(k, h);
  forward_parity r;
  for (const auto& w : layers) {
    std::vector<seen_input> host_in, dev_in;
    forward_hooks hooks;
    hooks.on_linear_input = [&](const linear_input& in) {
      const auto all = w.linears();
      const std::size_t idx = static_cast<std::size_t>(std::find(all.begin(), all.end(), &in.linear) - all.begin());
      host_in.push_back({idx, in.layer, in.batch, in.seq, matrix<float>::from(in.x), {in.mask.begin(), in.mask.end()}});
    };
    const device_input_hook<K> hook = [&](const device_linear_input<typename K::backend>& in) {
      REQUIRE(in.x.stride(1) == 1);
      seen_input v{in.linear, in.layer, in.batch, in.seq, matrix<float>(in.x.rows(), in.x.cols()), {}};
      for (std::size_t row = 0; row < in.x.rows(); ++row)  // row by row: the view may be strided
        k.download(in.x.data_handle() + row * static_cast<std::size_t>(in.x.stride(0)), in.x.cols(), &v.x(row, 0));
      if (in.mask != nullptr) {
        v.mask.resize(in.batch * in.seq);
        k.download(in.mask, v.mask.size(), v.mask.data());
      }
      dev_in.push_back(std::move(v));
    };
    const auto dw = device_decoder_layer<K>::upload(k, w);
    // inputs_only (the statistics pass) must show the hooks exactly what the full run shows them.
    {
      hidden_batch h_copy = h;
      forward_hooks only = hooks;
      only.inputs_only = true;
      run_decoder_layer(s, w, h_copy, only);
      device_hidden_batch<K> d_copy = d;  // this side's own states so far
      fwd.run(dw, d_copy, hook, /*inputs_only=*/true);
    }
    std::vector<seen_input> host_only = std::move(host_in), dev_only = std::move(dev_in);
    host_in.clear();
    dev_in.clear();
    run_decoder_layer(s, w, h, hooks);
    fwd.run(dw, d, hook);
    REQUIRE(host_only.size() == 7);
    REQUIRE(dev_only.size() == 7);
    REQUIRE(host_in.size() == 7);
    REQUIRE(dev_in.size() == 7);
    for (std::size_t i = 0; i < 7; ++i) {
      CHECK(host_only[i].linear == i);
      CHECK(dev_only[i].linear == i);
      CHECK(std::equal(host_only[i].x.data(), host_only[i].x.data() + host_only[i].x.size(), host_in[i].x.data()));
      CHECK(std::equal(dev_only[i].x.data(), dev_only[i].x.data() + dev_only[i].x.size(), dev_in[i].x.data()));
    }
    hidden_batch got = h;
    d.download_states(k, got);
    r.out = std::max(r.out, max_rel_error(got.states.data(), h.states.data(), h.states.size()));
    REQUIRE(host_in.size() == 7);
    REQUIRE(dev_in.size() == 7);
    for (std::size_t i = 0; i < 7; ++i) {
      CHECK(dev_in[i].linear == i);
      CHECK(host_in[i].linear == i);
      CHECK(dev_in[i].layer == w.index);
      CHECK(dev_in[i].batch == h.batch);
      CHECK(dev_in[i].seq == h.seq);
      CHECK(dev_in[i].mask == host_in[i].mask);
      REQUIRE(dev_in[i].x.rows() == host_in[i].x.rows());
      REQUIRE(dev_in[i].x.cols() == host_in[i].x.cols());
      r.hook = std::max(r.hook, max_rel_error(dev_in[i].x.data(), host_in[i].x.data(), host_in[i].x.size()));
    }
  }
  return r;
}

}  // namespace test_support
