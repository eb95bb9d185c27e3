// llmc/pipeline/registry.hpp — the one place where runtime names become compile-time policies.
//
// Recipes name schemes by LLM Compressor's preset names ("W8A8", "W4A16", ...); this table maps
// each name to the scheme<> policy of llmc::presets (as a runtime_scheme value for recipes read at
// run time) and is what `llmc --help` lists. Preset names are matched case-insensitively, as
// compressed-tensors' preset_name_to_scheme upper-cases them.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

#include "llmc/scheme/presets.hpp"

namespace llmc::pipeline {

struct preset_entry {
  std::string_view name;
  runtime_scheme scheme;
  std::string_view description;
};

inline constexpr std::array preset_table{
    preset_entry{"W8A8", runtime_scheme::from(presets::W8A8{}), "INT8 per-channel weights, INT8 dynamic per-token activations"},
    preset_entry{"INT8", runtime_scheme::from(presets::INT8{}), "alias of W8A8"},
    preset_entry{"W8A16", runtime_scheme::from(presets::W8A16{}), "INT8 weight-only, group 128"},
    preset_entry{"W4A16", runtime_scheme::from(presets::W4A16{}), "INT4 weight-only, symmetric, group 128"},
    preset_entry{"W4A16_ASYM", runtime_scheme::from(presets::W4A16_ASYM{}), "INT4 weight-only, asymmetric, group 128"},
    preset_entry{"W4A8", runtime_scheme::from(presets::W4A8{}), "INT4 group-128 weights, INT8 dynamic per-token activations"},
    preset_entry{"FP8", runtime_scheme::from(presets::FP8{}), "FP8 per-tensor weights and static per-tensor activations"},
    preset_entry{"FP8_DYNAMIC", runtime_scheme::from(presets::FP8_DYNAMIC{}), "FP8 per-channel weights, dynamic per-token activations"},
    preset_entry{"FP8_BLOCK", runtime_scheme::from(presets::FP8_BLOCK{}), "FP8 128x128 block weights, dynamic group-128 activations"},
    preset_entry{"NVFP4A16", runtime_scheme::from(presets::NVFP4A16{}), "NVFP4 weight-only (E2M1, groups of 16, FP8 scales)"},
    preset_entry{"NVFP4", runtime_scheme::from(presets::NVFP4{}), "NVFP4 weights and activations"},
    preset_entry{"MXFP4A16", runtime_scheme::from(presets::MXFP4A16{}), "MXFP4 weight-only (E2M1, groups of 32, E8M0 scales)"},
    preset_entry{"MXFP4", runtime_scheme::from(presets::MXFP4{}), "MXFP4 weights and activations"},
};

inline std::string upper(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return r;
}

/// The preset named `name` (any case), or nullopt.
inline std::optional<runtime_scheme> find_preset(std::string_view name) {
  const std::string u = upper(name);
  for (const auto& e : preset_table)
    if (e.name == u) return e.scheme;
  return std::nullopt;
}

/// "W8A8, INT8, W8A16, ..." for messages and --help.
inline std::string preset_names() {
  std::string r;
  for (const auto& e : preset_table) {
    if (!r.empty()) r += ", ";
    r += e.name;
  }
  return r;
}

}  // namespace llmc::pipeline
