// llmc/pipeline/targets.hpp — which modules a recipe's `targets` and `ignore` patterns select.
//
// compressed-tensors' rules ([CT] src/compressed_tensors/utils/match.py; spec §2.4): a pattern
// matches a module when it starts with "re:" and the rest matches the module's full dotted name
// from its start (Python re.match: anchored at the start only), or equals the full name, or equals
// the name of any class the module is an instance of ("Linear" matches every Linear). When several
// config groups target one module the most specific pattern wins: exact names, then regexes, then
// class names, each kind ordered lexicographically by pattern; a target repeated in a later group
// overrides the earlier one ([CT] quantization/lifecycle/apply.py _scheme_from_targets).
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/pipeline/recipe.hpp"

namespace llmc::pipeline {

/// A module as the matcher sees it: its full name and the names of its classes (most derived first).
struct module_ref {
  std::string name;
  std::vector<std::string> classes;
};

namespace detail {
inline const std::regex& compiled(const std::string& pattern) {
  // Patterns repeat across thousands of modules: compile each once (per thread).
  thread_local std::map<std::string, std::regex> cache;
  auto it = cache.find(pattern);
  if (it == cache.end()) {
    try {
      it = cache.emplace(pattern, std::regex(pattern, std::regex::ECMAScript)).first;
    } catch (const std::regex_error& e) {
      LLMC_THROW(config_error, "llmc.recipe.120", "invalid regular expression 're:" + pattern + "': " + e.what());
    }
  }
  return it->second;
}
}  // namespace detail

enum class match_kind { none, exact, regex, class_name };

/// How `pattern` matches module `m` (none if it does not).
inline match_kind match(const std::string& pattern, const module_ref& m) {
  if (pattern.rfind("re:", 0) == 0) {
    const std::string rx = pattern.substr(3);
    return std::regex_search(m.name, detail::compiled(rx), std::regex_constants::match_continuous) ? match_kind::regex
                                                                                                 : match_kind::none;
  }
  if (pattern == m.name) return match_kind::exact;
  for (const auto& c : m.classes)
    if (pattern == c) return match_kind::class_name;
  return match_kind::none;
}

inline bool matches_any(const std::vector<std::string>& patterns, const module_ref& m) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return match(p, m) != match_kind::none; });
}

/// The config group (index into groups) that applies to module m, or nullopt. Ignored modules get none.
inline std::optional<std::size_t> resolve_config_group(const std::vector<config_group>& groups, const std::vector<std::string>& ignore,
                                                       const module_ref& m) {
  if (matches_any(ignore, m)) return std::nullopt;
  // target string -> the last group naming it (a later group overrides an earlier one)
  std::map<std::string, std::size_t> owner;
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (const auto& t : groups[g].targets) owner[t] = g;
  std::optional<std::size_t> best;
  match_kind best_kind = match_kind::none;
  // std::map iterates patterns in lexicographic order: the first match of the best kind wins.
  auto rank = [](match_kind k) { return k == match_kind::exact ? 3 : k == match_kind::regex ? 2 : k == match_kind::class_name ? 1 : 0; };
  for (const auto& [pattern, g] : owner) {
    const match_kind k = match(pattern, m);
    if (k != match_kind::none && rank(k) > rank(best_kind)) {
      best = g;
      best_kind = k;
    }
  }
  return best;
}

}  // namespace llmc::pipeline
