// llmc/method/mappings.hpp — which layer smooths which Linears: the AWQ and SmoothQuant mappings.
//
// A mapping names a smooth layer (an RMSNorm or a Linear) whose output feeds every balance Linear;
// a transform divides the smooth layer's output channel j by s_j and multiplies the balance
// Linears' input column j by s_j, which leaves the floating-point function unchanged. Names are
// local to one decoder layer ("self_attn.q_proj"), because methods edit one layer at a time.
// Defaults are the reference's for the Llama family (also Mistral, Qwen2/3):
// AWQ [LC] modifiers/transform/awq/mappings.py (spec §6.1), SmoothQuant
// [LC] modifiers/transform/smoothquant/utils.py DEFAULT_SMOOTHQUANT_MAPPINGS (spec §7).
// Choosing mappings by architecture name is the pipeline's job (no runtime dispatch here).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmc {

/// How the output AWQ compares is produced from the balance layers (the "parent" of spec §6.1).
enum class parent_kind : std::uint8_t {
  /// The balance Linears themselves, their outputs side by side: exact for a single balance layer
  /// (v->o, up->down, whose parent is that Linear), the Linear-group proxy for q/k/v.
  linear_group,
  /// Llama's MLP, down(silu(gate x) * up x): balance layers {gate, up}, mlp_down names down_proj.
  gated_mlp,
  /// Self-attention: only the caller can run it (layer_context::parent_forward); without one AWQ
  /// measures the q/k/v outputs as a linear_group instead.
  attention,
};

/// One AWQ mapping (AWQMapping of the reference, resolved for one decoder layer).
struct awq_mapping {
  std::string smooth;                ///< norm or Linear whose output feeds the balance layers
  std::vector<std::string> balance;  ///< Linears sharing that input, in a fixed order
  std::string parent;                ///< lowest common ancestor of the balance layers
  parent_kind kind = parent_kind::linear_group;
  std::string mlp_down;              ///< gated_mlp only: the down projection of the MLP
};

/// One SmoothQuant mapping ([balance_layers, smooth_layer] of the reference).
struct smoothquant_mapping {
  std::vector<std::string> balance;
  std::string smooth;  ///< the norm whose output is smoothed
};

/// AWQ's default mappings for Llama-family decoder layers, in the reference's order.
inline std::vector<awq_mapping> llama_awq_mappings() {
  return {
      {"input_layernorm", {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, "self_attn", parent_kind::attention, {}},
      {"self_attn.v_proj", {"self_attn.o_proj"}, "self_attn.o_proj", parent_kind::linear_group, {}},
      {"post_attention_layernorm", {"mlp.gate_proj", "mlp.up_proj"}, "mlp", parent_kind::gated_mlp, "mlp.down_proj"},
      {"mlp.up_proj", {"mlp.down_proj"}, "mlp.down_proj", parent_kind::linear_group, {}},
  };
}

/// SmoothQuant's default mappings for Llama-family decoder layers (no v->o, no up->down).
inline std::vector<smoothquant_mapping> llama_smoothquant_mappings() {
  return {
      {{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, "input_layernorm"},
      {{"mlp.gate_proj", "mlp.up_proj"}, "post_attention_layernorm"},
  };
}

namespace detail {
/// Whether the last dotted component of name is leaf ("self_attn.o_proj" ends with "o_proj").
inline bool name_ends_with(std::string_view name, std::string_view leaf) noexcept {
  if (name.size() < leaf.size() || name.substr(name.size() - leaf.size()) != leaf) return false;
  return name.size() == leaf.size() || name[name.size() - leaf.size() - 1] == '.';
}
}  // namespace detail

/// Whether a Linear smooth layer can be folded into a balance Linear ([LC] awq/base.py
/// _check_layers_are_compatible): v_proj -> o_proj needs v's out_features == o's in_features (false
/// for every grouped-query-attention model, whose v_proj is narrower), fused qkv_proj needs
/// out == 3 * in. Norm smooth layers are always compatible.
inline bool awq_layers_compatible(std::string_view smooth, std::size_t smooth_out_features, std::string_view balance,
                                  std::size_t balance_in_features) noexcept {
  if (!detail::name_ends_with(balance, "o_proj")) return true;
  if (detail::name_ends_with(smooth, "v_proj")) return smooth_out_features == balance_in_features;
  if (detail::name_ends_with(smooth, "qkv_proj")) return smooth_out_features == 3 * balance_in_features;
  return true;
}

}  // namespace llmc
