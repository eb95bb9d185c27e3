// llmc/method/recipe.hpp — a compile-time recipe: methods applied to a layer in order.
//
// recipe<Ms...> is LLM Compressor's ordered list of modifiers (spec §2) written as a type, e.g.
// recipe<smoothquant, gptq<presets::W8A8>>{smoothquant{.smoothing_strength = 0.8f}, {}}: apply()
// runs each method's apply() on the layer in order, and the layer_context keeps the statistics
// consistent between them (a transform rescales the inputs it smooths). The reference's recipe
// validation becomes static_asserts: a weight transform (AWQ, SmoothQuant) cannot follow a
// quantizing method (it would edit weights already quantized), and AWQ needs a quantizing method
// after it ([LC] recipe/recipe.py). A recipe is itself a method, so recipes nest. Run-time (YAML)
// recipes are the pipeline's; nothing here dispatches on names.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>
#include <tuple>
#include <utility>

#include "llmc/method/concepts.hpp"

namespace llmc {

namespace detail {

/// Whether method M declares that a quantizing method must come after it (AWQ).
template <class M>
constexpr bool must_precede_quantizer() {
  if constexpr (requires { M::must_precede_quantizer; })
    return static_cast<bool>(M::must_precede_quantizer);
  else
    return false;
}

template <class... Ms>
constexpr bool transforms_before_quantizers() {
  constexpr std::array<bool, sizeof...(Ms)> q{static_cast<bool>(Ms::quantizes)...};
  bool seen_quantizer = false;
  for (bool b : q) {
    if (b) seen_quantizer = true;
    else if (seen_quantizer) return false;
  }
  return true;
}

/// True when some method needing a quantizer after it has none after it.
template <class... Ms>
constexpr bool quantizer_pending() {
  constexpr std::array<bool, sizeof...(Ms)> need{must_precede_quantizer<Ms>()...};
  constexpr std::array<bool, sizeof...(Ms)> q{static_cast<bool>(Ms::quantizes)...};
  bool pending = false;
  for (std::size_t i = 0; i < need.size(); ++i) {
    if (need[i]) pending = true;
    if (q[i]) pending = false;
  }
  return pending;
}

}  // namespace detail

/// Methods applied in order. Each element is a method object holding its hyperparameters.
template <method... Ms>
struct recipe {
  static_assert(sizeof...(Ms) > 0, "llmc: a recipe needs at least one method");
  static_assert(detail::transforms_before_quantizers<Ms...>(),
                "llmc: a weight transform (AWQ, SmoothQuant) follows a quantizing method (RTN, GPTQ) in this recipe; "
                "put the transforms first, as LLM Compressor applies them before quantization");

  static constexpr std::string_view name = "recipe";
  static constexpr bool quantizes = (static_cast<bool>(Ms::quantizes) || ...);
  /// A nested recipe that ends with AWQ still needs a quantizer after it.
  static constexpr bool must_precede_quantizer = detail::quantizer_pending<Ms...>();
  static constexpr statistic_set statistics = (statistic_set{} | ... | statistic_set(Ms::statistics));
  static constexpr std::size_t size = sizeof...(Ms);

  std::tuple<Ms...> methods;

  constexpr recipe() = default;
  constexpr explicit recipe(Ms... ms) : methods(std::move(ms)...) {}

  /// Applies every method to the layer, in order.
  void apply(layer_context& ctx) const {
    std::apply([&](const Ms&... m) { (m.apply(ctx), ...); }, methods);
  }

  template <std::size_t I>
  [[nodiscard]] constexpr auto& get() noexcept {
    return std::get<I>(methods);
  }
  template <std::size_t I>
  [[nodiscard]] constexpr const auto& get() const noexcept {
    return std::get<I>(methods);
  }
};

template <class... Ms>
recipe(Ms...) -> recipe<Ms...>;

/// A recipe that can be run on its own: every AWQ is followed by a quantizing method.
template <class R>
concept complete_recipe = method<R> && !detail::must_precede_quantizer<R>();

/// Applies a complete recipe (or a single quantizing method) to one layer.
template <method R>
void apply_recipe(const R& r, layer_context& ctx) {
  static_assert(complete_recipe<R>,
                "llmc: AWQ only rescales weights: add a quantizing method after it (e.g. recipe<awq<S>, rtn<S>> or "
                "recipe<awq<S>, gptq<S>>), as LLM Compressor requires");
  r.apply(ctx);
}

}  // namespace llmc
