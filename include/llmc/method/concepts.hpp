// llmc/method/concepts.hpp — what a method is, and the decoder layer it edits (layer_context).
//
// A method (GPTQ, RTN, AWQ, SmoothQuant) is an aggregate of hyperparameters, templated on a
// quantization_scheme when it depends on one, with apply(layer_context&) that edits one decoder
// layer in place; recipe.hpp composes methods in order, as LLM Compressor applies its modifiers
// (spec §1.4, §2). The layer_context holds what a method sees of one layer: its Linears (fp32
// working copies plus the checkpoint dtype), its norms, and the calibration statistics of each
// distinct Linear input (attn_in feeds q/k/v, o_in feeds o, mlp_in feeds gate/up, down_in feeds
// down): Linears that share an input share one statistic. Invariant kept by every method: the
// statistics describe the layer's current inputs — a transform that divides an input channel j by
// s_j (SmoothQuant, AWQ) rescales that input's statistics, so later methods (GPTQ after
// SmoothQuant) see exactly what a new calibration pass would measure.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/method/channel_stats.hpp"
#include "llmc/method/hessian.hpp"
#include "llmc/method/mappings.hpp"
#include "llmc/numeric/scalar_type.hpp"
#include "llmc/scheme/quantized_tensor.hpp"
#include "llmc/scheme/scheme.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

/// A statistic a method needs collected for the inputs of the Linears it touches.
enum class statistic : std::uint8_t {
  channel_minmax = 1,   ///< per-channel min/max (SmoothQuant)
  channel_absmean = 2,  ///< per-channel mean |x| (AWQ)
  hessian = 4,          ///< H = (2/N) sum x x^T (GPTQ's hessian_accumulator)
  samples = 8,          ///< the input rows themselves (AWQ's parent forward and clip search)
};

/// A set of statistics (what a method, or a recipe, needs a calibration pass to collect).
struct statistic_set {
  std::uint8_t bits = 0;
  constexpr statistic_set() = default;
  constexpr statistic_set(statistic s) noexcept : bits(static_cast<std::uint8_t>(s)) {}  // NOLINT: implicit on purpose
  [[nodiscard]] constexpr bool contains(statistic s) const noexcept { return (bits & static_cast<std::uint8_t>(s)) != 0; }
  [[nodiscard]] constexpr bool empty() const noexcept { return bits == 0; }
  friend constexpr statistic_set operator|(statistic_set a, statistic_set b) noexcept {
    statistic_set r;
    r.bits = static_cast<std::uint8_t>(a.bits | b.bits);
    return r;
  }
  constexpr bool operator==(const statistic_set&) const = default;
};
constexpr statistic_set operator|(statistic a, statistic b) noexcept { return statistic_set(a) | statistic_set(b); }

/// One Linear of the layer.
struct linear_weight {
  std::string name;        ///< local to the layer: "self_attn.q_proj"
  std::string input;       ///< key of its input in layer_context::inputs ("attn_in"); shared by q/k/v
  matrix<float> weight;    ///< [out_features, in_features], fp32 working copy
  std::vector<float> bias; ///< empty when the Linear has none
  scalar_type dtype = scalar_type::float32;   ///< the checkpoint's dtype
  std::optional<quant_args> weight_args;      ///< this Linear's own weight args (another config group), else the method's scheme
  std::optional<quantized_tensor> quantized;  ///< set by a quantizing method; weight then holds its dequantized values
  std::optional<qparams> input_qparams;       ///< static input activation qparams (FP8 input_scale, NVFP4 input_global_scale)

  [[nodiscard]] std::size_t out_features() const noexcept { return weight.rows(); }
  [[nodiscard]] std::size_t in_features() const noexcept { return weight.cols(); }
};

/// One norm of the layer (RMSNorm: y = weight * x / rms(x); LayerNorm also has a bias).
struct norm_weight {
  std::string name;  ///< "input_layernorm"
  std::vector<float> weight;
  std::vector<float> bias;
  scalar_type dtype = scalar_type::float32;
};

/// The calibration statistics of one distinct Linear input. Each is empty until fed.
struct input_statistics {
  channel_minmax minmax;
  channel_absmean absmean;
  hessian_accumulator hessian;
  matrix<float> samples;  ///< cached input rows [tokens, in_features] (only when a method asks for samples)
  /// Another copy of a statistic of this input that must follow the transform (e.g. the Hessian
  /// kept on a GPU by the device pipeline: device_hessian_accumulator::rescale); called with the
  /// same s at the end of rescale() when set. Empty by default.
  std::function<void(std::span<const float>)> on_rescale;

  /// The input was divided channel-wise by s (s_j > 0): make every statistic describe the new input
  /// (the ones held here, then on_rescale's).
  void rescale(std::span<const float> s) {
    minmax.rescale(s);
    absmean.rescale(s);
    if (hessian.columns() != 0) hessian.rescale(s);
    if (!samples.empty()) {
      if (samples.cols() != s.size())
        LLMC_THROW(shape_error, "llmc.method.011",
                   "input_statistics::rescale: cached samples have " + std::to_string(samples.cols()) + " channels for " +
                       std::to_string(s.size()) + " scales");
      for (std::size_t r = 0; r < samples.rows(); ++r)
        for (std::size_t c = 0; c < samples.cols(); ++c) samples(r, c) /= s[c];
    }
    if (on_rescale) on_rescale(s);
  }
};

/// A weight substituted for a Linear's while a parent block is evaluated.
struct weight_override {
  std::string_view name;             ///< local Linear name
  matrix_view<const float> weight;   ///< [out, in], same shape as the Linear's
};

/// Forward of a parent block supplied by the caller (the decoder-layer forward, for attention):
/// writes the block's output on every cached calibration token into out ([tokens, features], any
/// consistent layout) with the given weights substituted, and returns true; false when it does
/// not know this parent (AWQ then uses its built-in forward for the mapping's parent_kind).
using parent_forward_fn =
    std::function<bool(const awq_mapping& mapping, std::span<const weight_override> overrides, matrix<float>& out)>;

/// A parent block supplied by the caller, type-erased (AWQ's parent_block concept, awq.hpp): the
/// summed squared difference between the block's output with candidate balance weights and its
/// floating-point output over every cached calibration token, the number of output elements that
/// sum covers, and where the loss is computed (for AWQ's note: "gated MLP output (device)").
/// The device blocks of method/awq_device.hpp implement it on a dense policy.
class any_parent_block {
 public:
  virtual ~any_parent_block() = default;
  virtual double squared_error(std::span<const matrix_view<const float>> candidates) = 0;
  [[nodiscard]] virtual double output_elements() const = 0;
  [[nodiscard]] virtual std::string where() const = 0;
};

/// Builds the parent block AWQ evaluates for one mapping, or returns null (AWQ then uses its
/// built-in host blocks on the cached samples). Called with the mapping, the key of the balance
/// Linears' shared input in layer_context::inputs ("mlp_in"), the balance weights (unchanged,
/// host memory; they outlive the block) and, for a gated-MLP mapping with {gate, up}, the
/// mlp_down Linear (null otherwise). Inputs rescaled by earlier mappings are already rescaled.
using parent_block_factory = std::function<std::unique_ptr<any_parent_block>(
    const awq_mapping& mapping, std::string_view input, std::span<const matrix_view<const float>> balance,
    const linear_weight* mlp_down)>;

/// What a method reports about one decision (AWQ's loss before/after, SmoothQuant's range...).
struct method_note {
  std::string method;  ///< "awq"
  std::string target;  ///< full name of the layer it concerns
  std::string message;
  double before = 0.0, after = 0.0;  ///< a metric before and after, when the message names one
};

/// One decoder layer as methods see it.
class layer_context {
 public:
  std::string prefix;                   ///< prepended to local names in messages: "model.layers.3."
  std::vector<linear_weight> linears;
  std::vector<norm_weight> norms;
  std::map<std::string, input_statistics, std::less<>> inputs;
  parent_forward_fn parent_forward;     ///< optional
  parent_block_factory make_parent_block;  ///< optional: AWQ's parent blocks (after parent_forward, before the built-in ones)
  std::vector<method_note> notes;       ///< appended by the methods, in order
  /// false when nothing reads a Linear's float weight once a quantizing method has set its
  /// `quantized` (a data-free run that only writes the quantized tensors): RTN then skips
  /// writing the dequantized weight back (a third of a data-free run's time).
  bool keep_float_weights = true;

  [[nodiscard]] std::string full_name(std::string_view local) const { return prefix + std::string(local); }

  [[nodiscard]] linear_weight* find_linear(std::string_view name) noexcept {
    for (auto& l : linears)
      if (l.name == name) return &l;
    return nullptr;
  }
  /// @throws config_error llmc.method.010 when absent.
  linear_weight& linear(std::string_view name) {
    if (linear_weight* l = find_linear(name)) return *l;
    LLMC_THROW(config_error, "llmc.method.010",
               "layer " + prefix + ": no Linear named \"" + std::string(name) + "\" (" + std::to_string(linears.size()) +
                   " Linears in the layer context)");
  }
  [[nodiscard]] norm_weight* find_norm(std::string_view name) noexcept {
    for (auto& n : norms)
      if (n.name == name) return &n;
    return nullptr;
  }
  /// The statistics of a Linear's input. @throws config_error llmc.method.012 when there are none.
  input_statistics& input_of(const linear_weight& l) {
    auto it = inputs.find(l.input);
    if (it == inputs.end()) throw_no_statistics(l);
    return it->second;
  }
  /// @throws config_error llmc.method.012: l's input has no statistics (also used by methods that
  /// keep statistics elsewhere, such as the device GPTQ's Hessians).
  [[noreturn]] void throw_no_statistics(const linear_weight& l) const {
    LLMC_THROW(config_error, "llmc.method.012",
               full_name(l.name) + ": no calibration statistics for its input \"" + l.input +
                   "\"; run a calibration pass that collects what the recipe's methods need");
  }
  /// The one input shared by several Linears (the balance layers of a mapping).
  /// @throws config_error llmc.method.013 when they do not share one.
  input_statistics& shared_input(std::span<linear_weight* const> ls, std::string_view method_name) {
    for (const linear_weight* l : ls)
      if (l->input != ls.front()->input)
        LLMC_THROW(config_error, "llmc.method.013",
                   std::string(method_name) + ": " + full_name(ls.front()->name) + " and " + full_name(l->name) +
                       " are balanced together but have different inputs (\"" + ls.front()->input + "\", \"" + l->input +
                       "\"); a mapping's balance Linears must share the smooth layer's output");
    return input_of(*ls.front());
  }
  void note(std::string_view method, std::string_view local_target, std::string message, double before = 0.0,
            double after = 0.0) {
    notes.push_back({std::string(method), full_name(local_target), std::move(message), before, after});
  }
};

namespace detail {
inline float max_of(std::span<const float> v) noexcept {
  float m = -std::numeric_limits<float>::infinity();
  for (float x : v) m = std::max(m, x);
  return m;
}
}  // namespace detail

/// A method: named, says whether it quantizes (writes linear_weight::quantized) or only
/// transforms weights, says which statistics it needs, and edits one layer.
template <class M>
concept method = requires(const M& m, layer_context& ctx) {
  // A stable name, for notes and for recipes written at run time.
  { M::name } -> std::convertible_to<std::string_view>;
  // true: RTN, GPTQ (produce quantized tensors); false: AWQ, SmoothQuant (weight transforms).
  { M::quantizes } -> std::convertible_to<bool>;
  // The statistics a calibration pass must collect before apply().
  { M::statistics } -> std::convertible_to<statistic_set>;
  // Edits the layer in place; statistics of edited inputs stay consistent.
  m.apply(ctx);
};

/// The weight args a method uses for one Linear: its own (from another config group) or the scheme's.
template <quantization_scheme S>
[[nodiscard]] quant_args weight_args_for(const S& s, const linear_weight& l) noexcept {
  return l.weight_args.value_or(static_cast<quant_args>(s.weights));
}

}  // namespace llmc
