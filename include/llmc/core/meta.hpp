// llmc/core/meta.hpp — small metaprogramming utilities used across layers.
//
// dependent_false lets a primary template fail with a readable static_assert only when it is
// instantiated; type_list / type_product build the typed-test matrices (scheme x adapter x backend).
#pragma once

#include <tuple>
#include <type_traits>

namespace llmc {

template <class...>
inline constexpr bool dependent_false = false;

template <class... Ts>
struct type_list {
  static constexpr std::size_t size = sizeof...(Ts);
};

namespace detail {
template <class A, class B>
struct concat;
template <class... As, class... Bs>
struct concat<type_list<As...>, type_list<Bs...>> {
  using type = type_list<As..., Bs...>;
};
template <class A, class L>
struct pair_with;
template <class A, class... Bs>
struct pair_with<A, type_list<Bs...>> {
  using type = type_list<std::pair<A, Bs>...>;
};
template <class L1, class L2>
struct product;
template <class L2>
struct product<type_list<>, L2> {
  using type = type_list<>;
};
template <class A, class... As, class L2>
struct product<type_list<A, As...>, L2> {
  using type = typename concat<typename pair_with<A, L2>::type,
                               typename product<type_list<As...>, L2>::type>::type;
};
}  // namespace detail

/// Cartesian product of two type_lists as a type_list of std::pair<A, B>.
template <class L1, class L2>
using type_product_t = typename detail::product<L1, L2>::type;

/// Turns a type_list into a std::tuple (what doctest's TEST_CASE_TEMPLATE_APPLY expects).
template <class L>
struct as_tuple;
template <class... Ts>
struct as_tuple<type_list<Ts...>> {
  using type = std::tuple<Ts...>;
};
template <class L>
using as_tuple_t = typename as_tuple<L>::type;

}  // namespace llmc
