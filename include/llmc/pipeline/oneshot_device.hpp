// llmc/pipeline/oneshot_device.hpp — oneshot() with the calibration forward, the Hessians and
// GPTQ in a dense policy's memory (issue 7): oneshot_on(cuda_dense_policy, ...) on a GPU,
// oneshot_on(host_dense_policy{}, ...) to run the same device code on the host.
// Same arguments, outputs, checks and errors as oneshot(args, recipe) (oneshot.hpp); what runs
// where is device_executor.hpp's. args.activation_cache_limit and spill_dir belong to the host
// executor and are not used (device_oneshot_options::device_cache_limit is).
#pragma once

#include <filesystem>
#include <string>

#include "llmc/pipeline/device_executor.hpp"
#include "llmc/pipeline/oneshot.hpp"

namespace llmc {

template <class K>
oneshot_report oneshot_on(const K& k, const oneshot_args& args, const pipeline::recipe& r, const device_oneshot_options& o = {},
                          std::string device_name = "device") {
  return detail::run_oneshot(args, r, std::nullopt, detail::runtime_recipe_apply(r),
                             [&](const decoder_spec& spec, const std::filesystem::path&) {
                               return detail::device_layer_executor<K>(k, spec, o, device_name);
                             });
}

}  // namespace llmc
